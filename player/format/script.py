"""Load exercise scripts (format version 1, see the script-format spec) into ``player.format.model``.

Scripts come from users and from the internet, so loading is defensive: UTF-8 only, at most
1 MiB, YAML safe loading without anchors, aliases or object tags, bounded nesting and size.
Every problem becomes one ``ScriptError`` naming file, line, column and the path inside the
document; nothing else escapes. Only ``yaml`` is imported: this runs at ``haven list`` start-up.
``player.format.located_yaml`` reads the file; this module builds the script from what it read.

Where the spec is silent, this loader decides (and the JSON Schema agrees):
- ``breathe`` needs ``cycles`` or ``for``; neither is an error, as the length matters.
- Paths index from 0 and put modifiers under their action: ``steps[3].breathe.cycles``.
- Duration strings take whole units ("1m30s"; "1.5m" is refused, plain "2.5" is fine);
  ``1:30`` (YAML 1.1 base 60) is refused rather than silently read as 90.
- Text fields keep plain scalars as written: ``say: No`` says "No", not ``False``.
- A step's ``tones`` is merged over the script's ``tones`` into full ToneSettings.
- Pattern mappings may also give ``inhale2`` (the top-up inhale of a sigh).
- ``ambient: ~`` means none; ``level_db`` beside ``ambient: none`` is an error.
- A param with no default and no value given is an error at load time.
- Bounds beyond the spec: a breathe step <= 4 h, ``for`` >= one breath, timed parts <= 24 h.
- ``lexicon`` (pronunciations, ``player.format.lexicon``) and a breathe step's ``say`` lines
  (spoken over the pacer, ``at: "cycle 3 out"``) are this player's additions to version 1;
  a step with both ``breathe`` and ``say`` is a breathe step whose ``say`` is its lines.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from player.format import model
from player.format.durations import parse_duration
from player.errors import ScriptError
from player.format.located_yaml import (
    LocatedValue,
    all_problems,
    join_path,
    load_located,
    load_located_text,
    located_error,
    suggest,
)
from player.format.model import ID_PATTERN  # the one id pattern
from player.format.patterns import PATTERN_KEYS, REQUIRED_PHASES, check_phase, parse_pattern

# --- The format's vocabulary: shared with player.format.schema so the two cannot drift. ---

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = (
    "haven", "title", "summary", "credit", "category", "tags", "voice", "tones", "ambient",
    "ending", "params", "lexicon", "language", "steps",
)  # fmt: skip
# A script's ``language:``: a BCP 47 tag as voices list them, e.g. en, en-GB, de, pt-BR.
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
REQUIRED_TOP_LEVEL_KEYS = ("title", "steps")
ACTIONS = ("say", "pause", "breathe", "bell", "section", "repeat", "ambient")
ACTION_MODIFIERS: dict[str, tuple[str, ...]] = {
    "say": ("after", "rate", "volume"),
    "pause": ("fixed",),
    "breathe": ("cycles", "for", "cues", "ramp_to", "tones", "say"),
    "bell": (),
    "section": (),
    "repeat": ("steps",),
    "ambient": ("level_db",),
}
ALL_MODIFIERS = tuple(sorted({m for mods in ACTION_MODIFIERS.values() for m in mods}))
BARE_ACTIONS = ("bell",)  # actions that may be written as a bare string step: `- bell`
VOICE_KEYS = ("engine", "name", "rate", "volume")
TONE_KEYS = ("level_db", "low_hz", "high_hz", "hold")
TONE_HOLDS = ("steady", "rest")
AMBIENT_KEYS = ("sound", "file", "level_db")
BELL_KEYS = ("strikes", "gap", "sound", "file")
PARAM_KEYS = ("default", "help")
BREATHE_LINE_KEYS = ("at", "text")
# ``at`` of a line spoken over a pacer: "cycle 3", "cycle 3 out" (model.PHASE_WORDS).
AT_PATTERN = r"^cycle ([0-9]+)(?: (in|out|hold|inhale|inhale2|exhale|hold_out|hold-out))?$"
_AT_RE = re.compile(AT_PATTERN)
_PHASE_ORDER = ("inhale", "inhale2", "hold", "exhale", "hold_out")
NONE_WORD = "none"

PARAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"

# --- Limits: generous for real scripts, small enough that no file can hang the player. ---

MAX_REPEAT_DEPTH = 8
MAX_REPEAT_COUNT = 1000
MAX_EXPANDED_STEPS = 10_000
MAX_CYCLES = 1000
MAX_SAY_CHARS = 2000
MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 2000
MAX_NAME_CHARS = 100
MAX_TAGS = 32
MAX_TAG_CHARS = 40
MAX_PARAM_CHARS = 500
MAX_PARAMS = 50
MAX_BREATHE_S = 4 * 3600.0
MAX_TIMED_S = 24 * 3600.0
RATE_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0.0, 1.0)
LEVEL_DB_RANGE = (-60.0, 0.0)
TONE_HZ_RANGE = (40.0, 2000.0)
STRIKES_RANGE = (1, 12)
GAP_RANGE = (0.5, 60.0)

_ID_RE = re.compile(ID_PATTERN)
_PARAM_NAME_RE = re.compile(PARAM_NAME_PATTERN)
# Control characters that could reach a speech engine through "\x07"-style escapes.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

ACTION_EXAMPLES = {
    "say": "say: Let your shoulders soften.",
    "pause": "pause: 10s",
    "breathe": "breathe: box",
    "section": "section: Arriving",
    "repeat": "repeat: 3",
    "ambient": "ambient: rain",
}


# ======================================================================= public API


def load_script(
    source: str | os.PathLike[str], *, params: Mapping[str, str] | None = None
) -> model.Script:
    """Read and validate the script file at ``source``; its id is the file stem."""
    path = os.fspath(source)
    file = str(path)
    script_id = _check_id(Path(file).stem, file)
    value = load_located(file, noun="script")
    return _load(value, file=file, script_id=script_id, params=params, path=file)


def load_header(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields a listing shows of the script file at ``source``, without its steps.

    The file is read with every guard and limit of :func:`load_script` (the one way Haven
    parses YAML) and each field is checked as it checks them, so a listing and ``haven
    validate`` agree. Returns ``{"title", "summary", "category": str | None, "tags": [str]}``
    (None: not given). Raises ``ScriptError``.
    """
    file = os.fspath(source)
    root = load_located(file, noun="script")
    if root is None:
        raise located_error("the file is empty; a script needs at least 'title' and 'steps'",
                            file, 1, 1)  # fmt: skip
    builder = _Builder(file)
    fields = builder.header(builder.top_level(root))
    if builder.problems:
        raise all_problems(builder.problems)
    return {
        "title": fields.get("title"),
        "summary": fields.get("summary"),
        "category": fields.get("category"),
        "tags": list(fields.get("tags", ())),
    }


