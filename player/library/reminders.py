"""Reminders as an iCalendar file (RFC 5545) that any calendar app imports: ``haven remind``.

Two kinds:

* a recurring reminder: one VEVENT at a time of day, every day or on chosen weekdays
  (an RRULE), with a DISPLAY alarm a few minutes before;
* a running program's plan: one VEVENT per remaining practice day, naming that day's practice
  and the command that plays it, and one per remaining check-in.

Times are *floating* local times (``DTSTART:20261130T073000``, no ``TZID``): "07:30" means
07:30 wherever the calendar is, which is what a practice habit wants, and it needs no time
zone database in the file. ``DTSTAMP`` is UTC, as the RFC requires.

UIDs are stable: the same reminder (same title and days) or the same program practice gets
the same UID every time, so importing a newer file updates events instead of doubling them.

The text is built here, not by a library: CRLF line endings, lines folded at 75 octets without
splitting a UTF-8 character, TEXT values escaped. The tests read it with the ``icalendar``
library.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from player import __version__
from player.errors import BadInputError

PRODID = f"-//Haven//haven remind {__version__}//EN"
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # date.weekday() order
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_GROUPS = {
    "daily": tuple(range(7)),
    "everyday": tuple(range(7)),
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
}
DEFAULT_TITLE = "Time to practise"
DEFAULT_MINUTES = 10
MAX_BEFORE_MINUTES = 24 * 60


@dataclass(frozen=True)
class Event:
    """One calendar event at a floating local time."""

    uid: str
    start: datetime  # naive: floating local time
    minutes: float
    summary: str
    description: str
    rrule: str | None = None
    categories: tuple[str, ...] = field(default=("Haven",))
    practice: bool = False  # a program's practice day
    checkin: bool = False  # a program's check-in is due (on its own, or on a practice day)


# --- parsing the options ---------------------------------------------------------------------


def parse_time(text: str) -> time:
    """``--at``: ``07:30``, ``7:30`` or ``19:05`` (24-hour clock)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text or "")
    if m and int(m[1]) < 24 and int(m[2]) < 60:
        return time(int(m[1]), int(m[2]))
    raise BadInputError(f"--at must be a time of day like 07:30 or 19:05 (got '{text}')")


def parse_days(text: str | None) -> tuple[int, ...]:
    """``--days``: ``mon,tue,fri`` (names or their first two or three letters), or one of
    ``daily``, ``weekdays``, ``weekends``. Returns weekday numbers (Monday 0), sorted."""
    if text is None:
        return tuple(range(7))
    days: set[int] = set()
    for part in text.split(","):
        word = part.strip().lower()
        if word in DAY_GROUPS:
            days.update(DAY_GROUPS[word])
            continue
        full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        match = [i for i, name in enumerate(full) if len(word) >= 2 and name.startswith(word)]
        if len(match) != 1:
            raise BadInputError(
                f"--days takes weekdays like mon,tue,fri, or daily, weekdays or weekends "
                f"(got '{part.strip()}')"
            )
        days.add(match[0])
    return tuple(sorted(days))


def check_before(minutes: int) -> int:
    if not 0 <= minutes <= MAX_BEFORE_MINUTES:
        raise BadInputError(f"--before must be between 0 and {MAX_BEFORE_MINUTES} minutes")
    return minutes


def describe_days(days: tuple[int, ...]) -> str:
    if len(days) == 7:
        return "every day"
    if days == DAY_GROUPS["weekdays"]:
        return "on weekdays"
    if days == DAY_GROUPS["weekends"]:
        return "at weekends"
    return "on " + ", ".join(DAY_NAMES[d] for d in days)


# --- the events ------------------------------------------------------------------------------


def _uid(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:20]
    return f"{digest}@haven"


def recurring(at: time, days: tuple[int, ...], now: datetime, *, title: str = DEFAULT_TITLE,
              minutes: float = DEFAULT_MINUTES) -> Event:  # fmt: skip
    """A reminder at ``at`` on ``days``; the first is the next such day at or after ``now``
    (a local, naive time) whose time has not passed yet."""
    day = now.date()
    while day.weekday() not in days or (day == now.date() and at <= now.time()):
        day += timedelta(days=1)
    if len(days) == 7:
        rule = "FREQ=DAILY"
    else:
        rule = "FREQ=WEEKLY;BYDAY=" + ",".join(DAY_CODES[d] for d in days)
    return Event(
        uid=_uid("reminder", title, rule),
        start=datetime.combine(day, at),
        minutes=minutes,
        summary=title,
        description=(
            "A few minutes for yourself.\n"
            "Start with: haven today (when a program runs), or pick one with: haven list"
        ),
        rrule=rule,
    )


def play_command(exercise: str, minutes: float | None) -> str:
    fit = f" --minutes {minutes:g}" if minutes else ""
    return f"haven play {exercise}{fit}"


@dataclass(frozen=True)
class Planned:
    """A practice of a program on the day it is planned for."""

    day: date
    week: object  # player.library.programs.Week
    week_index: int
    index: int  # the practice's place in its week
    practice: object  # player.library.programs.Practice


