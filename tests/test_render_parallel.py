"""Renders that encode MP3 and Ogg with several encoders at once (issue 12, P11).

``player.audio.mp3.encode_parallel`` and ``player.audio.vorbis.encode_parallel`` are tested
on their own (tests/test_mp3_parallel.py, tests/test_vorbis.py); here the whole render: a
real session read by several streams at once, the file's length, sound and chapters against
a render in one stream, the progress shown, and when render chooses which.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3
from mutagen.oggvorbis import OggVorbis

from player.audio import mp3, render, vorbis
from player.audio.render import SessionSettings, prepare_session, render_to_file

# Over a minute, so both encoders split it (MP3 from 30 s, Ogg from 60 s), with speech,
# breathing tones and a bell, and two sections: two chapters.
SCRIPT = """\
haven: 1
title: Long Room
summary: Long enough to be encoded in stretches.
category: breathing
ending: bell
steps:
  - section: Arriving
  - say: Settle in, if you like. You can stop at any time.
    after: 2s
  - breathe: "4-6"
    for: 40s
  - section: Staying
  - say: Stay with the breath a little longer, or simply rest.
    after: 2s
  - breathe: "4-6"
    for: 30s
"""
WITH_BED = SCRIPT.replace("ending: bell\n", "ending: bell\nambient: {sound: brown-noise, level_db: -24}\n")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parallel")
    mp = pytest.MonkeyPatch()
    mp.setenv("HAVEN_HOME", str(folder / "home"))
    try:
        out = {}
        for name, text in (("plain", SCRIPT), ("bed", WITH_BED)):
            path = folder / f"{name}.yaml"
            path.write_text(text, encoding="utf-8")
            session = prepare_session(str(path), SessionSettings())
            wav = folder / f"{name}.wav"
            render_to_file(session, wav)
            out[name] = (session, sf.read(wav, dtype="float32", always_2d=True)[0])
    finally:
        mp.undo()
    return out


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Signal to error in dB (infinite when the two are the same samples)."""
    error = float(np.sum((decoded.astype(np.float64) - reference) ** 2))
    return float("inf") if error == 0 else float(10 * np.log10(np.sum(reference**2) / error))


def spy(monkeypatch, module):
    calls = []
    real = module.encode_parallel

    def counting(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(module, "encode_parallel", counting)
    return calls


def test_encode_jobs_follows_the_cores(monkeypatch):
    for cores, jobs in ((None, 1), (1, 1), (2, 2), (3, 3), (16, render.ENCODE_JOBS_MAX)):
        monkeypatch.setattr(render.os, "cpu_count", lambda c=cores: c)
        assert render.encode_jobs() == jobs


def test_mp3_in_stretches_is_the_serial_file_to_the_ear(sessions, tmp_path, monkeypatch):
    session, wav = sessions["plain"]
    assert session.timeline.duration_s > 60
    calls = spy(monkeypatch, mp3)
    monkeypatch.setattr(render, "encode_jobs", lambda: 1)
    serial = render_to_file(session, tmp_path / "serial.mp3")
    assert calls == []  # one core: one LAME
    seen = []
    monkeypatch.setattr(render, "encode_jobs", lambda: 2)
    split = render_to_file(session, tmp_path / "split.mp3", progress=lambda d, t: seen.append((d, t)))
    assert calls == [split.frames]  # two LAMEs, joined

    one, _ = sf.read(tmp_path / "serial.mp3", dtype="float32")
    two, _ = sf.read(tmp_path / "split.mp3", dtype="float32")
    reference = wav[:, 0]  # no bed: one channel, the session's left (= right)
    assert split.channels == serial.channels == 1
    assert one.shape == two.shape == reference.shape == (split.frames,)
    # The same sound: as faithful to the session as the one-stream file, and all but equal
    # to it (the stretches' encoders agree once settled; the join carries the reservoir).
    assert abs(snr_db(reference, two) - snr_db(reference, one)) < 0.5
    assert snr_db(one, two) > 40
    # Chapters and title as in any render.
    tag = ID3(tmp_path / "split.mp3")
    assert [c.sub_frames["TIT2"].text[0] for c in sorted(tag.getall("CHAP"), key=lambda c: c.start_time)] \
        == ["Arriving", "Staying"]
    assert tag["TIT2"].text == ["Long Room"]
    # Progress went from the start to the end, never backwards.
    assert seen and seen[-1][0] == seen[-1][1] and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_stereo_ogg_in_stretches_sounds_as_the_serial_one(sessions, tmp_path, monkeypatch):
    session, wav = sessions["bed"]
    calls = spy(monkeypatch, vorbis)
    monkeypatch.setattr(render, "encode_jobs", lambda: 1)
    render_to_file(session, tmp_path / "serial.ogg")  # libsndfile, one stream
    monkeypatch.setattr(render, "encode_jobs", lambda: 2)
    split = render_to_file(session, tmp_path / "split.ogg")
    assert calls == [split.frames] and split.channels == 2

    one, _ = sf.read(tmp_path / "serial.ogg", dtype="float32", always_2d=True)
    two, _ = sf.read(tmp_path / "split.ogg", dtype="float32", always_2d=True)
    assert one.shape == two.shape == wav.shape
    assert abs(snr_db(wav, two) - snr_db(wav, one)) < 0.5
    audio = OggVorbis(tmp_path / "split.ogg")
    assert audio.tags["TITLE"] == ["Long Room"]
    assert abs(audio.info.length - split.frames / 48000) < 0.001
    chapters = sorted(k for k in audio.tags.keys() if k.upper().startswith("CHAPTER") and k.upper().endswith("NAME"))
    assert [audio.tags[k][0] for k in chapters] == ["Arriving", "Staying"]


def test_mono_ogg_stays_one_stream_on_two_cores(sessions, tmp_path, monkeypatch):
    """On two cores splitting Vorbis gains nothing for a mono session and costs CPU."""
    session, _ = sessions["plain"]
    calls = spy(monkeypatch, vorbis)
    monkeypatch.setattr(render, "encode_jobs", lambda: 2)
    result = render_to_file(session, tmp_path / "two-cores.ogg")
    assert calls == [] and result.channels == 1
    monkeypatch.setattr(render, "encode_jobs", lambda: 3)
    result = render_to_file(session, tmp_path / "three-cores.ogg")
    assert calls == [result.frames]
    one, _ = sf.read(tmp_path / "two-cores.ogg", dtype="float32")
    three, _ = sf.read(tmp_path / "three-cores.ogg", dtype="float32")
    assert one.shape == three.shape and snr_db(one, three) > 25


def test_an_encoder_error_is_one_line_and_leaves_no_file(sessions, tmp_path, monkeypatch):
    from player.errors import HavenError

    session, _ = sessions["plain"]
    monkeypatch.setattr(render, "encode_jobs", lambda: 2)

    def failing(*args, **kwargs):
        raise mp3.EncoderError("the MP3 encoder (LAME) failed with error -1")

    monkeypatch.setattr(mp3, "encode_parallel", failing)
    target = tmp_path / "broken.mp3"
    with pytest.raises(HavenError) as caught:
        render_to_file(session, target)
    assert str(caught.value) == f"cannot write {target}: the MP3 encoder (LAME) failed with error -1"
    assert list(tmp_path.iterdir()) == []
