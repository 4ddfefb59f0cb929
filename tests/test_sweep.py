"""The no-traceback sweep: every command and subcommand, under hostile conditions.

The commands come from Click's own command tree (``player.cli.app.main``, walked through every
group), so a new command is swept without anyone adding it here. Each runs as a real process
(forked by tests/sweep_worker.py: real exit codes, real file descriptors, the interpreter's
real shutdown) under each condition:

- ``baseline``: a healthy home with a journal, settings, a running program, a user script and
  cached speech. Every command must succeed there (exit 0), which shows that the arguments
  below reach each command's real work, so the other conditions test that work.
- ``read-only`` and ``read-only-empty``: that home, or an empty one, read-only. As root (CI),
  where permissions do not stop writes, a read-only bind mount in a private mount namespace;
  otherwise chmod. Either way the set-up is probed before use: it never skips.
- ``fifo`` and ``dev-zero``: a home whose journal (data/journal.sqlite3) and config
  (config/config.toml) are named pipes, or links to /dev/zero.
- ``stdout-full``, ``stdout-closed`` and ``no-stdout``: the healthy home, with standard output
  on /dev/full (``haven list > /dev/full``), on a pipe whose reader has gone
  (``haven list | head -0``), or closed (``haven list >&-``).
- ``hostile``: hypothesis-generated arguments for each command, chosen by each parameter's
  Click type: huge and negative numbers, control characters, very long strings, paths to
  /dev/zero, named pipes, folders and missing places, dates at the year edges.

Every run must end with exit code 0, 1 or 2 (0 where the command legitimately succeeds);
on 1 or 2 with exactly one clear line on standard error (Click's own usage lines aside; a
closed pipe ends quietly); never a traceback, "Exception ignored", "Error: Error" or a raw
"[Errno ...]"; never a hang (a per-command timeout kills the process group); and nothing
modified outside HAVEN_HOME (the working folder, HOME and TMPDIR are sentinel trees compared
before and after each run).

Audio: playing commands play for real through PortAudio into ALSA's `file` device
(../shared/alsa/capture.conf, written to /dev/null), which takes audio faster than real time;
each is stopped after 5 s of audio by the hidden --script-controls hook, so none can run long.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from player.cli.app import main

TESTS = Path(__file__).resolve().parent
CAPTURE_CONF = TESTS.parents[1] / "shared" / "alsa" / "capture.conf"
WORKER = TESTS / "sweep_worker.py"
AS_ROOT = os.geteuid() == 0

TINY = (
    "title: Tiny\ncategory: meditation\nending: silence\nsteps:\n"
    "  - section: Only\n  - say: Breathe easy.\n    after: 1s\n"
)

# What each command is given so that, in a healthy home, it does its real work. Placeholders:
# {home} HAVEN_HOME, {tiny} a short script, {export} a `haven export` file, {session} the id
# of a recorded session. Commands not listed get generic values for their required
# parameters (see `generic_args`), so a new command is still swept.
ARGS: dict[str, list[list[str]]] = {
    "": [[], ["--version"]],
    "list": [[]],
    "show": [["{tiny}"]],
    "validate": [["{tiny}"]],
    "schema": [[], ["-o", "{home}/schema.json"]],
    "render": [["{tiny}", "-o", "{home}/tiny.wav", "-q"]],
    "play": [["{tiny}", "--no-checkin"]],
    "breathe": [["--minutes", "1", "--no-checkin"]],
    "timer": [["1", "--no-checkin"]],
    "log": [[]],
    "log add": [["sitting", "--minutes", "10"]],
    "log edit": [["{session}", "--note", "calmer"]],
    "log delete": [["{session}", "--yes"]],
    "export": [[], ["-o", "{home}/export.csv"]],
    "import": [["{export}"]],
    "config get": [["voice.rate"]],
    "config set": [["voice.rate", "0.9"]],
    "config unset": [["voice.rate"]],
    "program show": [["foundations"]],
    "program start": [["foundations"]],
    "program validate": [["foundations"]],
    "today": [["--list"]],
    "report": [["-o", "{home}/report.html"], ["--json"]],
    "remind": [["--at", "07:30"], ["--at", "07:30", "-o", "{home}/haven.ics"]],
    "feed": [["{home}/feed", "{tiny}"]],
    "new": [["sweep-script"]],
}
# Commands that synthesize speech or probe engines get longer before they count as hung.
SLOW = {"show", "render", "play", "today", "doctor", "voices", "feed"}
TIMEOUT_S = 20.0
SLOW_TIMEOUT_S = 45.0
# Playing commands (they have the hidden --script-controls hook) stop after 5 s of audio.
STOP = ["--script-controls", "stop@5"]


# --- the command tree -------------------------------------------------------------------------


def command_tree(group: click.Group = main, prefix: tuple[str, ...] = ()):
    """(path, command) for the group itself and every command below it, depth first."""
    yield prefix, group
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            yield from command_tree(command, prefix + (name,))
        else:
            yield prefix + (name,), command


COMMANDS = {" ".join(path): command for path, command in command_tree()}


def is_playing(command: click.Command) -> bool:
    return any(p.name == "script_controls" for p in command.params)


def generic_args(command: click.Command) -> list[str]:
    """Values for the required parameters of a command this file does not know."""
    argv: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        value = _plain_value(param)
        if isinstance(param, click.Option):
            argv += [param.opts[0], value]
        else:
            argv += [value] * (1 if param.nargs == -1 else param.nargs)
    return argv


def _plain_value(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return "1"
    if isinstance(kind, click.Path):
        return "{home}/sweep-output"
    return "sweep"


def invocations() -> list[tuple[str, list[str]]]:
    """(label, argv) for every command in the tree: the label is what the test ids show."""
    runs = []
    assert set(ARGS) <= set(COMMANDS), f"ARGS names commands that are gone: {set(ARGS) - set(COMMANDS)}"
    for name, command in COMMANDS.items():
        for args in ARGS.get(name, [generic_args(command)]):
            argv = name.split() + list(args)
            if is_playing(command):
                argv += STOP
            shown = [a.replace("{", "").replace("}", "") for a in args if a != "-q"]
            label = " ".join([name or "haven", *shown])
            runs.append((label, argv))
    return runs


INVOCATIONS = invocations()


def test_every_command_in_the_tree_is_swept():
    """The sweep's list comes from Click's tree; the table above only refines it."""
    swept = {name for name in COMMANDS for _, argv in INVOCATIONS if argv[: len(name.split())] == name.split()}
    assert swept == set(COMMANDS)
    # the groups and commands the issue names are all there
    for name in ("log", "log add", "stats", "streak", "calendar", "new", "program start", "today",
                 "config set", "render", "schema", "export", "import", "play", "breathe", "timer"):
        assert name in COMMANDS, name


# --- sentinels: nothing outside HAVEN_HOME changes ----------------------------------------------


def snapshot(root: Path) -> dict:
    """Everything about a tree a command could change: names, kinds, sizes, times, bytes."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            st_ = os.lstat(path)
            entry = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode), st_.st_size, st_.st_mtime_ns)
            if stat.S_ISREG(st_.st_mode):
                entry += (hashlib.sha256(path.read_bytes()).hexdigest(),)
            found[str(path.relative_to(root))] = entry
    return found


