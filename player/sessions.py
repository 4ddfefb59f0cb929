"""Sessions built in code rather than loaded from YAML: ``haven breathe`` and ``haven timer``.

Both produce an ordinary ``model.Script``, so they go through the same timeline, mixer,
player and journal as any exercise. Their journal ids follow the journal spec:
``breathe:<pattern>`` and ``timer``.
"""

from __future__ import annotations

import dataclasses

from player import model
from player.durations import format_duration, parse_duration
from player.errors import BadInputError
from player.patterns import BUILTIN_PATTERNS, parse_pattern, pattern_from_bpm
from player.timeline import BELL_SETTLE_S, CLOSING_BELL_RING_S, LEAD_IN_S

DEFAULT_PATTERN = "coherent"
DEFAULT_BREATHE_MINUTES = 5.0
MAX_MINUTES = 240.0
# The closing bell is struck this long after the content ends (timeline: content_end + 1 s).
_CLOSING_BELL_DELAY_S = 1.0
# A bell needs its settle time before anything else can start.
MIN_BELL_GAP_S = float(BELL_SETTLE_S) + _CLOSING_BELL_DELAY_S


def _minutes(value: float, what: str = "--minutes") -> float:
    if not isinstance(value, (int, float)) or not 0 < value <= MAX_MINUTES:
        raise BadInputError(f"{what} must be more than 0 and at most {MAX_MINUTES:g}")
    return float(value)


def ramp_pattern(value: str) -> model.Pattern:
    """``--ramp-to``: a pattern (``4-6``, ``coherent``) or breaths a minute (``6``)."""
    text = str(value).strip()
    try:
        bpm = float(text)
    except ValueError:
        bpm = None
    try:
        if bpm is not None:
            return dataclasses.replace(pattern_from_bpm(bpm), name=f"{bpm:g}-per-minute")
        return parse_pattern(text)
    except ValueError as exc:
        raise BadInputError(f"--ramp-to: {exc}") from None


def breathe_script(
    pattern: str | None = None,
    *,
    minutes: float = DEFAULT_BREATHE_MINUTES,
    bpm: float | None = None,
    ramp_to: str | None = None,
    cues: str = "tones",
    ambient: str | None = None,
) -> model.Script:
    """A pure breathing pacer: a bell, ``minutes`` of paced breathing, a closing bell.

    ``pattern`` is a built-in name or seconds like ``4-7-8``; ``bpm`` instead gives an equal
    in- and out-breath at that many breaths a minute; ``ramp_to`` changes the pattern cycle by
    cycle to reach another one (or another rate) by the end.
    """
    minutes = _minutes(minutes)
    if pattern is not None and bpm is not None:
        raise BadInputError("give a PATTERN or --bpm, not both")
    if cues not in model.CUES:
        raise BadInputError(f"--cues must be one of {', '.join(model.CUES)}")
    try:
        if bpm is not None:
            start = dataclasses.replace(pattern_from_bpm(bpm), name=f"{bpm:g}-per-minute")
        else:
            start = parse_pattern(pattern or DEFAULT_PATTERN)
    except ValueError as exc:
        raise BadInputError(f"{'--bpm' if bpm is not None else 'PATTERN'}: {exc}") from None
    end = ramp_pattern(ramp_to) if ramp_to is not None else None
    # The breathing fills the session between the opening bell and the closing bell's ring.
    overhead = float(LEAD_IN_S + BELL_SETTLE_S) + _CLOSING_BELL_DELAY_S + float(CLOSING_BELL_RING_S)
    breathing_s = minutes * 60.0 - overhead
    longest_cycle = max(start.cycle_s, end.cycle_s if end else 0.0)
    if breathing_s < longest_cycle:
        raise BadInputError(
            f"--minutes {minutes:g} is too short for one breath of {start.label()} "
            f"with the bells (at least {format_duration(overhead + longest_cycle)})"
        )
    label = start.label() + (f" to {end.label()}" if end else "")
    return model.Script(
        id=f"breathe:{start.label()}",
        title=f"Breathing pacer: {label}",
        summary=f"{format_duration(minutes * 60)} of paced breathing ({label}).",
        category="breathing",
        steps=(
            model.Section("Breathing"),
            model.Bell(),
            model.Breathe(start, for_s=breathing_s, cues=cues, ramp_to=end),
        ),
        ambient=model.AmbientSettings(sound=ambient) if ambient and ambient != "none"
        else model.AmbientSettings(),
        ending="bell",
    )


