"""The program format and its counting rules (``player.library.programs``), without the CLI.

Loading is held to the script loader's standard: one-line ``file:line:col: path: message``
errors for every rule. Progress and check-ins are pure functions of dates and the journal's
per-day totals, so every case here gives "today" explicitly.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.library import programs
from player.errors import NotFoundError, ScriptError
from player.library.programs import Practice, load_program, load_program_text

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
                                             "(expected one of: haven, title, summary, checkin, weeks)"),
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


# --- the format's week introductions, reflections and check-in items ------------------------------


def test_intro_reflection_and_check_in_items(tmp_path):
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "week-01.yaml").write_text(
        "title: Week one\nsteps:\n  - say: Welcome.\n")
    path = tmp_path / "course.yaml"
    path.write_text(
        "title: T\ncheckin: [mood, urges]\nweeks:\n"
        "  - title: W\n    intention: I\n    days: [body-scan]\n"
        "    intro: course/week-01.yaml\n    reflection: What helped?\n"
        "  - title: V\n    intention: J\n    days: [body-scan]\n    intro: mindful-breathing\n")
    prog = load_program(path, exercises=KNOWN)
    assert prog.checkin_items == ("mood", "urges")
    assert prog.weeks[0].intro == str(tmp_path / "course" / "week-01.yaml")
    assert prog.weeks[0].reflection == "What helped?"
    assert (prog.weeks[1].intro, prog.weeks[1].reflection) == ("mindful-breathing", None)
    programs.check_intros(prog)  # the script itself loads
    assert load_program_text(GOOD, filename="two.yaml", exercises=KNOWN).checkin_items == ("mood",)


@pytest.mark.parametrize(
    "extra, message",
    [
        ("checkin: [mood, worry]\n",
         "c.yaml:1:17: checkin[1]: unknown check-in item 'worry' (known: mood, anxiety, "
         "relationships, urges)"),
        ("checkin: [mood, mood]\n", "c.yaml:1:17: checkin[1]: 'mood' is listed twice"),
        ("checkin: mood\n",
         "c.yaml:1:10: checkin: must be a list of check-in items from: mood, anxiety, "
         "relationships, urges (got 'mood')"),
    ],
)
def test_bad_check_in_items(tmp_path, extra, message):
    path = tmp_path / "c.yaml"
    path.write_text(extra + "title: T\nweeks:\n  - title: W\n    intention: I\n    days: [body-scan]\n")
    with pytest.raises(ScriptError) as info:
        load_program(path, exercises=KNOWN)
    assert str(info.value) == message.replace("c.yaml", str(path))


@pytest.mark.parametrize(
    "intro, message",
    [
        ("../elsewhere.yaml", "must be an exercise id, or a .yaml file in the program's folder "
                              "like 'week-01.yaml' (got '../elsewhere.yaml')"),
        ("/etc/passwd", "must be an exercise id, or a .yaml file in the program's folder like "
                        "'week-01.yaml' (got '/etc/passwd')"),
        ("course/missing.yaml", "no such script file: {folder}/course/missing.yaml"),
        ("body-scam", "unknown exercise 'body-scam' (did you mean 'body-scan'?)"),
    ],
)
def test_bad_intros(tmp_path, intro, message):
    path = tmp_path / "c.yaml"
    path.write_text("title: T\nweeks:\n  - title: W\n    intention: I\n    days: [body-scan]\n"
                    f"    intro: {intro}\n")
    with pytest.raises(ScriptError) as info:
        load_program(path, exercises=KNOWN)
    assert str(info.value) == f"{path}:6:12: weeks[0].intro: " + message.format(folder=tmp_path)


# --- check-ins after the end: monthly boosters ----------------------------------------------------


def test_boosters_come_monthly_for_a_year_after_the_end():
    prog = weeks(4)
    boosters = programs.booster_checkpoints(prog)
    assert [(c.number, c.day, c.label, c.short) for c in boosters[:2]] == [
        (3, 56, "1 month after the end", "+1m"), (4, 84, "2 months after the end", "+2m")]
    assert len(boosters) == 12 and boosters[-1].day == 28 + 12 * 28
    assert programs.due_checkin(prog, 55, {0, 1, 2}) is None
    assert programs.due_checkin(prog, 56, {0, 1, 2}).label == "1 month after the end"
    assert programs.due_checkin(prog, 60, {0, 1, 2, 3}) is None
    assert programs.next_checkin(prog, 60).label == "2 months after the end"
    assert programs.due_checkin(prog, 10_000, set()).label == "12 months after the end"
    assert programs.next_checkin(prog, 10_000) is None


# --- the care rule (player.care) ------------------------------------------------------------------


def test_care_rule_per_item_and_direction():
    from player import care

    def kinds(item, rating, previous=None):
        found = care.concern(item, rating, previous)
        return found and (found.kind, found.describe())

    # Mood and relationships: low is hard.
    assert kinds("mood", 2) == ("level", "mood 2 of 10")
    assert kinds("mood", 0) == ("level", "mood 0 of 10")
    assert kinds("mood", 3) is None
    assert kinds("mood", 4, 8) == ("change", "mood down 4 since last time")
    assert kinds("mood", 5, 8) is None
    assert kinds("mood", 9, 3) is None  # better is never a concern
    assert kinds("relationships", 1) == ("level", "relationships 1 of 10")
    # Anxiety: high is hard.
    assert kinds("anxiety", 8) == ("level", "anxiety 8 of 10")
    assert kinds("anxiety", 2) is None
    assert kinds("anxiety", 7, 3) == ("change", "anxiety up 4 since last time")
    # Acting on urges: a high level is where many start; only a rise of 4 or more.
    assert kinds("urges", 10) is None
    assert kinds("urges", 6, 2) == ("change", "acting on urges up 4 since last time")
    assert kinds("urges", 0, 9) is None
    # A skipped item is never a concern.
    assert kinds("mood", None, 9) is None


def test_care_note_and_the_start_note_use_the_help_text():
    from player import care
    from player.cli.app import HELP

    assert care.care_note([]) is None and care.mood_care(7, 7) is None
    note = care.care_note(care.concerns({"mood": 1, "anxiety": 9}))
    assert note.split("\n\n") == [
        "It sounds as if things are hard at the moment (mood 1 of 10; anxiety 9 of 10). Thank "
        "you for noting it.",
        "It may help to talk to your clinician or GP about how things have been; you do not "
        "have to wait for things to get worse to do that.",
        "If you are in crisis or thinking of harming yourself, contact your local emergency "
        "number now, or a crisis line (UK and Ireland: Samaritans 116 123; US: call or text "
        "988; elsewhere: findahelpline.com).",
        "If you would like something steadying now, 'haven play here-and-now' is three minutes "
        "of grounding with your eyes open.",
    ]
    assert care.CRISIS_LINES in HELP and care.CRISIS_LINES in care.START_NOTE
    assert "clinician or GP" in care.START_NOTE and "'haven play here-and-now'" in care.START_NOTE


def test_a_skipped_item_keeps_the_last_rating_for_comparison():
    from player import care
    from player.journal import CheckIn

    def c(n, mood, **ratings):
        return CheckIn(1, n, "2026-11-20T12:00:00Z", "+00:00", mood, None, tuple(sorted(ratings.items())))

    history = [c(0, 8, anxiety=3), c(1, None, anxiety=4), c(2, None)]
    assert programs.last_ratings(history) == {"mood": 8, "anxiety": 4}
    assert [x.describe() for x in care.concerns({"mood": 4, "anxiety": 5}, programs.last_ratings(history))] == [
        "mood down 4 since last time"]
    assert programs.item_change(history, "anxiety") == 1
    assert programs.item_change(history, "relationships") is None


RATING = st.one_of(st.none(), st.integers(0, 10))


@given(item=st.sampled_from(["mood", "anxiety", "relationships", "urges"]), rating=RATING,
       previous=RATING)
def test_care_rule_property(item, rating, previous):
    from player import care

    found = care.concern(item, rating, previous)
    if rating is None:
        assert found is None
        return
    harder = item in ("anxiety", "urges")
    level = item != "urges" and (rating >= 8 if harder else rating <= 2)
    drop = previous is not None and ((rating - previous) if harder else (previous - rating)) >= 4
    assert (found is not None) == (level or drop)
    # Mirror symmetry: the low-is-hard rule is the high-is-hard rule turned upside down.
    if item == "mood":
        mirrored = care.concern("anxiety", 10 - rating, None if previous is None else 10 - previous)
        assert (found is None) == (mirrored is None)


# --- twelve-weeks, walked day by day through the journal ---------------------------------------------


THE_PLAN = {
    # script: the weeks it must appear in (at least once in each listed range)
    "turning-toward": range(1, 5),
    "small-steps": range(5, 9),
    "checking-the-story": range(5, 9),
    "asking-for-what-you-need": range(9, 13),
    "worry-time": range(9, 13),
}
STEADYING = {"safe-place", "soothing-touch", "here-and-now", "extended-exhale"}


def walk(program_id: str, days: int, *, skip=lambda day: False):
    """Start ``program_id`` on a Monday and practise each day what ``haven today`` would play
    (choices in turn), through the real journal and the program's own day counting. Returns
    per program day: (week number or None, what was due, intro due, reflection due, check-in)."""
    from datetime import datetime, timezone

    from player.journal import Journal

    start = date(2026, 11, 2)
    clock = [datetime(2026, 11, 2, 12, tzinfo=timezone.utc)]
    log = []
    with Journal.open(clock=lambda: clock[0]) as journal:
        programs.start(journal, program_id, start.isoformat(), clock[0])
        for n in range(days):
            day = start + timedelta(days=n)
            now = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
            clock[0] = now
            state = programs.program_state(journal, now)
            due = state.progress.due
            week = state.progress.current.week.number if state.progress.current else None
            log.append((week, due, state.intro_due, state.reflection_due,
                        state.checkin_due.label if state.checkin_due else None))
            if state.reflection_due is not None:
                programs.record_reflection(journal, state, f"week {state.reflection_due.number}")
            if state.checkin_due is not None:
                programs.record_checkin(journal, state, 7, None, {"anxiety": 3})
            if due is not None and not skip(n):
                exercise = due.exercises[n % len(due.exercises)]
                # After the program was started (12:00 on its first day), for the whole
                # planned length (a practice counts when done for most of its length).
                length = due.minutes * 60 if due.minutes else 2 * programs.needed_seconds(due, exercise)
                clock[0] = now.replace(hour=23)
                journal.add_manual(exercise, max(length, 600), started_at=now)
    return log


def test_twelve_weeks_validates_with_its_introductions():
    prog = programs.find_program("twelve-weeks")
    programs.check_intros(prog)
    assert len(prog.weeks) == 12
    assert prog.checkin_items == ("mood", "anxiety", "relationships", "urges")
    for week in prog.weeks:
        assert Path(week.intro).name == f"twelve-weeks-week-{week.number:02d}.yaml"
        assert Path(week.intro).parent == ROOT / "programs" / "twelve-weeks"
        assert week.reflection and week.reflection.endswith("?")
    programs.check_intros(programs.find_program("foundations"))


def test_twelve_weeks_day_by_day(haven_home):
    log = walk("twelve-weeks", 84 + 28 + 1)
    done: dict[int, list[str]] = {}
    offered: dict[int, list[tuple[str, ...]]] = {}
    for n, (week, due, _intro, _reflection, _checkin) in enumerate(log[:84]):
        assert week == n // 7 + 1
        if due is not None:
            done.setdefault(week, []).append(due.exercises[n % len(due.exercises)])
            offered.setdefault(week, []).append(due.exercises)
    # Six practices a week, one a day, then a free day.
    assert [len(done[w]) for w in range(1, 13)] == [6] * 12
    assert all(log[7 * w + 6][1] is None for w in range(12))
    for script, weeks_ in THE_PLAN.items():
        # Played in its part of the course (and not before it: each part adds to the last).
        assert any(script == x for w in weeks_ for x in done[w]), script
        assert not any(script in x for w in offered if w < weeks_[0] for x in offered[w]), script
    for w in range(1, 13):  # the steadying practices are a choice every week, from week 1
        assert any(STEADYING == set(x) for x in offered[w]), w
    assert any("coherent-breathing" in x for w in offered for x in offered[w])  # a pacer
    for script in ("here-and-now", "breathing-space-next-step", "your-younger-self",
                   "mindful-movement"):
        assert any(script in x for w in offered for x in offered[w]), script
    assert done[12][-1] == "staying-steady-plan"  # the course ends with the plan
    # The week's introduction on its first practice day only; the reflection from the day after.
    intros = [(n, intro) for n, (_w, _d, intro, _r, _c) in enumerate(log) if intro]
    assert [n for n, _ in intros] == [7 * w for w in range(12)]
    assert [Path(i).name for _, i in intros] == [f"twelve-weeks-week-{w:02d}.yaml" for w in range(1, 13)]
    reflections = [(n, r.number) for n, (_w, _d, _i, r, _c) in enumerate(log) if r]
    assert reflections == [(7 * w, w) for w in range(1, 13)]
    # Check-ins: the start, every two weeks, the end, then the first monthly booster.
    checkins_ = [(n, c) for n, (_w, _d, _i, _r, c) in enumerate(log) if c]
    assert checkins_ == [(0, "at the start"), (14, "after week 2"), (28, "after week 4"),
                         (42, "after week 6"), (56, "after week 8"), (70, "after week 10"),
                         (84, "at the end"), (112, "1 month after the end")]


def test_twelve_weeks_with_missed_days_moves_nothing_along(haven_home):
    # Practising only on weekdays (5 of 7 days): each week's first five practices are done,
    # in order, and the week's last practice is still due on the next practice day.
    log = walk("twelve-weeks", 14, skip=lambda n: n % 7 in (5, 6))
    week1 = [d for w, d, *_ in log[:7] if w == 1]
    prog = programs.find_program("twelve-weeks")
    assert week1[:5] == list(prog.weeks[0].practices[:5])
    assert week1[5] == week1[6] == prog.weeks[0].practices[5]  # still due, never skipped over
    assert log[7][1] == prog.weeks[1].practices[0]  # a new week starts from its first practice


# --- the twelve week introductions: the library's writing rules, and out of `haven list` ---------


INTRO_FILES = sorted((ROOT / "programs" / "twelve-weeks").glob("*.yaml"))


def test_there_are_twelve_introductions_and_haven_list_does_not_show_them():
    from player.library import catalog as library

    assert [p.name for p in INTRO_FILES] == [f"twelve-weeks-week-{w:02d}.yaml" for w in range(1, 13)]
    listed = {s.id for s in library.list_scripts()}
    assert not any(p.stem in listed for p in INTRO_FILES)
    assert set(programs.program_paths()) == {"foundations", "twelve-weeks"}


@pytest.mark.parametrize("path", INTRO_FILES, ids=lambda p: p.stem)
def test_each_introduction_follows_the_writing_rules(path):
    import yaml

    import test_builtin_text as rules

    from player.library import catalog as library

    library.load(str(path))  # the real loader accepts it
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = " ".join(rules.spoken(doc))
    said = [s for line in rules.spoken(doc) for s in rules.sentences(line)]
    counts = [len(rules.words(s)) for s in said]
    assert max(counts) <= rules.MAX_SENTENCE_WORDS
    assert sum(counts) / len(counts) <= rules.MAX_MEAN_SENTENCE_WORDS
    assert not rules.FORBIDDEN_CLAIMS.search(text)
    for line in rules.spoken(doc):
        assert not rules.UNSPEAKABLE.search(line) and not rules.MISREAD.search(line), line
    flat = " ".join("".join(ch if ch.isalpha() else " " for ch in text.lower()).split())
    assert not any(phrase in flat for phrase in rules.PUBLISHED_PHRASES)
    for name, pattern in rules.PERMISSIONS.items():  # eyes open, move, stop: said in each
        assert pattern.search(text.lower()), name
    assert 0.75 <= rules.minutes(doc) <= 1.5  # about a minute


# --- the journal's check-in items and reflections (migration 3) ---------------------------------


def test_check_in_items_and_reflections_are_stored_once(haven_home):
    from datetime import datetime, timezone

    from player.errors import BadInputError
    from player.journal import MIGRATIONS, Journal

    clock = lambda: datetime(2026, 11, 20, 12, tzinfo=timezone.utc)  # noqa: E731
    with Journal.open(clock=clock, migrations=MIGRATIONS[:2]) as j:  # a journal from before
        run = j.start_program("twelve-weeks", "Twelve", date(2026, 11, 20))
        j.add_program_checkin(run.id, 0, 5, "old")
    with Journal.open(clock=clock) as j:
        assert [(c.mood, c.note, c.ratings) for c in j.program_checkins(run.id)] == [(5, "old", ())]
        stored = j.add_program_checkin(run.id, 1, None, None,
                                       {"urges": 7, "anxiety": 2, "relationships": None})
        assert stored.ratings == (("anxiety", 2), ("urges", 7))
        assert j.program_checkins(run.id)[1] == stored
        with pytest.raises(BadInputError, match="unknown check-in item 'worry'"):
            j.add_program_checkin(run.id, 2, 5, None, {"worry": 3})
        with pytest.raises(BadInputError, match="anxiety must be a whole number from 0 to 10"):
            j.add_program_checkin(run.id, 2, 5, None, {"anxiety": 11})
        assert len(j.program_checkins(run.id)) == 2  # nothing half-written
        first = j.add_program_reflection(run.id, 1, "  a calmer week ")
        assert (first.week, first.note) == (1, "a calmer week")
        skipped = j.add_program_reflection(run.id, 2, None)
        with pytest.raises(BadInputError, match="the reflection on week 2 was already recorded"):
            j.add_program_reflection(run.id, 2, "again")
        assert j.program_reflections(run.id) == [first, skipped]


def test_each_introduction_renders_all_its_sentences_in_order_in_about_a_minute(haven_home):
    """Through the real speech engine and timeline, as `haven today` plays them."""
    from player.library import catalog as library
    from player.format import model
    from player.audio.render import SessionSettings, prepare_script
    from player.speech.text import split_sentences

    lengths = {}
    for path in INTRO_FILES:
        script = library.load(str(path))
        expected = [s for step in script.steps if isinstance(step, model.Say)
                    for s in split_sentences(step.text)]  # fmt: skip
        timeline = prepare_script(script, SessionSettings()).timeline
        said = [s.request.text for s in timeline.speech if s.kind == "say"]
        assert said == expected, path.name
        assert [s.start for s in timeline.speech] == sorted(s.start for s in timeline.speech)
        lengths[path.stem] = timeline.duration_s
    assert all(45 <= s <= 90 for s in lengths.values()), lengths
