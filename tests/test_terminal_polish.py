"""Issue 17, in a real terminal: each item checked on the screen a person sees, in a tmux pane
of 80 and of 40 columns (see tests/terminal.py), plus the rule that no report line wraps
mid-word at 80 columns.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from terminal import ROOT, Terminal, alsa_env, cell_width

WIDTHS = (80, 40)


def haven(home: Path, *args: str, cols: int = 1000, env: dict | None = None, stdin=None):
    """``haven ARGS`` with output to a pipe (no terminal), ``COLUMNS`` wide."""
    full = dict(os.environ, HAVEN_HOME=str(home), COLUMNS=str(cols), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "player", *args], env=full, capture_output=True, text=True,
        timeout=120, cwd=ROOT, stdin=stdin if stdin is not None else subprocess.DEVNULL,
    )


def practice_today() -> date:
    """Today as the journal counts it: its day starts at 04:00 (journal.day_starts_at's
    default), so between midnight and 04:00 it is still yesterday. ``date.today()`` made
    these tests fail in those hours."""
    return (datetime.now() - timedelta(hours=4)).date()


def started_program(home: Path, days_ago: int, name: str = "foundations") -> None:
    on = (practice_today() - timedelta(days=days_ago)).isoformat()
    out = haven(home, "program", "start", name, "--on", on)
    assert out.returncode == 0, out.stderr


# --- 1. Ctrl-C at a check-in prompt leaves at once ------------------------------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_ctrl_c_at_the_today_checkin_leaves_with_130_and_plays_nothing(tmp_path, cols):
    home = tmp_path / "home"
    started_program(home, 14)  # a check-in is due after week 2
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": home, **alsa_env()}) as term:
        term.run("today")
        term.wait_for("to 10 (very good)?")
        term.keys("C-c")
        code, lines = term.wait_exit()
    screen = "\n".join(lines)
    assert code == 130, screen
    assert lines[-1] == "Stopped."
    assert "A few words" not in screen  # no further question
    assert "Playing" not in screen  # and no practice
    out = haven(home, "program", "status")
    assert "Check-ins: none yet" in out.stdout  # nothing was recorded as an answer or a skip


@pytest.mark.parametrize("cols", WIDTHS)
def test_ctrl_c_at_the_play_checkin_before_leaves_without_playing(tmp_path, cols):
    home = tmp_path / "home"
    capture = tmp_path / "capture.raw"
    with Terminal(tmp_path, cols, 30, {"HAVEN_HOME": home, **alsa_env(str(capture))}) as term:
        term.run("breathe", "4-6", "--minutes", "0.5", "--checkin")
        term.wait_for("How do you feel right now, 0-10?")
        term.keys("C-c")
        code, lines = term.wait_exit()
    screen = "\n".join(lines)
    assert code == 130, screen
    assert lines[-1] == "Stopped."
    assert "practised" not in screen and "practiced" not in screen
    assert not capture.exists() or capture.stat().st_size == 0  # not a sample played
    assert "No sessions recorded yet." in haven(home, "log").stdout


@pytest.mark.parametrize("cols", WIDTHS)
def test_ctrl_c_at_the_play_checkin_after_records_the_session_and_asks_no_more(tmp_path, cols):
    home = tmp_path / "home"
    with Terminal(tmp_path, cols, 30, {"HAVEN_HOME": home, **alsa_env()}) as term:
        term.run("breathe", "4-6", "--minutes", "0.5", "--checkin", "--buffer-seconds", "30")
        term.wait_for("How do you feel right now, 0-10?")
        term.keys("5", "Enter")
        term.wait_for(re.compile(r"(?s)0-10\?.*0-10\?"), timeout=120)  # the question after
        term.keys("C-c")
        code, lines = term.wait_exit()
    screen = "\n".join(lines)
    assert code == 130, screen
    assert "A short note" not in screen
    log = haven(home, "log", "--json")
    sessions = __import__("json").loads(log.stdout)["sessions"]
    assert len(sessions) == 1 and sessions[0]["mood_before"] == 5
    assert sessions[0]["mood_after"] is None


# --- 2. every report fits the terminal, wrapped at word boundaries ---------------------------

REPORTS = [
    ["list"], ["show", "body-scan"], ["log"], ["stats"], ["streak"], ["calendar"],
    ["program", "list"], ["program", "show", "foundations"], ["program", "status"],
    ["today", "--list"], ["voices"], ["doctor"], ["cache", "info"],
]


@pytest.fixture(scope="module")
def journal_home(tmp_path_factory):
    """A journal with sessions whose names and notes are long, and a program under way."""
    home = tmp_path_factory.mktemp("reports") / "home"
    started_program(home, 9)
    day = practice_today() - timedelta(days=3)
    for n, (name, minutes) in enumerate([
        ("mindful-breathing", 12), ("thoughts-as-passing-events", 9.5),
        ("a-walk-by-the-river-at-the-end-of-a-long-and-difficult-day", 31),
        ("body-scan", 0.4), ("self-compassion-break", 5),
    ]):
        args = ["log", "add", name, "--minutes", str(minutes),
                "--at", f"{day + timedelta(days=n % 3)} {7 + n:02d}:30"]
        if n == 2:
            args += ["--note", "Slow and quiet; the light on the water was the best part of "
                     "the whole week, and the rain held off until we were home again."]
        if n == 1:
            args += ["--mood-before", "4", "--mood-after", "6"]
        out = haven(home, *args)
        assert out.returncode == 0, out.stderr
    return home


def tokens(lines):
    """The words on the screen; numbers as 0 (doctor's timings differ from run to run)."""
    return [re.sub(r"\d+(\.\d+)?", "0", t) for line in lines for t in line.split()]


def assert_fits(lines, cols, wide_text, what):
    """No line is wider than the terminal, and every word on the screen is a whole word of
    the unwrapped report (a word split across lines would show as two pieces that are not);
    a name shortened with … is cut at a word boundary."""
    for line in lines:
        assert cell_width(line) <= cols, f"{what}: a line is wider than {cols}:\n{line}"
    wide = set(tokens(wide_text.split("\n")))
    for token in tokens(lines):
        if token in wide:
            continue
        if token.endswith("…"):
            stem = token[:-1]
            assert stem in wide or any(
                w.startswith(stem) and w[len(stem)] in "-" for w in wide if len(w) > len(stem)
            ), f"{what}: '{token}' is cut mid-word"
            continue
        pytest.fail(f"{what}: '{token}' is not a word of the report (split across lines?)\n"
                    + "\n".join(lines))


@pytest.mark.parametrize("args", REPORTS, ids=" ".join)
def test_no_report_line_wraps_mid_word_at_80_columns(journal_home, tmp_path, args):
    wide_code, wide = Terminal_run(tmp_path / "wide", journal_home, args, 250)
    assert wide_code in (0, 1), wide
    code, lines = Terminal_run(tmp_path, journal_home, args, 80)
    assert code == wide_code
    assert lines, args
    assert_fits(lines, 80, "\n".join(wide), " ".join(args))


@pytest.mark.parametrize("args", REPORTS, ids=" ".join)
def test_reports_fit_40_columns(journal_home, tmp_path, args):
    wide_code, _wide = Terminal_run(tmp_path / "wide", journal_home, args, 250)
    code, lines = Terminal_run(tmp_path, journal_home, args, 40)
    assert code == wide_code
    for line in lines:
        assert cell_width(line) <= 40, f"{args}: {line!r}"


def test_a_pipe_gets_80_columns(journal_home):
    out = subprocess.run(
        [sys.executable, "-m", "player", "program", "show", "foundations"], cwd=ROOT,
        env={k: v for k, v in dict(os.environ, HAVEN_HOME=str(journal_home)).items()
             if k != "COLUMNS"},
        capture_output=True, text=True, timeout=60,
    )
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert max(map(len, lines)) > 70  # filled to 80, not to 40 or 88


def Terminal_run(tmp_path, home, args, cols):
    with Terminal(tmp_path, cols, 300, {"HAVEN_HOME": home, **alsa_env()}) as term:
        term.run(*args)
        return term.wait_exit()


@pytest.mark.parametrize("cols", WIDTHS)
def test_list_shows_each_length_range_and_wraps_summaries_under_their_column(tmp_path, cols):
    home = tmp_path / "home"
    with Terminal(tmp_path, cols, 200, {"HAVEN_HOME": home}) as term:
        term.run("list")
        code, lines = term.wait_exit()
    assert code == 0
    screen = "\n".join(lines)
    # each exercise with its length range (estimated until `haven show` measures it)
    assert re.search(r"box-breathing\s+breathing\s+~\d+-\d+ min", screen) or (
        cols < 80 and re.search(r"box-breathing\n\s+~\d+-\d+ min, breathing:", screen)), screen
    for line in lines:
        assert cell_width(line) <= cols
        assert not line.startswith(("A ", "Breathing")), line  # no summary back at column 0
    assert "~ an estimate from the words" in screen


def test_list_length_is_the_one_show_measures(tmp_path):
    home = tmp_path / "home"
    before = haven(home, "list", cols=200).stdout
    assert re.search(r"box-breathing +breathing +~\d+-\d+ min", before), before  # estimated
    shown = haven(home, "show", "box-breathing")
    assert shown.returncode == 0, shown.stderr
    m = re.search(r"from (\d+)m (\d+)s to (\d+)m (\d+)s", shown.stdout)
    low = round((int(m[1]) * 60 + int(m[2])) / 60)
    high = round((int(m[3]) * 60 + int(m[4])) / 60)
    listed = haven(home, "list", cols=200).stdout
    row = next(line for line in listed.splitlines() if "box-breathing" in line)
    assert re.search(rf"box-breathing +breathing +{low}-{high} min ", row), (row, m[0])


def test_list_does_not_import_numpy(tmp_path):
    home = tmp_path / "home"
    code = ("import sys, runpy; sys.argv=['haven','list']\n"
            "try:\n    runpy.run_module('player', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "assert 'numpy' not in sys.modules, 'numpy imported'\n"
            "assert 'yaml' in sys.modules or True\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, HAVEN_HOME=str(home)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert "box-breathing" in out.stdout


# --- 3. `haven new` with a built-in's name ---------------------------------------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_new_refuses_a_built_in_name_unless_replace_and_says_how_to_undo(tmp_path, cols):
    home = tmp_path / "home"
    path = home / "data" / "scripts" / "body-scan.yaml"
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": home}) as term:
        term.run("new", "body-scan")
        code, lines = term.wait_exit()
        screen = "\n".join(term.logical())
        assert code == 2, screen
        assert screen.startswith("Error: 'body-scan' is the name of a built-in exercise")
        assert "haven new my-body-scan --from body-scan" in screen and "--replace" in screen
        assert not path.exists()
        term.run("new", "body-scan", "--replace")
        code, lines = term.wait_exit()
        screen = "\n".join(term.logical())
    assert code == 0
    assert path.is_file()
    assert "It takes the place of the built-in 'body-scan' while it exists, in programs too." \
        in " ".join(screen.split())
    assert f"\nTo undo, delete the file: rm {path}\n" in screen


# --- 4. a program counts practice from its start, and for most of the practice's length ------


@pytest.fixture
def clocked_journal(tmp_path, monkeypatch):
    """A journal at 10:00 UTC on 20 Nov 2026 (``clock[0]`` moves it), with a 10-minute
    three-minute-breathing-space at 08:00 on ``day`` given to it."""
    from datetime import datetime, timezone

    from player.journal import Journal

    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "home"))
    clock = [datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)]

    def opened(day: int):
        journal = Journal.open(clock=lambda: clock[0])
        journal.add_manual("three-minute-breathing-space", 600,
                           started_at=datetime(2026, 11, day, 8, 0, tzinfo=timezone.utc))
        return journal, clock

    return opened


