"""Real-time playback: a producer thread, a ring of prepared blocks, and a callback that copies.

The audio path::

    StreamingSession.blocks()  ->  producer thread  ->  Ring (bounded, preallocated)  ->  callback

- The **producer** reads the limited session (``mixer.LimitedStream``, the same stream a file
  render writes) in chunks of up to ``CHUNK`` frames and copies them into free ring slots. It
  only asks for audio that is final (``source.ready_until``); when speech synthesis falls
  behind it fades the last block out over one block, writes *hold* slots of silence, and fades
  back in when the speech is there: no glitch, the display says it is waiting. Between
  refills it sleeps: once the ring is full it waits until the ring has drained to half
  (``RING_S`` / 2 of audio still ahead) or a control wakes it, so it runs a few times a
  second, not once a block.
- The **ring** holds ``ring_blocks`` slots of ``block`` frames (``RING_S`` of audio),
  allocated once and pre-filled before the stream starts. Each slot carries its kind (audio,
  hold, end), the session position of its first frame and a generation number (bumped by
  every seek).
- The **callback** copies slots into PortAudio's buffer. It takes no locks (but for waking the
  resting producer once a refill, ``Event.set``), does no I/O, makes
  no arrays (it multiplies in place with preallocated curves), and counts everything it
  plays: session frames delivered (practiced time is counted from these, never from wall
  time), silence inserted because the ring ran empty (underflows), paused silence. It does
  the short fades itself, so controls act within one buffer: pause/resume, seek and stop fade
  over ``FADE_S`` (50 ms) with a raised cosine; after the stop fade it raises ``CallbackStop``.

How soon a control is heard: the next callback takes it up (at most one block period away)
and that buffer is heard after the device's output latency (PortAudio's ALSA backend keeps
two periods queued). ``control_latency_s`` is that sum; with keys to press (``BLOCK``, 1024
frames) it is 64 ms, within the ``CONTROL_LATENCY_S`` (100 ms) a pause or a volume step may
take. Without a terminal no key can be pressed, so ``haven play`` then asks for
``RELAXED_BLOCK`` (8192 frames): an eighth of the device wake-ups, which are most of what
playing costs (a stop by a signal is then heard within about half a second).

Pause keeps the position: the fade-out plays (and counts) the next ``FADE_S`` of the session,
silence follows, and resume fades the following frames in. So a pause inserts exactly the
fade-out, the silence and the fade-in, and nothing of the session is skipped or repeated.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from player.audio import devices
from player.errors import AudioDeviceError, HavenError

BLOCK = 1024  # frames per callback (21 ms at 48 kHz): keys must be heard within 100 ms
RELAXED_BLOCK = 8192  # frames per callback when no key can be pressed (171 ms at 48 kHz)
CONTROL_LATENCY_S = 0.1  # a pause or volume step is heard within this (control_latency_s)
RING_S = 2.0  # audio prepared ahead of the playhead; refilled when half of it is left
CHUNK = 8192  # frames the producer renders at a time (mixing and limiting per call)
LOW_WATER = 4  # blocks left in the ring before a late speech clip makes the producer hold
FADE_S = 0.05  # pause, resume, seek and stop fades
STALL_S = 3.0  # no callback for this long while playing: the device is gone
MAX_EVENTS = 4096
MIN_VOLUME_DB = -36.0
PREFILL_PATIENCE_S = 0.25  # start with a part-filled ring when speech is this slow to come
PREVIOUS_GRACE_S = 3.0  # `p` this soon after a section starts goes to the one before

# Ring slot kinds.
AUDIO, HOLD, END = 0, 1, 2
# Callback modes.
PLAY, FADE_OUT, SILENT, FADE_IN, DONE = range(5)
# Event codes in the callback's log: (code, device frame, session position, frames).
EVENTS = {
    1: "fade-out",  # a pause, seek or stop fade begins
    2: "paused",  # the pause fade is over; silence follows
    3: "fade-in",  # resuming (or after a seek)
    4: "playing",  # the fade-in is over
    5: "seeked",  # now playing the new position's blocks
    6: "stopped",  # the stop fade is over
    7: "end",  # the session's last frame was played
    8: "underflow",  # the ring ran empty: `frames` of silence inserted (one dropout)
}
_EV = {name: code for code, name in EVENTS.items()}


def fade_curve(n: int):
    """The rising raised cosine used for every fade: ``0.5 - 0.5 cos(pi (i + 1/2) / n)``,
    float32, shape (n, 1). Falling fades use it reversed."""
    import numpy as np

    i = np.arange(n, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / n)).astype(np.float32)[:, None]


class CallbackStop(Exception):
    """Ends a stream after this buffer (sounddevice's own class is used with a real device)."""


class CallbackAbort(Exception):
    """Ends a stream at once."""


# --- the ring --------------------------------------------------------------------------


class Ring:
    """A single-producer single-consumer ring of preallocated float32 blocks.

    The producer fills ``data[i]`` and the slot's fields, then publishes by advancing
    ``written``; the consumer reads slots below ``written`` and frees them by advancing
    ``read``. Each counter is written by one thread only, so no lock is needed.
    """

    def __init__(self, slots: int, block: int, channels: int):
        import numpy as np

        self.slots = int(slots)
        self.block = int(block)
        self.data = [np.zeros((block, channels), dtype=np.float32) for _ in range(self.slots)]
        self.frames = [0] * self.slots
        self.kind = [AUDIO] * self.slots
        self.pos = [0] * self.slots
        self.gen = [0] * self.slots
        self.written = 0
        self.read = 0

    def level(self) -> int:
        return self.written - self.read

    def full(self) -> bool:
        return self.written - self.read >= self.slots

    # producer side
    def push(self, kind: int, block=None, pos: int = 0, gen: int = 0) -> None:
        i = self.written % self.slots
        if block is not None:
            n = len(block)
            self.data[i][:n] = block
        else:
            n = self.block if kind == HOLD else 0
        self.frames[i] = n
        self.kind[i] = kind
        self.pos[i] = pos
        self.gen[i] = gen
        self.written += 1  # publish last

    # consumer side
    def head(self) -> int:
        """Index of the oldest unread slot, or -1 when empty."""
        return -1 if self.read == self.written else self.read % self.slots

    def pop(self) -> None:
        self.read += 1


# --- the player ------------------------------------------------------------------------


class Player:
    """Plays a source through a sounddevice OutputStream (or any stream factory).

    Controls (``toggle_pause``, ``next_section``, ``previous_section``, ``change_volume``,
    ``stop``) only set requests; the callback carries them out at the next buffer.
    ``scripted`` is a test hook: ``[(device_frame, "pause"|"resume"|"stop"), ...]`` applied by
    the callback at exactly those frames of output.
    """

    def __init__(
        self,
        source,
        *,
        device=None,
        block: int = BLOCK,
        ring_blocks: int | None = None,
        fade_s: float = FADE_S,
        latency="high",
        stream_factory: Callable | None = None,
        scripted: list[tuple[int, str]] | None = None,
    ):
        import numpy as np

        from player.audio.limiter import TruePeakLimiter

        self.source = source
        self.rate = source.rate
        self.channels = source.channels
        self.block = int(block)
        self.device = device
        self.latency = latency
        self._stream_factory = stream_factory
        slots = ring_blocks or max(LOW_WATER * 2, math.ceil(RING_S * self.rate / self.block))
        self.ring = Ring(slots, self.block, self.channels)
        # The producer refills once the ring is down to this many slots, in chunks this big.
        self._refill = max(LOW_WATER + 1, slots // 2)
        self._chunk = max(1, CHUNK // self.block) * self.block
        self._wake = threading.Event()  # set by controls: the producer acts at once
        self._resting = False  # the producer waits for the ring to drain to ``_refill``
        self.producer_wakeups = 0
        self.fade_len = max(1, int(round(fade_s * self.rate)))
        self._up = fade_curve(self.fade_len)
        self._down = np.ascontiguousarray(self._up[::-1])
        self._hold_up = fade_curve(self.block)
        self._hold_down = np.ascontiguousarray(self._hold_up[::-1])
        self._max_seg = 8 * self.block
        self._vol_buf = np.zeros((self._max_seg, 1), dtype=np.float32)
        self._iota = np.arange(1, self._max_seg + 1, dtype=np.float32)[:, None]
        self._events = np.zeros((MAX_EVENTS, 4), dtype=np.int64)
        self._n_events = 0
        self._lookahead = 2 * self.block + TruePeakLimiter(
            self.rate, channels=self.channels
        ).latency
        script = sorted(scripted or [])
        self._script_frames = [int(f) for f, _ in script] + [1 << 62]
        self._script_actions = [a for _, a in script] + ["none"]
        self._script_i = 0

        # Counters (written by the callback; read by anyone).
        self.delivered = 0  # session frames played: practiced time
        self.device_frames = 0  # every frame handed to the device, silence included
        self.position = 0  # session position of the next frame to play
        self.underflows = 0
        self.underflow_frames = 0
        self.hold_frames = 0
        self.paused_frames = 0
        self.seek_frames = 0
        self.device_underflows = 0  # reported by PortAudio itself
        self.callbacks = 0
        self.callback_time = 0.0
        self.callback_max = 0.0
        self.last_callback = 0.0
        self.first_audio_at: float | None = None  # time.monotonic() of the first audio frame
        self.completed = False
        self.stopped = False
        self.callback_error: str | None = None
        self.finished = threading.Event()
        self.on_finished: Callable[[], None] | None = None  # also called when the stream ends

        # Requests (written by the controlling thread, read by the callback).
        self._pause_req = False
        self._stop_req = False
        self._target_gen = 0
        self._seek_to = 0  # chapter index (-1: the session start) of the pending seek
        self._vol_target = 1.0
        self.volume_db = 0.0
        self.notice: tuple[str, float] | None = None  # a key's feedback and until when
        self._levels_req = None  # model.Levels to re-mix with from the current position
        self._seek_here = False  # the pending seek restarts where playback is (a level change)
        self.seek_start: int | None = None

        # Callback state.
        self._mode = PLAY
        self._fade_pos = 0
        self._gen = 0
        self._off = 0
        self._vol = 1.0

        # Producer state.
        self._producer_gen = 0
        self._prefilling = True
        self._started_gen = False
        self._ended = False
        self.holding = False
        self.holds = 0
        self.producer_error: BaseException | None = None
        self._quit = False
        self._producer: threading.Thread | None = None
        self.stream = None
        self.output_latency: float | None = None  # seconds, as the open stream reports it
        self.stream_started_at: float | None = None
        self._stop_exc: type[BaseException] = CallbackStop
        self._abort_exc: type[BaseException] = CallbackAbort

    # --- controls (any thread) -----------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._pause_req

    def toggle_pause(self) -> None:
        self._pause_req = not self._pause_req

    def pause(self) -> None:
        self._pause_req = True

    def resume(self) -> None:
        self._pause_req = False

    def stop(self) -> None:
        """Fade out (``FADE_S``) and end the stream."""
        self._stop_req = True
        self._wake.set()
        if self.stream is None:
            self.finished.set()

    def seeking(self) -> bool:
        return self._target_gen != self._gen

    def current_chapter(self) -> int:
        if self.seeking():
            return self._seek_to
        return self.source.timeline.chapter_at(self.position)

    def seek_chapter(self, index: int) -> None:
        """Restart the stream at chapter ``index`` (-1: the session start)."""
        self._seek_here = False
        self._seek_to = index
        self._target_gen += 1
        self._wake.set()

    def change_level(self, kind: str, step_db: float) -> float:
        """Move one kind of sound (``model.LEVEL_KINDS``: voice, tones, bells, bed) by
        ``step_db`` within ``model.LEVEL_RANGE_DB``; returns the new level.

        The audio from where playback is gets re-mixed with it (a short fade, like a seek),
        and the session gain is planned again, so the loudness target still holds.
        """
        import dataclasses

        from player.format.model import LEVEL_RANGE_DB

        levels = self._levels_req or self.source.levels
        lo, hi = LEVEL_RANGE_DB
        value = min(hi, max(lo, getattr(levels, f"{kind}_db") + step_db))
        self._levels_req = dataclasses.replace(levels, **{f"{kind}_db": value})
        if not self.seeking():
            self._seek_to = self.current_chapter()
        self._seek_here = True
        self._target_gen += 1
        self._wake.set()
        return value

    def next_section(self) -> bool:
        chapters = self.source.timeline.chapters
        current = self.current_chapter()
        if current + 1 >= len(chapters):
            return False
        self.seek_chapter(current + 1)
        return True

    def previous_section(self) -> bool:
        """Restart the current section; this soon after its start, go to the one before."""
        chapters = self.source.timeline.chapters
        current = self.current_chapter()
        if current < 0:
            self.seek_chapter(-1)
            return True
        started = chapters[current].start
        if not self.seeking() and self.position - started < PREVIOUS_GRACE_S * self.rate:
            current -= 1
        self.seek_chapter(current)
        return True

    def change_volume(self, step_db: float) -> float:
        self.volume_db = min(0.0, max(MIN_VOLUME_DB, self.volume_db + step_db))
        self._vol_target = 10.0 ** (self.volume_db / 20.0)
        return self.volume_db

    def control_latency_s(self) -> float | None:
        """The longest a control waits to be heard: a block period until the callback takes
        it up, plus the device's output latency for that buffer (None before a stream)."""
        if self.output_latency is None:
            return None
        return self.block / self.rate + self.output_latency

    # --- life cycle ----------------------------------------------------------------------

    def start(self, *, sd=None, abort: Callable[[], bool] = lambda: False,
              on_wait: Callable[[], None] | None = None,
              patience: float | None = PREFILL_PATIENCE_S) -> bool:
        """Pre-fill the ring, then open and start the stream. False if ``abort`` said so.

        The ring is filled completely, except that when speech synthesis is behind and a few
        blocks are ready, playback starts after ``patience`` seconds without progress (None:
        always fill the whole ring).
        """
        self._producer = threading.Thread(target=self._produce, name="haven-producer",
                                          daemon=True)
        self._producer.start()
        level, since = -1, time.monotonic()
        while True:
            if abort():
                self._quit = True
                self._wake.set()
                return False
            if self.producer_error is not None:
                raise self.producer_error
            if self.source.error is not None:
                raise self.source.error
            if self.ring.full() or self._ended:
                break
            now = time.monotonic()
            if self.ring.level() != level:
                level, since = self.ring.level(), now
            if (patience is not None and level > LOW_WATER and self.source.starving
                    and now - since >= patience):
                break
            if on_wait is not None:
                on_wait()
            time.sleep(0.002)
        self._prefilling = False
        self._open_stream(sd)
        return True

    def _open_stream(self, sd) -> None:
        factory = self._stream_factory
        if factory is None:
            sd = sd or devices.load_sounddevice()
            factory = sd.OutputStream
        if sd is not None:
            self._stop_exc, self._abort_exc = sd.CallbackStop, sd.CallbackAbort
        try:
            self.stream = factory(
                samplerate=self.rate,
                blocksize=self.block,
                channels=self.channels,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
                device=self.device,
                latency=self.latency,
            )
            try:
                self.output_latency = float(self.stream.latency)  # as the device says
            except (TypeError, ValueError, AttributeError):
                self.output_latency = None
            self.stream_started_at = time.monotonic()
            self.last_callback = time.perf_counter()
            self.stream.start()
        except HavenError:
            raise
        except Exception as exc:  # noqa: BLE001 - PortAudioError and friends
            raise AudioDeviceError(f"cannot open the audio device ({exc})",
                                   hint=devices.FIX_NO_DEVICE) from None

    def _finished(self) -> None:
        self.finished.set()
        if self.on_finished is not None:
            self.on_finished()

    def device_lost(self) -> bool:
        """The stream ended without reaching the end or being stopped, or went silent."""
        if self.stream is None:
            return False
        if self.finished.is_set():
            return not (self.completed or self.stopped)
        return time.perf_counter() - self.last_callback > STALL_S

    def close(self) -> None:
        """Stop everything (no fade: call ``stop()`` and wait for ``finished`` first)."""
        self._quit = True
        self._wake.set()
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                if self.finished.is_set():
                    stream.stop()
                else:
                    stream.abort()
            except Exception:  # noqa: BLE001 - closing a lost device may fail; nothing to do
                pass
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
            self.finished.set()
        producer = self._producer
        if producer is not None and producer is not threading.current_thread():
            producer.join(2.0)

    # --- the producer thread ---------------------------------------------------------------

    def _ready(self, pos: int) -> bool:
        source = self.source
        return source.complete or pos + self._lookahead <= source.ready_until

    def _next_chunk(self, stream, pos: int):
        """The next limited audio from ``pos``: ``CHUNK`` frames, or as many whole blocks as
        are final (at least one: the caller checked ``_ready(pos)``). Empty at the end."""
        source = self.source
        n = self._chunk
        if not source.complete:
            final = source.ready_until - pos - (self._lookahead - self.block)
            n = max(self.block, min(n, final // self.block * self.block))
        return stream.read(n)

    def _rest(self) -> None:
        """Sleep until the ring has drained to the refill mark (the callback wakes us then),
        or a control wakes us. The timeout is only a fallback: when the device would have
        played down to the mark in real time."""
        ring = self.ring
        if self._ended:
            timeout = 1.0  # nothing more to make unless a seek comes (it wakes us)
        else:
            ahead = ring.level() - self._refill
            timeout = max(self.block / self.rate, ahead * self.block / self.rate)
        self.producer_wakeups += 1
        self._resting = not self._ended
        self._wake.wait(timeout)
        self._resting = False

    def _resolve_seek(self):
        if self._seek_here:
            return self.position if self.source.final_position(self.position) else None
        index = self._seek_to
        if index < 0:
            return 0
        chapters = self.source.timeline.chapters
        if index >= len(chapters):
            return None
        start = chapters[index].start
        return start if self.source.final_position(start) else None

    def _produce(self) -> None:
        try:
            self._produce_loop()
        except BaseException as exc:  # noqa: BLE001 - reported to the controlling thread
            self.producer_error = exc

    def _produce_loop(self) -> None:
        import numpy as np

        source, ring = self.source, self.ring
        nap = self.block / self.rate / 4
        gen = 0
        stream = source.limited(start=0)
        chunk, chunk_off = None, 0  # the chunk being cut into blocks, and how far
        pos = 0
        pending = None
        pending_pos = 0
        holding = False
        wake = self._wake
        while not self._quit:
            wake.clear()  # a control from here on ends the next rest at once
            if source.error is not None:
                time.sleep(nap)
                continue
            target_gen = self._target_gen
            if target_gen != gen:
                levels = self._levels_req
                if levels is not None:
                    source.set_levels(levels)  # re-planned: the target holds
                    if self._levels_req is levels:
                        self._levels_req = None
                start = self._resolve_seek()
                if start is None:
                    source.starving = True
                    source.refresh()
                    time.sleep(nap)
                    continue
                gen = target_gen
                stream = source.limited(start=start)
                chunk = None
                pos = start
                self.seek_start = start  # where the latest seek restarted (tests, reports)
                pending = None
                holding = False
                self._ended = False
                self._started_gen = False
            if self._ended or ring.full():
                self._rest()
                continue
            if pending is None:
                if not self._ready(pos):
                    source.starving = True
                    source.refresh()
                    if self._ready(pos):
                        continue
                    if not self._prefilling and ring.level() < LOW_WATER and not self._pause_req:
                        ring.push(HOLD, gen=gen)  # silence while speech is synthesized
                        self._producer_gen = gen
                        holding = holding or self._started_gen
                        self.holding = True
                    else:
                        time.sleep(nap)
                    continue
                if chunk is None or chunk_off >= len(chunk):
                    chunk, chunk_off = self._next_chunk(stream, pos), 0
                block = chunk[chunk_off : chunk_off + self.block] if len(chunk) else None
                chunk_off += self.block
                if block is None:
                    ring.push(END, gen=gen)
                    self._producer_gen = gen
                    self._ended = True
                    self.holding = False
                    continue
                pending, pending_pos = block, pos
                pos += len(block)
                if holding:  # back from a hold: fade in over one block
                    n = len(pending)
                    pending = pending * self._hold_up[-n:] if n < self.block else pending * self._hold_up
                    holding = False
            # Look one block ahead: if the next one is not ready, keep this one back.
            if (source.complete and pos >= source.length) or self._ready(pos):
                source.starving = False
                ring.push(AUDIO, pending, pending_pos, gen)
                self._producer_gen = gen  # the callback tells seek silence from underflow
                self._started_gen = True
                self.holding = False
                pending = None
                continue
            source.starving = True
            source.refresh()
            if self._ready(pos):
                continue
            if self._prefilling or ring.level() > LOW_WATER or self._pause_req:
                time.sleep(nap)
                continue
            # Speech is late: fade this block out and hold silence until it is there.
            n = len(pending)
            fade = self._hold_down[:n] if n < self.block else self._hold_down
            ring.push(AUDIO, np.asarray(pending * fade, dtype=np.float32), pending_pos, gen)
            self._producer_gen = gen
            self._started_gen = True
            pending = None
            holding = True
            self.holding = True
            self.holds += 1

    # --- the audio callback -----------------------------------------------------------------

    def _log(self, code: int, at: int, frames: int = 0) -> None:
        k = self._n_events
        if k < MAX_EVENTS:
            ev = self._events
            ev[k, 0] = code
            ev[k, 1] = self.device_frames + at
            ev[k, 2] = self.position
            ev[k, 3] = frames
            self._n_events = k + 1

    def _underflow(self, at: int, frames: int) -> None:
        """Count silence inserted for an empty ring; a run of such buffers is one dropout."""
        self.underflow_frames += frames
        k = self._n_events
        ev = self._events
        if k and ev[k - 1, 0] == 8 and ev[k - 1, 1] + ev[k - 1, 3] == self.device_frames + at:
            ev[k - 1, 3] += frames
            return
        self.underflows += 1
        self._log(8, at, frames)

    def events(self) -> list[dict]:
        return [
            {"event": EVENTS[int(c)], "device_frame": int(d), "position": int(p), "frames": int(f)}
            for c, d, p, f in self._events[: self._n_events]
        ]

    def _callback(self, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter()
        try:
            if status.output_underflow:
                self.device_underflows += 1
            self._fill(outdata, frames)
        except BaseException as exc:  # noqa: BLE001 - never let an error out unexplained
            outdata.fill(0)
            self.callback_error = f"{type(exc).__name__}: {exc}"
            self._mode = DONE
            raise self._abort_exc from None
        finally:
            self.device_frames += frames
            self.callbacks += 1
            t1 = time.perf_counter()
            self.last_callback = t1
            dt = t1 - t0
            self.callback_time += dt
            if dt > self.callback_max:
                self.callback_max = dt
        if self._mode == DONE:
            raise self._stop_exc

    def _begin_fade_out(self, at: int) -> None:
        self._fade_pos = self.fade_len - self._fade_pos if self._mode == FADE_IN else 0
        self._mode = FADE_OUT
        self._log(1, at)

    def _end_fade_out(self, at: int) -> None:
        if self._stop_req:
            self._mode = DONE
            self.stopped = True
            self._log(6, at)
            return
        if self._target_gen != self._gen:
            self._gen = self._target_gen
            self._off = 0
            self._log(5, at)
        if self._pause_req:
            self._mode = SILENT
            self._log(2, at)
        else:
            self._mode = FADE_IN
            self._fade_pos = 0
            self._log(3, at)

    def _run_script(self, at: int) -> int:
        """Apply scripted controls due at this frame; return frames to the next one."""
        now = self.device_frames + at
        while self._script_frames[self._script_i] <= now:
            action = self._script_actions[self._script_i]
            if action == "pause":
                self._pause_req = True
            elif action == "resume":
                self._pause_req = False
            elif action == "stop":
                self._stop_req = True
            self._script_i += 1
        return self._script_frames[self._script_i] - now

    def _fill(self, out, frames: int) -> None:
        ring = self.ring
        # The common case, most buffers of a session: playing, nothing asked, a whole slot of
        # audio that fits the buffer exactly. One copy and the counters; the loop below does
        # the same for it, with every other case (fades, holds, seeks, partial slots).
        i = ring.read % ring.slots
        if (self._mode == PLAY and ring.written != ring.read and self._off == 0
                and ring.frames[i] == frames and ring.kind[i] == AUDIO
                and ring.gen[i] == self._gen == self._target_gen
                and not (self._pause_req or self._stop_req)
                and self._vol == 1.0 == self._vol_target and self.first_audio_at is not None
                and self._script_frames[self._script_i] >= self.device_frames + frames):
            out[:] = ring.data[i]
            self.position = ring.pos[i] + frames
            self.delivered += frames
            ring.read += 1
            if self._resting and ring.written - ring.read <= self._refill:
                self._resting = False
                self._wake.set()
            return
        self._fill_slow(out, frames)

    def _fill_slow(self, out, frames: int) -> None:
        import numpy as np

        ring = self.ring
        done = 0
        while done < frames:
            room = min(frames - done, self._run_script(done), self._max_seg)
            mode = self._mode
            if mode == DONE:
                out[done:].fill(0)
                return
            if mode == PLAY or mode == FADE_IN:
                if self._stop_req or self._target_gen != self._gen or self._pause_req:
                    self._begin_fade_out(done)
                    continue
            elif mode == SILENT:
                if self._stop_req:
                    self._mode = DONE
                    self.stopped = True
                    self._log(6, done)
                    continue
                if self._target_gen != self._gen:
                    self._gen = self._target_gen
                    self._off = 0
                    self._log(5, done)
                if self._pause_req:
                    out[done : done + room].fill(0)
                    self.paused_frames += room
                    done += room
                    continue
                self._mode = FADE_IN
                self._fade_pos = 0
                self._log(3, done)
                continue

            i = ring.head()
            if i < 0:  # nothing prepared
                if mode == FADE_OUT:
                    self._end_fade_out(done)
                    continue
                out[done : done + room].fill(0)
                if self._gen != self._producer_gen or self._gen != self._target_gen:
                    self.seek_frames += room
                else:
                    self._underflow(done, room)
                done += room
                continue
            if ring.gen[i] != self._gen:  # left over from before a seek
                ring.pop()
                self._off = 0
                continue
            kind = ring.kind[i]
            if kind == END:
                if mode == FADE_OUT:
                    self._end_fade_out(done)
                    if self._mode == DONE:
                        continue
                self.completed = True
                self._mode = DONE
                self._log(7, done)
                continue
            avail = ring.frames[i] - self._off
            if kind == HOLD:
                if mode == FADE_OUT:
                    self._end_fade_out(done)
                    continue
                m = min(room, avail)
                out[done : done + m].fill(0)
                self.hold_frames += m
            else:
                m = min(room, avail)
                if mode == FADE_OUT or mode == FADE_IN:
                    m = min(m, self.fade_len - self._fade_pos)
                seg = out[done : done + m]
                seg[:] = ring.data[i][self._off : self._off + m]
                if mode == FADE_OUT:
                    np.multiply(seg, self._down[self._fade_pos : self._fade_pos + m], out=seg)
                elif mode == FADE_IN:
                    np.multiply(seg, self._up[self._fade_pos : self._fade_pos + m], out=seg)
                if self._vol != 1.0 or self._vol_target != 1.0:
                    self._apply_volume(seg, m)
                if self.first_audio_at is None:
                    self.first_audio_at = time.monotonic()
                self.position = ring.pos[i] + self._off + m
                self.delivered += m
            self._off += m
            if self._off >= ring.frames[i]:
                ring.pop()
                self._off = 0
                if self._resting and ring.written - ring.read <= self._refill:
                    self._resting = False
                    self._wake.set()  # once a refill: time to make the next half ring
            done += m
            if kind == AUDIO and (mode == FADE_OUT or mode == FADE_IN):
                self._fade_pos += m
                if self._fade_pos >= self.fade_len:
                    if mode == FADE_OUT:
                        self._end_fade_out(done)
                    else:
                        self._mode = PLAY
                        self._log(4, done)

    def _apply_volume(self, seg, m: int) -> None:
        import numpy as np

        v0, v1 = self._vol, self._vol_target
        if v0 == v1:
            np.multiply(seg, v0, out=seg)
            return
        ramp = self._vol_buf[:m]  # a straight line from v0 to v1 over this segment
        np.multiply(self._iota[:m], (v1 - v0) / m, out=ramp)
        np.add(ramp, v0, out=ramp)
        np.multiply(seg, ramp, out=seg)
        self._vol = v1

    # --- reporting -----------------------------------------------------------------------

    def stats(self) -> dict:
        period = self.block / self.rate
        mean = self.callback_time / self.callbacks if self.callbacks else 0.0
        return {
            "rate": self.rate,
            "channels": self.channels,
            "block": self.block,
            "ring_blocks": self.ring.slots,
            "fade_frames": self.fade_len,
            "frames_delivered": self.delivered,
            "practiced_s": round(self.delivered / self.rate, 6),
            "device_frames": self.device_frames,
            "underflows": self.underflows,
            "underflow_frames": self.underflow_frames,
            "device_underflows": self.device_underflows,
            "holds": self.holds,
            "hold_frames": self.hold_frames,
            "paused_frames": self.paused_frames,
            "seek_frames": self.seek_frames,
            "completed": self.completed,
            "stopped": self.stopped,
            "callbacks": self.callbacks,
            "callback_mean_ms": round(mean * 1000, 4),
            "callback_max_ms": round(self.callback_max * 1000, 4),
            "callback_share": round(mean / period, 5) if period else 0.0,
            "producer_wakeups": self.producer_wakeups,
            "control_latency_ms": (None if self.control_latency_s() is None
                                   else round(1000 * self.control_latency_s(), 1)),
            "callback_error": self.callback_error,
            "events": self.events(),
        }
