"""P6: peak memory of rendering and of playing a 60-minute session, against a short one.

Peak resident memory (``ru_maxrss`` from ``wait4``) of the whole ``haven render`` /
``haven play`` process, speech cached. Both lengths are the same script, so the speech clips
(held in memory for the whole session, a few MB per minute of speech) are the same and only
the session's length differs: a ratio near 1 means nothing grows with it. The only built-in
script that reaches 60 minutes is ``bedtime-body-scan``, and it cannot be fitted shorter than
about 6 minutes, so the short session is 6.5 minutes rather than 5.

Playing goes to the ALSA capture device (not paced: the 60 minutes pass in seconds, with the
real player's ring, producer thread and callback).
"""

from __future__ import annotations

from bench.common import Context, Row, haven_argv, median, run_checked
from bench.playing import capture_env, play_argv, play_available, run_measured

TARGET_RATIO = 1.25
SCRIPT = "bedtime-body-scan"
LONG_MIN, SHORT_MIN = 60, 6.5


def _mb(kb: float) -> float:
    return kb / 1024.0


def run(ctx: Context) -> list[Row]:
    home = ctx.home("warm")
    env = ctx.env(home)
    out = str(ctx.workdir / "p6.wav")
    runs = ctx.runs(3, 1)

    def render_argv(minutes: float) -> list[str]:
        return haven_argv() + ["render", SCRIPT, "--minutes", str(minutes), *PLAY_EXTRA,
                               "-q", "-o", out]

    run_checked(render_argv(LONG_MIN), env)  # warm the speech cache
    measured: dict[str, dict[float, list[int]]] = {"render": {}}
    for minutes in (SHORT_MIN, LONG_MIN):
        measured["render"][minutes] = [run_measured(render_argv(minutes), env)[1] for _ in range(runs)]

    missing = play_available(ctx)
    if missing is None:
        report = ctx.workdir / "p6-report.json"
        penv = capture_env(ctx, home, report)
        measured["play"] = {}
        for minutes in (SHORT_MIN, LONG_MIN):
            argv = play_argv(SCRIPT, "--minutes", str(minutes), *PLAY_EXTRA)
            measured["play"][minutes] = [run_measured(argv, penv)[1] for _ in range(runs)]

    rows = []
    for kind in ("render", "play"):
        if kind not in measured:
            rows.append(Row("P6", f"peak memory, playing {LONG_MIN} min vs {SHORT_MIN} min",
                            "-", "-", "-", None, note=missing or ""))
            continue
        long_kb = median(measured[kind][LONG_MIN])
        short_kb = median(measured[kind][SHORT_MIN])
        ratio = long_kb / short_kb
        rows.append(
            Row(
                id="P6",
                what=f"peak memory, `haven {kind} {SCRIPT}` {LONG_MIN} min",
                figure=f"{_mb(long_kb):.0f} MB",
                baseline=f"{_mb(short_kb):.0f} MB ({SHORT_MIN} min)",
                ratio=f"{ratio:.2f}x (target <= {TARGET_RATIO}x)",
                met=ratio <= TARGET_RATIO,
                data={
                    "command": kind,
                    "script": SCRIPT,
                    "long_minutes": LONG_MIN,
                    "short_minutes": SHORT_MIN,
                    "long_maxrss_mb": round(_mb(long_kb), 1),
                    "short_maxrss_mb": round(_mb(short_kb), 1),
                    "long_samples_mb": [round(_mb(v), 1) for v in measured[kind][LONG_MIN]],
                    "short_samples_mb": [round(_mb(v), 1) for v in measured[kind][SHORT_MIN]],
                    "ratio": round(ratio, 3),
                    "target_ratio": TARGET_RATIO,
                    "runs": runs,
                },
            )
        )
    return rows


# The exercise itself, not its bedtime version (on by default for sleep exercises in both
# `play` and `render`): bedtime's slower voice cannot fit the short session, and its tail of
# ambient sound would make the two lengths differ by more than the script's own.
PLAY_EXTRA: list[str] = ["--no-sleep"]
