"""JSON Schema (draft 2020-12) of the exercise script format, for editors' YAML servers.

Built from the loader's own key lists and limits so the two cannot drift; the loader stays
the authority (it also checks things a schema cannot, like params used in text). Run
``python -m player.format.schema > player/script.schema.json`` to refresh the shipped copy.
"""

from __future__ import annotations

import json
from typing import Any

from player.format import model
from player.format import script as s
from player.format.durations import DURATION_STRING_PATTERN, MAX_DURATION_S
from player.format.patterns import BUILTIN_PATTERNS, MAX_PHASE_S, PATTERN_KEYS, PATTERN_STRING_PATTERN
from player.audio.sounds import BUILTIN_BELLS

SCHEMA_ID = "https://haven.invalid/schema/script-v1.json"

ACTION_DESCRIPTIONS = {
    "say": "Speak this text (plain text; {name} is replaced by a param, {{ and }} are braces).",
    "pause": "Silence for a duration; elastic (scaled by --minutes) unless 'fixed: true'.",
    "breathe": "Paced breathing with a pattern: a built-in name, '4-7-8'-style numbers, "
    "or a mapping of phase seconds. Needs 'cycles' or 'for'.",
    "bell": "A struck bowl. Bare ('- bell'), empty, or {strikes, gap, sound or file}.",
    "section": "Start a chapter with this title: shown while playing, a place to skip to.",
    "repeat": "Play the nested 'steps' this many times.",
    "ambient": "Change the background bed from here on: a sound or 'none'.",
}

MODIFIER_DESCRIPTIONS = {
    ("say", "after"): "Silence after the speech (elastic duration).",
    ("say", "rate"): "Speaking rate for this step, relative to normal (1.0).",
    ("say", "volume"): "Speech volume for this step, 0 to 1.",
    ("pause", "fixed"): "Keep this pause's length when fitting the session to --minutes.",
    ("breathe", "cycles"): "How many breaths (whole cycles of the pattern).",
    ("breathe", "for"): "How long to breathe; rounded to whole cycles; elastic.",
    ("breathe", "cues"): "How the pace is shown: tones (default), voice, both or none.",
    ("breathe", "ramp_to"): "Change the pattern smoothly from the first cycle to this one.",
    ("breathe", "tones"): "Override the script's tone settings for this step.",
    ("breathe", "say"): "Lines spoken over the running pacer, each starting exactly where a "
    "phase of a cycle starts: {at: 'cycle 3 out', text: ...}. Cycles count from 1; phases: in, "
    "out, hold, hold_out, inhale2 (none: the cycle's start). The tones keep their pace.",
    ("repeat", "steps"): "The steps to repeat.",
    ("ambient", "level_db"): "Level of the bed in dB relative to the voice.",
}


def _number(lo: float, hi: float, description: str, *, exclusive_lo: bool = False) -> dict:
    out: dict[str, Any] = {"type": "number", "description": description, "maximum": hi}
    out["exclusiveMinimum" if exclusive_lo else "minimum"] = lo
    return out


def _text(description: str, max_chars: int, *, single_line: bool = False) -> dict:
    out: dict[str, Any] = {
        "type": "string", "description": description, "minLength": 1, "maxLength": max_chars,
    }  # fmt: skip
    if single_line:
        out["pattern"] = r"^[^\r\n]*$"
    return out


def _duration(description: str) -> dict:
    return {
        "description": description + " Seconds, or whole units: '45s', '2m', '1m30s', '1h'.",
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_S},
            {"type": "string", "pattern": DURATION_STRING_PATTERN},
        ],
    }


def _tones() -> dict:
    return {
        "type": "object",
        "description": "Breathing-tone settings.",
        "additionalProperties": False,
        "properties": {
            "level_db": _number(*s.LEVEL_DB_RANGE, "Tone level in dB relative to the voice."),
            "low_hz": _number(*s.TONE_HZ_RANGE, "Pitch at the bottom of the breath (Hz)."),
            "high_hz": _number(*s.TONE_HZ_RANGE, "Pitch at the top of the breath (Hz)."),
            "hold": {
                "enum": list(s.TONE_HOLDS),
                "description": "Through holds: 'steady' keeps sounding, 'rest' falls silent.",
            },
        },
    }


