"""The JSON Schema stays in step with the loader: same keys, good scripts valid, bad ones not."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from player.format import model
from player.format import script as s
from player.format.durations import parse_duration
from player.format.patterns import BUILTIN_PATTERNS, PATTERN_KEYS, parse_pattern
from player.format.schema import script_json_schema

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCHEMA_FILE = ROOT / "player" / "script.schema.json"
GOOD = sorted((HERE / "corpus" / "good").glob("*.yaml")) + sorted((ROOT / "scripts").glob("*.yaml"))
BAD = HERE / "corpus" / "bad"

SCHEMA = script_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _variants() -> dict[str, dict]:
    out = {}
    for v in SCHEMA["$defs"]["step"]["oneOf"]:
        if v.get("type") == "object":
            action = v["required"][0]  # a breathe step's lines are its 'say' modifier
            assert action in s.ACTIONS
            out[action] = v
    return out


def test_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_shipped_file_is_the_generator_output():
    expected = json.dumps(SCHEMA, indent=2) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "regenerate with: python -m player.format.schema > player/script.schema.json"
    )
    out = subprocess.run(
        [sys.executable, "-m", "player.format.schema"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out == expected


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_every_good_script_is_valid(path):
    s.load_script(path)  # the loader accepts it ...
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text("utf-8")))]
    assert errors == []  # ... and so does the schema


def test_top_level_keys_match_the_loader():
    assert list(SCHEMA["properties"]) == list(s.TOP_LEVEL_KEYS)
    assert SCHEMA["required"] == list(s.REQUIRED_TOP_LEVEL_KEYS)
    assert SCHEMA["additionalProperties"] is False


def test_every_action_and_modifier_is_in_the_schema():
    variants = _variants()
    assert list(variants) == list(s.ACTIONS)
    for action, v in variants.items():
        assert set(v["properties"]) == {action, *s.ACTION_MODIFIERS[action]}, action
        assert v["additionalProperties"] is False
    bare = [v["const"] for v in SCHEMA["$defs"]["step"]["oneOf"] if "const" in v]
    assert bare == list(s.BARE_ACTIONS)
    assert set(variants["repeat"]["required"]) == {"repeat", "steps"}


def test_nested_key_lists_match_the_loader():
    props = SCHEMA["properties"]
    assert list(props["voice"]["properties"]) == list(s.VOICE_KEYS)
    assert list(props["tones"]["properties"]) == list(s.TONE_KEYS)
    assert props["tones"]["properties"]["hold"]["enum"] == list(s.TONE_HOLDS)
    amb = [a for a in props["ambient"]["anyOf"] if a.get("type") == "object"][0]
    assert list(amb["properties"]) == list(s.AMBIENT_KEYS)
    assert list(props["params"]["additionalProperties"]["properties"]) == list(s.PARAM_KEYS)
    assert props["category"]["enum"] == list(model.CATEGORIES)
    assert props["ending"]["enum"] == list(model.ENDINGS)
    variants = _variants()
    bell = [a for a in variants["bell"]["properties"]["bell"]["anyOf"] if a.get("type") == "object"][0]
    assert list(bell["properties"]) == list(s.BELL_KEYS)
    assert variants["breathe"]["properties"]["cues"]["enum"] == list(model.CUES)
    assert list(variants["breathe"]["properties"]["tones"]["properties"]) == list(s.TONE_KEYS)
    for key in ("breathe", "ramp_to"):
        forms = variants["breathe"]["properties"][key]["anyOf"]
        assert forms[0]["enum"] == list(BUILTIN_PATTERNS)
        assert list(forms[2]["properties"]) == list(PATTERN_KEYS)
    assert variants["ambient"]["properties"]["ambient"]["anyOf"][0]["enum"] == [
        *model.AMBIENT_SOUNDS, "none"
    ]


def _walk(node, where="$"):
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield f"{where}.{key}", value
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}[{i}]")


def test_every_property_has_a_description():
    missing = [where for where, prop in _walk(SCHEMA) if not prop.get("description")]
    assert missing == []
    assert len(list(_walk(SCHEMA))) > 40


# Bad scripts that are bad in ways a schema can express must fail the schema too.
SCHEMA_DETECTABLE = [
    "unknown-top-key", "unknown-action", "unknown-modifier", "unknown-voice-key",
    "unknown-tones-key", "unknown-ambient-key", "unknown-bell-key", "unknown-param-key",
    "unknown-pattern-phase", "two-actions", "modifier-of-other-action", "modifier-without-action",
    "missing-title", "missing-steps", "empty-steps", "steps-not-list", "pause-zero",
    "pause-negative", "pause-malformed", "after-fractional-unit", "cycles-word", "cycles-and-for",
    "breathe-no-length", "pattern-too-many-numbers", "pattern-unknown-name",
    "pattern-zero-exhale", "ramp-to-bad", "cues-unknown",
    "voice-rate-out-of-range", "say-volume-out-of-range", "tones-level-positive",
    "bell-too-many-strikes", "bell-bad-argument", "category-unknown", "ending-unknown",
    "version-unsupported", "repeat-zero", "repeat-without-steps", "say-too-long", "say-empty",
    "say-list", "bare-action-needs-argument", "step-number", "ambient-unknown-sound",
    "fixed-not-bool", "rate-quoted", "tags-not-list", "title-multiline",
]  # fmt: skip
# Not listed: ranges inside strings ('5h', '4-70-8'), params, limits on nesting and size,
# YAML-level hazards and encodings: only the loader can check those.


@pytest.mark.parametrize("name", SCHEMA_DETECTABLE)
def test_schema_rejects_bad_scripts_it_can_describe(name):
    doc = yaml.safe_load((BAD / f"{name}.yaml").read_text("utf-8"))
    assert not VALIDATOR.is_valid(doc)


@pytest.mark.parametrize(
    "text",
    ["45s", "2m", "1m30s", "1h", "1h5m10s", "90", "2.5", "0s", "1.5m", "1m 30s", "30s1m", "",
     "h", "5h", "1:30", "-5", "1e3", " 2m"],
)  # fmt: skip
def test_duration_strings_agree_with_the_loader_on_form(text):
    # The schema checks the form; the loader also checks the 0 < d <= 4h range.
    arg = _variants()["pause"]["properties"]["pause"]
    string_form = [a for a in arg["anyOf"] if a["type"] == "string"][0]
    form_ok = re.search(string_form["pattern"], text) is not None
    try:
        parse_duration(text)
        loader_ok = True
    except ValueError as exc:
        loader_ok = False
        range_problem = "more than zero" in str(exc) or "4 hours" in str(exc)
    if loader_ok:
        assert form_ok
    elif not range_problem:
        assert not form_ok


@pytest.mark.parametrize(
    "text", ["4-7-8", "5.5-5.5", "4-4-4-4", "4-0-6", "1-2-3-4-5", "4", "4--8", "a-b", "4-7-"]
)
def test_pattern_strings_agree_with_the_loader(text):
    forms = _variants()["breathe"]["properties"]["breathe"]["anyOf"]
    form_ok = text in forms[0]["enum"] or re.search(forms[1]["pattern"], text) is not None
    try:
        parse_pattern(text)
        loader_ok = True
    except ValueError:
        loader_ok = False
    assert form_ok == loader_ok
