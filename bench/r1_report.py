"""R1: ``haven report`` on a 20,000-session journal over 10 years (issue 18: under 2 s).

The journal is P8's (``bench/journal_bench.py``'s deterministic records, built once per
run). The report covers the whole journal (the default period): 526 weeks of bars, a ten-year
calendar heatmap, the practice mix and the tables behind every chart. Each run is a
whole process (start-up, reading, matplotlib's import and drawing, writing the page),
interleaved with ``haven stats`` on the same journal as the baseline. The first, untimed run
also builds matplotlib's font list in the cache, as a user's first report does.
"""

from __future__ import annotations

from bench.common import Context, Row, haven_argv, interleaved_ms, median, rounded
from bench.p8_journal import journal_home

TARGET_MS = 2000.0


def run(ctx: Context) -> list[Row]:
    sessions, years = (20_000, 10)
    home, build_s = journal_home(ctx, sessions, years)  # P8's journal, when P8 ran first
    env = ctx.env(home)
    haven = haven_argv()
    page = ctx.workdir / "report.html"
    samples = interleaved_ms(
        {
            "haven stats": haven + ["stats"],
            "haven report": haven + ["report", "-o", str(page)],
            "haven report --json": haven + ["report", "--json", "-o", str(ctx.workdir / "report.json")],
        },
        env,
        ctx.runs(7, 3),
    )
    base = median(samples["haven stats"])
    rows = []
    for name in ("haven report", "haven report --json"):
        fig = median(samples[name])
        rows.append(
            Row(
                id="R1",
                what=f"`{name}`, {sessions:,} sessions over {years} years (whole journal)",
                figure=f"{fig:.0f} ms",
                baseline=f"`haven stats` {base:.0f} ms",
                ratio=f"{fig / 1000:.2f} s (target < {TARGET_MS / 1000:.0f} s)",
                met=fig < TARGET_MS,
                data={
                    "command": name,
                    "sessions": sessions,
                    "years": years,
                    "journal_build_s": round(build_s, 2),
                    "median_ms": round(fig, 1),
                    "samples_ms": rounded(samples[name]),
                    "baseline_command": "haven stats",
                    "baseline_median_ms": round(base, 1),
                    "baseline_samples_ms": rounded(samples["haven stats"]),
                    "page_bytes": page.stat().st_size,
                    "target_ms": TARGET_MS,
                    "runs": len(samples[name]),
                },
            )
        )
    return rows
