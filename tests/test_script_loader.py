"""The script loader against the format spec: every action and modifier, params, limits,
YAML hazards, and the hostile corpus in tests/corpus/bad (one bad script per file)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from player.format import model
from player.format import located_yaml
from player.errors import ScriptError
from player.format.patterns import BUILTIN_PATTERNS
from player.format.script import load_script, load_script_text

HERE = Path(__file__).resolve().parent
BAD = HERE / "corpus" / "bad"
GOOD = HERE / "corpus" / "good"
ROOT = HERE.parent
SPEC = ROOT.parent / "shared" / "spec" / "script-format.md"
TIME_LIMIT_S = 1.0


def load(text: str, **kw) -> model.Script:
    return load_script_text(textwrap.dedent(text), filename="test.yaml", **kw)


def error(text: str | bytes, **kw) -> ScriptError:
    if isinstance(text, str):
        text = textwrap.dedent(text)
    with pytest.raises(ScriptError) as info:
        load_script_text(text, filename=kw.pop("filename", "test.yaml"), **kw)
    return info.value


def steps_of(body: str, **kw) -> tuple:
    """Load a script whose steps are ``body`` (a YAML list indented by two spaces)."""
    return load("title: T\nsteps:\n" + textwrap.indent(textwrap.dedent(body), "  "), **kw).steps


def step_error(body: str, **kw) -> ScriptError:
    return error("title: T\nsteps:\n" + textwrap.indent(textwrap.dedent(body), "  "), **kw)


# ----------------------------------------------------------------- the spec's own example


def _spec_example() -> str | None:
    assert SPEC.is_file(), f"the script spec comes with the project's shared material: {SPEC}"
    m = re.search(r"```yaml\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    return m.group(1) if m else None


def test_corpus_copy_of_the_spec_example_is_current():
    example = _spec_example()
    assert example is not None, "the spec has no yaml example"
    assert (GOOD / "spec-example.yaml").read_text(encoding="utf-8") == example


def test_the_whole_spec_example_loads():
    s = load_script(GOOD / "spec-example.yaml", params={"person": "my sister"})
    assert s.id == "spec-example"
    assert s.title == "Self-Compassion Break"
    assert s.summary == "Three short phrases for a hard moment."
    assert s.category == "self-compassion"
    assert s.tags == ("short", "mbct")
    assert s.voice == model.Voice(rate=0.9)
    assert s.tones == model.ToneSettings(level_db=-14)
    assert s.ambient == model.AmbientSettings(sound="brown-noise", level_db=-26)
    assert s.ending == "bell"
    assert s.params == {
        "person": model.Param("someone you care about", "who the kind wishes in the last part are for")
    }
    assert s.param_values == {"person": "my sister"}
    assert s.steps == (
        model.Section("Arriving"),
        model.Say("Find a position that lets you be both relaxed and awake.", after=4.0),
        model.Breathe(BUILTIN_PATTERNS["coherent"], for_s=60.0, cues="tones"),
        model.Section("The three phrases"),
        model.Say("This is a moment of difficulty."),
        model.Pause(10.0),
        model.Repeat(2, (model.Say("May my sister be safe."), model.Pause(6.0))),
        model.Bell(strikes=3),
    )
    assert s.path == str(GOOD / "spec-example.yaml")
    # Where points at each step: line 15 is the first step of the example.
    assert s.steps[0].where == model.Where(str(GOOD / "spec-example.yaml"), 15, 5, "steps[0]")
    assert s.steps[6].steps[0].where.path == "steps[6].repeat.steps[0]"
    assert s.steps[6].steps[0].where.line == 26


def test_spec_example_uses_the_param_default_without_a_value():
    s = load_script(GOOD / "spec-example.yaml")
    assert s.steps[6].steps[0].text == "May someone you care about be safe."


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.name)
def test_good_corpus_loads(path):
    s = load_script(path)
    assert s.id == path.stem and s.steps


BUILTIN_SCRIPTS = sorted((ROOT / "scripts").glob("*.yaml"))


@pytest.mark.parametrize("path", BUILTIN_SCRIPTS, ids=lambda p: p.name)
def test_shipped_scripts_load(path):
    s = load_script(path)
    assert s.id == path.stem and s.title and s.category in model.CATEGORIES


# ----------------------------------------------------------------- top level


def test_minimal_script_and_defaults():
    s = load("title: T\nsteps: [bell]\n")
    assert s == model.Script(id="test", title="T", steps=(model.Bell(),))
    assert (s.version, s.summary, s.category, s.tags, s.ending) == (1, "", None, (), "bell")
    assert s.voice == model.Voice() and s.tones == model.ToneSettings()
    assert s.ambient == model.AmbientSettings() and s.path is None


def test_credit_names_where_a_practice_comes_from():
    s = load("title: T\ncredit: The three-minute breathing space of MBCT.\nsteps: [bell]\n")
    assert s.credit == "The three-minute breathing space of MBCT."
    assert load("title: T\nsteps: [bell]\n").credit == ""


def test_sleep_category_ends_with_a_fade_unless_told_otherwise():
    assert load("title: T\ncategory: sleep\nsteps: [bell]\n").ending == "fade"
    assert load("title: T\ncategory: sleep\nending: silence\nsteps: [bell]\n").ending == "silence"
    assert load("title: T\ncategory: breathing\nsteps: [bell]\n").ending == "bell"


@pytest.mark.parametrize("category", model.CATEGORIES)
def test_every_category_is_accepted(category):
    assert load(f"title: T\ncategory: {category}\nsteps: [bell]\n").category == category


@pytest.mark.parametrize("ending", model.ENDINGS)
def test_every_ending_is_accepted(ending):
    assert load(f"title: T\nending: {ending}\nsteps: [bell]\n").ending == ending


def test_voice_tones_and_ambient_settings():
    s = load(
        """\
        title: T
        voice: {engine: espeak, name: en-gb, rate: 1.2, volume: 0.5}
        tones: {level_db: -20, low_hz: 150, high_hz: 400, hold: rest}
        ambient: {sound: pink-noise, level_db: -40}
        steps: [bell]
        """
    )
    assert s.voice == model.Voice("espeak", "en-gb", 1.2, 0.5)
    assert s.tones == model.ToneSettings(-20, 150, 400, "rest")
    assert s.ambient == model.AmbientSettings("pink-noise", -40)


@pytest.mark.parametrize("value", ["none", "~", "null", "{sound: none}", ""])
def test_ambient_none_means_no_bed(value):
    assert load(f"title: T\nambient: {value}\nsteps: [bell]\n").ambient.sound is None


@pytest.mark.parametrize("sound", model.AMBIENT_SOUNDS)
def test_every_ambient_sound_is_accepted(sound):
    assert load(f"title: T\nambient: {{sound: {sound}}}\nsteps: [bell]\n").ambient.sound == sound


def test_format_version_1_only():
    assert load("haven: 1\ntitle: T\nsteps: [bell]\n").version == 1
    e = error("haven: 2\ntitle: T\nsteps: [bell]\n")
    assert (e.line, e.column, e.path) == (1, 8, "haven") and "version 2" in e.detail
    assert "format version 1" in error('haven: "1"\ntitle: T\nsteps: [bell]\n').detail
    assert "format version 1" in error("haven: 1.0\ntitle: T\nsteps: [bell]\n").detail


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("steps: [bell]\n", (1, 1, "title"), "needs 'title'"),
        ("title: T\n", (1, 1, "steps"), "needs 'steps'"),
        ("title: T\nsteps: []\n", (2, 8, "steps"), "at least one step"),
        ("title: T\nsteps:\n", (2, 7, "steps"), "got nothing"),
        ("title: ''\nsteps: [bell]\n", (1, 8, "title"), "must not be empty"),
        ("title: [a]\nsteps: [bell]\n", (1, 8, "title"), "got a list"),
        ("title: T\nsummary: {a: 1}\nsteps: [bell]\n", (2, 10, "summary"), "got a mapping"),
        ("title: T\ncredit: [MBCT]\nsteps: [bell]\n", (2, 9, "credit"), "got a list"),
        ("title: T\ncredit: ''\nsteps: [bell]\n", (2, 9, "credit"), "must not be empty"),
        ("title: T\ncredits: MBCT\nsteps: [bell]\n", (2, 1, "credits"), "did you mean 'credit'?"),
        ("title: T\ntags: [ok, [x]]\nsteps: [bell]\n", (2, 12, "tags[1]"), "got a list"),
        ("title: T\nvoice: fast\nsteps: [bell]\n", (2, 8, "voice"), "must be a mapping"),
        ("title: T\nvoice: {volume: -0.1}\nsteps: [bell]\n", (2, 17, "voice.volume"), "between 0 and 1"),
        ("title: T\nvoice: {rate: 0.4}\nsteps: [bell]\n", (2, 15, "voice.rate"), "between 0.5 and 2"),
        ("title: T\ntones: {hold: pause}\nsteps: [bell]\n", (2, 15, "tones.hold"), "steady, rest"),
        ("title: T\ntones: {low_hz: 10}\nsteps: [bell]\n", (2, 17, "tones.low_hz"), "between 40 and 2000"),
        ("title: T\ntones: {level_db: -61}\nsteps: [bell]\n", (2, 19, "tones.level_db"), "between -60 and 0"),
        ("title: T\nambient: loud\nsteps: [bell]\n", (2, 10, "ambient"), "'none' or a mapping"),
        ("title: T\nambient: {sound: thunder}\nsteps: [bell]\n", (2, 18, "ambient.sound"), "must be a sound"),
        ("title: T\nambient: {level_db: 3}\nsteps: [bell]\n", (2, 21, "ambient.level_db"), "between -60 and 0"),
        ("title: T\nparams: [a]\nsteps: [bell]\n", (2, 9, "params"), "must be a mapping"),
        ("title: T\nparams: {9x: {default: a}}\nsteps: [bell]\n", (2, 10, "params.9x"), "param name"),
        ("title: T\nparams: {x: yes}\nsteps: [bell]\n", (2, 13, "params.x"), "must be a mapping"),
        ("title: T\nsteps: [bell]\nSteps: [bell]\n", (3, 1, "Steps"), "did you mean 'steps'?"),
    ],
)
def test_top_level_errors_point_at_the_node(text, where, fragment):
    e = error(text)
    assert (e.line, e.column, e.path) == where
    assert fragment in e.detail


def test_unknown_key_without_a_near_match_lists_the_keys():
    e = error("title: T\nzzz: 1\nsteps: [bell]\n")
    assert "unknown key 'zzz' (expected one of: haven, title," in e.detail


# ----------------------------------------------------------------- say


def test_say_keeps_text_exactly_as_written():
    steps = steps_of(
        """\
        - say: Breathe <slowly> & gently; 50% of the time.
        - say: "  spaces kept  "
        - say: |
            Two lines,
            kept.
        - say: "Tab\\there"
        """
    )
    assert [s.text for s in steps] == [
        "Breathe <slowly> & gently; 50% of the time.",
        "  spaces kept  ",
        "Two lines,\nkept.\n",
        "Tab\there",
    ]


@pytest.mark.parametrize(
    ("scalar", "text"),
    [("No", "No"), ("yes", "yes"), ("1984", "1984"), ("3.50", "3.50"), ("~ok", "~ok"),
     ("2024-01-01", "2024-01-01"), ("1:30", "1:30"), ("010", "010"), ("!!str 5", "5")],
)  # fmt: skip
def test_say_reads_scalars_as_the_words_written(scalar, text):
    assert steps_of(f"  - say: {scalar}\n")[0].text == text


def test_say_modifiers():
    (say,) = steps_of("  - say: Hello\n    after: 1m30s\n    rate: 0.5\n    volume: 0\n")
    assert say == model.Say("Hello", after=90.0, rate=0.5, volume=0.0)
    (plain,) = steps_of("  - say: Hello\n")
    assert (plain.after, plain.rate, plain.volume) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ("  - say: Hi\n    after: 0\n", "steps[0].say.after", "more than zero"),
        ("  - say: Hi\n    after: 1:30\n", "steps[0].say.after", "not a duration"),
        ("  - say: Hi\n    rate: 2.1\n", "steps[0].say.rate", "between 0.5 and 2"),
        ("  - say: Hi\n    rate: fast\n", "steps[0].say.rate", "must be a number"),
        ("  - say: Hi\n    rate: .nan\n", "steps[0].say.rate", "finite"),
        ("  - say: Hi\n    volume: true\n", "steps[0].say.volume", "must be a number"),
        ("  - say:\n", "steps[0].say", "got nothing"),
        ("  - say: '   '\n", "steps[0].say", "must not be empty"),
        ("  - say: {a: b}\n", "steps[0].say", "got a mapping"),
        ("  - say: Hi\n    cycles: 3\n", "steps[0].say.cycles", "not a modifier of 'say'"),
        ("  - say: Hi\n    aftr: 3\n", "steps[0].say.aftr", "did you mean 'after'?"),
    ],
)
def test_say_errors(body, path, fragment):
    e = step_error(body)
    assert e.path == path and fragment in e.detail


def test_say_length_limit_is_2000_characters():
    assert len(steps_of(f"  - say: {'a' * 2000}\n")[0].text) == 2000
    e = step_error(f"  - say: {'a' * 2001}\n")
    assert "too long (2001 characters; at most 2000)" in e.detail


# ----------------------------------------------------------------- pause


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("10", 10.0), ("0.5", 0.5), ("45s", 45.0), ("2m", 120.0), ("1h", 3600.0), ('"90"', 90.0),
     ("010", 10.0), ("1_0", 10.0), ("0x10", 16.0)],
)  # fmt: skip
def test_pause_durations(value, seconds):
    assert steps_of(f"  - pause: {value}\n") == (model.Pause(seconds),)


def test_pause_fixed():
    assert steps_of("  - pause: 3\n    fixed: true\n")[0].fixed is True
    assert steps_of("  - pause: 3\n    fixed: false\n")[0].fixed is False
    assert steps_of("  - pause: 3\n")[0].fixed is False
    assert "true or false" in step_error("  - pause: 3\n    fixed: 1\n").detail


# ----------------------------------------------------------------- breathe


def test_breathe_cycles_for_and_default_cues():
    box, timed = steps_of("  - breathe: box\n    cycles: 4\n  - breathe: 4-6\n    for: 2m\n")
    assert box == model.Breathe(BUILTIN_PATTERNS["box"], cycles=4, cues="tones")
    assert timed == model.Breathe(model.Pattern(4, exhale=6), for_s=120.0)
    assert box.tones is None and box.ramp_to is None


@pytest.mark.parametrize("cues", model.CUES)
def test_breathe_every_cue_kind(cues):
    assert steps_of(f"  - breathe: box\n    cycles: 1\n    cues: {cues}\n")[0].cues == cues


def test_breathe_ramp_to_and_pattern_forms():
    (b,) = steps_of(
        "  - breathe: {inhale: 4, hold: 1, exhale: 5, hold_out: 2}\n"
        "    ramp_to: {inhale: 5, inhale2: 1, exhale: 9}\n    cycles: 10\n"
    )
    assert b.pattern == model.Pattern(4, hold=1, exhale=5, hold_out=2)
    assert b.ramp_to == model.Pattern(5, inhale2=1, exhale=9)
    (c,) = steps_of("  - breathe: 5.5-5.5\n    ramp_to: 4-7-8\n    for: 3m\n")
    assert c.ramp_to is BUILTIN_PATTERNS["4-7-8"]


def test_breathe_tones_override_merges_onto_the_script_tones():
    s = load(
        """\
        title: T
        tones: {level_db: -20, low_hz: 150}
        steps:
          - breathe: box
            cycles: 2
            tones: {high_hz: 500, hold: rest}
          - breathe: box
            cycles: 2
        """
    )
    assert s.steps[0].tones == model.ToneSettings(level_db=-20, low_hz=150, high_hz=500, hold="rest")
    assert s.steps[1].tones is None


@pytest.mark.parametrize(
    ("body", "where", "fragment"),
    [
        # Neither cycles nor for: decided to be an error (see the report), at the action key.
        ("  - breathe: box\n", (3, 5, "steps[0].breathe"), "add 'cycles: N' or 'for: DURATION'"),
        ("  - breathe: box\n    cycles: 2\n    for: 1m\n", (5, 5, "steps[0].breathe.for"), "not both"),
        ("  - breathe: box\n    cycles: 0\n", (4, 13, "steps[0].breathe.cycles"), "whole number >= 1 (got 0)"),
        ("  - breathe: box\n    cycles: 2.5\n", (4, 13, "steps[0].breathe.cycles"), "whole number >= 1 (got 2.5)"),
        ("  - breathe: box\n    cycles: 1001\n", (4, 13, "steps[0].breathe.cycles"), "at most 1000"),
        ("  - breathe: box\n    cycles: true\n", (4, 13, "steps[0].breathe.cycles"), "whole number"),
        ("  - breathe: box\n    for: 10s\n", (4, 10, "steps[0].breathe.for"), "shorter than one breath"),
        ("  - breathe: 4\n    cycles: 2\n", (3, 14, "steps[0].breathe"), "must be a pattern name"),
        ("  - breathe: [4, 4]\n    cycles: 2\n", (3, 14, "steps[0].breathe"), "got a list"),
        ("  - breathe: {inhale: 4}\n    cycles: 2\n", (3, 14, "steps[0].breathe"), "needs 'exhale'"),
        ("  - breathe: {inhale: x, exhale: 4}\n    cycles: 2\n", (3, 23, "steps[0].breathe.inhale"), "number of seconds"),
        ("  - breathe: {inhale: 4, exhale: 61}\n    cycles: 2\n", (3, 34, "steps[0].breathe.exhale"), "at most 60"),
        ("  - breathe: box\n    cycles: 2\n    ramp_to: nope\n", (5, 14, "steps[0].breathe.ramp_to"), "unknown pattern"),
        ("  - breathe: box\n    cycles: 2\n    tones: loud\n", (5, 12, "steps[0].breathe.tones"), "must be a mapping"),
        ("  - breathe: box\n    cycles: 2\n    tones: {pitch: 3}\n", (5, 13, "steps[0].breathe.tones.pitch"), "unknown key"),
        ("  - breathe: box\n    cycles: 2\n    fixed: true\n", (5, 5, "steps[0].breathe.fixed"), "not a modifier of 'breathe'"),
    ],
)  # fmt: skip
def test_breathe_errors(body, where, fragment):
    e = step_error(body)
    assert (e.line, e.column, e.path) == where
    assert fragment in e.detail


def test_breathe_whole_numbers_may_be_written_as_floats():
    assert steps_of("  - breathe: box\n    cycles: 3.0\n")[0].cycles == 3


# ----------------------------------------------------------------- bell, section, ambient


def test_bell_forms():
    steps = steps_of(
        "  - bell\n  - bell:\n  - bell: {}\n  - bell: {strikes: 12, gap: 1m}\n"
        "  - bell: {gap: 0.5}\n"
    )
    assert steps == (
        model.Bell(), model.Bell(), model.Bell(), model.Bell(12, 60.0), model.Bell(1, 0.5)
    )


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ("  - bell: {strikes: 0}\n", "steps[0].bell.strikes", "whole number >= 1"),
        ("  - bell: {strikes: 13}\n", "steps[0].bell.strikes", "at most 12"),
        ("  - bell: {gap: 61}\n", "steps[0].bell.gap", "between 0.5s and 60s"),
        ("  - bell: {gap: 0}\n", "steps[0].bell.gap", "more than zero"),
        ("  - bell: loud\n", "steps[0].bell", "takes no argument"),
        ("  - bell\n  - bel\n", "steps[1]", "unknown action 'bel' (did you mean 'bell'?)"),
        ("  - bell: {}\n    after: 2s\n", "steps[0].bell.after", "bell takes no modifiers"),
    ],
)
def test_bell_errors(body, path, fragment):
    e = step_error(body)
    assert e.path == path and fragment in e.detail


def test_section_titles():
    assert steps_of("  - section: Arriving\n") == (model.Section("Arriving"),)
    assert "single line" in step_error("  - section: |\n      a\n      b\n").detail
    assert "at most 200" in step_error(f"  - section: {'x' * 201}\n").detail


def test_ambient_changes():
    steps = steps_of(
        "  - ambient: rain\n  - ambient: brown-noise\n    level_db: -30\n  - ambient: none\n"
        "  - ambient:\n"
    )
    assert steps == (
        model.AmbientChange("rain"),
        model.AmbientChange("brown-noise", -30.0),
        model.AmbientChange(None),
        model.AmbientChange(None),
    )
    assert "did you mean 'rain'?" in step_error("  - ambient: rian\n").detail
    assert "between -60 and 0" in step_error("  - ambient: rain\n    level_db: 1\n").detail


# ----------------------------------------------------------------- repeat and limits


def test_repeat_keeps_structure():
    (r,) = steps_of(
        "  - repeat: 3\n    steps:\n      - say: a\n      - repeat: 2\n        steps: [bell]\n"
    )
    assert r == model.Repeat(3, (model.Say("a"), model.Repeat(2, (model.Bell(),))))
    assert r.steps[1].where.path == "steps[0].repeat.steps[1]"
    assert r.steps[1].steps[0].where.path == "steps[0].repeat.steps[1].repeat.steps[0]"


def _nested_repeats(depth: int) -> str:
    body = "steps:\n"
    for i in range(depth):
        pad = "  " * (2 * i + 1)
        body += f"{pad}- repeat: 2\n{pad}  steps:\n"
    return "title: T\n" + body + "  " * (2 * depth + 1) + "- bell\n"


def test_repeats_nest_eight_deep_but_not_nine():
    s = load(_nested_repeats(8))
    depth, node = 0, s.steps[0]
    while isinstance(node, model.Repeat):
        depth, node = depth + 1, node.steps[0]
    assert depth == 8
    e = error(_nested_repeats(9))
    assert "nest at most 8 deep" in e.detail and e.line == 19


def test_expanded_step_limit_is_ten_thousand():
    ok = "  - repeat: 100\n    steps:\n      - repeat: 100\n        steps: [bell]\n"
    assert steps_of(ok)[0].count == 100
    over = ok + "  - bell\n"
    e = step_error(over)
    assert e.path == "steps[1]" and "more than 10000 steps" in e.detail
    e = step_error("  - repeat: 1000\n    steps: [bell, bell, bell, bell, bell, bell, bell, bell, bell, bell, bell]\n")
    assert e.path == "steps[0].repeat" and "11000 steps" in e.detail


def test_repeat_errors():
    assert "at most 1000" in step_error("  - repeat: 1001\n    steps: [bell]\n").detail
    assert "whole number >= 1" in step_error("  - repeat: -1\n    steps: [bell]\n").detail
    e = step_error("  - repeat: 2\n")
    assert e.path == "steps[0].repeat.steps" and "needs the 'steps'" in e.detail
    assert "at least one step" in step_error("  - repeat: 2\n    steps: []\n").detail
    assert "steps[0].repeat.steps[0]" == step_error("  - repeat: 2\n    steps: [nope]\n").path


def test_timed_parts_are_bounded_to_a_day():
    e = step_error("  - repeat: 7\n    steps: [{pause: 4h}]\n")
    assert e.path == "steps" and "24" in e.detail


def test_yaml_nesting_and_size_are_bounded_without_recursion_errors():
    e = error("title: T\nsteps: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in e.detail
    e = error("title: T\nsteps:\n" + "".join("  " * i + "- \n" for i in range(200)))
    assert "nested too deeply" in e.detail or "YAML" in e.detail
    t0 = time.perf_counter()
    e = error("title: T\ntags: [" + ",".join(["a"] * 120_000) + "]\nsteps: [bell]\n")
    assert "too many values" in e.detail
    assert time.perf_counter() - t0 < 3.0


# ----------------------------------------------------------------- step shape


@pytest.mark.parametrize(
    ("body", "where", "fragment"),
    [
        ("  - say: a\n    pause: 2\n", (4, 5, "steps[0].pause"), "exactly one action"),
        ("  - after: 2\n", (3, 5, "steps[0].after"), "modifier of say"),
        ("  - {}\n", (3, 5, "steps[0]"), "empty step"),
        ("  - [say, hi]\n", (3, 5, "steps[0]"), "a step must be a mapping"),
        ("  -\n", (3, 4, "steps[0]"), "got nothing"),
        ("  - say\n", (3, 5, "steps[0]"), "'say' needs an argument"),
        ("  - chant: om\n", (3, 5, "steps[0].chant"), "unknown action 'chant'"),
        ("  - say: a\n    say: b\n", (4, 5, "steps[0].say"), "duplicate key 'say'"),
        ("  - on: a\n", (3, 5, "steps[0].on"), "unknown action 'on'"),
    ],
)
def test_step_shape_errors(body, where, fragment):
    e = step_error(body)
    assert (e.line, e.column, e.path) == where
    assert fragment in e.detail


# ----------------------------------------------------------------- params


PARAMS = """\
title: T
params:
  person: {default: a friend, help: who it is for}
  place: {default: home}
