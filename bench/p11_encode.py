"""P11: rendering to an encoded format (MP3, Ogg Vorbis, FLAC) against WAV, same session.

Each figure is the whole ``haven render body-scan --minutes 10 -q -o FILE.EXT`` command with
the speech already cached: what a user waits for. The four formats run round-robin, so a
burst of outside load on this shared machine falls on all of them alike, and each run is
timed twice: wall time, and CPU time (user + system of the command, from ``wait4``), which
other processes on the machine disturb much less. The files go to an ordinary temporary
folder, where a user's renders go.

The target (issue 12): every format within 2x of WAV's time. WAV writes the float samples as
they are, so the WAV command is start-up, loading the cached clips, mixing and limiting; the
difference is the encoder's.

`body-scan` is the target's session (the issue's own table): no stereo bed, so its MP3 and Ogg
files have one channel. A second, informational set of rows renders `bedtime-body-scan` (a
stereo brown-noise bed: two-channel MP3 and Ogg; 10 minutes of guidance plus its 10-minute
tail, so 20 minutes of audio), where only the encoders' own speed helps.
"""

from __future__ import annotations

import os
import subprocess
import time

from bench.common import ROOT, Context, Row, haven_argv, median, rounded, run_checked

TARGET_RATIO = 2.0
SCRIPT = "body-scan"
MINUTES = 10
FORMATS = ("wav", "mp3", "ogg", "flac")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``argv``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime


STEREO_SCRIPT = "bedtime-body-scan"


def run(ctx: Context) -> list[Row]:
    rows = _rows(ctx, SCRIPT, target=True)
    rows += _rows(ctx, STEREO_SCRIPT, target=False)
    return rows


def _rows(ctx: Context, script: str, *, target: bool) -> list[Row]:
    env = ctx.env(ctx.home("warm"))
    folder = ctx.workdir / "p11"
    folder.mkdir(exist_ok=True)
    argv = {
        ext: haven_argv() + ["render", script, "--minutes", str(MINUTES), "-q",
                             "-o", str(folder / f"p11-{script}.{ext}")]  # fmt: skip
        for ext in FORMATS
    }
    run_checked(argv["wav"], env)  # synthesizes the speech once: the cache is warm from here on
    runs = ctx.runs(5, 2)
    wall: dict[str, list[float]] = {ext: [] for ext in FORMATS}
    cpu: dict[str, list[float]] = {ext: [] for ext in FORMATS}
    for i in range(runs + 1):  # the first round warms the disk cache and is not counted
        for ext in FORMATS:
            w, c = timed(argv[ext], env)
            if i:
                wall[ext].append(w)
                cpu[ext].append(c)
    import soundfile as sf

    sizes = {ext: (folder / f"p11-{script}.{ext}").stat().st_size for ext in FORMATS}
    infos = {ext: sf.info(str(folder / f"p11-{script}.{ext}")) for ext in FORMATS}
    seconds = infos["wav"].duration
    base_wall, base_cpu = median(wall["wav"]), median(cpu["wav"])
    rows = []
    for ext in FORMATS[1:]:
        w, c = median(wall[ext]), median(cpu[ext])
        ratio, cpu_ratio = w / base_wall, c / base_cpu
        channels = "mono" if infos[ext].channels == 1 else "stereo"
        goal = f"target <= {TARGET_RATIO:.1f}x" if target else "informational"
        rows.append(
            Row(
                id="P11",
                what=f"`haven render {script} --minutes {MINUTES}` to {ext.upper()} "
                     f"({seconds / 60:.0f} min, {channels}), whole command, warm cache",  # fmt: skip
                figure=f"{w:.2f} s ({c:.2f} s CPU)",
                baseline=f"WAV {base_wall:.2f} s ({base_cpu:.2f} s CPU)",
                ratio=f"{ratio:.2f}x, CPU {cpu_ratio:.2f}x ({goal})",
                met=ratio <= TARGET_RATIO if target else None,
                data={
                    "script": script,
                    "minutes": MINUTES,
                    "audio_s": round(seconds, 3),
                    "channels": infos[ext].channels,
                    "format": ext,
                    "median_s": round(w, 3),
                    "samples_s": rounded(wall[ext], 3),
                    "cpu_median_s": round(c, 3),
                    "cpu_samples_s": rounded(cpu[ext], 3),
                    "wav_median_s": round(base_wall, 3),
                    "wav_samples_s": rounded(wall["wav"], 3),
                    "wav_cpu_median_s": round(base_cpu, 3),
                    "wav_cpu_samples_s": rounded(cpu["wav"], 3),
                    "ratio": round(ratio, 3),
                    "cpu_ratio": round(cpu_ratio, 3),
                    "bytes": sizes[ext],
                    "kbps": round(sizes[ext] * 8 / seconds / 1000, 1),
                    "target_ratio": TARGET_RATIO if target else None,
                    "runs": runs,
                },
            )
        )
    return rows
