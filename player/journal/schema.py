"""The journal's SQLite file: its schema and numbered migrations, and opening and checking it."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from player import paths
from player.errors import JournalError
from player.journal.records import FIELDS

APPLICATION_ID = 0x48564E4A  # "HVNJ": marks a SQLite file as a Haven journal
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process before giving up


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

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


# --- opening ---------------------------------------------------------------------------------


def file_uri(path: Path) -> str:
    """A ``file:`` URI for SQLite; only the characters that URIs treat specially are escaped."""
    text = os.fspath(Path(path).absolute())
    for char, code in (("%", "%25"), ("?", "%3f"), ("#", "%23")):
        text = text.replace(char, code)
    return "file:" + text


def connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            file_uri(path) + "?mode=rw",  # never let SQLite create a file
            uri=True,
            isolation_level=None,  # transactions are explicit (BEGIN IMMEDIATE)
            timeout=BUSY_TIMEOUT_S,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from None
    return conn


def enable_wal(conn: sqlite3.Connection, path: Path) -> None:
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


def connect_read_only(path: Path) -> _ReadOnlyConnection:
    """A read-only connection. A WAL journal opens read-only while SQLite can use its -shm
    file (the folder is writable, or another Haven has it open); otherwise, in a read-only
    folder, the file is read as it stands (``immutable``), which holds every change unless an
    interrupted session left some in the -wal file (the caller checks)."""
    uri = file_uri(path)
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


def wal_left(path: Path) -> bool:
    """Whether a non-empty ``-wal`` file lies beside the journal: an unclean shutdown (the
    last connection to close removes it), or another Haven has the journal open."""
    try:
        return os.stat(path.with_name(path.name + "-wal")).st_size > 0
    except OSError:
        return False


def fsync_dir(folder: Path) -> None:
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


def refuse(path: Path, why: str) -> JournalError:
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


def stat_journal(path: Path) -> os.stat_result | None:
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


def unwritable(path: Path) -> OSError | None:
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


def damaged(path: Path, detail: str) -> JournalError:
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
        if stat_journal(path) is None:
            return True, f"{path} (not created yet: the first session makes it)", None
        if inspect_header(path) == "blank":
            return True, f"{path} (empty: the next session sets it up)", None
    except (JournalError, FileAccessError) as exc:
        return False, str(exc), None
    conn = None
    try:
        # Only reads either way; a read-write connection, where allowed, tidies SQLite's -wal
        # and -shm files away when it closes, as every other Haven command does.
        conn = connect(path) if unwritable(path) is None else connect_read_only(path)
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


def inspect_header(path: Path) -> str:
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
        raise refuse(path, "it is not an SQLite database (the file may be damaged)")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id != APPLICATION_ID:
        raise refuse(path, f"it is another program's SQLite database (application id {app_id:#x})")
    return "haven"