def test_a_program_started_today_counts_only_practice_after_its_start(clocked_journal):
    from datetime import datetime, timezone

    from player.library import programs

    journal, clock = clocked_journal(20)  # practice at 08:00, the program started at 10:00
    with journal:
        programs.start(journal, "foundations", None, clock[0])
        clock[0] = datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc)
        state = programs.program_state(journal, clock[0])
        assert state.progress.practices_done == 0
        assert state.progress.due.exercise == "three-minute-breathing-space"
        journal.add_manual("three-minute-breathing-space", 600,
                           started_at=datetime(2026, 11, 20, 10, 30, tzinfo=timezone.utc))
        state = programs.program_state(journal, clock[0])
        assert state.progress.practices_done == 1 and state.progress.done_today is not None


def test_a_program_dated_back_counts_the_days_it_was_dated_to(clocked_journal):
    from player.library import programs

    journal, clock = clocked_journal(19)  # practice the day before
    with journal:
        programs.start(journal, "foundations", "yesterday", clock[0])
        state = programs.program_state(journal, clock[0])
        assert state.progress.practices_done == 1  # --on yesterday: yesterday's practice counts


@pytest.mark.parametrize("planned, practised, counts", [
    (8.0, 3.9, False), (8.0, 4.0, True), (8.0, 1.0, False), (None, 0.2, False),
])
def test_a_practice_counts_when_done_for_most_of_its_length(planned, practised, counts):
    from datetime import date as d

    from player.library import programs

    prog = programs.find_program("foundations")
    practice = programs.Practice(("mindful-breathing",), planned)
    week = prog.weeks[0]
    import dataclasses

    one = dataclasses.replace(prog, weeks=(dataclasses.replace(week, practices=(practice,)),))
    got = programs.progress(one, d(2026, 11, 2), d(2026, 11, 2),
                            {d(2026, 11, 2): {"mindful-breathing": practised * 60}}, 1.0 if practised >= 1 else 0.0,
                            programs.needed_seconds)
    assert (got.practices_done == 1) is counts
    if planned is None:  # the exercise's own length decides: half of it
        from player.library import lengths

        assert programs.needed_seconds(practice, "mindful-breathing") == pytest.approx(
            0.5 * lengths.natural("mindful-breathing"))
        assert lengths.natural("mindful-breathing") > 120


