"""The journal's storage: schema and migrations, safety of foreign or damaged files,
permissions, and the recording API `haven play` uses."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from player import paths
from player.errors import BadInputError, JournalError, NotFoundError
from player.journal import FIELDS, MIGRATIONS, Journal, Migration
from player.journal import exchange, schema

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def clock():
    return NOW


@pytest.fixture
def jpath(tmp_path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
def journal(jpath):
    with Journal.open(jpath, clock=clock) as j:
        yield j


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- schema and migrations -------------------------------------------------------------------

EXPECTED_COLUMNS = [
    # name, declared type, not null, primary key
    ("id", "TEXT", 1, 1),
    ("exercise", "TEXT", 1, 0),
    ("title", "TEXT", 0, 0),
    ("category", "TEXT", 0, 0),
    ("started_at", "TEXT", 1, 0),
    ("ended_at", "TEXT", 0, 0),
    ("utc_offset", "TEXT", 1, 0),
    ("planned_s", "REAL", 0, 0),
    ("practiced_s", "REAL", 1, 0),
    ("completed", "INTEGER", 1, 0),
    ("source", "TEXT", 1, 0),
    ("mood_before", "INTEGER", 0, 0),
    ("mood_after", "INTEGER", 0, 0),
    ("note", "TEXT", 0, 0),
    ("created_at", "TEXT", 1, 0),
    ("updated_at", "TEXT", 1, 0),
    ("local_start_min", "INTEGER", 0, 0),
]


def test_blank_database_migrates_to_the_full_schema(journal, jpath):
    raw = sqlite3.connect(jpath)
    cols = raw.execute("PRAGMA table_xinfo(sessions)").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in cols] == EXPECTED_COLUMNS
    assert [c[6] for c in cols][-1] == 3  # local_start_min: a STORED generated column
    assert [c[1] for c in cols][: len(FIELDS)] == list(FIELDS)
    defaults = {c[1]: c[4] for c in cols}
    assert defaults["practiced_s"] == "0" and defaults["completed"] == "0"
    indexes = {r[1] for r in raw.execute("PRAGMA index_list(sessions)")}
    assert {"sessions_by_start", "sessions_by_day", "sessions_by_exercise", "sessions_rated"} <= indexes
    assert raw.execute("SELECT version, name FROM schema_migrations").fetchall() == [
        (m.version, m.name) for m in MIGRATIONS
    ]
    assert raw.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version
    assert raw.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Migration 2: which program runs and its check-ins.
    runs = raw.execute("PRAGMA table_info(program_runs)").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in runs] == EXPECTED_RUN_COLUMNS
    checkins = raw.execute("PRAGMA table_info(program_checkins)").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in checkins] == EXPECTED_CHECKIN_COLUMNS
    assert "program_runs_one_running" in {r[1] for r in raw.execute("PRAGMA index_list(program_runs)")}


EXPECTED_RUN_COLUMNS = [
    ("id", "INTEGER", 0, 1),
    ("program", "TEXT", 1, 0),
    ("title", "TEXT", 0, 0),
    ("started_on", "TEXT", 1, 0),
    ("stopped_at", "TEXT", 0, 0),
    ("created_at", "TEXT", 1, 0),
]
EXPECTED_CHECKIN_COLUMNS = [
    ("run_id", "INTEGER", 1, 1),
    ("checkpoint", "INTEGER", 1, 2),
    ("answered_at", "TEXT", 1, 0),
    ("utc_offset", "TEXT", 1, 0),
    ("mood", "INTEGER", 0, 0),
    ("note", "TEXT", 0, 0),
]


def test_migrations_are_numbered_in_order_and_programs_came_second():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[1].name == "create program runs and check-ins"
    assert not MIGRATIONS[1].rewrites_data


def test_a_journal_from_before_programs_is_upgraded_keeping_its_sessions(jpath):
    with Journal.open(jpath, clock=clock, migrations=MIGRATIONS[:1]) as j:
        sid = j.add_manual("sitting", 600).id
    with Journal.open(jpath, clock=clock) as j:
        assert j.get(sid).exercise == "sitting"
        assert j.running_program() is None
        j.start_program("foundations", "Foundations", datetime(2026, 11, 20).date())
    raw = sqlite3.connect(jpath)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version
    assert [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")] == [
        m.version for m in MIGRATIONS
    ]
    # Migration 4 rebuilds the sessions table (a wider source check), so a copy is made first.
    assert [b.name for b in jpath.parent.glob("*.backup-*")] == ["journal.sqlite3.backup-v1-20261120T120000Z"]


def test_migration_4_keeps_every_session_and_lets_sources_name_an_app(jpath):
    with Journal.open(jpath, clock=clock, migrations=MIGRATIONS[:3]) as j:
        before = [j.add_manual("sitting", 600 + i).to_record() for i in range(3)]
        raw = sqlite3.connect(jpath)
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute("UPDATE sessions SET source = 'apple-health'")
        raw.close()
    with Journal.open(jpath, clock=clock) as j:
        assert j.export_records() == sorted(before, key=lambda r: (r["started_at"], r["id"]))
        added = j.import_records([{**before[0], "id": "x1", "source": "insight-timer",
                                   "started_at": "2026-11-01T07:00:00Z"}])
        assert added.added == 1 and j.get("x1").source == "insight-timer"
    raw = sqlite3.connect(jpath)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for bad in ("Apple Health", "", "x" * 41, "-x", "app;drop"):
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute("UPDATE sessions SET source = ? WHERE id = 'x1'", (bad,))
    assert {r[1] for r in raw.execute("PRAGMA index_list(sessions)")} >= {
        "sessions_by_start", "sessions_by_day", "sessions_by_exercise", "sessions_rated"}


def test_program_constraints_hold_even_from_outside(journal, jpath):
    raw = sqlite3.connect(jpath)
    insert = "INSERT INTO program_runs (program, started_on, created_at) VALUES (?, ?, 't')"
    for bad in (("", "2026-11-20"), ("p", "2026-13-01"), ("p", "20 Nov")):
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(insert, bad)
    raw.execute(insert, ("p", "2026-11-20"))
    with pytest.raises(sqlite3.IntegrityError):  # a second running program
        raw.execute(insert, ("q", "2026-11-20"))
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO program_checkins VALUES (1, 0, 't', '+00:00', 11, NULL)")


def test_one_program_at_a_time_and_its_check_ins(journal):
    from datetime import date

    run = journal.start_program("foundations", "Foundations", date(2026, 11, 20))
    assert journal.running_program() == run
    assert (run.program, run.title, run.started_on, run.stopped_at) == (
        "foundations", "Foundations", date(2026, 11, 20), None)
    with pytest.raises(BadInputError) as info:
        journal.start_program("twelve-weeks", None, date(2026, 11, 21))
    assert str(info.value) == (
        "the program 'foundations' is already running (since 2026-11-20); stop it first with "
        "'haven program stop'"
    )
    first = journal.add_program_checkin(run.id, 0, 4, "  tired  ")
    assert (first.mood, first.note, first.answered_at) == (4, "tired", "2026-11-20T12:00:00Z")
    skipped = journal.add_program_checkin(run.id, 1, None, None)
    with pytest.raises(BadInputError, match="already recorded"):
        journal.add_program_checkin(run.id, 1, 5, None)
    with pytest.raises(BadInputError, match="mood must be a whole number from 0 to 10"):
        journal.add_program_checkin(run.id, 2, 11, None)
    with pytest.raises(NotFoundError):
        journal.add_program_checkin(run.id + 1, 0, 5, None)
    assert journal.program_checkins(run.id) == [first, skipped]
    stopped = journal.stop_program()
    assert stopped.id == run.id and stopped.stopped_at == "2026-11-20T12:00:00Z"
    assert journal.running_program() is None and journal.stop_program() is None
    again = journal.start_program("foundations", "Foundations", date(2026, 11, 21))
    assert again.id != run.id and journal.program_checkins(again.id) == []
    assert journal.program_checkins(run.id) == [first, skipped]  # kept after stopping


def test_exercise_day_totals_follow_the_practice_day_rule(journal):
    from datetime import date

    from player.journal import rules as R

    tz = timezone(timedelta(hours=-8))
    for h in range(0, 24, 3):
        journal.add_manual("a" if h % 2 else "b", 60 * (h + 1),
                           started_at=datetime(2026, 11, 10, h, 30, tzinfo=tz))
    journal.add_manual("a", 0.5, started_at=datetime(2026, 11, 12, 9, 0, tzinfo=tz))
    rows = [(R.parse_utc(a), R.parse_offset(o), p) for a, o, p in journal.report_rows()]
    for ds in (0, 240, 720):
        got = journal.exercise_day_totals(ds, date(2026, 11, 1), date(2026, 11, 30))
        assert {d: sum(v.values()) for d, v in got.items()} == R.day_totals(rows, ds)
    got = journal.exercise_day_totals(240, date(2026, 11, 10), date(2026, 11, 10))
    # 00:30 and 03:30 belong to the day before (the day starts at 04:00).
    assert got == {date(2026, 11, 10): {"a": 60.0 * (10 + 16 + 22), "b": 60.0 * (7 + 13 + 19)}}
    assert journal.exercise_day_totals(240, date(2026, 11, 12), date(2026, 11, 12)) == {
        date(2026, 11, 12): {"a": 0.5}}


def test_constraints_reject_bad_rows_even_from_outside(journal, jpath):
    raw = sqlite3.connect(jpath)
    base = dict(id="x", exercise="e", started_at="2026-01-01T00:00:00Z", utc_offset="+00:00",
                source="played", created_at="t", updated_at="t")
    for bad in (dict(source="Other app"), dict(mood_before=11), dict(practiced_s=-1), dict(completed=2), dict(exercise="")):
        row = {**base, **bad}
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(f"INSERT INTO sessions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def test_reopening_applies_nothing_new(jpath):
    Journal.open(jpath, clock=clock).close()
    before = jpath.read_bytes()
    Journal.open(jpath, clock=clock).close()
    raw = sqlite3.connect(jpath)
    assert raw.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert len(before) > 0


def test_a_zero_byte_file_is_initialised(jpath):
    jpath.touch()
    with Journal.open(jpath, clock=clock) as j:
        j.add_manual("sitting", 600)
        assert j.count() == 1


REWRITE = Migration(
    MIGRATIONS[-1].version + 1,
    "lower-case exercise names",
    ("UPDATE sessions SET exercise = lower(exercise)",),
    rewrites_data=True,
)
ADD_TABLE = Migration(MIGRATIONS[-1].version + 1, "add a table", ("CREATE TABLE extra (x)",))


def test_backup_is_made_before_a_migration_that_rewrites_data(jpath):
    with Journal.open(jpath, clock=clock) as j:
        sid = j.add_manual("Body-Scan", 600).id
    with Journal.open(jpath, clock=clock, migrations=MIGRATIONS + (REWRITE,)) as j:
        assert j.get(sid).exercise == "body-scan"
    backups = sorted(jpath.parent.glob("journal.sqlite3.backup-*"))
    assert [b.name for b in backups] == [f"journal.sqlite3.backup-v{MIGRATIONS[-1].version}-20261120T120000Z"]
    assert mode(backups[0]) == 0o600
    old = sqlite3.connect(backups[0])
    assert old.execute("SELECT exercise FROM sessions").fetchall() == [("Body-Scan",)]
    assert old.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version
    assert old.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw = sqlite3.connect(jpath)
    assert [r[0] for r in raw.execute("SELECT version FROM schema_migrations ORDER BY version")] == [
        *(m.version for m in MIGRATIONS), REWRITE.version
    ]


def test_no_backup_for_a_migration_that_keeps_data_or_a_new_journal(jpath):
    with Journal.open(jpath, clock=clock, migrations=MIGRATIONS + (REWRITE,)):
        pass  # a brand-new journal has nothing to back up
    assert not list(jpath.parent.glob("*.backup-*"))
    other = jpath.with_name("other.sqlite3")
    Journal.open(other, clock=clock).close()
    Journal.open(other, clock=clock, migrations=MIGRATIONS + (ADD_TABLE,)).close()
    assert not list(jpath.parent.glob("*.backup-*"))


def test_failed_migration_rolls_back_and_keeps_data(jpath):
    with Journal.open(jpath, clock=clock) as j:
        j.add_manual("sitting", 600)
    broken = Migration(MIGRATIONS[-1].version + 1, "broken", ("DELETE FROM sessions", "NOT SQL"), rewrites_data=True)
    with pytest.raises(JournalError):
        Journal.open(jpath, clock=clock, migrations=MIGRATIONS + (broken,))
    with Journal.open(jpath, clock=clock) as j:
        assert j.count() == 1
    assert sqlite3.connect(jpath).execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1].version


def test_a_journal_from_a_newer_haven_is_refused_and_untouched(jpath):
    Journal.open(jpath, clock=clock, migrations=MIGRATIONS + (ADD_TABLE,)).close()
    before = jpath.read_bytes()
    with pytest.raises(JournalError, match="newer version of Haven"):
        Journal.open(jpath, clock=clock)
    assert jpath.read_bytes() == before


# --- files: permissions, WAL, foreign and damaged files ------------------------------------------


def test_default_location_permissions_and_wal(haven_home):
    with Journal.open(clock=clock) as j:
        j.add_manual("sitting", 600)
        path = paths.journal_path()
        assert j.path == path and path.parent == haven_home / "data"
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists() and mode(side) == 0o600
        # Built in a temp file and linked into place: nothing else is left behind.
        assert sorted(p.name for p in path.parent.iterdir()) == [
            "journal.sqlite3", "journal.sqlite3-shm", "journal.sqlite3-wal"
        ]


def test_existing_journal_with_loose_mode_is_tightened(jpath):
    Journal.open(jpath).close()
    jpath.chmod(0o644)
    Journal.open(jpath).close()
    assert mode(jpath) == 0o600


def _assert_refused_untouched(path: Path, match: str) -> None:
    before = path.read_bytes()
    listing = sorted(os.listdir(path.parent))
    with pytest.raises(JournalError, match=match) as info:
        Journal.open(path)
    assert "left untouched" in str(info.value) or "left as it is" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == listing  # no -wal/-shm/backup appeared


def test_random_bytes_are_refused_and_never_overwritten(jpath):
    jpath.write_bytes(os.urandom(8192))
    _assert_refused_untouched(jpath, "not an SQLite database")


def test_a_short_text_file_is_refused(jpath):
    jpath.write_text("hello\n")
    _assert_refused_untouched(jpath, "not an SQLite database")


def test_another_programs_sqlite_file_is_refused_and_never_overwritten(jpath):
    other = sqlite3.connect(jpath)
    other.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    other.execute("INSERT INTO contacts VALUES ('Ana', '123')")
    other.commit()
    other.close()
    _assert_refused_untouched(jpath, "another program's SQLite database")


def test_another_programs_wal_database_with_an_application_id_is_refused(jpath):
    other = sqlite3.connect(jpath)
    other.execute("PRAGMA application_id = 1234")
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    _assert_refused_untouched(jpath, r"application id 0x4d2")


def test_an_empty_sqlite_database_of_another_program_is_refused(jpath):
    other = sqlite3.connect(jpath)
    other.execute("PRAGMA user_version = 3")  # writes a header, no tables
    other.commit()
    other.close()
    assert jpath.stat().st_size > 0
    _assert_refused_untouched(jpath, "another program's")


def test_a_damaged_haven_journal_gives_a_clear_error(jpath):
    with Journal.open(jpath) as j:
        for i in range(300):
            j.add_manual(f"exercise-{i}", 600, note="x" * 200)
    size = jpath.stat().st_size
    assert size > 8 * 4096
    data = bytearray(jpath.read_bytes())
    data[4096 * 2 : size] = os.urandom(size - 4096 * 2)  # keep the header, wreck the pages
    jpath.write_bytes(bytes(data))
    before = jpath.read_bytes()
    with pytest.raises(JournalError, match="damaged|could not be used"):
        with Journal.open(jpath) as j:
            j.export_records()
    assert jpath.read_bytes() == before


# --- recording ---------------------------------------------------------------------------------


def test_start_session_leaves_a_trace_at_once(journal, jpath):
    sid = journal.start_session("body-scan", "Body scan", "body-scan", 600.0, mood_before=4)
    row = sqlite3.connect(jpath).execute(
        "SELECT exercise, title, category, planned_s, practiced_s, completed, ended_at, source, mood_before "
        "FROM sessions WHERE id = ?", (sid,)
    ).fetchone()
    assert row == ("body-scan", "Body scan", "body-scan", 600.0, 0.0, 0, None, "played", 4)


def test_progress_then_finish(journal):
    sid = journal.start_session("body-scan", "Body scan", "body-scan", 600.0)
    journal.update_progress(sid, 30.0)
    journal.update_progress(sid, 60.5)
    assert journal.get(sid).practiced_s == 60.5
    done = journal.finish_session(sid, 598.25, True, mood_after=7, note="calmer")
    assert (done.practiced_s, done.completed, done.mood_after, done.note) == (598.25, True, 7, "calmer")
    assert done.ended_at == "2026-11-20T12:00:00Z"
    journal.update_progress(sid, 10.0)  # a late tick cannot undo the finish
    assert journal.get(sid).practiced_s == 598.25


def test_a_stopped_session_is_recorded_as_partial(journal):
    sid = journal.start_session("sitting", "Sitting", "meditation", 1200.0)
    stopped = journal.finish_session(sid, 312.0, completed=False)
    assert (stopped.completed, stopped.practiced_s, stopped.planned_s) == (False, 312.0, 1200.0)


def test_start_times_and_offsets(journal):
    aware = datetime(2026, 7, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    s = journal.get(journal.start_session("x", None, None, None, started_at=aware))
    assert (s.started_at, s.utc_offset) == ("2026-07-01T06:00:00Z", "+02:00")
    s = journal.get(journal.start_session("x", None, None, None, started_at=aware, utc_offset="-05:00"))
    assert s.utc_offset == "-05:00"


def test_naive_times_are_local_with_the_offset_in_force_then(journal, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        summer = journal.get(journal.start_session("x", None, None, None, started_at=datetime(2026, 7, 1, 8, 0)))
        winter = journal.get(journal.start_session("x", None, None, None, started_at=datetime(2026, 12, 1, 8, 0)))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert (summer.started_at, summer.utc_offset) == ("2026-07-01T07:00:00Z", "+01:00")
    assert (winter.started_at, winter.utc_offset) == ("2026-12-01T08:00:00Z", "+00:00")


def test_recording_validates(journal):
    with pytest.raises(BadInputError):
        journal.start_session("", None, None, None)
    with pytest.raises(BadInputError):
        journal.start_session("x", None, None, None, mood_before=11)
    with pytest.raises(BadInputError):
        journal.start_session("x", None, None, None, source="elsewhere")
    sid = journal.start_session("x", None, None, None)
    with pytest.raises(BadInputError):
        journal.update_progress(sid, -1)
    with pytest.raises(NotFoundError):
        journal.update_progress("nope", 1)
    with pytest.raises(NotFoundError):
        journal.finish_session("nope", 1, True)


def test_add_manual(journal):
    s = journal.add_manual("yoga", 1200, note="  stretchy  ", mood_before=3, mood_after=6)
    assert (s.source, s.completed, s.practiced_s, s.planned_s, s.note) == ("manual", True, 1200.0, 1200.0, "stretchy")
    assert s.ended_at == "2026-11-20T12:00:00Z" and s.started_at == "2026-11-20T11:40:00Z"
    with pytest.raises(BadInputError, match="future"):
        journal.add_manual("yoga", 60, started_at=NOW + timedelta(hours=2))
    with pytest.raises(BadInputError):
        journal.add_manual("yoga", 0)


def test_edit_and_delete(journal):
    s = journal.add_manual("yoga", 1200, started_at=datetime(2026, 11, 19, 7, 0, tzinfo=timezone.utc))
    e = journal.edit(s.id[:6], practiced_s=900, note="short", mood_after=5)
    assert (e.practiced_s, e.note, e.mood_after, e.ended_at) == (900.0, "short", 5, "2026-11-19T07:15:00Z")
    moved = journal.edit(s.id, started_at=datetime(2026, 11, 18, 20, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert (moved.started_at, moved.utc_offset, moved.ended_at) == ("2026-11-19T01:00:00Z", "-05:00", "2026-11-19T01:15:00Z")
    cleared = journal.edit(s.id, note=None, mood_after=None)
    assert (cleared.note, cleared.mood_after) == (None, None)
    with pytest.raises(BadInputError, match="nothing to change"):
        journal.edit(s.id)
    gone = journal.delete(s.id[:8])
    assert gone.id == s.id and journal.count() == 0
    with pytest.raises(NotFoundError):
        journal.get(s.id)


def test_id_prefixes(journal):
    a = journal.add_manual("a", 60)
    with pytest.raises(BadInputError, match="too short"):
        journal.get(a.id[:3])
    with pytest.raises(NotFoundError):
        journal.get("ffffffff-none")
    assert journal.get(a.id[:4]).id == a.id
    journal.import_records([{**a.to_record(), "id": a.id[:5] + "x"}, {**a.to_record(), "id": a.id[:5] + "y"}])
    with pytest.raises(BadInputError, match="ambiguous"):
        journal.get(a.id[:5])


def test_sessions_newest_first_with_since_and_limit(journal):
    for day in range(1, 11):
        journal.add_manual("d", 60, started_at=datetime(2026, 11, day, 7, 0, tzinfo=timezone.utc))
    # 02:00 on the 11th belongs to practice day 10 Nov (day starts 04:00).
    journal.add_manual("late", 60, started_at=datetime(2026, 11, 11, 2, 0, tzinfo=timezone.utc))
    got = journal.sessions()
    assert [s.started_at[:10] for s in got][:3] == ["2026-11-11", "2026-11-10", "2026-11-09"]
    assert len(journal.sessions(limit=3)) == 3
    since = journal.sessions(since="2026-11-10")
    assert [s.exercise for s in since] == ["late", "d"]
    assert len(journal.sessions(since="2026-11-11")) == 0
    from datetime import date

    assert len(journal.sessions(since="3d", today=date(2026, 11, 10))) == 4
    with pytest.raises(BadInputError):
        journal.sessions(since="last tuesday")


def test_summaries_match_the_rules(journal):
    from player.journal import rules as R

    for h in range(0, 24, 3):
        journal.add_manual("x", 60 * (h + 1), started_at=datetime(2026, 11, 10, h, 30, tzinfo=timezone(timedelta(hours=-8))))
    rows = [(R.parse_utc(a), R.parse_offset(o), p) for a, o, p in journal.report_rows()]
    for ds in (0, 240, 720):
        epoch = datetime(1970, 1, 1).date().toordinal()
        sql = {datetime.fromordinal(epoch + d).date(): sec for d, _, sec, _ in journal.day_summary(ds)}
        assert sql == R.day_totals(rows, ds)


# --- import and export -------------------------------------------------------------------------


def test_import_validates_every_record_and_imports_nothing_on_error(journal):
    good = {"exercise": "sitting", "started_at": "2026-11-01T07:00:00Z", "practiced_s": 600}
    bad = [good, {"exercise": "", "started_at": "x", "practiced_s": "abc"}, {**good, "mood_after": 12}]
    with pytest.raises(BadInputError) as info:
        journal.import_records(bad, labels=["row 1", "row 2", "row 3"])
    text = str(info.value)
    assert text.startswith("nothing imported: 2 invalid records:")
    assert "row 2: exercise is required" in text and "row 3: mood_after must be a whole number from 0 to 10" in text
    assert journal.count() == 0


def test_import_is_idempotent_and_keeps_stored_sessions_on_conflict(journal):
    recs = [{"exercise": "sitting", "started_at": "2026-11-01T08:00:00+01:00", "practiced_s": "600"}]
    first = journal.import_records(recs)
    assert (first.added, first.unchanged, first.conflicts) == (1, 0, ())
    second = journal.import_records(recs)
    assert (second.added, second.unchanged) == (0, 1)
    s = journal.sessions()[0]
    assert (s.started_at, s.utc_offset, s.source, s.practiced_s) == ("2026-11-01T07:00:00Z", "+01:00", "import", 600.0)
    changed = {**s.to_record(), "practiced_s": 1.0}
    third = journal.import_records([changed])
    assert third.conflicts == (s.id,)
    assert journal.get(s.id).practiced_s == 600.0


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_file_round_trip(journal, tmp_path, fmt):
    journal.add_manual("sitting", 600.5, note='line one\nline "two", with commas', mood_before=2, mood_after=9)
    sid = journal.start_session("body-scan", "Body scan — long", "body-scan", 1800)
    journal.finish_session(sid, 100.125, False)
    journal.start_session("crashed", None, None, None)
    records = journal.export_records()
    text = exchange.dump_records(records, fmt, "2026-11-20T12:00:00Z")
    loaded, labels = exchange.load_records(text, f"x.{fmt}")
    with Journal.open(tmp_path / "copy.sqlite3") as copy:
        result = copy.import_records(loaded, labels)
        assert result.added == 3
        assert copy.export_records() == records


def test_csv_errors_name_the_line():
    text = "exercise,started_at,practiced_s\nsit,2026-11-01T07:00:00Z,60\nsit,2026-11-01T07:00:00Z,abc\n"
    records, labels = exchange.load_records(text, "f.csv")
    assert labels == ["f.csv: line 2", "f.csv: line 3"]
    with pytest.raises(BadInputError, match="line 1"):
        exchange.load_records("a,b\n1,2\n", "f.csv")
    with pytest.raises(BadInputError, match="not valid JSON"):
        exchange.load_records("{nope", "f.json")
