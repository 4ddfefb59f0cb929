"""One MP3 from several LAME encoders at once (``mp3.encode_parallel``).

The joined file must be an ordinary LAME file that decodes as the serial encode does. These
tests measure that on material that makes the join hard (clicks, noise bursts, chirps,
digital silence, a transient forced onto each split, and real speech), mono and stereo,
44.1 and 48 kHz, two and three encoders: decoded length, SNR against the input, the error
and the largest sample step around every possible seam, the frame structure read by an
independent parser and by mutagen, and the info frame, whose code is first proved on serial
files (recomputed from their frames, it is LAME's own frame byte for byte). Then the
fallbacks (None, nothing written) and the errors: a failing stream, a failing LAME, a
cancel and Ctrl-C all stop every encoder thread.
"""

from __future__ import annotations

import _thread
import threading

import numpy as np
import pytest
import soundfile as sf
from mutagen.mp3 import MP3
from mutagen.mp3._util import XingHeader

from player.audio import mp3
from player.audio.render import SessionSettings, prepare_session

BLOCK = 65536  # what render hands the encoder
FRAME = mp3.FRAME_SAMPLES
# Every possible seam lies within SEAM_CHOICES frames of its split; two more either side.
NEAR = mp3.SEAM_CHOICES + 2

SCRIPT = """\
haven: 1
title: Seams
summary: A few words to cut and join.
category: breathing
ending: bell
steps:
  - section: Only room
  - say: Breathe in slowly, and let the shoulders drop.
    after: 1s
"""


def lame() -> None:
    assert mp3.system_lame() is not None, "the system's LAME library (libmp3lame) is needed here"


