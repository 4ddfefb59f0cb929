"""Journal records (sessions, program runs, check-ins), the checks every stored value passes, and time parsing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from player.errors import BadInputError
from player.journal import rules

# Haven's own sources, then the apps `haven import` reads (``player.journal.apps``). Any short
# lowercase name is accepted (``source_ok``), so a newer Haven's export still imports.
SOURCES = ("played", "manual", "import", "insight-timer", "waking-up", "va-mindfulness-coach", "apple-health")
FIELDS = (
    "id",
    "exercise",
    "title",
    "category",
    "started_at",
    "ended_at",
    "utc_offset",
    "planned_s",
    "practiced_s",
    "completed",
    "source",
    "mood_before",
    "mood_after",
    "note",
    "created_at",
    "updated_at",
)
# What a session *is*; created_at/updated_at are bookkeeping and do not make two copies differ.
CONTENT_FIELDS = FIELDS[:-2]
# Ids imported from a file without ids are derived from the content, so re-import is idempotent.
_IMPORT_NAMESPACE = "6f1d3c4e-9a57-4b0e-8d7e-2f4a1c9b5e30"


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """One recorded session, as stored (see the spec's table for each field's meaning)."""

    id: str
    exercise: str
    title: str | None
    category: str | None
    started_at: str
    ended_at: str | None
    utc_offset: str
    planned_s: float | None
    practiced_s: float
    completed: bool
    source: str
    mood_before: int | None
    mood_after: int | None
    note: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "Session":
        values = dict(zip(FIELDS, row))
        values["completed"] = bool(values["completed"])
        return cls(**values)

    def to_record(self) -> dict[str, Any]:
        """The session as a plain dict with the export's keys (``FIELDS``)."""
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def local_start(self) -> datetime:
        """The start time in the local offset that was in force then."""
        tz = timezone(timedelta(minutes=rules.parse_offset(self.utc_offset)))
        return rules.parse_utc(self.started_at).astimezone(tz)

    def practice_day(self, day_starts_at: int) -> date:
        return rules.practice_day(
            rules.parse_utc(self.started_at), rules.parse_offset(self.utc_offset), day_starts_at
        )


@dataclass(frozen=True)
class ProgramRun:
    """A program as started: which one, from which practice day, and whether it was stopped."""

    id: int
    program: str
    title: str | None
    started_on: date
    stopped_at: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "ProgramRun":
        rid, program, title, started_on, stopped_at, created_at = row
        return cls(int(rid), program, title, date.fromisoformat(started_on), stopped_at, created_at)


@dataclass(frozen=True)
class CheckIn:
    """One program check-in: the mood rating (0-10) and note, either of which may be skipped."""

    run_id: int
    checkpoint: int
    answered_at: str
    utc_offset: str
    mood: int | None
    note: str | None
    # The other items (``CHECKIN_ITEMS``) that were rated: ((item, rating), ...), by item.
    ratings: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Reflection:
    """The answer to one week's reflection question (``note`` None: offered and skipped)."""

    run_id: int
    week: int
    answered_at: str
    utc_offset: str
    note: str | None


CHECKIN_ITEMS = ("anxiety", "relationships", "urges")  # rated beside the mood (player.care)


@dataclass(frozen=True)
class ImportResult:
    """What an import did: new sessions, ones already present, and id clashes left as they were."""

    added: int
    unchanged: int
    conflicts: tuple[str, ...]
    # The records added (or, for a dry run, that would be), in stored form, oldest first.
    new: tuple[dict[str, Any], ...] = ()
    dry_run: bool = False


# Practice days are counted from 1970 in SQL; nothing real is older, and 9999 is the limit.
_EARLIEST = datetime(1971, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9998, 12, 31, tzinfo=timezone.utc)


# --- time helpers (machine clock and zone; rules.py stays pure) --------------------------------


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def local_offset_at(instant: datetime) -> int:
    """The machine's local UTC offset (minutes) in force at ``instant`` (aware or naive local)."""
    return rules.offset_of(instant.astimezone())