def schedule(progress) -> list[Planned]:
    """The practices of a program not done yet (``progress``: ``player.library.programs.Progress``),
    each on its planned day: a week's remaining practices fall on its next days in order, one
    a day from today (from tomorrow once today's practice is done), as ``haven today`` would
    offer them; the week's other days are free, and practices that no longer fit in their
    week are left out."""
    p = progress
    first_free = p.today + timedelta(days=1) if p.done_today is not None else p.today
    out = []
    for w, week in enumerate(p.weeks):
        day = max(week.start, first_free)
        for i, (practice, done) in enumerate(zip(week.week.practices, week.done_on)):
            if done is not None:
                continue
            if day > week.end:
                break
            out.append(Planned(day, week.week, w, i, practice))
            day += timedelta(days=1)
    return out


def program_events(state, at: time) -> list[Event]:
    """The running program's remaining practice days (see :func:`schedule`) and check-ins,
    from ``state`` (``player.library.programs.ProgramState``) on its practice day
    ``state.progress.today``. A check-in on a practice day is named in that day's event, one
    on another day has its own event; one due already and not answered is offered today."""
    from player.library import programs

    p = state.progress
    program = state.program
    today = p.today
    base = (program.id, p.started_on.isoformat())
    answered = {c.checkpoint for c in state.checkins}
    checkins = {
        p.started_on + timedelta(days=c.day): c
        for c in programs.all_checkpoints(program)
        if c.number not in answered and p.started_on + timedelta(days=c.day) >= today
    }
    if state.checkin_due is not None:  # reached earlier, not answered: offered today
        checkins.setdefault(today, state.checkin_due)
    events: list[Event] = []
    for planned in schedule(p):
        checkin = checkins.pop(planned.day, None)
        events.append(_practice_event(program, planned.week, planned.practice, planned.day, at,
                                      base + (planned.week_index, planned.index), checkin))  # fmt: skip
    for day, checkin in sorted(checkins.items()):
        events.append(Event(
            uid=_uid(*base, "checkin", checkin.number),
            start=datetime.combine(day, at),
            minutes=5,
            summary=f"Haven check-in ({checkin.label})",
            description=(
                f"{program.title}: a check-in is due ({checkin.label}), a moment to notice how "
                "things have been.\nAnswer it with: haven today"
            ),
            checkin=True,
        ))  # fmt: skip
    return sorted(events, key=lambda e: (e.start, e.uid))


def _practice_event(program, week, practice, day: date, at: time, key: tuple, checkin) -> Event:
    lines = [
        f"{program.title}, week {week.number}: {week.title}.",
        f"Today's practice: {practice.label()}.",
        "Play it with: haven today",
        f"(or on its own: {play_command(practice.exercise, practice.minutes)})",
    ]
    if practice.is_choice:
        lines.insert(2, "Choose whichever you like: " + ", ".join(practice.exercises) + ".")
    if checkin is not None:
        lines.append(f"A check-in is due too ({checkin.label}); haven today asks it.")
    return Event(
        uid=_uid(*key),
        start=datetime.combine(day, at),
        minutes=practice.minutes or DEFAULT_MINUTES,
        summary=f"Haven: {practice.label()}",
        description="\n".join(lines),
        practice=True,
        checkin=checkin is not None,
    )


# --- iCalendar text --------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """An RFC 5545 TEXT value: backslash, semicolon, comma and newline escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\n", "\\n")
    return "".join(c for c in value if c == "\t" or ord(c) >= 0x20 and c != "\x7f")


def fold(line: str) -> str:
    """Fold a content line into pieces of at most 75 octets (CRLF and a space between them),
    never inside a UTF-8 character."""
    data = line.encode("utf-8")
    pieces, start, limit = [], 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: step back to the start
            end -= 1
        pieces.append(data[start:end])
        start, limit = end, 74  # the leading space of a continuation counts
    pieces.append(data[start:])
    return "\r\n ".join(p.decode("utf-8") for p in pieces)


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _duration(minutes: float) -> str:
    seconds = max(60, int(round(minutes * 60)))
    m, s = divmod(seconds, 60)
    return f"PT{m}M{s}S" if s else f"PT{m}M"


def calendar(events: list[Event], now: datetime, *, before: int = 5, name: str = "Haven") -> str:
    """The iCalendar file for ``events``; ``now`` (aware) is every event's DTSTAMP, and each
    has a DISPLAY alarm ``before`` minutes ahead."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    trigger = f"-PT{before}M" if before else "PT0S"
    for e in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{e.uid}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_local(e.start)}",
            f"DURATION:{_duration(e.minutes)}",
        ]
        if e.rrule:
            lines.append(f"RRULE:{e.rrule}")
        lines += [
            f"SUMMARY:{escape_text(e.summary)}",
            f"DESCRIPTION:{escape_text(e.description)}",
            "CATEGORIES:" + ",".join(escape_text(c) for c in e.categories),
            "TRANSP:TRANSPARENT",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{escape_text(e.summary)}",
            f"TRIGGER:{trigger}",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