def make_sentinel(folder: Path) -> Path:
    for part in ("cwd", "home", "tmp"):
        (folder / part).mkdir(parents=True)
        (folder / part / "keep.txt").write_text("sentinel\n")
    return folder


# --- running -------------------------------------------------------------------------------


class Workers:
    """A few sweep workers (tests/sweep_worker.py) taking requests from any thread."""

    def __init__(self, count: int, *, read_only: list[Path] = (), small_fs: Path | None = None):
        self.procs = []
        self.idle: list[subprocess.Popen] = []
        self.lock = threading.Condition()
        env = dict(os.environ, PYTHONPATH=str(TESTS.parent), PYTHON_FOR_SWEEP=sys.executable,
                   WORKER_FOR_SWEEP=str(WORKER))
        for _ in range(count):
            proc = subprocess.Popen(
                _worker_command(read_only, small_fs), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, cwd=TESTS, env=env,
            )
            self.procs.append(proc)
            self.idle.append(proc)

    def ask(self, request: dict) -> dict:
        with self.lock:
            while not self.idle:
                self.lock.wait()
            proc = self.idle.pop()
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, (
                f"the sweep worker ended (exit code {proc.wait()}); as root, its read-only and "
                "full-disk conditions need `unshare -m` and mount (CAP_SYS_ADMIN)"
            )
            return json.loads(line)
        finally:
            with self.lock:
                self.idle.append(proc)
                self.lock.notify()

    def close(self) -> None:
        for proc in self.procs:
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(timeout=30)


