"""Guided programs: weeks of daily practice, each week with a short intention.

A program lays out a course of home practice (the shape CBT and MBCT courses give it): week by
week, what to practise on your practice days, and a few sentences on what the week is about.
``haven program start NAME`` begins one; ``haven today`` then says what is due and plays it, and
every two weeks offers a short check-in. Nothing about progress is stored: it is counted from
the practice journal each time, so a session logged by hand or corrected later counts too.

The format (version 1)
----------------------
A program is a YAML file; its id is the file name without ``.yaml`` (lower-case words joined
by hyphens). Built-in programs live in ``programs/`` (inside the wheel: ``player/_builtin``),
your own in the user programs folder (``paths.user_programs_dir()``), where one with a built-in
program's id takes its place. Example::

    haven: 1                        # the format version (optional)
    title: Foundations              # required, one line
    summary: Four weeks of ...      # optional, shown by `haven program list`
    weeks:                          # required: 1 to 52 weeks, in order
      - title: Coming back to the breath        # required, one line
        intention: >                            # required: a few plain sentences
          This week is simply about turning up ...
        days:                                   # required: the week's practices, in order
          - three-minute-breathing-space        # an exercise id: at its natural length
          - exercise: mindful-breathing         # or a mapping:
            minutes: 10                         #   fitted to this length (like --minutes)
            times: 4                            #   on this many practice days (default 1)
          - choose: [body-scan, mindful-walking]  # or a choice: whichever you like that day
            minutes: 15
        intro: evenings/week-01.yaml            # optional: spoken before the week's first practice
        reflection: What helped this week?      # optional: asked once the week is over

Optional top level: ``checkin: [mood, anxiety, relationships, urges]``, the 0-10 items each
check-in asks, in that order (``player.care.ITEMS``; default ``[mood]``).

Rules:

- A week holds 1 to 7 practice days (``times`` multiplied out). Days are not weekdays: each day
  you practise takes the week's next practice, so missing a day moves nothing along, and a week
  of fewer than seven practices leaves the other days free ("any six days of the week").
- Weeks are 7-day blocks counted from the practice day the program was started on.
- ``minutes`` is a number from 0.5 to 240; without it the exercise plays at its natural length.
  ``choose`` lists 2 to 10 different exercises.
- Every exercise id must name an exercise Haven knows (built-in or your own) when the program is
  loaded; ``haven list`` shows them.
- Text fields are plain text; the intention's line breaks are folded into spaces.
- ``intro`` is an exercise id, or the path of a script file relative to the program's folder
  (``name/week-01.yaml``, inside that folder). Built-in week introductions live in a folder
  beside their program (``programs/twelve-weeks/``), so they stay out of ``haven list``; a
  program's file check makes sure each exists, ``haven program validate`` loads each one.
- ``reflection`` is one question (a single line of plain text).

Problems are reported exactly like script errors, one line each, ``file:line:col: path:
message``, e.g. ``calm.yaml:9:22: weeks[0].days[1].minutes: must be a number between 0.5 and
240 (got ten)``; the reading itself (size limits, UTF-8, no anchors, aliases or tags) is the
located-YAML reader's (``player.format.located_yaml.load_located``).

Counting progress
-----------------
On each practice day of a week (the journal's day rules: ``journal.day_starts_at`` decides
which day a session belongs to), the first practice of the week not yet done whose exercise
(or one of whose choices) was practised that day for most of its length is done: at least
half (``MOST``) of the practice's ``minutes``, or of the exercise's own length at its default
minutes when the practice gives none, and at least ``journal.min_minutes`` (sessions of the
same exercise that day add up). A one-minute pacer or a session stopped early does not do a
ten-minute practice. Practice counts only from the program's start: for a program started on
its first day, from the moment it was started. One practice per day: this is daily practice,
not a list to clear. What is due today is the week's first practice not yet done, unless today
already did one.

Check-ins
---------
A check-in (the program's 0-10 items, ``checkin``, and a short note, each skippable) is offered
at the start, after every two weeks, once the program is over (``checkpoints``), and then as a
monthly booster (every four weeks) for a year after the end, until the program is stopped
(``booster_checkpoints``). ``haven today`` offers the latest one reached that has not been
answered or skipped; ``haven program status`` shows how each item's ratings changed. Answers
that suggest a hard time are met with care (``player.care``): the same rule everywhere.

Weeks: introduction and reflection
----------------------------------
A week's ``intro`` is played by ``haven today`` before the week's first practice (while none
of the week's practices is done yet). Its ``reflection`` question is asked by ``haven today``
from the day after the week ends (only the latest week that has ended; answered or skipped
once) and the answer is kept in the journal with the program's check-ins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

from player import paths
from player.errors import BadInputError, NotFoundError
from player.format.model import ID_RE  # the one id pattern
from player.printable import printable
from player.format.located_yaml import (
    LocatedValue,
    load_located,
    load_located_text,
    located_error,
    suggest,
)
from player.format.script import Checks, check_file_id

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("haven", "title", "summary", "checkin", "weeks")
REQUIRED_TOP_LEVEL_KEYS = ("title", "weeks")
WEEK_KEYS = ("title", "intention", "days", "intro", "reflection")
REQUIRED_WEEK_KEYS = ("title", "intention", "days")
DEFAULT_CHECKIN_ITEMS = ("mood",)
DAY_KEYS = ("exercise", "choose", "minutes", "times")
DAYS_PER_WEEK = 7
MAX_WEEKS = 52
MAX_CHOICES = 10
MINUTES_RANGE = (0.5, 240.0)
MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 2000
MAX_INTENTION_CHARS = 2000
CHECKIN_EVERY_DAYS = 14
BOOSTER_EVERY_DAYS = 28  # after the end: a booster check-in every four weeks ...
BOOSTERS = 12  # ... for about a year
MAX_QUESTION_CHARS = 300



# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Practice:
    """One practice day's exercise: one id, or the choices of a ``choose``, and its length."""

    exercises: tuple[str, ...]
    minutes: float | None = None

    @property
    def exercise(self) -> str:
        """The exercise to play when nobody chooses (the first of a choice)."""
        return self.exercises[0]

    @property
    def is_choice(self) -> bool:
        return len(self.exercises) > 1

    def label(self) -> str:
        """``mindful-breathing, 10 min`` or ``body-scan or mindful-walking, 15 min``."""
        names = " or ".join(self.exercises)
        return f"{names}, {_minutes(self.minutes)}" if self.minutes else names

    def to_json(self) -> dict[str, Any]:
        return {"exercises": list(self.exercises), "minutes": self.minutes}


