"""The journal and config commands, run through a small group that converts HavenError the
way the main CLI does (``haven: error: <message>``, exit code from the error)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from player.cli import journal as cli_journal
from player import paths
from player.errors import HavenError
from player.journal import Journal

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=LONDON)  # a Friday


class _App(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HavenError as exc:
            click.echo(f"haven: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def make_app() -> click.Group:
    app = _App("haven")
    cli_journal.register(app)
    return app


@pytest.fixture(autouse=True)
def london_now(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/London")
    # Laid out for 88 columns; other widths are tested in a real terminal
    # (test_terminal_polish.py).
    monkeypatch.setenv("COLUMNS", "88")
    time.tzset()
    monkeypatch.setattr(cli_journal, "_now", lambda: NOW)
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def run(*args: str, input: str | None = None, code: int = 0):
    result = CliRunner().invoke(make_app(), list(args), input=input)
    assert result.exit_code == code, (result.output, result.exception)
    return result


def add(*args: str) -> str:
    out = run("log", "add", *args).stdout
    match = re.fullmatch(r"Added ([0-9a-f]{8}) .*\.\n", out)
    assert match, out
    return match.group(1)


# --- log ---------------------------------------------------------------------------------------


def test_log_add_and_list():
    out = run("log", "add", "sitting", "--minutes", "20", "--at", "2026-11-19 07:30", "--note", "calm",
              "--mood-before", "4", "--mood-after", "7").stdout
    assert re.fullmatch(r"Added [0-9a-f]{8} sitting, 20 min on Thu 19 Nov 2026 07:30\.\n", out)
    add("yoga", "--minutes", "35", "--at", "2026-11-20 00:40")
    listing = run("log").stdout.splitlines()
    assert listing[0].split() == ["ID", "Started", "(local)", "Length", "Exercise", "Status", "Mood"]
    assert re.match(r"[0-9a-f]{8}  2026-11-20 00:40 +35 min  yoga +manual$", listing[1])
    assert re.match(r"[0-9a-f]{8}  2026-11-19 07:30 +20 min  sitting +manual +4→7$", listing[2])
    assert listing[3].strip() == "note: calm"


def test_log_json_has_practice_days_and_full_records():
    add("yoga", "--minutes", "35", "--at", "2026-11-20 00:40")
    data = json.loads(run("log", "--json").stdout)
    (rec,) = data["sessions"]
    assert rec["practice_day"] == "2026-11-19"  # 00:40 counts for the day before
    assert rec["started_at"] == "2026-11-20T00:40:00Z" and rec["utc_offset"] == "+00:00"
    assert rec["practiced_minutes"] == 35.0 and rec["source"] == "manual" and rec["status"] == "manual"
    assert set(rec) >= {"id", "exercise", "title", "category", "ended_at", "planned_s", "practiced_s",
                        "completed", "mood_before", "mood_after", "note", "created_at", "updated_at"}


def test_log_uses_the_summer_offset_for_summer_times():
    add("walk", "--minutes", "10", "--at", "2026-07-01 07:30")
    rec = json.loads(run("log", "--json").stdout)["sessions"][0]
    assert (rec["started_at"], rec["utc_offset"]) == ("2026-07-01T06:30:00Z", "+01:00")


def test_log_since_and_limit():
    for day in range(10, 20):
        add("d", "--minutes", "5", "--at", f"2026-11-{day} 08:00")
    assert len(json.loads(run("log", "--json", "--since", "2026-11-17").stdout)["sessions"]) == 3
    assert len(json.loads(run("log", "--json", "--since", "2w").stdout)["sessions"]) == 10
    assert len(json.loads(run("log", "--json", "--limit", "4").stdout)["sessions"]) == 4
    text = run("log", "--limit", "2").stdout
    assert text.rstrip().endswith("showing the 2 newest of 10 sessions; use --limit N or --since DATE for more")
    err = run("log", "--since", "soon", code=2).stderr
    assert err == "haven: error: --since 'soon': use a date (2026-11-01) or a number of days or weeks (7d, 4w)\n"


def test_log_empty():
    assert run("log").stdout == "No sessions recorded yet.\n"


def test_log_add_errors():
    r = run("log", "add", "x", "--minutes", "5", "--at", "2026-11-21 07:30", code=2)
    assert r.stderr == "haven: error: the start time 2026-11-21 07:30 is in the future\n"
    r = run("log", "add", "x", "--minutes", "5", "--at", "yesterday", code=2)
    assert r.stderr.startswith("haven: error: cannot read the time 'yesterday'; use ")
    r = run("log", "add", "x", "--minutes", "5", "--mood-before", "11", code=2)
    assert "'11' is not a whole number from 0 to 10" in r.stderr
    run("log", "add", "x", "--minutes", "0", code=2)


def test_log_edit():
    sid = add("yoga", "--minutes", "35", "--at", "2026-11-19 07:00", "--note", "hm", "--mood-after", "6")
    out = run("log", "edit", sid, "--minutes", "30", "--note", "", "--mood-after", "none").stdout
    assert out == f"Edited {sid} yoga, 30 min on Thu 19 Nov 2026 07:00.\n"
    rec = json.loads(run("log", "--json").stdout)["sessions"][0]
    assert (rec["practiced_s"], rec["note"], rec["mood_after"], rec["ended_at"]) == (1800.0, None, None, "2026-11-19T07:30:00Z")
    r = run("log", "edit", sid, code=2)
    assert r.stderr.startswith("haven: error: nothing to change: give at least one of --minutes")
    r = run("log", "edit", "abcdef12", "--minutes", "3", code=2)
    assert r.stderr == "haven: error: no session with id 'abcdef12' (`haven log` lists them)\n"


def test_log_delete_asks_first():
    sid = add("yoga", "--minutes", "35", "--at", "2026-11-19 07:00")
    r = run("log", "delete", sid, input="n\n")
    assert r.stdout.endswith("Nothing deleted.\n")
    assert f"Delete {sid} yoga, 35 min on Thu 19 Nov 2026 07:00? [y/N]" in r.stdout
    r = run("log", "delete", sid, code=2)  # no answer at all (end of input): nothing deleted
    assert r.stderr.endswith("haven: error: not confirmed, nothing deleted (use --yes to delete without asking)\n")
    assert len(json.loads(run("log", "--json").stdout)["sessions"]) == 1
    assert run("log", "delete", sid, input="y\n").stdout.endswith(f"Deleted {sid} yoga, 35 min on Thu 19 Nov 2026 07:00.\n")
    sid2 = add("sit", "--minutes", "5")
    assert run("log", "delete", sid2, "--yes").stdout == f"Deleted {sid2} sit, 5 min on Fri 20 Nov 2026 11:55.\n"
    assert run("log").stdout == "No sessions recorded yet.\n"


# --- reports ---------------------------------------------------------------------------------------


def _week_of_practice():
    # Mon 16 .. Thu 19 Nov, Thursday's at 01:30 on Friday (counts for Thursday).
    add("body-scan", "--minutes", "10", "--at", "2026-11-16 07:00", "--category", "body-scan",
        "--mood-before", "3", "--mood-after", "6")
    add("sitting", "--minutes", "20", "--at", "2026-11-17 07:00", "--category", "meditation")
    add("sitting", "--minutes", "25", "--at", "2026-11-18 21:00", "--category", "meditation",
        "--mood-before", "5", "--mood-after", "6")
    add("breathing", "--minutes", "0.5", "--at", "2026-11-19 07:00")  # too short to count alone
    add("breathing", "--minutes", "40", "--at", "2026-11-20 01:30")


def test_stats_json_and_text():
    _week_of_practice()
    data = json.loads(run("stats", "--json").stdout)
    assert set(data) == {"today", "rules", "totals", "this_week", "by_category", "by_exercise", "mood", "mood_trend", "streaks"}
    assert data["today"] == "2026-11-20"
    assert data["totals"] == {
        "sessions": 5, "completed_sessions": 5, "practiced_minutes": 95.5, "counting_days": 4,
        "first_day": "2026-11-16", "last_day": "2026-11-19", "average_session_minutes": 19.1,
    }
    assert data["this_week"]["adherence"] == "4 of 7 days" and data["this_week"]["status"] == "on track"
    assert data["this_week"]["sessions"] == 5
    assert data["mood"] == {"rated_sessions": 2, "average_before": 4.0, "average_after": 6.0, "average_change": 2.0}
    assert data["by_category"][0] == {"category": "meditation", "sessions": 2, "practiced_minutes": 45.0, "average_minutes": 22.5}
    assert data["by_exercise"][0]["exercise"] == "sitting"
    assert data["streaks"] == {"show_streaks": True, "current_days": 4, "longest_days": 4, "goal_weeks_run": 0,
                              "rest_days": [], "freezes_held": 0}
    text = run("stats").stdout
    assert "Total       5 sessions (5 completed), 1 h 36 min, 4 practice days since Mon 16 Nov 2026" in text
    assert "This week   4 of 7 days (goal 5) — on track; 5 sessions, 1 h 36 min" in text
    assert "Mood        4.0 before → 6.0 after (+2.0) over 2 rated sessions" in text


def test_stats_empty():
    assert run("stats").stdout.startswith("No sessions recorded yet.")
    assert json.loads(run("stats", "--json").stdout)["totals"]["average_session_minutes"] is None


def test_streak_is_alive_until_today_ends():
    _week_of_practice()
    data = json.loads(run("streak", "--json").stdout)
    assert data["today_counts"] is False
    assert data["current_streak"] == {"days": 4, "start": "2026-11-16", "end": "2026-11-19", "alive_until": "2026-11-21T04:00+00:00",
                                      "frozen_days": [], "rest_days": []}
    assert data["weekly_goal"]["this_week"]["days_counted"] == 4
    text = run("streak").stdout.splitlines()
    assert text[0] == "Current streak: 4 days (since Mon 16 Nov); practise today to keep it (until 04:00 Sat)"
    assert text[2] == "Freezes:        0 of 2 held (one per 7 practice days); next after 3 more"
    assert text[3] == "This week:      4 of 7 days (goal 5) — on track"


def test_show_streaks_false_hides_counts_not_the_record():
    _week_of_practice()
    run("config", "set", "show_streaks", "false")
    text = run("streak").stdout
    assert "Current streak" not in text and "Longest" not in text
    assert "This week:      4 of 7 days (goal 5)" in text
    assert "hidden (show_streaks = false)" in text
    data = json.loads(run("streak", "--json").stdout)
    assert data["current_streak"]["days"] is None and data["weekly_goal"]["this_week"]["days_counted"] == 4
    assert "streak" not in run("calendar", "--no-color").stdout.splitlines()[-1]
    assert "Streak" not in run("stats").stdout


def test_calendar_plain():
    _week_of_practice()
    out = run("calendar", "--weeks", "3").stdout.splitlines()
    assert out[0].strip() == "Nov"
    assert out[1] == "Mon · · ▒"  # 10 min
    assert out[2] == "Tue · · ▓"  # 20 min
    assert out[3] == "Wed · · ▓"  # 25 min
    assert out[4] == "Thu · · █"  # 0.5 + 40 min
    assert out[5] == "Fri · · ·◂"
    assert out[6] == "Sat · ·" and out[7] == "Sun · ·"
    assert "◂ today" in out[9]
    assert out[10] == "░ 1–10 min, ▒ 10–20 min, ▓ 20–30 min, █ 30+ min; under 1 min does not count"
    assert out[12] == "This week: 4 of 7 days (goal 5) — on track · streak 4 days (longest 4)"


def test_calendar_levels_follow_minutes_and_week_start():
    add("a", "--minutes", "5", "--at", "2026-11-15 09:00")  # Sunday
    add("b", "--minutes", "15", "--at", "2026-11-16 09:00")
    data = json.loads(run("calendar", "--weeks", "2", "--json").stdout)
    assert len(data["days"]) == 14 and data["start"] == "2026-11-09"
    levels = {d["date"]: d["level"] for d in data["days"]}
    assert levels["2026-11-15"] == 1 and levels["2026-11-16"] == 2 and levels["2026-11-17"] == 0
    assert [d["date"] for d in data["days"] if d["today"]] == ["2026-11-20"]
    assert all(d["future"] for d in data["days"] if d["date"] > "2026-11-20")
    run("config", "set", "week_starts", "sunday")
    data = json.loads(run("calendar", "--weeks", "1", "--json").stdout)
    assert data["start"] == "2026-11-15" and data["week_starts"] == "sunday"
    assert run("calendar", "--weeks", "1").stdout.splitlines()[1].startswith("Sun ░")


def _practice_with_a_missed_day_and_a_rest_day():
    """Mon 2 .. Tue 10 Nov daily (Sunday 8 practised anyway), Wednesday 11 missed, Thu 12 ..
    Sat 14, Sunday 15 off, Mon 16 .. Thu 19; today is Friday 20, not practised yet."""
    run("config", "set", "journal.rest_days", "sunday")
    for day in (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16, 17, 18, 19):
        add("sitting", "--minutes", "10", "--at", f"2026-11-{day:02d} 07:00")


def test_streak_with_rest_days_and_freezes():
    _practice_with_a_missed_day_and_a_rest_day()
    data = json.loads(run("streak", "--json").stdout)
    # The freeze earned by the 7th practice day covers Wednesday; Sunday 15 is a rest day;
    # neither adds to the count: 16 practice days.
    assert data["current_streak"] == {
        "days": 16, "start": "2026-11-02", "end": "2026-11-19", "alive_until": "2026-11-21T04:00+00:00",
        "frozen_days": ["2026-11-11"], "rest_days": ["2026-11-15"],
    }
    assert data["longest_streak"] == {"days": 16, "start": "2026-11-02", "end": "2026-11-19"}
    assert data["freezes"] == {"held": 1, "max": 2, "every": 7, "next_in_days": 5, "covered": ["2026-11-11"]}
    assert data["rest_days"] == ["sunday"] and data["today_rest"] is False
    text = run("streak").stdout.splitlines()
    assert text[text.index("  covered by freezes: Wed 11 Nov") + 1:][:3] == [
        "Longest streak: 16 days (Mon 2 Nov 2026 – Thu 19 Nov 2026)",
        "Freezes:        1 of 2 held (one per 7 practice days); next after 5 more",
        "Rest days:      Sunday (they neither break nor extend a streak)",
    ]
    stats = json.loads(run("stats", "--json").stdout)["streaks"]
    assert stats == {"show_streaks": True, "current_days": 16, "longest_days": 16, "goal_weeks_run": 2,
                     "rest_days": ["sunday"], "freezes_held": 1}
    words = " ".join(run("stats").stdout.split())  # however the terminal's width wraps it
    assert "Streak 16 days (longest 16, 1 freeze held); weekly goal met 2 weeks in a row" in words
    # Without freezes Wednesday ends the run; without the rest day Sunday does too.
    run("config", "set", "journal.freeze_max", "0")
    assert json.loads(run("streak", "--json").stdout)["current_streak"]["days"] == 7
    assert json.loads(run("streak", "--json").stdout)["freezes"] is None
    run("config", "set", "journal.rest_days", "none")
    assert json.loads(run("streak", "--json").stdout)["current_streak"]["days"] == 4
    # Hidden streaks hide the freezes too; the record is unchanged.
    run("config", "set", "journal.show_streaks", "false")
    hidden = json.loads(run("streak", "--json").stdout)
    assert hidden["freezes"] is None and hidden["current_streak"]["frozen_days"] is None


def test_calendar_marks_rest_days_and_frozen_days_distinctly():
    _practice_with_a_missed_day_and_a_rest_day()
    data = json.loads(run("calendar", "--weeks", "3", "--json").stdout)
    marks = {d["date"]: (d["rest"], d["frozen"], d["counts"]) for d in data["days"]}
    assert marks["2026-11-11"] == (False, True, False)
    assert marks["2026-11-15"] == (True, False, False)
    assert marks["2026-11-08"] == (False, False, True)  # a rest day with practice counts
    out = run("calendar", "--weeks", "3").stdout.splitlines()
    assert out[3] == "Wed ▒ ◇ ▒"
    assert out[7] == "Sun ▒ –"  # the 8th was practised: a rest day with practice counts
    assert out[11] == "◇ missed, covered by a freeze; – rest day"
    colored = run("calendar", "--color", "--weeks", "3").stdout
    assert "◇" in colored and "–" in colored and "[" not in colored


def test_rest_days_setting_is_checked():
    assert run("config", "set", "rest_days", "Sunday, saturday").stdout == 'journal.rest_days = ["saturday", "sunday"]\n'
    r = run("config", "set", "rest_days", "sundays", code=2)
    assert "journal.rest_days: 'sundays' must be days of the week, e.g. sunday or saturday,sunday (none for no rest days)" in r.stderr
    assert run("config", "set", "freeze_max", "11", code=2).stderr.endswith("must be a whole number from 0 to 10\n")


def test_calendar_color_uses_rich():
    add("a", "--minutes", "5", "--at", "2026-11-16 09:00")
    out = run("calendar", "--color", "--weeks", "2").stdout
    assert "■" in out and "[" not in out  # markup rendered, not printed


# --- export / import -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_import_round_trip(tmp_path, monkeypatch, fmt):
    _week_of_practice()
    target = tmp_path / f"journal.{fmt}"
    r = run("export", "-o", str(target))
    assert r.stderr == f"Exported 5 sessions to {target}.\n"
    assert (target.stat().st_mode & 0o777) == 0o600
    assert run("export", "--format", fmt).stdout == target.read_text()
    original = json.loads(run("export", "--format", "json").stdout)["sessions"]
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "elsewhere"))
    assert run("import", str(target)).stdout == "Imported 5 new sessions.\n"
    assert run("import", str(target)).stdout == "Imported 0 new sessions (5 already in the journal).\n"
    assert json.loads(run("export").stdout)["sessions"] == original
    assert json.loads(run("import", str(target), "--json").stdout) == {
        "format": "haven", "added": 0, "unchanged": 5, "conflicts": [], "dry_run": False, "sessions": None}


def test_import_reports_bad_rows_with_line_numbers(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "exercise,started_at,practiced_s,mood_after\n"
        "sitting,2026-11-01T07:00:00Z,600,5\n"
        "sitting,2026-11-02 07:00,ten,\n"
        ",2026-11-03T07:00:00Z,60,11\n"
    )
    r = run("import", str(bad), code=2)
    assert r.stderr == (
        "haven: error: nothing imported: 2 invalid records: "
        f"{bad}: line 3: practiced_s must be a number of seconds, not 'ten'; "
        f"{bad}: line 4: exercise is required\n"
    )
    assert run("log").stdout == "No sessions recorded yet.\n"
    r = run("import", str(tmp_path / "missing.json"), code=2)
    assert r.stderr == f"haven: error: {tmp_path / 'missing.json'}: no such file\n"


def test_import_from_stdin():
    text = json.dumps([{"exercise": "walk", "started_at": "2026-11-01T07:00:00+01:00", "minutes": 12}])
    assert run("import", "-", input=text).stdout == "Imported 1 new session.\n"
    rec = json.loads(run("log", "--json").stdout)["sessions"][0]
    assert (rec["utc_offset"], rec["practiced_s"], rec["source"]) == ("+01:00", 720.0, "import")


# --- config ------------------------------------------------------------------------------------


def test_config_commands():
    lines = run("config", "list").stdout.splitlines()
    assert lines[0] == 'journal.day_starts_at      = "04:00"  (default)'
    assert run("config", "set", "day_starts_at", "05:00").stdout == 'journal.day_starts_at = "05:00"\n'
    assert run("config", "get", "journal.day_starts_at").stdout == "05:00\n"
    assert run("config", "get", "show_streaks").stdout == "true\n"
    assert run("config", "list").stdout.splitlines()[0] == 'journal.day_starts_at      = "05:00"'
    rows = json.loads(run("config", "list", "--json").stdout)
    assert rows[0] == {"key": "journal.day_starts_at", "value": "05:00", "default": "04:00", "set": True,
                       "help": rows[0]["help"]}
    assert run("config", "unset", "day_starts_at").stdout == 'journal.day_starts_at = "04:00"  (default)\n'
    r = run("config", "set", "journal.goal_days", "4", code=2)
    assert r.stderr == "haven: error: unknown setting 'journal.goal_days'; did you mean 'journal.goal_days_per_week'?\n"
    r = run("config", "set", "goal_days_per_week", "9", code=2)
    assert r.stderr == "haven: error: journal.goal_days_per_week: '9' must be a whole number from 1 to 7\n"


def test_day_start_change_regroups_history():
    add("late", "--minutes", "10", "--at", "2026-11-19 02:30")
    assert json.loads(run("log", "--json").stdout)["sessions"][0]["practice_day"] == "2026-11-18"
    run("config", "set", "day_starts_at", "00:00")
    assert json.loads(run("log", "--json").stdout)["sessions"][0]["practice_day"] == "2026-11-19"


# --- errors from the journal -----------------------------------------------------------------------


def test_a_foreign_journal_file_gives_a_clear_error():
    path = paths.journal_path()
    paths.ensure_private_dir(path.parent)
    path.write_bytes(b"not a database at all" * 10)
    r = run("stats", code=1)
    assert r.stderr.startswith(f"haven: error: {path} is not a Haven journal: it is not an SQLite database")
    assert path.read_bytes() == b"not a database at all" * 10


# --- check-in prompts ----------------------------------------------------------------------------


def _prompt(fn, text: str):
    runner = CliRunner()
    with runner.isolation(input=text) as (out, err, *_):
        value = fn()
    return value, out.getvalue().decode(), err.getvalue().decode()


def test_prompt_mood_reasks_until_valid_and_enter_skips():
    value, out, err = _prompt(cli_journal.prompt_mood, "abc\n12\n7\n")
    assert value == 7
    assert out.count("How do you feel right now, 0-10? ") == 3
    assert err.count("Please answer with a whole number from 0 to 10, or press Enter to skip.") == 2
    assert _prompt(cli_journal.prompt_mood, "\n")[0] is None
    assert _prompt(cli_journal.prompt_mood, "")[0] is None  # end of input
    assert _prompt(cli_journal.prompt_mood, " 0 \n")[0] == 0


def test_prompt_note():
    assert _prompt(cli_journal.prompt_note, "felt calmer\n")[0] == "felt calmer"
    assert _prompt(cli_journal.prompt_note, "\n")[0] is None


# --- start-up cost -------------------------------------------------------------------------------


def test_importing_the_commands_is_light():
    code = (
        "import sys, player.cli.journal as c; "
        "heavy = {'numpy', 'sounddevice', 'pyttsx3', 'rich', 'sqlite3', 'player.journal', 'player.config'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert {c.name for c in cli_journal.COMMANDS} == {"log", "stats", "streak", "calendar", "export", "import", "config"}


def test_recorded_sessions_appear_in_reports(haven_home):
    with Journal.open() as journal:
        sid = journal.start_session("body-scan", "Body scan", "body-scan", 600.0, mood_before=3)
        journal.finish_session(sid, 420.0, completed=False, mood_after=5, note="stopped early")
    rec = json.loads(run("log", "--json").stdout)["sessions"][0]
    assert (rec["status"], rec["practiced_minutes"], rec["note"]) == ("stopped", 7.0, "stopped early")
    assert "7 of 10 min" in run("log").stdout  # practised of planned


def test_log_add_files_a_known_exercise_under_its_title_and_category(haven_home):
    from player.cli.app import main as haven

    result = CliRunner().invoke(haven, ["log", "add", "body-scan", "--minutes", "12", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["title"] == "Body Scan" and record["category"] == "body-scan"
    other = CliRunner().invoke(haven, ["log", "add", "yoga class", "--minutes", "30", "--json"])
    assert json.loads(other.stdout)["category"] is None
