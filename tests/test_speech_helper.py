"""espeak's helper process (issue 12, P4): clips are forked from a small, numpy-free process.

A worker forks its helper before it imports numpy; the helper initializes espeak once and
forks a fresh child per clip, so every clip starts from the same pristine espeak state. These
tests run the real engine in real workers and look at the processes through /proc.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from player.speech.workers import Task, WorkerPool

TEXT = "Let the breath settle, slow and easy."


def children(pid: int) -> list[int]:
    """Living children of ``pid`` (the kernel's list, zombies left out)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in listed if alive(int(c))]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def task(text: str = TEXT) -> Task:
    return Task(text=text, voice=None, rate=1.0, volume=1.0, sample_rate=48000)


def test_helper_is_a_small_process_without_numpy():
    with WorkerPool("pyttsx3", jobs=1, timeout_s=20.0) as pool:
        made = {}
        pool.run({"a": task()}, lambda key, result: made.update({key: result.samples}))
        (worker,) = pool._workers
        helpers = children(worker.proc.pid)
        assert len(helpers) == 1, helpers  # the helper, and no clip child left over
        maps = Path(f"/proc/{helpers[0]}/maps").read_text()
        worker_maps = Path(f"/proc/{worker.proc.pid}/maps").read_text()
        assert "_multiarray_umath" in worker_maps  # the worker has numpy...
        assert "_multiarray_umath" not in maps  # ...its helper does not
        assert "libespeak-ng" in maps
    assert made["a"].size > 48000  # over a second of speech


def test_clips_do_not_depend_on_what_the_helper_made_before():
    """espeak keeps state between utterances; every clip comes from a fresh child of the
    helper, so the same text gives the same samples first, third, or in another worker."""
    others = ["Breathe in.", "And out, slowly."]
    got: dict[str, bytes] = {}

    def keep(key, result):
        got[key] = np.asarray(result.samples).tobytes()

    with WorkerPool("pyttsx3", jobs=1, timeout_s=20.0) as pool:
        pool.run({"t1": task()}, keep)
        pool.run({f"o{i}": task(t) for i, t in enumerate(others)}, keep)
        pool.run({"t2": task()}, keep)
    with WorkerPool("pyttsx3", jobs=1, timeout_s=20.0) as pool:
        pool.run({"o0-again": task(others[0]), "t3": task()}, keep)
    assert got["t1"] == got["t2"] == got["t3"]
    assert got["o0"] == got["o0-again"]
    assert len({got["t1"], got["o0"], got["o1"]}) == 3


def test_helper_dies_with_its_worker():
    pool = WorkerPool("pyttsx3", jobs=1, timeout_s=20.0)
    try:
        pool.run({"a": task("One.")}, lambda key, result: None)
        (worker,) = pool._workers
        (helper,) = children(worker.proc.pid)
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        deadline = time.monotonic() + 3.0
        while alive(helper) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(helper)
    finally:
        pool.close(graceful=False)


def test_closing_the_pool_ends_worker_and_helper():
    pool = WorkerPool("pyttsx3", jobs=2, timeout_s=20.0)
    pool.run({i: task(f"Clip number {i}.") for i in range(4)}, lambda key, result: None)
    procs = [(w.proc.pid, children(w.proc.pid)) for w in pool._workers]
    assert procs and all(len(helpers) == 1 for _, helpers in procs)
    pool.close()
    for pid, helpers in procs:
        assert not alive(pid)
        assert not any(alive(h) for h in helpers)