@dataclass(frozen=True)
class Week:
    """A week of a program; ``practices`` has one entry per practice day (``times`` expanded)."""

    number: int
    title: str
    intention: str
    practices: tuple[Practice, ...]
    intro: str | None = None  # an exercise id, or the absolute path of a script file
    reflection: str | None = None  # the question asked once the week is over

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.number,
            "title": self.title,
            "intention": self.intention,
            "practices": [p.to_json() for p in self.practices],
            "intro": self.intro,
            "reflection": self.reflection,
        }


@dataclass(frozen=True)
class Program:
    id: str
    title: str
    summary: str
    weeks: tuple[Week, ...]
    path: Path | None = None
    checkin_items: tuple[str, ...] = DEFAULT_CHECKIN_ITEMS

    @property
    def length_days(self) -> int:
        return DAYS_PER_WEEK * len(self.weeks)

    def exercise_ids(self) -> set[str]:
        return {x for w in self.weeks for p in w.practices for x in p.exercises}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "checkin": list(self.checkin_items),
            "weeks": [w.to_json() for w in self.weeks],
            "path": str(self.path) if self.path else None,
        }


# --- loading ---------------------------------------------------------------------------------


def load_program(
    source: str | os.PathLike[str], *, exercises: Collection[str] | None = None
) -> Program:
    """Read and validate the program file at ``source``; its id is the file stem.

    ``exercises`` are the ids a practice may name; by default every exercise Haven knows
    (built-in and your own). Raises ``ScriptError`` (``file:line:col: path: message``).
    """
    file = os.fspath(source)
    program_id = check_file_id(Path(file).stem, file, noun="program")
    root = load_located(file, noun="program")
    return _Builder(file, _known(exercises)).program(root, program_id, Path(file))


def load_program_text(
    text: str | bytes,
    *,
    filename: str,
    program_id: str | None = None,
    exercises: Collection[str] | None = None,
) -> Program:
    """Validate program source given in memory; ``filename`` is used in errors and for the id."""
    pid = check_file_id(Path(filename).stem if program_id is None else program_id, filename,
                        noun="program")  # fmt: skip
    root = load_located_text(text, filename=filename, noun="program")
    return _Builder(filename, _known(exercises)).program(root, pid, None)


