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

The ``Journal`` class is here; what it is built from is beside it: ``schema`` (the SQLite
file: tables, numbered migrations, opening and checking it), ``records`` (sessions, program
runs and check-ins, and the checks every stored value passes) and ``exchange`` (export and
import files).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from player import paths
from player.errors import BadInputError, JournalError, NotFoundError
from player.journal import rules
from player.journal.exchange import invalid_records_error
from player.journal.records import (
    CHECKIN_ITEMS,
    CONTENT_FIELDS,
    FIELDS,
    SOURCES,
    CheckIn,
    ImportResult,
    ProgramRun,
    Reflection,
    Session,
    check_mood,
    check_seconds,
    check_text,
    instant_and_offset,
    local_offset_at,
    normalise_record,
    parse_since,
    utc_now,
)
from player.journal.schema import (
    APPLICATION_ID,
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    SCHEMA_MIGRATIONS_DDL,
    Migration,
    connect,
    connect_read_only,
    damaged,
    enable_wal,
    file_uri,
    fsync_dir,
    inspect_header,
    quick_check,
    refuse,
    stat_journal,
    unwritable,
    wal_left,
)

MIN_ID_PREFIX = 4

_COLUMNS = ", ".join(FIELDS)
# rules.practice_day in SQL, as days since 1970-01-01: local start minus the day start (:ds).
_PRACTICE_DAY_SQL = "(local_start_min - :ds) / 1440"
_RUN_COLUMNS = "id, program, title, started_on, stopped_at, created_at"
_CHECKIN_COLUMNS = "run_id, checkpoint, answered_at, utc_offset, mood, note"


_UNSET: Any = object()


