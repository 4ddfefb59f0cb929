"""The timeline compiler: exact sample positions, elastic fitting, endings, chapters."""

from __future__ import annotations

from fractions import Fraction

import pytest

from player.format import model
from player.audio import timeline
from player.errors import FitError
from player.audio.timeline import Overrides, compile_timeline, length_range

RATE = 48000


def fake_clip_length(request) -> int:
    """A deterministic stand-in for speech length: 60 ms per character."""
    return int(len(request.text) * 0.06 * RATE)


def make(*steps, ending="silence", **kw) -> model.Script:
    return model.Script(id="t", title="T", steps=tuple(steps), ending=ending, **kw)


def boundaries(tl):
    return [(p.start, p.kind) for b in tl.breaths for p in b.phases]


def test_breath_phases_fall_on_exact_sample_positions():
    box = model.Pattern(4, 4, 4, 4, name="box")
    tl = compile_timeline(make(model.Breathe(box, cycles=3)), fake_clip_length, rate=RATE)
    start = int(timeline.LEAD_IN_S * RATE)
    expected = [(start + i * 4 * RATE, kind) for i, kind in enumerate(
        ["inhale", "hold", "exhale", "hold_out"] * 3)]
    assert boundaries(tl) == expected
    assert tl.breaths[0].end == start + 48 * RATE


def test_no_drift_over_hours_of_fractional_phases():
    """5.5 s phases for 4 hours: the last boundary is where exact arithmetic puts it."""
    coherent = model.Pattern(5.5, 0, 5.5, name="coherent")
    tl = compile_timeline(make(model.Breathe(coherent, cycles=1309)), fake_clip_length, rate=44100)
    start = int(timeline.LEAD_IN_S * 44100)
    phases = tl.breaths[0].phases
    assert len(phases) == 2 * 1309
    for i, phase in enumerate(phases):
        assert phase.start == start + round(Fraction(11, 2) * i * 44100)
    assert phases[-1].end == start + round(Fraction(11) * 1309 * 44100)


def test_odd_fractions_round_per_boundary_not_accumulate():
    pattern = model.Pattern(1.1, 0, 1.3)
    tl = compile_timeline(make(model.Breathe(pattern, cycles=500)), fake_clip_length, rate=RATE)
    start = int(timeline.LEAD_IN_S * RATE)
    last = tl.breaths[0].phases[-1]
    assert last.end == start + round(Fraction("2.4") * 500 * RATE)


def test_for_rounds_to_whole_cycles():
    pattern = model.Pattern(4, 0, 6)
    tl = compile_timeline(make(model.Breathe(pattern, for_s=64)), fake_clip_length, rate=RATE)
    assert tl.breaths[0].phases[-1].cycle + 1 == 6  # 64 s / 10 s per cycle -> 6
    assert tl.breaths[0].end - tl.breaths[0].start == 60 * RATE


def test_ramp_changes_the_pattern_cycle_by_cycle():
    step = model.Breathe(model.Pattern(4, 0, 4), cycles=5, ramp_to=model.Pattern(4, 0, 8))
    tl = compile_timeline(make(step), fake_clip_length, rate=RATE)
    exhales = [p.end - p.start for p in tl.breaths[0].phases if p.kind == "exhale"]
    assert exhales == [4 * RATE, 5 * RATE, 6 * RATE, 7 * RATE, 8 * RATE]


def test_ramped_for_counts_cycles_from_the_mean_cycle():
    step = model.Breathe(model.Pattern(4, 0, 4), for_s=120, ramp_to=model.Pattern(5, 0, 7))
    assert timeline.breathe_cycles(step, 1.0) == 12  # mean cycle 10 s


def test_voice_cues_for_the_first_cycles_only():
    step = model.Breathe(model.Pattern(4, 2, 4), cycles=5, cues="voice")
    tl = compile_timeline(make(step), fake_clip_length, rate=RATE)
    cues = [s for s in tl.speech if s.kind == "cue"]
    assert [c.request.text for c in cues] == ["in", "hold", "out"] * timeline.VOICE_CUE_CYCLES
    starts = [p.start for p in tl.breaths[0].phases[: 3 * timeline.VOICE_CUE_CYCLES]]
    assert [c.start for c in cues] == starts
    assert not tl.breaths[0].with_tones


def test_say_sentences_pauses_and_sections():
    script = make(
        model.Section("One"),
        model.Say("Hello there. Settle in.", after=5),
        model.Pause(10),
        model.Section("Two"),
        model.Say("Goodbye."),
    )
    tl = compile_timeline(script, fake_clip_length, rate=RATE)
    says = [s for s in tl.speech]
    assert [s.request.text for s in says] == ["Hello there.", "Settle in.", "Goodbye."]
    lead = int(timeline.LEAD_IN_S * RATE)
    assert tl.chapters[0] == timeline.Chapter(lead, "One")
    gap = int(timeline.SENTENCE_GAP_S * RATE)
    assert says[1].start == says[0].end + gap
    assert tl.chapters[1].start == says[1].end + 5 * RATE + 10 * RATE
    assert says[2].start == tl.chapters[1].start
    assert tl.length == says[2].end + int(timeline.DEFAULT_AFTER_S * RATE) + int(
        timeline.SILENCE_TAIL_S * RATE)