def _known(exercises: Collection[str] | None) -> Collection[str]:
    if exercises is not None:
        return exercises
    from player.library import catalog as library

    return library.script_paths()


class _Builder(Checks):
    """The program format's rules, on the script loader's located values and checks."""

    def __init__(self, file: str, exercises: Collection[str]):
        super().__init__(file)
        self.exercises = exercises

    def program(self, root: LocatedValue | None, program_id: str, path: Path | None) -> Program:
        if root is None:
            raise located_error("the file is empty; a program needs at least 'title' and 'weeks'",
                                self.file, 1, 1)  # fmt: skip
        if root.kind != "map":
            raise self.fail(root, "", "the top level must be a mapping with keys like 'title' "
                                      f"and 'weeks' ({self.got(root)})")  # fmt: skip
        top = self.keys(root, "", TOP_LEVEL_KEYS)
        for key in REQUIRED_TOP_LEVEL_KEYS:
            if key not in top:
                raise self.fail(root, key, f"missing: every program needs '{key}'")
        if "haven" in top:
            vv = top["haven"][1]
            if vv.kind != "int":
                raise self.fail(vv, "haven", f"must be the format version 1 ({self.got(vv)})")
            if vv.value != FORMAT_VERSION:
                raise self.fail(vv, "haven", f"unsupported format version {vv.value}; this "
                                             f"Haven reads version {FORMAT_VERSION}")  # fmt: skip
        title = self.text(top["title"][1], "title", max_chars=MAX_TITLE_CHARS, single_line=True)
        summary = ""
        if "summary" in top:
            summary = _fold(self.text(top["summary"][1], "summary", max_chars=MAX_SUMMARY_CHARS))
        weeks_v = top["weeks"][1]
        if weeks_v.kind != "seq":
            raise self.fail(weeks_v, "weeks", f"must be a list of weeks ({self.got(weeks_v)})")
        if not weeks_v.value:
            raise self.fail(weeks_v, "weeks", "must have at least one week")
        if len(weeks_v.value) > MAX_WEEKS:
            raise self.fail(weeks_v, "weeks", f"too many weeks ({len(weeks_v.value)}; at most "
                                              f"{MAX_WEEKS})")  # fmt: skip
        checkin = DEFAULT_CHECKIN_ITEMS
        if "checkin" in top:
            checkin = self.checkin_items(top["checkin"][1], "checkin")
        folder = Path(self.file).resolve().parent
        weeks = tuple(
            self.week(v, f"weeks[{i}]", i + 1, folder) for i, v in enumerate(weeks_v.value)
        )
        return Program(program_id, title, summary, weeks, path, checkin)

    def checkin_items(self, v: LocatedValue, path: str) -> tuple[str, ...]:
        from player.care import ITEMS

        known = ", ".join(ITEMS)
        if v.kind != "seq" or not v.value:
            raise self.fail(v, path, f"must be a list of check-in items from: {known} "
                                     f"({self.got(v)})")  # fmt: skip
        out: list[str] = []
        for i, item in enumerate(v.value):
            if item.kind != "str" or item.value not in ITEMS:
                hint = suggest(str(item.value), ITEMS) if item.kind == "str" else ""
                raise self.fail(item, f"{path}[{i}]", f"unknown check-in item {item.raw!r}"
                                                      f"{hint or f' (known: {known})'}")  # fmt: skip
            if item.value in out:
                raise self.fail(item, f"{path}[{i}]", f"{item.value!r} is listed twice")
            out.append(item.value)
        return tuple(out)

    def intro(self, v: LocatedValue, path: str, folder: Path) -> str:
        """An exercise id as it is, or a script file beside the program as an absolute path."""
        from player.library.catalog import looks_like_path

        if v.kind == "str" and not looks_like_path(v.value):
            return self.exercise(v, path)
        name = self.text(v, path, max_chars=200, single_line=True, what="a script file")
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or rel.suffix != ".yaml":
            raise self.fail(v, path, "must be an exercise id, or a .yaml file in the program's "
                                     f"folder like 'week-01.yaml' (got {name!r})")  # fmt: skip
        target = folder / rel
        if not target.is_file():
            raise self.fail(v, path, f"no such script file: {target}")
        return str(target)

    def week(self, v: LocatedValue, path: str, number: int, folder: Path) -> Week:
        entries = self.mapping(v, path, WEEK_KEYS, "a week")
        for key in REQUIRED_WEEK_KEYS:
            if key not in entries:
                raise self.fail(v, f"{path}.{key}", f"missing: every week needs '{key}'")
        title = self.text(entries["title"][1], f"{path}.title", max_chars=MAX_TITLE_CHARS,
                          single_line=True)  # fmt: skip
        intention = _fold(self.text(entries["intention"][1], f"{path}.intention",
                                    max_chars=MAX_INTENTION_CHARS))  # fmt: skip
        days_v = entries["days"][1]
        dpath = f"{path}.days"
        if days_v.kind != "seq":
            raise self.fail(days_v, dpath, "must be a list of the week's practices, like "
                                           f"[mindful-breathing, body-scan] ({self.got(days_v)})")  # fmt: skip
        if not days_v.value:
            raise self.fail(days_v, dpath, "must have at least one practice")
        practices: list[Practice] = []
        for j, item in enumerate(days_v.value):
            practice, times = self.day(item, f"{dpath}[{j}]")
            practices.extend([practice] * times)
            if len(practices) > DAYS_PER_WEEK:
                raise self.fail(item, f"{dpath}[{j}]", f"the week now has {len(practices)} "
                                                       "practice days; a week has at most 7")  # fmt: skip
        intro = None
        if "intro" in entries:
            intro = self.intro(entries["intro"][1], f"{path}.intro", folder)
        reflection = None
        if "reflection" in entries:
            reflection = self.text(entries["reflection"][1], f"{path}.reflection",
                                   max_chars=MAX_QUESTION_CHARS, single_line=True)  # fmt: skip
        return Week(number, title, intention, tuple(practices), intro, reflection)

    def day(self, v: LocatedValue, path: str) -> tuple[Practice, int]:
        if v.kind == "str":
            return Practice((self.exercise(v, path),)), 1
        if v.kind != "map":
            raise self.fail(v, path, "a practice is an exercise id like 'mindful-breathing' or a "
                                     "mapping like {exercise: body-scan, minutes: 15} "
                                     f"({self.got(v)})")  # fmt: skip
        entries = self.keys(v, path, DAY_KEYS)
        if "exercise" in entries and "choose" in entries:
            raise self.fail(entries["choose"][0], f"{path}.choose",
                            "use either 'exercise' or 'choose', not both")  # fmt: skip
        if "exercise" in entries:
            exercises: tuple[str, ...] = (self.exercise(entries["exercise"][1], f"{path}.exercise"),)
        elif "choose" in entries:
            exercises = self.choices(entries["choose"][1], f"{path}.choose")
        else:
            raise self.fail(v, path, "a practice needs 'exercise: ID' (or 'choose: [ID, ID]')")
        minutes = None
        if "minutes" in entries:
            minutes = self.number(entries["minutes"][1], f"{path}.minutes", *MINUTES_RANGE)
        times = 1
        if "times" in entries:
            times = self.whole(entries["times"][1], f"{path}.times", 1, DAYS_PER_WEEK)
        return Practice(exercises, minutes), times

    def choices(self, v: LocatedValue, path: str) -> tuple[str, ...]:
        if v.kind != "seq" or not 2 <= len(v.value) <= MAX_CHOICES:
            raise self.fail(v, path, f"must be a list of 2 to {MAX_CHOICES} exercise ids, like "
                                     f"[body-scan, mindful-walking] ({self.got(v)})")  # fmt: skip
        out: list[str] = []
        for i, item in enumerate(v.value):
            exercise = self.exercise(item, f"{path}[{i}]")
            if exercise in out:
                raise self.fail(item, f"{path}[{i}]", f"{exercise!r} is listed twice")
            out.append(exercise)
        return tuple(out)

    def exercise(self, v: LocatedValue, path: str) -> str:
        if v.kind == "str" and v.value in self.exercises:
            return v.value
        name = self.text(v, path, max_chars=100, single_line=True, what="an exercise id")
        if not ID_RE.match(name):
            raise self.fail(v, path, "must be an exercise id like 'mindful-breathing' "
                                     f"({self.got(v)})")  # fmt: skip
        hint = suggest(name, self.exercises) or "; 'haven list' shows them all"
        raise self.fail(v, path, f"unknown exercise {name!r}{hint}")