@pytest.mark.parametrize("cols", WIDTHS)
def test_a_short_session_does_not_do_the_days_practice_on_screen(tmp_path, cols):
    home = tmp_path / "home"
    started_program(home, 1)  # yesterday: today is day 2, three-minute-breathing-space due
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": home}) as term:
        term.run("today", "--list")
        term.wait_exit()
        before = " ".join(" ".join(term.logical()).split())
        assert "Today: three-minute-breathing-space (practice 1 of 6 this week)." in before
        haven(home, "log", "add", "three-minute-breathing-space", "--minutes", "1")
        term.run("today", "--list")
        term.wait_exit()
        short = " ".join(" ".join(term.logical()).split())
        assert "Today: three-minute-breathing-space (practice 1 of 6 this week)." in short
        haven(home, "log", "add", "three-minute-breathing-space", "--minutes", "2.5")
        term.run("today", "--list")
        code, lines = term.wait_exit()
        done = " ".join(" ".join(term.logical()).split())
    assert code == 0
    assert "Today: done (three-minute-breathing-space). Well done." in done
    assert all(cell_width(line) <= cols for line in lines)


# --- 5. one session at a time -----------------------------------------------------------------


def _first_session(tmp_path, home, cols):
    """An open-ended timer playing in a terminal of its own (it runs until q)."""
    first = Terminal(tmp_path / "first", cols, 24, {"HAVEN_HOME": home, **alsa_env()})
    first.run("timer")
    first.wait_for(re.compile(r"q stop"), timeout=60)
    return first


