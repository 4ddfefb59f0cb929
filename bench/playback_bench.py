"""Playback benchmark: time to first audio (cold and warm speech cache), callback load, dropouts.

Time to first audio is measured end to end: from launching ``python -m player play NAME`` to
the moment the audio callback hands the first frame of the session to PortAudio (the player's
report gives that instant on the system-wide monotonic clock). Playback goes through PortAudio
into the ALSA file device of ``../shared/alsa/capture.conf`` (writing to /dev/null) and is
stopped after one second of output. "Cold" starts from an empty speech cache; "warm" after
the whole session has been synthesized once. The shortest and the longest built-in exercises
are measured, to show that the cold start does not grow with the script's length.

Because the capture device is not paced, the callback's load and dropouts are measured
separately, in real time: the player runs in-process against a stream that calls the callback
on a real-time schedule (like a sound card), and reports the callback's mean and worst
duration as a share of the block period, and the underflow count.

Prints a markdown table, then the same numbers as JSON. Run from the project root:

    .venv/bin/python bench/playback_bench.py [--runs 3] [--paced-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
CAPTURE_CONF = ROOT.parent / "shared" / "alsa" / "capture.conf"
SCRIPTS = {"shortest": "three-minute-breathing-space", "longest": "bedtime-body-scan"}


def _env(home: Path, report: Path) -> dict:
    env = dict(os.environ, HAVEN_HOME=str(home), HAVEN_PLAYBACK_REPORT=str(report),
               HAVEN_CAPTURE="/dev/null",
               ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{CAPTURE_CONF}")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def first_audio(name: str, home: Path) -> dict:
    """One `haven play` run: seconds from launch (and from the command's start) to audio."""
    report = home / "report.json"
    report.unlink(missing_ok=True)
    launched = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "player", "play", name, "--quiet", "--no-checkin",
         "--script-controls", "stop@1.0"],
        env=_env(home, report), capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"haven play {name} failed: {proc.stderr.strip()}")
    data = json.loads(report.read_text())
    first = data["first_audio_monotonic"]
    return {
        "from_launch_s": first - launched,
        "from_command_s": first - data["started_monotonic"],
        "holds": data["holds"],
    }


def warm_up(name: str, home: Path) -> None:
    out = home / "warm.wav"
    env = _env(home, home / "unused.json")
    subprocess.run([sys.executable, "-m", "player", "render", name, "-o", str(out), "-q"],
                   env=env, check=True, capture_output=True, timeout=900, cwd=ROOT)
    out.unlink(missing_ok=True)


class PacedStream:
    """Calls the callback every block period on a real-time schedule, like a sound card."""

    def __init__(self, *, samplerate, blocksize, channels, callback, finished_callback=None,
                 **_):
        import numpy as np

        self.period = blocksize / samplerate
        self.block = blocksize
        self.callback = callback
        self.finished_callback = finished_callback
        self.out = np.zeros((blocksize, channels), dtype=np.float32)
        self.latency = 0.0
        self.late = 0  # callbacks that started a whole period late
        self._stop = threading.Event()

    def start(self):
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        from player.audio import engine

        status = SimpleNamespace(output_underflow=False)
        due = time.perf_counter()
        try:
            while not self._stop.is_set():
                now = time.perf_counter()
                if now < due:
                    time.sleep(due - now)
                elif now - due > self.period:
                    self.late += 1
                due += self.period
                try:
                    self.callback(self.out, self.block, None, status)
                except (engine.CallbackStop, engine.CallbackAbort):
                    break
        finally:
            if self.finished_callback:
                self.finished_callback()

    def stop(self):
        self._stop.set()

    abort = close = stop


def paced(name: str, home: Path, seconds: float) -> dict:
    """Real-time playback in-process: callback load and underflows."""
    os.environ["HAVEN_HOME"] = str(home)
    from player.library import catalog as library
    from player.audio import engine
    from player.audio.render import SessionSettings
    from player.audio.streaming import StreamingSession

    script = library.load(name)
    session = StreamingSession(script, SessionSettings()).start()
    streams = []

    def factory(**kwargs):
        streams.append(PacedStream(**kwargs))
        return streams[-1]

    rate = 48000
    player = engine.Player(session, stream_factory=factory,
                           scripted=[(int(seconds * rate), "stop")])
    player.start()
    player.finished.wait(seconds + 30)
    player.close()
    session.close()
    stats = player.stats()
    period_ms = player.block / rate * 1000
    return {
        "seconds": seconds,
        "callbacks": stats["callbacks"],
        "callback_mean_ms": stats["callback_mean_ms"],
        "callback_max_ms": stats["callback_max_ms"],
        "block_period_ms": round(period_ms, 3),
        "mean_share": round(stats["callback_mean_ms"] / period_ms, 5),
        "max_share": round(stats["callback_max_ms"] / period_ms, 4),
        "underflows": stats["underflows"],
        "late_callbacks": streams[0].late if streams else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--paced-seconds", type=float, default=20.0,
                        help="seconds of real-time playback for the callback measurement")
    args = parser.parse_args()
    if not CAPTURE_CONF.is_file():
        raise SystemExit(f"needs {CAPTURE_CONF} (the project's shared ALSA capture config)")

    results: dict = {"first_audio": {}, "paced": {}}
    rows = []
    for label, name in SCRIPTS.items():
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
                cold.append(first_audio(name, Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="haven-bench-") as tmp:
            home = Path(tmp)
            warm_up(name, home)
            for _ in range(args.runs):
                warm.append(first_audio(name, home))
            results["paced"][name] = paced(name, home, args.paced_seconds)
        for cache, runs in (("cold", cold), ("warm", warm)):
            launch = statistics.median(r["from_launch_s"] for r in runs)
            command = statistics.median(r["from_command_s"] for r in runs)
            results["first_audio"][f"{name}/{cache}"] = {
                "script": name, "which": label, "cache": cache,
                "from_launch_s": round(launch, 3), "from_command_s": round(command, 3),
                "runs": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                         for r in runs],
            }
            rows.append((name, label, cache, launch, command))

    print("## Time to first audio (median of %d)\n" % args.runs)
    print("| script | | cache | from launch (s) | from command start (s) |")
    print("|---|---|---|---:|---:|")
    for name, label, cache, launch, command in rows:
        print(f"| {name} | {label} | {cache} | {launch:.3f} | {command:.3f} |")
    print("\n## Real-time playback (paced stream, %g s each)\n" % args.paced_seconds)
    print("| script | callbacks | mean (ms) | worst (ms) | block period (ms) | mean share "
          "| worst share | underflows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, p in results["paced"].items():
        print(f"| {name} | {p['callbacks']} | {p['callback_mean_ms']:.4f} | "
              f"{p['callback_max_ms']:.3f} | {p['block_period_ms']:.2f} | "
              f"{100 * p['mean_share']:.3f} % | {100 * p['max_share']:.2f} % | "
              f"{p['underflows']} |")
    print()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
