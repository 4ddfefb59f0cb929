"""How many channels a rendered file has (issue 12, P11).

A session's sounds all sit in the centre except a stereo bed, so without one its two channels
are the very same samples. MP3 and Ogg files of such a session have one channel (half the
encoder's work, a smaller file, the same sound in both ears); WAV and FLAC keep both, as
played. ``--stereo``/``--mono`` choose.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from player.audio import synth
from player.audio.render import SessionSettings, file_channels, prepare_session, render_to_file
from player.cli.app import main

PLAIN = """\
haven: 1
title: Channel Room
summary: Speech, a bell and breathing tones, all in the centre.
category: breathing
ending: bell
steps:
  - say: Settle in, if you like.
    after: 1s
  - breathe: "4-6"
    cycles: 1
  - say: That is all.
"""

WITH_BED = PLAIN.replace("ending: bell\n", "ending: bell\nambient: {sound: brown-noise, level_db: -20}\n")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """The plain session and the one with a stereo bed, prepared once (real speech)."""
    folder = tmp_path_factory.mktemp("channels")
    mp = pytest.MonkeyPatch()
    mp.setenv("HAVEN_HOME", str(folder / "home"))
    try:
        out = {}
        for name, text in (("plain", PLAIN), ("bed", WITH_BED)):
            path = folder / f"{name}.yaml"
            path.write_text(text, encoding="utf-8")
            out[name] = (path, prepare_session(str(path), SessionSettings()))
        wav = folder / "plain.wav"
        render_to_file(out["plain"][1], wav)
        out["plain-wav"] = sf.read(wav, dtype="float32", always_2d=True)[0]
        wav = folder / "bed.wav"
        render_to_file(out["bed"][1], wav)
        out["bed-wav"] = sf.read(wav, dtype="float32", always_2d=True)[0]
    finally:
        mp.undo()
    return out


def test_only_a_stereo_bed_makes_the_channels_differ(sessions):
    plain, bed = sessions["plain-wav"], sessions["bed-wav"]
    assert sessions["plain"][1].mixer.is_dual_mono
    assert np.array_equal(plain[:, 0], plain[:, 1]) and np.abs(plain).max() > 0.05
    assert not sessions["bed"][1].mixer.is_dual_mono
    assert not np.array_equal(bed[:, 0], bed[:, 1])


def test_a_bed_from_a_mono_loop_keeps_the_session_dual_mono():
    bed = synth.NoiseBed("brown-noise", 48000)
    assert not bed.is_dual_mono  # built-in noise beds are decorrelated stereo
    bed._loop = np.repeat(bed._loop[:, :1], 2, axis=1)
    bed._dual_mono = None
    assert bed.is_dual_mono


@pytest.mark.parametrize("fmt,expected", [("MP3", 1), ("OGG", 1), ("WAV", 2), ("FLAC", 2)])
def test_file_channels_by_format(sessions, fmt, expected):
    plain, bed = sessions["plain"][1].mixer, sessions["bed"][1].mixer
    assert file_channels(fmt, plain) == expected
    assert file_channels(fmt, bed) == 2
    assert file_channels(fmt, plain, 2) == 2 and file_channels(fmt, bed, 1) == 1
    with pytest.raises(ValueError):
        file_channels(fmt, plain, 3)


@pytest.mark.parametrize("ext", ["mp3", "ogg"])
def test_lossy_file_of_a_centred_session_is_mono_and_sounds_the_same(sessions, tmp_path, ext):
    path = tmp_path / f"plain.{ext}"
    result = render_to_file(sessions["plain"][1], path)
    info = sf.info(path)
    assert result.channels == 1 and info.channels == 1
    decoded, rate = sf.read(path, dtype="float32")
    reference = sessions["plain-wav"][:, 0]
    # Exactly as long (LAME's info frame and Vorbis' granule positions), and the same sound:
    # the lossy difference is far below the signal.
    assert rate == 48000 and decoded.shape == reference.shape == (result.frames,)
    error = decoded - reference
    snr_db = 10 * np.log10(np.sum(reference**2) / np.sum(error**2))
    assert snr_db > 20, snr_db


@pytest.mark.parametrize("ext", ["mp3", "ogg"])
def test_lossy_file_of_a_session_with_a_stereo_bed_stays_stereo(sessions, tmp_path, ext):
    path = tmp_path / f"bed.{ext}"
    result = render_to_file(sessions["bed"][1], path)
    assert result.channels == 2 and sf.info(path).channels == 2


def test_mono_wav_of_a_stereo_session_is_the_mean_of_its_channels(sessions, tmp_path):
    path = tmp_path / "bed-mono.wav"
    result = render_to_file(sessions["bed"][1], path, channels=1)
    mono, _ = sf.read(path, dtype="float32")
    stereo = sessions["bed-wav"]
    assert result.channels == 1 and mono.shape == (len(stereo),)
    assert np.array_equal(mono, stereo.mean(axis=1, dtype=np.float32))


def test_mono_wav_of_a_centred_session_is_exactly_its_left_channel(sessions, tmp_path):
    path = tmp_path / "plain-mono.wav"
    render_to_file(sessions["plain"][1], path, channels=1)
    mono, _ = sf.read(path, dtype="float32")
    assert np.array_equal(mono, sessions["plain-wav"][:, 0])


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_says_mono_and_stereo_forces_two_channels(sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("HAVEN_HOME", str(sessions["plain"][0].parent / "home"))
    script = str(sessions["plain"][0])
    out = tmp_path / "cli.mp3"
    code, text = run("render", script, "-o", str(out))
    assert code == 0 and "48000 Hz mono" in text and sf.info(out).channels == 1
    code, text = run("render", script, "-o", str(out), "--stereo")
    assert code == 0 and "48000 Hz stereo" in text and sf.info(out).channels == 2
    decoded, _ = sf.read(out, dtype="float32")
    assert np.array_equal(decoded[:, 0], decoded[:, 1])  # joint stereo of identical channels
    wav = tmp_path / "cli.wav"
    code, text = run("render", script, "-o", str(wav), "--mono")
    assert code == 0 and "48000 Hz mono" in text and sf.info(wav).channels == 1
