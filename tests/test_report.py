"""``haven report``: the figures against a journal with a known history, the page's promises
(self-contained, private, accessible), the options, and start-up staying light.

"Now" is Friday 2026-11-20 12:00 in London (``cli_journal._now``). The history (practice days
start at 04:00, a day counts from 1 minute, the weekly goal is 5 days, weeks start Monday):

    week of Oct 26   Wed 28  mindful-breathing 10 min                              1 day
    week of Nov 2    Mon  3MBS 3 · Tue, Wed mindful-breathing 8 (Wed: a note) ·
                     Thu rest · Fri mindful-breathing stopped at 4 · Sat safe-place 10   5 days, goal met
    week of Nov 9    Mon body-scan 15 · Wed 00:40 body-scan 15 (counts for Tue) ·
                     Sat body-scan stopped at 6                                    3 days, missed
    week of Nov 16   Mon box-breathing 5 · Thu body-scan 20 · Fri (today) 3MBS 3   3 days so far

The twelve-weeks program started Mon Nov 2, with a check-in at the start and after week 2
(relationships skipped) and a reflection after week 1.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from player.cli import journal as cli_journal
from player.cli.app import main
from player.journal import Journal
from player.library.programs import find_program

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=LONDON)  # a Friday

# (day, local time, exercise, title, category, minutes practised, completed, note)
HISTORY = [
    ("2026-10-28", "07:30", "mindful-breathing", "Mindful breathing", "meditation", 10, True, None),
    ("2026-11-02", "07:30", "three-minute-breathing-space", "Three-minute breathing space", "meditation", 3, True, None),
    ("2026-11-03", "07:30", "mindful-breathing", "Mindful breathing", "meditation", 8, True, None),
    ("2026-11-04", "07:30", "mindful-breathing", "Mindful breathing", "meditation", 8, True, "calmer than expected <b>really</b>"),
    ("2026-11-06", "07:30", "mindful-breathing", "Mindful breathing", "meditation", 4, False, None),
    ("2026-11-07", "21:00", "safe-place", "Safe place", "self-compassion", 10, True, None),
    ("2026-11-09", "07:30", "body-scan", "Body scan", "body-scan", 15, True, None),
    ("2026-11-11", "00:40", "body-scan", "Body scan", "body-scan", 15, True, None),
    ("2026-11-14", "07:30", "body-scan", "Body scan", "body-scan", 6, False, None),
    ("2026-11-16", "07:30", "box-breathing", "Box breathing", "breathing", 5, True, None),
    ("2026-11-19", "07:30", "body-scan", "Body scan", "body-scan", 20, True, None),
    ("2026-11-20", "07:30", "three-minute-breathing-space", "Three-minute breathing space", "meditation", 3, True, None),
]


def _utc(day: str, hhmm: str) -> datetime:
    local = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=LONDON)
    return local.astimezone(timezone.utc)


def build_history(now: datetime = NOW) -> None:
    """Write HISTORY, the program run, its check-ins and a reflection into the journal of
    ``$HAVEN_HOME`` (the clock is moved to each answer's time)."""
    clock = {"now": now}
    with Journal.open(clock=lambda: clock["now"].astimezone(timezone.utc)) as journal:
        records = []
        for day, hhmm, exercise, title, category, minutes, completed, note in HISTORY:
            start = _utc(day, hhmm)
            records.append({
                "exercise": exercise, "title": title, "category": category,
                "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "utc_offset": "+00:00",
                "planned_s": 600.0 if not completed else minutes * 60.0,
                "practiced_s": minutes * 60.0, "completed": completed, "source": "played",
                "note": note,
            })
        assert journal.import_records(records).added == len(HISTORY)
        run_ = journal.start_program("twelve-weeks", "Twelve Weeks of Practice", date(2026, 11, 2))
        clock["now"] = _utc("2026-11-02", "08:00")
        journal.add_program_checkin(run_.id, 0, 4, "nervous about starting",
                                    {"anxiety": 7, "relationships": 5, "urges": 6})
        clock["now"] = _utc("2026-11-09", "08:00")
        journal.add_program_reflection(run_.id, 1, "Breathing helped most.")
        clock["now"] = _utc("2026-11-16", "08:00")
        journal.add_program_checkin(run_.id, 1, 6, None, {"anxiety": 5, "urges": 4})


@pytest.fixture(autouse=True)
def setting(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    monkeypatch.setattr(cli_journal, "_now", lambda: NOW)
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.fixture
def history():
    build_history()


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def figures(*args: str) -> dict:
    return json.loads(run("report", "--json", *args).stdout)


# --- the figures -------------------------------------------------------------------------------


def test_summary_sentences_say_it_plainly(history):
    data = figures()
    total = sum(len(w.practices) for w in find_program("twelve-weeks").weeks)
    assert data["summary"] == [
        "You practised on 12 of the last 28 days: 1 h 47 min in 12 sessions.",
        "The weekly goal of 5 days was met in 1 of the last 3 full weeks.",
        f"Twelve Weeks of Practice: 9 of {total} practices done (running).",
        "Current streak: 2 days.",
    ]
    assert data["period"] == {"kind": "all", "start": "2026-10-28", "end": "2026-11-20", "days": 24}
    assert data["recent"] == {"days": 28, "start": "2026-10-24", "end": "2026-11-20",
                              "days_practised": 12, "sessions": 12, "practiced_minutes": 107.0}


def test_weeks_minutes_days_and_goal(history):
    data = figures()
    weeks = [(w["start"], w["sessions"], w["practiced_minutes"], w["days_counted"], w["status"],
              w["adherence"]) for w in data["weeks"]]
    assert weeks == [
        ("2026-10-26", 1, 10.0, 1, "missed", "1 of 7 days"),
        ("2026-11-02", 5, 33.0, 5, "met", "5 of 7 days"),
        # The body scan at 00:40 on Wednesday counts for Tuesday (days start at 04:00).
        ("2026-11-09", 3, 36.0, 3, "missed", "3 of 7 days"),
        ("2026-11-16", 3, 28.0, 3, "on track", "3 of 7 days"),
    ]
    assert data["goal"] == {"goal_days": 5, "weeks_finished": 3, "weeks_met": 1,
                            "adherence_percent": 33, "current_run_weeks": 0, "longest_run_weeks": 1}
    assert data["streaks"] == {"show_streaks": True, "current_days": 2, "longest_days": 3,
                               "longest_start": "2026-11-02", "longest_end": "2026-11-04"}


def test_calendar_mix_and_completion(history):
    data = figures()
    cal = {d["date"]: (d["minutes"], d["level"]) for d in data["calendar"]}
    assert len(cal) == 24
    assert cal["2026-11-05"] == (0.0, 0)  # the day off
    assert cal["2026-11-10"] == (15.0, 2)  # the 00:40 session, on the day before
    assert cal["2026-11-11"] == (0.0, 0)
    assert cal["2026-11-19"] == (20.0, 3) and cal["2026-11-02"] == (3.0, 1)
    assert [(c["category"], c["sessions"], c["practiced_minutes"]) for c in data["by_category"]] == [
        ("body-scan", 4, 56.0), ("meditation", 6, 36.0), ("self-compassion", 1, 10.0),
        ("breathing", 1, 5.0),
    ]
    assert [(e["exercise"], e["sessions"], e["completed_sessions"], e["practiced_minutes"])
            for e in data["by_exercise"]] == [
        ("body-scan", 4, 3, 56.0), ("mindful-breathing", 4, 3, 30.0), ("safe-place", 1, 1, 10.0),
        ("three-minute-breathing-space", 2, 2, 6.0), ("box-breathing", 1, 1, 5.0),
    ]
    assert data["completion"] == {"sessions": 12, "completed": 10, "stopped_early": 2,
                                  "completed_percent": 83}
    assert data["totals"]["average_session_minutes"] == 8.9  # 107 min / 12 sessions


def test_program_weeks_and_check_in_trends(history):
    data = figures("--program")
    assert data["period"] == {"kind": "program", "start": "2026-11-02", "end": "2026-11-20", "days": 19}
    prog = data["program"]
    assert (prog["id"], prog["started_on"], prog["status"], prog["practices_done"]) == (
        "twelve-weeks", "2026-11-02", "running", 9)
    assert [(w["week"], w["done"], w["total"], w["practised"]) for w in prog["weeks"]] == [
        (1, 5, 6, [{"exercise": "mindful-breathing", "minutes": 20.0},
                   {"exercise": "safe-place", "minutes": 10.0},
                   {"exercise": "three-minute-breathing-space", "minutes": 3.0}]),
        (2, 3, 6, [{"exercise": "body-scan", "minutes": 36.0}]),
        (3, 1, 6, [{"exercise": "body-scan", "minutes": 20.0},
                   {"exercise": "box-breathing", "minutes": 5.0},
                   {"exercise": "three-minute-breathing-space", "minutes": 3.0}]),
    ]
    assert prog["checkin_items"] == ["mood", "anxiety", "relationships", "urges"]
    assert prog["checkins"] == [
        {"checkpoint": 0, "label": "at the start", "date": "2026-11-02",
         "ratings": {"mood": 4, "anxiety": 7, "relationships": 5, "urges": 6}},
        {"checkpoint": 1, "label": "after week 2", "date": "2026-11-16",
         "ratings": {"mood": 6, "anxiety": 5, "relationships": None, "urges": 4}},
    ]
    assert prog["changes"] == {"mood": 2, "anxiety": -2, "relationships": None, "urges": -2}
    assert [(e["exercise"], e["sessions"]) for e in data["by_exercise"]][:2] == [
        ("body-scan", 4), ("mindful-breathing", 3)]
    # The program period leaves out October's session.
    assert data["totals"]["sessions"] == 11 and data["summary"][-3:-1] == [
        "From 2026-11-02 to 2026-11-20: 1 h 37 min in 11 sessions, on 11 days.",
        f"Twelve Weeks of Practice: 9 of {prog['practices_total']} practices done (running).",
    ]


def test_since_limits_the_period_and_rest_days_and_freezes_come_from_the_streak(history):
    data = figures("--since", "2026-11-09")
    assert data["period"]["start"] == "2026-11-09" and data["totals"]["sessions"] == 6
    assert [w["start"] for w in data["weeks"]] == ["2026-11-09", "2026-11-16"]
    assert figures("--since", "2w")["period"]["start"] == "2026-11-07"
    # No rest days are planned, so none are shown; the freezes held are the streak's own.
    assert data["rest_days"] is None
    assert data["freezes"] == json.loads(run("streak", "--json").stdout)["freezes"]["held"]
    html = run("report", "-o", "-").stdout
    assert "Rest days" not in html and "Streak freezes held" in html
    run("config", "set", "journal.rest_days", "sunday,saturday")
    run("config", "set", "journal.freeze_max", "0")
    data = figures()
    assert data["rest_days"] == ["saturday", "sunday"] and data["freezes"] is None
    assert "<td>Rest days</td><td>Saturday, Sunday</td>" in run("report", "-o", "-").stdout.replace("\n", "")


def test_notes_only_with_notes(history):
    html = run("report", "-o", "-").stdout
    data = figures()
    assert data["notes"] is None and "note" not in data["program"]["checkins"][0]
    assert data["program"]["reflections"] == []
    for private in ("calmer than expected", "nervous about starting", "Breathing helped most"):
        assert private not in html
    data = figures("--notes")
    assert data["notes"] == [
        {"date": "2026-11-02", "kind": "check-in", "what": "at the start", "note": "nervous about starting"},
        {"date": "2026-11-04", "kind": "session", "what": "Mindful breathing",
         "note": "calmer than expected <b>really</b>"},
        {"date": "2026-11-09", "kind": "reflection", "what": "week 1", "note": "Breathing helped most."},
    ]
    html = run("report", "--notes", "-o", "-").stdout
    assert "<q>calmer than expected &lt;b&gt;really&lt;/b&gt;</q>" in html  # escaped, never markup
    assert "<q>nervous about starting</q>" in html and "<q>Breathing helped most.</q>" in html


def test_an_empty_journal_still_makes_a_page():
    data = figures()
    assert data["summary"] == ["No practice was recorded in the last 28 days."]
    assert data["program"] is None and data["totals"]["sessions"] == 0
    html = run("report", "-o", "-").stdout
    assert "nothing to chart yet" in html and "<svg" not in html


# --- the page ----------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_the_page_is_self_contained_private_and_accessible(history, tmp_path, haven_home):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "report.html"
    before = _tree(haven_home)
    result = run("report", "-o", str(out))
    assert result.stderr == f"Wrote the report to {out}.\n" and result.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert os.listdir(out.parent) == ["report.html"]  # nothing else written beside it
    # Nothing else written: the journal untouched; only matplotlib's font list, in the cache.
    changed = {k for k, v in _tree(haven_home).items() if before.get(k) != v}
    assert {Path(k).parent.as_posix() for k in changed} <= {"cache/matplotlib"}
    html = out.read_text(encoding="utf-8")
    # No resource from anywhere: no URL at all (the SVG's namespaces and metadata are gone),
    # no script, no external reference; and the page forbids fetching anything.
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!#)""", html)
    assert not re.search(r"url\((?!#)", html) and "@import" not in html
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"" in html
    # Light and dark, and print with page breaks.
    assert "@media (prefers-color-scheme: dark)" in html and "@media print" in html
    assert "break-before: page" in html
    # Every chart: an SVG image with a title, followed by the table of its numbers.
    charts = re.findall(r'<figure><svg role="img" aria-labelledby="(chart-[a-z]+)-title" '
                        r'class="chart" id="\1".*?<title id="\1-title">([^<]+)</title>', html, re.S)
    assert [c[0] for c in charts] == ["chart-weekly", "chart-calendar", "chart-categories",
                                      "chart-exercises", "chart-completion", "chart-program",
                                      "chart-checkins"]
    for key, _ in charts:
        after = html[html.index(f'id="{key}"'):]
        assert after.index("</figure>") < after.index("<table>") < after.index("</section>")
    # The Okabe-Ito colours, and the ink following the colour scheme.
    assert "#0072b2" in html and "#009e73" in html and "var(--ink)" in html
    assert "You practised on 12 of the last 28 days: 1 h 47 min in 12 sessions." in html


def test_same_journal_same_page(history):
    first = run("report", "-o", "-").stdout
    assert run("report", "-o", "-").stdout == first  # reproducible: ids are salted per chart


def test_json_to_a_file_and_the_html_to_standard_output(history, tmp_path):
    out = tmp_path / "figures.json"
    result = run("report", "--json", "-o", str(out))
    assert result.stderr == f"Wrote the report's figures to {out}.\n"
    assert json.loads(out.read_text()) == figures()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert run("report", "-o", "-").stdout.startswith("<!doctype html>\n<html lang=\"en\">")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["report"], 2, "say where to write the page: -o report.html (or -o - for standard "
                        "output; --json for the figures)"),
        (["report", "--json", "--open"], 2, "--open shows the HTML page; it cannot be used with --json"),
        (["report", "-o", "-", "--open"], 2, "--open needs a file to open: give -o FILE, not -o -"),
        (["report", "--json", "--since", "2026-11-01", "--program"], 2,
         "--since and --program choose the period in two ways: give one of them"),
        (["report", "--json", "--since", "soon"], 2,
         "--since 'soon': use a date (2026-11-01) or a number of days or weeks (7d, 4w)"),
        (["report", "--json", "--since", "2026-12-01"], 2,
         "--since '2026-12-01' is after today (2026-11-20)"),
    ],
)
def test_bad_options_say_what_to_do(args, code, message):
    result = run(*args, code=code)
    assert result.stderr == f"Error: {message}\n"


