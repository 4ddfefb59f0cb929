"""Your own sounds (issue 16): a WAV as the ambient bed and as a bell.

Acceptance: no click at the loop point (the wrap's sample jump is within the bed's own),
loudness at the target, the phases of a pacer unchanged; unreadable, silent and too-short
files are refused with one located line; a file is resampled once and cached.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from player.audio import loudness, sounds
from player.errors import ScriptError
from player.audio.render import SessionSettings, prepare_script
from player.format.script import load_script

RATE = 48000


def _bed_wav(path, rate=44100, seconds=6.0):
    """Stereo noise with a low hum whose ends do not meet: looped as is, it would click."""
    rng = np.random.default_rng(3)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    hum = 0.3 * np.sin(2 * np.pi * 97.0 * t)[:, None]
    noise = np.cumsum(rng.standard_normal((n, 2)), axis=0)
    noise -= np.linspace(0, 1, n)[:, None] * noise[-1]  # a brown wander, not periodic
    noise *= 0.2 / np.max(np.abs(noise))
    x = 0.1 * (hum + noise) + np.linspace(-0.05, 0.05, n)[:, None]  # ends far apart
    soundfile.write(path, x, rate)
    return x


def _bell_wav(path, rate=48000):
    t = np.arange(int(rate * 3.0)) / rate
    strike = 0.05 * np.sin(2 * np.pi * 520.0 * t) * np.exp(-t / 0.7)
    soundfile.write(path, np.concatenate([np.zeros(int(0.2 * rate)), strike]), rate)


SCRIPT = """title: Own sounds
category: breathing
ambient: {{{bed}, level_db: -20}}
ending: silence
steps:
  - bell: {{{bell}}}
  - breathe: 4-6
    cycles: 6
  - bell: {{{bell}, strikes: 2}}
"""


def _session(tmp_path, bed, bell):
    path = tmp_path / "own.yaml"
    path.write_text(SCRIPT.format(bed=bed, bell=bell))
    session = prepare_script(load_script(path), SessionSettings())
    return session, np.concatenate(list(session.mixer.blocks(65536)))


def test_a_wav_as_bed_and_bell_loops_without_a_click_at_target_loudness(tmp_path):
    raw = _bed_wav(tmp_path / "creek.wav")
    _bell_wav(tmp_path / "gong.wav")
    session, audio = _session(tmp_path, "file: creek.wav", "file: gong.wav")
    tl = session.timeline
    assert tl.ambient[0].sound == str(tmp_path / "creek.wav")
    assert {b.sound for b in tl.bells} == {str(tmp_path / "gong.wav")}

    # No click at the loop point: the wrap's jump is within the loop's own largest jump, while
    # the file looped as is would jump far more.
    loop = sounds.bed(str(tmp_path / "creek.wav"), RATE)._loop.astype(np.float64)
    inner = np.max(np.abs(np.diff(loop, axis=0)))
    wrap = np.max(np.abs(loop[0] - loop[-1]))
    assert wrap <= inner
    assert np.max(np.abs(raw[0] - raw[-1])) > 3 * np.max(np.abs(np.diff(raw, axis=0)))
    # ...and in the session, across a wrap, no sample step is larger than elsewhere.
    n = loop.shape[0]
    bed_render = sounds.bed(str(tmp_path / "creek.wav"), RATE).render(n - 1000, 2000)
    assert np.max(np.abs(np.diff(bed_render, axis=0))) <= inner + 1e-7

    # Loudness at the target (the session gain is planned; this is the rendered result).
    measured = loudness.integrated_loudness(audio.astype(np.float64), RATE)
    assert measured == pytest.approx(-18.0, abs=0.5)

    # The pacer's phases do not move: the same script with Haven's own bed and bell.
    builtin, _ = _session(tmp_path, "sound: rain", "sound: bowl")
    assert tl.breaths == builtin.timeline.breaths
    assert [b.strikes for b in tl.bells] == [b.strikes for b in builtin.timeline.bells]
    # The tone tracks (a pure function of their phases and settings) and their levels too.
    assert [t.phases for t in session.mixer._tracks] == [t.phases for t in builtin.mixer._tracks]
    assert session.mixer._tone_amps == builtin.mixer._tone_amps

    # The bell's strike lands on its sample: leading silence in the file is trimmed.
    strike = sounds.bell_samples(str(tmp_path / "gong.wav"), RATE)
    assert strike[0] == 0.0 and abs(strike[1]) > 0


def test_a_bell_of_your_own_is_as_loud_as_havens(tmp_path):
    from player.audio import mixer

    _bell_wav(tmp_path / "gong.wav")
    quiet = tmp_path / "quiet.wav"
    x, rate = soundfile.read(tmp_path / "gong.wav")
    soundfile.write(quiet, x * 0.05, rate)  # 26 dB quieter recording
    amp_a, cum_a = mixer._bell_amp(RATE, str(tmp_path / "gong.wav"))
    amp_b, cum_b = mixer._bell_amp(RATE, str(quiet))
    head = int(0.4 * RATE)
    assert amp_a**2 * cum_a[head] == pytest.approx(amp_b**2 * cum_b[head], rel=1e-3)
    amp_h, cum_h = mixer._bell_amp(RATE)
    assert amp_a**2 * cum_a[head] == pytest.approx(amp_h**2 * cum_h[head], rel=1e-3)


def test_a_sound_in_the_sounds_folder_is_used_by_name(tmp_path):
    folder = sounds.user_sounds_dir()
    folder.mkdir(parents=True)
    _bed_wav(folder / "creek.flac")
    session, _ = _session(tmp_path, "sound: creek", "sound: low-bowl")
    assert session.timeline.ambient[0].sound == "creek"
    assert {b.sound for b in session.timeline.bells} == {"low-bowl"}
    assert sounds.user_sounds() == {"creek": folder / "creek.flac"}


def test_resampled_once_and_cached(tmp_path):
    _bed_wav(tmp_path / "creek.wav", rate=44100, seconds=5.0)
    bed = sounds.bed(str(tmp_path / "creek.wav"), RATE)
    expected = round(5.0 * RATE) - round(min(sounds.LOOP_CROSSFADE_S, 5.0 / 4) * RATE)
    assert abs(bed.loop_length - expected) <= 2
    from player import paths

    cached = list((paths.cache_dir() / "computed").glob("sound-bed-*"))
    assert len(cached) == 1


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not audio"),
     "not a sound file Haven can read (WAV, FLAC, OGG, MP3 and the like)"),
    (lambda p: soundfile.write(p, np.zeros((48000 * 5, 2)), 48000), "the sound is silent"),
    (lambda p: soundfile.write(p, 0.1 * np.ones((48000 * 2, 2)), 48000),
     "too short to loop (2.0 s; a bed needs at least 4 s)"),
])
def test_bad_files_are_refused_with_one_located_line(tmp_path, make, message):
    make(tmp_path / "bad.wav")
    path = tmp_path / "own.yaml"
    path.write_text("title: T\nambient: {file: bad.wav}\nsteps:\n  - pause: 1\n")
    with pytest.raises(ScriptError) as err:
        load_script(path)
    assert str(err.value) == f"{path}:2:17: ambient.file: {tmp_path / 'bad.wav'}: {message}"


def test_cli_ambient_refuses_a_missing_file_in_one_line(tmp_path):
    from click.testing import CliRunner

    from player.cli.app import main

    out = tmp_path / "t.wav"
    result = CliRunner().invoke(main, ["render", "three-minute-breathing-space", "-o", str(out),
                                       "--ambient", str(tmp_path / "nope.wav")])
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path / 'nope.wav'}: no such sound file\n"
