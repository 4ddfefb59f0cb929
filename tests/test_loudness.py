"""BS.1770-4 loudness and true peak: against the standard's numbers, pyloudnorm and scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from player.audio import loudness

RATE = 48000


def _noise(seconds: float, rate: int = RATE, channels: int = 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((int(seconds * rate), channels)) * 0.1


def _speechlike(seconds: float, rate: int = RATE, seed: int = 2) -> np.ndarray:
    """Syllable-rate bursts of harmonic-plus-noise with pauses: exercises both gates."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2
    env *= np.repeat(rng.random(int(seconds) + 1) > 0.25, rate)[:n]  # some silent seconds
    x = 0.2 * env * voiced + 0.01 * env * rng.standard_normal(n)
    x[: n // 3] *= 0.01  # a long very quiet stretch: the relative gate drops it
    return x


# --- K-weighting -------------------------------------------------------------------------


def test_k_weighting_matches_the_standard_table_at_48k():
    # ITU-R BS.1770-4, tables 1 and 2.
    sos = loudness.k_weighting_sos(48000)
    shelf = [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585]
    highpass = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(sos[0], shelf, atol=1e-10)
    np.testing.assert_allclose(sos[1], highpass, atol=1e-10)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000, 96000])
def test_k_power_response_matches_the_filter(rate):
    from scipy.signal import sosfreqz

    freqs = np.array([20.0, 38.0, 100.0, 440.0, 1000.0, 1681.0, 4000.0, 7000.0])
    _, h = sosfreqz(loudness.k_weighting_sos(rate), worN=freqs, fs=rate)
    np.testing.assert_allclose(loudness.k_power_response(freqs, rate), np.abs(h) ** 2, rtol=1e-9)
    np.testing.assert_allclose(loudness.k_response(freqs, rate), h, rtol=1e-9, atol=1e-12)
    # The shape the standard describes: about +4 dB above 2 kHz, a steep cut below 38 Hz.
    # (+0.69 dB at 1 kHz is what the -0.691 in the loudness formula cancels.)
    db = 10 * np.log10(loudness.k_power_response([20.0, 1000.0, 6000.0], rate))
    assert db[0] < -10 and abs(db[1] - 0.691) < 0.06 and 3.5 < db[2] < 4.2


def test_full_scale_1khz_sine_reads_minus_3_lufs():
    # BS.1770: a 0 dBFS 1 kHz sine in one channel indicates -3.01 LKFS.
    t = np.arange(10 * RATE) / RATE
    assert loudness.integrated_loudness(np.sin(2 * np.pi * 997 * t), RATE) == pytest.approx(-3.01, abs=0.02)


# --- integrated loudness -------------------------------------------------------------------


@pytest.mark.parametrize("rate", [48000, 44100])
def test_integrated_loudness_agrees_with_pyloudnorm(rate):
    import pyloudnorm as pyln
    t = np.arange(10 * rate) / rate
    signals = {
        "stereo noise": _noise(10, rate),
        "speech-like": _speechlike(12, rate),
        "100 Hz": 0.3 * np.sin(2 * np.pi * 100 * t),
        "5 kHz stereo": np.stack([0.2 * np.sin(2 * np.pi * 5000 * t)] * 2, axis=1),
        "level steps": np.concatenate([_noise(4, rate, 1)[:, 0] * g for g in (1.0, 0.3, 0.02, 0.001)]),
    }
    for name, x in signals.items():
        ours = loudness.integrated_loudness(x, rate)
        # pyloudnorm's "DeMan" filter is the same prototype as ours (libebur128's); its
        # default fits the filter with RBJ cookbook shelves, which reads ~0.04 LU lower.
        exact = pyln.Meter(rate, filter_class="DeMan").integrated_loudness(x)
        default = pyln.Meter(rate).integrated_loudness(x)
        assert abs(ours - exact) < 0.01, name
        assert abs(ours - default) < 0.05, name