def _worker_command(read_only, small_fs=None) -> list[str]:
    """The worker, directly or in a private mount namespace: read-only bind mounts (root
    writes through permissions), or a 256 KiB file system at ``small_fs`` (a full disk; as
    another user, in a user namespace too)."""
    if small_fs is not None:
        script = 'mount -t tmpfs -o size=256k sweep "$1" || exit 97; exec "$PYTHON_FOR_SWEEP" "$WORKER_FOR_SWEEP"'
        return ["unshare", "-m", *([] if AS_ROOT else ["-r"]), "sh", "-c", script, "sh", str(small_fs)]
    if not read_only or not AS_ROOT:
        return [sys.executable, str(WORKER)]
    script = (
        'for d in "$@"; do mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 97; '
        'done; exec "$PYTHON_FOR_SWEEP" "$WORKER_FOR_SWEEP"'
    )
    return ["unshare", "-m", "sh", "-c", script, "sh", *map(str, read_only)]


class Sweep:
    """The shared material of the sweep: fixture files, a seeded home, run folders."""

    def __init__(self, base: Path):
        self.base = base
        self.count = 0
        self.count_lock = threading.Lock()
        self.fixtures = base / "fixtures"
        self.fixtures.mkdir()
        self.tiny = self.fixtures / "tiny.yaml"
        self.tiny.write_text(TINY)
        self.hostile = base / "hostile"
        self.hostile.mkdir()
        os.mkfifo(self.hostile / "fifo")
        (self.hostile / "folder").mkdir()
        os.symlink("/dev/zero", self.hostile / "zero")
        (self.hostile / "empty.yaml").write_text("")
        (self.hostile / "binary.yaml").write_bytes(bytes(range(256)) * 64)
        self.export = self.fixtures / "export.json"
        self.session = ""
        self.inputs = None

    def placeholders(self, home: Path) -> dict:
        return {"home": str(home), "tiny": str(self.tiny), "export": str(self.export),
                "session": self.session}

    def run(self, workers: Workers, argv, home: Path, *, stdout="file", timeout=None) -> dict:
        """Run ``haven ARGV`` with HAVEN_HOME=home; the result with stdout, stderr, problems
        of the sentinel trees."""
        with self.count_lock:
            self.count += 1
            folder = self.base / "runs" / f"{self.count:04d}"
        sentinel = make_sentinel(folder / "sentinel")
        before = snapshot(sentinel)
        values = self.placeholders(home)
        argv = [a.format(**values) if "{" in a else a for a in argv]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HAVEN_HOME": str(home),
            "HAVEN_VOICE_ENGINE": os.environ["HAVEN_VOICE_ENGINE"],  # tests/conftest.py: why
            "HOME": str(sentinel / "home"),
            "TMPDIR": str(sentinel / "tmp"),
            "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{CAPTURE_CONF}",
            "HAVEN_CAPTURE": "/dev/null",
            # Where the PulseAudio ALSA plugin is installed, alsa.conf's hook asks libpulse
            # whether a server runs, and libpulse writes ~/.config/pulse and $TMPDIR/pulse-*:
            # the system's audio stack, not Haven. No server to ask means no such files.
            "PULSE_SERVER": "unix:/nonexistent",
            "BROWSER": "true",  # `report --open` runs /bin/true instead of a web browser
            "PYTHONPATH": str(TESTS.parent),
        }
        slow = bool(set(argv[:1]) & SLOW)
        result = workers.ask({
            "argv": argv, "env": env, "cwd": str(sentinel / "cwd"), "stdout": stdout,
            "out": str(folder / "stdout"), "err": str(folder / "stderr"),
            "timeout": timeout or (SLOW_TIMEOUT_S if slow else TIMEOUT_S),
        })
        result["argv"] = argv
        result["stdout_bytes"] = (folder / "stdout").read_bytes() if (folder / "stdout").exists() else b""
        result["stdout"] = result["stdout_bytes"].decode("utf-8", "replace")
        result["stderr"] = _read(folder / "stderr")
        after = snapshot(sentinel)
        result["changed_outside"] = sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k)
        )
        return result


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


