"""Load exercise scripts (format version 1, see the script-format spec) into ``player.format.model``.

Scripts come from users and from the internet, so loading is defensive: UTF-8 only, at most
1 MiB, YAML safe loading without anchors, aliases or object tags, bounded nesting and size.
Every problem becomes one ``ScriptError`` naming file, line, column and the path inside the
document; nothing else escapes. Only ``yaml`` is imported: this runs at ``haven list`` start-up.

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
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, StreamEndEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from player.format import model
from player.format.durations import parse_duration
from player.errors import BadInputError, ScriptError
from player.files import read_regular
from player.format.model import ID_PATTERN  # the one id pattern
from player.format.patterns import PATTERN_KEYS, REQUIRED_PHASES, check_phase, parse_pattern
from player.printable import printable

# --- The format's vocabulary: shared with player.format.schema so the two cannot drift. ---

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = (
    "haven", "title", "summary", "credit", "category", "tags", "voice", "tones", "ambient",
    "ending", "params", "steps",
)  # fmt: skip
REQUIRED_TOP_LEVEL_KEYS = ("title", "steps")
ACTIONS = ("say", "pause", "breathe", "bell", "section", "repeat", "ambient")
ACTION_MODIFIERS: dict[str, tuple[str, ...]] = {
    "say": ("after", "rate", "volume"),
    "pause": ("fixed",),
    "breathe": ("cycles", "for", "cues", "ramp_to", "tones"),
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
NONE_WORD = "none"

PARAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"

# --- Limits: generous for real scripts, small enough that no file can hang the player. ---

MAX_FILE_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000
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
# What the YAML reader would refuse anyway (the complement of YAML's printable set, written
# as a positive class because that compiles ~30x faster); checked first so the error has a
# line and column.
_NON_PRINTABLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# Control characters that could reach a speech engine through "\x07"-style escapes.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_DECIMAL_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_YAML_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {None, "!"} | {
    _YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}

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
    data = _read_limited(file)
    return _load(data, file=file, script_id=script_id, params=params, path=file)


def load_header(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields a listing shows of the script file at ``source``, without its steps.

    The file is read with every guard and limit of :func:`load_script` (the one way Haven
    parses YAML) and each field is checked as it checks them, so a listing and ``haven
    validate`` agree. Returns ``{"title", "summary", "category": str | None, "tags": [str]}``
    (None: not given). Raises ``ScriptError``.
    """
    file = os.fspath(source)
    root = _located(_read_limited(file), file, "script")
    if root is None:
        raise _fail("the file is empty; a script needs at least 'title' and 'steps'", file, 1, 1)
    builder = _Builder(file)
    fields = builder.header(builder.top_level(root))
    if builder.problems:
        raise _all_problems(builder.problems)
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
    return _load(text, file=filename, script_id=sid, params=params, path=None)


# ======================================================================= for other formats
#
# Programs (``player.library.programs``) are YAML files with the same guarantees as scripts: the same
# limits, the same refusal of anchors, aliases and tags, and errors in the same one-line
# ``file:line:col: path: message`` form. They reuse this machinery rather than a second loader.

# ``LocatedValue`` (a YAML value with its kind, line and column) and ``Checks`` (the typed,
# located checks a format's builder subclasses) are defined with the classes below.


def load_located(source: str | os.PathLike[str], *, noun: str) -> "_V | None":
    """Read the YAML file at ``source`` as scripts are read; its root value with marks.

    ``noun`` names the kind of file in messages ("program"). Returns None for an empty file.
    Raises ``ScriptError`` for anything a script file would be refused for.
    """
    file = os.fspath(source)
    return _located(_read_limited(file, noun), file, noun)


def load_located_text(text: str | bytes, *, filename: str, noun: str) -> "_V | None":
    """``load_located`` for a document given in memory; ``filename`` is used in errors."""
    return _located(text, filename, noun)


def check_file_id(file_id: str, file: str, *, noun: str) -> str:
    """The id a file's stem gives (lower-case words joined by hyphens), or a ``ScriptError``."""
    return _check_id(file_id, file, noun)


