"""Ogg Vorbis through the system's libvorbis, serially and on several cores (player.audio.vorbis).

``encode_parallel`` cuts one session into stretches, encodes each in its own thread and
joins the packets into one stream. These tests hold it to the serial encoder by numbers:
the same length to the sample, the same packets (byte for byte, also where the
psychoacoustic peak tracker would otherwise differ after a boundary), no click where the
stretches meet, a file an independent reader (mutagen) and an independent checksum accept,
and clean stops on errors, on cancel and on Ctrl-C. ``VorbisWriter`` is held to libsndfile.
"""

from __future__ import annotations

import _thread
import ctypes
import struct
import threading

import numpy as np
import pytest
import soundfile as sf
from mutagen.oggvorbis import OggVorbis

from player.audio import chapters, vorbis
from player.audio.mp3 import EncoderError

BLOCK = 65536  # render.BLOCK: what render hands a writer
CASES = [(1, 48000, 2), (2, 44100, 3), (2, 48000, 2), (1, 44100, 3)]  # channels, rate, jobs


def speech_like(seconds: float, rate: int, channels: int, seed: int = 3) -> np.ndarray:
    """Voiced glides with harmonics, noise bursts, clicks and silences over a soft tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        kind = rng.integers(4)
        m = min(n, pos + int(rng.uniform(0.3, 2.5) * rate)) - pos
        part = slice(pos, pos + m)
        t = np.arange(m) / rate
        envelope = np.sin(np.pi * np.arange(m) / m) ** 2
        if kind == 0:
            f0 = rng.uniform(90, 250) * (1 + 0.3 * t / max(t[-1], 1e-9))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            out[part] = 0.25 * envelope * sum(np.sin(k * phase) / k for k in range(1, 6))
        elif kind == 1:
            out[part] = 0.15 * envelope * rng.standard_normal(m)
        elif kind == 2:
            for at in rng.integers(0, m, 5):
                out[pos + at] = rng.choice([-0.6, 0.6])
        pos += m
    out += 0.02 * np.sin(2 * np.pi * 220 * np.arange(n) / rate)
    if channels == 1:
        return out.astype(np.float32)[:, None]
    return np.stack([out, np.roll(out, 37) * 0.7], axis=1).astype(np.float32)


def blocks_of(samples: np.ndarray, size: int = BLOCK):
    return (samples[i : i + size] for i in range(0, len(samples), size))


def serial(path, samples, rate, title="") -> None:
    writer = vorbis.VorbisWriter.open(str(path), rate, samples.shape[1], title=title)
    assert writer is not None, "the system's libvorbis, libvorbisenc and libogg are needed here"
    with writer:
        for block in blocks_of(samples):
            writer.write(block)


def parallel(path, samples, rate, jobs, title="", **kwargs):
    return vorbis.encode_parallel(
        str(path), lambda: blocks_of(samples), len(samples), rate, samples.shape[1],
        title=title, jobs=jobs, **kwargs,
    )  # fmt: skip


def decoded(path) -> np.ndarray:
    return sf.read(str(path), dtype="float32", always_2d=True)[0]


def snr_db(reference: np.ndarray, coded: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    noise = coded.astype(np.float64) - reference
    return 10 * np.log10(np.sum(reference**2) / np.sum(noise**2))


def _crc_of_top_byte(value: int) -> int:
    crc = value << 24
    for _ in range(8):
        crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


_CRC_TABLE = [_crc_of_top_byte(v) for v in range(256)]


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum the textbook way (polynomial 0x04C11DB7, no reflection, initial
    value and final xor 0), a byte at a time: independent of libogg's and of Haven's."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def ogg_pages(path) -> list[dict]:
    """Every page, parsed here: flags, granule, serial, sequence, checksum (stored and
    computed) and the packets completed on it (a packet begun on an earlier page whole)."""
    data = path.read_bytes()
    pos, pages, pending = 0, [], b""
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS" and data[pos + 4] == 0
        flags = data[pos + 5]
        granule, serial_no, sequence, stored = struct.unpack_from("<qIII", data, pos + 6)
        count = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + count]
        size = 27 + count + sum(lacing)
        page = bytearray(data[pos : pos + size])
        page[22:26] = bytes(4)
        body, done = pos + 27 + count, []
        for value in lacing:
            pending += data[body : body + value]
            body += value
            if value < 255:
                done.append(pending)
                pending = b""
        pages.append(dict(flags=flags, granule=granule, serial=serial_no, sequence=sequence,
                          stored=stored, computed=ogg_crc(bytes(page)), packets=done))  # fmt: skip
        pos += size
    assert pending == b"", "the last packet is unfinished"
    return pages


def packets(path) -> list[bytes]:
    return [p for page in ogg_pages(path) for p in page["packets"]]


def boundaries(frames: int, rate: int, jobs: int) -> list[int]:
    return [keep for _, keep, _ in vorbis.stretches(frames, jobs, rate)[1:]]


def vorbis_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("haven-vorbis")]


# --- the binding ---------------------------------------------------------------------------


def test_this_machine_has_the_system_libraries():
    assert vorbis.system_vorbis() is not None
    assert "1.3" in vorbis.vorbis_version()


def test_the_structures_match_the_librarys_layout():
    """Fields read back where libvorbis wrote them: the info it filled in, the block's
    pointer to its state, packet numbers and granule positions agreeing with the packet's."""
    libs = vorbis.system_vorbis()
    encoder = vorbis._Encoder(libs, 44100, 2, "")
    try:
        assert (encoder.info.channels, encoder.info.rate) == (2, 44100)
        assert [h[3] for h in encoder.headers] == [0, 1, 2] and encoder.headers[0][1] == 1
        samples = speech_like(3.0, 44100, 2)
        encoder.feed(samples)
        encoder.finish()
        seen = []
        while encoder.next_block():
            block = encoder.block
            assert block.vd == ctypes.addressof(encoder.dsp)
            assert block.W in (0, 1) and block.pcmend in (256, 2048)
            packet = encoder.analyse()
            assert (packet.packetno, packet.granulepos) == (block.sequence, block.granulepos)
            seen.append((block.sequence, block.granulepos, packet.e_o_s))
        numbers = [s for s, _, _ in seen]
        assert numbers == list(range(3, 3 + len(seen)))
        granules = [g for _, g, _ in seen]
        assert granules == sorted(granules) and granules[-1] == len(samples)
        assert [e for _, _, e in seen] == [0] * (len(seen) - 1) + [1]
    finally:
        encoder.close()


