"""Speech synthesis: text -> finished, cached clips at the session's sample rate.

Public API: :class:`ClipRequest`, :class:`Clip`, :class:`VoiceInfo`, :func:`synthesize`,
:func:`split_sentences`, :func:`list_voices`, :func:`default_engine`,
:func:`engine_versions`, :func:`check_engine`, :func:`cache_info`, :func:`cache_clear`.

Importing this package is cheap (no numpy, no engine): heavy modules load inside the
functions that need them. Engines run in worker processes only (``workers``); clips are
trimmed to a 20 ms margin, resampled with soxr VHQ and given 3 ms raised-cosine edges
(``dsp``), and cached by content (``cache``).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Callable, Sequence

from player.errors import NotFoundError, SpeechError
from player.speech.clips import Clip, ClipRequest, VoiceInfo
from player.speech.text import split_sentences

if TYPE_CHECKING:  # pragma: no cover
    from player.speech.engines import SpeechEngine

__all__ = [
    "Clip",
    "ClipRequest",
    "VoiceInfo",
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


def synthesize(
    requests: Sequence[ClipRequest],
    *,
    sample_rate: int = 48000,
    jobs: int | None = None,
    timeout_s: float = 20.0,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Clip]:
    """Make one clip per request, in request order.

    Identical requests are made once (and share the Clip). Cached clips are verified and
    loaded without starting any worker; the rest are synthesized in up to ``jobs`` worker
    processes (default ``min(2, CPUs)``), each clip within ``timeout_s`` (one retry in a fresh
    worker, then ``SpeechError``). ``notify`` gets one-line notices (an engine or voice that
    is not installed and was replaced by the default), each at most once per call.
    ``progress(done, total)`` counts distinct clips, cached ones included.
    """
    import numpy as np

    from player.speech import cache
    from player.speech.engines import select_engine
    from player.speech.workers import Task, TaskResult, WorkerPool

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

    engines: dict[str | None, tuple[str, type[SpeechEngine], str]] = {}
    keys: list[str] = []
    unique: dict[str, tuple[ClipRequest, str, type[SpeechEngine]]] = {}
    for request in requests:
        _check_request(request)
        if request.engine not in engines:
            engine_id, engine_cls, notice = select_engine(request.engine)
            tell(notice)
            engines[request.engine] = (engine_id, engine_cls, engine_cls.version())
        engine_id, engine_cls, version = engines[request.engine]
        key = cache.make_key(
            text=request.text,
            engine=engine_id,
            engine_version=version,
            voice=request.voice,
            rate=request.rate,
            volume=request.volume,
            sample_rate=sample_rate,
        )
        keys.append(key)
        unique.setdefault(key, (request, engine_id, engine_cls))

    clips: dict[str, Clip] = {}
    total = len(unique)

    def finish(key: str, samples: np.ndarray) -> None:
        samples.flags.writeable = False
        clips[key] = Clip(key=key, text=unique[key][0].text, samples=samples,
                          sample_rate=sample_rate)
        if progress is not None:
            progress(len(clips), total)

    misses: dict[str, dict[str, Task]] = {}
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
        misses.setdefault(engine_id, {})[key] = Task(
            text=request.text,
            voice=request.voice,
            rate=float(request.rate),
            volume=float(request.volume),
            sample_rate=sample_rate,
        )

    cache_failed = False

    def made(key: str, result: TaskResult) -> None:
        nonlocal cache_failed
        request, engine_id, _cls = unique[key]
        tell(result.notice)
        try:
            cache.store(
                key,
                result.samples,
                sample_rate=sample_rate,
                notice=result.notice,
                request={
                    "text": request.text,
                    "engine": engine_id,
                    "engine_version": engines[request.engine][2],
                    "voice": request.voice,
                    "rate": request.rate,
                    "volume": request.volume,
                },
            )
        except OSError as exc:
            if not cache_failed:
                cache_failed = True
                tell(f"could not save speech to the cache ({exc.strerror or exc}); continuing")
        finish(key, result.samples)

    for engine_id, tasks in misses.items():
        engine_cls = unique[next(iter(tasks))][2]
        with WorkerPool(engine_id, jobs=min(jobs, len(tasks)), timeout_s=timeout_s,
                        fix_for=engine_cls.fix_for) as pool:
            pool.run(tasks, made)

    return [clips[key] for key in keys]


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
    """``{"entries", "bytes", "folder"}`` of the speech cache."""
    from player.speech import cache

    return cache.cache_info()


def cache_clear() -> tuple[int, int]:
    """Delete all cached clips; ``(files, bytes)`` removed."""
    from player.speech import cache

    return cache.cache_clear()