def _new_id() -> str:
    """A fresh random session id (uuid4): unique across processes without coordination."""
    import uuid  # imported here: only writers need it, and `haven stats` should start fast

    return str(uuid.uuid4())


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
        if stat_journal(path) is None:
            if readonly:
                return cls._empty(path, migrations, clock)
            try:
                paths.ensure_private_dir(path.parent)
            except OSError as exc:
                raise FileAccessError.from_os_error(exc, path.parent, doing="create the folder") from None
            if stat_journal(path) is None:
                cls._create(path, migrations, clock)
        else:
            problem = unwritable(path)
            if problem is not None:
                if readonly:
                    return cls._open_read_only(path, migrations, clock, problem, verify)
                raise FileAccessError.from_os_error(problem, path, doing="write") from None
        kind = inspect_header(path)
        unclean = verify and wal_left(path)
        journal = cls(connect(path), path, clock)
        try:
            with journal._guard():
                if unclean:
                    detail = quick_check(journal._conn)
                    if detail is not None:
                        raise damaged(path, detail)
                if kind == "blank":
                    # A zero-byte file (made by someone else): initialise it in place, before
                    # switching to WAL, so application_id reaches the main file's header.
                    journal._migrate(migrations, allow_blank=True)
                enable_wal(journal._conn, path)
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

        if inspect_header(path) == "blank":
            journal = cls._empty(path, migrations, clock)
            journal._read_only = problem
            return journal
        conn = None
        try:
            conn = connect_read_only(path)
            if conn.immutable and wal_left(path):
                raise FileAccessError(
                    f"the journal {path} holds changes from an interrupted session, which can "
                    f"only be recovered where it can be written: {describe_os_error(problem, path, doing='write')}"
                )
            journal = cls(conn, path, clock)
            journal._read_only = problem
            with journal._guard():
                if verify and wal_left(path):
                    detail = quick_check(conn)
                    if detail is not None:
                        raise damaged(path, detail)
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            latest = migrations[-1].version
            if app_id != APPLICATION_ID:
                raise refuse(path, f"it is another program's SQLite database (application id {app_id:#x})")
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
            builder = cls(connect(tmp), tmp, clock)
            try:
                with builder._guard():
                    builder._migrate(migrations, allow_blank=True)
                    enable_wal(builder._conn, tmp)
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
            fsync_dir(path.parent)
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
                    raise refuse(self.path, f"it is another program's SQLite database (application id {app_id:#x})")
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
                conn.execute(SCHEMA_MIGRATIONS_DDL)
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
        src = sqlite3.connect(file_uri(self.path) + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
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
            start_utc, offset = instant_and_offset(started_at or self._clock().astimezone(), utc_offset)
            record = {
                "id": _new_id(),
                "exercise": check_text("exercise", exercise, required=True, limit=200),
                "title": check_text("title", title, limit=500),
                "category": check_text("category", category, limit=200),
                "started_at": rules.format_utc(start_utc),
                "ended_at": None,
                "utc_offset": rules.format_offset(offset),
                "planned_s": check_seconds("planned_s", planned_s),
                "practiced_s": 0.0,
                "completed": False,
                "source": source,
                "mood_before": check_mood("mood_before", mood_before),
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
            seconds = check_seconds("practiced_s", practiced_s, required=True)
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
            seconds = check_seconds("practiced_s", practiced_s, required=True)
            mood = check_mood("mood_after", mood_after)
            text = check_text("note", note, multiline=True)
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
            seconds = check_seconds("practiced_s", practiced_s, required=True)
            assert seconds is not None
            if seconds <= 0:
                raise ValueError("the length must be more than 0 minutes")
            if seconds > 86400:
                raise ValueError("the length must be at most 24 hours")
            now = self._clock()
            when = started_at or (now - timedelta(seconds=seconds)).astimezone()
            start_utc, offset = instant_and_offset(when, utc_offset)
            if start_utc > now + timedelta(minutes=1):
                raise ValueError(f"the start time {when:%Y-%m-%d %H:%M} is in the future")
            record = {
                "id": _new_id(),
                "exercise": check_text("exercise", exercise, required=True, limit=200),
                "title": check_text("title", title, limit=500),
                "category": check_text("category", category, limit=200),
                "started_at": rules.format_utc(start_utc),
                "ended_at": rules.format_utc(start_utc + timedelta(seconds=seconds)),
                "utc_offset": rules.format_offset(offset),
                "planned_s": seconds,
                "practiced_s": seconds,
                "completed": True,
                "source": "manual",
                "mood_before": check_mood("mood_before", mood_before),
                "mood_after": check_mood("mood_after", mood_after),
                "note": check_text("note", note, multiline=True),
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
        bound = parse_since(since, today or rules.today(datetime.now().astimezone(), day_starts_at))
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
            name = check_text("program", program, required=True, limit=200)
            label = check_text("title", title, limit=500)
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
            rating = check_mood("mood", mood)
            text = check_text("note", note, multiline=True)
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
                raise ValueError("checkpoint must be a whole number >= 0")
            others = []
            for item, value in sorted((ratings or {}).items()):
                if item not in CHECKIN_ITEMS:
                    raise ValueError(f"unknown check-in item {item!r}")
                if (value := check_mood(item, value)) is not None:
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
            text = check_text("note", note, multiline=True)
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
                changes["exercise"] = check_text("exercise", given["exercise"], required=True, limit=200)
            for name, limit in (("title", 500), ("category", 200), ("note", 10_000)):
                if name in given:
                    changes[name] = check_text(name, given[name], limit=limit, multiline=name == "note")
            if "practiced_s" in given:
                changes["practiced_s"] = check_seconds("practiced_s", given["practiced_s"], required=True)
            if "planned_s" in given:
                changes["planned_s"] = check_seconds("planned_s", given["planned_s"])
            if "completed" in given:
                changes["completed"] = int(bool(given["completed"]))
            for name in ("mood_before", "mood_after"):
                if name in given:
                    changes[name] = check_mood(name, given[name])
            new_start = None
            if "started_at" in given:
                new_start = instant_and_offset(given["started_at"], utc_offset)
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
            raise damaged(self.path, text) from None
        raise JournalError(f"the journal {self.path} could not be used: {text}") from None
