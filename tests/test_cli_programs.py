"""``haven program``, ``haven today`` and ``haven new`` through the real CLI: exit codes and the
exact words people read.

"Now" is a fixed Friday in London (``cli_journal._now``); practice is recorded straight into
the journal; ``play`` is a stand-in command that records what it was asked to play (the real
one is exercised by its own tests), and the audio device check is replaced.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from player.cli import journal as cli_journal, programs as cli_programs
from player.cli.app import main
from player.journal import Journal

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=LONDON)  # a Friday
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def setting(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/London")
    # The texts below are laid out for 88 columns; fitting other widths (80 for a pipe, a
    # terminal's own) is tested in a real terminal in test_terminal_polish.py.
    monkeypatch.setenv("COLUMNS", "88")
    time.tzset()
    set_now(monkeypatch, NOW)
    monkeypatch.setattr(cli_programs, "_output_problem", lambda: None)
    monkeypatch.setattr(cli_programs, "_interactive", lambda: True)
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def set_now(monkeypatch, now: datetime) -> None:
    monkeypatch.setattr(cli_journal, "_now", lambda: now)


@pytest.fixture
def played(monkeypatch):
    """A stand-in `haven play` that records (name, minutes) instead of playing."""
    from player.cli import app as haven_cli

    calls: list[tuple[str, float | None]] = []

    def fake_play(name, *, minutes=None):
        calls.append((name, minutes))

    monkeypatch.setattr(haven_cli, "play_exercise", fake_play)
    return calls


def run(*args: str, input: str | None = None, code: int = 0):
    result = CliRunner().invoke(main, list(args), input=input)
    assert result.exit_code == code, (result.output, result.exception)
    return result


def practise(exercise: str, day: date, minutes: float = 10) -> None:
    """Record practice at 09:00 London time on ``day``."""
    with Journal.open(clock=lambda: NOW.astimezone(timezone.utc)) as j:
        j.add_manual(exercise, minutes * 60, started_at=datetime(day.year, day.month, day.day, 9, 0, tzinfo=LONDON))


def checkins() -> list[tuple[int, int | None, str | None]]:
    with Journal.open(clock=lambda: NOW.astimezone(timezone.utc)) as j:
        run_ = j.running_program()
        return [(c.checkpoint, c.mood, c.note) for c in j.program_checkins(run_.id)]


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


START_NOTE = """\
Before you begin: go at your own pace, and skip or stop anything that feels like too
much. If things are hard at the moment, it may help to talk to your clinician or GP as
well. If you are in crisis or thinking of harming yourself, contact your local emergency
number now, or a crisis line (UK and Ireland: Samaritans 116 123; US: call or text 988;
elsewhere: findahelpline.com). For any moment that feels like too much, 'haven play
here-and-now' is three minutes of grounding, eyes open.
"""

WEEK_1 = """\
Week 1: Coming back to the breath
  This week is simply about turning up. Each day, sit with the breath for a few minutes
  and notice when the mind wanders off. Wandering is not a mistake. Noticing it, and
  coming back, is the practice itself. If you miss a day, just begin again the next one.
