"""N1: the neural voice (Piper), folded in from ``bench/neural_bench.py``.

Not one of the issue's P-targets, but the same question as P3 and P4 for the optional
neural engine: its real-time factor (seconds of computing per second of speech; the
baseline is real time itself, 1.0) and its cold time to a first finished clip. Runs the
neural-voice engineer's script as it is, in its own process, and reads its JSON. Shown as
"not measured" where Piper is not installed (it is an optional extra).
"""

from __future__ import annotations

import json

from bench.common import ROOT, Context, Row, python_snippet, run_checked

SCRIPT = ROOT / "bench" / "neural_bench.py"


def run(ctx: Context) -> list[Row]:
    what = "neural voice (Piper): real-time factor per finished clip; cold first clip"
    if not SCRIPT.is_file():
        return [Row("N1", what, "-", "-", "-", None, note="bench/neural_bench.py not present")]
    out = ctx.workdir / "neural.json"
    args = ["--cold", "2", "--sentences", "4"] if ctx.quick else ["--cold", "5", "--sentences", "12"]
    run_checked(
        python_snippet(
            "import sys; sys.argv[0] = 'neural_bench'; "
            "from bench.neural_bench import main; "
            f"main({args + ['--json-out', str(out)]!r})"
        ),
        ctx.env(ctx.fresh_home()),
        timeout=900,
    )
    if not out.is_file():
        return [Row("N1", what, "-", "-", "-", None, note="Piper (the neural extra) is not installed")]
    data = json.loads(out.read_text(encoding="utf-8"))
    rtf = data["clip_rtf_median"]
    cold = data["cold_first_audio_s"]
    target = data.get("cold_target_s", 1.5)
    return [
        Row(
            id="N1",
            what=what,
            figure=f"RTF {rtf:.3f}; cold first clip {cold:.2f} s",
            baseline="real time (RTF 1.0)",
            ratio=f"{1 / rtf:.0f}x faster than real time; cold target < {target} s",
            met=bool(data.get("cold_met")) and rtf < 1.0,
            data=data,
        )
    ]
