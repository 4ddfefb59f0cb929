"""Acceptance: Ctrl-C at random points of `haven play`, twenty times.

Each run plays a built-in session on a terminal (a pseudo-terminal, so the keyboard reader
puts it in cbreak mode and the live display runs) into the ALSA capture device, and gets
SIGINT after a random delay counted from the moment the player has its signal handlers (the
report file appears): anywhere in preparing speech, pre-filling, or playing. Every run must
end with exit code 130 and the terminal's settings exactly as before. A run stopped after
the sound started is in the journal as partial, with practiced time within one block of the
frames the player reports it delivered; one stopped before any sound left no row at all.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from player.audio.engine import BLOCK

CAPTURE_CONF = Path(__file__).parents[2] / "shared" / "alsa" / "capture.conf"
RATE = 48000
RUNS = 20
# --minutes per script, within each one's range (`haven show`).
MINUTES = {"mindful-breathing": 25, "bedtime-body-scan": 60}



def test_the_capture_configuration_is_there():
    """The shared material comes with the project: without it these tests must fail, not skip."""
    assert CAPTURE_CONF.is_file(), f"the ALSA capture configuration is missing ({CAPTURE_CONF})"


def drain(fd: int, sink: bytearray, timeout: float) -> None:
    ready, _, _ = select.select([fd], [], [], timeout)
    if ready:
        try:
            sink.extend(os.read(fd, 65536))
        except OSError:
            pass


def play_and_interrupt(home: Path, report: Path, delay: float, script: str) -> dict:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        env = dict(
            os.environ,
            HAVEN_HOME=str(home),
            HAVEN_PLAYBACK_REPORT=str(report),
            ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{CAPTURE_CONF}",
            HAVEN_CAPTURE="/dev/null",
            TERM="xterm",
            COLUMNS="100",
            LINES="30",
            PYTHONFAULTHANDLER="1",  # a player that hangs is made to print its threads (below)
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "player", "play", script, "--minutes", str(MINUTES[script])],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )
        output = bytearray()
        deadline = time.monotonic() + 60
        while not report.exists():  # the player has installed its signal handlers
            assert proc.poll() is None, output.decode(errors="replace")
            assert time.monotonic() < deadline, "the player never started"
            drain(master, output, 0.01)
        fire = time.monotonic() + delay
        while time.monotonic() < fire and proc.poll() is None:
            drain(master, output, 0.005)
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        while proc.poll() is None:
            if time.monotonic() > interrupted + 30:
                proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
                time.sleep(1)
                drain(master, output, 0.5)
                proc.kill()
                stage = report.read_text() if report.exists() else "no report"
                pytest.fail(f"the player did not stop within 30 s of Ctrl-C (sent {delay:.2f} s "
                            f"after it started); report: {stage[:400]}\n"
                            + output.decode(errors="replace")[-6000:])
            drain(master, output, 0.02)
        drain(master, output, 0.05)
        after = termios.tcgetattr(slave)
        text = output.decode(errors="replace")
        return {"code": proc.returncode, "restored": before == after, "before": before,
                "after": after, "output": text, "report": json.loads(report.read_text())}
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.slow
def test_ctrl_c_at_random_points_always_exits_130_restores_and_records(tmp_path, monkeypatch):
    from player.journal import Journal

    home = tmp_path / "home"
    monkeypatch.setenv("HAVEN_HOME", str(home))
    rng = random.Random(20261123)
    seen_rows = 0
    stages = []
    for run in range(RUNS):
        # Mostly while playing, some while speech is still being prepared (the first runs
        # start with a cold speech cache) or the ring is being filled.
        delay = rng.uniform(0.0, 0.4) if run % 4 == 0 else rng.uniform(0.3, 3.0)
        # The capture device is not paced, so a session plays through in a fraction of its
        # length, which depends on the machine and on how fast the player makes audio (10
        # minutes took 8 s once, 2-3 s on 2026-11-29; 25 minutes of loving-kindness played in
        # under 2.5 s once the player mixed in chunks, issue 12) and then exits 0, rightly.
        # So the later Ctrl-Cs (up to 3 s) go to 70 minutes of bedtime-body-scan (--minutes
        # 60 and its tail: ~13 s here), the early ones (up to 0.4 s: preparing, pre-filling)
        # to mindful-breathing, whose first run starts with a cold speech cache.
        script = "mindful-breathing" if run % 4 == 0 else "bedtime-body-scan"
        report_path = tmp_path / f"report-{run}.json"
        result = play_and_interrupt(home, report_path, delay, script)
        where = f"run {run} (Ctrl-C after {delay:.2f} s)"
        assert result["code"] == 130, (where, result["output"][-2000:])
        assert result["restored"], (where, result["before"], result["after"])
        assert "Traceback" not in result["output"], (where, result["output"][-2000:])
        report = result["report"]
        assert report["stage"] == "finished" and report["reason"] == "interrupted", where
        started = report.get("stream_started_monotonic") is not None
        stages.append(started)
        with Journal.open() as journal:
            rows = journal.sessions()
            if not started:  # stopped before any sound: nothing practised, nothing recorded
                assert len(rows) == seen_rows and "session_id" not in report, where
                continue
            assert len(rows) == seen_rows + 1, where
            seen_rows += 1
            row = journal.get(report["session_id"])
        assert row.exercise == script and not row.completed, where
        assert row.ended_at is not None, where
        delivered = report["frames_delivered"]
        assert abs(row.practiced_s * RATE - delivered) <= BLOCK, (where, row.practiced_s,
                                                                   delivered)
    assert any(stages), "no run was interrupted while playing"
