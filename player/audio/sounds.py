"""Sounds by name: Haven's own beds and bells, and the listener's own recordings.

A sound reference is one of:

- a built-in bed (``synth.NOISE_KINDS`` and the other synthesized beds) or bell
  (``synth.BELL_SOUNDS``),
- the name of a file in the user's sounds folder (``<data>/sounds/creek.flac`` is ``creek``),
- a path to any file soundfile can read (``~/sounds/creek.flac``, ``./bell.wav``).

A file is read once per session sample rate with the guards of ``player.files`` (regular
files only, at most ``MAX_SOUND_BYTES``), mixed to stereo (beds) or mono (bells), resampled
once with soxr and kept in ``<cache>/computed`` (``player.audio.memo``, keyed by the file's bytes),
so a session only copies prepared samples. A bed becomes a seamless loop: its end is
cross-faded into its start (equal power, ``LOOP_CROSSFADE_S``), so the wrap has no seam. A bell
is trimmed of leading silence (its strike lands on the sample the timeline gives), capped at
``MAX_BELL_S`` and faded to exact zero. Loudness is matched by the mixer as for every bed and
bell (beds by their K-weighted power, bells by their first 400 ms).

Refused with one clear line (``BadInputError``): unreadable, too big, silent, or (for a bed)
too short to loop.
"""

from __future__ import annotations

import hashlib
import io
import os
from functools import lru_cache
from pathlib import Path

from player import paths
from player.errors import BadInputError, NotFoundError
from player.format.model import AMBIENT_SOUNDS

# Synthesized beds and bells (names only here: ``haven list``/``--help`` never import numpy).
BUILTIN_BEDS = AMBIENT_SOUNDS
BUILTIN_BELLS = ("bowl", "low-bowl", "high-bowl")
SOUND_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".opus")
MAX_SOUND_BYTES = 64 * 1024 * 1024
MAX_SOUND_S = 20 * 60.0  # of a file, at most this much is used (a loop that long never repeats)
# A bed shorter than this cannot loop without its repeat being heard at once.
MIN_LOOP_S = 4.0
LOOP_CROSSFADE_S = 1.5
MAX_BELL_S = 30.0
BELL_TAIL_S = 0.5
# Peaks below this (about -80 dBFS) count as silence.
SILENCE_PEAK = 1e-4


def user_sounds_dir() -> Path:
    """Folder for the listener's own sounds; a file there is used by its name (stem)."""
    return paths.data_dir() / "sounds"


