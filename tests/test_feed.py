"""``haven feed``: a private podcast feed in a folder (issue 15, point 6).

The feed is read back with ``feedparser`` and ``xml.etree`` (well-formed XML, RSS 2.0), the
chapters JSON is checked against the Podcasting 2.0 JSON chapters format with ``jsonschema``,
and the MP3s' own chapters with ``mutagen``. Episodes are tiny exercises of the user's own, so
each render takes a moment; a re-run is shown to render nothing. "Now" is a fixed Friday in
London, set up as in ``test_cli_programs``.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import feedparser
import jsonschema
import pytest
from mutagen.id3 import ID3
from mutagen.oggvorbis import OggVorbis
from test_cli_programs import LONDON, NOW, run, setting  # noqa: F401 (fixture)

from player.audio import render
from player.journal import Journal

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}

ROOMS = """\
haven: 1
title: {title}
summary: A tiny exercise with two sections.
category: breathing
ending: bell
steps:
  - section: First room
  - say: {word}
    after: 1s
  - section: Second room & more
  - say: Goodbye.
    after: 1s
"""
ONE_ROOM = """\
haven: 1
title: One Room
summary: Even smaller.
category: breathing
ending: bell
steps:
  - section: The room
  - say: Here.
    after: 1s
"""
TINY_PROGRAM = """\
haven: 1
title: Tiny
summary: Two small weeks.
weeks:
  - title: The first
    intention: Arrive.
    intro: week-01.yaml
    days:
      - two-rooms
      - exercise: one-room
        times: 2
  - title: The second
    intention: Stay.
    days:
      - exercise: two-rooms
        times: 2
      - choose: [two-rooms, one-room]
"""

# The Podcasting 2.0 JSON chapters format (podcastindex-org/podcast-namespace, chapters.md):
# a version, and chapters each with a numeric startTime; title, img, url, toc, endTime optional.
CHAPTERS_SCHEMA = {
    "type": "object",
    "required": ["version", "chapters"],
    "properties": {
        "version": {"type": "string", "pattern": r"^1\.\d+\.\d+$"},
        "title": {"type": "string"},
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime"],
                "properties": {
                    "startTime": {"type": "number", "minimum": 0},
                    "endTime": {"type": "number", "minimum": 0},
                    "title": {"type": "string"},
                    "img": {"type": "string"},
                    "url": {"type": "string"},
                    "toc": {"type": "boolean"},
                },
            },
        },
    },
}


@pytest.fixture(autouse=True)
def own_scripts(haven_home):
    """Tiny exercises and a two-week program of the user's own."""
    scripts = haven_home / "data" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "two-rooms.yaml").write_text(ROOMS.format(title="Two Rooms", word="Hello."), encoding="utf-8")
    (scripts / "one-room.yaml").write_text(ONE_ROOM, encoding="utf-8")
    programs = haven_home / "data" / "programs"
    programs.mkdir(parents=True)
    (programs / "tiny.yaml").write_text(TINY_PROGRAM, encoding="utf-8")
    (programs / "week-01.yaml").write_text(
        ONE_ROOM.replace("One Room", "Welcome").replace("Here.", "Welcome."), encoding="utf-8")


@pytest.fixture
def renders(monkeypatch):
    """Which files the real renderer writes (it still renders them)."""
    done: list[str] = []
    real = render.render_to_file

    def counting(session, path, **kwargs):
        done.append(Path(path).name)
        return real(session, path, **kwargs)

    monkeypatch.setattr(render, "render_to_file", counting)
    return done


def snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def read_feed(folder: Path):
    data = (folder / "feed.xml").read_bytes()
    root = ET.fromstring(data)  # well-formed, or this raises
    assert root.tag == "rss" and root.get("version") == "2.0"
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    return root, parsed


