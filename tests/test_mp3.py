"""MP3 files through the system's LAME (issue 12, P11): the same bytes as libsndfile's writer.

libsndfile's own MP3 writer (in the ``soundfile`` wheel) is an unoptimised build of LAME,
four times slower; ``player.audio.mp3`` drives the system's LAME with libsndfile's settings.
These tests hold the two to the same output, byte for byte, so the faster path can never
change what a user gets, and check the fallback when there is no system LAME.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3

from player.audio import mp3
from player.audio.render import SessionSettings, prepare_session, render_to_file

SCRIPT = """\
haven: 1
title: Mp3 Room
summary: A tiny exercise for the MP3 writer.
category: breathing
ending: bell
steps:
  - section: Only room
  - say: Hello there.
    after: 1s
"""


def signal(seconds: float, channels: int) -> np.ndarray:
    """Speech-like bursts over a soft tone, with a little noise: something to encode."""
    rng = np.random.default_rng(12)
    t = np.arange(int(48000 * seconds)) / 48000
    tone = 0.1 * np.sin(2 * np.pi * 220 * t)
    bursts = 0.2 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 3 * t) > 0.3)
    mono = (tone + bursts).astype(np.float32)
    if channels == 1:
        return mono[:, None]
    return np.stack([mono, np.roll(mono, 31) * 0.8], axis=1)


def with_libsndfile(path, samples, title: str) -> bytes:
    with sf.SoundFile(path, "w", 48000, samples.shape[1], format="MP3",
                      subtype="MPEG_LAYER_III") as out:  # fmt: skip
        if title:
            out.title = title
        for start in range(0, len(samples), 10000):
            out.write(samples[start : start + 10000])
    return path.read_bytes()


def with_lame(path, samples, title: str, block: int = 65536) -> bytes:
    writer = mp3.LameWriter.open(str(path), 48000, samples.shape[1], title=title)
    assert writer is not None, "the system's LAME library (libmp3lame) is needed here"
    with writer:
        for start in range(0, len(samples), block):
            writer.write(samples[start : start + block])
    return path.read_bytes()


def test_this_machine_has_a_system_lame():
    assert mp3.system_lame() is not None
    assert mp3.lame_version()


@pytest.mark.parametrize("channels,title", [(2, "A calm title"), (1, "")])
def test_lame_writer_gives_libsndfiles_bytes(tmp_path, channels, title):
    samples = signal(3.0, channels)
    theirs = with_libsndfile(tmp_path / "sf.mp3", samples, title)
    ours = with_lame(tmp_path / "lame.mp3", samples, title, block=7000)
    assert ours == theirs
    # An ID3v1 tag at the end when there is a title, as libsndfile writes it.
    assert (ours[-128:-125] == b"TAG") == bool(title)
    decoded, rate = sf.read(tmp_path / "lame.mp3", dtype="float32", always_2d=True)
    assert rate == 48000 and decoded.shape == samples.shape  # the info frame: no padding


def test_block_size_does_not_change_the_file(tmp_path):
    samples = signal(2.0, 2)
    assert with_lame(tmp_path / "a.mp3", samples, "x", block=4096) == with_lame(
        tmp_path / "b.mp3", samples, "x", block=100000
    )


def test_a_rate_mp3_cannot_hold_is_left_to_libsndfile(tmp_path):
    path = tmp_path / "high.mp3"
    assert mp3.LameWriter.open(str(path), 96000, 2) is None
    assert mp3.LameWriter.open(str(path), 48000, 6) is None
    assert not path.exists()


def test_missing_library_is_none():
    assert mp3.system_lame(names=("libhaven-no-such-lame.so.0",)) is None


def test_render_is_the_same_file_with_or_without_system_lame(tmp_path, monkeypatch):
    """The whole render path: chapters tag in front, audio, ID3v1 - identical either way."""
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "home"))
    script = tmp_path / "room.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    session = prepare_session(str(script), SessionSettings())
    fast, slow = tmp_path / "fast.mp3", tmp_path / "slow.mp3"
    used = []
    real_open = mp3.LameWriter.open

    def spy(*args, **kwargs):
        writer = real_open(*args, **kwargs)
        used.append(writer is not None)
        return writer

    monkeypatch.setattr(mp3.LameWriter, "open", spy)
    result = render_to_file(session, fast)
    assert used == [True]
    monkeypatch.setattr(mp3, "system_lame", lambda names=None: None)
    render_to_file(session, slow)
    assert used == [True, False]
    assert fast.read_bytes() == slow.read_bytes()
    assert result.chapters == 1 and ID3(fast)["TIT2"].text == ["Mp3 Room"]
    decoded, rate = sf.read(fast, dtype="float32", always_2d=True)
    # No stereo bed: the MP3 has one channel (player.audio.render.file_channels).
    assert rate == 48000 and decoded.shape == (result.frames, 1) and result.channels == 1


def test_a_full_device_is_an_os_error_with_its_errno():
    """The render turns an OSError into its one-line "no space left" message; LAME's writer
    must let the device's error through as one."""
    import errno

    samples = signal(2.0, 2)
    with pytest.raises(OSError) as info:
        with mp3.LameWriter.open("/dev/full", 48000, 2) as writer:
            for start in range(0, len(samples), 4096):
                writer.write(samples[start : start + 4096])
    assert info.value.errno == errno.ENOSPC
