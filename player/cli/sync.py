"""Files for the user's other tools: ``haven remind`` (a calendar file) and ``haven feed`` (a
private podcast feed), for ``player.cli.app`` to register (``COMMANDS``).

Thin commands: parse options, call ``player.library.reminders`` or ``player.library.feed``, write with
``player.files``, print one summary line. Only click is imported at module level (this module
is on the start-up path of ``haven --help``). Nothing here uses the network.
"""

from __future__ import annotations

import os
import sys

import click

from player.errors import BadInputError, NotFoundError

NO_PROGRAM = "no program is running, so there is nothing to schedule for one"
NO_PROGRAM_HINT = "'haven program start NAME' begins one"


def _now():
    from player.cli import journal as cli_journal

    return cli_journal._now()


def _running_state(now):
    """The running program's state (None when none runs); the journal is only read."""
    from player.cli import journal as cli_journal
    from player.library import programs

    with cli_journal._open_journal(readonly=True) as journal:
        return programs.program_state(journal, now)


@click.command("remind")
@click.option("--at", "at", required=True, metavar="HH:MM", help="Time of day for the reminder, e.g. 07:30.")
@click.option("--days", metavar="DAYS",
              help="Weekdays, e.g. mon,wed,fri (or daily, weekdays, weekends; default: every day).")
@click.option("--program", "use_program", is_flag=True,
              help="Schedule the running program's remaining practice days and check-ins instead.")
@click.option("--before", type=int, default=5, show_default=True, metavar="MINUTES",
              help="The calendar's alert comes this many minutes before.")
@click.option("--title", default=None, metavar="TEXT",
              help="The reminder's title (default: 'Time to practise'); not with --program.")
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True),
              metavar="FILE", help="The iCalendar (.ics) file to write (- for standard output).")
def remind(at: str, days: str | None, use_program: bool, before: int, title: str | None,
           output: str) -> None:  # fmt: skip
    """Write an iCalendar file of practice reminders that any calendar app imports.

    \b
    Examples:
      haven remind --at 07:30 -o haven.ics
      haven remind --at 18:00 --days mon,wed,fri -o haven.ics
      haven remind --at 07:30 --program -o haven.ics

    Times are local ("floating"): 07:30 stays 07:30 wherever you are. Importing a newer file
    updates the events of an older one instead of adding them twice.
    """
    from player.library import reminders
    from player.files import write_output

    when = reminders.parse_time(at)
    before = reminders.check_before(before)
    now = _now()
    if use_program:
        if days is not None:
            raise BadInputError("--days does not go with --program: the program's own days are used")
        if title is not None:
            raise BadInputError("--title does not go with --program: each day is named after its practice")
        state = _running_state(now)
        if state is None:
            raise NotFoundError(NO_PROGRAM, hint=NO_PROGRAM_HINT)
        events = reminders.program_events(state, when)
        name = f"Haven: {state.program.title}"
        practice_days = sum(e.practice for e in events)
        what = (
            f"{_plural(practice_days, 'practice day')} and "
            f"{_plural(sum(e.checkin for e in events), 'check-in')} of {state.program.title}"
        )
    else:
        chosen = reminders.parse_days(days)
        event = reminders.recurring(when, chosen, now.replace(tzinfo=None),
                                    title=title or reminders.DEFAULT_TITLE)  # fmt: skip
        events, name = [event], "Haven"
        what = f"a reminder at {when:%H:%M} {reminders.describe_days(chosen)}"
    write_output(output, reminders.calendar(events, now, before=before, name=name))
    if output != "-":
        click.echo(f"Wrote {output}: {what}. Import it into your calendar app.")


@click.command("feed")
@click.argument("folder", metavar="DIR")
@click.argument("exercises", nargs=-1, metavar="[EXERCISE]...")
@click.option("--program", "program_name", metavar="NAME",
              help="The program's coming week (where you are in it when it runs; else its first week).")
@click.option("--minutes", "-m", type=float, help="Fit each exercise to this many minutes (not with --program).")
@click.option("--voice", metavar="[ENGINE:]VOICE", help="Voice to speak with (see 'haven voices').")
@click.option("--loudness", type=float, default=None, metavar="LUFS",
              help="Integrated loudness (default: the audio.loudness_lufs setting, -18).")
@click.option("--format", "audio_format", type=click.Choice(["mp3", "ogg", "flac", "wav"]), default="mp3",
              show_default=True, help="Audio format of the episodes.")
@click.option("--url", metavar="URL",
              help="Where DIR will be reachable, e.g. https://example.org/haven/ (default: its file:// URL; "
                   "remembered for later runs).")
@click.option("--quiet", "-q", is_flag=True, help="Do not say which episode is being rendered.")
def feed(folder: str, exercises: tuple[str, ...], program_name: str | None, minutes: float | None,
         voice: str | None, loudness: float | None, audio_format: str, url: str | None,
         quiet: bool) -> None:  # fmt: skip
    """Render exercises into DIR as a private podcast feed (DIR/feed.xml) to sync to a phone.

    \b
    Examples:
      haven feed ~/HavenFeed mindful-breathing body-scan --minutes 10
      haven feed ~/HavenFeed --program foundations

    Running it again renders only episodes whose audio would change and removes those no
    longer chosen. Nothing is served or sent: sync DIR with your own tools.
    """
    from player import plan
    from player.library import feed as feeds

    if program_name is not None and exercises:
        raise BadInputError("give exercises or --program NAME, not both")
    if program_name is not None and minutes is not None:
        raise BadInputError("--minutes does not go with --program: the program sets each length")
    if program_name is None and not exercises:
        raise BadInputError("name the exercises to put in the feed, or give --program NAME")

    def settings_for(length):
        return plan.resolve_settings(length, (), voice, None, None, loudness)

    settings_for(minutes)  # bad options fail before any work
    if program_name is not None:
        from player.library import programs

        program = programs.find_program(program_name)
        state = _running_state(_now())
        progress = state.progress if state is not None and state.program.id == program.id else None
        wanted = feeds.program_week(program, progress, today=_now().date())
        if not wanted:
            raise BadInputError(f"{program.title} has no practice left to put in the feed")
        title, description, serial = f"Haven: {program.title}", program.summary, True
    else:
        wanted = [feeds.Wanted(x, minutes) for x in exercises]
        title, description, serial = "Haven", "", False

    # Progress is for a person watching, as render's display is: not for a log or a pipe,
    # where an error must stay the only line on standard error.
    show_progress = not quiet and sys.stderr.isatty()

    def notify(message: str) -> None:
        if show_progress:
            click.echo(message + "...", err=True)

    result = feeds.build(folder, wanted, settings_for, ext=audio_format, url=url, title=title,
                         description=description, serial=serial, notify=notify)  # fmt: skip
    parts = [f"{len(result.rendered)} rendered", f"{len(result.unchanged)} unchanged"]
    if result.removed:
        parts.append(f"{len(result.removed)} removed")
    click.echo(f"Feed in {folder}: {_plural(result.episodes, 'episode')} ({', '.join(parts)}).")
    click.echo(
        f"Subscribe to {os.path.join(folder, feeds.FEED_FILE)} in a podcast app, or sync the "
        "folder to your phone with your own tools; nothing leaves this computer by itself."
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


COMMANDS: tuple[click.Command, ...] = (remind, feed)