def located_error(message: str, file: str, line: int | None = None, column: int | None = None,
                  path: str | None = None) -> ScriptError:  # fmt: skip
    """A ``ScriptError`` in the loader's one-line form (for checks made after loading)."""
    return _fail(message, file, line, column, path)


def suggest(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    return _suggest(word, choices)


# ======================================================================= reading


def _fail(message: str, file: str, line: int | None = None, column: int | None = None,
          path: str | None = None) -> ScriptError:  # fmt: skip
    # One line, always, and inert: a CLI prints these as-is and editors parse them, and the
    # file name, keys and paths in them are the user's text (control characters escaped).
    def flat(s: str | None) -> str | None:
        return None if s is None else printable(s)

    return ScriptError(flat(message) or "", file=flat(file), line=line, column=column,
                       path=flat(path) or None)  # fmt: skip


_BROKEN = object()  # a field whose problem was kept (``_Builder.collect``)


def _all_problems(problems: list[ScriptError]) -> ScriptError:
    """One error for every problem found in a file: the first (in the file's order) as the
    message, with how many more there are; ``problems`` holds them all (``haven validate``
    prints one line each)."""
    ordered = sorted(problems, key=lambda e: (e.line or 0, e.column or 0))
    first = ordered[0]
    if len(ordered) == 1:
        error = first
    else:
        more = len(ordered) - 1
        error = ScriptError(
            f"{first.detail} (and {more} more problem{'s' if more > 1 else ''}: haven validate "
            "lists them)", file=first.file, line=first.line, column=first.column,
            path=first.path,
        )
    error.problems = ordered
    return error


def _check_id(script_id: str, file: str, noun: str = "script") -> str:
    if not isinstance(script_id, str) or not _ID_RE.match(script_id) or len(script_id) > 100:
        fallback = "my-exercise" if noun == "script" else f"my-{noun}"
        fixed = re.sub(r"[^a-z0-9]+", "-", str(script_id).lower()).strip("-") or fallback
        raise _fail(
            f"the {noun} id {script_id!r} (the file name without .yaml) must be lower-case "
            f"letters, digits and single hyphens, like {fixed!r}",
            file,
        )
    return script_id


class _Unreadable(BadInputError):
    """``files.read_regular``'s refusal, turned into a located ``ScriptError`` below."""


def _read_limited(file: str, noun: str = "script") -> bytes:
    # Haven's one bounded reader: regular files only, never blocks on a FIFO, reads at most
    # one byte over the limit, so a huge file or a link to /dev/zero cannot fill memory.
    try:
        data = read_regular(file, limit=MAX_FILE_BYTES, what=f"{noun} file", error=_Unreadable)
    except FileNotFoundError:
        broken = os.path.islink(file)
        raise _fail("is a link to nothing (its target is gone)" if broken else "no such file",
                    file) from None  # fmt: skip
    except _Unreadable as exc:
        size = _regular_size(file)
        if size is not None and size > MAX_FILE_BYTES:  # the same words as for text in memory
            raise _fail(_too_large(size, noun), file) from None
        detail = exc.message
        for prefix in (f"{file}: ", f"cannot read {file}: "):
            if detail.startswith(prefix):  # the message names the file: ours puts it in front
                detail = detail[len(prefix) :]
                break
        raise _fail(detail, file) from None
    if len(data) > MAX_FILE_BYTES:  # pragma: no cover - read_regular refuses it already
        raise _fail(_too_large(len(data), noun), file)
    return data


def _regular_size(file: str) -> int | None:
    try:
        st = os.stat(file)
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _too_large(size: int, noun: str = "script") -> str:
    return f"the file is too large ({size / MAX_FILE_BYTES:.1f} MiB; {noun}s are at most 1 MiB)"


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _decode(data: str | bytes, file: str, noun: str = "script") -> str:
    if isinstance(data, str):
        if len(data) > MAX_FILE_BYTES:  # every character is at least one byte
            raise _fail(_too_large(len(data), noun), file)
        try:
            size = len(data.encode("utf-8"))
        except UnicodeEncodeError as exc:
            line, col = _line_col(data, exc.start)
            raise _fail("the text holds a character that is not valid Unicode", file,
                        line, col) from None  # fmt: skip
        if size > MAX_FILE_BYTES:
            raise _fail(_too_large(size, noun), file)
        text = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if len(data) > MAX_FILE_BYTES:
            raise _fail(_too_large(len(data), noun), file)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            start = data.rfind(b"\n", 0, exc.start) + 1
            line = data.count(b"\n", 0, exc.start) + 1
            col = len(data[start : exc.start].decode("utf-8", "replace")) + 1
            raise _fail(
                f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                f"save the {noun} as UTF-8",
                file, line, col,
            ) from None  # fmt: skip
    else:
        raise _fail(f"{noun} text must be str or bytes, not {type(data).__name__}", file)
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _NON_PRINTABLE_RE.search(text)
    if bad:
        line, col = _line_col(text, bad.start())
        raise _fail(
            f"character U+{ord(bad.group()):04X} is not allowed (control characters cannot "
            f"appear in a {noun})",
            file, line, col,
        )  # fmt: skip
    return text


# ======================================================================= YAML


class _Refused(Exception):
    """Raised inside the composer; turned into a ScriptError with the node's mark."""

    def __init__(self, message: str, mark: Any, path: str):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


class _GuardedComposer(Composer):
    """Composer that refuses anchors, aliases and non-standard tags and bounds depth/size.

    Aliases are refused (not bounded) because they are of no use in scripts and are the
    whole mechanism of "billion laughs" bombs; refusing anchors too gives the error at the
    first place the author wrote one.
    """

    def _guard_init(self, noun: str = "script") -> None:
        self._noun = noun  # what the file is, for the messages: "script", "program"
        self.anchors = {}
        self._paths = [""]
        self._nodes = 0

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if parent is None:
            path = ""
        elif isinstance(parent, SequenceNode):
            path = f"{self._paths[-1]}[{index}]"
        elif isinstance(index, ScalarNode):
            path = _join(self._paths[-1], str(index.value))
        else:  # a mapping key itself, or a complex key
            path = self._paths[-1]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(
                f"aliases ('*{event.anchor}') are not allowed in {self._noun}s; write the value "
                "out",
                event.start_mark, path,
            )  # fmt: skip
        if event.anchor is not None:
            raise _Refused(
                f"anchors ('&{event.anchor}') are not allowed in {self._noun}s; write values out "
                "in full", event.start_mark, path,
            )  # fmt: skip
        tag = getattr(event, "tag", None)
        if tag not in _ALLOWED_TAGS:
            raise _Refused(
                f"tag {_show_tag(str(tag))!r} is not allowed; {self._noun}s hold plain text, "
                "numbers, lists and mappings only",
                event.start_mark, path,
            )  # fmt: skip
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise _Refused(f"the document has too many values (over {MAX_YAML_NODES})",
                           event.start_mark, path)  # fmt: skip
        if len(self._paths) > MAX_YAML_DEPTH:
            raise _Refused(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)",
                           event.start_mark, path)  # fmt: skip
        self._paths.append(path)
        try:
            return super().compose_node(parent, index)
        finally:
            self._paths.pop()