def local_file(url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "file"
    return Path(urllib.request.url2pathname(parts.path))


def test_a_feed_of_exercises_reads_back_with_independent_parsers(tmp_path, renders):
    folder = tmp_path / "feed"
    result = run("feed", str(folder), "two-rooms", "one-room", "-q")
    assert result.output == (
        f"Feed in {folder}: 2 episodes (2 rendered, 0 unchanged).\n"
        f"Subscribe to {folder}/feed.xml in a podcast app, or sync the folder to your phone with "
        "your own tools; nothing leaves this computer by itself.\n"
    )
    assert len(renders) == 2
    root, parsed = read_feed(folder)
    channel = root.find("channel")
    assert channel.findtext("itunes:block", namespaces=NS) == "Yes"
    assert channel.find("atom:link", NS).get("href") == folder.resolve().as_uri() + "/feed.xml"
    assert parsed.feed.title == "Haven"
    assert [e.title for e in parsed.entries] == ["Two Rooms", "One Room"]
    guids = [e.id for e in parsed.entries]
    assert len(set(guids)) == 2
    for entry, item in zip(parsed.entries, channel.findall("item")):
        (enclosure,) = entry.enclosures
        audio = local_file(enclosure.href)
        assert audio.parent == folder.resolve() and audio.suffix == ".mp3"
        assert int(enclosure.length) == audio.stat().st_size > 0
        assert enclosure.type == "audio/mpeg"
        assert item.findtext("itunes:block", namespaces=NS) == "Yes"
        assert entry.published_parsed is not None
        duration = int(item.findtext("itunes:duration", namespaces=NS))
        link = item.find("podcast:chapters", NS)
        assert link.get("type") == "application/json+chapters"
        chapters = json.loads(local_file(link.get("url")).read_text(encoding="utf-8"))
        jsonschema.validate(chapters, CHAPTERS_SCHEMA)
        starts = [c["startTime"] for c in chapters["chapters"]]
        assert starts == sorted(starts) and 0 < starts[0] < duration
        # The audio carries the same chapters (ID3 CHAP frames), to the millisecond.
        tag = ID3(audio)
        chaps = sorted(tag.getall("CHAP"), key=lambda c: c.start_time)
        assert [(c.start_time, c.sub_frames["TIT2"].text[0]) for c in chaps] == [
            (round(c["startTime"] * 1000), c["title"]) for c in chapters["chapters"]]  # fmt: skip
    first = json.loads((folder / (Path(local_file(parsed.entries[0].enclosures[0].href)).stem + ".chapters.json")).read_text())
    assert [c["title"] for c in first["chapters"]] == ["First room", "Second room & more"]


def test_a_second_run_renders_nothing_and_changes_no_file(tmp_path, renders):
    folder = tmp_path / "feed"
    run("feed", str(folder), "two-rooms", "one-room", "-q")
    before = snapshot(folder)
    renders.clear()
    result = run("feed", str(folder), "two-rooms", "one-room", "-q")
    assert renders == []
    assert result.output.startswith(f"Feed in {folder}: 2 episodes (0 rendered, 2 unchanged).\n")
    assert snapshot(folder) == before


def test_only_what_changed_is_rendered_again(tmp_path, renders, haven_home):
    folder = tmp_path / "feed"
    run("feed", str(folder), "two-rooms", "one-room", "-q")
    _, parsed = read_feed(folder)
    old_guids = [e.id for e in parsed.entries]
    old_files = {p.name for p in folder.iterdir()}
    (haven_home / "data" / "scripts" / "two-rooms.yaml").write_text(
        ROOMS.format(title="Two Rooms", word="Hello again."), encoding="utf-8")
    renders.clear()
    result = run("feed", str(folder), "two-rooms", "one-room", "-q")
    assert result.output.startswith(f"Feed in {folder}: 2 episodes (1 rendered, 1 unchanged, 1 removed).\n")
    assert len(renders) == 1 and renders[0].startswith("two-rooms-")
    _, parsed = read_feed(folder)
    guids = [e.id for e in parsed.entries]
    assert guids[1] == old_guids[1] and guids[0] != old_guids[0]  # a podcast app fetches it anew
    files = {p.name for p in folder.iterdir()}
    gone = old_files - files
    assert len(gone) == 2 and all(g.startswith("two-rooms-") for g in gone)  # audio and chapters
    # A new length is new audio too; a deleted file is rendered again.
    renders.clear()
    run("feed", str(folder), "two-rooms", "one-room", "--minutes", "0.25", "-q")
    assert len(renders) == 2
    audio = next(folder.glob("one-room-*.mp3"))
    audio.unlink()
    renders.clear()
    run("feed", str(folder), "two-rooms", "one-room", "--minutes", "0.25", "-q")
    assert renders == [audio.name]


def test_dropping_an_exercise_removes_its_episode_and_files(tmp_path, renders):
    folder = tmp_path / "feed"
    run("feed", str(folder), "two-rooms", "one-room", "-q")
    renders.clear()
    result = run("feed", str(folder), "one-room", "-q")
    assert result.output.startswith(f"Feed in {folder}: 1 episode (0 rendered, 1 unchanged, 1 removed).\n")
    assert renders == []
    assert not list(folder.glob("two-rooms-*"))
    _, parsed = read_feed(folder)
    assert [e.title for e in parsed.entries] == ["One Room"]
    state = json.loads((folder / ".haven-feed.json").read_text())
    assert [e["exercise"] for e in state["episodes"]] == ["one-room"]


def test_an_ogg_feed_with_a_url_for_the_phone(tmp_path):
    folder = tmp_path / "feed"
    run("feed", str(folder), "one-room", "--format", "ogg", "--url", "https://example.org/h", "-q")
    root, parsed = read_feed(folder)
    (enclosure,) = parsed.entries[0].enclosures
    name = next(folder.glob("one-room-*.ogg")).name
    assert enclosure.href == f"https://example.org/h/{name}" and enclosure.type == "audio/ogg"
    item = root.find("channel/item")
    assert item.find("podcast:chapters", NS).get("url") == (
        "https://example.org/h/" + name.replace(".ogg", ".chapters.json"))  # fmt: skip
    assert OggVorbis(folder / name).tags["CHAPTER001NAME"] == ["The room"]
    # The URL is remembered: a later run without --url keeps it.
    run("feed", str(folder), "one-room", "--format", "ogg", "-q")
    _, parsed = read_feed(folder)
    assert parsed.entries[0].enclosures[0].href == f"https://example.org/h/{name}"


def test_a_program_that_is_not_running_gives_its_first_week(tmp_path, renders):
    folder = tmp_path / "feed"
    result = run("feed", str(folder), "--program", "tiny", "-q")
    assert result.output.startswith(f"Feed in {folder}: 3 episodes (3 rendered, 0 unchanged).\n")
    _, parsed = read_feed(folder)
    assert parsed.feed.title == "Haven: Tiny"
    assert [e.title for e in parsed.entries] == [
        "Week 1 introduction: The first", "Two Rooms", "One Room"]  # fmt: skip
    assert parsed.entries[1].summary == (
        "A tiny exercise with two sections.\n\nTiny, week 1: planned for Fri 20 Nov.")
    assert parsed.entries[2].summary == "Even smaller.\n\nTiny, week 1: planned for Sat 21 Nov, Sun 22 Nov."
    assert len(renders) == 3 and renders[0].startswith("week-01-")


def test_a_running_program_gives_its_coming_week(tmp_path, renders):
    run("program", "start", "tiny", "--on", "2026-11-16")  # Monday: week 1 ends Sunday 22
    with Journal.open(clock=lambda: NOW.astimezone(timezone.utc)) as j:
        for day in (16, 17):
            j.add_manual("two-rooms" if day == 16 else "one-room", 600,
                         started_at=datetime(2026, 11, day, 9, 0, tzinfo=LONDON))
    folder = tmp_path / "feed"
    run("feed", str(folder), "--program", "tiny", "-q")
    _, parsed = read_feed(folder)
    assert [e.title for e in parsed.entries] == ["One Room", "Two Rooms"]
    assert parsed.entries[0].summary.endswith(
        "Tiny, weeks 1 and 2: planned for Fri 20 Nov, "
        "Wed 25 Nov (your choice of two-rooms or one-room).")  # fmt: skip
    assert parsed.entries[1].summary.endswith(
        "Tiny, week 2: planned for Mon 23 Nov, Tue 24 Nov, "
        "Wed 25 Nov (your choice of two-rooms or one-room).")  # fmt: skip


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "Error: name the exercises to put in the feed, or give --program NAME\n"),
        (["one-room", "--program", "tiny"], "Error: give exercises or --program NAME, not both\n"),
        (["--program", "tiny", "--minutes", "5"],
         "Error: --minutes does not go with --program: the program sets each length\n"),
        (["one-room", "--url", "ftp://x/"],
         "Error: --url must be an http, https or file URL of the folder (got 'ftp://x/')\n"),
        (["one-room", "--minutes", "0"], "Error: --minutes must be more than 0\n"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_work(tmp_path, args, message, renders):
    folder = tmp_path / "feed"
    result = run("feed", str(folder), *args, code=2)
    assert result.output == message
    assert renders == [] and not folder.exists()


def test_an_unknown_exercise_fails_before_anything_is_rendered(tmp_path, renders):
    folder = tmp_path / "feed"
    result = run("feed", str(folder), "one-room", "no-such-thing", code=2)
    assert result.output.startswith("Error: ") and "no-such-thing" in result.output
    assert result.output.count("\n") == 1
    assert renders == [] and not folder.exists()


def test_a_file_in_the_way_of_the_folder(tmp_path):
    path = tmp_path / "feed"
    path.write_text("x")
    result = run("feed", str(path), "one-room", code=2)
    assert result.output == f"Error: cannot make a feed in {path}: it is not a folder\n"


def test_a_damaged_state_file_is_named_with_the_fix(tmp_path):
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / ".haven-feed.json").write_text("{not json")
    result = run("feed", str(folder), "one-room", code=1)
    assert result.output == (
        f"Error: {folder}/.haven-feed.json is not Haven's feed state any more "
        "(delete it to render the whole feed again)\n"
    )


