"""Each exercise's length range for ``haven list``, from the computation ``haven show`` uses.

``timeline.length_range`` gives (shortest, natural, longest) from the script and the length of
each spoken clip. ``haven show`` makes the clips and knows the exact lengths; it keeps its
result here (``remember``). ``haven list`` must stay fast (no numpy, no speech engine), so for
a script ``show`` has not measured it runs the same ``length_range`` with each clip's length
estimated from its words (``WORDS_PER_SECOND``, a calm guiding voice) and marks the range as
approximate (``~``). Results are kept in ``script-lengths.json`` in the cache folder, keyed
like the header cache by each file's path, size and modification time; a damaged cache is
ignored and rewritten.
"""

from __future__ import annotations

from pathlib import Path

from player import paths
from player.errors import CacheError, HavenError

CACHE = "script-lengths.json"
_VERSION = 1
MAX_CACHE_BYTES = 1024 * 1024
WORDS_PER_SECOND = 2.3  # a calm guiding voice at rate 1.0 (pyttsx3/Piper voices: 2.1-2.6)
RATE = 48000


def _path() -> Path:
    return paths.cache_dir() / CACHE


def _stamp(path: Path) -> list | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _load() -> dict:
    import json

    from player.files import read_regular

    try:
        data = json.loads(read_regular(_path(), limit=MAX_CACHE_BYTES, what="cache file",
                                       error=CacheError))  # fmt: skip
    except (OSError, HavenError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _save(entries: dict) -> None:
    import json

    from player.files import write_atomic

    try:
        paths.ensure_private_dir(paths.cache_dir())
        write_atomic(_path(), json.dumps({"version": _VERSION, "entries": entries}).encode(),
                     sync=False)  # fmt: skip
    except OSError:
        pass


def _valid(entry, stamp) -> bool:
    return (
        isinstance(entry, dict) and entry.get("stamp") == stamp
        and isinstance(entry.get("range"), list) and len(entry["range"]) == 3
        and all(isinstance(v, (int, float)) and v >= 0 for v in entry["range"])
        and isinstance(entry.get("exact"), bool)
    )


def remember(path: Path, shortest: float, natural: float, longest: float) -> None:
    """Keep the exact range ``haven show`` measured for the script file ``path``."""
    stamp = _stamp(path)
    if stamp is None:
        return
    entries = _load()
    entries[str(path)] = {"stamp": stamp, "range": [shortest, natural, longest], "exact": True}
    _save(entries)


def estimate(path: Path) -> tuple[float, float, float]:
    """``length_range`` of the script at ``path`` with clip lengths estimated from words."""
    from player.format.script import load_script
    from player.audio.timeline import length_range

    script = load_script(path)

    def clip_length(request) -> int:
        words = max(1, len(request.text.split()))
        return int(words / WORDS_PER_SECOND / (request.rate or 1.0) * RATE)

    return length_range(script, clip_length, rate=RATE)


def _entries(files: dict[str, Path]) -> dict[str, dict | None]:
    """id -> the cache entry (``range``, ``exact``) of each script file, estimated and kept
    where missing; None where it cannot be worked out (a file that cannot be read, a
    required parameter without a default)."""
    cache = _load()
    changed = False
    result: dict[str, dict | None] = {}
    for sid, path in files.items():
        key = str(path)
        stamp = _stamp(path)
        entry = cache.get(key)
        if stamp is None:
            result[sid] = None
            continue
        if not _valid(entry, stamp):
            try:
                found = estimate(path)
            except (HavenError, ValueError, OSError):
                result[sid] = None
                continue
            entry = {"stamp": stamp, "range": list(found), "exact": False}
            cache[key] = entry
            changed = True
        result[sid] = entry
    if changed:
        _save(cache)
    return result


def ranges(files: dict[str, Path]) -> dict[str, tuple[float, float, bool] | None]:
    """id -> (shortest, longest, exact) for each script file (None: see ``_entries``)."""
    return {
        sid: None if entry is None else (entry["range"][0], entry["range"][2], entry["exact"])
        for sid, entry in _entries(files).items()
    }


def natural(exercise: str) -> float | None:
    """The length of ``exercise`` (an id) at its default minutes, in seconds: measured by
    ``haven show`` or estimated as for ``haven list``; None when it cannot be worked out."""
    from player.library.catalog import script_paths

    found = script_paths().get(exercise)
    if found is None:
        return None
    entry = _entries({exercise: found[0]}).get(exercise)
    return entry["range"][1] if entry else None


def describe(found: tuple[float, float, bool] | None) -> str:
    """``5-20 min`` (``~5-20 min`` when estimated), ``-`` when unknown."""
    if found is None:
        return "-"
    shortest, longest, exact = found
    low, high = max(1, round(shortest / 60)), max(1, round(longest / 60))
    text = f"{low} min" if low == high else f"{low}-{high} min"
    return text if exact else "~" + text