class _PyLoader(_GuardedComposer, yaml.SafeLoader):
    """Pure-Python safe loader with the guards; used when libyaml is not available."""

    def __init__(self, stream: str):
        yaml.SafeLoader.__init__(self, stream)
        self._guard_init()


if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(_GuardedComposer, yaml.CSafeLoader):  # type: ignore[misc]
        """libyaml parses (about 6x faster); composing stays in Python so the guards apply."""

        def __init__(self, stream: str):
            yaml.CSafeLoader.__init__(self, stream)
            self._guard_init()

    _LOADER: type = _CLoader
else:  # pragma: no cover - depends on how PyYAML was built
    _LOADER = _PyLoader


def _compose(text: str, file: str, noun: str = "script") -> Any:
    """The single document's root node, or None for an empty file."""
    loader = _LOADER(text)
    loader._noun = noun
    try:
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            return None
        root = loader.compose_document()
        if not loader.check_event(StreamEndEvent):
            mark = loader.peek_event().start_mark
            raise _fail(f"a {noun} is a single YAML document, but a second one starts here",
                        file, mark.line + 1, mark.column + 1)  # fmt: skip
        return root
    except _Refused as exc:
        raise _fail(exc.message, file, exc.mark.line + 1, exc.mark.column + 1,
                    exc.path or None) from None  # fmt: skip
    except yaml.MarkedYAMLError as exc:
        deep = _too_deep_flow(text)
        if deep is not None:  # libyaml's own nesting limit can fire before the guard above
            raise _fail(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", file,
                        deep[0], deep[1]) from None  # fmt: skip
        tabs = _tab_indents(text)
        if tabs:  # the usual cause: say so, on every line that has one
            raise _all_problems([_fail(TAB_MESSAGE, file, line, col) for line, col in tabs])
        mark = exc.problem_mark or exc.context_mark
        message = _yaml_words(exc, text)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise _fail(message, file, line, col) from None
    except yaml.YAMLError as exc:
        raise _fail(f"YAML error: {str(exc).splitlines()[0] if str(exc) else 'cannot parse'}",
                    file) from None  # fmt: skip
    except RecursionError:  # belt and braces: the depth guard should make this unreachable
        raise _fail("nested too deeply", file) from None
    finally:
        loader.dispose()


