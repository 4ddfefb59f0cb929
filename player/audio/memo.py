"""A disk cache of computed arrays that are costly to make and the same every time.

Why: a session with a bell or breathing tones used to spend ~0.5 s, before its first audio
block, synthesizing the bell and modelling the tones' loudness (bench P2, profiled: bell
strike 0.16 s, its K-weighting 0.19 s, tone hop powers 0.15 s per track). Those results
depend only on their inputs and on Haven's code, so they are kept in
``<cache>/computed/`` (safe to delete, like the speech cache) and read back in a
millisecond.

Key: sha256 of a name, the inputs' ``repr`` and a digest of the source of the modules that
compute the values (``synth``, ``loudness``, ``mixer``, this one), so a code change can never
reuse a stale result. Entry: the array's raw float64 bytes followed by their sha256 (32
bytes), written atomically; anything that does not check out is a miss and is re-made.
Failing to write only costs the next session the time.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from player import paths

_SOURCES = ("synth.py", "loudness.py", "mixer.py", "memo.py")
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


def _path(name: str, key: object) -> Path:
    digest = hashlib.sha256(f"{name}\0{key!r}\0{_code_digest()}".encode()).hexdigest()
    return paths.cache_dir() / "computed" / f"{name}-{digest[:40]}.f64"


def _load(path: Path) -> np.ndarray | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < _DIGEST or len(body) % 8 or hashlib.sha256(body).digest() != digest:
        return None
    return np.frombuffer(body, dtype="<f8").copy()


def _store(path: Path, value: np.ndarray) -> None:
    from player.files import write_atomic

    body = np.ascontiguousarray(value, dtype="<f8").tobytes()
    try:
        paths.ensure_private_dir(paths.cache_dir())
        paths.ensure_private_dir(path.parent)
        write_atomic(path, body + hashlib.sha256(body).digest(), sync=False)
    except OSError:
        pass


def cached_array(name: str, key: object, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()`` (a float64 array), or the same values from the disk cache.

    ``key`` must hold every input of ``make`` and have a faithful, stable ``repr`` (numbers,
    strings, tuples, frozen dataclasses of those).
    """
    path = _path(name, key)
    value = _load(path)
    if value is None:
        value = np.asarray(make(), dtype=np.float64)
        _store(path, value)
    return value
