"""Chapters inside rendered audio files: sections become chapters a player can jump between.

WAV carries them as a RIFF ``cue `` list (``player.audio.render.add_wav_chapters``); this module
writes the other formats' own kinds, into a file libsndfile has finished:

* FLAC and Ogg Vorbis: Vorbis comments after the "chapter extension" convention that
  players read (``CHAPTER001=00:00:00.000``, ``CHAPTER001NAME=Arriving``), next to the
  TITLE and SOFTWARE comments libsndfile wrote, which are kept.
* MP3: an ID3v2.3 tag in front of the audio with one ``CHAP`` frame per chapter (start and
  end in milliseconds, its title in an embedded ``TIT2``) and a ``CTOC`` table of contents
  listing them in order, per the ID3v2 Chapter Frame Addendum. Version 2.3 because podcast
  players and desktop systems read it most widely; the ID3v1 tag libsndfile appends stays.

Every writer works on whole files with plain byte layouts (no tagging library is needed at
run time; the tests read the results back with an independent one). A file whose layout is
not what libsndfile writes is left as it is, and 0 chapters are reported for it.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

MAX_VORBIS_CHAPTERS = 999  # CHAPTERxxx has three digits
MAX_ID3_CHAPTERS = 255  # a CTOC frame counts its entries in one byte


@dataclass(frozen=True)
class Mark:
    """One chapter: where it starts and ends, in milliseconds, and its title."""

    start_ms: int
    end_ms: int
    title: str


def marks(chapters: Iterable, rate: int, frames: int) -> list[Mark]:
    """Chapters (``player.audio.timeline.Chapter``: ``start`` in samples at ``rate``) as marks that
    end where the next begins and the last at ``frames``; chapters past the end are dropped."""
    starts = [(c.start, c.title) for c in chapters if 0 <= c.start < max(frames, 1)]
    out = []
    for i, (start, title) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else frames
        out.append(Mark(_ms(start, rate), _ms(end, rate), title))
    return out


def _ms(samples: int, rate: int) -> int:
    """Samples to milliseconds, rounding half up."""
    return (2 * samples * 1000 + rate) // (2 * rate)


def timestamp(ms: int) -> str:
    """``HH:MM:SS.mmm``, the Vorbis chapter extension's time format."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def vorbis_chapter_comments(chapters: Sequence[Mark]) -> list[str]:
    out = []
    for i, mark in enumerate(chapters[:MAX_VORBIS_CHAPTERS], start=1):
        out.append(f"CHAPTER{i:03d}={timestamp(mark.start_ms)}")
        out.append(f"CHAPTER{i:03d}NAME={_one_line(mark.title)}")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_chapter_key(comment: bytes) -> bool:
    key = comment.split(b"=", 1)[0].upper()
    return key.startswith(b"CHAPTER") and key[7:10].isdigit()


def add_chapters(filename: str, fmt: str, chapters: Sequence[Mark], *, title: str = "") -> int:
    """Write ``chapters`` into the finished file ``filename`` of soundfile format ``fmt``
    (``FLAC``, ``OGG``, ``MP3``); returns how many it holds (0: none written)."""
    if not chapters:
        return 0
    writer = {"FLAC": _flac, "OGG": _ogg, "MP3": _mp3}.get(fmt)
    if writer is None:
        return 0
    return writer(filename, chapters, title)


def _replace_head(filename: str, old_length: int, head: bytes, tail=None) -> None:
    """Replace the first ``old_length`` bytes of ``filename`` with ``head``; the rest is
    copied as it is, or passed through ``tail`` (an iterator of chunks from the open file)."""
    if tail is None and len(head) == old_length:
        with open(filename, "r+b") as fh:
            fh.write(head)
        return
    folder = os.path.dirname(os.path.abspath(filename))
    fd, temp = tempfile.mkstemp(prefix=".chapters.", dir=folder)
    try:
        with open(filename, "rb") as src, os.fdopen(fd, "wb") as dst:
            dst.write(head)
            src.seek(old_length)
            if tail is None:
                shutil.copyfileobj(src, dst, 1 << 20)
            else:
                for chunk in tail(src):
                    dst.write(chunk)
        os.chmod(temp, os.stat(filename).st_mode & 0o7777)
        os.replace(temp, filename)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


# --- Vorbis comments (shared by FLAC and Ogg) --------------------------------------------------


def _parse_comments(data: bytes) -> tuple[bytes, list[bytes], int]:
    """A Vorbis comment body: (vendor, comments, bytes read)."""
    (n,) = struct.unpack_from("<I", data, 0)
    vendor = data[4 : 4 + n]
    pos = 4 + n
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    comments = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        comments.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    if pos > len(data):
        raise ValueError("truncated comments")
    return vendor, comments, pos


