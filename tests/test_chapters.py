"""Chapters in FLAC, Ogg Vorbis and MP3 files (issue 15, point 5), read back with mutagen.

Haven writes the tags itself (``player.audio.chapters``); mutagen, an independent tag library in the
test extra, reads them back. Renders use a tiny two-section script so they take a second.
"""

from __future__ import annotations

import shutil
import struct

import mutagen
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.oggvorbis import OggVorbis

from player.audio import chapters
from player.cli.app import main
from player.audio.render import SessionSettings, prepare_session, render_to_file

TWO_ROOMS = """\
haven: 1
title: Two Rooms
summary: A tiny exercise with two sections.
category: breathing
ending: bell
steps:
  - section: First room
  - say: Hello.
    after: 1s
  - section: "Second room, with a comma; and Ünïcode"
  - say: Goodbye.
    after: 1s
"""
TITLES = ["First room", "Second room, with a comma; and Ünïcode"]


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "two-rooms.yaml"
    path.write_text(TWO_ROOMS, encoding="utf-8")
    return path


def expected_marks(session, frames):
    rate = session.mixer.rate
    starts = [c.start for c in session.timeline.chapters]
    ends = starts[1:] + [frames]
    return [(ms(s, rate), ms(e, rate)) for s, e in zip(starts, ends)]


def ms(samples: int, rate: int) -> int:
    """Samples to milliseconds, half a millisecond rounding up."""
    return (2 * samples * 1000 + rate) // (2 * rate)


def vorbis_chapters(tags) -> list[tuple[str, str]]:
    found = []
    for i in range(1, 1000):
        key = f"CHAPTER{i:03d}"
        if key not in tags:
            break
        found.append((tags[key][0], tags[key + "NAME"][0]))
    return found


def clock(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_render_writes_chapters_an_independent_reader_finds(tmp_path, script, ext):
    session = prepare_session(str(script), SessionSettings())
    out = tmp_path / f"two.{ext}"
    result = render_to_file(session, out)
    assert result.chapters == 2
    marks = expected_marks(session, result.frames)
    assert marks[0][0] > 0 and marks[0][1] == marks[1][0]
    audio = mutagen.File(out)
    if ext == "mp3":
        tag = ID3(out)
        assert tag.version[:2] == (2, 3)
        toc = tag.getall("CTOC")
        assert len(toc) == 1 and toc[0].flags & 0x03 == 0x03  # top level, ordered
        chaps = {c.element_id: c for c in tag.getall("CHAP")}
        assert list(toc[0].child_element_ids) == ["chp1", "chp2"] == sorted(chaps)
        got = [(chaps[i].start_time, chaps[i].end_time, chaps[i].sub_frames["TIT2"].text[0])
               for i in toc[0].child_element_ids]  # fmt: skip
        assert got == [(s, e, t) for (s, e), t in zip(marks, TITLES)]
        assert tag["TIT2"].text == ["Two Rooms"]
    else:
        assert isinstance(audio, FLAC if ext == "flac" else OggVorbis)
        assert vorbis_chapters(audio.tags) == [(clock(s), t) for (s, _), t in zip(marks, TITLES)]
        assert audio.tags["TITLE"] == ["Two Rooms"]  # what libsndfile wrote is kept
    decoded, rate = sf.read(out, dtype="float32", always_2d=True)
    # No stereo bed: MP3 and Ogg have one channel, FLAC two (render.file_channels).
    channels = 2 if ext == "flac" else 1
    assert rate == 48000 and decoded.shape == (result.frames, channels) == (result.frames, result.channels)
    assert np.sqrt(np.mean(decoded**2)) > 1e-3  # the audio is still there, and sounds


def test_flac_chapters_keep_the_samples_exactly(tmp_path, script):
    """The tag is rewritten around the audio frames: the decoded samples equal a WAV render's
    to 24-bit precision, and the stream info still counts every sample."""
    wav, flac = tmp_path / "a.wav", tmp_path / "a.flac"
    render_to_file(prepare_session(str(script), SessionSettings()), wav)
    render_to_file(prepare_session(str(script), SessionSettings()), flac)
    a, _ = sf.read(wav, dtype="float64")
    b, _ = sf.read(flac, dtype="float64")
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) < 2.0 ** -22
    info = FLAC(flac).info
    assert info.total_samples == len(b)