NOISE = ("Traceback", "Exception ignored", "Error: Error", "[Errno", "object at 0x",
         "MemoryError", "RecursionError")


def problems(result: dict, *, quiet_ok: bool = False, lines_ok: int = 1) -> list[str]:
    """What is wrong with one run, as short phrases (empty: it kept every promise).

    ``lines_ok``: how many message lines are fine (one per file for commands that check several
    files, like `validate`); ``quiet_ok``: exit 1 may say nothing (a closed pipe)."""
    found = []
    if result["timed_out"]:
        found.append(f"hung (killed after {result['seconds']:.0f} s)")
    elif result.get("runaway"):
        found.append("memory without bound (killed past 2 GiB)")
    elif result["rc"] is None:
        found.append(f"killed by signal {result['signal']}")
    elif result["rc"] not in (0, 1, 2):
        found.append(f"exit code {result['rc']}")
    err = result["stderr"]
    for marker in NOISE:
        if marker in err:
            found.append(f"{marker!r} on stderr")
    if result["rc"] in (1, 2) and not result["timed_out"] and not is_help_page(err):
        lines = message_lines(err)
        if not lines and not quiet_ok and not _report_on_stdout(result):
            found.append("exit code %d with nothing said" % result["rc"])
        elif len(lines) > lines_ok:
            found.append(f"{len(lines)} lines on stderr")
        elif lines and len(lines[0]) < 12:
            found.append(f"an unclear message: {lines[0]!r}")
    if result["changed_outside"]:
        found.append(f"changed outside HAVEN_HOME: {', '.join(result['changed_outside'][:5])}")
    return found


def message_lines(err: str) -> list[str]:
    """The lines of stderr that are the message: Click's usage preamble and Haven's "haven:"
    notes (warnings said along the way) aside."""
    lines = []
    for line in err.splitlines():
        if not line.strip() or line.startswith("Usage: ") or line.startswith("haven: "):
            continue
        if line.startswith("Try '") and line.endswith("for help."):
            continue
        lines.append(line)
    return lines


def is_help_page(err: str) -> bool:
    """A group run without a command prints its help (Click exits 2 for that)."""
    return err.startswith("Usage: ") and "\nCommands:\n" in err


def _report_on_stdout(result: dict) -> bool:
    """`haven doctor` exits 1 when it found problems; its report is on standard output."""
    return result["argv"][:1] == ["doctor"] and re.search(r"\b\d+ problems? found", result["stdout"]) is not None


def describe(result: dict, found: list[str]) -> str:
    tail = "\n".join(result["stderr"].splitlines()[-6:])
    return f"haven {' '.join(result['argv'])}: {'; '.join(found)}\n--- stderr (end) ---\n{tail}"


# --- homes ----------------------------------------------------------------------------------


def seed_home(sweep: Sweep, workers: Workers, home: Path) -> None:
    """A lived-in home: a journal with a session, a setting, a user script, and the tiny
    script's speech in the cache. (No running program: `program start` must succeed there.)"""
    home.mkdir()
    steps = [
        ["log", "add", "sitting", "--minutes", "12", "--json"],
        ["config", "set", "voice.rate", "0.95"],
        ["new", "my-pause"],
        ["render", "{tiny}", "-o", "{home}/seed.wav", "-q"],
        ["export", "-o", str(sweep.export)],
    ]
    for argv in steps:
        result = sweep.run(workers, argv, home, timeout=SLOW_TIMEOUT_S)
        assert result["rc"] == 0, describe(result, ["seeding failed"])
        if argv[:2] == ["log", "add"]:
            sweep.session = json.loads(result["stdout"])["id"][:8]
    (home / "seed.wav").unlink()
    sweep.inputs = snapshot(sweep.fixtures), snapshot(sweep.hostile)


def fresh_copy(seed: Path, dest: Path) -> Path:
    shutil.copytree(seed, dest, symlinks=True)
    return dest


def special_home(dest: Path, kind: str) -> Path:
    """A home whose journal and config are named pipes ("fifo") or links to /dev/zero."""
    (dest / "data").mkdir(parents=True)
    (dest / "config").mkdir()
    for path in (dest / "data" / "journal.sqlite3", dest / "config" / "config.toml"):
        if kind == "fifo":
            os.mkfifo(path)
        else:
            os.symlink("/dev/zero", path)
    return dest


