"""A streaming, look-ahead, true-peak limiter that gives the same samples for any block size.

The signal is cut into sub-blocks of 32 samples. For each, the true peak is estimated by 4x
oversampled interpolation; the gain it needs, g = min(1, ceiling / peak), goes through a
sliding minimum over the look-ahead (so the gain is already down when the peak arrives), an
exponential release (so it recovers slowly), and a moving average as long as the look-ahead
(the classic pair: a minimum followed by an average of the same span never exceeds what any
sub-block needs, and turns steps into ramps). The gain is then interpolated linearly to the
samples and applied to the input delayed by the look-ahead.

Block-size invariance: input is buffered and processed only in complete sub-blocks, with all
history carried; every step is elementwise, a min/max, or a sum in a fixed order, and the
release recurrence is solved in closed form on absolute sub-block indices. So each output
sample comes from exactly the same arithmetic however the stream was cut: feeding blocks of
1000 or 4096 or one array gives bit-identical output.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from player.audio import loudness

# Aim this far under the ceiling: the gain changes a little within the interpolation
# window, so the output's true peak can differ from the estimate by a few hundredths of a dB.
SAFETY_DB = 0.3
SUB_BLOCK = 32
# 24 taps per phase: the same interpolator as ``loudness.true_peak``. A shorter one (12 taps,
# like the BS.1770 annex example) is faster but underestimates near-Nyquist peaks: full-band
# noise driven into the limiter then measures up to 0.9 dB over the ceiling.
HALF_TAPS = loudness.TRUE_PEAK_HALF_TAPS
# The reach of a sub-block's interpolation (H-1 samples before it, H after) must fit in its
# neighbours, which is what the screening in `_requirements` assumes.
assert 2 * HALF_TAPS - 1 <= SUB_BLOCK
# The release is solved in the log domain relative to a base sub-block; the base moves in
# fixed steps of absolute sub-blocks so the numbers stay small in arbitrarily long streams.
_SEGMENT = 1 << 16
# A gain this close to 1 is 1: after a release has run its course the output is again the
# input bit for bit (-9e-7 dB is far below anything audible or measurable).
_UNITY_SNAP = 1e-7


class TruePeakLimiter:
    """Look-ahead true-peak limiter with a fixed latency of ``latency`` samples.

    ``process(block)`` returns as many samples as it is given: the input delayed by
    ``latency``, turned down only where its true peak would exceed the ceiling. ``flush()``
    returns the last ``latency`` samples and readies the limiter for a new stream.
    """

    def __init__(
        self,
        rate: int,
        channels: int = 2,
        ceiling_dbtp: float = -1.0,
        lookahead_ms: float = 8.0,
        release_ms: float = 150.0,
    ):
        self.rate = int(rate)
        self.channels = int(channels)
        self.ceiling_dbtp = float(ceiling_dbtp)
        if self.channels < 1:
            raise ValueError("channels must be >= 1")
        self.target = 10.0 ** ((self.ceiling_dbtp - SAFETY_DB) / 20.0)
        self.sub_block = SUB_BLOCK
        self.window = max(1, int(round(lookahead_ms * 1e-3 * self.rate / SUB_BLOCK)))
        self.latency = (self.window + 1) * SUB_BLOCK + HALF_TAPS - 1
        # Release: the gain reduction decays by this factor (in log) per sub-block.
        self._log_decay = -SUB_BLOCK / (max(release_ms, 1e-3) * 1e-3 * self.rate)
        # An interpolated value is at most `bound` times the largest sample in its reach:
        # sub-blocks whose reach stays under target / bound cannot need any gain reduction.
        self._bound = loudness.interpolation_bound(HALF_TAPS)
        self._frac = np.arange(SUB_BLOCK, dtype=np.float64) / SUB_BLOCK
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample processed is the first of a new one."""
        S, W, ch = SUB_BLOCK, self.window, self.channels
        self._q = 0  # sub-blocks whose requirement is known
        self._n_in = 0  # samples received
        self._buf_start = -W * S  # absolute index of self._buf[0]; negative time is silence
        self._buf = np.zeros((W * S, ch), dtype=np.float32)
        self._req_hist = np.ones(W)
        self._r_hist = np.ones(W - 1)
        self._g_last = 1.0
        self._idle = True  # req and r histories all 1.0 and the last gain 1.0
        self._base = 0
        self._m = -math.inf
        self._out = np.zeros((self.latency, ch), dtype=np.float32)
        # Gains of the queued output, as pieces: an array, or an int counting gains of 1.0
        # (nearly all of a session). Only ``process_with_gain`` ever builds them into an
        # array, so plain ``process`` allocates nothing per block for them.
        self._out_gain: collections.deque = collections.deque([self.latency])

    # --- public API ---

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit the next ``len(block)`` samples; returns that many, delayed by ``latency``."""
        return self._process(block, with_gain=False)[0]

    def process_with_gain(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like ``process``, also returning the gain applied to each returned sample."""
        return self._process(block, with_gain=True)

    def _process(self, block: np.ndarray, with_gain: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 1 and self.channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected a block of shape (n, {self.channels}), got {x.shape}")
        n = x.shape[0]
        if n:
            self._buf = np.concatenate([self._buf, x])
            self._n_in += n
            ready = max(0, (self._n_in - HALF_TAPS) // SUB_BLOCK)
            if ready > self._q:
                self._advance(ready)
        out, self._out = self._out[:n], self._out[n:]
        return out, self._take_gain(n, with_gain)

    def _take_gain(self, n: int, build: bool) -> np.ndarray | None:
        """Remove the next ``n`` queued gains; return them as an array when ``build``."""
        pieces = []
        while n > 0:
            head = self._out_gain[0]
            count = head if isinstance(head, int) else len(head)
            k = min(n, count)
            if build:
                pieces.append(np.ones(k) if isinstance(head, int) else head[:k])
            if k == count:
                self._out_gain.popleft()
            else:
                self._out_gain[0] = head - k if isinstance(head, int) else head[k:]
            n -= k
        if not build:
            return None
        return np.concatenate(pieces) if len(pieces) != 1 else pieces[0]

    def _queue_gain(self, g: np.ndarray | int) -> None:
        tail = self._out_gain[-1] if self._out_gain else None
        if isinstance(g, int) and isinstance(tail, int):
            self._out_gain[-1] = tail + g
        elif not isinstance(g, int) or g:
            self._out_gain.append(g)

    def flush(self) -> np.ndarray:
        """The last ``latency`` samples of the stream (empty if nothing was fed), then reset."""
        if self._n_in == 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        out = self.process(np.zeros((self.latency, self.channels), dtype=np.float32))
        self.reset()
        return out

    # --- the work ---

    def _advance(self, q1: int) -> None:
        """Compute sub-blocks [self._q, q1) and queue the output they complete."""
        S, H, W = SUB_BLOCK, HALF_TAPS, self.window
        q0 = self._q
        nq = q1 - q0
        bs = self._buf_start
        req = self._requirements(self._buf[q0 * S - H + 1 - bs : q1 * S + H - bs], nq)
        a = (q0 - W) * S
        x = self._buf[a - bs : (q1 - W) * S - bs]

        if self._idle and self._release_done(q0) and req.min() == 1.0:
            # Nothing to limit and nothing pending: the full computation below would give
            # gain 1.0 everywhere and leave the state as it is, so skip it (the common case).
            for base in range(((q0 - 1) // _SEGMENT + 1) * _SEGMENT, q1, _SEGMENT):
                self._rebase(base)
            # x is a view of the buffer, which is never written in place (only replaced),
            # and the concatenation below copies it: no copy needed here.
            y = x
            g = len(x)
        else:
            y, g = self._limit(req, x, q0)
        if a < 0:  # the first W sub-blocks lie before the stream began
            y = y[-a:]
            g = max(0, g + a) if isinstance(g, int) else g[-a:]
        self._out = np.concatenate([self._out, y])
        self._queue_gain(g)

        new_start = (q1 - W) * S
        self._buf = self._buf[new_start - bs :]
        self._buf_start = new_start
        self._q = q1

    def _limit(self, req: np.ndarray, x: np.ndarray, q0: int) -> tuple[np.ndarray, np.ndarray]:
        """Gain curve from the requirements, applied to ``x`` (the sub-blocks W earlier)."""
        S, W = SUB_BLOCK, self.window
        nq = len(req)
        # Hold: each sub-block's gain may be no more than what it and the W before need.
        r_all = np.concatenate([self._req_hist, req])
        held = r_all[0:nq].copy()
        for k in range(1, W + 1):
            np.minimum(held, r_all[k : k + nq], out=held)
        self._req_hist = r_all[-W:]

        r = self._release(held, q0)

        # Moving average over W, summed in a fixed order (bit-exact for any grouping).
        r_ext = np.concatenate([self._r_hist, r])
        acc = r_ext[0:nq].copy()
        for k in range(1, W):
            acc += r_ext[k : k + nq]
        gains = acc / W
        self._r_hist = r_ext[len(r_ext) - (W - 1) :] if W > 1 else r_ext[:0]

        # Sub-block j (= q - W) is scaled by a ramp from gains[j] to gains[j + 1]; both are
        # within what sub-block j needs, so every sample in between is too.
        g_ext = np.concatenate([[self._g_last], gains])
        self._g_last = float(gains[-1])
        self._idle = bool(
            self._g_last == 1.0
            and self._req_hist.min() == 1.0
            and (W == 1 or self._r_hist.min() == 1.0)
        )
        g = (g_ext[:-1, None] + (g_ext[1:] - g_ext[:-1])[:, None] * self._frac[None, :])
        # Applied in float32 (the gain's rounding, < 1e-7, is far below audibility), and only
        # where some gain is below 1: x·1.0 is x exactly, so skipping changes nothing.
        g32 = g.astype(np.float32)
        busy = np.nonzero((g_ext[:-1] != 1.0) | (g_ext[1:] != 1.0))[0]
        if busy.size == nq:
            y = x * g32.reshape(-1, 1)
        else:
            y = x.copy()
            if busy.size:
                rows = y.reshape(nq, S, -1)
                rows[busy] = x.reshape(nq, S, -1)[busy] * g32[busy][:, :, None]
        return y, g.ravel()

    def _rebase(self, base: int) -> None:
        self._m += (base - self._base) * self._log_decay
        self._base = base

    def _release_done(self, q: int) -> bool:
        """True if a release still running at sub-block q is already below the unity snap."""
        if self._m == -math.inf:
            return True
        base = (q // _SEGMENT) * _SEGMENT
        m = self._m + (base - self._base) * self._log_decay
        # Half the snap threshold: a last-bit difference from the vectorized exp cannot flip it.
        return math.exp(m + (q - base) * self._log_decay) < 0.5 * _UNITY_SNAP

    def _requirements(self, xs: np.ndarray, nq: int) -> np.ndarray:
        """Gain each of ``nq`` sub-blocks needs; ``xs`` holds them plus H-1 / H samples of reach."""
        S, H = SUB_BLOCK, HALF_TAPS
        req = np.ones(nq)
        # Screening, from coarse to fine. Each test bounds a sub-block's true peak from above
        # by `bound` times the largest sample in some span that contains its interpolation
        # reach; a sub-block that passes needs no reduction (its exact requirement would be
        # 1.0), so a coarser span only sends more sub-blocks to the exact computation below
        # and never changes a result. Coarse first because it is cheap: a whole quiet block
        # (most of a session) costs two reductions instead of the per-sub-block ones.
        limit = self.target / self._bound
        if max(float(xs.max()), -float(xs.min())) <= limit:
            return req
        # Row q of `rows` starts H-1 samples before sub-block q and is S long; the reach of
        # sub-block q (its S samples, H-1 before, H after: S + 2H - 1 <= 2S) lies within rows
        # q and q+1. One contiguous reduction over both channels at once.
        ch = xs.shape[1]
        padded = np.zeros(((nq + 1) * S, ch), dtype=xs.dtype)
        padded[: len(xs)] = xs
        np.abs(padded, out=padded)
        rowmax = padded.reshape(nq + 1, S * ch).max(axis=1)
        reach = np.maximum(rowmax[:nq], rowmax[1:])
        candidates = np.nonzero(reach > limit)[0]
        if candidates.size == 0:
            return req
        if 4 * candidates.size >= nq:
            # Busy stretch: interpolate everything along contiguous arrays (faster than
            # gathering); per sample the arithmetic is the same as below, so the result is.
            peak = loudness.oversampled_abs(xs, nq * S, HALF_TAPS)
            peak = peak.reshape(nq, S * xs.shape[1]).max(axis=1)[candidates]
        else:
            idx = candidates[:, None] * S + np.arange(S + 2 * H - 1)[None, :]
            peak = loudness.oversampled_abs(xs[idx], S, HALF_TAPS).max(axis=(1, 2))
        # A candidate whose true peak is exactly 0 needs no reduction: target / 0 is inf and
        # minimum(1, inf) is 1, so the division warning says nothing worth saying.
        with np.errstate(divide="ignore"):
            req[candidates] = np.minimum(1.0, self.target / peak.astype(np.float64))
        return req

    def _release(self, held: np.ndarray, q0: int) -> np.ndarray:
        """Slow recovery: reduction u[k] = max(1 − held[k], decay·u[k−1]), in closed form.

        With c = log(decay), log u[k] = max over i ≤ k of (log(1 − held[i]) − i·c) + k·c: a
        running maximum, vectorized and exact; i and k count from a base that moves in fixed
        absolute steps.
        """
        c = self._log_decay
        nq = len(held)
        with np.errstate(divide="ignore"):
            logd = np.log(1.0 - held)
        u = np.empty(nq)
        k = q0
        while k < q0 + nq:
            base = (k // _SEGMENT) * _SEGMENT
            if base != self._base:
                self._rebase(base)
            end = min(q0 + nq, base + _SEGMENT)
            rel = np.arange(k - base, end - base, dtype=np.float64)
            v = logd[k - q0 : end - q0] - rel * c
            m = np.maximum.accumulate(np.concatenate([[self._m], v]))[1:]
            self._m = float(m[-1])
            u[k - q0 : end - q0] = np.exp(m + rel * c)
            k = end
        return np.where(u < _UNITY_SNAP, 1.0, 1.0 - u)