def parse_timer_length(value: str) -> float:
    """``MINUTES``: a number of minutes (``20``, ``7.5``) or a duration (``20m``, ``1h``)."""
    text = str(value).strip()
    try:
        minutes = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise BadInputError(f"MINUTES {exc}") from None
    return _minutes(minutes, "MINUTES") * 60.0


def parse_bell_times(value: str) -> list[float]:
    """``--bells 0,25m,30m``: seconds from the start (``0`` is the start; plain numbers are
    seconds, like durations everywhere in Haven)."""
    times = []
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        if item in ("0", "0s", "0m"):
            times.append(0.0)
            continue
        try:
            times.append(parse_duration(item))
        except ValueError as exc:
            raise BadInputError(f"--bells: {item!r} {exc}") from None
    if not times:
        raise BadInputError("--bells needs at least one time, like 0,25m,30m")
    return sorted(set(times))


def timer_bells(total_s: float, *, every_s: float | None = None,
                bells: list[float] | None = None) -> list[float]:
    """When the bells sound, in seconds from the start of the sitting."""
    if every_s is not None and bells is not None:
        raise BadInputError("give --every or --bells, not both")
    if bells is not None:
        late = [t for t in bells if t > total_s]
        if late:
            raise BadInputError(
                f"--bells: {format_duration(late[0])} is after the end of the "
                f"{format_duration(total_s)} sitting"
            )
        times = list(bells)
    else:
        times = [0.0]
        if every_s is not None:
            if every_s < MIN_BELL_GAP_S:
                raise BadInputError(f"--every must be at least {MIN_BELL_GAP_S:g} seconds")
            k = 1
            while k * every_s < total_s - MIN_BELL_GAP_S / 2:
                times.append(k * every_s)
                k += 1
        times.append(total_s)
    for a, b in zip(times, times[1:]):
        if b - a < MIN_BELL_GAP_S:
            raise BadInputError(
                f"bells must be at least {MIN_BELL_GAP_S:g} seconds apart "
                f"({format_duration(a) if a else '0'} and {format_duration(b)} are not)"
            )
    return times


def timer_script(
    total_s: float,
    *,
    every_s: float | None = None,
    bells: list[float] | None = None,
    ambient: str | None = None,
) -> model.Script:
    """Silent sitting for ``total_s`` seconds: a starting bell, optional interval bells (every
    ``every_s``, or exactly at ``bells``), an ending bell, and an optional ambient bed.

    Bells fall on exact sample positions: the timeline places each one ``t`` seconds after
    the start of the sitting (which begins after the usual 1.5 s lead-in).
    """
    if not 0 < total_s <= MAX_MINUTES * 60:
        raise BadInputError(f"MINUTES must be more than 0 and at most {MAX_MINUTES:g} minutes")
    times = timer_bells(total_s, every_s=every_s, bells=bells)
    ends_with_bell = bool(times) and times[-1] == total_s
    inner = times[:-1] if ends_with_bell else times
    settle = float(BELL_SETTLE_S)
    steps: list[model.Step] = [model.Section("Sitting")]
    cursor = 0.0
    for t in inner:
        if t > cursor:
            steps.append(model.Pause(t - cursor, fixed=True))
        steps.append(model.Bell())
        cursor = t + settle
    # The content ends where the closing bell (struck 1 s after it) lands on total_s.
    end = total_s - _CLOSING_BELL_DELAY_S if ends_with_bell else total_s
    if end > cursor:
        steps.append(model.Pause(end - cursor, fixed=True))
    return model.Script(
        id="timer",
        title=f"Silent timer, {format_duration(total_s)}",
        summary="Silent sitting between bells.",
        category="meditation",
        steps=tuple(steps),
        ambient=model.AmbientSettings(sound=ambient) if ambient and ambient != "none"
        else model.AmbientSettings(),
        ending="bell" if ends_with_bell else "silence",
    )


__all__ = [
    "BUILTIN_PATTERNS",
    "breathe_script",
    "parse_bell_times",
    "parse_timer_length",
    "ramp_pattern",
    "timer_bells",
    "timer_script",
]