def make_read_only(home: Path) -> None:
    for folder, dirs, files in os.walk(home):
        for name in files:
            os.chmod(Path(folder) / name, 0o400)
        os.chmod(folder, 0o500)


def make_writable(home: Path) -> None:
    for folder, dirs, files in os.walk(home):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(Path(folder) / name, 0o600)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    assert CAPTURE_CONF.is_file(), f"the ALSA capture configuration is missing: {CAPTURE_CONF}"
    assert shutil.which("unshare") or not AS_ROOT, "unshare (util-linux) is needed as root"
    return Sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def workers():
    pool = Workers(3)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def seed(sweep, workers):
    home = sweep.base / "seed"
    seed_home(sweep, workers, home)
    return home


@pytest.fixture(scope="module")
def read_only_homes(sweep, seed):
    homes = {
        "read-only": fresh_copy(seed, sweep.base / "ro-lived-in"),
        "read-only-empty": sweep.base / "ro-empty",
        "folder": sweep.base / "ro-folder",  # a read-only place outside any home
    }
    homes["read-only-empty"].mkdir()
    homes["folder"].mkdir()
    if not AS_ROOT:
        for home in homes.values():
            make_read_only(home)
    pool = Workers(3, read_only=list(homes.values()))
    for home in homes.values():  # the set-up is real, or the test fails (never skips)
        probe = pool.ask({"probe_write": str(home)})
        assert not probe["writable"], f"{home} is still writable: the read-only set-up failed"
    yield homes, pool
    pool.close()
    if not AS_ROOT:
        for home in homes.values():
            make_writable(home)


_results: dict[str, dict[str, dict]] = {}


def condition_results(condition, sweep, workers, seed, read_only_homes) -> dict[str, dict]:
    """Every invocation under ``condition``, run concurrently once per module."""
    if condition in _results:
        return _results[condition]
    from concurrent.futures import ThreadPoolExecutor

    def one(index_label_argv):
        index, (label, argv) = index_label_argv
        pool = workers
        stdout = "file"
        home = sweep.base / condition / f"{index:03d}"
        if condition in ("read-only", "read-only-empty"):
            homes, pool = read_only_homes
            home = homes[condition]
        elif condition in ("fifo", "dev-zero"):
            special_home(home, "fifo" if condition == "fifo" else "zero")
        else:
            fresh_copy(seed, home)
            stdout = {"stdout-full": "full", "stdout-closed": "closed-pipe",
                      "no-stdout": "closed"}.get(condition, "file")
        return label, sweep.run(pool, argv, home, stdout=stdout)

    with ThreadPoolExecutor(3) as pool:
        _results[condition] = dict(pool.map(one, enumerate(INVOCATIONS)))
    return _results[condition]