def _fold(text: str) -> str:
    """Line breaks and runs of spaces folded into single spaces: these are read, not laid out."""
    return " ".join(text.split())


def _minutes(minutes: float | None) -> str:
    return "" if minutes is None else f"{minutes:g} min"


# --- finding programs ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramInfo:
    """A program as ``haven program list`` shows it (``problem`` set when it does not load)."""

    id: str
    title: str
    summary: str
    weeks: int
    source: str  # "built-in" or "user"
    path: Path
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "weeks": self.weeks,
            "source": self.source,
            "path": str(self.path),
            "problem": self.problem,
        }


def program_paths() -> dict[str, tuple[Path, str]]:
    """Every known program id -> (path, source); your own programs shadow built-in ones."""
    from player.library.catalog import shadowed_files

    return shadowed_files(paths.builtin_dir("programs"), paths.user_programs_dir())


def resolve_program(name: str) -> Path:
    """The file for NAME: a path to a ``.yaml`` file, or a user or built-in program id."""
    from player.library.catalog import find_by_id, given_path, looks_like_path

    if looks_like_path(name):
        return given_path(name, "program")  # a folder or pipe: the reader says what it is
    return find_by_id(name, program_paths(), what="program",
                      listing="'haven program list' shows them all")


def find_program(name: str) -> Program:
    """Resolve NAME and load it as a validated program."""
    return load_program(resolve_program(name))


