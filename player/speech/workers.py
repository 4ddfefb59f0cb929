"""Speech synthesis in worker processes: parallel, time-limited, and crash-proof.

A native engine can hang, or end its process (espeak calls ``exit(1)`` when its data is
missing), so engines only ever run in workers. A worker is a fresh interpreter started with
``subprocess`` (exec, like multiprocessing's "spawn": no fork of a main process that may have
threads; and unlike multiprocessing's spawn context it leaves no resource-tracker process
behind). It talks to the main process over a socket pair with pickled messages; its stdout
is /dev/null (pyttsx3 prints "Audio saved to ..." there) and its stderr goes to a temporary
file whose last line explains a death.

Per clip: a time limit (``timeout_s``). A worker that times out, dies or reports a failure is
killed and replaced, and the clip is retried once in the fresh worker; a second failure
raises ``SpeechError`` naming the text and the reason. Other clips keep their workers.

No worker outlives a call: a clean finish stops them, anything else (an error,
KeyboardInterrupt) sends SIGTERM - on which a worker kills its own helper process - then
SIGKILL; every process is reaped. Workers also ignore SIGINT (the main process decides) and
ask Linux to kill them if the main process dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Hashable

from player.errors import SpeechError
from player.speech.offline import keep_offline, offline_env

STARTUP_TIMEOUT_MIN_S = 15.0
STOP_GRACE_S = 2.0
KILL_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1

_BOOTSTRAP = "import sys; from player.speech.workers import _worker_main; _worker_main(sys.argv[1:])"


@dataclass(frozen=True)
class Task:
    """One clip for a worker to make."""

    text: str
    voice: str | None
    rate: float
    volume: float
    sample_rate: int


@dataclass(frozen=True)
class TaskResult:
    samples: Any  # np.ndarray, float32, read-only
    notice: str | None  # e.g. the unknown-voice fallback
    seconds: float  # synthesis + processing time in the worker


_libc: list = []  # loaded once: forked children inherit it (dlopen costs ~1 ms per clip)


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have Linux SIGKILL this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            if not _libc:
                _libc.append(ctypes.CDLL(None, use_errno=True))
            _libc[0].prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def shorten(text: str, limit: int = 48) -> str:
    """One line of at most ``limit`` characters, for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # The worker must import exactly what this process imports (the package, and in tests
    # the fake engines beside them).
    paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # Numeric thread pools are useless here and would make the per-clip fork less clean.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    # Nothing leaves the computer: telemetry switches are in place before the worker's
    # interpreter imports anything (onnxruntime reads its switch on import).
    offline_env(env)
    # Workers only make samples, never sound: libespeak-ng's audio layer (pcaudiolib) probes
    # PulseAudio on espeak_Initialize even in synchronous mode, and libpulse then writes
    # ~/.config/pulse/*-runtime and $TMPDIR/pulse-* outside Haven's folders. A server address
    # that cannot exist stops the probe; the player's own process keeps the user's setting.
    env["PULSE_SERVER"] = "unix:/nonexistent"
    return env


def _scratch_file(name: str):
    """An anonymous read-write file for a worker's stderr: in memory where the kernel offers
    it (memfd), so nothing is created, even for an instant, in $TMPDIR or anywhere else."""
    if hasattr(os, "memfd_create"):
        try:
            return os.fdopen(os.memfd_create(name, os.MFD_CLOEXEC), "w+b")
        except OSError:
            pass
    return tempfile.TemporaryFile(prefix=f"{name}-")


