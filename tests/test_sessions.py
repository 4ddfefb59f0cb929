"""`haven breathe` and `haven timer` sessions: scripts built in code, timed to the sample."""

from __future__ import annotations

from fractions import Fraction

import pytest

from player.format import model
from player.audio import timeline
from player.errors import BadInputError
from player.library.sessions import (
    breathe_script,
    parse_bell_times,
    parse_timer_length,
    ramp_pattern,
    timer_bells,
    timer_script,
)
from player.audio.timeline import compile_timeline

RATE = 48000
LEAD = int(timeline.LEAD_IN_S * RATE)


def compile_(script):
    # No speech in these sessions (tones only), so clip lengths never matter.
    return compile_timeline(script, lambda r: 0, rate=RATE)


def test_breathe_defaults_to_coherent_for_five_minutes():
    script = breathe_script()
    assert script.id == "breathe:coherent" and script.category == "breathing"
    tl = compile_(script)
    (breath,) = tl.breaths
    assert breath.pattern == "coherent" and breath.with_tones
    assert abs(tl.duration_s - 300) <= 11 / 2 + 0.01  # whole 11 s breaths
    assert tl.bells[0].strikes == (LEAD,) and tl.bells[-1].closing
    assert not tl.speech


@pytest.mark.parametrize("pattern,label,cycle", [("4-7-8", "4-7-8", 19), ("box", "box", 16),
                                                   ("4-6", "4-6", 10)])
def test_breathe_patterns_fall_on_exact_samples(pattern, label, cycle):
    tl = compile_(breathe_script(pattern, minutes=3))
    (breath,) = tl.breaths
    starts = [p.start for p in breath.phases if p.kind == "inhale"]
    assert all(b - a == cycle * RATE for a, b in zip(starts, starts[1:]))
    assert breath.pattern == label


def test_breathe_bpm_gives_equal_in_and_out():
    script = breathe_script(bpm=6, minutes=2)
    assert script.id == "breathe:6-per-minute"
    (step,) = [s for s in script.steps if isinstance(s, model.Breathe)]
    assert step.pattern.inhale == step.pattern.exhale == 5.0


def test_breathe_ramp_slows_the_breath_cycle_by_cycle():
    tl = compile_(breathe_script("4-4", minutes=4, ramp_to="4-8"))
    exhales = [p.end - p.start for p in tl.breaths[0].phases if p.kind == "exhale"]
    assert exhales[0] == 4 * RATE and exhales[-1] == 8 * RATE
    assert exhales == sorted(exhales)
    assert ramp_pattern("5").inhale == 6.0  # a number is breaths a minute


@pytest.mark.parametrize("kwargs,message", [
    ({"pattern": "4-7-8", "bpm": 6}, "not both"),
    ({"pattern": "nonsense"}, "PATTERN"),
    ({"bpm": 99}, "--bpm"),
    ({"minutes": 0.1}, "too short"),
    ({"minutes": -1}, "--minutes"),
    ({"ramp_to": "x-y"}, "--ramp-to"),
])
def test_breathe_rejects_bad_input(kwargs, message):
    with pytest.raises(BadInputError) as err:
        breathe_script(**kwargs)
    assert message in str(err.value)


def test_timer_has_a_starting_and_an_ending_bell_at_exact_times():
    script = timer_script(600.0)
    assert script.id == "timer"
    tl = compile_(script)
    strikes = [s for bell in tl.bells for s in bell.strikes]
    assert strikes == [LEAD, LEAD + 600 * RATE]
    # The ending bell is a bell step (the bed can fade under it), rung out in full.
    assert tl.ending == "silence"
    assert tl.length == LEAD + 600 * RATE + int(timeline.CLOSING_BELL_RING_S * RATE)


def test_timer_interval_bells():
    tl = compile_(timer_script(20 * 60.0, every_s=300.0))
    strikes = [s for bell in tl.bells for s in bell.strikes]
    assert strikes == [LEAD + k * 300 * RATE for k in range(5)]


def test_timer_explicit_bells():
    tl = compile_(timer_script(30 * 60.0, bells=parse_bell_times("0,25m,30m")))
    strikes = [s for bell in tl.bells for s in bell.strikes]
    assert strikes == [LEAD, LEAD + 1500 * RATE, LEAD + 1800 * RATE]
    late = compile_(timer_script(60.0, bells=[30.0]))  # no bell at the start or the end
    assert [s for bell in late.bells for s in bell.strikes] == [LEAD + 30 * RATE]
    assert late.ending == "silence"


def test_timer_parsing_and_errors():
    assert parse_timer_length("20") == 1200.0
    assert parse_timer_length("1h") == 3600.0
    assert parse_timer_length("7.5") == 450.0
    assert parse_bell_times("30m, 0 ,25m") == [0.0, 1500.0, 1800.0]
    with pytest.raises(BadInputError):
        parse_timer_length("soon")
    with pytest.raises(BadInputError):
        parse_bell_times("0,later")
    with pytest.raises(BadInputError):
        timer_bells(600, every_s=300, bells=[0.0])
    with pytest.raises(BadInputError) as err:
        timer_bells(600, bells=[0.0, 2.0])
    assert "apart" in str(err.value)
    with pytest.raises(BadInputError) as err:
        timer_bells(600, bells=[700.0])
    assert "after the end" in str(err.value)
    with pytest.raises(BadInputError):
        timer_bells(600, every_s=1.0)


def test_timer_with_a_bed_plays_it_from_the_first_bell_to_the_last():
    tl = compile_(timer_script(120.0, ambient="brown-noise", prepare_s=30.0))
    assert [(a.start, a.sound) for a in tl.ambient] == [
        (0, None), (LEAD + 30 * RATE, "brown-noise"), (LEAD + 150 * RATE, None)]


def test_every_bell_is_exactly_where_fractions_put_it():
    tl = compile_(timer_script(1000.5, every_s=333.5))
    strikes = [s for bell in tl.bells for s in bell.strikes]
    for k, strike in enumerate(strikes[:-1]):
        assert strike == LEAD + round(Fraction("333.5") * k * RATE)