@pytest.mark.parametrize("cols", WIDTHS)
def test_a_second_play_offers_to_stop_the_first_which_is_recorded(tmp_path, cols):
    home = tmp_path / "home"
    first = _first_session(tmp_path, home, cols)
    try:
        with Terminal(tmp_path / "second", cols, 24, {"HAVEN_HOME": home, **alsa_env()}) as term:
            term.run("breathe", "--minutes", "0.5")
            term.wait_for("instead? [y/N]:")
            screen = " ".join(" ".join(term.logical()).split())
            assert re.search(r"A session is playing: Open-ended sitting \(process \d+, since "
                             r"\d\d:\d\d\)\. Stop it \(what was played is recorded\) and play "
                             r"this one instead\? \[y/N\]:", screen), screen
            term.keys("y", "Enter")
            code, _ = first.wait_exit(30)
            assert code == 143  # ended by the signal, like a shell's kill
            first_screen = " ".join(" ".join(first.logical()).split())
            assert "ended by a signal, recorded as partial" in first_screen
            code, lines = term.wait_exit(60)
            assert code == 0, "\n".join(lines)
    finally:
        first.close()
    sessions = __import__("json").loads(haven(home, "log", "--json").stdout)["sessions"]
    assert sorted((s["exercise"], s["status"]) for s in sessions) == [
        ("breathe:coherent", "completed"), ("timer", "stopped")]  # the first kept, as partial


@pytest.mark.parametrize("cols", WIDTHS)
def test_a_second_play_can_leave_the_first_playing(tmp_path, cols):
    home = tmp_path / "home"
    first = _first_session(tmp_path, home, cols)
    try:
        with Terminal(tmp_path / "second", cols, 24, {"HAVEN_HOME": home, **alsa_env()}) as term:
            term.run("breathe", "--minutes", "0.5")
            term.wait_for("instead? [y/N]:")
            term.keys("Enter")
            code, _ = term.wait_exit(30)
            logical = term.logical()
        assert code == 1
        assert re.fullmatch(r"Error: left Open-ended sitting \(process \d+, since \d\d:\d\d\) "
                            r"playing; nothing else started", logical[-1]), logical
        assert "[exit" not in first.text()  # still playing
        first.keys("q")
        code, _ = first.wait_exit(30)
        assert code == 0
    finally:
        first.close()