def user_sounds() -> dict[str, Path]:
    """name -> path of every sound file in the user's sounds folder."""
    folder = user_sounds_dir()
    found: dict[str, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.suffix.lower() in SOUND_EXTENSIONS and entry.is_file():
            found.setdefault(entry.stem, entry)
    return found


def _looks_like_path(ref: str) -> bool:
    return os.sep in ref or ref.startswith(("~", ".")) or Path(ref).suffix.lower() in SOUND_EXTENSIONS


def resolve_file(ref: str) -> Path | None:
    """The file a reference names (a user sound's name or a path), or None for a built-in."""
    if ref in BUILTIN_BEDS or ref in BUILTIN_BELLS:
        return None
    mine = user_sounds()
    if ref in mine:
        return mine[ref]
    if _looks_like_path(ref):
        return Path(ref).expanduser()
    return None


def _unknown(ref: str, kind: str) -> NotFoundError:
    builtin = BUILTIN_BEDS if kind == "bed" else BUILTIN_BELLS
    mine = ", ".join(user_sounds()) or "none yet"
    return NotFoundError(
        f"no {kind} sound '{ref}' (built-in: {', '.join(builtin)}; yours: {mine}; "
        f"or give a file path)"
    )


def check_bed_name(ref: str) -> None:
    """Raise unless ``ref`` names a bed: built-in, a user sound, or an existing file."""
    if ref in BUILTIN_BEDS:
        return
    path = resolve_file(ref)
    if path is None:
        raise _unknown(ref, "bed")
    if not path.exists():
        raise NotFoundError(f"{ref}: no such sound file")


def check_bell_name(ref: str) -> None:
    """Raise unless ``ref`` names a bell: built-in, a user sound, or an existing file."""
    if ref in BUILTIN_BELLS:
        return
    path = resolve_file(ref)
    if path is None:
        raise _unknown(ref, "bell")
    if not path.exists():
        raise NotFoundError(f"{ref}: no such sound file")


# --- reading files ------------------------------------------------------------------------


def _file_bytes(path: Path) -> tuple[bytes, str]:
    """(the file's bytes, their sha256): the key of what is made from them."""
    from player.files import read_regular

    try:
        data = read_regular(path, limit=MAX_SOUND_BYTES, what="sound file")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such sound file") from None
    return data, hashlib.sha256(data).hexdigest()


def _decode(path: Path, data: bytes):
    """(samples (n, channels) float64, sample rate) of a sound file's bytes, or BadInputError.

    Only on a miss of ``memo``: a prepared bed or bell is read back without decoding the file
    (a long recording is hundreds of MB as float64)."""
    import numpy as np
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            # A long recording is used up to MAX_SOUND_S: memory stays bounded whatever
            # a compressed file expands to.
            samples = f.read(int(min(f.frames, MAX_SOUND_S * rate)), dtype="float64",
                             always_2d=True)
    except Exception:  # noqa: BLE001 - libsndfile's reasons vary; one line of ours
        raise BadInputError(
            f"{path}: not a sound file Haven can read (WAV, FLAC, OGG, MP3 and the like)"
        ) from None
    if samples.shape[0] == 0 or not np.all(np.isfinite(samples)):
        raise BadInputError(f"{path}: the sound file has no usable samples")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise BadInputError(f"{path}: the sound is silent")
    return samples, int(rate)


def _resample(x, rate_in: int, rate_out: int):
    import numpy as np

    if rate_in == rate_out:
        return np.ascontiguousarray(x, dtype=np.float64)
    import soxr

    return np.asarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float64)


def make_loop(x, rate: int):
    """A seamless loop (n, 2) from ``x`` (n, channels): its last ``LOOP_CROSSFADE_S`` are
    cross-faded (equal power) into its first, and the loop is that much shorter."""
    import numpy as np

    n = x.shape[0]
    fade = int(round(min(LOOP_CROSSFADE_S, n / rate / 4) * rate))
    t = (np.arange(fade) + 0.5) / fade
    fade_in = np.sin(0.5 * np.pi * t)[:, None]
    fade_out = np.cos(0.5 * np.pi * t)[:, None]
    loop = x[: n - fade].copy()
    # Wrapping from loop[-1] (= x[n-fade-1]) to loop[0] (~ x[n-fade]) continues the file.
    loop[:fade] = x[:fade] * fade_in + x[n - fade :] * fade_out
    return loop


def _bed_loop(path: Path, rate: int):
    """(loop (n, 2) float32, channel-summed K-weighted power) of a sound file, cached."""
    import numpy as np

    from player.audio import loudness, memo

    data, digest = _file_bytes(path)

    def make():
        samples, file_rate = _decode(path, data)
        if samples.shape[0] < MIN_LOOP_S * file_rate:
            raise BadInputError(
                f"{path}: too short to loop ({samples.shape[0] / file_rate:.1f} s; a bed "
                f"needs at least {MIN_LOOP_S:g} s)"
            )
        x = samples[:, :2] if samples.shape[1] >= 2 else np.repeat(samples, 2, axis=1)
        del samples
        x = _resample(x, file_rate, rate)
        return make_loop(x, rate).astype(np.float32)

    # The loop is kept as the float32 it is played as (half the memory of float64), its
    # power beside it; the file's bytes decide both (their rate included).
    key = (digest, rate)
    loop = memo.cached_array("sound-bed", key, make, dtype=np.float32).reshape(-1, 2)
    del data

    def measure():
        # K-weighted power of the loop played forever: filter two turns, measure the second.
        power = 0.0
        for ch in range(2):
            turn = loop[:, ch].astype(np.float64)
            y = loudness.k_weight(np.concatenate([turn, turn]), rate)[len(loop):]
            power += float(np.mean(y * y))
        return [power]

    power = float(memo.cached_array("sound-power", key, measure)[0])
    if not power > 1e-12:
        raise BadInputError(f"{path}: the sound is silent")
    loop.setflags(write=False)
    return loop, power


