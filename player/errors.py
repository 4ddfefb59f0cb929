"""The one exception hierarchy of Haven.

Core modules raise these; only ``player.cli`` turns them into messages and exit codes, so a
user never sees a traceback for bad input or a missing device.
"""

from __future__ import annotations


class HavenError(Exception):
    """Base of every error Haven expects and reports cleanly (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class BadInputError(HavenError):
    """The user gave something unusable: a broken script, a bad option value (exit code 2)."""

    exit_code = 2


class ScriptError(BadInputError):
    """A script that cannot be loaded: carries where in the file the problem is.

    Rendered as ``file:line:col: path: message`` (the format in the script spec).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ):
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.detail = message
        super().__init__(self._format(), hint=hint)

    def _format(self) -> str:
        where = self.file or "<script>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.path:
            parts.append(self.path)
        parts.append(self.detail)
        return ": ".join(parts)


class NotFoundError(BadInputError):
    """A named exercise, program, voice or journal entry does not exist."""


class FitError(BadInputError):
    """A script cannot be fitted to the requested length; names the reachable range."""

    def __init__(self, message: str, *, shortest_s: float, longest_s: float):
        super().__init__(message)
        self.shortest_s = shortest_s
        self.longest_s = longest_s


class ConfigError(BadInputError):
    """A configuration file or setting is invalid."""


class SpeechError(HavenError):
    """The speech engine failed, hung or is not installed."""


class AudioDeviceError(HavenError):
    """No usable audio output: PortAudio missing, no device, device lost."""


class JournalError(HavenError):
    """The practice journal cannot be read or written safely."""


class SessionPlayingError(HavenError):
    """Another session is playing, and this one was not started over it (player.playlock)."""


class CacheError(HavenError):
    """The clip cache cannot be used."""
