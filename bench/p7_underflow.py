"""P7: output underflows over 10 minutes of real-time playback with the other core busy.

``haven play body-scan`` plays to a PulseAudio null sink started for the purpose (it takes
audio at real-time pace, like a sound card), through PortAudio's ALSA backend and ALSA's
pulse plugin, while a process spins on the other core. It stops itself after 10 minutes of
output (``--script-controls stop@600``; ``--quick``: 1 minute). The speech is cached, as it
is for a session someone plays again; the first play's synthesis is P3's subject.

Counted by the player (its ``HAVEN_PLAYBACK_REPORT``): underflows of its own ring (the
callback found no prepared block: a dropout) and those PortAudio reported for the device.
Both must be zero. Also reported: the callback's mean and longest run as a share of the
block period (how much of its time budget the real-time thread uses).
"""

from __future__ import annotations

from bench.common import Context, Row, haven_argv, run_checked
from bench.playing import busy_core, play_argv, play_available, pulse_null_sink, run_play

SCRIPT = "body-scan"


def run(ctx: Context) -> list[Row]:
    seconds = 60 if ctx.quick else 600
    what = f"underflows, {seconds // 60} min real-time playback, other core busy"
    missing = play_available(ctx)
    if missing:
        return [Row("P7", what, "-", "-", "-", None, note=missing)]
    home = ctx.home("warm")
    run_checked(haven_argv() + ["render", SCRIPT, "-q", "-o", str(ctx.workdir / "p7.wav")],
                ctx.env(home))  # speech cached
    report = ctx.workdir / "p7-report.json"
    try:
        with pulse_null_sink(ctx) as pulse_env, busy_core():
            env = ctx.env(home, HAVEN_PLAYBACK_REPORT=str(report), **pulse_env)
            data = run_play(play_argv(SCRIPT, "--script-controls", f"stop@{seconds}"), env,
                            report, timeout=seconds + 180)
    except FileNotFoundError as exc:
        return [Row("P7", what, "-", "-", "-", None, note=str(exc))]
    stats = data.get("stats") or data  # the player writes its figures at the top level
    ring = int(stats.get("underflows", -1))
    device = int(stats.get("device_underflows", -1))
    block, rate = stats.get("block"), stats.get("rate")
    period_ms = 1000.0 * block / rate if block and rate else None
    mean_ms, max_ms = stats.get("callback_mean_ms"), stats.get("callback_max_ms")
    share = stats.get("callback_share")
    played = stats.get("device_frames", 0) / rate if rate else 0
    max_share = max_ms / period_ms if (max_ms is not None and period_ms) else None
    return [
        Row(
            id="P7",
            what=what + f" (`{SCRIPT}`, PulseAudio null sink)",
            figure=f"{ring} ring + {device} device underflows",
            baseline="none",
            ratio=(
                f"callback: mean {100 * share:.2f} %, longest {100 * max_share:.1f} % of the "
                f"{period_ms:.1f} ms block (target: 0 underflows)"
                if share is not None and max_share is not None else "target: 0 underflows"
            ),
            met=ring == 0 and device == 0,
            data={
                "script": SCRIPT,
                "seconds_requested": seconds,
                "seconds_played": round(played, 2),
                "wall_s": round(data.get("wall_s", 0.0), 2),
                "underflows": ring,
                "underflow_frames": stats.get("underflow_frames"),
                "device_underflows": device,
                "holds": stats.get("holds"),
                "callbacks": stats.get("callbacks"),
                "block_frames": block,
                "block_period_ms": round(period_ms, 3) if period_ms else None,
                "callback_mean_ms": mean_ms,
                "callback_max_ms": max_ms,
                "callback_share_mean": share,
                "callback_share_max": round(max_share, 4) if max_share is not None else None,
                "runs": 1,
            },
        )
    ]
