"""Sessions built in code rather than loaded from YAML: ``haven breathe`` and ``haven timer``.

Both produce an ordinary ``model.Script``, so they go through the same timeline, mixer,
player and journal as any exercise. Their journal ids follow the journal spec:
``breathe:<pattern>`` and ``timer``.
"""

from __future__ import annotations

import dataclasses
import math
import random

from player.format import model
from player.format.durations import format_duration, parse_duration
from player.errors import BadInputError
from player.plan import MAX_MINUTES, check_minutes
from player.format.patterns import BUILTIN_PATTERNS, parse_pattern, pattern_from_bpm
from player.audio.timeline import BELL_SETTLE_S, CLOSING_BELL_RING_S, LEAD_IN_S

DEFAULT_PATTERN = "coherent"
DEFAULT_BREATHE_MINUTES = 5.0
# The closing bell is struck this long after the content ends (timeline: content_end + 1 s).
_CLOSING_BELL_DELAY_S = 1.0
# A bell needs its settle time before anything else can start.
MIN_BELL_GAP_S = float(BELL_SETTLE_S) + _CLOSING_BELL_DELAY_S


def _minutes(value: float, what: str = "--minutes") -> float:
    return check_minutes(value, what)  # the one bound (player.plan)


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


def _minutes_or_duration(value: str, what: str) -> float:
    """Seconds from a bare number of minutes (``20``, ``7.5``) or a duration (``20m``, ``1h``)."""
    text = str(value).strip()
    try:
        minutes = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise BadInputError(f"{what} {exc}") from None
    return _minutes(minutes, what) * 60.0


def parse_timer_length(value: str) -> float:
    """``MINUTES``: a number of minutes (``20``, ``7.5``) or a duration (``20m``, ``1h``)."""
    return _minutes_or_duration(value, "MINUTES")


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


def parse_every(value: str) -> float:
    """``--every``: a duration with units (``5m``, ``90s``, ``1m30s``) or a bare number of
    minutes, like MINUTES (``--every 5`` is every five minutes)."""
    return _minutes_or_duration(value, "--every")


# The preparation delay before the first bell: a duration with a unit, at most this long.
MAX_PREPARE_S = 600.0


def parse_prepare(value: str) -> float:
    """``--prepare 30s``: silence before the starting bell. A bare number is refused: seconds
    or minutes would both be a plausible reading."""
    text = str(value).strip()
    try:
        float(text)
    except ValueError:
        pass
    else:
        raise BadInputError(f"--prepare needs a unit, like 30s or 2m (got '{text}')")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise BadInputError(f"--prepare {exc}") from None
    if seconds > MAX_PREPARE_S:
        raise BadInputError(
            f"--prepare must be at most {format_duration(MAX_PREPARE_S)} (got {text})"
        )
    return seconds


# Bell choices of the timer: how many strikes of the bowl ("none": no bell at all).
TIMER_BELL_STRIKES = {"none": 0, "single": 1, "double": 2, "triple": 3}
# Strikes of one timer bell are this far apart (the script format's default gap).
TIMER_STRIKE_GAP_S = float(model.Bell().gap)
# Random bells keep at least this far from each other and from the ends of the sitting.
RANDOM_BELL_CLEARANCE_S = 60.0
MAX_RANDOM_BELLS = 100


def bell_choice(value: str | None, option: str) -> tuple[int, str | None]:
    """(strikes, sound) of a timer bell choice: ``none``, ``single``, ``double``,
    ``triple``, or a bell sound's name (``low-bowl``, ``double-bowl``, a sound of your own),
    optionally with a count: ``low-bowl:2``."""
    text = "single" if value is None else str(value).strip()
    if text in TIMER_BELL_STRIKES:
        return TIMER_BELL_STRIKES[text], None
    name, sep, count = text.partition(":")
    strikes = 1
    if sep:
        if not count.isdigit() or not 1 <= int(count) <= 3:
            raise BadInputError(f"{option}: the count after ':' must be 1, 2 or 3 (got '{text}')")
        strikes = int(count)
    from player.audio import sounds

    try:
        sounds.check_bell_name(name)
    except BadInputError as exc:
        choices = ", ".join(TIMER_BELL_STRIKES)
        raise BadInputError(f"{option} must be one of {choices} or a bell sound: {exc}") from None
    return strikes, name


