"""The in-memory form of an exercise script: what the loader produces and the timeline reads.

Plain frozen dataclasses with no behaviour beyond small derived values, so every later stage
(timeline, rendering, display, export) can rely on the same validated shapes. Durations are
float seconds; the loader has already checked every range in the script format spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

# The one id pattern: exercises, programs, templates and tags (lower-case words, single hyphens).
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ID_RE = re.compile(ID_PATTERN)

CATEGORIES = ("breathing", "meditation", "body-scan", "self-compassion", "sleep", "relaxation")
ENDINGS = ("bell", "fade", "silence")
CUES = ("tones", "voice", "both", "none")
AMBIENT_SOUNDS = ("pink-noise", "brown-noise", "white-noise", "rain", "ocean", "stream")


@dataclass(frozen=True)
class Where:
    """A place in a script file, for errors raised after loading."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class Voice:
    """Voice settings; ``None`` means "the configured default"."""

    engine: str | None = None
    name: str | None = None
    rate: float = 1.0  # relative to the engine's normal speed
    volume: float = 1.0  # 0..1
    language: str | None = None  # the script's top-level ``language:`` (None: English)


@dataclass(frozen=True)
class ToneSettings:
    """How breathing tones sound. Levels are dB relative to the voice."""

    level_db: float = -12.0
    low_hz: float = 196.0  # pitch at the bottom of the breath (G3)
    high_hz: float = 294.0  # pitch at the top of the breath (D4)
    hold: str = "steady"  # "steady": keep sounding through holds; "rest": fall silent


@dataclass(frozen=True)
class AmbientSettings:
    """The background bed. ``sound=None`` means no bed. Level is dB relative to the voice."""

    sound: str | None = None
    level_db: float = -24.0


@dataclass(frozen=True)
class Levels:
    """The listener's level of each kind of sound, in dB added to Haven's mix (0: as made).

    The session's loudness target still holds: the session gain is planned with them.
    """

    voice_db: float = 0.0
    tones_db: float = 0.0
    bells_db: float = 0.0
    bed_db: float = 0.0

    def amp(self, kind: str) -> float:
        return 10.0 ** (getattr(self, f"{kind}_db") / 20.0)


LEVEL_KINDS = ("voice", "tones", "bells", "bed")
LEVEL_RANGE_DB = (-30.0, 12.0)


@dataclass(frozen=True)
class Pattern:
    """A breathing pattern in seconds per phase.

    ``inhale2`` is a second, top-up inhale straight after the first (the physiological sigh);
    zero-length phases are skipped.
    """

    inhale: float
    hold: float = 0.0
    exhale: float = 0.0
    hold_out: float = 0.0
    inhale2: float = 0.0
    name: str | None = None

    @property
    def cycle_s(self) -> float:
        return self.inhale + self.inhale2 + self.hold + self.exhale + self.hold_out

    def phases(self) -> tuple[tuple[str, float], ...]:
        """Non-empty phases in order: ("inhale"|"inhale2"|"hold"|"exhale"|"hold_out", seconds)."""
        order = (
            ("inhale", self.inhale),
            ("inhale2", self.inhale2),
            ("hold", self.hold),
            ("exhale", self.exhale),
            ("hold_out", self.hold_out),
        )
        return tuple((k, s) for k, s in order if s > 0)

    def label(self) -> str:
        if self.name:
            return self.name
        nums = [self.inhale + self.inhale2, self.hold, self.exhale] + (
            [self.hold_out] if self.hold_out else []
        )
        if not self.hold and not self.hold_out:  # 4-6 as it was written, not 4-0-6
            nums = [self.inhale + self.inhale2, self.exhale]
        return "-".join(f"{n:g}" for n in nums)


@dataclass(frozen=True)
class Say:
    text: str  # params already substituted, braces unescaped
    after: float | None = None  # elastic silence after the speech
    rate: float | None = None  # overrides the script voice's rate
    volume: float | None = None
    where: Where = field(default_factory=Where, compare=False)


