"""A disk cache of computed arrays that are costly to make and the same every time.

Why: a session with a bell or breathing tones used to spend ~0.5 s, before its first audio
block, synthesizing the bell and modelling the tones' loudness (bench P2, profiled: bell
strike 0.16 s, its K-weighting 0.19 s, tone hop powers 0.15 s per track). Those results
depend only on their inputs and on Haven's code, so they are kept in
``<cache>/computed/`` (safe to delete, like the speech cache) and read back in a
millisecond.

Key: sha256 of a name, the inputs' ``repr`` and a digest of the source of the modules that
compute the values (``synth``, ``loudness``, ``mixer``, ``sounds``, this one), so a code change can never
reuse a stale result. The file name carries the first characters of that code digest too:
the first entry a Haven stores deletes those of any other code (an earlier or later
version's, which it would never read; a bed's loop is ~14 MB), so the folder holds one
version's entries. Entry: the array's raw bytes (float64, or float32 where the values are
float32 anyway, e.g. a bed's loop: half the disk and half the memory while reading) followed
by their sha256 (32 bytes), written atomically; anything that does not check out is a miss
and is re-made. Failing to write only costs the next session the time.

Memory: an entry is read straight into the array it becomes (no second copy of the bytes),
so reading a 13 MB loop costs 13 MB, not 26 or (as float64) 39.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from player import paths

_SOURCES = ("synth.py", "loudness.py", "mixer.py", "sounds.py", "memo.py")
_DIGEST = 32


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of the code that computes the cached values."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        try:
            h.update((here / name).read_bytes())
        except OSError:  # no sources (a frozen build): never reuse across versions
            h.update(f"{name}:{os.getpid()}".encode())
    return h.hexdigest()


# Storage types: the entry's suffix, so the same name and key in another type is another entry.
_SUFFIX = {np.dtype(np.float64): ".f64", np.dtype(np.float32): ".f32"}
# An entry larger than this is damaged (a built-in bed's loop is ~14 MB; a 20-minute
# recording of the listener's, the longest used, ~460 MB).
_MAX_BYTES = 1 << 30


# Characters of the code digest in an entry's name: ``<name>-<code>-<key digest><suffix>``.
_CODE_CHARS = 12


def _path(name: str, key: object, dtype: np.dtype = np.dtype(np.float64)) -> Path:
    code = _code_digest()
    digest = hashlib.sha256(f"{name}\0{key!r}\0{code}".encode()).hexdigest()
    return paths.cache_dir() / "computed" / f"{name}-{code[:_CODE_CHARS]}-{digest[:40]}{_SUFFIX[dtype]}"


def _is_current(entry_name: str) -> bool:
    """Whether a stored entry's name carries this code's digest (older names carry none)."""
    stem = entry_name.rsplit(".", 1)[0]
    parts = stem.rsplit("-", 2)
    return len(parts) == 3 and parts[1] == _code_digest()[:_CODE_CHARS]


_swept: set[Path] = set()


def _sweep_other_versions() -> None:
    """Delete the entries of other code (see the module doc), once per process and folder."""
    folder = paths.cache_dir() / "computed"
    if folder in _swept:
        return
    _swept.add(folder)
    for entry in stored():
        if not _is_current(entry.name):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _load(path: Path, dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray | None:
    """The entry's values, read into their array (little-endian ``dtype``), or None."""
    try:
        with open(path, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size - _DIGEST
            if size < 0 or size % dtype.itemsize or size > _MAX_BYTES:
                return None
            value = np.empty(size // dtype.itemsize, dtype=dtype.newbyteorder("<"))
            view = memoryview(value).cast("B")
            got = 0
            while got < size:
                n = fh.readinto(view[got:])
                if not n:
                    return None
                got += n
            digest = fh.read(_DIGEST + 1)
    except OSError:
        return None
    if digest != hashlib.sha256(view).digest():
        return None
    return value.astype(dtype, copy=False)


def _store(path: Path, value: np.ndarray, dtype: np.dtype = np.dtype(np.float64)) -> None:
    from player.files import write_atomic

    body = np.ascontiguousarray(value, dtype=dtype.newbyteorder("<"))
    view = memoryview(body).cast("B")
    try:
        paths.ensure_private_dir(paths.cache_dir())
        paths.ensure_private_dir(path.parent)
        write_atomic(path, b"".join((view, hashlib.sha256(view).digest())), sync=False)
    except OSError:
        pass


def stored() -> list[os.DirEntry]:
    """The entries in ``<cache>/computed`` (this Haven's and earlier versions', whose code
    digest no longer matches and which nothing reads again)."""
    try:
        with os.scandir(paths.cache_dir() / "computed") as found:
            return [e for e in found if e.name.endswith(tuple(_SUFFIX.values()))
                    and e.is_file(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def clear() -> tuple[int, int, list[tuple[Path, OSError]]]:
    """Delete every stored result (each is made again when next needed):
    ``(files removed, bytes freed, [(path, error) for each that could not be])``."""
    removed = freed = 0
    failed: list[tuple[Path, OSError]] = []
    for entry in stored():
        try:
            size = entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append((Path(entry.path), exc))
            continue
        removed += 1
        freed += size
    return removed, freed, failed


def cached_array(
    name: str, key: object, make: Callable[[], np.ndarray], dtype=np.float64
) -> np.ndarray:
    """``make()`` as a ``dtype`` array (float64 or float32), or the same values from the disk
    cache.

    ``key`` must hold every input of ``make`` and have a faithful, stable ``repr`` (numbers,
    strings, tuples, frozen dataclasses of those). The shape is not kept: a 2-D value comes
    back flat (reshape it).
    """
    dtype = np.dtype(dtype)
    path = _path(name, key, dtype)
    value = _load(path, dtype)
    if value is None:
        value = np.asarray(make(), dtype=dtype).reshape(-1)
        _sweep_other_versions()
        _store(path, value, dtype)
    return value
