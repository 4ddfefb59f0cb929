"""The journal's counting rules, as pure functions over plain data (no storage, no clock).

Everything here follows ``shared/spec/practice-journal.md``: a session belongs to the practice
day of its local start (stored UTC instant + stored UTC offset − ``day_starts_at``); a day
counts when its practiced time reaches ``min_minutes``; the current streak is still alive
until today's practice day ends; weekly goal adherence is "N of 7 days" per week, and a run
of goal-meeting weeks is not reset by one missed day. ``streaks`` adds rest days and freezes
(the forgiving streak) on top of the plain ``current_streak`` and ``longest_streak``. Callers pass "now" explicitly so every
result is reproducible and testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Real offsets run from -12:00 to +14:00; a little slack costs nothing.
MAX_OFFSET_MIN = 14 * 60
# Past noon a "day start" would put afternoon sessions on the day before, which is never meant.
MAX_DAY_START_MIN = 12 * 60
# Floating sums of seconds (e.g. 0.1 + 0.2) must not miss the threshold by a rounding error.
_EPSILON_S = 1e-6

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Rules:
    """The user's counting rules (config ``journal.*``), in the units the functions use."""

    day_starts_at: int = 4 * 60  # minutes after local midnight
    min_minutes: float = 1.0
    goal_days_per_week: int = 5
    week_starts: int = 0  # date.weekday() of the first day of a week: 0 = Monday
    rest_days: frozenset[int] = frozenset()  # planned days off, as date.weekday() numbers
    freeze_every: int = 7  # one freeze earned for every this many counting days
    freeze_max: int = 2  # at most this many held at once (0: no freezes)

    def __post_init__(self) -> None:
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.rest_days):
            raise ValueError(f"rest_days must be weekdays 0..6: {sorted(self.rest_days)}")
        if not 1 <= self.freeze_every <= 365:
            raise ValueError(f"freeze_every must be 1..365: {self.freeze_every}")
        if not 0 <= self.freeze_max <= 10:
            raise ValueError(f"freeze_max must be 0..10: {self.freeze_max}")
        if not 0 <= self.day_starts_at <= MAX_DAY_START_MIN:
            raise ValueError(f"day_starts_at out of range: {self.day_starts_at} minutes")
        if not self.min_minutes >= 0:
            raise ValueError(f"min_minutes must be >= 0: {self.min_minutes}")
        if not 1 <= self.goal_days_per_week <= 7:
            raise ValueError(f"goal_days_per_week must be 1..7: {self.goal_days_per_week}")
        if not 0 <= self.week_starts <= 6:
            raise ValueError(f"week_starts must be 0..6: {self.week_starts}")


@dataclass(frozen=True)
class Run:
    """A run of consecutive days (or weeks): its length and first and last members."""

    length: int
    start: date | None
    end: date | None


@dataclass(frozen=True)
class Week:
    """Goal adherence of one week: ``days_counted`` of ``days_elapsed`` (7 once it is over)."""

    start: date
    days_counted: int
    days_elapsed: int
    goal: int
    met: bool
    over: bool  # the week has ended (only the current week is not over)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def still_possible(self) -> bool:
        """Whether the goal can still be met in the days left of this week."""
        return self.met or self.days_counted + (7 - self.days_elapsed) >= self.goal


# --- time values ---------------------------------------------------------------------------


def parse_offset(text: str) -> int:
    """``"+01:00"`` → 60 minutes; also accepts ``"Z"``, ``"+0100"`` and ``"+01"``."""
    s = text.strip()
    if s in ("Z", "z"):
        return 0
    if len(s) < 3 or s[0] not in "+-":
        raise ValueError(f"not a UTC offset: {text!r} (expected e.g. +01:00)")
    body = s[1:].replace(":", "")
    if not body.isdigit() or len(body) not in (2, 4):
        raise ValueError(f"not a UTC offset: {text!r} (expected e.g. +01:00)")
    hours, minutes = int(body[:2]), int(body[2:] or 0)
    if minutes >= 60:
        raise ValueError(f"not a UTC offset: {text!r} (minutes must be below 60)")
    total = hours * 60 + minutes
    if total > MAX_OFFSET_MIN:
        raise ValueError(f"UTC offset out of range: {text!r} (at most ±14:00)")
    return -total if s[0] == "-" else total


