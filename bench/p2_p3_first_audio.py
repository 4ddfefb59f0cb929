"""P2 and P3: from process start to the first audio frame handed to the device.

``haven play SCRIPT`` runs to the ALSA capture device and stops after one second of output
(the hidden ``--script-controls stop@1`` hook); the player's report gives the monotonic time
at which its callback copied the session's first frame into the device buffer, and the
benchmark took the same clock just before starting the process.

- P2, warm cache (every clip synthesized before): the target is 300 ms, the same for the
  shortest and the longest built-in script. Paired with P1's ``haven --help`` in this run.
- P3, cold cache (the speech cache emptied before every run): the target is 1 s, not
  growing with the script's length. Paired with ``espeak-ng`` writing the script's first
  sentence to a file, the least a cold start could cost with this engine.

"Same" and "not growing": the longest script's median within 50 ms (P2) or 100 ms (P3) of
the shortest's. Scripts are the built-in ones with the least and the most speech.
"""

from __future__ import annotations

import shutil

from bench.common import Context, Row, median, rounded, wall_ms
from bench.p1_startup import measure as measure_p1
from bench.playing import capture_env, first_audio_ms, play_argv, play_available, run_play
from bench.scripts import sentences, shortest_and_longest

P2_TARGET_MS, P2_SAME_MS = 300.0, 50.0
P3_TARGET_MS, P3_GROWTH_MS = 1000.0, 100.0
STOP = ["--script-controls", "stop@1"]


def _first_audio(ctx: Context, script: str, home, *, cold: bool, runs: int) -> list[float]:
    report = ctx.workdir / f"first-audio-{script}.json"
    env = capture_env(ctx, home, report)
    out = []
    for i in range(runs + (0 if cold else 1)):  # warm: one unmeasured run fills the cache
        if cold:
            shutil.rmtree(home / "cache", ignore_errors=True)
        data = run_play(play_argv(script, *STOP), env, report, timeout=300)
        ms = first_audio_ms(data)
        if ms is None:
            raise RuntimeError(f"haven play {script} reported no first audio frame")
        if cold or i:
            out.append(ms)
    return out


def run(ctx: Context) -> list[Row]:
    shortest, longest = shortest_and_longest(ctx)
    missing = play_available(ctx)
    if missing:
        return [
            Row("P2", "first audio, warm cache", "-", "-", "-", None, note=missing),
            Row("P3", "first audio, cold cache", "-", "-", "-", None, note=missing),
        ]
    runs = ctx.runs(7, 2)
    warm = {s["id"]: _first_audio(ctx, s["id"], ctx.home("warm"), cold=False, runs=runs)
            for s in (shortest, longest)}
    cold_home = ctx.home("cold")
    cold = {s["id"]: _first_audio(ctx, s["id"], cold_home, cold=True, runs=runs)
            for s in (shortest, longest)}

    p1 = ctx.shared.get("p1-samples") or measure_p1(ctx, runs)
    ctx.shared["p1-samples"] = p1
    help_ms = median(p1["haven --help"])

    first = {s["id"]: sentences(ctx, s["id"])[0] for s in (shortest, longest)}
    espeak = {}
    for sid, item in first.items():
        argv = ["espeak-ng", "-s", str(item["wpm"]), "-a", "100", "-w",
                str(ctx.workdir / "first.wav")]
        argv += (["-v", item["voice"]] if item["voice"] else []) + ["--", item["text"]]
        espeak[sid] = [wall_ms(argv, ctx.env()) for _ in range(runs)]

    rows = []
    w_short, w_long = median(warm[shortest["id"]]), median(warm[longest["id"]])
    c_short, c_long = median(cold[shortest["id"]]), median(cold[longest["id"]])
    for script, samples in warm.items():
        fig = median(samples)
        same = abs(w_long - w_short) <= P2_SAME_MS
        rows.append(Row(
            id="P2",
            what=f"first audio frame, warm cache, `{script}`",
            figure=f"{fig:.0f} ms",
            baseline=f"P1 `haven --help` {help_ms:.0f} ms",
            ratio=f"+{fig - help_ms:.0f} ms over P1 (target <= {P2_TARGET_MS:.0f} ms, "
                  f"both scripts within {P2_SAME_MS:.0f} ms: {abs(w_long - w_short):.0f} ms)",
            met=fig <= P2_TARGET_MS and same,
            data={"script": script, "median_ms": round(fig, 1), "samples_ms": rounded(samples),
                  "p1_help_median_ms": round(help_ms, 1), "target_ms": P2_TARGET_MS,
                  "shortest_longest_gap_ms": round(w_long - w_short, 1), "runs": len(samples)},
        ))
    for script, samples in cold.items():
        fig = median(samples)
        base = median(espeak[script])
        grows = (c_long - c_short) > P3_GROWTH_MS
        rows.append(Row(
            id="P3",
            what=f"first audio frame, cold cache, `{script}`",
            figure=f"{fig:.0f} ms",
            baseline=f"{base:.0f} ms (`espeak-ng -w`, first sentence)",
            ratio=f"{fig / base:.1f}x (target <= {P3_TARGET_MS:.0f} ms, longest - shortest "
                  f"<= {P3_GROWTH_MS:.0f} ms: {c_long - c_short:+.0f} ms)",
            met=fig <= P3_TARGET_MS and not grows,
            data={"script": script, "median_ms": round(fig, 1), "samples_ms": rounded(samples),
                  "baseline_command": "espeak-ng -w FILE <first sentence>",
                  "baseline_median_ms": round(base, 1),
                  "baseline_samples_ms": rounded(espeak[script]),
                  "target_ms": P3_TARGET_MS,
                  "longest_minus_shortest_ms": round(c_long - c_short, 1),
                  "runs": len(samples)},
        ))
    return rows
