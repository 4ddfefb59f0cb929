"""Program commands, today's practice and starter scripts: ``haven program``, ``haven today``
and ``haven new``, for ``player.cli.app`` to register (``COMMANDS``).

Thin commands: parse options, call one core function (``player.library.programs``,
``player.format.starter``), print. Errors are ``HavenError`` subclasses, which the main CLI turns into
``Error: …`` and an exit code. This module is on the start-up path of ``haven --help``: only
click is imported at module level.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from player.errors import AudioDeviceError, BadInputError

CHECKIN_MOOD_PROMPT = "Overall, how have you been feeling lately, from 0 (very low) to 10 (very good)?"
CHECKIN_NOTE_PROMPT = "A few words on how the practice is going (Enter to skip)"
# One question per check-in item (player.care.ITEMS), in the program's order.
CHECKIN_PROMPTS = {
    "mood": CHECKIN_MOOD_PROMPT,
    "anxiety": "How anxious or on edge have you felt, from 0 (not at all) to 10 (extremely)?",
    "relationships": "How have your relationships felt lately, from 0 (very hard) to 10 (very good)?",
    "urges": "This week, how often did you act on an urge to seek reassurance or to withdraw, "
             "from 0 (never) to 10 (every time)?",
}
# How each item is named in `haven program status` (at most 14 characters).
ITEM_NAMES = {"mood": "Mood", "anxiety": "Anxiety", "relationships": "Relationships",
              "urges": "Acted on urges"}
REFLECTION_NOTE_PROMPT = "Your answer (Enter to skip)"
HERE_AND_NOW = "here-and-now"
NO_PROGRAM = (
    "No program is running. 'haven program list' shows them, and "
    "'haven program start foundations' begins the four-week one."
)
TREND_COLUMNS = 8  # check-ins shown side by side in `haven program status`


def _now() -> datetime:
    """Now, as the journal commands see it (tests replace ``cli_journal._now``)."""
    from player.cli import journal as cli_journal

    return cli_journal._now()


def _open_journal(readonly: bool = False):
    """The user's journal; ``readonly`` where a command only reads (works before anything is
    recorded and in a read-only ``HAVEN_HOME``; a write then says why it cannot be made)."""
    from player.cli import journal as cli_journal

    return cli_journal._open_journal(readonly=readonly)


def _print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _wrap(text: str, indent: str = "  ", width: int | None = None) -> str:
    from player import layout

    return layout.wrap(text, indent, cols=width or layout.width())


def _echo(text: str = "") -> None:
    """Report text, fitted to the terminal's width (``player.layout``)."""
    from player import layout

    layout.echo(text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _date(d) -> str:
    """``Fri 20 Nov 2026``: a practice day as people say it."""
    return f"{d:%a} {d.day} {d:%b %Y}"


# --- haven program ---------------------------------------------------------------------------


@click.group("program")
def program() -> None:
    """Guided programs: weeks of daily practice, with an intention for each week."""


@program.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def program_list(as_json: bool) -> None:
    """The built-in programs and your own (* marks yours)."""
    from player.library import programs

    found = programs.list_programs()
    if as_json:
        _print_json([p.to_json() for p in found])
        return
    if not found:
        _echo("No programs found.")
        return
    width = max(len(p.id) for p in found)
    for p in found:
        mark = "*" if p.source == "user" else " "
        if p.problem:
            _echo(f"{mark} {p.id:<{width}}  (cannot read: {p.problem})")
            continue
        _echo(f"{mark} {p.id:<{width}}  {_plural(p.weeks, 'week'):>8}  {p.title}")
    if any(p.source == "user" for p in found):
        _echo("\n* your own program")
    _echo("\n'haven program show NAME' describes one; 'haven program start NAME' begins it.")


@program.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def program_show(name: str, as_json: bool) -> None:
    """A program week by week: its intentions and practices (NAME is an id or a file)."""
    from player.library import programs

    prog = programs.find_program(name)
    if as_json:
        _print_json(prog.to_json())
        return
    _echo(f"{prog.title}  ({prog.id}, {_plural(len(prog.weeks), 'week')})")
    if prog.summary:
        _echo(_wrap(prog.summary, ""))
    items = ", ".join(ITEM_NAMES[i].lower() for i in prog.checkin_items)
    _echo(_wrap(f"Check-ins (every two weeks, then monthly after the end, 0-10): {items}.", ""))
    for week in prog.weeks:
        _echo(f"\nWeek {week.number}: {week.title}")
        _echo(_wrap(week.intention))
        _echo(_wrap("Practice: " + _practice_runs(week.practices), "    "))
        if week.intro:
            _echo(_wrap("Begins with a spoken introduction.", "    "))
        if week.reflection:
            _echo(_wrap("To look back: " + week.reflection, "    "))
    _echo(f"\nStart it with: haven program start {prog.id}")


def _practice_runs(practices) -> str:
    """``mindful-breathing, 8 min ×5; body-scan, 15 min``: repeated practices counted."""
    runs: list[list[Any]] = []
    for p in practices:
        if runs and runs[-1][0] == p:
            runs[-1][1] += 1
        else:
            runs.append([p, 1])
    return "; ".join(p.label() + (f" ×{n}" if n > 1 else "") for p, n in runs)


@program.command("start")
@click.argument("name")
@click.option("--on", "on", metavar="DATE", help="First day: 2026-11-20, today (default), tomorrow or yesterday.")
def program_start(name: str, on: str | None) -> None:
    """Begin a program; `haven today` then says what is due each day."""
    from player import care
    from player.library import programs

    with _open_journal() as journal:
        state = programs.start(journal, name, on, _now())
    p = state.progress
    prog = state.program
    _echo(
        f"Started {prog.title} ({prog.id}): {_plural(len(prog.weeks), 'week')}, "
        f"from {_date(p.started_on)} to {_date(p.ends_on)}."
    )
    _echo("\n" + _wrap(care.START_NOTE, ""))
    if p.status == "not started":
        _echo(f"It begins on {_date(p.started_on)}; until then 'haven today' will remind you.")
        return
    week = (p.current or p.weeks[-1]).week
    _echo(f"\nWeek {week.number}: {week.title}")
    _echo(_wrap(week.intention))
    _echo("\nEach day, run 'haven today': it says what is due and plays it.")


@program.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys from `player.library.programs.status_report`).")
def program_status(as_json: bool) -> None:
    """How the running program is going: week by week, and how check-in ratings changed."""
    from player.library import programs

    with _open_journal(readonly=True) as journal:
        state = programs.program_state(journal, _now())
    if state is None:
        if as_json:
            _print_json(None)
        else:
            _echo(NO_PROGRAM)
        return
    if as_json:
        _print_json(programs.status_report(state))
        return
    _echo(_status_text(state))


