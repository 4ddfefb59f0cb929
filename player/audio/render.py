"""From a script to a prepared session, and from a session to an audio file.

``prepare_session`` does the slow, fallible work once (loading, speech synthesis, timeline
compilation, loudness planning); rendering and playback then only pull blocks from the
mixer. Files are written block by block, so memory does not grow with session length, and
atomically, so a cancelled render never leaves half a file behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from player.format import model
from player.errors import BadInputError, HavenError
from player.audio.timeline import (
    Overrides,
    SpeechRequest,
    Timeline,
    compile_timeline,
    estimated_timeline,
    speech_requests,
)

DEFAULT_RATE = 48000
# Frames per block when writing files: large, because each block costs some fixed Python
# work in the mixer, the limiter and the writer (bench P5: 30 minutes rendered in 2.0 s with
# 8192-frame blocks, 1.3 s with 65536), and the samples do not depend on the block size.
BLOCK = 65536

# Extension -> (soundfile format, subtype). WAV keeps the session's float samples exactly.
FORMATS = {
    ".wav": ("WAV", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


@dataclass(frozen=True)
class SessionSettings:
    """Everything besides the script that shapes a session's audio."""

    sample_rate: int = DEFAULT_RATE  # samples a second, for the whole session
    channels: int = 2
    minutes: float | None = None
    params: dict = field(default_factory=dict)
    overrides: Overrides = Overrides()
    target_lufs: float = -18.0
    jobs: int | None = None
    speech_timeout_s: float = 20.0


@dataclass
class PreparedSession:
    script: model.Script
    timeline: Timeline
    mixer: "object"  # player.audio.mixer.Mixer (imported lazily: it pulls in numpy)
    settings: SessionSettings


def synthesize_speech(
    requests: list[SpeechRequest],
    settings: SessionSettings,
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_clip: Callable[[SpeechRequest, object], None] | None = None,
) -> dict:
    """Synthesize (or load from cache) every clip; returns request -> float32 samples
    (nothing when ``on_clip`` is given: the clips went there).

    The one way a session's speech is made (``speech.synthesize``: settings, voice, engine
    fallback and cache keys decided once). ``on_clip(request, samples)`` hears of each clip
    as soon as it exists (cached ones first): the streaming player starts playing from it.
    """
    from player import speech

    handed = None
    if on_clip is not None:
        def handed(index: int, clip) -> None:
            on_clip(requests[index], clip.samples)

    clips = speech.synthesize(
        [
            speech.ClipRequest(
                text=r.text, engine=r.engine, voice=r.voice, rate=r.rate, volume=r.volume,
                lexicon=r.lexicon, language=r.language,
            )
            for r in requests
        ],
        sample_rate=settings.sample_rate,
        jobs=settings.jobs,
        timeout_s=settings.speech_timeout_s,
        notify=notify,
        progress=progress,
        on_clip=handed,
        keep=on_clip is None,  # a streaming player keeps its own (16-bit) copy of each clip
    )
    return {req: clip.samples for req, clip in zip(requests, clips)}