def _bell_strike(path: Path, rate: int):
    import numpy as np

    from player.audio import memo

    data, digest = _file_bytes(path)

    def make():
        samples, file_rate = _decode(path, data)
        x = np.mean(samples, axis=1)
        peak = float(np.max(np.abs(x)))
        start = int(np.argmax(np.abs(x) >= peak * 1e-3))  # leading silence: -60 dB of the peak
        x = x[start : start + int(MAX_BELL_S * file_rate)]
        x = _resample(x, file_rate, rate)
        tail = min(len(x), int(BELL_TAIL_S * rate))
        if tail:
            x[-tail:] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(tail) + 1) / tail)
        x[0] = 0.0  # the strike rises from silence on its first sample, like Haven's bowl
        return x

    strike = memo.cached_array("sound-bell", (digest, rate), make, dtype=np.float32)
    strike.setflags(write=False)
    return strike


@lru_cache(maxsize=16)
def _bed_cached(path: str, mtime_ns: int, size: int, rate: int):
    return _bed_loop(Path(path), rate)


@lru_cache(maxsize=16)
def _bell_cached(path: str, mtime_ns: int, size: int, rate: int):
    return _bell_strike(Path(path), rate)


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such sound file") from None
    except OSError:
        return str(path), 0, 0  # read_regular gives the one-line reason
    return str(path), st.st_mtime_ns, st.st_size


def bed(ref: str, rate: int):
    """A bed for the mixer: ``render(start, n)`` -> (n, 2) float32 and ``k_power``."""
    from player.audio import synth

    if ref in BUILTIN_BEDS:
        return synth.NoiseBed(ref, rate)
    path = resolve_file(ref)
    if path is None:
        raise _unknown(ref, "bed")
    loop, power = _bed_cached(*_stamp(path), int(rate))
    return synth.LoopBed(loop, power, rate=rate, name=ref)


# --- Haven's assets (audio/) ---------------------------------------------------------------

# The assets are made at this rate; a session at another rate synthesizes the same sound there.
ASSET_RATE = 48000
ASSET_SUBTYPE = "PCM_24"  # bells are synthesized on the 24-bit grid: exact in the file


def asset_path(name: str) -> Path:
    return paths.builtin_dir("audio") / f"{name}.flac"


@lru_cache(maxsize=8)
def _asset(path: str, mtime_ns: int, size: int):
    """An asset's samples, kept decoded in ``player.audio.memo`` (by the file's path, time and
    size): a session with a bell then needs neither soundfile (~2 MB, a few ms to import)
    nor the FLAC decoding on the way to its first audio."""
    import numpy as np

    from player.audio import memo

    def decode():
        import soundfile

        from player.files import read_regular

        data = read_regular(path, limit=MAX_SOUND_BYTES, what="sound file")
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
        if rate != ASSET_RATE or samples.ndim != 1:
            raise ValueError(f"{path}: not a {ASSET_RATE} Hz mono asset")
        return samples

    samples = memo.cached_array("asset", (path, mtime_ns, size), decode, dtype=np.float32)
    samples.setflags(write=False)
    return samples


def builtin_bell(name: str, rate: int):
    """One of Haven's bells by name: its asset in ``audio/`` at ``ASSET_RATE`` (the same
    samples the synthesis gives), else synthesized at ``rate`` by the code that made it."""
    from player.audio import synth

    path = asset_path(name)
    if int(rate) == ASSET_RATE:
        try:
            return _asset(*_stamp(path))
        except Exception:  # noqa: BLE001 - no asset (or a damaged one): the code is the source
            pass
    return synth.bell_strike(rate, name)


