"""The content-addressed cache of finished clips, under ``paths.speech_cache_dir()``.

Key: sha256 of a canonical JSON of everything that shapes a clip (text, engine, engine
version, voice, rate, volume, sample rate, ``CACHE_FORMAT``). Entry, in ``<key[:2]>/``:

- ``<key>.s16``: the finished samples as 16-bit PCM scaled to the clip's own peak: a 24-byte
  header (magic, the scale as float64, the sample count as uint64; little-endian), then the
  int16 samples; a sample is ``int16 * float32(scale)``. 96 kB per second of speech at 48 kHz,
  half of float32. The rounding error is at most half a step, 96 dB below the clip's peak
  (over a spoken script: RMS error <= -87 dB relative to the clip's RMS, <= -110 dBFS), far
  below hearing. Not FLAC, though it is 3x smaller again (33 kB/s): loading FLAC needs
  soundfile, ~90 ms to import and ~5 ms per clip to decode, on the way to a warm session's
  first audio (bench P2, 300 ms budget). With numpy alone a hit (read, checksum, decode)
  takes ~0.4 ms a clip, less than float32's ~0.9 ms: half the bytes to read and hash. A fresh
  clip is handed out exactly as it will be read back (:func:`encode`), so a session sounds
  the same from a cold cache and a warm one.
- ``<key>.json``: sidecar with the format, encoding, key, sample rate, sample count, sha256
  of the whole audio file (header included), the request and any notice given when the clip
  was made (replayed on every hit).

Writes are atomic (temporary file + ``os.replace``), audio first, sidecar last, so a sidecar
only ever describes complete audio. Every entry is verified before use: both files are read
with ``player.files.read_regular`` under caps the sidecar sets (a FIFO, a folder or a link
to ``/dev/zero`` in the cache can neither hang nor exhaust memory), the sidecar must parse
and match, the audio's length and checksum must agree. Anything else is a miss: the entry's
files are deleted when they are regular files or links we own (unlinking a link never
touches what it points to; anything else is left for the next write to replace) and the
clip is made again. Entries of older layouts (``.f32`` audio) are misses like any other;
those never asked for again go, with leftovers of interrupted writes, after the next new clip.

Size: ``cache.max_mb`` in the settings (default 500 MB). A sidecar's modification time is
its entry's last use (set on every hit with one ``utime``); :func:`enforce_cap`, run after a
batch of new clips, deletes the least recently used entries until the cache fits, never one
the running session uses.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from player import paths

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Bump whenever processing changes what a clip contains (player.speech.dsp, the worker's
# order of steps) so old entries are never reused. Engine-side changes go into the engine's
# version string instead.
CACHE_FORMAT = 4  # 2: clips finished by player.speech.levelling; 3: finished before resampling;
# 4: loudness after limiting measured from the gain (player.speech.levelling.finish_clip)

# How the audio file stores samples (the sidecar's "encoding"). Entries without it are older
# layouts (raw float32 in ``.f32``): misses, removed when met, evicted like strays otherwise.
ENCODING = "pcm16-peak"
AUDIO_SUFFIX = ".s16"
META_SUFFIX = ".json"
LEGACY_AUDIO_SUFFIX = ".f32"
_MAGIC = b"HVNS16\x00\x01"
_HEADER = struct.Struct("<8sdQ")  # magic, scale, sample count
_MAX_META_BYTES = 1 << 16
MAX_CLIP_SECONDS = 3600  # a clip is one sentence: a sidecar claiming more is damaged
# A file in the cache that belongs to no entry may be another process's write in progress
# (audio renamed into place, sidecar not yet): eviction leaves such files alone this long.
_STRAY_GRACE_S = 600
MB = 1_000_000  # cache.max_mb and `haven cache info` count decimal megabytes


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


def _owned_link_or_file(st: os.stat_result) -> bool:
    return (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and st.st_uid == os.geteuid()


def _discard(*files: Path) -> None:
    """Delete the files of a bad entry: regular files and links we own, nothing else.

    ``unlink`` removes a link itself, never what it points to, so nothing outside the cache is
    ever deleted; a folder, FIFO or device in the way is left for the next write to replace.
    """
    for file in files:
        try:
            if _owned_link_or_file(os.lstat(file)):
                os.unlink(file)
        except OSError:
            pass  # gone already, or not ours to remove: the next store replaces it


class Encoded(NamedTuple):
    """A clip as the cache stores it: the audio file's bytes and the samples they decode to."""

    data: bytes
    samples: "np.ndarray"  # read-only float32: exactly what :func:`load` will return