CONDITIONS = ["baseline", "read-only", "read-only-empty", "fifo", "dev-zero", "stdout-full",
              "stdout-closed", "no-stdout"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("label", [label for label, _ in INVOCATIONS])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_sweep(condition, label, sweep, workers, seed, read_only_homes):
    result = condition_results(condition, sweep, workers, seed, read_only_homes)[label]
    found = problems(result, quiet_ok=condition == "stdout-closed")
    if condition == "baseline" and result["rc"] != 0 and not found and not is_help_page(result["stderr"]):
        found.append(f"exit code {result['rc']} in a healthy home: the sweep's arguments for it are "
                     "wrong (give it real ones in ARGS, tests/test_sweep.py)")
    assert not found, describe(result, found)


# --- hostile arguments ----------------------------------------------------------------------

HUGE = ["9" * 400, "1" + "0" * 5000, "1e308", "1e309", "-1e309", "inf", "-inf", "nan", "-0",
        "1e-400", str(2**63), str(-(2**63) - 1), "0x10", "1_000"]
NEGATIVE = ["-1", "-0.5", "-99999999", "-1e308"]
DATES = ["0001-01-01", "9999-12-31", "0001-01-01 00:00", "9999-12-31 23:59",
         "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "99999999d", "99999999w",
         "-1d", "0000-00-00", "2026-02-30", "24:61", "00:00"]
LONG = ["x" * 100_000, "a/" * 3000, "€" * 20_000]
CONTROL = st.lists(
    st.characters(min_codepoint=1, max_codepoint=0x1F)
    | st.sampled_from(["\x7f", "\x1b[31m", "\x1b]0;title\x07", "\u202e", "\u2028", "\udcff", "é", "a"]),
    min_size=1, max_size=24,
).map("".join)


def hostile_paths(sweep: Sweep, home: str, *, output: bool) -> list[str]:
    h = sweep.hostile
    paths = ["/dev/zero", "/dev/full", str(h / "folder"), str(h / "zero"), "/nonexistent/x",
             "", "-", "/", "/proc/self/mem"]
    if output:
        # A pipe waits for its reader, as with any tool (`echo > fifo`): outputs get devices,
        # folders, missing places and new files in HAVEN_HOME, never a reader-less pipe.
        return paths + [f"{home}/out.wav", f"{home}/out.csv", f"{home}/missing/out.json",
                        "/dev/null", "/dev/stdout"]
    return paths + [str(h / "fifo"), str(h / "empty.yaml"), str(h / "binary.yaml")]


def value_strategy(param: click.Parameter, sweep: Sweep, home: str):
    kind = param.type
    numbers = st.sampled_from(HUGE + NEGATIVE + ["0", "1", "1.5"])
    words = st.one_of(CONTROL, st.sampled_from(DATES + LONG))
    output = param.name == "output"
    paths = st.sampled_from(hostile_paths(sweep, home, output=output))
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return st.one_of(numbers, words)
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in kind.choices]), words, numbers)
    if output:
        return paths
    return st.one_of(paths, words, numbers)


