"""P10's measuring machinery: the process tree is sampled, workers counted, the peak is the
process's own (no figures are judged here; ``make bench`` does that)."""

from __future__ import annotations

import os
import sys

from bench.p10_memory import _row, run_sampled
from bench.run import BENCHMARKS, parse_only

# A parent holding ~40 MB that starts a child holding ~80 MB, both alive together for a while.
TREE = r"""
import subprocess, sys, time
keep = bytearray(40 << 20)
for i in range(0, len(keep), 4096): keep[i] = 1
child = subprocess.Popen([sys.executable, "-c",
    "import time; b = bytearray(80 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\ntime.sleep(1.5)"])
child.wait()
"""


def test_the_tree_is_sampled_and_its_workers_counted():
    got = run_sampled([sys.executable, "-c", TREE], dict(os.environ))
    mb = {k: v / 1024 for k, v in got.items() if k.endswith("_kb")}
    assert got["workers"] == 1
    assert 40 <= mb["hwm_kb"] < 80  # the parent's own peak: its 40 MB, not the child's
    assert mb["maxrss_kb"] >= 80  # wait4: the larger of the process and its reaped children
    assert mb["tree_rss_kb"] >= 120 and mb["tree_pss_kb"] >= 110  # both at once
    assert got["wall_s"] >= 1.5


def test_a_failing_command_is_an_error_with_its_stderr():
    import pytest

    with pytest.raises(RuntimeError, match="exited 3: nope"):
        run_sampled([sys.executable, "-c", "import sys; sys.stderr.write('nope'); sys.exit(3)"],
                    dict(os.environ))


def test_p10_is_registered_and_its_row_judges_the_process_peak():
    assert BENCHMARKS["P10"] == "bench.p10_memory" and parse_only("p10") == ["P10"]
    run = {"maxrss_kb": 90 * 1024, "hwm_kb": 0, "tree_rss_kb": 0, "tree_pss_kb": 70 * 1024,
           "workers": 0, "wall_s": 1.0}
    got = {"paced": run, "whole": dict(run, maxrss_kb=101 * 1024),
           "file_player": dict(run, maxrss_kb=50 * 1024)}
    row = _row("body-scan", None, got, 60.0)
    assert (row.id, row.figure, row.met) == ("P10", "101 MB", False)
    assert row.data["target_mb"] == 100.0 and row.data["baseline_mb"] == 50.0
    neural = _row("body-scan", "piper:joe", got, 60.0)
    assert neural.met is True and neural.data["target_mb"] == 160.0