def random_bell_times(total_s: float, count: int, rng: random.Random | None = None) -> list[float]:
    """``count`` bell times in whole seconds, uniformly spread over every arrangement in which
    no two are within ``RANDOM_BELL_CLEARANCE_S`` of each other or of the ends."""
    if not isinstance(count, int) or not 1 <= count <= MAX_RANDOM_BELLS:
        raise BadInputError(f"--random must be a whole number from 1 to {MAX_RANDOM_BELLS}")
    gap = RANDOM_BELL_CLEARANCE_S
    slack = int(math.floor(total_s - 2 * gap - (count - 1) * gap))
    if slack < 0:
        need = (count + 1) * gap
        raise BadInputError(
            f"--random {count}: the sitting must be at least {format_duration(need)} long "
            f"(random bells keep a minute from each other and from the ends)"
        )
    rng = rng if rng is not None else random.Random()
    offsets = sorted(rng.randint(0, slack) for _ in range(count))
    return [gap + u + i * gap for i, u in enumerate(offsets)]


def timer_bells(total_s: float | None, *, every_s: float | None = None,
                bells: list[float] | None = None, random_count: int | None = None,
                rng: random.Random | None = None) -> list[float]:
    """When the bells sound, in seconds from the start of the sitting.

    ``total_s=None`` is an open-ended sitting: a starting bell, interval bells up to the
    longest sitting, and no ending bell (it ends when the listener stops it).
    """
    given = [name for name, v in (("--every", every_s), ("--bells", bells),
                                  ("--random", random_count)) if v is not None]
    if len(given) > 1:
        raise BadInputError(f"give {' or '.join(given)}, not both" if len(given) == 2
                            else "give one of --every, --bells and --random")
    limit = MAX_MINUTES * 60.0 if total_s is None else total_s
    if bells is not None:
        late = [t for t in bells if t > limit]
        if late:
            what = (f"the {format_duration(total_s)} sitting" if total_s is not None
                    else f"the longest sitting ({format_duration(limit)})")
            raise BadInputError(f"--bells: {format_duration(late[0])} is after the end of {what}")
        times = list(bells)
    elif random_count is not None:
        if total_s is None:
            raise BadInputError("--random needs the sitting's length (MINUTES)")
        times = [0.0] + random_bell_times(total_s, random_count, rng) + [total_s]
    else:
        times = [0.0]
        if every_s is not None:
            if every_s < MIN_BELL_GAP_S:
                raise BadInputError(f"--every must be at least {MIN_BELL_GAP_S:g} seconds")
            if total_s is not None and every_s > total_s:
                raise BadInputError(
                    f"--every {format_duration(every_s)} is longer than the "
                    f"{format_duration(total_s)} sitting"
                )
            k = 1
            while k * every_s < limit - MIN_BELL_GAP_S / 2:
                times.append(k * every_s)
                k += 1
        if total_s is not None:
            times.append(total_s)
    for a, b in zip(times, times[1:]):
        if b - a < MIN_BELL_GAP_S:
            raise BadInputError(
                f"bells must be at least {MIN_BELL_GAP_S:g} seconds apart "
                f"({format_duration(a) if a else '0'} and {format_duration(b)} are not)"
            )
    return times


