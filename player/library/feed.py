"""A private podcast feed in a folder: ``haven feed DIR``.

Haven renders the chosen exercises (or a program's coming week) into DIR, with:

* ``feed.xml``: an RSS 2.0 feed with the iTunes tags podcast apps expect, ``itunes:block``
  (the feed asks directories never to list it), one ``enclosure`` per episode (URL, length in
  bytes, MIME type) and a ``podcast:chapters`` link (the Podcasting 2.0 namespace);
* one audio file per episode, with its sections as chapters inside (``player.audio.chapters``);
* one ``*.chapters.json`` per episode in the Podcasting 2.0 JSON chapters format;
* ``.haven-feed.json``: what was rendered from what, so a re-run renders only what changed.

Nothing is served or sent anywhere: the user syncs DIR with their own tools (a file-sync app,
their own web server). Enclosure URLs start with ``--url`` (default: DIR's ``file://`` URL).

Each episode's audio is named by a content hash of everything that shapes it (Haven's version,
the compiled script with its texts, pauses, breathing and ambient sound, the voice, length,
loudness and file format). A re-run whose hash is unchanged and whose file is still there
renders nothing; a changed episode gets a new file name and a new GUID, so podcast apps fetch
it as new, and episodes no longer chosen are removed with their files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Callable

from player import __version__
from player.errors import BadInputError, HavenError

FEED_FILE = "feed.xml"
STATE_FILE = ".haven-feed.json"
STATE_VERSION = 1
MIME = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav"}
CHAPTERS_TYPE = "application/json+chapters"
CHAPTERS_VERSION = "1.2.0"
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}
MAX_EPISODES = 50
EPISODE_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{12}\.(?:mp3|ogg|flac|wav)$")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Wanted:
    """An episode to have in the feed: an exercise, fitted to ``minutes`` when given."""

    exercise: str
    minutes: float | None = None
    title: str | None = None  # default: the script's title (and the minutes)
    note: str = ""  # a line added to the description (a program's days)


@dataclass
class FeedResult:
    folder: Path
    episodes: int
    rendered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


# --- what goes in ----------------------------------------------------------------------------


def program_week(program, progress=None, *, today: date | None = None, days: int = 7) -> list[Wanted]:
    """The practices of a program's coming ``days`` (``progress``: where the user is, or None
    for the program's first week as if started ``today``), one episode per distinct exercise and
    length, naming the days it is planned for; a week's spoken introduction comes first when
    that week begins in the window or has no practice done yet."""
    from player.library import programs, reminders

    if progress is None:
        today = today or date.today()
        progress = programs.progress(program, today, today, {}, 0)
    end = progress.today + timedelta(days=days)
    planned = [p for p in reminders.schedule(progress) if p.day < end]
    out: list[Wanted] = []
    days_of: dict[tuple[str, float | None], list] = {}
    intros_done = set()
    for item in planned:
        week_progress = progress.weeks[item.week_index]
        intro = item.week.intro
        if intro and item.week_index not in intros_done and not week_progress.done:
            intros_done.add(item.week_index)
            out.append(Wanted(intro, None, f"Week {item.week.number} introduction: {item.week.title}",
                              item.week.intention))  # fmt: skip
        for exercise in item.practice.exercises:
            key = (exercise, item.practice.minutes)
            if key not in days_of:
                days_of[key] = []
                out.append(Wanted(exercise, item.practice.minutes, None, ""))
            days_of[key].append(item)
    result = []
    for w in out:
        items = days_of.get((w.exercise, w.minutes))
        if items is None:
            result.append(w)
            continue
        weeks = sorted({i.week.number for i in items})
        when = ", ".join(
            f"{i.day:%a} {i.day.day} {i.day:%b}"
            + (f" (your choice of {' or '.join(i.practice.exercises)})" if i.practice.is_choice else "")
            for i in items
        )
        numbers = f"week {weeks[0]}" if len(weeks) == 1 else f"weeks {weeks[0]} and {weeks[1]}"
        note = f"{program.title}, {numbers}: planned for {when}."
        result.append(Wanted(w.exercise, w.minutes, None, note))
    return result


# --- the content hash ------------------------------------------------------------------------


def fingerprint(script, settings, ext: str) -> str:
    """A hash of everything that shapes an episode's audio file: with the speech cache's own
    keys, which name the engine, its version and voice as the settings choose them."""
    from player import speech
    from player.audio.render import plan_timeline
    from player.audio.timeline import speech_requests

    clips = speech.resolve_requests(
        [speech.ClipRequest(text=r.text, engine=r.engine, voice=r.voice, rate=r.rate, volume=r.volume,
                            lexicon=r.lexicon, language=r.language)
         for r in speech_requests(script, settings.overrides)],
        sample_rate=settings.sample_rate,
    )  # fmt: skip

    shape = {
        "haven": __version__,
        "format": ext,
        "rate": settings.sample_rate,
        "channels": settings.channels,
        "minutes": settings.minutes,
        "target_lufs": settings.target_lufs,
        "overrides": repr(settings.overrides),
        "voice": repr(script.voice),
        "tones": repr(script.tones),
        "ambient": repr(script.ambient),
        "title": script.title,
        "timeline": plan_timeline(script, settings).to_json(),
        "speech": [c.key for c in clips],
    }
    data = json.dumps(shape, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


# --- the folder ------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _XML_BAD.sub("", text or "")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].strip("-") or "episode"


def _load_state(folder: Path) -> dict:
    from player.files import read_regular

    try:
        data = json.loads(read_regular(folder / STATE_FILE, limit=16 << 20, what="feed state",
                                       error=HavenError))  # fmt: skip
    except FileNotFoundError:
        return {"version": STATE_VERSION, "episodes": []}
    except ValueError:
        raise HavenError(
            f"{folder / STATE_FILE} is not Haven's feed state any more",
            hint="delete it to render the whole feed again",
        ) from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(
        data.get("episodes"), list
    ):
        raise HavenError(f"{folder / STATE_FILE} is not Haven's feed state",
                         hint="delete it to render the whole feed again")  # fmt: skip
    return data


def _prepare_folder(folder: Path) -> None:
    from player.files import FileAccessError

    try:
        if folder.exists() and not folder.is_dir():
            raise BadInputError(f"cannot make a feed in {folder}: it is not a folder")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, str(folder), doing="write") from None


def base_url(folder: Path, url: str | None) -> str:
    if url is None:
        return folder.resolve().as_uri() + "/"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.scheme == "file"):
        raise BadInputError(f"--url must be an http, https or file URL of the folder (got '{url}')")
    return url if url.endswith("/") else url + "/"


def build(
    folder: str | os.PathLike,
    wanted: list[Wanted],
    settings_for: Callable[[float | None], object],
    *,
    ext: str = "mp3",
    url: str | None = None,
    title: str = "Haven",
    description: str = "",
    serial: bool = False,
    now: datetime | None = None,
    notify: Callable[[str], None] | None = None,
) -> FeedResult:
    """Bring the feed in ``folder`` up to date with ``wanted``; ``settings_for(minutes)`` gives
    the ``SessionSettings`` of an episode. Renders only episodes whose audio would change."""
    from player.library import catalog as library
    from player.audio.chapters import marks
    from player.files import write_output
    from player.audio.render import prepare_script, render_to_file

    if not wanted:
        raise BadInputError("nothing to put in the feed: name exercises, or give --program")
    if len(wanted) > MAX_EPISODES:
        raise BadInputError(f"a feed holds at most {MAX_EPISODES} episodes (got {len(wanted)})")
    if ext not in MIME:
        raise BadInputError(f"--format must be one of {', '.join(MIME)} (got '{ext}')")
    folder = Path(folder)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if url is not None:
        base_url(folder, url)
    # Load every script and hash it first: a bad name fails before any slow work.
    planned = []
    for w in wanted:
        settings = settings_for(w.minutes)
        script = library.load(w.exercise, params=getattr(settings, "params", None) or None)
        digest = fingerprint(script, settings, ext)
        name = f"{_slug(script.id or w.exercise)}-{digest[:12]}.{ext}"
        planned.append((w, settings, script, digest, name))
    _prepare_folder(folder)
    state = _load_state(folder)
    base = base_url(folder, url if url is not None else state.get("url"))
    # Only names Haven gives its episodes: a state file edited by hand never makes Haven
    # delete or overwrite anything else.
    old = {e["file"]: e for e in state["episodes"]
           if isinstance(e, dict) and isinstance(e.get("file"), str) and EPISODE_NAME.match(e["file"])}  # fmt: skip
    result = FeedResult(folder, 0)

    episodes: list[dict] = []
    seen: dict[str, dict] = {}
    for i, (w, settings, script, digest, name) in enumerate(planned):
        if name in seen:  # the same audio chosen twice: one episode, both notes
            entry = seen[name]
            entry["note"] = "\n".join(x for x in (entry["note"], _clean(w.note)) if x)
            continue
        path = folder / name
        previous = old.get(name)
        if previous and previous.get("hash") == digest and _intact(path, previous):
            entry = dict(previous)
            result.unchanged.append(name)
        else:
            if notify:
                notify(f"Rendering {script.title}")
            session = prepare_script(script, settings)
            rendered = render_to_file(session, path)
            # The same marks as the chapters inside the audio, to the millisecond.
            chapters = [
                {"startTime": m.start_ms / 1000, "title": _clean(m.title)}
                for m in marks(session.timeline.chapters, rendered.rate, rendered.frames)
            ]
            entry = {
                "file": name,
                "hash": digest,
                "size": path.stat().st_size,
                "seconds": round(rendered.duration_s, 3),
                "chapters": chapters,
                "published": (previous or {}).get("published") or _stamp(now + timedelta(seconds=i)),
            }
            result.rendered.append(name)
        entry.update(
            exercise=w.exercise,
            title=_clean(w.title or _episode_title(script.title, w.minutes)),
            summary=_clean(script.summary),
            note=_clean(w.note),
        )
        episodes.append(entry)
        seen[name] = entry
        _write_chapters(folder, entry, write_output)
        state["episodes"] = episodes + [e for f, e in old.items() if f not in seen]
        state["url"] = None if url is None and state.get("url") is None else base
        _save_state(folder, state, write_output)

    for name, entry in old.items():
        if name not in seen:
            for stale in (folder / name, folder / _chapters_name(name)):
                try:
                    stale.unlink()
                except FileNotFoundError:
                    pass
            result.removed.append(name)
    state["episodes"] = episodes
    _save_state(folder, state, write_output)
    xml = feed_xml(episodes, base, title=title, description=description, serial=serial)
    _write_if_changed(folder / FEED_FILE, xml, write_output)
    result.episodes = len(episodes)
    return result


def _episode_title(title: str, minutes: float | None) -> str:
    return f"{title} ({minutes:g} min)" if minutes else title


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _intact(path: Path, entry: dict) -> bool:
    try:
        return path.is_file() and path.stat().st_size == entry.get("size")
    except OSError:
        return False


def _chapters_name(audio: str) -> str:
    return audio.rsplit(".", 1)[0] + ".chapters.json"


def chapters_json(entry: dict) -> dict:
    """Podcasting 2.0 JSON chapters for an episode."""
    return {
        "version": CHAPTERS_VERSION,
        "title": entry["title"],
        "chapters": [{"startTime": c["startTime"], "title": c["title"]} for c in entry["chapters"]],
    }


def _write_chapters(folder: Path, entry: dict, write_output) -> None:
    text = json.dumps(chapters_json(entry), indent=2, ensure_ascii=False) + "\n"
    _write_if_changed(folder / _chapters_name(entry["file"]), text, write_output)


def _save_state(folder: Path, state: dict, write_output) -> None:
    text = json.dumps(state, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    _write_if_changed(folder / STATE_FILE, text, write_output)


def _write_if_changed(path: Path, text: str, write_output) -> None:
    """Write ``text`` unless the file holds it already (its time stamp then says when it last
    changed, which sync tools go by)."""
    from player.files import read_regular

    data = text.encode("utf-8")
    try:
        if read_regular(path, limit=len(data), what="file", error=HavenError) == data:
            return
    except (FileNotFoundError, HavenError):
        pass
    write_output(path, data, mode=0o644)


# --- RSS -------------------------------------------------------------------------------------


def feed_xml(episodes: list[dict], base: str, *, title: str, description: str, serial: bool) -> str:
    """The RSS 2.0 document. Deterministic: the same episodes give the same bytes."""
    import xml.etree.ElementTree as ET

    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)

    def it(tag: str) -> str:
        prefix, _, local = tag.partition(":")
        return f"{{{NS[prefix]}}}{local}" if local else tag

    def sub(parent, tag, content=None, **attrs):
        el = ET.SubElement(parent, it(tag), {k: _clean(v) for k, v in attrs.items()})
        if content is not None:
            el.text = _clean(str(content))
        return el

    rss = ET.Element("rss", {"version": "2.0"})
    channel = sub(rss, "channel")
    sub(channel, "title", title)
    sub(channel, "link", base)
    sub(channel, "description", description or "Exercises rendered by Haven, for your own devices.")
    sub(channel, "language", "en")
    sub(channel, "generator", f"Haven {__version__}")
    sub(channel, "atom:link", href=base + FEED_FILE, rel="self", type="application/rss+xml")
    published = [e["published"] for e in episodes]
    if published:
        sub(channel, "lastBuildDate", _rfc822(max(published)))
    sub(channel, "itunes:block", "Yes")
    sub(channel, "itunes:author", "Haven")
    sub(channel, "itunes:explicit", "false")
    sub(channel, "itunes:type", "serial" if serial else "episodic")
    category = sub(channel, "itunes:category", text="Health & Fitness")
    sub(category, "itunes:category", text="Mental Health")
    sub(channel, "podcast:locked", "yes")
    for n, e in enumerate(episodes, start=1):
        item = sub(channel, "item")
        sub(item, "title", e["title"])
        text = "\n\n".join(x for x in (e.get("summary"), e.get("note")) if x)
        sub(item, "description", text or e["title"])
        sub(item, "guid", f"haven-{e['hash'][:32]}", isPermaLink="false")
        sub(item, "pubDate", _rfc822(e["published"]))
        sub(item, "enclosure", url=base + urllib.parse.quote(e["file"]), length=str(e["size"]),
            type=MIME[e["file"].rsplit(".", 1)[1]])  # fmt: skip
        sub(item, "itunes:duration", str(int(round(e["seconds"]))))
        sub(item, "itunes:episode", str(n))
        sub(item, "itunes:explicit", "false")
        sub(item, "itunes:block", "Yes")
        sub(item, "podcast:chapters", url=base + urllib.parse.quote(_chapters_name(e["file"])),
            type=CHAPTERS_TYPE)  # fmt: skip
    ET.indent(rss, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(rss, encoding="unicode") + "\n"


def _rfc822(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return format_datetime(moment, usegmt=True)