def _pattern(description: str) -> dict:
    phase_docs = {
        "inhale": "Seconds breathing in (> 0).",
        "inhale2": "Seconds of a second, top-up inhale (the physiological sigh).",
        "hold": "Seconds holding after the inhale.",
        "exhale": "Seconds breathing out (> 0).",
        "hold_out": "Seconds holding after the exhale.",
    }
    phases = {
        key: _number(0, MAX_PHASE_S, phase_docs[key], exclusive_lo=key in ("inhale", "exhale"))
        for key in PATTERN_KEYS
    }
    return {
        "description": description,
        "anyOf": [
            {"enum": list(BUILTIN_PATTERNS), "description": "A built-in pattern."},
            {
                "type": "string",
                "pattern": PATTERN_STRING_PATTERN,
                "description": "2 to 4 numbers of seconds: in-out, in-hold-out, "
                "in-hold-out-hold.",
            },
            {
                "type": "object",
                "description": "Seconds per phase.",
                "additionalProperties": False,
                "required": ["inhale", "exhale"],
                "properties": phases,
            },
        ],
    }


def _sound(description: str) -> dict:
    return {
        "description": description,
        "anyOf": [{"enum": [*model.AMBIENT_SOUNDS, s.NONE_WORD]}, {"type": "null"}],
    }


def _action_arguments() -> dict[str, dict]:
    return {
        "say": _text(ACTION_DESCRIPTIONS["say"], s.MAX_SAY_CHARS),
        "pause": _duration(ACTION_DESCRIPTIONS["pause"]),
        "breathe": _pattern(ACTION_DESCRIPTIONS["breathe"]),
        "bell": {
            "description": ACTION_DESCRIPTIONS["bell"],
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "strikes": {
                            "type": "integer",
                            "minimum": s.STRIKES_RANGE[0],
                            "maximum": s.STRIKES_RANGE[1],
                            "description": "How many strikes (default 1).",
                        },
                        "gap": _duration("Time between strikes (default 4s, 0.5s to 60s)."),
                        "sound": {
                            "enum": list(BUILTIN_BELLS),
                            "description": "Which bell (default bowl); a sound in your sounds "
                                           "folder by its name is taken too.",
                        },
                        "file": {
                            "type": "string",
                            "minLength": 1,
                            "description": "A sound file to strike instead (relative to the "
                                           "script's folder; ~ allowed).",
                        },
                    },
                },
            ],
        },
        "section": _text(ACTION_DESCRIPTIONS["section"], s.MAX_TITLE_CHARS, single_line=True),
        "repeat": {
            "type": "integer",
            "minimum": 1,
            "maximum": s.MAX_REPEAT_COUNT,
            "description": ACTION_DESCRIPTIONS["repeat"],
        },
        "ambient": _sound(ACTION_DESCRIPTIONS["ambient"]),
    }


