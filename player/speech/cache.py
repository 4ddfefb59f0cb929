"""The content-addressed cache of finished clips, under ``paths.speech_cache_dir()``.

Key: sha256 of a canonical JSON of everything that shapes a clip (text, engine, engine
version, voice, rate, volume, sample rate, ``CACHE_FORMAT``). Entry, in ``<key[:2]>/``:

- ``<key>.f32``: the finished samples, raw little-endian float32 mono at the session rate.
  Chosen over FLAC/WAV because loading is a plain read with no decoder to import (soundfile
  costs ~90 ms), the bytes are exactly what synthesis produced (a lossless codec would need
  int quantization first), and the checksum covers precisely the samples used. Price: ~190 kB
  per second of speech at 48 kHz; speech is a small part of a session and the cache is safe
  to delete (``haven cache clear``).
- ``<key>.json``: sidecar with the format, key, sample count, sha256 of the audio bytes, the
  request and any notice given when the clip was made (replayed on every hit).

Writes are atomic (temporary file + ``os.replace``), audio first, sidecar last, so a sidecar
only ever describes complete audio. Every entry is verified before use (sidecar parses and
matches, length, checksum); a damaged or partial entry is deleted and made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from player import paths

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Bump whenever processing changes what a clip contains (player.speech.dsp, the worker's
# order of steps) so old entries are never reused. Engine-side changes go into the engine's
# version string instead.
CACHE_FORMAT = 4  # 2: clips finished by player.voice; 3: finished before resampling;
# 4: loudness after limiting measured from the gain (player.voice.finish_clip)

AUDIO_SUFFIX = ".f32"
META_SUFFIX = ".json"
_MAX_META_BYTES = 1 << 16


def make_key(
    *,
    text: str,
    engine: str,
    engine_version: str,
    voice: str | None,
    rate: float,
    volume: float,
    sample_rate: int,
) -> str:
    """The cache key of a clip: sha256 hex of a canonical JSON of its shaping fields."""
    fields = {
        "cache_format": CACHE_FORMAT,
        "engine": engine,
        "engine_version": engine_version,
        "rate": float(rate),
        "sample_rate": int(sample_rate),
        "text": text,
        "voice": voice,
        "volume": float(volume),
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_paths(key: str) -> tuple[Path, Path]:
    """(audio, sidecar) paths of an entry."""
    folder = paths.speech_cache_dir() / key[:2]
    return folder / f"{key}{AUDIO_SUFFIX}", folder / f"{key}{META_SUFFIX}"


def _discard(*files: Path) -> None:
    for file in files:
        try:
            file.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # unreadable too: it will be overwritten by the next store


def load(key: str, sample_rate: int) -> tuple["np.ndarray", str | None] | None:
    """A verified entry as ``(read-only float32 samples, notice)``, or None on a miss.

    A damaged entry (bad sidecar, wrong length, checksum mismatch, half of it missing) is
    deleted and reported as a miss, so the caller simply makes it again.
    """
    import numpy as np

    audio, meta_path = entry_paths(key)
    try:
        with open(meta_path, "rb") as fh:
            raw_meta = fh.read(_MAX_META_BYTES + 1)
    except FileNotFoundError:
        if audio.exists():
            _discard(audio)  # audio without its sidecar: an interrupted write
        return None
    except OSError:
        return None
    meta = _parse_meta(raw_meta, key, sample_rate)
    if meta is None:
        _discard(audio, meta_path)
        return None
    try:
        with open(audio, "rb") as fh:
            data = fh.read(meta["samples"] * 4 + 1)
    except OSError:
        _discard(audio, meta_path)
        return None
    if len(data) != meta["samples"] * 4 or hashlib.sha256(data).hexdigest() != meta["sha256"]:
        _discard(audio, meta_path)
        return None
    samples = np.frombuffer(data, dtype="<f4").astype(np.float32, copy=False)
    samples.flags.writeable = False
    return samples, meta.get("notice")


def _parse_meta(raw: bytes, key: str, sample_rate: int) -> dict[str, Any] | None:
    if len(raw) > _MAX_META_BYTES:
        return None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    samples, digest, notice = meta.get("samples"), meta.get("sha256"), meta.get("notice")
    ok = (
        meta.get("format") == CACHE_FORMAT
        and meta.get("key") == key
        and meta.get("sample_rate") == sample_rate
        and isinstance(samples, int)
        and not isinstance(samples, bool)
        and samples >= 0
        and isinstance(digest, str)
        and len(digest) == 64
        and (notice is None or isinstance(notice, str))
    )
    return meta if ok else None


def _write_atomic(target: Path, data: bytes) -> None:
    from player.files import write_atomic

    # No fsync: a clip lost in a crash is only re-made, and syncing every clip would slow
    # a cold session's synthesis.
    write_atomic(target, data, sync=False)


def store(
    key: str,
    samples: "np.ndarray",
    *,
    sample_rate: int,
    request: dict[str, Any],
    notice: str | None = None,
) -> None:
    """Write an entry atomically (audio, then sidecar). Raises OSError when it cannot."""
    import numpy as np

    audio, meta_path = entry_paths(key)
    paths.ensure_private_dir(paths.cache_dir())  # mkdir(parents=True) would leave it 0755
    paths.ensure_private_dir(paths.speech_cache_dir())
    paths.ensure_private_dir(audio.parent)
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    meta = {
        "format": CACHE_FORMAT,
        "key": key,
        "sample_rate": int(sample_rate),
        "samples": len(data) // 4,
        "sha256": hashlib.sha256(data).hexdigest(),
        "notice": notice,
        "request": request,
    }
    _write_atomic(audio, data)
    _write_atomic(meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))


def _files() -> list[Path]:
    root = paths.speech_cache_dir()
    if not root.is_dir():
        return []
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def cache_info() -> dict[str, Any]:
    """``{"entries", "bytes", "folder"}`` for ``haven cache info``; creates nothing."""
    files = _files()
    size = 0
    for file in files:
        try:
            size += file.stat().st_size
        except OSError:
            pass
    entries = sum(1 for f in files if f.suffix == META_SUFFIX and not f.name.startswith("."))
    return {"entries": entries, "bytes": size, "folder": str(paths.speech_cache_dir())}


def cache_clear() -> tuple[int, int]:
    """Delete every cached clip; returns (files removed, bytes freed)."""
    removed = freed = 0
    for file in _files():
        try:
            size = file.stat().st_size
            file.unlink()
        except OSError:
            continue
        removed += 1
        freed += size
    root = paths.speech_cache_dir()
    if root.is_dir():
        for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass
    return removed, freed
