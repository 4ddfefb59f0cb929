"""P1: ``haven --help`` and ``haven list`` start-up, against ``python -c "import click"``.

Whole processes, start-up included, because that is what a user waits for. The baseline is
the least any Click program on this interpreter can cost; the target allows Haven 80 ms on
top of it for its own modules and work.
"""

from __future__ import annotations

from bench.common import PYTHON, Context, Row, haven_argv, interleaved_ms, median, rounded

TARGET_OVER_MS = 80.0
BASELINE = 'python -c "import click"'


def measure(ctx: Context, runs: int | None = None) -> dict[str, list[float]]:
    """Samples in ms for the baseline and both commands (also used by P2 and P8)."""
    haven = haven_argv()
    commands = {
        "baseline": [PYTHON, "-c", "import click"],
        "haven --help": haven + ["--help"],
        "haven list": haven + ["list"],
    }
    return interleaved_ms(commands, ctx.env(ctx.home("p1")), runs or ctx.runs(11, 3))


def run(ctx: Context) -> list[Row]:
    samples = ctx.shared.get("p1-samples") or measure(ctx)
    ctx.shared["p1-samples"] = samples
    base = median(samples["baseline"])
    rows = []
    for name in ("haven --help", "haven list"):
        fig = median(samples[name])
        over = fig - base
        rows.append(
            Row(
                id="P1",
                what=f"`{name}` wall time",
                figure=f"{fig:.0f} ms",
                baseline=f"{base:.0f} ms (`import click`)",
                ratio=f"+{over:.0f} ms (target <= +{TARGET_OVER_MS:.0f} ms)",
                met=over <= TARGET_OVER_MS,
                data={
                    "command": name,
                    "median_ms": round(fig, 1),
                    "samples_ms": rounded(samples[name]),
                    "baseline_command": BASELINE,
                    "baseline_median_ms": round(base, 1),
                    "baseline_samples_ms": rounded(samples["baseline"]),
                    "over_baseline_ms": round(over, 1),
                    "target_over_baseline_ms": TARGET_OVER_MS,
                    "runs": len(samples[name]),
                },
            )
        )
    return rows
