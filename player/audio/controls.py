"""Single keys from the terminal while a session plays, and the terminal always given back.

The terminal is put in cbreak mode (keys arrive one at a time, no echo; Ctrl-C still sends
SIGINT) and a thread reads keys with ``select`` so nothing blocks. The saved settings are
restored by ``stop()`` (call it in a ``finally``), by an ``atexit`` hook, and around Ctrl-Z:
a suspended Haven leaves the shell a normal terminal, and takes cbreak back on ``fg``.
"""

from __future__ import annotations

import atexit
import os
import queue
import select
import signal
import sys
import threading
from typing import Callable

_ACTIVE: set["KeyReader"] = set()
_ATEXIT_REGISTERED = False


def _restore_all() -> None:
    for reader in list(_ACTIVE):
        reader.restore()


class KeyReader:
    """Reads keys from a terminal in a thread: ``start()``, ``read()`` often, ``stop()``."""

    def __init__(self, stream=None, on_suspend: Callable[[], None] | None = None,
                 on_key: Callable[[], None] | None = None):
        self._stream = stream if stream is not None else sys.stdin
        self.on_key = on_key  # called (from the reading thread) when keys arrive
        self._pipe: tuple[int, int] | None = None  # wakes the reading thread to stop
        self._fd: int | None = None
        self._saved = None
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_tstp = None
        self.on_suspend = on_suspend

    @property
    def active(self) -> bool:
        return self._saved is not None

    def start(self) -> bool:
        """Take the terminal (False when input is not a terminal: nothing to read)."""
        global _ATEXIT_REGISTERED
        import termios

        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        if not os.isatty(fd):
            return False
        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        _ACTIVE.add(self)
        if not _ATEXIT_REGISTERED:
            atexit.register(_restore_all)
            _ATEXIT_REGISTERED = True
        self._install_suspend()
        self._enter()
        self._stop.clear()
        self._pipe = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="haven-keys", daemon=True)
        self._thread.start()
        return True

    def _enter(self) -> None:
        import termios
        import tty

        try:
            tty.setcbreak(self._fd, termios.TCSANOW)
        except (OSError, termios.error):
            pass

    def restore(self) -> None:
        """Give the terminal its settings back (safe to call any number of times)."""
        import termios

        if self._saved is None or self._fd is None:
            return
        try:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        except (OSError, termios.error):
            pass

    def stop(self) -> None:
        self._stop.set()
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            try:
                os.write(pipe[1], b"x")
            except OSError:
                pass
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(0.5)
        if pipe is not None:
            for end in pipe:
                try:
                    os.close(end)
                except OSError:
                    pass
        self.restore()
        self._saved = None
        _ACTIVE.discard(self)
        self._uninstall_suspend()

    def read(self) -> list[str]:
        """Keys pressed since the last call, oldest first."""
        keys = []
        while True:
            try:
                keys.append(self._keys.get_nowait())
            except queue.Empty:
                return keys

    def _loop(self) -> None:
        # Sleeps in select until a key comes or stop() writes to the pipe: no polling.
        fd, pipe = self._fd, self._pipe
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd, pipe[0]], [], [], 1.0)
                if fd not in ready:
                    continue
                data = os.read(fd, 64)
            except (OSError, ValueError):
                return
            if not data:
                return  # end of input
            keys = decode_keys(data)
            for key in keys:
                self._keys.put(key)
            if keys and self.on_key is not None:
                self.on_key()

    # --- Ctrl-Z ----------------------------------------------------------------------

    def _install_suspend(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            self._old_tstp = signal.signal(signal.SIGTSTP, self._on_tstp)
        except (OSError, ValueError, AttributeError):
            self._old_tstp = None

    def _uninstall_suspend(self) -> None:
        if self._old_tstp is not None:
            try:
                signal.signal(signal.SIGTSTP, self._old_tstp)
            except (OSError, ValueError):
                pass
            self._old_tstp = None

    def _on_tstp(self, signum, frame) -> None:
        if self.on_suspend is not None:
            self.on_suspend()
        self.restore()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until `fg`
        signal.signal(signal.SIGTSTP, self._on_tstp)
        if self._saved is not None:
            self._enter()


def decode_keys(data: bytes) -> list[str]:
    """Printable keys in ``data``; escape sequences (arrows, function keys) are skipped."""
    text = data.decode("utf-8", "ignore")
    keys = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":  # ESC [ ... final byte, or ESC O x
            i += 1
            if i < len(text) and text[i] in "[O":
                i += 1
                while i < len(text) and not ("@" <= text[i] <= "~"):
                    i += 1
            i += 1
            continue
        if ch.isprintable():
            keys.append(ch)
        i += 1
    return keys
