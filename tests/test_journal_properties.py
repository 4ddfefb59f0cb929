"""Properties of the counting rules and of export/import, checked with hypothesis."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.journal import Journal
from player.journal import rules as R
from player.journal import exchange
from player.journal.records import SOURCES

START = datetime(2024, 1, 1, tzinfo=timezone.utc)

instants = st.integers(0, 3 * 365 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
# Real offsets: -12:00 to +14:00 in quarter hours.
offsets = st.integers(-48, 56).map(lambda q: q * 15)
seconds = st.one_of(st.just(0.0), st.floats(0, 7200, allow_nan=False), st.integers(0, 5400).map(float))
sessions_st = st.lists(st.tuples(instants, offsets, seconds), max_size=60)
day_starts = st.integers(0, R.MAX_DAY_START_MIN)
min_minutes = st.sampled_from([0, 0.5, 1, 5, 10, 20])
todays = st.dates(date(2023, 12, 1), date(2027, 2, 1))

FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def counted(sessions, ds, mm):
    return R.counting_days(R.day_totals(sessions, ds), mm)


@FAST
@given(sessions_st, day_starts, min_minutes, todays)
def test_current_streak_never_exceeds_longest(sessions, ds, mm, today):
    days = counted(sessions, ds, mm)
    assert R.current_streak(days, today).length <= R.longest_streak(days).length


@FAST
@given(sessions_st, st.tuples(instants, offsets, seconds), day_starts, min_minutes)
def test_adding_a_session_never_lowers_the_longest_streak(sessions, extra, ds, mm):
    before = R.longest_streak(counted(sessions, ds, mm)).length
    after = R.longest_streak(counted(sessions + [extra], ds, mm)).length
    assert after >= before


@FAST
@given(sessions_st, st.tuples(instants, offsets, seconds), day_starts, min_minutes, todays)
def test_adding_a_session_never_lowers_the_current_streak_or_goal_weeks(sessions, extra, ds, mm, today):
    rules = R.Rules(day_starts_at=ds)
    before, after = counted(sessions, ds, mm), counted(sessions + [extra], ds, mm)
    assert R.current_streak(after, today).length >= R.current_streak(before, today).length
    assert R.goal_week_runs(after, today, rules)[1].length >= R.goal_week_runs(before, today, rules)[1].length


@FAST
@given(sessions_st, day_starts, day_starts)
def test_changing_day_start_regroups_but_keeps_total_minutes(sessions, ds1, ds2):
    a, b = R.day_totals(sessions, ds1), R.day_totals(sessions, ds2)
    expected = sum(s for *_, s in sessions)
    assert abs(sum(a.values()) - expected) < 1e-6
    assert abs(sum(b.values()) - expected) < 1e-6
    # Every session moves by at most one day.
    for start, off, _ in sessions:
        assert abs((R.practice_day(start, off, ds1) - R.practice_day(start, off, ds2)).days) <= 1


@FAST
@given(instants, offsets, day_starts)
def test_practice_day_is_within_a_day_of_the_utc_date(start, off, ds):
    assert abs((R.practice_day(start, off, ds) - start.date()).days) <= 1


@FAST
@given(st.sets(todays, max_size=40), todays)
def test_current_streak_is_a_run_of_counting_days_ending_today_or_yesterday(days, today):
    run = R.current_streak(days, today)
    if run.length:
        assert run.end in (today, today - timedelta(days=1))
        assert all(run.start + timedelta(days=i) in days for i in range(run.length))
        assert run.start - timedelta(days=1) not in days
    else:
        assert today not in days and today - timedelta(days=1) not in days


@FAST
@given(st.sets(todays, max_size=60), todays, st.integers(1, 7), st.integers(0, 6))
def test_goal_weeks(days, today, goal, week_starts):
    rules = R.Rules(goal_days_per_week=goal, week_starts=week_starts)
    current, longest = R.goal_week_runs(days, today, rules)
    assert current.length <= longest.length
    for w in R.recent_weeks(days, today, rules, 4):
        assert w.start.weekday() == week_starts
        assert 0 <= w.days_counted <= w.days_elapsed <= 7
        assert w.met == (w.days_counted >= goal)


# --- storage properties ------------------------------------------------------------------------

# Stored text holds no control characters (notes: tabs and line breaks; CR becomes LF), no
# bidirectional overrides and no Unicode line separators; cells that a spreadsheet would run
# as a formula are generated on purpose: the CSV export escapes them, the import undoes it.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
_printable = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=_BIDI)
_formula_starts = st.sampled_from(["", "", "=", "+", "-", "@", "'", "'=", "''+", "'-", "=-"])
texts = st.one_of(st.none(), st.tuples(_formula_starts, st.text(_printable, max_size=40)).map("".join))
notes = st.one_of(
    st.none(),
    st.tuples(_formula_starts, st.text(st.one_of(_printable, st.sampled_from("\t\n\r")), max_size=40)).map("".join),
)
records_st = st.lists(
    st.fixed_dictionaries(
        {
            "exercise": st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-:,\" "), min_size=1, max_size=20).filter(str.strip),
            "title": texts,
            "category": st.one_of(st.none(), st.sampled_from(["breathing", "body-scan", "sleep"])),
            "started_at": instants.map(R.format_utc),
            "utc_offset": offsets.map(R.format_offset),
            "planned_s": st.one_of(st.none(), st.floats(0, 7200, allow_nan=False)),
            "practiced_s": seconds,
            "completed": st.booleans(),
            "source": st.sampled_from(SOURCES),
            "mood_before": st.one_of(st.none(), st.integers(0, 10)),
            "mood_after": st.one_of(st.none(), st.integers(0, 10)),
            "note": notes,
        }
    ),
    max_size=12,
)


def _journal(folder: str, name: str) -> Journal:
    return Journal.open(Path(folder) / name, clock=lambda: datetime(2027, 6, 1, tzinfo=timezone.utc))


@SLOW
@given(records_st, st.sampled_from(["json", "csv"]))
def test_export_import_round_trips_exactly_and_is_idempotent(records, fmt):
    with tempfile.TemporaryDirectory() as folder:
        with _journal(folder, "a.sqlite3") as a:
            a.import_records(records)
            exported = a.export_records()
            text = exchange.dump_records(exported, fmt, "2027-06-01T00:00:00Z")
        loaded, labels = exchange.load_records(text, f"export.{fmt}")
        with _journal(folder, "b.sqlite3") as b:
            first = b.import_records(loaded, labels)
            assert first.added == len(exported)
            assert b.export_records() == exported
            again = b.import_records(loaded, labels)
            assert (again.added, again.unchanged, again.conflicts) == (0, len(exported), ())
            assert b.count() == len(exported)


@SLOW
@given(sessions_st, day_starts)
def test_sql_day_grouping_equals_the_rules(sessions, ds):
    with tempfile.TemporaryDirectory() as folder, _journal(folder, "j.sqlite3") as j:
        j.import_records(
            [
                {"exercise": "x", "started_at": R.format_utc(t), "utc_offset": R.format_offset(o), "practiced_s": s}
                for t, o, s in sessions
            ]
        )
        stored = [(R.parse_utc(a), R.parse_offset(o), p) for a, o, p in j.report_rows()]
        epoch = date(1970, 1, 1).toordinal()
        sql = {date.fromordinal(epoch + d): sec for d, _, sec, _ in j.day_summary(ds)}
        expected = R.day_totals(stored, ds)
        assert sql.keys() == expected.keys()
        assert all(abs(sql[d] - expected[d]) < 1e-6 for d in sql)


# --- forgiving streaks: rest days and freezes (spec "Streaks and goals") ------------------------

day_sets = st.sets(st.dates(date(2024, 1, 1), date(2024, 4, 30)), max_size=80)
rest_sets = st.frozensets(st.integers(0, 6), max_size=7)
forgiving_rules = st.builds(
    R.Rules, rest_days=rest_sets, freeze_every=st.integers(1, 10), freeze_max=st.integers(0, 4)
)
near_todays = st.dates(date(2023, 12, 20), date(2024, 5, 20))


def _between(days, run):
    return sum(1 for d in days if run.start is not None and run.start <= d <= run.end)


@FAST
@given(day_sets, forgiving_rules, near_todays)
def test_a_freeze_never_adds_to_a_count(days, rules, today):
    s = R.streaks(days, today, rules)
    # Only counting days add: a run's number is the counting days it spans, nothing else.
    assert s.current.length == _between({d for d in days if d <= today}, s.current)
    assert s.longest.length == _between(days, s.longest)
    assert s.current.length <= s.longest.length
    # A frozen day is a missed day that is not a rest day, already over, never counted twice.
    assert not set(s.frozen) & days and len(set(s.frozen)) == len(s.frozen)
    assert all(d.weekday() not in rules.rest_days and d < today for d in s.frozen)
    assert set(s.current_frozen) <= set(s.frozen)
    assert 0 <= s.held <= rules.freeze_max
    # Every freeze used was earned: at most one per freeze_every counting days.
    assert len(s.frozen) <= len([d for d in days if d <= today]) // rules.freeze_every
    # Without freezes, the same days give the same numbers (rest days alone may still bridge).
    plain = R.streaks(days, today, R.Rules(rest_days=rules.rest_days, freeze_max=0))
    assert s.current.length >= plain.current.length and s.longest.length >= plain.longest.length


@FAST
@given(day_sets, near_todays)
def test_without_rest_days_or_freezes_streaks_are_the_plain_ones(days, today):
    s = R.streaks(days, today, R.Rules(freeze_max=0))
    assert s.current == R.current_streak(days, today)
    assert s.longest == R.longest_streak(days)
    assert s.frozen == () and s.held == 0


@FAST
@given(sessions_st, st.data(), day_starts, min_minutes, forgiving_rules, todays)
def test_deleting_a_session_never_raises_a_streak(sessions, data, ds, mm, rules, today):
    if not sessions:
        return
    rules = R.Rules(day_starts_at=ds, rest_days=rules.rest_days, freeze_every=rules.freeze_every,
                    freeze_max=rules.freeze_max)
    gone = data.draw(st.integers(0, len(sessions) - 1))
    before = R.streaks(counted(sessions, ds, mm), today, rules)
    after = R.streaks(counted(sessions[:gone] + sessions[gone + 1:], ds, mm), today, rules)
    assert after.current.length <= before.current.length
    assert after.longest.length <= before.longest.length


@FAST
@given(rest_sets, st.integers(1, 10), st.integers(0, 4), near_todays)
def test_rest_days_alone_never_make_a_streak(rest, every, most, today):
    s = R.streaks(set(), today, R.Rules(rest_days=rest, freeze_every=every, freeze_max=most))
    assert s.current.length == 0 and s.longest.length == 0
    assert s.held == 0 and s.frozen == () and s.current_rest == ()


@FAST
@given(day_sets, rest_sets, near_todays)
def test_a_rest_day_with_practice_counts_as_usual(days, rest, today):
    """Planning a day off never lowers a streak: practice on it counts, and without practice
    it bridges what would otherwise be a break."""
    with_rest = R.streaks(days, today, R.Rules(rest_days=rest, freeze_max=0))
    without = R.streaks(days, today, R.Rules(freeze_max=0))
    assert with_rest.current.length >= without.current.length
    assert with_rest.longest.length >= without.longest.length
