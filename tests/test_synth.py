"""Breathing tones, the bell and the ambient beds, checked by measurement."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from player.audio import loudness, synth
from player.format.model import ToneSettings

RATE = 48000
LOW, HIGH = 196.0, 294.0
TOP2 = HIGH * 2 ** (2 / 12)  # the top-up inhale rises a whole tone further


def _phases(pattern, start_s=0.5, rate=RATE):
    """Contiguous integer phases from (kind, seconds), positions rounded from the start."""
    out, t = [], start_s
    for kind, seconds in pattern:
        a, b = round(t * rate), round((t + seconds) * rate)
        out.append((a, b, kind))
        t += seconds
    return out


PATTERN = [
    ("inhale", 3), ("inhale2", 1), ("hold", 2), ("exhale", 5), ("hold_out", 2),
    ("inhale", 4), ("hold", 3), ("exhale", 4), ("hold_out", 1.5),
]  # fmt: skip
# Intended pitch at the middle of each phase: a glide is halfway at its middle.
MIDDLE_HZ = [
    (LOW + HIGH) / 2, (HIGH + TOP2) / 2, TOP2, (TOP2 + LOW) / 2, LOW,
    (LOW + HIGH) / 2, HIGH, (HIGH + LOW) / 2, LOW,
]  # fmt: skip


_THETA = np.linspace(0, 2 * np.pi, 100_001)
WAVE_PEAK = float(np.max(sum(a * np.sin(h * _THETA) for h, a in synth.TONE_PARTIALS)))


@pytest.fixture(scope="module")
def track():
    return synth.ToneTrack(_phases(PATTERN), ToneSettings(low_hz=LOW, high_hz=HIGH), RATE)


@pytest.fixture(scope="module")
def rendered(track):
    return track.render(0, track.end + RATE // 2)


def _pitch(y: np.ndarray, centre: int, rate: int = RATE, window_s: float = 0.08) -> float:
    """Frequency of the strongest component around ``centre`` (Hann window, zero-padded FFT)."""
    half = int(window_s * rate / 2)
    seg = y[centre - half : centre + half].astype(np.float64) * np.hanning(2 * half)
    n = 1 << 20
    spec = np.abs(np.fft.rfft(seg, n))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


def _click_score(y: np.ndarray, at: int, guard: int = 2, around: int = 400) -> float:
    """Largest second difference right at ``at`` over the largest in its neighbourhood.

    A sine's second difference is smooth (≈ Aω²); a jump in value or phase spikes it. Scores
    above 1 mean the boundary is rougher than the tone around it.
    """
    d2 = np.abs(np.diff(y.astype(np.float64), 2))
    at -= 1  # d2[i] is centred on sample i + 1
    near = d2[at - guard : at + guard + 1].max()
    lo, hi = max(0, at - around), min(len(d2), at + around)
    others = np.concatenate([d2[lo : at - guard], d2[at + guard + 1 : hi]])
    return float(near / others.max())


# --- raised cosine -----------------------------------------------------------------------


def test_raised_cosine():
    up = synth.raised_cosine(480)
    down = synth.raised_cosine(480, rising=False)
    assert up.dtype == np.float32 and len(up) == 480
    assert up[0] == 0.0 and down[-1] == 0.0
    assert np.all(np.diff(up) > 0) and np.all(np.diff(down) < 0)
    np.testing.assert_array_equal(down, up[::-1])
    assert up[240] == pytest.approx(0.5, abs=1e-7)
    assert 1 - up[-1] < 1e-4  # the sample after the ramp is 1
    assert len(synth.raised_cosine(0)) == 0


# --- breathing tones: pitch ------------------------------------------------------------------


def test_pitch_in_the_middle_of_each_phase(track, rendered):
    for (a, b, kind), intended in zip(track.phases, MIDDLE_HZ):
        mid = (a + b) // 2
        assert track.freq_at([mid])[0] == pytest.approx(intended, rel=1e-3), kind
        measured = _pitch(rendered, mid)
        assert measured == pytest.approx(intended, rel=0.01), kind


def test_pitch_rises_through_inhales_and_falls_through_exhales(track, rendered):
    for a, b, kind in track.phases:
        contour = track.freq_at(np.arange(a, b, 97))
        steps = np.diff(contour)
        fractions = [0.15, 0.3, 0.5, 0.7, 0.85]
        measured = np.array([_pitch(rendered, int(a + f * (b - a))) for f in fractions])
        if kind in ("inhale", "inhale2"):
            assert np.all(steps > 0), kind
            assert np.all(np.diff(measured) > 0), kind
        elif kind == "exhale":
            assert np.all(steps < 0)
            assert np.all(np.diff(measured) < 0)
        else:
            assert np.all(steps == 0)
            assert np.ptp(measured) < 0.002 * measured.mean()


def test_inhale2_step_is_smaller_than_the_inhale():
    assert TOP2 / HIGH < HIGH / LOW
    # With a narrow interval the top-up is at most half of it.
    t = synth.ToneTrack(_phases([("inhale", 2), ("inhale2", 1)]), ToneSettings(low_hz=200, high_hz=220), RATE)
    assert t.freq_at([t.end])[0] == pytest.approx(220 * math.sqrt(220 / 200), rel=1e-9)


# --- breathing tones: continuity, block invariance ----------------------------------------


def test_the_click_detector_catches_a_small_phase_jump():
    n = np.arange(RATE)
    phase = 2 * np.pi * 300 * n / RATE
    clean = 0.1 * np.sin(phase)
    broken = 0.1 * np.sin(phase + 0.05 * (n >= RATE // 2))  # a 0.05 rad phase step
    assert _click_score(clean, RATE // 2) <= 1.01
    assert _click_score(broken, RATE // 2) > 1.5


def test_no_clicks_at_phase_boundaries(track, rendered):
    d1 = np.abs(np.diff(rendered.astype(np.float64)))
    boundaries = [a for a, _, _ in track.phases[1:]]
    mask = np.ones(len(d1), bool)
    for b in boundaries:
        mask[b - 3 : b + 3] = False
    largest_elsewhere = d1[mask].max()
    for b in boundaries:
        assert d1[b - 3 : b + 3].max() <= largest_elsewhere
        assert _click_score(rendered, b) <= 1.01, b


def test_block_size_never_changes_a_sample(track, rendered):
    rng = np.random.default_rng(7)
    for sizes in ([4096], [1000], [1, 2, 3, 517], list(rng.integers(1, 6000, 50))):
        pieces, pos, i = [], 0, 0
        while pos < len(rendered):
            n = int(sizes[i % len(sizes)])
            pieces.append(track.render(pos, n)[: len(rendered) - pos])
            pos += n
            i += 1
        joined = np.concatenate(pieces)
        assert np.array_equal(joined, rendered)
        edges = np.cumsum([len(p) for p in pieces])[:-1]
        for e in edges[(edges > track.start + 500) & (edges < track.end - 500)][:40]:
            assert _click_score(joined, int(e)) <= 1.01


def test_render_outside_and_across_the_track(track):
    assert not np.any(track.render(0, track.start))
    assert not np.any(track.render(track.end, 1000))
    assert not np.any(track.render(-5000, 1000))
    part = track.render(track.start - 10, 20)
    assert part.dtype == np.float32 and len(part) == 20
    assert not np.any(part[:11])  # before the start, and the first sample of the fade-in
    assert np.all(np.isfinite(track.render(track.start, track.end - track.start)))


# --- breathing tones: envelope -------------------------------------------------------------


def test_fade_in_and_fade_out_ramps():
    phases = _phases([("hold_out", 2), ("inhale", 2), ("exhale", 2), ("hold_out", 2)])
    t = synth.ToneTrack(phases, ToneSettings(), RATE)
    assert t.fade_in == round(0.3 * RATE) and t.fade_out == round(0.5 * RATE)
    base = t.base_amplitude
    fade_in = t.amplitude_at(np.arange(t.start, t.start + t.fade_in))
    np.testing.assert_allclose(fade_in, base * synth.raised_cosine(t.fade_in), rtol=1e-6, atol=1e-9)
    fade_out = t.amplitude_at(np.arange(t.end - t.fade_out, t.end))
    np.testing.assert_allclose(fade_out, base * synth.raised_cosine(t.fade_out, False), rtol=1e-6, atol=1e-9)
    assert t.amplitude_at([t.start + t.fade_in])[0] == pytest.approx(base)
    # The rendered envelope follows: silent at both ends, full in between.
    y = t.render(t.start, t.end - t.start)
    assert y[0] == 0.0 and y[-1] == 0.0
    ms = RATE // 1000
    assert np.abs(y[: 20 * ms]).max() < 0.05 * base
    assert np.abs(y[t.fade_in : t.fade_in + 20 * ms]).max() == pytest.approx(base * WAVE_PEAK, rel=0.01)
    assert np.abs(y[-20 * ms :]).max() < 0.02 * base


def test_hold_rest_is_silent_in_the_middle_with_gentle_ramps():
    pattern = [("inhale", 3), ("hold", 4), ("exhale", 3), ("hold_out", 2), ("inhale", 2)]
    phases = _phases(pattern)
    rest = synth.ToneTrack(phases, ToneSettings(hold="rest"), RATE)
    steady = synth.ToneTrack(phases, ToneSettings(hold="steady"), RATE)
    y_rest = rest.render(0, rest.end)
    y_steady = steady.render(0, steady.end)
    for a, b, kind in phases:
        if kind not in ("hold", "hold_out"):
            continue
        mid = (a + b) // 2
        # The silence runs from the end of the fade-out to the start of the fade-in.
        silent_from = a + np.nonzero(y_rest[a:mid])[0].max() + 1
        silent_to = mid + np.nonzero(y_rest[mid:b])[0].min()
        assert silent_from - a >= 0.15 * RATE and b - silent_to >= 0.15 * RATE, kind
        assert not np.any(y_rest[mid - RATE // 4 : mid + RATE // 4])
        assert np.abs(y_rest[a : a + RATE // 100]).max() > 0.5 * rest.base_amplitude  # fading, not cut
        assert np.abs(y_steady[mid - RATE // 4 : mid + RATE // 4]).max() > 0.9 * steady.base_amplitude
        for edge in (a, b):
            assert _click_score(y_rest, edge) <= 1.01
    # No clicks anywhere the rest ramps start or end.
    assert np.abs(np.diff(y_rest)).max() <= np.abs(np.diff(y_steady)).max() + 1e-6


def test_swell_is_subtle_and_follows_the_breath(track):
    a, b, _ = track.phases[0]  # inhale from rest
    ratio = track.amplitude_at([b - 1])[0] / track.base_amplitude
    assert 20 * math.log10(ratio) == pytest.approx(synth.SWELL_DB, abs=0.01)
    assert track.amplitude_at([a + (b - a) // 2])[0] < track.amplitude_at([b - 1])[0]
    assert 0 < synth.SWELL_DB <= 4


def test_reference_level_and_level_db():
    # A steady 0 dB tone at 240 Hz (the default pitches' geometric mean) is REFERENCE_LUFS.
    phases = [(0, 10 * RATE, "hold_out")]
    steady = synth.ToneTrack(phases, ToneSettings(low_hz=240.0, high_hz=360.0, level_db=0.0), RATE)
    middle = steady.render(RATE, 8 * RATE)
    assert loudness.integrated_loudness(middle, RATE) == pytest.approx(synth.REFERENCE_LUFS, abs=0.02)
    assert np.abs(middle).max() == pytest.approx(synth.REFERENCE_AMPLITUDE * WAVE_PEAK, rel=0.001)
    quiet = synth.ToneTrack(phases, ToneSettings(low_hz=240.0, high_hz=360.0, level_db=-12.0), RATE)
    assert loudness.integrated_loudness(quiet.render(RATE, 8 * RATE), RATE) == pytest.approx(
        synth.REFERENCE_LUFS - 12.0, abs=0.02
    )


def test_bad_phases_are_rejected():
    with pytest.raises(ValueError):
        synth.ToneTrack([(0, 100, "inhale"), (120, 200, "exhale")], ToneSettings(), RATE)
    with pytest.raises(ValueError):
        synth.ToneTrack([(0, 100, "sniff")], ToneSettings(), RATE)
    with pytest.raises(ValueError):
        synth.ToneTrack([(5, 5, "inhale")], ToneSettings(), RATE)
    # Zero-length phases (rounding) are dropped, not errors.
    t = synth.ToneTrack([(0, 100, "inhale"), (100, 100, "inhale2"), (100, 300, "exhale")], ToneSettings(), RATE)
    assert [k for _, _, k in t.phases] == ["inhale", "exhale"]


# --- breathing tones: analytic loudness ------------------------------------------------


@pytest.mark.parametrize("hold", ["steady", "rest"])
def test_hop_power_matches_k_filtering_the_rendered_tone(hold):
    # Three minutes of 4-7-8 with a physiological-sigh cycle in between.
    cycle = [("inhale", 4), ("hold", 7), ("exhale", 8)]
    sigh = [("inhale", 2), ("inhale2", 1), ("exhale", 6), ("hold_out", 1)]
    pattern = cycle * 4 + sigh + cycle * 5
    t = synth.ToneTrack(_phases(pattern, start_s=1.03), ToneSettings(hold=hold), RATE)
    assert t.end > 180 * RATE
    hop = RATE // 10
    n_hops = -(-t.end // hop) + 2
    y = t.render(0, n_hops * hop)
    weighted = loudness.k_weight(y, RATE)
    measured = (weighted**2).reshape(n_hops, hop).mean(axis=1)
    predicted = t.hop_power(hop, 0, n_hops)

    top = predicted.max()
    loud = predicted > top / 100  # within 20 dB of the loudest hop
    quieter = (predicted > top / 10_000) & ~loud
    def error_db(mask):
        return np.abs(10 * np.log10(predicted[mask] / measured[mask])).max()

    assert error_db(loud) < 0.1
    assert error_db(quieter) < 0.15  # 20-40 dB down, in fades and rest ramps
    assert np.all(predicted[: t.start // hop] == 0) and np.all(predicted[-(-t.end // hop) :] == 0)
    assert loudness.integrated_from_hop_powers(predicted) == pytest.approx(
        loudness.integrated_loudness(y, RATE), abs=0.02
    )
    # Any window of hops gives the same numbers.
    np.testing.assert_allclose(t.hop_power(hop, 500, 300), predicted[500:800], rtol=1e-12)


def test_tone_render_throughput(track):
    block = 4096
    n = 0
    t0 = time.process_time()
    while n < 30 * RATE:
        track.render(track.start + n % (track.end - track.start), block)
        n += block
    rate = n / (time.process_time() - t0)
    print(f"tone render: {rate / 1e6:.1f} M samples/s ({rate / RATE:.0f}x real time) in {block}-sample blocks")
    assert rate > 5 * RATE * 60  # far above real time even on a busy machine


# --- bell ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bell():
    return synth.bell_strike(RATE)


def test_bell_shape_and_determinism(bell):
    assert bell.dtype == np.float32 and bell.ndim == 1
    assert len(bell) == round(synth.BELL_LENGTH_S * RATE)
    assert np.abs(bell).max() == pytest.approx(synth.BELL_PEAK, rel=1e-6)
    assert np.all(np.isfinite(bell))
    assert bell[0] == 0.0 and bell[-1] == 0.0
    assert synth.bell_strike(RATE) is bell  # cached
    np.testing.assert_array_equal(synth._bell.__wrapped__(RATE), bell)  # same seed, same bell
    with pytest.raises(ValueError):
        bell[0] = 1.0  # shared: read-only


def test_bell_strike_is_soft_but_defined(bell):
    ms = RATE // 1000
    peak_at = int(np.argmax(np.abs(bell)))
    assert peak_at < 60 * ms  # the strike is at the start ...
    assert np.abs(bell[:ms]).max() < 0.2 * synth.BELL_PEAK  # ... but eases in, no click
    assert np.abs(np.diff(bell[: 10 * ms])).max() < 0.1 * synth.BELL_PEAK


def test_bell_partials_and_decay(bell):
    def band_energy(x, f, width=0.02):
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / RATE)
        return spec[(freqs > f * (1 - width)) & (freqs < f * (1 + width))].sum()

    head = bell[: 4 * RATE].astype(np.float64)
    n = 1 << 20
    spec = np.abs(np.fft.rfft(head * np.hanning(len(head)), n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    f0 = synth.BELL_FUNDAMENTAL_HZ
    assert 220 <= f0 <= 280
    for ratio, *_ in synth.BELL_PARTIALS:
        target = f0 * ratio
        band = (freqs > target * 0.97) & (freqs < target * 1.03)
        peak = freqs[band][np.argmax(spec[band])]
        assert peak == pytest.approx(target, rel=0.01)
        # A real peak: well above the spectrum halfway to the next partial.
        between = (freqs > target * 1.2) & (freqs < target * 1.25)
        assert spec[band].max() > 30 * spec[between].max()

    # It dies away: the last second is far quieter than the first.
    first = np.mean(bell[:RATE].astype(np.float64) ** 2)
    last = np.mean(bell[-RATE:].astype(np.float64) ** 2)
    assert last < 1e-3 * first
    # Higher partials decay faster.
    early, late = bell[: RATE // 2].astype(np.float64), bell[2 * RATE : 5 * RATE // 2].astype(np.float64)
    decay = [band_energy(late, f0 * r) / band_energy(early, f0 * r) for r, *_ in synth.BELL_PARTIALS]
    assert all(a > b for a, b in zip(decay, decay[1:]))


def test_bell_hop_power(bell):
    hop = RATE // 10
    weighted = loudness.k_weight(bell, RATE)
    n = -(-len(bell) // hop)
    padded = np.zeros(n * hop)
    padded[: len(bell)] = weighted
    direct = (padded**2).reshape(n, hop).mean(axis=1)
    np.testing.assert_allclose(synth.bell_hop_power(RATE, hop), direct, rtol=1e-9, atol=1e-15)
    shifted = synth.bell_hop_power(RATE, hop, offset=1234)
    assert len(shifted) == -(-(len(bell) + 1234) // hop)
    assert shifted.sum() == pytest.approx(direct.sum(), rel=1e-12)
    with pytest.raises(ValueError):
        synth.bell_hop_power(RATE, hop, offset=hop)


# --- ambient beds ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(synth.NOISE_KINDS))
def bed(request):
    return synth.NoiseBed(request.param, RATE)


def test_bed_samples_are_sane(bed):
    x = bed.render(0, 3 * RATE)
    assert x.shape == (3 * RATE, 2) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert np.abs(x).max() < 1.0
    assert abs(np.corrcoef(x.T.astype(np.float64))[0, 1]) < 0.05  # two decorrelated channels
    assert abs(float(np.mean(x))) < 1e-3  # no DC
    assert 30 < bed.loop_length / RATE < 45


def test_bed_loops_seamlessly_with_random_access(bed):
    n = bed.loop_length
    loop = bed.render(0, n).astype(np.float64)
    jumps = np.abs(np.diff(loop, axis=0))
    wrap = np.abs(loop[0] - loop[-1])
    assert np.all(wrap <= np.percentile(jumps, 99.9, axis=0))
    # Any position, any number of times round, even before zero.
    np.testing.assert_array_equal(bed.render(n - 100, 300), np.concatenate([loop[-100:], loop[:200]]).astype(np.float32))
    np.testing.assert_array_equal(bed.render(12345 + 3 * n, 1000), bed.render(12345, 1000))
    np.testing.assert_array_equal(bed.render(-5, 10), bed.render(n - 5, 10))
    assert bed.render(0, 2 * n + 7).shape == (2 * n + 7, 2)


def test_bed_loudness_is_the_documented_reference(bed):
    expected = synth.REFERENCE_LUFS + 10 * math.log10(2)
    assert -0.691 + 10 * math.log10(bed.k_power) == pytest.approx(expected, abs=1e-9)
    n = bed.loop_length
    x = bed.render(0, 2 * n)
    hop = RATE // 10
    # Over one whole turn of the loop, past the filter's start-up (ocean swells: not stationary).
    second = sum(np.mean(loudness.k_weight(x[:, ch].astype(np.float64), RATE)[n:] ** 2)
                 for ch in range(2))
    assert 10 * np.log10(second / bed.k_power) == pytest.approx(0.0, abs=0.02)
    assert loudness.integrated_loudness(x, RATE) == pytest.approx(expected, abs=0.05)
    np.testing.assert_array_equal(bed.hop_power(hop, 7, 5), np.full(5, bed.k_power))


@pytest.mark.parametrize("kind, slope", [("white-noise", 0.0), ("pink-noise", -3.0), ("brown-noise", -6.0)])
def test_noise_spectral_slopes(kind, slope):
    from scipy.signal import welch

    x = synth.NoiseBed(kind, RATE).render(0, 20 * RATE)[:, 0].astype(np.float64)
    freqs, psd = welch(x, RATE, nperseg=1 << 14)
    band = (freqs >= 100) & (freqs <= 4000)
    per_octave = np.polyfit(np.log2(freqs[band]), 10 * np.log10(psd[band]), 1)[0]
    assert per_octave == pytest.approx(slope, abs=0.3)
    if kind == "brown-noise":
        # The high-pass keeps the infrasonic rumble out: far under the 1/f² line below 10 Hz.
        at = lambda f: psd[np.argmin(np.abs(freqs - f))]  # noqa: E731
        extrapolated = 10 * np.log10(at(100)) + 20 * np.log10(100 / 6)
        assert 10 * np.log10(at(6)) < extrapolated - 15
        assert at(6) < at(40)


def test_beds_are_cached_and_seeded():
    a = synth.NoiseBed("pink-noise", RATE)
    b = synth.NoiseBed("pink-noise", RATE)
    assert a._loop is b._loop
    c = synth.NoiseBed("pink-noise", RATE, seed=1)
    assert not np.array_equal(a.render(0, 100), c.render(0, 100))
    with pytest.raises(ValueError):
        synth.NoiseBed("thunder", RATE)
