"""The program format and its counting rules (``player.programs``), without the CLI.

Loading is held to the script loader's standard: one-line ``file:line:col: path: message``
errors for every rule. Progress and check-ins are pure functions of dates and the journal's
per-day totals, so every case here gives "today" explicitly.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from player import programs
from player.errors import NotFoundError, ScriptError
from player.programs import Practice, load_program, load_program_text

ROOT = Path(__file__).resolve().parent.parent
KNOWN = {"mindful-breathing", "body-scan", "three-minute-breathing-space", "mindful-walking"}

GOOD = """\
haven: 1
title: Two Weeks
summary: >
  A short course,
  folded.
weeks:
  - title: Breath
    intention: >
      Turn up,
      each day.
    days:
      - three-minute-breathing-space
      - exercise: mindful-breathing
        minutes: 8
        times: 3
  - title: Body
    intention: Notice the body.
    days:
      - choose: [body-scan, mindful-walking]
        minutes: 15
        times: 2
"""


def load(text: str, name: str = "course.yaml"):
    return load_program_text(text, filename=name, exercises=KNOWN)


def error(text: str, name: str = "course.yaml") -> str:
    with pytest.raises(ScriptError) as info:
        load(text, name)
    return str(info.value)


# --- the format --------------------------------------------------------------------------------


def test_a_good_program_loads_with_times_expanded_and_text_folded():
    prog = load(GOOD)
    assert prog.id == "course" and prog.title == "Two Weeks"
    assert prog.summary == "A short course, folded."
    first, second = prog.weeks
    assert (first.number, first.title, first.intention) == (1, "Breath", "Turn up, each day.")
    assert first.practices == (
        Practice(("three-minute-breathing-space",)),
        *[Practice(("mindful-breathing",), 8.0)] * 3,
    )
    assert second.practices == (Practice(("body-scan", "mindful-walking"), 15.0),) * 2
    assert second.practices[0].is_choice and second.practices[0].exercise == "body-scan"
    assert second.practices[0].label() == "body-scan or mindful-walking, 15 min"
    assert prog.length_days == 14
    assert prog.exercise_ids() == KNOWN


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "course.yaml:1:1: the file is empty; a program needs at least 'title' and 'weeks'"),
        ("- a\n", "course.yaml:1:1: the top level must be a mapping with keys like 'title' and "
                  "'weeks' (got a list)"),
        ("title: T\n", "course.yaml:1:1: weeks: missing: every program needs 'weeks'"),
        ("title: T\nweeks: []\nsteps: []\n", "course.yaml:3:1: steps: unknown key 'steps' "
                                             "(expected one of: haven, title, summary, weeks)"),
        ("haven: 2\ntitle: T\nweeks: []\n", "course.yaml:1:8: haven: unsupported format version "
                                            "2; this Haven reads version 1"),
        ("title: T\nweeks: []\n", "course.yaml:2:8: weeks: must have at least one week"),
        ("title: T\nweeks: {a: 1}\n", "course.yaml:2:8: weeks: must be a list of weeks (got a "
                                      "mapping)"),
        ("title: T\nweeks:\n  - title: W\n    days: [body-scan]\n",
         "course.yaml:3:5: weeks[0].intention: missing: every week needs 'intention'"),
        ("title: T\nweeks:\n  - title: W\n    intension: I\n    days: [body-scan]\n",
         "course.yaml:4:5: weeks[0].intension: unknown key 'intension' (did you mean "
         "'intention'?)"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days: []\n",
         "course.yaml:5:11: weeks[0].days: must have at least one practice"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [mindfull-breathing]\n",
         "course.yaml:5:12: weeks[0].days[0]: unknown exercise 'mindfull-breathing' (did you "
         "mean 'mindful-breathing'?)"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [cheese]\n",
         "course.yaml:5:12: weeks[0].days[0]: unknown exercise 'cheese'; 'haven list' shows "
         "them all"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [Body Scan]\n",
         "course.yaml:5:12: weeks[0].days[0]: must be an exercise id like 'mindful-breathing' "
         "(got 'Body Scan')"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n"
         "      - exercise: body-scan\n        minutes: ten\n",
         "course.yaml:7:18: weeks[0].days[0].minutes: must be a number between 0.5 and 240 "
         "(got 'ten')"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n"
         "      - exercise: body-scan\n        minutes: 300\n",
         "course.yaml:7:18: weeks[0].days[0].minutes: must be between 0.5 and 240 (got 300)"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n"
         "      - exercise: body-scan\n        times: 5\n      - exercise: body-scan\n"
         "        times: 3\n",
         "course.yaml:8:9: weeks[0].days[1]: the week now has 8 practice days; a week has at "
         "most 7"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n"
         "      - exercise: body-scan\n        choose: [body-scan, mindful-walking]\n",
         "course.yaml:7:9: weeks[0].days[0].choose: use either 'exercise' or 'choose', not both"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n"
         "      - choose: [body-scan, body-scan]\n",
         "course.yaml:6:29: weeks[0].days[0].choose[1]: 'body-scan' is listed twice"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days:\n      - minutes: 5\n",
         "course.yaml:6:9: weeks[0].days[0]: a practice needs 'exercise: ID' (or 'choose: "
         "[ID, ID]')"),
        ("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [3]\n",
         "course.yaml:5:12: weeks[0].days[0]: a practice is an exercise id like "
         "'mindful-breathing' or a mapping like {exercise: body-scan, minutes: 15} (got 3)"),
        ("title: &t T\nweeks: []\n",
         "course.yaml:1:8: title: anchors ('&t') are not allowed in programs; write values out "
         "in full"),
        ("title: T\n---\ntitle: U\n",
         "course.yaml:2:1: a program is a single YAML document, but a second one starts here"),
    ],
)
def test_every_rule_gives_one_located_line(text, message):
    assert error(text) == message


def test_the_file_name_must_make_an_id():
    assert error(GOOD, "My Course.yaml") == (
        "My Course.yaml: the program id 'My Course' (the file name without .yaml) must be "
        "lower-case letters, digits and single hyphens, like 'my-course'"
    )


def test_by_default_exercise_ids_are_checked_against_the_library(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace("body-scan", "body-scam"))
    with pytest.raises(ScriptError) as info:
        load_program(path)
    assert str(info.value).endswith(
        "weeks[1].days[0].choose[0]: unknown exercise 'body-scam' (did you mean 'body-scan'?)"
    )


def test_programs_are_found_by_id_user_ones_shadowing_built_in_ones(haven_home):
    assert list(programs.program_paths()) == ["foundations", "twelve-weeks"]
    folder = haven_home / "data" / "programs"
    folder.mkdir(parents=True)
    (folder / "foundations.yaml").write_text(GOOD)
    (folder / "broken.yaml").write_text("title: [\n")
    infos = {p.id: p for p in programs.list_programs()}
    assert infos["foundations"].source == "user" and infos["foundations"].title == "Two Weeks"
    assert infos["twelve-weeks"].source == "built-in" and infos["twelve-weeks"].weeks == 12
    assert infos["broken"].problem.startswith(f"{folder / 'broken.yaml'}:2:1: YAML syntax")
    with pytest.raises(NotFoundError) as info:
        programs.resolve_program("foundation")
    assert str(info.value) == (
        "no program named 'foundation' (did you mean 'foundations'?); 'haven program list' "
        "shows them all"
    )


# --- progress ----------------------------------------------------------------------------------

START = date(2026, 11, 2)  # a Monday; any weekday works the same
PROG = load(GOOD)


def day(n: int) -> date:
    return START + timedelta(days=n)


def at(today: int, practiced: dict[int, dict[str, float]], min_minutes: float = 1.0):
    return programs.progress(
        PROG, START, day(today), {day(n): v for n, v in practiced.items()}, min_minutes
    )


def test_before_anything_is_practised_the_first_practice_is_due():
    p = at(0, {})
    assert p.status == "running" and p.day == 0 and p.current.week.number == 1
    assert p.due == Practice(("three-minute-breathing-space",))
    assert (p.practices_done, p.practices_total) == (0, 6)


def test_each_practice_day_does_the_first_matching_practice_one_per_day():
    # Day 0: mindful breathing (the second practice); day 2: both exercises, still one practice.
    p = at(3, {0: {"mindful-breathing": 600}, 2: {"mindful-breathing": 480,
                                                 "three-minute-breathing-space": 200}})  # fmt: skip
    week = p.weeks[0]
    assert week.done_on == (day(2), day(0), None, None)
    assert p.due == Practice(("mindful-breathing",), 8.0) and p.done_today is None


def test_a_missed_day_moves_nothing_along():
    p = at(5, {4: {"three-minute-breathing-space": 180}})
    assert p.weeks[0].done_on == (day(4), None, None, None)
    assert p.due == Practice(("mindful-breathing",), 8.0)


def test_todays_practice_done_means_nothing_more_is_due():
    p = at(1, {1: {"three-minute-breathing-space": 180}})
    assert p.done_today == Practice(("three-minute-breathing-space",))
    assert p.due is None


def test_min_minutes_decides_whether_a_day_counts():
    assert at(0, {0: {"three-minute-breathing-space": 59}}).weeks[0].done == 0
    assert at(0, {0: {"three-minute-breathing-space": 60}}).weeks[0].done == 1
    # With min_minutes 0 a started session counts, even at 0 seconds; no session never does.
    assert at(0, {0: {"three-minute-breathing-space": 0.0}}, min_minutes=0).weeks[0].done == 1
    assert at(0, {0: {"body-scan": 600}}, min_minutes=0).weeks[0].done == 0


def test_other_exercises_do_not_count_and_a_choice_takes_any_of_its_exercises():
    p = at(9, {7: {"mindful-walking": 900}, 8: {"loving-kindness": 900}, 9: {"body-scan": 900}})
    assert p.weeks[1].done_on == (day(7), day(9))
    assert p.done_today is not None and p.due is None


def test_a_week_with_all_its_practices_done_leaves_free_days():
    practiced = {n: {"three-minute-breathing-space": 200, "mindful-breathing": 500} for n in range(4)}
    p = at(5, practiced)
    assert p.weeks[0].done == 4 and p.due is None and p.done_today is None
    assert p.status == "running"


def test_weeks_are_seven_day_blocks_from_the_start():
    p = at(7, {6: {"body-scan": 900}, 7: {"mindful-walking": 900}})
    assert p.weeks[0].done == 0  # body-scan is not a week-one practice
    assert p.weeks[1].done_on == (day(7), None)
    assert p.current.week.number == 2


def test_before_the_start_and_after_the_end():
    early = programs.progress(PROG, START, day(-3), {}, 1.0)
    assert early.status == "not started" and early.due is None and early.current is None
    late = at(14, {13: {"body-scan": 900}})
    assert late.status == "finished" and late.due is None and late.current is None
    assert late.weeks[1].done == 1 and late.ends_on == day(13)


def test_sessions_after_today_are_ignored():
    assert at(1, {2: {"mindful-breathing": 600}}).practices_done == 0


# --- check-ins ---------------------------------------------------------------------------------


def weeks(n: int):
    week = programs.Week(1, "W", "I", (Practice(("body-scan",)),))
    return programs.Program("p", "P", "", (week,) * n)


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, [(0, "at the start"), (7, "at the end")]),
        (2, [(0, "at the start"), (14, "at the end")]),
        (3, [(0, "at the start"), (14, "after week 2"), (21, "at the end")]),
        (4, [(0, "at the start"), (14, "after week 2"), (28, "at the end")]),
        (12, [(0, "at the start")] + [(14 * k, f"after week {2 * k}") for k in range(1, 6)]
         + [(84, "at the end")]),
    ],
)
def test_check_ins_come_at_the_start_every_two_weeks_and_at_the_end(n, expected):
    points = programs.checkpoints(weeks(n))
    assert [(c.day, c.label) for c in points] == expected
    assert [c.number for c in points] == list(range(len(expected)))


def test_the_latest_check_in_reached_is_offered_once():
    prog = weeks(4)
    assert programs.due_checkin(prog, -1, set()) is None
    assert programs.due_checkin(prog, 0, set()).number == 0
    assert programs.due_checkin(prog, 13, {0}) is None
    assert programs.due_checkin(prog, 14, {0}).number == 1
    # Missed ones are passed over: a rating is about now.
    assert programs.due_checkin(prog, 30, set()).number == 2
    assert programs.due_checkin(prog, 30, {2}) is None


def test_mood_change_is_last_minus_first_rating():
    from player.journal import CheckIn

    def c(n, mood):
        return CheckIn(1, n, "2026-11-20T12:00:00Z", "+00:00", mood, None)

    assert programs.mood_change([c(0, 4)]) is None
    assert programs.mood_change([c(0, 4), c(1, None), c(2, 7)]) == 3


def test_start_days():
    today = date(2026, 11, 20)
    assert programs.parse_start_day(None, today) == today
    assert programs.parse_start_day("tomorrow", today) == date(2026, 11, 21)
    assert programs.parse_start_day(" Yesterday ", today) == date(2026, 11, 19)
    assert programs.parse_start_day("2026-12-01", today) == date(2026, 12, 1)
    for bad in ("next week", "2026-13-01", "2028-01-01"):
        with pytest.raises(Exception):
            programs.parse_start_day(bad, today)


def test_the_readme_example_program_is_valid():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Programs\n", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```yaml\n(haven: 1\n.*?)```", section, re.S).group(1)
    prog = load_program_text(example, filename="evenings.yaml")  # against the real library
    assert [len(w.practices) for w in prog.weeks] == [5, 6]
    assert prog.weeks[1].practices[0].is_choice