def format_offset(minutes: int) -> str:
    """60 → ``"+01:00"``, -330 → ``"-05:30"``: the form stored in the journal."""
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(int(minutes)), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def offset_of(dt: datetime) -> int:
    """The UTC offset of an aware datetime in whole minutes."""
    off = dt.utcoffset()
    if off is None:
        raise ValueError("datetime has no time zone")
    return int(off.total_seconds() // 60)


def parse_hhmm(text: str) -> int:
    """``"04:00"`` → 240 minutes after midnight."""
    s = str(text).strip()
    parts = s.split(":")
    if len(parts) != 2 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"not a time of day: {text!r} (expected HH:MM, e.g. 04:00)")
    hours, minutes = int(parts[0]), int(parts[1])
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time of day: {text!r} (expected HH:MM, e.g. 04:00)")
    return hours * 60 + minutes


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_utc(text: str) -> datetime:
    """Parse a stored ISO-8601 instant (``...Z`` or ``...+00:00``) into an aware UTC datetime."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"  # Python 3.10's fromisoformat does not accept "Z"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise ValueError(f"instant without a UTC offset: {text!r}")
    return dt.astimezone(timezone.utc)


def format_utc(dt: datetime) -> str:
    """An aware datetime as the stored form: UTC, whole seconds, ``Z`` suffix."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: a stored instant needs a time zone")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def weekday_index(name: str) -> int:
    """``"monday"`` → 0 … ``"sunday"`` → 6 (case-insensitive)."""
    try:
        return WEEKDAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"not a weekday: {name!r}") from None


# --- days ----------------------------------------------------------------------------------


def practice_day(start_utc: datetime, utc_offset_min: int, day_starts_at: int) -> date:
    """The practice day of a session: local start time minus the day-start hour, as a date.

    With ``day_starts_at`` = 04:00 a session begun at 00:40 local time belongs to the day
    before. The offset is the one stored with the session, so travel and DST never move old
    sessions to another day.
    """
    return (start_utc + timedelta(minutes=utc_offset_min - day_starts_at)).date()


def today(now: datetime, day_starts_at: int) -> date:
    """The practice day that contains ``now`` (an aware datetime in the machine's local zone)."""
    return practice_day(now.astimezone(timezone.utc), offset_of(now), day_starts_at)


def day_end(day: date, utc_offset_min: int, day_starts_at: int) -> datetime:
    """When practice day ``day`` ends, as an aware datetime at the given offset."""
    tz = timezone(timedelta(minutes=utc_offset_min))
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    return midnight + _ONE_DAY + timedelta(minutes=day_starts_at)


def day_totals(
    sessions: Iterable[tuple[datetime, int, float]], day_starts_at: int
) -> dict[date, float]:
    """Practiced seconds per practice day from ``(start_utc, utc_offset_min, practiced_s)``.

    Every session appears in its day, even with zero seconds, so "a day with a session" is
    distinguishable from "no session" when ``min_minutes`` is 0.
    """
    totals: dict[date, float] = {}
    shift_cache: dict[int, timedelta] = {}
    for start_utc, offset_min, practiced_s in sessions:
        shift = shift_cache.get(offset_min)
        if shift is None:
            shift = shift_cache[offset_min] = timedelta(minutes=offset_min - day_starts_at)
        day = (start_utc + shift).date()
        totals[day] = totals.get(day, 0.0) + max(0.0, float(practiced_s))
    return totals


def counting_days(totals: Mapping[date, float], min_minutes: float) -> set[date]:
    """The days whose practiced time reaches ``min_minutes``."""
    threshold = min_minutes * 60.0 - _EPSILON_S
    return {day for day, seconds in totals.items() if seconds >= threshold}


def day_counts(seconds: float, min_minutes: float) -> bool:
    """Whether a day with ``seconds`` of practice counts (the same test as ``counting_days``)."""
    return seconds >= min_minutes * 60.0 - _EPSILON_S


# --- streaks -------------------------------------------------------------------------------


def current_streak(counting: set[date] | frozenset[date], today_: date) -> Run:
    """Consecutive counting days ending today, or ending yesterday if today does not count yet.

    The streak stays alive until today's practice day ends: at 07:00 a run that ended
    yesterday is still the current streak. Days after ``today_`` (clock changes, travel) are
    ignored.
    """
    end = today_ if today_ in counting else today_ - _ONE_DAY
    if end not in counting:
        return Run(0, None, None)
    day = end
    length = 0
    while day in counting:
        length += 1
        day -= _ONE_DAY
    return Run(length, day + _ONE_DAY, end)


