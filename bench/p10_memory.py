"""P10: peak resident memory of ``haven play``, against a 30-line file player in the same run.

The sessions are P9's: ``bedtime-body-scan`` (bedtime is on by default for it, so the session
ends with its tail of ambient sound) and ``body-scan``, speech cached, each played

- *paced*: to a PulseAudio null sink (``bench.playing.pulse_null_sink``, real-time pace, as a
  user's desktop plays it) for ``PACED_S`` seconds (the hidden ``--script-controls stop@S``);
- *whole*: the entire session, tail included, to the ALSA capture device (not paced: an hour
  passes in seconds, with the real player's ring, producer thread and callback), so that
  anything that grows with the session, or only happens late (the bedtime tail, the last
  sections' clips), is in the peak too.

The figure is the peak of the two (``ru_maxrss`` from ``wait4``: the process itself, or a
reaped child if one was larger). While the process runs, its whole tree is sampled every
``SAMPLE_S`` from ``/proc`` (``VmRSS`` and ``Pss`` of ``smaps_rollup`` of every descendant):
the row's data gives the tree's peak RSS sum and peak PSS sum (what a user's machine pays,
shared pages counted once) and the most worker processes seen at once. With every clip
cached no speech worker starts, so the tree is the process itself; the system voice's row
also gives a first run (a fresh ``HAVEN_HOME``, nothing cached: the workers at work, counted
in the tree), which the target does not cover. Before the measured plays, one whole play
leaves on disk what a play keeps for the next (clip levels, ``player.audio.memo``), as a
listener's second session finds it.

Baseline, in the same run and to the same sink: python-sounddevice's ``play_long_file.py``
pattern (soundfile reads 1024-frame blocks into a queue, a ``RawOutputStream`` callback
plays them) on the same session rendered to WAV.

Targets (issue 12): <= 100 MB with the system voice, <= 160 MB with the neural voice
(``--voice joe``, the bundled Piper voice; measured when Piper is installed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

from bench.common import PYTHON, ROOT, Context, Row, haven_argv, run_checked
from bench.playing import (
    capture_env,
    play_argv,
    play_available,
    pulse_null_sink,
)

SESSIONS = ("bedtime-body-scan", "body-scan")
SYSTEM_TARGET_MB, NEURAL_TARGET_MB = 100.0, 160.0
PACED_S, PACED_QUICK_S = 60.0, 20.0
SAMPLE_S = 0.05
NEURAL_VOICE = "piper:joe"  # the bundled Piper voice, named with its engine

# python-sounddevice's examples/play_long_file.py, reduced to what it does: the file player
# the issue compares with (1024-frame blocks, a 20-block queue, a raw output stream).
FILE_PLAYER = r"""
import queue, sys, threading, time
import sounddevice as sd, soundfile as sf
path, seconds = sys.argv[1], float(sys.argv[2])
blocksize, buffersize = 1024, 20
q = queue.Queue(maxsize=buffersize)
event = threading.Event()
def callback(outdata, frames, time_info, status):
    try:
        data = q.get_nowait()
    except queue.Empty:
        raise sd.CallbackAbort
    if len(data) < len(outdata):
        outdata[:len(data)] = data
        outdata[len(data):] = b'\x00' * (len(outdata) - len(data))
        raise sd.CallbackStop
    outdata[:] = data
with sf.SoundFile(path) as f:
    for _ in range(buffersize):
        data = f.buffer_read(blocksize, dtype='float32')
        if not data:
            break
        q.put_nowait(data)
    stream = sd.RawOutputStream(samplerate=f.samplerate, blocksize=blocksize,
                                channels=f.channels, dtype='float32',
                                callback=callback, finished_callback=event.set)
    end = time.monotonic() + seconds
    with stream:
        while data and time.monotonic() < end:
            data = f.buffer_read(blocksize, dtype='float32')
            q.put(data, timeout=5)  # the example's 0.43 s is too short for a sink starting
