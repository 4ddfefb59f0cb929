"""Splitting spoken text into sentences: one synthesized clip per sentence.

Rules (plain text, any language with Latin-style punctuation):

- A sentence ends at ``.``, ``!``, ``?`` or ``…`` (also ``...``), optionally followed by closing
  quotes or brackets, then whitespace, when the next word does not start with a lower-case
  letter ("Breathe in... and out." stays one sentence).
- A line break is a boundary under the same lower-case rule, so a literal YAML block written
  one phrase per line is spoken phrase by phrase while a line wrapped mid-sentence is not cut.
  A blank line (paragraph break) is always a boundary.
- ``;`` and ``:`` do not split: the engine already pauses briefly there, and a clause cut from
  its sentence loses its intonation.
- A ``.`` after a known abbreviation ("Dr.", "e.g.", "Mr.") or a single capital initial ("J.")
  does not end a sentence; a ``.`` inside a number ("2.5") is not followed by whitespace, so
  it never does.
- Whitespace inside a sentence is collapsed to single spaces; pieces without a letter or digit
  (a lone "...") are merged into a neighbour, so no piece is empty or unspeakable.

Invariant: ``" ".join(split_sentences(t)).split() == t.split()`` - no word is ever lost.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences", "ABBREVIATIONS"]

# Lower-case, without the final dot. Only words that almost never end a sentence: titles that
# precede a name and Latin abbreviations that introduce something. "etc." is left out on
# purpose: it often does end a sentence.
ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "sr", "jr", "rev", "fr", "hon",
        "e.g", "i.e", "eg", "ie", "cf", "vs", "viz", "approx", "fig", "vol", "pp",
    }
)

_TERMINALS = ".!?…"
_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{"
_WHITESPACE = re.compile(r"\s+")


def _ends_sentence(before: str) -> bool:
    """Whether the text before a whitespace run ends with sentence-final punctuation."""
    stripped = before.rstrip(_CLOSERS)
    if not stripped or stripped[-1] not in _TERMINALS:
        return False
    if stripped[-1] != "." or stripped.endswith(".."):
        return True  # !, ?, … and "..." always end a sentence (before a non-lower-case word)
    token = stripped.rsplit(None, 1)[-1].lstrip(_OPENERS)[:-1]
    if token.lower() in ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isupper() and token not in ("I", "A"):
        return False  # an initial, as in "J. Smith"
    return True


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the whitespace run ``text[start:end]`` separates two sentences."""
    gap = text[start:end]
    if gap.count("\n") >= 2:
        return True  # paragraph break
    if end >= len(text) or text[end].islower():
        return False
    if "\n" in gap:
        return True
    return _ends_sentence(text[:start])


def _speakable(piece: str) -> bool:
    return any(ch.isalnum() for ch in piece)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (see the module docstring); never returns empty pieces."""
    if not text or not text.strip():
        return []
    pieces: list[str] = []
    last = 0
    for match in _WHITESPACE.finditer(text):
        if match.start() == 0 or match.end() == len(text):
            continue  # leading/trailing whitespace separates nothing
        if _is_boundary(text, match.start(), match.end()):
            pieces.append(text[last : match.start()])
            last = match.end()
    pieces.append(text[last:])
    pieces = [" ".join(p.split()) for p in pieces]
    pieces = [p for p in pieces if p]

    # A piece with nothing to say (a lone "..." or "—") joins its neighbour rather than
    # becoming a silent clip.
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        if not _speakable(piece):
            if merged:
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                carry = f"{carry} {piece}".strip()
            continue
        merged.append(f"{carry} {piece}".strip() if carry else piece)
        carry = ""
    if carry:  # nothing speakable at all
        merged.append(carry)
    return merged