def test_a_second_play_without_a_terminal_exits_with_one_line(tmp_path):
    home = tmp_path / "home"
    first = _first_session(tmp_path, home, 80)
    try:
        out = haven(home, "breathe", "--minutes", "0.5", env=alsa_env())
        assert out.returncode == 1
        assert re.fullmatch(
            r"Error: a session is playing: Open-ended sitting \(process \d+, since \d\d:\d\d\); not "
            r"starting a second one over it \(stop it with q in its terminal, or: kill \d+\)\n",
            out.stderr), out.stderr
        assert "[exit" not in first.text()
    finally:
        first.keys("q")
        first.wait_exit(30)
        first.close()


def test_a_stale_lock_is_taken_over(tmp_path):
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "cache" / "playing.lock").write_text(
        '{"pid": %d, "exercise": "body-scan", "title": "Body Scan", "started": "07:00"}' % dead.pid)
    out = haven(home, "breathe", "--minutes", "0.5", env=alsa_env())
    assert out.returncode == 0, out.stderr
    assert not (home / "cache" / "playing.lock").exists()  # released at the end


# --- 6. validate reports every independent problem, one line each -----------------------------

MANY_PROBLEMS = """\
title: Evening
sumary: A short one.
category: sleeep
steps:
  - say: Settle in.
  - pase: 3
  - breathe: {pattern: 4-x-4}
  - bell
  - say: ""
  - pause: -3
"""


@pytest.mark.parametrize("cols", WIDTHS)
def test_validate_lists_every_independent_problem_one_line_each(tmp_path, cols):
    script = tmp_path / "evening.yaml"
    script.write_text(MANY_PROBLEMS)
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": tmp_path / "home"}) as term:
        term.run("validate", str(script))
        code, lines = term.wait_exit()
        logical = term.logical()
    assert code == 2
    f = str(script)
    assert logical == [
        f"{f}:2:1: sumary: unknown key 'sumary' (did you mean 'summary'?)",
        f"{f}:3:11: category: must be one of: breathing, meditation, body-scan, self-compassion, "
        "sleep, relaxation (got 'sleeep') (did you mean 'sleep'?)",
        f"{f}:6:5: steps[1].pase: unknown action 'pase' (did you mean 'pause'?)",
        f"{f}:7:15: steps[2].breathe.pattern: unknown key 'pattern' (expected one of: inhale, "
        "inhale2, hold, exhale, hold_out)",
        f"{f}:9:10: steps[4].say: must not be empty",
        f"{f}:10:12: steps[5].pause: must be more than zero (got -3)",
    ]


def test_a_misspelled_required_key_is_one_problem_not_two(tmp_path):
    script = tmp_path / "pause.yaml"
    script.write_text("titel: Pause\nsteps: [bell]\n")
    out = haven(tmp_path / "home", "validate", str(script))
    assert out.returncode == 2
    assert out.stderr == f"{script}:1:1: titel: unknown key 'titel' (did you mean 'title'?)\n"


def test_other_commands_name_the_first_problem_and_how_many_more(tmp_path):
    script = tmp_path / "evening.yaml"
    script.write_text(MANY_PROBLEMS)
    out = haven(tmp_path / "home", "show", str(script))
    assert out.returncode == 2
    assert out.stderr == (f"Error: {script}:2:1: sumary: unknown key 'sumary' (did you mean "
                          "'summary'?) (and 5 more problems: haven validate lists them)\n")


@pytest.mark.parametrize("cols", WIDTHS)
def test_validate_says_a_tab_is_in_the_indentation_on_every_such_line(tmp_path, cols):
    script = tmp_path / "tabs.yaml"
    script.write_text("title: Tabs\nsteps:\n\t- say: one\n\t- say: two\n")
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": tmp_path / "home"}) as term:
        term.run("validate", str(script))
        code, _ = term.wait_exit()
        logical = term.logical()
    assert code == 2
    message = "YAML syntax: a tab in the indentation; YAML indents with spaces only, so replace " \
              "the tab with spaces"
    assert logical == [f"{script}:3:1: {message}", f"{script}:4:1: {message}"]


