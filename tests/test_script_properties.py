"""Property tests: generated valid scripts survive yaml.safe_dump -> load unchanged, and
mutated or random input only ever yields a Script or a one-line ScriptError, fast."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.format import model
from player.errors import ScriptError
from player.format.patterns import BUILTIN_PATTERNS
from player.format.script import (
    ACTION_MODIFIERS,
    ACTIONS,
    MAX_TIMED_S,
    TOP_LEVEL_KEYS,
    load_script_text,
)

HERE = Path(__file__).resolve().parent
SEEDS = [p.read_bytes() for p in sorted((HERE / "corpus" / "good").glob("*.yaml"))]
TIME_LIMIT_S = 1.0

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ----------------------------------------------------------------- valid scripts

# Letters, digits, punctuation and spaces, minus the braces (params have their own strategy).
_chars = st.characters(
    categories=("L", "N", "P", "Zs", "S"), exclude_characters="{}\x85\u2028\u2029\ufeff"
)
words = st.text(_chars, min_size=1, max_size=60).filter(lambda t: t.strip())
line_words = words.filter(lambda t: "\n" not in t and "\r" not in t)


@st.composite
def durations(draw, lo: float = 0.5, hi: float = 900.0):
    """(value as written in YAML, seconds)."""
    kind = draw(st.sampled_from(["int", "float", "units"]))
    if kind == "int":
        n = draw(st.integers(max(1, int(lo + 0.999)), int(hi)))
        return n, float(n)
    if kind == "float":
        x = round(draw(st.floats(lo, hi)), 2)
        if x < lo:
            x = lo
        return x, float(x)
    h, m, s = draw(st.integers(0, 1)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    if h * 3600 + m * 60 + s < max(lo, 1) or h * 3600 + m * 60 + s > hi:
        s, h, m = 30, 0, 0
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text, float(h * 3600 + m * 60 + s)


@st.composite
def texts_with_params(draw):
    """(text as written, text expected) using the param 'who' = 'Ada' and brace escapes."""
    parts = draw(st.lists(st.sampled_from(["word", "{who}", "{{", "}}"]), min_size=1, max_size=6))
    written, expected = [], []
    for part in parts:
        if part == "word":
            w = draw(words)
            written.append(w)
            expected.append(w)
        else:
            written.append(part)
            expected.append({"{who}": "Ada", "{{": "{", "}}": "}"}[part])
    text = "".join(expected)
    if not text.strip():
        written.append("x")
        expected.append("x")
    return "".join(written), "".join(expected)


@st.composite
def patterns(draw):
    """(value as written, Pattern)."""
    kind = draw(st.sampled_from(["name", "string", "mapping"]))
    if kind == "name":
        name = draw(st.sampled_from(sorted(BUILTIN_PATTERNS)))
        return name, BUILTIN_PATTERNS[name]
    inhale = draw(st.integers(1, 12))
    exhale = draw(st.integers(1, 12))
    hold = draw(st.integers(0, 10))
    if kind == "string":
        hold_out = draw(st.integers(0, 6))
        return f"{inhale}-{hold}-{exhale}-{hold_out}", model.Pattern(
            float(inhale), float(hold), float(exhale), float(hold_out)
        )
    return {"inhale": inhale, "hold": hold, "exhale": exhale}, model.Pattern(
        float(inhale), float(hold), float(exhale)
    )


@st.composite
def leaf_steps(draw):
    """(YAML value of one step, expected model step)."""
    action = draw(st.sampled_from(["say", "pause", "breathe", "bell", "section", "ambient"]))
    if action == "say":
        written, text = draw(texts_with_params())
        doc, kw = {"say": written}, {}
        if draw(st.booleans()):
            doc["after"], kw["after"] = draw(durations())
        if draw(st.booleans()):
            kw["rate"] = doc["rate"] = round(draw(st.floats(0.5, 2.0)), 3)
        if draw(st.booleans()):
            kw["volume"] = doc["volume"] = round(draw(st.floats(0.0, 1.0)), 3)
        return doc, model.Say(text, **kw)
    if action == "pause":
        value, seconds = draw(durations())
        fixed = draw(st.booleans())
        return {"pause": value, "fixed": fixed}, model.Pause(seconds, fixed)
    if action == "breathe":
        written, pattern = draw(patterns())
        doc: dict = {"breathe": written}
        kw: dict = {}
        if draw(st.booleans()):
            doc["cycles"] = kw["cycles"] = draw(st.integers(1, 30))
        else:
            k = draw(st.integers(1, 20))
            doc["for"] = kw["for_s"] = float(int(pattern.cycle_s * k) + 1)
        if draw(st.booleans()):
            doc["cues"] = kw["cues"] = draw(st.sampled_from(model.CUES))
        return doc, model.Breathe(pattern, **kw)
    if action == "bell":
        form = draw(st.sampled_from(["bare", "null", "mapping"]))
        if form == "bare":
            return "bell", model.Bell()
        if form == "null":
            return {"bell": None}, model.Bell()
        strikes = draw(st.integers(1, 12))
        gap_value, gap = draw(durations(0.5, 60.0))
        return {"bell": {"strikes": strikes, "gap": gap_value}}, model.Bell(strikes, gap)
    if action == "section":
        title = draw(line_words)
        return {"section": title}, model.Section(title)
    sound = draw(st.sampled_from((*model.AMBIENT_SOUNDS, "none")))
    if sound != "none" and draw(st.booleans()):
        level = float(draw(st.integers(-60, 0)))
        return {"ambient": sound, "level_db": level}, model.AmbientChange(sound, level)
    return {"ambient": sound}, model.AmbientChange(None if sound == "none" else sound)


def step_lists(depth: int):
    if depth == 0:
        return st.lists(leaf_steps(), min_size=1, max_size=5)
    repeat = st.tuples(st.integers(1, 5), step_lists(depth - 1)).map(
        lambda t: (
            {"repeat": t[0], "steps": [d for d, _ in t[1]]},
            model.Repeat(t[0], tuple(m for _, m in t[1])),
        )
    )
    return st.lists(st.one_of(leaf_steps(), repeat), min_size=1, max_size=5)


@st.composite
def scripts(draw):
    """(document, expected Script) for a valid script."""
    steps = draw(step_lists(2))
    title = draw(line_words)
    doc: dict = {"title": title}
    kw: dict = {}
    if draw(st.booleans()):
        doc["haven"] = 1
    if draw(st.booleans()):
        doc["summary"] = kw["summary"] = draw(words)
    category = None
    if draw(st.booleans()):
        category = doc["category"] = kw["category"] = draw(st.sampled_from(model.CATEGORIES))
    if draw(st.booleans()):
        tags = draw(st.lists(line_words.filter(lambda t: len(t) <= 40), max_size=4))
        doc["tags"], kw["tags"] = tags, tuple(tags)
    if draw(st.booleans()):
        rate = round(draw(st.floats(0.5, 2.0)), 2)
        doc["voice"], kw["voice"] = {"rate": rate}, model.Voice(rate=rate)
    if draw(st.booleans()):
        level = float(draw(st.integers(-60, 0)))
        doc["tones"], kw["tones"] = {"level_db": level}, model.ToneSettings(level_db=level)
    if draw(st.booleans()):
        doc["ambient"], kw["ambient"] = "none", model.AmbientSettings()
    ending = "fade" if category == "sleep" else "bell"
    if draw(st.booleans()):
        ending = doc["ending"] = draw(st.sampled_from(model.ENDINGS))
    doc["params"] = {"who": {"default": "Ada", "help": "a name"}}
    doc["steps"] = [d for d, _ in steps]
    expected = model.Script(
        id="generated", title=title, steps=tuple(m for _, m in steps), ending=ending, **kw
    )
    return doc, expected


def timed_seconds(steps) -> float:
    """The loader's rule for the 24-hour bound, restated: pauses, silences, breathing, bells."""
    total = 0.0
    for step in steps:
        if isinstance(step, model.Say):
            total += step.after or 0.0
        elif isinstance(step, model.Pause):
            total += step.seconds
        elif isinstance(step, model.Breathe):
            total += step.for_s if step.for_s else step.cycles * step.pattern.cycle_s
        elif isinstance(step, model.Bell):
            total += step.strikes * step.gap
        elif isinstance(step, model.Repeat):
            total += step.count * timed_seconds(step.steps)
    return total