def test_program_period_without_a_program():
    result = run("report", "--json", "--program", code=2)
    assert result.stderr == ("Error: no program has been started yet, so there is no program period "
                             "('haven program start NAME' begins one)\n")


def test_a_folder_as_output_is_refused_before_anything_is_read(history, tmp_path):
    result = run("report", "-o", str(tmp_path), code=2)
    assert result.stderr.startswith("Error: ") and str(tmp_path) in result.stderr
    assert os.listdir(tmp_path) == ["haven-home"]


def test_a_stopped_program_is_reported_up_to_its_stop_day(history, monkeypatch):
    stop = datetime(2026, 11, 12, 18, 0, tzinfo=LONDON)
    with Journal.open(clock=lambda: stop.astimezone(timezone.utc)) as journal:
        journal.stop_program()
    data = figures("--program")
    assert data["period"]["end"] == "2026-11-12"
    assert data["program"]["status"] == "stopped" and data["program"]["stopped_on"] == "2026-11-12"
    assert [w["week"] for w in data["program"]["weeks"]] == [1, 2]


def test_a_program_whose_file_is_gone_still_shows_its_check_ins():
    with Journal.open(clock=lambda: NOW.astimezone(timezone.utc)) as journal:
        run_ = journal.start_program("my-own-course", "My own course", date(2026, 11, 9))
        journal.add_program_checkin(run_.id, 0, 5, None, {"urges": 3})
    data = figures("--program")
    prog = data["program"]
    assert (prog["found"], prog["title"], prog["weeks"], prog["checkin_items"]) == (
        False, "My own course", [], ["mood", "urges"])
    assert prog["checkins"][0]["ratings"] == {"mood": 5, "urges": 3}
    html = run("report", "--program", "-o", "-").stdout
    assert "The program's file could not be found any more" in html
    assert 'id="chart-checkins"' in html and 'id="chart-program"' not in html