def check_intros(program: Program) -> None:
    """Load every week's introduction script (a file's own problems raise ``ScriptError``);
    ``haven program validate`` runs this, loading a program only checks the files exist."""
    from player.library import catalog as library

    for week in program.weeks:
        if week.intro is not None:
            library.load(week.intro)


def list_programs() -> list[ProgramInfo]:
    """Every program, built-in and your own, sorted by id; a broken one is listed with its problem."""
    from player.errors import HavenError

    exercises = _known(None)
    result = []
    for pid, (path, source) in program_paths().items():
        try:
            program = load_program(path, exercises=exercises)
        except HavenError as exc:  # one broken file of yours must not hide the others
            result.append(ProgramInfo(pid, pid, "", 0, source, path, problem=str(exc)))
            continue
        result.append(ProgramInfo(pid, program.title, program.summary, len(program.weeks), source,
                                  path))  # fmt: skip
    return result


# --- progress (pure: the journal's totals in, the state of the program out) -------------------


@dataclass(frozen=True)
class WeekProgress:
    """One week as practised: the day each practice was done (None: not yet)."""

    week: Week
    start: date
    done_on: tuple[date | None, ...]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=DAYS_PER_WEEK - 1)

    @property
    def done(self) -> int:
        return sum(1 for d in self.done_on if d is not None)

    @property
    def total(self) -> int:
        return len(self.done_on)

    def next_practice(self) -> Practice | None:
        for practice, day in zip(self.week.practices, self.done_on):
            if day is None:
                return practice
        return None