steps:
  - section: For {person}
  - say: "{person} at {place}; braces: {{literal}} and }} {{"
"""


def test_params_defaults_and_caller_values():
    s = load(PARAMS)
    assert s.steps[0].title == "For a friend"
    assert s.steps[1].text == "a friend at home; braces: {literal} and } {"
    s = load(PARAMS, params={"person": "Sam", "place": "{place}"})
    assert s.steps[1].text == "Sam at {place}; braces: {literal} and } {"  # values are not re-read
    assert s.param_values == {"person": "Sam", "place": "{place}"}
    assert s.params["person"] == model.Param("a friend", "who it is for")


def test_caller_param_not_declared_is_an_error_with_a_suggestion():
    e = error(PARAMS, params={"persn": "Sam"})
    assert "unknown param 'persn' given (did you mean 'person'?)" in e.detail
    assert (e.line, e.path) == (2, "params.persn")
    e = error("title: T\nsteps: [bell]\n", params={"x": "1"})
    assert "this script takes no params" in e.detail
    e = error(PARAMS, params={"zzz": "1"})
    assert "this script takes: person, place" in e.detail


def test_caller_param_values_must_be_text():
    assert "must be text" in error(PARAMS, params={"person": 3}).detail
    assert "control" in error(PARAMS, params={"person": "a\x00b"}).detail


def test_param_without_default_needs_a_value():
    text = "title: T\nparams:\n  person: {help: who}\nsteps:\n  - say: Hi {person}\n"
    e = error(text)
    assert (e.line, e.column, e.path) == (3, 3, "params.person")
    assert "no default" in e.detail
    assert load(text, params={"person": "Ada"}).steps[0].text == "Hi Ada"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Hi {nobody}", "unknown param 'nobody'"),
        ("Hi {persn}", "did you mean 'person'?"),
        ("Hi { person }", "not a param reference"),
        ("Hi {}", "not a param reference"),
        ("Hi {person", "unmatched '{'"),
        ("Hi person}", "unmatched '}'"),
        ("{{person}", "unmatched '}'"),
    ],
)
def test_bad_references_in_text(text, fragment):
    e = error(f"title: T\nparams:\n  person: {{default: x}}\nsteps:\n  - say: '{text}'\n")
    assert e.path == "steps[0].say" and (e.line, e.column) == (5, 10)
    assert fragment in e.detail


def test_text_empty_or_too_long_after_substitution():
    text = "title: T\nparams:\n  p: {default: x}\nsteps:\n  - say: '{p}'\n"
    assert "empty once params are filled in" in error(text, params={"p": " "}).detail
    text = "title: T\nparams:\n  p: {default: x}\nsteps:\n  - say: '" + "a" * 1990 + "{p}'\n"
    assert "too long" in error(text, params={"p": "b" * 11}).detail


# ----------------------------------------------------------------- ids and sources


def test_script_id_comes_from_the_file_name(tmp_path):
    path = tmp_path / "evening-wind-down-2.yaml"
    path.write_text("title: T\nsteps: [bell]\n", encoding="utf-8")
    assert load_script(path).id == "evening-wind-down-2"
    assert load_script(str(path)).path == str(path)
    assert load_script_text("title: T\nsteps: [bell]\n", filename="x.yaml", script_id="abc").id == "abc"


@pytest.mark.parametrize("name", ["Calm", "calm_breath", "calm--breath", "-calm", "calm-", "café", "a b", "<stdin>"])
def test_bad_ids_are_refused(name):
    e = error("title: T\nsteps: [bell]\n", filename=f"{name}.yaml")
    assert "script id" in e.detail and e.line is None


def test_file_problems_are_script_errors(tmp_path):
    with pytest.raises(ScriptError) as info:
        load_script(tmp_path / "missing.yaml")
    assert str(info.value) == f"{tmp_path / 'missing.yaml'}: no such file"
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ScriptError) as info:
        load_script(tmp_path / "folder.yaml")
    assert str(info.value) == f"{tmp_path / 'folder.yaml'}: is a folder, not a script file"


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScriptError) as info:
        load_script(fifo)
    assert str(info.value) == f"{fifo}: is a named pipe, not a script file"


@pytest.mark.timeout(20)
def test_a_link_to_an_endless_device_is_refused_without_reading(tmp_path):
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ScriptError) as info:
        load_script(link)
    assert str(info.value) == f"{link}: is a character device, not a script file"


def test_control_characters_in_a_file_name_are_escaped_in_the_message(tmp_path):
    path = tmp_path / "\x1b]0;pwned\x07.yaml"
    path.write_text("title: T\nsteps: [bell]\n", encoding="utf-8")
    with pytest.raises(ScriptError) as info:
        load_script(path)
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)
    assert str(info.value).startswith(f"{tmp_path}/\\x1b]0;pwned\\x07.yaml: the script id ")


def test_control_characters_in_keys_are_escaped_in_the_message():
    e = error('title: T\nsteps:\n  - say: Hi\n    "\\e[2J": 1\n')
    assert str(e) == "test.yaml:4:5: steps[0].say.\\x1b[2J: unknown key '\\x1b[2J' (say takes: after, rate, volume)"


def test_size_limit_is_checked_before_parsing(tmp_path):
    head = b"title: T\nsteps: [bell]\n"
    exact = head + b"#" * (located_yaml.MAX_FILE_BYTES - len(head) - 1) + b"\n"
    assert len(exact) == 1024 * 1024
    path = tmp_path / "big.yaml"
    path.write_bytes(exact)
    assert load_script(path).title == "T"
    path.write_bytes(exact + b"#")
    t0 = time.perf_counter()
    with pytest.raises(ScriptError) as info:
        load_script(path)
    assert time.perf_counter() - t0 < TIME_LIMIT_S
    assert "too large" in info.value.detail and "1 MiB" in info.value.detail
    assert str(info.value).startswith(str(path) + ": ")
    assert "too large" in error(exact + b"#").detail
    assert "too large" in error("é" * (512 * 1024 + 1)).detail  # 2 bytes each in UTF-8


def test_text_sources_str_bytes_bom_and_crlf():
    text = "title: Tea\r\nsteps:\r\n  - say: Café ☕\r\n"
    assert load_script_text(text, filename="a.yaml").steps[0].text == "Café ☕"
    assert load_script_text(text.encode(), filename="a.yaml").title == "Tea"
    assert load_script_text(b"\xef\xbb\xbf" + text.encode(), filename="a.yaml").title == "Tea"


def test_encoding_errors_name_line_and_column():
    e = error(b"title: T\nsteps:\n  - say: caf\xe9\n")
    assert (e.line, e.column) == (3, 13) and "byte 0xe9 at offset 28" in e.detail
    e = error("title: T\nsteps:\n  - say: a\ud800b\n")
    assert (e.line, e.column) == (3, 11) and "not valid Unicode" in e.detail
    e = error("title: T\nsteps:\n  - say: a\x1bb\n")
    assert (e.line, e.column) == (3, 11) and "U+001B" in e.detail


def test_single_document_rules():
    assert load("---\ntitle: T\nsteps: [bell]\n...\n").title == "T"
    e = error("title: T\nsteps: [bell]\n---\n")
    assert (e.line, e.column) == (3, 1) and "single YAML document" in e.detail
    assert "empty" in error("---\n").detail
    assert "empty" in error("\n\n   \n").detail


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("title: !!python/object/apply:os.system ['true']\nsteps: [bell]\n", "!!python/object/apply:os.system"),
        ("title: !!python/object/new:str [x]\nsteps: [bell]\n", "is not allowed"),
        ("title: !!binary aGVsbG8=\nsteps: [bell]\n", "'!!binary' is not allowed"),
        ("title: !!timestamp 2001-12-14\nsteps: [bell]\n", "is not allowed"),
        ("title: !<tag:example.com,2000:x> y\nsteps: [bell]\n", "is not allowed"),
        ("%TAG !e! tag:example.com,2000:\n---\ntitle: !e!x y\nsteps: [bell]\n", "is not allowed"),
        ("title: T\nsteps: !!str [bell]\n", "does not fit a list"),
        ("title: !!int abc\nsteps: [bell]\n", "does not fit its tag '!!int'"),
        ("title: !!bool maybe\nsteps: [bell]\n", "does not fit its tag '!!bool'"),
        ("title: !!float x\nsteps: [bell]\n", "does not fit its tag '!!float'"),
        ("title: !!map x\nsteps: [bell]\n", "does not fit its tag '!!map'"),
        ("x: &a T\ntitle: *a\nsteps: [bell]\n", "anchors"),
        ("title: T\nsteps: [*a]\n", "aliases"),
    ],
)  # fmt: skip
def test_yaml_object_tags_anchors_and_aliases_are_refused(text, fragment):
    assert fragment in error(text).detail


def test_standard_tags_are_fine():
    s = load("title: !!str 1984\nsteps:\n  - pause: !!int '5'\n  - say: ! 7\n")
    assert s.title == "1984" and s.steps[0].seconds == 5.0 and s.steps[1].text == "7"


def test_syntax_errors_report_their_own_position():
    e = error("title: T\nsteps:\n  - say: [unclosed\n")
    assert e.line is not None and e.column is not None
    assert e.detail.startswith("YAML syntax: ")


def test_error_text_is_file_line_col_path_message():
    e = error("title: T\nsteps:\n  - breathe: box\n    cycles: four\n", filename="calm.yaml")
    assert str(e) == "calm.yaml:4:13: steps[0].breathe.cycles: must be a whole number >= 1 (got 'four')"


def test_loader_does_not_import_numpy():
    code = "import sys, player.format.script, player.format.schema; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ----------------------------------------------------------------- the hostile corpus


def _expected_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (BAD / "EXPECTED.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, where, path, fragment = line.split("\t")
            rows.append((name, where, path, fragment))
    return rows


ROWS = _expected_rows()


def test_every_corpus_file_has_exactly_one_expectation():
    files = sorted(p.name for p in BAD.glob("*.yaml"))
    names = [r[0] for r in ROWS]
    assert sorted(names) == files and len(set(names)) == len(names)
    assert len(files) >= 45


def _check_row(row, *, exact_syntax: bool = True):
    name, where, path, fragment = row
    file = str(BAD / name)
    t0 = time.perf_counter()
    with pytest.raises(ScriptError) as info:
        load_script(file)
    elapsed = time.perf_counter() - t0
    e = info.value
    message = str(e)
    assert elapsed < TIME_LIMIT_S, f"{name} took {elapsed:.2f}s"
    assert "\n" not in message and "\r" not in message
    assert message.startswith(file)
    assert "internal error" not in message
    if not exact_syntax and e.detail.startswith("YAML syntax"):
        assert e.line is not None  # libyaml and PyYAML word and place some errors differently
        return
    if where == "-":
        assert e.line is None and e.column is None
        assert message.startswith(file + ": ")
    else:
        line, col = map(int, where.split(":"))
        assert (e.line, e.column) == (line, col), message
        assert message.startswith(f"{file}:{line}:{col}: ")
    if path == "-":
        assert e.path is None
    else:
        assert e.path == path, message
        assert f": {path}: " in message
    assert fragment in e.detail, message


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_corpus(row):
    _check_row(row)


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_corpus_with_the_pure_python_parser(row, monkeypatch):
    monkeypatch.setattr(located_yaml, "_LOADER", located_yaml._PyLoader)
    _check_row(row, exact_syntax=False)


def test_the_loader_patched_in_is_the_one_that_reads(monkeypatch):
    # The two tests around this one swap the parser where the reader looks it up; if that
    # ever moves, they would quietly go on testing libyaml.
    read: list[str] = []

    class Recording(located_yaml._PyLoader):
        def __init__(self, stream):
            read.append(stream)
            super().__init__(stream)

    monkeypatch.setattr(located_yaml, "_LOADER", Recording)
    assert load_script_text("title: T\nsteps: [bell]\n", filename="t.yaml").title == "T"
    assert read == ["title: T\nsteps: [bell]\n"]


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.name)
def test_pure_python_parser_agrees_on_good_scripts(path, monkeypatch):
    fast = load_script(path)
    monkeypatch.setattr(located_yaml, "_LOADER", located_yaml._PyLoader)
    slow = load_script(path)
    assert slow == fast
    assert [s.where for s in slow.steps] == [s.where for s in fast.steps]