def test_missing_libraries_are_none():
    assert vorbis.system_vorbis(names=(("libhaven-no-ogg.so.0",),) * 3) is None


# --- the serial writer against libsndfile ----------------------------------------------------


@pytest.mark.parametrize("channels,rate", [(1, 48000), (2, 44100)])
def test_writer_decodes_like_libsndfile(tmp_path, channels, rate):
    """Same samples in the same blocks: the same length and, but for a few packets that the
    two builds of libvorbis 1.3.7 round differently (Debian's and the wheel's; measured
    0.2-0.7 % of packets), the same packets; the same fidelity to the input."""
    samples = speech_like(20.0, rate, channels)
    ours, theirs = tmp_path / "ours.ogg", tmp_path / "theirs.ogg"
    serial(ours, samples, rate, title="A calm title")
    with sf.SoundFile(theirs, "w", rate, channels, format="OGG", subtype="VORBIS") as out:
        out.title = "A calm title"
        for block in blocks_of(samples):
            out.write(block)
    a, b = packets(ours), packets(theirs)
    assert len(a) == len(b)
    assert a[0] == b[0] and a[2] == b[2]  # identification and setup headers
    audio = list(zip(a[3:], b[3:]))
    assert sum(x != y for x, y in audio) <= 0.01 * len(audio)
    assert a[3:20] == b[3:20]  # the start (backward extrapolation) agrees
    mine, sndfile = decoded(ours), decoded(theirs)
    assert mine.shape == sndfile.shape == samples.shape
    assert abs(snr_db(samples, mine) - snr_db(samples, sndfile)) < 0.05
    tags = OggVorbis(ours).tags
    assert tags["TITLE"] == ["A calm title"] and tags["ENCODER"] == ["Haven"]
    assert tags.vendor == OggVorbis(theirs).tags.vendor  # libvorbis's own


