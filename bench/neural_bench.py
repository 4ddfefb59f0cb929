"""The neural voice (Piper) on this machine: real-time factor and cold time to first audio.

- **Cold time to first audio**: a new worker process for the piper engine, asked for one short
  sentence at once: process start + imports + model load + synthesis + clip finishing, until
  the finished clip is back in the main process (the wait before a session with a cold cache
  can start speaking). Median of ``--cold`` runs, each a fresh worker; target < 1.5 s.
- **Real-time factor** (seconds of computing per second of speech, lower is faster), warm
  worker, sentences from a built-in script one at a time, as playback asks for them:
  ``engine`` is Piper alone (in this process, model already loaded), ``clip`` is the whole
  per-clip work in the worker (synthesis + trim, resample to 48 kHz, finishing) with the
  round trip. Median over the sentences.

No cache is involved (workers are driven directly). Load from other processes shows up in
the figures: the load average is reported with them.

    python bench/neural_bench.py [--cold 5] [--sentences 12] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_COLD_S = 1.5
SESSION_RATE = 48000
FIRST_SENTENCE = "Let yourself settle."
SCRIPT = "body-scan"


def sentences(count: int) -> list[str]:
    """Distinct sentences of a built-in script, in order (what a session speaks first)."""
    from player.library import catalog as library
    from player.audio.timeline import Overrides, speech_requests

    script = library.load(SCRIPT)
    seen: dict[str, None] = {}
    for request in speech_requests(script, Overrides()):
        if len(request.text) > 3:
            seen.setdefault(request.text, None)
    return list(seen)[:count]


def cold_first_clip() -> dict:
    """One fresh worker, one sentence: seconds until the finished clip is back."""
    from player.speech.workers import Task, WorkerPool

    got: list = []
    started = time.perf_counter()
    with WorkerPool("piper", jobs=1, timeout_s=60.0) as pool:
        pool.run({"first": Task(FIRST_SENTENCE, None, 1.0, 1.0, SESSION_RATE)},
                 lambda key, result: got.append((time.perf_counter(), result)))
        ready_s = pool.startup_times[0]
    done, result = got[0]
    return {
        "first_audio_s": done - started,
        "worker_ready_s": ready_s,  # process start + imports (no model yet)
        "first_clip_s": result.seconds,  # model load + synthesis + finishing, in the worker
        "audio_s": result.samples.size / SESSION_RATE,
    }


def warm_clip_rtf(texts: list[str]) -> list[dict]:
    """Per-sentence figures from one warm worker (the model loaded by a first clip)."""
    from player.speech.workers import Task, WorkerPool

    rows = []
    with WorkerPool("piper", jobs=1, timeout_s=60.0) as pool:
        pool.run({"warm": Task(FIRST_SENTENCE, None, 1.0, 1.0, SESSION_RATE)}, lambda k, r: None)
        for i, text in enumerate(texts):
            got: list = []
            t0 = time.perf_counter()
            pool.run({i: Task(text, None, 1.0, 1.0, SESSION_RATE)}, lambda k, r: got.append(r))
            wall = time.perf_counter() - t0
            audio = got[0].samples.size / SESSION_RATE
            rows.append({"chars": len(text), "audio_s": audio, "wall_s": wall,
                         "worker_s": got[0].seconds, "rtf": wall / audio})
    return rows


def engine_rtf(texts: list[str]) -> dict:
    """Piper alone, in this process: model load time and per-sentence real-time factor."""
    from player.speech.piper_engine import OUTPUT_RATE, PiperEngine

    engine = PiperEngine()
    t0 = time.perf_counter()
    engine.synthesize(FIRST_SENTENCE, None, 1.0, 1.0)  # loads the model
    first = time.perf_counter() - t0
    rtfs = []
    for text in texts:
        t0 = time.perf_counter()
        audio = engine.synthesize(text, None, 1.0, 1.0)
        rtfs.append((time.perf_counter() - t0) / (audio.size / OUTPUT_RATE))
    engine.close()
    return {"load_and_first_s": first, "rtf": rtfs}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold starts to time (median)")
    parser.add_argument("--sentences", type=int, default=12, help="sentences for the RTF")
    parser.add_argument("--json-out", type=Path, help="also write the JSON figures to this file")
    args = parser.parse_args(argv)

    os.environ["HAVEN_HOME"] = tempfile.mkdtemp(prefix="haven-neural-bench-")
    from player.speech.engines import load_engine_class

    try:
        cls = load_engine_class("piper")
    except ImportError as exc:
        print(f"neural engine not installed: {exc}", file=sys.stderr)
        return {}
    load_before = os.getloadavg()[0]
    texts = sentences(args.sentences)
    cold = [cold_first_clip() for _ in range(args.cold)]
    warm = warm_clip_rtf(texts)
    alone = engine_rtf(texts)
    load_after = os.getloadavg()[0]

    def med(rows, key):
        return statistics.median(row[key] for row in rows)

    results = {
        "engine": cls.version(),
        "cpus": os.cpu_count(),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cold_first_audio_s": round(med(cold, "first_audio_s"), 3),
        "cold_first_audio_runs_s": [round(r["first_audio_s"], 3) for r in cold],
        "cold_worker_ready_s": round(med(cold, "worker_ready_s"), 3),
        "cold_first_clip_in_worker_s": round(med(cold, "first_clip_s"), 3),
        "cold_target_s": TARGET_COLD_S,
        "cold_met": med(cold, "first_audio_s") < TARGET_COLD_S,
        "engine_rtf_median": round(statistics.median(alone["rtf"]), 4),
        "engine_load_and_first_s": round(alone["load_and_first_s"], 3),
        "clip_rtf_median": round(med(warm, "rtf"), 4),
        "clip_wall_s_median": round(med(warm, "wall_s"), 3),
        "sentence_audio_s_median": round(med(warm, "audio_s"), 3),
        "sentences": len(texts),
    }
    print("| engine | cold first audio (median) | target | met | RTF Piper alone | RTF per clip "
          "(worker, finished) | per sentence | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| piper joe | {results['cold_first_audio_s']:.2f} s (ready "
        f"{results['cold_worker_ready_s']:.2f} s + first clip "
        f"{results['cold_first_clip_in_worker_s']:.2f} s) | < {TARGET_COLD_S} s | "
        f"{'yes' if results['cold_met'] else 'no'} | {results['engine_rtf_median']:.3f} | "
        f"{results['clip_rtf_median']:.3f} | {results['clip_wall_s_median']:.2f} s for "
        f"{results['sentence_audio_s_median']:.1f} s of speech | "
        f"{load_before:.1f} / {load_after:.1f} |"
    )
    print()
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
