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


def test_cache_clear_removes_computed_entries_of_every_version_and_nothing_else():
    """`haven cache clear` empties `<cache>/computed` too: its entries are keyed by a digest of
    Haven's code, so an earlier version's (a bed's loop is ~14 MB) is never read again and,
    before, was never deleted either."""
    from click.testing import CliRunner

    from player.cli.app import main

    value = memo.cached_array("clear-test", (1, 2), lambda: np.arange(1000.0))
    assert np.array_equal(value, np.arange(1000.0))
    folder = paths.cache_dir() / "computed"
    older = folder / ("bed-" + "0" * 40 + ".f32")  # an earlier version's entry
    older.write_bytes(b"\0" * 4096)
    theirs = folder / "notes.txt"  # not an entry: left alone
    theirs.write_text("mine")
    entries = sorted(e.name for e in memo.stored())
    assert len(entries) == 2 and older.name in entries
    size = sum((folder / name).stat().st_size for name in entries)

    result = CliRunner().invoke(main, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Removed 2 files ({size / 1e6:.1f} MB).\n"
    assert memo.stored() == [] and theirs.read_text() == "mine"
    # made again when next needed, the same values
    assert np.array_equal(memo.cached_array("clear-test", (1, 2), lambda: np.arange(1000.0)),
                          np.arange(1000.0))
    assert len(memo.stored()) == 1


def test_entries_of_other_code_go_when_this_code_stores_one():
    """An upgrade leaves the previous version's entries behind (a bed's loop is ~14 MB); the
    first entry this code stores deletes them, and never this code's own or other files."""
    folder = paths.cache_dir() / "computed"
    mine = memo.cached_array("sweep-test", 1, lambda: np.arange(10.0))
    (current,) = [e.name for e in memo.stored()]
    folder.joinpath("bed-" + "0" * 40 + ".f32").write_bytes(b"\0" * 4096)  # before names had code
    other_code = current.replace(memo._code_digest()[: memo._CODE_CHARS], "f" * memo._CODE_CHARS)
    assert other_code != current
    folder.joinpath(other_code).write_bytes(b"\0" * 64)  # another version's entry
    folder.joinpath("notes.txt").write_text("mine")
    memo._swept.discard(folder)  # as a new process would
    memo.cached_array("sweep-test", 1, lambda: np.arange(99.0))  # a hit: nothing is swept
    assert len(memo.stored()) == 3
    again = memo.cached_array("sweep-test", 2, lambda: np.arange(3.0))  # a miss stores
    assert np.array_equal(again, np.arange(3.0)) and np.array_equal(mine, np.arange(10.0))
    names = sorted(e.name for e in memo.stored())
    assert current in names and len(names) == 2
    assert all(memo._is_current(name) for name in names)
    assert folder.joinpath("notes.txt").read_text() == "mine"
