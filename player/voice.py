"""Finishing a voice clip: a steady loudness and a bounded peak, whatever the engine.

Engines differ in level and dynamics (espeak-ng sentences peak 15-19 dB above their
loudness). Each clip is set to the voice reference loudness (scaled by the line's volume) and
its true peak held to ``MAX_PEAK_TO_LOUDNESS_DB`` above that, the gentle levelling every
spoken-word production gets. Done once per clip, before caching, so a session only mixes.
"""

from __future__ import annotations

import math

import numpy as np

from player import loudness

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
    cumsum = loudness.k_energy_cumsum(samples, rate)
    n = len(samples)
    if n == 0 or cumsum[-1] <= 0:
        return -math.inf
    hop = loudness.hop_samples(rate)
    if n >= 4 * hop:
        edges = np.arange(0, n // hop + 1) * hop
        hop_powers = np.diff(cumsum[edges]) / hop
        gated = loudness.integrated_from_hop_powers(hop_powers)
        if math.isfinite(gated):
            return gated
    return -0.691 + 10.0 * math.log10(cumsum[-1] / n)


def finish_clip(samples: np.ndarray, rate: int, volume: float = 1.0) -> np.ndarray:
    """Return the clip at ``VOICE_REF_LUFS + 20 log10(volume)`` with a bounded true peak."""
    from player.limiter import TruePeakLimiter

    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0 or volume <= 0:
        return np.zeros_like(x)
    measured = clip_loudness(x, rate)
    if not math.isfinite(measured):
        return np.zeros_like(x)  # digital silence stays silence
    limiter = TruePeakLimiter(
        rate,
        channels=1,
        ceiling_dbtp=measured + MAX_PEAK_TO_LOUDNESS_DB - _LIMIT_ALLOWANCE_DB,
        release_ms=RELEASE_MS,
    )
    y = np.concatenate([limiter.process(x[:, None]), limiter.flush()])[limiter.latency :, 0]
    limited = clip_loudness(y, rate)
    target = VOICE_REF_LUFS + 20.0 * math.log10(volume)
    out = y * np.float32(10.0 ** ((target - limited) / 20.0))
    return np.ascontiguousarray(out, dtype=np.float32)