def _headline(state) -> str:
    p = state.progress
    prog = state.program
    if p.status == "not started":
        return f"{prog.title} starts on {_date(p.started_on)}."
    if p.status == "finished":
        return f"{prog.title} ended on {_date(p.ends_on)} (started {_date(p.started_on)})."
    return (
        f"{prog.title}: week {p.current.week.number} of {len(prog.weeks)}, day {p.day + 1} of "
        f"{prog.length_days} (started {_date(p.started_on)})."
    )


def _status_text(state) -> str:
    from player.library import programs
    from player.printable import printable

    p = state.progress
    lines = [_headline(state)]
    lines.append(f"Practice days: {p.practices_done} of {p.practices_total} done.")
    lines.append("")
    current = p.current
    width = max(len(w.week.title) for w in p.weeks)
    for w in p.weeks:
        if w.start > p.today:
            state_text = "to come"
        else:
            state_text = f"{w.done} of {w.total}"
        mark = ">" if w is current else " "
        lines.append(f"{mark} Week {w.week.number:>2}  {w.week.title:<{width}}  {state_text}")
    if p.status == "running":
        lines.append("")
        lines.append(_today_line(state))
    lines.append("")
    if not state.checkins:
        lines.append("Check-ins: none yet ('haven today' offers one every two weeks).")
    else:
        lines.extend(_trend_lines(state))
        notes = [(c, printable(" ".join(c.note.split()))) for c in state.checkins if c.note]
        if notes:
            lines.append("  Notes:")
            for c, text in notes:
                lines.append(_wrap(f'{state.checkin_label(c.checkpoint)} ({c.answered_at[:10]}): '
                                   f'"{text}"', "    "))  # fmt: skip
    answered = [r for r in state.reflections if r.note]
    if answered:
        lines.append("Reflections:")
        for r in answered:
            text = printable(" ".join(r.note.split()))
            lines.append(_wrap(f'Week {r.week}: "{text}"', "  "))
    if state.checkin_due is not None:
        lines.append(f"A check-in is due ({state.checkin_due.label}): 'haven today' offers it.")
    else:
        nxt = programs.next_checkin(state.program, p.day)
        if nxt is not None:
            lines.append(f"Next check-in: {nxt.label}, from {_date(p.started_on + timedelta(days=nxt.day))}.")
    return "\n".join(lines)


