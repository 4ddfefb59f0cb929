"""Breathing patterns: the built-in set and parsing of ``"4-7-8"``-style strings and mappings.

Errors are plain ``ValueError`` with a short message; the script loader adds the location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from player.format.model import Pattern

MAX_PHASE_S = 60.0
MIN_BPM = 1.0
MAX_BPM = 30.0

# Phase names a pattern mapping may use, in the order a breath runs through them.
PATTERN_KEYS = ("inhale", "inhale2", "hold", "exhale", "hold_out")
REQUIRED_PHASES = ("inhale", "exhale")

BUILTIN_PATTERNS: dict[str, Pattern] = {
    p.name: p  # type: ignore[misc]
    for p in (
        # Square breathing: equal in, hold, out, hold.
        Pattern(inhale=4.0, hold=4.0, exhale=4.0, hold_out=4.0, name="box"),
        # Weil's relaxing breath: long hold and a long, slow exhale.
        Pattern(inhale=4.0, hold=7.0, exhale=8.0, name="4-7-8"),
        # Coherent / resonance breathing, about 5.5 breaths a minute.
        Pattern(inhale=5.5, exhale=5.5, name="coherent"),
        # Exhale longer than inhale, no holds: an easy calming default.
        Pattern(inhale=4.0, exhale=6.0, name="extended-exhale"),
        # A full inhale, a short top-up inhale, then a long exhale.
        Pattern(inhale=2.0, inhale2=1.0, exhale=6.0, name="physiological-sigh"),
        # Box without the second hold.
        Pattern(inhale=4.0, hold=4.0, exhale=4.0, name="triangle"),
        # Equal breathing (sama vritti): in and out the same length, no holds.
        Pattern(inhale=4.0, exhale=4.0, name="equal"),
        # Six breaths a minute, the rate most often used for resonance breathing.
        Pattern(inhale=5.0, exhale=5.0, name="resonant"),
    )
}

_NUMBER = r"\d+(?:\.\d+)?"
# 2 to 4 numbers joined by hyphens; shared with the JSON Schema.
PATTERN_STRING_PATTERN = rf"^{_NUMBER}(?:-{_NUMBER}){{1,3}}$"
_PATTERN_RE = re.compile(PATTERN_STRING_PATTERN)


def check_phase(name: str, value: object) -> float:
    """Seconds for one phase: inhale/exhale > 0, holds >= 0, none over 60 s."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds (got {value!r})")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{name} must be a finite number of seconds (got {seconds:g})")
    if name in REQUIRED_PHASES:
        if seconds <= 0:
            raise ValueError(f"{name} must be more than 0 seconds (got {seconds:g})")
    elif seconds < 0:
        raise ValueError(f"{name} must be 0 seconds or more (got {seconds:g})")
    if seconds > MAX_PHASE_S:
        raise ValueError(f"{name} must be at most {MAX_PHASE_S:g} seconds (got {seconds:g})")
    return seconds


def make_pattern(phases: Mapping[str, object], name: str | None = None) -> Pattern:
    """A checked Pattern from phase seconds; inhale and exhale are required."""
    for key in phases:
        if key not in PATTERN_KEYS:
            raise ValueError(f"unknown phase {key!r}{_suggest(str(key), PATTERN_KEYS)}")
    for key in REQUIRED_PHASES:
        if key not in phases:
            raise ValueError(f"a pattern needs '{key}'")
    values = {k: check_phase(k, v) for k, v in phases.items()}
    return Pattern(name=name, **values)  # type: ignore[arg-type]


def parse_pattern(value: object) -> Pattern:
    """A Pattern from a built-in name, a ``"4-7-8"`` string (2-4 numbers) or a phase mapping."""
    if isinstance(value, Pattern):
        return value
    if isinstance(value, Mapping):
        return make_pattern(value)
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"must be a pattern name ({', '.join(BUILTIN_PATTERNS)}) or 2 to 4 numbers of "
            f"seconds like '4-7-8' (got {value!r})"
        )
    text = value.strip()
    if text in BUILTIN_PATTERNS:
        return BUILTIN_PATTERNS[text]
    if len(text) <= 60 and _PATTERN_RE.match(text):
        numbers = [float(n) for n in text.split("-")]
        keys = {
            2: ("inhale", "exhale"),
            3: ("inhale", "hold", "exhale"),
            4: ("inhale", "hold", "exhale", "hold_out"),
        }[len(numbers)]
        return make_pattern(dict(zip(keys, numbers)))
    if re.fullmatch(r"[\d.\s-]+", text):
        raise ValueError(
            f"a pattern string is 2 to 4 numbers of seconds joined by '-', like '4-7-8' "
            f"(got {value!r})"
        )
    raise ValueError(
        f"unknown pattern {value!r}{_suggest(text, BUILTIN_PATTERNS)}; use one of "
        f"{', '.join(BUILTIN_PATTERNS)} or numbers like '4-7-8'"
    )


def pattern_from_bpm(bpm: float) -> Pattern:
    """Equal inhale and exhale at ``bpm`` breaths a minute (1 to 30)."""
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or math.isnan(bpm):
        raise ValueError(f"breaths a minute must be a number (got {bpm!r})")
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(
            f"breaths a minute must be between {MIN_BPM:g} and {MAX_BPM:g} (got {bpm!r})"
        )
    half = 30.0 / float(bpm)
    return Pattern(inhale=half, exhale=half)


def _suggest(word: str, choices) -> str:
    import difflib  # only needed on the error path

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
