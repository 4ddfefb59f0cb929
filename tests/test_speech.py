"""Speech with the real engine (pyttsx3 + espeak-ng): what a listener would notice."""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave

import numpy as np
import pytest

from player.errors import SpeechError
from player.speech import (
    ClipRequest,
    cache,
    check_engine,
    default_engine,
    dsp,
    engine_versions,
    list_voices,
    synthesize,
)
from player.speech.pyttsx3_engine import espeak_ssml, words_per_minute

SHORT = "Breathe in."
SENTENCE = "Let your shoulders soften, and let the breath find its own pace."


def espeak_cli(text: str, voice: str, rate: float, path, ssml: bool = False) -> np.ndarray:
    """What the espeak-ng command writes for the same text, voice and speed; with ``ssml``,
    for the SSML the adapter hands espeak (``espeak_ssml``: the text with its pauses)."""
    assert shutil.which("espeak-ng"), "the espeak-ng command is not installed (make test installs it)"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute(rate)), "-a", "100", "-w",
         str(path)] + (["-m", espeak_ssml(text, rate)] if ssml else [text]),
        check=True,
    )
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 22050
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def longest_quiet_s(samples: np.ndarray, rate: int, threshold: float = 1e-3) -> float:
    quiet = np.concatenate([[False], np.abs(samples) < threshold, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    runs = edges[1::2] - edges[::2]
    return (runs.max() if runs.size else 0) / rate


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One synthesis call for most tests (keeps the file fast)."""
    import os

    os.environ["HAVEN_HOME"] = str(tmp_path_factory.mktemp("speech-home"))
    try:
        made = synthesize(
            [
                ClipRequest(SHORT),
                ClipRequest(SENTENCE),
                ClipRequest(SENTENCE, rate=0.8),
                ClipRequest(SENTENCE, rate=1.2),
                ClipRequest(SENTENCE, volume=0.5),
                ClipRequest(SENTENCE, voice="en-us"),
                ClipRequest('Breathe <break time="5s"/> in.'),
                ClipRequest("[[h@'loU]]"),
                ClipRequest("Tom & Jerry <b>rest</b> &amp; [[a]] breathe."),
            ]
        )
    finally:
        del os.environ["HAVEN_HOME"]
    return dict(
        zip(["short", "sentence", "slow", "fast", "quiet", "us", "ssml", "phonemes", "marks"], made)
    )


def test_default_engine_is_pyttsx3():
    # The suite's pin (tests/conftest.py); the real default: tests/test_voice_choice.py.
    assert default_engine() == "pyttsx3"


def test_clip_is_speech_not_silence_and_not_clipped(clips):
    for clip in clips.values():
        rms = float(np.sqrt(np.mean(clip.samples.astype(np.float64) ** 2)))
        peak = float(np.max(np.abs(clip.samples)))
        assert rms > 0.02, clip.text
        assert peak < 0.999, clip.text
        assert clip.samples.dtype == np.float32
        assert clip.samples.ndim == 1


def test_duration_grows_with_text_length(clips):
    assert 0.3 < clips["short"].duration_s < 1.5
    assert clips["sentence"].duration_s > 2 * clips["short"].duration_s


def test_slower_rate_is_longer(clips):
    slow, normal, fast = clips["slow"], clips["sentence"], clips["fast"]
    assert slow.duration_s > normal.duration_s > fast.duration_s
    assert slow.duration_s > 1.3 * fast.duration_s


def test_volume_scales_the_level_but_never_the_length(clips):
    quiet, full = clips["quiet"].samples, clips["sentence"].samples
    assert len(quiet) == len(full)
    assert np.allclose(quiet, 0.5 * full, rtol=0, atol=1e-7)
    (silent,) = synthesize([ClipRequest(SENTENCE, volume=0.0)])
    assert len(silent.samples) == len(full) and not silent.samples.any()


def test_voice_changes_the_sound(clips):
    us, gb = clips["us"].samples, clips["sentence"].samples
    assert len(us) != len(gb) or not np.array_equal(us, gb)


def test_edges_are_trimmed_to_the_margin_and_faded(clips):
    rate = 48000
    for clip in clips.values():
        loud = np.flatnonzero(np.abs(clip.samples) >= dsp.TRIM_THRESHOLD)
        lead = loud[0] / rate
        tail = (len(clip.samples) - 1 - loud[-1]) / rate
        # 20 ms of margin each side (resampling may ring a little into it)
        assert 0.012 <= lead <= dsp.MARGIN_S + 0.001, clip.text
        assert 0.012 <= tail <= dsp.MARGIN_S + 0.001, clip.text
        assert abs(clip.samples[0]) < 1e-4 and abs(clip.samples[-1]) < 1e-4


def test_sample_rate_is_as_requested(clips):
    clip44 = synthesize([ClipRequest(SENTENCE)], sample_rate=44100)[0]
    clip48 = clips["sentence"]
    assert clip44.sample_rate == 44100 and clip48.sample_rate == 48000
    assert len(clip44.samples) == round(len(clip48.samples) * 44100 / 48000)
    assert abs(clip44.duration_s - clip48.duration_s) < 0.001


def test_clips_equal_espeak_command_output(tmp_path):
    # Several clips in one worker: each must still match a fresh espeak process exactly
    # (espeak keeps pitch state between utterances; the engine forks a fresh one per clip).
    texts = ["Let the breath be easy.", SENTENCE, "Now rest."]
    made = synthesize([ClipRequest(t, voice="en-us", rate=0.8) for t in texts], jobs=1)
    for text, clip in zip(texts, made):
        reference = espeak_cli(text, "en-us", 0.8, tmp_path / "ref.wav", ssml=True)
        stored = cache.encode(dsp.process(reference, 22050, 48000)).samples  # the cache's 16 bits
        assert np.array_equal(clip.samples, stored), text


def test_markup_is_read_as_text_never_obeyed(clips, tmp_path):
    # As SSML, <break time="5s"/> would be 5 s of silence: here it is spoken, so no long gap.
    ssml = clips["ssml"]
    assert longest_quiet_s(ssml.samples, 48000) < 0.5
    assert ssml.duration_s < clips["short"].duration_s + 5
    # As phonemes, [[h@'loU]] would be a short "hello" (the espeak command reads [[ ]] as
    # phonemes by default); read as text, the letters are spelled out: clearly longer.
    hello = dsp.process(espeak_cli("[[h@'loU]]", "gmw/en", 1.0, tmp_path / "p.wav"), 22050, 48000)
    assert clips["phonemes"].duration_s > 1.5 * (len(hello) / 48000)
    assert clips["marks"].duration_s > 2.0


def test_stdout_stays_clean(capfd):
    synthesize([ClipRequest("Nothing should be printed.")])
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


def test_unknown_voice_falls_back_to_default_with_one_notice(clips):
    notices = []
    made = synthesize(
        [ClipRequest(SENTENCE, voice="klingon-imperial"), ClipRequest(SHORT, voice="klingon-imperial")],
        notify=notices.append,
    )
    assert len(notices) == 1
    assert 'voice "klingon-imperial" is not installed' in notices[0]
    assert "default voice" in notices[0]
    assert np.array_equal(made[0].samples, clips["sentence"].samples)
    # From the cache the notice is still given (the voice is still missing).
    again = []
    synthesize([ClipRequest(SHORT, voice="klingon-imperial")], notify=again.append)
    assert again == notices


def test_identical_requests_are_made_once_and_returned_in_order():
    progress = []
    made = synthesize(
        [ClipRequest("One."), ClipRequest("Two."), ClipRequest("One.")],
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [c.text for c in made] == ["One.", "Two.", "One."]
    assert made[0] is made[2]
    assert progress[-1] == (2, 2)
    with pytest.raises(ValueError):
        made[0].samples[0] = 1.0  # shared, so read-only


def test_empty_text_gives_an_empty_clip_without_an_engine():
    (clip,) = synthesize([ClipRequest("   ")])
    assert clip.duration_s == 0


@pytest.mark.parametrize("bad", [{"rate": 0}, {"rate": float("nan")}, {"volume": 1.5}])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError):
        synthesize([ClipRequest("Hi.", **bad)])


def test_list_voices():
    voices = list_voices()
    ids = {v.id for v in voices}
    assert "gmw/en" in ids and "gmw/en-us" in ids
    english = next(v for v in voices if v.id == "gmw/en-us")
    assert english.engine == "pyttsx3" and english.installed and "en-us" in english.languages


def test_versions_and_doctor_check():
    versions = engine_versions()
    assert versions["pyttsx3"][0].isdigit() and versions["espeak-ng"][0].isdigit()
    ok, detail, fix = check_engine()
    assert ok, detail
    assert "spoke a test sentence" in detail and fix is None


def test_espeak_without_its_data_is_reported_with_a_fix(tmp_path, monkeypatch):
    # espeak prints "Error processing file '.../phontab'" and calls exit(1) when its data is
    # missing: a real process death, caught in the worker's helper and explained.
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path))
    with pytest.raises(SpeechError) as info:
        synthesize([ClipRequest("Hello.")])
    message = str(info.value)
    assert "the engine process died (exit code 1)" in message and "phontab" in message
    assert "espeak-ng-data" in info.value.hint
    ok, detail, fix = check_engine()
    assert not ok and "phontab" in detail and "espeak-ng-data" in fix


def test_importing_speech_is_cheap():
    code = (
        "import sys, player.speech; from player.speech import ClipRequest; "
        "heavy = [m for m in ('numpy', 'pyttsx3', 'soxr') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rate_mapping_is_calm_and_clamped():
    assert words_per_minute(1.0) == 150
    assert (words_per_minute(0.8), words_per_minute(1.2)) == (120, 180)
    assert words_per_minute(0.1) == 80 and words_per_minute(10) == 450


def test_fixes_for_known_engine_failures():
    from player.speech.pyttsx3_engine import FIX_DATA, FIX_LIBRARY, Pyttsx3Engine

    missing = "This means you probably do not have eSpeak or eSpeak-ng installed!"
    assert Pyttsx3Engine.fix_for(missing) == FIX_LIBRARY == "sudo apt-get install libespeak-ng1"
    died = "the engine process died (exit code 1): Error processing file '/x/phontab'"
    assert Pyttsx3Engine.fix_for(died) == FIX_DATA
    assert Pyttsx3Engine.fix_for("timed out after 20 s") is None