def _trend_lines(state) -> list[str]:
    """Each check-in item's ratings, one row per item, and its change from the first rating
    to the latest, in words that follow the item's direction; the last few check-ins only,
    so it fits 80 columns however long the program runs."""
    from player import care
    from player.library import programs

    shown = state.checkins[-TREND_COLUMNS:]
    labels = {c.number: c.short for c in programs.all_checkpoints(state.program)}
    head = "".join(f"{labels.get(c.checkpoint, str(c.checkpoint)):>6}" for c in shown)
    lines = ["Check-ins (0-10; - not answered):", f"  {'':<14}{head}"]
    for item in state.program.checkin_items:
        cells = "".join(
            f"{'-' if (v := programs.rating(c, item)) is None else v:>6}" for c in shown
        )
        change = programs.item_change(state.checkins, item)
        trend = ""
        if change is not None:
            better = change > 0 if care.ITEMS[item].worse == "low" else change < 0
            word = "no change" if change == 0 else ("better" if better else "harder")
            trend = f"   {change:+d}, {word}" if change else f"   {word}"
        lines.append(f"  {ITEM_NAMES[item]:<14}{cells}{trend}")
    if len(state.checkins) > TREND_COLUMNS:
        lines.append(f"  (the last {TREND_COLUMNS} check-ins; changes count from the first)")
    return lines


def _today_line(state) -> str:
    """One line: what today asks for, or why nothing is due."""
    p = state.progress
    if p.done_today is not None:
        return f"Today: done ({p.done_today.label()}). Well done."
    if p.due is not None:
        current = p.current
        n = current.done + 1
        return f"Today: {p.due.label()} (practice {n} of {current.total} this week)."
    return "Today: a free day. This week's practices are all done; rest, or practise anything you like."


@program.command("stop")
def program_stop() -> None:
    """Stop the running program (your sessions and check-ins stay in the journal)."""
    with _open_journal() as journal:
        stopped = journal.stop_program()
    if stopped is None:
        _echo("No program is running.")
        return
    _echo(
        f"Stopped {stopped.title or stopped.program} ({stopped.program}). Your sessions and "
        "check-ins stay in the journal."
    )


@program.command("validate")
@click.argument("files", nargs=-1, required=True)
def program_validate(files: tuple[str, ...]) -> None:
    """Check program files against the format: FILE is a path or a program id."""
    from player.library import programs

    bad = 0
    for name in files:
        try:
            prog = programs.find_program(name)
            programs.check_intros(prog)
        except BadInputError as exc:
            bad += 1
            click.echo(f"{exc}", err=True)
        else:
            click.echo(f"ok: {name} ({prog.title}, {_plural(len(prog.weeks), 'week')})")
    if bad:
        raise click.exceptions.Exit(2)


# --- haven today -----------------------------------------------------------------------------