def instant_and_offset(when: datetime, utc_offset: str | int | None) -> tuple[datetime, int]:
    """Resolve a start time: naive means local time of this machine; aware keeps its offset."""
    try:
        if when.tzinfo is None:
            when = when.astimezone()  # interpreted as local time, with the offset in force then
        instant = when.astimezone(timezone.utc)
    except (OverflowError, OSError, ValueError):  # year 1 or 9999 moved past the calendar's edge
        raise ValueError(f"the time {when:%Y-%m-%d %H:%M} is outside the years 1971 to 9998") from None
    if utc_offset is None:
        offset = rules.offset_of(when)
    elif isinstance(utc_offset, int):
        offset = utc_offset
    else:
        offset = rules.parse_offset(utc_offset)
    if not _EARLIEST <= instant <= _LATEST:
        raise ValueError(f"the time {when:%Y-%m-%d %H:%M} is outside the years 1971 to 9998")
    return instant, offset


def parse_local_time(text: str, now: datetime | None = None) -> datetime:
    """Parse ``--at`` values: ``2026-11-20 07:30``, ``2026-11-20T07:30``, ``07:30`` (today),
    ``yesterday 18:30`` or ``today 07:30``, or the first two with an explicit offset (``+01:00``). Without an offset the time is local to
    this machine, with the offset in force at that instant (so DST is right). Returns an aware
    datetime; raises ``BadInputError`` with the accepted forms.
    """
    s = text.strip()
    forms = ('"2026-11-20 07:30", "2026-11-20T07:30:00+01:00", "07:30" (today) or '
             '"yesterday 18:30"')
    try:
        word, _, rest = s.partition(" ")
        back = {"today": 0, "yesterday": 1}.get(word.lower())
        if back is not None and rest.strip():  # "yesterday 18:30", as `--on yesterday` reads
            s = rest.strip()
        else:
            back = 0
        if len(s) <= 5 and ":" in s:
            minutes = rules.parse_hhmm(s)
            base = (now or datetime.now().astimezone()).astimezone() - timedelta(days=back)
            naive = datetime(base.year, base.month, base.day, minutes // 60, minutes % 60)
            return naive.astimezone()
        if back:
            raise ValueError(s)
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise BadInputError(f"cannot read the time {text!r}; use {forms}") from None
    try:
        dt = dt if dt.tzinfo is not None else dt.astimezone()
        inside = _EARLIEST <= dt.astimezone(timezone.utc) <= _LATEST
    except (OverflowError, ValueError, OSError):  # year 1 or 9999 moved past the calendar's edge
        inside = False
    if not inside:
        raise BadInputError(
            f"the time {text!r} is outside the supported years {_EARLIEST.year} to {_LATEST.year}"
        )
    return dt


def parse_since(since: date | datetime | str | None, today_: date) -> date | datetime | None:
    if since is None or isinstance(since, (date, datetime)):
        return since
    s = since.strip().lower()
    first, last = _EARLIEST.date(), _LATEST.date()
    if s.endswith(("d", "w")) and s[:-1].isdigit():
        if len(s) > 12:  # more days than there are since 1971, and no huge-int parsing
            n = None
        else:
            n = int(s[:-1]) * (7 if s.endswith("w") else 1)
            if n < 1:
                raise BadInputError(f"--since {since!r}: give at least 1 day")
        most = (today_ - first).days + 1
        if n is None or n > most:
            raise BadInputError(
                f"--since {since!r}: the journal starts in {first.year}; give at most {most}d "
                f"(back to {first.isoformat()})"
            )
        return today_ - timedelta(days=n - 1)
    try:
        day = date.fromisoformat(s)
    except ValueError:
        raise BadInputError(
            f"--since {since!r}: use a date (2026-11-01) or a number of days or weeks (7d, 4w)"
        ) from None
    if not first <= day <= last:
        raise BadInputError(
            f"--since {since!r}: use a date from {first.isoformat()} to {last.isoformat()}"
        )
    return day


# --- validation ----------------------------------------------------------------------------


# Characters a stored text may not hold (those ``player.printable`` escapes): C0 and C1
# controls and DEL (NUL, ESC, BEL, ...: they would reach the terminal of whoever reads the
# journal), the bidirectional overrides that show text in another order than it is stored,
# the Unicode line separators, and lone surrogates (bytes that were not UTF-8, which SQLite
# cannot store). Notes keep tabs and line breaks.
_ODD_CHARS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def forbidden_char(text: str, multiline: bool = False) -> str | None:
    """The first character of ``text`` a stored text may not hold, or None."""
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0:
            if multiline and char in "\t\n":
                continue
            return char
        if char in _ODD_CHARS or 0xD800 <= code <= 0xDFFF:
            return char
    return None


def clean_typed_text(text: str) -> str:
    """Text typed at a prompt, without what a terminal's keys add: escape sequences (arrows:
    ``ESC [ D``) and other control characters are removed; stripped."""
    import re

    text = re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]", "", text)
    return "".join(c for c in text if forbidden_char(c, False) is None).strip()