def test_repeat_expands_steps():
    script = make(model.Repeat(3, (model.Say("Again."), model.Pause(2, fixed=True))))
    tl = compile_timeline(script, fake_clip_length, rate=RATE)
    assert [s.request.text for s in tl.speech] == ["Again."] * 3


def test_endings():
    body = (model.Say("Done."),)
    bell = compile_timeline(make(*body, ending="bell"), fake_clip_length, rate=RATE)
    assert bell.bells[-1].closing
    assert bell.length == bell.bells[-1].strikes[0] + int(timeline.CLOSING_BELL_RING_S * RATE)
    fade = compile_timeline(make(*body, ending="fade"), fake_clip_length, rate=RATE)
    assert fade.fade_out == min(int(timeline.FADE_OUT_S * RATE), fade.length)
    assert not fade.bells
    silence = compile_timeline(make(*body, ending="silence"), fake_clip_length, rate=RATE)
    assert silence.fade_out == 0 and not silence.bells


def test_bell_strikes_are_spaced_by_gap():
    tl = compile_timeline(make(model.Bell(strikes=3, gap=4)), fake_clip_length, rate=RATE)
    lead = int(timeline.LEAD_IN_S * RATE)
    assert tl.bells[0].strikes == (lead, lead + 4 * RATE, lead + 8 * RATE)


def _fit_script():
    return make(
        model.Say("Welcome.", after=10),
        model.Breathe(model.Pattern(4, 0, 6), for_s=120),
        model.Pause(60),
        model.Say("Fixed part.", after=2),
        model.Pause(5, fixed=True),
        ending="bell",
    )


@pytest.mark.parametrize("minutes", [1.5, 3, 5, 9.5])
def test_fit_to_minutes_lands_on_the_target(minutes):
    tl = compile_timeline(_fit_script(), fake_clip_length, rate=RATE, minutes=minutes)
    assert abs(tl.duration_s - minutes * 60) <= 0.05


def test_fit_keeps_speech_and_fixed_parts():
    natural = compile_timeline(_fit_script(), fake_clip_length, rate=RATE)
    fitted = compile_timeline(_fit_script(), fake_clip_length, rate=RATE, minutes=8)
    assert [s.length for s in natural.speech] == [s.length for s in fitted.speech]
    assert fitted.length > natural.length


def test_fit_out_of_range_names_the_reachable_range():
    shortest, natural, longest = length_range(_fit_script(), fake_clip_length, rate=RATE)
    assert shortest < natural < longest
    with pytest.raises(FitError) as err:
        compile_timeline(_fit_script(), fake_clip_length, rate=RATE, minutes=60)
    message = str(err.value)
    assert "cannot be fitted to 60 minutes" in message
    assert err.value.shortest_s == pytest.approx(shortest)
    assert err.value.longest_s == pytest.approx(longest)
    with pytest.raises(FitError):
        compile_timeline(_fit_script(), fake_clip_length, rate=RATE, minutes=0.5)


def test_fit_honours_both_ends_of_the_range():
    shortest, _, longest = length_range(_fit_script(), fake_clip_length, rate=RATE)
    for seconds in (shortest, longest):
        tl = compile_timeline(_fit_script(), fake_clip_length, rate=RATE, minutes=seconds / 60)
        assert abs(tl.duration_s - seconds) < 0.01


def test_ambient_override_replaces_the_scripts_bed():
    script = make(
        model.Say("Hi."),
        model.AmbientChange("pink-noise", -20),
        ambient=model.AmbientSettings("brown-noise", -24),
    )
    own = compile_timeline(script, fake_clip_length, rate=RATE)
    assert [(a.sound, a.level_db) for a in own.ambient] == [("brown-noise", -24), ("pink-noise", -20)]
    none = compile_timeline(script, fake_clip_length, rate=RATE, overrides=Overrides(ambient="none"))
    assert [a.sound for a in none.ambient] == [None]


def test_speech_requests_are_distinct_and_in_order():
    script = make(
        model.Say("One. Two."),
        model.Repeat(2, (model.Say("One."),)),
        model.Breathe(model.Pattern(4, 0, 4), cycles=2, cues="both"),
    )
    texts = [r.text for r in timeline.speech_requests(script)]
    assert texts == ["One.", "Two.", "in", "out"]


def test_rate_override_multiplies_script_rate():
    script = make(model.Say("Slow.", rate=0.8), voice=model.Voice(rate=0.9))
    reqs = timeline.speech_requests(script, Overrides(speed=1.25))
    assert reqs[0].rate == pytest.approx(1.0)
