"""Loudness and true peak per ITU-R BS.1770-4, without pyloudnorm (too slow to import).

The K-weighting filter coefficients are derived for any sample rate from the analogue
prototype the way libebur128 does (they reproduce the standard's 48 kHz table). Loudness is
computed through per-hop power (100 ms hops, 4 per 400 ms gating block), which is also the
currency of the session mixer's loudness prediction (``integrated_from_hop_powers``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
HOP_S = 0.1  # gating blocks are 400 ms with 75 % overlap: 4 hops of 100 ms
HOPS_PER_BLOCK = 4
# BS.1770 channel weights in its channel order (L, R, C, Ls, Rs); further channels get 1.0.
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
_LUFS_OFFSET = -0.691

# K-weighting analogue prototype (libebur128's fit of the BS.1770 48 kHz coefficients).
_SHELF_F0 = 1681.974450955533
_SHELF_G_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXP = 0.4996667741545416
_HP_F0 = 38.13547087602444
_HP_Q = 0.5003270373238773

# Samples per chunk when filtering long signals, to bound memory (an hour of stereo
# float64 would otherwise need gigabytes of temporaries).
_CHUNK = 1 << 20


def hop_samples(rate: int) -> int:
    """Samples in one 100 ms hop at ``rate`` (rounded, as libebur128 does)."""
    return int((rate + 5) // 10)


@lru_cache(maxsize=16)
def _k_sos(rate: int) -> np.ndarray:
    k = math.tan(math.pi * _SHELF_F0 / rate)
    vh = 10.0 ** (_SHELF_G_DB / 20.0)
    vb = vh**_SHELF_VB_EXP
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HP_F0 / rate)
    a0 = 1.0 + k / _HP_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HP_Q + k * k) / a0]
    sos = np.array([shelf, highpass], dtype=np.float64)
    sos.setflags(write=False)
    return sos


def k_weighting_sos(rate: int) -> np.ndarray:
    """The K-weighting filter as second-order sections (2, 6): high shelf, then high-pass."""
    return _k_sos(int(rate)).copy()


def k_weight(x: np.ndarray, rate: int) -> np.ndarray:
    """K-weighted copy of ``x`` (mono (n,) or (n, ch)), float64, filtered from rest."""
    from scipy.signal import sosfilt

    return sosfilt(k_weighting_sos(rate), np.asarray(x, dtype=np.float64), axis=0)


def k_weight_fft(x: np.ndarray, rate: int) -> np.ndarray:
    """K-weighted copy of a mono signal (float64), filtered from rest in the frequency domain.

    Zero padding longer than the filter's response makes this the same linear filtering as an
    IIR pass from rest, with numpy only: no ``import scipy.signal`` (over half a second) on
    the way to the first audio block.
    """
    x = np.asarray(x, dtype=np.float64)
    nfft = fft_size(len(x) + rate // 2 + 1)
    return np.fft.irfft(np.fft.rfft(x, nfft) * _k_bins(nfft, int(rate)), nfft)[: len(x)]


# FFT lengths 2^k times these: all have only the factors 2, 3 and 5, which pocketfft handles
# as fast per point as powers of two, and the next one is never more than 20 % longer than
# needed (a power of two pads a clip by 40 % on average: that much more FFT work per clip,
# P4). Few lengths per octave, so the K(f) tables of the lengths in use stay cached.
_FFT_STEPS = (1.0, 1.125, 1.25, 1.5, 1.6875, 1.875)


def fft_size(n: int) -> int:
    """The smallest FFT length 2^k * (1, 9/8, 5/4, 3/2, 27/16 or 15/8) that is >= n."""
    if n <= 16:
        return 16
    octave = 1 << (int(n - 1).bit_length() - 1)  # the power of two just below n (or n)
    for step in _FFT_STEPS + (2.0,):
        size = int(octave * step)
        if size >= n:
            return size
    raise AssertionError("unreachable")  # 2 * octave >= n


def k_energy_cumsum(x: np.ndarray, rate: int) -> np.ndarray:
    """Cumulative K-weighted energy of a mono signal, with a leading zero (length n + 1)."""
    weighted = k_weight_fft(x, rate)
    return np.concatenate(([0.0], np.cumsum(weighted * weighted)))


@lru_cache(maxsize=48)
def _k_bins(nfft: int, rate: int) -> np.ndarray:
    """K(f) at the bins of an ``nfft``-point real FFT (clip lengths repeat, so cache it)."""
    response = k_response(np.fft.rfftfreq(nfft, 1.0 / rate), rate)
    response.setflags(write=False)
    return response


def k_response(freqs_hz, rate: int) -> np.ndarray:
    """K(f), the complex frequency response of the K-weighting filter at each frequency."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    z1 = np.exp(-2j * np.pi * f / rate)  # z^-1 on the unit circle
    z2 = z1 * z1
    h = np.ones_like(z1)
    for b0, b1, b2, _, a1, a2 in _k_sos(int(rate)):
        h = h * (b0 + b1 * z1 + b2 * z2) / (1.0 + a1 * z1 + a2 * z2)
    return h