def test_writer_takes_blocks_of_any_size_after_the_first(tmp_path):
    """libvorbis's output depends on how much PCM it holds at the start (it extrapolates
    backwards from it), never on how the rest arrives."""
    samples = speech_like(8.0, 48000, 1)
    serial(tmp_path / "a.ogg", samples, 48000)
    with vorbis.VorbisWriter.open(str(tmp_path / "b.ogg"), 48000, 1) as writer:
        writer.write(samples[:BLOCK])
        for start in range(BLOCK, len(samples), 777):
            writer.write(samples[start : start + 777])
    assert (tmp_path / "a.ogg").read_bytes() == (tmp_path / "b.ogg").read_bytes()


def test_settings_libvorbis_has_no_mode_for_are_left_to_libsndfile(tmp_path):
    path = tmp_path / "odd.ogg"
    assert vorbis.VorbisWriter.open(str(path), 48000, 300) is None
    assert vorbis.VorbisWriter.open(str(path), 48000, 0) is None
    assert not path.exists()


def test_a_full_device_is_an_os_error_with_its_errno():
    import errno

    samples = speech_like(4.0, 48000, 2)
    with pytest.raises(OSError) as info:
        with vorbis.VorbisWriter.open("/dev/full", 48000, 2) as writer:
            for block in blocks_of(samples, 4096):
                writer.write(block)
    assert info.value.errno == errno.ENOSPC


# --- parallel against serial -----------------------------------------------------------------


@pytest.mark.parametrize("channels,rate,jobs", CASES)
def test_parallel_is_the_serial_file(tmp_path, channels, rate, jobs):
    """Exact length (granule positions right), and the very same file: the same packets on
    the same pages, as the warm-up before each stretch leaves no trace of the split."""
    samples = speech_like(65.0, rate, channels)
    one, many = tmp_path / "serial.ogg", tmp_path / "parallel.ogg"
    serial(one, samples, rate, title="Body Scan")
    assert parallel(many, samples, rate, jobs, title="Body Scan") == len(samples)
    assert decoded(one).shape == decoded(many).shape == samples.shape
    assert many.read_bytes() == one.read_bytes()


def test_many_short_stretches_are_the_serial_file_too(tmp_path):
    """Twelve encoders over 61 s: stretches of a few seconds, warm-ups reaching back over
    several of them; still the very same file."""
    samples = speech_like(61.0, 48000, 1, seed=8)
    serial(tmp_path / "serial.ogg", samples, 48000)
    assert parallel(tmp_path / "twelve.ogg", samples, 48000, 12) == len(samples)
    assert (tmp_path / "twelve.ogg").read_bytes() == (tmp_path / "serial.ogg").read_bytes()


def test_stream_blocks_of_any_size_give_the_same_file(tmp_path):
    samples = speech_like(61.0, 48000, 1)
    parallel(tmp_path / "a.ogg", samples, 48000, 2)
    vorbis.encode_parallel(str(tmp_path / "b.ogg"), lambda: blocks_of(samples, 10007),
                           len(samples), 48000, 1, jobs=2)  # fmt: skip
    assert (tmp_path / "a.ogg").read_bytes() == (tmp_path / "b.ogg").read_bytes()


