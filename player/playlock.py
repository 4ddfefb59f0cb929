"""One session at a time: a lock file that says which ``haven`` is playing.

Two sessions at once speak over each other. While a session plays, its process holds an
exclusive ``flock`` on ``playing.lock`` in the cache folder, and the file says who holds it
(pid, exercise, title, when it started). A second ``haven play`` (``today``, ``breathe``,
``timer``) finds the lock held and, in a terminal, offers to stop the other session or to
exit; without a terminal it exits with one clear line. "Stop it" sends the other process
SIGTERM, which the player treats like q: it fades out and records the session as partial;
then the lock is taken over.

A lock is stale when its file exists but nobody holds the ``flock`` (a crashed or killed
player leaves the file behind, the kernel drops the lock with the process): it is simply
taken over. A held lock whose pid does not exist any more (a pid namespace, a copied home)
is stale too. The file is replaced only by the holder, so what it says is the holder's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from player import paths
from player.errors import HavenError, SessionPlayingError
from player.printable import one_line

LOCK_NAME = "playing.lock"
NO_LOCK = -1  # what ``acquire`` gives where no lock file can be made
STOP_WAIT_S = 15.0  # how long "stop it" waits for the other session to fade and record


@dataclass(frozen=True)
class Holder:
    """Who is playing, as its lock file says."""

    pid: int
    exercise: str
    title: str
    started: str  # local time, HH:MM

    def describe(self) -> str:
        name = self.title or self.exercise or "a session"
        when = f", since {self.started}" if self.started else ""
        return one_line(f"{name} (process {self.pid}{when})")


def lock_path() -> Path:
    return paths.cache_dir() / LOCK_NAME


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path | None = None) -> Holder | None:
    """What the lock file says (None when it is missing or unreadable)."""
    from player.files import read_regular

    try:
        data = json.loads(read_regular(path or lock_path(), limit=4096, what="lock file",
                                       error=HavenError))  # fmt: skip
        return Holder(int(data["pid"]), str(data.get("exercise") or ""),
                      str(data.get("title") or ""), str(data.get("started") or ""))  # fmt: skip
    except (OSError, HavenError, ValueError, KeyError, TypeError):
        return None


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on ``path``, or None when another
    process holds it. Re-checks that the file it locked is still the one at ``path``."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder before us removed it: lock the new file instead


def _write(fd: int, exercise: str, title: str) -> None:
    data = {"pid": os.getpid(), "exercise": exercise, "title": title,
            "started": time.strftime("%H:%M")}  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(data).encode("utf-8"), 0)


def acquire(exercise: str, title: str,
            decide: Callable[[Holder], bool] | None = None) -> int:  # fmt: skip
    """Take the lock for this process; the descriptor to ``release``.

    When another session holds it, ``decide(holder)`` says whether to stop that one (True)
    or leave it playing (False: ``SessionPlayingError``); without ``decide`` (no terminal to
    ask in) this session is not started.
    """
    try:
        folder = paths.ensure_private_dir(paths.cache_dir())
        path = folder / LOCK_NAME
        fd = _try_lock(path)
    except OSError:
        return NO_LOCK  # a read-only or full cache folder: play anyway, unguarded
    if fd is None:
        holder = read_holder(path)
        if holder is not None and not _alive(holder.pid):
            holder = None  # held by nobody we can reach: treat as stale, wait briefly below
        what = holder.describe() if holder else "another session"
        if holder is None:
            fd = _wait_for(path, 2.0)
            if fd is None:
                raise SessionPlayingError(f"another session is playing ({what}); not starting "
                                          "a second one over it")  # fmt: skip
        elif decide is None:
            raise SessionPlayingError(
                f"a session is playing: {what}; not starting a second one over it",
                hint=f"stop it with q in its terminal, or: kill {holder.pid}",
            )
        elif not decide(holder):
            raise SessionPlayingError(f"left {what} playing; nothing else started")
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder.pid, signal.SIGTERM)
            fd = _wait_for(path, STOP_WAIT_S)
            if fd is None:
                raise SessionPlayingError(
                    f"{what} did not stop within {STOP_WAIT_S:g} seconds",
                    hint=f"stop it with q in its terminal, or: kill {holder.pid}",
                )
    try:
        _write(fd, exercise, title)
    except OSError:
        pass  # the lock holds; only who holds it is not written
    return fd


def _wait_for(path: Path, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while True:
        fd = _try_lock(path)
        if fd is not None or time.monotonic() >= deadline:
            return fd
        time.sleep(0.05)


def release(fd: int) -> None:
    """Give the lock up: the file is removed (while still locked), then closed."""
    if fd == NO_LOCK:
        return
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_ino == os.stat(lock_path()).st_ino:
            os.unlink(lock_path())
    with contextlib.suppress(OSError):
        os.close(fd)


@contextlib.contextmanager
def holding(exercise: str, title: str,
            decide: Callable[[Holder], bool] | None = None) -> Iterator[None]:  # fmt: skip
    """``acquire`` for the duration of a ``with`` block."""
    fd = acquire(exercise, title, decide)
    try:
        yield
    finally:
        release(fd)
