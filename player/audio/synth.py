"""Sound sources made from numbers: breathing tones, a singing-bowl bell and ambient beds.

Every source renders by absolute sample position (``render(start, n)`` depends on nothing but
the positions asked for), so real-time playback in any block size and file rendering give the
same samples. Each source also reports its K-weighted power (BS.1770) without being rendered,
so the mixer can predict a session's loudness before making any audio.

Reference levels: a source at 0 dB is as loud as speech normalized to ``REFERENCE_LUFS``
(-20 LUFS, about what espeak and Piper produce). A 0 dB breathing tone, measured as a mono
signal, is -20 LUFS at rest; a 0 dB noise bed, measured in stereo, is as loud as a 0 dB mono
source sent to both channels (-20 + 3.01 LUFS).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from player.audio import loudness
from player.format.model import ToneSettings

REFERENCE_LUFS = -20.0

# Breathing-tone timbre: harmonic number and amplitude relative to the fundamental. A sine
# with a touch of 2nd and 3rd harmonic sounds warm and round, like a soft organ flute.
TONE_PARTIALS = ((1, 1.0), (2, 0.15), (3, 0.05))
# Amplitude of the fundamental of a 0 dB tone at rest (bottom of the breath): a steady tone
# at 240 Hz (the geometric mean of the default G3..D4) measures REFERENCE_LUFS as mono.
# Derived from A²/2 · Σ aₕ²|K(h·f)|² = 10^((REFERENCE_LUFS + 0.691) / 10); see the tests.
REFERENCE_AMPLITUDE = 0.15415
# The tone swells this much louder at the top of the breath (gently: it should be felt more
# than heard); the top-up inhale goes a little further.
SWELL_DB = 3.0
INHALE2_FULLNESS = 1.25
# The top-up inhale (physiological sigh) rises by this much more, at most half the interval.
INHALE2_SEMITONES = 2.0
TONE_FADE_IN_S = 0.3
TONE_FADE_OUT_S = 0.5
# Resting holds fade out and back in over a quarter of the hold, within these limits.
REST_RAMP_MIN_S = 0.15
REST_RAMP_MAX_S = 0.4

PHASE_KINDS = ("inhale", "inhale2", "hold", "exhale", "hold_out")

_TWO_PI = 2.0 * math.pi


def raised_cosine(n: int, rising: bool = True) -> np.ndarray:
    """A half-cosine ramp of ``n`` samples, float32.

    Rising: starts at exactly 0 and reaches 1 one sample after its end. Falling is the mirror
    image: starts just under 1 and ends at exactly 0 on its last sample.
    """
    n = int(n)
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n, dtype=np.float64) / n)
    return (ramp if rising else ramp[::-1]).astype(np.float32)


def _rise(x: np.ndarray) -> np.ndarray:
    """Raised-cosine 0..1 of x clipped to [0, 1]; the continuous form of ``raised_cosine``."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


_GRID = 64


def _sin_cos_pi_ratio(x0: int, x1: int, d: float) -> tuple[np.ndarray, np.ndarray]:
    """sin(πx/d) and cos(πx/d) for integers x in [x0, x1), by angle addition on a grid.

    x = q + r with q a multiple of 64: two small tables and one multiply-add per sample
    instead of two double-precision sin/cos calls (5x faster). Each value depends only on
    (q, r), so it is the same whatever block the sample is rendered in.
    """
    w = np.pi / d
    q0, q1 = x0 // _GRID, -(-x1 // _GRID)
    aq = np.arange(q0, q1, dtype=np.float64) * (_GRID * w)
    sq, cq = np.sin(aq)[:, None], np.cos(aq)[:, None]
    sr, cr = _fine_table(d)
    lo, hi = x0 - q0 * _GRID, x1 - q0 * _GRID
    sin_u = (sq * cr + cq * sr).ravel()[lo:hi]
    cos_u = (cq * cr - sq * sr).ravel()[lo:hi]
    return sin_u, cos_u


@lru_cache(maxsize=256)
def _fine_table(d: float) -> tuple[np.ndarray, np.ndarray]:
    ar = np.arange(_GRID, dtype=np.float64) * (np.pi / d)
    return np.sin(ar)[None, :], np.cos(ar)[None, :]


