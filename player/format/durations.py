"""Durations in exercise scripts: parsing ``45s`` / ``1m30s`` / ``90`` and showing them.

Kept free of YAML so the CLI can reuse it for options like ``--for 10m``; errors are plain
``ValueError`` with a short message, which the script loader wraps with a file location.
"""

from __future__ import annotations

import math
import re

MAX_DURATION_S = 4 * 3600.0

# Whole units, largest first, each at most once: "45s", "2m", "1m30s", "1h", "1h5m10s".
DURATION_UNITS_PATTERN = r"(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
# Plain seconds written as text ("90", "2.5"): accepted too, so quoting a number is harmless.
SECONDS_PATTERN = r"\d+(?:\.\d+)?"
# The whole string grammar (surrounding blanks are ignored), shared with the JSON Schema.
DURATION_STRING_PATTERN = rf"^\s*(?:{SECONDS_PATTERN}|{DURATION_UNITS_PATTERN})\s*$"

_UNITS_RE = re.compile(rf"^{DURATION_UNITS_PATTERN}$")
_SECONDS_RE = re.compile(rf"^{SECONDS_PATTERN}$")
_HINT = "expected seconds or whole units like '45s', '2m', '1m30s', '1h'"


def parse_duration(value: object) -> float:
    """Seconds from a number or a unit string; ValueError if malformed, <= 0 or over 4 hours."""
    if isinstance(value, bool):  # bool is an int subclass: `pause: yes` must not mean 1 s
        raise ValueError(f"must be a duration, not true/false ({_HINT})")
    if isinstance(value, (int, float)):
        seconds = float(value)
        shown = f"{value!r}"
    elif isinstance(value, str):
        text = value.strip()
        shown = repr(value if len(value) <= 40 else value[:40] + "...")
        seconds = _parse_text(text, shown)
    elif value is None:
        raise ValueError(f"must be a duration ({_HINT}; got nothing)")
    else:
        raise ValueError(f"must be a duration ({_HINT}; got a {type(value).__name__})")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"must be a finite duration (got {shown})")
    if seconds <= 0:
        raise ValueError(f"must be more than zero (got {shown})")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most 4 hours (got {shown})")
    return seconds


def _parse_text(text: str, shown: str) -> float:
    if text.startswith("-"):
        # Say "more than zero" rather than "malformed" for the obvious mistake.
        raise ValueError(f"must be more than zero (got {shown})")
    if len(text) <= 40:  # long digit runs are garbage; also keeps int() cheap
        if _SECONDS_RE.match(text):
            return float(text)
        m = _UNITS_RE.match(text)
        if m:
            h, mi, s = (int(g) if g else 0 for g in m.groups())
            return float(h * 3600 + mi * 60 + s)
    if re.fullmatch(r"[\d.]+[hms][\d.hms]*", text) and "." in text:
        raise ValueError(
            f"units take whole numbers: write '1m30s' rather than '1.5m', or plain seconds "
            f"like 2.5 (got {shown})"
        )
    raise ValueError(f"not a duration: {_HINT} (got {shown})")


def clock(seconds: float, *, floor: bool = False) -> str:
    """A position or length as a clock: "3:05", "1:02:05"; the one clock formatter.

    Rounded to the second; ``floor`` for a running display, which must not show a second
    before it has passed (and never shows a negative time)."""
    seconds = max(0, int(seconds)) if floor else int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def spelled_length(seconds: float) -> str:
    """A length to the second with units: "3m 05s", "1h 02m 05s" (fitting messages)."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def format_duration(seconds: float) -> str:
    """Short display form: "45s", "2.5s", "3m 20s", "3m", "1h 02m" (hours drop the seconds)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"not a number of seconds: {seconds!r}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"not a displayable duration: {seconds!r}")
    if seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{round(seconds, 1):g}s"
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    hours, rest = divmod(total + 30, 3600)  # round to the nearest minute
    return f"{hours}h {rest // 60:02d}m"