def band_noise(rng, n: int, rate: int, top_hz: float) -> np.ndarray:
    """White noise with nothing above ``top_hz``: the encoder's low-pass (17.5 kHz at V4)
    would otherwise dominate every error measured against the input."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[int(top_hz * n / rate) :] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / noise.std()


def hard_signal(rate: int, channels: int, seconds: float = 32.0) -> np.ndarray:
    """Chirps, noise bursts with sharp onsets, single-sample clicks and stretches of digital
    silence, plus a click and a burst at each split :func:`mp3.plan_stretches` makes for two
    and for three encoders: the seams fall on or next to short blocks."""
    rng = np.random.default_rng(7)
    n = int(rate * seconds) + 123  # not a whole number of frames
    t = np.arange(n) / rate
    x = 0.15 * np.sin(2 * np.pi * np.cumsum(100 * 80 ** ((t % 4) / 4)) / rate)  # 100 Hz-8 kHz
    x += 0.3 * band_noise(rng, n, rate, 7000) * ((t % 0.7) < 0.08)
    x[np.arange(n) % int(1.3 * rate) == 0] += 0.9
    x[(t % 6) > 4.5] = 0.0
    for jobs in (2, 3):
        for split in splits(n, rate, jobs):
            at = split * FRAME - 576  # the input sample where frame ``split`` starts
            x[at] += 0.9
            x[at : at + rate // 20] += 0.4 * band_noise(rng, rate // 20, rate, 7000)
    return with_channels(x, channels, rng)


def smooth_signal(rate: int, channels: int, seconds: float = 31.0) -> np.ndarray:
    """A tone and a slow sweep, nothing sudden: a click made by a seam would be the largest
    step in the file."""
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * (300 * t + 20 * t * t))
    return with_channels(x, channels, None)


def with_channels(x: np.ndarray, channels: int, rng) -> np.ndarray:
    """``x`` alone, or with a second channel: ``x`` later and softer, plus a little noise
    from ``rng`` (none without one), so that joint stereo has something to decide."""
    if channels == 1:
        return np.ascontiguousarray(x[:, None], dtype=np.float32)
    other = 0.7 * np.roll(x, 45)
    if rng is not None:
        other += 0.02 * band_noise(rng, len(x), 48000, 7000)
    return np.ascontiguousarray(np.stack([x, other], axis=1), dtype=np.float32)


def splits(frames: int, rate: int, jobs: int) -> list[int]:
    return [middle for _, _, middle in mp3.plan_stretches(frames, rate, jobs)[:-1]]


def streams_of(samples: np.ndarray):
    def streams():
        for start in range(0, len(samples), BLOCK):
            yield samples[start : start + BLOCK]

    return streams


def serial(path, samples: np.ndarray, rate: int, title: str = "") -> None:
    writer = mp3.LameWriter.open(str(path), rate, samples.shape[1], title=title)
    assert writer is not None
    with writer:
        for block in streams_of(samples)():
            writer.write(block)


def parallel(path, samples: np.ndarray, rate: int, jobs: int, title: str = "") -> None:
    done = mp3.encode_parallel(str(path), streams_of(samples), len(samples), rate,
                               samples.shape[1], title=title, jobs=jobs)  # fmt: skip
    assert done == len(samples)


def decoded(path) -> np.ndarray:
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return data


def snr_db(decoded_: np.ndarray, samples: np.ndarray) -> float:
    error = (decoded_ - samples).astype(np.float64)
    return 10 * np.log10(np.sum(samples.astype(np.float64) ** 2) / np.sum(error**2))


def window_errors(decoded_: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """RMS error against the input in each frame-long window."""
    n = len(samples) // FRAME
    error = (decoded_[: n * FRAME] - samples[: n * FRAME]).astype(np.float64)
    return np.sqrt((error.reshape(n, FRAME, -1) ** 2).mean(axis=(1, 2)))


def near_splits(frames: int, rate: int, jobs: int) -> np.ndarray:
    """Which frame-long windows of the output hold or touch a possible seam (+-2 frames)."""
    mask = np.zeros(frames // FRAME, dtype=bool)
    for split in splits(frames, rate, jobs):
        mask[split - NEAR - 1 : split + NEAR + 1] = True
    return mask


# --- an independent reader of the frames (ISO 11172-3), to check what encode_parallel wrote ---

KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
RATE_INDEX = {44100: 0, 48000: 1, 32000: 2}


def read_frames(data: bytes, rate: int, channels: int) -> list[tuple[int, int]]:
    """(offset, length) of every frame up to the ID3v1 tag or the end; every header must be
    an MPEG-1 Layer III header at this rate with this channel mode."""
    end = len(data) - 128 if data[-128:-125] == b"TAG" else len(data)
    out, at = [], 0
    while at < end:
        head = data[at : at + 4]
        assert head[0] == 0xFF and head[1] in (0xFB, 0xFA), f"no frame header at {at}"
        assert (head[2] >> 2) & 3 == RATE_INDEX[rate] and 0 < head[2] >> 4 < 15
        assert (head[3] >> 6 == 3) == (channels == 1)
        length = 144000 * KBPS[head[2] >> 4] // rate + ((head[2] >> 1) & 1)
        out.append((at, length))
        at += length
    assert at == end, "the last frame runs past the end of the audio"
    return out


def main_data(frame: bytes, channels: int) -> tuple[int, int]:
    """(main_data_begin, bytes of audio data) from a frame's side info."""
    side = int.from_bytes(frame[4 : 4 + (17 if channels == 1 else 32)], "big")
    width = (17 if channels == 1 else 32) * 8
    begin = side >> (width - 9)
    at = 9 + (5 if channels == 1 else 3) + 4 * channels
    bits = 0
    for _ in range(2 * channels):
        bits += (side >> (width - at - 12)) & 0xFFF  # part2_3_length
        at += 59
    return begin, (bits + 7) // 8


def check_structure(path, samples: np.ndarray, rate: int, title: str) -> None:
    """Headers, Xing counts, the LAME tag's delay and padding, mutagen's length, the info
    frame's CRCs, the ID3v1 title, and the bit reservoir chained across the whole file."""
    frames, channels = len(samples), samples.shape[1]
    data = path.read_bytes()
    table = read_frames(data, rate, channels)
    side = 17 if channels == 1 else 32
    with open(path, "rb") as fh:
        fh.seek(4 + side)
        xing = XingHeader(fh)
    assert xing.frames == len(table) - 1  # the info frame is not counted
    assert xing.bytes == table[-1][0] + table[-1][1]  # the info frame is counted
    assert xing.lame_header.encoder_delay_start == 576
    assert xing.lame_header.encoder_padding_end == xing.frames * FRAME - frames - 576
    info = MP3(str(path)).info
    assert round(info.length, 3) == round(frames / rate, 3)
    assert (info.sample_rate, info.channels) == (rate, channels)
    # The music CRC, the tag CRC and the seek table, recomputed from the frames written.
    assert mp3.rebuilt_info_frame(str(path), frames) == data[: table[0][1]]
    assert (data[-128:-125] == b"TAG") == bool(title)
    if title:
        assert data[-125:-95].rstrip(b"\0") == title.encode("latin-1")
    # Every frame's data starts at or after the previous frame's data ends, and never
    # before the first audio frame: the reservoir carried across each seam is whole.
    stream, data_end = 0, 0
    for at, length in table[1:]:
        begin, size = main_data(data[at : at + length], channels)
        start = stream - begin
        assert start >= data_end, f"frame at byte {at} starts its data inside its predecessor's"
        data_end = start + size
        stream += length - 4 - side
        assert data_end <= stream, f"frame at byte {at} has more data than it has room for"