"""


def _mb(kb: float) -> float:
    return kb / 1024.0


# --- sampling a process tree -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                found.extend(int(p) for p in fh.read().split())
        except (OSError, ValueError):
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def _field_kb(path: str, name: str) -> int:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_sampled(argv: list[str], env: dict[str, str], timeout: float = 900) -> dict:
    """Run a command to its end, sampling its process tree every ``SAMPLE_S``.

    ``{"wall_s", "maxrss_kb" (wait4), "hwm_kb" (the process's own VmHWM, last sample),
    "tree_rss_kb", "tree_pss_kb" (peak sums), "workers" (most descendants at once)}``.
    """
    with tempfile.TemporaryFile() as err:
        spawn = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        hwm = tree_rss = tree_pss = workers = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - spawn > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout:.0f} s")
            pids = _tree(proc.pid)
            hwm = max(hwm, _field_kb(f"/proc/{proc.pid}/status", "VmHWM:"))
            tree_rss = max(tree_rss, sum(_field_kb(f"/proc/{p}/status", "VmRSS:") for p in pids))
            tree_pss = max(tree_pss, sum(_field_kb(f"/proc/{p}/smaps_rollup", "Pss:")
                                         for p in pids))
            workers = max(workers, len(pids) - 1)
            time.sleep(SAMPLE_S)
        wall = time.monotonic() - spawn
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-600:]
            raise RuntimeError(f"{' '.join(argv)} exited {code}: {tail}")
    return {"wall_s": round(wall, 2), "maxrss_kb": int(usage.ru_maxrss), "hwm_kb": hwm,
            "tree_rss_kb": tree_rss, "tree_pss_kb": tree_pss, "workers": workers}


# --- the benchmark -------------------------------------------------------------------------


def _neural_installed(ctx: Context) -> bool:
    proc = subprocess.run(
        haven_argv() + ["voices"], env=ctx.env(), capture_output=True, text=True, timeout=120
    )
    return proc.returncode == 0 and NEURAL_VOICE in proc.stdout


def measure(ctx: Context, script: str, voice: str | None, pulse: dict[str, str],
            seconds: float) -> dict:
    """Warm the cache, render the WAV for the baseline, then play paced and whole."""
    home = ctx.home("warm" if voice is None else "warm-neural")
    extra = [] if voice is None else ["--voice", voice]
    wav = ctx.workdir / f"p10-{script}-{'system' if voice is None else 'neural'}.wav"
    paced_argv = play_argv(script, *extra, "--script-controls", f"stop@{seconds:g}")
    got = {}
    if voice is None:
        # A first run: a fresh HAVEN_HOME, nothing cached, the speech workers at work.
        got["first_run"] = run_sampled(paced_argv, ctx.env(ctx.fresh_home(), **pulse))
    run_checked(haven_argv() + ["render", script, *extra, "-q", "-o", str(wav)],
                ctx.env(home), timeout=3600)
    capture = capture_env(ctx, home, ctx.workdir / "p10-report.json")
    # One whole play first (every clip loaded): what a play keeps on disk for the next (each
    # clip's level) is there, as a listener's second session finds it.
    run_checked(play_argv(script, *extra), capture, timeout=900)
    paced_env = ctx.env(home, **pulse)
    got["paced"] = run_sampled(paced_argv, paced_env)
    got["whole"] = run_sampled(play_argv(script, *extra), capture)
    got["file_player"] = run_sampled(
        [PYTHON, "-c", FILE_PLAYER, str(wav), f"{seconds:g}"], paced_env
    )
    wav.unlink()
    return got


def run(ctx: Context) -> list[Row]:
    missing = play_available(ctx)
    if missing:
        return [Row("P10", "peak memory of `haven play`", "-", "-", "-", None, note=missing)]
    seconds = PACED_QUICK_S if ctx.quick else PACED_S
    voices: list[str | None] = [None]
    if _neural_installed(ctx):
        voices.append(NEURAL_VOICE)
    rows = []
    with pulse_null_sink(ctx) as pulse:
        for voice in voices:
            for script in SESSIONS:
                ctx.log(f"P10 {script} ({voice or 'system voice'})")
                got = measure(ctx, script, voice, pulse, seconds)
                ctx.log(f"P10 {script}: " + ", ".join(
                    f"{k} {_mb(v['maxrss_kb']):.0f} MB" for k, v in got.items()))
                rows.append(_row(script, voice, got, seconds))
    if len(voices) == 1:
        rows.append(Row("P10", "peak memory, neural voice", "-", "-", "-", None,
                        note="Piper (the neural extra) is not installed"))
    return rows


def _row(script: str, voice: str | None, got: dict, seconds: float) -> Row:
    target = SYSTEM_TARGET_MB if voice is None else NEURAL_TARGET_MB
    peak_kb = max(got["paced"]["maxrss_kb"], got["whole"]["maxrss_kb"])
    base_kb = got["file_player"]["maxrss_kb"]
    tree_pss = max(got["paced"]["tree_pss_kb"], got["whole"]["tree_pss_kb"])
    workers = max(got["paced"]["workers"], got["whole"]["workers"])
    voice_text = "system voice" if voice is None else f"`--voice {voice}`"
    first = got.get("first_run")
    first_text = (
        f"; first run (fresh home, {first['workers']} worker(s)): {_mb(first['maxrss_kb']):.0f} "
        f"MB, tree PSS {_mb(first['tree_pss_kb']):.0f} MB" if first else ""
    )
    return Row(
        id="P10",
        what=f"peak memory, `haven play {script}`, {voice_text}",
        figure=f"{_mb(peak_kb):.0f} MB",
        baseline=f"{_mb(base_kb):.0f} MB (file player, same WAV)",
        ratio=f"{peak_kb / base_kb:.1f}x (target <= {target:.0f} MB); tree PSS "
              f"{_mb(tree_pss):.0f} MB, {workers} worker(s){first_text}",
        met=_mb(peak_kb) <= target,
        data={
            "script": script,
            "voice": voice or "system",
            "paced_seconds": seconds,
            "peak_mb": round(_mb(peak_kb), 1),
            "target_mb": target,
            "baseline_mb": round(_mb(base_kb), 1),
            "tree_pss_peak_mb": round(_mb(tree_pss), 1),
            "workers": workers,
            "runs": {k: {(f[:-3] + "_mb" if f.endswith("_kb") else f):
                         (round(_mb(v), 1) if f.endswith("_kb") else v)
                         for f, v in d.items()} for k, d in got.items()},
        },
    )
