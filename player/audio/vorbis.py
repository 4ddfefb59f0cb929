"""Ogg Vorbis encoding with the system's libvorbis, on one core or on several.

Rendering a session to Ogg is nearly all libvorbis time, on one thread: the psychoacoustic
model, the floor fit and the MDCT/FFT of ``vorbis_analysis``. :func:`encode_parallel`
spreads that work over several cores and still writes *one* ordinary Ogg Vorbis stream, the
very file a serial encoder writes; :class:`VorbisWriter` is that serial encoder, with
libsndfile's settings. Unlike LAME (``player.audio.mp3``), the system's libvorbis is no
faster than the one the ``soundfile`` wheel bundles (Debian's build is ~15 % slower): on
its own, :class:`VorbisWriter` is not a speed-up; it is the serial reference, the fallback
path and the building block. Measured on 10 minutes of `body-scan` at 48 kHz (2 cores, wall
time, best of 5; CPU in brackets): mono 1.29 s with libsndfile, 1.50 s with
:class:`VorbisWriter`, 1.02 s (1.83 s) with :func:`encode_parallel` on 2 cores; stereo
2.46 s, 2.79 s, 1.71 s (3.20 s). 5 minutes: mono 0.69, 0.80, 0.56 s; stereo 1.29, 1.46, 0.95 s.
With the session's mixer as the source (each encoder mixes up to the end of its stretch):
mono 1.17 s (2.14 s) against 1.31 s for render's libsndfile path, stereo 1.90 s (3.59 s)
against 2.48 s; a WAV render takes 0.27 s.

How one stream is encoded by several encoders (libvorbis 1.3.7: ``lib/block.c``
``vorbis_analysis_blockout``, ``lib/analysis.c`` ``vorbis_analysis``, ``lib/mapping0.c``
``mapping0_forward``, ``lib/bitrate.c``): an encoder splits into cheap serial steps and one
heavy step per block. ``vorbis_analysis_buffer``/``wrote`` take PCM;
``vorbis_analysis_blockout`` runs the envelope search that decides each block's size and
copies the block's PCM (cheap: a sixth of the analysis); ``vorbis_analysis`` is the heavy
part and, in VBR mode (no bitrate management), hands the packet over itself
(``vorbis_bitrate_addblock``/``flushpacket`` would only pass it on). Blocking depends on the
PCM alone, so encoders set up alike and fed the same PCM cut the same blocks, with the same
sequence numbers and granule positions. Encoder *j* therefore blocks out the session from
its start but analyses only the blocks of its own stretch of granule positions
``[S_j, S_j+1)``, and stops once it has cut a block beyond it. The packets of all encoders,
in order, are one valid logical stream: the encoders' header packets are identical
(checked), packet numbers run on without a gap (checked), and libogg paginates them under one
serial number as it would a serial encoder's. Each encoder writes its packets to a temporary
file; the file is put together when all have finished (a few tens of ms for 10 minutes).

The one state that crosses blocks through the analysis is the psychoacoustic peak tracker
(``ampmax``): each analysis raises it to the block's spectral peak (at most 0 dB), and every
blockout lets it decay by 6 dB a second. An encoder that skipped the analysis before its
stretch would start it cold, and code tones differently until the serial encoder's tracker
has decayed to the level of what is playing. Measured without a warm-up: a full-scale second
ending 0.5 s before a boundary, over -60 dB tones, changed the decoded audio up to 8.9 s
after it (12.3 s over -80 dB tones), at the same fidelity and without a click; a 3 s
warm-up only takes 3 s off that (6.4 s, 9.8 s). So each encoder first analyses the
:data:`WARMUP_S` = 15 s before its stretch and throws those packets away: 15 s is 90 dB of
decay, the whole range the coder hears (quieter content is coded as silence either way),
after which both trackers hold the same value. The parallel
file is then byte-identical to the serial one (tests/test_vorbis.py: speech-like material,
mono and stereo, 44.1 and 48 kHz, 2 and 3 encoders, and the loud-then-quiet case above);
the warm-up costs 15 s of extra analysis per extra encoder.

Settings are libsndfile's for an ``.ogg`` file (``src/ogg_vorbis.c``): VBR quality 0.4
(``vorbis_encode_init_vbr``), headers flushed onto their own pages so the audio starts on a
fresh page, audio pages cut by ``ogg_stream_pageout``; ``player.audio.chapters`` rewrites the
comment header of these files as of libsndfile's. libsndfile writes the comments
``ENCODER=libsndfile`` and the strings set on the file (``TITLE``; render also sets
``SOFTWARE``, stored as ``Haven (libsndfile-1.2.2)``); these writers write ``ENCODER=Haven``
and ``TITLE``. The vendor string is libvorbis's own. The serial number is derived from the
title, rate and channels instead of drawn at random, so rendering the same session twice
gives the same bytes (the reason render asks libsndfile for no WAV PEAK chunk). The same
samples in the same blocks give libsndfile's packets but for the few that the two builds of
libvorbis 1.3.7 round differently (Debian's and the wheel's): on 10 minutes of `body-scan`
0.73 % of the packets, so the decoded audio differs in 1.5 % of the samples, by -77 dBFS
RMS (at most 0.024); it is as faithful to the input (SNR equal within 0.001 dB) and the
file as large (within 0.003 %).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
import tempfile
import threading
import zlib
from typing import Callable, Iterable, Iterator

from player.audio.mp3 import EncoderError, EncoderWriter
from player.audio.together import run_together

QUALITY = 0.4  # libsndfile's default VBR quality for Ogg Vorbis
ENCODER = "Haven"  # the ENCODER comment (libsndfile writes "libsndfile")
# Frames handed to libvorbis at a time by encode_parallel. The first hand-over matters: libvorbis
# extrapolates backwards from all the PCM it holds when it first has more than a long block
# (``_preextrapolate_helper``), so the first packets depend on its size. Every encoder of
# one stream must see the same first hand-over; this is render's block (render.BLOCK), so a
# parallel render and a serial one (VorbisWriter or libsndfile, fed 65536-frame blocks) agree.
FEED = 65536
# Seconds analysed (and thrown away) before each stretch, so the peak tracker is warm.
WARMUP_S = 15.0
# What passing over a second of the session before an encoder's stretch (producing the PCM,
# cutting blocks: vorbis_analysis_blockout) costs, relative to analysing it: 0.05 s against
# 0.32 s for 2 minutes of `body-scan` with the system's libvorbis 1.3.7.
PREFIX_COST = 0.15
# Below this many seconds a session is not split: the warm-up would eat the gain. Measured
# against libsndfile (2 cores, mono/stereo): 30 s 0.12/0.17 s against 0.10/0.17 s, 60 s
# 0.18/0.28 against 0.19/0.34, 120 s 0.29/0.49 against 0.32/0.59.
MIN_PARALLEL_S = 60.0

_NAMES = {
    "linux": (("libogg.so.0",), ("libvorbis.so.0",), ("libvorbisenc.so.2",)),
    "darwin": (
        ("/opt/homebrew/lib/libogg.dylib", "/usr/local/lib/libogg.dylib", "libogg.0.dylib"),
        ("/opt/homebrew/lib/libvorbis.dylib", "/usr/local/lib/libvorbis.dylib",
         "libvorbis.0.dylib"),
        ("/opt/homebrew/lib/libvorbisenc.dylib", "/usr/local/lib/libvorbisenc.dylib",
         "libvorbisenc.2.dylib"),
    ),  # fmt: skip
    "win32": (("ogg.dll", "libogg.dll", "libogg-0.dll"), ("vorbis.dll", "libvorbis.dll",
              "libvorbis-0.dll"), ("vorbisenc.dll", "libvorbisenc.dll", "libvorbisenc-2.dll")),
}
_FIND = ("ogg", "vorbis", "vorbisenc")
_UNSET = object()
_loaded: object = _UNSET


class Cancelled(EncoderError):
    """:func:`encode_parallel` stopped because its ``cancel`` event was set."""


# --- the C structures (libogg 1.3.5 ogg.h, libvorbis 1.3.7 codec.h) --------------------------
#
# Only the leading fields this module reads are declared; each structure gets spare room
# after them, so a library whose structure grew at the end still has space to write into.
# The states whose fields are never read (vorbis_dsp_state, vorbis_comment, ogg_stream_state)
# are zeroed buffers, several times the size the headers give them.

_long = ctypes.c_long  # C long: 8 bytes on 64-bit Linux and macOS, 4 on Windows


class OggPacket(ctypes.Structure):
    _fields_ = [
        ("packet", ctypes.c_void_p),
        ("bytes", _long),
        ("b_o_s", _long),
        ("e_o_s", _long),
        ("granulepos", ctypes.c_int64),
        ("packetno", ctypes.c_int64),
    ]


class OggPage(ctypes.Structure):
    _fields_ = [
        ("header", ctypes.c_void_p),
        ("header_len", _long),
        ("body", ctypes.c_void_p),
        ("body_len", _long),
    ]


class VorbisInfo(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("channels", ctypes.c_int),
        ("rate", _long),
        ("bitrate_upper", _long),
        ("bitrate_nominal", _long),
        ("bitrate_lower", _long),
        ("bitrate_window", _long),
        ("codec_setup", ctypes.c_void_p),
        ("_spare", ctypes.c_char * 256),
    ]


class OggpackBuffer(ctypes.Structure):
    _fields_ = [
        ("endbyte", _long),
        ("endbit", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ptr", ctypes.c_void_p),
        ("storage", _long),
    ]


class VorbisBlock(ctypes.Structure):
    """The start of ``vorbis_block``: what blockout decided for the block it handed out."""

    _fields_ = [
        ("pcm", ctypes.c_void_p),
        ("opb", OggpackBuffer),
        ("lW", _long),
        ("W", _long),
        ("nW", _long),
        ("pcmend", ctypes.c_int),
        ("mode", ctypes.c_int),
        ("eofflag", ctypes.c_int),
        ("granulepos", ctypes.c_int64),
        ("sequence", ctypes.c_int64),
        ("vd", ctypes.c_void_p),
        ("_opaque", ctypes.c_char * 1024),  # local storage, bit counts, internal: libvorbis's
    ]


DSP_STATE_BYTES = 1024  # vorbis_dsp_state: 152 bytes on x86-64
COMMENT_BYTES = 256  # vorbis_comment: 32
STREAM_STATE_BYTES = 2048  # ogg_stream_state: 408


class Libraries:
    """libogg, libvorbis and libvorbisenc with the functions used here declared."""

    def __init__(self, ogg: ctypes.CDLL, vorbis: ctypes.CDLL, enc: ctypes.CDLL):
        p, i = ctypes.c_void_p, ctypes.c_int
        packet, page = ctypes.POINTER(OggPacket), ctypes.POINTER(OggPage)
        floats = ctypes.POINTER(ctypes.POINTER(ctypes.c_float))
        info, block = ctypes.POINTER(VorbisInfo), ctypes.POINTER(VorbisBlock)
        for lib, name, res, args in (
            (ogg, "ogg_stream_init", i, [p, i]),
            (ogg, "ogg_stream_packetin", i, [p, packet]),
            (ogg, "ogg_stream_pageout", i, [p, page]),
            (ogg, "ogg_stream_flush", i, [p, page]),
            (ogg, "ogg_stream_clear", i, [p]),
            (vorbis, "vorbis_info_init", None, [info]),
            (vorbis, "vorbis_info_clear", None, [info]),
            (vorbis, "vorbis_comment_init", None, [p]),
            (vorbis, "vorbis_comment_add_tag", None, [p, ctypes.c_char_p, ctypes.c_char_p]),
            (vorbis, "vorbis_comment_clear", None, [p]),
            (vorbis, "vorbis_analysis_init", i, [p, info]),
            (vorbis, "vorbis_block_init", i, [p, block]),
            (vorbis, "vorbis_block_clear", i, [block]),
            (vorbis, "vorbis_dsp_clear", None, [p]),
            (vorbis, "vorbis_analysis_headerout", i, [p, p, packet, packet, packet]),
            (vorbis, "vorbis_analysis_buffer", floats, [p, i]),
            (vorbis, "vorbis_analysis_wrote", i, [p, i]),
            (vorbis, "vorbis_analysis_blockout", i, [p, block]),
            (vorbis, "vorbis_analysis", i, [block, packet]),
            (vorbis, "vorbis_version_string", ctypes.c_char_p, []),
            (enc, "vorbis_encode_init_vbr", i, [info, _long, _long, ctypes.c_float]),
        ):
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
            setattr(self, name, fn)
        self._keep = (ogg, vorbis, enc)


def _open_one(names: Iterable[str], short: str | None) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(short) if short else None
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def system_vorbis(names: tuple[tuple[str, ...], ...] | None = None) -> Libraries | None:
    """The system's libogg, libvorbis and libvorbisenc, or None when one is missing or lacks a
    function used here (looked up once; ``names``, three tuples of places to look in,
    overrides them for tests)."""
    global _loaded
    if names is None and _loaded is not _UNSET:
        return _loaded  # type: ignore[return-value]
    candidates = names
    if candidates is None:
        platform = "linux" if sys.platform.startswith("linux") else sys.platform
        candidates = _NAMES.get(platform, ((), (), ()))
    libs = None
    try:
        opened = [
            _open_one(where, short if names is None else None)
            for where, short in zip(candidates, _FIND)
        ]
        if len(opened) == 3 and all(lib is not None for lib in opened):
            libs = Libraries(*opened)  # type: ignore[arg-type]
    except AttributeError:
        libs = None
    if names is None:
        _loaded = libs
    return libs


def vorbis_version(libs: Libraries | None = None) -> str | None:
    libs = libs if libs is not None else system_vorbis()
    if libs is None:
        return None
    raw = libs.vorbis_version_string()
    return raw.decode("ascii", "replace") if raw else "unknown"


def serial_number(rate: int, channels: int, title: str) -> int:
    """The Ogg serial number of a file: from its settings, so equal renders are equal bytes."""
    return zlib.crc32(f"haven-ogg:{rate}:{channels}:{title}".encode("utf-8")) & 0x7FFFFFFF


def _comments(title: str) -> list[tuple[bytes, bytes]]:
    tags = [(b"ENCODER", ENCODER.encode("utf-8"))]
    if title:
        tags.append((b"TITLE", title.encode("utf-8")))
    return tags


def _failed(what: str, code: int) -> EncoderError:
    return EncoderError(f"the Ogg Vorbis encoder (libvorbis) failed in {what} with error {code}")


class _Refused(Exception):
    """libvorbis cannot encode these settings (a rate or channel count it has no mode for)."""


class _Encoder:
    """One libvorbis analysis state: PCM in, blocks out, packets from analysed blocks.

    Not thread-safe: one thread drives it (libvorbis shares scratch buffers per block size
    inside one state); separate encoders share nothing and run side by side.
    """

    def __init__(self, libs: Libraries, rate: int, channels: int, title: str):
        self.libs = libs
        self.channels = channels
        self.info = VorbisInfo()
        self.comment = ctypes.create_string_buffer(COMMENT_BYTES)
        self.dsp = ctypes.create_string_buffer(DSP_STATE_BYTES)
        self.block = VorbisBlock()
        self.packet = OggPacket()
        self._made = []  # the states initialised so far, cleared in reverse by close()
        libs.vorbis_info_init(self.info)
        self._made.append(lambda: libs.vorbis_info_clear(self.info))
        try:
            if channels < 1 or libs.vorbis_encode_init_vbr(self.info, channels, rate, QUALITY):
                raise _Refused
            libs.vorbis_comment_init(self.comment)
            self._made.append(lambda: libs.vorbis_comment_clear(self.comment))
            for tag, value in _comments(title):
                libs.vorbis_comment_add_tag(self.comment, tag, value)
            if libs.vorbis_analysis_init(self.dsp, self.info):
                raise _Refused
            self._made.append(lambda: libs.vorbis_dsp_clear(self.dsp))
            libs.vorbis_block_init(self.dsp, self.block)
            self._made.append(lambda: libs.vorbis_block_clear(self.block))
            first, second, third = OggPacket(), OggPacket(), OggPacket()
            code = libs.vorbis_analysis_headerout(self.dsp, self.comment, first, second, third)
            if code:
                raise _failed("writing the headers", code)
            # (packet bytes, b_o_s, granulepos, packetno): copied, libvorbis reuses the memory.
            self.headers = [
                (ctypes.string_at(p.packet, p.bytes), p.b_o_s, p.granulepos, p.packetno)
                for p in (first, second, third)
            ]
        except BaseException:
            self.close()
            raise

    def feed(self, block) -> None:
        """Hand libvorbis ``block`` (float32, ``(n, channels)``), ``n`` > 0."""
        import numpy as np

        frames = len(block)
        buffers = self.libs.vorbis_analysis_buffer(self.dsp, frames)
        if not buffers:
            raise _failed("taking samples", -1)
        for channel in range(self.channels):
            np.ctypeslib.as_array(buffers[channel], (frames,))[:] = block[:, channel]
        code = self.libs.vorbis_analysis_wrote(self.dsp, frames)
        if code:
            raise _failed("taking samples", code)

    def finish(self) -> None:
        """No more samples: the blocks that follow run to the end of the stream."""
        code = self.libs.vorbis_analysis_wrote(self.dsp, 0)
        if code:
            raise _failed("ending the stream", code)

    def next_block(self) -> bool:
        """Cut the next block (its fields are in ``self.block``); False when more PCM is needed."""
        got = self.libs.vorbis_analysis_blockout(self.dsp, self.block)
        if got < 0:
            raise _failed("cutting a block", got)
        return got == 1

    def analyse(self) -> OggPacket:
        """Encode the current block; the packet's data stays valid until the next call.

        ``vorbis_analysis`` with a packet hands it over itself when there is no bitrate
        management (as in VBR): the packet ``vorbis_bitrate_addblock`` and
        ``vorbis_bitrate_flushpacket`` would pass on, two calls fewer per block.
        """
        code = self.libs.vorbis_analysis(self.block, self.packet)
        if code:
            raise _failed("analysing a block", code)
        return self.packet

    def close(self) -> None:
        while self._made:
            self._made.pop()()


class _OggStream:
    """A libogg stream: packets in, pages out to ``fh`` (paginated as libsndfile does)."""

    def __init__(self, libs: Libraries, serial: int, fh):
        self.libs = libs
        self.fh = fh
        self.state = ctypes.create_string_buffer(STREAM_STATE_BYTES)
        self.page = OggPage()
        if libs.ogg_stream_init(self.state, serial):
            raise EncoderError("the Ogg stream (libogg) could not be set up")
        self._open = True

    def headers(self, headers: list[tuple[bytes, int, int, int]]) -> None:
        """The three header packets, flushed so the audio starts on a page of its own."""
        for data, bos, granule, number in headers:
            self.put_bytes(data, granule, number, eos=0, bos=bos)
        self.drain(self.libs.ogg_stream_flush)

    def put(self, packet: OggPacket) -> None:
        if self.libs.ogg_stream_packetin(self.state, packet):
            raise EncoderError("the Ogg stream (libogg) refused a packet")
        self.drain(self.libs.ogg_stream_pageout)

    def put_bytes(self, data: bytes, granule: int, number: int, eos: int, bos: int = 0) -> None:
        buffer = ctypes.create_string_buffer(data, len(data))
        address = ctypes.cast(buffer, ctypes.c_void_p)
        self.put(OggPacket(address, len(data), bos, eos, granule, number))  # libogg copies it

    def drain(self, take) -> None:
        page, fh = self.page, self.fh
        while take(self.state, page):
            fh.write(ctypes.string_at(page.header, page.header_len))
            fh.write(ctypes.string_at(page.body, page.body_len))

    def finish(self) -> None:
        self.drain(self.libs.ogg_stream_flush)

    def close(self) -> None:
        if self._open:
            self._open = False
            self.libs.ogg_stream_clear(self.state)


class VorbisWriter(EncoderWriter):
    """Write float32 blocks ``(n, channels)`` to ``path`` as an Ogg Vorbis file, on one core.

    The same shape as ``mp3.LameWriter``: ``VorbisWriter.open`` returns None when the system
    libraries are missing or libvorbis has no mode for these settings (the caller then uses
    libsndfile). Blocks go to libvorbis as they come, as libsndfile passes them on: the same
    blocks give libsndfile's packets (see the module doc for the comments and serial number).
    """

    def __init__(self, encoder: _Encoder, stream: _OggStream, fh):
        self._encoder = encoder
        self._stream = stream
        self._fh = fh
        self.channels = encoder.channels

    @classmethod
    def open(cls, path: str, rate: int, channels: int, *, title: str = "",
             libs: Libraries | None = None) -> "VorbisWriter | None":  # fmt: skip
        libs = libs if libs is not None else system_vorbis()
        if libs is None:
            return None
        try:
            encoder = _Encoder(libs, rate, channels, title)
        except _Refused:
            return None
        try:
            fh = open(path, "wb")
        except BaseException:
            encoder.close()
            raise
        stream = None
        try:
            stream = _OggStream(libs, serial_number(rate, channels, title), fh)
            stream.headers(encoder.headers)
        except BaseException:
            if stream is not None:
                stream.close()
            encoder.close()
            fh.close()
            raise
        return cls(encoder, stream, fh)

    def write(self, block) -> None:
        import numpy as np

        data = np.asarray(block, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise ValueError(f"expected blocks of shape (n, {self.channels}), got {data.shape}")
        if len(data) == 0:
            return  # libvorbis takes 0 frames as the end of the stream
        self._encoder.feed(data)
        self._drain()

    def _drain(self) -> None:
        encoder, stream = self._encoder, self._stream
        while encoder.next_block():
            stream.put(encoder.analyse())

    def close(self) -> None:
        """Encode the last blocks (the final packet marks the end of the stream)."""
        if self._fh is None:
            return
        try:
            self._encoder.finish()
            self._drain()
            self._stream.finish()
            self._fh.flush()
        finally:
            self._release()

    def abort(self) -> None:
        """Close without finishing (the file is discarded): the error under way is the one
        to report."""
        if self._fh is not None:
            try:
                self._release()
            except OSError:
                pass

    def _release(self) -> None:
        fh, self._fh = self._fh, None
        self._stream.close()
        self._encoder.close()
        fh.close()



# --- one stream on several cores -------------------------------------------------------------

_RECORD = struct.Struct("<qqIB")  # granulepos, packetno, length, e_o_s; then the packet's bytes


class _Stopped(Exception):
    """Another encoder failed, or the caller cancelled: this one stops quietly."""


def stretches(frames: int, jobs: int, rate: int) -> list[tuple[int, int, int]]:
    """Per encoder: (analyse from, keep from, stop at), in granule positions (samples).

    The stretches tile the session: encoder j keeps the packets of the blocks whose granule
    position is in ``[keep from, stop at)`` and analyses from :data:`WARMUP_S` earlier.
    Every encoder but the first also blocks out the session before its stretch, so the later
    stretches are made shorter until every encoder has about the same work: in units of
    analysing one frame, encoder j costs ``PREFIX_COST * stop_j + (stop_j - keep_j) +
    warm-up`` (taking the analysis cost as even across the session).
    """
    warm = int(WARMUP_S * rate)
    per_frame = 1.0 + PREFIX_COST  # blocked out and analysed

    def ends(cost: float) -> list[float]:  # each encoder's end, all costing ``cost``
        out = [cost / per_frame]
        for _ in range(1, jobs):
            out.append((cost + out[-1] - warm) / per_frame)
        return out

    low, high = ends(0.0)[-1], ends(1.0)[-1]  # the last end is affine in the cost
    bounds = [round(end) for end in ends((frames - low) / (high - low))[:-1]]
    if any(b - a < rate for a, b in zip([0] + bounds, bounds + [frames])):
        bounds = [frames * j // jobs for j in range(1, jobs)]  # a session too short to weigh
    starts = [0] + bounds
    out = []
    for j in range(jobs):
        first = j == 0
        out.append((
            -(1 << 62) if first else max(0, starts[j] - warm),
            -(1 << 62) if first else starts[j],
            bounds[j] if j < jobs - 1 else 1 << 62,
        ))  # fmt: skip
    return out


def _rechunked(blocks: Iterable, size: int) -> Iterator:
    """``blocks`` (any lengths) as blocks of exactly ``size`` frames (the last one shorter)."""
    import numpy as np

    pending, held = [], 0
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        start = 0
        while start < len(block):
            take = min(size - held, len(block) - start)
            pending.append(block[start : start + take])
            held += take
            start += take
            if held == size:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def _encode_stretch(libs, streams, rate, channels, title, span, last, frames, out, stop):
    """One worker: block out the session from its start, analyse from the warm-up on, keep
    the packets of its stretch (written to ``out``) and stop after it; the last worker runs
    to the end of the session. Returns the header packets."""
    analyse_from, keep_from, stop_at = span
    encoder = _Encoder(libs, rate, channels, title)
    source = None

    def encode_ready_blocks() -> bool:
        """Encode the blocks libvorbis can cut so far; False once past the stretch."""
        while encoder.next_block():
            if stop.is_set():
                raise _Stopped
            granule = encoder.block.granulepos
            if granule >= stop_at:
                return False
            if granule >= analyse_from:
                packet = encoder.analyse()
                if granule >= keep_from:
                    out.write(_RECORD.pack(granule, packet.packetno, packet.bytes, packet.e_o_s))
                    out.write(ctypes.string_at(packet.packet, packet.bytes))
        return True

    try:
        source = streams()
        fed = 0
        for block in _rechunked(source, FEED):
            if stop.is_set():
                raise _Stopped
            if block.ndim != 2 or block.shape[1] != channels:
                raise ValueError(f"expected blocks of shape (n, {channels}), got {block.shape}")
            encoder.feed(block)
            fed += len(block)
            if not encode_ready_blocks():
                return encoder.headers
        if fed != frames:
            raise ValueError(f"the session gave {fed} frames, not the {frames} announced")
        if not last:
            raise ValueError("the session ended before this encoder's stretch did")
        encoder.finish()
        encode_ready_blocks()
        return encoder.headers
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a generator's cleanup runs now, in this thread
        encoder.close()


def encode_parallel(
    path: str,
    streams: Callable[[], Iterable],
    frames: int,
    rate: int,
    channels: int,
    *,
    title: str = "",
    jobs: int = 2,
    cancel: threading.Event | None = None,
) -> int | None:
    """Encode a session to the Ogg Vorbis file ``path`` with ``jobs`` encoders at once.

    ``streams()`` returns a new iterator over the whole session from its first sample
    (float32 arrays ``(n, channels)``; ``frames`` in all, the same samples on every call);
    each encoder thread calls it once (see the module doc for why each needs the whole
    start). Returns ``frames``, or None, having written nothing, when the system libraries
    are missing, libvorbis has no mode for ``rate``/``channels``, ``jobs`` < 2 or the session
    is shorter than :data:`MIN_PARALLEL_S`: the caller then writes serially.

    Splitting costs CPU (the system's libvorbis, the blocks before each stretch cut again, a
    warm-up, ``streams`` run again up to each stretch: 10 minutes of mono take 1.83 s of CPU
    against libsndfile's 1.29 s), so ``jobs`` should be at most the cores that are free: on
    a machine whose other core is busy, a split encode is slower than a serial one.

    Each encoder's packets go to an anonymous temporary file beside ``path``; ``path`` is
    written once all encoders have finished. The first error of any encoder (an
    :class:`EncoderError`, an OSError, what ``streams`` raised) stops the others and is
    raised here; a set ``cancel`` stops them likewise and raises :class:`Cancelled`. The
    wait stays interruptible: Ctrl-C stops the encoders, then propagates.
    """
    libs = system_vorbis()
    # Every stretch at least a second: an encoder must be able to cut a block past its own.
    jobs = min(jobs, frames // max(rate, 1))
    if libs is None or jobs < 2 or frames < MIN_PARALLEL_S * rate:
        return None
    try:
        _Encoder(libs, rate, channels, title).close()  # are the settings encodable?
    except _Refused:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    spans = stretches(frames, jobs, rate)
    headers: list = [None] * jobs
    outs = []
    try:
        for _ in range(jobs):
            outs.append(tempfile.TemporaryFile(prefix=".haven-ogg-", dir=folder))

        def task(j: int) -> Callable[[threading.Event], None]:
            def work(stop: threading.Event) -> None:
                try:
                    headers[j] = _encode_stretch(libs, streams, rate, channels, title, spans[j],
                                                 j == jobs - 1, frames, outs[j], stop)  # fmt: skip
                except _Stopped:
                    pass

            return work

        if run_together([task(j) for j in range(jobs)], name="haven-vorbis", cancel=cancel):
            raise Cancelled("the Ogg Vorbis encode was cancelled")
        if any(h != headers[0] for h in headers):
            raise EncoderError("the Ogg Vorbis encoders made different headers")
        _assemble(libs, path, headers[0], outs, serial_number(rate, channels, title))
    finally:
        for out in outs:
            out.close()
    return frames


def _assemble(libs, path, headers, parts, serial) -> None:
    """Paginate the header packets and every part's packets, in order, into ``path``."""
    with open(path, "wb") as fh:
        stream = _OggStream(libs, serial, fh)
        try:
            stream.headers(headers)
            expected = headers[-1][3] + 1
            packet = OggPacket()
            for part in parts:
                part.seek(0)
                for granule, number, eos, chunk, at, length in _records(part):
                    if number != expected:
                        raise EncoderError(
                            f"the Ogg Vorbis encoders left a gap (packet {number}, not {expected})"
                        )
                    expected += 1
                    packet.packet, packet.bytes = at, length
                    packet.e_o_s, packet.granulepos, packet.packetno = eos, granule, number
                    stream.put(packet)  # libogg copies the data out of ``chunk``
                    del chunk
            stream.finish()
        finally:
            stream.close()


def _records(part, size: int = 1 << 20):
    """The packets of a part file: (granulepos, packetno, e_o_s, chunk, address, length),
    read a megabyte at a time; the packet is ``length`` bytes at ``address`` in ``chunk``."""
    head = _RECORD.size
    data = bytearray()
    pos = 0
    while True:
        more = part.read(size)
        data = data[pos:] + more
        pos = 0
        if not data:
            return
        chunk = (ctypes.c_char * len(data)).from_buffer(data)
        base = ctypes.addressof(chunk)
        while pos + head <= len(data):
            granule, number, length, eos = _RECORD.unpack_from(data, pos)
            if pos + head + length > len(data):
                break
            yield granule, number, eos, chunk, base + pos + head, length
            pos += head + length
        del chunk  # releases ``data`` for resizing
        if not more:
            if pos < len(data):
                raise EncoderError("an Ogg Vorbis encoder's packet file was cut short")
            return