def load_script_text(
    text: str | bytes,
    *,
    filename: str,
    script_id: str | None = None,
    params: Mapping[str, str] | None = None,
) -> model.Script:
    """Validate script source given in memory; ``filename`` is used in errors and for the id."""
    sid = _check_id(Path(filename).stem if script_id is None else script_id, filename)
    value = load_located_text(text, filename=filename, noun="script")
    return _load(value, file=filename, script_id=sid, params=params, path=None)


# For other formats too: programs (``player.library.programs``) name their files the same way.


def check_file_id(file_id: str, file: str, *, noun: str) -> str:
    """The id a file's stem gives (lower-case words joined by hyphens), or a ``ScriptError``."""
    return _check_id(file_id, file, noun)


_BROKEN = object()  # a field whose problem was kept (``_Builder.collect``)


def _check_id(script_id: str, file: str, noun: str = "script") -> str:
    if not isinstance(script_id, str) or not _ID_RE.match(script_id) or len(script_id) > 100:
        fallback = "my-exercise" if noun == "script" else f"my-{noun}"
        fixed = re.sub(r"[^a-z0-9]+", "-", str(script_id).lower()).strip("-") or fallback
        raise located_error(
            f"the {noun} id {script_id!r} (the file name without .yaml) must be lower-case "
            f"letters, digits and single hyphens, like {fixed!r}",
            file,
        )
    return script_id


# ======================================================================= building


def _load(value: LocatedValue | None, *, file: str, script_id: str, params, path: str | None):
    if value is None:
        raise located_error("the file is empty; a script needs at least 'title' and 'steps'",
                            file, 1, 1)  # fmt: skip
    try:
        return _Builder(file).script(value, script_id=script_id, params=params, path=path)
    except ScriptError:
        raise
    except Exception as exc:  # pragma: no cover - a safety net; tests assert it never fires
        raise located_error(f"internal error while loading ({type(exc).__name__}: {exc})",
                            file) from None  # fmt: skip


