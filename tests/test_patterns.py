"""Breathing patterns: the built-in set, the string and mapping forms, and --bpm."""

from __future__ import annotations

import pytest

from player.format.model import Pattern
from player.format.patterns import (
    BUILTIN_PATTERNS,
    PATTERN_KEYS,
    parse_pattern,
    pattern_from_bpm,
)


@pytest.mark.parametrize(
    ("name", "phases"),
    [
        ("box", (("inhale", 4), ("hold", 4), ("exhale", 4), ("hold_out", 4))),
        ("4-7-8", (("inhale", 4), ("hold", 7), ("exhale", 8))),
        ("coherent", (("inhale", 5.5), ("exhale", 5.5))),
        ("extended-exhale", (("inhale", 4), ("exhale", 6))),
        ("physiological-sigh", (("inhale", 2), ("inhale2", 1), ("exhale", 6))),
        ("triangle", (("inhale", 4), ("hold", 4), ("exhale", 4))),
        ("equal", (("inhale", 4), ("exhale", 4))),
        ("resonant", (("inhale", 5), ("exhale", 5))),
    ],
)
def test_builtin_patterns_are_what_the_spec_says(name, phases):
    pattern = BUILTIN_PATTERNS[name]
    assert pattern.phases() == phases
    assert pattern.name == name
    assert parse_pattern(name) is pattern
    assert all(isinstance(v, float) for _, v in pattern.phases())


def test_coherent_is_about_five_and_a_half_breaths_a_minute():
    assert 60 / BUILTIN_PATTERNS["coherent"].cycle_s == pytest.approx(5.45, abs=0.01)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.5-5.5", Pattern(inhale=5.5, exhale=5.5)),
        ("4-6", Pattern(inhale=4, exhale=6)),
        ("4-7-8", BUILTIN_PATTERNS["4-7-8"]),
        ("4-2-6", Pattern(inhale=4, hold=2, exhale=6)),
        ("4-0-6", Pattern(inhale=4, exhale=6)),
        ("4-4-4-4", Pattern(inhale=4, hold=4, exhale=4, hold_out=4)),
        ("3-0-5-2", Pattern(inhale=3, exhale=5, hold_out=2)),
        (" box ", BUILTIN_PATTERNS["box"]),
    ],
)
def test_parses_number_strings(text, expected):
    assert parse_pattern(text) == expected


def test_parses_mappings_including_the_top_up_inhale():
    assert parse_pattern({"inhale": 4, "hold": 7, "exhale": 8, "hold_out": 0}) == Pattern(
        inhale=4, hold=7, exhale=8
    )
    sigh = parse_pattern({"inhale": 2, "inhale2": 1, "exhale": 6})
    assert sigh.phases() == (("inhale", 2), ("inhale2", 1), ("exhale", 6))
    assert set(PATTERN_KEYS) == {"inhale", "inhale2", "hold", "exhale", "hold_out"}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("boxx", "did you mean 'box'?"),
        ("square", "unknown pattern"),
        ("4", "2 to 4 numbers"),
        ("4-7-8-9-10", "2 to 4 numbers"),
        ("4--8", "2 to 4 numbers"),
        ("4-7-", "2 to 4 numbers"),
        ("0-4", "inhale must be more than 0"),
        ("4-0", "exhale must be more than 0"),
        ("4-61-4", "hold must be at most 60"),
        ("61-4", "inhale must be at most 60"),
        ("", "unknown pattern"),
        (4, "pattern name"),
        (None, "pattern name"),
        (True, "pattern name"),
        ({"inhale": 4}, "needs 'exhale'"),
        ({"exhale": 4}, "needs 'inhale'"),
        ({"inhale": 4, "exhale": 4, "hold": -1}, "hold must be 0 seconds or more"),
        ({"inhale": 4, "exhale": 4, "exhal": 4}, "did you mean 'exhale'?"),
        ({"inhale": "4", "exhale": 4}, "must be a number"),
        ({"inhale": True, "exhale": 4}, "must be a number"),
        ({"inhale": float("nan"), "exhale": 4}, "finite"),
    ],
)
def test_rejects_bad_patterns(value, fragment):
    with pytest.raises(ValueError) as info:
        parse_pattern(value)
    assert fragment in str(info.value)


@pytest.mark.parametrize("bpm", [1, 6, 5.5, 12, 30])
def test_pattern_from_bpm_has_equal_halves_at_that_rate(bpm):
    pattern = pattern_from_bpm(bpm)
    assert pattern.inhale == pattern.exhale
    assert pattern.hold == pattern.hold_out == pattern.inhale2 == 0
    assert 60 / pattern.cycle_s == pytest.approx(bpm)


@pytest.mark.parametrize("bpm", [0, 0.5, 31, -6, float("nan"), float("inf"), True, "6", None])
def test_pattern_from_bpm_rejects_out_of_range(bpm):
    with pytest.raises(ValueError):
        pattern_from_bpm(bpm)
