"""What keeps a played session small (issue 12, bench P10): 16-bit clips, beds and clip levels
read back from disk instead of computed, never two copies of every clip, a heap that gives
freed memory back. Each keeps the samples exactly as they were."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player import paths
from player.audio import memo, mixer, synth
from player.audio.streaming import PackedClip, pack_clip, stored_clip_gain
from player.speech import cache

RATE = 48000


def _entries(name: str) -> list:
    return sorted((paths.cache_dir() / "computed").glob(f"{name}-*"))


# --- memo: float32 entries -----------------------------------------------------------------


def test_float32_entries_hold_the_values_made_and_come_back_flat():
    calls = []
    values = np.array([[0.1, -2.5], [np.pi, 1e-30]])

    def make():
        calls.append(1)
        return values

    first = memo.cached_array("t32", 1, make, dtype=np.float32)
    again = memo.cached_array("t32", 1, make, dtype=np.float32)
    assert len(calls) == 1
    assert first.dtype == again.dtype == np.float32 and first.shape == again.shape == (4,)
    assert first.tobytes() == again.tobytes() == values.astype(np.float32).ravel().tobytes()
    (entry,) = _entries("t32")
    assert entry.suffix == ".f32" and entry.stat().st_size == 4 * 4 + 32
    # The same name and key in float64 is another entry, with its own values.
    wide = memo.cached_array("t32", 1, make)
    assert wide.dtype == np.float64 and np.array_equal(wide, values.ravel())
    assert len(calls) == 2 and len(_entries("t32")) == 2


@pytest.mark.parametrize("damage", ["flip", "short", "longer", "empty"])
def test_damaged_float32_entries_are_made_again(damage):
    memo.cached_array("d32", 7, lambda: np.arange(6.0), dtype=np.float32)
    (entry,) = _entries("d32")
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[5] ^= 0x01
    elif damage == "short":
        data = data[:-1]
    elif damage == "longer":
        data += b"\0\0\0\0"
    else:
        data = bytearray()
    entry.write_bytes(bytes(data))
    again = memo.cached_array("d32", 7, lambda: np.arange(6.0) * 2, dtype=np.float32)
    assert again.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


# --- beds: the noise loop is read back, not generated ----------------------------------------


def test_a_noise_bed_read_from_disk_is_the_generated_loop():
    rate = 16000  # a smaller loop than a session's: the same code
    synth._stored_noise_loop.cache_clear()
    made, power = synth._stored_noise_loop("pink-noise", rate, 0)  # generated and stored
    (entry,) = _entries("noise-bed")
    assert entry.suffix == ".f32"
    synth._stored_noise_loop.cache_clear()
    loaded, power2 = synth._stored_noise_loop("pink-noise", rate, 0)  # from disk
    fresh, power3 = synth._noise_loop.__wrapped__("pink-noise", rate, 0)
    assert loaded.shape == made.shape == fresh.shape and loaded.dtype == np.float32
    assert loaded.tobytes() == made.tobytes() == fresh.tobytes()
    assert power == power2 == power3 == synth.NOISE_K_POWER
    assert not loaded.flags.writeable
    bed = synth.NoiseBed("pink-noise", rate)
    assert np.array_equal(bed.render(5, 100), fresh[5:105])
    synth._stored_noise_loop.cache_clear()


# --- clips: 16-bit in memory, exactly the float32 samples --------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(-32767, 32767), min_size=1, max_size=400).filter(any),
    peak=st.floats(1e-4, 4.0),
    gain=st.floats(0.0, 10.0),
    cut=st.tuples(st.integers(0, 400), st.integers(0, 400)),
)
def test_a_packed_clip_gives_exactly_the_normalized_float32_samples(steps, peak, gain, cut):
    raw = np.array(steps, dtype=np.float64) / 32767.0 * peak
    decoded = cache.encode(raw.astype(np.float32)).samples  # what the cache hands out
    packed = pack_clip(decoded, gain)
    assert isinstance(packed, PackedClip) and packed.steps.dtype == np.int16
    expected = np.asarray(decoded, dtype=np.float32) * np.float32(gain)  # normalize_clip
    a, b = sorted(cut)
    assert len(packed) == len(expected)
    assert packed[a:b].dtype == np.float32
    assert packed[a:b].tobytes() == expected[a:b].tobytes()
    assert packed[:].tobytes() == expected.tobytes()


def test_samples_that_are_not_16_bit_steps_stay_float32():
    assert pack_clip(np.array([0.1, 0.2, 0.3001], dtype=np.float32), 1.0) is None
    assert pack_clip(np.zeros(5, dtype=np.float32), 1.0) is None  # no scale to find
    assert pack_clip(np.zeros(0, dtype=np.float32), 1.0) is None
    assert pack_clip(np.array([0.5, -0.25]), 1.0) is None  # float64: not a decoded clip


def test_a_streaming_session_keeps_its_clips_in_16_bits():
    from player.audio.render import SessionSettings
    from player.audio.streaming import StreamingSession
    from player.format import model

    script = model.Script(id="m", title="M", ending="silence", steps=(
        model.Say("Hello there. Let us begin slowly."), model.Pause(1),
        model.Say("A second sentence, a little longer than the first one."),
    ))
    session = StreamingSession(script, SessionSettings()).prepare_all()
    clips = list(session._clips.values())
    assert len(clips) == 3 and all(isinstance(c, PackedClip) for c in clips)
    assert all(c.steps.nbytes == 2 * len(c) for c in clips)


def test_a_clip_level_read_back_is_the_measured_one():
    rng = np.random.default_rng(3)
    clip = cache.encode((0.2 * rng.standard_normal(RATE)).astype(np.float32)).samples
    measured = mixer.clip_gain(clip, RATE, 0.8)
    assert stored_clip_gain(clip, RATE, 0.8) == measured  # measured, stored
    assert len(_entries("clip-gain")) == 1
    assert stored_clip_gain(clip, RATE, 0.8) == measured  # read back
    assert stored_clip_gain(clip, RATE, 0.5) == mixer.clip_gain(clip, RATE, 0.5)
    assert len(_entries("clip-gain")) == 2  # the volume is part of the key
    assert stored_clip_gain(clip[:0], RATE, 1.0) == 1.0 and stored_clip_gain(clip, RATE, 0) == 0.0


# --- speech: a streaming caller does not get every clip kept twice --------------------------


def test_synthesize_without_keeping_hands_every_clip_over_and_keeps_none():
    from player import speech

    requests = [speech.ClipRequest("One."), speech.ClipRequest("Two."),
                speech.ClipRequest("One.")]
    handed: list = []
    counts: list = []
    got = speech.synthesize(requests, jobs=1, keep=False,
                            on_clip=lambda i, clip: handed.append((i, clip)),
                            progress=lambda done, total: counts.append((done, total)))
    assert got == []
    assert sorted(i for i, _ in handed) == [0, 1, 2]
    assert counts[-1] == (2, 2)  # distinct clips
    kept = speech.synthesize(requests, jobs=1)  # now cached: the same samples
    by_index = dict(handed)
    assert all(np.array_equal(by_index[i].samples, kept[i].samples) for i in range(3))


# --- the heap ------------------------------------------------------------------------------


def test_the_heap_threshold_is_fixed_where_there_is_glibc():
    import platform

    from player.audio.streaming import keep_heap_small

    assert keep_heap_small() is (platform.libc_ver()[0] == "glibc")


# --- bell assets: decoded once ---------------------------------------------------------------


def test_a_bell_asset_is_decoded_once_then_read_back_without_soundfile(haven_home):
    import os
    import subprocess
    import sys

    code = (
        "import sys, hashlib; from player.audio import sounds; "
        "x = sounds.builtin_bell('bowl', 48000); "
        "print(hashlib.sha256(x.tobytes()).hexdigest(), x.dtype, 'soundfile' in sys.modules)"
    )
    env = dict(os.environ, HAVEN_HOME=str(haven_home))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][:2] == runs[1][:2] and runs[0][1] == "float32"
    assert runs[0][2] == "True" and runs[1][2] == "False"  # decoded once, then read back
    from player.audio import sounds

    sounds._asset.cache_clear()
    import hashlib

    import soundfile

    decoded, _ = soundfile.read(str(sounds.asset_path("bowl")), dtype="float32")
    assert hashlib.sha256(decoded.tobytes()).hexdigest() == runs[1][0]