def test_cli_render_reports_the_chapters(tmp_path, script):
    out = tmp_path / "two.ogg"
    result = CliRunner().invoke(main, ["render", str(script), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(", 2 chapters)\n")
    quiet = CliRunner().invoke(main, ["render", str(script), "-o", str(out), "-q"])
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output  # -q: nothing at all
    assert [t for _, t in vorbis_chapters(OggVorbis(out).tags)] == TITLES


# --- the writers on files made here ----------------------------------------------------------


def make_file(path, fmt, subtype, seconds=1.0):
    rng = np.random.default_rng(5)
    samples = (rng.standard_normal((int(48000 * seconds), 2)) * 0.1).astype("float32")
    with sf.SoundFile(path, "w", 48000, 2, format=fmt, subtype=subtype) as out:
        out.title = "Made here"
        out.write(samples)
    return path


def ogg_crc_reference(data: bytes) -> int:
    """The Ogg checksum the slow, obvious way (bit by bit), to check Haven's fast one."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_pages(path):
    """(sequence, stored crc, computed crc) per page, parsed here independently."""
    data = path.read_bytes()
    pos, out = 0, []
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        count = data[pos + 26]
        size = 27 + count + sum(data[pos + 27 : pos + 27 + count])
        page = bytearray(data[pos : pos + size])
        sequence, stored = struct.unpack_from("<II", page, 18)
        page[22:26] = b"\0\0\0\0"
        out.append((sequence, stored, ogg_crc_reference(bytes(page))))
        pos += size
    return out


def test_ogg_with_many_long_chapters_moves_the_audio_pages_correctly(tmp_path):
    """999 long chapter names need more header pages than libvorbis wrote: every later page
    is renumbered and its checksum recomputed, and the audio decodes as before."""
    path = make_file(tmp_path / "many.ogg", "OGG", "VORBIS")
    before, _ = sf.read(path, dtype="float32")
    marks = [chapters.Mark(i * 10, i * 10 + 10, f"Chapter {i} " + "é" * 80) for i in range(1200)]
    assert chapters.add_chapters(str(path), "OGG", marks) == 999
    tags = OggVorbis(path).tags
    found = vorbis_chapters(tags)
    assert len(found) == 999 and found[998] == (clock(9980), "Chapter 998 " + "é" * 80)
    pages = ogg_pages(path)
    assert [p[0] for p in pages] == list(range(len(pages)))
    assert all(stored == computed for _, stored, computed in pages)
    after, _ = sf.read(path, dtype="float32")
    assert np.array_equal(before, after)


@pytest.mark.parametrize("ext,fmt,subtype", [("flac", "FLAC", "PCM_24"), ("ogg", "OGG", "VORBIS")])
def test_writing_chapters_again_replaces_them(tmp_path, ext, fmt, subtype):
    path = make_file(tmp_path / f"again.{ext}", fmt, subtype)
    chapters.add_chapters(str(path), fmt, [chapters.Mark(0, 500, "a"), chapters.Mark(500, 1000, "b"),
                                           chapters.Mark(900, 1000, "c")])  # fmt: skip
    chapters.add_chapters(str(path), fmt, [chapters.Mark(250, 1000, "only")])
    tags = mutagen.File(path).tags
    assert vorbis_chapters(tags) == [("00:00:00.250", "only")]
    assert "CHAPTER002" not in tags and "CHAPTER002NAME" not in tags
    assert tags["TITLE"] == ["Made here"]


def test_mp3_caps_at_255_chapters_and_keeps_the_audio(tmp_path):
    path = make_file(tmp_path / "many.mp3", "MP3", "MPEG_LAYER_III")
    before, _ = sf.read(path, dtype="float32")
    marks = [chapters.Mark(i, i + 1, f"Kapitel {i} – ruhig") for i in range(300)]
    assert chapters.add_chapters(str(path), "MP3", marks, title="Ünïcode title") == 255
    tag = ID3(path)
    assert len(tag.getall("CHAP")) == 255
    assert tag["CHAP:chp255"].sub_frames["TIT2"].text == ["Kapitel 254 – ruhig"]
    assert tag["TIT2"].text == ["Ünïcode title"]
    after, _ = sf.read(path, dtype="float32")
    assert np.array_equal(before, after)


def test_no_chapters_leaves_the_file_untouched(tmp_path):
    path = make_file(tmp_path / "none.flac", "FLAC", "PCM_24")
    data = path.read_bytes()
    assert chapters.add_chapters(str(path), "FLAC", []) == 0
    assert path.read_bytes() == data


def test_an_unexpected_file_is_left_alone(tmp_path):
    path = tmp_path / "not-really.ogg"
    path.write_bytes(b"OggS" + bytes(100))
    copy = tmp_path / "copy"
    shutil.copy(path, copy)
    assert chapters.add_chapters(str(path), "OGG", [chapters.Mark(0, 1, "x")]) == 0
    assert path.read_bytes() == copy.read_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**9), max_size=20), st.integers(8000, 96000))
def test_marks_tile_the_file_in_order(starts, rate):
    class C:
        def __init__(self, start):
            self.start, self.title = start, f"at {start}"

    frames = 10**9
    starts = sorted(set(starts) - {frames})
    got = chapters.marks([C(s) for s in starts], rate, frames)
    assert [m.start_ms for m in got] == [ms(s, rate) for s in starts]
    for a, b in zip(got, got[1:]):
        assert a.end_ms == b.start_ms
    if got:
        assert got[-1].end_ms == ms(frames, rate)
        assert all(chapters.timestamp(m.start_ms) == clock(m.start_ms) for m in got)


@pytest.fixture(scope="module")
def small_ogg(tmp_path_factory):
    path = make_file(tmp_path_factory.mktemp("ogg") / "small.ogg", "OGG", "VORBIS", seconds=0.5)
    return path, sf.read(path, dtype="float32")[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=600), min_size=1, max_size=300))
def test_any_chapter_names_make_a_valid_ogg(small_ogg, tmp_path_factory, titles):
    """Whatever the names (so whatever the header sizes, including exact multiples of 255
    bytes and page boundaries), the pages stay numbered and checksummed, mutagen reads every
    chapter and the audio is unchanged."""
    source, samples = small_ogg
    path = tmp_path_factory.mktemp("any") / "any.ogg"
    shutil.copy(source, path)
    marks = [chapters.Mark(i, i + 1, t) for i, t in enumerate(titles)]
    assert chapters.add_chapters(str(path), "OGG", marks) == len(titles)
    assert [n for _, n in vorbis_chapters(OggVorbis(path).tags)] == [" ".join(t.split()) for t in titles]
    pages = ogg_pages(path)
    assert [p[0] for p in pages] == list(range(len(pages)))
    assert all(stored == computed for _, stored, computed in pages)
    assert np.array_equal(sf.read(path, dtype="float32")[0], samples)