def reference_tone_power(freq_hz: float, rate: int) -> float:
    """K-weighted mean square of a steady 0 dB tone (at rest) at ``freq_hz``."""
    total = 0.0
    for h, a in TONE_PARTIALS:
        k2 = float(loudness.k_power_response(np.array([h * freq_hz]), rate)[0])
        total += (REFERENCE_AMPLITUDE * a) ** 2 / 2.0 * k2
    return total


# --- breathing tones -------------------------------------------------------------------


class ToneTrack:
    """A soft tone that follows the breath: rises on the inhale, falls on the exhale.

    Built from contiguous phases ``(start_sample, end_sample, kind)``. Within each phase the
    pitch glides along a raised cosine from where the previous phase left it to the phase's
    target (inhale: high, inhale2: a step above high, exhale: low, holds: stay), and the
    amplitude swells with it. The oscillator phase is the closed-form integral of that
    frequency, so it is continuous at every boundary and any sample can be computed on its
    own: ``render(start, n)`` is a pure function of position.
    """

    def __init__(
        self,
        phases: Sequence[tuple[int, int, str]],
        settings: ToneSettings | None = None,
        rate: int = 48000,
    ):
        self.settings = settings if settings is not None else ToneSettings()
        self.rate = int(rate)
        rows = [(int(s), int(e), str(k)) for s, e, k in phases if int(e) != int(s)]
        if not rows:
            raise ValueError("a tone track needs at least one non-empty phase")
        for i, (s, e, kind) in enumerate(rows):
            if kind not in PHASE_KINDS:
                raise ValueError(f"unknown breathing phase {kind!r}")
            if e < s:
                raise ValueError(f"phase {i} ends before it starts ({s}..{e})")
            if i and rows[i - 1][1] != s:
                raise ValueError(f"phase {i} starts at {s}, not where phase {i - 1} ended")
        low = float(self.settings.low_hz)
        high = float(self.settings.high_hz)
        if not (low > 0 and high > 0 and max(low, high) < self.rate / 8):
            raise ValueError("tone pitches must be positive and well below the Nyquist frequency")
        interval = abs(math.log2(high / low)) * 12.0
        step = 2.0 ** (min(INHALE2_SEMITONES, interval / 2.0) / 12.0)
        top2 = high * step if high >= low else high / step
        rest = self.settings.hold == "rest"
        self.base_amplitude = REFERENCE_AMPLITUDE * 10.0 ** (self.settings.level_db / 20.0)

        n = len(rows)
        self._s = np.array([r[0] for r in rows], dtype=np.int64)
        self._e = np.array([r[1] for r in rows], dtype=np.int64)
        self._kinds = tuple(r[2] for r in rows)
        self._f0 = np.empty(n)
        self._f1 = np.empty(n)
        self._g0 = np.empty(n)  # amplitude (swell included) at the phase start and end
        self._g1 = np.empty(n)
        self._ramp = np.zeros(n)  # rest ramp length in samples; 0 = sounds throughout
        self._cyc0 = np.empty(n)  # oscillator phase in cycles (mod 1) at each phase start
        f, fullness, cyc = low, 0.0, 0.0
        for i, kind in enumerate(self._kinds):
            d = float(self._e[i] - self._s[i])
            target_f, target_p = {
                "inhale": (high, 1.0),
                "inhale2": (top2, INHALE2_FULLNESS),
                "exhale": (low, 0.0),
            }.get(kind, (f, fullness))
            self._f0[i], self._f1[i] = f, target_f
            self._g0[i] = self.base_amplitude * 10.0 ** (SWELL_DB * fullness / 20.0)
            self._g1[i] = self.base_amplitude * 10.0 ** (SWELL_DB * target_p / 20.0)
            if rest and kind in ("hold", "hold_out"):
                ramp = min(max(0.25 * d, REST_RAMP_MIN_S * self.rate), REST_RAMP_MAX_S * self.rate)
                self._ramp[i] = float(int(min(ramp, d / 2.0)))
            self._cyc0[i] = cyc
            # Cycles over the whole phase: mean frequency times duration (closed form).
            cyc = (cyc + d * (f + target_f) / 2.0 / self.rate) % 1.0
            f, fullness = target_f, target_p
        self.start = int(self._s[0])
        self.end = int(self._e[-1])
        length = self.end - self.start
        # Fades shrink proportionally on very short tracks so they never overlap.
        scale = min(1.0, length / ((TONE_FADE_IN_S + TONE_FADE_OUT_S) * self.rate))
        self.fade_in = max(1, int(round(TONE_FADE_IN_S * self.rate * scale)))
        self.fade_out = max(1, int(round(TONE_FADE_OUT_S * self.rate * scale)))

    @property
    def phases(self) -> tuple[tuple[int, int, str], ...]:
        return tuple(zip(self._s.tolist(), self._e.tolist(), self._kinds))

    # --- contours at arbitrary (float) positions: display, tests, the loudness model ---

    def _locate(self, pos: np.ndarray):
        i = np.searchsorted(self._s, pos, side="right") - 1
        i = np.clip(i, 0, len(self._s) - 1)
        x = pos - self._s[i]
        d = (self._e[i] - self._s[i]).astype(np.float64)
        return i, x, d

    def freq_at(self, positions) -> np.ndarray:
        """Fundamental frequency in Hz at each position (held at the ends outside the track)."""
        pos = np.clip(np.asarray(positions, dtype=np.float64), self.start, self.end)
        i, x, d = self._locate(pos)
        return self._f0[i] + (self._f1[i] - self._f0[i]) * _rise(x / d)

    def amplitude_at(self, positions) -> np.ndarray:
        """Amplitude of the fundamental at each position (0 outside the track)."""
        pos = np.asarray(positions, dtype=np.float64)
        i, x, d = self._locate(pos)
        amp = self._g0[i] + (self._g1[i] - self._g0[i]) * _rise(x / d)
        r = self._ramp[i]
        resting = r > 0
        if np.any(resting):
            r1 = np.where(resting, r, 1.0)
            gate = (1.0 - _rise((x + 1.0) / r1)) + _rise((x - (d - r1)) / r1)
            amp = np.where(resting, amp * gate, amp)
        amp = amp * _rise((pos - self.start) / self.fade_in)
        amp = amp * _rise((self.end - 1 - pos) / self.fade_out)
        return np.where((pos >= self.start) & (pos < self.end), amp, 0.0)

    def _cycles_at(self, positions) -> np.ndarray:
        """Oscillator phase in cycles (not reduced) at each position, relative to its phase."""
        pos = np.clip(np.asarray(positions, dtype=np.float64), self.start, self.end)
        i, x, d = self._locate(pos)
        df = self._f1[i] - self._f0[i]
        glide = x - d / np.pi * np.sin(np.pi * x / d)
        return self._cyc0[i] + (self._f0[i] * x + 0.5 * df * glide) / self.rate

    # --- rendering ---

    def render(self, start: int, n: int) -> np.ndarray:
        """Mono float32 samples [start, start+n) by absolute position; zeros off the track."""
        start, n = int(start), int(n)
        out = np.zeros(n, dtype=np.float32)
        a, b = max(start, self.start), min(start + n, self.end)
        if b <= a:
            return out
        first = int(np.searchsorted(self._s, a, side="right")) - 1
        last = int(np.searchsorted(self._s, b - 1, side="right")) - 1
        for i in range(first, last + 1):
            s, e = int(self._s[i]), int(self._e[i])
            lo, hi = max(a, s), min(b, e)
            out[lo - start : hi - start] = self._render_phase(i, lo - s, hi - s)
        # Whole-track fades, on the samples they touch only.
        fi_end = min(b, self.start + self.fade_in)
        if a < fi_end:
            pos = np.arange(a, fi_end, dtype=np.float64)
            out[a - start : fi_end - start] *= _rise((pos - self.start) / self.fade_in)
        fo_start = max(a, self.end - self.fade_out)
        if fo_start < b:
            pos = np.arange(fo_start, b, dtype=np.float64)
            out[fo_start - start : b - start] *= _rise((self.end - 1 - pos) / self.fade_out)
        return out

    def _render_phase(self, i: int, x0: int, x1: int) -> np.ndarray:
        """Samples at offsets [x0, x1) into phase i, before the whole-track fades.

        Every branch below depends only on the phase, never on the block, so a sample comes
        out bit-identical whatever block it is rendered in.
        """
        d = float(self._e[i] - self._s[i])
        f0, f1 = float(self._f0[i]), float(self._f1[i])
        g0, g1 = float(self._g0[i]), float(self._g1[i])
        x = np.arange(x0, x1, dtype=np.float64)
        if f1 != f0 or g1 != g0:
            sin_u, cos_u = _sin_cos_pi_ratio(x0, x1, d)
        if f1 != f0:
            # ∫ f dt from the phase start: f0·x + Δ/2·(x − D/π·sin(πx/D)), in cycles.
            cyc = f0 * x + (0.5 * (f1 - f0)) * (x - (d / np.pi) * sin_u)
        else:
            cyc = f0 * x
        cyc = self._cyc0[i] + cyc / self.rate
        cyc -= np.floor(cyc)
        # float32 from here: the phase is reduced to one cycle, so single precision is ample
        # (error < 1e-6 rad) and its vectorized sin/cos are several times faster.
        theta = (_TWO_PI * cyc).astype(np.float32)
        s1 = np.sin(theta)
        c1 = np.cos(theta)
        # sin 2θ and sin 3θ from sin θ and cos θ: phase-locked harmonics at no extra cost.
        (_, a1), (_, a2), (_, a3) = TONE_PARTIALS
        k1, k2, k3 = np.float32(a1), np.float32(2.0 * a2), np.float32(a3)
        wave = s1 * (k1 + k2 * c1 + k3 * (np.float32(3.0) - np.float32(4.0) * s1 * s1))
        if g1 != g0:
            amp = g0 + (g1 - g0) * (0.5 - 0.5 * cos_u)
        else:
            amp = np.full(len(x), g0)
        r = float(self._ramp[i])
        if r > 0:
            # Resting hold: fade out over r samples (exactly 0 on the last), silence, fade in.
            k = np.arange(x0, x1)
            down = k < r
            amp[down] *= 1.0 - _rise((x[down] + 1.0) / r)
            up = k >= d - r
            amp[up] *= _rise((x[up] - (d - r)) / r)
            amp[~(down | up)] = 0.0
        return wave * amp

    # --- loudness model ---

    def hop_power(self, hop_samples: int, first_hop: int, n_hops: int) -> np.ndarray:
        """K-weighted mean square per hop, from the contours alone (no synthesis).

        Hop i covers samples [(first_hop+i)·hop, (first_hop+i+1)·hop). Each hop is cut into
        slices of ≤ 2.5 ms; in each, partial h contributes (A·aₕ·|K(h·f)|)²/2 times the mean
        of 1 − cos(2(hθ + arg K)) over the slice (closed form from the oscillator phase θ at
        its edges), so even hops holding a few cycles of a fade come out right.
        """
        hop = int(hop_samples)
        n_hops = int(n_hops)
        first_hop = int(first_hop)
        out = np.zeros(max(n_hops, 0))
        if n_hops <= 0 or hop <= 0:
            return out
        m = max(1, math.ceil(hop / (0.0025 * self.rate)))
        width = hop / m
        edges = np.arange(m + 1) * width - 0.5  # samples k..k+1 ↔ [k − ½, k + ½)
        lo = max(0, self.start // hop - first_hop)
        hi = min(n_hops, -(-self.end // hop) - first_hop)
        per_chunk = max(1, (1 << 17) // m)
        for c0 in range(lo, hi, per_chunk):
            c1 = min(hi, c0 + per_chunk)
            base = (np.arange(c0, c1) + first_hop) * hop
            left = (base[:, None] + edges[None, :-1]).ravel()
            right = left + width
            mid = left + 0.5 * width
            amp = self.amplitude_at(mid)
            f = self.freq_at(mid)
            cyc_l = self._cycles_at(left)
            cyc_r = self._cycles_at(right)
            # Cycles across the slice: the edges may sit in different phases (each counted
            # mod 1), so unwrap the difference around its estimate f·width.
            est = f * (width / self.rate)
            dcyc = est + ((cyc_r - cyc_l - est + 0.5) % 1.0 - 0.5)
            # Slices past the track's end are silent; keep their (unused) phase sane.
            dcyc = np.where(amp > 0, np.maximum(dcyc, 1e-9), 1.0)
            power = np.zeros_like(mid)
            for h, a in TONE_PARTIALS:
                k = loudness.k_response(h * f, self.rate)
                k2 = k.real**2 + k.imag**2
                phi = np.angle(k)
                # Mean of cos(2hθ + 2φ) over the slice, θ taken as linear in between.
                arg_l = _TWO_PI * 2 * h * (cyc_l % 1.0) + 2 * phi
                arg_r = _TWO_PI * 2 * h * (cyc_r % 1.0) + 2 * phi
                mean_cos = (np.sin(arg_r) - np.sin(arg_l)) / (_TWO_PI * 2 * h * dcyc)
                power += (amp * a) ** 2 * 0.5 * k2 * (1.0 - mean_cos)
            out[c0:c1] = power.reshape(c1 - c0, m).mean(axis=1)
        return out


# --- bell ------------------------------------------------------------------------------

BELL_FUNDAMENTAL_HZ = 236.0
# (frequency ratio, relative amplitude, amplitude decay time constant in s, beat in Hz):
# singing-bowl mode ratios; each mode is a slightly split pair (the bowl is never perfectly
# round), which gives the slow, gentle beating; higher modes die away faster.
BELL_PARTIALS = (
    (1.0, 1.0, 3.2, 0.8),
    (2.76, 0.55, 2.0, 1.5),
    (5.40, 0.28, 1.0, 2.6),
    (8.93, 0.13, 0.5, 3.7),
)
BELL_LENGTH_S = 10.0
BELL_ATTACK_S = 0.005
BELL_TAIL_S = 3.0  # raised-cosine fade over the end, to exact zero
BELL_PEAK = 0.5  # sample peak of the strike (-6 dBFS)
BELL_MALLET_LEVEL = 0.12  # soft felt mallet: a faint, short burst of band-passed noise
_BELL_SEED = 20240611
BELL_GRID = float(2**23)  # 24-bit PCM steps per unit: bells are exact in a PCM_24 file


# Haven's bells: name -> (fundamental in Hz, decay-time factor). The bowl is the original;
# a larger bowl sounds lower and rings longer, a smaller one higher and shorter.
BELL_SOUNDS = {
    "bowl": (BELL_FUNDAMENTAL_HZ, 1.0),
    "low-bowl": (157.0, 1.3),
    "high-bowl": (354.0, 0.75),
}
DEFAULT_BELL = "bowl"


@lru_cache(maxsize=8)
def _bell(rate: int, name: str = DEFAULT_BELL) -> np.ndarray:
    fundamental, stretch = BELL_SOUNDS[name]
    n = int(round(BELL_LENGTH_S * rate))
    t = np.arange(n, dtype=np.float64) / rate
    x = np.zeros(n)
    for ratio, amp, tau, beat in BELL_PARTIALS:
        tau = tau * stretch
        f = fundamental * ratio
        if f + beat >= rate / 2:
            continue
        decay = amp * np.exp(-t / tau)
        # Unequal pair: the sum swells and dips by about 4 dB instead of beating to silence.
        pair = 0.8 * np.sin(_TWO_PI * (f - beat / 2) * t)
        pair += 0.2 * np.sin(_TWO_PI * (f + beat / 2) * t)
        x += decay * pair
    rng = np.random.default_rng(_BELL_SEED)
    m = int(0.06 * rate)
    noise = rng.standard_normal(m)
    spec = np.fft.rfft(noise)
    fr = np.fft.rfftfreq(m, 1.0 / rate)
    spec *= (fr > 700.0) & (fr < 4500.0)  # the woody "tok" of the mallet, no hiss
    burst = np.fft.irfft(spec, m) * np.exp(-np.arange(m) / (0.008 * rate))
    burst *= _rise(np.arange(m) / (0.001 * rate))
    burst *= 1.0 - _rise((np.arange(m) - 0.75 * m) / (0.25 * m))  # ends at 0, no click
    x[:m] += BELL_MALLET_LEVEL * burst / np.max(np.abs(burst))
    x *= _rise(np.arange(n) / (BELL_ATTACK_S * rate))
    tail = int(BELL_TAIL_S * rate)
    x[-tail:] *= raised_cosine(tail, rising=False)
    x *= BELL_PEAK / np.max(np.abs(x))
    # On the 24-bit grid: the strike is exactly what its FLAC asset in audio/ holds (player.
    # sounds), so a session gives the same samples from either. The rounding moves a sample
    # by at most 2^-24 (-144 dBFS), far below anything audible.
    out = (np.round(x * BELL_GRID) / BELL_GRID).astype(np.float32)
    out[-1] = 0.0
    out.setflags(write=False)
    return out


def bell_strike(rate: int, name: str = DEFAULT_BELL) -> np.ndarray:
    """One struck singing bowl, mono float32, ``BELL_LENGTH_S`` long, peak ``BELL_PEAK``.

    ``name`` is one of ``BELL_SOUNDS``. Deterministic and cached per rate, in memory and on
    disk (``player.audio.memo``: synthesizing it takes ~0.15 s, on the way to a session's first
    audio); the array is read-only (shared by every caller).
    """
    if name not in BELL_SOUNDS:
        raise ValueError(f"unknown bell {name!r}; expected one of {tuple(BELL_SOUNDS)}")
    return _bell_cached(int(rate), name)


@lru_cache(maxsize=8)
def _bell_cached(rate: int, name: str = DEFAULT_BELL) -> np.ndarray:
    from player.audio import memo

    # float32 -> float64 -> float32 is exact, so a cached bell is the synthesized one.
    key = rate if name == DEFAULT_BELL else (name, rate)
    out = memo.cached_array("bell", key, lambda: _bell(rate, name)).astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def _bell_k_squared(rate: int) -> np.ndarray:
    y = loudness.k_weight(_bell(rate), rate)
    y *= y
    y.setflags(write=False)
    return y


def bell_hop_power(rate: int, hop: int, offset: int = 0) -> np.ndarray:
    """K-weighted mean square per hop of one strike starting ``offset`` samples into hop 0.

    Covers every hop the strike touches (the bell is filtered once per rate and cached).
    """
    rate, hop, offset = int(rate), int(hop), int(offset)
    if not 0 <= offset < hop:
        raise ValueError("offset must be in [0, hop)")
    sq = _bell_k_squared(rate)
    n_hops = -(-(offset + len(sq)) // hop)
    placed = np.zeros(n_hops * hop)
    placed[offset : offset + len(sq)] = sq
    return placed.reshape(n_hops, hop).mean(axis=1)


# --- ambient beds ----------------------------------------------------------------------

NOISE_KINDS = ("pink-noise", "brown-noise", "white-noise", "rain", "ocean", "stream")
# Loop length: not a round number of seconds, so the repeat never falls into a rhythm.
NOISE_LOOP_S = 37.3
# Channel-summed K-weighted mean square of every bed: a 0 dB mono source in both channels.
NOISE_K_POWER = 2.0 * 10.0 ** ((REFERENCE_LUFS - loudness._LUFS_OFFSET) / 10.0)
_RAIN_DROPS_PER_S = 60.0


def _highpass_mag(f: np.ndarray, fc: float) -> np.ndarray:
    """Magnitude of a 2nd-order Butterworth high-pass (removes rumble, 12 dB/octave)."""
    r = (f / fc) ** 2
    return r / np.sqrt(1.0 + r * r)


def _rain_channel(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Rain on leaves: a soft hiss plus many tiny droplet 'ticks', periodic over n samples."""
    f = np.fft.rfftfreq(n, 1.0 / rate)
    mag = np.zeros_like(f)
    nz = f > 0
    # Broad hiss centred around 1-3 kHz, rolled off at both ends.
    fz = f[nz]
    rolloff = np.sqrt(1.0 + (fz / 5000.0) ** 2) * np.sqrt(fz / 1000.0 + 0.3)
    mag[nz] = _highpass_mag(fz, 300.0) / rolloff
    spec = mag * np.exp(1j * rng.uniform(0, _TWO_PI, len(f)))
    spec[-1] = 0.0
    hiss = np.fft.irfft(spec, n)
    hiss /= np.sqrt(np.mean(hiss * hiss))
    # Droplets: short decaying sines at random times, pitches and strengths.
    length = int(0.03 * rate)
    tt = np.arange(length) / rate
    count = int(_RAIN_DROPS_PER_S * n / rate)
    starts = rng.integers(0, n, count)
    freqs = rng.uniform(1800.0, 5500.0, count)
    taus = rng.uniform(0.002, 0.006, count)
    gains = rng.lognormal(mean=0.0, sigma=0.6, size=count)
    drops = np.zeros(n + length)
    onset = _rise(tt / 0.0004)  # 0.4 ms rise: a soft tick, not a click
    for s0, f, tau, g in zip(starts, freqs, taus, gains):
        drops[s0 : s0 + length] += g * np.sin(_TWO_PI * f * tt) * np.exp(-tt / tau) * onset
    # Drops running past the end continue at the start: the loop stays seamless.
    drops[:length] += drops[n:]
    drops = drops[:n]
    drops /= np.sqrt(np.mean(drops * drops))
    return hiss + 0.5 * drops


def _shaped_noise(n: int, rate: int, rng: np.random.Generator, mag_of) -> np.ndarray:
    """Noise periodic over n samples with magnitude ``mag_of(f)`` (f > 0), unit RMS."""
    f = np.fft.rfftfreq(n, 1.0 / rate)
    mag = np.zeros_like(f)
    mag[1:] = mag_of(f[1:])
    mag[-1] = 0.0
    x = np.fft.irfft(mag * np.exp(1j * rng.uniform(0.0, _TWO_PI, len(f))), n)
    return x / np.sqrt(np.mean(x * x))


# Ocean: waves arrive this many times per loop (whole numbers keep the loop seamless).
_OCEAN_WAVES = (5, 3)


def _ocean_envelope(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(amplitude envelope, crest) of the surf, periodic over n samples: the level swells
    slowly and falls back faster; it never drops more than ~6 dB, so no 400 ms block of the
    bed is gated out of its loudness."""
    u = np.arange(n, dtype=np.float64) / n
    swell = []
    for k in _OCEAN_WAVES:
        phase = (k * u) % 1.0
        # A slow rise over 70 % of the wave, a quicker fall over the rest.
        shape = np.where(phase < 0.7, _rise(phase / 0.7), 1.0 - _rise((phase - 0.7) / 0.3))
        swell.append(shape)
    crest = 0.7 * swell[0] + 0.3 * swell[1]
    return 0.5 + 0.5 * crest, crest


def _ocean_channel(n: int, rate: int, rng: np.random.Generator, env, crest) -> np.ndarray:
    """Surf: a dark rumble that swells with each wave, and a brighter wash at its crest."""
    body = _shaped_noise(n, rate, rng, lambda f: _highpass_mag(f, 30.0) / np.sqrt(f)
                         / np.sqrt(1.0 + (f / 1200.0) ** 2))
    wash = _shaped_noise(n, rate, rng, lambda f: _highpass_mag(f, 800.0)
                         / np.sqrt(1.0 + (f / 6000.0) ** 2))
    return body * env + 0.35 * wash * crest**2


def _stream_channel(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A brook: band-limited water noise whose level bubbles a few times a second."""
    water = _shaped_noise(n, rate, rng, lambda f: _highpass_mag(f, 250.0)
                          / np.sqrt(1.0 + (f / 2500.0) ** 2))
    gurgle = _shaped_noise(n, rate, rng, lambda f: ((f > 2.0) & (f < 12.0)).astype(float))
    floor = _shaped_noise(n, rate, rng, lambda f: _highpass_mag(f, 60.0) / np.sqrt(f))
    return water * np.exp(0.45 * gurgle) + 0.4 * floor


def _fast_fft_length(n: int) -> int:
    """The smallest even length >= n with no prime factor above 7 (FFT-friendly)."""
    m = n + (n % 2)
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


@lru_cache(maxsize=8)
def _noise_loop(kind: str, rate: int, seed: int) -> tuple[np.ndarray, float]:
    """A seamless stereo loop (n, 2) float32 and its channel-summed K-weighted power."""
    n = _fast_fft_length(int(round(NOISE_LOOP_S * rate)))
    rng = np.random.default_rng([seed, NOISE_KINDS.index(kind), rate])
    f = np.fft.rfftfreq(n, 1.0 / rate)
    k2 = loudness.k_power_response(f, rate)
    # Parseval for a real signal of length n from its rfft bins (DC and Nyquist count once).
    weight = np.full(len(f), 2.0)
    weight[0] = 1.0
    weight[-1] = 1.0
    power = 0.0
    channels = []
    if kind == "ocean":
        env, crest = _ocean_envelope(n)  # the same waves on both sides
    for _ in range(2):  # independent phases per channel: decorrelated, wide, not mono
        if kind in ("rain", "ocean", "stream"):
            if kind == "rain":
                x = _rain_channel(n, rate, rng)
            elif kind == "ocean":
                x = _ocean_channel(n, rate, rng, env, crest)
            else:
                x = _stream_channel(n, rate, rng)
            spec = np.fft.rfft(x)
        else:
            mag = np.zeros_like(f)
            nz = f > 0
            if kind == "white-noise":
                mag[nz] = 1.0
            elif kind == "pink-noise":
                mag[nz] = _highpass_mag(f[nz], 20.0) / np.sqrt(f[nz])  # power ∝ 1/f
            else:
                mag[nz] = _highpass_mag(f[nz], 25.0) / f[nz]  # brown: power ∝ 1/f², no rumble
            mag[-1] = 0.0  # the Nyquist bin would have to be real
            spec = mag * np.exp(1j * rng.uniform(0.0, _TWO_PI, len(f)))
            x = np.fft.irfft(spec, n)  # periodic by construction: the wrap is seamless
        # K-weighted power of the loop played forever: exact, from its spectrum.
        power += float(np.sum(weight * k2 * (spec.real**2 + spec.imag**2))) / (n * n)
        channels.append(x)
    gain = math.sqrt(NOISE_K_POWER / power)
    loop = (np.stack(channels, axis=1) * gain).astype(np.float32)
    loop.setflags(write=False)
    # Float32 rounding changes the power by ~1e-7 relative: NOISE_K_POWER stands.
    return loop, NOISE_K_POWER


@lru_cache(maxsize=8)
def _stored_noise_loop(kind: str, rate: int, seed: int) -> tuple[np.ndarray, float]:
    """``_noise_loop``, kept on disk (``player.audio.memo``, float32): making it costs ~0.4 s
    and ~100 MB of FFT buffers before a session's first audio; reading it, ~10 ms and the
    loop's own 13 MB."""
    from player.audio import memo

    def make() -> np.ndarray:
        return _noise_loop.__wrapped__(kind, rate, seed)[0]

    loop = memo.cached_array("noise-bed", (kind, rate, seed), make, dtype=np.float32)
    loop = loop.reshape(-1, 2)
    loop.setflags(write=False)
    return loop, NOISE_K_POWER


class NoiseBed:
    """A seamless, endless stereo ambient bed read from a generated loop.

    Pink, brown and white noise are built in the frequency domain (random phases, shaped
    magnitudes, inverse FFT), which makes the loop exactly periodic: it wraps without a
    seam, and any position can be read directly. "rain" is a soft hiss plus droplet ticks
    placed round the loop. Loudness: channel-summed K-weighted power ``k_power`` =
    ``NOISE_K_POWER`` for every kind (see the module docstring).
    """

    def __init__(self, kind: str, rate: int = 48000, seed: int = 0):
        if kind not in NOISE_KINDS:
            raise ValueError(f"unknown ambient sound {kind!r}; expected one of {NOISE_KINDS}")
        self.kind = kind
        self.rate = int(rate)
        self.seed = int(seed)
        self._loop, self.k_power = _stored_noise_loop(kind, self.rate, self.seed)
        self.loop_length = self._loop.shape[0]

    def render(self, start: int, n: int) -> np.ndarray:
        """Stereo float32 (n, 2) samples [start, start+n), for any (even negative) start."""
        n = int(n)
        out = np.empty((n, 2), dtype=np.float32)
        p = int(start) % self.loop_length
        done = 0
        while done < n:
            take = min(n - done, self.loop_length - p)
            out[done : done + take] = self._loop[p : p + take]
            done += take
            p = 0
        return out

    def hop_power(self, hop_samples: int, first_hop: int, n_hops: int) -> np.ndarray:
        """K-weighted mean square per hop (channels summed): constant for a stationary bed."""
        return np.full(max(int(n_hops), 0), self.k_power)

    @property
    def is_dual_mono(self) -> bool:
        """True when both channels of the loop are the same samples (a mono sound file)."""
        same = getattr(self, "_dual_mono", None)
        if same is None:
            same = self._dual_mono = bool(np.array_equal(self._loop[:, 0], self._loop[:, 1]))
        return same


class LoopBed(NoiseBed):
    """A bed read from a prepared seamless stereo loop (a sound file, see player.audio.sounds).

    ``k_power`` is the loop's channel-summed K-weighted power played forever; the mixer sets
    it to the bed level like any other bed. Rendering copies, exactly as for noise beds.
    """

    def __init__(self, loop: np.ndarray, k_power: float, rate: int = 48000, name: str = ""):
        self.kind = name
        self.rate = int(rate)
        self.seed = 0
        self._loop = loop
        self.k_power = float(k_power)
        self.loop_length = loop.shape[0]