def write_assets(folder: str | os.PathLike) -> list[Path]:
    """Write Haven's bell assets (``make audio``): each bell of ``synth.BELL_SOUNDS`` as
    ``NAME.flac``, mono, ``ASSET_RATE``, 24-bit, straight from the synthesis code."""
    import soundfile

    from player.audio import synth
    from player.files import write_output

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in synth.BELL_SOUNDS:
        buf = io.BytesIO()
        soundfile.write(buf, synth._bell(ASSET_RATE, name), ASSET_RATE, format="FLAC",
                        subtype=ASSET_SUBTYPE)
        write_output(out / f"{name}.flac", buf.getvalue(), mode=0o644)
        written.append(out / f"{name}.flac")
    return written


def bell_samples(ref: str, rate: int):
    """The strike of a bell sound, mono float32 at ``rate`` (read-only)."""
    if ref in BUILTIN_BELLS:
        return builtin_bell(ref, rate)
    path = resolve_file(ref)
    if path is None:
        raise _unknown(ref, "bell")
    return _bell_cached(*_stamp(path), int(rate))


def check_file(ref: str, kind: str, rate: int = 48000) -> None:
    """Read a file reference now (at load time), so a bad file fails before any audio."""
    if kind == "bed":
        bed(ref, rate)
    else:
        bell_samples(ref, rate)


# --- listing and previews (haven sounds) ---------------------------------------------------

# Named strike counts of the bowl (the timer's bell choices; a script's `bell: {strikes: N}`).
STRIKE_NAMES = {"double": 2, "triple": 3}
PREVIEW_BED_S = 20.0


def listing() -> dict:
    """What ``haven sounds`` shows: built-in beds and bells, and the user's own sounds."""
    return {
        "beds": list(BUILTIN_BEDS),
        "bells": list(BUILTIN_BELLS),
        "strikes": list(STRIKE_NAMES),
        "yours": [{"name": name, "file": str(path)} for name, path in user_sounds().items()],
        "folder": str(user_sounds_dir()),
    }


def preview_script(name: str, rate: int = 48000):
    """A short session that plays one sound: a bed for ``PREVIEW_BED_S`` (fading in and out),
    a bell struck once (``double``/``triple``: the bowl two or three times). A sound of the
    user's plays as a bed when it is long enough to loop, else as a bell."""
    from player.format import model

    def bed_script():
        return model.Script(
            id=f"sound:{name}", title=f"Sound: {name}",
            steps=(model.Pause(PREVIEW_BED_S, fixed=True),),
            ambient=model.AmbientSettings(sound=name), ending="silence",
        )

    def bell_script(bell: model.Bell):
        return model.Script(id=f"sound:{name}", title=f"Sound: {name}", steps=(bell,),
                            ending="silence")

    if name in BUILTIN_BEDS:
        return bed_script()
    if name in BUILTIN_BELLS:
        return bell_script(model.Bell(sound=name))
    if name in STRIKE_NAMES:
        return bell_script(model.Bell(strikes=STRIKE_NAMES[name]))
    path = resolve_file(name)
    if path is None:
        names = ", ".join([*BUILTIN_BEDS, *BUILTIN_BELLS, *STRIKE_NAMES, *user_sounds()])
        raise NotFoundError(f"no sound '{name}' (sounds: {names}; or give a file path)")
    try:
        check_file(name, "bed", rate)
        return bed_script()
    except BadInputError as exc:
        if "too short to loop" not in str(exc):
            raise
    check_file(name, "bell", rate)
    return bell_script(model.Bell(sound=name))


if __name__ == "__main__":  # `make audio`: python -m player.audio.sounds audio
    import sys

    for written in write_assets(sys.argv[1] if len(sys.argv) > 1 else "audio"):
        print(f"wrote {written}")