TAB_MESSAGE = ("YAML syntax: a tab in the indentation; YAML indents with spaces only, so "
               "replace the tab with spaces")  # fmt: skip


def _tab_indents(text: str) -> list[tuple[int, int]]:
    """(line, column) of each tab in a line's indentation."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in lead and line.strip():
            found.append((n, lead.index("\t") + 1))
    return found


def _indent(text: str, line: int) -> int:
    """The indentation (columns) of line ``line`` (from 0) of ``text``."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return 0
    return len(lines[line]) - len(lines[line].lstrip(" "))


def _yaml_words(exc: yaml.MarkedYAMLError, text: str) -> str:
    """A YAML parser's complaint in words for people: the indentation problems PyYAML
    reports as parser states ("did not find expected key") said as what to change."""
    problem = exc.problem or ""
    mark, cm = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    block = "expected <block end>" in problem or "'-' indicator" in problem or (
        "expected key" in problem and "block mapping" in (exc.context or "")
    )
    if mark is not None and cm is not None and block:
        here, there = _indent(text, mark.line), cm.column
        this = lines[mark.line].strip() if mark.line < len(lines) else ""
        if "'-' indicator" in problem and not this.startswith("-"):
            item = lines[cm.line] if cm.line < len(lines) else ""
            inner = there + 2 + len(item[there + 2:]) - len(item[there + 2:].lstrip(" "))
            return (f"YAML syntax: this line ({here} spaces) is not lined up with the list that "
                    f"starts at line {cm.line + 1}; to belong to the item above, indent it "
                    f"{inner} spaces (column {inner + 1}), or start it with '- ' in column "
                    f"{there + 1} to make it an item of its own")  # fmt: skip
        if here != there:
            if "'-' indicator" in problem:
                what = f"the list that starts at line {cm.line + 1}"
                rule = f"each '- ' item of a list starts in the same column ({there + 1})"
            elif "block mapping" in (exc.context or ""):
                what = f"the mapping that starts at line {cm.line + 1}"
                rule = f"the keys of one mapping start in the same column ({there + 1})"
            else:
                what = f"the block that starts at line {cm.line + 1}"
                rule = f"line it up with the lines above (column {there + 1})"
            how = "more" if here > there else "less"
            return (f"YAML syntax: this line is indented {how} than {what} ({here} spaces, not "
                    f"{there}); {rule}")  # fmt: skip
    if "mapping values are not allowed" in problem and mark is not None:
        line = lines[mark.line] if mark.line < len(lines) else ""
        if ": " in line[: mark.column] or line[: mark.column].rstrip().endswith(":"):
            return ("YAML syntax: a second ': ' on one line; if it is part of the text, put the "
                    "text in quotes (say: \"Note: this is fine\")")
        prev = mark.line - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        if prev >= 0 and _indent(text, mark.line) > _indent(text, prev) and not (
            lines[prev].rstrip().endswith(":")
        ):
            return (f"YAML syntax: this line is indented more than line {prev + 1} above it "
                    f"({_indent(text, mark.line)} spaces, not {_indent(text, prev)}); line it "
                    "up with the keys above, or quote text that holds ': '")  # fmt: skip
    message = f"YAML syntax: {problem or exc.context or 'cannot parse'}"
    if exc.context and problem and cm is not None:
        message += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
    return message


