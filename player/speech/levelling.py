"""Finishing a voice clip: a steady loudness and a bounded peak, whatever the engine.

Engines differ in level and dynamics (espeak-ng sentences peak 15-19 dB above their
loudness). Each clip is set to the voice reference loudness (scaled by the line's volume) and
its true peak held to ``MAX_PEAK_TO_LOUDNESS_DB`` above that, the gentle levelling every
spoken-word production gets. Done once per clip, before caching, so a session only mixes.
"""

from __future__ import annotations

import math

import numpy as np

from player.audio import loudness

# Loudness of a finished clip at volume 1.0 (the mixer's 0 dB voice level).
VOICE_REF_LUFS = -23.0
# The most a clip's true peak may stand above its loudness. 13 dB leaves the voice its
# natural shape while letting a session reach -18 LUFS under a -1 dBTP ceiling even when
# breathing tones, a few dB under the voice, fill most of it.
MAX_PEAK_TO_LOUDNESS_DB = 13.0
# Release of the peak limiter: long enough not to flutter on syllables.
RELEASE_MS = 80.0
# Limiting lowers a clip's loudness a little (measured 1-2 dB on espeak-ng speech): limit
# this much tighter, then restore the loudness with a plain gain, all in a single pass.
_LIMIT_ALLOWANCE_DB = 1.5


def clip_loudness(samples: np.ndarray, rate: int) -> float:
    """Loudness of a clip in LUFS: gated (BS.1770) when it spans a gating block, else its
    mean K-weighted power (single words like "in" are shorter than a block)."""
    return _loudness_of_weighted(loudness.k_weight_fft(samples, rate), rate)


def _loudness_of_weighted(weighted: np.ndarray, rate: int) -> float:
    """``clip_loudness`` from the clip's K-weighted samples."""
    n = len(weighted)
    if n == 0:
        return -math.inf
    energy = weighted * weighted
    total = float(energy.sum())
    if total <= 0:
        return -math.inf
    hop = loudness.hop_samples(rate)
    if n >= 4 * hop:
        # Energy per whole hop by summing each hop (a running sum over the clip cost twice
        # as much, in two passes of float64 per finished clip: P4).
        hops = n // hop
        hop_powers = energy[: hops * hop].reshape(hops, hop).sum(axis=1) / hop
        gated = loudness.integrated_from_hop_powers(hop_powers)
        if math.isfinite(gated):
            return gated
    return -0.691 + 10.0 * math.log10(total / n)


def finish_clip(samples: np.ndarray, rate: int, volume: float = 1.0) -> np.ndarray:
    """Return the clip at ``VOICE_REF_LUFS + 20 log10(volume)`` with a bounded true peak.

    The loudness after limiting is measured as the loudness of g·K(x) (the limiter's gain
    times the K-weighted input) rather than K(g·x): K-weighting is linear and its response
    is short next to the gain's slow changes (an 8 ms ramp down, an 80 ms release), so the
    two agree within 0.001 LU over the built-in library, and it saves filtering the clip
    twice (half of this function's cost, which is most of a clip's after synthesis: P4).
    """
    from player.audio.limiter import TruePeakLimiter

    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0 or volume <= 0:
        return np.zeros_like(x)
    weighted = loudness.k_weight_fft(x, rate)
    measured = _loudness_of_weighted(weighted, rate)
    if not math.isfinite(measured):
        return np.zeros_like(x)  # digital silence stays silence
    limiter = TruePeakLimiter(
        rate,
        channels=1,
        ceiling_dbtp=measured + MAX_PEAK_TO_LOUDNESS_DB - _LIMIT_ALLOWANCE_DB,
        release_ms=RELEASE_MS,
    )
    head, head_gain = limiter.process_with_gain(x[:, None])
    tail, tail_gain = limiter.process_with_gain(np.zeros((limiter.latency, 1), np.float32))
    y = np.concatenate([head, tail])[limiter.latency :, 0]
    gain = np.concatenate([head_gain, tail_gain])[limiter.latency :]
    limited = _loudness_of_weighted(weighted * gain, rate)
    target = VOICE_REF_LUFS + 20.0 * math.log10(volume)
    out = y * np.float32(10.0 ** ((target - limited) / 20.0))
    return np.ascontiguousarray(out, dtype=np.float32)
