"""Finding exercises by name: built-in scripts, the user's own scripts, or a path to a file.

A user script with the same id as a built-in one takes its place, so people can adapt a
built-in exercise without renaming it. Listing reads only each file's header fields with
libyaml when available, and keeps them in a small cache (``script-headers.json`` in the cache
folder, keyed by each file's path, size and modification time), so ``haven list`` usually
neither imports yaml nor parses a file: that was about a third of its start-up (bench P1).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from player import paths
from player.errors import NotFoundError

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


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
    if not folder.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.suffix in (".yaml", ".yml") and p.is_file() and ID_RE.match(p.stem)
    }


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


def resolve(name: str) -> Path:
    """The file for NAME: a path to a .yaml file, or a user or built-in script id."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise NotFoundError(f"no such script file: {name}")
        return path
    known = script_paths()
    if name in known:
        return known[name][0]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise NotFoundError(
        f"no exercise named '{name}'{hint}; 'haven list' shows them all"
    )


def _read_header(path: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as fh:
        data = yaml.load(fh.read(1 << 20), Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    return data


HEADER_CACHE = "script-headers.json"
_HEADER_CACHE_VERSION = 1


def _header_cache_path() -> Path:
    return paths.cache_dir() / HEADER_CACHE


def _load_header_cache() -> dict:
    import json

    try:
        with open(_header_cache_path(), "rb") as fh:
            data = json.loads(fh.read(1 << 22))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _HEADER_CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _save_header_cache(entries: dict) -> None:
    """Best effort: a cache that cannot be written only costs the next listing some time."""
    import json

    from player.files import write_atomic

    try:
        text = json.dumps({"version": _HEADER_CACHE_VERSION, "entries": entries})
    except (TypeError, ValueError):
        return  # a header value YAML gave as something else than JSON (a date): don't cache
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
    if stamp is not None and isinstance(entry, dict) and entry.get("stamp") == stamp:
        fresh[key] = entry
        return entry["head"]
    head = _read_header(path)
    head = {
        "title": head.get("title"),
        "summary": head.get("summary"),
        "category": head.get("category"),
        "tags": [str(t) for t in head.get("tags") or ()],
    }
    if stamp is not None:
        fresh[key] = {"stamp": stamp, "head": head}
    return head


def list_scripts(category: str | None = None) -> list[ScriptInfo]:
    """Header information of every script, built-in and user, sorted by id."""
    cache = _load_header_cache()
    fresh: dict = {}
    result = []
    for sid, (path, source) in script_paths().items():
        try:
            head = _cached_header(path, cache, fresh)
            info = ScriptInfo(
                id=sid,
                title=str(head.get("title") or sid),
                summary=str(head.get("summary") or ""),
                category=head.get("category"),
                tags=tuple(str(t) for t in head.get("tags") or ()),
                source=source,
                path=path,
            )
        except Exception as exc:  # a broken user file must not break the listing
            info = ScriptInfo(sid, sid, "", None, (), source, path, problem=str(exc).splitlines()[0])
        if category is None or info.category == category:
            result.append(info)
    if fresh != cache:
        _save_header_cache(fresh)
    return result


def load(name: str, params: dict[str, str] | None = None):
    """Resolve NAME and load it as a validated Script."""
    from player.script import load_script

    return load_script(resolve(name), params=params)