def _too_deep_flow(text: str) -> tuple[int, int] | None:
    """Line and column of the first flow bracket nested past the depth limit, if any.

    Used only to word a parse error that already happened: libyaml scans ahead and stops at
    its own nesting limit before the composer's guard sees the depth. Quoted text and
    comments are skipped; the count needs no exactness beyond telling deep nesting apart.
    """
    if text.count("[") + text.count("{") <= MAX_YAML_DEPTH:
        return None
    depth = 0
    quote = None
    line, col = 1, 0
    prev = "\n"
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, prev = line + 1, 0, ch
            if quote == "#":
                quote = None
            continue
        if quote:
            if ch == quote and quote != "#":
                quote = None
        elif ch == "#" and prev in " \t\n":
            quote = "#"
        elif ch in "'\"" and prev in " \t\n[{,:":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                return line, col
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = ch
    return None


class _V:
    """A YAML value with the place it came from: what the checks below work on."""

    __slots__ = ("kind", "value", "raw", "line", "column")

    def __init__(self, kind: str, value: Any, raw: str | None, line: int, column: int):
        self.kind = kind  # "str" "int" "float" "bool" "null" "seq" "map"
        self.value = value  # map: list of (key _V, value _V); seq: list of _V
        self.raw = raw  # a scalar's source text
        self.line = line
        self.column = column


LocatedValue = _V


_SCALAR_KINDS = {
    _YAML_TAG + "str": "str",
    _YAML_TAG + "int": "int",
    _YAML_TAG + "float": "float",
    _YAML_TAG + "bool": "bool",
    _YAML_TAG + "null": "null",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _to_value(node: Any, path: str, file: str) -> _V:
    """Our own node -> value constructor: typed like YAML safe loading, marks kept."""
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, ScalarNode):
        kind = _SCALAR_KINDS.get(node.tag, "other")
        raw = node.value
        try:
            if kind == "int":
                if ":" in raw:
                    return _V("str", raw, raw, line, col)  # YAML 1.1 base 60: read as text
                digits = raw.replace("_", "")
                if len(digits) > 40:
                    raise ValueError("too long")
                value: Any = (
                    int(digits, 10) if _DECIMAL_INT_RE.match(digits)  # "010" is ten, not 8
                    else _CONSTRUCTOR.construct_yaml_int(node)
                )  # fmt: skip
            elif kind == "float":
                if ":" in raw:
                    return _V("str", raw, raw, line, col)
                if len(raw) > 60:
                    raise ValueError("too long")
                value = _CONSTRUCTOR.construct_yaml_float(node)
            elif kind == "bool":
                value = _CONSTRUCTOR.construct_yaml_bool(node)
            elif kind == "null":
                value = None
            elif kind == "str":
                value = raw
            elif node.tag in (_YAML_TAG + "seq", _YAML_TAG + "map"):
                raise ValueError("a collection tag on a scalar")
            else:  # timestamps, "=" and "<<": plain text to us
                kind, value = "str", raw
        except (ValueError, KeyError, IndexError, TypeError, OverflowError):
            raise _fail(f"{raw[:40]!r} does not fit its tag {_show_tag(node.tag)!r}", file,
                        line, col, path or None) from None  # fmt: skip
        return _V(kind, value, raw, line, col)
    if isinstance(node, SequenceNode):
        if node.tag != _YAML_TAG + "seq":
            raise _fail(f"tag {_show_tag(node.tag)!r} does not fit a list", file, line, col,
                        path or None)  # fmt: skip
        items = [_to_value(n, f"{path}[{i}]", file) for i, n in enumerate(node.value)]
        return _V("seq", items, None, line, col)
    if node.tag != _YAML_TAG + "map":
        raise _fail(f"tag {_show_tag(node.tag)!r} does not fit a mapping", file, line, col,
                    path or None)  # fmt: skip
    pairs = []
    for knode, vnode in node.value:
        kpath = _join(path, str(knode.value)) if isinstance(knode, ScalarNode) else path
        pairs.append((_to_value(knode, path, file), _to_value(vnode, kpath, file)))
    return _V("map", pairs, None, line, col)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(word: str, choices) -> str:
    import difflib  # only on the error path: keeps start-up lean

    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ======================================================================= building


