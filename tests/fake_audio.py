"""Stand-ins for sounddevice in the playback tests: a stream that calls the callback from a
thread like PortAudio does (paced or not) and keeps every buffer, a fake ``sounddevice``
module for the CLI, and sources with known audio."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np

from player.audio import engine
from player.audio.timeline import Chapter


class FakeStream:
    """Calls ``callback(outdata, frames, time, status)`` from a thread until it raises."""

    instances: list["FakeStream"] = []
    pace = 0.0  # seconds to sleep between buffers (0: as fast as possible, like capture.conf)
    stall_after = None  # stop calling the callback after this many buffers (a lost device)
    die_after = None  # end the stream (finished_callback) after this many buffers

    def __init__(self, *, samplerate, blocksize, channels, dtype, callback, finished_callback=None,
                 device=None, latency=None):
        assert dtype == "float32"
        self.rate = samplerate
        self.block = blocksize
        self.channels = channels
        self.callback = callback
        self.finished_callback = finished_callback
        self.device = device
        self.latency = 0.0
        self.buffers: list[np.ndarray] = []
        self.active = False
        self._stop = threading.Event()
        self._thread = None
        self.outdata = np.zeros((blocksize, channels), dtype=np.float32)
        FakeStream.instances.append(self)

    def start(self):
        self.active = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        status = SimpleNamespace(output_underflow=False)
        calls = 0
        try:
            while not self._stop.is_set():
                if self.stall_after is not None and calls >= self.stall_after:
                    self._stop.wait(0.05)
                    continue
                if self.die_after is not None and calls >= self.die_after:
                    break
                try:
                    self.callback(self.outdata, self.block, None, status)
                except engine.CallbackStop:
                    self.buffers.append(self.outdata.copy())  # the last buffer still plays
                    break
                except engine.CallbackAbort:
                    break
                self.buffers.append(self.outdata.copy())
                calls += 1
                if self.pace:
                    time.sleep(self.pace)
        finally:
            self.active = False
            if self.finished_callback is not None:
                self.finished_callback()

    def captured(self) -> np.ndarray:
        if not self.buffers:
            return np.zeros((0, self.channels), dtype=np.float32)
        return np.concatenate(self.buffers)

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    abort = stop

    def close(self):
        self.stop()


def fake_sounddevice(devices=({"name": "Fake Out", "max_output_channels": 2},)):
    """A module-like object with what Haven uses of sounddevice."""

    def query_devices(device=None, kind=None):
        if device is None and kind is None:
            return [dict(d, hostapi=0, default_samplerate=48000.0, index=i)
                    for i, d in enumerate(devices)]
        if device is None:
            if not devices:
                raise RuntimeError("Error querying device -1")
            device = 0
        if isinstance(device, int):
            if not 0 <= device < len(devices):
                raise RuntimeError(f"Error querying device {device}")
            return dict(devices[device], index=device, hostapi=0, default_samplerate=48000.0)
        for i, d in enumerate(devices):
            if device.lower() in d["name"].lower():
                return dict(d, index=i, hostapi=0, default_samplerate=48000.0)
        raise ValueError(f"No output device matching {device!r}")

    return SimpleNamespace(
        CallbackStop=engine.CallbackStop,
        CallbackAbort=engine.CallbackAbort,
        default=SimpleNamespace(device=[0, 0] if devices else [-1, -1]),
        query_devices=query_devices,
        query_hostapis=lambda: [{"name": "Fake"}],
        check_output_settings=lambda **kw: None,
        OutputStream=FakeStream,
    )


class ArraySource:
    """A complete session whose audio is a given array, with chapters: for player tests."""

    def __init__(self, audio: np.ndarray, rate: int = 48000, chapters=(), ready_until=None,
                 block_delay: float = 0.0):
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.rate = rate
        self.channels = self.audio.shape[1]
        self.length = len(self.audio)
        self._ready = self.length if ready_until is None else ready_until
        self.error = None
        self.starving = False
        self.block_delay = block_delay
        self.timeline = SimpleNamespace(
            chapters=tuple(Chapter(s, f"Part {i + 1}") for i, s in enumerate(chapters)),
            chapter_at=self._chapter_at, rate=rate, length=self.length, title="Test",
            speech=(), breaths=(),
        )

    def _chapter_at(self, position):
        index = -1
        for i, chapter in enumerate(self.timeline.chapters):
            if chapter.start <= position:
                index = i
        return index

    @property
    def ready_until(self):
        return self._ready

    @property
    def complete(self):
        return self._ready >= self.length

    def release(self, until: int) -> None:
        """Make audio up to ``until`` final (as arriving speech would)."""
        self._ready = min(self.length, until)

    def render(self, start, n):
        out = np.zeros((n, self.channels), dtype=np.float32)
        piece = self.audio[start : start + n]
        out[: len(piece)] = piece
        return out

    def blocks(self, block, *, start=0):
        for pos in range(start, self.length, block):
            if self.block_delay:
                time.sleep(self.block_delay)
            yield self.audio[pos : min(pos + block, self.length)].copy()

    def limited(self, *, start=0):
        """What the player reads: the audio from ``start`` in pieces of any size (``block_delay``
        seconds per 1024 frames, a slow producer)."""
        return _ArrayReader(self, start)

    def final_position(self, position):
        return position < self._ready or self.complete

    def refresh(self):
        pass

    def close(self, timeout=0):
        pass


class _ArrayReader:
    def __init__(self, source: ArraySource, start: int):
        self.source, self.pos = source, start

    def read(self, n):
        source = self.source
        piece = source.audio[self.pos : min(self.pos + n, source.length)].copy()
        if source.block_delay:
            time.sleep(source.block_delay * len(piece) / 1024)
        self.pos += len(piece)
        return piece


def noise(seconds: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((int(seconds * rate), 2))).astype(np.float32)