def _build_comments(vendor: bytes, comments: list[bytes]) -> bytes:
    out = [struct.pack("<I", len(vendor)), vendor, struct.pack("<I", len(comments))]
    for c in comments:
        out += [struct.pack("<I", len(c)), c]
    return b"".join(out)


def _with_chapters(comments: list[bytes], chapters: Sequence[Mark]) -> list[bytes]:
    kept = [c for c in comments if not _is_chapter_key(c)]
    return kept + [c.encode("utf-8") for c in vorbis_chapter_comments(chapters)]


# --- FLAC ------------------------------------------------------------------------------------

FLAC_VORBIS_COMMENT = 4
FLAC_PADDING = 1


def _flac(filename: str, chapters: Sequence[Mark], title: str) -> int:
    with open(filename, "rb") as fh:
        if fh.read(4) != b"fLaC":
            return 0
        blocks = []
        while True:
            header = fh.read(4)
            if len(header) < 4:
                return 0
            kind, length = header[0] & 0x7F, int.from_bytes(header[1:4], "big")
            body = fh.read(length)
            if len(body) < length:
                return 0
            blocks.append((kind, body))
            if header[0] & 0x80:
                break
        old_length = fh.tell()
    comments_at = next((i for i, (k, _) in enumerate(blocks) if k == FLAC_VORBIS_COMMENT), None)
    if comments_at is None:
        vendor, comments = b"Haven", []
    else:
        try:
            vendor, comments, _ = _parse_comments(blocks[comments_at][1])
        except (ValueError, struct.error):
            return 0
    body = _build_comments(vendor, _with_chapters(comments, chapters))
    if len(body) >= 1 << 24:
        return 0
    if comments_at is None:
        blocks.insert(1, (FLAC_VORBIS_COMMENT, body))
    else:
        blocks[comments_at] = (FLAC_VORBIS_COMMENT, body)
    # Padding absorbs the change when it can, so the audio need not move.
    grown = sum(4 + len(b) for _, b in blocks) + 4 - old_length
    pad_at = next((i for i, (k, _) in enumerate(blocks) if k == FLAC_PADDING), None)
    if pad_at is not None and 0 < grown <= len(blocks[pad_at][1]):
        blocks[pad_at] = (FLAC_PADDING, bytes(len(blocks[pad_at][1]) - grown))
    head = [b"fLaC"]
    for i, (kind, data) in enumerate(blocks):
        last = 0x80 if i == len(blocks) - 1 else 0
        head.append(bytes([last | kind]) + len(data).to_bytes(3, "big") + data)
    _replace_head(filename, old_length, b"".join(head))
    return min(len(chapters), MAX_VORBIS_CHAPTERS)


# --- Ogg Vorbis ------------------------------------------------------------------------------

