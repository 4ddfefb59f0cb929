"""Pronunciation lexicons: a script's ``lexicon:`` and the user's ``[lexicon]`` (issue 13).

The acceptance test: one entry changes what BOTH engines say, checked on what each engine is
handed (espeak's phoneme input, Piper's phonemes) and on the clip's length.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
import wave

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from player import config, speech
from player.audio.timeline import Overrides, compile_timeline, speech_requests
from player.cli.app import main
from player.errors import ConfigError, ScriptError
from player.format import lexicon as lex
from player.format.model import Pronunciation
from player.format.script import load_script_text
from player.speech import ClipRequest, cache, dsp, synthesize
from player.speech.pyttsx3_engine import espeak_ssml, words_per_minute
from player.speech.text import apply_lexicon, lexicon_for, phoneme_text

# "MBSR" said as what it stands for: phonemes for each engine (espeak-ng's mnemonics, as
# `espeak-ng -x` writes them; IPA for Piper, as its phonemizer writes them).
ESPEAK_MBSR = "m'aIndf@Ln@s b'eIst str'Es rI2d'VkS@n"
PIPER_MBSR = "mˈaɪndfəlnəs bˈeɪst stɹˈɛs ɹᵻdˈʌkʃən"
SENTENCE = "This is MBSR, a gentle practice."
WRITTEN_OUT = "This is mindfulness-based stress reduction, a gentle practice."
SCRIPT = f"""\
title: Lexicon
lexicon:
  metta: met-tah
  MBSR: {{espeak: "[[{ESPEAK_MBSR}]]", piper: "[[{PIPER_MBSR}]]"}}
steps:
  - say: {SENTENCE}
  - say: May you know metta.