def timer_script(
    total_s: float | None,
    *,
    every_s: float | None = None,
    bells: list[float] | None = None,
    random_count: int | None = None,
    rng: random.Random | None = None,
    prepare_s: float = 0.0,
    start_bell: str | None = None,
    end_bell: str | None = None,
    interval_bell: str | None = None,
    ambient: str | None = None,
    ambient_level_db: float | None = None,
) -> model.Script:
    """Silent sitting for ``total_s`` seconds (``None``: open-ended, until stopped): a
    starting bell, optional interval bells (every ``every_s``, exactly at ``bells``, or
    ``random_count`` at random), an ending bell, and an optional ambient bed that plays from
    the sitting's start to its end (from the first bell to the last).

    ``prepare_s`` of silence come first; bell times count from the end of it. Each bell
    choice is ``none``, ``single``, ``double``, ``triple`` or a bell sound (see
    ``bell_choice``). Bells fall on exact sample positions: the timeline places each one
    ``lead-in + prepare_s + t`` seconds from the session start.
    """
    open_ended = total_s is None
    if not open_ended and not 0 < total_s <= MAX_MINUTES * 60:
        raise BadInputError(f"MINUTES must be more than 0 and at most {MAX_MINUTES:g} minutes")
    if not 0 <= prepare_s <= MAX_PREPARE_S:
        raise BadInputError(f"--prepare must be at most {format_duration(MAX_PREPARE_S)}")
    choices = {
        "start": bell_choice(start_bell, "--start-bell"),
        "end": bell_choice(end_bell, "--end-bell"),
        "interval": bell_choice(interval_bell, "--interval-bell"),
    }
    if open_ended and end_bell is not None and choices["end"][0]:
        raise BadInputError("an open-ended sitting has no ending bell: it ends when you press q")
    sit_s = MAX_MINUTES * 60.0 if open_ended else float(total_s)
    times = timer_bells(total_s, every_s=every_s, bells=bells, random_count=random_count, rng=rng)
    settle = float(BELL_SETTLE_S)
    steps: list[model.Step] = []
    if prepare_s:
        steps += [model.Section("Preparing"), model.Pause(prepare_s, fixed=True)]
    steps.append(model.Section("Sitting"))
    cursor = 0.0  # where the timeline stands, in seconds from the start of the sitting
    earliest = 0.0  # the next bell may not come before this
    previous = None
    bed = ambient if ambient and ambient != "none" else None
    if bed:
        steps.append(model.AmbientChange(bed, ambient_level_db))
    for t in times:
        kind = "start" if t == 0 else "end" if (t == sit_s and not open_ended) else "interval"
        strikes, sound = choices[kind]
        if not strikes:
            continue
        if t < earliest:
            raise BadInputError(
                f"bells must be at least {MIN_BELL_GAP_S:g} seconds apart after the last strike "
                f"of a bell ({format_duration(previous) if previous else '0'} and "
                f"{format_duration(t)} are not)"
            )
        if t > cursor:
            steps.append(model.Pause(t - cursor, fixed=True))
        if bed and kind == "end":
            steps.append(model.AmbientChange(None))  # the bed fades out under the ending bell
            bed = None
        steps.append(model.Bell(strikes=strikes, gap=TIMER_STRIKE_GAP_S, sound=sound))
        last_strike = t + (strikes - 1) * TIMER_STRIKE_GAP_S
        cursor = last_strike + settle
        earliest = last_strike + MIN_BELL_GAP_S
        previous = t
    if sit_s > cursor:
        steps.append(model.Pause(sit_s - cursor, fixed=True))
    if bed and not open_ended:
        steps.append(model.AmbientChange(None))  # no ending bell: the bed fades at the end
    title = ("Open-ended sitting" if open_ended
             else f"Silent timer, {format_duration(float(total_s))}")
    return model.Script(
        id="timer",
        title=title,
        summary="Silent sitting between bells." if not open_ended
        else "Silent sitting until you stop it.",
        category="meditation",
        steps=tuple(steps),
        ending="silence",
    )


# --- the timer's options, and timers saved by name ------------------------------------------

TIMER_OPTIONS = ("minutes", "every", "bells", "random", "prepare", "start_bell", "end_bell",
                 "interval_bell", "ambient")
_BELL_OPTIONS = ("every", "bells", "random")  # one of these at most
_TIMER_NAME_RE = r"[a-z][a-z0-9-]{0,39}"
MAX_TIMERS_BYTES = 256 * 1024


def timers_path():
    from player import paths

    return paths.config_dir() / "timers.toml"


def is_length(value: str) -> bool:
    """Whether MINUTES reads as a length (a number or a duration), not a saved timer's name."""
    text = str(value).strip()
    try:
        float(text)
        return True
    except ValueError:
        pass
    import re

    from player.format.durations import DURATION_UNITS_PATTERN

    return re.fullmatch(DURATION_UNITS_PATTERN, text) is not None