def longest_streak(counting: Iterable[date]) -> Run:
    """The longest run of consecutive counting days in all history (earliest one on ties)."""
    best = Run(0, None, None)
    run_start: date | None = None
    prev: date | None = None
    length = 0
    for day in sorted(set(counting)):
        if prev is not None and day - prev == _ONE_DAY:
            length += 1
        else:
            run_start, length = day, 1
        if length > best.length:
            best = Run(length, run_start, day)
        prev = day
    return best


# --- forgiving streaks: rest days and freezes ----------------------------------------------------


@dataclass(frozen=True)
class Streaks:
    """Streaks with rest days and freezes (the spec's "Streaks and goals").

    A run is consecutive days each of which counts, is a rest day, or is covered by a freeze;
    only counting days add to its length, and ``start``/``end`` are its first and last
    counting days. ``frozen`` lists every day a freeze covered, oldest first;
    ``current_frozen`` and ``current_rest`` those inside the current run.
    """

    current: Run
    longest: Run
    held: int
    next_in: int | None  # counting days until the next freeze (None: all held, or none at all)
    frozen: tuple[date, ...]
    current_frozen: tuple[date, ...]
    current_rest: tuple[date, ...]


def open_days(first: date, last: date, rest: frozenset[int]) -> int:
    """How many days from ``first`` to ``last`` (inclusive) are not rest days."""
    n = (last - first).days + 1
    if n <= 0:
        return 0
    full, extra = divmod(n, 7)
    wd = first.weekday()
    return full * (7 - len(rest)) + sum((wd + i) % 7 not in rest for i in range(extra))


def _missed(first: date, last: date, rest: frozenset[int], at_most: int) -> list[date]:
    """The first ``at_most`` days from ``first`` to ``last`` that are not rest days."""
    found: list[date] = []
    day = first
    while day <= last and len(found) < at_most:
        if day.weekday() not in rest:
            found.append(day)
        day += _ONE_DAY
    return found


def _rest_between(first: date, last: date, rest: frozenset[int]) -> list[date]:
    if not rest or len(rest) == 7 and (last - first).days > 366:
        return []  # every day a rest day: no streak would ever break; list no year-long gap
    return [first + timedelta(days=i) for i in range((last - first).days + 1)
            if (first + timedelta(days=i)).weekday() in rest]


@dataclass
class _Walk:
    """The walk through history that earns and uses freezes.

    Freezes are kept as one number, ``credit``: every counting day adds 1 (up to
    ``freeze_max × freeze_every``), a freeze is ``freeze_every`` of it, and a covered day takes
    one freeze off, and a run that ends starts again from 0. Each step only ever keeps a
    larger credit larger, which is what makes "more practice never shortens a streak" hold
    (a count of counting days modulo ``freeze_every``, or progress kept over a break, would
    let deleting a day bring the next freeze earlier).
    """

    rules: Rules
    credit: int = 0
    frozen: list[date] = field(default_factory=list)
    # (counting days, first, last counting day, days frozen in it, rest days in it)
    runs: list[tuple[int, date, date, list[date], list[date]]] = field(default_factory=list)

    def gap(self, first: date, last: date) -> bool:
        """Days ``first``..``last`` without counting practice, all reached: does the run
        survive them? Freezes are used on the missed days either way, while any are held."""
        rest = self.rules.rest_days
        missed = open_days(first, last, rest)
        used = _missed(first, last, rest, min(missed, self.held))
        self.credit -= len(used) * self.rules.freeze_every
        self.frozen.extend(used)
        if missed > len(used):
            self.credit = 0  # the run ends, and with it the way to the next freeze
            return False
        run = self.runs[-1]
        run[3].extend(used)
        run[4].extend(_rest_between(first, last, rest))
        return True

    @property
    def held(self) -> int:
        return self.credit // self.rules.freeze_every

    @property
    def full(self) -> int:
        return self.rules.freeze_max * self.rules.freeze_every

    def count(self, day: date) -> None:
        self.credit = min(self.credit + 1, self.full)

    def walk(self, days: list[date]) -> None:
        prev: date | None = None
        for day in days:
            if prev is not None and not (day - prev == _ONE_DAY or self.gap(prev + _ONE_DAY, day - _ONE_DAY)):
                prev = None
            if prev is None:
                self.runs.append((0, day, day, [], []))
            length, start, _, frozen, rest = self.runs[-1]
            self.runs[-1] = (length + 1, start, day, frozen, rest)
            self.count(day)
            prev = day