@pytest.mark.parametrize("text, where, message", [
    ("title: X\n  summary: Y\nsteps: [bell]\n", "2:10",
     "YAML syntax: this line is indented more than line 1 above it (2 spaces, not 0); line it "
     "up with the keys above, or quote text that holds ': '"),
    ("title: X\nsteps:\n  - say: a\n    pause: 2\n   after: 3\n", "5:4",
     "YAML syntax: this line (3 spaces) is not lined up with the list that starts at line 3; to "
     "belong to the item above, indent it 4 spaces (column 5), or start it with '- ' in column "
     "3 to make it an item of its own"),
    ("title: X\nsteps:\n  - say: a\n     - say: b\n", "4:11",
     "YAML syntax: this line is indented more than line 3 above it (5 spaces, not 2); line it up "
     "with the keys above, or quote text that holds ': '"),
    ("title: X\nsteps:\n  - say: Note: this breaks\n", "3:14",
     "YAML syntax: a second ': ' on one line; if it is part of the text, put the text in quotes "
     "(say: \"Note: this is fine\")"),
])
def test_indentation_errors_are_worded_for_people(tmp_path, text, where, message):
    script = tmp_path / "indent.yaml"
    script.write_text(text)
    out = haven(tmp_path / "home", "validate", str(script))
    assert out.returncode == 2
    assert out.stderr == f"{script}:{where}: {message}\n"
    assert "block collection" not in out.stderr and "expected <block end>" not in out.stderr


# --- 7 (and 8's display items). The breathing indicator and the bar never touch ----------------

CLOCKS = re.compile(r"(\d+):(\d\d) / (?:about )?(\d+):(\d\d)   (?:about )?(\d+):(\d\d) left")


def _frames_while_playing(term: Terminal, until: str, timeout: float = 60) -> list[list[str]]:
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = term.screen()
        frames.append(screen)
        if any(until in line for line in screen):
            return frames
        time.sleep(0.02)
    pytest.fail("never saw " + until + "\n" + "\n".join(frames[-1] if frames else []))


def _check_frame(frame: list[str], cols: int) -> None:
    for line in frame:
        assert cell_width(line) <= cols, line
    bars = [i for i, line in enumerate(frame) if "━" in line]
    dots = [i for i, line in enumerate(frame) if "●" in line]
    for i in bars:
        assert "●" not in frame[i] and "breathe" not in frame[i], frame
    for i in dots:
        assert "━" not in frame[i], frame
        assert re.search(r"●  +(breathe in|breathe out|hold|a little more)$", frame[i]) or \
            re.search(r"● +(breathe in|breathe out|hold|a little more)$", frame[i]), frame
        if bars:
            assert i - bars[-1] >= 2 and not frame[i - 1].strip(), frame  # a line between
    for match in CLOCKS.finditer("\n".join(frame)):
        e, t, left = (int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4]),
                      int(match[5]) * 60 + int(match[6]))
        assert e + left == t, match[0]


@pytest.mark.parametrize("no_color", [False, True], ids=["color", "NO_COLOR"])
@pytest.mark.parametrize("cols", WIDTHS)
def test_the_breathing_indicator_has_its_own_line_and_shape(tmp_path, cols, no_color):
    env = {"HAVEN_HOME": tmp_path / "home", **alsa_env()}
    if no_color:
        env["NO_COLOR"] = "1"
    with Terminal(tmp_path, cols, 24, env) as term:
        term.run("breathe", "4-6", "--minutes", "5")
        frames = _frames_while_playing(term, "[exit")
        code, lines = term.wait_exit()
    assert code == 0
    breathing = [f for f in frames if any("●" in line for line in f)]
    assert len(breathing) >= 3, frames[-1]
    sizes = set()
    for frame in frames:
        _check_frame(frame, cols)
        sizes.update(line.count("●") for line in frame if "●" in line)
    assert len(sizes) >= 2  # it grows and shrinks
    assert any(line.startswith("Breathing pacer: 4-6") for f in frames for line in f)
    summary = " ".join(" ".join(term_lines for term_lines in lines).split())
    assert re.search(r"Breathing pacer: 4-6: 5m 0\ds practised \(completed; ", summary), summary


@pytest.mark.parametrize("cols", WIDTHS)
def test_paused_has_a_line_of_its_own_under_the_bar(tmp_path, cols):
    env = {"HAVEN_HOME": tmp_path / "home", **alsa_env()}
    with Terminal(tmp_path, cols, 24, env) as term:
        term.run("breathe", "4-6", "--minutes", "20")
        term.wait_for("●")
        term.keys("Space")
        term.wait_for("Paused. Press space to go on.")
        time.sleep(0.3)
        frame = term.screen()
        term.keys("q")
        code, _ = term.wait_exit()
    _check_frame(frame, cols)
    i = next(n for n, line in enumerate(frame) if "Paused." in line)
    assert frame[i].strip() == "Paused. Press space to go on."
    assert not frame[i - 1].strip() and "━" in frame[i - 2], frame
    assert code == 0