@dataclass(frozen=True)
class Progress:
    """Where a program stands on practice day ``today``."""

    program: Program
    started_on: date
    today: date
    weeks: tuple[WeekProgress, ...]
    done_today: Practice | None  # the practice today's practice completed

    @property
    def day(self) -> int:
        """Today's day of the program, from 0 (negative before the start)."""
        return (self.today - self.started_on).days

    @property
    def status(self) -> str:
        if self.day < 0:
            return "not started"
        return "finished" if self.day >= self.program.length_days else "running"

    @property
    def ends_on(self) -> date:
        """The last practice day of the program."""
        return self.started_on + timedelta(days=self.program.length_days - 1)

    @property
    def current(self) -> WeekProgress | None:
        """This week's progress while the program runs."""
        return self.weeks[self.day // DAYS_PER_WEEK] if self.status == "running" else None

    @property
    def due(self) -> Practice | None:
        """Today's practice: None before the start, after the end, once today's practice is
        done, and on a free day (this week's practices all done)."""
        current = self.current
        if current is None or self.done_today is not None:
            return None
        return current.next_practice()

    @property
    def practices_done(self) -> int:
        return sum(w.done for w in self.weeks)

    @property
    def practices_total(self) -> int:
        return sum(w.total for w in self.weeks)


def progress(
    program: Program,
    started_on: date,
    today: date,
    practiced: Mapping[date, Mapping[str, float]],
    min_minutes: float,
    needed: Callable[[Practice, str], float] | None = None,
) -> Progress:
    """Count a program's progress from practiced seconds per practice day and exercise.

    ``practiced`` is ``Journal.exercise_day_totals``' shape; days after ``today`` are ignored.
    ``needed(practice, exercise)``: the seconds of ``exercise`` a day needs to do ``practice``
    (``needed_seconds``: most of its length); without it, ``min_minutes`` alone decides.
    The rules are the module docstring's "Counting progress".
    """
    from player.journal.rules import day_counts

    def did(practice: Practice, seconds: Mapping[str, float]) -> bool:
        return any(
            x in seconds and day_counts(seconds[x], min_minutes)
            and (needed is None or seconds[x] >= needed(practice, x))
            for x in practice.exercises
        )

    weeks = []
    done_today = None
    for w, week in enumerate(program.weeks):
        start = started_on + timedelta(days=DAYS_PER_WEEK * w)
        done_on: list[date | None] = [None] * len(week.practices)
        for d in range(DAYS_PER_WEEK):
            day = start + timedelta(days=d)
            if day > today:
                break
            seconds = practiced.get(day) or {}
            for i, practice in enumerate(week.practices):
                if done_on[i] is None and did(practice, seconds):
                    done_on[i] = day
                    if day == today:
                        done_today = practice
                    break  # one practice per day
        weeks.append(WeekProgress(week, start, tuple(done_on)))
    return Progress(program, started_on, today, tuple(weeks), done_today)


# --- check-ins -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """When a check-in is offered: ``number`` 0 at the start, then every two weeks, then the end."""

    number: int
    day: int  # the program day (from 0) it is offered from
    label: str
    short: str = ""  # a few letters for `haven program status`: start, wk 2, end, +1m


def checkpoints(program: Program) -> tuple[Checkpoint, ...]:
    """The check-ins of a program: at the start, after every two weeks, and at the end."""
    total = program.length_days
    out = [Checkpoint(0, 0, "at the start", "start")]
    day = CHECKIN_EVERY_DAYS
    while day < total:
        week = day // DAYS_PER_WEEK
        out.append(Checkpoint(len(out), day, f"after week {week}", f"wk {week}"))
        day += CHECKIN_EVERY_DAYS
    out.append(Checkpoint(len(out), total, "at the end", "end"))
    return tuple(out)


def booster_checkpoints(program: Program) -> tuple[Checkpoint, ...]:
    """The monthly booster check-ins after the end: every four weeks, for about a year."""
    first = len(checkpoints(program))
    return tuple(
        Checkpoint(first + k - 1, program.length_days + BOOSTER_EVERY_DAYS * k,
                   f"{k} month{'' if k == 1 else 's'} after the end", f"+{k}m")
        for k in range(1, BOOSTERS + 1)
    )  # fmt: skip


def all_checkpoints(program: Program) -> tuple[Checkpoint, ...]:
    """The course's check-ins, then the boosters."""
    return checkpoints(program) + booster_checkpoints(program)


def due_checkin(program: Program, day: int, answered: Collection[int]) -> Checkpoint | None:
    """The latest check-in reached by program day ``day``, unless it was answered or skipped.

    Earlier unanswered ones are passed over: a rating is about how things are now.
    """
    reached = [c for c in all_checkpoints(program) if c.day <= day]
    if not reached or reached[-1].number in answered:
        return None
    return reached[-1]


def next_checkin(program: Program, day: int) -> Checkpoint | None:
    """The first check-in after program day ``day`` (None once the boosters are over)."""
    return next((c for c in all_checkpoints(program) if c.day > day), None)


def due_reflection(progress: Progress, answered: Collection[int]) -> Week | None:
    """The reflection question due: the latest week that has ended, when it has a question
    that was neither answered nor skipped (earlier ones are passed over, like check-ins)."""
    ended = [w for w in progress.weeks if w.end < progress.today]
    if not ended:
        return None
    week = ended[-1].week
    if week.reflection is None or week.number in answered:
        return None
    return week


# --- the running program, from the journal ---------------------------------------------------


@dataclass(frozen=True)
class ProgramState:
    """Everything ``haven today`` and ``haven program status`` show, read in one go."""

    run: Any  # player.journal.ProgramRun
    program: Program
    progress: Progress
    checkins: tuple[Any, ...]  # player.journal.CheckIn, in checkpoint order
    checkin_due: Checkpoint | None
    min_minutes: float
    reflections: tuple[Any, ...] = ()  # player.journal.Reflection, in week order
    reflection_due: Week | None = None

    def checkin_label(self, number: int) -> str:
        for c in all_checkpoints(self.program):
            if c.number == number:
                return c.label
        return f"check-in {number}"

    @property
    def intro_due(self) -> str | None:
        """The week's introduction to play before today's practice: when today's practice is
        the week's first (none of the week's practices done yet) and the week has one."""
        p = self.progress
        current = p.current
        if p.due is None or current is None or current.done:
            return None
        return current.week.intro


def _rules(config=None):
    from player.config import load_config

    return (config or load_config()).journal_rules


def practice_today(now: datetime, config=None) -> date:
    """The practice day ``now`` falls on, by the journal's ``day_starts_at``."""
    from player.journal.rules import today

    return today(now, _rules(config).day_starts_at)


MOST = 0.5  # "most of its length": at least half the practice's planned length


def counted_from(run, day_starts_at: int) -> str | None:
    """The moment practice starts counting for ``run``: when it was started, if it was
    started on its first day (practice earlier that day was not part of it); None (the
    first day's start) for a program started ahead, or dated back with ``--on``."""
    from player.journal.rules import parse_utc, today as practice_day

    try:
        created = parse_utc(run.created_at)
    except (ValueError, TypeError, AttributeError):
        return None
    return run.created_at if practice_day(created.astimezone(), day_starts_at) == run.started_on else None


def needed_seconds(practice: Practice, exercise: str) -> float:
    """The seconds of ``exercise`` a day needs to count as doing ``practice``: ``MOST`` of
    its planned length, which is the practice's ``minutes``, or else the exercise's own
    length at its default minutes (``player.library.lengths``; 0 when it cannot be worked out)."""
    if practice.minutes:
        return MOST * practice.minutes * 60.0
    from player.library import lengths

    natural = lengths.natural(exercise)
    return MOST * natural if natural else 0.0


def program_state(journal, now: datetime, config=None) -> ProgramState | None:
    """The running program's state on the practice day of ``now``; None when none runs."""
    from player.journal.rules import today as practice_day

    run = journal.running_program()
    if run is None:
        return None
    rules = _rules(config)
    try:
        program = find_program(run.program)
    except NotFoundError:
        raise NotFoundError(
            f"the running program '{printable(run.program)}' (started "
            f"{run.started_on.isoformat()}) cannot "
            "be found any more; 'haven program stop' ends it"
        ) from None
    today = practice_day(now, rules.day_starts_at)
    last = min(today, run.started_on + timedelta(days=program.length_days - 1))
    practiced = (
        journal.exercise_day_totals(rules.day_starts_at, run.started_on, last,
                                    not_before=counted_from(run, rules.day_starts_at))
        if last >= run.started_on else {}
    )  # fmt: skip
    prog = progress(program, run.started_on, today, practiced, rules.min_minutes,
                    needed_seconds)  # fmt: skip
    checkins = tuple(journal.program_checkins(run.id))
    due = due_checkin(program, prog.day, {c.checkpoint for c in checkins})
    reflections = tuple(journal.program_reflections(run.id))
    reflection = due_reflection(prog, {r.week for r in reflections})
    return ProgramState(run, program, prog, checkins, due, rules.min_minutes, reflections,
                        reflection)  # fmt: skip


def parse_start_day(text: str | None, today: date) -> date:
    """``--on``: ``YYYY-MM-DD``, ``today``, ``tomorrow`` or ``yesterday``; within a year of today."""
    if text is None:
        return today
    word = text.strip().lower()
    named = {"today": 0, "tomorrow": 1, "yesterday": -1}
    if word in named:
        return today + timedelta(days=named[word])
    try:
        day = date.fromisoformat(word)
    except ValueError:
        raise BadInputError(
            f"--on {text!r}: use a date like {today.isoformat()}, or today, tomorrow or yesterday"
        ) from None
    if abs((day - today).days) > 366:
        raise BadInputError(f"--on {text!r}: the start must be within a year of today")
    return day


def start(journal, name: str, on: str | None, now: datetime, config=None) -> ProgramState:
    """Start program NAME from practice day ``on`` (default today); returns its state."""
    from player.library.catalog import looks_like_path

    if looks_like_path(name):
        # A running program is remembered by id, so it must be one `haven program list` shows.
        raise BadInputError(
            f"start a program by its id ('haven program list' shows them); to start your own, "
            f"save it in {paths.user_programs_dir()} first"
        )
    program = find_program(name)
    today = practice_today(now, config)
    started_on = parse_start_day(on, today)
    journal.start_program(program.id, program.title, started_on)
    state = program_state(journal, now, config)
    assert state is not None
    return state


def record_checkin(
    journal, state: ProgramState, mood: int | None, note: str | None,
    ratings: Mapping[str, int | None] | None = None,
):
    """Record the answer (or the skip) to the check-in that is due.

    ``ratings`` are the program's other items (``anxiety``, ``relationships``, ``urges``).
    Returns the stored check-in and the concerns its answers raise (``player.care``), each
    item compared with its last rating in this run.
    """
    from player import care

    if state.checkin_due is None:
        raise BadInputError("no check-in is due today")
    answers = {"mood": mood, **(ratings or {})}
    found = care.concerns(answers, last_ratings(state.checkins))
    others = {k: v for k, v in answers.items() if k != "mood"}
    stored = journal.add_program_checkin(state.run.id, state.checkin_due.number, mood, note,
                                         others)  # fmt: skip
    return stored, found


def record_reflection(journal, state: ProgramState, note: str | None):
    """Record the answer (None: skipped) to the reflection question that is due."""
    if state.reflection_due is None:
        raise BadInputError("no reflection is due today")
    return journal.add_program_reflection(state.run.id, state.reflection_due.number, note)


# --- reports ---------------------------------------------------------------------------------


def rating(checkin, item: str) -> int | None:
    """One item's rating in a check-in (None: skipped or not asked)."""
    if item == "mood":
        return checkin.mood
    return dict(getattr(checkin, "ratings", ())).get(item)


def last_ratings(checkins) -> dict[str, int]:
    """Each item's most recent rating (a skipped item keeps its earlier one)."""
    out: dict[str, int] = {}
    for c in checkins:
        for item in ("mood", *dict(getattr(c, "ratings", ()))):
            value = rating(c, item)
            if value is not None:
                out[item] = value
    return out


def item_change(checkins, item: str) -> int | None:
    """An item's last rating minus its first (None with fewer than two ratings)."""
    values = [v for v in (rating(c, item) for c in checkins) if v is not None]
    return values[-1] - values[0] if len(values) >= 2 else None


def mood_change(checkins) -> int | None:
    """The last rating minus the first (None with fewer than two ratings)."""
    return item_change(checkins, "mood")


def status_report(state: ProgramState) -> dict[str, Any]:
    """The state as a JSON-ready dict (``haven program status --json``)."""
    p = state.progress
    current = p.current
    return {
        "program": state.program.id,
        "title": state.program.title,
        "started_on": p.started_on.isoformat(),
        "ends_on": p.ends_on.isoformat(),
        "today": p.today.isoformat(),
        "status": p.status,
        "day": p.day + 1 if p.status == "running" else None,
        "week": current.week.number if current else None,
        "weeks_total": len(state.program.weeks),
        "practices_done": p.practices_done,
        "practices_total": p.practices_total,
        "due": p.due.to_json() if p.due else None,
        "done_today": p.done_today.to_json() if p.done_today else None,
        "weeks": [
            {
                "week": w.week.number,
                "title": w.week.title,
                "start": w.start.isoformat(),
                "done": w.done,
                "total": w.total,
                "done_on": [d.isoformat() if d else None for d in w.done_on],
            }
            for w in p.weeks
        ],
        "checkins": [
            {
                "checkpoint": c.checkpoint,
                "label": state.checkin_label(c.checkpoint),
                "answered_at": c.answered_at,
                "mood": c.mood,
                "ratings": {item: rating(c, item) for item in state.program.checkin_items},
                "note": c.note,
            }
            for c in state.checkins
        ],
        "mood_change": mood_change(state.checkins),
        "changes": {item: item_change(state.checkins, item) for item in state.program.checkin_items},
        "checkin_due": state.checkin_due.label if state.checkin_due else None,
        "next_checkin": _next_checkin_json(state),
        "reflections": [
            {"week": r.week, "answered_at": r.answered_at, "note": r.note}
            for r in state.reflections
        ],
        "reflection_due": state.reflection_due.number if state.reflection_due else None,
    }


def _next_checkin_json(state: ProgramState) -> dict[str, Any] | None:
    nxt = next_checkin(state.program, state.progress.day)
    if nxt is None:
        return None
    on = state.progress.started_on + timedelta(days=nxt.day)
    return {"label": nxt.label, "on": on.isoformat()}
