"""Acceptance: several processes write at once without losing or duplicating sessions, and
SIGKILL at random moments never corrupts the journal or loses a write that had returned."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from player.journal import Journal

ROOT = Path(__file__).resolve().parent.parent

WRITER = r"""
import os, sys, time
from player.journal import Journal
path, count, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while not os.path.exists(go):  # start together, so the journal is created under contention
    time.sleep(0.001)
with Journal.open(path) as journal:
    for i in range(count):
        sid = journal.start_session("concurrent", "Concurrent", "test", 60.0)
        journal.finish_session(sid, float(i), True)
        print(sid, flush=True)
"""

VICTIM = r"""
import sys
from player.journal import Journal
with Journal.open(sys.argv[1]) as journal:
    print("ready", flush=True)
    i = 0
    while True:
        sid = journal.start_session("victim", "Victim", "test", 600.0)
        print("S", sid, flush=True)
        journal.update_progress(sid, 30.0)
        practiced = float(i % 600) + 0.5
        journal.finish_session(sid, practiced, completed=i % 2 == 0, note="n" * (i % 50))
        print("F", sid, practiced, flush=True)
        if i % 4 == 0:
            print("S", journal.add_manual("manual", 60.0 + i).id, flush=True)
        i += 1
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_four_processes_250_sessions_each_leave_exactly_1000(tmp_path):
    path = tmp_path / "journal.sqlite3"  # does not exist yet: creation races too
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "250", str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for _ in range(4)
    ]
    time.sleep(0.3)  # let all four start up before the gun
    go.touch()
    printed: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        printed += out.split()
    assert len(printed) == len(set(printed)) == 1000
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = raw.execute("SELECT id, completed FROM sessions").fetchall()
    assert len(rows) == 1000
    assert {r[0] for r in rows} == set(printed)
    assert all(r[1] == 1 for r in rows)


def _kill_trial(path: Path, rng: random.Random, early: bool) -> tuple[set[str], dict[str, float]]:
    """Start a writer, SIGKILL it at a random moment; return the ids it reported as written."""
    proc = subprocess.Popen(
        [sys.executable, "-c", VICTIM, str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(),
    )
    seen = b""
    try:
        if early:
            time.sleep(rng.uniform(0.0, 0.25))  # during start-up, creation or migration
        else:
            seen += proc.stdout.readline()  # "ready": the journal is open
            # Let a random number of writes return first, then strike within the next one:
            # counted in writes, not seconds, so a busy machine lands kills just as deep.
            for _ in range(rng.randint(2, 12)):
                seen += proc.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.004))
        os.kill(proc.pid, signal.SIGKILL)
        out = (seen + proc.stdout.read()).decode()
    finally:
        proc.kill()
        proc.wait()
    started: set[str] = set()
    finished: dict[str, float] = {}
    for line in out.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # cut off mid-line by the kill: not reported
        parts = line.split()
        if parts[0] == "S":
            started.add(parts[1])
        elif parts[0] == "F":
            finished[parts[1]] = float(parts[2])
    return started, finished


def _check(path: Path, started: set[str], finished: dict[str, float]) -> int:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if not path.stat().st_size:
            assert not started
            return 0
        rows = dict(raw.execute("SELECT id, practiced_s FROM sessions").fetchall())
    finally:
        raw.close()
    missing = started - rows.keys()
    assert not missing, f"sessions lost after SIGKILL: {sorted(missing)[:3]}"
    wrong = {sid: (v, rows.get(sid)) for sid, v in finished.items() if rows.get(sid) != v}
    assert not wrong, f"finished sessions not as written: {list(wrong.items())[:3]}"
    return len(rows)


def test_sigkill_at_random_moments_never_corrupts_or_loses_a_returned_write(tmp_path):
    rng = random.Random(20261120)
    # Kills during creation and first migration of fresh journals.
    for n in range(12):
        path = tmp_path / f"fresh-{n}.sqlite3"
        started, finished = _kill_trial(path, rng, early=True)
        if path.exists():
            _check(path, started, finished)
            with Journal.open(path) as journal:  # and it opens cleanly afterwards
                journal.add_manual("after", 60)
    # Kills while writing sessions, all into one journal that grows trial by trial.
    path = tmp_path / "journal.sqlite3"
    all_started: set[str] = set()
    all_finished: dict[str, float] = {}
    for n in range(100):
        started, finished = _kill_trial(path, rng, early=(n % 10 == 0))
        all_started |= started
        all_finished.update(finished)
        _check(path, started, finished)
    total = _check(path, all_started, all_finished)
    assert len(all_started) >= 200, "the kills should land among many writes"
    assert total >= len(all_started)
    with Journal.open(path) as journal:
        assert journal.count() == total
