"""A session that starts playing before its speech is synthesized.

``render.prepare_script`` synthesizes every clip, then compiles the timeline. Playback cannot
wait for that: a long script on a cold cache takes seconds. A :class:`StreamingSession`
instead

1. plans the session gain at once from the *plan timeline* (clip lengths estimated from the
   text, ``render.plan_timeline``), exactly as a file render does, so playing and rendering
   give identical samples (see ``player.audio.mixer``);
2. synthesizes (or loads from the cache) the clips in a background thread through the same
   ``render.synthesize_speech`` a file render uses (cached clips first, then the missing ones
   in script order, handed over one by one), normalizing each as it arrives;
3. recompiles the timeline as clips arrive. Unknown clips are compiled with length 0. An
   event's position depends only on the clips *before* it, so everything before the first
   event whose clip is still missing (the *frontier*) is final: the same positions, the same
   audio as the finished session. Effects tied to the end of the session (closing fades,
   the bedtime fade, a bed's last fade-out) can only move later as clips arrive, so taking
   them from the length-0 compile gives a safe bound too. ``ready_until`` is the smaller of
   the two: the mixer of the current compile renders ``[0, ready_until)`` exactly as the
   final mixer will.

Memory: a session keeps every clip for its whole length, so a clip is kept as the speech
cache keeps it, 16-bit steps and their scale (:class:`PackedClip`, half of float32), and
turned into float32 a block at a time, giving exactly the samples a render mixes.

The player only ever asks for blocks below ``ready_until`` (or anything once ``complete``);
if synthesis falls behind it holds silence instead of guessing. With ``--minutes`` every
clip's length takes part in fitting, so nothing is final before all clips are there: the
session then waits for synthesis before its first block (``needs_all``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from player.format import model
from player.audio.timeline import (
    AMBIENT_FADE_S,
    SpeechRequest,
    Timeline,
    compile_timeline,
    estimate_clip_length,
    speech_requests,
)

# Recompile at most this often while clips stream in (a compile is a few milliseconds of
# pure Python; the player is told the moment it is starving, which bypasses the limit).
REBUILD_INTERVAL_S = 0.25


class _Cancelled(Exception):
    pass


class PackedClip:
    """A normalized clip held as 16-bit steps, their float32 scale and the clip's float32 gain.

    A slice is float32 ``steps * scale * gain``, computed as the speech cache decodes a clip
    (``steps * scale``) and ``mixer.normalize_clip`` then scales it (``* gain``): the same two
    float32 multiplications per sample, so exactly the samples of the float32 clip, in half
    its memory. ``len`` and slicing are all the mixer asks of a clip.
    """

    __slots__ = ("steps", "scale", "gain")

    def __init__(self, steps, scale, gain):
        self.steps, self.scale, self.gain = steps, scale, gain

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: slice):
        out = self.steps[index].astype(self.scale.dtype)
        out *= self.scale
        out *= self.gain
        return out

    def __array__(self, dtype=None, copy=None):
        """The whole clip as float32 (``np.asarray(clip)``), e.g. to measure it."""
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def stored_clip_gain(samples, rate: int, volume: float) -> float:
    """``mixer.clip_gain``, kept on disk (``player.audio.memo``) by the clip's content.

    Measuring a clip K-weights it through an FFT of up to 2^20 points: ~20 MB of buffers at
    once and most of the CPU of loading a cached session. The value stored is the very float
    ``clip_gain`` returned for these samples, so a session mixes the same samples whether the
    gain was measured now or read back.
    """
    import hashlib

    import numpy as np

    from player.audio import memo
    from player.audio.mixer import clip_gain

    x = np.ascontiguousarray(samples)
    if not x.size or volume <= 0:
        return clip_gain(x, rate, volume)
    key = (hashlib.sha256(x).hexdigest(), x.dtype.str, x.shape, int(rate), float(volume))
    return float(memo.cached_array("clip-gain", key, lambda: [clip_gain(x, rate, volume)])[0])


def prepared_clip(samples, rate: int, volume: float):
    """A synthesized clip as the mixer takes it: normalized with its stored gain
    (:func:`stored_clip_gain`), held as 16-bit steps (:class:`PackedClip`) when it is made
    of them, else as float32. Playback and rendering both prepare clips here, so they mix
    the same samples."""
    from player.audio.mixer import normalize_clip

    gain = stored_clip_gain(samples, rate, volume)
    packed = pack_clip(samples, gain)
    return packed if packed is not None else normalize_clip(samples, rate, volume, gain)


def pack_clip(samples, gain: float) -> "PackedClip | None":
    """``samples`` (float32, as the speech cache decodes them) times ``gain`` as a
    :class:`PackedClip`, or None when they are not exactly 16-bit steps of one scale (then
    the caller keeps float32). Checked sample by sample, so a packed clip never differs."""
    import numpy as np

    x = np.asarray(samples)
    if x.dtype != np.float32 or x.ndim != 1 or not x.size:
        return None
    peak = float(np.max(np.abs(x)))
    if not (np.isfinite(peak) and peak > 0.0):
        return None
    guess = np.float32(peak / 32767.0)  # the cache scales a clip's peak to step 32767
    buf = np.empty_like(x)  # one float32 work buffer (clips arrive while audio plays)
    for scale in (guess, np.nextafter(guess, np.float32(0)), np.nextafter(guess, np.float32(1))):
        np.divide(x, scale, out=buf)
        np.rint(buf, out=buf)
        if float(np.max(np.abs(buf))) > 32767.0:
            continue
        steps = buf.astype(np.int16)
        np.copyto(buf, steps)  # exact: every int16 is a float32
        buf *= scale  # the cache's decoding, ``steps.astype(float32) * scale``
        if np.array_equal(buf, x):
            steps.setflags(write=False)
            return PackedClip(steps, scale, np.float32(gain))
    return None


@dataclass(frozen=True)
class _State:
    """One consistent view of the session, swapped atomically as clips arrive."""

    timeline: Timeline | None  # compiled with unknown clips at length 0 (None: not yet)
    display: Timeline  # unknown clips at their estimated length: for the display
    mixer: object | None
    ready_until: int
    complete: bool


# glibc's malloc serves a request at or above this from its own mapping, returned to the
# system when freed. By default the threshold follows the largest block freed (up to 32 MB),
# so after preparing a session (FFT buffers of several MB) every clip and temporary lands in
# the heap, whose freed holes are never given back: measured, a played session kept ~25 MB
# more resident than it used. Fixing the threshold at its initial value keeps the heap to
# small objects (the player's per-block buffers, ~16-64 kB, stay there: no system calls).
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # malloc.h


def keep_heap_small() -> bool:
    """Fix glibc's mmap threshold (see ``MMAP_THRESHOLD``); False where there is no glibc."""
    import ctypes  # sounddevice imports it too

    try:
        # The process's own symbols: libc's where it has mallopt (no ``find_library``, which
        # runs ``ldconfig``, on the way to the first audio).
        return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to do
        return False