# --- 8. the small things ------------------------------------------------------------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_plus_at_full_volume_and_n_in_the_last_section_say_so(tmp_path, cols):
    env = {"HAVEN_HOME": tmp_path / "home", **alsa_env()}
    with Terminal(tmp_path, cols, 24, env) as term:
        term.run("breathe", "4-6", "--minutes", "20")  # one section: Breathing
        term.wait_for("●")
        term.keys("Space")  # pause, so the screen holds still
        term.wait_for("Paused.")
        term.keys("+")
        plus = " ".join(term.wait_for("Volume is at its highest").split())
        term.keys("n")
        last = " ".join(term.wait_for("This is the last section").split())
        term.keys("-")
        minus = " ".join(term.wait_for("Volume -3 dB.").split())
        term.keys("q")
        code, _ = term.wait_exit()
    assert "Volume is at its highest here (0 dB); turn the computer's volume up for more." in plus
    assert "This is the last section (q stops)." in last
    assert "Volume -3 dB." in minus
    assert code == 0


NO_DEVICE_CONF = "pcm.!default { type hw card 99 }\n"  # ALSA with no output that opens


def test_doctor_with_no_audio_device_does_not_say_everything_is_in_place(tmp_path):
    conf = tmp_path / "nodevice.conf"
    conf.write_text(NO_DEVICE_CONF)
    env = {"HAVEN_HOME": tmp_path / "home",
           "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}
    with Terminal(tmp_path, 80, 60, env) as term:
        term.run("doctor")
        code, lines = term.wait_exit()
        logical = term.logical()
    assert code == 0
    assert "--  audio output: no output device found" in logical
    assert "Everything Haven needs is in place." not in logical
    assert " ".join(logical[-2:]) == (
        "Haven cannot play sound here: no audio output (see above). Everything else is in place, "
        "and 'haven render NAME -o FILE' makes a file to play anywhere.")  # wrapped at a space
    assert all(cell_width(line) <= 80 for line in lines)


@pytest.mark.parametrize("cols", WIDTHS)
def test_log_add_suggests_the_exercise_and_takes_yesterday(tmp_path, cols):
    home = tmp_path / "home"
    with Terminal(tmp_path, cols, 30, {"HAVEN_HOME": home}) as term:
        term.run("log", "add", "bodyscan", "--minutes", "12", "--at", "yesterday 18:30")
        code, _ = term.wait_exit()
        logical = term.logical()
    assert code == 0
    yesterday = date.today() - timedelta(days=1)  # `--at yesterday` is the calendar's
    assert re.fullmatch(rf"Added [0-9a-f]{{8}} bodyscan, 12 min on {yesterday:%a} "
                        rf"{yesterday.day} {yesterday:%b %Y} 18:30\.", logical[0]), logical
    sid = logical[0].split()[1]
    assert logical[1] == (f"Note: 'bodyscan' is not one of Haven's exercises; did you mean "
                          f"'body-scan'? To file it there: haven log edit {sid} --exercise "
                          "body-scan")
    quiet = haven(home, "log", "add", "yoga class", "--minutes", "30")
    assert quiet.returncode == 0 and quiet.stderr == ""  # practice of its own: no note


def test_show_counts_in_words_without_parenthesised_plurals(tmp_path):
    out = haven(tmp_path / "home", "show", "box-breathing")
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("Contents:"))
    assert "(s)" not in line
    assert re.fullmatch(r"Contents: \d+ spoken sentences \(\d+m \d\ds of speech\), 1 breathing "
                        r"practice, 1 bell strike", line), line


def test_ambient_help_names_the_sounds():
    out = haven(Path("/nonexistent-home"), "play", "--help", cols=200)
    assert "--ambient SOUND" in out.stdout and "rain, ocean, stream" in out.stdout


@pytest.mark.parametrize("cols", WIDTHS)
def test_a_new_user_sees_no_weeks_before_they_began(tmp_path, cols):
    home = tmp_path / "home"
    haven(home, "log", "add", "body-scan", "--minutes", "10")
    with Terminal(tmp_path, cols, 30, {"HAVEN_HOME": home}) as term:
        term.run("streak")
        code, lines = term.wait_exit()
        logical = term.logical()
    assert code == 0
    today = practice_today()
    assert f"Longest streak: 1 day ({today:%a} {today.day} {today:%b %Y})" in logical
    recent = next(l for l in logical if l.startswith("Recent weeks:"))
    marks = recent.split()[2]
    assert len(marks) == 1, recent  # this week only, not eight weeks before the first practice
    assert all(cell_width(line) <= cols for line in lines)