def encode(samples: "np.ndarray") -> Encoded:
    """Quantize float32 mono samples to the ``.s16`` layout (16-bit, scaled to the peak)."""
    import numpy as np

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError("a clip is one channel of samples")
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scale = np.float32(peak / 32767.0)
    if scale > 0:
        q = np.clip(np.rint(x / np.float64(scale)), -32767, 32767).astype("<i2")
    else:
        q = np.zeros(x.size, dtype="<i2")
    data = _HEADER.pack(_MAGIC, float(scale), q.size) + q.tobytes()
    decoded = _decode(data, q.size)  # the very code a hit runs: fresh and cached clips agree
    if decoded is None:  # pragma: no cover - the header was just written
        raise AssertionError("an encoded clip does not decode")
    return Encoded(data, decoded)


def _decode(data: bytes, samples: int) -> "np.ndarray | None":
    """The read-only float32 samples of an ``.s16`` file's bytes, or None if the header is bad."""
    import numpy as np

    if len(data) != _HEADER.size + 2 * samples:
        return None
    magic, scale, count = _HEADER.unpack_from(data)
    if magic != _MAGIC or count != samples or not (math.isfinite(scale) and scale >= 0.0):
        return None
    out = np.frombuffer(data, dtype="<i2", offset=_HEADER.size).astype(np.float32)
    out *= np.float32(scale)
    out.flags.writeable = False
    return out


def _read_or_none(path: Path, limit: int, what: str) -> bytes | None:
    """``path``'s bytes via ``read_regular`` (regular files only, capped), or None."""
    from player.errors import CacheError
    from player.files import read_regular

    try:
        return read_regular(path, limit=limit, what=what, error=CacheError)
    except (OSError, CacheError):  # absent, a folder, a FIFO, a device, too big, unreadable
        return None


def load(key: str, sample_rate: int) -> tuple["np.ndarray", str | None] | None:
    """A verified entry as ``(read-only float32 samples, notice)``, or None on a miss.

    A damaged entry (bad sidecar, wrong length, checksum mismatch, half of it missing, an
    older layout, something that is not a regular file) is deleted where that is safe and
    reported as a miss, so the caller simply makes it again. A hit marks the entry as just
    used (the sidecar's modification time), which is what eviction goes by.
    """
    audio, meta_path = entry_paths(key)
    legacy = audio.with_suffix(LEGACY_AUDIO_SUFFIX)
    raw_meta = _read_or_none(meta_path, _MAX_META_BYTES, "cache sidecar")
    meta = None if raw_meta is None else _parse_meta(raw_meta, key, sample_rate)
    if meta is None:  # absent, unreadable, damaged, an older layout: audio without it is junk
        _discard(meta_path, audio, legacy)
        return None
    data = _read_or_none(audio, _HEADER.size + 2 * meta["samples"], "cached clip")
    samples = None
    if data is not None and hashlib.sha256(data).hexdigest() == meta["sha256"]:
        samples = _decode(data, meta["samples"])
    if samples is None:
        _discard(meta_path, audio)
        return None
    try:
        os.utime(meta_path, follow_symlinks=False)  # last use, for least-recently-used eviction
    except OSError:
        pass  # a read-only cache still serves hits
    return samples, meta.get("notice")


