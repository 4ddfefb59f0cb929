"""The ``haven report`` command (registered by ``player.cli.app``).

On the start-up path of ``haven --help``: imports only click at module level; the journal,
the figures and matplotlib are imported when the command runs.
"""

from __future__ import annotations

import click

from player.errors import BadInputError


@click.command("report")
@click.option("--since", metavar="DATE|Nd|Nw",
              help="Report from this practice day on (2026-09-01), or the last N days/weeks "
                   "(28d, 12w). Default: everything in the journal.")  # fmt: skip
@click.option("--program", "program", is_flag=True,
              help="Report on the running program's period (or the program run last).")
@click.option("--notes", is_flag=True,
              help="Include session, check-in and reflection notes (left out unless asked: "
                   "they are private).")  # fmt: skip
@click.option("-o", "--output", metavar="FILE",
              help="Write to this file (created 0600; - is standard output). Required for HTML.")
@click.option("--json", "as_json", is_flag=True,
              help="The figures as JSON (to standard output, or to -o FILE); keys are documented "
                   "in player.report.figures.")  # fmt: skip
@click.option("--open", "open_", is_flag=True, help="Open the written page in the default web browser.")
def report(since: str | None, program: bool, notes: bool, output: str | None, as_json: bool,
           open_: bool) -> None:  # fmt: skip
    """A practice report to look at and to share: one self-contained HTML page.

    Minutes per week against the weekly goal, a calendar heatmap, the practice mix, completed
    and stopped sessions, the program's weeks and every check-in item's trend, with the
    numbers behind each chart in a table. Nothing leaves this computer: the page loads
    nothing from a network, and it is written only to the file you name.

    \b
    Examples:
      haven report -o report.html --open
      haven report --program --notes -o for-my-appointment.html
      haven report --since 12w --json
    """
    from player import files
    from player.cli.journal import _now, _reader
    from player.config import load_config
    from player.report import figures

    if open_ and as_json:
        raise BadInputError("--open shows the HTML page; it cannot be used with --json")
    if not as_json and not output:
        raise BadInputError("say where to write the page: -o report.html (or -o - for standard "
                            "output; --json for the figures)")  # fmt: skip
    if open_ and output == "-":
        raise BadInputError("--open needs a file to open: give -o FILE, not -o -")
    if output and output != "-":
        files.output_kind(output)  # a missing folder or a folder as target: say so before reading
    config = load_config()
    with _reader() as journal:
        data = figures.build(journal, config, _now(), since=since, program=program, notes=notes)
    if as_json:
        import json

        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        files.write_output(output or "-", text)
        if output and output != "-":
            click.echo(f"Wrote the report's figures to {output}.", err=True)
        return
    from player.report import html_report

    files.write_output(output, html_report(data))
    if output == "-":
        return
    click.echo(f"Wrote the report to {output}.", err=True)
    if open_:
        _open_in_browser(output)


def _open_in_browser(path: str) -> None:
    """Open ``path`` with the default browser (``webbrowser``), or say that none was found."""
    import os
    import webbrowser
    from pathlib import Path

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        click.echo(f"haven: no web browser was found to open it; open {path} with any browser.", err=True)
        return
    if not browser.open(Path(os.path.abspath(path)).as_uri()):
        click.echo(f"haven: the web browser could not be started; open {path} with any browser.", err=True)
