"""Mix a timeline into audio blocks: voice, breathing tones, bells and an ambient bed.

``Mixer.render(start, n)`` is a pure function of sample position (no hidden state), so any
block size gives the same samples. ``Mixer.blocks()`` adds the session's true-peak limiter and
is what both file rendering and real-time playback consume: the same code path, the same bytes.

Loudness is normalized with one gain for the whole session, predicted before any audio is
made from per-source K-weighted power per 100 ms hop (BS.1770's block grid): bells are
filtered once, tones and noise beds have analytic powers. Uncorrelated sources add in power.

The gain must be known before the first block plays, while most speech is not synthesized
yet, and a file render must use the very same gain so playback and rendering give identical
samples. So it depends on the script and settings only, never on synthesized audio:

- every clip is normalized on its own to the voice reference: its mean K-weighted power over
  its whole length is ``VOICE_REF_POWER`` times its volume squared (``normalize_clip``; the
  speech workers level clips to about that already, this makes it exact), so speech power per
  second of speech is known whatever the engine or voice;
- the mix is predicted on a *plan timeline*, the session compiled with clip lengths estimated
  from the text (``timeline.estimated_timeline``): voice as that power over each estimated
  clip, tones, bells and beds exactly.

The estimates move speech by a few percent in time, which changes the predicted integrated
loudness by a few hundredths of a LU; measured on the built-in library the renders land
within 0.3 LU of the target.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, Mapping

import numpy as np

from player.audio import loudness, synth
from player.audio.timeline import AMBIENT_FADE_S, SpeechRequest, Timeline

# Loudness each source is set to, before the session gain, when its level is 0 dB.
# The session gain then moves the whole mix to the target, so only the differences matter.
VOICE_REF_LUFS = -23.0
# Bells sit a little under the voice: clear, never startling.
BELL_LEVEL_DB = -4.0
DEFAULT_TARGET_LUFS = -18.0
TRUE_PEAK_CEILING_DBTP = -1.0
HOP_S = 0.1  # BS.1770 gating blocks are 4 hops of 100 ms
# Mean K-weighted power (one channel) of every clip after normalization: VOICE_REF_LUFS.
VOICE_REF_POWER = 10.0 ** ((VOICE_REF_LUFS + 0.691) / 10.0)
# A nearly silent clip is not blown up to the reference: at most this much gain.
MAX_CLIP_GAIN_DB = 20.0


@dataclass(frozen=True)
class LoudnessPlan:
    """What the session gain was computed from, for reports and tests."""

    predicted_lufs: float  # the mix before the session gain
    target_lufs: float
    gain_db: float
    voice_gain_db: float
    tone_gain_db: dict
    bell_gain_db: float
    gain: float = 1.0  # the exact linear session gain (gain_db is rounded for reports)


def _db(x: float) -> float:
    return 20.0 * np.log10(x)


def _amp(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _lufs_from_power(power: float) -> float:
    return -0.691 + 10.0 * np.log10(max(power, 1e-20))


def _k_energy_cumsum(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cumulative K-weighted energy of a mono buffer, with a leading zero."""
    return loudness.k_energy_cumsum(np.asarray(samples, dtype=np.float64), rate)


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


def clip_gain(samples: np.ndarray, rate: int, volume: float = 1.0) -> float:
    """The amplitude that brings a clip's mean K-weighted power to ``VOICE_REF_POWER``
    times ``volume`` squared (the speech workers have levelled it close to that already)."""
    if len(samples) == 0 or volume <= 0:
        return 0.0 if volume <= 0 else 1.0
    power = float(_k_energy_cumsum(samples, rate)[-1]) / len(samples)
    if not power > 0.0:
        return 1.0
    gain = float(np.sqrt(VOICE_REF_POWER / power)) * volume
    return min(_amp(MAX_CLIP_GAIN_DB), gain)


def normalize_clip(
    samples: np.ndarray, rate: int, volume: float = 1.0, gain: float | None = None
) -> np.ndarray:
    """A read-only float32 copy of a clip at the voice reference power times ``volume``²
    (see module docstring); ``gain`` is ``clip_gain`` when already known (kept on disk)."""
    if gain is None:
        gain = clip_gain(samples, rate, volume)
    out = np.asarray(samples, dtype=np.float32) * np.float32(gain)
    out.setflags(write=False)
    return out