@dataclass(frozen=True)
class Pause:
    seconds: float
    fixed: bool = False
    where: Where = field(default_factory=Where, compare=False)


# Phases a line spoken over a breathing pacer can be placed at (``at: "cycle 3 out"``):
# the pattern's own names, and the words the voice cues use.
PHASE_WORDS = {
    "inhale": "inhale", "in": "inhale", "inhale2": "inhale2", "hold": "hold",
    "exhale": "exhale", "out": "exhale", "hold_out": "hold_out", "hold-out": "hold_out",
}  # fmt: skip


@dataclass(frozen=True)
class BreatheLine:
    """A line spoken over a running pacer, starting exactly where a phase of a cycle starts.

    ``cycle`` counts from 1; ``phase`` None means the cycle's first phase.
    """

    cycle: int
    text: str  # params already substituted
    phase: str | None = None  # inhale | inhale2 | hold | exhale | hold_out
    where: Where = field(default_factory=Where, compare=False)

    @property
    def at(self) -> str:
        return f"cycle {self.cycle}" + (f" {self.phase}" if self.phase else "")


@dataclass(frozen=True)
class Breathe:
    pattern: Pattern
    cycles: int | None = None  # exactly one of cycles / for_s is set
    for_s: float | None = None  # elastic; rounded to whole cycles
    cues: str = "tones"
    ramp_to: Pattern | None = None
    tones: ToneSettings | None = None  # step override of the script's tone settings
    say: tuple[BreatheLine, ...] = ()  # lines spoken over the pacer, in order
    where: Where = field(default_factory=Where, compare=False)


@dataclass(frozen=True)
class Bell:
    strikes: int = 1
    gap: float = 4.0
    sound: str | None = None  # a bell sound's name or a file path; None: Haven's bowl
    where: Where = field(default_factory=Where, compare=False)


@dataclass(frozen=True)
class Section:
    title: str
    where: Where = field(default_factory=Where, compare=False)


@dataclass(frozen=True)
class Repeat:
    count: int
    steps: tuple["Step", ...]
    where: Where = field(default_factory=Where, compare=False)


@dataclass(frozen=True)
class AmbientChange:
    sound: str | None  # None = silence the bed
    level_db: float | None = None  # None = keep the current level
    where: Where = field(default_factory=Where, compare=False)


Step = Union[Say, Pause, Breathe, Bell, Section, Repeat, AmbientChange]


@dataclass(frozen=True)
class Pronunciation:
    """How to say one word (or phrase): a respelling or ``[[phonemes]]`` for each engine.

    ``forms`` pairs an engine id (``player.speech.engines.ENGINES``) with its form; the engine
    ``""`` is every engine without a form of its own. Matching is whole-word and ignores case.
    """

    word: str
    forms: tuple[tuple[str, str], ...]

    def form(self, engine: str) -> str | None:
        found = dict(self.forms)
        return found.get(engine, found.get(""))


@dataclass(frozen=True)
class Param:
    default: str | None = None
    help: str | None = None


@dataclass(frozen=True)
class Script:
    id: str
    title: str
    steps: tuple[Step, ...]
    summary: str = ""
    credit: str = ""  # where the practice comes from (a tradition or technique), never its wording
    category: str | None = None
    tags: tuple[str, ...] = ()
    voice: Voice = field(default_factory=Voice)
    tones: ToneSettings = field(default_factory=ToneSettings)
    ambient: AmbientSettings = field(default_factory=AmbientSettings)
    ending: str = "bell"
    params: dict[str, Param] = field(default_factory=dict, compare=False)
    param_values: dict[str, str] = field(default_factory=dict, compare=False)
    version: int = 1
    path: str | None = None
    lexicon: tuple[Pronunciation, ...] = ()  # the script's own; the user's are in Overrides