def test_gating():
    # 20 s loud and 20 s 30 dB quieter: the relative gate drops the quiet part (only the
    # three blocks straddling the step, 1-6 LU down, still count).
    loud = _noise(20, channels=1)[:, 0]
    both = np.concatenate([loud, loud * 10 ** (-30 / 20)])
    alone = loudness.integrated_loudness(loud, RATE)
    assert loudness.integrated_loudness(both, RATE) == pytest.approx(alone, abs=0.05)
    ungated = 10 * np.log10(np.mean(loudness.k_hop_powers(both, RATE))) - 0.691
    assert ungated < alone - 2.9
    # Below the absolute gate everything is dropped.
    assert loudness.integrated_loudness(loud * 1e-5, RATE) == float("-inf")
    assert loudness.integrated_loudness(np.zeros(RATE), RATE) == float("-inf")
    assert loudness.integrated_loudness(np.ones(RATE // 10), RATE) == float("-inf")  # < 400 ms


def test_integrated_from_hop_powers_by_hand():
    # 8 hops at power p (→ 5 blocks at p) and 8 silent hops: the silent blocks and the ones
    # straddling the edge that are > 10 LU down are gated away.
    p = 10 ** ((-20 + 0.691) / 10)
    hops = np.concatenate([np.full(8, p), np.zeros(8)])
    # Blocks: 5 at p, then means 3p/4, p/2, p/4 (-1.2, -3, -6 LU: kept), 0 (gated).
    expected = -0.691 + 10 * np.log10((5 * p + 0.75 * p + 0.5 * p + 0.25 * p) / 8)
    assert loudness.integrated_from_hop_powers(hops) == pytest.approx(expected, abs=1e-9)
    assert loudness.integrated_from_hop_powers(np.full(3, p)) == float("-inf")
    assert loudness.integrated_from_hop_powers(np.full(4, p), hops_per_block=4) == pytest.approx(-20.0)


def test_hop_powers_predict_the_integrated_loudness():
    x = np.stack([_speechlike(30), _speechlike(30, seed=5)], axis=1)
    weighted = loudness.k_weight(x, RATE)
    hop = RATE // 10
    n = len(x) // hop
    hops = (weighted[: n * hop] ** 2).reshape(n, hop, 2).mean(axis=1).sum(axis=1)
    assert loudness.integrated_from_hop_powers(hops) == pytest.approx(
        loudness.integrated_loudness(x, RATE), abs=1e-6
    )
    np.testing.assert_allclose(loudness.k_hop_powers(x, RATE), hops, rtol=1e-9)

    # The mixer's use: uncorrelated sources add in power, so the sum of their hop powers
    # predicts the loudness of the mix without rendering it.
    bed = _noise(30, seed=9) * 0.3
    mix = x + bed
    predicted = loudness.integrated_from_hop_powers(
        loudness.k_hop_powers(x, RATE) + loudness.k_hop_powers(bed, RATE)
    )
    assert abs(predicted - loudness.integrated_loudness(mix, RATE)) < 0.1


def test_long_signals_are_filtered_in_chunks_like_one_piece():
    x = _noise(25, channels=2)  # longer than the internal chunk
    whole = loudness.k_weight(x, RATE)
    hop = RATE // 10
    n = len(x) // hop
    direct = (whole[: n * hop] ** 2).reshape(n, hop, 2).mean(axis=1).sum(axis=1)
    np.testing.assert_allclose(loudness.k_hop_powers(x, RATE), direct, rtol=1e-9)


# --- true peak -----------------------------------------------------------------------------


def _faded(x: np.ndarray, seconds: float = 0.1) -> np.ndarray:
    """Fade in and out so the edges of a test tone do not ring (which is a real peak)."""
    n = int(seconds * RATE)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def test_true_peak_of_quarter_rate_sine_at_45_degrees():
    t = np.arange(2 * RATE)
    x = _faded(np.sin(2 * np.pi * t / 4 + np.pi / 4))
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)  # sample peak
    assert loudness.true_peak_dbtp(x, RATE) == pytest.approx(0.0, abs=0.02)


def test_true_peak_agrees_with_resample_poly():
    from scipy.signal import resample_poly

    rng = np.random.default_rng(4)
    t = np.arange(RATE) / RATE
    for _ in range(5):
        freqs = rng.uniform(200, 16000, 4)
        x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in freqs) / 4
        x = np.stack([_faded(x), _faded(np.roll(x, 17)) * 0.5], axis=1)
        reference = 20 * np.log10(np.abs(resample_poly(x, 4, 1, axis=0)).max())
        assert loudness.true_peak_dbtp(x, RATE) == pytest.approx(reference, abs=0.05)
        assert loudness.true_peak_dbtp(x, RATE) >= 20 * np.log10(np.abs(x).max())


def test_true_peak_finds_a_lone_intersample_peak_in_a_long_signal():
    # A quiet minute with one short burst whose true peak is 3 dB over its samples: the
    # chunk screening must still find it (and the loud-sample chunk must not hide it).
    x = _noise(60, channels=2) * 0.001
    burst = _faded(np.sin(2 * np.pi * np.arange(RATE // 2) / 4 + np.pi / 4), 0.05) * 0.5
    x[30 * RATE : 30 * RATE + len(burst), 1] += burst
    x[10 * RATE, 0] = 0.4  # a sample peak (0.4) above the burst's samples (0.354)
    assert loudness.true_peak_dbtp(x, RATE) == pytest.approx(20 * np.log10(0.5), abs=0.02)


def test_true_peak_edge_cases():
    assert loudness.true_peak_dbtp(np.zeros((100, 2)), RATE) == float("-inf")
    assert loudness.true_peak_dbtp(np.zeros(0), RATE) == float("-inf")
    x = np.zeros(1000)
    x[500] = 0.5  # a lone impulse rings between samples, but never above itself here
    assert loudness.true_peak_dbtp(x, RATE) == pytest.approx(20 * np.log10(0.5), abs=0.01)


def test_importing_does_not_pull_in_scipy_or_pyloudnorm():
    code = (
        "import sys, player.audio.loudness, player.audio.synth, player.audio.limiter; "
        "print(any(m == 'scipy' or m.startswith(('scipy.', 'pyloudnorm')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