def _parse_meta(raw: bytes, key: str, sample_rate: int) -> dict[str, Any] | None:
    if len(raw) > _MAX_META_BYTES:
        return None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    samples, digest, notice = meta.get("samples"), meta.get("sha256"), meta.get("notice")
    ok = (
        meta.get("format") == CACHE_FORMAT
        and meta.get("encoding") == ENCODING
        and meta.get("key") == key
        and meta.get("sample_rate") == sample_rate
        and isinstance(samples, int)
        and not isinstance(samples, bool)
        and 0 <= samples <= MAX_CLIP_SECONDS * sample_rate
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
    clip: "Encoded | np.ndarray",
    *,
    sample_rate: int,
    request: dict[str, Any],
    notice: str | None = None,
) -> Encoded:
    """Write an entry atomically (audio, then sidecar); returns it as stored.

    ``clip`` is the output of :func:`encode` (so a caller can use the stored samples even
    when writing fails) or plain float32 samples. Raises OSError when it cannot write.
    """
    if not isinstance(clip, Encoded):
        clip = encode(clip)
    audio, meta_path = entry_paths(key)
    paths.ensure_private_dir(paths.cache_dir())  # mkdir(parents=True) would leave it 0755
    paths.ensure_private_dir(paths.speech_cache_dir())
    paths.ensure_private_dir(audio.parent)
    meta = {
        "format": CACHE_FORMAT,
        "encoding": ENCODING,
        "key": key,
        "sample_rate": int(sample_rate),
        "samples": int(clip.samples.size),
        "sha256": hashlib.sha256(clip.data).hexdigest(),
        "notice": notice,
        "request": request,
    }
    _write_atomic(audio, clip.data)
    _write_atomic(meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))
    _discard(audio.with_suffix(LEGACY_AUDIO_SUFFIX))  # an older layout's audio of this key
    return clip


# --- what is in the cache: entries, strays, size, eviction --------------------------------

_ENTRY_FILE = re.compile(r"([0-9a-f]{64})(\.json|\.s16)")


class _File(NamedTuple):
    path: Path
    size: int
    mtime: float
    regular: bool
    removable: bool  # a regular file or a link we own


class _Scan(NamedTuple):
    entries: dict[str, tuple[_File, _File]]  # key -> (sidecar, audio), both regular files
    strays: list[_File]  # everything else that is not a folder: tmp files, orphans, old layouts

    @property
    def bytes(self) -> int:
        entries = sum(meta.size + audio.size for meta, audio in self.entries.values())
        return entries + sum(f.size for f in self.strays)


def _scan() -> _Scan:
    """Everything in the cache, two levels deep (``<shard>/<file>``), without following links."""
    root = paths.speech_cache_dir()
    parts: dict[str, dict[str, _File]] = {}
    strays: list[_File] = []

    def note(entry: os.DirEntry) -> _File | None:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        regular = stat.S_ISREG(st.st_mode)
        return _File(Path(entry.path), st.st_size, st.st_mtime, regular, _owned_link_or_file(st))

    try:
        top = list(os.scandir(root))
    except OSError:  # no cache yet, or not a folder we can list
        return _Scan({}, [])
    for shard in top:
        if not shard.is_dir(follow_symlinks=False):
            found = note(shard)
            if found is not None:
                strays.append(found)
            continue
        try:
            inside = list(os.scandir(shard.path))
        except OSError:
            continue
        for entry in inside:
            found = note(entry)
            if found is None:
                continue
            match = _ENTRY_FILE.fullmatch(entry.name)
            if match and match.group(1)[:2] == shard.name and found.regular:
                parts.setdefault(match.group(1), {})[match.group(2)] = found
            else:
                strays.append(found)
    entries: dict[str, tuple[_File, _File]] = {}
    for key, files in parts.items():
        if META_SUFFIX in files and AUDIO_SUFFIX in files:
            entries[key] = (files[META_SUFFIX], files[AUDIO_SUFFIX])
        else:
            strays.extend(files.values())
    return _Scan(entries, strays)