def char_name(char: str) -> str:
    """``ESC (U+001B)`` or ``U+001F``: a character named for a message, never printed raw."""
    import unicodedata

    names = {0: "NUL", 7: "BEL", 8: "backspace", 9: "tab", 10: "line break", 13: "carriage return",
             27: "ESC", 127: "DEL"}
    code = ord(char)
    name = names.get(code) or unicodedata.name(char, "")
    return f"{name} (U+{code:04X})" if name else f"U+{code:04X}"


def check_text(
    name: str, value: Any, *, required: bool = False, limit: int = 10_000, multiline: bool = False
) -> str | None:
    """A stored text: stripped, at most ``limit`` characters, printable (``multiline``: tabs
    and line breaks allowed; CRLF and CR become LF)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    value = value.strip()
    if multiline:
        for line_break in ("\r\n", "\r", "\u2028", "\u2029"):
            value = value.replace(line_break, "\n")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    bad = forbidden_char(value, multiline)
    if bad is not None:
        where = value.index(bad) + 1
        if 0xD800 <= ord(bad) <= 0xDFFF:
            raise ValueError(f"{name} is not UTF-8 text (character {where} is a byte that is not)")
        allowed = "text, tabs and line breaks" if multiline else "text on one line"
        raise ValueError(
            f"{name} holds a control character, {char_name(bad)}, at character {where}; "
            f"it may hold only {allowed}"
        )
    return value


def check_seconds(name: str, value: Any, *, required: bool = False, unit: str = "seconds") -> float | None:
    """A length in ``unit`` (seconds, or minutes for imports that give ``minutes``), at most
    a week; returned in that unit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number of {unit}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of {unit}, not {_show(value)}") from None
    except OverflowError:  # an integer too large for a float: far more than a week
        seconds = math.inf
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name} must be 0 or more {unit}, not {_show(value)}")
    if math.isinf(seconds):
        raise ValueError(f"{name} is more than a week ({_show(value)})")
    week = 7 * 86400 if unit == "seconds" else 7 * 1440
    if seconds > week:
        raise ValueError(f"{name} is more than a week ({seconds:g} {'s' if unit == 'seconds' else 'min'})")
    return seconds


def check_mood(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number from 0 to 10")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number from 0 to 10, not {_show(value)}") from None
    if not number.is_integer() or not 0 <= number <= 10:
        raise ValueError(f"{name} must be a whole number from 0 to 10, not {_show(value)}")
    return int(number)


def _show(value: Any) -> str:
    """A value for an error message: its repr, shortened (a 5000-digit number stays one line)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a number of {len(str(abs(value))) if abs(value) < 10**4000 else 'thousands of'} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "…" + text[-5:]


def _check_bool(name: str, value: Any, default: bool) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false, not {_show(value)}")


def _check_instant(name: str, value: Any, *, required: bool = False) -> tuple[datetime, int | None] | None:
    """An ISO time → (UTC instant, its explicit non-UTC offset or None). Naive means local."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO-8601 time")
    s = value.strip()
    is_z = s.endswith(("Z", "z"))
    if is_z:
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{name} is not an ISO-8601 time: {_show(value)}") from None
    try:
        if dt.tzinfo is None:
            dt = dt.astimezone()
            return dt.astimezone(timezone.utc), rules.offset_of(dt)
        return dt.astimezone(timezone.utc), (None if is_z else rules.offset_of(dt))
    except (OverflowError, ValueError, OSError):  # year 1 or 9999 moved past the calendar's edge
        raise ValueError(
            f"{name} {_show(value)} is outside the years {_EARLIEST.year} to {_LATEST.year}"
        ) from None


