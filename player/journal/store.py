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

Times are stored as UTC instants (``2026-11-20T07:30:00Z``, whole seconds) with the local
offset in force when the session started (``+01:00``); see ``rules.practice_day``.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from player import paths
from player.errors import BadInputError, JournalError, NotFoundError
from player.journal import rules

APPLICATION_ID = 0x48564E4A  # "HVNJ": marks a SQLite file as a Haven journal
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process before giving up

SOURCES = ("played", "manual", "import")
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


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create sessions",
        (
            """
            CREATE TABLE sessions (
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
                source      TEXT NOT NULL CHECK (source IN ('played', 'manual', 'import')),
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
            """,
            # `haven log` pages newest first and `--since` bounds by start time.
            "CREATE INDEX sessions_by_start ON sessions (started_at)",
            # Covering indexes for the reports, so 20,000 sessions summarise in a few ms: per
            # practice day, per exercise, and the sessions rated before and after.
            "CREATE INDEX sessions_by_day ON sessions (local_start_min, practiced_s, completed)",
            "CREATE INDEX sessions_by_exercise ON sessions "
            "(category, exercise, started_at, title, practiced_s, completed)",
            "CREATE INDEX sessions_rated ON sessions (local_start_min, mood_before, mood_after) "
            "WHERE mood_before IS NOT NULL AND mood_after IS NOT NULL",
        ),
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


_RUN_COLUMNS = "id, program, title, started_on, stopped_at, created_at"
_CHECKIN_COLUMNS = "run_id, checkpoint, answered_at, utc_offset, mood, note"


@dataclass(frozen=True)
class ImportResult:
    """What an import did: new sessions, ones already present, and id clashes left as they were."""

    added: int
    unchanged: int
    conflicts: tuple[str, ...]


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
    if when.tzinfo is None:
        when = when.astimezone()  # interpreted as local time, with the offset in force then
    if utc_offset is None:
        offset = rules.offset_of(when)
    elif isinstance(utc_offset, int):
        offset = utc_offset
    else:
        offset = rules.parse_offset(utc_offset)
    instant = when.astimezone(timezone.utc)
    if not _EARLIEST <= instant <= _LATEST:
        raise ValueError(f"the time {when:%Y-%m-%d %H:%M} is outside the years 1971 to 9998")
    return instant, offset