class StreamingSession:
    """A session whose audio is final up to ``ready_until`` and grows as speech arrives.

    Has ``rate``, ``channels``, ``length`` and ``render(start, n)`` like a Mixer, so
    ``blocks(block, start=...)`` gives the limited stream (``mixer.limited_blocks``).
    """

    open_ended = False  # an open-ended timer (set by playback.play): the display counts up

    def __init__(
        self,
        script: model.Script,
        settings,
        *,
        notify: Callable[[str], None] | None = None,
        prepare: bool = True,
    ):
        import numpy as np

        from player.audio.render import plan_timeline

        keep_heap_small()
        self.script = script
        self.settings = settings
        self.rate = settings.sample_rate
        self.channels = settings.channels
        self.notify = notify
        self.requests: list[SpeechRequest] = speech_requests(script, settings.overrides)
        self.plan_timeline = plan_timeline(script, settings)
        self.plan = None  # the loudness plan: see prepare()
        self._prepared = threading.Event()
        self.needs_all = settings.minutes is not None and bool(self.requests)
        self.error: BaseException | None = None
        self.starving = False  # set by the player when it waits for speech
        self.synthesized = 0
        self._clips: dict[SpeechRequest, PackedClip | np.ndarray] = {}
        self._empty = np.zeros(0, dtype=np.float32)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_rebuild = -1e9
        self._built_prefix = -1
        self._build_lock = threading.Lock()  # never taken by the audio callback
        self._state: _State = _State(None, self.plan_timeline, None, 0, False)
        if prepare:
            self.prepare()

    def prepare(self) -> "StreamingSession":
        """Plan the session's loudness and build its first mixer.

        On a first run this is the costly part before any sound: the breathing tones' and
        the bell's loudness models and a bed's seamless loop are computed (~0.1-0.4 s each)
        and kept on disk for later runs. The player calls it after :meth:`start`, so it runs
        while the first clip is being synthesized rather than before (issue 12: what is
        memoised on first use must not delay the first sound); clips that arrive meanwhile
        wait for it. A failure stops the synthesis and is raised here.
        """
        if self._prepared.is_set():
            return self
        from player.audio.mixer import plan_loudness

        try:
            self.plan = plan_loudness(
                self.plan_timeline, channels=self.channels, target_lufs=self.settings.target_lufs
            )
            with self._build_lock:
                self._state = self._build()
        except BaseException:
            self.close(timeout=0.5)
            raise
        self._prepared.set()
        return self

    def _wait_prepared(self) -> None:
        """Block the synthesis thread until :meth:`prepare` is done (or the session closed)."""
        while not self._prepared.wait(0.05):
            if self._cancel.is_set():
                raise _Cancelled

    # --- the source interface the player and limited_blocks use ------------------------

    @property
    def length(self) -> int:
        state = self._state
        return state.timeline.length if state.timeline is not None else 0

    @property
    def ready_until(self) -> int:
        return self._state.ready_until

    @property
    def complete(self) -> bool:
        return self._state.complete

    @property
    def timeline(self) -> Timeline:
        """The best current timeline for showing: final when complete, else estimated."""
        return self._state.display

    @property
    def mixer(self):
        return self._state.mixer

    @property
    def levels(self):
        return self.settings.overrides.levels

    def set_levels(self, levels) -> None:
        """Mix with other levels (voice, tones, bells, bed) from now on; the session gain is
        planned again with them, so the loudness target still holds."""
        import dataclasses

        from player.audio.mixer import plan_loudness
        from player.audio.render import plan_timeline

        with self._build_lock:
            overrides = dataclasses.replace(self.settings.overrides, levels=levels)
            self.settings = dataclasses.replace(self.settings, overrides=overrides)
            self.plan_timeline = plan_timeline(self.script, self.settings)
            self.plan = plan_loudness(
                self.plan_timeline, channels=self.channels, target_lufs=self.settings.target_lufs
            )
            self._state = self._build()

    def final_position(self, position: int) -> bool:
        """Whether ``position`` (e.g. a chapter start) can no longer move."""
        state = self._state
        return state.complete or position < state.ready_until

    def render(self, start: int, n: int):
        return self._state.mixer.render(start, n)

    def blocks(self, block: int, *, start: int = 0):
        from player.audio.mixer import limited_blocks

        return limited_blocks(self, block, start=start)

    def limited(self, *, start: int = 0):
        """The limited stream read in pieces of any size (``mixer.LimitedStream``): what the
        player reads ahead, chunk by chunk."""
        from player.audio.mixer import LimitedStream

        return LimitedStream(self, start=start)

    # --- synthesis ---------------------------------------------------------------------

    def start(self) -> "StreamingSession":
        """Begin loading and synthesizing speech in the background."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._synthesize_all, name="haven-speech", daemon=True
            )
            self._thread.start()
        return self

    def prepare_all(self) -> "StreamingSession":
        """Synthesize everything now, in this thread (tests, benchmarks, rendering)."""
        self._synthesize_all()
        if self.error is not None:
            raise self.error
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop synthesizing (worker processes are ended); safe to call more than once."""
        self._cancel.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def add_clip(self, request: SpeechRequest, samples) -> None:
        """Take one synthesized clip (any order); rebuilds when the final part grows."""
        if self._cancel.is_set():
            raise _Cancelled
        if request in self._clips:
            return
        clip = prepared_clip(samples, self.rate, request.volume)  # needs no plan: meanwhile
        self._wait_prepared()
        self._clips[request] = clip
        self.synthesized = len(self._clips)
        prefix = self._known_prefix()
        if prefix == self._built_prefix and not self._all_known():
            return
        now = time.monotonic()
        if self._all_known() or self.starving or now - self._last_rebuild >= REBUILD_INTERVAL_S:
            self.refresh()

    def refresh(self) -> None:
        """Recompile if clips arrived since the last compile (the player calls this when it
        is waiting for speech)."""
        with self._build_lock:
            if self._known_prefix() != self._built_prefix or (
                self._all_known() and not self._state.complete
            ):
                self._state = self._build()

    def _all_known(self) -> bool:
        return len(self._clips) >= len(self.requests)

    def _known_prefix(self) -> int:
        """How many requests, in order of first use, are known."""
        for i, request in enumerate(self.requests):
            if request not in self._clips:
                return i
        return len(self.requests)

    def _synthesize_all(self) -> None:
        from player.audio.render import synthesize_speech

        try:
            if self._cancel.is_set():
                raise _Cancelled
            # The same path as a file render (voice settings, engine fallback, cache keys):
            # clips are handed over as they exist, cached ones first, the rest in order.
            synthesize_speech(
                self.requests, self.settings, notify=self.notify, on_clip=self.add_clip
            )
        except _Cancelled:
            return
        except BaseException as exc:  # noqa: BLE001 - reported to the player's thread
            self.error = exc
            return
        try:
            self._wait_prepared()
        except _Cancelled:
            return
        self.refresh()

    # --- compiling ---------------------------------------------------------------------

    def _build(self) -> _State:
        from player.audio.mixer import Mixer

        self._last_rebuild = time.monotonic()
        self._built_prefix = self._known_prefix()
        known = dict(self._clips)  # a snapshot: the synthesis thread keeps adding
        complete = len(known) >= len(self.requests)
        settings = self.settings
        overrides = settings.overrides
        rate = self.rate

        if self.needs_all and not complete:
            return _State(None, self.plan_timeline, None, 0, False)

        def low(request: SpeechRequest) -> int:
            clip = known.get(request)
            return len(clip) if clip is not None else 0

        timeline = compile_timeline(
            self.script, low, rate=rate, minutes=settings.minutes, overrides=overrides
        )
        clips = {r: known.get(r, self._empty) for r in self.requests}
        mixer = Mixer(
            timeline,
            clips,
            target_lufs=settings.target_lufs,
            channels=self.channels,
            plan=self.plan,
            normalized=True,
        )
        if complete:
            return _State(timeline, timeline, mixer, timeline.length, True)

        frontier = min(
            (ev.start for ev in timeline.speech if ev.request not in known),
            default=timeline.length,
        )
        ready = min(frontier, end_effects_start(timeline))

        def estimated(request: SpeechRequest) -> int:
            clip = known.get(request)
            return len(clip) if clip is not None else estimate_clip_length(request, rate)

        display = compile_timeline(
            self.script, estimated, rate=rate, minutes=settings.minutes, overrides=overrides
        )
        return _State(timeline, display, mixer, max(0, ready), False)


def end_effects_start(timeline: Timeline) -> int:
    """The earliest sample touched by anything tied to the end of ``timeline``.

    Closing fade, the last bed's fade-out, the bedtime fade and the closing bell all sit at
    or after it, and all move later (never earlier) as unknown clips get their real length.
    """
    rate = timeline.rate
    length = timeline.length
    bed_out = max(int(round(AMBIENT_FADE_S * rate)), timeline.bed_fade_out)
    points = [length - rate, length - bed_out]  # a second's margin for the limiter look-ahead
    if timeline.fade_out:
        points.append(length - timeline.fade_out)
    if timeline.sleep_fade is not None:
        points.append(timeline.sleep_fade[0])
    for bell in timeline.bells:
        if bell.closing:
            points.append(bell.strikes[0])
    return max(0, min(points))

