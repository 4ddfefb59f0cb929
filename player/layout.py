"""Report text that fits the terminal: the one way every report wraps and shortens its lines.

``width()`` is the terminal's width (``COLUMNS`` if set; 80 for a pipe or a file, the width
most people's terminals open at). ``fit`` reflows a report's lines to it at word boundaries,
keeping each line's indentation as a hanging indent (``"  Notes: ..."`` continues under
``Notes``' first letter, a table row under its last column); ``wrap`` fills one paragraph;
``shorten`` cuts a name to a column at a word boundary with ``…``. A word longer than the
whole width (a long path) is never broken: it stays whole on a line of its own. Only the standard library is used:
this module is on the start-up path of ``haven list``.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

DEFAULT_WIDTH = 80  # a pipe's or a file's width
MIN_WIDTH = 20
ELLIPSIS = "…"
_COLUMN_GAP = re.compile(r"\S(  +)(?=\S)")


def width() -> int:
    """The width to lay reports out for: the terminal's, ``COLUMNS``, or 80."""
    import shutil

    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def cells(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide characters take two, combining marks none)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else (2 if unicodedata.east_asian_width(ch) in "WF" else 1)
        for ch in text
    )


def wrap(text: str, indent: str = "", subsequent: str | None = None, cols: int | None = None) -> str:
    """One paragraph filled to ``cols`` (the terminal's width) at word boundaries."""
    cols = cols or width()
    subsequent = indent if subsequent is None else subsequent
    if cells(subsequent) > cols // 2:  # a hanging indent too deep for a narrow terminal
        subsequent = "  "
    return textwrap.fill(
        " ".join(text.split()), max(cols, cells(indent) + 1), initial_indent=indent,
        subsequent_indent=subsequent, break_on_hyphens=False, break_long_words=False,
    ) or indent.rstrip()


def _hang(line: str) -> str:
    """The indent a long line continues at: under its last column (a table row or
    ``Label:  text``), else its own indentation."""
    lead = line[: len(line) - len(line.lstrip())]
    gaps = list(_COLUMN_GAP.finditer(line))
    if gaps:
        start = gaps[-1].end(1)
        return " " * cells(line[:start])
    return lead


def fit_line(line: str, cols: int | None = None) -> str:
    """One line of a report, wrapped to ``cols`` when it is longer (see the module doc)."""
    cols = cols or width()
    if cells(line) <= cols:
        return line
    hang = _hang(line)
    if cells(hang) > cols // 2:
        hang = line[: len(line) - len(line.lstrip())] + "  "
        if cells(hang) > cols // 2:
            hang = "  "
    lead = line[: len(line) - len(line.lstrip())]
    body = line[len(lead):]
    return textwrap.fill(
        body, cols, initial_indent=lead, subsequent_indent=hang, break_on_hyphens=False,
        break_long_words=False, drop_whitespace=True, replace_whitespace=False,
        expand_tabs=False,
    )


def fit(text: str, cols: int | None = None) -> str:
    """Every line of ``text`` fitted to ``cols`` (the terminal's width)."""
    cols = cols or width()
    return "\n".join(fit_line(line, cols) for line in text.split("\n"))


def echo(text: str = "", err: bool = False) -> None:
    """``click.echo`` of report text, fitted to the terminal."""
    import click

    click.echo(fit(text), err=err)


def shorten(text: str, cols: int) -> str:
    """``text`` in at most ``cols`` columns: cut at a word boundary (space or hyphen) with
    ``…`` when it is longer; a single long word is cut where it must be."""
    if cells(text) <= cols:
        return text
    if cols <= 1:
        return ELLIPSIS[:cols]
    room = cols - 1
    cut = text[:room]
    while cells(cut) > room:
        cut = cut[:-1]
    boundary = max(cut.rfind(" "), cut.rfind("-"))
    if boundary >= room // 2 and boundary > 0:
        cut = cut[:boundary]
    return cut.rstrip(" -") + ELLIPSIS
