"""Haven's sound assets in audio/ (issue 16): made by the synthesis code, used by name, the
same samples either way; more beds and bells; `haven sounds` and its previews."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from fake_audio import FakeStream
from player.format import model
from player.audio import sounds, synth
from player.cli.app import main
from player.audio.render import SessionSettings, prepare_script
from test_cli_play import device  # noqa: F401 - the fake sound device fixture

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "audio"
RATE = 48000


def test_every_asset_is_what_the_synthesis_code_makes_today():
    files = sorted(p.name for p in AUDIO.glob("*.flac"))
    assert files == sorted(f"{name}.flac" for name in synth.BELL_SOUNDS)
    for name in synth.BELL_SOUNDS:
        data, rate = soundfile.read(AUDIO / f"{name}.flac", dtype="float32")
        info = soundfile.info(AUDIO / f"{name}.flac")
        assert (rate, info.channels, info.subtype) == (RATE, 1, "PCM_24")
        np.testing.assert_array_equal(data, synth._bell(RATE, name),
                                      err_msg=f"audio/{name}.flac is stale: run `make audio`")
    total = sum(p.stat().st_size for p in AUDIO.iterdir())
    assert total < 2_000_000  # small files, well under a few MB


def test_the_readme_gives_every_file_its_provenance_and_licence():
    text = (AUDIO / "README.md").read_text("utf-8")
    for path in AUDIO.glob("*.flac"):
        row = [line for line in text.splitlines() if line.startswith(f"| `{path.name}`")]
        assert row and "GPL-3.0-or-later" in row[0] and "_bell(48000" in row[0]
    assert "make audio" in text
    make = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^audio: .*\n\t\$\(BIN\)/python -m player\.audio\.sounds audio$", make, re.M)
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"audio" = "player/_builtin/audio"' in pyproject


def _bells_script(sound):
    return model.Script(id="t", title="T", ending="silence", steps=(
        model.Bell(sound=sound), model.Pause(2.0, fixed=True), model.Bell(sound=sound, strikes=2)))


@pytest.mark.parametrize("sound", [None, "low-bowl", "high-bowl"])
def test_a_render_using_an_asset_by_name_gives_the_synthesized_samples(sound, monkeypatch):
    name = sound or synth.DEFAULT_BELL
    assert sounds.bell_samples(name, RATE) is sounds._asset(*sounds._stamp(AUDIO / f"{name}.flac"))
    from_asset = np.concatenate(list(prepare_script(_bells_script(sound), SessionSettings())
                                     .mixer.blocks(65536)))
    # Without the asset the same code synthesizes the bell: the very same samples.
    monkeypatch.setattr(sounds, "asset_path", lambda n: AUDIO / "missing" / f"{n}.flac")
    synthesized = np.concatenate(list(prepare_script(_bells_script(sound), SessionSettings())
                                      .mixer.blocks(65536)))
    np.testing.assert_array_equal(from_asset, synthesized)


def test_the_24_bit_grid_moved_the_bowl_by_at_most_2_to_the_minus_24():
    """The noted change: bells now sit on the 24-bit grid (so a file can hold them exactly)."""
    import math

    grid = synth._bell(RATE)
    fundamental, stretch = synth.BELL_SOUNDS["bowl"]
    assert math.isclose(fundamental, synth.BELL_FUNDAMENTAL_HZ) and stretch == 1.0
    assert np.all(np.round(grid.astype(np.float64) * 2**23) == grid.astype(np.float64) * 2**23)


def test_other_rates_synthesize_the_same_bell_there():
    at_44 = sounds.bell_samples("bowl", 44100)
    assert len(at_44) == round(synth.BELL_LENGTH_S * 44100)
    np.testing.assert_array_equal(at_44, synth.bell_strike(44100))


def test_low_and_high_bowls_differ_in_pitch_and_ring():
    def pitch(x):
        spec = np.abs(np.fft.rfft(x[: 2 * RATE].astype(np.float64), 1 << 19))
        return np.fft.rfftfreq(1 << 19, 1 / RATE)[np.argmax(spec)]

    low, bowl, high = (sounds.bell_samples(n, RATE) for n in ("low-bowl", "bowl", "high-bowl"))
    assert pitch(low) < pitch(bowl) < pitch(high)
    assert pitch(low) == pytest.approx(157 - 0.3, abs=1.0)


@pytest.mark.parametrize("kind", ["ocean", "stream"])
def test_ocean_and_stream_beds_are_built_in_and_usable_by_name(kind):
    assert kind in model.AMBIENT_SOUNDS and kind in sounds.BUILTIN_BEDS
    script = model.Script(id="t", title="T", ending="silence",
                          ambient=model.AmbientSettings(sound=kind),
                          steps=(model.Pause(10.0, fixed=True),))
    session = prepare_script(script, SessionSettings())
    audio = np.concatenate(list(session.mixer.blocks(65536)))
    from player.audio import loudness

    assert loudness.integrated_loudness(audio.astype(np.float64), RATE) == pytest.approx(-18, abs=0.5)


def test_the_ocean_swells():
    x = synth.NoiseBed("ocean", RATE).render(0, synth.NoiseBed("ocean", RATE).loop_length)
    hop = RATE // 2
    levels = 10 * np.log10(np.mean(x[: len(x) // hop * hop, 0].reshape(-1, hop) ** 2, axis=1))
    assert 4.0 < levels.max() - levels.min() < 10.0  # waves, never gated out of the loudness


# --- haven sounds -------------------------------------------------------------------------


def _wav(path, seconds):
    t = np.arange(int(RATE * seconds)) / RATE
    soundfile.write(path, 0.1 * np.sin(2 * np.pi * 330 * t) * np.exp(-t / 2), RATE)


def test_sounds_lists_built_in_and_own_sounds():
    folder = sounds.user_sounds_dir()
    folder.mkdir(parents=True)
    _wav(folder / "gong.wav", 3.0)
    result = CliRunner().invoke(main, ["sounds"])
    assert result.exit_code == 0
    assert result.output == (
        "Beds:   pink-noise, brown-noise, white-noise, rain, ocean, stream\n"
        "Bells:  bowl, low-bowl, high-bowl; double, triple (the bowl struck two or three times)\n"
        "Yours:  gong (gong.wav)\n"
        f"\nYour sounds folder: {folder}\n"
        "A sound file there is used by its name (--ambient creek, bell: {sound: creek}); any "
        "file path works too.\nHear one: haven sounds --play NAME\n"
    )
    data = json.loads(CliRunner().invoke(main, ["sounds", "--json"]).output)
    assert data["yours"] == [{"name": "gong", "file": str(folder / "gong.wav")}]


@pytest.mark.parametrize("name, frames", [
    ("ocean", (1.5 + 20 + 2) * RATE),
    ("low-bowl", (1.5 + 9) * RATE),
    ("triple", (1.5 + 8 + 9) * RATE),
])
def test_sounds_play_previews_a_sound_without_recording_it(device, name, frames):
    result = CliRunner().invoke(main, ["sounds", "--play", name])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    (stream,) = FakeStream.instances
    # An unpaced fake device pulls silence while blocks are being made: count what sounded.
    sounding = int(np.count_nonzero(np.any(stream.captured() != 0, axis=1)))
    assert frames - 3 * RATE < sounding < frames
    from player.journal import Journal

    with Journal.open() as journal:
        assert journal.sessions() == []


def test_own_sound_previews_as_a_bell_when_too_short_to_loop(tmp_path):
    _wav(tmp_path / "gong.wav", 2.0)
    _wav(tmp_path / "long.wav", 6.0)
    assert sounds.preview_script(str(tmp_path / "gong.wav")).steps[0].sound == str(tmp_path / "gong.wav")
    assert sounds.preview_script(str(tmp_path / "long.wav")).ambient.sound == str(tmp_path / "long.wav")


def test_sounds_and_list_do_not_import_numpy():
    import subprocess
    import sys

    code = ("import sys\nfrom player.cli.app import main\n"
            "try:\n    main(['sounds'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY=' + ','.join(m for m in ('numpy', 'soundfile', 'soxr') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ})
    assert out.stdout.strip().endswith("HEAVY=")
