"""The practice journal on disk: one SQLite database, safe for several writers at once.

Why it is built this way:

- WAL mode, ``synchronous = FULL`` and a ``BEGIN IMMEDIATE`` transaction for every write: a
  write that returned is on disk, a process killed mid-write leaves the previous state, and
  writers from several processes queue (``busy_timeout``) instead of failing or overwriting.
- Every session has a random UUID id given when it is created, so concurrent writers never
  collide and an exported file imported twice adds nothing the second time.
- The file carries ``PRAGMA application_id`` (HVNJ). Before SQLite touches a file, its header
  is read: anything that is not an SQLite database, or is another program's database, gives
  a clear ``JournalError`` and is never written to.
- Schema changes are numbered migrations in ``MIGRATIONS``, each recorded in the
  ``schema_migrations`` table and in ``PRAGMA user_version``. Before a migration that rewrites
  existing rows, a backup copy is made with SQLite's backup API.
- The file is created 0600 in a 0700 folder (SQLite gives its -wal/-shm files the same mode):
  notes and mood ratings are health data.
- What is at the journal's path is checked before SQLite opens it: a named pipe (which would
  block SQLite for ever), a folder or a device link gives one clear line. Reading commands
  open with ``readonly=True``: nothing is created before the first session, and a read-only
  ``HAVEN_HOME`` is read in place; writes there fail with one line naming the path and fix.
- After an unclean shutdown (a ``-wal`` file left behind) ``PRAGMA quick_check`` runs on open
  (about 15 ms for 20,000 sessions); damage is reported with the fix, never written over.
- Stored text holds no control characters (notes: tabs and line breaks) and CSV exports are
  escaped against spreadsheet formulas; the import of Haven's own CSV undoes exactly that.

Times are stored as UTC instants (``2026-11-20T07:30:00Z``, whole seconds) with the local
offset in force when the session started (``+01:00``); see ``rules.practice_day``.
"""

from __future__ import annotations

import errno
import math
import os
import sqlite3
import stat
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from player import paths
from player.errors import BadInputError, JournalError, NotFoundError
from player.journal import rules

APPLICATION_ID = 0x48564E4A  # "HVNJ": marks a SQLite file as a Haven journal
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process before giving up

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
EXPORT_FORMAT = "haven-journal"
EXPORT_VERSION = 1
MIN_ID_PREFIX = 4
# Ids imported from a file without ids are derived from the content, so re-import is idempotent.
_IMPORT_NAMESPACE = "6f1d3c4e-9a57-4b0e-8d7e-2f4a1c9b5e30"

_COLUMNS = ", ".join(FIELDS)
# rules.practice_day in SQL, as days since 1970-01-01: local start minus the day start (:ds).
_PRACTICE_DAY_SQL = "(local_start_min - :ds) / 1440"

@dataclass(frozen=True)
class Migration:
    """One numbered schema step. ``rewrites_data`` makes a backup copy happen first."""

    version: int
    name: str
    statements: tuple[str, ...]
    rewrites_data: bool = False


# Where a session came from: Haven itself (played, manual, import) or another app it was
# imported from (insight-timer, apple-health, ...): a short lowercase name.
SOURCE_CHECK_V1 = "source IN ('played', 'manual', 'import')"
SOURCE_CHECK = (
    "source GLOB '[a-z]*' AND source NOT GLOB '*[^a-z0-9-]*' AND length(source) <= 40"
)


def _sessions_ddl(table: str, source_check: str) -> str:
    return f"""
            CREATE TABLE {table} (
                id          TEXT PRIMARY KEY NOT NULL,
                exercise    TEXT NOT NULL CHECK (length(exercise) > 0),
                title       TEXT,
                category    TEXT,
                started_at  TEXT NOT NULL,
                ended_at    TEXT,
                utc_offset  TEXT NOT NULL,
                planned_s   REAL CHECK (planned_s IS NULL OR planned_s >= 0),
                practiced_s REAL NOT NULL DEFAULT 0 CHECK (practiced_s >= 0),
                completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
                source      TEXT NOT NULL CHECK ({source_check}),
                mood_before INTEGER CHECK (mood_before IS NULL OR mood_before BETWEEN 0 AND 10),
                mood_after  INTEGER CHECK (mood_after IS NULL OR mood_after BETWEEN 0 AND 10),
                note        TEXT,
                created_at  TEXT NOT NULL,
                updated_at  TEXT NOT NULL,
                -- Local start in minutes since 1970 (UTC start + stored offset), kept by SQLite
                -- itself, so reports group 20,000 sessions by practice day in integer arithmetic.
                local_start_min INTEGER GENERATED ALWAYS AS (
                    CAST(strftime('%s', started_at) AS INTEGER) / 60
                    + (CASE substr(utc_offset, 1, 1) WHEN '-' THEN -1 ELSE 1 END)
                    * (CAST(substr(utc_offset, 2, 2) AS INTEGER) * 60
                       + CAST(substr(utc_offset, 5, 2) AS INTEGER))
                ) STORED
            )
            """


_SESSION_INDEXES = (
    # `haven log` pages newest first and `--since` bounds by start time.
    "CREATE INDEX sessions_by_start ON sessions (started_at)",
    # Covering indexes for the reports, so 20,000 sessions summarise in a few ms: per
    # practice day, per exercise, and the sessions rated before and after.
    "CREATE INDEX sessions_by_day ON sessions (local_start_min, practiced_s, completed)",
    "CREATE INDEX sessions_by_exercise ON sessions "
    "(category, exercise, started_at, title, practiced_s, completed)",
    "CREATE INDEX sessions_rated ON sessions (local_start_min, mood_before, mood_after) "
    "WHERE mood_before IS NOT NULL AND mood_after IS NOT NULL",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create sessions",
        (_sessions_ddl("sessions", SOURCE_CHECK_V1), *_SESSION_INDEXES),
    ),
    Migration(
        2,
        "create program runs and check-ins",
        (
            # One row per program started (``haven program start``); kept after it is stopped
            # so its check-ins keep their context. Progress is not stored: it is counted from
            # the sessions each time, so editing the journal corrects it.
            """
            CREATE TABLE program_runs (
                id          INTEGER PRIMARY KEY,
                program     TEXT NOT NULL CHECK (length(program) > 0),
                title       TEXT,
                started_on  TEXT NOT NULL CHECK (date(started_on) IS started_on),
                stopped_at  TEXT,
                created_at  TEXT NOT NULL
            )
            """,
            # At most one program runs at a time, held by SQLite itself against racing starts.
            "CREATE UNIQUE INDEX program_runs_one_running ON program_runs ((stopped_at IS NULL)) "
            "WHERE stopped_at IS NULL",
            # The two-weekly check-in of a run (0 = at the start); a skipped one has no mood and
            # no note, and is kept so it is not offered again.
            """
            CREATE TABLE program_checkins (
                run_id      INTEGER NOT NULL REFERENCES program_runs (id),
                checkpoint  INTEGER NOT NULL CHECK (checkpoint >= 0),
                answered_at TEXT NOT NULL,
                utc_offset  TEXT NOT NULL,
                mood        INTEGER CHECK (mood IS NULL OR mood BETWEEN 0 AND 10),
                note        TEXT,
                PRIMARY KEY (run_id, checkpoint)
            )
            """,
        ),
    ),
    Migration(
        3,
        "create check-in items and week reflections",
        (
            # A check-in's other 0-10 items (``CHECKIN_ITEMS``; the mood stays in
            # program_checkins.mood); a skipped item has no row.
            """
            CREATE TABLE program_checkin_items (
                run_id      INTEGER NOT NULL,
                checkpoint  INTEGER NOT NULL,
                item        TEXT NOT NULL CHECK (item IN ('anxiety', 'relationships', 'urges')),
                rating      INTEGER NOT NULL CHECK (rating BETWEEN 0 AND 10),
                PRIMARY KEY (run_id, checkpoint, item),
                FOREIGN KEY (run_id, checkpoint) REFERENCES program_checkins (run_id, checkpoint)
            )
            """,
            # The answer to a week's reflection question (``haven today``, once the week is
            # over); a skipped one has no note and is kept so it is not asked again.
            """
            CREATE TABLE program_reflections (
                run_id      INTEGER NOT NULL REFERENCES program_runs (id),
                week        INTEGER NOT NULL CHECK (week >= 1),
                answered_at TEXT NOT NULL,
                utc_offset  TEXT NOT NULL,
                note        TEXT,
                PRIMARY KEY (run_id, week)
            )
            """,
        ),
    ),
    Migration(
        4,
        "sessions keep the app they were imported from",
        # SQLite cannot change a CHECK constraint in place: the table is rebuilt (SQLite's
        # documented procedure), so a backup is made first.
        (
            _sessions_ddl("sessions_v4", SOURCE_CHECK),
            f"INSERT INTO sessions_v4 ({', '.join(FIELDS)}) SELECT {', '.join(FIELDS)} FROM sessions",
            "DROP TABLE sessions",
            "ALTER TABLE sessions_v4 RENAME TO sessions",
            *_SESSION_INDEXES,
        ),
        rewrites_data=True,
    ),
)

_SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


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
_RUN_COLUMNS = "id, program, title, started_on, stopped_at, created_at"
_CHECKIN_COLUMNS = "run_id, checkpoint, answered_at, utc_offset, mood, note"


@dataclass(frozen=True)
class ImportResult:
    """What an import did: new sessions, ones already present, and id clashes left as they were."""

    added: int
    unchanged: int
    conflicts: tuple[str, ...]
    # The records added (or, for a dry run, that would be), in stored form, oldest first.
    new: tuple[dict[str, Any], ...] = ()
    dry_run: bool = False


_UNSET: Any = object()


# Practice days are counted from 1970 in SQL; nothing real is older, and 9999 is the limit.
_EARLIEST = datetime(1971, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9998, 12, 31, tzinfo=timezone.utc)


def _new_id() -> str:
    """A fresh random session id (uuid4): unique across processes without coordination."""
    import uuid  # imported here: only writers need it, and `haven stats` should start fast

    return str(uuid.uuid4())


# --- time helpers (machine clock and zone; rules.py stays pure) --------------------------------


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def local_offset_at(instant: datetime) -> int:
    """The machine's local UTC offset (minutes) in force at ``instant`` (aware or naive local)."""
    return rules.offset_of(instant.astimezone())


def _instant_and_offset(when: datetime, utc_offset: str | int | None) -> tuple[datetime, int]:
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


def _parse_since(since: date | datetime | str | None, today_: date) -> date | datetime | None:
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


def _check_text(
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


def _check_seconds(name: str, value: Any, *, required: bool = False, unit: str = "seconds") -> float | None:
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


def _check_mood(name: str, value: Any) -> int | None:
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
    rec["exercise"] = _check_text("exercise", raw.get("exercise"), required=True, limit=200)
    rec["title"] = _check_text("title", raw.get("title"), limit=500)
    rec["category"] = _check_text("category", raw.get("category"), limit=200)
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
    rec["planned_s"] = _check_seconds("planned_s", raw.get("planned_s"))
    practiced = raw.get("practiced_s")
    if (practiced is None or practiced == "") and raw.get("minutes") not in (None, ""):
        minutes = _check_seconds("minutes", raw.get("minutes"), unit="minutes")
        practiced = None if minutes is None else minutes * 60.0
    rec["practiced_s"] = _check_seconds("practiced_s", practiced, required=True)
    rec["completed"] = _check_bool("completed", raw.get("completed"), False)
    source = _check_text("source", raw.get("source")) or "import"
    if not source_ok(source):
        raise ValueError(
            f"source must be a short lowercase name such as {', '.join(SOURCES[:4])}, not {_show(source)}"
        )
    rec["source"] = source
    rec["mood_before"] = _check_mood("mood_before", raw.get("mood_before"))
    rec["mood_after"] = _check_mood("mood_after", raw.get("mood_after"))
    rec["note"] = _check_text("note", raw.get("note"), multiline=True)
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


# --- opening ---------------------------------------------------------------------------------


def _file_uri(path: Path) -> str:
    """A ``file:`` URI for SQLite; only the characters that URIs treat specially are escaped."""
    text = os.fspath(Path(path).absolute())
    for char, code in (("%", "%25"), ("?", "%3f"), ("#", "%23")):
        text = text.replace(char, code)
    return "file:" + text


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            _file_uri(path) + "?mode=rw",  # never let SQLite create a file
            uri=True,
            isolation_level=None,  # transactions are explicit (BEGIN IMMEDIATE)
            timeout=BUSY_TIMEOUT_S,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from None
    return conn


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL (a no-op once it is). Leaving rollback mode needs a moment of exclusive
    access that SQLite does not wait for, so retry while other processes hold the file."""
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            if mode == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            mode = "busy"
        if time.monotonic() > deadline:
            raise JournalError(f"cannot switch the journal {path} to WAL mode ({mode}); try again")
        time.sleep(0.005)


class _ReadOnlyConnection(sqlite3.Connection):
    immutable = False


def _connect_read_only(path: Path) -> _ReadOnlyConnection:
    """A read-only connection. A WAL journal opens read-only while SQLite can use its -shm
    file (the folder is writable, or another Haven has it open); otherwise, in a read-only
    folder, the file is read as it stands (``immutable``), which holds every change unless an
    interrupted session left some in the -wal file (the caller checks)."""
    uri = _file_uri(path)
    options = dict(uri=True, isolation_level=None, check_same_thread=False, factory=_ReadOnlyConnection)
    try:
        conn = sqlite3.connect(uri + "?mode=ro", timeout=BUSY_TIMEOUT_S, **options)
    except sqlite3.Error:
        conn = None
    try:
        if conn is not None:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
    except sqlite3.OperationalError:
        conn.close()
    conn = sqlite3.connect(uri + "?mode=ro&immutable=1", **options)
    conn.immutable = True
    return conn


def _wal_left(path: Path) -> bool:
    """Whether a non-empty ``-wal`` file lies beside the journal: an unclean shutdown (the
    last connection to close removes it), or another Haven has the journal open."""
    try:
        return os.stat(path.with_name(path.name + "-wal")).st_size > 0
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    """Make a new directory entry durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse(path: Path, why: str) -> JournalError:
    return JournalError(
        f"{path} is not a Haven journal: {why}. It was left untouched; "
        "move it aside to start a new journal, or restore a backup in its place",
    )


def _not_a_file(path: Path, mode: int) -> JournalError:
    from player.files import kind_of

    what = kind_of(mode)
    if os.path.islink(path):
        what = f"a link to {os.readlink(path)}, {what}"
    return JournalError(
        f"the journal {path} is {what}, not a file. It was left untouched; move it "
        "aside (Haven then starts a new journal), or put the journal file in its place"
    )


def _stat_journal(path: Path) -> os.stat_result | None:
    """What is at the journal's path (links followed), without opening it; None if nothing.

    Anything but a regular file is refused before SQLite sees it: SQLite would block for ever
    opening a named pipe, and a folder or a device is never a journal.
    """
    from player.files import FileAccessError

    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise JournalError(
                f"the journal {path} is a link to {os.readlink(path)}, which does not exist; "
                "restore the file it points to, or remove the link to start a new journal"
            ) from None
        return None
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, path, doing="read") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_file(path, st.st_mode)
    return st


def _unwritable(path: Path) -> OSError | None:
    """Why the journal (which exists) cannot be written, as an ``OSError``; None if it can.

    Checked before SQLite opens it, so a read-only ``HAVEN_HOME`` gives a reason (the file
    system is read-only, permission denied) instead of SQLite's "unable to open".
    """
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)))
    except OSError as exc:
        return exc
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):  # SQLite makes its -wal and -shm files here
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        code = errno.EROFS if read_only else errno.EACCES
        return OSError(code, os.strerror(code), os.fspath(folder))
    return None


