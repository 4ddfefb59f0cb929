"""P8: `haven stats` and `haven streak` on a journal of 20,000 sessions over 10 years.

Builds the journal in a temporary HAVEN_HOME, then times each command as a whole process
(start-up included), the median of several runs, against `python -c "import click"` measured
in the same run. Prints a markdown row per command and the same figures as JSON.

    python bench/journal_bench.py [--sessions 20000] [--years 10] [--runs 5] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0

EXERCISES = [
    ("body-scan", "Body scan", "body-scan"),
    ("breathing-space", "Three-minute breathing space", "meditation"),
    ("sitting", "Sitting meditation", "meditation"),
    ("coherent-breathing", "Coherent breathing", "breathing"),
    ("box-breathing", "Box breathing", "breathing"),
    ("self-compassion-break", "Self-compassion break", "self-compassion"),
    ("sleep-wind-down", "Wind down for sleep", "sleep"),
    ("pmr", "Progressive muscle relaxation", "relaxation"),
    ("timer", "Timer", None),
    ("yoga", None, None),
]


def make_records(count: int, years: int, seed: int = 8) -> list[dict]:
    """Deterministic sessions spread over ``years`` years, with DST and some travel offsets."""
    rng = random.Random(seed)
    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    span = timedelta(days=365 * years).total_seconds()
    records = []
    for i in range(count):
        start = end - timedelta(seconds=rng.random() * span)
        offset = "+01:00" if 4 <= start.month <= 9 else "+00:00"
        if rng.random() < 0.05:
            offset = rng.choice(["-05:00", "-08:00", "+05:30", "+09:00"])
        exercise, title, category = rng.choice(EXERCISES)
        planned = rng.choice([180, 300, 600, 900, 1200, 1800, 2700])
        completed = rng.random() < 0.85
        practiced = float(planned if completed else round(rng.random() * planned, 1))
        rated = rng.random() < 0.3
        records.append(
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "exercise": exercise,
                "title": title,
                "category": category,
                "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ended_at": (start + timedelta(seconds=practiced)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "utc_offset": offset,
                "planned_s": float(planned),
                "practiced_s": practiced,
                "completed": completed,
                "source": "played" if rng.random() < 0.9 else "manual",
                "mood_before": rng.randint(2, 7) if rated else None,
                "mood_after": rng.randint(4, 9) if rated else None,
                "note": "felt settled" if rng.random() < 0.05 else None,
            }
        )
    return records


def build_journal(home: Path, count: int, years: int) -> float:
    """Create the journal under ``home``; returns seconds taken."""
    os.environ["HAVEN_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from player.journal import Journal

    t0 = time.perf_counter()
    with Journal.open() as journal:
        result = journal.import_records(make_records(count, years))
        assert result.added == count, result
    return time.perf_counter() - t0


def run_times(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, list[float]]:
    """Median wall time in ms of ``runs`` runs (after one warm-up run) and all samples."""
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples.append((time.perf_counter() - t0) * 1000.0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode(errors='replace')}")
    return statistics.median(samples), samples


def command_argv(name: str, env: dict[str, str]) -> tuple[list[str], str]:
    """The real `haven NAME` (python -m player NAME) if the main CLI registers it; otherwise
    the journal command object called directly, which is the same code minus the main group."""
    real = [sys.executable, "-m", "player", name]
    probe = subprocess.run(real, env=env, cwd=ROOT, capture_output=True)
    if probe.returncode == 0:
        return real, f"python -m player {name}"
    direct = (
        f"from player.cli.journal import {name}; "
        f"{name}.main(args=[], prog_name='haven {name}')"
    )
    return [sys.executable, "-c", direct], f"player.cli.journal.{name} (main CLI lacks it)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json-out", type=Path, help="also write the JSON figures to this file")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="haven-bench-"))
    try:
        build_s = build_journal(home / "home", args.sessions, args.years)
        env = dict(os.environ, HAVEN_HOME=str(home / "home"))
        # Users run with compiled bytecode (pip writes it); so does this benchmark.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        baseline, baseline_samples = run_times([sys.executable, "-c", "import click"], env, args.runs)
        results = {
            "id": "P8",
            "sessions": args.sessions,
            "years": args.years,
            "runs": args.runs,
            "journal_build_s": round(build_s, 2),
            "baseline": {"command": 'python -c "import click"', "median_ms": round(baseline, 1)},
            "target_ms": TARGET_MS,
            "commands": [],
        }
        for name in ("stats", "streak"):
            cmd, label = command_argv(name, env)
            median, samples = run_times(cmd, env, args.runs)
            results["commands"].append(
                {
                    "command": f"haven {name}",
                    "ran": label,
                    "median_ms": round(median, 1),
                    "samples_ms": [round(s, 1) for s in samples],
                    "over_baseline_ms": round(median - baseline, 1),
                    "meets_target": median < TARGET_MS,
                }
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print("| id | what | baseline (same run) | median | over baseline | target | met |")
    print("|---|---|---|---|---|---|---|")
    for c in results["commands"]:
        print(
            f"| P8 | `{c['command']}`, {args.sessions:,} sessions over {args.years} years | "
            f"{baseline:.0f} ms (`import click`) | {c['median_ms']:.0f} ms | +{c['over_baseline_ms']:.0f} ms | "
            f"< {TARGET_MS:.0f} ms | {'yes' if c['meets_target'] else 'NO'} |"
        )
    print()
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
