"""Fake speech engines for the worker tests, loaded by workers as ``"fake_engines:Class"``.

They make a deterministic tone instead of speech, and misbehave on purpose (hang, die) when
the text contains a trigger word. State that must survive a worker being killed (did the
first attempt already hang?) lives in files under ``$HAVEN_HOME``, which every test sets to a
fresh folder and the workers inherit.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from player.speech.clips import VoiceInfo
from player.speech.engines import SpeechEngine


def state_dir() -> Path:
    path = Path(os.environ["HAVEN_HOME"]) / "fake-engine"
    path.mkdir(parents=True, exist_ok=True)
    return path


def calls() -> list[str]:
    """Every text a fake engine was asked to speak, across all worker processes, in order."""
    log = state_dir() / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def first_time(tag: str) -> bool:
    """True the first time ``tag`` is seen by any process (atomic file creation)."""
    try:
        fd = os.open(state_dir() / f"seen-{tag}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class ToneEngine(SpeechEngine):
    """0.05 s of a tone per character (divided by rate), at 16 kHz, int16."""

    name = "fake-tone"
    sample_rate = 16000

    @classmethod
    def version(cls) -> str:
        return "fake 1"

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo("fake/calm", "Calm", ("en",), self.name),
            VoiceInfo("fake/bright", "Bright", ("en-us",), self.name),
        ]

    def default_voice(self) -> str | None:
        return "fake/calm"

    def synthesize(self, text, voice, rate, volume):
        with open(state_dir() / "calls.log", "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        self.misbehave(text)
        return tone(text, voice, rate, volume)

    def misbehave(self, text: str) -> None:
        pass


def tone(text: str, voice: str | None, rate: float, volume: float) -> np.ndarray:
    """The audio ToneEngine makes (so tests can compute the expected clip)."""
    n = int(len(text) * 0.05 * ToneEngine.sample_rate / rate)
    freq = 440.0 if voice in (None, "fake/calm") else 660.0
    t = np.arange(n) / ToneEngine.sample_rate
    return (0.5 * volume * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


class HangOnceEngine(ToneEngine):
    """Hangs forever the first time it sees a text containing "hang"; fine on the retry."""

    def misbehave(self, text):
        if "hang" in text and first_time("hang-" + text):
            time.sleep(3600)


class HangAlwaysEngine(ToneEngine):
    def misbehave(self, text):
        if "hang" in text:
            time.sleep(3600)


class CrashOnceEngine(ToneEngine):
    """Ends its process like espeak does (exit code 1) the first time it sees "crash"."""

    def misbehave(self, text):
        if "crash" in text and first_time("crash-" + text):
            os._exit(1)


class CrashAlwaysEngine(ToneEngine):
    def misbehave(self, text):
        if "crash" in text:
            sys.stderr.write("Error processing file 'phontab': No such file or directory.\n")
            sys.stderr.flush()
            os._exit(1)


class BrokenInstallEngine(ToneEngine):
    """An engine whose library is missing: fails while starting."""

    def __init__(self):
        raise RuntimeError("the fake speech library is not installed")