def streaks(counting: set[date] | frozenset[date], today_: date, rules: Rules) -> Streaks:
    """Current and longest streak with rest days and freezes, and the freezes held today.

    Freezes are derived from the history each time (never stored): one is earned for every
    ``freeze_every`` counting days, at most ``freeze_max`` held (while all are held, counting
    days earn nothing more); a missed day that is not a rest day uses one once the following
    day is reached (so today, still open, never does), and a run that meets a missed day with
    no freeze left ends; the next run earns its freezes afresh.
    Without rest days and with ``freeze_max = 0`` the result equals ``current_streak`` and
    ``longest_streak``.
    """
    past = sorted(d for d in counting if d <= today_)
    walk = _Walk(rules)
    walk.walk(past)
    current = Run(0, None, None)
    current_frozen: tuple[date, ...] = ()
    current_rest: tuple[date, ...] = ()
    if past:
        last = past[-1]
        alive = last >= today_ - _ONE_DAY or walk.gap(last + _ONE_DAY, today_ - _ONE_DAY)
        if alive:
            length, start, end, frozen, rest = walk.runs[-1]
            current = Run(length, start, end)
            current_frozen = tuple(frozen)
            current_rest = tuple(d for d in rest if d < today_)
            if today_ not in counting and today_.weekday() in rules.rest_days:
                current_rest += (today_,)
    future = sorted(d for d in counting if d > today_)
    runs = walk.runs
    if future:  # clock changes or travel: counted for the longest streak as before
        whole = _Walk(rules)
        whole.walk(past + future)
        runs = whole.runs
    longest = Run(0, None, None)
    for length, start, end, _, _ in runs:
        if length > longest.length:
            longest = Run(length, start, end)
    next_in = None
    if walk.credit < walk.full:
        next_in = rules.freeze_every - walk.credit % rules.freeze_every
    return Streaks(current, longest, walk.held, next_in, tuple(walk.frozen), current_frozen, current_rest)


# --- weeks and the weekly goal ---------------------------------------------------------------


def week_start(day: date, week_starts: int) -> date:
    """The first day of the week containing ``day`` (``week_starts`` as in ``date.weekday()``)."""
    return day - timedelta(days=(day.weekday() - week_starts) % 7)


def week(counting: set[date] | frozenset[date], start: date, today_: date, goal: int) -> Week:
    """Adherence of the week beginning ``start`` as seen on ``today_``."""
    elapsed = max(0, min(7, (today_ - start).days + 1))
    counted = sum(1 for i in range(elapsed) if start + timedelta(days=i) in counting)
    return Week(start, counted, elapsed, goal, counted >= goal, elapsed == 7 and today_ > start + timedelta(days=6))


def recent_weeks(
    counting: set[date] | frozenset[date], today_: date, rules: Rules, count: int
) -> list[Week]:
    """The last ``count`` weeks, oldest first, ending with the current (unfinished) week."""
    this = week_start(today_, rules.week_starts)
    starts = [this - timedelta(weeks=i) for i in range(count - 1, -1, -1)]
    return [week(counting, s, today_, rules.goal_days_per_week) for s in starts]


def _met_week_starts(counting: Iterable[date], today_: date, rules: Rules) -> set[date]:
    per_week: dict[date, int] = {}
    for day in counting:
        if day <= today_:
            ws = week_start(day, rules.week_starts)
            per_week[ws] = per_week.get(ws, 0) + 1
    return {ws for ws, n in per_week.items() if n >= rules.goal_days_per_week}


def goal_week_runs(counting: Iterable[date], today_: date, rules: Rules) -> tuple[Run, Run]:
    """``(current, longest)`` runs of consecutive weeks that met the weekly goal.

    The current week joins the run once it meets the goal; until it ends it never breaks the
    run (the same "alive until it ends" rule as for days), so one missed day is not a reset.
    Runs are given by the first days of their first and last weeks.
    """
    met = _met_week_starts(counting, today_, rules)
    seven = timedelta(weeks=1)
    this = week_start(today_, rules.week_starts)
    end = this if this in met else this - seven
    if end in met:
        ws, length = end, 0
        while ws in met:
            length += 1
            ws -= seven
        current = Run(length, ws + seven, end)
    else:
        current = Run(0, None, None)

    longest = Run(0, None, None)
    prev: date | None = None
    run_start: date | None = None
    length = 0
    for ws in sorted(met):
        if prev is not None and ws - prev == seven:
            length += 1
        else:
            run_start, length = ws, 1
        if length > longest.length:
            longest = Run(length, run_start, ws)
        prev = ws
    return current, longest
