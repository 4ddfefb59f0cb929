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

Pronunciation (``lexicon:`` in a script, ``[lexicon]`` in the settings; the entries are
``player.format.model.Pronunciation``): :func:`lexicon_for` picks the entries a sentence uses
(only those are part of its request, so an unrelated edit keys no clip anew), and
:func:`apply_lexicon` makes the text an engine is given. A respelling replaces the word; phonemes
are carried between ``PHONEMES_OPEN`` and ``PHONEMES_CLOSE`` (control characters, which no
script text can hold), and only an engine adapter turns them into its ``[[ ]]`` phoneme input
(:func:`phoneme_text`): a ``[[ ]]`` a script writes in its text is still read as text.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from player.format.model import Pronunciation

__all__ = ["split_sentences", "ABBREVIATIONS", "lexicon_for", "apply_lexicon", "phoneme_text"]

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


def ends_sentence(before: str) -> bool:
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
    return ends_sentence(text[:start])


def _speakable(piece: str) -> bool:
    return any(ch.isalnum() for ch in piece)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (see the module docstring); never returns empty pieces."""
    return list(_split_sentences(text))


# Fitting a session to --minutes compiles its timeline dozens of times, each splitting every
# text again (0.1 s of a 10-minute render's start-up); a script has few distinct texts.
@functools.lru_cache(maxsize=1024)
def _split_sentences(text: str) -> tuple[str, ...]:
    if not text or not text.strip():
        return ()
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
    return tuple(merged)


# ------------------------------------------------------------------ pronunciation

PHONEMES_OPEN = "\x0e"  # shift out: the loader refuses control characters in script text
PHONEMES_CLOSE = "\x0f"
_MARKERS = re.compile("[\x0e\x0f]")
_MARKED = re.compile("\x0e([^\x0e\x0f]*)\x0f")


@functools.lru_cache(maxsize=64)
def _compile(lexicon: "tuple[Pronunciation, ...]") -> "tuple[re.Pattern, dict] | None":
    """One pattern for every word of ``lexicon`` (longest first, so a phrase beats its
    words), and the entries by their folded word."""
    if not lexicon:
        return None
    by_word = {" ".join(p.word.split()).casefold(): p for p in lexicon}
    words = sorted(by_word, key=lambda w: (-len(w), w))
    alternatives = "|".join(re.escape(w).replace("\\ ", "\\s+") for w in words)
    return re.compile(f"(?<!\\w)(?:{alternatives})(?!\\w)", re.IGNORECASE), by_word


_RECENT: dict[int, tuple] = {}  # id(lexicon) -> (lexicon, its pattern): no hashing per call


def _matcher(lexicon) -> "tuple[re.Pattern, dict] | None":
    """:func:`_compile` of ``lexicon``, found by identity first: a timeline is compiled
    dozens of times when fitted, each time asking for every sentence, and hashing a long
    lexicon on each of those calls was most of the time."""
    if not lexicon:
        return None
    hit = _RECENT.get(id(lexicon))
    if hit is not None and hit[0] is lexicon:
        return hit[1]
    made = _compile(tuple(lexicon))
    if len(_RECENT) >= 32:
        _RECENT.clear()
    _RECENT[id(lexicon)] = (lexicon, made)  # holds the lexicon, so its id is not reused
    return made


def _entry(found: str, by_word: dict, lexicon) -> "Pronunciation | None":
    key = " ".join(found.split()).casefold()
    if key in by_word:
        return by_word[key]
    for p in lexicon:  # a letter whose case-folding and case-insensitive match differ
        if re.fullmatch(re.escape(p.word).replace("\\ ", "\\s+"), found, re.IGNORECASE):
            return p
    return None  # pragma: no cover - the pattern only matches the words it was made of


def lexicon_for(text: str, lexicon: "tuple[Pronunciation, ...]") -> "tuple[Pronunciation, ...]":
    """The entries of ``lexicon`` whose word is in ``text`` (whole word, any case), in
    lexicon order: what shapes this text's clip."""
    made = _matcher(lexicon)
    if made is None:
        return ()
    pattern, by_word = made
    found = {_entry(m.group(), by_word, lexicon) for m in pattern.finditer(text)}
    if not found:
        return ()
    # In lexicon order (by_word keeps it), by value: equal entries are the same pronunciation.
    return tuple(p for p in by_word.values() if p in found)


def apply_lexicon(text: str, lexicon: "tuple[Pronunciation, ...]", engine: str) -> str:
    """``text`` as ``engine`` is to say it: every word of ``lexicon`` with a form for it
    replaced (whole word, any case; the rest of the text untouched), phonemes marked for the
    engine adapter (:func:`phoneme_text`). Markers already in ``text`` are dropped."""
    text = _MARKERS.sub("", text)
    chosen = tuple(p for p in lexicon if p.form(engine) is not None)
    made = _matcher(chosen)
    if made is None:
        return text
    pattern, by_word = made

    def replace(match: re.Match) -> str:
        entry = _entry(match.group(), by_word, chosen)
        form = entry.form(engine) if entry is not None else None
        if form is None:  # pragma: no cover - see _entry
            return match.group()
        if form.startswith("[["):
            return f"{PHONEMES_OPEN}{form[2:-2]}{PHONEMES_CLOSE}"
        return form

    return pattern.sub(replace, text)


def phoneme_text(text: str) -> tuple[str, bool]:
    """For an engine adapter: ``(text with marked phonemes as [[ ]], whether it has any)``.

    Without marks the text is returned as it is. With them, brackets in the plain parts
    become parentheses, so only the lexicon's phonemes are read as phonemes.
    """
    if PHONEMES_OPEN not in text:
        return _MARKERS.sub("", text), False
    out: list[str] = []
    pos = 0
    for match in _MARKED.finditer(text):
        out.append(_plain(text[pos : match.start()]))
        phonemes = " ".join(match.group(1).replace("[", " ").replace("]", " ").split())
        if phonemes:
            out.append(f"[[{phonemes}]]")
        pos = match.end()
    out.append(_plain(text[pos:]))
    return "".join(out), True


def _plain(part: str) -> str:
    return _MARKERS.sub("", part).replace("[", "(").replace("]", ")")