"""


# --- program list / show / validate --------------------------------------------------------------


def test_program_list():
    assert run("program", "list").stdout == (
        "  foundations    4 weeks  Foundations\n"
        "  twelve-weeks  12 weeks  Twelve Weeks of Practice\n"
        "\n'haven program show NAME' describes one; 'haven program start NAME' begins it.\n"
    )
    data = json.loads(run("program", "list", "--json").stdout)
    assert [(d["id"], d["weeks"], d["source"]) for d in data] == [
        ("foundations", 4, "built-in"), ("twelve-weeks", 12, "built-in")]


def test_program_list_marks_your_own(haven_home):
    folder = haven_home / "data" / "programs"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(
        "title: Mine\nweeks:\n  - title: W\n    intention: I\n    days: [body-scan]\n")
    out = run("program", "list").stdout
    assert "* mine            1 week  Mine\n" in out and "\n* your own program\n" in out


def test_program_show():
    out = run("program", "show", "foundations").stdout
    assert out.startswith(
        "Foundations  (foundations, 4 weeks)\n"
        "Four weeks of short daily practice: the breath, the body, thoughts as passing events,\n"
    )
    assert "\n" + WEEK_1 + "    Practice: three-minute-breathing-space; mindful-breathing, 8 min ×5\n" in out
    assert out.endswith("\nStart it with: haven program start foundations\n")
    data = json.loads(run("program", "show", "twelve-weeks", "--json").stdout)
    assert len(data["weeks"]) == 12
    assert data["weeks"][11]["practices"][0] == {
        "exercises": ["mindful-breathing", "body-scan", "loving-kindness", "soothing-touch",
                      "mindful-walking", "mindful-movement"], "minutes": None}
    assert data["checkin"] == ["mood", "anxiety", "relationships", "urges"]
    assert data["weeks"][0]["intro"].endswith("/programs/twelve-weeks/twelve-weeks-week-01.yaml")


def test_program_show_unknown_suggests_the_nearest():
    result = run("program", "show", "foundation", code=2)
    assert result.stderr == (
        "Error: no program named 'foundation' (did you mean 'foundations'?); 'haven program "
        "list' shows them all\n"
    )


def test_program_validate(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [body-scam]\n")
    result = run("program", "validate", "foundations", str(bad), code=2)
    assert result.stdout == "ok: foundations (Foundations, 4 weeks)\n"
    assert result.stderr == (
        f"{bad}:5:12: weeks[0].days[0]: unknown exercise 'body-scam' (did you mean "
        "'body-scan'?)\n"
    )


# --- program start / status / stop ---------------------------------------------------------------


def test_start_then_stop():
    out = run("program", "start", "foundations").stdout
    assert out == (
        "Started Foundations (foundations): 4 weeks, from Fri 20 Nov 2026 to Thu 17 Dec 2026.\n"
        "\n" + START_NOTE + "\n" + WEEK_1 + "\nEach day, run 'haven today': it says what is due and plays it.\n"
    )
    again = run("program", "start", "twelve-weeks", code=2)
    assert again.stderr == (
        "Error: the program 'foundations' is already running (since 2026-11-20); stop it "
        "first with 'haven program stop'\n"
    )
    assert run("program", "stop").stdout == (
        "Stopped Foundations (foundations). Your sessions and check-ins stay in the journal.\n"
    )
    assert run("program", "stop").stdout == "No program is running.\n"
    assert run("program", "status").stdout.startswith("No program is running.")


def test_start_on_a_later_day():
    out = run("program", "start", "foundations", "--on", "tomorrow").stdout
    assert out.endswith("It begins on Sat 21 Nov 2026; until then 'haven today' will remind you.\n")
    assert run("today").stdout == (
        "Foundations starts on Sat 21 Nov 2026.\nUntil then, practise anything you like, or rest.\n"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["foundations", "--on", "soon"],
         "Error: --on 'soon': use a date like 2026-11-20, or today, tomorrow or yesterday\n"),
        (["foundations", "--on", "2029-01-01"],
         "Error: --on '2029-01-01': the start must be within a year of today\n"),
        (["programs/foundations.yaml"],
         "Error: start a program by its id ('haven program list' shows them); to start your "
         "own, save it in {home}/data/programs first\n"),
        (["fundations"],
         "Error: no program named 'fundations' (did you mean 'foundations'?); 'haven program "
         "list' shows them all\n"),
    ],
)
def test_start_refuses_bad_input(args, message, haven_home):
    result = run("program", "start", *args, code=2)
    assert result.stderr == message.format(home=haven_home)


def test_status_counts_practice_from_the_journal():
    run("program", "start", "foundations", "--on", days_ago(9))  # Wed 11 Nov: week 2, day 10
    for n, exercise in ((9, "three-minute-breathing-space"), (8, "mindful-breathing"),
                        (6, "mindful-breathing"), (2, "body-scan"), (1, "cheese"), (0, "body-scan")):  # fmt: skip
        practise(exercise, TODAY - timedelta(days=n))
    assert run("program", "status").stdout == (
        "Foundations: week 2 of 4, day 10 of 28 (started Wed 11 Nov 2026).\n"
        "Practice days: 5 of 24 done.\n"
        "\n"
        "  Week  1  Coming back to the breath   3 of 6\n"
        "> Week  2  Coming home to the body     2 of 6\n"
        "  Week  3  Thoughts as passing events  to come\n"
        "  Week  4  Bringing it into the day    to come\n"
        "\n"
        "Today: done (body-scan, 15 min). Well done.\n"
        "\n"
        "Check-ins: none yet ('haven today' offers one every two weeks).\n"
        "A check-in is due (at the start): 'haven today' offers it.\n"
    )
    data = json.loads(run("program", "status", "--json").stdout)
    assert data["week"] == 2 and data["day"] == 10 and data["practices_done"] == 5
    assert data["weeks"][1]["done_on"] == ["2026-11-18", "2026-11-20", None, None, None, None]
    assert data["due"] is None and data["done_today"] == {"exercises": ["body-scan"], "minutes": 15.0}
    assert data["checkin_due"] == "at the start" and data["mood_change"] is None


# --- haven today ---------------------------------------------------------------------------------


def test_today_without_a_program():
    assert run("today").stdout == (
        "No program is running. 'haven program list' shows them, and 'haven program start\n"
        "foundations' begins the four-week one.\n"
    )


def test_today_list_only_says_what_is_due(played):
    run("program", "start", "foundations", "--on", days_ago(4))
    practise("mindful-breathing", TODAY - timedelta(days=4))
    practise("mindful-breathing", TODAY - timedelta(days=2))
    assert run("today", "--list").stdout == (
        "Foundations: week 1 of 4, day 5 of 28 (started Mon 16 Nov 2026).\n"
        "\n" + WEEK_1 + "\n"
        "Today: three-minute-breathing-space (practice 3 of 6 this week).\n"
        "A check-in is due (at the start).\n"
    )
    assert played == [] and checkins() == []


def test_today_offers_the_check_in_then_plays_the_due_practice(played):
    run("program", "start", "foundations", "--on", days_ago(1))
    practise("three-minute-breathing-space", TODAY - timedelta(days=1))
    out = run("today", input="6\nsettling in\n").stdout
    assert out.endswith(
        "Today: mindful-breathing, 8 min (practice 2 of 6 this week).\n"
        "A check-in is due (at the start).\n"
        "\n"
        "Check-in, at the start: a moment to notice how things have been. Press Enter to skip\n"
        "either question.\n"
        "Overall, how have you been feeling lately, from 0 (very low) to 10 (very good)? 6\n"
        "A few words on how the practice is going (Enter to skip): settling in\n"
        "Thank you; saved in your journal. 'haven program status' shows how ratings changed.\n"
        "\n"
        "Playing mindful-breathing, fitted to 8 minutes.\n"
    )
    assert played == [("mindful-breathing", 8.0)]
    assert checkins() == [(0, 6, "settling in")]
    # Once answered, it is not asked again; the practice is still due until it is done.
    out = run("today").stdout
    assert "Check-in" not in out and played[-1] == ("mindful-breathing", 8.0)


def test_a_skipped_check_in_is_kept_and_not_asked_again(played):
    run("program", "start", "foundations")
    out = run("today", input="\n\n").stdout
    assert "Skipped; it will not be asked again. 'haven program status' shows your check-ins.\n" in out
    assert checkins() == [(0, None, None)]
    assert "Check-in" not in run("today").stdout
    assert run("program", "status").stdout.endswith(
        "Check-ins (0-10; - not answered):\n"
        "                 start\n"
        "  Mood               -\n"
        "Next check-in: after week 2, from Fri 4 Dec 2026.\n"
    )


def test_a_bad_rating_is_asked_again(played):
    run("program", "start", "foundations")
    result = run("today", input="eleven\n7\n\n")
    assert "Please answer with a whole number from 0 to 10, or press Enter to skip." in result.stderr
    assert checkins() == [(0, 7, None)]


def test_no_check_in_without_a_terminal_and_none_with_no_checkin(played, monkeypatch):
    run("program", "start", "foundations")
    assert "Check-in" not in run("today", "--no-checkin").stdout
    monkeypatch.setattr(cli_programs, "_interactive", lambda: False)
    out = run("today").stdout
    assert "Run 'haven today' in a terminal to answer the check-in.\n" in out
    assert checkins() == [] and len(played) == 2


def test_check_ins_every_two_weeks_and_status_shows_how_ratings_changed(played, monkeypatch):
    start = TODAY - timedelta(days=14)
    run("program", "start", "foundations", "--on", start.isoformat())
    set_now(monkeypatch, NOW - timedelta(days=14))
    run("today", input="4\ntired\n")
    set_now(monkeypatch, NOW - timedelta(days=1))
    assert "Check-in" not in run("today", "--list").stdout
    set_now(monkeypatch, NOW)
    out = run("today", input="7\n\n").stdout
    assert "Check-in, after week 2: a moment to notice how things have been." in out
    assert checkins() == [(0, 4, "tired"), (1, 7, None)]
    assert run("program", "status").stdout.endswith(
        "Check-ins (0-10; - not answered):\n"
        "                 start  wk 2\n"
        "  Mood               4     7   +3, better\n"
        "  Notes:\n"
        "    at the start (2026-11-06): \"tired\"\n"
        "Next check-in: at the end, from Fri 4 Dec 2026.\n"
    )


def test_nothing_plays_once_todays_practice_is_done_or_on_a_free_day(played):
    run("program", "start", "foundations", "--on", days_ago(6))
    practise("three-minute-breathing-space", TODAY)
    out = run("today", "--no-checkin").stdout
    assert "Today: done (three-minute-breathing-space). Well done.\n" in out and played == []
    for n in range(1, 6):
        practise("mindful-breathing", TODAY - timedelta(days=n))
    # All six done (the last one today): nothing more this week.
    assert "Today: done" in run("today", "--no-checkin").stdout


def test_a_free_day(played):
    run("program", "start", "foundations", "--on", days_ago(6))
    practise("three-minute-breathing-space", TODAY - timedelta(days=6))
    for n in range(1, 6):
        practise("mindful-breathing", TODAY - timedelta(days=n))
    out = run("today", "--no-checkin").stdout
    assert (
        "\nToday: a free day. This week's practices are all done; rest, or practise anything you\n"
        "like.\n"
    ) in out
    assert played == []


def test_a_choice_is_asked_for(played):
    run("program", "start", "twelve-weeks", "--on", days_ago(77))  # week 12, day 78
    out = run("today", "--no-checkin", "--no-intro", input="body-scan\n").stdout
    assert (
        "Today: mindful-breathing or body-scan or loving-kindness or soothing-touch or\n"
        "mindful-walking or mindful-movement (practice 1 of 6 this week).\n"
        "Choose whichever you like: mindful-breathing, body-scan, loving-kindness,\n"
        "soothing-touch, mindful-walking, mindful-movement.\n"
    ) in out
    assert played == [("body-scan", None)]


def test_the_end_of_a_program_offers_the_last_check_in(played):
    run("program", "start", "foundations", "--on", days_ago(30))
    practise("three-minute-breathing-space", TODAY - timedelta(days=30))
    out = run("today", input="8\nglad I did it\n").stdout
    assert out.startswith(
        "Foundations ended on Tue 17 Nov 2026 (started Wed 21 Oct 2026).\n"
        "You have come to the end of it: 1 of 24 practice days done. 'haven program status' shows\n"
        "how it went; 'haven program stop' clears it, so you can start another.\n"
        "A check-in is due (at the end).\n"
        "\n"
        "Check-in, at the end: a moment to notice how things have been. Press Enter to skip\n"
        "either question.\n"
    )
    assert checkins() == [(2, 8, "glad I did it")] and played == []


def test_with_no_audio_device_today_says_to_render_instead(played, monkeypatch):
    monkeypatch.setattr(cli_programs, "_output_problem", lambda: "no output device found")
    run("program", "start", "foundations", "--on", "yesterday")
    practise("three-minute-breathing-space", TODAY - timedelta(days=1))
    result = run("today", "--no-checkin", code=1)
    assert result.stderr == (
        "Error: cannot play today's practice here: no output device found (render it to a file "
        "instead: haven render mindful-breathing --minutes 8 -o mindful-breathing.wav)\n"
    )
    assert played == []


def test_a_program_that_disappeared_can_still_be_stopped(haven_home):
    folder = haven_home / "data" / "programs"
    folder.mkdir(parents=True)
    mine = folder / "mine.yaml"
    mine.write_text("title: Mine\nweeks:\n  - title: W\n    intention: I\n    days: [body-scan]\n")
    run("program", "start", "mine")
    mine.unlink()
    assert run("today", code=2).stderr == (
        "Error: the running program 'mine' (started 2026-11-20) cannot be found any more; "
        "'haven program stop' ends it\n"
    )
    assert run("program", "stop").stdout.startswith("Stopped Mine (mine).")


def test_program_commands_start_without_heavy_imports():
    code = (
        "import sys\n"
        "from player.cli.app import main\n"
        "try:\n    main(['program', 'list'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'sounddevice', 'pyttsx3', 'soundfile', 'scipy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("HEAVY=")


# --- haven new -----------------------------------------------------------------------------------


def test_new_writes_a_commented_starter_that_validates(haven_home):
    out = run("new", "evening-pause").stdout
    path = haven_home / "data" / "scripts" / "evening-pause.yaml"
    assert out == (
        f"Wrote {path} (a commented starter script).\n"
        "Next:\n"
        "  edit it in any text editor\n"
        "  haven validate evening-pause    check it\n"
        "  haven play evening-pause        listen to it (or: haven render evening-pause -o "
        "evening-pause.wav)\n"
    )
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("# Evening pause: your own Haven exercise. Its id is evening-pause")
    assert "\ntitle: Evening pause\n" in text
    assert run("validate", "evening-pause").stdout == "ok: evening-pause (Evening pause)\n"
    assert "* evening-pause " in run("list").stdout


def test_the_starter_uses_every_action_and_top_level_key():
    import yaml

    from player.format import script, starter

    data = yaml.safe_load(starter.TEMPLATE.replace("@ID@", "x").replace("@TITLE@", "X"))
    assert set(data) == set(script.TOP_LEVEL_KEYS)

    def actions(steps):
        for step in steps:
            if isinstance(step, str):
                yield step, set()
                continue
            action = next(k for k in step if k in script.ACTIONS)
            yield action, set(step) - {action}
            if action == "repeat":
                yield from actions(step["steps"])

    used: dict[str, set[str]] = {}
    for action, mods in actions(data["steps"]):
        used.setdefault(action, set()).update(mods)
    assert set(used) == set(script.ACTIONS)
    expected = {a: set(m) for a, m in script.ACTION_MODIFIERS.items()}
    expected["breathe"].discard("cycles")  # `for` and `cycles` exclude each other: a comment
    assert used == expected
    assert "# how long, in whole breaths (elastic); or cycles: 6" in starter.TEMPLATE


def test_new_from_a_built_in_copies_it_with_a_header(haven_home):
    out = run("new", "my-scan", "--from", "body-scan").stdout
    path = haven_home / "data" / "scripts" / "my-scan.yaml"
    assert out.startswith(f"Wrote {path} (a copy of 'body-scan').\n")
    from player import paths

    source = (paths.builtin_dir("scripts") / "body-scan.yaml").read_text()
    text = path.read_text()
    assert text.startswith(
        "# my-scan: your own copy of Haven's built-in exercise 'body-scan', made with `haven new`.\n"
    )
    assert text.endswith(source)
    assert run("validate", "my-scan").stdout == "ok: my-scan (Body Scan)\n"


def test_new_with_a_built_in_id_is_refused_without_replace(haven_home):
    result = CliRunner().invoke(main, ["new", "body-scan"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: 'body-scan' is the name of a built-in exercise: a script of yours with that name "
        "would play in its place everywhere, programs included (for a copy to change, haven new "
        "my-body-scan --from body-scan; to take its place anyway, add --replace)\n"
    )
    assert not (haven_home / "data" / "scripts" / "body-scan.yaml").exists()
    data = {d["id"]: d for d in json.loads(run("list", "--json").stdout)}
    assert data["body-scan"]["source"] == "built-in"


def test_new_with_a_built_in_id_takes_its_place(haven_home):
    out = run("new", "body-scan", "--from", "body-scan", "--replace").stdout
    path = haven_home / "data" / "scripts" / "body-scan.yaml"
    assert ("It takes the place of the built-in 'body-scan' while it exists, in programs too.\n"
            f"To undo, delete the file: rm {path}\n") in out
    assert "while this file exists, it plays in its place" in (haven_home / "data" / "scripts" / "body-scan.yaml").read_text()
    data = {d["id"]: d for d in json.loads(run("list", "--json").stdout)}
    assert data["body-scan"]["source"] == "user"


@pytest.mark.parametrize(
    "args, message",
    [
        (["My Pause"], "Error: 'My Pause' cannot be a script id: use lower-case letters, digits "
                       "and single hyphens, like 'my-pause'\n"),
        (["--x--"], None),
        (["pause.yaml"], "Error: give the id without .yaml: haven new pause\n"),
        (["pause", "--from", "body-scna"], "Error: no built-in exercise named 'body-scna' (did "
                                          "you mean 'body-scan'?); 'haven list' shows them "
                                          "(yours are marked *)\n"),
    ],
)
def test_new_refuses_bad_names(args, message, haven_home):
    result = CliRunner().invoke(main, ["new", *args])
    assert result.exit_code == 2
    if message:
        assert result.stderr == message
    assert not (haven_home / "data" / "scripts").exists() or not os.listdir(haven_home / "data" / "scripts")


def test_new_never_overwrites(haven_home):
    run("new", "evening-pause")
    path = haven_home / "data" / "scripts" / "evening-pause.yaml"
    path.write_text("mine\n")
    result = run("new", "evening-pause", "--from", "body-scan", code=2)
    assert result.stderr == f"Error: {path} already exists; choose another name, or edit that file\n"
    assert path.read_text() == "mine\n"


# --- twelve-weeks: introductions, reflections, the check-in's items, care -------------------------


CARE = """\
It may help to talk to your clinician or GP about how things have been; you do not have
to wait for things to get worse to do that.