@SETTINGS
@given(scripts(), st.booleans())
def test_generated_scripts_round_trip(pair, flow_style):
    doc, expected = pair
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=flow_style)
    if timed_seconds(expected.steps) > MAX_TIMED_S:
        try:
            load_script_text(text, filename="generated.yaml")
        except ScriptError as exc:
            assert exc.path == "steps" and "hours" in exc.detail
            return
        raise AssertionError("a script over 24 hours loaded")
    loaded = load_script_text(text, filename="generated.yaml")
    assert loaded == expected
    assert loaded.param_values == {"who": "Ada"}


# ----------------------------------------------------------------- hostile input


def _check_never_crashes(data: str | bytes) -> None:
    t0 = time.perf_counter()
    try:
        load_script_text(data, filename="fuzz.yaml")
    except ScriptError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml")
        assert "\n" not in message and "\r" not in message
        assert "internal error" not in message, message
    elapsed = time.perf_counter() - t0
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f}s"


_noise = st.sampled_from(
    [b":", b"-", b"- ", b"[", b"]", b"{", b"}", b"&a ", b"*a", b"!!python/object:os.system ",
     b"!x ", b"'", b'"', b"\n", b"  ", b"\t", b"#", b"|", b">", b"%", b"@", b"`", b"?", b",",
     b"0", b"-1", b"4h", b"1:30", b"{x}", b"{{", b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8",
     b"~", b"null", b"yes", b".inf", b"repeat: 1000\n", b"steps:", b"---\n", b"\\", b"say",
     b"cycles", b"bell", b"1e309", b"0x", b"<<: ", b"\r\n"]
)  # fmt: skip


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line", "swap-lines"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(_noise)
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "replace":
            data[pos : pos + 1] = draw(_noise)
        else:
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "duplicate-line":
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scripts_only_raise_script_errors(data):
    _check_never_crashes(data)


@SETTINGS
@given(st.one_of(st.binary(max_size=3000), st.text(max_size=3000)))
def test_garbage_only_raises_script_errors(data):
    _check_never_crashes(data)


_KEYS = list(TOP_LEVEL_KEYS) + list(ACTIONS) + sorted({m for v in ACTION_MODIFIERS.values() for m in v}) + [
    "inhale", "exhale", "hold", "strikes", "gap", "sound", "level_db", "default", "help", "rate",
    "volume", "engine", "name", "low_hz", "high_hz",
]  # fmt: skip
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["box", "4-7-8", "1m30s", "none", "rain", "tones", "{x}"]),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    ),
    max_leaves=25,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=8), st.booleans())
def test_structured_nonsense_only_raises_script_errors(doc, flow_style):
    _check_never_crashes(yaml.safe_dump(doc, allow_unicode=True, default_flow_style=flow_style))
    _check_never_crashes(yaml.safe_dump({"title": "T", "steps": [doc]}))
