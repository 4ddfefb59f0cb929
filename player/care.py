"""Care after a worrying rating: one rule for every place Haven asks how someone is.

Haven asks for 0-10 ratings in two places: the check-ins of a program (``haven today``) and
``haven play --checkin``. Whenever an answer suggests a hard time, the person is given the
crisis lines (the same words as ``haven --help``), a suggestion to talk to their clinician or
GP, and the offer of ``here-and-now``, a short eyes-open grounding practice. ``haven program
start`` shows a short version before a course begins, since people often start one at a low
moment.

The rule (``concerns``), per item, using the direction each item runs:

- ``mood`` and ``relationships``: low is hard. A rating of 0-2, or a fall of 4 or more since
  the last rating of the same item, is a concern.
- ``anxiety``: high is hard. A rating of 8-10, or a rise of 4 or more.
- ``urges`` (how often the urge to seek reassurance or to withdraw was acted on): high is the
  worrying direction, but a high level is where many people start and is the habit the course
  works on, not a sign of danger; so only a rise of 4 or more (more checking or withdrawing
  than before: an early warning sign in relapse-prevention plans) is a concern.

A skipped item (None) is never a concern, and a skip does not break a comparison: the change
is measured from the last rating that was given. This module imports nothing heavy: ``player.cli.app``
builds ``haven --help`` from ``CRISIS_LINES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

LOW_RATING = 2  # 0-2 is a concern where low is hard (8-10 where high is hard)
LARGE_CHANGE = 4  # a change of 4 or more in the hard direction since the last rating

CRISIS_LINES = (
    "If you are in crisis or thinking of harming yourself, contact your local emergency number "
    "now, or a crisis line (UK and Ireland: Samaritans 116 123; US: call or text 988; "
    "elsewhere: findahelpline.com)."
)
CLINICIAN = (
    "It may help to talk to your clinician or GP about how things have been; you do not have "
    "to wait for things to get worse to do that."
)
HERE_AND_NOW = (
    "If you would like something steadying now, 'haven play here-and-now' is three minutes of "
    "grounding with your eyes open."
)
START_NOTE = (
    "Before you begin: go at your own pace, and skip or stop anything that feels like too "
    "much. If things are hard at the moment, it may help to talk to your clinician or GP as "
    "well. " + CRISIS_LINES + " For any moment that feels like too much, 'haven play "
    "here-and-now' is three minutes of grounding, eyes open."
)


@dataclass(frozen=True)
class Item:
    """One 0-10 check-in item: ``worse`` is the direction that means things are harder."""

    key: str
    name: str  # as shown in reports and in the care note
    worse: str  # "low" or "high"
    level_counts: bool = True  # whether a rating in the hard end is a concern by itself

    def is_low_concern(self, rating: int) -> bool:
        if not self.level_counts:
            return False
        return rating <= LOW_RATING if self.worse == "low" else rating >= 10 - LOW_RATING

    def harder_by(self, rating: int, previous: int) -> int:
        """How far ``rating`` moved in the hard direction since ``previous`` (negative: easier)."""
        return previous - rating if self.worse == "low" else rating - previous


ITEMS: dict[str, Item] = {
    "mood": Item("mood", "mood", "low"),
    "anxiety": Item("anxiety", "anxiety", "high"),
    "relationships": Item("relationships", "relationships", "low"),
    "urges": Item("urges", "acting on urges", "high", level_counts=False),
}


@dataclass(frozen=True)
class Concern:
    """Why a rating asks for care: ``kind`` is "level" (e.g. mood 1) or "change" (down 5)."""

    item: str
    kind: str
    rating: int
    previous: int | None = None

    def describe(self) -> str:
        item = ITEMS[self.item]
        if self.kind == "level":
            return f"{item.name} {self.rating} of 10"
        direction = "down" if item.worse == "low" else "up"
        return f"{item.name} {direction} {abs(self.rating - (self.previous or 0))} since last time"


def concern(item: str, rating: int | None, previous: int | None = None) -> Concern | None:
    """The concern one answer raises (None: none, or the item was skipped). See the module doc."""
    spec = ITEMS[item]
    if rating is None:
        return None
    if spec.is_low_concern(rating):
        return Concern(item, "level", rating, previous)
    if previous is not None and spec.harder_by(rating, previous) >= LARGE_CHANGE:
        return Concern(item, "change", rating, previous)
    return None


def concerns(
    ratings: Mapping[str, int | None], previous: Mapping[str, int | None] | None = None
) -> list[Concern]:
    """Every concern in a set of answers, compared item by item with the previous ones."""
    previous = previous or {}
    found = (concern(key, ratings.get(key), previous.get(key)) for key in ITEMS if key in ratings)
    return [c for c in found if c is not None]


def care_note(found: list[Concern]) -> str | None:
    """The words shown after answers with concerns (None when there are none): a few short
    paragraphs separated by blank lines."""
    if not found:
        return None
    what = "; ".join(c.describe() for c in found)
    return "\n\n".join(
        (
            f"It sounds as if things are hard at the moment ({what}). Thank you for noting it.",
            CLINICIAN,
            CRISIS_LINES,
            HERE_AND_NOW,
        )
    )


def mood_care(mood: int | None, previous: int | None = None) -> str | None:
    """The care note for one mood rating (``haven play --checkin``: before, then after)."""
    return care_note(concerns({"mood": mood}, {"mood": previous}))
