"""From a script to a prepared session, and from a session to an audio file.

``prepare_session`` does the slow, fallible work once (loading, speech synthesis, timeline
compilation, loudness planning); rendering and playback then only pull blocks from the
mixer. Files are written block by block, so memory does not grow with session length, and
atomically, so a cancelled render never leaves half a file behind.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from player import model
from player.errors import BadInputError, HavenError
from player.timeline import (
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

    rate: int = DEFAULT_RATE
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
    mixer: "object"  # player.mixer.Mixer (imported lazily: it pulls in numpy)
    settings: SessionSettings


def synthesize_speech(
    requests: list[SpeechRequest],
    settings: SessionSettings,
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Synthesize (or load from cache) every clip; returns request -> float32 samples."""
    from player import speech

    clips = speech.synthesize(
        [
            speech.ClipRequest(
                text=r.text, engine=r.engine, voice=r.voice, rate=r.rate, volume=r.volume
            )
            for r in requests
        ],
        sample_rate=settings.rate,
        jobs=settings.jobs,
        timeout_s=settings.speech_timeout_s,
        notify=notify,
        progress=progress,
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
    from player.mixer import Mixer

    requests = speech_requests(script, settings.overrides)
    clips = synthesize_speech(requests, settings, notify=notify, progress=progress)
    timeline = compile_timeline(
        script,
        lambda r: len(clips[r]),
        rate=settings.rate,
        minutes=settings.minutes,
        overrides=settings.overrides,
    )
    mixer = Mixer(
        timeline,
        clips,
        target_lufs=settings.target_lufs,
        channels=settings.channels,
        plan_timeline=plan_timeline(script, settings),
    )
    return PreparedSession(script, timeline, mixer, settings)


def plan_timeline(script: model.Script, settings: SessionSettings) -> Timeline:
    """The timeline the session gain is planned on: clip lengths estimated from the text.

    Rendering and playback both plan on it, so a session's gain is known before any speech
    is synthesized and a file render is identical to what playback plays.
    """
    return estimated_timeline(
        script, rate=settings.rate, minutes=settings.minutes, overrides=settings.overrides
    )


def prepare_session(
    name: str,
    settings: SessionSettings = SessionSettings(),
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PreparedSession:
    """Load NAME (built-in id, user id or path) and prepare it."""
    from player import library

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


def render_to_file(
    session: PreparedSession,
    path: str | os.PathLike,
    *,
    block: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> RenderResult:
    """Write the whole session to ``path`` (format from its extension), block by block."""
    import soundfile as sf

    path = Path(path)
    fmt, subtype = format_for(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"cannot write '{path}': the folder {folder} does not exist")
    mixer = session.mixer
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    frames = 0
    try:
        with sf.SoundFile(
            tmp_name, "w", samplerate=mixer.rate, channels=mixer.channels, format=fmt,
            subtype=subtype,
        ) as out:
            if fmt == "WAV":
                _no_peak_chunk(out)
            out.title = session.timeline.title or session.script.title
            out.software = "Haven"
            for chunk in mixer.blocks(block, progress=progress):
                out.write(chunk)
                frames += len(chunk)
        chapters = 0
        if fmt == "WAV":
            chapters = add_wav_chapters(tmp_name, session.timeline)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, (HavenError, KeyboardInterrupt)):
            raise
        if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, NotImplementedError):
            raise HavenError(f"cannot write '{path}': {exc}") from exc
        raise
    return RenderResult(path, frames, mixer.rate, mixer.channels, chapters)


def _no_peak_chunk(out) -> None:
    """Ask libsndfile not to write its PEAK chunk: it holds a timestamp, which would make two
    renders of the same session differ in bytes."""
    import soundfile as sf

    SFC_SET_ADD_PEAK_CHUNK = 0x1050  # from sndfile.h
    sf._snd.sf_command(out._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)


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