_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0,
    no final xor), computed by zlib's reflected CRC-32 on bit-reversed bytes."""
    reflected = zlib.crc32(data.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


@dataclass
class _Page:
    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes

    def to_bytes(self) -> bytes:
        header = struct.pack(
            "<4sBBqIII", b"OggS", 0, self.flags, self.granule, self.serial, self.sequence, 0
        ) + bytes([len(self.lacing)]) + self.lacing
        page = bytearray(header + self.body)
        struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
        return bytes(page)


def _read_page(fh) -> _Page | None:
    header = fh.read(27)
    if len(header) < 27:
        return None
    magic, version, flags, granule, serial, sequence, _crc, count = struct.unpack("<4sBBqIIIB", header)
    if magic != b"OggS" or version != 0:
        raise ValueError("not an Ogg page")
    lacing = fh.read(count)
    body = fh.read(sum(lacing))
    if len(lacing) < count or len(body) < sum(lacing):
        raise ValueError("truncated page")
    return _Page(flags, granule, serial, sequence, lacing, body)


def _packets(pages: list[_Page]) -> tuple[list[bytes], bool]:
    """The packets on ``pages`` and whether the last one is complete."""
    packets, current, pos = [], b"", 0
    complete = True
    for page in pages:
        pos = 0
        for value in page.lacing:
            current += page.body[pos : pos + value]
            pos += value
            complete = value < 255
            if complete:
                packets.append(current)
                current = b""
    return packets, complete


def _paginate(packets: list[bytes], serial: int, first_sequence: int) -> list[_Page]:
    """Header packets on fresh pages (at most 255 lacing values each)."""
    segments = []  # (packet index, lacing value, data)
    for p, packet in enumerate(packets):
        for i in range(len(packet) // 255):
            segments.append((p, 255, packet[i * 255 : (i + 1) * 255]))
        tail = len(packet) % 255
        segments.append((p, tail, packet[len(packet) - tail :]))
    pages = []
    continued = False
    for start in range(0, len(segments), 255):
        chunk = segments[start : start + 255]
        ends_packet = any(value < 255 for _, value, _ in chunk)
        pages.append(_Page(
            flags=1 if continued else 0,
            granule=0 if ends_packet else -1,
            serial=serial,
            sequence=first_sequence + len(pages),
            lacing=bytes(value for _, value, _ in chunk),
            body=b"".join(data for _, _, data in chunk),
        ))  # fmt: skip
        continued = chunk[-1][1] == 255
    return pages


def _ogg(filename: str, chapters: Sequence[Mark], title: str) -> int:
    try:
        with open(filename, "rb") as fh:
            first = _read_page(fh)
            if first is None or not first.body.startswith(b"\x01vorbis") or not first.flags & 2:
                return 0
            header_pages: list[_Page] = []
            while True:
                page = _read_page(fh)
                if page is None or page.serial != first.serial:
                    return 0
                header_pages.append(page)
                packets, complete = _packets(header_pages)
                if len(packets) >= 2 and complete:
                    break
            old_length = fh.tell()
    except ValueError:
        return 0
    if len(packets) != 2 or not packets[0].startswith(b"\x03vorbis") or not packets[1].startswith(b"\x05vorbis"):
        return 0  # the audio shares a page with the headers: not what libvorbis writes
    try:
        vendor, comments, _ = _parse_comments(packets[0][7:])
    except (ValueError, struct.error):
        return 0
    comment = b"\x03vorbis" + _build_comments(vendor, _with_chapters(comments, chapters)) + b"\x01"
    new_pages = _paginate([comment, packets[1]], first.serial, first.sequence + 1)
    shift = len(new_pages) - len(header_pages)
    head = first.to_bytes() + b"".join(p.to_bytes() for p in new_pages)

    def renumbered(src):
        while True:
            page = _read_page(src)
            if page is None:
                return
            if page.serial == first.serial:
                page.sequence += shift
            yield page.to_bytes()

    _replace_head(filename, old_length, head, renumbered if shift else None)
    return min(len(chapters), MAX_VORBIS_CHAPTERS)


# --- MP3 (ID3v2.3) ---------------------------------------------------------------------------


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def _frame(frame_id: bytes, data: bytes) -> bytes:
    return frame_id + struct.pack(">IH", len(data), 0) + data


def _text_frame(frame_id: bytes, text: str) -> bytes:
    """A text frame in UTF-16 with a byte-order mark (encoding 1), which ID3v2.3 readers all
    understand for any language."""
    return _frame(frame_id, b"\x01" + "\ufeff".encode("utf-16-le") + text.encode("utf-16-le") + b"\0\0")


def id3_chapter_tag(chapters: Sequence[Mark], title: str = "") -> bytes:
    """An ID3v2.3 tag: TIT2 and TSSE, a CTOC listing the chapters in order, and one CHAP each."""
    chapters = list(chapters[:MAX_ID3_CHAPTERS])
    ids = [f"chp{i}".encode("ascii") for i in range(1, len(chapters) + 1)]
    frames = []
    if title:
        frames.append(_text_frame(b"TIT2", _one_line(title)))
    frames.append(_text_frame(b"TSSE", "Haven"))
    toc = b"toc\0" + bytes([0x03, len(ids)]) + b"".join(i + b"\0" for i in ids)
    frames.append(_frame(b"CTOC", toc + _text_frame(b"TIT2", "Chapters")))
    for element, mark in zip(ids, chapters):
        body = element + b"\0" + struct.pack(">IIII", mark.start_ms, mark.end_ms, 0xFFFFFFFF, 0xFFFFFFFF)
        frames.append(_frame(b"CHAP", body + _text_frame(b"TIT2", _one_line(mark.title))))
    content = b"".join(frames)
    return b"ID3\x03\x00\x00" + _syncsafe(len(content)) + content


def _mp3(filename: str, chapters: Sequence[Mark], title: str) -> int:
    with open(filename, "rb") as fh:
        start = fh.read(3)
    if start == b"ID3":
        return 0  # a tag is there already (libsndfile writes none in front): leave it
    _replace_head(filename, 0, id3_chapter_tag(chapters, title))
    return min(len(chapters), MAX_ID3_CHAPTERS)
