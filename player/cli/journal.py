"""Journal and settings commands: ``log``, ``stats``, ``streak``, ``calendar``, ``export``,
``import`` and ``config``, for ``player.cli.app`` to register (``register(group)``).

Commands are thin: parse options, call one core function, print. They raise ``HavenError``
subclasses, which the main CLI turns into ``haven: error: …`` and an exit code. This module is
on the start-up path of ``haven --help``: it imports only click at module level; the journal,
the config and rich are imported inside the commands.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from player import layout
from player.errors import BadInputError

DEFAULT_LOG_LIMIT = 20


def _now() -> datetime:
    """The current local time (aware). Tests replace this to make output reproducible."""
    return datetime.now().astimezone()


def _open_journal(readonly: bool = False, verify: bool = True):
    """The user's journal. ``readonly`` for commands that only read: they then work before
    anything is recorded and in a read-only ``HAVEN_HOME`` (see ``Journal.open``)."""
    from player.journal import Journal

    return Journal.open(clock=lambda: _now().astimezone(timezone.utc), readonly=readonly, verify=verify)


def _reader():
    """The journal as reading commands open it (``reports``' ``opener``)."""
    return _open_journal(readonly=True)


def _print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


class _Mood(click.ParamType):
    """A 0-10 rating; ``none`` clears it (for ``log edit``)."""

    name = "0-10"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text in ("none", "-"):
            return None
        if text.isdigit() and 0 <= int(text) <= 10:
            return int(text)
        self.fail(f"{value!r} is not a whole number from 0 to 10 (or 'none' to clear)", param, ctx)


MOOD = _Mood()


# --- check-in prompts: in player.prompts (playback asks them too) --------------------------

from player.prompts import (  # noqa: E402 - re-exported for the journal commands
    MOOD_PROMPT,
    NOTE_PROMPT,
    leave_on_ctrl_c,
    prompt_mood,
    prompt_note,
    show_care,
)


# --- log ---------------------------------------------------------------------------------


@click.group("log", invoke_without_command=True)
@click.option("--since", metavar="DATE|Nd|Nw", help="Only sessions from this practice day on (2026-11-01), or the last N days/weeks (7d, 4w).")
@click.option("--limit", type=click.IntRange(min=1), help=f"At most this many sessions (default {DEFAULT_LOG_LIMIT} without --since or --json).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {\"sessions\": [record…]} with practice_day and practiced_minutes added.")
@click.pass_context
def log(ctx: click.Context, since: str | None, limit: int | None, as_json: bool) -> None:
    """List recorded sessions, newest first; add, edit or delete entries."""
    if ctx.invoked_subcommand is not None:
        return
    from player.journal import reports

    default_limit = None if (since or as_json) else DEFAULT_LOG_LIMIT
    data = reports.log_report(since=since, limit=limit or default_limit, now=_now(), opener=_reader)
    if as_json:
        _print_json({"sessions": data["sessions"]})
    else:
        layout.echo(reports.render_log(data))


@log.command("add")
@click.argument("exercise")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True, max=1440), required=True, help="How long you practised.")
@click.option("--at", "at", metavar="TIME", help='When it started, local time: "2026-11-20 07:30", "07:30" or "yesterday 18:30" (default: it just ended).')
@click.option("--note", help="A short note.")
@click.option("--mood-before", type=MOOD, help="Mood before, 0-10.")
@click.option("--mood-after", type=MOOD, help="Mood after, 0-10.")
@click.option("--title", help="A title to show instead of the exercise name.")
@click.option("--category", help="A category, e.g. breathing, meditation, body-scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the new record as JSON.")
def log_add(exercise, minutes, at, note, mood_before, mood_after, title, category, as_json) -> None:
    """Record practice done elsewhere, e.g. `haven log add sitting --minutes 20`."""
    from player.library import catalog as library
    from player.journal import records

    _check_minutes(minutes)

    # Practice of a known exercise is filed under its title and category, like a played one.
    known = {info.id: info for info in library.list_scripts()}.get(exercise)
    if known is not None and not known.problem:
        title = title if title is not None else known.title
        category = category if category is not None else known.category
    with _open_journal() as journal:
        started = records.parse_local_time(at, _now()) if at else None
        session = journal.add_manual(
            exercise, minutes * 60.0, started_at=started, title=title, category=category,
            note=note, mood_before=mood_before, mood_after=mood_after,
        )
    _print_session("Added", session, as_json)
    if known is None:
        _suggest_exercise(exercise, session.id)


