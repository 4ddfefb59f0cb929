"""P5: warm render of a 30-minute session to a file, against the session's own length.

Two figures, both with the speech already cached ("warm"):

- the whole ``haven render body-scan --minutes 30 -o FILE.wav`` command, start-up, loading
  the cached clips and loudness planning included: what a user waits for;
- ``render_to_file`` alone (mixing, the true-peak limiter, writing), timed in one process
  after ``prepare_session``: the part that grows with the session's length.

Each is given as "times faster than real time" (session length / wall time). WAV keeps the
float samples as they are, so the figure is Haven's work, not a codec's; and the file goes to
a RAM-backed folder (``/dev/shm``) where there is one, so it is not the disk's either (30
minutes of float stereo is 691 MB: on this machine's disk, writing it alone takes seconds).
"""

from __future__ import annotations

import json
import os

from bench.common import Context, Row, haven_argv, median, python_snippet, rounded, run_checked, wall_ms

TARGET_X = 500.0
SCRIPT = "body-scan"
MINUTES = 30

_IN_PROCESS = """
import json, time
from player.audio.render import SessionSettings, prepare_session, render_to_file
t0 = time.perf_counter()
session = prepare_session({script!r}, SessionSettings(minutes={minutes}))
prepare_s = time.perf_counter() - t0
times = []
for i in range({runs} + 1):
    t0 = time.perf_counter()
    result = render_to_file(session, {out!r})
    if i:
        times.append(time.perf_counter() - t0)
print(json.dumps({{"prepare_s": prepare_s, "times": times, "length_s": result.duration_s}}))
"""


def _ram_folder(ctx: Context):
    import tempfile
    from pathlib import Path

    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="haven-bench-", dir=shm))
        ctx.cleanup.append(folder)
        return folder
    return ctx.workdir


def run(ctx: Context) -> list[Row]:
    env = ctx.env(ctx.home("warm"))
    folder = _ram_folder(ctx)
    out = str(folder / "p5.wav")
    where = " on tmpfs" if str(folder).startswith("/dev/shm") else ""
    argv = haven_argv() + ["render", SCRIPT, "--minutes", str(MINUTES), "-q", "-o", out]
    run_checked(argv, env)  # synthesizes the speech once: the cache is warm from here on
    runs = ctx.runs(5, 2)
    inproc = json.loads(
        run_checked(
            python_snippet(_IN_PROCESS.format(script=SCRIPT, minutes=MINUTES, runs=runs, out=out)),
            env,
        ).strip().splitlines()[-1]
    )
    length = inproc["length_s"]
    whole = [wall_ms(argv, env) / 1000.0 for _ in range(runs)]
    rows = []
    for what, samples, extra in (
        (f"`haven render {SCRIPT} --minutes {MINUTES}` to WAV{where}, whole command, warm cache",
         whole, {}),
        ("`render_to_file` alone (mix, limiter, write) of the same session",
         inproc["times"], {"prepare_s": round(inproc["prepare_s"], 3)}),
    ):
        fig = median(samples)
        speed = length / fig
        rows.append(
            Row(
                id="P5",
                what=what,
                figure=f"{fig:.2f} s",
                baseline=f"{length / 60:.1f} min (the session)",
                ratio=f"{speed:.0f}x real time (target >= {TARGET_X:.0f}x)",
                met=speed >= TARGET_X,
                data={
                    "script": SCRIPT,
                    "minutes": MINUTES,
                    "session_s": round(length, 2),
                    "median_s": round(fig, 3),
                    "samples_s": rounded(samples, 3),
                    "x_real_time": round(speed, 1),
                    "target_x": TARGET_X,
                    "runs": len(samples),
                    **extra,
                },
            )
        )
    return rows
