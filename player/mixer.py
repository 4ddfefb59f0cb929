"""Mix a timeline into audio blocks: voice, breathing tones, bells and an ambient bed.

``Mixer.render(start, n)`` is a pure function of sample position (no hidden state), so any
block size gives the same samples. ``Mixer.blocks()`` adds the session's true-peak limiter and
is what both file rendering and real-time playback consume: the same code path, the same bytes.

Loudness is normalized with one gain for the whole session, predicted before any audio is
made from per-source K-weighted power per 100 ms hop (BS.1770's block grid): voice clips and
bells are filtered once, tones and noise beds have analytic powers. Uncorrelated sources add
in power, so the prediction lands within a few tenths of a LU of measuring the finished mix,
and it costs a fraction of rendering: playback can start at once with the right gain.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np

from player import loudness, synth
from player.timeline import AMBIENT_FADE_S, SpeechRequest, Timeline

# Loudness each source is set to, before the session gain, when its level is 0 dB.
# The session gain then moves the whole mix to the target, so only the differences matter.
VOICE_REF_LUFS = -23.0
# Bells sit a little under the voice: clear, never startling.
BELL_LEVEL_DB = -4.0
DEFAULT_TARGET_LUFS = -18.0
TRUE_PEAK_CEILING_DBTP = -1.0
HOP_S = 0.1  # BS.1770 gating blocks are 4 hops of 100 ms


@dataclass(frozen=True)
class LoudnessPlan:
    """What the session gain was computed from, for reports and tests."""

    predicted_lufs: float  # the mix before the session gain
    target_lufs: float
    gain_db: float
    voice_gain_db: float
    tone_gain_db: dict
    bell_gain_db: float


def _db(x: float) -> float:
    return 20.0 * np.log10(x)


def _amp(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _lufs_from_power(power: float) -> float:
    return -0.691 + 10.0 * np.log10(max(power, 1e-20))


def _k_energy_cumsum(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cumulative K-weighted energy of a mono buffer, with a leading zero."""
    weighted = loudness.k_weight(samples.astype(np.float64), rate)
    return np.concatenate(([0.0], np.cumsum(weighted * weighted)))