# --- the info frame, proved on serial files ---------------------------------------------------


@pytest.mark.parametrize(
    "rate,channels,seconds,title",
    [(48000, 1, 40.0, "A title"), (48000, 2, 3.0, ""), (44100, 2, 40.0, ""),
     (44100, 1, 3.0, "Short"), (32000, 2, 20.0, "Thirty-two")],  # fmt: skip
)
def test_info_frame_rebuilt_from_a_serial_files_frames_is_lames(tmp_path, rate, channels, seconds,
                                                                title):  # fmt: skip
    """Frame count, byte count, seek table (40 s: over 400 frames, so LAME's table halves),
    padding, music length, music CRC and tag CRC: all as LAME computed them."""
    lame()
    samples = hard_signal(rate, channels, seconds)
    path = tmp_path / "serial.mp3"
    serial(path, samples, rate, title)
    data = path.read_bytes()
    rebuilt = mp3.rebuilt_info_frame(str(path), len(samples))
    assert len(rebuilt) == 144000 * 128 // rate
    assert rebuilt == data[: len(rebuilt)]
    # ...and it would notice a wrong sample count: the padding differs.
    assert mp3.rebuilt_info_frame(str(path), len(samples) - 1) != data[: len(rebuilt)]


def test_crc16_is_lames_for_short_and_long_buffers():
    """The numpy row-wise CRC agrees with the byte-by-byte one, at any length and start."""
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    table, _, _, _ = mp3._crc_tables()

    def slow(buffer: bytes, crc: int = 0) -> int:
        for byte in buffer:
            crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
        return crc

    assert slow(b"123456789") == 0xBB3D  # CRC-16/ARC's check value
    for size in (0, 1, 1023, 16 * 1024, 16 * 1024 + 7, len(data)):
        assert mp3._crc16(data[:size]) == slow(data[:size])
    head = mp3._crc16(data[:50_001])
    assert mp3._crc16(data[50_001:], head) == slow(data)


# --- the joined file against the serial one ----------------------------------------------------

CASES = [(48000, 1, 2), (48000, 2, 3), (44100, 1, 3), (44100, 2, 2)]


@pytest.mark.parametrize("rate,channels,jobs", CASES)
def test_hard_material_decodes_as_the_serial_file(tmp_path, rate, channels, jobs):
    lame()
    samples = hard_signal(rate, channels)
    one, many = tmp_path / "serial.mp3", tmp_path / "parallel.mp3"
    serial(one, samples, rate)
    parallel(many, samples, rate, jobs)
    a, b = decoded(one), decoded(many)
    assert a.shape == b.shape == samples.shape  # gapless: exactly the frames written
    assert abs(snr_db(a, samples) - snr_db(b, samples)) < 1.0
    assert snr_db(b, samples) > 10
    # Around every possible seam the parallel file is no worse than the serial file at the
    # same place, or than the serial file's median error.
    errors_a, errors_b = window_errors(a, samples), window_errors(b, samples)
    near = near_splits(len(samples), rate, jobs)
    bound = np.maximum(1.1 * errors_a, np.median(errors_a)) + 1e-6
    worst = np.flatnonzero(near & (errors_b > bound))
    assert not worst.size, f"windows {worst} near a seam: {errors_b[worst]} > {bound[worst]}"
    check_structure(many, samples, rate, "")


