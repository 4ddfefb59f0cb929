"""`haven play`, `breathe`, `timer` and `devices` on the command line (a fake sound device).

The real device path (PortAudio into ALSA's file plugin) is tested in test_playback_alsa.py;
here a stand-in sounddevice module keeps the tests fast and independent of ALSA settings.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from fake_audio import FakeStream, fake_sounddevice
from player.audio import devices, playback
from player.cli.app import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def device(monkeypatch):
    FakeStream.instances.clear()
    monkeypatch.setattr(FakeStream, "pace", 0.0)
    monkeypatch.setattr(FakeStream, "stall_after", None)
    monkeypatch.setattr(FakeStream, "die_after", None)
    monkeypatch.setattr(devices, "load_sounddevice", lambda: fake_sounddevice())
    yield
    for stream in FakeStream.instances:
        stream.stop()


@pytest.fixture
def no_device(monkeypatch):
    monkeypatch.setattr(devices, "load_sounddevice", lambda: fake_sounddevice(devices=()))


def journal_rows():
    from player.journal import Journal

    with Journal.open() as journal:
        return journal.sessions()


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "title: Tiny\ncategory: meditation\nending: silence\nsteps:\n"
        "  - section: Only\n  - say: Breathe easy.\n    after: 1s\n"
    )
    return path


def test_help_lists_the_playing_commands(runner):
    result = runner.invoke(main, ["--help"])
    for command in ("play", "breathe", "timer", "devices"):
        assert f"  {command}" in result.output
    text = runner.invoke(main, ["play", "--help"]).output
    for option in ("--device", "--quiet", "--no-captions", "--dim", "--sleep", "--tail",
                   "--checkin", "--minutes"):
        assert option in text
    assert "--script-controls" not in text  # a test hook, hidden


@pytest.mark.parametrize("command", ["play", "breathe", "timer", "devices"])
def test_help_of_playing_commands_starts_without_heavy_imports(command):
    code = (
        "import sys\n"
        "from player.cli.app import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'sounddevice', 'pyttsx3', 'soundfile') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("HEAVY=")


def test_timer_plays_to_the_end_and_is_recorded(runner, device):
    result = runner.invoke(main, ["timer", "0.2", "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "no audio dropouts" in result.output
    (row,) = journal_rows()
    assert row.exercise == "timer" and row.completed and row.category == "meditation"
    assert row.practiced_s == pytest.approx(12 + 1.5 + 9, abs=0.01)


def test_breathe_plays_a_pattern_and_is_recorded(runner, device):
    result = runner.invoke(main, ["breathe", "4-6", "--minutes", "0.5", "--buffer-seconds", "60",
                                  "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""  # --quiet: nothing at all
    (row,) = journal_rows()
    assert row.exercise == "breathe:4-6" and row.completed


def test_play_speaks_a_script_and_is_recorded(runner, device, tiny):
    result = runner.invoke(main, ["play", str(tiny), "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    (row,) = journal_rows()
    assert row.title == "Tiny" and row.completed and row.practiced_s > 3


def test_stop_key_records_a_partial_session(runner, device, tiny):
    FakeStream.pace = 0.002
    result = runner.invoke(main, ["play", str(tiny), "--script-controls", "stop@1.0",
                                  "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    assert "stopped early, recorded as partial" in result.output
    (row,) = journal_rows()
    assert not row.completed and row.practiced_s == pytest.approx(1.05, abs=0.03)


def test_lost_device_exits_1_with_one_line_and_records_partial(runner, device, tiny):
    FakeStream.stall_after = 30
    FakeStream.pace = 0.001
    result = runner.invoke(main, ["play", str(tiny)])
    assert result.exit_code == 1
    assert "Error: the audio device stopped working" in result.output
    assert "Traceback" not in result.output
    (row,) = journal_rows()
    assert not row.completed and row.practiced_s > 0


def test_no_device_exits_1_with_one_line(runner, no_device, tiny):
    result = runner.invoke(main, ["play", str(tiny)])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error: no audio output device found")
    assert "render to a file" in lines[0]
    assert journal_rows() == []  # nothing played, nothing recorded


def test_devices_lists_outputs(runner, device):
    result = runner.invoke(main, ["devices"])
    assert result.exit_code == 0
    assert "Fake Out" in result.output and "* the default output" in result.output
    data = json.loads(runner.invoke(main, ["devices", "--json"]).output)
    assert data[0]["name"] == "Fake Out" and data[0]["is_default"]


def test_devices_without_any_output(runner, no_device):
    result = runner.invoke(main, ["devices"])
    assert result.exit_code == 1
    assert "no audio output device found" in result.output


def test_device_by_name_and_number(runner, device, tiny):
    assert runner.invoke(main, ["play", str(tiny), "--device", "fake", "--quiet",
                                "--buffer-seconds", "60"]).exit_code == 0
    assert FakeStream.instances[-1].device == 0
    result = runner.invoke(main, ["play", str(tiny), "--device", "3"])
    assert result.exit_code == 1 and "there is no output device 3" in result.output


@pytest.mark.parametrize("args", [
    ["breathe", "4-7-8", "--bpm", "6"],
    ["breathe", "--minutes", "0"],
    ["timer", "10", "--every", "1s"],
    ["timer", "10", "--every", "5m", "--bells", "0"],
    ["timer", "later"],
    ["timer", "10", "--bells", "0,20m"],
    ["play", "three-minute-breathing-space", "--no-sleep", "--tail", "5"],
    ["play", "three-minute-breathing-space", "--script-controls", "jump@1"],
    ["render", "three-minute-breathing-space", "-o", "x.wav", "--tail", "3"],
])
def test_bad_input_exits_2_with_one_line(runner, device, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_checkin_asks_before_and_after_and_records_moods(device, tiny, monkeypatch):
    from player.library import catalog as library
    from player import prompts
    from player.audio.render import SessionSettings

    answers = iter([4, 7])
    monkeypatch.setattr(prompts, "prompt_mood", lambda *a, **k: next(answers))
    monkeypatch.setattr(prompts, "prompt_note", lambda *a, **k: "calmer")
    result = playback.play(library.load(str(tiny)), SessionSettings(), checkin=True,
                           interactive=True, quiet=True, ring_seconds=60)
    assert result.completed
    (row,) = journal_rows()
    assert (row.mood_before, row.mood_after, row.note) == (4, 7, "calmer")


def test_sleep_is_the_default_for_sleep_exercises():
    from player.plan import bedtime as _bedtime
    from player.audio.render import SessionSettings

    assert _bedtime(SessionSettings(), None, None, "sleep").overrides.sleep
    assert not _bedtime(SessionSettings(), None, None, "meditation").overrides.sleep
    assert not _bedtime(SessionSettings(), False, None, "sleep").overrides.sleep
    assert _bedtime(SessionSettings(), None, 2.5, "sleep").overrides.tail_s == 150.0


def test_a_play_that_fails_before_any_sound_writes_no_journal_row(runner, device, tiny):
    # Issue 10: the script cannot be fitted to the length asked for; the error comes after
    # speech synthesis, before the stream starts. Nothing was heard: nothing is recorded.
    result = runner.invoke(main, ["play", str(tiny), "--minutes", "0.01", "--buffer-seconds", "60"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error: 'tiny' cannot be fitted to 0.01 minutes: it can run from ")
    assert FakeStream.instances == []  # no stream was ever opened
    from player import paths

    assert not paths.journal_path().exists()  # not even an empty journal was created
    assert journal_rows() == []

