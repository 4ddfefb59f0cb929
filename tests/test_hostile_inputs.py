"""Files a user can write, made hostile: scripts, programs, the header cache and config.toml.

Each finding of issue 10 (items 3, 7 and 8 for these files) is reproduced here as it was met:
an alias bomb in the scripts folder, header fields that are not text, terminal escapes in a
summary, pipes, folders and /dev/zero links where files belong, a damaged header cache, and a
config with numbers and nesting no parser should take. Every one must end at once with exit
code and message as asserted, never hang (each test has a timeout) and never print a raw
control character. Hypothesis then throws arbitrary bytes and YAML at the header reader.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from player import config, paths
from player.library import catalog as library, programs
from player.cli.app import main
from player.errors import ConfigError, ScriptError
from player.format.model import CATEGORIES
from player.printable import one_line, printable
from player.format.script import load_script

pytestmark = pytest.mark.timeout(60)

CATEGORY_LIST = ", ".join(CATEGORIES)
# Nine lists of nine aliases each: 9^9 strings once expanded, about 300 bytes on disk.
BOMB = "a: &a [l,l,l,l,l,l,l,l,l]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh")
) + f"title: [{','.join(['*h'] * 9)}]\nsteps: [bell]\n"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def user_script(name: str, text: str | bytes) -> Path:
    folder = paths.ensure_private_dir(paths.user_scripts_dir())
    path = folder / f"{name}.yaml"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def listed(name: str) -> library.ScriptInfo:
    return {s.id: s for s in library.list_scripts()}[name]


def list_line(output: str, name: str) -> str:
    """The one row of ``haven list`` for your script ``name``, as printed."""
    lines = output.splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith(f"* {name} ")]
    assert len(rows) == 1, output
    # the row and the lines it wraps onto (indented), as one line
    row = [lines[rows[0]]]
    for line in lines[rows[0] + 1:]:
        if not line.startswith("    "):
            break
        row.append(line.strip())
    return " ".join(row)


def assert_inert(text: str) -> None:
    """Nothing a terminal would act on: no control character but line breaks."""
    bad = re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert bad is None, f"raw {bad.group()!r} in {text!r}"


def _memory_limit():  # for the child: an expanding bomb fails fast instead of taking the machine
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


# --- item 3: the header reader -------------------------------------------------------------


def test_an_alias_bomb_in_your_scripts_folder_is_listed_as_unreadable_at_once():
    user_script("bomb", BOMB)
    assert len(BOMB) < 400
    for args in (["list"], ["log", "add", "bomb", "--minutes", "5"]):
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "player", *args], capture_output=True,
                              text=True, timeout=30, preexec_fn=_memory_limit)  # fmt: skip
        assert time.monotonic() - t0 < 15, args
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "player", "list"], capture_output=True, text=True,
                          timeout=30, preexec_fn=_memory_limit)  # fmt: skip
    assert re.fullmatch(
        r"\* bomb +\(cannot read: line 1: a: anchors \('&a'\) are not allowed in scripts; "
        r"write values out in full\)",
        list_line(done.stdout, "bomb"),
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("title: Cat\ncategory: 42\nsteps: [bell]\n",
         f"line 2: category: must be one of: {CATEGORY_LIST} (got 42)"),
        ("title: Cat\ncategory: [a, b]\nsteps: [bell]\n",
         f"line 2: category: must be one of: {CATEGORY_LIST} (got a list)"),
        ("title: Cat\ncategory: {a: 1}\nsteps: [bell]\n",
         f"line 2: category: must be one of: {CATEGORY_LIST} (got a mapping)"),
        ("title: [a]\nsteps: [bell]\n", "line 1: title: must be text (got a list)"),
        ("title: {a: b}\nsteps: [bell]\n", "line 1: title: must be text (got a mapping)"),
        ("title: T\nsummary: [x]\nsteps: [bell]\n", "line 2: summary: must be text (got a list)"),
        ("title: T\ntags: 5\nsteps: [bell]\n",
         "line 2: tags: must be a list of words like [short, evening] (got 5)"),
        ("title: T\ntags: [[a]]\nsteps: [bell]\n", "line 2: tags[0]: must be a word (got a list)"),
        ("- just\n- a list\n", "line 1: the top level must be a mapping with keys like 'title' "
                               "and 'steps' (got a list)"),
        ("", "line 1: the file is empty; a script needs at least 'title' and 'steps'"),
    ],
)  # fmt: skip
def test_header_fields_that_are_not_text_give_the_problem_validate_gives(text, problem):
    path = user_script("odd", text)
    assert listed("odd").problem == problem
    result = run("list")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"\* odd +\(cannot read: {re.escape(problem)}\)", list_line(result.output, "odd"))
    with pytest.raises(ScriptError) as e:  # validate says the same, with the file in front
        load_script(path)
    where = f"line {e.value.line}: {e.value.path + ': ' if e.value.path else ''}"
    assert where + e.value.detail == problem
    assert run("list", "--category", "breathing").exit_code == 0


def test_numbers_in_title_summary_and_tags_are_read_as_written():
    user_script("numbers", "title: 1984\nsummary: 42\ncategory: sleep\ntags: [1, yes]\nsteps: [bell]\n")
    info = listed("numbers")
    assert (info.title, info.summary, info.category, info.tags, info.problem) == (
        "1984", "42", "sleep", ("1", "yes"), None
    )
    assert re.fullmatch(r"\* numbers +sleep +~?[0-9-]+ min +42", list_line(run("list").output, "numbers"))


def test_escapes_in_a_summary_never_reach_the_terminal():
    user_script("esc", 'title: Esc\nsummary: "\\e[31mRED \\x07 \\e]0;pwned\\x07 \\x9b2J"\nsteps: [bell]\n')
    result = run("list")
    assert result.exit_code == 0
    assert_inert(result.output)
    assert re.fullmatch(r"\* esc +\(cannot read: line 2: summary: contains control character U\+001B\)",
                        list_line(result.output, "esc"))  # fmt: skip
    result = CliRunner().invoke(main, ["validate", "esc"])
    assert result.exit_code == 2
    where = paths.user_scripts_dir() / "esc.yaml"
    assert result.stderr == f"{where}:2:10: summary: contains control character U+001B\n"


def test_direction_overrides_in_a_script_are_shown_not_obeyed():
    # The loader takes them (they are printable text), so every printer escapes them.
    path = user_script("bidi", 'title: "Bidi \\u202eevil"\nsummary: "one\\n\\u202etwo"\n'
                               'steps:\n  - section: "Sec \\u2066x"\n  - say: Hello.\n')  # fmt: skip
    result = run("show", "bidi")
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    assert result.output.splitlines()[:3] == ["Bidi \\u202eevil  (bidi)", "one", "\\u202etwo"]
    assert "     0:02  Sec \\u2066x" in result.output.splitlines()
    result = run("validate", str(path))
    assert (result.exit_code, result.stdout) == (0, f"ok: {path} (Bidi \\u202eevil)\n")
    assert re.fullmatch(r"\* bidi +~?[0-9-]+ min +one \\u202etwo", list_line(run("list").output, "bidi"))


def test_a_hostile_header_cache_is_ignored_and_rebuilt():
    user_script("mine", "title: Mine\nsummary: Plain words.\ncategory: sleep\nsteps: [bell]\n")
    truth = library.list_scripts()
    cache = paths.cache_dir() / library.HEADER_CACHE
    data = json.loads(cache.read_text(encoding="utf-8"))
    for entry in data["entries"].values():
        entry["head"]["summary"] = "\x1b]0;pwned\x07\x1b[2J"
    cache.write_text(json.dumps(data), encoding="utf-8")
    result = run("list")
    assert_inert(result.output)
    assert re.fullmatch(r"\* mine +sleep +~?[0-9-]+ min +Plain words\.", list_line(result.output, "mine"))
    for head in ({"title": 42}, [], {"title": "T", "summary": None, "category": ["a"], "tags": []},
                 {"title": "T", "summary": None, "category": None, "tags": 5}, "x"):  # fmt: skip
        for entry in data["entries"].values():
            entry["head"] = head
        cache.write_text(json.dumps(data), encoding="utf-8")
        assert library.list_scripts() == truth
    rebuilt = json.loads(cache.read_text(encoding="utf-8"))["entries"]
    assert rebuilt[str(paths.user_scripts_dir() / "mine.yaml")]["head"] == {
        "title": "Mine", "summary": "Plain words.", "category": "sleep", "tags": []
    }
    assert "\\u001b" not in cache.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["fifo", "zero", "deep", "huge", "folder", "not-json", "wrong-version"])
def test_a_damaged_header_cache_never_hangs_or_breaks_a_listing(kind):
    truth = library.list_scripts()
    cache = paths.cache_dir() / library.HEADER_CACHE
    cache.unlink()
    if kind == "fifo":
        os.mkfifo(cache)
    elif kind == "zero":
        cache.symlink_to("/dev/zero")
    elif kind == "deep":
        cache.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "huge":
        cache.write_bytes(b" " * (library.MAX_HEADER_CACHE_BYTES + 1))
    elif kind == "folder":
        cache.mkdir()
    elif kind == "not-json":
        cache.write_bytes(b"\xff\xfe{")
    else:
        cache.write_text(json.dumps({"version": 1, "entries": {}}))
    assert library.list_scripts() == truth
    assert run("list").exit_code == 0
    if kind != "folder":  # rebuilt as a plain file with the current version
        assert cache.is_file() and not cache.is_symlink()
        assert json.loads(cache.read_text(encoding="utf-8"))["version"] == library._HEADER_CACHE_VERSION


# --- item 8: pipes, folders and devices where files belong ---------------------------------


def _make(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(path.parent / "gone-away")


WHAT = {
    "fifo": "is a named pipe, not a {noun} file",
    "zero": "is a character device, not a {noun} file",
    "folder": "is a folder, not a {noun} file",
    "dangling": "is a link to nothing (its target is gone)",
}


@pytest.mark.parametrize("kind", list(WHAT))
def test_special_files_in_your_scripts_folder_are_listed_with_what_they_are(kind):
    folder = paths.ensure_private_dir(paths.user_scripts_dir())
    _make(kind, folder / "odd.yaml")
    message = WHAT[kind].format(noun="script")
    assert listed("odd").problem == message
    result = run("list")
    assert result.exit_code == 0
    assert re.fullmatch(rf"\* odd +\(cannot read: {re.escape(message)}\)", list_line(result.output, "odd"))


@pytest.mark.parametrize("kind", list(WHAT))
def test_a_special_file_given_as_a_script_says_what_it_is(kind, tmp_path):
    path = tmp_path / "odd.yaml"
    _make(kind, path)
    message = f"{path}: " + WHAT[kind].format(noun="script")
    result = run("validate", str(path))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")
    result = run("show", str(path))
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    result = run("play", str(path))
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_a_script_that_is_not_there_is_still_no_such_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    result = run("validate", str(path))
    assert (result.exit_code, result.stderr) == (2, f"no such script file: {path}\n")


@pytest.mark.parametrize("kind", list(WHAT))
def test_a_special_file_given_as_a_program_says_what_it_is(kind, tmp_path):
    path = tmp_path / "odd.yaml"
    _make(kind, path)
    message = f"{path}: " + WHAT[kind].format(noun="program")
    result = run("program", "show", str(path))
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    folder = paths.ensure_private_dir(paths.user_programs_dir())
    _make(kind, folder / "odd.yaml")
    found = {p.id: p for p in programs.list_programs()}["odd"]
    assert found.problem == f"{folder / 'odd.yaml'}: " + WHAT[kind].format(noun="program")


def test_a_big_file_given_as_a_script_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB, sparse
    result = run("validate", str(path))
    assert (result.exit_code, result.stderr) == (
        2, f"{path}: the file is too large (2048.0 MiB; scripts are at most 1 MiB)\n"
    )


def test_control_characters_in_names_are_escaped_in_messages(tmp_path):
    path = tmp_path / "\x1b[2Jodd\x07.yaml"
    result = run("validate", str(path))
    assert (result.exit_code, result.stderr) == (
        2, f"no such script file: {tmp_path}/\\x1b[2Jodd\\x07.yaml\n"
    )
    undecodable = tmp_path / os.fsdecode(b"\xffodd.yaml")  # a name that is not UTF-8
    undecodable.write_text("title: T\nsteps: [bell]\n", encoding="utf-8")
    result = run("validate", str(undecodable))
    assert (result.exit_code, result.stderr) == (
        2, f"{tmp_path}/\\udcffodd.yaml: the script id '\\udcffodd' (the file name without .yaml) "
           "must be lower-case letters, digits and single hyphens, like 'odd'\n"
    )  # fmt: skip
    result = run("show", "calm\x1b]0;x\x07")
    assert result.exit_code == 2
    assert_inert(result.stderr)
    assert result.stderr.startswith("Error: no exercise named 'calm\\x1b]0;x\\x07'")
    result = run("new", "Bad\x1bName")
    assert result.exit_code == 2
    assert result.stderr == ("Error: 'Bad\\x1bName' cannot be a script id: use lower-case letters, "
                             "digits and single hyphens, like 'bad-name'\n")  # fmt: skip


# --- item 7 (config) and item 8: config.toml ------------------------------------------------


def _config(text: str | None = None, kind: str | None = None) -> Path:
    path = paths.config_path()
    paths.ensure_private_dir(path.parent)
    if kind is not None:
        _make(kind, path)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("[journal]\nmin_minutes = " + "1" * 5000 + "\n", "not valid TOML: a number has too many digits"),
        ("[journal]\nmin_minutes = " + "[" * 20_000 + "]" * 20_000 + "\n",
         "not valid TOML: values are nested too deeply"),
        ("x = " + "{a = " * 10_000 + "1" + "}" * 10_000 + "\n",
         "not valid TOML: values are nested too deeply"),
        ("[journal]\nmin_minutes = 1" + "0" * 400 + "\n",
         "journal.min_minutes: " + "1" + "0" * 56 + "... must be a number from 0 to 1440"),
        ('[journal]\nmin_minutes = "' + "x" * 50_000 + '"\n',
         "journal.min_minutes: '" + "x" * 56 + "... must be a number from 0 to 1440"),
        ("a" + ".a" * 30_000 + " = 1\n",  # 12 s in the TOML parser, were it given the chance
         "line 1: a key of more than 16 dotted parts; settings are named like journal.min_minutes"),
        ("[journal]\n" + '"a" . ' * 20 + "b = 1\n",
         "line 2: a key of more than 16 dotted parts; settings are named like journal.min_minutes"),
        ("[" + "a." * 30_000 + "a]\n", "unknown setting 'a.a'"),
        ('[journal]\n"\\u001b[2J" = 1\n', "unknown setting 'journal.\\x1b[2J'"),
        ("[journal]\nmin_minutes = nan\n", "journal.min_minutes: nan must be a number from 0 to 1440"),
        ("[journal]\nmin_minutes = inf\n", "journal.min_minutes: inf must be a number from 0 to 1440"),
    ],
)  # fmt: skip
def test_config_numbers_and_nesting_beyond_reason_give_one_line(text, message):
    path = _config(text)
    with pytest.raises(ConfigError) as info:
        config.load_config()
    assert str(info.value) == f"{path}: {message}"
    result = run("config", "list")
    assert (result.exit_code, result.stderr) == (2, f"Error: {path}: {message}\n")


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_a_config_that_is_no_file_never_hangs_or_is_replaced(kind):
    path = _config(kind=kind)
    message = f"{path}: " + WHAT[kind].format(noun="config")
    for args in (["config", "list"], ["config", "get", "min_minutes"],
                 ["config", "set", "min_minutes", "3"]):  # fmt: skip
        result = run(*args)
        assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n"), args
    assert not path.is_file()  # `config set` refused: the pipe or link is still there


def test_a_config_linked_from_a_dotfiles_folder_stays_a_link(tmp_path):
    target = tmp_path / "dotfiles" / "haven.toml"
    target.parent.mkdir()
    target.write_text("[journal]\nmin_minutes = 2\n", encoding="utf-8")
    path = paths.config_path()
    paths.ensure_private_dir(path.parent)
    path.symlink_to(target)
    result = run("config", "set", "min_minutes", "3")
    assert result.exit_code == 0, result.output
    assert path.is_symlink() and path.resolve() == target
    assert "min_minutes = 3" in target.read_text(encoding="utf-8")
    assert config.load_config()["journal.min_minutes"] == 3


def test_a_huge_config_is_refused_without_reading_it():
    path = _config("#" * (2 * config.MAX_CONFIG_BYTES))
    with pytest.raises(ConfigError) as info:
        config.load_config()
    assert str(info.value) == f"{path}: the config file is 128 KiB, more than the 64 KiB allowed"


def test_the_largest_config_parses_quickly():
    # Within the size limit, no file keeps the parser busy: many tables, keys or long keys.
    lines = [f"[t{i}]\nx = 1\n" for i in range(5000)]
    while sum(map(len, lines)) > config.MAX_CONFIG_BYTES:
        lines.pop()
    path = _config("".join(lines))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        config.load_config()
    assert time.perf_counter() - t0 < 1.0
    assert str(info.value) == f"{path}: unknown setting 't0.x'"


def test_a_huge_number_from_the_command_line_is_refused_in_one_line():
    result = run("config", "set", "min_minutes", "1" + "0" * 400)
    assert (result.exit_code, result.stderr) == (
        2, "Error: journal.min_minutes: '" + "1" + "0" * 55 + "... must be a number from 0 to 1440\n"
    )


# --- printing user text ---------------------------------------------------------------------


def test_printable_escapes_what_a_terminal_would_act_on():
    assert printable("plain, café ☕ 日本") == "plain, café ☕ 日本"
    assert printable("a\x1b[31mb\x07\x9b\u202e\ud800\x00") == "a\\x1b[31mb\\x07\\x9b\\u202e\\ud800\\x00"
    assert printable("two\nlines\tand\r") == "two\\nlines\\tand\\r"
    assert printable("two\nlines\tand\r", keep="\n\t") == "two\nlines\tand\\r"
    assert one_line("  a\n  folded\tsummary \x1b ") == "a folded summary \\x1b"


# --- properties: nothing a user writes breaks the listing ----------------------------------

# Each example rewrites the one file in the test's HAVEN_HOME: sharing the fixture is intended.
SHARED_HOME = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=SHARED_HOME)
_stamp = iter(range(10**9, 10**12, 1000))


def _write_mine(data: bytes) -> Path:
    path = user_script("mine", data)
    t = next(_stamp)
    os.utime(path, ns=(t, t))  # a new stamp for every example, however fast they come
    return path


def _check_row(info: library.ScriptInfo) -> None:
    if info.problem is not None:
        assert info.problem and "\n" not in info.problem
        assert printable(info.problem) == info.problem
        assert (info.title, info.summary, info.category, info.tags) == ("mine", "", None, ())
    else:
        assert isinstance(info.title, str) and isinstance(info.summary, str)
        assert info.category is None or info.category in CATEGORIES
        assert all(isinstance(t, str) for t in info.tags)


@PROPERTIES
@given(st.binary(max_size=400))
def test_any_bytes_as_a_script_give_a_row_or_a_problem(data):
    _write_mine(data)
    _check_row(listed("mine"))


scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
           | st.sampled_from(CATEGORIES))  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)  # fmt: skip
words = st.text(st.characters(categories=("L", "N", "P", "Zs")), min_size=1, max_size=30)
good = {  # what a real header holds, so that validate takes a good share of the documents
    "title": words.filter(str.strip),
    "summary": words.filter(str.strip),
    "category": st.sampled_from(CATEGORIES),
    "tags": st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), max_size=4),
}
headers = st.fixed_dictionaries({}, optional={k: good[k] | values for k in good})


@PROPERTIES
@given(headers, st.booleans())
def test_any_yaml_header_lists_as_validate_reads_it(head, flow):
    doc = {**head, "steps": ["bell"]}
    path = _write_mine(yaml.safe_dump(doc, allow_unicode=True, default_flow_style=flow).encode())
    info = listed("mine")
    _check_row(info)
    try:
        script = load_script(path)
    except ScriptError:
        event("validate refuses it")
        return  # a problem in the header or elsewhere: validate says so; the listing may not
    event("validate takes it")
    assert info.problem is None
    assert (info.title, info.summary, info.category, info.tags) == (
        script.title, script.summary, script.category, script.tags
    )


@settings(max_examples=40, deadline=None, suppress_health_check=SHARED_HOME)
@given(st.binary(max_size=300) | headers.map(lambda h: yaml.safe_dump({**h, "steps": ["bell"]}).encode()))
def test_haven_list_prints_nothing_a_terminal_would_act_on(data):
    _write_mine(data)
    result = run("list")
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    assert "Traceback" not in result.output