def _check_id(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if (
        not isinstance(value, str) or len(value.strip()) > 100
        or any(c.isspace() for c in value.strip()) or forbidden_char(value, False) is not None
    ):
        raise ValueError(f"id must be text of at most 100 characters without spaces, not {_show(value)}")
    return value.strip()


def source_ok(source: str) -> bool:
    """Whether ``source`` is a valid source name (``SOURCE_CHECK`` in Python)."""
    import re

    return bool(re.fullmatch(r"[a-z][a-z0-9-]{0,39}", source))


def normalise_record(raw: Mapping[str, Any], now_text: str) -> dict[str, Any]:
    """Validate one imported record and return it in stored form (raises ``ValueError``).

    Missing ``utc_offset`` is taken from ``started_at``'s own offset, or else the machine's
    local offset then; missing ``id`` is derived from the content so re-import stays idempotent;
    missing ``source`` becomes ``import``. ``minutes`` is accepted instead of ``practiced_s``.
    Unknown keys (e.g. ``practice_day`` in ``haven log --json``) are ignored.
    """
    import uuid

    rec: dict[str, Any] = {}
    rec["exercise"] = check_text("exercise", raw.get("exercise"), required=True, limit=200)
    rec["title"] = check_text("title", raw.get("title"), limit=500)
    rec["category"] = check_text("category", raw.get("category"), limit=200)
    start = _check_instant("started_at", raw.get("started_at"), required=True)
    assert start is not None
    start_utc, own_offset = start
    offset_raw = raw.get("utc_offset")
    if offset_raw is None or (isinstance(offset_raw, str) and not offset_raw.strip()):
        offset = own_offset if own_offset is not None else local_offset_at(start_utc)
    else:
        if not isinstance(offset_raw, str):
            raise ValueError(f"utc_offset must be text like +01:00, not {_show(offset_raw)}")
        offset = rules.parse_offset(offset_raw)
    if not _EARLIEST <= start_utc <= _LATEST:
        raise ValueError(f"started_at {_show(raw.get('started_at'))} is outside the years 1971 to 9998")
    rec["started_at"] = rules.format_utc(start_utc)
    rec["utc_offset"] = rules.format_offset(offset)
    end = _check_instant("ended_at", raw.get("ended_at"))
    rec["ended_at"] = rules.format_utc(end[0]) if end else None
    if end and end[0] < start_utc:
        raise ValueError("ended_at is before started_at")
    rec["planned_s"] = check_seconds("planned_s", raw.get("planned_s"))
    practiced = raw.get("practiced_s")
    if (practiced is None or practiced == "") and raw.get("minutes") not in (None, ""):
        minutes = check_seconds("minutes", raw.get("minutes"), unit="minutes")
        practiced = None if minutes is None else minutes * 60.0
    rec["practiced_s"] = check_seconds("practiced_s", practiced, required=True)
    rec["completed"] = _check_bool("completed", raw.get("completed"), False)
    source = check_text("source", raw.get("source")) or "import"
    if not source_ok(source):
        raise ValueError(
            f"source must be a short lowercase name such as {', '.join(SOURCES[:4])}, not {_show(source)}"
        )
    rec["source"] = source
    rec["mood_before"] = check_mood("mood_before", raw.get("mood_before"))
    rec["mood_after"] = check_mood("mood_after", raw.get("mood_after"))
    rec["note"] = check_text("note", raw.get("note"), multiline=True)
    for name in ("created_at", "updated_at"):
        stamp = _check_instant(name, raw.get(name))
        rec[name] = rules.format_utc(stamp[0]) if stamp else now_text
    rec["id"] = _check_id(raw.get("id")) or str(
        uuid.uuid5(
            uuid.UUID(_IMPORT_NAMESPACE),
            f"{rec['exercise']}|{rec['started_at']}|{rec['utc_offset']}|{rec['practiced_s']!r}",
        )
    )
    return {name: rec[name] for name in FIELDS}