def _ramp(x: np.ndarray) -> np.ndarray:
    """Raised-cosine 0..1 for x in [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def sleep_envelope(timeline: Timeline, positions: np.ndarray) -> np.ndarray:
    """Bedtime: the gain of voice, tones and bells at ``positions`` (1 before the fade, 0 after)."""
    start, end = timeline.sleep_fade
    return 1.0 - _ramp((positions - start) / max(end - start, 1))


def _tone_tracks(timeline: Timeline) -> list:
    return [
        synth.ToneTrack([(p.start, p.end, p.kind) for p in b.phases], b.tones, timeline.rate)
        for b in timeline.breaths
        if b.with_tones and b.phases
    ]


@lru_cache(maxsize=64)
def _tone_level(phases: tuple, tones, rate: int, hop: int) -> tuple[float, np.ndarray, int, int]:
    """(amp, K-power per hop, first hop, last hop) of a tone track set to its level.

    Each track alone sits ``level_db`` below the voice reference. Cached: playback rebuilds
    its mixer as speech arrives, and the hop powers are the costly part.
    """
    from player.audio import memo

    def make() -> np.ndarray:
        track = synth.ToneTrack(phases, tones, rate)
        first, last = track.start // hop, -(-track.end // hop)
        powers = track.hop_power(hop, first, last - first)
        active = powers[powers > 0]
        track_lufs = _lufs_from_power(float(np.mean(active))) if active.size else VOICE_REF_LUFS
        amp = _amp(VOICE_REF_LUFS + tones.level_db - track_lufs)
        return np.concatenate(([amp, first, last], powers))

    # Also kept on disk (player.audio.memo): ~0.15 s per track, before a session's first audio.
    packed = memo.cached_array("tone-level", (phases, tones, rate, hop), make)
    powers = packed[3:]
    powers.setflags(write=False)
    return float(packed[0]), powers, int(packed[1]), int(packed[2])


def _track_key(track) -> tuple:
    return tuple(track.phases)


def _bed_amp(bed: "synth.NoiseBed", level_db: float) -> float:
    """Each bed is measured once and set relative to the voice reference."""
    return _amp(VOICE_REF_LUFS + level_db - _lufs_from_power(bed.k_power))


def _bell_samples(rate: int, sound: str | None) -> np.ndarray:
    """The strike of a bell sound (None: Haven's bowl), mono float32 at ``rate``."""
    from player.audio import sounds

    return sounds.bell_samples(synth.DEFAULT_BELL if sound is None else sound, rate)


def _bell_amp(rate: int, sound: str | None = None) -> tuple[float, np.ndarray]:
    """The bell's amplitude (its first 400 ms block sets its level) and its K-energy cumsum.

    Haven's own bells are kept on disk too (player.audio.memo): filtering the 10 s strike costs
    ~0.2 s. A sound of the listener's is measured the same way, so every bell sits at
    ``BELL_LEVEL_DB`` whatever its recording level.
    """
    from player.audio import memo

    def make() -> np.ndarray:
        bell = _bell_samples(rate, sound)
        cumsum = _k_energy_cumsum(bell, rate)
        head = min(len(bell), int(0.4 * rate))
        bell_lufs = _lufs_from_power(cumsum[head] / max(head, 1))
        return np.concatenate(([_amp(VOICE_REF_LUFS + BELL_LEVEL_DB - bell_lufs)], cumsum))

    if sound is None or sound in synth.BELL_SOUNDS:
        key = rate if sound in (None, synth.DEFAULT_BELL) else (sound, rate)
        packed = memo.cached_array("bell-level", key, make)
    else:
        packed = make()
    return float(packed[0]), packed[1:]


_BELL_CACHE: dict[tuple[int, str | None], tuple[float, np.ndarray]] = {}


def _bell_level(rate: int, sound: str | None = None) -> tuple[float, np.ndarray]:
    key = (rate, None if sound == synth.DEFAULT_BELL else sound)
    if key not in _BELL_CACHE:
        _BELL_CACHE[key] = _bell_amp(rate, key[1])
    return _BELL_CACHE[key]


def _strikes_by_sound(timeline: Timeline) -> dict[str | None, list[int]]:
    """Sorted strike positions per bell sound (None: Haven's bowl)."""
    by_sound: dict[str | None, list[int]] = {}
    for bell in timeline.bells:
        sound = None if bell.sound == synth.DEFAULT_BELL else bell.sound
        by_sound.setdefault(sound, []).extend(bell.strikes)
    return {k: sorted(v) for k, v in by_sound.items()}


def _bed(sound: str, rate: int):
    if sound in synth.NOISE_KINDS:
        return synth.NoiseBed(sound, rate)
    from player.audio import sounds

    return sounds.bed(sound, rate)


def ambient_layers(timeline: Timeline) -> list[tuple[int, int, int, int, float, "synth.NoiseBed"]]:
    """(fade_in_start, fade_in_end, fade_out_start, fade_out_end, amp, bed) per bed."""
    fade = int(round(AMBIENT_FADE_S * timeline.rate))
    length = timeline.length
    events = list(timeline.ambient)
    layers = []
    for i, ev in enumerate(events):
        if ev.sound is None:
            continue
        last = i + 1 == len(events)
        out = timeline.bed_fade_out if (last and timeline.bed_fade_out) else fade
        stop = events[i + 1].start if not last else length - out
        stop = max(ev.start, min(stop, length - out))
        bed = _bed(ev.sound, timeline.rate)
        amp = _bed_amp(bed, ev.level_db) * timeline.levels.amp("bed")
        layers.append((ev.start, ev.start + fade, stop, stop + out, amp, bed))
    return layers


def _layer_envelope(layer, positions: np.ndarray) -> np.ndarray:
    a, b, c, d = layer[:4]
    up = _ramp((positions - a) / max(b - a, 1))
    down = 1.0 - _ramp((positions - c) / max(d - c, 1))
    return up * down


def _ending_envelope(timeline: Timeline, positions: np.ndarray) -> np.ndarray:
    fade = timeline.fade_out
    start = timeline.length - fade
    return 1.0 - _ramp((positions - start) / max(fade, 1))


def plan_loudness(
    timeline: Timeline, *, channels: int = 2, target_lufs: float = DEFAULT_TARGET_LUFS
) -> LoudnessPlan:
    """The session gain that brings ``timeline``'s mix to ``target_lufs`` (see module docstring).

    Voice is modelled as normalized speech: ``VOICE_REF_POWER`` (times the volume squared)
    over each speech event's length. Pass a plan timeline (estimated clip lengths) to get a
    gain that does not depend on synthesized audio.
    """
    rate = timeline.rate
    hop = int(round(rate * HOP_S))
    n_hops = max(1, -(-timeline.length // hop))
    center = np.zeros(n_hops)  # K-weighted energy per hop, summed over channels: voice, tones, bells
    beds = np.zeros(n_hops)
    levels = timeline.levels
    voice_amp, tones_amp = levels.amp("voice"), levels.amp("tones")
    bells_amp = levels.amp("bells")

    # Voice: uniform reference power over each clip (normalized clips have exactly that mean).
    for ev in timeline.speech:
        first, last = ev.start // hop, min(n_hops, -(-ev.end // hop))
        if ev.length <= 0 or last <= first:
            continue
        edges = np.clip(np.arange(first, last + 1, dtype=np.int64) * hop, ev.start, ev.end)
        center[first:last] += np.diff(edges) * (
            VOICE_REF_POWER * ev.request.volume**2 * channels * voice_amp**2)

    tone_gain_db = {}
    for i, track in enumerate(_tone_tracks(timeline)):
        amp, powers, first, last = _tone_level(_track_key(track), track.settings, rate, hop)
        tone_gain_db[i] = round(_db(amp), 3)
        top = max(0, min(last, n_hops) - first)
        amp *= tones_amp
        center[first : first + top] += powers[:top] * (amp * amp * channels * hop)  # power -> energy

    bell_amp = 1.0
    # A strike is synthesized (or read) and measured only when the session has that bell.
    for sound, strikes in _strikes_by_sound(timeline).items():
        amp, bell_cumsum = _bell_level(rate, sound)
        amp *= bells_amp
        if sound is None:
            bell_amp = amp
        for strike in strikes:
            _add_placed_energy(center, bell_cumsum, strike, hop, amp**2 * channels)

    centers = np.arange(n_hops) * hop + hop // 2
    if timeline.sleep_fade is not None:
        center *= sleep_envelope(timeline, centers) ** 2
    for layer in ambient_layers(timeline):
        amp, bed = layer[4], layer[5]  # the bed's level is in the layer's amp
        env = _layer_envelope(layer, centers)
        beds += (amp * env) ** 2 * bed.k_power * hop

    energy = center + beds
    # The ending fade scales everything under it.
    if timeline.fade_out:
        energy *= _ending_envelope(timeline, centers) ** 2

    predicted = loudness.integrated_from_hop_powers(energy / hop)
    if not np.isfinite(predicted):
        predicted = target_lufs
    gain_db = target_lufs - predicted
    return LoudnessPlan(
        predicted_lufs=round(float(predicted), 3),
        target_lufs=target_lufs,
        gain_db=round(float(gain_db), 3),
        voice_gain_db=0.0,
        tone_gain_db=tone_gain_db,
        bell_gain_db=round(_db(bell_amp), 3),
        gain=_amp(gain_db),
    )


class Mixer:
    """The audio of one compiled session, block by block.

    ``clips`` are the synthesized clips (normalized here unless ``normalized``). The session
    gain is ``plan.gain`` when a plan is given, else planned from ``plan_timeline`` (default:
    ``timeline`` itself). Rendering and playback pass the same plan timeline (estimated clip
    lengths), so they get the same gain and identical samples.
    """

    def __init__(
        self,
        timeline: Timeline,
        clips: Mapping[SpeechRequest, np.ndarray],
        *,
        target_lufs: float = DEFAULT_TARGET_LUFS,
        channels: int = 2,
        plan_timeline: Timeline | None = None,
        plan: LoudnessPlan | None = None,
        normalized: bool = False,
    ):
        self.timeline = timeline
        self.rate = timeline.rate
        self.length = timeline.length
        self.channels = channels
        if not normalized:
            clips = {
                req: normalize_clip(clip, self.rate, req.volume) for req, clip in clips.items()
            }
        self._clips = clips
        # Clips carry their level (reference power times volume²); the listener's voice level
        # scales them as they are mixed (never when it is 0 dB: the very same samples).
        self._voice_amp = timeline.levels.amp("voice")

        # Speech: sorted starts for quick lookup of what sounds in a block.
        self._speech = [
            (ev.start, ev.start + len(clips[ev.request]), clips[ev.request])
            for ev in timeline.speech
        ]
        self._speech_starts = [s[0] for s in self._speech]
        self._speech_longest = max((e - s for s, e, _ in self._speech), default=0)

        self._tracks = _tone_tracks(timeline)
        hop = int(round(self.rate * HOP_S))
        levels = timeline.levels
        self._tone_amps = [
            _tone_level(_track_key(t), t.settings, self.rate, hop)[0] * levels.amp("tones")
            for t in self._tracks
        ]
        # Per bell sound: (sorted strikes, the strike's samples, its amplitude).
        self._bells = [
            (strikes, _bell_samples(self.rate, sound),
             _bell_level(self.rate, sound)[0] * levels.amp("bells"))
            for sound, strikes in _strikes_by_sound(timeline).items()
        ]
        self._layers = ambient_layers(timeline)
        if plan is None:
            plan = plan_loudness(
                plan_timeline if plan_timeline is not None else timeline,
                channels=channels,
                target_lufs=target_lufs,
            )
        self.plan = plan
        self._gain = plan.gain

    @property
    def is_dual_mono(self) -> bool:
        """True when the session's two channels are the very same samples: every sound but a
        bed is placed in the centre, so this holds unless a bed is stereo. A file of it then
        needs one channel (``player.audio.render``)."""
        return self.channels == 2 and all(layer[5].is_dual_mono for layer in self._layers)

    # --- envelopes -------------------------------------------------------------------

    _ramp = staticmethod(_ramp)

    def _layer_envelope(self, layer, positions: np.ndarray) -> np.ndarray:
        return _layer_envelope(layer, positions)

    def _ending_envelope(self, positions: np.ndarray) -> np.ndarray:
        return _ending_envelope(self.timeline, positions)

    # --- rendering -------------------------------------------------------------------

    def render(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start+n) of the mix, after the session gain, before limiting."""
        end = start + n
        center = np.zeros(n, dtype=np.float64)

        lo = bisect.bisect_left(self._speech_starts, start - self._speech_longest)
        hi = bisect.bisect_left(self._speech_starts, end)
        for s, e, clip in self._speech[lo:hi]:
            if e <= start:
                continue
            a, b = max(s, start), min(e, end)
            if self._voice_amp == 1.0:
                center[a - start : b - start] += clip[a - s : b - s]
            else:
                center[a - start : b - start] += clip[a - s : b - s] * self._voice_amp

        for track, amp in zip(self._tracks, self._tone_amps):
            if track.end > start and track.start < end:
                center += track.render(start, n) * amp

        for strikes, bell, bell_amp in self._bells:
            bell_len = len(bell)
            lo = bisect.bisect_left(strikes, start - bell_len)
            for s in strikes[lo:]:
                if s >= end:
                    break
                if s + bell_len <= start:
                    continue
                a, b = max(s, start), min(s + bell_len, end)
                center[a - start : b - start] += bell[a - s : b - s] * bell_amp

        # Envelopes (raised cosines) are computed only for blocks that overlap a fade: where
        # a level is steady the cosine gives exactly 1.0 (or 0.0), so a scalar gives the very
        # same samples. Computing them over every block was most of the mixing time of a
        # session with a bed (bench P5: 3.3 s of 6.4 s for 30 minutes of bedtime-body-scan).
        positions = None
        fade = self.timeline.sleep_fade
        if fade is not None and end > fade[0]:
            if start >= fade[1]:
                center *= 0.0  # after the bedtime fade: the envelope is exactly 0
            else:
                positions = np.arange(start, end, dtype=np.float64)
                center *= sleep_envelope(self.timeline, positions)

        out = np.empty((n, self.channels), dtype=np.float64)
        out[:] = center[:, None]  # broadcasting: several times faster than np.repeat
        for layer in self._layers:
            if layer[0] >= end or layer[3] <= start:
                continue
            bed = layer[5].render(start, n)
            if layer[1] <= start and end <= layer[2]:
                # Between its fades env is exactly 1.0. float64, as the envelope's product is
                # (a Python float would keep the float32 bed in float32).
                out += bed[:, : self.channels] * np.float64(layer[4])
                continue
            if positions is None:
                positions = np.arange(start, end, dtype=np.float64)
            env = self._layer_envelope(layer, positions) * layer[4]
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
        self,
        block: int = 4096,
        *,
        start: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """The finished session as float32 (n, channels) blocks, through the limiter.

        Every block has ``block`` frames except the last; together they are exactly
        ``self.length - start`` frames. ``start`` (a sample position) begins the stream
        there with a fresh limiter, e.g. to restart playback at a section.
        """
        return limited_blocks(self, block, start=start, progress=progress)

    def limited(self, *, start: int = 0) -> "LimitedStream":
        """The same limited stream, read in pieces of any size (what the player reads)."""
        return LimitedStream(self, start=start)


def limited_blocks(
    source,
    block: int = 4096,
    *,
    start: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[np.ndarray]:
    """``source.render`` from ``start`` to ``source.length``, through the true-peak limiter.

    ``source`` has ``rate``, ``channels``, ``length`` and a pure ``render(start, n)``;
    ``length`` is read again for every block, so a source that is still growing (playback
    while speech is being synthesized) works as long as the caller only asks for blocks that
    are already final. The limiter gives the same samples for any block size.
    """
    stream = LimitedStream(source, start=start)
    while True:
        out = stream.read(block)
        if not len(out):
            return
        if progress:
            progress(stream.emitted, source.length)
        yield out


class LimitedStream:
    """``source.render`` from ``start`` to ``source.length`` through the true-peak limiter,
    read in pieces of any size (``read(n)``): the limiter and the pure ``render`` give the
    same samples however the session is cut, so a player reading large chunks ahead and a
    file render reading 64k blocks get the same audio.

    ``source.length`` is read again on every ``read`` (see ``limited_blocks``). To give
    ``[p, p + n)`` the stream renders the source up to ``p + n + latency`` (the limiter's
    look-ahead), at most ``SUB_BLOCK`` frames more.
    """

    def __init__(self, source, *, start: int = 0):
        from player.audio.limiter import TruePeakLimiter

        self.source = source
        self.limiter = TruePeakLimiter(
            source.rate, channels=source.channels, ceiling_dbtp=TRUE_PEAK_CEILING_DBTP
        )
        self.latency = self.limiter.latency
        self._skip = self.latency  # the limiter delays its output by this much
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._pos = start  # the next source frame to render
        self.emitted = start  # the session position of the next frame read

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` frames, float32 (m, channels): fewer at the end, none after it."""
        source, limiter = self.source, self.limiter
        want = min(int(n), source.length - self.emitted)
        if want <= 0:
            return np.zeros((0, source.channels), dtype=np.float32)
        while self._pending_len < want:
            total_in = source.length + self.latency
            if self._pos < total_in:
                m = min(want - self._pending_len + self._skip, total_in - self._pos)
                chunk = limiter.process(source.render(self._pos, m))
                self._pos += m
            else:
                chunk = limiter.flush()
                if len(chunk) == 0:
                    break
            if self._skip:
                cut = min(self._skip, len(chunk))
                chunk = chunk[cut:]
                self._skip -= cut
            if len(chunk):
                self._pending.append(chunk)
                self._pending_len += len(chunk)
        pending = self._pending
        if not pending:
            return np.zeros((0, source.channels), dtype=np.float32)
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        take = min(want, len(joined))
        out, rest = joined[:take], joined[take:]
        self._pending = [rest] if len(rest) else []
        self._pending_len = len(rest)
        self.emitted += take
        return np.ascontiguousarray(out, dtype=np.float32)
