"""Durations: the spec's grammar (seconds or whole units), its limits, and the display form."""

from __future__ import annotations

import math

import pytest

from player.format.durations import MAX_DURATION_S, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (10, 10.0),
        (2.5, 2.5),
        (0.25, 0.25),
        ("45s", 45.0),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1h5m10s", 3910.0),
        ("1h30s", 3630.0),
        ("90s", 90.0),
        ("4h", 14400.0),
        (" 2m ", 120.0),
        ("10", 10.0),  # quoted numbers are harmless
        ("2.5", 2.5),
        (14400, 14400.0),
    ],
)
def test_parses_numbers_and_unit_strings(value, seconds):
    assert parse_duration(value) == seconds
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0, "more than zero"),
        (0.0, "more than zero"),
        ("0s", "more than zero"),
        ("0h0m0s", "more than zero"),
        (-5, "more than zero"),
        ("-5s", "more than zero"),
        (14400.5, "at most 4 hours"),
        ("4h1s", "at most 4 hours"),
        ("5h", "at most 4 hours"),
        (10**9, "at most 4 hours"),
        (math.inf, "finite"),
        (math.nan, "finite"),
        (True, "true/false"),
        (False, "true/false"),
        (None, "got nothing"),
        ([1], "got a list"),
        ({"s": 1}, "got a dict"),
        ("", "not a duration"),
        ("s", "not a duration"),
        ("10 secs", "not a duration"),
        ("1m30", "not a duration"),
        ("30s1m", "not a duration"),  # largest unit first
        ("1d", "not a duration"),
        ("1:30", "not a duration"),
        ("1.5m", "whole numbers"),
        ("2.5s", "whole numbers"),
        ("9" * 100, "not a duration"),
        ("1e3", "not a duration"),
    ],
)
def test_rejects_bad_values_with_a_short_reason(value, fragment):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and len(message) < 200


def test_limit_is_four_hours():
    assert MAX_DURATION_S == 4 * 3600
    assert parse_duration(MAX_DURATION_S) == MAX_DURATION_S


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (2.5, "2.5s"),
        (59.4, "59s"),
        (60, "1m"),
        (200, "3m 20s"),
        (185, "3m 05s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3720, "1h 02m"),
        (3749, "1h 02m"),
        (3751, "1h 03m"),
        (14400, "4h 00m"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, "10", None, True])
def test_format_duration_rejects_non_durations(bad):
    with pytest.raises(ValueError):
        format_duration(bad)
