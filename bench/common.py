"""What every benchmark shares: a row of the results table, timing helpers, the machine.

Why these rules: the machine may be shared (other test runs load its two cores), so every
figure is the median of several runs and is paired with a baseline measured in the same run,
interleaved with the measured runs so that a burst of outside load hits both alike.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable


@dataclass
class Row:
    """One line of the table. ``met`` is True, False, or None (not measured)."""

    id: str
    what: str
    figure: str  # the measured figure, with its unit
    baseline: str  # what it is compared with, measured in the same run
    ratio: str  # the comparison and the target, e.g. "+21 ms (target <= +80 ms)"
    met: bool | None
    data: dict = field(default_factory=dict)  # the numbers behind the strings, for JSON
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Context:
    """Options and shared state for one ``python -m bench`` run."""

    quick: bool
    workdir: Path  # a temporary folder removed at the end
    log: Callable[[str], None]
    _homes: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)  # results one benchmark reuses from another
    cleanup: list = field(default_factory=list)  # folders outside workdir to remove at the end

    def runs(self, full: int, quick: int = 3) -> int:
        return quick if self.quick else full

    def home(self, name: str = "warm") -> Path:
        """A HAVEN_HOME under the work folder, shared by benchmarks that ask for the same name
        (so speech synthesized once stays cached for the next benchmark)."""
        if name not in self._homes:
            path = self.workdir / f"home-{name}"
            path.mkdir(parents=True, exist_ok=True)
            self._homes[name] = path
        return self._homes[name]

    def fresh_home(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="home-", dir=self.workdir))

    def env(self, home: Path | None = None, **extra: str) -> dict[str, str]:
        return bench_env(home if home is not None else self.home(), **extra)


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a measured process: its own HAVEN_HOME, this checkout importable,
    bytecode allowed (users run with compiled bytecode; pip writes it)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["HAVEN_HOME"] = str(home)
    # The P benchmarks' baselines are espeak-ng's: they measure the system voice, named here
    # because the default is the neural voice when it is installed (N1 measures that one).
    env.setdefault("HAVEN_VOICE_ENGINE", "pyttsx3")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def haven_argv() -> list[str]:
    """The installed ``haven`` console script beside this interpreter, or ``python -m player``."""
    script = Path(PYTHON).parent / "haven"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [PYTHON, "-m", "player"]


def run_checked(argv: Sequence[str], env: dict[str, str], *, timeout: float = 600) -> str:
    """Run a command to completion; its stdout, or SystemExit with its stderr."""
    proc = subprocess.run(
        list(argv), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} exited {proc.returncode}: {proc.stderr.strip()[-800:]}"
        )
    return proc.stdout


def wall_ms(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall time of one run of a command, in ms (output discarded, failure raised)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(argv), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = (time.perf_counter() - t0) * 1000.0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} exited {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()[-800:]}"
        )
    return elapsed


def interleaved_ms(
    commands: dict[str, Sequence[str]], env: dict[str, str], runs: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times of several commands, run round-robin ``runs`` times after ``warmup`` rounds.

    Round-robin rather than one command after the other so that outside load, which comes in
    bursts on a shared machine, falls on the baseline and the measured commands alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name, argv in commands.items():
            ms = wall_ms(argv, env)
            if i >= warmup:
                samples[name].append(ms)
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def rounded(values: Sequence[float], digits: int = 1) -> list[float]:
    return [round(float(v), digits) for v in values]


def yes_no(ok: bool | None) -> str:
    return {True: "yes", False: "**NO**", None: "not measured"}[ok]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def _espeak_version() -> str | None:
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine() -> dict:
    """What the figures were measured on (figures only compare within one machine)."""
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (OSError, ValueError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "soundfile": _version("soundfile"),
        "soxr": _version("soxr"),
        "sounddevice": _version("sounddevice"),
        "espeak_ng": _espeak_version(),
        "load_average": list(os.getloadavg()),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="haven-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def python_snippet(code: str) -> list[str]:
    """argv that runs ``code`` in a fresh interpreter (the venv's, like ``haven``)."""
    return [PYTHON, "-c", code]
