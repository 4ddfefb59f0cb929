"""Shared fixtures: every test gets its own HAVEN_HOME so nothing touches the real user folders."""

from __future__ import annotations

import os

import pytest

# The test suite speaks with the system voice (espeak-ng) unless a test names a voice: the
# default voice is the neural one when it is installed (``voice.engine = auto``), and Piper
# is ~50x slower than espeak, so every test that speaks a script only to check timing,
# mixing or files would take minutes. Pinned here, for this process and every child it
# starts, by the documented environment setting that beats ``voice.engine`` (not by a
# config.toml, which tests of the settings must find empty). Tests of the default voice
# itself remove it: tests/test_voice_choice.py (``monkeypatch.delenv(PIN)``).
PIN = "HAVEN_VOICE_ENGINE"
os.environ[PIN] = "pyttsx3"


@pytest.fixture(autouse=True)
def haven_home(tmp_path, monkeypatch):
    """Point HAVEN_HOME at a fresh temp folder for every test."""
    home = tmp_path / "haven-home"
    monkeypatch.setenv("HAVEN_HOME", str(home))
    return home