If you are in crisis or thinking of harming yourself, contact your local emergency
number now, or a crisis line (UK and Ireland: Samaritans 116 123; US: call or text 988;
elsewhere: findahelpline.com).

If you would like something steadying now, 'haven play here-and-now' is three minutes of
grounding with your eyes open.
"""
ITEM_PROMPTS = (
    "Overall, how have you been feeling lately, from 0 (very low) to 10 (very good)? {}\n"
    "How anxious or on edge have you felt, from 0 (not at all) to 10 (extremely)? {}\n"
    "How have your relationships felt lately, from 0 (very hard) to 10 (very good)? {}\n"
    "This week, how often did you act on an urge to seek reassurance or to withdraw, from 0 "
    "(never) to 10 (every time)? {}\n"
    "A few words on how the practice is going (Enter to skip): {}\n"
)
OFFER = (
    "Would you like to play here-and-now now, instead of today's practice? (Today's practice "
    "will still be here later.) [y/N]: {}\n"
)
THANKS = "Thank you; saved in your journal. 'haven program status' shows how ratings changed.\n"


def intro(week: int) -> str:
    from player import paths

    return str(paths.builtin_dir("programs") / "twelve-weeks" / f"twelve-weeks-week-{week:02d}.yaml")


def twelve_checkins():
    with Journal.open(clock=lambda: NOW.astimezone(timezone.utc)) as j:
        run_ = j.running_program()
        return [(c.checkpoint, c.mood, dict(c.ratings), c.note) for c in j.program_checkins(run_.id)]


def test_starting_twelve_weeks_gives_the_care_note_first():
    out = run("program", "start", "twelve-weeks").stdout
    assert out.startswith(
        "Started Twelve Weeks of Practice (twelve-weeks): 12 weeks, from Fri 20 Nov 2026 to Thu\n"
        "11 Feb 2027.\n\n" + START_NOTE + "\nWeek 1: Arriving with the breath\n"
    )


def test_a_low_rating_at_a_check_in_is_answered_with_care(played):
    run("program", "start", "twelve-weeks")
    out = run("today", input="1\n\n\n\n\nn\n").stdout
    assert out.endswith(
        "Check-in, at the start: a moment to notice how things have been. Press Enter to skip any\n"
        "question.\n"
        + ITEM_PROMPTS.format(1, "", "", "", "") + THANKS + "\n"
        "It sounds as if things are hard at the moment (mood 1 of 10). Thank you for noting it.\n"
        "\n" + CARE + "\n" + OFFER.format("n") + "\n"
        "Playing this week's introduction.\n"
        "\n"
        "Playing three-minute-breathing-space.\n"
    )
    # Each item skippable: only the mood was kept.
    assert twelve_checkins() == [(0, 1, {}, None)]
    assert played == [(intro(1), None), ("three-minute-breathing-space", None)]


def test_accepting_the_offer_plays_here_and_now_instead(played):
    run("program", "start", "twelve-weeks")
    out = run("today", input="5\n9\n5\n5\n\ny\n").stdout
    assert "It sounds as if things are hard at the moment (anxiety 9 of 10)." in out
    assert out.endswith(OFFER.format("y") + "\nPlaying here-and-now.\n")
    assert played == [("here-and-now", None)]
    assert "Today: three-minute-breathing-space (practice 1 of 6 this week)." in run(
        "today", "--list").stdout  # today's practice is still there


def test_a_large_drop_since_the_last_check_in_is_answered_with_care(played, monkeypatch):
    run("program", "start", "twelve-weeks", "--on", days_ago(14))
    set_now(monkeypatch, NOW - timedelta(days=14))
    first = run("today", input="8\n3\n7\n2\nsteady\n").stdout
    assert "It sounds" not in first and "Would you like" not in first  # a steady good rating
    set_now(monkeypatch, NOW)
    out = run("today", "--no-intro", input="\n4\n3\n7\n6\n\nn\n").stdout
    assert out.endswith(
        ITEM_PROMPTS.format(4, 3, 7, 6, "") + THANKS + "\n"
        "It sounds as if things are hard at the moment (mood down 4 since last time; acting on\n"
        "urges up 4 since last time). Thank you for noting it.\n"
        "\n" + CARE + "\n" + OFFER.format("n") + "\n"
        "Playing thoughts-as-passing-events, fitted to 10 minutes.\n"
    )
    assert twelve_checkins() == [
        (0, 8, {"anxiety": 3, "relationships": 7, "urges": 2}, "steady"),
        (1, 4, {"anxiety": 3, "relationships": 7, "urges": 6}, None),
    ]


def test_a_smaller_change_or_a_steady_rating_brings_no_care_note(played, monkeypatch):
    run("program", "start", "twelve-weeks", "--on", days_ago(14))
    set_now(monkeypatch, NOW - timedelta(days=14))
    run("today", input="7\n4\n6\n5\n\n")
    set_now(monkeypatch, NOW)
    out = run("today", "--no-intro", input="\n4\n7\n3\n8\n\n").stdout
    assert out.endswith(ITEM_PROMPTS.format(4, 7, 3, 8, "") + THANKS + "\n"
                        "Playing thoughts-as-passing-events, fitted to 10 minutes.\n")


def test_the_week_introduction_and_the_reflection(played, monkeypatch):
    run("program", "start", "twelve-weeks", "--on", days_ago(7))
    practise("three-minute-breathing-space", TODAY - timedelta(days=7))
    out = run("today", "--list").stdout
    assert out.endswith(
        "Today: body-scan, 15 min (practice 1 of 6 this week).\n"
        "A short spoken introduction to the week plays first.\n"
        "A question to look back on week 1 is waiting.\n"
        "A check-in is due (at the start).\n"
    )
    out = run("today", input="to feel less on edge\n\n\n\n\n\n").stdout
    assert (
        "\nLooking back on week 1 (Arriving with the breath):\n"
        "  What brought you to this course, and what would you like to be different by the end of\n"
        "  it?\n"
        "Your answer (Enter to skip): to feel less on edge\n"
        "Thank you; saved in your journal with this program's check-ins.\n"
    ) in out
    assert out.endswith(
        "Skipped; it will not be asked again. 'haven program status' shows your check-ins.\n"
        "\nPlaying this week's introduction.\n"
        "\nPlaying body-scan, fitted to 15 minutes.\n"
    )
    assert played == [(intro(2), None), ("body-scan", 15.0)]
    # Answered once; the introduction plays only before the week's first practice.
    practise("body-scan", TODAY)
    set_now(monkeypatch, NOW + timedelta(days=1))
    out = run("today").stdout
    assert "Looking back" not in out and "introduction" not in out and "Check-in" not in out
    assert played[-1] == ("body-scan", 15.0)
    status = run("program", "status").stdout
    assert 'Reflections:\n  Week 1: "to feel less on edge"\n' in status


def test_status_shows_each_items_trend_in_80_columns(played, monkeypatch):
    run("program", "start", "twelve-weeks", "--on", days_ago(84))
    # (The first raises a concern: anxiety 8, so the offer is declined; later ones answer the
    # reflection on the week before first, by skipping it.)
    for k, answers in enumerate(("3\n8\n4\n9\n\nn\n", "\n5\n6\n\n7\n\n", "\n6\n5\n6\n4\n\n")):
        set_now(monkeypatch, NOW - timedelta(days=84 - 14 * k))
        run("today", "--no-intro", input=answers)
    set_now(monkeypatch, NOW)
    status = run("program", "status").stdout
    assert status.endswith(
        "Check-ins (0-10; - not answered):\n"
        "                 start  wk 2  wk 4\n"
        "  Mood               3     5     6   +3, better\n"
        "  Anxiety            8     6     5   -3, better\n"
        "  Relationships      4     -     6   +2, better\n"
        "  Acted on urges     9     7     4   -5, better\n"
        "A check-in is due (at the end): 'haven today' offers it.\n"
    )
    assert max(len(line) for line in status.splitlines()) <= 80
    data = json.loads(run("program", "status", "--json").stdout)
    assert data["changes"] == {"mood": 3, "anxiety": -3, "relationships": 2, "urges": -5}
    assert data["checkins"][1]["ratings"] == {"mood": 5, "anxiety": 6, "relationships": None,
                                              "urges": 7}


def test_booster_check_ins_after_the_course(played, monkeypatch):
    run("program", "start", "foundations", "--on", days_ago(28 + 28))  # ended 4 weeks ago
    out = run("today", input="6\n\n").stdout
    assert out.startswith("Foundations ended on Thu 22 Oct 2026 (started Fri 25 Sep 2026).\n")
    assert "A check-in is due (1 month after the end).\n" in out
    assert "\nCheck-in, 1 month after the end: a moment to notice how things have been." in out
    assert checkins() == [(3, 6, None)] and played == []
    status = run("program", "status").stdout
    assert status.endswith(
        "                   +1m\n"
        "  Mood               6\n"
        "Next check-in: 2 months after the end, from Fri 18 Dec 2026.\n"
    )
    set_now(monkeypatch, NOW + timedelta(days=27))
    assert "Check-in" not in run("today").stdout
    set_now(monkeypatch, NOW + timedelta(days=28))
    assert "A check-in is due (2 months after the end).\n" in run("today", "--list").stdout


def test_play_checkin_uses_the_same_care_rule(monkeypatch, tmp_path, capsys):
    """`haven play --checkin`: a low rating before, or a fall of 4 after, brings the note."""
    from fake_audio import FakeStream, fake_sounddevice

    from player.library import catalog as library
    from player.audio import devices, playback
    from player import prompts
    from player.audio.render import SessionSettings

    monkeypatch.setattr(FakeStream, "pace", 0.0)
    monkeypatch.setattr(devices, "load_sounddevice", lambda: fake_sounddevice())
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("title: Tiny\ncategory: meditation\nending: silence\nsteps:\n"
                    "  - say: Breathe easy.\n    after: 1s\n")
    for before, after, lead in (
        (2, 3, "(mood 2 of 10)"), (8, 4, "(mood down 4 since last time)"), (7, 6, None),
    ):
        answers = iter([before, after])
        monkeypatch.setattr(prompts, "prompt_mood", lambda *a, **k: next(answers))
        monkeypatch.setattr(prompts, "prompt_note", lambda *a, **k: None)
        capsys.readouterr()
        playback.play(library.load(str(tiny)), SessionSettings(), checkin=True,
                      interactive=True, quiet=True, ring_seconds=60)
        out = capsys.readouterr().out
        if lead is None:
            assert "It sounds" not in out and "988" not in out
        else:
            assert out.count("It sounds as if things are hard at the moment") == 1
            assert " ".join(out.split()).count(f"at the moment {lead}. Thank you for noting it.") == 1
            assert "noting it.\n\n" + CARE + "\n" in out
    for stream in FakeStream.instances:
        stream.stop()


def test_validate_loads_each_week_introduction(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "intro.yaml").write_text("title: Hello\nsteps:\n  - sey: Welcome.\n")
    prog = tmp_path / "mine.yaml"
    prog.write_text("title: Mine\nweeks:\n  - title: W\n    intention: I\n    days: [body-scan]\n"
                    "    intro: mine/intro.yaml\n")
    result = run("program", "validate", str(prog), code=2)
    assert result.stdout == ""
    assert result.stderr == (f"{tmp_path}/mine/intro.yaml:3:5: steps[0].sey: unknown action "
                             "'sey' (did you mean 'say'?)\n")
    (tmp_path / "mine" / "intro.yaml").write_text("title: Hello\nsteps:\n  - say: Welcome.\n")
    assert run("program", "validate", str(prog)).stdout == f"ok: {prog} (Mine, 1 week)\n"