def _backups(path: Path) -> list[Path]:
    """The automatic backups the migrations made beside the journal, newest first."""
    try:
        found = [p for p in path.parent.glob(f"{path.name}.backup-*") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def damage_fix(path: Path) -> str:
    """What to do about a damaged journal: restore the newest automatic backup, or rescue
    what is readable with ``haven export``."""
    rescue = "save what is still readable with 'haven export -o rescue.json', move the journal aside and 'haven import rescue.json'"
    backups = _backups(path)
    if backups:
        return f"restore the automatic backup {backups[0]} (copy it over the journal), or {rescue}"
    return rescue[0].upper() + rescue[1:]


def _damaged(path: Path, detail: str) -> JournalError:
    return JournalError(f"the journal {path} is damaged ({detail}). It was left as it is: {damage_fix(path)}")


def quick_check(conn: sqlite3.Connection) -> str | None:
    """SQLite's ``PRAGMA quick_check`` (about 15 ms for 20,000 sessions): None when the file
    is sound, else the first problem it found."""
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
    if not problems:
        return None
    # One line: SQLite heads its report with "*** in database main ***" and a line break.
    lines = [ln.strip() for p in problems for ln in p.splitlines() if ln.strip() and not ln.startswith("***")]
    detail = "; ".join(lines[:2]) or "the check failed"
    return detail if len(detail) <= 200 else detail[:200] + "…"


def verify(path: str | os.PathLike[str] | None = None) -> tuple[bool, str, str | None]:
    """Check the journal without changing it (``haven doctor``): ``(ok, detail, fix)``.

    A regular file, a Haven journal by its header, readable, and sound by SQLite's quick
    check. A missing journal is fine (it is made at the first session).
    """
    from player.files import FileAccessError

    path = paths.journal_path() if path is None else Path(path)
    try:
        if _stat_journal(path) is None:
            return True, f"{path} (not created yet: the first session makes it)", None
        if _inspect_header(path) == "blank":
            return True, f"{path} (empty: the next session sets it up)", None
    except (JournalError, FileAccessError) as exc:
        return False, str(exc), None
    conn = None
    try:
        # Only reads either way; a read-write connection, where allowed, tidies SQLite's -wal
        # and -shm files away when it closes, as every other Haven command does.
        conn = _connect(path) if _unwritable(path) is None else _connect_read_only(path)
        detail = quick_check(conn)
        if detail is not None:
            return False, f"{path} is damaged ({detail})", damage_fix(path)
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    except sqlite3.Error as exc:
        text = str(exc)
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return False, f"{path} is damaged ({text})", damage_fix(path)
        return False, f"{path} cannot be read ({text})", None
    finally:
        if conn is not None:
            conn.close()
    return True, f"{path} ({sessions} session{'s' if sessions != 1 else ''}; quick check passed)", None


def _inspect_header(path: Path) -> str:
    """Classify a file from its first 100 bytes without letting SQLite near it.

    Returns ``"blank"`` (empty: safe to initialise) or ``"haven"``; anything else raises.
    The file is opened without blocking and must be a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        from player.files import FileAccessError

        raise FileAccessError.from_os_error(exc, path, doing="read") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode)
        head = os.read(fd, 100)
    except OSError as exc:
        from player.files import FileAccessError

        raise FileAccessError.from_os_error(exc, path, doing="read") from None
    finally:
        os.close(fd)
    if not head:
        return "blank"
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise _refuse(path, "it is not an SQLite database (the file may be damaged)")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id != APPLICATION_ID:
        raise _refuse(path, f"it is another program's SQLite database (application id {app_id:#x})")
    return "haven"


class Journal:
    """An open practice journal. Safe to share between threads of one process.

    Open with ``Journal.open()`` (the user's journal) or ``Journal.open(path)``; use as a
    context manager or call ``close()``. Every method that writes commits before returning,
    so a session whose call returned survives a crash of the process the next moment.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime]):
        self._conn = conn
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        # Set when opened for reading only: why a write cannot happen (an OSError), or True.
        self._read_only: OSError | bool = False

    # -- lifecycle --

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        clock: Callable[[], datetime] = utc_now,
        readonly: bool = False,
        verify: bool = True,
    ) -> "Journal":
        """Open (creating if needed) the journal at ``path`` or at ``paths.journal_path()``.

        Raises ``JournalError`` for a damaged or foreign file, which is never modified, for a
        path that is not a regular file (a named pipe, a folder, a device: checked before
        SQLite opens it) and for a journal written by a newer Haven; ``FileAccessError``
        (one line naming the path and the fix) when it cannot be created or written.

        ``readonly`` (reading commands): nothing is created or written. A missing journal
        opens as an empty one in memory ("no practice recorded yet"); one in a place that
        cannot be written (a read-only ``HAVEN_HOME``) is opened read-only, and a write
        through it raises ``FileAccessError``. When the journal can be written it is opened
        as usual (pending migrations run).

        After an unclean shutdown (a ``-wal`` file left beside the journal) SQLite's quick
        check runs first and damage is reported with the fix; ``verify=False`` skips it, for
        ``haven export`` rescuing what is readable. ``migrations`` is replaceable for tests.
        """
        from player.files import FileAccessError

        path = paths.journal_path() if path is None else Path(path)
        if _stat_journal(path) is None:
            if readonly:
                return cls._empty(path, migrations, clock)
            try:
                paths.ensure_private_dir(path.parent)
            except OSError as exc:
                raise FileAccessError.from_os_error(exc, path.parent, doing="create the folder") from None
            if _stat_journal(path) is None:
                cls._create(path, migrations, clock)
        else:
            problem = _unwritable(path)
            if problem is not None:
                if readonly:
                    return cls._open_read_only(path, migrations, clock, problem, verify)
                raise FileAccessError.from_os_error(problem, path, doing="write") from None
        kind = _inspect_header(path)
        unclean = verify and _wal_left(path)
        journal = cls(_connect(path), path, clock)
        try:
            with journal._guard():
                if unclean:
                    detail = quick_check(journal._conn)
                    if detail is not None:
                        raise _damaged(path, detail)
                if kind == "blank":
                    # A zero-byte file (made by someone else): initialise it in place, before
                    # switching to WAL, so application_id reaches the main file's header.
                    journal._migrate(migrations, allow_blank=True)
                _enable_wal(journal._conn, path)
                journal._conn.execute("PRAGMA synchronous = FULL")  # a returned write is on disk
                journal._migrate(migrations, allow_blank=False)
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except BaseException:
            journal._conn.close()
            raise
        return journal

    @classmethod
    def _empty(cls, path: Path, migrations: Sequence[Migration], clock: Callable[[], datetime]) -> "Journal":
        """A journal with no sessions, in memory: what a reading command sees before the first
        session is recorded (nothing is created on disk)."""
        journal = cls(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False), path, clock)
        journal._migrate(migrations, allow_blank=True)
        journal._read_only = True
        return journal

    @classmethod
    def _open_read_only(
        cls, path: Path, migrations: Sequence[Migration], clock: Callable[[], datetime],
        problem: OSError, verify: bool,
    ) -> "Journal":
        """The journal opened for reading where it cannot be written (``problem`` says why)."""
        from player.files import FileAccessError, describe_os_error

        if _inspect_header(path) == "blank":
            journal = cls._empty(path, migrations, clock)
            journal._read_only = problem
            return journal
        conn = None
        try:
            conn = _connect_read_only(path)
            if conn.immutable and _wal_left(path):
                raise FileAccessError(
                    f"the journal {path} holds changes from an interrupted session, which can "
                    f"only be recovered where it can be written: {describe_os_error(problem, path, doing='write')}"
                )
            journal = cls(conn, path, clock)
            journal._read_only = problem
            with journal._guard():
                if verify and _wal_left(path):
                    detail = quick_check(conn)
                    if detail is not None:
                        raise _damaged(path, detail)
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            latest = migrations[-1].version
            if app_id != APPLICATION_ID:
                raise _refuse(path, f"it is another program's SQLite database (application id {app_id:#x})")
            if version > latest:
                raise JournalError(
                    f"the journal {path} was written by a newer version of Haven (schema "
                    f"{version}; this version knows up to {latest}); upgrade Haven to use it"
                )
            if version < latest:
                raise FileAccessError(
                    f"{describe_os_error(problem, path, doing='write')}; this journal must be "
                    "upgraded once by this version of Haven, which needs to write it"
                )
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return journal

    @property
    def read_only(self) -> bool:
        """Whether this journal was opened for reading only (``open(readonly=True)`` where it
        could not be written, or before it existed)."""
        return bool(self._read_only)

    @classmethod
    def _create(cls, path: Path, migrations: Sequence[Migration], clock: Callable[[], datetime]) -> None:
        """Build a complete journal in a private temp file, then link it into place.

        The link is atomic and never replaces an existing file, so other processes see either
        no journal or a whole one (schema, application_id, WAL mode), and when several create
        at once exactly one wins and the others open the winner's.
        """
        tmp = path.with_name(f".{path.name}.{_new_id()[:8]}.creating")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            from player.files import FileAccessError

            raise FileAccessError.from_os_error(exc, path, doing="create") from None
        try:
            builder = cls(_connect(tmp), tmp, clock)
            try:
                with builder._guard():
                    builder._migrate(migrations, allow_blank=True)
                    _enable_wal(builder._conn, tmp)
            finally:
                builder._conn.close()  # the last close checkpoints and removes -wal/-shm
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            except OSError as exc:
                raise JournalError(f"cannot create the journal {path}: {exc.strerror}") from None
            _fsync_dir(path.parent)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                try:
                    leftover.unlink()
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals --

    def _now_text(self) -> str:
        return rules.format_utc(self._clock())

    def _guard(self):
        return _SqliteGuard(self.path)

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction; commit, or roll back and re-raise."""
        if self._read_only:
            from player.files import FileAccessError

            if isinstance(self._read_only, OSError):
                raise FileAccessError.from_os_error(self._read_only, self.path, doing="write")
            raise JournalError(f"the journal {self.path} was opened for reading only")
        with self._lock, self._guard():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple]:
        with self._lock, self._guard():
            return self._conn.execute(sql, params).fetchall()

    def _migrate(self, migrations: Sequence[Migration], *, allow_blank: bool) -> None:
        conn = self._conn
        latest = migrations[-1].version
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID and version == latest:
            return  # the usual case: no write lock taken at all
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have just done the work.
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id != APPLICATION_ID:
                objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if not (allow_blank and app_id == 0 and version == 0 and objects == 0):
                    raise _refuse(self.path, f"it is another program's SQLite database (application id {app_id:#x})")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if version > latest:
                raise JournalError(
                    f"the journal {self.path} was written by a newer version of Haven "
                    f"(schema {version}; this version knows up to {latest}); it was left "
                    "untouched: upgrade Haven to use it"
                )
            pending = [m for m in migrations if m.version > version]
            if version > 0 and any(m.rewrites_data for m in pending):
                self._backup(version)
            if pending:
                conn.execute(_SCHEMA_MIGRATIONS_DDL)
            for migration in pending:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, self._now_text()),
                )
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _backup(self, version: int) -> Path:
        """Copy the database as last committed beside it (0600), before a data-rewriting step."""
        stamp = self._clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        base = self.path.with_name(f"{self.path.name}.backup-v{version}-{stamp}")
        target, n = base, 1
        while True:
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                n += 1
                target = base.with_name(f"{base.name}-{n}")
        # A second, read-only connection: SQLite refuses to back up from a connection that is
        # inside a write transaction, and in WAL mode a reader sees the last committed state,
        # which is exactly the data before this migration.
        src = sqlite3.connect(_file_uri(self.path) + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        dest = sqlite3.connect(os.fspath(target))
        try:
            src.backup(dest)
        finally:
            dest.close()
            src.close()
        return target

    # -- recording (the API `haven play` uses) --

    def start_session(
        self,
        exercise: str,
        title: str | None,
        category: str | None,
        planned_s: float | None,
        started_at: datetime | None = None,
        source: str = "played",
        mood_before: int | None = None,
        *,
        utc_offset: str | int | None = None,
    ) -> str:
        """Record that a session has begun and return its id.

        The row is written at once with ``completed = false`` and ``practiced_s = 0``, so a
        crash or power cut still leaves a trace; call ``update_progress`` while playing and
        ``finish_session`` at the end (also when stopped early). ``started_at``: ``None`` is
        now; a naive datetime is local time of this machine; an aware one keeps its own
        offset. ``utc_offset`` overrides the stored offset (``"+01:00"`` or minutes).
        """
        try:
            start_utc, offset = _instant_and_offset(started_at or self._clock().astimezone(), utc_offset)
            record = {
                "id": _new_id(),
                "exercise": _check_text("exercise", exercise, required=True, limit=200),
                "title": _check_text("title", title, limit=500),
                "category": _check_text("category", category, limit=200),
                "started_at": rules.format_utc(start_utc),
                "ended_at": None,
                "utc_offset": rules.format_offset(offset),
                "planned_s": _check_seconds("planned_s", planned_s),
                "practiced_s": 0.0,
                "completed": False,
                "source": source,
                "mood_before": _check_mood("mood_before", mood_before),
                "mood_after": None,
                "note": None,
            }
            if source not in SOURCES:
                raise ValueError(f"source must be one of {', '.join(SOURCES)}")
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        return self._insert(record).id

    def update_progress(self, session_id: str, practiced_s: float) -> None:
        """Store the practiced time so far (seconds of audio delivered; pauses excluded).

        Cheap enough to call every ~30 s. Ignored once the session is finished, so a late
        progress call cannot undo ``finish_session``.
        """
        try:
            seconds = _check_seconds("practiced_s", practiced_s, required=True)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None

        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE sessions SET practiced_s = ?, updated_at = ? WHERE id = ? AND ended_at IS NULL",
                (seconds, self._now_text(), session_id),
            )
            if cur.rowcount == 0 and conn.execute(
                "SELECT 1 FROM sessions WHERE id = ?", (session_id,)
            ).fetchone() is None:
                raise NotFoundError(f"no session with id {session_id}")

        self._write(run)

    def finish_session(
        self,
        session_id: str,
        practiced_s: float,
        completed: bool,
        ended_at: datetime | None = None,
        mood_after: int | None = None,
        note: str | None = None,
    ) -> Session:
        """Close a session: final practiced seconds, whether it reached the end, and the
        optional after-rating and note. A stopped session is finished with ``completed=False``.
        ``ended_at`` defaults to now. Returns the stored session.
        """
        try:
            seconds = _check_seconds("practiced_s", practiced_s, required=True)
            mood = _check_mood("mood_after", mood_after)
            text = _check_text("note", note, multiline=True)
            end = ended_at.astimezone() if ended_at is not None else self._clock()
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        now = self._now_text()

        def run(conn: sqlite3.Connection) -> Session:
            cur = conn.execute(
                "UPDATE sessions SET practiced_s = ?, completed = ?, ended_at = ?, "
                "mood_after = coalesce(?, mood_after), note = coalesce(?, note), updated_at = ? "
                "WHERE id = ?",
                (seconds, int(bool(completed)), rules.format_utc(end), mood, text, now, session_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no session with id {session_id}")
            return self._get_exact(conn, session_id)

        return self._write(run)

    def add_manual(
        self,
        exercise: str,
        practiced_s: float,
        *,
        started_at: datetime | None = None,
        title: str | None = None,
        category: str | None = None,
        note: str | None = None,
        mood_before: int | None = None,
        mood_after: int | None = None,
        utc_offset: str | int | None = None,
    ) -> Session:
        """Record practice done elsewhere (``haven log add``), as a completed ``manual`` session.

        Without ``started_at`` it is taken to have just ended (start = now − length). Times in
        the future are refused: they are almost always a typo.
        """
        try:
            seconds = _check_seconds("practiced_s", practiced_s, required=True)
            assert seconds is not None
            if seconds <= 0:
                raise ValueError("the length must be more than 0 minutes")
            if seconds > 86400:
                raise ValueError("the length must be at most 24 hours")
            now = self._clock()
            when = started_at or (now - timedelta(seconds=seconds)).astimezone()
            start_utc, offset = _instant_and_offset(when, utc_offset)
            if start_utc > now + timedelta(minutes=1):
                raise ValueError(f"the start time {when:%Y-%m-%d %H:%M} is in the future")
            record = {
                "id": _new_id(),
                "exercise": _check_text("exercise", exercise, required=True, limit=200),
                "title": _check_text("title", title, limit=500),
                "category": _check_text("category", category, limit=200),
                "started_at": rules.format_utc(start_utc),
                "ended_at": rules.format_utc(start_utc + timedelta(seconds=seconds)),
                "utc_offset": rules.format_offset(offset),
                "planned_s": seconds,
                "practiced_s": seconds,
                "completed": True,
                "source": "manual",
                "mood_before": _check_mood("mood_before", mood_before),
                "mood_after": _check_mood("mood_after", mood_after),
                "note": _check_text("note", note, multiline=True),
            }
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        return self._insert(record)

    def _insert(self, record: dict[str, Any]) -> Session:
        now = self._now_text()
        row = {**record, "completed": int(record["completed"]), "created_at": now, "updated_at": now}
        values = tuple(row[name] for name in FIELDS)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})", values)

        self._write(run)
        return Session.from_row(values)

    # -- reading --

    def _get_exact(self, conn: sqlite3.Connection, session_id: str) -> Session:
        row = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no session with id {session_id}")
        return Session.from_row(row)

    def _resolve(self, conn: sqlite3.Connection, ref: str) -> str:
        """A full id from a full id or an unambiguous prefix (``haven log`` shows 8 chars)."""
        ref = ref.strip()
        if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (ref,)).fetchone():
            return ref
        if len(ref) < MIN_ID_PREFIX:
            raise BadInputError(
                f"session id {ref!r} is too short: give at least {MIN_ID_PREFIX} characters "
                "(`haven log` shows them)"
            )
        rows = conn.execute(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (ref, ref + "\U0010ffff"),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no session with id {ref!r} (`haven log` lists them)")
        if len(rows) > 1:
            shown = ", ".join(r[0][: len(ref) + 4] for r in rows[:5])
            raise BadInputError(f"session id {ref!r} is ambiguous: it starts {shown}; give more characters")
        return rows[0][0]

    def get(self, ref: str) -> Session:
        """The session with this id or unambiguous id prefix (``NotFoundError`` if none)."""
        with self._lock, self._guard():
            return self._get_exact(self._conn, self._resolve(self._conn, ref))

    def sessions(
        self,
        since: date | datetime | str | None = None,
        limit: int | None = None,
        *,
        day_starts_at: int = 4 * 60,
        today: date | None = None,
    ) -> list[Session]:
        """Sessions newest first. ``since``: a practice day (``date``; sessions of that day and
        later, by ``day_starts_at``), an instant (``datetime``), or text: ``2026-11-01``, ``7d``
        (the last 7 practice days including ``today``), ``4w``. ``limit``: at most that many.
        """
        if limit is not None and limit < 0:
            raise BadInputError("--limit must be 0 or more")
        bound = _parse_since(since, today or rules.today(datetime.now().astimezone(), day_starts_at))
        sql = f"SELECT {_COLUMNS} FROM sessions"
        params: list[Any] = []
        if isinstance(bound, datetime):
            sql += " WHERE started_at >= ?"
            params.append(rules.format_utc(bound if bound.tzinfo else bound.astimezone()))
        elif isinstance(bound, date):
            # Any session of that practice day starts after this UTC instant (offsets ≤ 14 h).
            early = datetime(bound.year, bound.month, bound.day, tzinfo=timezone.utc) - timedelta(hours=15)
            sql += " WHERE started_at >= ?"
            params.append(rules.format_utc(early))
        sql += " ORDER BY started_at DESC, id DESC"
        by_day = isinstance(bound, date) and not isinstance(bound, datetime)
        if limit is not None and not by_day:
            sql += f" LIMIT {min(int(limit), 2**62)}"  # SQLite's LIMIT is a 64-bit integer
        result: list[Session] = []
        with self._lock, self._guard():
            for row in self._conn.execute(sql, params):  # newest first: stop once enough
                if limit is not None and len(result) >= limit:
                    break
                session = Session.from_row(row)
                if not by_day or session.practice_day(day_starts_at) >= bound:
                    result.append(session)
        return result

    def report_rows(self) -> list[tuple]:
        """Every session's ``(started_at, utc_offset, practiced_s)``: the rules' input."""
        return self._read("SELECT started_at, utc_offset, practiced_s FROM sessions")

    def day_summary(self, day_starts_at: int) -> list[tuple[int, int, float, int]]:
        """Per practice day: ``(days since 1970-01-01, sessions, practiced_s, completed)``.

        Grouped inside SQLite in integer arithmetic on the generated ``local_start_min``
        column, with the same rule as ``rules.practice_day`` (a test holds the two equal).
        """
        return self._read(
            # SQLite does not see that an index on a generated column covers the query.
            f"SELECT {_PRACTICE_DAY_SQL} AS day, count(*), total(practiced_s), total(completed) "
            "FROM sessions INDEXED BY sessions_by_day GROUP BY day",
            {"ds": int(day_starts_at)},
        )

    def group_summary(
        self, day_starts_at: int = 4 * 60, first: date | None = None, last: date | None = None
    ) -> list[tuple]:
        """Per (category, exercise): ``(category, exercise, title, sessions, completed,
        practiced_s, sessions with practice > 0)``; title is the most recent session's.
        ``first``/``last``: only the practice days from ``first`` to ``last`` (both given)."""
        where, params = "", {}
        if first is not None and last is not None:
            epoch = date(1970, 1, 1)
            where = "WHERE local_start_min >= :lo AND local_start_min < :hi "
            params = {"lo": (first - epoch).days * 1440 + int(day_starts_at),
                      "hi": ((last - epoch).days + 1) * 1440 + int(day_starts_at)}
        # SQLite gives a bare column (title) from the row that holds max(started_at).
        rows = self._read(
            "SELECT category, exercise, title, max(started_at), count(*), total(completed), "
            f"total(practiced_s), total(practiced_s > 0) FROM sessions {where}"
            "GROUP BY category, exercise",
            params,
        )
        return [(c, e, t, n, done, sec, wp) for c, e, t, _, n, done, sec, wp in rows]

    def mood_summary(self, day_starts_at: int) -> list[tuple[int, int, int, int]]:
        """Per practice day (days since 1970), sessions rated before *and* after:
        ``(day, n, sum before, sum after)``."""
        return self._read(
            f"SELECT {_PRACTICE_DAY_SQL} AS day, count(*), sum(mood_before), sum(mood_after) "
            "FROM sessions INDEXED BY sessions_rated "
            "WHERE mood_before IS NOT NULL AND mood_after IS NOT NULL GROUP BY day",
            {"ds": int(day_starts_at)},
        )

    def count(self) -> int:
        return self._read("SELECT count(*) FROM sessions")[0][0]

    def exercise_day_totals(
        self, day_starts_at: int, first: date, last: date, not_before: str | None = None
    ) -> dict[date, dict[str, float]]:
        """Practiced seconds per practice day and exercise, for the days ``first``..``last``
        (and, with ``not_before``, a UTC time as the journal writes them, only sessions that
        started then or later: a program counts practice from when it was started).

        A day and exercise with a session appear even with 0 seconds (as in
        ``rules.day_totals``), so ``min_minutes = 0`` can count "a session was started".
        """
        epoch = date(1970, 1, 1)
        lo = (first - epoch).days * 1440 + int(day_starts_at)
        hi = ((last - epoch).days + 1) * 1440 + int(day_starts_at)
        since = " AND started_at >= :nb" if not_before is not None else ""
        rows = self._read(
            f"SELECT {_PRACTICE_DAY_SQL} AS day, exercise, total(practiced_s) FROM sessions "
            f"WHERE local_start_min >= :lo AND local_start_min < :hi{since} GROUP BY day, exercise",
            {"ds": int(day_starts_at), "lo": lo, "hi": hi, "nb": not_before},
        )
        totals: dict[date, dict[str, float]] = {}
        for day, exercise, seconds in rows:
            totals.setdefault(epoch + timedelta(days=day), {})[exercise] = float(seconds)
        return totals

    # -- programs (``player.library.programs``: which program runs, and its check-ins) --

    def running_program(self) -> ProgramRun | None:
        """The program that is running (started and not stopped), if any."""
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM program_runs WHERE stopped_at IS NULL")
        return ProgramRun.from_row(rows[0]) if rows else None

    def program_runs(self) -> list[ProgramRun]:
        """Every program run, stopped ones included, the one started last first."""
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM program_runs ORDER BY id DESC")
        return [ProgramRun.from_row(row) for row in rows]

    def start_program(self, program: str, title: str | None, started_on: date) -> ProgramRun:
        """Record that ``program`` runs from practice day ``started_on``.

        Raises ``BadInputError`` when a program is already running: one at a time, so
        ``haven today`` always has one answer.
        """
        try:
            name = _check_text("program", program, required=True, limit=200)
            label = _check_text("title", title, limit=500)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        if not isinstance(started_on, date) or isinstance(started_on, datetime):
            raise BadInputError("started_on must be a date")

        def run(conn: sqlite3.Connection) -> ProgramRun:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM program_runs WHERE stopped_at IS NULL").fetchone()
            if row is not None:
                running = ProgramRun.from_row(row)
                raise BadInputError(
                    f"the program '{running.program}' is already running (since "
                    f"{running.started_on.isoformat()}); stop it first with 'haven program stop'"
                )
            cur = conn.execute(
                "INSERT INTO program_runs (program, title, started_on, stopped_at, created_at) "
                "VALUES (?, ?, ?, NULL, ?)",
                (name, label, started_on.isoformat(), self._now_text()),
            )
            return ProgramRun.from_row(
                conn.execute(f"SELECT {_RUN_COLUMNS} FROM program_runs WHERE id = ?", (cur.lastrowid,)).fetchone()
            )

        return self._write(run)

    def stop_program(self) -> ProgramRun | None:
        """Stop the running program (its check-ins are kept); returns it, or None if none ran."""

        def run(conn: sqlite3.Connection) -> ProgramRun | None:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM program_runs WHERE stopped_at IS NULL").fetchone()
            if row is None:
                return None
            now = self._now_text()
            conn.execute("UPDATE program_runs SET stopped_at = ? WHERE id = ?", (now, row[0]))
            return ProgramRun.from_row((*row[:4], now, row[5]))

        return self._write(run)

    def program_checkins(self, run_id: int) -> list[CheckIn]:
        """The check-ins of one program run, in checkpoint order."""
        rows = self._read(
            f"SELECT {_CHECKIN_COLUMNS} FROM program_checkins WHERE run_id = ? ORDER BY checkpoint",
            (int(run_id),),
        )
        items: dict[int, list[tuple[str, int]]] = {}
        for checkpoint, item, rating in self._read(
            "SELECT checkpoint, item, rating FROM program_checkin_items WHERE run_id = ? "
            "ORDER BY checkpoint, item",
            (int(run_id),),
        ):
            items.setdefault(checkpoint, []).append((item, rating))
        return [CheckIn(*row, ratings=tuple(items.get(row[1], ()))) for row in rows]

    def add_program_checkin(
        self, run_id: int, checkpoint: int, mood: int | None, note: str | None,
        ratings: Mapping[str, int | None] | None = None,
    ) -> CheckIn:
        """Record a check-in (``mood`` and ``note`` may both be None: offered and skipped).

        ``ratings``: the other items (``CHECKIN_ITEMS``), each 0-10 or None (skipped).
        A checkpoint is answered once: a second answer raises ``BadInputError``.
        """
        try:
            rating = _check_mood("mood", mood)
            text = _check_text("note", note, multiline=True)
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
                raise ValueError("checkpoint must be a whole number >= 0")
            others = []
            for item, value in sorted((ratings or {}).items()):
                if item not in CHECKIN_ITEMS:
                    raise ValueError(f"unknown check-in item {item!r}")
                if (value := _check_mood(item, value)) is not None:
                    others.append((item, value))
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        now = self._clock()
        record = CheckIn(
            int(run_id), checkpoint, rules.format_utc(now),
            rules.format_offset(local_offset_at(now)), rating, text, tuple(others),
        )

        def run(conn: sqlite3.Connection) -> CheckIn:
            if conn.execute("SELECT 1 FROM program_runs WHERE id = ?", (record.run_id,)).fetchone() is None:
                raise NotFoundError(f"no program run with id {record.run_id}")
            cur = conn.execute(
                f"INSERT OR IGNORE INTO program_checkins ({_CHECKIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (record.run_id, record.checkpoint, record.answered_at, record.utc_offset,
                 record.mood, record.note),
            )
            if cur.rowcount == 0:
                raise BadInputError(f"check-in {checkpoint} of this program was already recorded")
            if record.ratings:
                conn.executemany(
                    "INSERT INTO program_checkin_items (run_id, checkpoint, item, rating) "
                    "VALUES (?, ?, ?, ?)",
                    [(record.run_id, record.checkpoint, item, v) for item, v in record.ratings],
                )
            return record

        return self._write(run)

    def program_reflections(self, run_id: int) -> list[Reflection]:
        """The week reflections of one program run, in week order."""
        rows = self._read(
            "SELECT run_id, week, answered_at, utc_offset, note FROM program_reflections "
            "WHERE run_id = ? ORDER BY week",
            (int(run_id),),
        )
        return [Reflection(*row) for row in rows]

    def add_program_reflection(self, run_id: int, week: int, note: str | None) -> Reflection:
        """Record the answer to week ``week``'s reflection question (None: skipped), once."""
        try:
            text = _check_text("note", note, multiline=True)
            if isinstance(week, bool) or not isinstance(week, int) or week < 1:
                raise ValueError("week must be a whole number >= 1")
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        now = self._clock()
        record = Reflection(
            int(run_id), week, rules.format_utc(now), rules.format_offset(local_offset_at(now)), text
        )

        def run(conn: sqlite3.Connection) -> Reflection:
            if conn.execute("SELECT 1 FROM program_runs WHERE id = ?", (record.run_id,)).fetchone() is None:
                raise NotFoundError(f"no program run with id {record.run_id}")
            cur = conn.execute(
                "INSERT OR IGNORE INTO program_reflections "
                "(run_id, week, answered_at, utc_offset, note) VALUES (?, ?, ?, ?, ?)",
                (record.run_id, record.week, record.answered_at, record.utc_offset, record.note),
            )
            if cur.rowcount == 0:
                raise BadInputError(f"the reflection on week {week} was already recorded")
            return record

        return self._write(run)

    # -- editing --

    def edit(
        self,
        ref: str,
        *,
        exercise: str = _UNSET,
        title: str | None = _UNSET,
        category: str | None = _UNSET,
        started_at: datetime = _UNSET,
        utc_offset: str | int | None = None,
        practiced_s: float = _UNSET,
        planned_s: float | None = _UNSET,
        completed: bool = _UNSET,
        mood_before: int | None = _UNSET,
        mood_after: int | None = _UNSET,
        note: str | None = _UNSET,
    ) -> Session:
        """Change fields of one session (by id or prefix); ``None`` clears an optional field.

        Moving ``started_at`` moves ``ended_at`` with it; a manual entry's ``ended_at`` follows
        its length. Returns the updated session.
        """
        given = {
            k: v
            for k, v in dict(
                exercise=exercise, title=title, category=category, started_at=started_at,
                practiced_s=practiced_s, planned_s=planned_s, completed=completed,
                mood_before=mood_before, mood_after=mood_after, note=note,
            ).items()
            if v is not _UNSET
        }
        if not given:
            raise BadInputError("nothing to change: give at least one field to edit")
        try:
            changes: dict[str, Any] = {}
            if "exercise" in given:
                changes["exercise"] = _check_text("exercise", given["exercise"], required=True, limit=200)
            for name, limit in (("title", 500), ("category", 200), ("note", 10_000)):
                if name in given:
                    changes[name] = _check_text(name, given[name], limit=limit, multiline=name == "note")
            if "practiced_s" in given:
                changes["practiced_s"] = _check_seconds("practiced_s", given["practiced_s"], required=True)
            if "planned_s" in given:
                changes["planned_s"] = _check_seconds("planned_s", given["planned_s"])
            if "completed" in given:
                changes["completed"] = int(bool(given["completed"]))
            for name in ("mood_before", "mood_after"):
                if name in given:
                    changes[name] = _check_mood(name, given[name])
            new_start = None
            if "started_at" in given:
                new_start = _instant_and_offset(given["started_at"], utc_offset)
                if new_start[0] > self._clock() + timedelta(minutes=1):
                    raise ValueError("the new start time is in the future")
        except ValueError as exc:
            raise BadInputError(str(exc)) from None

        def run(conn: sqlite3.Connection) -> Session:
            old = self._get_exact(conn, self._resolve(conn, ref))
            if new_start is not None:
                start_utc, offset = new_start
                changes["started_at"] = rules.format_utc(start_utc)
                changes["utc_offset"] = rules.format_offset(offset)
                if old.ended_at:
                    shift = start_utc - rules.parse_utc(old.started_at)
                    changes["ended_at"] = rules.format_utc(rules.parse_utc(old.ended_at) + shift)
            if old.source == "manual" and "practiced_s" in changes:
                start = rules.parse_utc(changes.get("started_at", old.started_at))
                changes["ended_at"] = rules.format_utc(start + timedelta(seconds=changes["practiced_s"]))
                changes.setdefault("planned_s", changes["practiced_s"])
            changes["updated_at"] = self._now_text()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(f"UPDATE sessions SET {assignments} WHERE id = ?", (*changes.values(), old.id))
            return self._get_exact(conn, old.id)

        return self._write(run)

    def delete(self, ref: str) -> Session:
        """Delete one session (by id or prefix) for good; returns what was deleted."""

        def run(conn: sqlite3.Connection) -> Session:
            old = self._get_exact(conn, self._resolve(conn, ref))
            conn.execute("DELETE FROM sessions WHERE id = ?", (old.id,))
            return old

        return self._write(run)

    # -- export and import --

    def export_records(self, *, rescue: bool = False) -> list[dict[str, Any]]:
        """Every session as a record (``FIELDS``), oldest first: the export's content.

        The table is read without its indexes (sorted here), so a damaged index never stops
        an export. ``rescue``: when the table itself is damaged, the sessions read before
        the damage are returned and ``rescue_problem`` says what stopped the reading.
        """
        self.rescue_problem: str | None = None
        rows: list[tuple] = []
        with self._lock:
            try:
                for row in self._conn.execute(f"SELECT {_COLUMNS} FROM sessions NOT INDEXED"):
                    rows.append(row)
            except sqlite3.DatabaseError as exc:
                if not rescue:
                    with self._guard():
                        raise
                self.rescue_problem = str(exc)
        rows.sort(key=lambda r: (r[FIELDS.index("started_at")], r[0]))
        return [Session.from_row(r).to_record() for r in rows]

    def import_records(
        self,
        records: Iterable[Mapping[str, Any]],
        labels: Sequence[str] | None = None,
        *,
        match_content: bool = False,
        dry_run: bool = False,
    ) -> ImportResult:
        """Add records (as exported, or from elsewhere) in one transaction; all or nothing.

        Every record is validated first; any invalid one raises ``BadInputError`` listing the
        problems with their ``labels`` (default "record N") and nothing is imported. A record
        whose id is already present is left alone: identical content counts as unchanged, a
        different one as a conflict (the stored session wins; nothing recorded is lost).

        ``match_content`` (imports from other apps): a record is also already present when a
        session from another source starts at the same instant with the same practiced length
        (to the second), so practice that went Haven → another app → Haven, or reached the
        journal from two apps, is not counted twice. ``dry_run``: nothing is written; the result says what would be added.
        """
        records = list(records)
        labels = list(labels) if labels is not None else [f"record {i}" for i in range(1, len(records) + 1)]
        now = self._now_text()
        clean: list[dict[str, Any]] = []
        problems: list[str] = []
        for label, raw in zip(labels, records):
            if not isinstance(raw, Mapping):
                problems.append(f"{label}: not a record (expected an object with named fields)")
                continue
            try:
                clean.append(normalise_record(raw, now))
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
        if problems:
            raise invalid_records_error(problems)

        def run(conn: sqlite3.Connection) -> ImportResult:
            unchanged = 0
            new: list[dict[str, Any]] = []
            conflicts: list[str] = []
            # What this import adds, for a dry run (which writes nothing to look it up in).
            ids: dict[str, dict[str, Any]] = {}
            insert = f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"
            for rec in clean:
                row = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (rec["id"],)).fetchone()
                stored = Session.from_row(row).to_record() if row else ids.get(rec["id"])
                if stored is not None:
                    if all(stored[n] == rec[n] for n in CONTENT_FIELDS):
                        unchanged += 1
                    else:
                        conflicts.append(rec["id"])
                    continue
                # Only another source's session is the same practice: within one source, the
                # id already tells (two identical rows are the same practice done twice).
                if match_content and conn.execute(
                    "SELECT 1 FROM sessions WHERE started_at = ? AND abs(practiced_s - ?) < 1 "
                    "AND source != ? LIMIT 1",
                    (rec["started_at"], rec["practiced_s"], rec["source"]),
                ).fetchone():
                    unchanged += 1
                    continue
                if dry_run:
                    ids[rec["id"]] = rec
                else:
                    conn.execute(insert, tuple(int(rec[n]) if n == "completed" else rec[n] for n in FIELDS))
                new.append(rec)
            new.sort(key=lambda r: (r["started_at"], r["id"]))
            return ImportResult(len(new), unchanged, tuple(conflicts), tuple(new), dry_run)

        if dry_run:
            with self._lock, self._guard():
                return run(self._conn)
        return self._write(run)