def saved_timers() -> dict[str, dict]:
    """Every saved timer: name -> its options (as given on the command line)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    from player.errors import ConfigError
    from player.files import read_regular

    path = timers_path()
    try:
        data = read_regular(path, limit=MAX_TIMERS_BYTES, what="timers file", error=ConfigError)
    except FileNotFoundError:
        return {}
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{path}: not a valid timers file (fix or delete it)") from None
    timers = {}
    for name, table in doc.items():
        if isinstance(table, dict):
            timers[name] = {k: v for k, v in table.items() if k in TIMER_OPTIONS}
    return timers


def save_timer(name: str, options: dict) -> "object":
    """Save ``options`` (the command line's, unset ones None) as timer ``name``; checked first
    by building the session they describe. Returns the file's path."""
    import re

    import tomli_w

    from player.files import write_output

    if not re.fullmatch(_TIMER_NAME_RE, name or ""):
        raise BadInputError(
            f"--save: a timer's name is lower-case letters, digits and hyphens, starting with "
            f"a letter (got '{name}')"
        )
    if options.get("minutes") is not None and not is_length(options["minutes"]):
        raise BadInputError(f"--save: MINUTES must be a length, not '{options['minutes']}'")
    chosen = {k: v for k, v in options.items() if k in TIMER_OPTIONS and v is not None}
    timer_from_options({k: chosen.get(k) for k in TIMER_OPTIONS}, ambient=chosen.get("ambient"))
    timers = saved_timers()
    timers[name] = chosen
    path = timers_path()
    from player import paths

    paths.ensure_private_dir(path.parent)
    write_output(path, tomli_w.dumps(timers))
    return path


def timer_options(given: dict) -> dict:
    """The options of a timer from the command line: MINUTES may name a saved timer, whose
    options the ones given override (any of --every/--bells/--random replaces its bells)."""
    minutes = given.get("minutes")
    if minutes is None or is_length(minutes):
        return {k: given.get(k) for k in TIMER_OPTIONS}
    timers = saved_timers()
    if minutes not in timers:
        names = ", ".join(sorted(timers)) or "none saved yet"
        raise BadInputError(
            f"MINUTES: '{minutes}' is neither a length (20, 20m, 1h) nor a saved timer "
            f"({names})"
        )
    options = {k: timers[minutes].get(k) for k in TIMER_OPTIONS}
    if any(given.get(k) is not None for k in _BELL_OPTIONS):
        for k in _BELL_OPTIONS:
            options[k] = None
    for k in TIMER_OPTIONS[1:]:
        if given.get(k) is not None:
            options[k] = given[k]
    return options


def timer_from_options(options: dict, *, ambient: str | None = None,
                       ambient_level_db: float | None = None,
                       rng: random.Random | None = None) -> model.Script:
    """``timer_script`` from the command line's text options."""
    minutes = options.get("minutes")
    random_count = options.get("random")
    if random_count is not None and not isinstance(random_count, int):
        raise BadInputError("--random must be a whole number")
    return timer_script(
        parse_timer_length(str(minutes)) if minutes is not None else None,
        every_s=parse_every(options["every"]) if options.get("every") is not None else None,
        bells=parse_bell_times(options["bells"]) if options.get("bells") is not None else None,
        random_count=random_count,
        rng=rng,
        prepare_s=parse_prepare(options["prepare"]) if options.get("prepare") else 0.0,
        start_bell=options.get("start_bell"),
        end_bell=options.get("end_bell"),
        interval_bell=options.get("interval_bell"),
        ambient=ambient,
        ambient_level_db=ambient_level_db,
    )


def describe_timer(options: dict) -> str:
    """A short description of a timer's options, for messages."""
    parts = []
    minutes = options.get("minutes")
    parts.append(format_duration(parse_timer_length(str(minutes))) if minutes is not None
                 else "open-ended")
    labels = {"every": "bell every {}", "bells": "bells at {}", "random": "{} random bells",
              "prepare": "{} to prepare", "start_bell": "start: {}", "end_bell": "end: {}",
              "interval_bell": "interval: {}", "ambient": "with {}"}
    for key, label in labels.items():
        if options.get(key) is not None:
            parts.append(label.format(options[key]))
    return ", ".join(parts)


__all__ = [
    "BUILTIN_PATTERNS",
    "breathe_script",
    "parse_bell_times",
    "parse_every",
    "parse_prepare",
    "parse_timer_length",
    "ramp_pattern",
    "timer_bells",
    "timer_script",
]
