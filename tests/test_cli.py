"""The ``haven`` command line: exit codes, exact messages, fast start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from player.cli.app import main

CORPUS = Path(__file__).parent / "corpus"
SHORT = """\
title: Tiny
category: breathing
ending: silence
steps:
  - section: Only
  - say: Hello there.
  - breathe: "2-2"
    cycles: 2
"""


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SHORT)
    return path


def test_help_says_what_haven_is_and_where_to_find_help(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "practice aid, not treatment" in text
    assert "Samaritans 116 123" in text and "988" in text
    for command in ("list", "show", "render", "validate", "schema", "voices", "doctor", "cache"):
        assert f"  {command}" in result.output


def test_help_starts_without_heavy_imports():
    code = (
        "import sys\n"
        "from player.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'sounddevice', 'pyttsx3', 'soundfile', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout


def test_list_starts_without_heavy_imports():
    code = (
        "import sys\n"
        "from player.cli.app import main\n"
        "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'sounddevice', 'pyttsx3', 'soundfile', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("HEAVY=")


def test_python_dash_m_player_works():
    out = subprocess.run([sys.executable, "-m", "player", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "haven" in out.stdout


def test_list_shows_builtins(runner):
    result = runner.invoke(main, ["list"])
    assert result.exit_code == 0
    assert "three-minute-breathing-space" in result.output
    assert "coherent-breathing" in result.output


def test_list_json_and_category(runner):
    result = runner.invoke(main, ["list", "--json", "--category", "breathing"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data and all(item["category"] == "breathing" for item in data)
    assert {"id", "title", "summary", "source", "path"} <= set(data[0])


def test_list_bad_category_exits_2(runner):
    result = runner.invoke(main, ["list", "--category", "cheese"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --category must be one of breathing, meditation")


def test_user_scripts_are_listed_marked_and_shadow_builtins(runner, haven_home):
    folder = haven_home / "data" / "scripts"
    folder.mkdir(parents=True)
    (folder / "my-pause.yaml").write_text(SHORT)
    (folder / "coherent-breathing.yaml").write_text(SHORT.replace("Tiny", "Mine"))
    data = json.loads(runner.invoke(main, ["list", "--json"]).output)
    by_id = {d["id"]: d for d in data}
    assert by_id["my-pause"]["source"] == "user"
    assert by_id["coherent-breathing"]["source"] == "user"
    assert by_id["coherent-breathing"]["title"] == "Mine"
    text = runner.invoke(main, ["list"]).output
    assert "* my-pause" in text and "* your own script" in text


def test_unknown_exercise_suggests_the_nearest(runner):
    result = runner.invoke(main, ["show", "coherent-breathng"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no exercise named 'coherent-breathng' (did you mean 'coherent-breathing'?); "
        "'haven list' shows them all\n"
    )


def test_validate_good_files(runner, tiny):
    result = runner.invoke(main, ["validate", str(tiny), "self-compassion-break"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"ok: {tiny} (Tiny)",
        "ok: self-compassion-break (Self-Compassion Break)",
    ]


def _bad_cases():
    rows = []
    for line in (CORPUS / "bad" / "EXPECTED.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, where, path, fragment = line.split("\t")
        rows.append((name, where, path, fragment))
    return rows


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_every_hostile_script_exits_2_with_one_clear_line(runner, case):
    name, where, path, fragment = case
    result = runner.invoke(main, ["validate", str(CORPUS / "bad" / name)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert name in line
    if where != "-":
        assert f"{name}:{where}:" in line
    if path != "-":
        assert f": {path}: " in line
    assert "Traceback" not in result.output


def test_render_of_a_hostile_script_exits_2_too(runner, tmp_path):
    out = tmp_path / "x.wav"
    result = runner.invoke(main, ["render", str(CORPUS / "bad" / "tag-python-object-apply.yaml"), "-o", str(out)])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()


def test_render_rejects_unknown_extension_before_any_work(runner, tiny, tmp_path):
    result = runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: cannot write 'x.mp4': the file name must end in one of .wav, .flac, .ogg, .mp3\n"
    )


def test_render_writes_a_file(runner, tiny, tmp_path):
    import soundfile as sf

    out = tmp_path / "tiny.wav"
    result = runner.invoke(main, ["render", str(tiny), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {out} (")
    assert "48000 Hz stereo, 1 chapters)" in result.stdout
    info = sf.info(out)
    assert info.samplerate == 48000 and info.channels == 2 and info.frames > 48000 * 8
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".tiny.wav")]
    assert leftovers == []


def test_render_minutes_out_of_range_names_the_range(runner, tiny, tmp_path):
    result = runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "x.wav"), "--minutes", "30"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: 'tiny' cannot be fitted to 30 minutes: it can run from ")


def test_bad_param_syntax_exits_2(runner, tiny, tmp_path):
    result = runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "x.wav"), "--param", "oops"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --param takes NAME=VALUE (got 'oops')\n"


def test_show_lists_sections_and_range(runner):
    result = runner.invoke(main, ["show", "three-minute-breathing-space"])
    assert result.exit_code == 0, result.output
    assert "Sections:" in result.output
    assert "--minutes can fit it from" in result.output
    data = json.loads(runner.invoke(main, ["show", "three-minute-breathing-space", "--json"]).output)
    assert data["shortest_s"] < data["natural_s"] < data["longest_s"]
    assert data["timeline"]["chapters"]


def test_schema_is_json_schema(runner, tmp_path):
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "$schema" in schema and "properties" in schema
    out = tmp_path / "s.json"
    assert runner.invoke(main, ["schema", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


def test_voices_lists_english(runner):
    result = runner.invoke(main, ["voices"])
    assert result.exit_code == 0
    assert "espeak:" in result.output


def test_doctor_reports_each_part(runner):
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code in (0, 1)
    for part in ("speech engine", "PortAudio library", "audio output", "data folder", "cache folder"):
        assert part in result.output


def test_cache_info_and_clear(runner, tiny, tmp_path):
    assert runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "t.wav")]).exit_code == 0
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["entries"] >= 1
    result = runner.invoke(main, ["cache", "clear"])
    assert result.exit_code == 0 and result.output.startswith("Removed ")
    assert json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)["entries"] == 0


def test_ctrl_c_exits_130(runner, tiny, tmp_path, monkeypatch):
    import player.audio.render

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(player.audio.render, "prepare_script", interrupted)
    result = runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 130
    assert "Traceback" not in result.output


def test_traceback_flag_shows_the_error(runner):
    result = runner.invoke(main, ["--traceback", "show", "no-such-thing"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "NotFoundError"


def test_settings_give_defaults_that_options_override(runner, tiny, tmp_path, monkeypatch):
    """rate, loudness and ambient chosen in config.toml shape a session unless an option says otherwise."""
    import player.audio.render
    from player.plan import resolve_settings as _session_settings

    for key, value in (("voice.rate", "0.8"), ("loudness", "-20"), ("ambient.sound", "pink-noise")):
        assert runner.invoke(main, ["config", "set", "--", key, value]).exit_code == 0
    chosen = _session_settings(None, (), None, None, None, None)
    assert chosen.overrides.speed == 0.8 and chosen.target_lufs == -20.0
    assert chosen.overrides.ambient == "pink-noise"
    given = _session_settings(None, (), None, 1.1, "none", -16.0)
    assert given.overrides.speed == 1.1 and given.target_lufs == -16.0
    assert given.overrides.ambient == "none"
    seen = {}
    real = player.audio.render.prepare_script

    def spy(name, settings, **kwargs):
        seen["settings"] = settings
        return real(name, settings, **kwargs)

    monkeypatch.setattr(player.audio.render, "prepare_script", spy)
    result = runner.invoke(main, ["render", str(tiny), "-o", str(tmp_path / "t.wav")])
    assert result.exit_code == 0, result.output
    assert seen["settings"].target_lufs == -20.0


def test_speed_is_the_speaking_speed_and_rate_still_means_it(runner, monkeypatch):
    """Issue 11: `--speed` names the speaking speed; `--rate`, which users know, stays."""
    import player.plan

    seen = []
    real = player.plan.resolve_settings

    def spy(minutes, params, voice, speed, *rest):
        seen.append(speed)
        return real(minutes, params, voice, speed, *rest)

    monkeypatch.setattr(player.plan, "resolve_settings", spy)
    for option in ("--speed", "--rate"):
        runner.invoke(main, ["show", "box-breathing", option, "0.9", "--json"])
    assert seen == [0.9, 0.9]
    result = runner.invoke(main, ["show", "box-breathing", "--speed", "3"])
    assert result.exit_code != 0 and "--speed must be between 0.5 and 2.0" in result.output
