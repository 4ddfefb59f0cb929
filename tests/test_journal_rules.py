"""Examples for the counting rules: midnight, the day-start hour, DST, travel, weeks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from player.journal import rules as R

D = date.fromisoformat
FOUR = 4 * 60


def at(local: str, zone: str, fold: int = 0) -> tuple[datetime, int]:
    """A session start given as local wall time in a real zone: (UTC instant, stored offset)."""
    dt = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone), fold=fold)
    return dt.astimezone(timezone.utc), R.offset_of(dt)


def day_of(local: str, zone: str, ds: int = FOUR, fold: int = 0) -> date:
    utc, off = at(local, zone, fold)
    return R.practice_day(utc, off, ds)


def counting(*sessions: tuple[str, str, float], ds: int = FOUR, min_minutes: float = 1) -> set[date]:
    """Counting days from (local time, zone, minutes) triples."""
    rows = [(*at(local, zone), minutes * 60) for local, zone, minutes in sessions]
    return R.counting_days(R.day_totals(rows, ds), min_minutes)


# --- practice day ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "local, expected",
    [
        ("2026-11-17 00:40", "2026-11-16"),  # Tuesday 00:40 counts for Monday (the spec's example)
        ("2026-11-17 03:59", "2026-11-16"),
        ("2026-11-17 04:00", "2026-11-17"),  # the day-start hour itself belongs to the new day
        ("2026-11-16 23:59", "2026-11-16"),
        ("2026-11-17 12:00", "2026-11-17"),
    ],
)
def test_practice_day_around_midnight_and_day_start(local, expected):
    assert day_of(local, "Europe/London") == D(expected)


def test_day_start_at_midnight_uses_calendar_days():
    assert day_of("2026-11-17 00:40", "Europe/London", ds=0) == D("2026-11-17")
    assert day_of("2026-11-16 23:59", "Europe/London", ds=0) == D("2026-11-16")


def test_changing_day_starts_at_regroups_history():
    rows = [(*at("2026-11-17 02:30", "Europe/London"), 600.0), (*at("2026-11-17 20:00", "Europe/London"), 600.0)]
    assert R.day_totals(rows, FOUR) == {D("2026-11-16"): 600.0, D("2026-11-17"): 600.0}
    assert R.day_totals(rows, 0) == {D("2026-11-17"): 1200.0}
    assert R.day_totals(rows, 2 * 60) == {D("2026-11-17"): 1200.0}


def test_london_clocks_go_back_end_of_october():
    # 25 Oct 2026: 02:00 BST becomes 01:00 GMT, so 01:30 happens twice.
    assert at("2026-10-25 01:30", "Europe/London", fold=0)[1] == 60
    assert at("2026-10-25 01:30", "Europe/London", fold=1)[1] == 0
    assert day_of("2026-10-25 01:30", "Europe/London", fold=0) == D("2026-10-24")
    assert day_of("2026-10-25 01:30", "Europe/London", fold=1) == D("2026-10-24")
    assert day_of("2026-10-25 03:59", "Europe/London") == D("2026-10-24")
    assert day_of("2026-10-25 04:00", "Europe/London") == D("2026-10-25")
    # A daily 07:00 practice stays one session a day across the change.
    days = counting(*((f"2026-10-{d} 07:00", "Europe/London", 10) for d in range(22, 29)))
    assert days == {D(f"2026-10-{d}") for d in range(22, 29)}
    assert R.current_streak(days, D("2026-10-28")).length == 7


def test_new_york_clocks_go_forward_in_march():
    # 8 Mar 2026: 02:00 EST becomes 03:00 EDT.
    assert at("2026-03-08 01:30", "America/New_York")[1] == -5 * 60
    assert at("2026-03-08 03:30", "America/New_York")[1] == -4 * 60
    assert day_of("2026-03-08 03:30", "America/New_York") == D("2026-03-07")
    assert day_of("2026-03-08 04:10", "America/New_York") == D("2026-03-08")
    # Late-night sessions at 23:30 on both sides of the change each count for their own day.
    days = counting(*((f"2026-03-{d:02d} 23:30", "America/New_York", 15) for d in range(5, 11)))
    assert days == {D(f"2026-03-{d:02d}") for d in range(5, 11)}
    assert R.longest_streak(days).length == 6


def test_travel_each_session_keeps_its_own_offset():
    # London Monday morning, then New York Tuesday late evening (already Wednesday in UTC).
    days = counting(
        ("2026-11-16 07:00", "Europe/London", 10),
        ("2026-11-17 23:30", "America/New_York", 10),
        ("2026-11-18 07:00", "America/New_York", 10),
    )
    assert days == {D("2026-11-16"), D("2026-11-17"), D("2026-11-18")}
    assert R.current_streak(days, D("2026-11-18")).length == 3


def test_travel_two_sessions_on_one_local_day_count_once():
    # Tokyo Monday 05:00 (Sunday 20:00 UTC), then Los Angeles Monday 22:00 (Tuesday 06:00 UTC):
    # a day apart in UTC, the same practice day locally; their minutes add up.
    tokyo = at("2026-11-16 05:00", "Asia/Tokyo")
    la = at("2026-11-16 22:00", "America/Los_Angeles")
    assert tokyo[0].date() == D("2026-11-15") and la[0].date() == D("2026-11-17")
    totals = R.day_totals([(*tokyo, 30.0), (*la, 40.0)], FOUR)
    assert totals == {D("2026-11-16"): 70.0}
    assert R.counting_days(totals, 1) == {D("2026-11-16")}


# --- counting days ---------------------------------------------------------------------------


def test_min_minutes_threshold_adds_up_short_sessions():
    two_halves = [(*at("2026-11-16 07:00", "UTC"), 30.0), (*at("2026-11-16 19:00", "UTC"), 30.0)]
    assert R.counting_days(R.day_totals(two_halves, FOUR), 1) == {D("2026-11-16")}
    short = [(*at("2026-11-16 07:00", "UTC"), 59.0)]
    assert R.counting_days(R.day_totals(short, FOUR), 1) == set()
    assert R.counting_days(R.day_totals(short, FOUR), 0.5) == {D("2026-11-16")}
    ten = [(*at("2026-11-16 07:00", "UTC"), 599.0), (*at("2026-11-17 07:00", "UTC"), 600.0)]
    assert R.counting_days(R.day_totals(ten, FOUR), 10) == {D("2026-11-17")}


def test_float_sums_reach_the_threshold():
    rows = [(*at(f"2026-11-16 0{h}:00", "UTC"), s) for h, s in ((5, 56.3), (6, 1.4), (7, 2.3))]
    totals = R.day_totals(rows, 0)
    assert totals[D("2026-11-16")] < 60.0  # 56.3 + 1.4 + 2.3 falls short by a rounding error
    assert R.counting_days(totals, 1) == {D("2026-11-16")}


def test_min_minutes_zero_counts_any_day_with_a_session():
    rows = [(*at("2026-11-16 07:00", "UTC"), 0.0)]
    assert R.counting_days(R.day_totals(rows, FOUR), 0) == {D("2026-11-16")}
    assert R.counting_days(R.day_totals(rows, FOUR), 1) == set()


# --- streaks ---------------------------------------------------------------------------------


MON, TUE, WED, THU, FRI = (D("2026-11-16") + timedelta(days=i) for i in range(5))


def test_streak_alive_until_today_ends():
    days = {MON, TUE, WED}
    assert R.current_streak(days, WED) == R.Run(3, MON, WED)
    # Thursday morning, not practised yet: still alive.
    assert R.current_streak(days, THU) == R.Run(3, MON, WED)
    # Practised on Thursday: it grows.
    assert R.current_streak(days | {THU}, THU) == R.Run(4, MON, THU)
    # Thursday ended without practice: gone on Friday.
    assert R.current_streak(days, FRI) == R.Run(0, None, None)


def test_today_follows_the_day_start_hour_and_local_offset():
    london = ZoneInfo("Europe/London")
    assert R.today(datetime(2026, 11, 20, 2, 0, tzinfo=london), FOUR) == THU
    assert R.today(datetime(2026, 11, 20, 4, 0, tzinfo=london), FOUR) == FRI
    # 02:00 Friday is still Thursday's practice day, so a run ending Wednesday is alive.
    assert R.current_streak({MON, TUE, WED}, R.today(datetime(2026, 11, 20, 2, 0, tzinfo=london), FOUR)).length == 3
    # At UTC 23:30 it is already the next morning in Tokyo.
    assert R.today(datetime(2026, 11, 19, 23, 30, tzinfo=timezone.utc).astimezone(ZoneInfo("Asia/Tokyo")), FOUR) == FRI


def test_future_days_do_not_extend_the_current_streak():
    assert R.current_streak({MON, TUE, THU}, TUE).length == 2


def test_longest_streak():
    assert R.longest_streak(set()) == R.Run(0, None, None)
    days = {MON, TUE, THU, FRI, FRI + timedelta(days=1)}
    assert R.longest_streak(days) == R.Run(3, THU, FRI + timedelta(days=1))
    # Ties: the earliest run.
    assert R.longest_streak({MON, TUE, THU, FRI}) == R.Run(2, MON, TUE)
    # Across a month and a year end.
    assert R.longest_streak({D("2025-12-31"), D("2026-01-01")}).length == 2


# --- weeks -----------------------------------------------------------------------------------


def test_week_start_monday_and_sunday():
    assert R.week_start(D("2026-11-22"), 0) == D("2026-11-16")  # Sunday in a Monday week
    assert R.week_start(D("2026-11-22"), 6) == D("2026-11-22")  # Sunday starts its own week
    assert R.week_start(D("2026-11-21"), 6) == D("2026-11-15")


def test_adherence_depends_on_the_week_start():
    days = {D("2026-11-15")} | {D("2026-11-16") + timedelta(days=i) for i in range(4)}  # Sun + Mon-Thu
    today = D("2026-11-21")  # Saturday
    monday_week = R.week(days, R.week_start(today, 0), today, 5)
    sunday_week = R.week(days, R.week_start(today, 6), today, 5)
    assert (monday_week.days_counted, monday_week.met) == (4, False)
    assert (sunday_week.days_counted, sunday_week.met) == (5, True)
    assert monday_week.days_elapsed == 6 and monday_week.still_possible  # Sunday is left
    assert not R.week(days, R.week_start(today, 0), today, 7).still_possible


def _weeks_with(counts: list[int], first_monday: date) -> set[date]:
    days: set[date] = set()
    for i, n in enumerate(counts):
        start = first_monday + timedelta(weeks=i)
        days |= {start + timedelta(days=k) for k in range(n)}
    return days


def test_goal_week_run_is_not_reset_by_one_missed_day():
    first = D("2026-10-05")
    days = _weeks_with([7, 5, 6, 3, 5, 5, 6], first)  # the 4th week misses the goal
    today = first + timedelta(weeks=7, days=2)  # Wednesday of the 8th week, nothing yet
    rules = R.Rules(goal_days_per_week=5)
    current, longest = R.goal_week_runs(days, today, rules)
    assert current == R.Run(3, first + timedelta(weeks=4), first + timedelta(weeks=6))
    assert longest == R.Run(3, first, first + timedelta(weeks=2))
    # The current week joins the run once it meets the goal.
    this = first + timedelta(weeks=7)
    more = days | {this + timedelta(days=k) for k in range(5)}
    current, _ = R.goal_week_runs(more, this + timedelta(days=5), rules)
    assert current.length == 4
    weeks = R.recent_weeks(days, today, rules, 3)
    assert [(w.start, w.days_counted, w.met) for w in weeks] == [
        (first + timedelta(weeks=5), 5, True),
        (first + timedelta(weeks=6), 6, True),
        (this, 0, False),
    ]


def test_goal_week_run_with_sunday_weeks():
    # Sunday-to-Saturday weeks of 5 days: Sun..Thu.
    first = D("2026-10-04")  # a Sunday
    days = _weeks_with([5, 5], first)
    rules = R.Rules(goal_days_per_week=5, week_starts=6)
    current, longest = R.goal_week_runs(days, first + timedelta(weeks=2, days=1), rules)
    assert current.length == longest.length == 2
    # The same days in Monday weeks: only the week of Mon 5 Oct (Mon-Thu + Sun 11) reaches 5,
    # and the last full week (4 days) broke the run.
    current, longest = R.goal_week_runs(days, first + timedelta(weeks=2, days=1), R.Rules(goal_days_per_week=5))
    assert longest == R.Run(1, D("2026-10-05"), D("2026-10-05"))
    assert current.length == 0


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, minutes", [("+01:00", 60), ("-05:30", -330), ("Z", 0), ("+0545", 345), ("+14:00", 840), ("-00:00", 0)])
def test_offsets(text, minutes):
    assert R.parse_offset(text) == minutes
    assert R.parse_offset(R.format_offset(minutes)) == minutes


@pytest.mark.parametrize("bad", ["01:00", "+1:00", "+15:00", "+01:60", "UTC", ""])
def test_bad_offsets(bad):
    with pytest.raises(ValueError):
        R.parse_offset(bad)


def test_hhmm_and_instants():
    assert R.parse_hhmm("04:00") == 240 and R.format_hhmm(R.parse_hhmm("4:05")) == "04:05"
    for bad in ("24:00", "4", "04:60", "aa:bb"):
        with pytest.raises(ValueError):
            R.parse_hhmm(bad)
    instant = R.parse_utc("2026-11-20T07:30:00Z")
    assert instant == datetime(2026, 11, 20, 7, 30, tzinfo=timezone.utc)
    assert R.parse_utc("2026-11-20T08:30:00+01:00") == instant
    assert R.format_utc(instant.astimezone(ZoneInfo("Asia/Kolkata"))) == "2026-11-20T07:30:00Z"
    with pytest.raises(ValueError):
        R.parse_utc("2026-11-20T07:30:00")


def test_rules_validate():
    with pytest.raises(ValueError):
        R.Rules(goal_days_per_week=8)
    with pytest.raises(ValueError):
        R.Rules(day_starts_at=13 * 60)
    with pytest.raises(ValueError):
        R.Rules(min_minutes=-1)