def _modifiers() -> dict[tuple[str, str], dict]:
    d = MODIFIER_DESCRIPTIONS
    return {
        ("say", "after"): _duration(d["say", "after"]),
        ("say", "rate"): _number(*s.RATE_RANGE, d["say", "rate"]),
        ("say", "volume"): _number(*s.VOLUME_RANGE, d["say", "volume"]),
        ("pause", "fixed"): {"type": "boolean", "description": d["pause", "fixed"]},
        ("breathe", "cycles"): {
            "type": "integer", "minimum": 1, "maximum": s.MAX_CYCLES,
            "description": d["breathe", "cycles"],
        },  # fmt: skip
        ("breathe", "for"): _duration(d["breathe", "for"]),
        ("breathe", "cues"): {"enum": list(model.CUES), "description": d["breathe", "cues"]},
        ("breathe", "ramp_to"): _pattern(d["breathe", "ramp_to"]),
        ("breathe", "tones"): {**_tones(), "description": d["breathe", "tones"]},
        ("breathe", "say"): {
            "type": "array",
            "minItems": 1,
            "description": d["breathe", "say"],
            "items": {
                "type": "object",
                "description": "One line spoken over the pacer.",
                "additionalProperties": False,
                "required": list(s.BREATHE_LINE_KEYS),
                "properties": {
                    "at": {"type": "string", "pattern": s.AT_PATTERN,
                           "description": "Where it starts: 'cycle N' or 'cycle N PHASE'."},
                    "text": _text("What to say ({name} is replaced by a param).",
                                  s.MAX_SAY_CHARS),  # fmt: skip
                },
            },
        },
        ("repeat", "steps"): {"$ref": "#/$defs/steps", "description": d["repeat", "steps"]},
        ("ambient", "level_db"): _number(*s.LEVEL_DB_RANGE, d["ambient", "level_db"]),
    }


def _lexicon() -> dict:
    from player.format import lexicon as lex

    respelling = {
        "type": "string", "minLength": 1, "maxLength": lex.MAX_FORM_CHARS,
        "pattern": r"^[^\[\]{}\r\n]*[^\W_][^\[\]{}\r\n]*$",
        "description": "A respelling: plain text said instead of the word, like 'met-tah'.",
    }  # fmt: skip
    phonemes = {
        "type": "string", "maxLength": lex.MAX_FORM_CHARS,
        "pattern": r"^\[\[[^\[\]\r\n]*[^\s\[\]][^\[\]\r\n]*\]\]$",
        "description": "Phonemes in the engine's alphabet: espeak-ng's mnemonics for espeak "
                       "(\"[[S@v'A:s@n@]]\"), IPA for piper (\"[[ʃəvˈɑːsənə]]\").",
    }  # fmt: skip
    engines = {
        name: (
            {**respelling, "description": "For every engine not named: a respelling."}
            if name == "default"
            else {"description": f"For {name}: a respelling or [[phonemes]].",
                  "anyOf": [respelling, phonemes]}
        )
        for name in lex.ENGINE_KEYS
    }
    return {
        "type": "object",
        "description": "How to say words the voice gets wrong (names, Pali or Sanskrit words, a "
        "param's value): a respelling for every engine, or forms per engine. Whole words, any "
        "case; the user's [lexicon] in config.toml applies too, and this one wins.",
        "maxProperties": lex.MAX_ENTRIES,
        "propertyNames": {"pattern": lex.WORD_PATTERN, "maxLength": lex.MAX_WORD_CHARS},
        "additionalProperties": {
            "anyOf": [
                respelling,
                {
                    "type": "object",
                    "description": "Forms per engine (espeak is the system voice).",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": engines,
                },
            ]
        },
    }


def _step_variants() -> list[dict]:
    arguments = _action_arguments()
    modifiers = _modifiers()
    variants: list[dict] = [
        {"const": name, "description": f"'{name}' with its defaults."} for name in s.BARE_ACTIONS
    ]
    for action in s.ACTIONS:
        props = {action: arguments[action]}
        for mod in s.ACTION_MODIFIERS[action]:
            props[mod] = modifiers[action, mod]
        required = [action]
        if action == "repeat":
            required.append("steps")
        variant: dict[str, Any] = {
            "type": "object",
            "description": ACTION_DESCRIPTIONS[action],
            "required": required,
            "additionalProperties": False,
            "properties": props,
        }
        if action == "breathe":  # exactly one of cycles / for
            variant["oneOf"] = [{"required": ["cycles"]}, {"required": ["for"]}]
        variants.append(variant)
    return variants