def _suggest_exercise(exercise: str, session_id: str) -> None:
    """After `log add` of a name that is no exercise but looks like one ("bodyscan"): say
    which it may be and how to file the session under it (it is kept as typed: practice done
    elsewhere has names of its own)."""
    import difflib

    from player.library import catalog as library

    ids = list(library.script_paths())
    squash = {i.replace("-", ""): i for i in ids}
    typed = exercise.strip().lower()
    close = ([squash[typed.replace("-", "").replace(" ", "")]]
             if typed.replace("-", "").replace(" ", "") in squash
             else difflib.get_close_matches(typed, ids, n=1, cutoff=0.8))  # fmt: skip
    if close:
        from player.printable import printable

        click.echo(
            f"Note: '{printable(exercise)}' is not one of Haven's exercises; did you mean "
            f"'{close[0]}'? To file it there: haven log edit {session_id[:8]} --exercise "
            f"{close[0]}", err=True,
        )


@log.command("edit")
@click.argument("session_id", metavar="ID")
@click.option("--minutes", type=click.FloatRange(min=0, max=1440), help="Practised length in minutes.")
@click.option("--at", "at", metavar="TIME", help='New start time, local: "2026-11-20 07:30".')
@click.option("--note", help='New note ("" removes it).')
@click.option("--mood-before", type=MOOD, help="Mood before, 0-10 ('none' removes it).")
@click.option("--mood-after", type=MOOD, help="Mood after, 0-10 ('none' removes it).")
@click.option("--exercise", help="New exercise name.")
@click.option("--title", help='New title ("" removes it).')
@click.option("--category", help='New category ("" removes it).')
@click.option("--json", "as_json", is_flag=True, help="Print the edited record as JSON.")
@click.pass_context
def log_edit(ctx, session_id, minutes, at, note, mood_before, mood_after, exercise, title, category, as_json) -> None:
    """Correct a recorded session (ID or its first characters, as `haven log` shows)."""
    from player.journal import records

    _check_minutes(minutes)

    given = {
        name: value
        for name, value in (("note", note), ("exercise", exercise), ("title", title), ("category", category))
        if value is not None
    }
    for name, value in (("mood_before", mood_before), ("mood_after", mood_after)):
        # None is a value here ("none" clears a rating), so ask whether the option was given.
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            given[name] = value
    if minutes is not None:
        given["practiced_s"] = minutes * 60.0
    if at is not None:
        given["started_at"] = records.parse_local_time(at, _now())
    if not given:
        raise BadInputError("nothing to change: give at least one of --minutes, --at, --note, --mood-before, --mood-after, --exercise, --title, --category")
    with _open_journal() as journal:
        session = journal.edit(session_id, **given)
    _print_session("Edited", session, as_json)