def bell_then_hush(rate: int, frames: int, boundary: int, gap_s: float, quiet: float) -> np.ndarray:
    """A full-scale one-second tone ending ``gap_s`` before ``boundary``, over a quiet pair of
    tones: the peak tracker of a serial encoder still remembers the loud second for
    ``(0 dB - quiet dB) / 6 dB a second`` after it, and a stretch starting cold would not."""
    t = np.arange(frames) / rate
    x = quiet * (np.sin(2 * np.pi * 440 * t) + 0.7 * np.sin(2 * np.pi * 1320 * t))
    loud = (t > boundary / rate - gap_s - 1) & (t < boundary / rate - gap_s)
    x[loud] = 0.99 * np.sin(2 * np.pi * 1000 * t[loud])
    return x.astype(np.float32)[:, None]


def difference_reach(tmp_path, samples, rate, boundary) -> tuple[float, float] | None:
    """Where the parallel file decodes differently from the serial one: (first, last), in
    seconds from ``boundary``; None where they decode the same."""
    serial(tmp_path / "s.ogg", samples, rate)
    parallel(tmp_path / "p.ogg", samples, rate, 2)
    a, b = decoded(tmp_path / "s.ogg"), decoded(tmp_path / "p.ogg")
    assert a.shape == b.shape == samples.shape
    assert abs(snr_db(samples, a) - snr_db(samples, b)) < 0.5
    where = np.nonzero(np.any(a != b, axis=1))[0]
    if not len(where):
        return None
    return (where[0] - boundary) / rate, (where[-1] - boundary) / rate


@pytest.mark.parametrize("gap_s", [4.0, 8.0, 12.0])
def test_the_warm_up_covers_what_the_peak_tracker_remembers(tmp_path, gap_s):
    """A loud second, then -80 dB tones across the boundary: a stretch starting cold would
    differ from the serial encode for up to (80 dB / 6 dB a second) - gap seconds after the
    boundary (measured: 12.3 s with no warm-up and the bell 0.5 s before it, 9.8 s with a
    3 s warm-up and the bell 3 s before); with WARMUP_S = 15 s (90 dB of decay, the whole
    range the coder hears) nothing differs."""
    rate, frames = 48000, 60 * 48000
    boundary = boundaries(frames, rate, 2)[0]
    samples = bell_then_hush(rate, frames, boundary, gap_s, 1e-4)
    assert difference_reach(tmp_path, samples, rate, boundary) is None


def test_without_warm_up_the_difference_is_short_and_bounded(tmp_path, monkeypatch):
    """The effect the warm-up removes, measured: the files decode differently only from the
    boundary's overlap (a few ms before it) to the bound the peak tracker's decay sets, with
    the same fidelity (checked in difference_reach) and no click at the boundary."""
    monkeypatch.setattr(vorbis, "WARMUP_S", 0.0)
    rate, frames, gap_s = 48000, 60 * 48000, 2.0
    boundary = boundaries(frames, rate, 2)[0]
    samples = bell_then_hush(rate, frames, boundary, gap_s, 1e-3)  # -60 dB
    reach = difference_reach(tmp_path, samples, rate, boundary)
    assert reach is not None, "no difference to measure: the test material is too kind"
    first, last = reach
    long_block = 2048 / rate
    # From the overlap of the first block of the stretch to the tracker's decay from 0 dB
    # to the tones' -60 dB, counted from the bell (measured: 7.4 s).
    assert -long_block <= first and last <= 60 / 6 - gap_s + long_block
    assert_no_click(decoded(tmp_path / "p.ogg"), [boundary], rate)


def assert_no_click(audio: np.ndarray, bounds: list[int], rate: int) -> None:
    """The largest step between neighbouring samples within 50 ms of each boundary is no
    larger than the largest in the half second around it (a click would stand out)."""
    steps = np.abs(np.diff(audio.astype(np.float64), axis=0)).max(axis=1)
    near, around = int(0.05 * rate), int(0.5 * rate)
    for b in bounds:
        here = steps[b - near : b + near].max()
        before = steps[b - around : b - near].max()
        after = steps[b + near : b + around].max()
        assert here <= 1.05 * max(before, after) + 1e-6


