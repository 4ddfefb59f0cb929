"""P4: cold synthesis of all the speech in the longest built-in script, against espeak-ng.

Measured: ``player.speech.synthesize`` over the script's distinct clips, with an empty cache
in a fresh HAVEN_HOME, timed in a fresh process around the call (worker start-up, espeak,
trimming, resampling, finishing and cache writes all included; the interpreter's start and
numpy's import, which a session has paid before it asks for speech, are not). Baseline: the ``espeak-ng`` command writing each sentence to a WAV file with the
same voice and speed, one process after the other, i.e. the engine alone on one core with
none of Haven's work. Haven has two workers, so it can beat that despite doing more per clip.

Also recorded: the CPU time of both (Haven's process and its workers; the ``espeak-ng``
processes), which a shared machine's load disturbs less than wall time (with two busy cores
Haven's two workers cannot run side by side); and (JSON only) one ``espeak-ng`` process
speaking the whole text, the engine's floor with no per-sentence start-up at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from bench.common import Context, Row, median, python_snippet, rounded, run_checked
from bench.scripts import sentences, shortest_and_longest

TARGET_RATIO = 1.0

_SYNTH = """
import json, time
import numpy  # loaded by any session before speech is asked for (the mixer needs it)
from player.library import catalog as library
from player import speech
from player.audio.timeline import Overrides, speech_requests
reqs = list(dict.fromkeys(speech_requests(library.load({script!r}), Overrides())))
# espeak-ng, whatever the default voice is here: the baseline is espeak-ng itself.
clip_reqs = [speech.ClipRequest(text=r.text, engine=r.engine or "pyttsx3", voice=r.voice,
                                rate=r.rate, volume=r.volume) for r in reqs]
import os
t0, c0 = time.perf_counter(), os.times()
clips = speech.synthesize(clip_reqs, sample_rate=48000)
elapsed, c1 = time.perf_counter() - t0, os.times()
cpu = sum(b - a for a, b in zip(c0[:4], c1[:4]))  # this process and its workers (reaped)
print(json.dumps({{"seconds": elapsed, "cpu_s": cpu, "clips": len(clips),
                  "audio_s": sum(len(c.samples) for c in clips) / 48000}}))
"""


def espeak_argv(sentence: dict, out: str) -> list[str]:
    argv = ["espeak-ng", "-s", str(sentence["wpm"]), "-a", "100", "-w", out]
    if sentence["voice"]:
        argv += ["-v", sentence["voice"]]
    return argv + ["--", sentence["text"]]


def espeak_per_sentence(items: list[dict], out: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the espeak-ng processes)."""
    import resource

    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for item in items:
        subprocess.run(espeak_argv(item, out), check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t0, cpu


def espeak_one_process(items: list[dict], out: str) -> float:
    wpm = items[0]["wpm"] if items else 150
    text = "\n\n".join(i["text"] for i in items)
    t0 = time.perf_counter()
    subprocess.run(
        ["espeak-ng", "-s", str(wpm), "-a", "100", "-w", out, "--stdin"],
        input=text.encode("utf-8"),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def run(ctx: Context) -> list[Row]:
    if not shutil.which("espeak-ng"):
        return [Row("P4", "cold synthesis of the longest script", "-", "-", "-", None,
                    note="espeak-ng command missing (apt-get install espeak-ng)")]
    _, longest = shortest_and_longest(ctx)
    items = sentences(ctx, longest["id"])
    if any(i["engine"] not in (None, "pyttsx3") for i in items):
        return [Row("P4", "cold synthesis", "-", "-", "-", None,
                    note=f"{longest['id']} uses another engine than espeak")]
    out = str(ctx.workdir / "espeak.wav")
    haven, per_sentence, whole = [], [], []
    haven_cpu, espeak_cpu = [], []
    clips = audio_s = 0
    runs = ctx.runs(5, 2)
    for i in range(runs + 1):  # the first round warms the disk cache and is not counted
        per, per_cpu = espeak_per_sentence(items, out)
        one = espeak_one_process(items, out)
        result = json.loads(
            run_checked(
                python_snippet(_SYNTH.format(script=longest["id"])),
                ctx.env(ctx.fresh_home()),
            ).strip().splitlines()[-1]
        )
        if i:
            per_sentence.append(per)
            whole.append(one)
            haven.append(result["seconds"])
            haven_cpu.append(result["cpu_s"])
            espeak_cpu.append(per_cpu)
        clips, audio_s = result["clips"], result["audio_s"]
    fig, base = median(haven), median(per_sentence)
    ratio = fig / base
    return [
        Row(
            id="P4",
            what=f"cold synthesis of `{longest['id']}` ({clips} clips, {audio_s:.0f} s of speech)",
            figure=f"{fig:.2f} s",
            baseline=f"{base:.2f} s (`espeak-ng -w`, sentence by sentence)",
            ratio=f"{ratio:.2f}x (target <= {TARGET_RATIO:.1f}x); CPU "
                  f"{median(haven_cpu):.2f} s vs {median(espeak_cpu):.2f} s",
            met=ratio <= TARGET_RATIO,
            data={
                "script": longest["id"],
                "clips": clips,
                "speech_s": round(audio_s, 1),
                "median_s": round(fig, 3),
                "samples_s": rounded(haven, 3),
                "baseline_median_s": round(base, 3),
                "baseline_samples_s": rounded(per_sentence, 3),
                "ratio": round(ratio, 3),
                "cpu_median_s": round(median(haven_cpu), 3),
                "cpu_samples_s": rounded(haven_cpu, 3),
                "baseline_cpu_median_s": round(median(espeak_cpu), 3),
                "baseline_cpu_samples_s": rounded(espeak_cpu, 3),
                "espeak_one_process_median_s": round(median(whole), 3),
                "ratio_vs_one_process": round(fig / median(whole), 3),
                "target_ratio": TARGET_RATIO,
                "runs": runs,
            },
        )
    ]
