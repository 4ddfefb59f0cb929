"""Runs ``haven`` commands for the sweep (tests/test_sweep.py): one real process per command,
forked from this one, so each starts in milliseconds instead of re-importing Python.

Reads one JSON request per line on standard input and answers one JSON line each:

    {"argv": [...], "env": {...}, "cwd": "...", "stdout": "file"|"full"|"closed-pipe"|"closed",
     "out": "stdout file", "err": "stderr file", "timeout": seconds}
    -> {"rc": int | null, "signal": int | null, "timed_out": bool, "seconds": float}

The child is a real process running ``player.cli.app.main`` as the ``haven`` script does: its own
environment, working folder, standard input /dev/null, standard output and error on real file
descriptors, and the interpreter's normal shutdown, so "Exception ignored" noise at exit shows.
A child whose memory passes MEMORY_CAP (a read without bound) is killed before it can starve
the machine; an address-space rlimit would do it more simply, but PortAudio's ALSA layer
then fails to open even the capture device.
A child still running at its timeout is killed with its whole process group (speech workers
included), and so are any processes it left behind.

Started under ``unshare -m`` with read-only bind mounts, it serves the read-only conditions.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import click  # noqa: F401 - imported once here, before any fork
import numpy  # noqa: F401
import yaml  # noqa: F401

import player.cli.app  # noqa: F401

MEMORY_CAP = 2 << 30  # resident bytes a command may use before it counts as a runaway read


def _child(request: dict) -> None:
    """In the forked child: set the scene, then run haven; never returns."""
    os.setpgrp()
    os.environ.clear()
    os.environ.update(request["env"])
    import tempfile

    tempfile.tempdir = None  # recomputed from TMPDIR
    os.chdir(request["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    how = request.get("stdout", "file")
    if how == "full":
        out = os.open("/dev/full", os.O_WRONLY)
    elif how == "closed":
        out = os.open(os.devnull, os.O_WRONLY)
    elif how == "closed-pipe":
        reader, out = os.pipe()
        os.close(reader)
    else:
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    if how == "closed":  # `haven list >&-`: Python then starts with sys.stdout None
        os.close(1)
        sys.stdout = sys.__stdout__ = None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["haven", *request["argv"]]
    player.cli.app.main(prog_name="haven")  # standalone: raises SystemExit
    sys.exit(0)


def _run(request: dict) -> dict:
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request)  # its SystemExit unwinds to the top: the interpreter shuts down as haven's
    deadline = started + float(request.get("timeout", 20))
    status = None
    timed_out = runaway = False
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        runaway = _resident(pid) * page > MEMORY_CAP
        if runaway or time.monotonic() > deadline:
            timed_out = not runaway
            _kill_group(pid)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    _kill_group(pid)  # anything the command left running
    seconds = time.monotonic() - started
    answer = {"rc": None, "signal": None, "timed_out": timed_out, "runaway": runaway, "seconds": seconds}
    if os.WIFEXITED(status):
        answer["rc"] = os.WEXITSTATUS(status)
    else:
        answer["signal"] = os.WTERMSIG(status)
    return answer


def _resident(pid: int) -> int:
    """Resident pages of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _probe(folder: str) -> dict:
    """Whether this process can create a file in ``folder`` (the read-only set-up is real)."""
    path = os.path.join(folder, f".probe-{os.getpid()}")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        return {"writable": False, "errno": exc.errno}
    os.unlink(path)
    return {"writable": True, "errno": None}


def serve() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if "probe_write" in request:
            answer = _probe(request["probe_write"])
        elif "list_dir" in request:
            answer = {"names": sorted(os.listdir(request["list_dir"]))}
        else:
            answer = _run(request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