"""


def load(text: str, **kw):
    return load_script_text(textwrap.dedent(text), filename="test.yaml", **kw)


def error(text: str) -> str:
    with pytest.raises(ScriptError) as info:
        load(text)
    return str(info.value)


def entries(table: dict) -> tuple[Pronunciation, ...]:
    return lex.entries(table)


# ------------------------------------------------------------------ the format


def test_simple_and_per_engine_entries_load():
    script = load(SCRIPT)
    assert script.lexicon == (
        Pronunciation("metta", (("", "met-tah"),)),
        Pronunciation("MBSR", (("piper", f"[[{PIPER_MBSR}]]"), ("pyttsx3", f"[[{ESPEAK_MBSR}]]"))),
    )
    # espeak (and espeak-ng) name the system engine, whose id is pyttsx3; default is the rest
    found = load("title: T\nlexicon: {Siobhan: {espeak-ng: shiv-awn, default: shi-vawn}}\n"
                 "steps: [bell]\n").lexicon  # fmt: skip
    assert found == (Pronunciation("Siobhan", (("", "shi-vawn"), ("pyttsx3", "shiv-awn"))),)
    assert found[0].form("pyttsx3") == "shiv-awn" and found[0].form("piper") == "shi-vawn"


@pytest.mark.parametrize(
    "lexicon, message",
    [
        ("{metta: ''}", "test.yaml:2:18: lexicon.metta: must not be empty"),
        ("{metta: {}}", "test.yaml:2:18: lexicon.metta: must name at least one engine, like "
                        "{espeak: \"[[S@v'A:s@n@]]\"}"),
        ("{metta: {espek: met-tah}}", "test.yaml:2:19: lexicon.metta.espek: unknown engine "
                                      "'espek' (did you mean 'espeak'?)"),
        ("{metta: {klingon: met-tah}}", "test.yaml:2:19: lexicon.metta.klingon: unknown engine "
                                        "'klingon' (expected one of: default, espeak, piper, "
                                        "pyttsx3)"),
        ("{metta: {espeak: a, pyttsx3: b}}", "test.yaml:2:30: lexicon.metta.pyttsx3: 'pyttsx3' "
                                             "and 'espeak' name the same engine"),
        ("{metta: \"[[m'Et@]]\"}", "test.yaml:2:18: lexicon.metta: phonemes differ between "
                                  "engines: give them under the engine's name, like "
                                  "{espeak: \"[[S@v'A:s@n@]]\"}"),
        ("{metta: {espeak: '[[m''Et@'}}", "test.yaml:2:27: lexicon.metta.espeak: phonemes are "
                                         "written whole, like \"[[S@v'A:s@n@]]\"; a respelling "
                                         "has no brackets"),
        ("{metta: [met, tah]}", "test.yaml:2:18: lexicon.metta: must be a respelling like "
                                "met-tah, or a mapping of engines like {espeak: \"[[m'Et@]]\"} "
                                "(got a list)"),
        ("{metta: a, Metta: b}", "test.yaml:2:21: lexicon.Metta: 'Metta' is given twice (also "
                                 "as 'metta'); case does not matter"),
        ("{'met{ta}': a}", "test.yaml:2:11: lexicon.met{ta}: a word is letters, digits, ' - "
                           "and . (spaces between words)"),
        ("[metta]", "test.yaml:2:10: lexicon: must be a mapping of words, like {metta: "
                    "met-tah} (got a list)"),
    ],
)
def test_bad_entries_are_one_located_line(lexicon, message):
    assert error(f"title: T\nlexicon: {lexicon}\nsteps: [bell]\n") == message


def test_cli_validate_reports_a_bad_lexicon(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("title: T\nlexicon: {metta: {espek: met-tah}}\nsteps: [bell]\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2:19: lexicon.metta.espek: unknown engine 'espek' (did you mean " \
           "'espeak'?)" in result.output


def test_schema_knows_the_lexicon():
    import jsonschema
    import yaml

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert set(schema["properties"]["lexicon"]["additionalProperties"]["anyOf"][1]
               ["properties"]) == set(lex.ENGINE_KEYS)  # fmt: skip
    validator = jsonschema.Draft202012Validator(schema)

    def valid(lexicon: str) -> bool:
        return validator.is_valid(yaml.safe_load(f"title: T\nlexicon: {lexicon}\nsteps: [bell]\n"))

    assert valid("{metta: met-tah, MBSR: {espeak: '[[m]]', piper: '[[m]]', default: em}}")
    for bad in ("{metta: ''}", "{metta: {}}", "{metta: {espek: x}}", "{metta: '[[m]]'}",
                "{metta: {default: '[[m]]'}}", "{metta: {espeak: '[[m'}}", "{'met{ta}': a}",
                "{metta: '...'}"):  # fmt: skip
        assert not valid(bad), bad
        with pytest.raises(ScriptError):
            load(f"title: T\nlexicon: {bad}\nsteps: [bell]\n")  # the loader agrees


def test_engine_names_are_the_ones_voice_takes():
    from player.speech.engines import ENGINE_ALIASES, ENGINES

    assert {k: v for k, v in lex.ENGINE_KEYS.items() if k != "default"} == {
        **{name: name for name in ENGINES}, **ENGINE_ALIASES}


# ------------------------------------------------------------------ matching


def test_whole_words_any_case_the_rest_untouched():
    table = entries({"metta": "met-tah", "Mother Teresa": "muther te-ree-sa", "teresa": "tess"})
    text = "Metta, metta's gift; Mettaverse and ametta stay. Mother   teresa met Teresa."
    assert apply_lexicon(text, table, "pyttsx3") == (
        "met-tah, met-tah's gift; Mettaverse and ametta stay. muther te-ree-sa met tess."
    )
    assert lexicon_for("Only Teresa here.", table) == (table[2],)
    assert lexicon_for("Nothing to change.", table) == ()


def test_forms_are_chosen_for_the_engine_and_phonemes_are_marked():
    table = entries({"savasana": {"espeak": "[[S@v'A:s@n@]]", "default": "sha-vah-sa-na"}})
    assert apply_lexicon("Rest in savasana.", table, "piper") == "Rest in sha-vah-sa-na."
    marked = apply_lexicon("Rest in [[x]] savasana.", table, "pyttsx3")
    # Only the lexicon's phonemes reach the engine as phonemes; the text's own brackets don't.
    assert phoneme_text(marked) == ("Rest in ((x)) [[S@v'A:s@n@]].", True)
    assert phoneme_text("Plain [[h@'loU]] text.") == ("Plain [[h@'loU]] text.", False)
    # An engine with no form and no default keeps the word.
    only = entries({"savasana": {"piper": "[[ʃəvˈɑːsənə]]"}})
    assert apply_lexicon("Rest in savasana.", only, "pyttsx3") == "Rest in savasana."


_WORDS = st.sampled_from(["metta", "Metta", "METTA", "rest", "mettas", "ametta", "kind", "be"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_WORDS, st.sampled_from([" ", ", ", ". ", "-", "  "])), max_size=12))
def test_only_whole_words_change(pieces):
    text = "".join(w + sep for w, sep in pieces)
    table = entries({"metta": "met-tah"})
    said = apply_lexicon(text, table, "piper")
    expected = re.sub(r"(?<!\w)metta(?!\w)", "met-tah", text, flags=re.I)
    assert said == expected
    assert said.replace("met-tah", "") == re.sub(r"(?<!\w)metta(?!\w)", "", text, flags=re.I)


# ------------------------------------------------------------------ user and script


def test_user_lexicon_from_config_and_the_script_wins(haven_home):
    path = config.paths.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('[lexicon]\nmetta = "may-ta"\nSiobhan = "shiv-awn"\n'
                    '[lexicon.Niamh]\npiper = "[[nˈiːv]]"\ndefault = "neeve"\n'
                    '[voice]\nrate = 1.0\n')  # fmt: skip
    cfg = config.load_config()
    assert cfg.lexicon == entries({"metta": "may-ta", "Siobhan": "shiv-awn",
                                   "Niamh": {"piper": "[[nˈiːv]]", "default": "neeve"}})
    assert cfg.lexicon[2].forms == (("", "neeve"), ("piper", "[[nˈiːv]]"))
    script = load("""\
        title: T
        params: {person: {default: Siobhan}}
        lexicon: {Metta: met-tah}
        steps: [{say: "May {person} know metta."}]
        """)
    (request,) = speech_requests(script, Overrides(lexicon=cfg.lexicon))
    assert request.text == "May Siobhan know metta."
    assert apply_lexicon(request.text, request.lexicon, "piper") == "May shiv-awn know met-tah."
    # `haven config set` keeps the user's words
    config.set("journal.min_minutes", 5)
    assert config.load_config().lexicon == cfg.lexicon
    assert "[lexicon]" in path.read_text()


def test_bad_user_lexicon_is_one_line(haven_home):
    path = config.paths.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('[lexicon]\nmetta = ""\n')
    with pytest.raises(ConfigError) as info:
        config.load_config()
    assert str(info.value) == f"{path}: lexicon: metta: must not be empty"
    path.write_text('[lexicon]\nmetta = {espek = "x"}\n')
    result = CliRunner().invoke(main, ["show", "three-minute-breathing-space"])
    assert result.exit_code != 0
    assert f"{path}: lexicon: metta.espek: unknown engine 'espek' (did you mean 'espeak'?)" \
        in result.output


def _keys(script_text: str) -> dict[str, str]:
    script = load(script_text)
    requests = speech_requests(script)
    resolved = speech.resolve_requests(
        [ClipRequest(r.text, engine="pyttsx3", lexicon=r.lexicon) for r in requests],
        sample_rate=48000,
    )
    return {r.text: p.key for r, p in zip(requests, resolved)}


def test_cache_keys_hold_only_the_entries_a_clip_uses():
    body = "steps: [{say: This is MBSR.}, {say: May you know metta.}]\n"
    base = _keys(f"title: T\nlexicon: {{metta: met-tah, MBSR: em-bee}}\n{body}")
    none = _keys(f"title: T\n{body}")
    other = _keys(f"title: T\nlexicon: {{metta: met-tah, MBSR: emm-bee}}\n{body}")
    piper_only = _keys(f"title: T\nlexicon: {{metta: met-tah, MBSR: {{piper: x, espeak: em-bee}}}}"
                       f"\n{body}")  # fmt: skip
    assert base["May you know metta."] == other["May you know metta."]  # unrelated edit
    assert base["This is MBSR."] != other["This is MBSR."]  # its own entry changed
    assert base["This is MBSR."] != none["This is MBSR."]
    assert base == piper_only  # another engine's form does not key this engine's clip anew
    # A text no entry applies to keys as it always has (no cache is lost).
    plain = speech.resolve_requests([ClipRequest("May you know metta.", engine="pyttsx3")],
                                    sample_rate=48000)[0].key  # fmt: skip
    assert none["May you know metta."] == plain


# ------------------------------------------------------------------ both engines (acceptance)


def espeak_cli(text: str, path) -> np.ndarray:
    """What the espeak-ng command (which reads [[ ]] as phonemes) writes for ``text``, given
    as the adapter gives it: SSML with the pauses (``espeak_ssml``)."""
    assert shutil.which("espeak-ng"), "the espeak-ng command is not installed (make test installs it)"
    subprocess.run(["espeak-ng", "-v", "gmw/en", "-s", str(words_per_minute(1.0)), "-a", "100",
                    "-w", str(path), "-m", espeak_ssml(text, 1.0, phonemes=True)],
                   check=True)  # fmt: skip
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def _session_clips(engine: str):
    script = load(SCRIPT)
    requests = speech_requests(script, Overrides(engine=engine))
    plain = ClipRequest(SENTENCE, engine=engine)
    written = ClipRequest(WRITTEN_OUT, engine=engine)
    made = synthesize([ClipRequest(r.text, engine=r.engine, lexicon=r.lexicon) for r in requests]
                      + [plain, written])  # fmt: skip
    return requests, dict(zip(["mbsr", "metta", "plain", "written"], made))


def test_espeak_says_the_lexicon_phonemes(tmp_path):
    requests, clips = _session_clips("pyttsx3")
    # What espeak is handed: the phonemes, as espeak's own [[ ]] input (espeakPHONEMES).
    handed = speech.resolve_requests([ClipRequest(requests[0].text, engine="pyttsx3",
                                                  lexicon=requests[0].lexicon)],
                                     sample_rate=48000)[0].request.text  # fmt: skip
    assert phoneme_text(handed) == (f"This is [[{ESPEAK_MBSR}]], a gentle practice.", True)
    # ... and what it says: exactly the espeak command's output for that phoneme input
    reference = espeak_cli(f"This is [[{ESPEAK_MBSR}]], a gentle practice.", tmp_path / "r.wav")
    expected = cache.encode(dsp.process(reference, 22050, 48000)).samples
    assert np.array_equal(clips["mbsr"].samples, expected)
    # The clip is the written-out phrase's length (±2 %), half as long again as "MBSR" spelled.
    mbsr, plain, written = (len(clips[k].samples) for k in ("mbsr", "plain", "written"))
    assert abs(mbsr - written) <= 0.02 * written
    assert mbsr > 1.3 * plain
    # A respelling is what the engine reads instead of the word: the same clip.
    (respelled,) = synthesize([ClipRequest("May you know met-tah.", engine="pyttsx3")])
    assert np.array_equal(clips["metta"].samples, respelled.samples)


def test_piper_says_the_lexicon_phonemes():
    from player.speech.piper_engine import PiperEngine, engine_text, find_voice

    requests, clips = _session_clips("piper")
    handed = speech.resolve_requests([ClipRequest(requests[0].text, engine="piper",
                                                  lexicon=requests[0].lexicon)],
                                     sample_rate=48000)[0].request.text  # fmt: skip
    text = engine_text(handed)
    assert text == f"This is [[{PIPER_MBSR},]] a gentle practice."
    # The phonemes Piper's model gets: the entry's IPA in place of its reading of "MBSR",
    # the rest (the comma's pause too) as without the lexicon.
    voice = PiperEngine.load_voice(PiperEngine.__new__(PiperEngine), find_voice(None)[0])
    given_ = "".join("".join(s) for s in voice.phonemize(text))
    default = "".join("".join(s) for s in voice.phonemize(engine_text(SENTENCE)))
    assert PIPER_MBSR in given_ and PIPER_MBSR not in default
    assert given_.replace(PIPER_MBSR, "MBSR") == default.replace("ˌɛmbˌiːʲˌɛsˈɑːɹ", "MBSR")
    # Piper's clips vary by a few per cent from run to run: the lexicon clip is near the
    # written-out phrase's length and far longer than "MBSR" as letters.
    mbsr, plain, written = (len(clips[k].samples) for k in ("mbsr", "plain", "written"))
    assert abs(mbsr - written) <= 0.2 * written
    assert mbsr > 1.15 * plain
    (respelled,) = synthesize([ClipRequest("May you know met-tah.", engine="piper")])
    assert respelled.key == clips["metta"].key  # the respelling is the text Piper is given


def test_the_timeline_uses_the_lexicon_clip_lengths():
    script = load(SCRIPT)
    requests = speech_requests(script, Overrides(engine="pyttsx3"))
    clips = synthesize([ClipRequest(r.text, engine=r.engine, lexicon=r.lexicon) for r in requests])
    lengths = {r: len(c.samples) for r, c in zip(requests, clips)}
    timeline = compile_timeline(script, lengths.__getitem__, overrides=Overrides(engine="pyttsx3"))
    assert [e.length for e in timeline.speech] == [len(c.samples) for c in clips]