def k_power_response(freqs_hz, rate: int) -> np.ndarray:
    """|K(f)|², the K-weighting power gain at each frequency (for analytic loudness models)."""
    # Per biquad, |B(e^jw)|² / |A(e^jw)|² in real arithmetic with s = sin²(w/2), the form
    # that keeps the high-pass's zeros at DC exact (cos-based forms cancel badly there), and
    # several times faster than complex exponentials over a million FFT bins.
    s = np.sin(np.pi * np.asarray(freqs_hz, dtype=np.float64) / rate) ** 2
    out = np.ones_like(s)
    for b0, b1, b2, _, a1, a2 in _k_sos(int(rate)):
        num = (b0 + b1 + b2) ** 2 - 4.0 * (b0 * b1 + 4.0 * b0 * b2 + b1 * b2) * s
        num += 16.0 * b0 * b2 * s * s
        den = (1.0 + a1 + a2) ** 2 - 4.0 * (a1 + 4.0 * a2 + a1 * a2) * s + 16.0 * a2 * s * s
        out *= num / den
    return out


def _channel_weights(channels: int) -> np.ndarray:
    return np.array(
        [CHANNEL_WEIGHTS[c] if c < len(CHANNEL_WEIGHTS) else 1.0 for c in range(channels)]
    )


