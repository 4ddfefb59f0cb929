"""A real terminal for tests: ``haven`` run in a tmux pane of a given size, its screen read back.

tmux gives the command a pseudo-terminal with the window size set (TIOCSWINSZ), so Click,
rich and the line discipline behave as they do for a person: Ctrl-C typed with ``keys("C-c")``
is turned into SIGINT by the terminal, and ``screen()`` is what the person sees, line by line
(wrapped exactly where the terminal wrapped it). tmux is required: without it these tests fail.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURE_CONF = ROOT.parent / "shared" / "alsa" / "capture.conf"
EXIT_RE = re.compile(r"\[exit (\d+)\]")


def cell_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    return sum(
        0 if unicodedata.combining(ch) else (2 if unicodedata.east_asian_width(ch) in "WF" else 1)
        for ch in text
    )


class Terminal:
    """One tmux server of its own (a socket in ``folder``), one pane ``cols`` x ``rows``."""

    def __init__(self, folder: Path, cols: int = 80, rows: int = 24, env: dict | None = None):
        tmux = shutil.which("tmux")
        assert tmux, "tmux is needed for the terminal tests (apt-get install tmux)"
        self.tmux = tmux
        self.cols, self.rows = cols, rows
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket = self.folder / f"tmux-{cols}x{rows}-{os.getpid()}-{time.monotonic_ns()}"
        conf = self.folder / "tmux.conf"
        conf.write_text("set -g history-limit 20000\nset -g status off\n")
        self.conf = conf
        self.env = dict(env or {})
        self.started = False

    def _tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            [self.tmux, "-S", str(self.socket), "-f", str(self.conf), *args],
            capture_output=True, text=True, timeout=30,
        )
        if check:
            assert out.returncode == 0, out.stderr
        return out.stdout

    def run(self, *args: str, stdin: str | None = None) -> None:
        """Start ``python -m player ARGS`` in the pane (``stdin``: a file to read instead of
        the terminal); its exit code is printed after it as ``[exit N]``."""
        env = {"COLUMNS": str(self.cols), "LINES": str(self.rows), "TERM": "xterm-256color",
               **self.env}
        command = " ".join(
            ["env", "-u", "FORCE_COLOR"]
            + [shlex.quote(f"{k}={v}") for k, v in env.items()]
            + [shlex.quote(sys.executable), "-m", "player"]
            + [shlex.quote(a) for a in args]
        )
        if stdin is not None:
            command += f" < {shlex.quote(stdin)}"
        shell = f"cd {shlex.quote(str(ROOT))}; {command}; printf '\\n[exit %d]\\n' $?; sleep 600"
        if self.started:
            self._tmux("kill-server", check=False)
            self.socket = self.socket.with_name(f"{self.socket.name}-next")
        self._tmux("new-session", "-d", "-x", str(self.cols), "-y", str(self.rows), shell)
        self.started = True

    def keys(self, *keys: str) -> None:
        """Type into the pane (tmux key names: ``C-c``, ``Enter``, ``Space``, or text)."""
        self._tmux("send-keys", *keys)

    def screen(self) -> list[str]:
        """Every line the pane shows or scrolled past, as the terminal laid it out."""
        text = self._tmux("capture-pane", "-p", "-S", "-", "-E", "-")
        lines = text.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        return lines

    def logical(self) -> list[str]:
        """The lines as written, before the terminal wrapped them (tmux knows which screen
        lines it wrapped: ``capture-pane -J``); the ``[exit N]`` marker removed."""
        text = self._tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-")
        lines = [line.rstrip() for line in text.split("\n")]
        while lines and (not lines[-1].strip() or EXIT_RE.fullmatch(lines[-1].strip())):
            lines.pop()
        return lines

    def text(self) -> str:
        return "\n".join(self.screen())

    def wait_for(self, needle: str | re.Pattern, timeout: float = 60.0) -> str:
        """Wait until the screen shows ``needle``; the screen text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            found = needle.search(text) if isinstance(needle, re.Pattern) else needle in text
            if found:
                return text
            assert time.monotonic() < deadline, f"never saw {needle!r}; the screen:\n{text}"
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 120.0) -> tuple[int, list[str]]:
        """Wait for the command to end: its exit code and its screen (marker removed)."""
        text = self.wait_for(EXIT_RE, timeout)
        code = int(EXIT_RE.findall(text)[-1])
        lines = self.screen()
        while lines and (EXIT_RE.fullmatch(lines[-1].strip()) or not lines[-1].strip()):
            lines.pop()
        return code, lines

    def close(self) -> None:
        if self.started:
            self._tmux("kill-server", check=False)
            self.started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_report(folder: Path, args: list[str], cols: int, env: dict, rows: int = 200):
    """A report command's exit code and screen at ``cols`` columns."""
    with Terminal(folder, cols, rows, env) as term:
        term.run(*args)
        return term.wait_exit()


def alsa_env(capture: str = "/dev/null") -> dict:
    """The environment that plays into ALSA's file device (`../shared/alsa/capture.conf`)."""
    assert CAPTURE_CONF.is_file(), f"the ALSA capture configuration is missing ({CAPTURE_CONF})"
    return {"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{CAPTURE_CONF}",
            "HAVEN_CAPTURE": capture}