# --- --open ------------------------------------------------------------------------------------


def _haven(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "player", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_open_uses_the_default_browser(history, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o700)
    env = dict(os.environ, BROWSER=str(browser))
    result = _haven(["report", "-o", "r.html", "--open"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Wrote the report to r.html.\n"
    for _ in range(100):  # webbrowser starts it in the background
        if opened.exists() and opened.read_text():
            break
        time.sleep(0.05)
    assert opened.read_text() == (tmp_path / "r.html").as_uri()


def test_open_without_a_browser_says_so(history, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PATH"] = str(tmp_path / "no-programs-here")
    result = _haven(["report", "-o", "r.html", "--open"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("Wrote the report to r.html.\n"
                             "haven: no web browser was found to open it; open r.html with any browser.\n")
    assert (tmp_path / "r.html").stat().st_size > 10_000


# --- start-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["stats"], ["list"], ["report", "--help"]])
def test_only_the_report_itself_imports_matplotlib(args):
    code = (
        "import sys\n"
        "from player.cli.app import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('matplotlib', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("HEAVY=")


def test_the_report_command_is_listed_in_help():
    assert "  report " in run("--help").stdout


# --- properties ----------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SESSION = st.tuples(
    st.integers(0, 120),  # days before NOW
    st.integers(0, 23 * 60 + 59),  # local minute of the day
    st.sampled_from(["body-scan", "box-breathing", "timer", "yoga"]),
    st.sampled_from([None, "body-scan", "breathing"]),
    st.floats(0, 3600, allow_nan=False).map(lambda s: round(s, 1)),
    st.booleans(),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(sessions=st.lists(SESSION, max_size=40), since=st.sampled_from([None, "14d", "2026-10-01"]))
def test_the_figures_agree_with_each_other(tmp_path_factory, sessions, since):
    """However the history looks, every view of the period adds up to the same totals."""
    from player.config import load_config
    from player.report import figures as F

    home = tmp_path_factory.mktemp("prop")
    path = home / "journal.sqlite3"
    records = []
    for i, (ago, minute, exercise, category, seconds, completed) in enumerate(sessions):
        day = NOW.date().toordinal() - ago
        local = datetime.fromordinal(day).replace(hour=minute // 60, minute=minute % 60, tzinfo=LONDON)
        if local > NOW:
            continue
        records.append({"id": f"00000000-0000-4000-8000-{i:012d}", "exercise": exercise,
                        "category": category, "started_at": local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "utc_offset": "+00:00", "practiced_s": seconds, "completed": completed,
                        "source": "manual"})  # fmt: skip
    with Journal.open(path, clock=lambda: NOW.astimezone(timezone.utc)) as journal:
        journal.import_records(records)
        data = F.build(journal, load_config(), NOW, since=since)
    totals = data["totals"]
    assert sum(d["sessions"] for d in data["calendar"]) == totals["sessions"]
    assert sum(c["sessions"] for c in data["by_category"]) == totals["sessions"]
    assert sum(e["sessions"] for e in data["by_exercise"]) == totals["sessions"]
    assert sum(e["completed_sessions"] for e in data["by_exercise"]) == data["completion"]["completed"]
    assert data["completion"]["sessions"] == totals["sessions"]
    assert sum(1 for d in data["calendar"] if d["counts"]) == totals["counting_days"]
    assert round(sum(d["minutes"] for d in data["calendar"]), 0) == pytest.approx(
        totals["practiced_minutes"], abs=0.05 * len(data["calendar"]) + 1)
    # Weeks are whole: they hold at least the period's practice, and the days counted in them.
    assert sum(w["sessions"] for w in data["weeks"]) >= totals["sessions"]
    assert sum(w["days_counted"] for w in data["weeks"]) >= totals["counting_days"]
    assert len(data["calendar"]) == data["period"]["days"] == totals["days"]
    assert data["recent"]["days_practised"] <= 28
