"""Program commands, today's practice and starter scripts: ``haven program``, ``haven today``
and ``haven new``, for ``player.cli`` to register (``COMMANDS``).

Thin commands: parse options, call one core function (``player.programs``,
``player.starter``), print. Errors are ``HavenError`` subclasses, which the main CLI turns into
``Error: …`` and an exit code. This module is on the start-up path of ``haven --help``: only
click is imported at module level.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

import click

from player.errors import AudioDeviceError, BadInputError

CHECKIN_MOOD_PROMPT = "Overall, how have you been feeling lately, from 0 (very low) to 10 (very good)?"
CHECKIN_NOTE_PROMPT = "A few words on how the practice is going (Enter to skip)"
NO_PROGRAM = (
    "No program is running. 'haven program list' shows them, and "
    "'haven program start foundations' begins the four-week one."
)
WIDTH = 88


def _now() -> datetime:
    """Now, as the journal commands see it (tests replace ``cli_journal._now``)."""
    from player import cli_journal

    return cli_journal._now()


def _open_journal():
    from player import cli_journal

    return cli_journal._open_journal()


def _print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


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
    from player import programs

    found = programs.list_programs()
    if as_json:
        _print_json([p.to_json() for p in found])
        return
    if not found:
        click.echo("No programs found.")
        return
    width = max(len(p.id) for p in found)
    for p in found:
        mark = "*" if p.source == "user" else " "
        if p.problem:
            click.echo(f"{mark} {p.id:<{width}}  (cannot read: {p.problem})")
            continue
        click.echo(f"{mark} {p.id:<{width}}  {_plural(p.weeks, 'week'):>8}  {p.title}")
    if any(p.source == "user" for p in found):
        click.echo("\n* your own program")
    click.echo("\n'haven program show NAME' describes one; 'haven program start NAME' begins it.")


@program.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def program_show(name: str, as_json: bool) -> None:
    """A program week by week: its intentions and practices (NAME is an id or a file)."""
    from player import programs

    prog = programs.find_program(name)
    if as_json:
        _print_json(prog.to_json())
        return
    click.echo(f"{prog.title}  ({prog.id}, {_plural(len(prog.weeks), 'week')})")
    if prog.summary:
        click.echo(_wrap(prog.summary, ""))
    for week in prog.weeks:
        click.echo(f"\nWeek {week.number}: {week.title}")
        click.echo(_wrap(week.intention))
        click.echo(_wrap("Practice: " + _practice_runs(week.practices), "    "))
    click.echo(f"\nStart it with: haven program start {prog.id}")


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
    from player import programs

    with _open_journal() as journal:
        state = programs.start(journal, name, on, _now())
    p = state.progress
    prog = state.program
    click.echo(
        f"Started {prog.title} ({prog.id}): {_plural(len(prog.weeks), 'week')}, "
        f"from {_date(p.started_on)} to {_date(p.ends_on)}."
    )
    if p.status == "not started":
        click.echo(f"It begins on {_date(p.started_on)}; until then 'haven today' will remind you.")
        return
    week = (p.current or p.weeks[-1]).week
    click.echo(f"\nWeek {week.number}: {week.title}")
    click.echo(_wrap(week.intention))
    click.echo("\nEach day, run 'haven today': it says what is due and plays it.")


@program.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys from `player.programs.status_report`).")
def program_status(as_json: bool) -> None:
    """How the running program is going: week by week, and how check-in ratings changed."""
    from player import programs

    with _open_journal() as journal:
        state = programs.program_state(journal, _now())
    if state is None:
        if as_json:
            _print_json(None)
        else:
            click.echo(NO_PROGRAM)
        return
    if as_json:
        _print_json(programs.status_report(state))
        return
    click.echo(_status_text(state))


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
    from player import programs

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
        lines.append("Check-ins (how you have been feeling, 0-10):")
        for c in state.checkins:
            rating = f"{c.mood:>2}" if c.mood is not None else " -"
            note = f'  "{c.note}"' if c.note else ""
            skipped = "  (skipped)" if c.mood is None and c.note is None else ""
            when = c.answered_at[:10]
            lines.append(f"  {state.checkin_label(c.checkpoint):<28} {when}  {rating}{note}{skipped}")
        change = programs.mood_change(state.checkins)
        if change is not None:
            lines.append(f"  Change from the first rating to the latest: {change:+d}.")
    if state.checkin_due is not None:
        lines.append(f"A check-in is due ({state.checkin_due.label}): 'haven today' offers it.")
    return "\n".join(lines)


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
        click.echo("No program is running.")
        return
    click.echo(
        f"Stopped {stopped.title or stopped.program} ({stopped.program}). Your sessions and "
        "check-ins stay in the journal."
    )


@program.command("validate")
@click.argument("files", nargs=-1, required=True)
def program_validate(files: tuple[str, ...]) -> None:
    """Check program files against the format: FILE is a path or a program id."""
    from player import programs

    bad = 0
    for name in files:
        try:
            prog = programs.find_program(name)
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
@click.option("--no-checkin", is_flag=True, help="Do not offer the two-weekly check-in now.")
@click.pass_context
def today(ctx: click.Context, list_only: bool, no_checkin: bool) -> None:
    """Say what today's practice is in the running program, and play it."""
    from player import programs

    with _open_journal() as journal:
        state = programs.program_state(journal, _now())
        if state is None:
            click.echo(NO_PROGRAM)
            return
        _print_today(state)
        if list_only:
            return
        if state.checkin_due is not None and not no_checkin:
            if _interactive():
                _checkin(journal, state)
            else:
                # Without a terminal nobody can answer, and a skip would be kept for good.
                click.echo("Run 'haven today' in a terminal to answer the check-in.")
    practice = state.progress.due
    if practice is None:
        return
    exercise = _choose(practice)
    _play(ctx, exercise, practice.minutes)