def k_hop_powers(x: np.ndarray, rate: int, hop: int | None = None) -> np.ndarray:
    """Channel-weighted, channel-summed K-weighted mean square per complete hop of ``x``.

    Filters in chunks with carried filter state, so memory stays bounded for long signals.
    """
    from scipy.signal import sosfilt, sosfilt_zi

    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    hop = hop_samples(rate) if hop is None else int(hop)
    n_hops = x.shape[0] // hop
    channels = x.shape[1]
    weights = _channel_weights(channels)
    sos = k_weighting_sos(rate)
    # Filter from rest: zero initial state, shaped (sections, 2, channels) for axis=0.
    zi = np.zeros((sos.shape[0], 2, channels)) * sosfilt_zi(sos)[:, :, None]
    out = np.empty(n_hops, dtype=np.float64)
    per_chunk = max(1, _CHUNK // hop)
    for h0 in range(0, n_hops, per_chunk):
        h1 = min(n_hops, h0 + per_chunk)
        seg = np.asarray(x[h0 * hop : h1 * hop], dtype=np.float64)
        y, zi = sosfilt(sos, seg, axis=0, zi=zi)
        ms = np.mean((y * y).reshape(h1 - h0, hop, channels), axis=1)
        out[h0:h1] = ms @ weights
    return out


def _lufs(power):
    with np.errstate(divide="ignore"):
        return _LUFS_OFFSET + 10.0 * np.log10(power)


def integrated_from_hop_powers(
    hop_powers: np.ndarray, hops_per_block: int = HOPS_PER_BLOCK
) -> float:
    """Gated integrated loudness (LUFS) from channel-summed K-weighted mean square per hop.

    Blocks are the means of ``hops_per_block`` consecutive hops (400 ms, 75 % overlap at
    100 ms hops); absolute gate at -70 LUFS, relative gate 10 LU under the absolute-gated
    mean. Returns -inf when no block passes the gates (silence or too short).
    """
    p = np.asarray(hop_powers, dtype=np.float64)
    m = int(hops_per_block)
    if p.ndim != 1 or m < 1:
        raise ValueError("hop_powers must be 1-D and hops_per_block >= 1")
    if len(p) < m:
        return float("-inf")
    c = np.concatenate(([0.0], np.cumsum(p)))
    blocks = (c[m:] - c[:-m]) / m
    blocks = np.maximum(blocks, 0.0)  # cumsum rounding must not make a silent block negative
    loud = _lufs(blocks)
    gated = blocks[loud > ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return float("-inf")
    threshold = _lufs(np.mean(gated)) + RELATIVE_GATE_LU
    final = blocks[(loud > threshold) & (loud > ABSOLUTE_GATE_LUFS)]
    if final.size == 0:
        return float("-inf")
    return float(_lufs(np.mean(final)))


def integrated_loudness(x: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS) of mono (n,) or multichannel (n, ch) audio, BS.1770-4.

    Only complete 400 ms blocks count (like libebur128); -inf for silence or < 400 ms.
    """
    return integrated_from_hop_powers(k_hop_powers(x, rate))


# --- true peak -------------------------------------------------------------------------

OVERSAMPLING = 4


@lru_cache(maxsize=8)
def interpolation_phases(half_taps: int, beta: float = 8.0) -> np.ndarray:
    """Fractional-delay filters for 4x oversampling: shape (3, 2*half_taps), float64.

    Row p-1 gives the value at t + p/4 from samples x[t-half_taps+1 .. t+half_taps]. They are
    phases of one Kaiser-windowed sinc with its cut-off at the original Nyquist frequency, so
    phase 0 is the sample itself and the interpolation passes the original samples through.
    """
    h = int(half_taps)
    k = np.arange(-h + 1, h + 1, dtype=np.float64)
    rows = []
    for p in range(1, OVERSAMPLING):
        t = k - p / OVERSAMPLING  # distance of each tap from the interpolated point
        window = np.kaiser(2 * OVERSAMPLING * h + 1, beta)
        # Sample the (continuous) Kaiser window of the full 4x filter at the tap positions.
        centre = OVERSAMPLING * h
        w = np.interp(t * OVERSAMPLING + centre, np.arange(len(window)), window)
        rows.append(np.sinc(t) * w)
    phases = np.array(rows)
    # Unity gain at DC for each phase, so a constant signal interpolates to itself.
    phases /= phases.sum(axis=1, keepdims=True)
    # Exact symmetry (t + 3/4 mirrors t + 1/4; t + 1/2 is symmetric), which the limiter's
    # folded interpolation relies on.
    phases[2] = phases[0][::-1]
    phases[1] = 0.5 * (phases[1] + phases[1][::-1])
    phases.setflags(write=False)
    return phases


# 24 taps per phase: flat within 0.01 dB to 0.4·rate (19.2 kHz at 48 kHz).
TRUE_PEAK_HALF_TAPS = 12
_TP_CHUNK = 1 << 15


@lru_cache(maxsize=8)
def _folded_taps(half_taps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    phases = interpolation_phases(half_taps)
    h1 = phases[0]
    alpha = ((h1[:half_taps] + h1[::-1][:half_taps]) / 2).astype(np.float32)
    beta = ((h1[:half_taps] - h1[::-1][:half_taps]) / 2).astype(np.float32)
    gamma = phases[1][:half_taps].astype(np.float32)
    return alpha, beta, gamma


def oversampled_abs(xw: np.ndarray, n: int, half_taps: int = TRUE_PEAK_HALF_TAPS) -> np.ndarray:
    """Per sample, the largest |value| among it and its 3 interpolated successors (4x).

    ``xw[..., i, :]`` (float32) for i in [0, n + 2·half_taps − 1) holds the samples from
    half_taps − 1 before the first output sample to half_taps after the last. Folded taps:
    the t+3/4 filter mirrors the t+1/4 one and t+1/2 is symmetric, so with
    s = x[a+k] + x[a+2H−1−k] and d = x[a+k] − x[a+2H−1−k]: v(¼) = Σαs + Σβd,
    v(¾) = Σαs − Σβd, v(½) = Σγs, half the multiplies. Everything is elementwise in a
    fixed order, so a sample's result never depends on what else is in the array (the
    limiter's block-size invariance relies on that).
    """
    alpha, beta, gamma = _folded_taps(half_taps)
    H = half_taps
    p = q = v2 = tmp = None
    for k in range(H):
        a = xw[..., k : k + n, :]
        b = xw[..., 2 * H - 1 - k : 2 * H - 1 - k + n, :]
        s = a + b
        d = a - b
        if k == 0:
            p = s * alpha[0]
            q = d * beta[0]
            v2 = s * gamma[0]
            tmp = np.empty_like(p)
            continue
        np.add(p, np.multiply(s, alpha[k], out=tmp), out=p)
        np.add(q, np.multiply(d, beta[k], out=tmp), out=q)
        np.add(v2, np.multiply(s, gamma[k], out=tmp), out=v2)
    out = np.abs(xw[..., H - 1 : H - 1 + n, :])
    np.maximum(out, np.abs(v2, out=v2), out=out)
    np.maximum(out, np.abs(np.add(p, q, out=tmp), out=tmp), out=out)
    np.maximum(out, np.abs(np.subtract(p, q, out=tmp), out=tmp), out=out)
    return out


def interpolation_bound(half_taps: int = TRUE_PEAK_HALF_TAPS) -> float:
    """An interpolated value is at most this times the largest sample within the filter's reach."""
    return float(np.abs(interpolation_phases(half_taps)).sum(axis=1).max()) * (1.0 + 1e-3)


def true_peak(x: np.ndarray) -> float:
    """Largest absolute value of ``x`` 4x oversampled (linear), over all channels."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    n, ch = x.shape
    if n == 0:
        return 0.0
    h = TRUE_PEAK_HALF_TAPS
    c = _TP_CHUNK
    n_chunks = -(-n // c)
    # Largest |sample| per chunk, in the input's precision, a few chunks at a time (an hour
    # of stereo is 1.4 GB as float32: no full-size temporaries).
    chunk_max = np.zeros(n_chunks)
    step = 64
    for i0 in range(0, n_chunks, step):
        i1 = min(n_chunks, i0 + step)
        piece = np.abs(x[i0 * c : i1 * c]).max(axis=1)
        padded = np.zeros((i1 - i0) * c, dtype=piece.dtype)
        padded[: len(piece)] = piece
        chunk_max[i0:i1] = padded.reshape(i1 - i0, c).max(axis=1)
    best = float(chunk_max.max())
    if best == 0.0:
        return 0.0
    # Interpolated values near t are at most `bound` times the largest sample within the
    # filter's reach (here: the chunk and its neighbours), so only chunks that could beat
    # the running maximum are interpolated, loudest first.
    reach = chunk_max.copy()
    reach[1:] = np.maximum(reach[1:], chunk_max[:-1])
    reach[:-1] = np.maximum(reach[:-1], chunk_max[1:])
    bound = interpolation_bound(h)
    for i in np.argsort(-reach, kind="stable"):
        if reach[i] * bound <= best:
            break
        a, b = i * c, min(n, (i + 1) * c)
        seg = np.zeros((b - a + 2 * h - 1, ch), dtype=np.float32)
        lo, hi = max(0, a - h + 1), min(n, b + h)
        seg[lo - (a - h + 1) : hi - (a - h + 1)] = x[lo:hi]
        best = max(best, float(oversampled_abs(seg, b - a, h).max()))
    return best


def true_peak_dbtp(x: np.ndarray, rate: int | None = None) -> float:
    """True peak in dBTP (BS.1770-4 annex 2: 4x oversampled absolute peak, all channels).

    ``rate`` is accepted for symmetry with the other measures; 4x oversampling is used at
    every rate. Silence gives -inf.
    """
    peak = true_peak(x)
    return float("-inf") if peak == 0.0 else float(20.0 * np.log10(peak))