def prepare_script(
    script: model.Script,
    settings: SessionSettings = SessionSettings(),
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PreparedSession:
    """Synthesize speech, compile the timeline and plan loudness for a loaded script."""
    from player.audio.mixer import Mixer
    from player.audio.streaming import prepared_clip

    requests = speech_requests(script, settings.overrides)
    clips = synthesize_speech(requests, settings, notify=notify, progress=progress)
    # Normalized as playback does it, with each clip's gain kept on disk (measuring it is an
    # FFT over the clip: 0.4 s of a 10-minute render with the speech cached) and the clip
    # held as its 16-bit steps (half the memory); the same samples as measuring afresh.
    clips = {
        req: prepared_clip(samples, settings.sample_rate, req.volume)
        for req, samples in clips.items()
    }
    timeline = compile_timeline(
        script,
        lambda r: len(clips[r]),
        rate=settings.sample_rate,
        minutes=settings.minutes,
        overrides=settings.overrides,
    )
    for warning in timeline.warnings if notify is not None else ():
        notify(warning)  # a line over a pacer running past it (timeline.warnings)
    mixer = Mixer(
        timeline,
        clips,
        target_lufs=settings.target_lufs,
        channels=settings.channels,
        plan_timeline=plan_timeline(script, settings),
        normalized=True,
    )
    return PreparedSession(script, timeline, mixer, settings)


def plan_timeline(script: model.Script, settings: SessionSettings) -> Timeline:
    """The timeline the session gain is planned on: clip lengths estimated from the text.

    Rendering and playback both plan on it, so a session's gain is known before any speech
    is synthesized and a file render is identical to what playback plays.
    """
    return estimated_timeline(
        script, rate=settings.sample_rate, minutes=settings.minutes, overrides=settings.overrides
    )


def prepare_session(
    name: str,
    settings: SessionSettings = SessionSettings(),
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PreparedSession:
    """Load NAME (built-in id, user id or path) and prepare it."""
    from player.library import catalog as library

    script = library.load(name, params=settings.params)
    return prepare_script(script, settings, notify=notify, progress=progress)


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    rate: int
    channels: int
    chapters: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


def format_for(path: Path) -> tuple[str, str]:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(FORMATS)
        raise BadInputError(
            f"cannot write '{path.name}': the file name must end in one of {known}"
        ) from None


FORMAT_NAMES = tuple(ext.lstrip(".") for ext in FORMATS)  # for --format: wav, flac, ...


def output_format(path: str, format: str | None = None) -> tuple[str, str]:
    """(soundfile format, subtype) for writing ``path``: ``format`` (a name from
    :data:`FORMAT_NAMES`) when given, else the file name's extension.

    Standard output (``-``), a device or a pipe may have no extension; they need ``format``.
    """
    names = ", ".join(FORMAT_NAMES)
    if format is not None:
        try:
            return FORMATS["." + format.lower()]
        except KeyError:
            raise BadInputError(f"--format must be one of {names} (got '{format}')") from None
    if path == "-":
        raise BadInputError(f"to write audio to standard output, give its format: --format {names}")
    try:
        return format_for(Path(path))
    except BadInputError:
        try:
            special = not stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            special = False
        if special:
            raise BadInputError(
                f"cannot write '{path}': name a file ending in one of "
                f"{', '.join(FORMATS)}, or give the format with --format {names}"
            ) from None
        raise


def check_output(path: str | os.PathLike, format: str | None = None) -> str:
    """Refuse, before any slow work, an output :func:`render_to_file` could not write: a bad
    name, a folder, a missing or read-only folder. Returns how it will be written
    (see :func:`player.files.output_kind`)."""
    from player.files import output_kind

    name = os.fsdecode(path)
    how = output_kind(name)
    output_format(name, format)
    if how == "replace":
        os.unlink(_temp_file(name))
    return how


def _temp_file(name: str, folder: str | None = None) -> str:
    """A new empty file for the audio: beside the target (``folder`` None) or in ``folder``."""
    from player.files import FileAccessError

    target = Path(os.path.realpath(name))
    where = str(target.parent) if folder is None else folder
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=where)
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, name if folder is None else where, doing="write") from None
    os.close(fd)
    return tmp_name


# Formats whose file of a session with no stereo sound has one channel (see file_channels).
ONE_CHANNEL_WHEN_MONO = ("MP3", "OGG")


def file_channels(fmt: str, mixer, channels: int | None = None) -> int:
    """How many channels the file of ``mixer``'s session has in format ``fmt``.

    ``channels`` (1 or 2) when given. Otherwise an MP3 or Ogg file of a session whose two
    channels are the same samples (every sound but a stereo bed sits in the centre:
    ``Mixer.is_dual_mono``) has one channel: the same sound in both ears, in half the
    encoder's work (LAME and libvorbis analyse every channel: 10 minutes of `body-scan`
    encode in 0.9 s instead of 1.7 s, and 1.3 s instead of 2.6 s; bench P11) and a smaller
    file. WAV and FLAC keep the session's channels: they are its exact samples, as played.
    """
    if channels is not None:
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, not {channels!r}")
        return channels
    if fmt in ONE_CHANNEL_WHEN_MONO and mixer.is_dual_mono:
        return 1
    return mixer.channels