def invalid_records_error(problems: Sequence[str]) -> BadInputError:
    """One line, as every error: the first five problems (fix them and run it again)."""
    more = f"; … and {len(problems) - 5} more" if len(problems) > 5 else ""
    return BadInputError(
        f"nothing imported: {len(problems)} invalid record{'s' if len(problems) != 1 else ''}: "
        + "; ".join(problems[:5]) + more
    )


class _SqliteGuard:
    """Turns SQLite errors into ``JournalError`` with a message a user can act on."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is None or not isinstance(exc, sqlite3.Error):
            return False
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise JournalError(
                f"the journal {self.path} is busy: another Haven process kept it locked for more "
                f"than {BUSY_TIMEOUT_S:g} s; try again"
            ) from None
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in text or "not a database" in text or "corrupt" in text
        ):
            raise _damaged(self.path, text) from None
        raise JournalError(f"the journal {self.path} could not be used: {text}") from None


# --- files for export and import ---------------------------------------------------------------

# The largest file `haven import` reads: a journal of 30 years at 10 sessions a day exports to
# about 70 MB of JSON. Reading stops here, whatever the file is (a link to /dev/zero included).
IMPORT_LIMIT = 256 * 1024 * 1024
# Parsed, a file costs far more memory than its bytes (a CSV of empty rows about 140 times as
# much), so what parsing may build is bounded too: at most this many sessions in one import
# (27 years of 10 sessions a day), at most ``_JSON_VALUES_PER_SESSION`` JSON values for each
# (an export has 17), and CSV headers of at most ``_CSV_MAX_COLUMNS`` columns (an export has
# 16). Worst case about 400 MB, whatever the file holds.
MAX_IMPORT_SESSIONS = 100_000
_JSON_VALUES_PER_SESSION = 24
_CSV_MAX_COLUMNS = 32

# Spreadsheet formula injection (OWASP "CSV injection"): Excel, LibreOffice and Google Sheets
# run a cell that starts with one of these as a formula. Haven's CSV prefixes such a text cell
# with a single quote, which spreadsheets show as text, and also a cell that starts with a
# quote before one of them, so `haven import` of Haven's own CSV removes exactly the quotes
# that were added: export -> import loses nothing.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_TEXT_FIELDS = ("id", "exercise", "title", "category", "note")  # free text; the rest is checked


def csv_escape(text: str) -> str:
    """A text cell made safe to open in a spreadsheet (see ``_FORMULA_START``)."""
    if text.startswith(_FORMULA_START) or (text.startswith("'") and text[1:2].startswith(_FORMULA_START + ("'",))):
        return "'" + text
    return text


def csv_unescape(text: str) -> str:
    """Undo :func:`csv_escape` (for Haven's own CSV, recognised by its header)."""
    if text.startswith("'") and text[1:2].startswith(_FORMULA_START + ("'",)):
        return text[1:]
    return text


class _HugeNumber(float):
    """A JSON integer too long to be any field's value: infinite, so validation refuses it
    like any other out-of-range number, and named by its length in the message."""

    digits = 0

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def _json_int(text: str) -> int | float:
    """JSON integers: a huge one (Python refuses more than 4300 digits, with no place in the
    file) becomes a ``_HugeNumber``, so the error names the record and the field."""
    if len(text) <= 30:
        return int(text)
    huge = _HugeNumber("-inf" if text.startswith("-") else "inf")
    huge.digits = len(text.lstrip("-"))
    return huge


def dump_records(records: Sequence[Mapping[str, Any]], fmt: str, exported_at: str) -> str:
    """Serialise records as ``json`` (a document with ``format``/``version``/``sessions``) or
    ``csv`` (one header row of ``FIELDS``; empty cell = no value; floats exact)."""
    import json

    if fmt == "json":
        doc = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": exported_at,
            "sessions": [dict(r) for r in records],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        # CRLF rows (RFC 4180); it also makes the writer quote any field holding \r or \n.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(FIELDS)
        for rec in records:
            row = []
            for name in FIELDS:
                value = rec.get(name)
                if value is None:
                    row.append("")
                elif isinstance(value, bool):
                    row.append("true" if value else "false")
                elif isinstance(value, float):
                    row.append(repr(value))  # repr round-trips a float exactly
                elif name in _CSV_TEXT_FIELDS:
                    row.append(csv_escape(str(value)))
                else:
                    row.append(str(value))
            writer.writerow(row)
        return out.getvalue()
    raise BadInputError(f"unknown export format {fmt!r}: use csv or json")


def load_records(text: str, name: str = "<input>") -> tuple[list[dict[str, Any]], list[str]]:
    """Parse an import file (JSON export, JSON list, or CSV with a header row).

    Returns the records and a label for each (``name: line N`` for CSV, ``name: session N``
    for JSON) so validation errors point at the right place.
    """
    import csv
    import json

    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        # Every JSON value after a container's first follows a comma: this bounds how many
        # objects parsing builds, before it builds any (a few ms for 100 MB).
        values = stripped.count(",") + stripped.count("[") + stripped.count("{")
        if values > MAX_IMPORT_SESSIONS * _JSON_VALUES_PER_SESSION:
            raise too_many(name)
        try:
            doc = json.loads(stripped, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{name}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise BadInputError(f"{name}: not a journal export: the JSON is nested too deeply") from None
        if isinstance(doc, dict):
            if doc.get("format") not in (None, EXPORT_FORMAT) or "sessions" not in doc:
                raise BadInputError(f"{name}: not a Haven journal export (no \"sessions\" list)")
            if isinstance(doc.get("version"), int) and doc["version"] > EXPORT_VERSION:
                raise BadInputError(f"{name}: written by a newer Haven (export version {doc['version']})")
            doc = doc["sessions"]
        if not isinstance(doc, list):
            raise BadInputError(f"{name}: expected a list of sessions")
        return doc, [f"{name}: session {i}" for i in range(1, len(doc) + 1)]
    reader = csv.DictReader(_lines(stripped))
    try:
        header = reader.fieldnames or []
    except csv.Error:
        raise _csv_error(name, 1) from None
    if not header:
        raise BadInputError(f"{name}: empty file")
    if len(header) > _CSV_MAX_COLUMNS:
        raise BadInputError(
            f"{name}: line 1: the header has {len(header):,} columns; a journal CSV has at most {_CSV_MAX_COLUMNS}"
        )
    if "exercise" not in header or "started_at" not in header or not ({"practiced_s", "minutes"} & set(header)):
        raise BadInputError(
            f"{name}: line 1: the CSV header must name at least exercise, started_at and "
            "practiced_s (or minutes)"
        )
    own = tuple(header) == FIELDS  # Haven's own CSV: undo its formula escaping
    records: list[dict[str, Any]] = []
    labels: list[str] = []
    for line, row in csv_rows(reader, name):
        if None in row:
            raise BadInputError(f"{name}: line {line}: more cells than the header has columns")
        if own:
            for key in _CSV_TEXT_FIELDS:
                if row.get(key):
                    row[key] = csv_unescape(row[key])
        records.append(row)
        labels.append(f"{name}: line {line}")
    return records, labels


def too_many(name: str, what: str = "sessions") -> BadInputError:
    return BadInputError(
        f"{name}: more than {MAX_IMPORT_SESSIONS:,} {what}, more than one import takes; split it into parts"
    )


def csv_rows(reader: Any, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a ``csv.DictReader``, each with the line it starts on. Unreadable CSV, or
    more rows than ``MAX_IMPORT_SESSIONS``, ends the reading with one line naming the place."""
    import csv

    line = reader.line_num
    rows = iter(reader)
    count = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error:
            raise _csv_error(name, line + 1) from None
        count += 1
        if count > MAX_IMPORT_SESSIONS:
            raise too_many(name)
        yield line + 1, row
        line = reader.line_num


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, one at a time (``io.StringIO`` would hold a
    four-bytes-a-character copy of the whole file)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def _csv_error(name: str, line: int) -> BadInputError:
    import csv

    limit = csv.field_size_limit()
    return BadInputError(
        f"{name}: line {line}: not readable as CSV (a cell longer than {limit // 1024} KiB, "
        "or a quote that is never closed)"
    )


def read_import_file(file: str) -> tuple[str, str]:
    """``(text, name for messages)`` of an import file, or of standard input for ``-``.

    Regular files only (a named pipe never blocks, a folder or device is refused), at most
    ``IMPORT_LIMIT`` bytes read whatever the source (``/dev/zero`` or an endless pipe on
    standard input included), UTF-8 with an optional BOM; bytes that are not UTF-8 are
    reported with their line.
    """
    import sys

    from player.files import read_regular

    if file == "-":
        name = "<stdin>"
        try:
            data = sys.stdin.buffer.read(IMPORT_LIMIT + 1)
        except OSError as exc:
            from player.files import describe_os_error

            raise BadInputError(describe_os_error(exc, "standard input", doing="read")) from None
        if len(data) > IMPORT_LIMIT:
            raise BadInputError(f"{name}: more than the {IMPORT_LIMIT // (1024 * 1024)} MiB an import may hold")
    else:
        name = file
        try:
            data = read_regular(file, limit=IMPORT_LIMIT, what="journal export", error=BadInputError)
        except FileNotFoundError:
            raise BadInputError(f"{file}: no such file") from None
    try:
        # Bytes, decoded here: newline translation would alter line breaks inside CSV notes.
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInputError(f"{name}: line {line}: not UTF-8 text (byte {exc.start + 1})") from None

