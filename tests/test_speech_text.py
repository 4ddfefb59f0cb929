"""Sentence splitting: one clip per sentence, never an empty piece, never a lost word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player.speech import split_sentences
from player.speech.text import ABBREVIATIONS


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Breathe in. Breathe out.", ["Breathe in.", "Breathe out."]),
        ("Rest here! Notice. Why not?", ["Rest here!", "Notice.", "Why not?"]),
        ("Dr. Lee says hello. Mr. Ng agrees.", ["Dr. Lee says hello.", "Mr. Ng agrees."]),
        ("Use a prop, e.g. a cushion. Then sit.", ["Use a prop, e.g. a cushion.", "Then sit."]),
        ("Use a prop (i.e. a cushion). Then sit.", ["Use a prop (i.e. a cushion).", "Then sit."]),
        ("Breathe for 2.5 seconds. Then rest.", ["Breathe for 2.5 seconds.", "Then rest."]),
        ("Breathe in... and out.", ["Breathe in... and out."]),
        ("Breathe in... Now out.", ["Breathe in...", "Now out."]),
        ("Breathe in… Now out.", ["Breathe in…", "Now out."]),
        ("Let it go… slowly.", ["Let it go… slowly."]),
        ('She said "rest." Then she smiled.', ['She said "rest."', "Then she smiled."]),
        ("(Pause here.) Continue.", ["(Pause here.)", "Continue."]),
        ("J. R. Tolkien wrote it. Yes.", ["J. R. Tolkien wrote it.", "Yes."]),
        ("Bills, errands, etc. Let them be.", ["Bills, errands, etc.", "Let them be."]),
        ("Soften; release: rest.", ["Soften; release: rest."]),
        ("Breathe in\nBreathe out", ["Breathe in", "Breathe out"]),
        ("Let your attention rest\non the breath.", ["Let your attention rest on the breath."]),
        ("first part\n\nsecond part", ["first part", "second part"]),
        ("  Spaces   inside   collapse.  ", ["Spaces inside collapse."]),
        ("... Begin.", ["... Begin."]),
        ("Begin. ...", ["Begin. ..."]),
        ("Wait?! Yes.", ["Wait?!", "Yes."]),
        ("Version 1.2.3 is out. Good.", ["Version 1.2.3 is out.", "Good."]),
        ("...", ["..."]),
        ("", []),
        ("   \n\t ", []),
    ],
)
def test_examples(text, expected):
    assert split_sentences(text) == expected


def test_one_sentence_is_returned_unchanged():
    assert split_sentences("Find a position that lets you be both relaxed and awake.") == [
        "Find a position that lets you be both relaxed and awake."
    ]


_alphabet = st.sampled_from(
    list("abcAB .!?…;,:\n\t\"')(") + ["e.g.", "Dr.", "2.5", "...", "  ", "\n\n", "é", "Ω"]
)
texts = st.lists(_alphabet, max_size=60).map("".join) | st.text(max_size=200)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_never_empty_and_never_loses_a_word(text):
    pieces = split_sentences(text)
    assert all(p and p == p.strip() for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(" ".join(p.split()) == p for p in pieces)  # whitespace collapsed


@settings(max_examples=200, deadline=None)
@given(texts)
def test_every_piece_has_something_to_say_unless_nothing_does(text):
    pieces = split_sentences(text)
    if any(ch.isalnum() for ch in text):
        assert all(any(ch.isalnum() for ch in p) for p in pieces)
    else:
        assert len(pieces) <= 1


_sentence = st.from_regex(r"[A-Z][a-z]{1,8}( [a-z]{1,8}){0,5}[.!?]", fullmatch=True).filter(
    lambda s: s.split()[-1].rstrip(".!?").lower() not in ABBREVIATIONS
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_sentence, min_size=1, max_size=6))
def test_plain_sentences_split_exactly(sentences):
    assert split_sentences(" ".join(sentences)) == sentences
