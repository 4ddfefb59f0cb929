"""The disk cache of computed arrays: same values as computing, safe against damage."""

from __future__ import annotations

import numpy as np

from player.audio import memo, mixer, synth
from player import paths


def test_cached_values_equal_computed_ones():
    calls = []

    def make():
        calls.append(1)
        return np.array([1.0, 2.5, np.pi, -0.0, 1e-300])

    first = memo.cached_array("t", ("k", 1), make)
    again = memo.cached_array("t", ("k", 1), make)
    assert len(calls) == 1
    assert first.tobytes() == again.tobytes()
    other = memo.cached_array("t", ("k", 2), make)  # another key is another entry
    assert len(calls) == 2 and np.array_equal(other, first)


def test_damaged_entries_are_made_again():
    memo.cached_array("t", 7, lambda: np.arange(5.0))
    (entry,) = (paths.cache_dir() / "computed").iterdir()
    data = bytearray(entry.read_bytes())
    data[3] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert np.array_equal(memo.cached_array("t", 7, lambda: np.arange(5.0) * 2), np.arange(5.0) * 2)
    entry.write_bytes(b"short")
    assert np.array_equal(memo.cached_array("t", 7, lambda: np.arange(3.0)), np.arange(3.0))


def test_bell_and_levels_from_the_cache_are_exact():
    synth._bell_cached.cache_clear()
    fresh = synth._bell(48000)
    made = synth.bell_strike(48000)  # computed and stored
    synth._bell_cached.cache_clear()
    loaded = synth.bell_strike(48000)  # from disk
    assert made.dtype == loaded.dtype == np.float32
    assert made.tobytes() == loaded.tobytes() == fresh.tobytes()
    amp, cumsum = mixer._bell_amp(48000)
    amp2, cumsum2 = mixer._bell_amp(48000)
    assert amp == amp2 and cumsum.tobytes() == cumsum2.tobytes()
