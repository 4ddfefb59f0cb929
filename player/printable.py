"""Text from users' files and arguments, made safe to print on a terminal.

A script's summary, a file name, a journal note or a config value can hold anything: an
escape sequence that recolours or clears the terminal, retitles its window or writes to the
clipboard; a bidirectional override that shows a line in a different order than it is; a
lone surrogate (an undecodable file name) that makes printing itself fail. Every printer of
such text passes it through :func:`printable` first, which shows each of those characters as a
visible escape (``\\x1b``, ``\\u202e``) instead of letting the terminal act on it.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls; the bidirectional embeddings, overrides and isolates;
# the Unicode line and paragraph separators; lone surrogates.
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every control character written as a visible escape, so it prints inertly.

    ``keep`` names the harmless characters to leave as they are where the layout wants them
    (``"\\n\\t"`` for multi-line text); by default the result is always one line.
    """
    text = str(text)
    if not _UNSAFE_RE.search(text):
        return text
    if keep:
        return _UNSAFE_RE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNSAFE_RE.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` for a one-line listing: runs of spaces and line breaks as one space, printable."""
    return printable(" ".join(str(text).split()))
