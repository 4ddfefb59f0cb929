"""Issue 10 for the practice journal: every promise kept at the edges.

Export writes through devices, pipes and links without replacing them, and is safe to open in
a spreadsheet; import gives line-numbered errors for hostile files, never a traceback; dates
outside the supported years are refused with the range; notes cannot carry terminal escapes;
a read-only HAVEN_HOME lets reading commands work and gives writing ones one line; a journal
path that is a pipe, a folder or a device link never hangs; damage is found and reported with
the fix. Commands run as a user runs them (``python -m player``) with a timeout, or through
Click's runner; every assertion checks the exit code and the exact message.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player import paths
from player.cli.app import main
from player.errors import BadInputError
from player.journal import Journal, exchange
from player.journal.records import clean_typed_text, normalise_record

TIMEOUT = 60
DAMAGED_FIX = (
    "Save what is still readable with 'haven export -o rescue.json', move the journal aside "
    "and 'haven import rescue.json'"
)


def haven(*args: str, home: Path, input: bytes | None = None, stdin=None, timeout: float = TIMEOUT):
    """Run the real command line in a child process (bytes out, so device output is exact)."""
    env = dict(os.environ, HAVEN_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "player", *args], env=env, capture_output=True, timeout=timeout,
        input=input, stdin=stdin if input is None else None,
    )


def cli(*args: str, code: int, input: str | None = None):
    result = CliRunner().invoke(main, list(args), input=input)
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def one_error(result, line: str) -> None:
    """The command failed with exactly this one line on standard error."""
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert "Traceback" not in err
    assert err == f"Error: {line}\n"


def add_sessions(n: int = 3, note: str | None = None) -> None:
    with Journal.open() as journal:
        for i in range(n):
            journal.add_manual(f"sit-{i}", 300 + i, note=note)


# --- export -o: write through, never replace what is not a regular file -----------------------


def test_export_to_dev_full_is_one_line_and_leaves_the_device(haven_home):
    add_sessions()
    before = os.stat("/dev/full")
    assert stat.S_ISCHR(before.st_mode)  # the test needs the real device
    result = haven("export", "-o", "/dev/full", home=haven_home)
    assert result.returncode == 1
    one_error(result, "cannot write /dev/full: no space left on the device (free some space and try again)")
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_export_to_dev_stdout_writes_through(haven_home):
    add_sessions()
    result = haven("export", "-o", "/dev/stdout", home=haven_home)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"Exported 3 sessions to /dev/stdout.\n"
    assert [s["exercise"] for s in json.loads(result.stdout)["sessions"]] == ["sit-2", "sit-1", "sit-0"]
    assert os.path.islink("/dev/stdout")


def test_export_to_dev_stdout_appended_to_a_file_keeps_what_was_there(haven_home, tmp_path):
    # `haven export -o /dev/stdout >> log`: written through the shell's descriptor, so the
    # append mode holds; replacing the file /dev/stdout resolves to would drop the old line.
    add_sessions()
    log = tmp_path / "log.txt"
    log.write_bytes(b"previous line\n")
    with log.open("ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "player", "export", "-o", "/dev/stdout"], stdout=out,
            stderr=subprocess.PIPE, env=dict(os.environ, HAVEN_HOME=str(haven_home)), timeout=TIMEOUT,
        )
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert text.startswith("previous line\n{\n")
    assert len(json.loads(text.split("\n", 1)[1])["sessions"]) == 3


def test_export_to_a_fifo_writes_through_and_keeps_the_fifo(haven_home, tmp_path):
    add_sessions()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = haven("export", "--format", "csv", "-o", str(fifo), home=haven_home)
    reader.join(TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"Exported 3 sessions to {fifo}.\n".encode()
    assert got and got[0].startswith(b"id,exercise,title,category,started_at")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_to_process_substitution_writes_through(haven_home, tmp_path):
    add_sessions()
    bash = shutil.which("bash")
    assert bash, "bash is needed for process substitution"
    out = tmp_path / "through.json"
    env = dict(os.environ, HAVEN_HOME=str(haven_home))
    result = subprocess.run(
        [bash, "-c", f'"{sys.executable}" -m player export -o >(cat > "{out}"); wait'],
        env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Exported 3 sessions to /dev/fd/")
    assert len(json.loads(out.read_text())["sessions"]) == 3


def test_export_through_a_symlink_replaces_the_target_not_the_link(haven_home, tmp_path):
    add_sessions()
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = cli("export", "-o", str(link), code=0)
    assert result.stderr == f"Exported 3 sessions to {link}.\n"
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(json.loads(target.read_text())["sessions"]) == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "haven-home") == ["link.json", "target.json"]


def test_export_into_a_missing_folder_or_onto_a_folder_is_one_line(haven_home, tmp_path):
    add_sessions()
    missing = tmp_path / "nowhere" / "x.json"
    result = cli("export", "-o", str(missing), code=2)
    assert result.stderr == (
        f"Error: cannot write {missing}: the folder {missing.parent} does not exist (create it first)\n"
    )
    result = cli("export", "-o", str(tmp_path), code=2)
    assert result.stderr == f"Error: cannot write {tmp_path}: it is a folder, not a file\n"


# --- CSV formula injection, and the round trip ------------------------------------------------


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_and_import_undoes_it(haven_home, tmp_path, monkeypatch):
    dangerous = ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "'=already", "'quoted", "plain"]
    with Journal.open() as journal:
        for i, text in enumerate(dangerous):
            journal.add_manual(text, 60 + i, title=text, category=text, note=text + "\nsecond\tline")
    original = json.loads(cli("export", code=0).stdout)["sessions"]
    out = tmp_path / "j.csv"
    cli("export", "-o", str(out), code=0)
    import csv

    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_first = {row["exercise"]: row for row in rows}
    assert set(by_first) == {"'=HYPERLINK(\"x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "''=already", "'quoted", "plain"}
    for row in rows:
        for key in ("exercise", "title", "category", "note"):
            assert not row[key].startswith(("=", "+", "-", "@", "\t", "\r")), (key, row[key])
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "elsewhere"))
    assert cli("import", str(out), code=0).stdout == "Imported 7 new sessions.\n"
    assert json.loads(cli("export", code=0).stdout)["sessions"] == original
    assert [s["note"] for s in original][0].endswith("\nsecond\tline")  # notes keep breaks and tabs


def test_csv_from_elsewhere_is_not_unquoted(haven_home, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("exercise,started_at,minutes,note\nsit,2026-11-01T07:00:00Z,10,'=not ours\n")
    assert cli("import", str(other), code=0).stdout == "Imported 1 new session.\n"
    (rec,) = json.loads(cli("export", code=0).stdout)["sessions"]
    assert rec["note"] == "'=not ours"


# --- control characters never reach the terminal ------------------------------------------------


def test_log_add_refuses_terminal_escapes_in_a_note(haven_home):
    result = cli("log", "add", "sit", "--minutes", "5", "--note", "red \x1b[31mtext", code=2)
    assert result.stderr == (
        "Error: note holds a control character, ESC (U+001B), at character 5; it may hold only "
        "text, tabs and line breaks\n"
    )
    result = cli("log", "add", "sit\x07", "--minutes", "5", code=2)
    assert result.stderr == (
        "Error: exercise holds a control character, BEL (U+0007), at character 4; it may hold "
        "only text on one line\n"
    )
    result = cli("log", "add", "sit", "--minutes", "5", "--title", "a\u202eb", code=2)
    assert result.stderr == (
        "Error: title holds a control character, RIGHT-TO-LEFT OVERRIDE (U+202E), at character 2; "
        "it may hold only text on one line\n"
    )
    assert cli("log", code=0).stdout == "No sessions recorded yet.\n"


def test_bytes_that_are_not_utf8_in_an_argument_are_refused(haven_home):
    # `haven log add "$(printf 'a\xff')"`: Python hands the byte on as a lone surrogate,
    # which SQLite cannot store (a UnicodeEncodeError traceback before).
    result = haven("log", "add", os.fsdecode(b"a\xff"), "--minutes", "3", home=haven_home)
    assert result.returncode == 2
    one_error(result, "exercise is not UTF-8 text (character 2 is a byte that is not)")
    result = haven("log", "add", "x", "--minutes", "3", "--note", os.fsdecode(b"ok \xfe"), home=haven_home)
    assert result.returncode == 2
    one_error(result, "note is not UTF-8 text (character 4 is a byte that is not)")
    # Unicode line separators in a note are line breaks; in a name, refused.
    assert cli("log", "add", "x", "--minutes", "3", "--note", "a\u2028b", code=0)
    assert json.loads(cli("log", "--json", code=0).stdout)["sessions"][0]["note"] == "a\nb"
    assert cli("log", "add", "a\u2028b", "--minutes", "3", code=2).stderr == (
        "Error: exercise holds a control character, LINE SEPARATOR (U+2028), at character 2; it "
        "may hold only text on one line\n"
    )


def test_import_refuses_control_characters_with_the_line(haven_home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"exercise,started_at,minutes,note\nsit,2026-11-01T07:00:00Z,10,fine\r\n"
                    b"sit,2026-11-02T07:00:00Z,10,bad \x00 nul\n")
    result = cli("import", str(bad), code=2)
    assert result.stderr == (
        "Error: nothing imported: 1 invalid record: "
        f"{bad}: line 3: note holds a control character, NUL (U+0000), at character 5; it may "
        "hold only text, tabs and line breaks\n"
    )


def test_control_characters_stored_by_an_older_version_are_escaped_on_display(haven_home):
    add_sessions(1)
    with sqlite3.connect(paths.journal_path()) as conn:  # as an older Haven could have stored it
        conn.execute("UPDATE sessions SET note = ?, exercise = ?", ("a\x1b[2Jb\x9bc", "ex\x1b]0;t\x07"))
    out = cli("log", code=0).stdout
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "ex\\x1b]0;t\\x07" in out
    assert "note: a\\x1b[2Jb\\x9bc" in out
    assert "\x1b" not in cli("stats", code=0).stdout
    # The export keeps what is stored, exactly (JSON escapes it).
    (rec,) = json.loads(cli("export", code=0).stdout)["sessions"]
    assert rec["note"] == "a\x1b[2Jb\x9bc"


def test_a_typed_note_loses_the_escape_sequences_of_arrow_keys():
    assert clean_typed_text("calm\x1b[D\x1b[Der\x07 now ") == "calmer now"


# --- import: line-numbered errors, never a traceback, never an unbounded read -------------------


def test_import_dates_at_the_edges_of_the_calendar(haven_home, tmp_path):
    f = tmp_path / "edges.csv"
    f.write_text(
        "exercise,started_at,practiced_s\n"
        "sit,0001-01-01T00:00:00+05:00,60\n"
        "sit,9999-12-31T23:59:59-05:00,60\n"
        "sit,2026-01-01T00:00:00Z,60\n"
    )
    result = cli("import", str(f), code=2)
    assert result.stderr == (
        "Error: nothing imported: 2 invalid records: "
        f"{f}: line 2: started_at '0001-01-01T00:00:00+05:00' is outside the years 1971 to 9998; "
        f"{f}: line 3: started_at '9999-12-31T23:59:59-05:00' is outside the years 1971 to 9998\n"
    )


@pytest.mark.parametrize("digits", [400, 5000])
def test_import_numbers_with_hundreds_or_thousands_of_digits(haven_home, tmp_path, digits):
    f = tmp_path / "big.json"
    f.write_text(
        '[{"exercise": "a", "started_at": "2026-01-01T00:00:00Z", "practiced_s": ' + "9" * digits + "},"
        ' {"exercise": "a", "started_at": "2026-01-02T00:00:00Z", "practiced_s": 5, "mood_after": -'
        + "9" * digits + "}]"
    )
    result = cli("import", str(f), code=2)
    assert result.stderr == (
        "Error: nothing imported: 2 invalid records: "
        f"{f}: session 1: practiced_s is more than a week (a number of {digits} digits); "
        f"{f}: session 2: mood_after must be a whole number from 0 to 10, not a number of {digits} digits\n"
    )
    big = tmp_path / "big.csv"
    big.write_text(f"exercise,started_at,practiced_s\nsit,2026-01-01T00:00:00Z,{'9' * digits}\n")
    assert cli("import", str(big), code=2).stderr.startswith(
        f"Error: nothing imported: 1 invalid record: {big}: line 2: practiced_s is more than a week ('999"
    )


def test_many_invalid_rows_are_one_line_naming_the_first_five(haven_home, tmp_path):
    f = tmp_path / "many.csv"
    f.write_text("exercise,started_at,minutes\n" + "".join(f"sit,2026-01-0{i}T07:00:00Z,x\n" for i in range(1, 8)))
    result = cli("import", str(f), code=2)
    problems = "; ".join(f"{f}: line {n}: minutes must be a number of minutes, not 'x'" for n in range(2, 7))
    assert result.stderr == f"Error: nothing imported: 7 invalid records: {problems}; … and 2 more\n"


def test_import_of_json_nested_100000_deep(haven_home, tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000)
    result = cli("import", str(f), code=2)
    assert result.stderr == f"Error: {f}: not a journal export: the JSON is nested too deeply\n"


def test_import_of_a_csv_cell_over_128_kib(haven_home, tmp_path):
    f = tmp_path / "wide.csv"
    f.write_text("exercise,started_at,practiced_s,note\nsit,2026-01-01T00:00:00Z,60,ok\n"
                 f'sit,2026-01-02T00:00:00Z,60,"{"x" * 140_000}"\n')
    result = cli("import", str(f), code=2)
    assert result.stderr == (
        f"Error: {f}: line 3: not readable as CSV (a cell longer than 128 KiB, or a quote that is "
        "never closed)\n"
    )


def test_import_of_devices_pipes_folders_and_bad_bytes(haven_home, tmp_path):
    result = haven("import", "/dev/zero", home=haven_home)
    assert result.returncode == 2
    one_error(result, "/dev/zero: is a character device, not a journal export")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = haven("import", str(fifo), home=haven_home)  # no writer: must not wait for one
    assert result.returncode == 2
    one_error(result, f"{fifo}: is a named pipe, not a journal export")
    one_error(cli("import", str(tmp_path), code=2), f"{tmp_path}: is a folder, not a journal export")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"exercise,started_at,minutes\nsit,2026-01-01T00:00:00Z,5\ns\xe9ance,2026-01-02T00:00:00Z,5\n")
    one_error(cli("import", str(latin), code=2), f"{latin}: line 3: not UTF-8 text (byte 57)")
    assert not paths.journal_path().exists()  # nothing was opened for any of these


def test_what_parsing_an_import_builds_is_bounded(haven_home, tmp_path):
    # A CSV of empty rows costs ~140 times its size once parsed; the session cap stops it.
    rows = tmp_path / "rows.csv"
    rows.write_text("exercise,started_at,minutes\n" + "a\n" * (exchange.MAX_IMPORT_SESSIONS + 1))
    many = "more than 100,000 sessions, more than one import takes; split it into parts"
    one_error(cli("import", str(rows), code=2), f"{rows}: {many}")
    values = tmp_path / "values.json"
    values.write_text("[" + "1," * (exchange.MAX_IMPORT_SESSIONS * 24) + "1]")
    one_error(cli("import", str(values), code=2), f"{values}: {many}")
    wide = tmp_path / "wide-header.csv"
    wide.write_text("exercise,started_at,minutes" + "".join(f",c{i}" for i in range(30)) + "\n")
    one_error(cli("import", str(wide), code=2),
              f"{wide}: line 1: the header has 33 columns; a journal CSV has at most 32")


def test_import_from_an_endless_standard_input_stops_at_the_cap(haven_home):
    with open("/dev/zero", "rb") as zero:
        result = haven("import", "-", home=haven_home, stdin=zero)
    assert result.returncode == 2
    one_error(result, "<stdin>: more than the 256 MiB an import may hold")


# --- dates and numbers on the command line -----------------------------------------------------


@pytest.mark.parametrize(
    "args, line",
    [
        (["log", "--since", "0001-01-01"], "--since '0001-01-01': use a date from 1971-01-01 to 9998-12-31"),
        (["log", "--since", "9999-12-31"], "--since '9999-12-31': use a date from 1971-01-01 to 9998-12-31"),
        (["log", "--since", "99999999d"], None),
        (["log", "--since", "9" * 400 + "w"], None),
        (["log", "add", "x", "--minutes", "3", "--at", "0001-01-01 00:00"],
         "the time '0001-01-01 00:00' is outside the supported years 1971 to 9998"),
        (["log", "add", "x", "--minutes", "3", "--at", "9999-12-31T23:59:59-05:00"],
         "the time '9999-12-31T23:59:59-05:00' is outside the supported years 1971 to 9998"),
        (["log", "edit", "abcd", "--at", "0001-01-01 00:00"],
         "the time '0001-01-01 00:00' is outside the supported years 1971 to 9998"),
    ],
)
def test_dates_outside_the_supported_years_are_one_line(haven_home, args, line):
    result = cli(*args, code=2)
    if line is None:  # "N days" back from today: the limit depends on the date of the run
        assert result.stderr.startswith(f"Error: --since '{args[2]}': the journal starts in 1971; give at most ")
        assert result.stderr.endswith("d (back to 1971-01-01)\n")
    else:
        assert result.stderr == f"Error: {line}\n"


def test_huge_limits_and_nan_minutes(haven_home):
    add_sessions(2)
    out = cli("log", "--limit", "9" * 30, code=0).stdout
    assert out.count("sit-") == 2
    for args in (["log", "add", "x", "--minutes", "nan"], ["log", "edit", "abcd", "--minutes", "nan"]):
        assert cli(*args, code=2).stderr == "Error: --minutes must be a number of minutes from 0 to 1440, not nan\n"


# Hostile import files: whatever the bytes, the answer is a clean error or an import, never a
# traceback (hypothesis builds JSON and CSV shaped text around the edge cases above).
_edge_values = st.sampled_from([
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9" * 400, "-" + "9" * 5000, "1e999",
    "NaN", "Infinity", "\x00", "\x1b[31m", "=1+1", "'", '"', "[" * 50, "{}", "null", "true", "",
])
_cells = st.one_of(_edge_values, st.text(max_size=12))


@given(st.lists(st.lists(_cells, min_size=1, max_size=5), max_size=4), st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_import_text_never_raises_anything_but_bad_input(haven_home, rows, as_json):
    header = ["exercise", "started_at", "practiced_s", "mood_before", "note"]
    if as_json:
        text = "[" + ",".join(
            "{" + ",".join(f'"{k}": {v if v[:1] in "[{-9nNIt1" else json.dumps(v)}' for k, v in zip(header, row)) + "}"
            for row in rows
        ) + "]"
    else:
        text = ",".join(header) + "\n" + "\n".join(",".join(row) for row in rows)
    try:
        records, labels = exchange.load_records(text, "f")
        for raw in records:
            if isinstance(raw, dict):
                try:
                    normalise_record(raw, "2026-11-29T00:00:00Z")
                except ValueError:
                    pass
    except BadInputError:
        pass


# --- a read-only HAVEN_HOME --------------------------------------------------------------------


def _read_only_home(home: Path, commands: list[list[str]]) -> list[dict]:
    """Run each command with ``home`` mounted read-only (a private mount namespace: as root,
    file modes do not stop writes, a read-only mount does)."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to mount HAVEN_HOME read-only"
    script = (
        "import json, os, subprocess, sys\n"
        "home, cmds = sys.argv[1], json.loads(sys.argv[2])\n"
        "subprocess.run(['mount', '--bind', home, home], check=True)\n"
        "subprocess.run(['mount', '-o', 'remount,bind,ro', home], check=True)\n"
        "out = []\n"
        "for c in cmds:\n"
        "    r = subprocess.run([sys.executable, '-m', 'player', *c], capture_output=True, text=True,\n"
        "                       stdin=subprocess.DEVNULL, timeout=60, env=dict(os.environ, HAVEN_HOME=home))\n"
        "    out.append({'code': r.returncode, 'out': r.stdout, 'err': r.stderr})\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [unshare, "-m", sys.executable, "-c", script, str(home), json.dumps(commands)],
        capture_output=True, text=True, timeout=TIMEOUT * 4,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


READING = [["log"], ["stats"], ["streak"], ["calendar", "--no-color"], ["export"],
           ["program", "status"], ["today", "--list"]]
WRITING = [["log", "add", "x", "--minutes", "3"], ["program", "start", "foundations"],
           ["log", "delete", "abcd", "--yes"]]


def test_read_only_home_without_a_journal(haven_home):
    haven_home.mkdir()
    results = _read_only_home(haven_home, READING + WRITING)
    for cmd, r in zip(READING, results):
        assert r["code"] == 0 and r["err"] == "", (cmd, r)
    assert results[0]["out"] == "No sessions recorded yet.\n"
    folder = haven_home / "data"
    for cmd, r in zip(WRITING, results[len(READING):]):
        assert r["code"] == 1, (cmd, r)
        assert r["err"] == (
            f"Error: cannot create the folder {folder}: the file system is read-only (make it "
            "writable, or set HAVEN_HOME to a writable folder)\n"
        ), cmd
    assert list(haven_home.iterdir()) == []


def test_read_only_home_with_a_journal(haven_home):
    add_sessions(2)
    before = paths.journal_path().read_bytes()
    results = _read_only_home(haven_home, READING + WRITING + [["import", os.devnull]])
    for cmd, r in zip(READING, results):
        assert r["code"] == 0 and "Traceback" not in r["err"], (cmd, r)
    assert "sit-1" in results[0]["out"] and "sit-0" in results[0]["out"]
    assert len(json.loads(results[4]["out"])["sessions"]) == 2
    journal = paths.journal_path()
    for cmd, r in zip(WRITING, results[len(READING):-1]):
        assert r["code"] == 1, (cmd, r)
        assert r["err"] == (
            f"Error: cannot write {journal}: the file system is read-only (make it writable, or "
            "set HAVEN_HOME to a writable folder)\n"
        ), cmd
    assert results[-1]["code"] == 2 and results[-1]["err"] == f"Error: {os.devnull}: is a character device, not a journal export\n"
    assert journal.read_bytes() == before


# --- a journal path that is not a file -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "folder", "zero", "dangling"])
def test_a_journal_path_that_is_not_a_file_never_hangs(haven_home, tmp_path, kind, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # doctor's lines unwrapped (wrapping: test_terminal_polish)
    journal = paths.journal_path()
    paths.ensure_private_dir(journal.parent)
    if kind == "fifo":
        os.mkfifo(journal)
        what = "a named pipe"
    elif kind == "folder":
        journal.mkdir()
        what = "a folder"
    elif kind == "zero":
        journal.symlink_to("/dev/zero")
        what = "a link to /dev/zero, a character device"
    else:
        journal.symlink_to(tmp_path / "gone.sqlite3")
    for args in (["stats"], ["log", "add", "x", "--minutes", "3"], ["export"], ["doctor"]):
        result = haven(*args, home=haven_home, timeout=30)
        err = result.stderr.decode()
        assert "Traceback" not in err, (args, err)
        if kind == "dangling":
            line = (f"the journal {journal} is a link to {tmp_path / 'gone.sqlite3'}, which does not "
                    "exist; restore the file it points to, or remove the link to start a new journal")
        else:
            line = (f"the journal {journal} is {what}, not a file. It was left untouched; move it aside "
                    "(Haven then starts a new journal), or put the journal file in its place")
        if args == ["doctor"]:
            assert result.returncode == 1
            assert f"!!  journal: {line}\n" in result.stdout.decode()
        else:
            assert result.returncode == 1, args
            assert err == f"Error: {line}\n", args
    assert os.path.lexists(journal)  # left where it was


# --- integrity ---------------------------------------------------------------------------------


def _damaged_after_a_crash(home: Path) -> Path:
    """A journal with 40 sessions whose index page is overwritten, after a process that was
    writing to it died without closing (its -wal file is left behind)."""
    with Journal.open() as journal:
        for i in range(40):
            journal.add_manual("sit", 600, note="n" * 200)
    path = paths.journal_path()
    crash = (
        "import os, sys\nfrom datetime import date\nfrom player.journal import Journal\n"
        "j = Journal.open(sys.argv[1])\nj.start_program('foundations', 'Foundations', date(2026, 11, 20))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(path)], check=True, timeout=TIMEOUT)
    assert os.path.getsize(f"{path}-wal") > 0
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions_by_start'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * size)
        fh.write(b"\xff" * 64)
    return path


def test_damage_found_after_an_unclean_shutdown_is_reported_with_the_fix(haven_home, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # doctor's lines unwrapped (wrapping: test_terminal_polish)
    path = _damaged_after_a_crash(haven_home)
    result = cli("stats", code=1)
    assert result.stderr.startswith(f"Error: the journal {path} is damaged (")
    assert result.stderr.endswith(f"). It was left as it is: {DAMAGED_FIX}\n")
    assert "\n" not in result.stderr[:-1]
    # haven doctor says so too, with the fix on its own line.
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert f"!!  journal: {path} is damaged (" in result.stdout
    assert f"     fix: {DAMAGED_FIX}\n" in result.stdout
    # And export rescues what is readable (the table is intact: all 40 sessions).
    rescue = tmp_path / "rescue.json"
    result = cli("export", "-o", str(rescue), code=0)
    assert result.stderr == f"Exported 40 sessions to {rescue}.\n"
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "new-home"))
    assert cli("import", str(rescue), code=0).stdout == "Imported 40 new sessions.\n"


def test_the_fix_names_the_newest_automatic_backup(haven_home):
    path = _damaged_after_a_crash(haven_home)
    backup = path.with_name(f"{path.name}.backup-v1-20261120T120000Z")
    backup.write_bytes(b"")
    result = cli("stats", code=1)
    assert result.stderr.endswith(
        f"). It was left as it is: restore the automatic backup {backup} (copy it over the "
        "journal), or save what is still readable with 'haven export -o rescue.json', move the "
        "journal aside and 'haven import rescue.json'\n"
    )


def test_doctor_checks_a_sound_journal_and_a_missing_one(haven_home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # doctor's lines unwrapped (wrapping: test_terminal_polish)
    journal = paths.journal_path()
    out = CliRunner().invoke(main, ["doctor"]).stdout  # its exit code depends on the machine
    assert f"ok  journal: {journal} (not created yet: the first session makes it)\n" in out
    assert not journal.exists()
    add_sessions(2)
    out = CliRunner().invoke(main, ["doctor"]).stdout
    assert f"ok  journal: {journal} (2 sessions; quick check passed)\n" in out


def test_read_only_home_after_an_unclean_shutdown_says_why_it_cannot_read(haven_home):
    add_sessions(1)
    path = paths.journal_path()
    crash = (
        "import os, sys\nfrom player.journal import Journal\n"
        "j = Journal.open(sys.argv[1])\nj.add_manual('late', 60)\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(path)], check=True, timeout=TIMEOUT)
    os.unlink(f"{path}-shm")  # without it SQLite cannot read the -wal file in a read-only folder
    (r,) = _read_only_home(haven_home, [["log"]])
    assert r["code"] == 1
    assert r["err"] == (
        f"Error: the journal {path} holds changes from an interrupted session, which can only be "
        f"recovered where it can be written: cannot write {path}: the file system is read-only "
        "(make it writable, or set HAVEN_HOME to a writable folder)\n"
    )
    # Writable again, the change is recovered: nothing recorded was lost.
    assert "late" in cli("log", code=0).stdout


def test_an_export_file_name_with_a_control_character_is_refused(haven_home, tmp_path, monkeypatch):
    add_sessions(1)
    monkeypatch.chdir(tmp_path)
    result = cli("export", "-o", "\x1f", code=2)
    assert result.stderr == "Error: -o '\\x1f': the file name holds a control character, U+001F; choose a plain name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["haven-home"]