@pytest.mark.parametrize("cols", WIDTHS)
def test_today_leaves_no_stale_display_lines_after_its_practices(tmp_path, cols):
    home = tmp_path / "home"
    out = haven(home, "program", "start", "twelve-weeks")
    assert out.returncode == 0
    with Terminal(tmp_path, cols, 60, {"HAVEN_HOME": home, **alsa_env()}) as term:
        term.run("today", "--no-checkin")
        code, lines = term.wait_exit(300)
        logical = term.logical()
    assert code == 0
    screen = "\n".join(lines)
    for leftover in ("━", "●", " left", "space pause", "Preparing", "Getting ready"):
        assert leftover not in screen, screen
    played = [l for l in logical if "practised (completed" in l]
    assert len(played) == 2, logical  # the week's introduction, then the practice
    assert logical.count("Playing this week's introduction.") == 1
    assert all(cell_width(line) <= cols for line in lines)


def test_bedtime_is_dimmed_by_default(tmp_path):
    env = {"HAVEN_HOME": tmp_path / "home", **alsa_env()}
    titles = {}
    for flag in ([], ["--no-dim"]):
        with Terminal(tmp_path / ("dim" if not flag else "bright"), 80, 24, env) as term:
            term.run("play", "four-seven-eight-for-sleep", "--minutes", "4", "--tail", "0", *flag)
            frames = _frames_while_playing(term, "[exit", timeout=300)
        shown = [f for f in frames if any(" left" in line for line in f)]
        assert shown, frames[-1]
        titles[bool(flag)] = any(line.startswith("4-7-8") or "Sleep" in line.split("   ")[0]
                                 for f in shown for line in f[:1])
    assert titles == {False: False, True: True}


# --- 9. a first taste ---------------------------------------------------------------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_haven_alone_welcomes_a_new_user(tmp_path, cols):
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": tmp_path / "home"}) as term:
        term.run()
        code, lines = term.wait_exit()
        logical = term.logical()
    words = " ".join(" ".join(logical).split())
    assert code == 0
    assert words.startswith("Haven: guided meditation, breathing and self-compassion, offline.")
    assert "To begin:" in words and "haven list" in words and "haven program start foundations" \
        in words
    assert "Streak" not in words  # nothing practised yet
    assert "Usage:" not in words and "Samaritans" not in words  # the crisis lines: in --help
    assert words.endswith("Tab completion for your shell: haven completion bash (or zsh, fish); "
                          "the README says where to put it.")
    assert all(cell_width(line) <= cols for line in lines if "three-minute" not in line)
    assert "Samaritans 116 123" in haven(tmp_path / "home", "--help").stdout


@pytest.mark.parametrize("cols", WIDTHS)
def test_haven_alone_shows_todays_practice_and_the_streak(tmp_path, cols):
    home = tmp_path / "home"
    started_program(home, 1)
    assert haven(home, "log", "add", "body-scan", "--minutes", "10", "--at",
                 f"{practice_today() - timedelta(days=1)} 12:00").returncode == 0
    with Terminal(tmp_path, cols, 40, {"HAVEN_HOME": home}) as term:
        term.run()
        code, lines = term.wait_exit()
        logical = term.logical()
    words = " ".join(" ".join(logical).split())
    assert code == 0
    assert "Foundations: week 1 of 4, day 2 of 28" in words
    assert "Today: three-minute-breathing-space (practice 1 of 6 this week). Play it with: " \
           "haven today" in words
    assert "Streak: 1 day; practise today to keep it." in words
    assert "To begin:" not in words
    assert all(cell_width(line) <= cols for line in lines)


def test_completion_prints_a_script_that_completes(tmp_path):
    out = haven(tmp_path / "home", "completion", "bash")
    assert out.returncode == 0
    assert "_HAVEN_COMPLETE=bash_complete" in out.stdout and "complete -o" in out.stdout
    haven_bin = Path(sys.executable).with_name("haven")
    assert haven_bin.exists(), "the haven command is installed in the project's venv"
    done = subprocess.run(
        ["bash", "-c", out.stdout + '\nCOMP_WORDS=(haven li); COMP_CWORD=1; '
         f'PATH={shlex.quote(str(haven_bin.parent))}:$PATH _haven_completion haven; '
         'printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, HAVEN_HOME=str(tmp_path / "home")),
    )
    assert done.stdout.split() == ["list"], done.stderr


def test_play_where_no_lock_file_can_be_made_still_plays(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("not a folder")  # the cache folder cannot be made (even as root)
    out = haven(home, "breathe", "--minutes", "0.5", env=alsa_env())
    assert out.returncode == 0, out.stderr
    assert "practised (completed" in out.stderr
