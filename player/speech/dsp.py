"""Turning an engine's raw output into a clip: trim, resample, soften the edges.

Every engine's audio goes through :func:`process`, in the worker that made it, so clips from
any engine line up the same way in the timeline:

1. **Trim** at the engine's rate: everything before the first and after the last sample
   louder than ``TRIM_THRESHOLD`` (-60 dBFS) is cut, then exactly ``MARGIN_S`` (20 ms) is
   kept (or zero-padded) on each side. espeak adds ~17 ms of silence before and a ~0.5 s
   "end of sentence" pause after the speech; without trimming, ``after: 2s`` would really
   mean 2.5 s. The threshold also catches a neural engine's faint noise floor.
2. **Finish** (:func:`player.speech.levelling.finish_clip`), still at the engine's rate: the clip is set
   to the voice reference loudness, scaled by the request's volume, with its true peak held
   to a fixed distance above that loudness, so every engine and every sentence sits at the
   same level and the session mix can reach its loudness target without crushing the voice.
   At the engine's rate (22050 Hz for espeak and Piper) rather than the session's because it
   is the costliest step (FFT filtering and a 4x oversampled peak detector, proportional to
   the sample count): less than half the samples halves synthesis time per clip. Resampling
   keeps the loudness (measured: within 0.06 LU over the built-in library) and the speech
   has nothing above the engine's Nyquist frequency for a peak to hide in.
3. **Resample** from the engine's rate to the session rate with soxr ``VHQ``.
4. **Fade** the first and last ``FADE_S`` (3 ms) with a raised cosine, so a clip that starts
   or stops mid-waveform can never click. The fade lies inside the 20 ms margin, so it only
   ever touches near-silence of real speech.
5. **Volume** is part of that target; engines are always asked for full level. So trimming
   always sees full-level speech and a clip's length never depends on its volume (at volume
   0 espeak would output pure zeros and the clip would vanish from the timeline), and a
   quiet clip keeps full float resolution instead of espeak's int16 steps.

Bump ``player.speech.cache.CACHE_FORMAT`` whenever anything here changes.
"""

from __future__ import annotations

import numpy as np

TRIM_THRESHOLD = 10 ** (-60 / 20)  # -60 dBFS
MARGIN_S = 0.020
FADE_S = 0.003
RESAMPLE_QUALITY = "VHQ"


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Mono float32 in [-1, 1] from an engine's int16 or float array."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    raise ValueError(f"unsupported sample type {samples.dtype}")


def trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading/trailing silence, keeping exactly ``MARGIN_S`` on each side.

    Returns an empty array when nothing reaches the threshold (nothing to say).
    """
    loud = np.flatnonzero(np.abs(samples) >= TRIM_THRESHOLD)
    if loud.size == 0:
        return np.zeros(0, dtype=np.float32)
    margin = int(round(MARGIN_S * rate))
    first, last = int(loud[0]), int(loud[-1]) + 1
    start, stop = first - margin, last + margin
    body = samples[max(start, 0) : min(stop, len(samples))]
    pad_before, pad_after = max(0, -start), max(0, stop - len(samples))
    if pad_before or pad_after:
        body = np.concatenate(
            [np.zeros(pad_before, np.float32), body, np.zeros(pad_after, np.float32)]
        )
    return np.ascontiguousarray(body, dtype=np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate or samples.size == 0:
        return samples.astype(np.float32, copy=True)
    import soxr

    return soxr.resample(samples, from_rate, to_rate, quality=RESAMPLE_QUALITY).astype(
        np.float32, copy=False
    )


def fade_edges(samples: np.ndarray, rate: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``FADE_S`` each (in place; returns the array)."""
    n = min(int(round(FADE_S * rate)), len(samples) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


def process(
    samples: np.ndarray, engine_rate: int, sample_rate: int, gain: float = 1.0
) -> np.ndarray:
    """Engine output -> finished clip samples (float32 mono at ``sample_rate``).

    ``gain`` is the request's volume (0..1), part of the finishing target: see step 5 in the
    module doc.
    """
    from player.speech.levelling import finish_clip

    finished = finish_clip(trim(to_float32(samples), engine_rate), engine_rate, gain)
    return fade_edges(resample(finished, engine_rate, sample_rate), sample_rate)