def hostile_argv(draw, name: str, command: click.Command, sweep: Sweep, home: str) -> list[str]:
    argv = name.split()
    arguments = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if isinstance(param, click.Argument):
            count = 1 if param.nargs in (1, -1) else param.nargs
            if param.nargs == -1:
                count = draw(st.integers(1, 2))
            if not param.required and not draw(st.booleans()):
                continue
            arguments += [draw(value_strategy(param, sweep, home)) for _ in range(count)]
            continue
        if not param.required and not draw(st.booleans()):
            continue
        if isinstance(param, click.Option) and (param.is_flag or param.count):
            argv.append(param.opts[0])
            continue
        argv += [param.opts[-1], draw(value_strategy(param, sweep, home))]
    # "--" keeps arguments that start with "-" arguments, as a careful user would write it
    argv += ["--", *arguments] if any(a.startswith("-") for a in arguments) else arguments
    if is_playing(command):
        argv[len(name.split()):len(name.split())] = STOP
    return argv


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", [name for name in COMMANDS if name])
def test_hostile_arguments(name, sweep, workers, seed):
    command = COMMANDS[name]
    counter = iter(range(10_000))
    many_files = any(isinstance(p, click.Argument) and p.nargs == -1 for p in command.params)

    # No shrinking: each run is a process, and the failing arguments are reported as they are.
    @settings(max_examples=8, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        home = sweep.base / "hostile-homes" / f"{name.replace(' ', '-')}-{next(counter)}"
        argv = hostile_argv(data.draw, name, command, sweep, str(home))
        fresh_copy(seed, home)
        result = sweep.run(workers, argv, home)
        found = problems(result, lines_ok=2 if many_files else 1)  # at most 2 files are given
        assert not found, describe(result, found)

    check()


# --- regression tests: outputs that cannot be written ---------------------------------------

FULL = ("Error: cannot write to standard output: no space left on the device "
        "(free some space and try again)\n")
REPORTS = [["list"], ["stats"], ["log"], ["streak"], ["calendar"], ["--help"], ["--version"],
           ["schema"], ["export"], ["program", "list"], ["config", "list"], ["show", "{tiny}"]]


@pytest.mark.parametrize("argv", REPORTS, ids=" ".join)
def test_a_report_to_a_full_device_is_one_line(argv, sweep, workers, seed, tmp_path):
    """`haven list > /dev/full`: exit 1 and one line, not a traceback or shutdown noise."""
    result = sweep.run(workers, argv, fresh_copy(seed, tmp_path / "home"), stdout="full")
    assert (result["rc"], result["stderr"]) == (1, FULL)


@pytest.mark.parametrize("argv", REPORTS, ids=" ".join)
def test_a_closed_pipe_ends_quietly(argv, sweep, workers, seed, tmp_path):
    """`haven list | head -0`: the reader went away; exit 1 without a word, like other tools."""
    result = sweep.run(workers, argv, fresh_copy(seed, tmp_path / "home"), stdout="closed-pipe")
    assert (result["rc"], result["stderr"]) == (1, "")


def test_the_traceback_option_still_shows_the_traceback(sweep, workers, seed, tmp_path):
    result = sweep.run(workers, ["--traceback", "list"], fresh_copy(seed, tmp_path / "home"),
                       stdout="full")
    assert result["rc"] == 1
    assert result["stderr"].startswith("Traceback (most recent call last):")
    assert result["stderr"].splitlines()[-1].startswith("OSError: [Errno 28]")


def _denied(path, *, home: bool) -> str:
    """The line for writing ``path`` in a read-only place: root meets a read-only mount,
    anyone else the permissions."""
    if AS_ROOT:
        why = "the file system is read-only"
        fix = "make it writable, or set HAVEN_HOME to a writable folder" if home else "choose a writable place"
    else:
        why = "permission denied"
        fix = "make it writable, or set HAVEN_HOME to a writable folder" if home else "check the permissions of the file and its folder"
    return f"Error: cannot write {path}: {why} ({fix})\n"


def test_schema_into_a_read_only_folder(sweep, read_only_homes):
    homes, pool = read_only_homes
    out = homes["folder"] / "schema.json"
    result = sweep.run(pool, ["schema", "-o", str(out)], homes["read-only"])
    assert (result["rc"], result["stdout"], result["stderr"]) == (1, "", _denied(out, home=False))


def test_settings_in_a_read_only_home_name_the_file_not_a_temporary_one(sweep, read_only_homes):
    homes, pool = read_only_homes
    home = homes["read-only"]
    result = sweep.run(pool, ["config", "set", "voice.rate", "0.8"], home)
    assert (result["rc"], result["stderr"]) == (1, _denied(home / "config" / "config.toml", home=True))


def test_render_into_a_read_only_folder(sweep, read_only_homes):
    homes, pool = read_only_homes
    out = homes["folder"] / "tiny.wav"
    result = sweep.run(pool, ["render", "{tiny}", "-o", str(out)], homes["read-only"])
    assert (result["rc"], result["stdout"], result["stderr"]) == (1, "", _denied(out, home=False))


@pytest.mark.parametrize("argv, message", [
    (["schema", "-o", "/nonexistent/x"],
     "Error: cannot write /nonexistent/x: the folder /nonexistent does not exist (create it first)\n"),
    (["schema", "-o", ""],
     "Error: cannot write to an empty file name: name a file, or - for standard output\n"),
    (["schema", "-o", "{folder}"], "Error: cannot write {folder}: it is a folder, not a file\n"),
    (["render", "{tiny}", "-o", "/nonexistent/x.wav"],
     "Error: cannot write /nonexistent/x.wav: the folder /nonexistent does not exist (create it first)\n"),
    (["render", "{tiny}", "-o", "{folder}"], "Error: cannot write {folder}: it is a folder, not a file\n"),
    (["render", "{tiny}", "-o", "/dev/full"],
     "Error: cannot write '/dev/full': name a file ending in one of .wav, .flac, .ogg, .mp3, "
     "or give the format with --format wav, flac, ogg, mp3\n"),
    (["render", "{tiny}", "-o", "-"],
     "Error: to write audio to standard output, give its format: --format wav, flac, ogg, mp3\n"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_outputs_that_cannot_be_written_exit_2_before_any_work(argv, message, sweep, workers, seed, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    result = sweep.run(workers, argv, fresh_copy(seed, tmp_path / "home"))
    assert (result["rc"], result["stdout"], result["stderr"]) == (2, "", message.replace("{folder}", str(folder)))


def test_render_to_a_full_device(sweep, workers, seed, tmp_path):
    result = sweep.run(workers, ["render", "{tiny}", "-o", "/dev/full", "--format", "wav"],
                       fresh_copy(seed, tmp_path / "home"))
    assert (result["rc"], result["stderr"]) == (
        1, "Error: cannot write /dev/full: no space left on the device (free some space and try again)\n")


@pytest.fixture(scope="module")
def small_disk(sweep):
    folder = sweep.base / "small-disk"
    folder.mkdir()
    pool = Workers(1, small_fs=folder)
    yield folder, pool
    pool.close()


def test_render_onto_a_full_disk_names_the_file_and_leaves_nothing(sweep, seed, small_disk, tmp_path):
    folder, pool = small_disk
    out = folder / "tiny.wav"
    result = sweep.run(pool, ["render", "{tiny}", "-o", str(out)], fresh_copy(seed, tmp_path / "home"))
    assert (result["rc"], result["stderr"]) == (
        1, f"Error: cannot write {out}: no space left on the device (free some space and try again)\n")
    assert pool.ask({"list_dir": str(folder)}) == {"names": []}  # no temporary file left


@pytest.fixture(scope="module")
def rendered(sweep, workers, seed, tmp_path_factory):
    """The tiny script rendered to a regular file: what every other output must receive."""
    out = tmp_path_factory.mktemp("rendered") / "tiny.wav"
    result = sweep.run(workers, ["render", "{tiny}", "-o", str(out)], fresh_copy(seed, out.parent / "home"))
    assert result["rc"] == 0, result["stderr"]
    return out.read_bytes()


def test_render_to_standard_output_streams_the_same_file(sweep, workers, seed, rendered, tmp_path):
    result = sweep.run(workers, ["render", "{tiny}", "-o", "-", "--format", "wav"],
                       fresh_copy(seed, tmp_path / "home"))
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout_bytes"] == rendered  # header finished, sections included
    assert result["stderr"].startswith("Wrote standard output (")


def test_render_to_a_device_writes_through_it(sweep, workers, seed, rendered, tmp_path):
    """`-o /dev/stdout` is written through: the link and the device stay what they are."""
    result = sweep.run(workers, ["render", "{tiny}", "-o", "/dev/stdout", "--format", "wav"],
                       fresh_copy(seed, tmp_path / "home"))
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout_bytes"] == rendered
    assert os.path.islink("/dev/stdout")


def test_render_to_a_named_pipe_writes_through_it(sweep, workers, seed, rendered, tmp_path):
    fifo = tmp_path / "listener.wav"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = sweep.run(workers, ["render", "{tiny}", "-o", str(fifo)], fresh_copy(seed, tmp_path / "home"))
    reader.join(30)
    assert result["rc"] == 0, result["stderr"]
    assert received == [rendered]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_render_through_a_link_replaces_its_target_and_keeps_the_link(sweep, workers, seed, rendered, tmp_path):
    target = tmp_path / "real.wav"
    target.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(target)
    result = sweep.run(workers, ["render", "{tiny}", "-o", str(link)], fresh_copy(seed, tmp_path / "home"))
    assert result["rc"] == 0, result["stderr"]
    assert link.is_symlink() and target.read_bytes() == rendered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "link.wav", "real.wav"]


def test_schema_to_standard_output_and_devices(sweep, workers, seed, tmp_path):
    home = fresh_copy(seed, tmp_path / "home")
    printed = sweep.run(workers, ["schema"], home)
    assert printed["rc"] == 0 and json.loads(printed["stdout"])
    for target in ("-", "/dev/stdout"):
        result = sweep.run(workers, ["schema", "-o", target], home)
        assert (result["rc"], result["stdout"], result["stderr"]) == (0, printed["stdout"], "")
    assert os.path.islink("/dev/stdout")


def test_the_files_every_run_was_given_are_untouched(sweep, seed):
    """Last: the scripts, export file, named pipe, folder and links the commands were given
    (read, never written) are exactly as they were made."""
    assert (snapshot(sweep.fixtures), snapshot(sweep.hostile)) == sweep.inputs


@pytest.mark.parametrize("argv", [["list"], ["export"], ["schema", "-o", "-"], ["calendar"],
                                  ["timer", "1", "--no-checkin", *STOP]], ids=" ".join)
def test_a_closed_standard_output_is_taken_as_dev_null(argv, sweep, workers, seed, tmp_path):
    """`haven timer 20 >&-` (as some launchers start programs): it works, says nothing, and
    nothing Haven opens next can take descriptor 1."""
    result = sweep.run(workers, argv, fresh_copy(seed, tmp_path / "home"), stdout="closed")
    assert result["rc"] == 0, result["stderr"]
    assert "Traceback" not in result["stderr"]
