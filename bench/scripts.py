"""Which built-in scripts the benchmarks use, chosen at run time from the library.

"Shortest" and "longest" are by the amount of speech (characters of spoken text): that is
what synthesis and a cold start scale with, and what "does not grow with script length" is
about. It is known without synthesizing anything, so choosing costs nothing.
"""

from __future__ import annotations

import json

from bench.common import Context, python_snippet, run_checked

_PICK = """
import json
from player.library import catalog as library
from player.audio.timeline import Overrides, speech_requests
rows = []
for info in library.list_scripts():
    if info.source != "built-in":
        continue
    script = library.load(info.id)
    reqs = speech_requests(script, Overrides())
    rows.append({"id": info.id, "clips": len(set(reqs)), "chars": sum(len(r.text) for r in reqs)})
print(json.dumps(rows))
"""


def speech_sizes(ctx: Context) -> list[dict]:
    """``[{"id", "clips", "chars"}]`` for every built-in script (cached on the context)."""
    if "sizes" not in ctx.shared:
        rows = json.loads(run_checked(python_snippet(_PICK), ctx.env(ctx.home("pick"))))
        ctx.shared["sizes"] = sorted(rows, key=lambda r: (r["chars"], r["id"]))
    return ctx.shared["sizes"]


def shortest_and_longest(ctx: Context) -> tuple[dict, dict]:
    sizes = speech_sizes(ctx)
    return sizes[0], sizes[-1]


def sentences(ctx: Context, script_id: str) -> list[dict]:
    """The distinct clips a script asks for: text, voice, espeak words per minute."""
    code = f"""
import json
from player.library import catalog as library
from player.audio.timeline import Overrides, speech_requests
from player.speech.pyttsx3_engine import words_per_minute
seen = {{}}
for r in speech_requests(library.load({script_id!r}), Overrides()):
    seen.setdefault(r, None)
print(json.dumps([{{"text": r.text, "voice": r.voice, "engine": r.engine, "rate": r.rate,
                   "volume": r.volume, "wpm": words_per_minute(r.rate)}} for r in seen]))
"""
    return json.loads(run_checked(python_snippet(code), ctx.env(ctx.home("pick"))))
