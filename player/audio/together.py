"""Running a few tasks at once in threads, as the parallel encoders do.

``player.audio.mp3.encode_parallel`` and ``player.audio.vorbis.encode_parallel`` each run one
encoder per stretch of a session in its own thread (ctypes calls release the GIL). They
need the same care: the first failure stops the others and is raised in the caller, a
``cancel`` event stops them all, and the caller's wait stays interruptible by Ctrl-C without
leaving a thread running over files the caller then closes.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence


def run_together(
    tasks: Sequence[Callable[[threading.Event], None]],
    *,
    name: str,
    cancel: threading.Event | None = None,
) -> bool:
    """Run each ``task(stop)`` in its own thread, all starting together; wait for all.

    ``stop`` is set when a task fails, when ``cancel`` is set, or on Ctrl-C: a task should
    check it between pieces of work and return. Every thread has ended when this returns or
    raises. The first task's exception is raised here; otherwise returns True when the tasks
    were stopped early (``cancel``), False when all ran to their end.
    """
    stop = threading.Event()
    go = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def body(task: Callable[[threading.Event], None], done: threading.Event) -> None:
        try:
            go.wait()  # started only once every thread exists, so all can be waited for
            if not stop.is_set():
                task(stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            with lock:
                errors.append(exc)
            stop.set()
        finally:
            done.set()

    started: list[tuple[threading.Thread, threading.Event]] = []
    try:
        try:
            for number, task in enumerate(tasks):
                done = threading.Event()
                thread = threading.Thread(target=body, args=(task, done),
                                          name=f"{name}-{number}", daemon=True)  # fmt: skip
                thread.start()
                started.append((thread, done))
            go.set()
            # Waiting on events, not Thread.join: in Python 3.11 a Ctrl-C inside join() can
            # mark a running thread as stopped, and later joins then return at once.
            for _, done in started:
                while not done.wait(0.1):
                    if cancel is not None and cancel.is_set():
                        stop.set()
        except BaseException:
            stop.set()  # Ctrl-C, or a thread that could not start: every task stops soon
            raise
    finally:
        go.set()  # a thread whose recording a Ctrl-C cut short sees ``stop`` and returns
        for thread, done in started:
            done.wait()
            thread.join()
    if errors:
        raise errors[0]
    return stop.is_set() or (cancel is not None and cancel.is_set())