def max_bytes() -> int:
    """The cap from the settings (``cache.max_mb``); the default when they cannot be read."""
    from player.config import defaults, load_config
    from player.errors import HavenError

    try:
        mb = load_config()["cache.max_mb"]
    except HavenError:  # a broken settings file must not stop speech; other commands say why
        mb = defaults()["cache.max_mb"]
    return int(mb * MB)


def enforce_cap(keep: Iterable[str] = (), limit: int | None = None) -> tuple[int, int]:
    """Delete least recently used entries until the cache holds at most ``limit`` bytes.

    ``limit`` defaults to :func:`max_bytes`. Entries whose key is in ``keep`` (the running
    session's clips) are never deleted. Files that belong to no entry (older layouts,
    leftovers of interrupted writes) are deleted first, whatever the size, once they are a
    few minutes old (before that, another process may still be writing them). Returns
    (files, bytes) removed.
    """
    limit = max_bytes() if limit is None else limit
    scan = _scan()
    now = time.time()
    junk = [f for f in scan.strays if f.removable and now - f.mtime > _STRAY_GRACE_S]
    removed, freed = _unlink(junk)
    total = scan.bytes - freed
    if total <= limit:
        return removed, freed
    keep = frozenset(keep)
    by_last_use = sorted(
        (pair for key, pair in scan.entries.items() if key not in keep),
        key=lambda pair: pair[0].mtime,  # the sidecar's time: the entry's last use
    )
    for meta, audio in by_last_use:
        n, size = _unlink([meta, audio])  # the sidecar first: at once a miss for readers
        removed, freed, total = removed + n, freed + size, total - size
        if total <= limit:
            break
    return removed, freed


def _unlink(files: list[_File]) -> tuple[int, int]:
    """Delete ``files`` (found by :func:`_scan`); returns (files, bytes) removed."""
    removed = freed = 0
    for file in files:
        try:
            os.unlink(file.path)
        except FileNotFoundError:
            pass  # another process was quicker: the space is free all the same
        except OSError:
            continue
        removed += 1
        freed += file.size
    return removed, freed


def cache_info() -> dict[str, Any]:
    """Entries (complete clips only), bytes on disk, the cap, and files that are no clip.

    ``{"entries", "bytes", "max_bytes", "other_files", "other_bytes", "folder"}``; creates
    nothing.
    """
    scan = _scan()
    return {
        "entries": len(scan.entries),
        "bytes": scan.bytes,
        "max_bytes": max_bytes(),
        "other_files": len(scan.strays),
        "other_bytes": sum(f.size for f in scan.strays),
        "folder": str(paths.speech_cache_dir()),
    }


def cache_clear() -> tuple[int, int]:
    """Delete every cached clip and stray file, and the computed sounds and levels beside them
    (``<cache>/computed``: ``player.audio.memo``, whose entries from earlier versions nothing
    reads again); returns (files removed, bytes freed).

    Raises :class:`CacheError` naming the first file that could not be deleted (a read-only
    cache, say) after deleting all it could.
    """
    from player.audio import memo
    from player.errors import CacheError
    from player.files import describe_os_error

    scan = _scan()
    removed = freed = 0
    failed: list[tuple[Path, OSError]] = []
    for file in [f for pair in scan.entries.values() for f in pair] + scan.strays:
        if not file.removable:
            continue
        try:
            os.unlink(file.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append((file.path, exc))
            continue
        removed += 1
        freed += file.size
    root = paths.speech_cache_dir()
    try:
        shards = [Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        shards = []
    for folder in shards:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (something that is not ours) or not removable
    computed, computed_bytes, computed_failed = memo.clear()
    removed += computed
    freed += computed_bytes
    failed += computed_failed
    if failed:
        path, exc = failed[0]
        raise CacheError(
            f"removed {removed} files ({freed / MB:.1f} MB) but not {len(failed)}: "
            + describe_os_error(exc, path, doing="delete")
        )
    return removed, freed
