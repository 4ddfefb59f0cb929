"""Acceptance: real playback through PortAudio into ALSA's `file` device, compared with renders.

`../shared/alsa/capture.conf` makes the default ALSA output a file of raw float32 frames
(`$HAVEN_CAPTURE`). ALSA reads its configuration when sounddevice is imported, so every
`haven play` runs in a subprocess with the environment set first.

That device is not paced: it takes audio as fast as it is given. Any producer would fall
behind it, and the player would (correctly) count underflows and play silence. So the
sample-exact comparisons give the player a buffer that holds the whole session
(`--buffer-seconds`, pre-filled before the stream starts); what is captured is then exactly
what the callback played. PortAudio writes some silence of its own before the first
callback (3 periods here); the report's `device_frames` says how much audio came from Haven,
so the leading rest is checked to be silence and skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from player.audio.engine import FADE_S, fade_curve

CAPTURE_CONF = Path(__file__).parents[2] / "shared" / "alsa" / "capture.conf"
RATE = 48000
SCRIPT = "three-minute-breathing-space"



def test_the_capture_configuration_is_there():
    """The shared material comes with the project: without it these tests must fail, not skip."""
    assert CAPTURE_CONF.is_file(), f"the ALSA capture configuration is missing ({CAPTURE_CONF})"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("alsa-home")


def haven(args, home, *, capture=None, report=None, alsa=True, extra_env=None, timeout=600):
    env = dict(os.environ, HAVEN_HOME=str(home))
    env.pop("ALSA_CONFIG_PATH", None)
    if alsa:
        env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{CAPTURE_CONF}"
    if capture is not None:
        env["HAVEN_CAPTURE"] = str(capture)
    if report is not None:
        env["HAVEN_PLAYBACK_REPORT"] = str(report)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "player", *args], env=env, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )


def captured(capture: Path, report: dict) -> np.ndarray:
    """Haven's part of the capture: PortAudio's own leading silence checked and removed."""
    audio = np.fromfile(capture, dtype=np.float32).reshape(-1, 2)
    prime = len(audio) - report["device_frames"]
    assert 0 <= prime <= 16384, prime
    assert not audio[:prime].any()
    return audio[prime:]


@pytest.fixture(scope="module")
def rendered(home, tmp_path_factory):
    """`haven render` of the session (this also warms the speech cache for playing)."""
    out = tmp_path_factory.mktemp("alsa-render") / "session.wav"
    result = haven(["render", SCRIPT, "-o", str(out), "-q"], home, alsa=False)
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == RATE
    return audio


def test_played_audio_equals_the_render_sample_for_sample(home, rendered, tmp_path):
    capture, report_path = tmp_path / "play.raw", tmp_path / "report.json"
    result = haven(["play", SCRIPT, "--quiet", "--buffer-seconds", "400"], home,
                   capture=capture, report=report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["reason"] == "end" and report["completed"]
    assert report["underflows"] == 0 and report["holds"] == 0
    assert report["frames_delivered"] == len(rendered)
    played = captured(capture, report)
    assert np.array_equal(played[: len(rendered)], rendered)  # bit for bit: no resampling
    assert not played[len(rendered):].any()  # only the rest of the last buffer follows


def test_pause_and_resume_insert_exactly_the_fades_and_the_silence(home, rendered, tmp_path):
    """Pause at 2.0 s and resume at 3.5 s of output: the session's next 50 ms fade out,
    silence fills the pause, the 50 ms after that fade in, and nothing else changes."""
    capture, report_path = tmp_path / "pause.raw", tmp_path / "report.json"
    result = haven(
        ["play", SCRIPT, "--quiet", "--buffer-seconds", "400",
         "--script-controls", "pause@2.0,resume@3.5"],
        home, capture=capture, report=report_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    played = captured(capture, report)
    p, q, f = int(2.0 * RATE), int(3.5 * RATE), int(FADE_S * RATE)
    up = fade_curve(f)
    down = np.ascontiguousarray(up[::-1])
    expected = np.concatenate([
        rendered[:p],
        rendered[p : p + f] * down,
        np.zeros((q - p - f, 2), dtype=np.float32),
        rendered[p + f : p + 2 * f] * up,
        rendered[p + 2 * f :],
    ])
    assert np.array_equal(played[: len(expected)], expected)
    assert not played[len(expected):].any()
    assert report["paused_frames"] == q - p - f
    assert report["frames_delivered"] == len(rendered)  # practiced time: pause excluded
    events = [(e["event"], e["device_frame"]) for e in report["events"]]
    assert events[:4] == [("fade-out", p), ("paused", p + f), ("fade-in", q), ("playing", q + f)]


def render_then_play(args, home, tmp_path, buffer_s: float = 480):
    """`haven render ARGS` to a file, then `haven play ARGS` through the capture device (from
    the speech cache the render filled): ``(rendered, played)``."""
    out = tmp_path / "session.wav"
    result = haven(["render", *args, "-o", str(out), "-q"], home, alsa=False)
    assert result.returncode == 0, result.stderr
    rendered, _ = sf.read(out, dtype="float32", always_2d=True)
    capture, report_path = tmp_path / "session.raw", tmp_path / "report.json"
    result = haven(["play", *args, "--quiet", "--buffer-seconds", str(buffer_s)], home,
                   capture=capture, report=report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["completed"] and report["underflows"] == 0
    return rendered, captured(capture, report)


@pytest.mark.slow
def test_bedtime_play_equals_render_sleep(home, tmp_path):
    """`--sleep` shapes the session itself, so `haven render --sleep` gives the same audio."""
    args = [SCRIPT, "--sleep", "--tail", "0.5", "--ambient", "brown-noise"]
    rendered, played = render_then_play(args, home, tmp_path)
    assert np.array_equal(played[: len(rendered)], rendered)
    # It ends by itself in silence after the tail: the last second is quiet.
    assert np.max(np.abs(rendered[-RATE:])) < 1e-3


def one_line_error(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip()
    return lines[0]


def test_no_output_device_gives_one_line_with_the_fix(home, tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text('pcm.!default { type hw card 97 }\nctl.!default { type hw card 97 }\n')
    env = {"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{broken}"}
    result = haven(["play", SCRIPT], home, alsa=False, extra_env=env)
    assert result.returncode == 1
    line = one_line_error(result)
    assert line.startswith("Error: no audio output device found")
    assert "haven render NAME -o out.wav" in line


def test_a_device_that_does_not_exist_gives_one_line(home, tmp_path):
    result = haven(["play", SCRIPT, "--device", "999"], home, capture=tmp_path / "x.raw")
    assert result.returncode == 1
    line = one_line_error(result)
    assert "no output device 999" in line and "haven devices" in line


def test_missing_portaudio_gives_one_line_with_the_fix(home, tmp_path):
    """sounddevice raises OSError at import when libportaudio2 is missing."""
    fake = tmp_path / "fake-sd"
    fake.mkdir()
    (fake / "sounddevice.py").write_text('raise OSError("PortAudio library not found")\n')
    path = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])
    result = haven(["play", SCRIPT], home, extra_env={"PYTHONPATH": path})
    assert result.returncode == 1
    line = one_line_error(result)
    assert "PortAudio library is missing" in line
    assert "sudo apt-get install libportaudio2, or render to a file" in line


def test_devices_lists_the_capture_device(home):
    result = haven(["devices"], home)
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout and "ALSA" in result.stdout
    data = json.loads(haven(["devices", "--json"], home).stdout)
    assert any(d["is_default"] for d in data)


@pytest.mark.slow
def test_a_sleep_exercise_renders_as_it_plays_at_bedtime_by_default(home, tmp_path):
    """Issue 11: `render` of a sleep exercise is in bedtime mode by default, as `play` is
    (`--tail` works without `--sleep`); `--no-sleep` turns it off for both. Fitted to a few
    minutes and a short tail to keep the capture small; neither command names `--sleep`."""
    args = ["bedtime-body-scan", "--minutes", "8", "--tail", "0.25"]
    rendered, played = render_then_play(args, home, tmp_path, buffer_s=600)
    assert np.array_equal(played[: len(rendered)], rendered)
    assert not played[len(rendered):].any()
    assert np.max(np.abs(rendered[-RATE:])) < 1e-3  # faded out after the tail: bedtime
    awake = tmp_path / "awake.wav"
    result = haven(["render", "bedtime-body-scan", "--minutes", "8", "--no-sleep", "-o",
                    str(awake), "-q"], home, alsa=False)
    assert result.returncode == 0, result.stderr
    assert sf.info(str(awake)).frames != len(rendered)  # not the bedtime version
    result = haven(["render", "bedtime-body-scan", "--no-sleep", "--tail", "1", "-o",
                    str(awake), "-q"], home, alsa=False)
    assert result.returncode != 0 and "--tail only applies at bedtime" in result.stderr