def render_to_file(
    session: PreparedSession,
    path: str | os.PathLike,
    *,
    block: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
    format: str | None = None,
    channels: int | None = None,
) -> RenderResult:
    """Write the whole session to ``path``, block by block, in ``format`` (wav, flac, ogg,
    mp3; default: from the file name's extension), with ``channels`` (1 or 2; default: see
    :func:`file_channels`). One channel of a stereo session is the mean of the two.

    A regular file or a new path is written as a temporary file beside it and renamed over
    it when complete (a symbolic link is followed: its target is replaced), so a failure or a
    cancelled render never leaves half a file. Standard output (``-``), a pipe or a device is
    written through, never replaced: the file headers of WAV and FLAC are finished by seeking
    back, which a pipe cannot do, so the audio is made in a temporary file first and then
    copied. Every failure to write is one :class:`HavenError` naming ``path``.
    """
    from player.files import FileAccessError, open_output, output_kind

    name = os.fsdecode(path)
    how = output_kind(name)
    fmt, subtype = output_format(name, format)
    mixer = session.mixer
    out_channels = file_channels(fmt, mixer, channels)
    if how == "replace":
        tmp_name = _temp_file(name)
        shown = name
    else:
        tmp_name = _temp_file(name, tempfile.gettempdir())
        shown = tmp_name
    try:
        frames, chapters = _write_audio(
            session, tmp_name, shown, fmt, subtype, out_channels, block, progress
        )
        if how == "replace":
            try:
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, os.path.realpath(name))
            except OSError as exc:
                raise FileAccessError.from_os_error(exc, name, doing="write") from None
        else:
            with open(tmp_name, "rb") as audio, open_output(name) as out:
                shutil.copyfileobj(audio, out, 1 << 20)
    finally:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
    return RenderResult(Path(name), frames, mixer.rate, out_channels, chapters)


def _write_audio(
    session, tmp_name, shown, fmt, subtype, channels, block, progress
) -> tuple[int, int]:
    """Mix the session into the file ``tmp_name``; (frames, chapters). Errors name ``shown``."""
    import soundfile as sf

    from player.audio.mp3 import EncoderError
    from player.files import FileAccessError

    mixer = session.mixer
    title = session.timeline.title or session.script.title
    try:
        frames = None
        if fmt in PARALLEL_FORMATS:
            frames = _encode_in_parallel(mixer, tmp_name, fmt, channels, block, progress, title)
        if frames is None:
            blocks = mixer.blocks(block, progress=progress)
            if channels != mixer.channels:
                blocks = _with_channels(blocks, channels, mixer.is_dual_mono)
            with _open_encoder(tmp_name, fmt, subtype, mixer.rate, channels, title) as out:

                def write(chunk) -> None:  # in the writer thread
                    try:
                        out.write(chunk)
                    except sf.SoundFileError as exc:
                        raise _system_error(exc) from None  # the errno is the writing thread's

                frames = _write_alongside(blocks, write)
        if fmt == "WAV":
            chapters = add_wav_chapters(tmp_name, session.timeline)
        else:
            chapters = add_chapters(tmp_name, fmt, session, frames)
    except HavenError:
        raise
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, shown, doing="write") from None
    except EncoderError as exc:
        raise HavenError(f"cannot write {shown}: {exc}") from exc
    except sf.SoundFileError as exc:
        error = _system_error(exc)
        if isinstance(error, OSError):
            raise FileAccessError.from_os_error(error, shown, doing="write") from None
        raise HavenError(f"cannot write {shown}: the audio library failed ({exc})") from exc
    return frames, chapters


