"""Pronunciation lexicons: the rules a script's ``lexicon:`` and the user's ``[lexicon]`` share.

An entry maps a word (or a short phrase) to how it is said::

    lexicon:
      metta: met-tah                                # a respelling, for every engine
      savasana: {espeak: "[[S@v'A:s@n@]]", piper: "[[ʃəvˈɑːsənə]]", default: sha-vah-sa-na}

A form is a *respelling* (plain text the engine reads instead of the word) or *phonemes* in
``[[ ]]``, in the engine's own alphabet: espeak-ng's phoneme mnemonics for ``espeak`` (the
system voice, engine id ``pyttsx3``), IPA as espeak-ng writes it for ``piper``. Phonemes are
engine-specific, so they are only accepted under an engine's name; ``default`` is the form for
every engine not named. Matching (``player.speech.text.apply_lexicon``) is whole-word and
ignores case.

Checks raise ``ValueError`` with a one-line message; the script builder and the config
reader add where it happened. Cheap to import (``re`` and ``difflib`` only).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from player.format.model import Pronunciation
from player.speech.engines import ENGINE_ALIASES, ENGINES  # light: no engine is imported

# What an author may name -> the engine id it means ("" = every engine not named): the
# registry's ids and the names --voice takes for them, from the registry itself.
ENGINE_KEYS = {"default": "", **{name: name for name in ENGINES}, **ENGINE_ALIASES}
ENGINE_NAMES = ("default", "espeak", "piper", "pyttsx3")  # as documented (espeak-ng: an alias)
MAX_ENTRIES = 500
MAX_WORD_CHARS = 60
MAX_FORM_CHARS = 200

WORD_PATTERN = r"^[\w'’.-]+(?: [\w'’.-]+)*$"  # and at least one letter
_WORD_RE = re.compile(WORD_PATTERN)
_PHONEMES_RE = re.compile(r"\[\[([^\[\]]+)\]\]")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_word(word) -> str:
    """A lexicon key: a word or phrase of letters, digits, ``'``, ``-`` and ``.``."""
    if not isinstance(word, str) or not word.strip():
        raise ValueError("a word must not be empty")
    word = " ".join(word.split())
    if len(word) > MAX_WORD_CHARS:
        raise ValueError(f"a word is at most {MAX_WORD_CHARS} characters")
    if not _WORD_RE.match(word) or not any(ch.isalpha() for ch in word):
        raise ValueError("a word is letters, digits, ' - and . (spaces between words)")
    return word


def engine_key(name) -> str:
    """The engine id an entry's key names (``""`` for ``default``)."""
    if isinstance(name, str) and name in ENGINE_KEYS:
        return ENGINE_KEYS[name]
    close = difflib.get_close_matches(str(name), ENGINE_NAMES, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of: {', '.join(ENGINE_NAMES)})"
    raise ValueError(f"unknown engine {str(name)!r}{hint}")


def check_form(form, engine: str) -> str:
    """A respelling, or ``[[phonemes]]`` for a named engine."""
    if not isinstance(form, str):
        raise ValueError("must be a respelling or [[phonemes]] in quotes")
    if not form.strip():
        raise ValueError("must not be empty")
    if len(form) > MAX_FORM_CHARS:
        raise ValueError(f"too long ({len(form)} characters; at most {MAX_FORM_CHARS})")
    if _CONTROL_RE.search(form):
        raise ValueError("must be a single line without control characters")
    form = form.strip()
    if "[" in form or "]" in form:
        if not _PHONEMES_RE.fullmatch(form) or not form[2:-2].strip():
            raise ValueError("phonemes are written whole, like \"[[S@v'A:s@n@]]\"; a respelling "
                             "has no brackets")  # fmt: skip
        if not engine:
            raise ValueError("phonemes differ between engines: give them under the engine's "
                             "name, like {espeak: \"[[S@v'A:s@n@]]\"}")  # fmt: skip
        return "[[" + " ".join(form[2:-2].split()) + "]]"
    if not any(ch.isalnum() for ch in form):
        raise ValueError("a respelling needs letters to say")
    if "{" in form or "}" in form:
        raise ValueError("a respelling cannot hold { or }")
    return " ".join(form.split())


def entry(word, value) -> Pronunciation:
    """One entry from its word and value (a string, or a mapping of engine names to forms)."""
    try:
        word = check_word(word)
    except ValueError as exc:
        raise ValueError(f"{str(word)!r}: {exc}") from None
    if isinstance(value, str):
        try:
            return Pronunciation(word, (("", check_form(value, "")),))
        except ValueError as exc:
            raise ValueError(f"{word}: {exc}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{word!r}: must be a respelling, or a mapping of engines to forms "
                         "like {espeak: \"[[...]]\", piper: \"[[...]]\"}")  # fmt: skip
    if not value:
        raise ValueError(f"{word!r}: must name at least one engine")
    forms: dict[str, str] = {}
    named: dict[str, str] = {}
    for name, form in value.items():
        try:
            engine = engine_key(name)
            if engine in named:
                raise ValueError(f"{name!r} and {named[engine]!r} name the same engine")
            named[engine] = str(name)
            forms[engine] = check_form(form, engine)
        except ValueError as exc:
            raise ValueError(f"{word}.{name}: {exc}") from None
    return Pronunciation(word, tuple(sorted(forms.items())))


def entries(table) -> tuple[Pronunciation, ...]:
    """A whole lexicon (``{word: value}``), each word once whatever its case."""
    if not isinstance(table, Mapping):
        raise ValueError("must be a table of words, like metta = \"met-tah\"")
    if len(table) > MAX_ENTRIES:
        raise ValueError(f"too many words ({len(table)}; at most {MAX_ENTRIES})")
    out: dict[str, Pronunciation] = {}
    for word, value in table.items():
        found = entry(word, value)
        key = found.word.casefold()
        if key in out:
            raise ValueError(f"{word!r} is given twice (also as {out[key].word!r})")
        out[key] = found
    return tuple(out.values())


def merge(user: tuple[Pronunciation, ...], script: tuple[Pronunciation, ...]
          ) -> tuple[Pronunciation, ...]:  # fmt: skip
    """The user's entries with the script's over them: a script's entry replaces the user's
    entry for the same word (whatever the case) whole."""
    if not user:
        return script
    if not script:
        return user
    mine = {p.word.casefold() for p in script}
    return tuple(p for p in user if p.word.casefold() not in mine) + script
