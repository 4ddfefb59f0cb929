"""Run the benchmarks, print one markdown table, write the figures as JSON.

    python -m bench [--only P1,P5] [--quick] [--json FILE]

``--quick`` runs fewer repetitions and a 1-minute P7, for a smoke test; its figures are
noisier. The JSON (``bench/results/latest.json`` by default, a git-ignored folder) holds the
table's rows with every sample behind them and a description of the machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from bench.common import RESULTS, Context, Row, machine, workdir, yes_no

# id -> module; a module's run(ctx) returns its rows. In table order.
BENCHMARKS = {
    "P1": "bench.p1_startup",
    "P2": "bench.p2_p3_first_audio",
    "P3": "bench.p2_p3_first_audio",
    "P4": "bench.p4_synthesis",
    "P5": "bench.p5_render",
    "P6": "bench.p6_memory",
    "P7": "bench.p7_underflow",
    "P8": "bench.p8_journal",
    "P9": "bench.p9_cpu",  # issue 12: CPU while playing, against a file player
    "P10": "bench.p10_memory",  # issue 12: peak memory of `haven play`
    "P11": "bench.p11_encode",  # issue 12: encoded formats against WAV
    "R1": "bench.r1_report",  # issue 18: `haven report` on 10 years of practice
    "A1": "bench.a1_apple_health",  # issue 15: a 1 GB Apple Health export in bounded memory
    "N1": "bench.n1_neural",  # the optional neural voice; not one of the targets
}


def table(rows: list[Row]) -> str:
    lines = [
        "| id | what | figure | baseline (same run) | ratio / target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = yes_no(r.met)
        if r.note:
            met += f" ({r.note})"
        lines.append(f"| {r.id} | {r.what} | {r.figure} | {r.baseline} | {r.ratio} | {met} |")
    return "\n".join(lines)


def _version_number(text: str | None) -> str:
    """'eSpeak NG text-to-speech: 1.51  Data at: ...' -> '1.51'."""
    import re

    found = re.search(r"\d+\.\d+[\w.-]*", text or "")
    return found.group(0) if found else "?"


def machine_line(info: dict, quick: bool) -> str:
    return (
        f"Machine: {info['cpu']}, {info['cores']} cores, {info.get('memory_gib')} GiB, "
        f"{info['os']}, Python {info['python']}, numpy {info['numpy']}, "
        f"espeak-ng {_version_number(info.get('espeak_ng'))}; "
        f"{info['date']}; load average at start {info['load_average'][0]:.2f}, at end "
        f"{info.get('load_average_end', info['load_average'])[0]:.2f}"
        + (" (quick run: fewer repetitions)" if quick else "")
    )


def parse_only(value: str | None) -> list[str]:
    if not value:
        return list(BENCHMARKS)
    wanted = [v.strip().upper() for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return [b for b in BENCHMARKS if b in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="IDS", help="comma-separated ids, e.g. P1,P5")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json",
                        help="where to write the JSON (default: bench/results/latest.json)")
    parser.add_argument("--table-from", type=Path, metavar="JSON",
                        help="print the table and machine line of an earlier run, run nothing")
    args = parser.parse_args(argv)
    if args.table_from:
        saved = json.loads(args.table_from.read_text(encoding="utf-8"))
        print(table([Row(**r) for r in saved["rows"]]))
        print()
        print(machine_line(saved["machine"], saved.get("quick", False)))
        return 0
    ids = parse_only(args.only)

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    started = time.time()
    info = machine()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    with workdir() as tmp:
        # The benchmark process itself never touches the user's real folders.
        os.environ["HAVEN_HOME"] = str(tmp / "home-main")
        ctx = Context(quick=args.quick, workdir=tmp, log=log)
        done_modules: set[str] = set()
        for bid in ids:
            module_name = BENCHMARKS[bid]
            if module_name in done_modules:
                continue  # one module measures several ids (P2 and P3)
            done_modules.add(module_name)
            log(f"{bid} ...")
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
                got = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
                traceback.print_exc()
                errors[bid] = f"{type(exc).__name__}: {exc}"
                got = [Row(bid, module_name, "-", "-", "-", None, note=f"failed: {exc}"[:200])]
            rows.extend(r for r in got if r.id in ids)
            log(f"{bid} done in {time.perf_counter() - t0:.1f} s")
        for folder in ctx.cleanup:
            shutil.rmtree(folder, ignore_errors=True)
    info["load_average_end"] = list(os.getloadavg())
    result = {
        "machine": info,
        "quick": args.quick,
        "only": ids,
        "seconds": round(time.time() - started, 1),
        "rows": [r.to_json() for r in rows],
        "errors": errors,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print()
    print(machine_line(info, args.quick))
    print(f"JSON: {args.json}")
    return 1 if errors else 0