def parse_local_time(text: str, now: datetime | None = None) -> datetime:
    """Parse ``--at`` values: ``2026-11-20 07:30``, ``2026-11-20T07:30``, ``07:30`` (today), or
    any of those with an explicit offset (``+01:00``). Without an offset the time is local to
    this machine, with the offset in force at that instant (so DST is right). Returns an aware
    datetime; raises ``BadInputError`` with the accepted forms.
    """
    s = text.strip()
    forms = '"2026-11-20 07:30", "2026-11-20T07:30:00+01:00" or "07:30" (today)'
    try:
        if len(s) <= 5 and ":" in s:
            minutes = rules.parse_hhmm(s)
            base = (now or datetime.now().astimezone()).astimezone()
            naive = datetime(base.year, base.month, base.day, minutes // 60, minutes % 60)
            return naive.astimezone()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise BadInputError(f"cannot read the time {text!r}; use {forms}") from None
    return dt if dt.tzinfo is not None else dt.astimezone()


def _parse_since(since: date | datetime | str | None, today_: date) -> date | datetime | None:
    if since is None or isinstance(since, (date, datetime)):
        return since
    s = since.strip().lower()
    if s.endswith(("d", "w")) and s[:-1].isdigit():
        n = int(s[:-1]) * (7 if s.endswith("w") else 1)
        if n < 1:
            raise BadInputError(f"--since {since!r}: give at least 1 day")
        return today_ - timedelta(days=n - 1)
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise BadInputError(
            f"--since {since!r}: use a date (2026-11-01) or a number of days or weeks (7d, 4w)"
        ) from None


# --- validation ----------------------------------------------------------------------------


def _check_text(name: str, value: Any, *, required: bool = False, limit: int = 10_000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def _check_seconds(name: str, value: Any, *, required: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be 0 or more seconds, not {value!r}")
    if seconds > 7 * 86400:
        raise ValueError(f"{name} is more than a week ({seconds:g} s)")
    return seconds


def _check_mood(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number from 0 to 10")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number from 0 to 10, not {value!r}") from None
    if not number.is_integer() or not 0 <= number <= 10:
        raise ValueError(f"{name} must be a whole number from 0 to 10, not {value!r}")
    return int(number)


def _check_bool(name: str, value: Any, default: bool) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name} must be true or false, not {value!r}")


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
        raise ValueError(f"{name} is not an ISO-8601 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
        return dt.astimezone(timezone.utc), rules.offset_of(dt)
    return dt.astimezone(timezone.utc), (None if is_z else rules.offset_of(dt))


def _check_id(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > 100 or any(c.isspace() for c in value.strip()):
        raise ValueError(f"id must be text of at most 100 characters without spaces, not {value!r}")
    return value.strip()


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
            raise ValueError(f"utc_offset must be text like +01:00, not {offset_raw!r}")
        offset = rules.parse_offset(offset_raw)
    if not _EARLIEST <= start_utc <= _LATEST:
        raise ValueError(f"started_at {raw.get('started_at')!r} is outside the years 1971 to 9998")
    rec["started_at"] = rules.format_utc(start_utc)
    rec["utc_offset"] = rules.format_offset(offset)
    end = _check_instant("ended_at", raw.get("ended_at"))
    rec["ended_at"] = rules.format_utc(end[0]) if end else None
    if end and end[0] < start_utc:
        raise ValueError("ended_at is before started_at")
    rec["planned_s"] = _check_seconds("planned_s", raw.get("planned_s"))
    practiced = raw.get("practiced_s")
    if (practiced is None or practiced == "") and raw.get("minutes") not in (None, ""):
        minutes = _check_seconds("minutes", raw.get("minutes"))
        practiced = None if minutes is None else minutes * 60.0
    rec["practiced_s"] = _check_seconds("practiced_s", practiced, required=True)
    rec["completed"] = _check_bool("completed", raw.get("completed"), False)
    source = _check_text("source", raw.get("source")) or "import"
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    rec["source"] = source
    rec["mood_before"] = _check_mood("mood_before", raw.get("mood_before"))
    rec["mood_after"] = _check_mood("mood_after", raw.get("mood_after"))
    rec["note"] = _check_text("note", raw.get("note"))
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


def _inspect_header(path: Path) -> str:
    """Classify a file from its first 100 bytes without letting SQLite near it.

    Returns ``"blank"`` (empty: safe to initialise) or ``"haven"``; anything else raises.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror}") from None
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

    # -- lifecycle --

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        clock: Callable[[], datetime] = utc_now,
    ) -> "Journal":
        """Open (creating if needed) the journal at ``path`` or at ``paths.journal_path()``.

        Raises ``JournalError`` for a damaged or foreign file, which is never modified, and for
        a journal written by a newer Haven. ``migrations`` is replaceable for tests.
        """
        if path is None:
            path = paths.journal_path()
            paths.ensure_private_dir(path.parent)
        else:
            path = Path(path)
            if not path.parent.exists():
                paths.ensure_private_dir(path.parent)
        if not path.exists():
            cls._create(path, migrations, clock)
        kind = _inspect_header(path)
        journal = cls(_connect(path), path, clock)
        try:
            with journal._guard():
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
            raise JournalError(f"cannot create the journal {path}: {exc.strerror}") from None
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
            text = _check_text("note", note)
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
                "note": _check_text("note", note),
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
            sql += f" LIMIT {int(limit)}"
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

    def group_summary(self) -> list[tuple]:
        """Per (category, exercise): ``(category, exercise, title, sessions, completed,
        practiced_s, sessions with practice > 0)``; title is the most recent session's."""
        # SQLite gives a bare column (title) from the row that holds max(started_at).
        rows = self._read(
            "SELECT category, exercise, title, max(started_at), count(*), total(completed), "
            "total(practiced_s), total(practiced_s > 0) FROM sessions GROUP BY category, exercise"
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
        self, day_starts_at: int, first: date, last: date
    ) -> dict[date, dict[str, float]]:
        """Practiced seconds per practice day and exercise, for the days ``first``..``last``.

        A day and exercise with a session appear even with 0 seconds (as in
        ``rules.day_totals``), so ``min_minutes = 0`` can count "a session was started".
        """
        epoch = date(1970, 1, 1)
        lo = (first - epoch).days * 1440 + int(day_starts_at)
        hi = ((last - epoch).days + 1) * 1440 + int(day_starts_at)
        rows = self._read(
            f"SELECT {_PRACTICE_DAY_SQL} AS day, exercise, total(practiced_s) FROM sessions "
            "WHERE local_start_min >= :lo AND local_start_min < :hi GROUP BY day, exercise",
            {"ds": int(day_starts_at), "lo": lo, "hi": hi},
        )
        totals: dict[date, dict[str, float]] = {}
        for day, exercise, seconds in rows:
            totals.setdefault(epoch + timedelta(days=day), {})[exercise] = float(seconds)
        return totals

    # -- programs (``player.programs``: which program runs, and its check-ins) --

    def running_program(self) -> ProgramRun | None:
        """The program that is running (started and not stopped), if any."""
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM program_runs WHERE stopped_at IS NULL")
        return ProgramRun.from_row(rows[0]) if rows else None

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
        return [CheckIn(*row) for row in rows]

    def add_program_checkin(
        self, run_id: int, checkpoint: int, mood: int | None, note: str | None
    ) -> CheckIn:
        """Record a check-in (``mood`` and ``note`` may both be None: offered and skipped).

        A checkpoint is answered once: a second answer raises ``BadInputError``.
        """
        try:
            rating = _check_mood("mood", mood)
            text = _check_text("note", note)
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
                raise ValueError("checkpoint must be a whole number >= 0")
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        now = self._clock()
        record = CheckIn(
            int(run_id), checkpoint, rules.format_utc(now),
            rules.format_offset(local_offset_at(now)), rating, text,
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
                    changes[name] = _check_text(name, given[name], limit=limit)
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

    def export_records(self) -> list[dict[str, Any]]:
        """Every session as a record (``FIELDS``), oldest first: the export's content."""
        rows = self._read(f"SELECT {_COLUMNS} FROM sessions ORDER BY started_at, id")
        return [Session.from_row(r).to_record() for r in rows]

    def import_records(
        self, records: Iterable[Mapping[str, Any]], labels: Sequence[str] | None = None
    ) -> ImportResult:
        """Add records (as exported, or from elsewhere) in one transaction; all or nothing.

        Every record is validated first; any invalid one raises ``BadInputError`` listing the
        problems with their ``labels`` (default "record N") and nothing is imported. A record
        whose id is already present is left alone: identical content counts as unchanged, a
        different one as a conflict (the stored session wins; nothing recorded is lost).
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
            shown = problems[:10]
            more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise BadInputError(
                f"nothing imported: {len(problems)} invalid record{'s' if len(problems) != 1 else ''}:\n  "
                + "\n  ".join(shown) + more
            )

        def run(conn: sqlite3.Connection) -> ImportResult:
            added = unchanged = 0
            conflicts: list[str] = []
            insert = f"INSERT OR IGNORE INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"
            for rec in clean:
                values = tuple(int(rec[n]) if n == "completed" else rec[n] for n in FIELDS)
                if conn.execute(insert, values).rowcount == 1:
                    added += 1
                    continue
                stored = self._get_exact(conn, rec["id"]).to_record()
                if all(stored[n] == rec[n] for n in CONTENT_FIELDS):
                    unchanged += 1
                else:
                    conflicts.append(rec["id"])
            return ImportResult(added, unchanged, tuple(conflicts))

        return self._write(run)


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
            raise JournalError(
                f"the journal {self.path} is damaged ({text}). It was left as it is; restore a "
                "backup (the journal.sqlite3.backup-* files beside it) or move it aside"
            ) from None
        raise JournalError(f"the journal {self.path} could not be used: {text}") from None


# --- files for export and import ---------------------------------------------------------------


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
    import io
    import json

    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{name}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        if isinstance(doc, dict):
            if doc.get("format") not in (None, EXPORT_FORMAT) or "sessions" not in doc:
                raise BadInputError(f"{name}: not a Haven journal export (no \"sessions\" list)")
            if isinstance(doc.get("version"), int) and doc["version"] > EXPORT_VERSION:
                raise BadInputError(f"{name}: written by a newer Haven (export version {doc['version']})")
            doc = doc["sessions"]
        if not isinstance(doc, list):
            raise BadInputError(f"{name}: expected a list of sessions")
        return doc, [f"{name}: session {i}" for i in range(1, len(doc) + 1)]
    reader = csv.DictReader(io.StringIO(stripped))
    header = reader.fieldnames or []
    if not header:
        raise BadInputError(f"{name}: empty file")
    if "exercise" not in header or "started_at" not in header or not ({"practiced_s", "minutes"} & set(header)):
        raise BadInputError(
            f"{name}: line 1: the CSV header must name at least exercise, started_at and "
            "practiced_s (or minutes)"
        )
    records: list[dict[str, Any]] = []
    labels: list[str] = []
    line = reader.line_num
    for row in reader:
        if None in row:
            raise BadInputError(f"{name}: line {line + 1}: more cells than the header has columns")
        records.append(row)
        labels.append(f"{name}: line {line + 1}")
        line = reader.line_num
    return records, labels


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (exports hold health data)."""
    from player.files import write_atomic

    write_atomic(path, text)

