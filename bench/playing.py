"""Running ``haven play`` without sound hardware, for P2, P3, P6 and P7.

Two outputs, both through PortAudio's ALSA backend as a user's player would use it:

- ``capture``: ``shared/alsa/capture.conf``, the ALSA ``file`` plugin over ``null``. It takes
  audio as fast as it is given (not paced), so a whole session "plays" in seconds. Good for
  time to first audio and for peak memory; useless for underflows.
- ``pulse``: a PulseAudio null sink started here, which consumes audio at real-time pace, with
  ALSA's default device routed to it. For P7.

The player's own report (``HAVEN_PLAYBACK_REPORT=<file>``, written by ``player.audio.playback``)
gives the ``time.monotonic()`` of the first audio frame copied to the device, the underflow
counts and the callback's timing. ``time.monotonic()`` is one system-wide clock on Linux, so
the benchmark's own reading just before it starts the process is the process's start.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.common import ROOT, Context, haven_argv

CAPTURE_CONF = ROOT.parent / "shared" / "alsa" / "capture.conf"
SYSTEM_ALSA = "/usr/share/alsa/alsa.conf"
PULSE_INSTALL = "apt-get install -y pulseaudio libasound2-plugins"


def play_available(ctx: Context) -> str | None:
    """None when ``haven play`` exists and can reach an output; else why not."""
    if "play-missing" not in ctx.shared:
        proc = subprocess.run(haven_argv() + ["play", "--help"], env=ctx.env(),
                              capture_output=True, text=True)
        reason = None
        if proc.returncode != 0:
            reason = "`haven play` is not available in this checkout"
        elif not CAPTURE_CONF.is_file():
            reason = f"{CAPTURE_CONF} is missing"
        ctx.shared["play-missing"] = reason
    return ctx.shared["play-missing"]


def capture_env(ctx: Context, home: Path, report: Path) -> dict[str, str]:
    return ctx.env(
        home,
        ALSA_CONFIG_PATH=f"{SYSTEM_ALSA}:{CAPTURE_CONF}",
        HAVEN_CAPTURE=str(ctx.workdir / "capture.raw"),
        HAVEN_PLAYBACK_REPORT=str(report),
    )


def play_argv(script: str, *extra: str) -> list[str]:
    return haven_argv() + ["play", script, "--quiet", "--no-checkin", *extra]


def run_measured(argv: list[str], env: dict[str, str], timeout: float = 900) -> tuple[float, int]:
    """Run a command to its end; ``(wall seconds, peak resident set size in kB)``.

    ``wait4`` on exactly that process gives its own ``ru_maxrss`` (not the benchmark's, not
    other children's). stderr goes to a file, so a chatty process cannot block on a pipe.
    """
    import tempfile

    with tempfile.TemporaryFile() as err:
        spawn = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        deadline = spawn + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout:.0f} s")
            time.sleep(0.01)
        wall = time.monotonic() - spawn
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-600:]
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {tail}")
    return wall, int(usage.ru_maxrss)


def run_play(argv: list[str], env: dict[str, str], report: Path, timeout: float = 900) -> dict:
    """Run ``haven play`` to its end; its report plus ``spawn_monotonic``, ``wall_s`` and
    ``maxrss_kb``."""
    try:
        report.unlink()
    except FileNotFoundError:
        pass
    spawn = time.monotonic()
    wall, maxrss = run_measured(argv, env, timeout)
    data = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    data.update(spawn_monotonic=spawn, wall_s=wall, maxrss_kb=maxrss)
    return data


def first_audio_ms(data: dict) -> float | None:
    """Process start to the first audio frame handed to the device, from the report."""
    stats = data.get("stats") or {}
    first = stats.get("first_audio_monotonic", data.get("first_audio_monotonic"))
    if first is None:
        return None
    return (float(first) - data["spawn_monotonic"]) * 1000.0


# --- PulseAudio null sink --------------------------------------------------------------


@contextmanager
def pulse_null_sink(ctx: Context, rate: int = 48000) -> Iterator[dict[str, str]]:
    """Start a private PulseAudio daemon with a null sink; yield the environment that routes
    ALSA's default device to it. Stops the daemon (by its pid) afterwards."""
    exe = shutil.which("pulseaudio")
    plugin = any(Path(p).is_file() for p in (
        "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib/aarch64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so",
    ))
    if not exe or not plugin:
        raise FileNotFoundError(f"PulseAudio or its ALSA plugin is missing: {PULSE_INSTALL}")
    base = ctx.workdir / "pulse"
    (base / "runtime").mkdir(parents=True, exist_ok=True)
    socket_path = base / "native"
    conf = base / "asound.conf"
    conf.write_text(
        f'pcm.!default {{ type pulse server "unix:{socket_path}" }}\n'
        f'ctl.!default {{ type pulse server "unix:{socket_path}" }}\n',
        encoding="utf-8",
    )
    env = dict(os.environ, HOME=str(base), XDG_RUNTIME_DIR=str(base),
               PULSE_RUNTIME_PATH=str(base / "runtime"))
    log = open(base / "pulseaudio.log", "wb")
    daemon = subprocess.Popen(
        [exe, "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no",
         "--disable-shm=yes", "--log-target=stderr",
         "-L", f"module-null-sink sink_name=haven_bench rate={rate}",
         "-L", f"module-native-protocol-unix socket={socket_path} auth-anonymous=1"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "PulseAudio did not start: "
                    + (base / "pulseaudio.log").read_text(errors="replace")[-400:]
                )
            time.sleep(0.05)
        yield {
            "ALSA_CONFIG_PATH": f"{SYSTEM_ALSA}:{conf}",
            "PULSE_SERVER": f"unix:{socket_path}",
            "PULSE_RUNTIME_PATH": str(base / "runtime"),
        }
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


@contextmanager
def busy_core() -> Iterator[int]:
    """A process spinning on one core for the duration (the "other core fully loaded")."""
    proc = subprocess.Popen(
        [os.sys.executable, "-c", "while True: pass"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