@pytest.mark.parametrize("rate,channels,jobs", [(48000, 1, 2), (44100, 2, 3)])
def test_no_click_at_a_seam(tmp_path, rate, channels, jobs):
    """On a smooth signal the largest step from one sample to the next near a seam is no
    larger than elsewhere: the transforms on either side of a seam overlap as they should."""
    lame()
    samples = smooth_signal(rate, channels)
    path = tmp_path / "parallel.mp3"
    parallel(path, samples, rate, jobs)
    steps = np.abs(np.diff(decoded(path), axis=0)).max(axis=1)
    near = np.repeat(near_splits(len(samples), rate, jobs), FRAME)
    near = np.concatenate([near, np.zeros(len(steps) - len(near), dtype=bool)])
    assert steps[near].max() <= 1.02 * steps[~near].max()
    assert np.abs(decoded(path) - samples).max() < 0.05


def test_the_hard_material_has_short_blocks_at_each_split(tmp_path):
    """The premise of the hard material: at each split the serial encoder switches to short
    blocks (for the transient put there), so the seams are tested where the windows change."""
    lame()
    rate, samples = 48000, hard_signal(48000, 1)
    path = tmp_path / "serial.mp3"
    serial(path, samples, rate)
    data = path.read_bytes()
    table = read_frames(data, rate, 1)
    for jobs in (2, 3):
        for split in splits(len(samples), rate, jobs):
            at, length = table[1 + split]
            side = int.from_bytes(data[at + 4 : at + 21], "big")
            # granule 0: window_switching_flag and block_type, 33 and 34 bits into its fields
            switching = (side >> (136 - 18 - 34)) & 1
            block_type = (side >> (136 - 18 - 36)) & 3
            assert switching and block_type == 2, "the transient should make short blocks here"


def test_window_halves_that_may_meet_at_a_seam():
    """Aliasing cancels only between halves of the same shape: normal (0) and stop (3)
    windows end long, normal and start (1) windows begin long; start and short (2) end
    short, short and stop begin short. Mixed blocks are refused."""
    meets = {(end, start) for end in range(4) for start in range(4)
             if mp3._overlap_matches((0, end, 0), (0, start, 0))}  # fmt: skip
    assert meets == {(0, 0), (0, 1), (3, 0), (3, 1), (1, 2), (1, 3), (2, 2), (2, 3)}
    assert not mp3._overlap_matches((0, 2, 1), (0, 2, 0))


@pytest.mark.parametrize("rate,channels,jobs", [(48000, 1, 2), (44100, 2, 3)])
def test_speech_decodes_as_the_serial_file(tmp_path, monkeypatch, rate, channels, jobs):
    """A real clip: a rendered sentence and bell, repeated with pauses to over 30 s."""
    lame()
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "home"))
    script = tmp_path / "seams.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    session = prepare_session(str(script), SessionSettings(sample_rate=rate))
    clip = np.concatenate(list(session.mixer.blocks(BLOCK)))[:, 0]
    clip = np.concatenate([clip, np.zeros(int(0.4 * rate), dtype=np.float32)])
    x = np.tile(clip, int(31 * rate / len(clip)) + 1)[: int(31 * rate) + 77]
    samples = with_channels(x, channels, np.random.default_rng(1))
    one, many = tmp_path / "serial.mp3", tmp_path / "parallel.mp3"
    serial(one, samples, rate, "Seams")
    parallel(many, samples, rate, jobs, "Seams")
    a, b = decoded(one), decoded(many)
    assert a.shape == b.shape == samples.shape
    assert abs(snr_db(a, samples) - snr_db(b, samples)) < 1.0
    errors_a, errors_b = window_errors(a, samples), window_errors(b, samples)
    near = near_splits(len(samples), rate, jobs)
    assert np.all(errors_b[near] <= np.maximum(1.1 * errors_a[near], np.median(errors_a)) + 1e-6)
    check_structure(many, samples, rate, "Seams")


def test_speech_like_material_decodes_to_the_serial_files_very_samples(tmp_path):
    """The pre-roll is long enough: from its third frame on, LAME 3.100's second encoder
    quantizes as the serial one does (same block types, gains and bits: measured on speech),
    so around the seam the parallel file decodes to the serial file's samples exactly; only
    the packing of the bit reservoir may differ."""
    lame()
    rng = np.random.default_rng(12)
    t = np.arange(48000 * 40) / 48000
    x = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.2 * rng.standard_normal(len(t)) * (
        np.sin(2 * np.pi * 3 * t) > 0.3
    )
    samples = with_channels(x, 1, rng)
    one, many = tmp_path / "serial.mp3", tmp_path / "parallel.mp3"
    serial(one, samples, 48000, "Same")
    parallel(many, samples, 48000, 2, "Same")
    assert np.array_equal(decoded(many), decoded(one))