SF_ERR_SYSTEM = 2  # from sndfile.h


# Formats whose encoder can work on several stretches of a session at once (P11): one MP3
# is joined from several LAME encoders' frames (player.audio.mp3.encode_parallel), one Ogg
# Vorbis stream has its blocks analysed by several libvorbis encoders
# (player.audio.vorbis.encode_parallel). The encoders are most of such a render's time.
PARALLEL_FORMATS = ("MP3", "OGG")
ENCODE_JOBS_MAX = 4


def encode_jobs() -> int:
    """Encoders that work at once on an MP3 or Ogg render: one per core, at most four
    (each also mixes the session up to its stretch, so more would mostly mix)."""
    return max(1, min(ENCODE_JOBS_MAX, os.cpu_count() or 1))


class _SharedProgress:
    """Progress of several streams that each read the session from its start: the frames
    read by all of them against what they will read in all (stream j of J reads about
    (j + 1) / J of the session)."""

    def __init__(self, progress, length: int, jobs: int):
        import threading

        self._progress = progress
        self._total = max(1, length * (jobs + 1) // 2)
        self._done = 0
        self._lock = threading.Lock()

    def reading(self, blocks):
        for chunk in blocks:
            if self._progress is not None:
                with self._lock:
                    self._done = min(self._total, self._done + len(chunk))
                    self._progress(self._done, self._total)
            yield chunk

    def finish(self) -> None:
        if self._progress is not None:
            self._progress(self._total, self._total)


def _encode_in_parallel(mixer, tmp_name, fmt, channels, block, progress, title) -> int | None:
    """Write the session with several encoders at once (see ``PARALLEL_FORMATS``); the
    frames written, or None where that cannot be done here (one core, a short session, the
    system's LAME or libvorbis missing): the caller then writes in one stream."""
    import numpy as np

    jobs = encode_jobs()
    if jobs < 2:
        return None
    if fmt == "OGG" and channels < 2 and jobs < 3:
        # Splitting Vorbis costs CPU (the system's libvorbis is ~15 % slower than the
        # soundfile wheel's, and each encoder cuts the blocks before its stretch again and
        # warms up on 15 s): on two cores a mono session renders no sooner (10 minutes of
        # body-scan: 1.66 s either way) for 1.5x the CPU. Stereo gains a quarter on two.
        return None
    if fmt == "MP3":
        from player.audio.mp3 import encode_parallel
    else:
        from player.audio.vorbis import encode_parallel
    shared = _SharedProgress(progress, mixer.length, jobs)

    def streams():
        blocks = mixer.blocks(block)
        if channels != mixer.channels:
            blocks = _with_channels(blocks, channels, mixer.is_dual_mono)
        return shared.reading(np.ascontiguousarray(chunk) for chunk in blocks)

    frames = encode_parallel(tmp_name, streams, mixer.length, mixer.rate, channels,
                             title=title, jobs=jobs)  # fmt: skip
    if frames is not None:
        shared.finish()
    return frames


def _with_channels(blocks, channels: int, same: bool):
    """``blocks`` (n, ch) with ``channels`` channels: one is the first channel when all are
    the same samples (``same``), else their mean; two repeat a single one."""
    import numpy as np

    for chunk in blocks:
        if channels == 1:
            yield chunk[:, :1] if same else chunk.mean(axis=1, keepdims=True, dtype=np.float32)
        else:
            yield np.repeat(chunk[:, :1], channels, axis=1)


def _system_error(exc: Exception) -> Exception:
    """libsndfile reports a failed write() as a "system error"; the C errno says which (read
    in the thread that wrote). That as an OSError; any other error as it is."""
    import soundfile as sf

    code = sf._ffi.errno if getattr(exc, "code", None) == SF_ERR_SYSTEM else 0
    return OSError(code, os.strerror(code)) if code else exc


def _write_alongside(blocks, write) -> int:
    """``write`` every block of ``blocks`` in a second thread while the next one is mixed;
    returns the frames written.

    The encoders (LAME, libvorbis, libFLAC) release the GIL while they work, so on a machine
    with two cores an encoded render takes about as long as the encoder alone rather than
    encoder plus mixer (P11). At most two blocks wait (~1 MB at 48 kHz stereo). The writer's
    error is raised here; an error or Ctrl-C here stops the writer before the file closes.
    """
    import queue
    import threading

    pending: queue.Queue = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def writer() -> None:
        while (chunk := pending.get()) is not None:
            if failed:
                continue  # drain, so the mixing side never blocks on a dead writer
            try:
                write(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the mixing thread
                failed.append(exc)

    thread = threading.Thread(target=writer, name="haven-render-writer", daemon=True)
    thread.start()
    frames = 0
    try:
        for chunk in blocks:
            if failed:
                break
            pending.put(chunk.copy())  # a block of its own: the mixer may reuse its buffers
            frames += len(chunk)
    finally:
        pending.put(None)
        thread.join()
    if failed:
        raise failed[0]
    return frames


def _open_encoder(tmp_name: str, fmt: str, subtype: str, rate: int, channels: int, title: str):
    """A writer (``write(block)``, a context manager) for ``tmp_name``: MP3 through the
    system's LAME when there is one (``player.audio.mp3``: the same bytes as libsndfile's,
    four times faster), everything else through libsndfile."""
    import soundfile as sf

    if fmt == "MP3":
        from player.audio.mp3 import LameWriter

        writer = LameWriter.open(tmp_name, rate, channels, title=title)
        if writer is not None:
            return writer
    out = sf.SoundFile(tmp_name, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype)
    try:
        if fmt == "WAV":
            _no_peak_chunk(out)
        out.title = title
        out.software = "Haven"
    except BaseException:
        out.close()
        raise
    return out


def _no_peak_chunk(out) -> None:
    """Ask libsndfile not to write its PEAK chunk: it holds a timestamp, which would make two
    renders of the same session differ in bytes."""
    import soundfile as sf

    SFC_SET_ADD_PEAK_CHUNK = 0x1050  # from sndfile.h
    sf._snd.sf_command(out._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)


def add_chapters(filename: str, fmt: str, session: PreparedSession, frames: int) -> int:
    """Sections as chapters in a finished FLAC, Ogg or MP3 file (see ``player.audio.chapters``)."""
    from player.audio import chapters

    timeline = session.timeline
    marks = chapters.marks(timeline.chapters, session.mixer.rate, frames)
    return chapters.add_chapters(
        filename, fmt, marks, title=timeline.title or session.script.title
    )


def add_wav_chapters(filename: str, timeline: Timeline) -> int:
    """Append sections as a RIFF ``cue `` list with ``labl`` names (audio editors show them)."""
    chapters = timeline.chapters
    if not chapters:
        return 0
    with open(filename, "r+b") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0  # RF64 or something unexpected: leave the file as it is
        cues = b"".join(
            struct.pack("<II4sIII", i + 1, c.start, b"data", 0, 0, c.start)
            for i, c in enumerate(chapters)
        )
        cue_chunk = b"cue " + struct.pack("<II", 4 + len(cues), len(chapters)) + cues
        labels = b""
        for i, c in enumerate(chapters):
            text = c.title.encode("utf-8") + b"\0"
            body = struct.pack("<I", i + 1) + text
            labels += b"labl" + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")
        list_body = b"adtl" + labels
        list_chunk = b"LIST" + struct.pack("<I", len(list_body)) + list_body
        fh.seek(0, os.SEEK_END)
        if fh.tell() % 2:
            fh.write(b"\0")
        fh.write(cue_chunk + list_chunk)
        size = fh.tell() - 8
        if size > 0xFFFFFFFF:
            return 0
        fh.seek(4)
        fh.write(struct.pack("<I", size))
    return len(chapters)