def script_json_schema() -> dict:
    """The JSON Schema of script format version 1 as a plain dict."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Haven exercise script",
        "description": "A voice-guided meditation or breathing exercise for the Haven player "
        "(format version 1).",
        "type": "object",
        "additionalProperties": False,
        "required": list(s.REQUIRED_TOP_LEVEL_KEYS),
        "properties": {
            "haven": {"const": s.FORMAT_VERSION, "description": "Format version (1)."},
            "title": _text("Title shown in lists and while playing.", s.MAX_TITLE_CHARS,
                           single_line=True),  # fmt: skip
            "summary": _text("One or two sentences about the exercise.", s.MAX_SUMMARY_CHARS),
            "credit": _text("Where the practice comes from: the tradition or technique it follows "
                            "(shown by 'haven show'). Name the source; never copy its wording.",
                            s.MAX_SUMMARY_CHARS),  # fmt: skip
            "category": {"enum": list(model.CATEGORIES), "description": "Kind of exercise."},
            "tags": {
                "type": "array",
                "maxItems": s.MAX_TAGS,
                "description": "Short words for searching and filtering.",
                "items": _text("A tag.", s.MAX_TAG_CHARS, single_line=True),
            },
            "voice": {
                "type": "object",
                "description": "Defaults for every 'say'.",
                "additionalProperties": False,
                "properties": {
                    "engine": _text("Speech engine; falls back to the default if missing.",
                                    s.MAX_NAME_CHARS, single_line=True),  # fmt: skip
                    "name": _text("Voice name; falls back to the default if missing.",
                                  s.MAX_NAME_CHARS, single_line=True),  # fmt: skip
                    "rate": _number(*s.RATE_RANGE, "Speaking rate relative to normal (1.0)."),
                    "volume": _number(*s.VOLUME_RANGE, "Speech volume, 0 to 1."),
                },
            },
            "tones": {**_tones(), "description": "Breathing-tone defaults for every 'breathe'."},
            "ambient": {
                "description": "Background bed: 'none' or {sound, level_db}.",
                "anyOf": [
                    {"const": s.NONE_WORD},
                    {"type": "null"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "sound": _sound("The bed's sound, or 'none'."),
                            "file": {
                                "type": "string",
                                "minLength": 1,
                                "description": "A sound file to loop as the bed (relative to "
                                               "the script's folder; ~ allowed).",
                            },
                            "level_db": _number(*s.LEVEL_DB_RANGE,
                                                "Bed level in dB relative to the voice."),  # fmt: skip
                        },
                    },
                ],
            },
            "ending": {
                "enum": list(model.ENDINGS),
                "description": "How the session ends; default 'fade' for sleep, else 'bell'.",
            },
            "params": {
                "type": "object",
                "description": "Values a user can pass (--param NAME=VALUE), used as {NAME}.",
                "maxProperties": s.MAX_PARAMS,
                "propertyNames": {"pattern": s.PARAM_NAME_PATTERN, "maxLength": 40},
                "additionalProperties": {
                    "type": "object",
                    "description": "One param.",
                    "additionalProperties": False,
                    "properties": {
                        "default": _text("Value used when none is given.", s.MAX_PARAM_CHARS),
                        "help": _text("What the param is for.", s.MAX_TITLE_CHARS,
                                      single_line=True),  # fmt: skip
                    },
                },
            },
            "lexicon": _lexicon(),
            "language": {
                "type": "string", "pattern": s.LANGUAGE_PATTERN,
                "description": "The script's language, a BCP 47 tag such as en, en-GB or de: "
                               "the voice is one that speaks it (default en).",
            },  # fmt: skip
            "steps": {"$ref": "#/$defs/steps", "description": "What happens, in order."},
        },
        "$defs": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "description": "A list of steps.",
                "items": {"$ref": "#/$defs/step"},
            },
            "step": {
                "description": "One action with its modifiers, or a bare 'bell'.",
                "oneOf": _step_variants(),
            },
        },
    }


def main() -> None:
    # Same text as `haven schema` prints, so the shipped file can be compared byte for byte.
    print(json.dumps(script_json_schema(), indent=2))


if __name__ == "__main__":
    main()