@log.command("delete")
@click.argument("session_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def log_delete(session_id: str, yes: bool) -> None:
    """Delete a recorded session for good (asks first; --yes for scripts)."""
    from player.journal import reports

    with _open_journal() as journal:
        session = journal.get(session_id)
        if not yes:
            question = f"Delete {reports.describe_session(session)}?"
            try:
                confirmed = click.confirm(question, default=False)
            except click.Abort:
                raise BadInputError("not confirmed, nothing deleted (use --yes to delete without asking)") from None
            if not confirmed:
                click.echo("Nothing deleted.")
                return
        journal.delete(session.id)
    click.echo(f"Deleted {reports.describe_session(session)}.")


def _check_minutes(minutes: float | None) -> None:
    """Click's FloatRange lets "nan" through (it compares false with both ends)."""
    if minutes is not None and minutes != minutes:
        raise BadInputError("--minutes must be a number of minutes from 0 to 1440, not nan")


def _print_session(verb: str, session: Any, as_json: bool) -> None:
    from player.journal import reports

    if as_json:
        _print_json(session.to_record())
    else:
        click.echo(f"{verb} {reports.describe_session(session)}.")


# --- reports -------------------------------------------------------------------------------


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys documented in `player.journal.reports`).")
def stats(as_json: bool) -> None:
    """Totals, this week, per category and exercise, average length and mood change."""
    from player.journal import reports

    data = reports.stats_report(reports.load_context(now=_now(), opener=_reader))
    if as_json:
        _print_json(data)
    else:
        layout.echo(reports.render_stats(data))


@click.command("streak")
@click.option("--weeks", type=click.IntRange(1, 104), default=8, show_default=True, help="Weeks of goal history to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys documented in `player.journal.reports`).")
def streak(weeks: int, as_json: bool) -> None:
    """Current and longest streak, and weekly goal adherence ("5 of 7 days")."""
    from player.journal import reports

    data = reports.streak_report(reports.load_context(now=_now(), opener=_reader, detail=False), weeks=weeks)
    if as_json:
        _print_json(data)
    else:
        layout.echo(reports.render_streak(data))


@click.command("calendar")
@click.option("--weeks", type=click.IntRange(1, 53), default=12, show_default=True, help="How many weeks to show.")
@click.option("--color/--no-color", default=None, help="Colour (default: when writing to a terminal and NO_COLOR is unset).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys documented in `player.journal.reports`).")
def calendar(weeks: int, color: bool | None, as_json: bool) -> None:
    """A heatmap of the last weeks: shade by minutes practised, today marked."""
    import os
    import sys

    from player.journal import reports

    data = reports.calendar_report(reports.load_context(now=_now(), opener=_reader, detail=False), weeks=weeks)
    if as_json:
        _print_json(data)
        return
    if color is None:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    if color:
        from rich.console import Console

        Console(highlight=False).print(reports.render_calendar(data, color=True))
    else:
        layout.echo(reports.render_calendar(data))


# --- export / import -----------------------------------------------------------------------


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "health-connect", "insight-timer"]), help="File format (default: from -o's suffix, else json). health-connect: JSON records shaped like Health Connect's mindfulness sessions; insight-timer: Insight Timer's CSV.")
# click.Path for completion only: no checks of its own (files.open_output decides, one way).
@click.option("-o", "--output", type=click.Path(readable=False, allow_dash=True), metavar="FILE", help="Write to this file (a new file is 0600; - is standard output; a pipe or device is written through).")
def export(fmt: str | None, output: str | None) -> None:
    """Export every session, losslessly, as CSV or JSON (`haven import` reads both), or for
    another place: Health Connect's mindfulness sessions, or Insight Timer's CSV.

    CSV text cells that a spreadsheet would run as a formula (starting with = + - @) get a
    leading single quote; `haven import` removes it again.
    """
    from player import files
    from player.journal import reports

    if fmt is None:
        fmt = "csv" if output and output.lower().endswith(".csv") else "json"
    if output:
        from player.journal.records import char_name, forbidden_char

        bad = forbidden_char(output, False)
        if bad is not None:  # a pasted escape, never a name anyone wants (or wants echoed raw)
            raise BadInputError(
                f"-o {output!r}: the file name holds a control character, {char_name(bad)}; "
                "choose a plain name"
            )
        files.output_kind(output)  # a missing folder or a folder as target: say so before reading
    # No integrity gate here: export is how what is readable is rescued from a damaged journal.
    with _open_journal(readonly=True, verify=False) as journal:
        if fmt in ("csv", "json"):
            count, text = reports.export_text(journal, fmt, _now(), rescue=True)
        else:
            count, text = reports.export_app_text(journal, fmt, _now(), rescue=True)
        damage = journal.rescue_problem
    if output and output != "-":
        files.write_output(output, text)
        click.echo(f"Exported {count} session{'s' if count != 1 else ''} to {output}.", err=True)
    else:
        files.write_output("-", text)
    if damage:
        click.echo(
            f"haven: warning: the journal is damaged ({damage}); only the {count} session"
            f"{'s' if count != 1 else ''} read before the damage were exported",
            err=True,
        )