def _print_today(state) -> None:
    p = state.progress
    click.echo(_headline(state))
    if p.status == "not started":
        click.echo("Until then, practise anything you like, or rest.")
        return
    if p.status == "finished":
        click.echo(
            f"You have come to the end of it: {p.practices_done} of {p.practices_total} practice "
            "days done. 'haven program status' shows how it went; 'haven program stop' clears "
            "it, so you can start another."
        )
    else:
        week = p.current.week
        click.echo(f"\nWeek {week.number}: {week.title}")
        click.echo(_wrap(week.intention))
        click.echo("")
        click.echo(_today_line(state))
        if p.due is not None and p.due.is_choice:
            click.echo("Choose whichever you like: " + ", ".join(p.due.exercises) + ".")
    if state.checkin_due is not None:
        click.echo(f"A check-in is due ({state.checkin_due.label}).")


def _checkin(journal, state) -> None:
    """Offer the due check-in; Enter skips each question, and a skip is kept too."""
    from player import cli_journal, programs

    click.echo(
        f"\nCheck-in, {state.checkin_due.label}: a moment to notice how things have been. "
        "Press Enter to skip either question."
    )
    mood = cli_journal.prompt_mood(CHECKIN_MOOD_PROMPT)
    note = cli_journal.prompt_note(CHECKIN_NOTE_PROMPT)
    programs.record_checkin(journal, state, mood, note)
    if mood is None and note is None:
        click.echo("Skipped; it will not be asked again. 'haven program status' shows your check-ins.")
    else:
        click.echo("Thank you; saved in your journal. 'haven program status' shows how ratings changed.")


def _interactive() -> bool:
    """Whether someone can answer questions (standard input is a terminal; tests say yes)."""
    import sys

    return sys.stdin.isatty()


def _choose(practice) -> str:
    """The exercise to play: the practice's own, or the listener's pick of a choice."""
    if not practice.is_choice or not _interactive():
        return practice.exercise
    return click.prompt(
        "Which one today?", type=click.Choice(list(practice.exercises)), default=practice.exercise
    )


def _render_hint(exercise: str, minutes: float | None) -> str:
    fit = f" --minutes {minutes:g}" if minutes else ""
    return f"render it to a file instead: haven render {exercise}{fit} -o {exercise}.wav"


def _output_problem() -> str | None:
    """Why sound cannot play here (no PortAudio, no output device), or None when it can."""
    from player import doctor

    for check in (doctor.check_portaudio(), doctor.check_output_devices()):
        if not check.ok:
            return check.detail
    return None


def _play(ctx: click.Context, exercise: str, minutes: float | None) -> None:
    """Play one exercise as `haven play` does: the one place `haven today` reaches playback.

    `haven play` was being built alongside this command; until it has a core function to call,
    this invokes the command itself through Click, so switching over is a one-line change here.
    """
    problem = _output_problem()
    if problem is not None:
        raise AudioDeviceError(
            f"cannot play today's practice here: {problem}", hint=_render_hint(exercise, minutes)
        )
    play = ctx.find_root().command.get_command(ctx, "play")
    if play is None:
        raise AudioDeviceError(
            "this Haven cannot play sound yet", hint=_render_hint(exercise, minutes)
        )
    click.echo(f"\nPlaying {exercise}" + (f", fitted to {minutes:g} minutes" if minutes else "") + ".")
    ctx.invoke(play, name=exercise, minutes=minutes)


# --- haven new -------------------------------------------------------------------------------


@click.command("new")
@click.argument("name")
@click.option("--from", "template", metavar="EXERCISE", help="Start from a copy of this built-in exercise.")
def new(name: str, template: str | None) -> None:
    """Write a starter script NAME into your scripts folder, ready to edit.

    Without --from it is a short, commented example that uses every kind of step.
    """
    from player import starter

    made = starter.new_script(name, template)
    what = f"a copy of '{made.template}'" if made.template else "a commented starter script"
    click.echo(f"Wrote {made.path} ({what}).")
    if made.shadows_builtin:
        click.echo(
            f"It takes the place of the built-in '{made.id}' while it exists; delete the file "
            "to get the built-in back."
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
