"""Issue 13, prosody for meditation: a calm default pace for each engine, measured in words a
minute on built-in lines, and bedtime slowing that lengthens pauses and vowels, not
consonants (espeak-ng's own rate does this; Piper's length scale alone would not, so the
neural adapter moves part of the slowing into the pauses: ``lengthen_pauses``).

"Consonant-like" frames are 10 ms frames of speech with most of their energy above 3 kHz
(fricatives, bursts): a uniform time-stretch would lengthen them as much as everything else.
"""

from __future__ import annotations

import numpy as np
import pytest

from player.speech import ClipRequest, synthesize
from player.speech.piper_engine import PAUSE_STRETCH_MAX, lengthen_pauses

RATE = 48000
BEDTIME = round(0.9 * 0.84, 4)  # SLEEP_VOICE_RATE x the sleep scripts' own voice rate
LINES = [
    "Let your shoulders soften, and let the breath find its own pace.",
    "Notice the sensations in your feet, the contact with the floor.",
    "Breathe in slowly, and as you breathe out, let the jaw relax.",
    "Whatever is here, see if you can simply let it be.",
    "Rest your attention on the breath, just as it is, without changing it.",
    "When the mind wanders, gently bring it back, with kindness.",
]
WORDS = sum(len(line.split()) for line in LINES)