class _Worker:
    """The main process's handle on one worker process."""

    def __init__(self, engine_spec: str, startup_timeout_s: float):
        ours, theirs = socket.socketpair()
        self.log = _scratch_file("haven-worker-log")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(theirs.fileno()), str(os.getpid()),
                 engine_spec],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.log,
                pass_fds=(theirs.fileno(),),
                env=_worker_env(),
            )
        except BaseException:
            ours.close()
            self.log.close()
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.started = time.monotonic()
        self.deadline = self.started + startup_timeout_s
        self.ready = False
        self.task: Hashable | None = None
        self.startup_s: float | None = None

    def stderr_tail(self) -> str:
        try:
            size = os.fstat(self.log.fileno()).st_size
            data = os.pread(self.log.fileno(), 4096, max(0, size - 4096))
        except OSError:
            return ""
        lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""

    def death_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            return "the engine process stopped answering"
        if code < 0:
            reason = f"the engine process was killed by signal {-code}"
        else:
            reason = f"the engine process died (exit code {code})"
        tail = self.stderr_tail()
        return f"{reason}: {tail}" if tail and "Traceback" not in tail else reason

    def ask_to_stop(self) -> bool:
        """Tell the worker to finish (it exits on its own); False if it cannot be told."""
        try:
            self.conn.send(("stop",))
            return True
        except (OSError, ValueError):
            return False

    def stop(self, graceful: bool, asked: bool = False) -> None:
        """End the process and reap it, politely if ``graceful`` (``asked``: it was told to
        stop already); never raises."""
        proc = self.proc
        try:
            if graceful and proc.poll() is None:
                try:
                    if not asked:
                        self.conn.send(("stop",))
                    proc.wait(timeout=STOP_GRACE_S)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                proc.terminate()  # the worker kills its helper process, then exits
                try:
                    proc.wait(timeout=KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for closable in (self.conn, self.log):
                try:
                    closable.close()
                except OSError:
                    pass


class WorkerPool:
    """Up to ``jobs`` workers for one engine, for the duration of a ``with`` block."""

    def __init__(
        self,
        engine_spec: str,
        *,
        jobs: int,
        timeout_s: float,
        fix_for: Callable[[str], str | None] | None = None,
    ):
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        self.engine_spec = engine_spec
        self.jobs = jobs
        self.timeout_s = float(timeout_s)
        self.startup_timeout_s = max(self.timeout_s, STARTUP_TIMEOUT_MIN_S)
        self._fix_for = fix_for or (lambda message: None)
        self._workers: list[_Worker] = []
        self.startup_times: list[float] = []

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(graceful=exc_type is None)

    def close(self, graceful: bool = True) -> None:
        workers, self._workers = self._workers, []
        # All are told first, so they wind down together rather than one after the other.
        asked = [graceful and worker.ask_to_stop() for worker in workers]
        for worker, told in zip(workers, asked):
            worker.stop(graceful, asked=told)

    # -- running tasks -------------------------------------------------------------------------
    def run(
        self,
        tasks: dict[Hashable, Task],
        on_done: Callable[[Hashable, TaskResult], None],
    ) -> None:
        """Make every task, calling ``on_done(key, result)`` as each finishes (any order)."""
        import numpy as np

        pending = collections.deque(tasks)
        failures = collections.Counter()
        remaining = len(tasks)
        startup_failures = 0

        def dispatch() -> None:
            for worker in self._workers:
                if worker.ready and worker.task is None and pending:
                    if any(worker is b for b, _ in broken):
                        continue
                    key = pending.popleft()
                    task = tasks[key]
                    worker.task = key
                    worker.deadline = time.monotonic() + self.timeout_s
                    try:
                        worker.conn.send(
                            ("synth", key, task.text, task.voice, task.rate, task.volume,
                             task.sample_rate)
                        )
                    except OSError:  # it died since it said it was ready
                        broken.append((worker, worker.death_reason()))

        while remaining:
            self._top_up(len(pending))
            broken: list[tuple[_Worker, str]] = []
            dispatch()

            now = time.monotonic()
            soonest = min(w.deadline for w in self._workers)
            timeout = None if soonest == float("inf") else max(0.0, soonest - now)
            if broken:
                timeout = 0.0
            ready = wait([w.conn for w in self._workers], timeout=timeout)

            finished: list[tuple[Hashable, TaskResult]] = []
            for worker in [w for w in self._workers if w.conn in ready]:
                if any(worker is b for b, _ in broken):
                    continue
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    broken.append((worker, worker.death_reason()))
                    continue
                kind = message[0]
                if kind == "ready":
                    worker.ready = True
                    worker.deadline = float("inf")
                    worker.startup_s = time.monotonic() - worker.started
                    self.startup_times.append(worker.startup_s)
                    startup_failures = 0
                elif kind == "init-failed":
                    reason = message[1]
                    raise SpeechError(
                        f"the speech engine could not start: {reason}", hint=self._fix_for(reason)
                    )
                elif kind == "done":
                    _, key, data, notice, seconds = message
                    worker.task = None
                    worker.deadline = float("inf")
                    remaining -= 1
                    samples = np.frombuffer(data, dtype=np.float32)
                    finished.append((key, TaskResult(samples, notice, seconds)))
                elif kind == "failed":
                    broken.append((worker, message[2]))
            if finished:
                # The idle workers get their next clip before this process stores the ones
                # just made (cache writes, the caller's callback): a worker never waits for
                # that work (P4).
                dispatch()
                for key, result in finished:
                    on_done(key, result)

            now = time.monotonic()
            for worker in self._workers:
                if worker.deadline <= now and all(worker is not b for b, _ in broken):
                    if worker.ready:
                        reason = f"timed out after {self.timeout_s:g} s"
                    else:
                        reason = f"the engine did not start within {self.startup_timeout_s:g} s"
                    broken.append((worker, reason))

            for worker, reason in broken:
                self._workers.remove(worker)
                worker.stop(graceful=False)
                if worker.task is None:
                    startup_failures += 1
                    if startup_failures >= 2:
                        raise SpeechError(
                            f"the speech engine could not start: {reason}",
                            hint=self._fix_for(reason),
                        )
                    continue
                key = worker.task
                failures[key] += 1
                if failures[key] >= 2:
                    raise SpeechError(
                        f'could not synthesize "{shorten(tasks[key].text)}": {reason}',
                        hint=self._fix_for(reason)
                        or "try again; if it keeps happening, run `haven doctor`",
                    )
                pending.appendleft(key)  # retried first, in a fresh worker

    def _top_up(self, pending: int) -> None:
        """Start workers while there is queued work no idle or starting worker will take."""
        spare = sum(1 for w in self._workers if w.task is None)
        while pending > spare and len(self._workers) < self.jobs:
            self._workers.append(_Worker(self.engine_spec, self.startup_timeout_s))
            spare += 1

    def call(self, request: tuple) -> Any:
        """Send one non-synthesis request (e.g. ``("voices",)``) to a worker; return its reply."""
        if not self._workers:
            self._workers.append(_Worker(self.engine_spec, self.startup_timeout_s))
        worker = self._workers[0]
        deadline = worker.deadline
        while True:
            if not wait([worker.conn], timeout=max(0.0, deadline - time.monotonic())):
                raise SpeechError("the speech engine did not answer in time")
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                reason = worker.death_reason()
                raise SpeechError(
                    f"the speech engine could not start: {reason}", hint=self._fix_for(reason)
                ) from None
            if message[0] == "ready":
                worker.ready = True
                worker.conn.send(request)
                deadline = time.monotonic() + self.timeout_s
            elif message[0] == "init-failed":
                raise SpeechError(
                    f"the speech engine could not start: {message[1]}",
                    hint=self._fix_for(message[1]),
                )
            else:
                return message[1]


# -- the worker process ----------------------------------------------------------------------


def _worker_main(argv: list[str]) -> None:
    """Entry point of a worker process: ``<socket fd> <main pid> <engine spec>``."""
    fd, parent_pid, engine_spec = int(argv[0]), int(argv[1]), argv[2]
    keep_offline()  # already in the environment from _worker_env; again for any other starter
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    conn = Connection(fd)
    state: dict[str, Any] = {"engine": None}

    def on_terminate(signum, frame):
        engine = state["engine"]
        if engine is not None:
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_terminate)

    started = time.perf_counter()
    try:
        import dataclasses

        from player.speech.engines import load_engine_class

        # The engine first: espeak's forks its helper process here, which must happen
        # before numpy is imported to keep that process small (pyttsx3_engine, P4).
        engine = state["engine"] = load_engine_class(engine_spec)()

        from player.speech import dsp  # numpy

        import soxr  # noqa: F401 - paid once here, not by the first clip
    except BaseException as exc:  # noqa: BLE001 - reported to the main process
        conn.send(("init-failed", str(exc) or type(exc).__name__))
        return
    conn.send(("ready", {"startup_s": time.perf_counter() - started}))

    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break  # the main process is gone
            kind = message[0]
            if kind == "stop":
                break
            if kind == "voices":
                conn.send(("voices", [dataclasses.asdict(v) for v in engine.voices()]))
            elif kind == "synth":
                _, key, text, voice, rate, volume, sample_rate = message
                t0 = time.perf_counter()
                try:
                    voice_id, notice = engine.resolve_voice(voice)
                    # Full level from the engine, volume as a gain in dsp: see dsp step 5.
                    raw = engine.synthesize(text, voice_id, rate, 1.0)
                    samples = dsp.process(raw, engine.sample_rate, sample_rate, gain=volume)
                except Exception as exc:  # noqa: BLE001 - reported, the worker is replaced
                    conn.send(("failed", key, str(exc) or type(exc).__name__))
                    continue
                conn.send(("done", key, samples.tobytes(), notice, time.perf_counter() - t0))
    finally:
        engine.close()
    # Nothing is left to flush (stdout is /dev/null): skip the interpreter's tear-down
    # (~20 ms with numpy loaded), which the main process would wait for.
    sys.stderr.flush()
    os._exit(0)
