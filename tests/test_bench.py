"""The benchmark runner works and writes the promised JSON (no timing is asserted here:
figures depend on the machine and its load; ``make bench`` is where they are judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_p1_quick_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "P1", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "| id | what | figure | baseline (same run) | ratio / target | met? |"
    assert sum(line.startswith("| P1 |") for line in lines) == 2

    data = json.loads(out.read_text())
    assert data["quick"] is True and data["only"] == ["P1"] and data["errors"] == {}
    machine = data["machine"]
    for key in ("cpu", "cores", "python", "numpy", "date", "load_average"):
        assert machine[key], key
    rows = data["rows"]
    assert [r["command"] for r in (row["data"] for row in rows)] == ["haven --help", "haven list"]
    for row in rows:
        assert row["id"] == "P1"
        assert set(row) >= {"what", "figure", "baseline", "ratio", "met", "data"}
        assert isinstance(row["met"], bool)
        numbers = row["data"]
        assert numbers["median_ms"] > 0 and numbers["baseline_median_ms"] > 0
        assert len(numbers["samples_ms"]) == numbers["runs"] == len(numbers["baseline_samples_ms"])


def test_unknown_benchmark_id_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "P99"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0 and "unknown benchmark" in proc.stderr