class _Checks:
    """Typed, located checks of one value each: what every Haven YAML format is built from.

    Each check returns the value in its Python form or raises a ``ScriptError`` at the
    value's line and column with its document path. ``player.library.programs`` builds on these too.
    """

    def __init__(self, file: str):
        self.file = file

    def fail(self, v: LocatedValue | None, path: str, message: str) -> ScriptError:
        line, col = (v.line, v.column) if v is not None else (None, None)
        return located_error(message, self.file, line, col, path or None)

    def problem(self, error: ScriptError) -> None:
        """A problem that does not stop the check of what is around it (an unknown key):
        kept when this builder collects every problem (``problems``), else raised."""
        problems = getattr(self, "problems", None)
        if problems is None:
            raise error
        problems.append(error)

    def collect(self, check, *args, default=None, whole=False, **kwargs):
        """``check(*args, **kwargs)``, or ``default`` with its problem kept (``problem``).

        One problem per check (a field, a step): the first one found, since what follows it
        in the same part is often its consequence (an unknown key, then "needs 'inhale'").
        ``whole``: keep every problem found inside (a list of steps, each checked on its own).
        """
        problems = getattr(self, "problems", None)
        before = len(problems) if problems is not None else 0
        try:
            result = check(*args, **kwargs)
        except ScriptError as exc:
            self.problem(exc)
            result = default
        if problems is not None and not whole and len(problems) > before + 1:
            del problems[before + 1:]
        if problems is not None and len(problems) > before and not whole:
            return default
        return result

    @staticmethod
    def got(v: LocatedValue) -> str:
        if v.kind == "seq":
            return "got a list"
        if v.kind == "map":
            return "got a mapping"
        if v.kind == "null":
            return "got nothing"
        raw = v.raw if len(v.raw) <= 40 else v.raw[:40] + "..."
        return f"got {raw}" if v.kind in ("int", "float", "bool") else f"got {raw!r}"

    def mapping(self, v: LocatedValue, path: str, allowed: tuple[str, ...], what: str
                ) -> dict[str, tuple[LocatedValue, LocatedValue]]:  # fmt: skip
        """Keys -> (key, value) of a mapping whose keys must all be in ``allowed``."""
        if v.kind != "map":
            raise self.fail(v, path, f"{what} must be a mapping ({self.got(v)})")
        return self.keys(v, path, allowed)

    def keys(self, v: LocatedValue, path: str, allowed: tuple[str, ...] | None
             ) -> dict[str, tuple[LocatedValue, LocatedValue]]:  # fmt: skip
        out: dict[str, tuple[LocatedValue, LocatedValue]] = {}
        for kv, vv in v.value:
            if kv.kind in ("seq", "map"):
                raise self.fail(kv, path, "keys must be plain names, not lists or mappings")
            key = kv.raw
            kpath = join_path(path, key)
            if key in out:
                first = out[key][0]
                self.problem(self.fail(kv, kpath, f"duplicate key {key!r} (first at line "
                                                  f"{first.line})"))  # fmt: skip
                continue
            if allowed is not None and key not in allowed:
                close = suggest(key, allowed)
                hint = close or f" (expected one of: {', '.join(allowed)})"
                self.problem(self.fail(kv, kpath, f"unknown key {key!r}{hint}"))
                if close and isinstance(getattr(self, "misspelled", None), set):
                    self.misspelled.add(join_path(path, close.split("'")[1]))
                continue
            out[key] = (kv, vv)
        return out

    def text(self, v: LocatedValue, path: str, *, max_chars: int, single_line: bool = False,
             what: str = "text") -> str:  # fmt: skip
        # Plain scalars YAML would read as numbers or booleans (`say: No`, `title: 1984`)
        # are kept as written: in a text field the author meant the words.
        if v.kind in ("seq", "map", "null"):
            raise self.fail(v, path, f"must be {what} ({self.got(v)})")
        s = v.raw if v.kind != "str" else v.value
        if not s.strip():
            raise self.fail(v, path, "must not be empty")
        self.check_text(v, path, s, max_chars=max_chars, single_line=single_line)
        return s

    def check_text(self, v: LocatedValue, path: str, s: str, *, max_chars: int, single_line: bool):
        if len(s) > max_chars:
            raise self.fail(v, path, f"too long ({len(s)} characters; at most {max_chars})")
        bad = _CONTROL_RE.search(s)
        if bad:
            raise self.fail(v, path, f"contains control character U+{ord(bad.group()):04X}")
        if single_line and ("\n" in s or "\r" in s):
            raise self.fail(v, path, "must be a single line")

    def number(self, v: LocatedValue, path: str, lo: float, hi: float) -> float:
        if v.kind in ("int", "float"):
            x = float(v.value)
            if math.isnan(x) or math.isinf(x):
                raise self.fail(v, path, f"must be a finite number ({self.got(v)})")
            if not lo <= x <= hi:
                raise self.fail(v, path, f"must be between {lo:g} and {hi:g} ({self.got(v)})")
            return x
        if v.kind == "str" and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", v.value):
            raise self.fail(v, path, f"must be a number, without quotes ({self.got(v)})")
        raise self.fail(v, path, f"must be a number between {lo:g} and {hi:g} ({self.got(v)})")

    def whole(self, v: LocatedValue, path: str, lo: int, hi: int) -> int:
        ok = v.kind == "int" or (
            v.kind == "float" and math.isfinite(v.value) and float(v.value).is_integer()
        )
        if not ok or v.value < lo:
            raise self.fail(v, path, f"must be a whole number >= {lo} ({self.got(v)})")
        if v.value > hi:
            raise self.fail(v, path, f"must be at most {hi} ({self.got(v)})")
        return int(v.value)

    def boolean(self, v: LocatedValue, path: str) -> bool:
        if v.kind != "bool":
            raise self.fail(v, path, f"must be true or false ({self.got(v)})")
        return bool(v.value)

    def choice(self, v: LocatedValue, path: str, choices: tuple[str, ...], what: str) -> str:
        if v.kind != "str" or v.value not in choices:
            hint = suggest(v.raw, choices) if v.kind == "str" else ""
            raise self.fail(
                v, path, f"must be {what}: {', '.join(choices)} ({self.got(v)}){hint}"
            )
        return v.value

    def duration(self, v: LocatedValue, path: str) -> float:
        if v.kind in ("int", "float"):
            arg: Any = v.value
        elif v.kind in ("seq", "map"):
            raise self.fail(v, path, f"must be a duration like 10, '45s' or '1m30s' "
                                     f"({self.got(v)})")  # fmt: skip
        elif v.kind == "null":
            arg = None
        elif v.kind == "bool":
            arg = v.value
        else:
            arg = v.value
        try:
            return parse_duration(arg)
        except ValueError as exc:
            raise self.fail(v, path, str(exc)) from None

    def where(self, v: LocatedValue, path: str) -> model.Where:
        return model.Where(file=self.file, line=v.line, column=v.column, path=path)


Checks = _Checks


