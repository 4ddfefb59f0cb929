"""The light value types of speech synthesis: what callers ask for and what they get back.

Kept free of numpy and engine imports so the CLI and the script loader can build requests
cheaply; ``Clip.samples`` is a numpy array, but only the annotation names it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np


@dataclass(frozen=True)
class ClipRequest:
    """One piece of speech to synthesize (normally one sentence).

    ``engine=None`` means the default engine; ``voice=None`` the engine's default voice.
    ``rate`` is relative (1.0 = the engine's normal, calm speed); ``volume`` is 0..1.
    ``lexicon``: pronunciations (``player.format.model.Pronunciation``) for words of the text,
    applied for the engine that speaks it (``player.speech.text.apply_lexicon``).
    """

    text: str
    engine: str | None = None
    voice: str | None = None
    rate: float = 1.0
    volume: float = 1.0
    lexicon: tuple = ()
    # A script's ``language:`` (BCP 47, e.g. "de-AT"): with no voice named, the voice is one
    # of this language (``player.speech.choose_voice``); None is English, the built-ins' own.
    language: str | None = None


@dataclass(frozen=True, eq=False)
class Clip:
    """Synthesized speech: float32 mono samples at ``sample_rate``, read-only.

    Identical requests share one Clip, so the array is made read-only to keep one caller's
    in-place edit from changing another's audio. ``eq=False`` because comparing arrays with
    ``==`` is elementwise, not a truth value. ``key`` is the cache key (sha256 hex).
    """

    key: str
    text: str
    samples: "np.ndarray"
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers; ``id`` is what ``ClipRequest.voice`` takes."""

    id: str
    name: str
    languages: tuple[str, ...] = field(default_factory=tuple)
    engine: str = ""
    installed: bool = True
    gender: str | None = None
