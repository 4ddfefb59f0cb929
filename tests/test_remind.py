"""``haven remind``: iCalendar files (issue 15, point 3), read back with the ``icalendar`` library
and expanded with ``dateutil``'s RFC 5545 recurrence rules, plus checks of the raw octets
(CRLF, 75-octet folding) that a parser forgives.

"Now" is a fixed Friday noon in London (``cli_journal._now``), set up as in
``test_cli_programs``, whose helpers these tests share.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import date, datetime, timedelta, timezone

import icalendar
import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_programs import NOW, TODAY, practise, run, set_now, setting  # noqa: F401 (fixture)

from player.library import reminders


def check_octets(data: bytes) -> None:
    """RFC 5545 section 3.1: CRLF line ends and content lines of at most 75 octets."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a character


def parse(data: bytes) -> icalendar.Calendar:
    check_octets(data)
    cal = icalendar.Calendar.from_ical(data)
    assert cal["VERSION"] == "2.0" and cal["PRODID"].startswith("-//Haven//")
    return cal


def events(cal) -> list:
    return [c for c in cal.walk() if c.name == "VEVENT"]


def occurrences(event, count: int) -> list[datetime]:
    """The first ``count`` starts of a repeating event, by dateutil's RFC 5545 rules."""
    rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=event.decoded("DTSTART"))
    return [start for _, start in zip(range(count), rule)]


# --- a recurring reminder --------------------------------------------------------------------


def test_a_weekly_reminder_on_chosen_days(tmp_path):
    out = tmp_path / "haven.ics"
    result = run("remind", "--at", "07:30", "--days", "mon,fri", "-o", str(out))
    assert result.output == (
        f"Wrote {out}: a reminder at 07:30 on Mon, Fri. Import it into your calendar app.\n"
    )
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    cal = parse(out.read_bytes())
    (event,) = events(cal)
    start = event.decoded("DTSTART")
    assert start == datetime(2026, 11, 23, 7, 30) and start.tzinfo is None  # floating time
    assert "TZID" not in event["DTSTART"].params
    assert event.decoded("DURATION") == timedelta(minutes=10)
    assert event.decoded("DTSTAMP") == NOW.astimezone(timezone.utc)
    assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "BYDAY": ["MO", "FR"]}
    assert occurrences(event, 4) == [
        datetime(2026, 11, 23, 7, 30), datetime(2026, 11, 27, 7, 30),
        datetime(2026, 11, 30, 7, 30), datetime(2026, 12, 4, 7, 30)]  # fmt: skip
    assert str(event["SUMMARY"]) == "Time to practise"
    (alarm,) = [c for c in event.walk() if c.name == "VALARM"]
    assert str(alarm["ACTION"]) == "DISPLAY" and str(alarm["DESCRIPTION"]) == "Time to practise"
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-5)


def test_a_daily_reminder_starts_today_when_its_time_is_still_ahead():
    result = run("remind", "--at", "18:05", "--before", "0")
    cal = parse(result.stdout_bytes)
    (event,) = events(cal)
    assert event.decoded("DTSTART") == datetime(2026, 11, 20, 18, 5)
    assert dict(event["RRULE"]) == {"FREQ": ["DAILY"]}
    (alarm,) = [c for c in event.walk() if c.name == "VALARM"]
    assert alarm.decoded("TRIGGER") == timedelta(0)


def test_weekday_groups_and_names():
    assert reminders.parse_days("weekdays") == (0, 1, 2, 3, 4)
    assert reminders.parse_days("Sunday, sat") == (5, 6)
    assert reminders.parse_days("tu,th,weekends") == (1, 3, 5, 6)
    assert reminders.describe_days((5, 6)) == "at weekends"
    cal = parse(run("remind", "--at", "7:05", "--days", "weekdays").stdout_bytes)
    (event,) = events(cal)
    assert event.decoded("DTSTART") == datetime(2026, 11, 23, 7, 5)  # Friday's 07:05 is gone
    assert event["RRULE"]["BYDAY"] == ["MO", "TU", "WE", "TH", "FR"]