@click.command("import")
@click.argument("file", metavar="FILE")
@click.option("--tz", metavar="ZONE", help="Time zone of times written without one (Insight Timer, Waking Up, VA Mindfulness Coach): a name such as Europe/Berlin or an offset such as +01:00 (default: this machine's).")
@click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
@click.option("--json", "as_json", is_flag=True, help='Print JSON: {"format", "added", "unchanged", "conflicts", "dry_run", "sessions"}.')
def import_(file: str, tz: str | None, dry_run: bool, as_json: bool) -> None:
    """Import sessions from a `haven export` file or another app (- reads standard input).

    Recognised by content: Haven's CSV or JSON, Insight Timer's CSV, Waking Up's CSV, VA
    Mindfulness Coach's CSV, and Apple Health's export.xml or export.zip (streamed, any
    size). Each session keeps where it came from. Importing the same file again adds
    nothing; invalid rows are reported with their line numbers and nothing is imported.
    """
    from player.journal import apps, reports

    zone = apps.parse_tz(tz) if tz else None
    parsed = apps.load_file(file, zone)
    with _open_journal(readonly=dry_run) as journal:
        result = journal.import_records(
            parsed.records, parsed.labels, match_content=parsed.from_app, dry_run=dry_run
        )
    if as_json:
        _print_json({
            "format": parsed.format, "added": result.added, "unchanged": result.unchanged,
            "conflicts": list(result.conflicts), "dry_run": dry_run,
            "sessions": [dict(r) for r in result.new] if dry_run else None,
        })
    else:
        click.echo(reports.render_import(result, parsed.format))


# --- config --------------------------------------------------------------------------------


@click.group("config")
def config() -> None:
    """Show and change settings (one TOML file; `haven config list` shows all)."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print JSON: [{"key", "value", "default", "set", "help"}].')
def config_list(as_json: bool) -> None:
    """Every setting with its value; (default) marks ones not set in the file."""
    from player import config as cfg

    rows = cfg.describe()
    if as_json:
        _print_json(rows)
        return
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        mark = "" if r["set"] else "  (default)"
        click.echo(f"{r['key']:<{width}} = {cfg.format_value(r['value'])}{mark}")
    click.echo(f"\nFile: {cfg.load_config().path}")


@config.command("get")
@click.argument("key")
def config_get(key: str) -> None:
    """Print one setting's value (strings unquoted, booleans true/false)."""
    from player import config as cfg

    value = cfg.get(key)
    click.echo(cfg.format_value(value) if not isinstance(value, str) else value)


@config.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Change one setting, e.g. `haven config set journal.day_starts_at 05:00`."""
    from player import config as cfg

    name, stored = cfg.set(key, value)
    click.echo(f"{name} = {cfg.format_value(stored)}")


@config.command("unset")
@click.argument("key")
def config_unset(key: str) -> None:
    """Return one setting to its default."""
    from player import config as cfg

    name, default = cfg.unset(key)
    click.echo(f"{name} = {cfg.format_value(default)}  (default)")


COMMANDS: tuple[click.Command, ...] = (log, stats, streak, calendar, export, import_, config)


def register(group: click.Group) -> None:
    """Add every journal and settings command to ``group`` (the ``haven`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
