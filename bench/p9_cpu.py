"""P9: average CPU of `haven play` over 10 minutes, against a plain file player in the same run.

Each session is exactly 10 minutes and ends by itself: ``bedtime-body-scan --minutes 7 --tail
3`` (guidance, the bedtime fade, the background sound going on alone, its fade, the exit) and
``body-scan --minutes 10``. The speech is cached (the session is rendered first, to the WAV the
baselines play), as for a session someone plays again.

Measured: user + system CPU seconds of the whole process (``wait4``: threads, and any worker
processes it waited for), divided by its wall time from spawn to exit, start-up included.
Every process plays into one PulseAudio null sink started for the purpose (real-time paced,
like a sound card), all at the same time, so outside load on the shared machine falls on
Haven and its baselines alike:

- ``haven play NAME --quiet --no-checkin`` with stdin from /dev/null: the benchmark's figure
  (no terminal, so no key can be pressed: the player uses its large device block);
- for bedtime also at a terminal (a pseudo-terminal, display on, keys read: the 1024-frame
  block that keeps pause and volume within 100 ms), the way someone plays it in bed;
- the baseline: the same session rendered to WAV, played by the ~30-line sounddevice file
  player below (python-sounddevice's ``play_long_file.py`` pattern: a queue of 20 blocks of
  1024 frames, a callback that takes one per call), and ``paplay`` of the same WAV.

Targets (issue 12): bedtime at most 2 % of one core, and each session at most 0.5x the file
player. ``--quick``: the first minute of each (``stop@60``; the file player stops there too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, Context, Row, haven_argv, run_checked
from bench.playing import play_available, pulse_null_sink

SESSIONS = {
    "bedtime-body-scan": ["--minutes", "7", "--tail", "3"],
    "body-scan": ["--minutes", "10"],
}
TARGET_SHARE = 0.02  # of one core, for the bedtime session
TARGET_RATIO = 0.5  # of the file player's CPU

# python-sounddevice's examples/play_long_file.py, trimmed (float32, no argument parsing):
# argv: WAV, frames to play (0: all). An underflow is counted, not fatal, and the reader
# waits up to 10 s for room (the example's 0.43 s ran out once while PulseAudio started).
FILE_PLAYER = r'''
import queue, sys, threading
import sounddevice as sd
import soundfile as sf

path, limit = sys.argv[1], int(sys.argv[2])
blocksize, buffersize = 1024, 20
q = queue.Queue(maxsize=buffersize)
event = threading.Event()
underflows = 0

def callback(outdata, frames, time, status):
    global underflows
    underflows += bool(status.output_underflow)
    try:
        data = q.get_nowait()
    except queue.Empty as e:
        raise sd.CallbackAbort from e
    if len(data) < len(outdata):
        outdata[:len(data)] = data
        outdata[len(data):].fill(0)
        raise sd.CallbackStop
    outdata[:] = data

with sf.SoundFile(path) as f:
    left = limit or f.frames
    def read():
        global left
        data = f.read(min(blocksize, left), dtype="float32")
        left -= len(data)
        return data
    for _ in range(buffersize):
        data = read()
        if not len(data):
            break
        q.put_nowait(data)
    stream = sd.OutputStream(samplerate=f.samplerate, blocksize=blocksize, channels=f.channels,
                             dtype="float32", callback=callback, finished_callback=event.set)
    with stream:
        timeout = 10.0
        while len(data):
            data = read()
            q.put(data, timeout=timeout)
        event.wait()
print(underflows, file=sys.stderr)
'''


class Measured:
    """One process run to its end: CPU seconds (user + system, ``wait4``) and wall seconds."""

    def __init__(self, name: str, argv: list[str], env: dict, *, tty: bool = False):
        self.name, self.argv = name, argv
        self.err = open(os.devnull, "wb") if tty else None
        self._master = None
        if tty:  # a pseudo-terminal: keys are read and the display drawn, as in a terminal
            master, slave = os.openpty()
            self._master = master
            env = dict(env, TERM="xterm", COLUMNS="100", LINES="30")
            stdin = stdout = stderr = slave
        else:
            import tempfile

            self.err = tempfile.TemporaryFile()
            stdin, stdout, stderr = subprocess.DEVNULL, subprocess.DEVNULL, self.err
        self.spawn = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=stdin, stdout=stdout,
                                     stderr=stderr, start_new_session=tty)
        if tty:
            os.close(slave)
            threading.Thread(target=self._drain, daemon=True).start()
        self.wall = self.cpu = None
        self.status = None

    def _drain(self) -> None:
        while True:
            try:
                if not os.read(self._master, 65536):
                    return
            except OSError:
                return

    def poll(self) -> bool:
        """True once the process has ended (and been measured)."""
        if self.wall is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if not pid:
            return False
        self.wall = time.monotonic() - self.spawn
        self.cpu = usage.ru_utime + usage.ru_stime
        self.status = os.waitstatus_to_exitcode(status)
        self.user, self.sys = usage.ru_utime, usage.ru_stime
        return True

    def kill(self) -> None:
        if self.wall is None:
            self.proc.kill()
            os.wait4(self.proc.pid, 0)
            self.wall = -1.0

    def check(self) -> None:
        if self.status != 0:
            tail = b""
            if self.err is not None and hasattr(self.err, "seek"):
                try:
                    self.err.seek(0)
                    tail = self.err.read()[-600:]
                except (OSError, ValueError):
                    pass
            raise RuntimeError(f"{self.name}: {' '.join(self.argv)} exited {self.status}: "
                               f"{tail.decode(errors='replace')}")

    @property
    def share(self) -> float:
        return self.cpu / self.wall

    def figures(self) -> dict:
        return {"cpu_s": round(self.cpu, 3), "user_s": round(self.user, 3),
                "sys_s": round(self.sys, 3), "wall_s": round(self.wall, 2),
                "percent_of_a_core": round(100 * self.share, 3)}


def run_together(jobs: list[Measured], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not all(job.poll() for job in jobs):
            if time.monotonic() > deadline:
                raise RuntimeError("P9: a run did not finish in time")
            time.sleep(0.05)
    finally:
        for job in jobs:
            job.kill()
    for job in jobs:
        job.check()


def run(ctx: Context) -> list[Row]:
    seconds = 60 if ctx.quick else 600
    missing = play_available(ctx) or (None if shutil.which("paplay") else "paplay is missing")
    if missing:
        return [Row("P9", "CPU while playing", "-", "-", "-", None, note=missing)]
    home = ctx.home("warm")
    rows = []
    try:
        with pulse_null_sink(ctx) as pulse_env:
            for name, options in SESSIONS.items():
                rows.extend(_session(ctx, home, pulse_env, name, options, seconds))
    except FileNotFoundError as exc:
        return [Row("P9", "CPU while playing", "-", "-", "-", None, note=str(exc))]
    return rows


def _session(ctx, home, pulse_env, name, options, seconds) -> list[Row]:
    wav = ctx.workdir / f"p9-{name}.wav"
    run_checked(haven_argv() + ["render", name, *options, "-q", "-o", str(wav)], ctx.env(home))
    env = ctx.env(home, **pulse_env)
    # One session plays per HAVEN_HOME: the one at a terminal has its own (speech cached too).
    tty_home = ctx.home("p9-terminal")
    run_checked(haven_argv() + ["render", name, *options, "-q", "-o", str(wav) + ".tmp.wav"],
                ctx.env(tty_home))
    stop = ["--script-controls", f"stop@{seconds}"] if ctx.quick else []
    play = haven_argv() + ["play", name, *options, "--no-checkin", *stop]
    jobs = {
        "haven": Measured("haven play", play + ["--quiet"], env),
        "file": Measured("file player", [PYTHON, "-c", FILE_PLAYER, str(wav),
                                         str(seconds * 48000 if ctx.quick else 0)], env),
    }
    if not ctx.quick:
        jobs["paplay"] = Measured("paplay", [shutil.which("paplay"), str(wav)], env)
    if name == "bedtime-body-scan":
        jobs["terminal"] = Measured("haven play at a terminal", play,
                                    ctx.env(tty_home, **pulse_env), tty=True)
    ctx.log(f"P9: {name}, {len(jobs)} players for {seconds} s")
    run_together(list(jobs.values()), timeout=seconds + 240)
    haven, file_player = jobs["haven"], jobs["file"]
    paplay = jobs.get("paplay")
    baseline = f"file player {100 * file_player.share:.2f} % ({file_player.cpu:.1f} s)"
    if paplay is not None:
        baseline += f"; paplay {100 * paplay.share:.2f} %"
    data = {name_: job.figures() for name_, job in jobs.items()}
    data.update(script=name, options=options, seconds=seconds)
    rows = []
    for key, how in (("haven", "no terminal"), ("terminal", "at a terminal, display on")):
        job = jobs.get(key)
        if job is None:
            continue
        ratio = job.cpu / job.wall / file_player.share
        bedtime = name == "bedtime-body-scan"
        met = ratio <= TARGET_RATIO and (not bedtime or job.share <= TARGET_SHARE)
        target = f"<= {TARGET_RATIO}x" + (f", <= {100 * TARGET_SHARE:.0f} %" if bedtime else "")
        rows.append(Row(
            id="P9",
            what=f"CPU, `haven play {name} {' '.join(options)}`, {seconds // 60} min ({how})",
            figure=f"{100 * job.share:.2f} % of a core ({job.cpu:.1f} s CPU / {job.wall:.0f} s)",
            baseline=baseline,
            ratio=f"{ratio:.2f}x the file player (target {target})",
            met=met,
            data=dict(data, measured=key, ratio=round(ratio, 3)),
            note="" if key == "haven" else "informational: keys and display cost",
        ))
    return rows
