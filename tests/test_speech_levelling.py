"""Voice finishing: every clip at the reference loudness, its peaks bounded, by numbers."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr

from player.audio import loudness
from player.speech.levelling import MAX_PEAK_TO_LOUDNESS_DB, VOICE_REF_LUFS, clip_loudness, finish_clip

RATE = 48000


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("voice") / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "Let yourself settle, and notice the breath as it moves."],
        check=True,
    )
    x, rate = sf.read(path, dtype="float64")
    return soxr.resample(x, rate, RATE).astype(np.float32)


def test_clip_loudness_matches_the_standard_meter(speech):
    assert clip_loudness(speech, RATE) == pytest.approx(loudness.integrated_loudness(speech, RATE), abs=0.05)


@pytest.mark.parametrize("volume", [1.0, 0.5, 0.2])
def test_finished_clip_is_at_the_reference_scaled_by_volume(speech, volume):
    out = finish_clip(speech, RATE, volume)
    assert len(out) == len(speech) and out.dtype == np.float32
    expected = VOICE_REF_LUFS + 20 * np.log10(volume)
    assert loudness.integrated_loudness(out, RATE) == pytest.approx(expected, abs=0.1)


def test_peak_to_loudness_is_bounded(speech):
    raw_plr = loudness.true_peak_dbtp(speech, RATE) - loudness.integrated_loudness(speech, RATE)
    out = finish_clip(speech, RATE)
    plr = loudness.true_peak_dbtp(out, RATE) - loudness.integrated_loudness(out, RATE)
    assert raw_plr > MAX_PEAK_TO_LOUDNESS_DB + 2  # espeak's speech really needs it
    assert plr <= MAX_PEAK_TO_LOUDNESS_DB + 1.5


def test_finishing_keeps_the_speech_in_place(speech):
    """Levelling reshapes peaks only: the same speech, not moved by a single sample."""
    out = finish_clip(speech, RATE).astype(np.float64)
    ref = speech.astype(np.float64)

    def corr(lag: int) -> float:
        a, b = (out[lag:], ref[: len(ref) - lag]) if lag >= 0 else (out[:lag], ref[-lag:])
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    at_zero = corr(0)
    assert at_zero > 0.9
    assert all(corr(lag) < at_zero for lag in (-240, -48, -1, 1, 48, 240))


def test_short_words_and_silence():
    t = np.arange(int(0.2 * RATE)) / RATE
    word = (0.3 * np.sin(2 * np.pi * 300 * t) * np.hanning(len(t))).astype(np.float32)
    out = finish_clip(word, RATE)
    assert clip_loudness(out, RATE) == pytest.approx(VOICE_REF_LUFS, abs=0.2)
    silent = np.zeros(RATE, dtype=np.float32)
    assert not finish_clip(silent, RATE).any()
    assert finish_clip(np.zeros(0, dtype=np.float32), RATE).size == 0