def test_a_seam_that_needs_a_bigger_frame(tmp_path, monkeypatch):
    """The reservoir bytes do not always fit after the last kept frame's data: that frame is
    then rewritten at a higher bitrate. Forced here (seams that need it are preferred, where
    encode_parallel avoids them), the file must still decode as the serial one."""
    lame()
    rate, samples = 48000, hard_signal(48000, 2)
    grown = []

    def prefer_grown(before, after, middle, channels, rate_):
        near = range(middle - mp3.SEAM_CHOICES, middle + mp3.SEAM_CHOICES + 1)
        seams = [mp3._join_at(before, after, k, channels, rate_) for k in near]
        seams = [s for s in seams if s is not None]
        seam = next((s for s in seams if s.grown), seams[0])
        grown.append(seam.grown)
        return seam

    monkeypatch.setattr(mp3, "_choose_seam", prefer_grown)
    one, many = tmp_path / "serial.mp3", tmp_path / "parallel.mp3"
    serial(one, samples, rate)
    parallel(many, samples, rate, 3)
    assert any(grown), "no candidate seam needed a bigger frame: the test lost its point"
    a, b = decoded(one), decoded(many)
    assert a.shape == b.shape == samples.shape
    errors_a, errors_b = window_errors(a, samples), window_errors(b, samples)
    near = near_splits(len(samples), rate, 3)
    assert np.all(errors_b[near] <= np.maximum(1.1 * errors_a[near], np.median(errors_a)) + 1e-6)
    check_structure(many, samples, rate, "")


# --- when it does not split: None, and nothing written ------------------------------------------


def test_no_lame_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(mp3, "system_lame", lambda names=None: None)
    samples = smooth_signal(48000, 1)
    path = tmp_path / "x.mp3"
    assert mp3.encode_parallel(str(path), streams_of(samples), len(samples), 48000, 1) is None
    assert not path.exists()


@pytest.mark.parametrize(
    "rate,channels,seconds,jobs",
    [(22050, 1, 31, 2), (96000, 2, 31, 2), (48000, 3, 31, 2), (48000, 1, 29, 2), (48000, 1, 31, 1)],
)
def test_what_is_not_split_is_none(tmp_path, rate, channels, seconds, jobs):
    """MPEG-2 rates (other frames), rates LAME refuses, three channels, under 30 s, one job."""
    lame()
    samples = np.zeros((int(rate * seconds), channels), dtype=np.float32)
    path = tmp_path / "x.mp3"
    assert mp3.encode_parallel(str(path), streams_of(samples), len(samples), rate, channels,
                               jobs=jobs) is None  # fmt: skip
    assert not path.exists()


def test_a_click_train_across_the_split_still_joins_cleanly(tmp_path):
    """Short blocks at every candidate seam: the two encoders agree on them, so a seam is
    still made, and the file decodes as the serial one does."""
    lame()
    rate = 48000
    samples = smooth_signal(rate, 1)
    (split,) = splits(len(samples), rate, 2)
    samples[(split - NEAR) * FRAME : (split + NEAR) * FRAME : 288] = 0.95
    one, many = tmp_path / "serial.mp3", tmp_path / "parallel.mp3"
    serial(one, samples, rate)
    parallel(many, samples, rate, 2)
    errors_a, errors_b = window_errors(decoded(one), samples), window_errors(decoded(many), samples)
    near = near_splits(len(samples), rate, 2)
    assert np.all(errors_b[near] <= np.maximum(1.1 * errors_a[near], np.median(errors_a)) + 1e-6)
    check_structure(many, samples, rate, "")


def test_no_usable_seam_is_none(tmp_path, monkeypatch):
    """Should no frame near a split make a seam (never seen), nothing is written and the
    caller encodes serially."""
    lame()
    tried = []
    monkeypatch.setattr(mp3, "_join_at", lambda *args: tried.append(args[2]))
    samples = smooth_signal(48000, 1)
    path = tmp_path / "x.mp3"
    assert mp3.encode_parallel(str(path), streams_of(samples), len(samples), 48000, 1) is None
    assert len(tried) == 2 * mp3.SEAM_CHOICES + 1
    assert not path.exists()


