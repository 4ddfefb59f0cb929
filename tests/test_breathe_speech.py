"""Speech over a running pacer: a breathe step's ``say`` lines (issue 13).

Acceptance: the tones' phases are exactly where they are without the lines (by sample
positions, and in the tone signal itself), and each line starts on the sample its phase does.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings, strategies as st

from player.audio.mixer import Mixer, normalize_clip, plan_loudness
from player.audio.render import SessionSettings, synthesize_speech
from player.audio.timeline import (
    Overrides,
    compile_timeline,
    speech_requests,
)
from player.cli.app import main
from player.errors import FitError, ScriptError
from player.format.script import load_script_text

RATE = 48000
LINES = """\
    say:
      - {at: cycle 3 out, text: "On the next out-breath, let the shoulders soften."}
      - {at: cycle 5, text: Good.}
      - at: cycle 6 hold
        text: And rest here.
"""


def script(lines: str = LINES, breathe: str = "breathe: {inhale: 4.1, hold: 1.3, exhale: 6.2}",
           length: str = "cycles: 8", after: str = "- say: Now let the breath go.", **kw):
    lines = lines if not lines or lines.endswith("\n") else lines + "\n"
    body = textwrap.indent(textwrap.dedent(lines), "    ") if lines else ""
    text = f"title: Pacer\nending: silence\nsteps:\n  - {breathe}\n    {length}\n{body}  {after}\n"
    return load_script_text(text, filename="pacer.yaml", **kw)


def error(lines: str, **kw) -> str:
    with pytest.raises(ScriptError) as info:
        script(lines, **kw)
    return str(info.value)


def clips_for(*scripts):
    """Real clips (the system voice) for every request of ``scripts``."""
    requests = []
    for s in scripts:
        requests += [r for r in speech_requests(s) if r not in requests]
    return synthesize_speech(requests, SessionSettings())


# ------------------------------------------------------------------ acceptance


def test_tones_keep_their_phases_and_lines_land_on_their_phase():
    guided, plain = script(), script(lines="")
    clips = clips_for(guided, plain)
    length = lambda r: len(clips[r])  # noqa: E731
    with_lines = compile_timeline(guided, length, rate=RATE)
    without = compile_timeline(plain, length, rate=RATE)

    # The same phases at the same samples, to the sample.
    (breath,), (reference,) = with_lines.breaths, without.breaths
    assert breath.phases == reference.phases and (breath.start, breath.end) == (
        reference.start, reference.end)
    # Each line starts on the first sample of its phase.
    phase_start = {(p.cycle + 1, p.kind): p.start for p in breath.phases}
    cycle_start = {p.cycle + 1: p.start for p in reversed(breath.phases)}
    guides = [e for e in with_lines.speech if e.kind == "guide"]
    assert [(e.at, e.start) for e in guides] == [
        ("cycle 3 exhale", phase_start[3, "exhale"]),
        ("cycle 5", cycle_start[5]),
        ("cycle 6 hold", phase_start[6, "hold"]),
    ]
    # exact arithmetic: cycle 3's exhale starts 2 cycles + inhale + hold after the step
    assert phase_start[3, "exhale"] - breath.start == round((2 * 11.6 + 4.1 + 1.3) * RATE)
    # Nothing else moved: the lines fit inside the breathing.
    assert with_lines.length == without.length
    assert [e.start for e in with_lines.speech if e.kind != "guide"] == [
        e.start for e in without.speech
    ]

    # The signal: mixed with one gain, the difference of the two sessions is exactly the
    # lines' speech placed at their samples; the tones (and all else) are the same samples.
    plan = plan_loudness(without, channels=1)
    mixed_with = Mixer(with_lines, clips, channels=1, plan=plan).render(0, with_lines.length)
    mixed_without = Mixer(without, clips, channels=1, plan=plan).render(0, without.length)
    speech = np.zeros(with_lines.length, dtype=np.float64)
    for e in guides:
        clip = normalize_clip(clips[e.request], RATE, e.request.volume)
        speech[e.start : e.start + len(clip)] += clip
    difference = mixed_with[:, 0].astype(np.float64) - mixed_without[:, 0]
    assert np.max(np.abs(difference - speech * plan.gain)) < 1e-6
    # ... and where no line sounds, the tones are bit for bit what they were.
    quiet = speech == 0
    assert np.array_equal(mixed_with[quiet, 0], mixed_without[quiet, 0])
    # The first sample that differs is the first line's first sound, at its phase's start.
    clip = normalize_clip(clips[guides[0].request], RATE, 1.0) * plan.gain
    first = int(np.flatnonzero(np.abs(clip) > 1e-4)[0])
    assert int(np.flatnonzero(np.abs(difference) > 1e-4)[0]) == guides[0].start + first


def test_play_and_render_agree():
    # Play streams the session as its clips arrive; render makes it whole: the same timeline
    # (phases and lines on the same samples) and the same samples out.
    from player.audio.render import prepare_script
    from player.audio.streaming import StreamingSession

    guided = script()
    settings = SessionSettings(channels=1)
    rendered = prepare_script(guided, settings)
    played = StreamingSession(guided, settings).prepare_all()
    assert played.complete
    assert played.timeline == rendered.timeline
    assert [e.kind for e in played.timeline.speech].count("guide") == 3
    length = rendered.timeline.length
    assert np.array_equal(played.render(0, length), rendered.mixer.render(0, length))


# ------------------------------------------------------------------ timing rules


def test_a_line_running_past_the_step_warns_and_the_next_step_waits():
    long_line = "say: [{at: cycle 2 out, text: '" + "Let everything soften, " * 6 + "and rest.'}]"
    guided = script(long_line, length="cycles: 2")
    clips = clips_for(guided)
    timeline = compile_timeline(guided, lambda r: len(clips[r]), rate=RATE)
    (guide,) = [e for e in timeline.speech if e.kind == "guide"]
    (breath,) = timeline.breaths
    assert guide.end > breath.end
    (after,) = [e for e in timeline.speech if e.kind == "say"]
    assert after.start >= guide.end  # no speech over speech
    (warning,) = timeline.warnings
    seconds = (guide.end - guide.start) / RATE
    room = (breath.end - guide.start) / RATE
    assert warning == (
        f"pacer.yaml:6: steps[0].breathe.say[0]: the line at 'cycle 2 exhale' takes "
        f"{seconds:.1f}s but the breathing ends {room:.1f}s after it starts; the next step "
        "waits for it (place it earlier or shorten it)"
    )


def test_lines_that_overlap_warn():
    lines = ("say: [{at: cycle 2, text: 'Let the breath be slow and easy and unhurried, and let "
             "it find its own way.'}, {at: cycle 2 out, text: Out.}]")  # fmt: skip
    guided = script(lines, breathe="breathe: 2-2")
    clips = clips_for(guided)
    timeline = compile_timeline(guided, lambda r: len(clips[r]), rate=RATE)
    assert timeline.warnings == (
        "pacer.yaml:6: steps[0].breathe.say[1]: 'cycle 2 exhale' starts while the line at "
        "'cycle 2' is still being spoken; place it later",
    )


def test_a_for_step_keeps_its_lines_cycle_when_fitted_short():
    guided = script("say: [{at: cycle 9 out, text: Good.}]", length="for: 2m",
                    breathe="breathe: 4-6")  # fmt: skip
    clips = clips_for(guided)
    natural = compile_timeline(guided, lambda r: len(clips[r]), rate=RATE)
    assert natural.breaths[0].phases[-1].cycle + 1 == 12
    # At its shortest the step still breathes the 9 cycles the line needs (90 s) ...
    with pytest.raises(FitError) as info:
        compile_timeline(guided, lambda r: len(clips[r]), rate=RATE, minutes=1.0)
    assert 90 < info.value.shortest_s < 100
    # ... so fitted short, the line is still on cycle 9's out-breath.
    short = compile_timeline(guided, lambda r: len(clips[r]), rate=RATE, minutes=1.7)
    assert 9 <= short.breaths[0].phases[-1].cycle + 1 < 12
    (guide,) = [e for e in short.speech if e.kind == "guide"]
    assert guide.start == [p.start for p in short.breaths[0].phases if p.cycle == 8][1]


def test_sleep_and_speed_shape_the_lines_like_other_speech():
    guided = script("say: [{at: cycle 3, text: Soften.}]")
    (request,) = [r for r in speech_requests(guided, Overrides(speed=0.8, sleep=True))
                  if r.text == "Soften."]  # fmt: skip
    assert request.rate == round(0.8 * 0.9, 4)


# ------------------------------------------------------------------ the format


@pytest.mark.parametrize(
    "lines, message",
    [
        ("say: [{at: cycle 9, text: Hi.}]",
         "pacer.yaml:6:16: steps[0].breathe.say[0].at: there is no cycle 9: this step breathes "
         "8 cycles"),
        ("say: [{at: cycle 0, text: Hi.}]",
         "pacer.yaml:6:16: steps[0].breathe.say[0].at: there is no cycle 0: this step breathes "
         "8 cycles"),
        ("say: [{at: cycle 2 hold_out, text: Hi.}]",
         "pacer.yaml:6:16: steps[0].breathe.say[0].at: the pattern has no 'hold_out' phase "
         "(4.1-1.3-6.2)"),
        ("say: [{at: third out-breath, text: Hi.}]",
         "pacer.yaml:6:16: steps[0].breathe.say[0].at: must be like \"cycle 3\" or \"cycle 3 "
         "out\" (phases: in, out, hold, hold_out, inhale2) (got 'third out-breath')"),
        ("say: [{at: cycle 2}]",
         "pacer.yaml:6:11: steps[0].breathe.say[0]: a line needs 'text', like {at: \"cycle 3 "
         "out\", text: \"Let the shoulders soften.\"}"),
        ("say: [{at: cycle 2, text: ''}]",
         "pacer.yaml:6:31: steps[0].breathe.say[0].text: must not be empty"),
        ("say: [{at: cycle 2, text: Hi., when: now}]",
         "pacer.yaml:6:36: steps[0].breathe.say[0].when: unknown key 'when' (expected one of: "
         "at, text)"),
        ("say: [{at: cycle 2, text: Hi.}, {at: CYCLE 2, text: Again.}]",
         "pacer.yaml:6:42: steps[0].breathe.say[1].at: two lines at 'cycle 2'; join them into one"),
        ("say: Breathe.",
         "pacer.yaml:6:10: steps[0].breathe.say: must be a list of lines like {at: \"cycle 3 "
         "out\", text: \"Let the shoulders soften.\"} (got 'Breathe.')"),
        ("say: [{at: cycle 2, text: 'Hi {who}.'}]",
         "pacer.yaml:6:31: steps[0].breathe.say[0].text: unknown param 'who' (this script "
         "declares no params)"),
    ],
)
def test_bad_lines_are_one_located_line(lines, message):
    assert error(lines) == message


def test_lines_collide_with_spoken_cues():
    message = error("say: [{at: cycle 3 out, text: Hi.}]", breathe="breathe: 4-6\n    cues: both")
    assert message == ("pacer.yaml:7:16: steps[0].breathe.say[0].at: cycles 1 to 3 have spoken "
                       "cues (cues: both); place lines from cycle 4 on")  # fmt: skip
    script("say: [{at: cycle 4 out, text: Hi.}]", breathe="breathe: 4-6\n    cues: both")


def test_a_for_step_names_its_natural_cycles():
    assert error("say: [{at: cycle 13, text: Hi.}]", length="for: 2m", breathe="breathe: 4-6") == (
        "pacer.yaml:6:16: steps[0].breathe.say[0].at: there is no cycle 13: 'for: 2m' breathes "
        "about 12 cycles"
    )


def test_lines_are_spoken_in_order_and_take_params_and_phase_words():
    s = load_script_text(
        "title: T\nparams: {who: {default: friend}}\nsteps:\n  - breathe: 4-6\n"
        "    ramp_to: 4-2-6\n    cycles: 5\n"
        "    say: [{at: cycle 4 exhale, text: 'Soften, {who}.'}, {at: Cycle 2 IN, text: In.}]\n",
        filename="t.yaml",
    )
    lines = s.steps[0].say
    assert [(line.at, line.text) for line in lines] == [
        ("cycle 2 inhale", "In."), ("cycle 4 exhale", "Soften, friend.")]


def test_a_ramped_phase_that_grows_from_nothing_starts_where_it_will():
    # 4-6 ramping to 4-2-6: the hold is 0 s in cycle 1, so a line there starts with the exhale.
    guided = script("say: [{at: cycle 1 hold, text: Hold.}]",
                    breathe="breathe: 4-6\n    ramp_to: 4-2-6")  # fmt: skip
    timeline = compile_timeline(guided, lambda r: RATE, rate=RATE)
    (guide,) = [e for e in timeline.speech if e.kind == "guide"]
    exhale = next(p for p in timeline.breaths[0].phases if p.kind == "exhale")
    assert guide.start == exhale.start


def test_show_lists_the_lines(tmp_path):
    path = tmp_path / "pacer.yaml"
    path.write_text("title: Pacer\nsteps:\n  - breathe: 4-6\n    cycles: 4\n    say:\n"
                    "      - {at: cycle 2 out, text: Let the shoulders soften.}\n")  # fmt: skip
    result = CliRunner().invoke(main, ["show", str(path)])
    assert result.exit_code == 0, result.output
    # lead-in 1.5 s + one cycle (10 s) + the inhale (4 s) = 15.5 s
    assert "Contents: 1 spoken sentence (" in result.output
    assert "Spoken over the breathing:\n     0:16  cycle 2 exhale: Let the shoulders soften.\n" \
        in result.output


def test_show_warns_of_a_line_running_past_the_breathing(tmp_path):
    path = tmp_path / "pacer.yaml"
    path.write_text("title: Pacer\nsteps:\n  - breathe: 2-2\n    cycles: 2\n    say:\n"
                    "      - {at: cycle 2 out, text: 'Let the whole body soften, from the crown of "
                    "the head down to the soles of the feet.'}\n")  # fmt: skip
    result = CliRunner().invoke(main, ["show", str(path)])
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if "breathe.say" in line]
    assert re.fullmatch(
        rf"haven: {re.escape(str(path))}:6: steps\[0\]\.breathe\.say\[0\]: the line at 'cycle 2 "
        r"exhale' takes \d+\.\ds but the breathing ends 2\.0s after it starts; the next step "
        r"waits for it \(place it earlier or shorten it\)",
        warning,
    )


_PHASES = {"in": "inhale", "hold": "hold", "out": "exhale", "hold_out": "hold_out"}


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.tuples(st.integers(1, 8), st.integers(0, 5), st.integers(1, 9), st.integers(0, 4)),
    cycles=st.integers(1, 12),
    places=st.lists(st.tuples(st.integers(1, 12), st.sampled_from([None, *_PHASES])),
                    min_size=1, max_size=6, unique=True),  # fmt: skip
    seconds_per_char=st.floats(0.0, 0.3),
)
def test_any_lines_leave_the_phases_exact(pattern, cycles, places, seconds_per_char):
    inhale, hold, exhale, hold_out = pattern
    have = {"in", "out"} | ({"hold"} if hold else set()) | ({"hold_out"} if hold_out else set())
    places = [(c, p) for c, p in places if c <= cycles and (p is None or p in have)]
    assume(places)
    lines = "say:\n" + "".join(
        f"  - {{at: cycle {c}{' ' + p if p else ''}, text: Line {i}.}}\n"
        for i, (c, p) in enumerate(places)
    )
    shape = f"breathe: {{inhale: {inhale}, hold: {hold}, exhale: {exhale}, hold_out: {hold_out}}}"
    guided = script(lines, breathe=shape, length=f"cycles: {cycles}")
    plain = script("", breathe=shape, length=f"cycles: {cycles}")
    length = lambda r: int(len(r.text) * seconds_per_char * RATE)  # noqa: E731
    a, b = compile_timeline(guided, length, rate=RATE), compile_timeline(plain, length, rate=RATE)
    assert a.breaths == b.breaths
    starts = {(p.cycle + 1, p.kind): p.start for p in a.breaths[0].phases}
    for p in reversed(a.breaths[0].phases):
        starts[p.cycle + 1, None] = p.start
    guides = {e.request.text: e.start for e in a.speech if e.kind == "guide"}
    for i, (c, p) in enumerate(places):
        assert guides[f"Line {i}."] == starts[c, _PHASES.get(p)]