@click.command("today")
@click.option("--list", "list_only", is_flag=True, help="Only say what is due; play nothing and ask nothing.")
@click.option("--no-checkin", is_flag=True, help="Do not offer the check-in or the week's reflection now.")
@click.option("--no-intro", is_flag=True, help="Do not play the week's spoken introduction first.")
@click.pass_context
def today(ctx: click.Context, list_only: bool, no_checkin: bool, no_intro: bool) -> None:
    """Say what today's practice is in the running program, and play it."""
    from player.library import programs

    # Opened as reading commands open it: writable where the journal can be written (answers
    # are saved), read-only in a read-only HAVEN_HOME, where `today` still says what is due
    # and no question is asked whose answer could not be kept.
    with _open_journal(readonly=True) as journal:
        state = programs.program_state(journal, _now())
        if state is None:
            _echo(NO_PROGRAM)
            return
        _print_today(state, intro=not no_intro)
        if list_only:
            return
        concerns = []
        if state.reflection_due is not None and not no_checkin:
            if journal.read_only:
                _echo("The reflection is not offered now: the journal cannot be written here.")
            elif _interactive():
                _reflect(journal, state)
            else:
                _echo("Run 'haven today' in a terminal to answer the reflection question.")
        if state.checkin_due is not None and not no_checkin:
            if journal.read_only:
                # Asking questions whose answers cannot be kept would waste the person's time.
                _echo("The check-in is not offered now: the journal cannot be written here.")
            elif _interactive():
                concerns = _checkin(journal, state)
            else:
                # Without a terminal nobody can answer, and a skip would be kept for good.
                _echo("Run 'haven today' in a terminal to answer the check-in.")
    practice = state.progress.due
    if concerns and _offer_here_and_now(practice is not None):
        _play(ctx, HERE_AND_NOW, None)
        return
    if practice is None:
        return
    exercise = _choose(practice)
    if state.intro_due is not None and not no_intro and _output_problem() is None:
        _play(ctx, state.intro_due, None, what="this week's introduction")
    _play(ctx, exercise, practice.minutes)


def _offer_here_and_now(practice_due: bool) -> bool:
    """After a check-in that raised a concern: ask whether to ground first (default no)."""
    if not _interactive():
        return False
    question = (
        "Would you like to play here-and-now now, instead of today's practice? (Today's "
        "practice will still be here later.)" if practice_due
        else "Would you like to play here-and-now now?"
    )
    from player.prompts import leave_on_ctrl_c

    answer = False
    with leave_on_ctrl_c():
        answer = click.confirm(question, default=False)
    return answer


def _print_today(state, intro: bool = True) -> None:
    p = state.progress
    _echo(_headline(state))
    if p.status == "not started":
        _echo("Until then, practise anything you like, or rest.")
        return
    if p.status == "finished":
        _echo(
            f"You have come to the end of it: {p.practices_done} of {p.practices_total} practice "
            "days done. 'haven program status' shows how it went; 'haven program stop' clears "
            "it, so you can start another."
        )
    else:
        week = p.current.week
        _echo(f"\nWeek {week.number}: {week.title}")
        _echo(_wrap(week.intention))
        _echo("")
        _echo(_today_line(state))
        if p.due is not None and p.due.is_choice:
            _echo("Choose whichever you like: " + ", ".join(p.due.exercises) + ".")
        if state.intro_due is not None and intro:
            _echo("A short spoken introduction to the week plays first.")
    if state.reflection_due is not None:
        _echo(f"A question to look back on week {state.reflection_due.number} is waiting.")
    if state.checkin_due is not None:
        _echo(f"A check-in is due ({state.checkin_due.label}).")


def _checkin(journal, state) -> list:
    """Offer the due check-in; Enter skips each question, and a skip is kept too.

    Returns the concerns the answers raised (``player.care``), after showing the care note.
    """
    from player import care, prompts
    from player.library import programs

    items = state.program.checkin_items
    which = "either question" if len(items) == 1 else "any question"
    _echo(
        f"\nCheck-in, {state.checkin_due.label}: a moment to notice how things have been. "
        f"Press Enter to skip {which}."
    )
    answers = {item: prompts.prompt_mood(CHECKIN_PROMPTS[item]) for item in items}
    note = prompts.prompt_note(CHECKIN_NOTE_PROMPT)
    mood = answers.pop("mood", None)
    _stored, concerns = programs.record_checkin(journal, state, mood, note, answers)
    if mood is None and note is None and not any(v is not None for v in answers.values()):
        _echo("Skipped; it will not be asked again. 'haven program status' shows your check-ins.")
    else:
        _echo("Thank you; saved in your journal. 'haven program status' shows how ratings changed.")
    message = care.care_note(concerns)
    if message:
        prompts.show_care(message)
    return concerns