def _add_placed_energy(hops: np.ndarray, cumsum: np.ndarray, start: int, hop: int, scale: float):
    """Add a buffer's K-energy, placed at ``start``, into per-hop energy sums."""
    length = len(cumsum) - 1
    end = start + length
    first = max(0, start // hop)
    last = min(len(hops), (end + hop - 1) // hop)
    if last <= first:
        return
    edges = np.arange(first, last + 1, dtype=np.int64) * hop
    idx = np.clip(edges - start, 0, length)
    hops[first:last] += np.diff(cumsum[idx]) * scale


class Mixer:
    """The audio of one compiled session, block by block."""

    def __init__(
        self,
        timeline: Timeline,
        clips: Mapping[SpeechRequest, np.ndarray],
        *,
        target_lufs: float = DEFAULT_TARGET_LUFS,
        channels: int = 2,
    ):
        self.timeline = timeline
        self.rate = timeline.rate
        self.length = timeline.length
        self.channels = channels
        self._clips = clips
        self._bell = synth.bell_strike(self.rate)

        # Speech: sorted starts for quick lookup of what sounds in a block.
        self._speech = [
            (ev.start, ev.start + len(clips[ev.request]), clips[ev.request], ev.request.volume)
            for ev in timeline.speech
        ]
        self._speech_starts = [s[0] for s in self._speech]
        self._speech_longest = max((e - s for s, e, _, _ in self._speech), default=0)

        self._tracks = [
            synth.ToneTrack(
                [(p.start, p.end, p.kind) for p in b.phases], b.tones, self.rate
            )
            for b in timeline.breaths
            if b.with_tones and b.phases
        ]
        self._tone_levels = [
            b.tones.level_db for b in timeline.breaths if b.with_tones and b.phases
        ]
        self._strikes = sorted(s for bell in timeline.bells for s in bell.strikes)
        self._layers = self._ambient_layers()
        self.plan = self._plan_loudness(target_lufs)

    # --- levels ----------------------------------------------------------------------

    def _ambient_layers(self) -> list[tuple[int, int, int, int, float, "synth.NoiseBed"]]:
        """(fade_in_start, fade_in_end, fade_out_start, fade_out_end, amp, bed) per bed."""
        fade = int(round(AMBIENT_FADE_S * self.rate))
        events = list(self.timeline.ambient)
        layers = []
        for i, ev in enumerate(events):
            if ev.sound is None:
                continue
            stop = events[i + 1].start if i + 1 < len(events) else self.length - fade
            stop = max(ev.start, min(stop, self.length - fade))
            bed = synth.NoiseBed(ev.sound, self.rate)
            # Each bed is measured once and set relative to the voice reference.
            bed_lufs = _lufs_from_power(bed.k_power)
            amp = _amp(VOICE_REF_LUFS + ev.level_db - bed_lufs)
            layers.append((ev.start, ev.start + fade, stop, stop + fade, amp, bed))
        return layers

    def _plan_loudness(self, target_lufs: float) -> LoudnessPlan:
        rate = self.rate
        hop = int(round(rate * HOP_S))
        n_hops = -(-self.length // hop)
        energy = np.zeros(n_hops)  # K-weighted energy per hop, summed over channels

        # Voice: one gain for all clips, so the engine's own phrasing and emphasis stay.
        cumsums = {req: _k_energy_cumsum(clip, rate) for req, clip in self._clips.items()}
        said_set = {ev.request for ev in self.timeline.speech if ev.kind == "say"}
        said = [req for req in self._clips if req in said_set] or list(self._clips)
        if said:
            voice_lufs = loudness.integrated_loudness(
                np.concatenate([self._clips[r] for r in said]).astype(np.float64), rate
            )
            if not np.isfinite(voice_lufs):
                voice_lufs = VOICE_REF_LUFS
        else:
            voice_lufs = VOICE_REF_LUFS
        self._voice_amp = _amp(VOICE_REF_LUFS - voice_lufs)
        for ev in self.timeline.speech:
            amp = self._voice_amp * ev.request.volume
            _add_placed_energy(energy, cumsums[ev.request], ev.start, hop, amp * amp * self.channels)

        # Tones: each track set so that, alone, it sits level_db below the voice reference.
        self._tone_amps = []
        tone_gain_db = {}
        for i, (track, level_db) in enumerate(zip(self._tracks, self._tone_levels)):
            first, last = track.start // hop, -(-track.end // hop)
            powers = track.hop_power(hop, first, last - first)
            active = powers[powers > 0]
            track_lufs = _lufs_from_power(float(np.mean(active))) if active.size else VOICE_REF_LUFS
            amp = _amp(VOICE_REF_LUFS + level_db - track_lufs)
            self._tone_amps.append(amp)
            tone_gain_db[i] = round(_db(amp), 3)
            energy[first:last] += powers[: max(0, min(last, n_hops) - first)] * amp * amp * self.channels

        # Bells: the strike's loudness over its first 400 ms block sets its level.
        bell_cumsum = _k_energy_cumsum(self._bell, rate)
        head = min(len(self._bell), int(0.4 * rate))
        bell_lufs = _lufs_from_power(bell_cumsum[head] / max(head, 1))
        self._bell_amp = _amp(VOICE_REF_LUFS + BELL_LEVEL_DB - bell_lufs)
        for strike in self._strikes:
            _add_placed_energy(energy, bell_cumsum, strike, hop, self._bell_amp**2 * self.channels)

        # Ambient beds: constant power times their fade envelope.
        for layer in self._layers:
            amp, bed = layer[4], layer[5]
            centers = np.arange(n_hops) * hop + hop // 2
            env = self._layer_envelope(layer, centers)
            energy += (amp * env) ** 2 * bed.k_power * hop

        # The ending fade scales everything under it.
        if self.timeline.fade_out:
            centers = np.arange(n_hops) * hop + hop // 2
            energy *= self._ending_envelope(centers) ** 2

        predicted = loudness.integrated_from_hop_powers(energy / hop)
        if not np.isfinite(predicted):
            predicted = target_lufs
        gain_db = target_lufs - predicted
        self._gain = _amp(gain_db)
        return LoudnessPlan(
            predicted_lufs=round(float(predicted), 3),
            target_lufs=target_lufs,
            gain_db=round(float(gain_db), 3),
            voice_gain_db=round(_db(self._voice_amp), 3),
            tone_gain_db=tone_gain_db,
            bell_gain_db=round(_db(self._bell_amp), 3),
        )

    # --- envelopes -------------------------------------------------------------------

    @staticmethod
    def _ramp(x: np.ndarray) -> np.ndarray:
        """Raised-cosine 0..1 for x in [0, 1] (clipped outside)."""
        x = np.clip(x, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * x)

    def _layer_envelope(self, layer, positions: np.ndarray) -> np.ndarray:
        a, b, c, d = layer[:4]
        up = self._ramp((positions - a) / max(b - a, 1))
        down = 1.0 - self._ramp((positions - c) / max(d - c, 1))
        return up * down

    def _ending_envelope(self, positions: np.ndarray) -> np.ndarray:
        fade = self.timeline.fade_out
        start = self.length - fade
        return 1.0 - self._ramp((positions - start) / max(fade, 1))

    # --- rendering -------------------------------------------------------------------

    def render(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start+n) of the mix, after the session gain, before limiting."""
        end = start + n
        center = np.zeros(n, dtype=np.float64)

        lo = bisect.bisect_left(self._speech_starts, start - self._speech_longest)
        hi = bisect.bisect_left(self._speech_starts, end)
        for s, e, clip, volume in self._speech[lo:hi]:
            if e <= start:
                continue
            a, b = max(s, start), min(e, end)
            center[a - start : b - start] += clip[a - s : b - s] * (self._voice_amp * volume)

        for track, amp in zip(self._tracks, self._tone_amps):
            if track.end > start and track.start < end:
                center += track.render(start, n) * amp

        bell_len = len(self._bell)
        lo = bisect.bisect_left(self._strikes, start - bell_len)
        for s in self._strikes[lo:]:
            if s >= end:
                break
            if s + bell_len <= start:
                continue
            a, b = max(s, start), min(s + bell_len, end)
            center[a - start : b - start] += self._bell[a - s : b - s] * self._bell_amp

        out = np.repeat(center[:, None], self.channels, axis=1)
        positions = None
        for layer in self._layers:
            if layer[0] >= end or layer[3] <= start:
                continue
            if positions is None:
                positions = np.arange(start, end, dtype=np.float64)
            env = self._layer_envelope(layer, positions) * layer[4]
            bed = layer[5].render(start, n)
            out += bed[:, : self.channels] * env[:, None]

        if self.timeline.fade_out and end > self.length - self.timeline.fade_out:
            if positions is None:
                positions = np.arange(start, end, dtype=np.float64)
            out *= self._ending_envelope(positions)[:, None]
        if end > self.length:  # nothing sounds past the end of the session
            out[max(0, self.length - start) :] = 0.0
        out *= self._gain
        return out.astype(np.float32)

    def blocks(
        self, block: int = 4096, *, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """The finished session as float32 (n, channels) blocks, through the limiter.

        Every block has ``block`` frames except the last; together they are exactly
        ``self.length`` frames.
        """
        from player.limiter import TruePeakLimiter

        limiter = TruePeakLimiter(
            self.rate, channels=self.channels, ceiling_dbtp=TRUE_PEAK_CEILING_DBTP
        )
        skip = limiter.latency  # the limiter delays its output by this much
        pending: list[np.ndarray] = []
        pending_len = 0
        emitted = 0
        pos = 0
        total_in = self.length + skip
        while emitted < self.length:
            if pos < total_in:
                n = min(block, total_in - pos)
                chunk = limiter.process(self.render(pos, n))
                pos += n
            else:
                chunk = limiter.flush()
                if len(chunk) == 0:
                    break
            if skip:
                cut = min(skip, len(chunk))
                chunk = chunk[cut:]
                skip -= cut
            if len(chunk):
                pending.append(chunk)
                pending_len += len(chunk)
            while pending_len >= block or (pos >= total_in and pending_len):
                joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                take = min(block, self.length - emitted, len(joined))
                out, rest = joined[:take], joined[take:]
                pending = [rest] if len(rest) else []
                pending_len = len(rest)
                emitted += take
                if progress:
                    progress(emitted, self.length)
                yield np.ascontiguousarray(out, dtype=np.float32)
                if emitted >= self.length:
                    return