@pytest.mark.parametrize("channels,rate,jobs", CASES[:2])
def test_no_click_where_stretches_meet(tmp_path, channels, rate, jobs):
    """A soft steady tone across every boundary: any seam would be the largest step there."""
    frames = 62 * rate
    t = np.arange(frames) / rate
    tone = 0.1 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.sin(2 * np.pi * 2000 * t)
    samples = np.repeat(tone.astype(np.float32)[:, None], channels, axis=1)
    path = tmp_path / "tone.ogg"
    parallel(path, samples, rate, jobs)
    assert_no_click(decoded(path), boundaries(frames, rate, jobs), rate)


# --- the file to other readers ---------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_mutagen_reads_it_and_every_page_checks_out(tmp_path, jobs):
    rate = 44100
    samples = speech_like(61.3, rate, 2)
    path = tmp_path / "room.ogg"
    if jobs == 1:
        serial(path, samples, rate, title="Quiet Room é")
    else:
        parallel(path, samples, rate, jobs, title="Quiet Room é")
    audio = OggVorbis(path)
    assert round(audio.info.length * 1000) == round(len(samples) * 1000 / rate)
    assert audio.info.channels == 2 and audio.info.sample_rate == rate
    assert audio.tags["TITLE"] == ["Quiet Room é"]
    pages = ogg_pages(path)
    assert all(p["stored"] == p["computed"] for p in pages)
    assert [p["sequence"] for p in pages] == list(range(len(pages)))
    assert len({p["serial"] for p in pages}) == 1
    assert pages[0]["flags"] == 2 and pages[-1]["flags"] & 4  # begins and ends the stream
    assert pages[-1]["granule"] == len(samples)
    # As libsndfile paginates: the identification header alone, the other two after it,
    # the audio from a fresh page.
    assert [len(p["packets"]) for p in pages[:2]] == [1, 2]


@pytest.mark.parametrize("jobs", [1, 2])
def test_chapters_are_added_to_these_files(tmp_path, jobs):
    """Render adds chapters afterwards by rewriting the comment header (player.audio.chapters)."""
    rate = 48000
    samples = speech_like(61.0, rate, 1)
    path = tmp_path / "chapters.ogg"
    if jobs == 1:
        serial(path, samples, rate, title="Two Rooms")
    else:
        parallel(path, samples, rate, jobs, title="Two Rooms")
    before = decoded(path)
    marks = [chapters.Mark(0, 20000, "Arriving"), chapters.Mark(20000, 40000, "Resting")]
    assert chapters.add_chapters(str(path), "OGG", marks, title="Two Rooms") == 2
    tags = OggVorbis(path).tags
    assert tags["CHAPTER002NAME"] == ["Resting"] and tags["CHAPTER002"] == ["00:00:20.000"]
    assert tags["TITLE"] == ["Two Rooms"]
    assert np.array_equal(decoded(path), before)
    assert all(p["stored"] == p["computed"] for p in ogg_pages(path))


# --- when not to split, and stopping -----------------------------------------------------------


def test_what_is_not_split_is_left_to_the_caller(tmp_path, monkeypatch):
    samples = speech_like(vorbis.MIN_PARALLEL_S + 1, 48000, 1)
    assert parallel(tmp_path / "split.ogg", samples, 48000, 2) == len(samples)
    path = tmp_path / "none.ogg"
    short = samples[: int(48000 * vorbis.MIN_PARALLEL_S) - 1]
    assert parallel(path, short, 48000, 2) is None  # too short to split
    assert parallel(path, samples, 48000, 1) is None
    assert vorbis.encode_parallel(str(path), lambda: blocks_of(samples), len(samples), 48000,
                                  300, jobs=2) is None  # no mode for 300 channels; fmt: skip
    monkeypatch.setattr(vorbis, "system_vorbis", lambda names=None: None)
    assert parallel(path, samples, 48000, 2) is None
    assert not path.exists()