class _Builder(_Checks):
    """Turns the marked value tree into model objects, checking every rule of the spec."""

    def __init__(self, file: str):
        super().__init__(file)
        self.tones = model.ToneSettings()
        self.values: dict[str, str] = {}
        self.declared: list[str] = []
        # Every independent problem (a field, a step) is kept here and checking goes on, so
        # `haven validate` reports them all; what depends on a broken part is not checked.
        self.problems: list[ScriptError] = []
        self.params_broken = False
        self.misspelled: set[str] = set()  # keys an unknown key was taken to mean

    # ---------------------------------------------------------------- script values

    def pattern(self, v: LocatedValue, path: str) -> model.Pattern:
        if v.kind == "map":
            entries = self.keys(v, path, PATTERN_KEYS)
            phases = {}
            for key, (kv, vv) in entries.items():
                if vv.kind not in ("int", "float"):
                    raise self.fail(vv, join_path(path, key),
                                    f"must be a number of seconds ({self.got(vv)})")  # fmt: skip
                try:
                    phases[key] = check_phase(key, vv.value)
                except ValueError as exc:
                    raise self.fail(vv, join_path(path, key), str(exc)) from None
            for key in REQUIRED_PHASES:
                if key not in phases:
                    raise self.fail(v, path, f"a pattern mapping needs '{key}' (seconds)")
            return model.Pattern(**phases)
        if v.kind == "str":
            try:
                return parse_pattern(v.value)
            except ValueError as exc:
                raise self.fail(v, path, str(exc)) from None
        raise self.fail(v, path, "must be a pattern name like 'box' or numbers like '4-7-8' "
                                 f"({self.got(v)})")  # fmt: skip

    def tone_settings(self, v: LocatedValue, path: str, base: model.ToneSettings
                      ) -> model.ToneSettings:  # fmt: skip
        entries = self.mapping(v, path, TONE_KEYS, "tones")
        changes: dict[str, Any] = {}
        for key, (_kv, vv) in entries.items():
            p = join_path(path, key)
            if key == "level_db":
                changes[key] = self.number(vv, p, *LEVEL_DB_RANGE)
            elif key in ("low_hz", "high_hz"):
                changes[key] = self.number(vv, p, *TONE_HZ_RANGE)
            else:
                changes[key] = self.choice(vv, p, TONE_HOLDS, "one of")
        tones = replace(base, **changes)
        if tones.low_hz >= tones.high_hz:
            raise self.fail(v, path, f"low_hz ({tones.low_hz:g}) must be below high_hz "
                                     f"({tones.high_hz:g})")  # fmt: skip
        return tones

    def substitute(self, v: LocatedValue, path: str, s: str, max_chars: int,
                   single_line: bool) -> str:  # fmt: skip
        """Fill in ``{name}`` from the param values; ``{{`` and ``}}`` are literal braces."""
        if "{" not in s and "}" not in s:
            return s
        out: list[str] = []
        pos = 0
        for m in _TOKEN_RE.finditer(s):
            out.append(s[pos : m.start()])
            pos = m.end()
            token = m.group()
            if token == "{{":
                out.append("{")
            elif token == "}}":
                out.append("}")
            elif token in ("{", "}"):
                raise self.fail(v, path, f"unmatched {token!r} in text; write '{token * 2}' "
                                         "for a literal brace")  # fmt: skip
            else:
                name = m.group(1)
                if not _PARAM_NAME_RE.match(name):
                    raise self.fail(v, path, f"{token!r} is not a param reference; write "
                                             "'{{' and '}}' for literal braces")  # fmt: skip
                if name not in self.values and self.params_broken:
                    out.append(token)  # the params have a problem of their own: no cascade
                    continue
                if name not in self.values:
                    if self.declared:
                        hint = suggest(name, self.declared) or (
                            f" (declared: {', '.join(self.declared)})"
                        )
                    else:
                        hint = " (this script declares no params)"
                    raise self.fail(v, path, f"unknown param {name!r}{hint}")
                out.append(self.values[name])
        out.append(s[pos:])
        result = "".join(out)
        if not result.strip():
            raise self.fail(v, path, "is empty once params are filled in")
        self.check_text(v, path, result, max_chars=max_chars, single_line=single_line)
        return result

    # ---------------------------------------------------------------- top level

    def top_level(self, root: LocatedValue) -> dict[str, tuple[LocatedValue, LocatedValue]]:
        if root.kind != "map":
            raise self.fail(root, "", "the top level must be a mapping with keys like 'title' "
                                      f"and 'steps' ({self.got(root)})")  # fmt: skip
        return self.keys(root, "", TOP_LEVEL_KEYS)

    def header(self, top: dict[str, tuple[LocatedValue, LocatedValue]]) -> dict[str, Any]:
        """The fields a listing shows (title, summary, category, tags), of those present."""
        fields: dict[str, Any] = {}
        checks = {
            "title": lambda v: self.text(v, "title", max_chars=MAX_TITLE_CHARS, single_line=True),
            "summary": lambda v: self.text(v, "summary", max_chars=MAX_SUMMARY_CHARS),
            "category": lambda v: self.choice(v, "category", model.CATEGORIES, "one of"),
            "tags": self.tags,
        }
        for key, check in checks.items():
            if key in top:
                value = self.collect(check, top[key][1], default=_BROKEN)
                if value is not _BROKEN:
                    fields[key] = value
        return fields

    def script(self, root: LocatedValue, *, script_id: str, params, path: str | None
               ) -> model.Script:  # fmt: skip
        top = self.top_level(root)
        for key in REQUIRED_TOP_LEVEL_KEYS:
            if key not in top and key not in self.misspelled:  # 'titel' is reported already
                self.problem(self.fail(root, key, f"missing: every script needs '{key}'"))
        if "haven" in top:
            self.collect(self.version, top["haven"][1])
        fields = self.header(top)  # title, summary, category, tags: what a listing shows
        if "credit" in top:
            fields["credit"] = self.collect(self.text, top["credit"][1], "credit",
                                            max_chars=MAX_SUMMARY_CHARS)  # fmt: skip
        category = fields.get("category")
        if "voice" in top:
            fields["voice"] = self.collect(self.voice, top["voice"][1], default=model.Voice())
        if "language" in top:  # chooses the voice, so it travels with the voice settings
            language = self.collect(self.language, top["language"][1], default=None)
            fields["voice"] = replace(fields.get("voice", model.Voice()), language=language)
        if "tones" in top:
            self.tones = self.collect(self.tone_settings, top["tones"][1], "tones",
                                      model.ToneSettings(), default=model.ToneSettings())
            fields["tones"] = self.tones
        if "ambient" in top:
            fields["ambient"] = self.collect(self.ambient, top["ambient"][1],
                                             default=model.AmbientSettings())  # fmt: skip
        fields["ending"] = "fade" if category == "sleep" else "bell"
        if "ending" in top:
            fields["ending"] = self.collect(self.choice, top["ending"][1], "ending",
                                            model.ENDINGS, "one of", default=fields["ending"])
        declared = (self.collect(self.params, top["params"][1], default=_BROKEN)
                    if "params" in top else {})  # fmt: skip
        if declared is _BROKEN:
            declared, self.params_broken = {}, True
        fields["params"] = declared
        if not self.params_broken:
            values = self.collect(self.param_values, declared, params, top, default=_BROKEN)
            self.params_broken = values is _BROKEN
        fields["param_values"] = self.values
        if "lexicon" in top:
            fields["lexicon"] = self.collect(self.lexicon, top["lexicon"][1], default=())

        steps: tuple = ()
        if "steps" in top:
            before = len(self.problems)
            found = self.collect(self.steps, top["steps"][1], "steps", depth=0, whole=True)
            if found is not None and len(self.problems) == before:
                steps, _count, timed = found
                if timed > MAX_TIMED_S:
                    self.problem(self.fail(top["steps"][0], "steps",
                                           f"the timed parts add up to {timed / 3600:.1f} hours "
                                           f"(at most {MAX_TIMED_S / 3600:g})"))  # fmt: skip
        if self.problems:
            raise all_problems(self.problems)
        return model.Script(id=script_id, steps=steps, version=FORMAT_VERSION, path=path,
                            **fields)  # fmt: skip

    def version(self, vv: LocatedValue) -> int:
        if vv.kind != "int" or isinstance(vv.value, bool):
            raise self.fail(vv, "haven", f"must be the format version 1 ({self.got(vv)})")
        if vv.value != FORMAT_VERSION:
            raise self.fail(vv, "haven", f"unsupported format version {vv.value}; this "
                                         f"Haven reads version {FORMAT_VERSION}")  # fmt: skip
        return vv.value

    def tags(self, v: LocatedValue) -> tuple[str, ...]:
        if v.kind != "seq":
            raise self.fail(v, "tags", f"must be a list of words like [short, evening] "
                                       f"({self.got(v)})")  # fmt: skip
        if len(v.value) > MAX_TAGS:
            raise self.fail(v, "tags", f"too many tags ({len(v.value)}; at most {MAX_TAGS})")
        return tuple(
            self.text(t, f"tags[{i}]", max_chars=MAX_TAG_CHARS, single_line=True, what="a word")
            for i, t in enumerate(v.value)
        )

    def language(self, v: LocatedValue) -> str:
        text = self.text(v, "language", max_chars=MAX_NAME_CHARS, single_line=True,
                         what="a language tag")  # fmt: skip
        if not re.fullmatch(LANGUAGE_PATTERN, text.strip()):
            raise self.fail(v, "language", f"must be a language tag like en, en-GB or de "
                                           f"({self.got(v)})")  # fmt: skip
        return text.strip()

    def voice(self, v: LocatedValue) -> model.Voice:
        entries = self.mapping(v, "voice", VOICE_KEYS, "voice")
        kw: dict[str, Any] = {}
        for key, (_kv, vv) in entries.items():
            p = f"voice.{key}"
            if key in ("engine", "name"):
                kw[key] = self.text(vv, p, max_chars=MAX_NAME_CHARS, single_line=True)
            elif key == "rate":
                kw[key] = self.number(vv, p, *RATE_RANGE)
            else:
                kw[key] = self.number(vv, p, *VOLUME_RANGE)
        return model.Voice(**kw)

    def lexicon(self, v: LocatedValue) -> tuple[model.Pronunciation, ...]:
        """``lexicon:``: words and how to say them (``player.format.lexicon``)."""
        from player.format import lexicon as lex

        if v.kind != "map":
            raise self.fail(v, "lexicon", "must be a mapping of words, like {metta: met-tah} "
                                          f"({self.got(v)})")  # fmt: skip
        entries = self.keys(v, "lexicon", None)
        if len(entries) > lex.MAX_ENTRIES:
            raise self.fail(v, "lexicon", f"too many words ({len(entries)}; at most "
                                          f"{lex.MAX_ENTRIES})")  # fmt: skip
        out: dict[str, model.Pronunciation] = {}
        for word, (kv, vv) in entries.items():
            p = join_path("lexicon", word)
            try:
                word = lex.check_word(word)
            except ValueError as exc:
                raise self.fail(kv, p, str(exc)) from None
            if word.casefold() in out:
                raise self.fail(kv, p, f"{word!r} is given twice (also as "
                                       f"{out[word.casefold()].word!r}); case does not matter")  # fmt: skip
            out[word.casefold()] = model.Pronunciation(word, self.lexicon_forms(vv, p))
        return tuple(out.values())

    def lexicon_forms(self, v: LocatedValue, path: str) -> tuple[tuple[str, str], ...]:
        from player.format import lexicon as lex

        if v.kind == "map":
            named = self.keys(v, path, None)
            if not named:
                raise self.fail(v, path, "must name at least one engine, like {espeak: "
                                         "\"[[S@v'A:s@n@]]\"}")  # fmt: skip
            forms: dict[str, str] = {}
            first: dict[str, str] = {}
            for name, (kv, fv) in named.items():
                p = join_path(path, name)
                try:
                    engine = lex.engine_key(name)
                    if engine in first:
                        raise ValueError(f"{name!r} and {first[engine]!r} name the same engine")
                except ValueError as exc:
                    raise self.fail(kv, p, str(exc)) from None
                first[engine] = name
                forms[engine] = self.lexicon_form(fv, p, engine)
            return tuple(sorted(forms.items()))
        if v.kind in ("seq", "null"):
            raise self.fail(v, path, "must be a respelling like met-tah, or a mapping of engines "
                                     f"like {{espeak: \"[[m'Et@]]\"}} ({self.got(v)})")  # fmt: skip
        return (("", self.lexicon_form(v, path, "")),)

    def lexicon_form(self, v: LocatedValue, path: str, engine: str) -> str:
        from player.format import lexicon as lex

        if v.kind in ("seq", "map", "null"):
            raise self.fail(v, path, f"must be a respelling or [[phonemes]] ({self.got(v)})")
        try:
            return lex.check_form(v.raw if v.kind != "str" else v.value, engine)
        except ValueError as exc:
            raise self.fail(v, path, str(exc)) from None

    def sound(self, v: LocatedValue, path: str, kind: str = "bed") -> str | None:
        """A sound by name: a built-in one, or a file in the user's sounds folder (read now,
        so an unreadable, silent or too-short one is an error located here)."""
        from player.audio import sounds

        if v.kind == "null":
            return None
        builtin = model.AMBIENT_SOUNDS + (NONE_WORD,) if kind == "bed" else sounds.BUILTIN_BELLS
        if v.kind == "str" and v.value not in builtin and v.value in sounds.user_sounds():
            return self.sound_file(v, path, kind, v.value)
        value = self.choice(v, path, builtin + tuple(sounds.user_sounds()), "a sound")
        return None if value == NONE_WORD else value

    def sound_file(self, v: LocatedValue, path: str, kind: str, ref: str | None = None) -> str:
        """A sound file (a path, relative to the script's folder, ``~`` allowed), read now."""
        from player.audio import sounds
        from player.errors import HavenError

        if ref is None:
            text = self.text(v, path, max_chars=4096, single_line=True)
            target = Path(text).expanduser()
            if not target.is_absolute():
                target = Path(self.file).resolve().parent / target
            ref = str(target)
        try:
            sounds.check_file(ref, kind)
        except HavenError as exc:
            raise self.fail(v, path, str(exc)) from None
        return ref

    def ambient(self, v: LocatedValue) -> model.AmbientSettings:
        if v.kind != "map":
            if v.kind in ("null", "str") and (v.kind == "null" or v.value == NONE_WORD):
                return model.AmbientSettings(sound=None)
            raise self.fail(v, "ambient", f"must be 'none' or a mapping like {{sound: rain, "
                                          f"level_db: -24}} ({self.got(v)})")  # fmt: skip
        entries = self.keys(v, "ambient", AMBIENT_KEYS)
        kw: dict[str, Any] = {}
        if "sound" in entries and "file" in entries:
            raise self.fail(entries["file"][0], "ambient.file", "give 'sound' or 'file', not both")
        if "sound" in entries:
            kw["sound"] = self.sound(entries["sound"][1], "ambient.sound")
        if "file" in entries:
            kw["sound"] = self.sound_file(entries["file"][1], "ambient.file", "bed")
        if "level_db" in entries:
            kw["level_db"] = self.number(entries["level_db"][1], "ambient.level_db",
                                         *LEVEL_DB_RANGE)  # fmt: skip
        return model.AmbientSettings(**kw)

    def params(self, v: LocatedValue) -> dict[str, model.Param]:
        if v.kind != "map":
            raise self.fail(v, "params", f"must be a mapping of param names ({self.got(v)})")
        entries = self.keys(v, "params", None)
        if len(entries) > MAX_PARAMS:
            raise self.fail(v, "params", f"too many params ({len(entries)}; at most {MAX_PARAMS})")
        out: dict[str, model.Param] = {}
        for name, (kv, vv) in entries.items():
            p = f"params.{name}"
            if not _PARAM_NAME_RE.match(name) or len(name) > 40:
                raise self.fail(kv, p, f"param name {name!r} must be letters, digits, '_' or "
                                       "'-', starting with a letter")  # fmt: skip
            spec = self.mapping(vv, p, PARAM_KEYS, "a param")
            kw: dict[str, Any] = {}
            if "default" in spec:
                kw["default"] = self.text(spec["default"][1], f"{p}.default",
                                          max_chars=MAX_PARAM_CHARS)  # fmt: skip
            if "help" in spec:
                kw["help"] = self.text(spec["help"][1], f"{p}.help", max_chars=MAX_TITLE_CHARS,
                                       single_line=True)  # fmt: skip
            out[name] = model.Param(**kw)
        self.declared = list(out)
        return out

    def param_values(self, declared: dict[str, model.Param], given, top) -> dict[str, str]:
        given = {} if given is None else given
        params_key = top["params"][0] if "params" in top else None
        if not isinstance(given, Mapping):
            raise located_error("params must be a mapping of names to text", self.file)
        for name, value in given.items():
            if name not in declared:
                hint = suggest(str(name), declared) if declared else ""
                if not hint:
                    hint = (f" (this script takes: {', '.join(declared)})" if declared
                            else " (this script takes no params)")  # fmt: skip
                raise self.fail(params_key, f"params.{name}", f"unknown param {name!r} given{hint}")
            if not isinstance(value, str):
                raise self.fail(params_key, f"params.{name}",
                                f"the value given must be text, not {type(value).__name__}")
            if len(value) > MAX_PARAM_CHARS or _CONTROL_RE.search(value):
                raise self.fail(params_key, f"params.{name}", "the value given is too long or "
                                                              "holds control characters")  # fmt: skip
        values: dict[str, str] = {}
        for name, param in declared.items():
            if name in given:
                values[name] = given[name]
            elif param.default is not None:
                values[name] = param.default
            else:
                kv = top["params"][1]
                key_v = next(k for k, _ in kv.value if k.raw == name)
                raise self.fail(key_v, f"params.{name}",
                                "has no default and no value was given for it")  # fmt: skip
        self.values = values
        return values

    # ---------------------------------------------------------------- steps

    def steps(self, v: LocatedValue, path: str, depth: int
              ) -> tuple[tuple[model.Step, ...], int, float]:  # fmt: skip
        """Steps, how many they expand to (repeats multiplied out), and their timed seconds."""
        if v.kind != "seq":
            raise self.fail(v, path, f"must be a list of steps ({self.got(v)})")
        if not v.value:
            raise self.fail(v, path, "must have at least one step")
        out: list[model.Step] = []
        count = 0
        timed = 0.0
        for i, item in enumerate(v.value):
            found = self.collect(self.step, item, f"{path}[{i}]", depth)
            if found is None:
                continue  # its problem is kept; the steps after it are checked on their own
            step, n, t = found
            out.append(step)
            count += n
            timed += t
            if count > MAX_EXPANDED_STEPS:
                raise self.fail(item, f"{path}[{i}]", f"the script expands to more than "
                                                      f"{MAX_EXPANDED_STEPS} steps")  # fmt: skip
        return tuple(out), count, timed

    def step(self, item: LocatedValue, path: str, depth: int) -> tuple[model.Step, int, float]:
        where = self.where(item, path)
        if item.kind == "str":
            name = item.value
            if name in BARE_ACTIONS:
                return model.Bell(where=where), 1, model.Bell().gap
            if name in ACTIONS:
                raise self.fail(item, path, f"{name!r} needs an argument, like "
                                            f"'{ACTION_EXAMPLES[name]}'")  # fmt: skip
            raise self.fail(item, path, f"unknown action {name!r}{suggest(name, ACTIONS)}")
        if item.kind != "map":
            raise self.fail(item, path, "a step must be a mapping like 'say: ...' or a bare "
                                        f"'bell' ({self.got(item)})")  # fmt: skip
        entries = self.keys(item, path, None)
        actions = [k for k in entries if k in ACTIONS]
        if sorted(actions) == ["breathe", "say"]:
            actions = ["breathe"]  # a breathe step's lines spoken over the pacer
        if len(actions) > 1:
            kv = entries[actions[1]][0]
            raise self.fail(kv, join_path(path, actions[1]),
                            f"a step has exactly one action, but this one has {actions[0]!r} "
                            f"and {actions[1]!r}; split it into two steps")  # fmt: skip
        if not actions:
            if not entries:
                raise self.fail(item, path, f"empty step; a step needs one action: "
                                            f"{', '.join(ACTIONS)}")  # fmt: skip
            for key, (kv, _vv) in entries.items():
                if key not in ALL_MODIFIERS:
                    hint = suggest(key, ACTIONS) or f" (actions: {', '.join(ACTIONS)})"
                    raise self.fail(kv, join_path(path, key), f"unknown action {key!r}{hint}")
            key, (kv, _vv) = next(iter(entries.items()))
            owners = [a for a, mods in ACTION_MODIFIERS.items() if key in mods]
            raise self.fail(kv, join_path(path, key),
                            f"{key!r} is a modifier of {' / '.join(owners)}, but the step has "
                            "no action")  # fmt: skip
        action = actions[0]
        allowed = ACTION_MODIFIERS[action]
        apath = join_path(path, action)
        mods: dict[str, tuple[LocatedValue, LocatedValue]] = {}
        for key, (kv, vv) in entries.items():
            if key == action:
                continue
            if key not in allowed:
                takes = f"{action} takes: {', '.join(allowed)}" if allowed else (
                    f"{action} takes no modifiers"
                )
                if key in ALL_MODIFIERS:
                    message = f"{key!r} is not a modifier of {action!r} ({takes})"
                else:
                    message = f"unknown key {key!r}{suggest(key, allowed) or f' ({takes})'}"
                raise self.fail(kv, join_path(apath, key), message)
            mods[key] = (kv, vv)
        action_key, arg = entries[action]
        build = getattr(self, f"step_{action}")
        return build(arg, mods, apath, where, action_key, depth)

    def step_say(self, arg, mods, path, where, _key, _depth):
        raw = self.text(arg, path, max_chars=MAX_SAY_CHARS)
        text = self.substitute(arg, path, raw, MAX_SAY_CHARS, single_line=False)
        kw: dict[str, Any] = {}
        if "after" in mods:
            kw["after"] = self.duration(mods["after"][1], f"{path}.after")
        if "rate" in mods:
            kw["rate"] = self.number(mods["rate"][1], f"{path}.rate", *RATE_RANGE)
        if "volume" in mods:
            kw["volume"] = self.number(mods["volume"][1], f"{path}.volume", *VOLUME_RANGE)
        return model.Say(text=text, where=where, **kw), 1, kw.get("after", 0.0)

    def step_pause(self, arg, mods, path, where, _key, _depth):
        seconds = self.duration(arg, path)
        fixed = self.boolean(mods["fixed"][1], f"{path}.fixed") if "fixed" in mods else False
        return model.Pause(seconds=seconds, fixed=fixed, where=where), 1, seconds

    def step_breathe(self, arg, mods, path, where, key, _depth):
        pattern = self.pattern(arg, path)
        kw: dict[str, Any] = {}
        if "ramp_to" in mods:
            kw["ramp_to"] = self.pattern(mods["ramp_to"][1], f"{path}.ramp_to")
        if "cues" in mods:
            kw["cues"] = self.choice(mods["cues"][1], f"{path}.cues", model.CUES, "one of")
        if "tones" in mods:
            kw["tones"] = self.tone_settings(mods["tones"][1], f"{path}.tones", self.tones)
        longest = max(pattern.cycle_s, kw["ramp_to"].cycle_s if "ramp_to" in kw else 0.0)
        shortest = min(pattern.cycle_s, kw["ramp_to"].cycle_s if "ramp_to" in kw else math.inf)
        if "cycles" in mods and "for" in mods:
            raise self.fail(mods["for"][0], f"{path}.for",
                            "use either 'cycles' or 'for', not both")  # fmt: skip
        if "cycles" in mods:
            cv = mods["cycles"][1]
            cycles = self.whole(cv, f"{path}.cycles", 1, MAX_CYCLES)
            if cycles * longest > MAX_BREATHE_S:
                raise self.fail(cv, f"{path}.cycles",
                                f"{cycles} cycles of {longest:g}s is over 4 hours")  # fmt: skip
            if "say" in mods:
                kw["say"] = self.breathe_lines(mods["say"][1], f"{path}.say", pattern,
                                               kw, cycles, f"this step breathes {cycles} cycles")
            return model.Breathe(pattern=pattern, cycles=cycles, where=where, **kw), 1, (
                cycles * longest
            )
        if "for" in mods:
            fv = mods["for"][1]
            for_s = self.duration(fv, f"{path}.for")
            if for_s < shortest:
                raise self.fail(fv, f"{path}.for", f"is shorter than one breath of the pattern "
                                                   f"({shortest:g}s)")  # fmt: skip
            if "say" in mods:
                mean = (pattern.cycle_s + (kw["ramp_to"].cycle_s if "ramp_to" in kw
                                           else pattern.cycle_s)) / 2  # fmt: skip
                natural = max(1, round(for_s / mean))
                kw["say"] = self.breathe_lines(mods["say"][1], f"{path}.say", pattern, kw,
                                               natural, f"'for: {fv.raw}' breathes about "
                                                        f"{natural} cycles")  # fmt: skip
            return model.Breathe(pattern=pattern, for_s=for_s, where=where, **kw), 1, for_s
        raise self.fail(key, path, "say how long to breathe: add 'cycles: N' or "
                                   "'for: DURATION' (like 'for: 2m')")  # fmt: skip

    def breathe_lines(self, v: LocatedValue, path: str, pattern: model.Pattern, kw: dict,
                      cycles: int, length: str) -> tuple[model.BreatheLine, ...]:  # fmt: skip
        """A breathe step's ``say``: lines spoken over the pacer, each ``{at, text}``, in the
        order they are spoken. Each must land on a phase the step has."""
        from player.audio.timeline import VOICE_CUE_CYCLES

        if v.kind != "seq" or not v.value:
            raise self.fail(v, path, "must be a list of lines like {at: \"cycle 3 out\", text: "
                                     f"\"Let the shoulders soften.\"}} ({self.got(v)})")  # fmt: skip
        phases = {k for k, _ in pattern.phases()}
        if "ramp_to" in kw:
            phases |= {k for k, _ in kw["ramp_to"].phases()}
        lines: dict[tuple[int, int], model.BreatheLine] = {}
        for i, item in enumerate(v.value):
            p = f"{path}[{i}]"
            entries = self.mapping(item, p, BREATHE_LINE_KEYS, "a line")
            for key in BREATHE_LINE_KEYS:
                if key not in entries:
                    raise self.fail(item, p, f"a line needs '{key}', like {{at: \"cycle 3 out\", "
                                             "text: \"Let the shoulders soften.\"}")  # fmt: skip
            av = entries["at"][1]
            found = _AT_RE.match(" ".join(av.value.split()).lower()) if av.kind == "str" else None
            if found is None:
                raise self.fail(av, f"{p}.at", "must be like \"cycle 3\" or \"cycle 3 out\" "
                                               "(phases: in, out, hold, hold_out, inhale2) "
                                               f"({self.got(av)})")  # fmt: skip
            cycle = int(found.group(1))
            phase = model.PHASE_WORDS[found.group(2)] if found.group(2) else None
            if not 1 <= cycle <= cycles:
                raise self.fail(av, f"{p}.at", f"there is no cycle {cycle}: {length}")
            if phase is not None and phase not in phases:
                raise self.fail(av, f"{p}.at", f"the pattern has no {phase!r} phase "
                                               f"({pattern.label()})")  # fmt: skip
            if kw.get("cues") in ("voice", "both") and cycle <= VOICE_CUE_CYCLES:
                raise self.fail(av, f"{p}.at", f"cycles 1 to {VOICE_CUE_CYCLES} have spoken cues "
                                               f"(cues: {kw['cues']}); place lines from cycle "
                                               f"{VOICE_CUE_CYCLES + 1} on")  # fmt: skip
            tv = entries["text"][1]
            raw = self.text(tv, f"{p}.text", max_chars=MAX_SAY_CHARS)
            text = self.substitute(tv, f"{p}.text", raw, MAX_SAY_CHARS, single_line=False)
            line = model.BreatheLine(cycle=cycle, text=text, phase=phase,
                                     where=self.where(item, p))  # fmt: skip
            order = (cycle, -1 if phase is None else _PHASE_ORDER.index(phase))
            if order in lines:
                raise self.fail(av, f"{p}.at", f"two lines at '{line.at}'; join them into one")
            lines[order] = line
        return tuple(lines[k] for k in sorted(lines))

    def step_bell(self, arg, mods, path, where, _key, _depth):
        if arg.kind == "null":
            bell = model.Bell(where=where)
        elif arg.kind == "map":
            entries = self.keys(arg, path, BELL_KEYS)
            kw: dict[str, Any] = {}
            if "strikes" in entries:
                kw["strikes"] = self.whole(entries["strikes"][1], f"{path}.strikes",
                                           *STRIKES_RANGE)  # fmt: skip
            if "gap" in entries:
                gv = entries["gap"][1]
                kw["gap"] = self.duration(gv, f"{path}.gap")
                if not GAP_RANGE[0] <= kw["gap"] <= GAP_RANGE[1]:
                    raise self.fail(gv, f"{path}.gap", f"must be between {GAP_RANGE[0]:g}s "
                                                       f"and {GAP_RANGE[1]:g}s ({self.got(gv)})")  # fmt: skip
            if "sound" in entries and "file" in entries:
                raise self.fail(entries["file"][0], f"{path}.file",
                                "give 'sound' or 'file', not both")  # fmt: skip
            if "sound" in entries:
                kw["sound"] = self.sound(entries["sound"][1], f"{path}.sound", "bell")
            if "file" in entries:
                kw["sound"] = self.sound_file(entries["file"][1], f"{path}.file", "bell")
            bell = model.Bell(where=where, **kw)
        else:
            raise self.fail(arg, path, "takes no argument, or a mapping like {strikes: 3, "
                                       f"gap: 4s}} ({self.got(arg)})")  # fmt: skip
        return bell, 1, bell.strikes * bell.gap

    def step_section(self, arg, mods, path, where, _key, _depth):
        raw = self.text(arg, path, max_chars=MAX_TITLE_CHARS, single_line=True)
        title = self.substitute(arg, path, raw, MAX_TITLE_CHARS, single_line=True)
        return model.Section(title=title, where=where), 1, 0.0

    def step_repeat(self, arg, mods, path, where, key, depth):
        count = self.whole(arg, path, 1, MAX_REPEAT_COUNT)
        if "steps" not in mods:
            raise self.fail(key, f"{path}.steps", "missing: a repeat needs the 'steps' to repeat")
        if depth + 1 > MAX_REPEAT_DEPTH:
            raise self.fail(key, path, f"repeats nest at most {MAX_REPEAT_DEPTH} deep")
        steps, n, timed = self.steps(mods["steps"][1], f"{path}.steps", depth + 1)
        if count * n > MAX_EXPANDED_STEPS:
            raise self.fail(arg, path, f"repeating {n} steps {count} times makes {count * n} "
                                       f"steps (at most {MAX_EXPANDED_STEPS})")  # fmt: skip
        return model.Repeat(count=count, steps=steps, where=where), count * n, count * timed

    def step_ambient(self, arg, mods, path, where, _key, _depth):
        sound = self.sound(arg, path)
        level = None
        if "level_db" in mods:
            lk, lv = mods["level_db"]
            if sound is None:
                raise self.fail(lk, f"{path}.level_db", "has no effect with 'ambient: none'")
            level = self.number(lv, f"{path}.level_db", *LEVEL_DB_RANGE)
        return model.AmbientChange(sound=sound, level_db=level, where=where), 1, 0.0