# --- errors, cancel and Ctrl-C stop every encoder -------------------------------------------------


def encoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("haven-mp3-")]


def long_signal() -> np.ndarray:
    """Five minutes (cheap to make): long enough that an encoder not stopped would be seen."""
    rng = np.random.default_rng(2)
    return (0.1 * rng.standard_normal((48000 * 300, 1))).astype(np.float32)


def test_a_failing_stream_stops_the_others_and_is_raised(tmp_path):
    lame()
    samples = long_signal()
    calls, read = [], []

    def streams():
        number = len(calls)
        calls.append(number)
        blocks = 0
        try:
            for start in range(0, len(samples), BLOCK):
                if number == 0 and blocks == 2:
                    raise RuntimeError("the mixer broke")
                blocks += 1
                yield samples[start : start + BLOCK]
        finally:
            read.append(blocks)

    path = tmp_path / "x.mp3"
    with pytest.raises(RuntimeError, match="the mixer broke"):
        mp3.encode_parallel(str(path), streams, len(samples), 48000, 1)
    assert not encoder_threads()
    assert len(read) == len(calls)  # every stream opened was closed (the other encoder may
    # have seen the failure before it opened one)
    assert max(read) < len(samples) // BLOCK - 50, "the other encoder went on to the end"
    assert not path.exists()


def test_a_short_stream_is_an_error(tmp_path):
    lame()
    samples = smooth_signal(48000, 1)
    with pytest.raises(ValueError, match="announced"):
        mp3.encode_parallel(str(tmp_path / "x.mp3"), streams_of(samples[:-5000]), len(samples),
                            48000, 1)  # fmt: skip
    assert not encoder_threads()


class FailingLame:
    """The real library, except that its third encode call reports LAME's error -3."""

    def __init__(self, lib):
        self._lib = lib
        self._calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def lame_encode_buffer_ieee_float(self, *args):
        with self._lock:
            self._calls += 1
            if self._calls == 3:
                return -3
        return self._lib.lame_encode_buffer_ieee_float(*args)


def test_a_lame_failure_is_one_encoder_error(tmp_path):
    lame()
    samples = long_signal()
    with pytest.raises(mp3.EncoderError) as info:
        mp3.encode_parallel(str(tmp_path / "x.mp3"), streams_of(samples), len(samples), 48000, 1,
                            lib=FailingLame(mp3.system_lame()))  # fmt: skip
    assert str(info.value) == "the MP3 encoder (LAME) failed with error -3"
    assert not encoder_threads()


def test_cancel_stops_everything(tmp_path):
    lame()
    samples = long_signal()
    cancel = threading.Event()
    read = []

    def streams():
        blocks = 0
        try:
            for start in range(0, len(samples), BLOCK):
                if blocks == 3:
                    cancel.set()  # as a user's cancel would, from outside the encoders
                blocks += 1
                yield samples[start : start + BLOCK]
        finally:
            read.append(blocks)

    path = tmp_path / "x.mp3"
    with pytest.raises(mp3.Cancelled):
        mp3.encode_parallel(str(path), streams, len(samples), 48000, 1, cancel=cancel)
    assert not encoder_threads()
    assert max(read) < len(samples) // BLOCK - 50
    assert not path.exists()


def test_ctrl_c_stops_the_encoders_and_propagates(tmp_path):
    lame()
    samples = long_signal()
    sent = []

    def streams():
        for n, start in enumerate(range(0, len(samples), BLOCK)):
            if n == 3 and not sent:
                sent.append(True)
                _thread.interrupt_main()  # Ctrl-C, while the caller waits for the encoders
            yield samples[start : start + BLOCK]

    with pytest.raises(KeyboardInterrupt):
        mp3.encode_parallel(str(tmp_path / "x.mp3"), streams, len(samples), 48000, 1)
    assert not encoder_threads()


def test_an_unwritable_folder_is_an_os_error(tmp_path):
    lame()
    samples = smooth_signal(48000, 1)
    with pytest.raises(OSError):
        mp3.encode_parallel(str(tmp_path / "missing" / "x.mp3"), streams_of(samples),
                            len(samples), 48000, 1)  # fmt: skip
    assert not encoder_threads()