def test_a_hand_edited_state_never_makes_haven_delete_other_files(tmp_path):
    folder = tmp_path / "feed"
    folder.mkdir()
    victim = tmp_path / "victim-0123456789ab.mp3"
    victim.write_text("precious")
    inside = folder / "notes.txt"
    inside.write_text("mine")
    entries = [{"file": "../victim-0123456789ab.mp3", "hash": "x", "size": 8},
               {"file": "notes.txt", "hash": "x", "size": 4}, {"file": 3}, "junk"]  # fmt: skip
    (folder / ".haven-feed.json").write_text(json.dumps({"version": 1, "episodes": entries}))
    result = run("feed", str(folder), "one-room", "-q")
    assert result.output.startswith(f"Feed in {folder}: 1 episode (1 rendered, 0 unchanged).\n")
    assert victim.read_text() == "precious" and inside.read_text() == "mine"


def test_the_same_exercise_twice_is_one_episode(tmp_path, renders):
    folder = tmp_path / "feed"
    result = run("feed", str(folder), "one-room", "one-room", "-q")
    assert result.output.startswith(f"Feed in {folder}: 1 episode (1 rendered, 0 unchanged).\n")
    assert len(renders) == 1


def test_a_finished_program_has_nothing_to_put_in_the_feed(tmp_path, renders):
    run("program", "start", "tiny", "--on", "2026-10-01")  # two weeks: over by now
    result = run("feed", str(tmp_path / "feed"), "--program", "tiny", code=2)
    assert result.output == "Error: Tiny has no practice left to put in the feed\n"
    assert renders == []