def _reflect(journal, state) -> None:
    """Ask the reflection question of the week that has ended; Enter skips (kept too)."""
    from player.library import programs
    from player import prompts

    week = state.reflection_due
    _echo(f"\nLooking back on week {week.number} ({week.title}):")
    _echo(_wrap(week.reflection))
    note = prompts.prompt_note(REFLECTION_NOTE_PROMPT)
    programs.record_reflection(journal, state, note)
    if note is None:
        _echo("Skipped; it will not be asked again.")
    else:
        _echo("Thank you; saved in your journal with this program's check-ins.")


def _interactive() -> bool:
    """Whether someone can answer questions (standard input is a terminal; tests say yes)."""
    import sys

    return sys.stdin.isatty()


def _choose(practice) -> str:
    """The exercise to play: the practice's own, or the listener's pick of a choice."""
    if not practice.is_choice or not _interactive():
        return practice.exercise
    from player.prompts import leave_on_ctrl_c

    answer = practice.exercise
    with leave_on_ctrl_c():
        answer = click.prompt(
            "Which one today?", type=click.Choice(list(practice.exercises)),
            default=practice.exercise,
        )
    return answer


def _render_hint(exercise: str, minutes: float | None) -> str:
    fit = f" --minutes {minutes:g}" if minutes else ""
    return f"render it to a file instead: haven render {exercise}{fit} -o {exercise}.wav"


def _output_problem() -> str | None:
    """Why sound cannot play here (no PortAudio, no output device), or None when it can."""
    from player.cli import doctor

    for check in (doctor.check_portaudio(), doctor.check_output_devices()):
        if not check.ok:
            return check.detail
    return None


def _play(ctx: click.Context, exercise: str, minutes: float | None, what: str | None = None) -> None:
    """Play one exercise as `haven play` does (``cli.play_exercise``: the session planned by
    ``player.plan``, then played)."""
    from player.cli import app as haven_cli

    problem = _output_problem()
    if problem is not None:
        raise AudioDeviceError(
            f"cannot play today's practice here: {problem}", hint=_render_hint(exercise, minutes)
        )
    _echo(f"\nPlaying {what or exercise}" + (f", fitted to {minutes:g} minutes" if minutes else "") + ".")
    haven_cli.play_exercise(exercise, minutes=minutes)


# --- haven new -------------------------------------------------------------------------------


@click.command("new")
@click.argument("name")
@click.option("--from", "template", metavar="EXERCISE", help="Start from a copy of this built-in exercise.")
@click.option("--replace", is_flag=True,
              help="Allow a built-in exercise's name: your script then plays in its place "
                   "(delete the file to undo).")
def new(name: str, template: str | None, replace: bool) -> None:
    """Write a starter script NAME into your scripts folder, ready to edit.

    Without --from it is a short, commented example that uses every kind of step.
    """
    import shlex

    from player.format import starter

    made = starter.new_script(name, template, replace=replace)
    what = f"a copy of '{made.template}'" if made.template else "a commented starter script"
    click.echo(f"Wrote {made.path} ({what}).")
    if made.shadows_builtin:
        click.echo(
            f"It takes the place of the built-in '{made.id}' while it exists, in programs too.\n"
            f"To undo, delete the file: rm {shlex.quote(str(made.path))}"
        )
    click.echo(
        "Next:\n"
        f"  edit it in any text editor\n"
        f"  haven validate {made.id}    check it\n"
        f"  haven play {made.id}        listen to it (or: haven render {made.id} -o {made.id}.wav)"
    )


COMMANDS: tuple[click.Command, ...] = (program, today, new)


def register(group: click.Group) -> None:
    """Add the program, today and new commands to ``group`` (the ``haven`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
