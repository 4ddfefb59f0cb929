"""The streaming true-peak limiter: ceiling, block-size invariance, transparency, smoothness."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest

from player.audio import loudness
from player.audio.limiter import SUB_BLOCK, TruePeakLimiter

RATE = 48000


def _run(x: np.ndarray, sizes=(4096,), **kwargs) -> tuple[np.ndarray, np.ndarray, TruePeakLimiter]:
    """Feed ``x`` in blocks cycling through ``sizes``, then flush; output aligned with x."""
    lim = TruePeakLimiter(RATE, channels=x.shape[1], **kwargs)
    outs, gains, pos, i = [], [], 0, 0
    while pos < len(x):
        n = int(sizes[i % len(sizes)])
        out, gain = lim.process_with_gain(x[pos : pos + n])
        assert len(out) == len(x[pos : pos + n])
        outs.append(out)
        gains.append(gain)
        pos += n
        i += 1
    tail, tail_gain = lim.process_with_gain(np.zeros((lim.latency, x.shape[1]), np.float32))
    out = np.concatenate(outs + [tail])[lim.latency :]
    gain = np.concatenate(gains + [tail_gain])[lim.latency :]
    return out, gain, lim


def _loud_program(seconds: float = 8.0, seed: int = 3) -> np.ndarray:
    """A hard case: voiced bursts, full-band noise, near-Nyquist tones and lone clicks, +12 dB."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    phase = 2 * np.pi * np.cumsum(110 + 40 * np.sin(2 * np.pi * 0.5 * t)) / RATE
    voiced = sum(np.sin(k * phase + k) / k for k in range(1, 20)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    x = np.stack([voiced, np.roll(voiced, 240)], axis=1) * 0.5
    x[n // 4 : n // 2] += rng.standard_normal((n // 4, 2)) * 0.8  # full-band noise
    x[n // 2 : 3 * n // 4] += 0.9 * np.sin(2 * np.pi * 19000 * t[n // 2 : 3 * n // 4] + 0.4)[:, None]
    x[3 * n // 4 :: 9000, 0] += 3.0  # isolated clicks
    x[3 * n // 4 + 1 :: 9000, 0] -= 3.0
    return (x * 4.0).astype(np.float32)


def _espeak_speech(tmp_path) -> np.ndarray | None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    import soundfile as sf
    import soxr

    wav = tmp_path / "speech.wav"
    text = (
        "Settle into a comfortable position. Breathe in slowly through your nose, "
        "and let the breath out gently. Notice the stillness at the end of each breath."
    )
    subprocess.run([exe, "-w", str(wav), text], check=True, capture_output=True)
    speech, rate = sf.read(str(wav), dtype="float32")
    speech = soxr.resample(speech, rate, RATE).astype(np.float32) * np.float32(10 ** (12 / 20))
    return np.stack([speech, speech], axis=1)


def test_loud_speech_stays_under_the_ceiling(tmp_path):
    x = _espeak_speech(tmp_path)
    assert x is not None, "espeak-ng is not installed (make test installs it)"
    assert loudness.true_peak_dbtp(x, RATE) > 8.0  # really driven into the limiter
    y, gain, _ = _run(x)
    assert loudness.true_peak_dbtp(y, RATE) <= -1.0
    assert gain.min() < 0.35
    # Limiting, not muting: the loudness drops by less than the peaks did.
    assert loudness.integrated_loudness(y, RATE) > loudness.integrated_loudness(x, RATE) - 10


@pytest.mark.parametrize("ceiling", [-1.0, -3.0])
def test_hard_material_stays_under_the_ceiling(ceiling):
    x = _loud_program()
    y, gain, lim = _run(x, ceiling_dbtp=ceiling)
    assert loudness.true_peak_dbtp(y, RATE) <= ceiling
    np.testing.assert_array_equal(y, (x * gain[:, None].astype(np.float32)))  # only a gain


def test_output_is_the_input_delayed_and_scaled_by_one_smooth_linked_gain():
    x = _loud_program(4)
    x[:, 1] *= 0.1  # the right channel alone would not need limiting
    y, gain, lim = _run(x)
    assert lim.latency == (lim.window + 1) * SUB_BLOCK + loudness.TRUE_PEAK_HALF_TAPS - 1
    assert 5 <= lim.latency * 1000 / RATE <= 12
    assert np.all((gain > 0) & (gain <= 1))
    # Both channels get the same gain (the stereo image does not wander).
    np.testing.assert_array_equal(y[:, 1], x[:, 1] * gain.astype(np.float32))
    # No clicks: the gain moves by at most 1/(look-ahead) per sample, however hard it works.
    assert np.abs(np.diff(gain)).max() <= 1.0 / (lim.window * SUB_BLOCK) + 1e-12
    assert np.abs(np.diff(y, axis=0)).max() <= np.abs(np.diff(x, axis=0)).max()


def test_block_size_never_changes_a_sample():
    x = _loud_program(5)
    reference, ref_gain, _ = _run(x, sizes=(len(x),))
    rng = np.random.default_rng(11)
    for sizes in [(1000,), (4096,), (1, 7, 333, 5000, 64), tuple(rng.integers(1, 9000, 40))]:
        y, gain, _ = _run(x, sizes=sizes)
        assert np.array_equal(y, reference), sizes
        assert np.array_equal(gain, ref_gain), sizes


def test_transparent_when_nothing_needs_limiting():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((5 * RATE, 2)) * 0.1).astype(np.float32)  # peaks ≈ -7 dBTP
    assert loudness.true_peak_dbtp(x, RATE) < -2
    y, gain, _ = _run(x, sizes=(1000,))
    assert np.array_equal(y, x)
    assert np.all(gain == 1.0)


def test_gain_recovers_slowly_then_exactly():
    release_ms = 150.0
    x = np.zeros((6 * RATE, 2), np.float32)
    x[RATE : RATE + 480] = 2.0 * np.sin(2 * np.pi * 1000 * np.arange(480) / RATE)[:, None]
    quiet = (np.random.default_rng(2).standard_normal((4 * RATE, 2)) * 0.05).astype(np.float32)
    x[2 * RATE :] += quiet
    y, gain, lim = _run(x, release_ms=release_ms)
    lowest = int(np.argmin(gain))
    depth = 1 - gain[lowest]
    assert depth > 0.5
    # Released at about the requested speed: a tenth of the way back after ~release_ms.
    held = lowest + lim.window * SUB_BLOCK * 2
    later = held + int(release_ms * RATE / 1000)
    assert 0.2 < (1 - gain[later]) / (1 - gain[held]) < 0.5
    # ... and once it has fully recovered, the output is the input again, bit for bit.
    assert np.array_equal(y[4 * RATE :], x[4 * RATE :])
    assert np.all(gain[4 * RATE :] == 1.0)


def test_flush_and_reuse():
    lim = TruePeakLimiter(RATE)
    assert lim.flush().shape == (0, 2)  # nothing fed: nothing to flush
    x = _loud_program(1)
    first = np.concatenate([lim.process(x), lim.flush()])
    assert lim.flush().shape == (0, 2)  # a second flush gives nothing more
    assert first.shape == (len(x) + lim.latency, 2)
    assert not np.any(first[: lim.latency])
    again = np.concatenate([lim.process(x), lim.flush()])  # reset: a fresh stream
    assert np.array_equal(first, again)


def test_mono_and_bad_shapes():
    lim = TruePeakLimiter(RATE, channels=1)
    out = lim.process(np.full(1000, 3.0, np.float32))
    assert out.shape == (1000, 1)
    with pytest.raises(ValueError):
        TruePeakLimiter(RATE).process(np.zeros((10, 3), np.float32))


def test_throughput():
    """Frames per second for 48 kHz stereo in 4096-frame blocks (printed with -s)."""
    rng = np.random.default_rng(1)
    seconds = 20
    program = _loud_program(seconds)
    quiet = (rng.standard_normal((seconds * RATE, 2)) * 0.05).astype(np.float32)
    rates = {}
    for name, x in (("heavy limiting", program), ("nothing to limit", quiet)):
        lim = TruePeakLimiter(RATE)
        t0 = time.process_time()
        for i in range(0, len(x), 4096):
            lim.process(x[i : i + 4096])
        rates[name] = len(x) / (time.process_time() - t0)
        print(f"limiter, {name}: {rates[name] / 1e6:.1f} M frames/s ({rates[name] / RATE:.0f}x real time)")
    assert rates["heavy limiting"] > 50 * RATE
    assert rates["nothing to limit"] > 300 * RATE