def frame_classes(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Seconds of (silence, consonant-like speech, voiced speech) in a clip."""
    n = rate // 100
    f = x[: len(x) // n * n].reshape(-1, n).astype(np.float64)
    db = 20 * np.log10(np.sqrt((f**2).mean(axis=1)) + 1e-9)
    spec = np.abs(np.fft.rfft(f * np.hanning(n), axis=1)) ** 2
    high = spec[:, np.fft.rfftfreq(n, 1 / rate) > 3000].sum(axis=1) / (spec.sum(axis=1) + 1e-20)
    silent = db < db.max() - 35
    consonant = ~silent & (high > 0.5)
    return np.array([silent.sum(), consonant.sum(), (~silent & ~consonant).sum()]) * 0.01


def comma_pauses(x: np.ndarray, rate: int = RATE) -> list[float]:
    """Seconds of each pause inside a clip: quiet runs of 0.12 s or more (10 ms frames 40 dB
    below the loudest), as README "How the voices were tuned" measures commas."""
    n = rate // 100
    level = np.sqrt(np.mean(x[: len(x) // n * n].reshape(-1, n) ** 2, axis=1))
    quiet = level < level.max() * 10 ** (-40 / 20)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    return [(b - a) / 100 for a, b in zip(edges[::2], edges[1::2])
            if a > 0 and b < len(quiet) and b - a >= 12]  # fmt: skip


def spoken(engine: str, rate: float):
    clips = synthesize([ClipRequest(line, engine=engine, rate=rate) for line in LINES],
                       sample_rate=RATE, jobs=2, timeout_s=60.0)
    seconds = sum(c.duration_s for c in clips)
    pauses = [p for c in clips for p in comma_pauses(c.samples)]
    return (WORDS / seconds * 60, np.sum([frame_classes(c.samples) for c in clips], axis=0),
            float(np.median(pauses)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    # A module fixture runs before the per-test HAVEN_HOME: its own, so the clips are made
    # here and now, never read from (or left in) the user's cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAVEN_HOME", str(tmp_path_factory.mktemp("prosody-home")))
        return {(engine, rate): spoken(engine, rate)
                for engine in ("pyttsx3", "piper") for rate in (1.0, BEDTIME)}


def test_each_engine_speaks_at_a_calm_pace_by_default(measured):
    espeak_wpm, *_ = measured["pyttsx3", 1.0]
    neural_wpm, *_ = measured["piper", 1.0]
    # 150 wpm set in espeak-ng speaks ~170-180 words a minute of clip; the neural voice's
    # own pace (~210) is slowed 1.25x to the same calm pace, so a session keeps its length.
    assert 165 < espeak_wpm < 195, espeak_wpm
    assert 160 < neural_wpm < 200, neural_wpm
    # within 15 %: 184 against 171 words a minute in the tuning runs, and Piper's lengths vary
    # ~4 % from run to run (a stochastic duration predictor)
    assert abs(neural_wpm / espeak_wpm - 1) < 0.15, (neural_wpm, espeak_wpm)


@pytest.mark.parametrize("engine", ["pyttsx3", "piper"])
def test_bedtime_slows_pauses_and_vowels_not_consonants(measured, engine):
    normal_wpm, normal, _ = measured[engine, 1.0]
    slow_wpm, slow, _ = measured[engine, BEDTIME]
    assert slow_wpm < normal_wpm * 0.85  # really slower: at least 15 % fewer words a minute
    silence, consonants, voiced = slow / normal
    uniform = 1 / BEDTIME  # 1.32: what time-stretching would do to every part
    assert silence > 1.3, (engine, silence)  # the pauses take the time
    assert consonants < silence, (engine, consonants, silence)
    if engine == "pyttsx3":  # espeak is deterministic: its own figures, with a small margin
        assert consonants < 1.25 < uniform, (engine, consonants)
        assert consonants < voiced + 0.1, (engine, consonants, voiced)
    else:
        # Piper's duration predictor is stochastic (clip lengths vary ~4 % from run to run):
        # consonants stretched 1.17x in the tuning runs and 1.23x once in CI, against 1.38x
        # before its slowing moved into the pauses. The claim that holds every time: less
        # than uniform time-stretching would give them.
        assert consonants < uniform, (engine, consonants)


def test_both_voices_pause_alike_at_commas(measured):
    # Median pause at the commas of LINES (10 commas): the system voice is asked for 0.35 s
    # (espeak's own is 0.19 s), the neural voice's calm pace gives ~0.32 s; at bedtime 0.62 s
    # and ~0.6-0.8 s. Alike within 0.1 s at 1.0, and both at least half a second at bedtime.
    espeak, neural = measured["pyttsx3", 1.0][2], measured["piper", 1.0][2]
    assert 0.32 <= espeak <= 0.38 and 0.25 <= neural <= 0.45, (espeak, neural)
    assert abs(espeak - neural) <= 0.1, (espeak, neural)
    slow_espeak, slow_neural = measured["pyttsx3", BEDTIME][2], measured["piper", BEDTIME][2]
    assert slow_espeak >= 0.55 and slow_neural >= 0.5, (slow_espeak, slow_neural)


def test_lengthen_pauses_grows_only_the_pauses():
    rate = 22050
    tone = (0.5 * np.sin(2 * np.pi * 220 * np.arange(int(0.5 * rate)) / rate)).astype(np.float32)
    gap = np.zeros(int(0.3 * rate), dtype=np.float32)
    audio = np.concatenate([tone, gap, tone])
    longer = lengthen_pauses(audio, rate, 1.2)
    assert len(longer) == pytest.approx(len(audio) * 1.2, abs=0.02 * rate)
    # The speech is untouched: the first tone, and the second (it only moved later).
    assert np.array_equal(longer[: len(tone)], tone)
    assert np.array_equal(longer[-len(tone):], tone)
    # A pause grows at most PAUSE_STRETCH_MAX times; a clip without one keeps its length.
    capped = lengthen_pauses(audio, rate, 10.0)
    assert len(capped) - len(audio) == pytest.approx((PAUSE_STRETCH_MAX - 1) * len(gap),
                                                     abs=0.025 * rate)  # whole 10 ms frames
    assert np.array_equal(lengthen_pauses(tone, rate, 1.5), tone)
    # A closure-length gap (shorter than a pause) is not a pause.
    short = np.concatenate([tone, np.zeros(int(0.06 * rate), np.float32), tone])
    assert np.array_equal(lengthen_pauses(short, rate, 1.5), short)
