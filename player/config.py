"""Every user setting of Haven, in one TOML file (``paths.config_path()``).

Keys are dotted (``journal.min_minutes`` is ``min_minutes`` in the ``[journal]`` table). A key
may also be named by its last part when that is unambiguous (``show_streaks``), or by a short
alias (``voice`` for ``voice.name``). Values are validated on load and on set, so a typo in the
file gives a clear ``ConfigError`` naming the key rather than a surprise later. Only settings the
user changed are written; the rest come from the defaults below.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from player import paths
from player.errors import ConfigError
from player.printable import printable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


# --- validators: each takes a value from TOML or a string from the command line ------------

MAX_CONFIG_BYTES = 64 * 1024  # a settings file is a few hundred bytes; parsing stays < 0.2 s
MAX_SHOWN_CHARS = 60  # of a bad value quoted in a message
MAX_KEY_PARTS = 16  # settings have two (journal.min_minutes)
# A line that starts with a key of more than MAX_KEY_PARTS dotted parts: the TOML parser's
# time grows with the square of a dotted key's parts (30,000 parts: 12 s), so such a line is
# refused before parsing. Parts are bare words or quoted strings.
_LONG_KEY_RE = re.compile(
    r"""^[ \t]*(?:(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')[ \t]*\.[ \t]*)"""
    rf"{{{MAX_KEY_PARTS},}}",
    re.M,
)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _number(lo: float, hi: float, *, integer: bool = False) -> Callable[[Any], Any]:
    message = f"must be {'a whole number' if integer else 'a number'} from {lo:g} to {hi:g}"

    def check(value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    raise ValueError(message) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(message)
        if integer and isinstance(value, float):
            if not value.is_integer():
                raise ValueError(message)
            value = int(value)
        if not lo <= value <= hi:  # exact for ints of any size; refuses nan and inf
            raise ValueError(message)
        return value

    return check


def _time_of_day(value: Any) -> str:
    from player.journal.rules import MAX_DAY_START_MIN, format_hhmm, parse_hhmm

    if not isinstance(value, str):
        raise ValueError('must be a time "HH:MM" between 00:00 and 12:00, e.g. "04:00"')
    try:
        minutes = parse_hhmm(value)
    except ValueError:
        raise ValueError('must be a time "HH:MM" between 00:00 and 12:00, e.g. "04:00"') from None
    if minutes > MAX_DAY_START_MIN:
        raise ValueError(
            "must be between 00:00 and 12:00 (the practice day starts after midnight so that "
            "late-night sessions count for the day before)"
        )
    return format_hhmm(minutes)


def _weekday(value: Any) -> str:
    from player.journal.rules import WEEKDAYS

    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return value.strip().lower()
    raise ValueError("must be a day of the week: " + ", ".join(WEEKDAYS))


def _weekdays(value: Any) -> list[str]:
    """Rest days: a list of weekdays, or a comma-separated line ("saturday,sunday"; "none")."""
    from player.journal.rules import WEEKDAYS

    if isinstance(value, str):
        text = value.strip().lower()
        value = [] if text in ("", "none") else [part.strip() for part in text.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip().lower() in WEEKDAYS for v in value):
        raise ValueError("must be days of the week, e.g. sunday or saturday,sunday (none for no rest days)")
    chosen = {v.strip().lower() for v in value}
    return [day for day in WEEKDAYS if day in chosen]


def _word(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", value.strip()):
        return value.strip()
    raise ValueError("must be a name of lowercase letters, digits, '-', '_' or '.' (e.g. auto)")


def _text(value: Any) -> str:
    if isinstance(value, str) and "\n" not in value:
        return value.strip()
    raise ValueError("must be a line of text")


def _ambient(value: Any) -> str:
    from player.format.model import AMBIENT_SOUNDS

    choices = ("none",) + tuple(AMBIENT_SOUNDS)
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise ValueError("must be one of: " + ", ".join(choices))


@dataclass(frozen=True)
class Setting:
    """One configurable value: its dotted key, default, validator and a line of help."""

    key: str
    default: Any
    check: Callable[[Any], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("journal.day_starts_at", "04:00", _time_of_day,
            "local time a practice day begins; sessions before it count for the day before"),
    Setting("journal.min_minutes", 1, _number(0, 1440),
            "minutes of practice a day needs to count"),
    Setting("journal.goal_days_per_week", 5, _number(1, 7, integer=True),
            "practice days a week that meet the weekly goal"),
    Setting("journal.week_starts", "monday", _weekday, "first day of a week"),
    Setting("journal.show_streaks", True, _bool,
            "show streak counts (false hides them; the record is unchanged)"),
    Setting("journal.rest_days", [], _weekdays,
            "planned days off: without practice they neither break nor extend a streak"),
    Setting("journal.freeze_every", 7, _number(1, 365, integer=True),
            "counting days that earn one streak freeze (it covers one missed day)"),
    Setting("journal.freeze_max", 2, _number(0, 10, integer=True),
            "streak freezes held at most at once (0: no freezes)"),
    Setting("voice.engine", "auto", _word,
            "speech engine: auto (the neural voice when installed, else the system voice), "
            "piper, or espeak (HAVEN_VOICE_ENGINE beats it)"),
    Setting("voice.name", "", _text, "voice to use (empty: the engine's default)"),
    Setting("voice.rate", 1.0, _number(0.5, 2.0),
            "speaking rate relative to the engine's normal speed"),
    Setting("audio.loudness_lufs", -18, _number(-40, -6),
            "target loudness of sessions in LUFS"),
    Setting("ambient.sound", "none", _ambient, "background sound when a script sets none"),
    Setting("ambient.level_db", -24, _number(-60, 0),
            "background level in dB relative to the voice"),
    Setting("levels.voice_db", 0, _number(-30, 12),
            "voice level in dB, added to the mix (the loudness target still holds; keys v/V)"),
    Setting("levels.tones_db", 0, _number(-30, 12),
            "breathing-tone level in dB, added to the mix (keys t/T)"),
    Setting("levels.bells_db", 0, _number(-30, 12), "bell level in dB, added to the mix (keys b/B)"),
    Setting("levels.bed_db", 0, _number(-30, 12),
            "background-sound level in dB, added to the mix (keys a/A)"),
    Setting("play.checkin", False, _bool,
            "ask for a mood rating before and after each session, and a note after"),
    Setting("cache.max_mb", 500, _number(0, 100_000, integer=True),
            "size limit of the speech cache in MB; least recently used clips go first"),
)

_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
_ALIASES: dict[str, str] = {"voice": "voice.name", "loudness": "audio.loudness_lufs"}


def _leaf_aliases() -> dict[str, str]:
    leaves: dict[str, list[str]] = {}
    for key in _BY_KEY:
        leaves.setdefault(key.rsplit(".", 1)[1], []).append(key)
    return {leaf: keys[0] for leaf, keys in leaves.items() if len(keys) == 1}


_LEAVES = _leaf_aliases()


def resolve_key(name: str) -> str:
    """The canonical dotted key for ``name``; unknown names get a nearest-key suggestion."""
    key = name.strip().lower()
    if key in _BY_KEY:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _LEAVES:
        return _LEAVES[key]
    raise ConfigError(
        f"unknown setting {name!r}{_suggest(key)}",
        hint="`haven config list` shows every setting",
    )


def _suggest(name: str) -> str:
    """``"; did you mean 'journal.min_minutes'?"`` for the nearest known key, or ``""``."""
    import difflib

    if len(name) > MAX_SHOWN_CHARS:  # no key is near that long
        return ""
    candidates = list(_BY_KEY) + list(_LEAVES) + list(_ALIASES)
    close = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=0.6)
    if not close:
        return ""
    best = close[0]
    if best not in _BY_KEY:
        best = _ALIASES.get(best) or _LEAVES[best]
    return f"; did you mean {best!r}?"


def _shown(value: Any) -> str:
    """A value as an error message quotes it: short, one line, printable."""
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return printable(text)


def parse_value(key: str, value: Any) -> Any:
    """Validate ``value`` (a TOML value or a command-line string) for ``key``."""
    setting = _BY_KEY[resolve_key(key)]
    try:
        return setting.check(value)
    except ValueError as exc:
        raise ConfigError(f"{setting.key}: {_shown(value)} {exc}") from None


@dataclass(frozen=True)
class Config:
    """All settings with defaults filled in; ``explicit`` holds the keys set in the file."""

    values: Mapping[str, Any]
    explicit: frozenset[str]
    path: Path
    # ``[lexicon]``: the user's pronunciations (player.format.lexicon), for every session;
    # a script's own entry for a word replaces the user's.
    lexicon: tuple = ()

    def get(self, key: str) -> Any:
        return self.values[resolve_key(key)]

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    @property
    def journal_rules(self):
        """The counting rules as ``player.journal.rules.Rules``."""
        from player.journal.rules import Rules, parse_hhmm, weekday_index

        return Rules(
            day_starts_at=parse_hhmm(self.values["journal.day_starts_at"]),
            min_minutes=float(self.values["journal.min_minutes"]),
            goal_days_per_week=int(self.values["journal.goal_days_per_week"]),
            week_starts=weekday_index(self.values["journal.week_starts"]),
            rest_days=frozenset(weekday_index(d) for d in self.values["journal.rest_days"]),
            freeze_every=int(self.values["journal.freeze_every"]),
            freeze_max=int(self.values["journal.freeze_max"]),
        )

    @property
    def show_streaks(self) -> bool:
        return bool(self.values["journal.show_streaks"])


def defaults() -> dict[str, Any]:
    return {s.key: s.default for s in SETTINGS}


def _read_file(path: Path) -> dict[str, Any]:
    """The explicit settings in ``path`` as ``{dotted key: validated value}``."""
    from player.files import read_regular

    try:  # a regular file of at most MAX_CONFIG_BYTES: no pipe or /dev/zero link can hang us
        raw = read_regular(path, limit=MAX_CONFIG_BYTES, what="config file", error=ConfigError)
    except FileNotFoundError:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    long_key = _LONG_KEY_RE.search(text)
    if long_key:
        line = text.count("\n", 0, long_key.start()) + 1
        raise ConfigError(f"{path}: line {line}: a key of more than {MAX_KEY_PARTS} dotted parts; "
                          "settings are named like journal.min_minutes")  # fmt: skip
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {printable(str(exc))}") from None
    except ValueError:  # Python's own limit on the digits of an int, met inside the parser
        raise ConfigError(f"{path}: not valid TOML: a number has too many digits") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{path}: not valid TOML: values are nested too deeply") from None

    found: dict[str, Any] = {}

    def walk(table: Mapping[str, Any], prefix: str) -> None:
        for name, value in table.items():
            dotted = f"{prefix}{name}"
            if dotted == LEXICON_TABLE:  # words, not settings: kept as written (see _write)
                found[LEXICON_TABLE] = _lexicon_table(path, value)
                continue
            if isinstance(value, dict) and not prefix:  # a table; settings are table.name
                walk(value, dotted + ".")
                continue
            if dotted not in _BY_KEY:
                raise ConfigError(f"{path}: unknown setting {_shown(dotted)}{_suggest(dotted)}")
            try:
                found[dotted] = _BY_KEY[dotted].check(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: {dotted}: {_shown(value)} {exc}") from None

    walk(doc, "")
    return found


LEXICON_TABLE = "lexicon"


def _lexicon_table(path: Path, value: Any) -> dict[str, Any]:
    """The ``[lexicon]`` table, checked as a script's ``lexicon:`` is."""
    from player.format.lexicon import entries

    try:
        entries(value)
    except ValueError as exc:
        raise ConfigError(f"{path}: {LEXICON_TABLE}: {printable(str(exc))}") from None
    return dict(value)


def load_config(path: Path | None = None) -> Config:
    """Read the config file (a missing file means all defaults) and validate every value."""
    path = path or paths.config_path()
    explicit = _read_file(path)
    table = explicit.pop(LEXICON_TABLE, None)
    lexicon = ()
    if table:
        from player.format.lexicon import entries

        lexicon = entries(table)
    values = defaults()
    values.update(explicit)
    return Config(values=values, explicit=frozenset(explicit), path=path, lexicon=lexicon)


def get(key: str, path: Path | None = None) -> Any:
    """The current value of one setting."""
    return load_config(path).get(key)


def _write(path: Path, explicit: Mapping[str, Any]) -> None:
    """Write the explicit settings atomically (temp file + rename), owner-only.

    A config.toml that is a link to a file elsewhere (a dotfiles folder) stays a link: the
    file it points to is replaced. Folders that cannot be made or written give one line.
    """
    import tomli_w

    from player.files import FileAccessError, write_output

    doc: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:  # file order follows SETTINGS, so diffs stay small
        if setting.key in explicit:
            table, name = setting.key.split(".", 1)
            doc.setdefault(table, {})[name] = explicit[setting.key]
    if explicit.get(LEXICON_TABLE):  # the user's words stay as they wrote them
        doc[LEXICON_TABLE] = dict(explicit[LEXICON_TABLE])
    text = "# Haven settings; `haven config list` shows all of them with their defaults.\n"
    text += tomli_w.dumps(doc)
    try:
        paths.ensure_private_dir(path.parent)
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, path.parent, doing="create") from None
    write_output(path, text)


def set(key: str, value: Any, path: Path | None = None) -> tuple[str, Any]:  # noqa: A001
    """Validate and store one setting; returns ``(canonical key, stored value)``."""
    path = path or paths.config_path()
    canonical = resolve_key(key)
    stored = parse_value(canonical, value)
    explicit = _read_file(path)
    explicit[canonical] = stored
    _write(path, explicit)
    return canonical, stored


def unset(key: str, path: Path | None = None) -> tuple[str, Any]:
    """Remove one setting from the file so its default applies; returns ``(key, default)``."""
    path = path or paths.config_path()
    canonical = resolve_key(key)
    explicit = _read_file(path)
    if canonical in explicit:
        del explicit[canonical]
        _write(path, explicit)
    return canonical, _BY_KEY[canonical].default


def format_value(value: Any) -> str:
    """A value as written in TOML (strings quoted), for `haven config list`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def describe() -> list[dict[str, Any]]:
    """Every setting with its value, default, whether it is set, and help (for `config list`)."""
    cfg = load_config()
    return [
        {
            "key": s.key,
            "value": cfg.values[s.key],
            "default": s.default,
            "set": s.key in cfg.explicit,
            "help": s.help,
        }
        for s in SETTINGS
    ]
