"""P8: ``haven stats`` and ``haven streak`` on a 20,000-session journal (10 years).

The journal is built with ``bench/journal_bench.py``'s deterministic records (the journal
engineer's benchmark, which still runs on its own); the commands are timed as whole
processes, interleaved with P1's baseline (``import click``) and ``haven --help``, so the
table shows how much of the 300 ms budget is the journal's own work.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    PYTHON,
    Context,
    Row,
    haven_argv,
    interleaved_ms,
    median,
    python_snippet,
    rounded,
    run_checked,
)

TARGET_MS = 300.0


def journal_home(ctx: Context, sessions: int = 20_000, years: int = 10) -> tuple[Path, float]:
    """The HAVEN_HOME holding the benchmark journal, built once per run (P8 and R1 share it);
    returns it and the seconds building took."""
    key = ("journal", sessions, years)
    if key not in ctx.shared:
        home = ctx.home(f"journal-{sessions}-{years}")
        build_s = float(
            run_checked(
                python_snippet(
                    "from pathlib import Path; from bench.journal_bench import build_journal; "
                    f"print(build_journal(Path({str(home)!r}), {sessions}, {years}))"
                ),
                ctx.env(home),
            ).strip().splitlines()[-1]
        )
        ctx.shared[key] = (home, build_s)
    return ctx.shared[key]


def run(ctx: Context) -> list[Row]:
    sessions, years = (20_000, 10)
    home, build_s = journal_home(ctx, sessions, years)
    env = ctx.env(home)
    haven = haven_argv()
    samples = interleaved_ms(
        {
            "baseline": [PYTHON, "-c", "import click"],
            "haven --help": haven + ["--help"],
            "haven stats": haven + ["stats"],
            "haven streak": haven + ["streak"],
        },
        env,
        ctx.runs(9, 3),
    )
    base = median(samples["baseline"])
    help_ms = median(samples["haven --help"])
    rows = []
    for name in ("haven stats", "haven streak"):
        fig = median(samples[name])
        rows.append(
            Row(
                id="P8",
                what=f"`{name}`, {sessions:,} sessions over {years} years",
                figure=f"{fig:.0f} ms",
                baseline=f"P1: `haven --help` {help_ms:.0f} ms, `import click` {base:.0f} ms",
                ratio=f"+{fig - help_ms:.0f} ms over `--help` (target <= {TARGET_MS:.0f} ms)",
                met=fig <= TARGET_MS,
                data={
                    "command": name,
                    "sessions": sessions,
                    "years": years,
                    "journal_build_s": round(build_s, 2),
                    "median_ms": round(fig, 1),
                    "samples_ms": rounded(samples[name]),
                    "help_median_ms": round(help_ms, 1),
                    "baseline_command": 'python -c "import click"',
                    "baseline_median_ms": round(base, 1),
                    "baseline_samples_ms": rounded(samples["baseline"]),
                    "target_ms": TARGET_MS,
                    "runs": len(samples[name]),
                },
            )
        )
    return rows
