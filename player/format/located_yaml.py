"""The located-YAML reader: bounded, guarded YAML loading into values that keep their place."""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, StreamEndEvent
from yaml.nodes import ScalarNode, SequenceNode

from player.errors import BadInputError, ScriptError
from player.files import read_regular
from player.printable import printable

# --- Limits: generous for real scripts, small enough that no file can hang the player. ---

MAX_FILE_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000

# What the YAML reader would refuse anyway (the complement of YAML's printable set, written
# as a positive class because that compiles ~30x faster); checked first so the error has a
# line and column.
_NON_PRINTABLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_DECIMAL_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_YAML_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {None, "!"} | {
    _YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}


# ======================================================================= public API
#
# Scripts (``player.format.script``) and programs (``player.library.programs``) are YAML files
# with the same guarantees: the same limits, the same refusal of anchors, aliases and tags, and
# errors in the same one-line ``file:line:col: path: message`` form. Both read through this
# module rather than a second loader.

# ``LocatedValue`` (a YAML value with its kind, line and column) is defined with the classes
# below; ``Checks`` (the typed, located checks a format's builder subclasses) is in
# ``player.format.script``.


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


def all_problems(problems: list[ScriptError]) -> ScriptError:
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
            path = join_path(self._paths[-1], str(index.value))
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
            raise all_problems([_fail(TAB_MESSAGE, file, line, col) for line, col in tabs])
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
        kpath = join_path(path, str(knode.value)) if isinstance(knode, ScalarNode) else path
        pairs.append((_to_value(knode, path, file), _to_value(vnode, kpath, file)))
    return _V("map", pairs, None, line, col)


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(word: str, choices) -> str:
    import difflib  # only on the error path: keeps start-up lean

    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _located(data: str | bytes, file: str, noun: str) -> _V | None:
    """Decode, compose and type a document with every guard; None when it holds nothing."""
    text = _decode(data, file, noun)
    root = _compose(text, file, noun)
    if root is None or (
        isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null" and not root.value
    ):
        return None
    return _to_value(root, "", file)