def _located(data: str | bytes, file: str, noun: str) -> _V | None:
    """Decode, compose and type a document with every guard; None when it holds nothing."""
    text = _decode(data, file, noun)
    root = _compose(text, file, noun)
    if root is None or (
        isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null" and not root.value
    ):
        return None
    return _to_value(root, "", file)


def _load(data: str | bytes, *, file: str, script_id: str, params, path: str | None):
    value = _located(data, file, "script")
    if value is None:
        raise _fail("the file is empty; a script needs at least 'title' and 'steps'", file, 1, 1)
    try:
        return _Builder(file).script(value, script_id=script_id, params=params, path=path)
    except ScriptError:
        raise
    except Exception as exc:  # pragma: no cover - a safety net; tests assert it never fires
        raise _fail(f"internal error while loading ({type(exc).__name__}: {exc})", file) from None


class _Checks:
    """Typed, located checks of one value each: what every Haven YAML format is built from.

    Each check returns the value in its Python form or raises a ``ScriptError`` at the
    value's line and column with its document path. ``player.library.programs`` builds on these too.
    """

    def __init__(self, file: str):
        self.file = file

    def fail(self, v: _V | None, path: str, message: str) -> ScriptError:
        line, col = (v.line, v.column) if v is not None else (None, None)
        return _fail(message, self.file, line, col, path or None)

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
    def got(v: _V) -> str:
        if v.kind == "seq":
            return "got a list"
        if v.kind == "map":
            return "got a mapping"
        if v.kind == "null":
            return "got nothing"
        raw = v.raw if len(v.raw) <= 40 else v.raw[:40] + "..."
        return f"got {raw}" if v.kind in ("int", "float", "bool") else f"got {raw!r}"

    def mapping(self, v: _V, path: str, allowed: tuple[str, ...], what: str
                ) -> dict[str, tuple[_V, _V]]:  # fmt: skip
        """Keys -> (key, value) of a mapping whose keys must all be in ``allowed``."""
        if v.kind != "map":
            raise self.fail(v, path, f"{what} must be a mapping ({self.got(v)})")
        return self.keys(v, path, allowed)

    def keys(self, v: _V, path: str, allowed: tuple[str, ...] | None
             ) -> dict[str, tuple[_V, _V]]:  # fmt: skip
        out: dict[str, tuple[_V, _V]] = {}
        for kv, vv in v.value:
            if kv.kind in ("seq", "map"):
                raise self.fail(kv, path, "keys must be plain names, not lists or mappings")
            key = kv.raw
            kpath = _join(path, key)
            if key in out:
                first = out[key][0]
                self.problem(self.fail(kv, kpath, f"duplicate key {key!r} (first at line "
                                                  f"{first.line})"))  # fmt: skip
                continue
            if allowed is not None and key not in allowed:
                close = _suggest(key, allowed)
                hint = close or f" (expected one of: {', '.join(allowed)})"
                self.problem(self.fail(kv, kpath, f"unknown key {key!r}{hint}"))
                if close and isinstance(getattr(self, "misspelled", None), set):
                    self.misspelled.add(_join(path, close.split("'")[1]))
                continue
            out[key] = (kv, vv)
        return out

    def text(self, v: _V, path: str, *, max_chars: int, single_line: bool = False,
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

    def check_text(self, v: _V, path: str, s: str, *, max_chars: int, single_line: bool):
        if len(s) > max_chars:
            raise self.fail(v, path, f"too long ({len(s)} characters; at most {max_chars})")
        bad = _CONTROL_RE.search(s)
        if bad:
            raise self.fail(v, path, f"contains control character U+{ord(bad.group()):04X}")
        if single_line and ("\n" in s or "\r" in s):
            raise self.fail(v, path, "must be a single line")

    def number(self, v: _V, path: str, lo: float, hi: float) -> float:
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

    def whole(self, v: _V, path: str, lo: int, hi: int) -> int:
        ok = v.kind == "int" or (
            v.kind == "float" and math.isfinite(v.value) and float(v.value).is_integer()
        )
        if not ok or v.value < lo:
            raise self.fail(v, path, f"must be a whole number >= {lo} ({self.got(v)})")
        if v.value > hi:
            raise self.fail(v, path, f"must be at most {hi} ({self.got(v)})")
        return int(v.value)

    def boolean(self, v: _V, path: str) -> bool:
        if v.kind != "bool":
            raise self.fail(v, path, f"must be true or false ({self.got(v)})")
        return bool(v.value)

    def choice(self, v: _V, path: str, choices: tuple[str, ...], what: str) -> str:
        if v.kind != "str" or v.value not in choices:
            hint = _suggest(v.raw, choices) if v.kind == "str" else ""
            raise self.fail(
                v, path, f"must be {what}: {', '.join(choices)} ({self.got(v)}){hint}"
            )
        return v.value

    def duration(self, v: _V, path: str) -> float:
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

    def where(self, v: _V, path: str) -> model.Where:
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

    def pattern(self, v: _V, path: str) -> model.Pattern:
        if v.kind == "map":
            entries = self.keys(v, path, PATTERN_KEYS)
            phases = {}
            for key, (kv, vv) in entries.items():
                if vv.kind not in ("int", "float"):
                    raise self.fail(vv, _join(path, key),
                                    f"must be a number of seconds ({self.got(vv)})")  # fmt: skip
                try:
                    phases[key] = check_phase(key, vv.value)
                except ValueError as exc:
                    raise self.fail(vv, _join(path, key), str(exc)) from None
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

    def tone_settings(self, v: _V, path: str, base: model.ToneSettings) -> model.ToneSettings:
        entries = self.mapping(v, path, TONE_KEYS, "tones")
        changes: dict[str, Any] = {}
        for key, (_kv, vv) in entries.items():
            p = _join(path, key)
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

    def substitute(self, v: _V, path: str, s: str, max_chars: int, single_line: bool) -> str:
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
                        hint = _suggest(name, self.declared) or (
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

    def top_level(self, root: _V) -> dict[str, tuple[_V, _V]]:
        if root.kind != "map":
            raise self.fail(root, "", "the top level must be a mapping with keys like 'title' "
                                      f"and 'steps' ({self.got(root)})")  # fmt: skip
        return self.keys(root, "", TOP_LEVEL_KEYS)

    def header(self, top: dict[str, tuple[_V, _V]]) -> dict[str, Any]:
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

    def script(self, root: _V, *, script_id: str, params, path: str | None) -> model.Script:
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
            raise _all_problems(self.problems)
        return model.Script(id=script_id, steps=steps, version=FORMAT_VERSION, path=path,
                            **fields)  # fmt: skip

    def version(self, vv: _V) -> int:
        if vv.kind != "int" or isinstance(vv.value, bool):
            raise self.fail(vv, "haven", f"must be the format version 1 ({self.got(vv)})")
        if vv.value != FORMAT_VERSION:
            raise self.fail(vv, "haven", f"unsupported format version {vv.value}; this "
                                         f"Haven reads version {FORMAT_VERSION}")  # fmt: skip
        return vv.value

    def tags(self, v: _V) -> tuple[str, ...]:
        if v.kind != "seq":
            raise self.fail(v, "tags", f"must be a list of words like [short, evening] "
                                       f"({self.got(v)})")  # fmt: skip
        if len(v.value) > MAX_TAGS:
            raise self.fail(v, "tags", f"too many tags ({len(v.value)}; at most {MAX_TAGS})")
        return tuple(
            self.text(t, f"tags[{i}]", max_chars=MAX_TAG_CHARS, single_line=True, what="a word")
            for i, t in enumerate(v.value)
        )

    def voice(self, v: _V) -> model.Voice:
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

    def sound(self, v: _V, path: str, kind: str = "bed") -> str | None:
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

    def sound_file(self, v: _V, path: str, kind: str, ref: str | None = None) -> str:
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

    def ambient(self, v: _V) -> model.AmbientSettings:
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

    def params(self, v: _V) -> dict[str, model.Param]:
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
            raise _fail("params must be a mapping of names to text", self.file)
        for name, value in given.items():
            if name not in declared:
                hint = _suggest(str(name), declared) if declared else ""
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

    def steps(self, v: _V, path: str, depth: int) -> tuple[tuple[model.Step, ...], int, float]:
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

    def step(self, item: _V, path: str, depth: int) -> tuple[model.Step, int, float]:
        where = self.where(item, path)
        if item.kind == "str":
            name = item.value
            if name in BARE_ACTIONS:
                return model.Bell(where=where), 1, model.Bell().gap
            if name in ACTIONS:
                raise self.fail(item, path, f"{name!r} needs an argument, like "
                                            f"'{ACTION_EXAMPLES[name]}'")  # fmt: skip
            raise self.fail(item, path, f"unknown action {name!r}{_suggest(name, ACTIONS)}")
        if item.kind != "map":
            raise self.fail(item, path, "a step must be a mapping like 'say: ...' or a bare "
                                        f"'bell' ({self.got(item)})")  # fmt: skip
        entries = self.keys(item, path, None)
        actions = [k for k in entries if k in ACTIONS]
        if len(actions) > 1:
            kv = entries[actions[1]][0]
            raise self.fail(kv, _join(path, actions[1]),
                            f"a step has exactly one action, but this one has {actions[0]!r} "
                            f"and {actions[1]!r}; split it into two steps")  # fmt: skip
        if not actions:
            if not entries:
                raise self.fail(item, path, f"empty step; a step needs one action: "
                                            f"{', '.join(ACTIONS)}")  # fmt: skip
            for key, (kv, _vv) in entries.items():
                if key not in ALL_MODIFIERS:
                    hint = _suggest(key, ACTIONS) or f" (actions: {', '.join(ACTIONS)})"
                    raise self.fail(kv, _join(path, key), f"unknown action {key!r}{hint}")
            key, (kv, _vv) = next(iter(entries.items()))
            owners = [a for a, mods in ACTION_MODIFIERS.items() if key in mods]
            raise self.fail(kv, _join(path, key),
                            f"{key!r} is a modifier of {' / '.join(owners)}, but the step has "
                            "no action")  # fmt: skip
        action = actions[0]
        allowed = ACTION_MODIFIERS[action]
        apath = _join(path, action)
        mods: dict[str, tuple[_V, _V]] = {}
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
                    message = f"unknown key {key!r}{_suggest(key, allowed) or f' ({takes})'}"
                raise self.fail(kv, _join(apath, key), message)
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
            return model.Breathe(pattern=pattern, cycles=cycles, where=where, **kw), 1, (
                cycles * longest
            )
        if "for" in mods:
            fv = mods["for"][1]
            for_s = self.duration(fv, f"{path}.for")
            if for_s < shortest:
                raise self.fail(fv, f"{path}.for", f"is shorter than one breath of the pattern "
                                                   f"({shortest:g}s)")  # fmt: skip
            return model.Breathe(pattern=pattern, for_s=for_s, where=where, **kw), 1, for_s
        raise self.fail(key, path, "say how long to breathe: add 'cycles: N' or "
                                   "'for: DURATION' (like 'for: 2m')")  # fmt: skip

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
