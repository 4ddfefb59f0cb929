"""Rendering writes each block in a second thread while the next is mixed (issue 12, P11):
the file is the same, and a failure on either side ends both cleanly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from player.audio.render import _write_alongside


def blocks(n: int, size: int = 1000):
    for i in range(n):
        yield np.full((size, 2), i, dtype=np.float32)


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "haven-render-writer"]


def test_every_block_is_written_in_order_and_counted():
    got = []
    frames = _write_alongside(blocks(7), lambda b: got.append(b))
    assert frames == 7000
    assert [int(b[0, 0]) for b in got] == list(range(7))
    assert not writer_threads()


def test_a_reused_buffer_does_not_change_what_was_written():
    """A mixer may hand out the same buffer again: each block is written as it was."""
    shared = np.zeros((10, 2), np.float32)

    def reusing():
        for i in range(5):
            shared[:] = i
            yield shared

    got = []
    _write_alongside(reusing(), lambda b: got.append(b))
    assert [float(b[0, 0]) for b in got] == [0, 1, 2, 3, 4]


def test_a_writer_error_is_raised_and_mixing_stops():
    mixed = []

    def counted():
        for block in blocks(1000):
            mixed.append(1)
            yield block

    def write(block):
        if block[0, 0] == 3:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        _write_alongside(counted(), write)
    assert len(mixed) < 10  # it noticed within a couple of blocks
    assert not writer_threads()


def test_an_interrupt_while_mixing_stops_the_writer_first():
    written = []

    def interrupted():
        yield from blocks(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write_alongside(interrupted(), written.append)
    assert len(written) == 3  # what was mixed was written before the file could close
    assert not writer_threads()
