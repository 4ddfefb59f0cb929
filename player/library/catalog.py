"""Finding exercises by name: built-in scripts, the user's own scripts, or a path to a file.

A user script with the same id as a built-in one takes its place, so people can adapt a
built-in exercise without renaming it. Listing reads only each file's header fields, with the
script loader's guarded reader (``script.load_header``: the same limits, no anchors or
aliases, the same checks of each field), and keeps them in a small cache
(``script-headers.json`` in the cache folder, keyed by each file's path, size and modification
time), so ``haven list`` usually neither imports yaml nor parses a file: that was about a
third of its start-up (bench P1). The cache is checked like any file a user can write: a
damaged one is ignored and rewritten.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from player import paths
from player.errors import CacheError, HavenError, NotFoundError, ScriptError
from player.format.model import CATEGORIES, ID_RE
from player.printable import one_line, printable



@dataclass(frozen=True)
class ScriptInfo:
    id: str
    title: str
    summary: str
    category: str | None
    tags: tuple[str, ...]
    source: str  # "built-in" or "user"
    path: Path
    problem: str | None = None  # set when the header cannot be read

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "category": self.category,
            "tags": list(self.tags),
            "source": self.source,
            "path": str(self.path),
            "problem": self.problem,
        }


def _script_files(folder: Path) -> dict[str, Path]:
    """Every ``ID.yaml`` in ``folder``, whatever it is: a folder, pipe or broken link named like
    a script is kept, so that reading it reports what it is rather than hiding it."""
    if not folder.is_dir():
        return {}
    try:
        names = sorted(folder.iterdir())
    except OSError as exc:
        from player.files import FileAccessError

        raise FileAccessError.from_os_error(exc, folder, doing="read the folder") from None
    return {p.stem: p for p in names if p.suffix in (".yaml", ".yml") and ID_RE.match(p.stem)}


def shadowed_files(builtin: Path, user: Path) -> dict[str, tuple[Path, str]]:
    """Every YAML id in two folders -> (path, source); the user's files shadow built-in ones.

    Shared by scripts and programs, which are found the same way.
    """
    found = {sid: (p, "built-in") for sid, p in _script_files(builtin).items()}
    found.update({sid: (p, "user") for sid, p in _script_files(user).items()})
    return dict(sorted(found.items()))


def script_paths() -> dict[str, tuple[Path, str]]:
    """Every known script id -> (path, source); user scripts shadow built-in ones."""
    return shadowed_files(paths.builtin_dir("scripts"), paths.user_scripts_dir())


def looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or os.sep in name or (os.altsep or "\0") in name


def given_path(name: str, noun: str = "script") -> Path:
    """NAME as a path to a file; ``NotFoundError`` only when nothing is there at all.

    Something that is there but is no file (a folder, a pipe, a device) is returned, so the
    reader says what it is ("is a folder, not a script file") instead of "no such file".
    """
    path = Path(name).expanduser()
    try:
        there = path.exists() or path.is_symlink()
    except (OSError, ValueError):  # a name too long, or with a NUL
        there = False
    if not there:
        raise NotFoundError(f"no such {noun} file: {printable(name)}")
    return path


def find_by_id(name: str, known, *, what: str, listing: str) -> Path:
    """The file of id NAME in ``known`` (id -> path, or -> (path, source)); the one lookup
    by id, for exercises, programs and templates. An unknown id raises ``NotFoundError``
    suggesting a close one: "no WHAT named 'x' (did you mean 'y'?); LISTING"."""
    if ID_RE.match(name) and name in known:
        found = known[name]
        return found[0] if isinstance(found, tuple) else found
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise NotFoundError(f"no {what} named '{printable(name)}'{hint}; {listing}")


def resolve(name: str) -> Path:
    """The file for NAME: a path to a .yaml file, or a user or built-in script id."""
    if looks_like_path(name):
        return given_path(name)
    return find_by_id(name, script_paths(), what="exercise", listing="'haven list' shows them all")


HEADER_CACHE = "script-headers.json"
_HEADER_CACHE_VERSION = 2  # 2: headers checked as the loader checks them
MAX_HEADER_CACHE_BYTES = 4 * 1024 * 1024


def _header_cache_path() -> Path:
    return paths.cache_dir() / HEADER_CACHE


def _load_header_cache() -> dict:
    """The cached headers, or nothing: a cache that is missing, damaged, hostile (a pipe, a
    link to /dev/zero, JSON nested 100,000 deep) or too large is ignored, and rewritten."""
    import json

    from player.files import read_regular

    try:
        data = json.loads(read_regular(_header_cache_path(), limit=MAX_HEADER_CACHE_BYTES,
                                       what="cache file", error=CacheError))  # fmt: skip
    except (OSError, HavenError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _HEADER_CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _valid_entry(entry, stamp: list) -> bool:
    """A cache entry is used only when it matches the file and holds what parsing would give."""
    if not isinstance(entry, dict) or entry.get("stamp") != stamp:
        return False
    head = entry.get("head")
    if not isinstance(head, dict) or set(head) != {"title", "summary", "category", "tags"}:
        return False
    texts = (head["title"], head["summary"], head["category"])
    tags = head["tags"]
    return (
        # text the loader would give: a non-empty string without control characters
        all(t is None or (isinstance(t, str) and t.strip() and printable(t, keep="\n\t") == t)
            for t in texts)  # fmt: skip
        and (head["category"] is None or head["category"] in CATEGORIES)
        and isinstance(tags, list)
        and all(isinstance(t, str) and t.strip() and printable(t) == t for t in tags)
    )


def _save_header_cache(entries: dict) -> None:
    """Best effort: a cache that cannot be written only costs the next listing some time."""
    import json

    from player.files import write_atomic

    text = json.dumps({"version": _HEADER_CACHE_VERSION, "entries": entries})  # str and lists only
    try:
        paths.ensure_private_dir(paths.cache_dir())
        write_atomic(_header_cache_path(), text.encode("utf-8"), sync=False)
    except OSError:
        pass


def _file_stamp(path: Path) -> list | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _cached_header(path: Path, cache: dict, fresh: dict) -> dict:
    """The header fields of ``path``, from the cache while the file is unchanged. Files that
    cannot be read are never cached, so their problem is reported every time."""
    key = str(path)
    stamp = _file_stamp(path)
    entry = cache.get(key)
    if stamp is not None and _valid_entry(entry, stamp):
        fresh[key] = entry
        return entry["head"]
    from player.format.script import load_header  # imports yaml: only when a file changed

    head = load_header(path)
    if stamp is not None:
        fresh[key] = {"stamp": stamp, "head": head}
    return head


def _problem(exc: Exception) -> str:
    """A reading problem for a listing row: where in the file and what, without the path."""
    if not isinstance(exc, ScriptError):
        return one_line(str(exc))
    where = f"line {exc.line}: " if exc.line is not None else ""
    inside = f"{exc.path}: " if exc.path else ""
    return one_line(f"{where}{inside}{exc.detail}")


def list_scripts(category: str | None = None) -> list[ScriptInfo]:
    """Header information of every script, built-in and user, sorted by id.

    A file that cannot be read (broken YAML, a bad header field, a folder or pipe named like
    a script) is listed with its problem, so one bad file never hides the others.
    """
    cache = _load_header_cache()
    fresh: dict = {}
    result = []
    for sid, (path, source) in script_paths().items():
        try:
            head = _cached_header(path, cache, fresh)
            info = ScriptInfo(
                id=sid,
                title=head["title"] or sid,
                summary=head["summary"] or "",
                category=head["category"],
                tags=tuple(head["tags"]),
                source=source,
                path=path,
            )
        except HavenError as exc:
            info = ScriptInfo(sid, sid, "", None, (), source, path, problem=_problem(exc))
        except Exception as exc:  # pragma: no cover - a safety net the properties never see fire
            problem = f"internal error while reading ({type(exc).__name__}: {_problem(exc)})"
            info = ScriptInfo(sid, sid, "", None, (), source, path, problem=problem)
        if category is None or info.category == category:
            result.append(info)
    if fresh != cache:
        _save_header_cache(fresh)
    return result


def load(name: str, params: dict[str, str] | None = None):
    """Resolve NAME and load it as a validated Script."""
    from player.format.script import load_script

    return load_script(resolve(name), params=params)
