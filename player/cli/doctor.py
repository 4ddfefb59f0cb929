"""``haven doctor``: check everything Haven depends on and say exactly how to fix each problem."""

from __future__ import annotations

import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from player import paths


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    optional: bool = False  # a missing optional part limits a feature, it is not an error


def check_speech() -> Check:
    try:
        from player import speech

        from player.speech.engines import SYSTEM_ENGINE

        # The system voice, always: every fallback speaks with it, whatever the default is.
        ok, detail, fix = speech.check_engine(SYSTEM_ENGINE)
    except Exception as exc:  # doctor reports, it never crashes
        return Check("speech engine", False, f"cannot load: {exc}", "make setup")
    return Check("speech engine", ok, detail, fix)


def check_neural_voice() -> Check:
    """The optional neural engine (Piper): absent is fine, present must really speak.

    Optional unless it is the default voice (installed, with ``voice.engine = auto``, or
    chosen with ``voice.engine = piper``): then a broken install means every session falls
    back to the system voice, which is a problem worth fixing.
    """
    try:
        from player import speech
        from player.speech.engines import load_engine_class

        try:
            load_engine_class("piper")
        except ImportError:
            return Check("neural voice", False, "not installed (optional: a more natural voice)",
                         "pip install 'haven[neural]'", optional=True)
        default = speech.default_voice().engine
        ok, detail, fix = speech.check_engine("piper")
    except Exception as exc:  # doctor reports, it never crashes
        return Check("neural voice", False, f"cannot load: {exc}", "pip install 'haven[neural]'",
                     optional=True)
    return Check("neural voice", ok, detail, fix, optional=default != "piper")


def check_default_voice() -> Check:
    """Which voice speaks a session that names none, and why (``speech.choose_voice``)."""
    try:
        from player import speech
        from player.speech.engines import ENGINE_LABELS

        choice = speech.default_voice()
    except Exception as exc:  # doctor reports, it never crashes  # noqa: BLE001
        return Check("default voice", False, f"cannot decide: {exc}", "haven config list")
    label = ENGINE_LABELS.get(choice.engine, choice.engine)
    voice = f" with the voice {choice.voice}" if choice.voice else ""
    return Check("default voice", True, f"{label}{voice}, because {choice.why}")


def check_portaudio() -> Check:
    name = ctypes.util.find_library("portaudio")
    if not name:
        return Check(
            "PortAudio library",
            False,
            "not found, so Haven cannot play sound (rendering to files still works)",
            "sudo apt-get install libportaudio2",
        )
    return Check("PortAudio library", True, name)


def check_output_devices() -> Check:
    try:
        import sounddevice as sd

        devices = [d for d in sd.query_devices() if d["max_output_channels"] > 0]
        default = sd.default.device[1]
    except OSError as exc:
        return Check("audio output", False, f"unavailable ({exc})",
                     "sudo apt-get install libportaudio2", optional=True)
    except Exception as exc:
        return Check("audio output", False, f"cannot list devices ({exc})", None, optional=True)
    if not devices:
        return Check(
            "audio output",
            False,
            "no output device found",
            "connect headphones or speakers, or render to a file: haven render NAME -o out.wav",
            optional=True,
        )
    names = ", ".join(d["name"] for d in devices[:3]) + (" ..." if len(devices) > 3 else "")
    count = f"{len(devices)} device{'' if len(devices) == 1 else 's'}"
    return Check("audio output", True, f"{count}: {names} (default #{default})")


def check_audio_files() -> Check:
    try:
        import soundfile as sf
        import soxr  # noqa: F401 - imported to prove it loads
    except Exception as exc:
        return Check("audio file libraries", False, f"cannot load: {exc}", "make setup")
    formats = sf.available_formats()
    missing = [f for f in ("WAV", "FLAC", "OGG", "MP3") if f not in formats]
    detail = f"libsndfile {sf.__libsndfile_version__}"
    if missing:
        return Check("audio file libraries", True, detail + f"; cannot write {', '.join(missing)}",
                     optional=True)
    return Check("audio file libraries", True, detail + "; WAV, FLAC, OGG and MP3")


def check_folder(label: str, folder: Path) -> Check:
    try:
        paths.ensure_private_dir(folder)
        probe = folder / ".haven-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Check(f"{label} folder", False, f"{folder}: {exc.strerror or exc}",
                     f"check the permissions of {folder} or set HAVEN_HOME to a writable folder")
    mode = folder.stat().st_mode & 0o777
    private = "owner-only" if mode == 0o700 else f"mode {mode:o}"
    return Check(f"{label} folder", True, f"{folder} ({private})")


def check_journal() -> Check:
    """The practice journal: a regular file, a Haven journal, and sound (SQLite's quick check,
    read-only: the doctor changes nothing)."""
    try:
        from player.journal import schema

        ok, detail, fix = schema.verify()
    except Exception as exc:  # doctor reports, it never crashes  # noqa: BLE001
        return Check("journal", False, f"cannot check: {exc}")
    return Check("journal", ok, detail, fix)


def run_checks() -> Iterator[Check]:
    yield check_speech()
    yield check_neural_voice()
    yield check_default_voice()
    yield check_portaudio()
    yield check_output_devices()
    yield check_audio_files()
    for label, folder in (
        ("data", paths.data_dir()),
        ("cache", paths.cache_dir()),
        ("config", paths.config_dir()),
    ):
        yield check_folder(label, folder)
    yield check_journal()
    if os.environ.get("HAVEN_HOME"):
        yield Check("HAVEN_HOME", True, f"set: everything is kept under {os.environ['HAVEN_HOME']}")