class Boom(RuntimeError):
    pass


def test_a_failing_stream_is_raised_and_stops_every_encoder(tmp_path):
    samples = speech_like(61.0, 48000, 1)
    calls = []

    def streams():
        calls.append(1)
        if len(calls) == 2:  # one encoder's session breaks a few blocks in
            def broken():
                yield from blocks_of(samples[: 3 * BLOCK])
                raise Boom("the mixer broke")
            return broken()
        return blocks_of(samples)

    path = tmp_path / "broken.ogg"
    with pytest.raises(Boom, match="the mixer broke"):
        vorbis.encode_parallel(str(path), streams, len(samples), 48000, 1, jobs=2)
    assert vorbis_threads() == [] and not path.exists()
    assert list(tmp_path.iterdir()) == []  # no packet file left behind


def endless(samples):
    """A session that never ends: only a stop can end an encoder that reads it."""
    def stream():
        while True:
            yield from blocks_of(samples)
    return stream


@pytest.mark.timeout(60)
def test_cancel_stops_every_encoder(tmp_path):
    samples = speech_like(5.0, 48000, 1)
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    path = tmp_path / "cancelled.ogg"
    with pytest.raises(vorbis.Cancelled):
        vorbis.encode_parallel(str(path), endless(samples), 48000 * 600, 48000, 1,
                               jobs=2, cancel=cancel)  # fmt: skip
    timer.join()
    assert vorbis_threads() == [] and not path.exists()


@pytest.mark.timeout(60)
def test_ctrl_c_while_waiting_stops_every_encoder(tmp_path):
    samples = speech_like(5.0, 48000, 1)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    path = tmp_path / "interrupted.ogg"
    with pytest.raises(KeyboardInterrupt):
        vorbis.encode_parallel(str(path), endless(samples), 48000 * 600, 48000, 1, jobs=2)
    timer.join()
    assert vorbis_threads() == [] and not path.exists()


def test_a_session_shorter_than_announced_is_an_error(tmp_path):
    samples = speech_like(61.0, 48000, 1)
    with pytest.raises(ValueError, match="frames"):
        vorbis.encode_parallel(str(tmp_path / "x.ogg"), lambda: blocks_of(samples),
                               len(samples) + 1000, 48000, 1, jobs=2)  # fmt: skip
    assert vorbis_threads() == []


def test_a_missing_folder_is_an_os_error(tmp_path):
    samples = speech_like(61.0, 48000, 1)
    with pytest.raises(FileNotFoundError):
        parallel(tmp_path / "no" / "such" / "x.ogg", samples, 48000, 2)


def test_the_stretches_tile_the_session():
    for frames, jobs in [(48000 * 30, 2), (48000 * 600, 2), (44100 * 600, 3), (48000 * 31, 8)]:
        spans = vorbis.stretches(frames, jobs, 48000)
        keeps = [keep for _, keep, _ in spans]
        stops = [stop for _, _, stop in spans]
        assert keeps[1:] == stops[:-1]  # each stretch ends where the next begins
        inner = [0] + keeps[1:] + [frames]
        assert all(a < b for a, b in zip(inner, inner[1:]))
        assert keeps[0] < 0 and stops[-1] > frames  # the first and last reach past the ends
        warm = int(vorbis.WARMUP_S * 48000)
        assert all(start == max(0, keep - warm) for start, keep, _ in spans[1:])
    # Later stretches are shorter: their encoders also cut the blocks before them.
    spans = vorbis.stretches(48000 * 600, 2, 48000)
    assert 300 * 48000 < spans[0][2] < 360 * 48000