def test_the_uid_is_stable_so_a_newer_file_updates_the_event(monkeypatch):
    def uid(*args):
        (event,) = events(parse(run("remind", *args).stdout_bytes))
        return str(event["UID"])

    first = uid("--at", "07:30", "--days", "mon")
    set_now(monkeypatch, NOW + timedelta(days=3))
    assert uid("--at", "07:30", "--days", "mon") == first
    assert uid("--at", "08:15", "--days", "mon") == first  # a new time updates the same event
    assert uid("--at", "07:30", "--days", "mon,tue") != first
    assert uid("--at", "07:30", "--days", "mon", "--title", "Evening sit") != first


@pytest.mark.parametrize(
    "args,message",
    [
        (["--at", "25:00"], "Error: --at must be a time of day like 07:30 or 19:05 (got '25:00')\n"),
        (["--at", "7"], "Error: --at must be a time of day like 07:30 or 19:05 (got '7')\n"),
        (["--at", "07:30", "--days", "mon,funday"],
         "Error: --days takes weekdays like mon,tue,fri, or daily, weekdays or weekends (got 'funday')\n"),
        (["--at", "07:30", "--days", "t"],
         "Error: --days takes weekdays like mon,tue,fri, or daily, weekdays or weekends (got 't')\n"),
        (["--at", "07:30", "--before", "-1"], "Error: --before must be between 0 and 1440 minutes\n"),
        (["--at", "07:30", "--program", "--days", "mon"],
         "Error: --days does not go with --program: the program's own days are used\n"),
        (["--at", "07:30", "--program", "--title", "x"],
         "Error: --title does not go with --program: each day is named after its practice\n"),
        (["--at", "07:30", "--program"],
         "Error: no program is running, so there is nothing to schedule for one "
         "('haven program start NAME' begins one)\n"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run("remind", *args, code=2)
    assert result.output == message


def test_a_folder_as_output_is_refused_in_one_line(tmp_path):
    result = run("remind", "--at", "07:30", "-o", str(tmp_path), code=2)
    assert result.output == f"Error: cannot write {tmp_path}: it is a folder, not a file\n"


# --- the text layer --------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n,;\\:\"é–😀"),
               min_size=1, max_size=300)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(summary=TEXT, description=TEXT)
def test_any_text_survives_escaping_and_folding(summary, description):
    event = reminders.Event("x@haven", datetime(2026, 1, 2, 3, 4), 10, summary, description)
    data = reminders.calendar([event], NOW).encode("utf-8")
    (parsed,) = events(parse(data))
    assert str(parsed["SUMMARY"]) == summary
    assert str(parsed["DESCRIPTION"]) == description


@given(st.text(min_size=0, max_size=400))
def test_folding_keeps_every_character_and_the_octet_limit(line):
    line = line.replace("\r", "").replace("\n", "")
    folded = reminders.fold(line)
    pieces = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in pieces)
    assert all(p.startswith(" ") for p in pieces[1:])
    assert pieces[0] + "".join(p[1:] for p in pieces[1:]) == line


# --- a program's plan ------------------------------------------------------------------------


def program_events(tmp_path) -> tuple[str, list]:
    out = tmp_path / "plan.ics"
    result = run("remind", "--at", "07:30", "--program", "--before", "10", "-o", str(out))
    return result.output, events(parse(out.read_bytes()))


def test_a_running_program_schedules_its_remaining_days_and_check_ins(tmp_path):
    run("program", "start", "foundations", "--on", "yesterday")  # Thursday 19 November
    practise("three-minute-breathing-space", TODAY - timedelta(days=1))
    said, found = program_events(tmp_path)
    assert said == (
        f"Wrote {tmp_path / 'plan.ics'}: 23 practice days and 15 check-ins of Foundations. "
        "Import it into your calendar app.\n"
    )
    starts = [e.decoded("DTSTART") for e in found]
    assert starts == sorted(starts) and all(s.time() == datetime(1, 1, 1, 7, 30).time() for s in starts)
    first = found[0]
    assert first.decoded("DTSTART") == datetime(2026, 11, 20, 7, 30)  # today: not done yet
    assert str(first["SUMMARY"]) == "Haven: mindful-breathing, 8 min"
    assert str(first["DESCRIPTION"]) == (
        "Foundations, week 1: Coming back to the breath.\n"
        "Today's practice: mindful-breathing, 8 min.\n"
        "Play it with: haven today\n"
        "(or on its own: haven play mindful-breathing --minutes 8)\n"
        "A check-in is due too (at the start); haven today asks it."
    )
    assert first.decoded("DURATION") == timedelta(minutes=8)
    assert "RRULE" not in first
    by_day = {e.decoded("DTSTART").date(): e for e in found}
    # Week 1's five remaining practices fill Friday to Tuesday; Wednesday is free.
    assert [d in by_day for d in (date(2026, 11, 24), date(2026, 11, 25))] == [True, False]
    week3 = by_day[date(2026, 12, 3)]  # day 14: week 3's first practice and a check-in
    assert str(week3["SUMMARY"]) == "Haven: thoughts-as-passing-events, 10 min"
    assert str(week3["DESCRIPTION"]).endswith("A check-in is due too (after week 2); haven today asks it.")
    end = by_day[date(2026, 12, 17)]
    assert str(end["SUMMARY"]) == "Haven check-in (at the end)"
    assert str(end["DESCRIPTION"]) == (
        "Foundations: a check-in is due (at the end), a moment to notice how things have been.\n"
        "Answer it with: haven today"
    )
    boosters = [e for e in found if "month" in str(e["SUMMARY"])]
    assert len(boosters) == 12 and boosters[0].decoded("DTSTART").date() == date(2026, 12, 17) + timedelta(days=28)
    for e in found:
        (alarm,) = [c for c in e.walk() if c.name == "VALARM"]
        assert alarm.decoded("TRIGGER") == timedelta(minutes=-10)
    assert len({str(e["UID"]) for e in found}) == len(found)


def test_once_today_is_done_the_plan_starts_tomorrow_and_keeps_its_uids(tmp_path, monkeypatch):
    run("program", "start", "foundations", "--on", "yesterday")
    practise("three-minute-breathing-space", TODAY - timedelta(days=1))
    _, before = program_events(tmp_path)
    practise("mindful-breathing", TODAY, minutes=8)
    said, after = program_events(tmp_path)
    assert "22 practice days and 15 check-ins" in said
    # Today keeps only the check-in still due; the practices start tomorrow.
    assert str(after[0]["SUMMARY"]) == "Haven check-in (at the start)"
    assert after[0].decoded("DTSTART") == datetime(2026, 11, 20, 7, 30)
    assert after[1].decoded("DTSTART") == datetime(2026, 11, 21, 7, 30)
    assert str(after[1]["SUMMARY"]) == "Haven: mindful-breathing, 8 min"
    # Each remaining practice keeps its UID, so re-importing moves it rather than adding it.
    old = {str(e["UID"]): e.decoded("DTSTART") for e in before}
    new = {str(e["UID"]): e.decoded("DTSTART") for e in after}
    assert len(set(old) - set(new)) == 1 and len(set(new) - set(old)) == 1  # the check-in alone now
    assert all(new[uid] == old[uid] for uid in new if uid in old)  # nothing else changed


def test_a_missed_day_moves_the_rest_of_the_week_under_the_same_uids(tmp_path, monkeypatch):
    run("program", "start", "foundations", "--on", "yesterday")
    practise("three-minute-breathing-space", TODAY - timedelta(days=1))
    _, before = program_events(tmp_path)
    set_now(monkeypatch, NOW + timedelta(days=1))  # Friday passed without practice
    _, after = program_events(tmp_path)
    old = {str(e["UID"]): e.decoded("DTSTART").date() for e in before}
    new = {str(e["UID"]): e.decoded("DTSTART").date() for e in after}
    moved = sorted(new[uid] for uid in new if uid in old and new[uid] != old[uid])
    assert moved == [date(2026, 11, d) for d in (21, 22, 23, 24, 25)]  # Wednesday is used now
    assert all(new[uid] == old[uid] for uid in new if uid in old and old[uid] > date(2026, 11, 25))


def test_remind_program_does_not_write_to_the_journal(tmp_path, haven_home):
    run("program", "start", "foundations")
    journal = next(p for p in haven_home.rglob("*") if re.search(r"journal.*\.(db|sqlite3?)$", p.name))
    before = journal.stat().st_mtime_ns, journal.read_bytes()
    program_events(tmp_path)
    assert (journal.stat().st_mtime_ns, journal.read_bytes()) == before
