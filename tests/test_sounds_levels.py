"""Levels (issue 16): voice, tones, bells and bed each have a level in config and a key during
play, remembered between sessions; the session's loudness target still holds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from click.testing import CliRunner

from fake_audio import FakeStream
from player import config
from player.audio import engine, loudness, playback
from player.format import model
from player.audio.engine import FADE_S, Player
from player.audio.render import SessionSettings, prepare_script
from player.library.sessions import breathe_script
from player.audio.streaming import StreamingSession
from player.audio.timeline import Overrides
from test_playback import fresh_streams  # noqa: F401 - autouse: a clean fake device per test

RATE = 48000
F = int(FADE_S * RATE)


def _settings(**levels):
    return SessionSettings(overrides=Overrides(levels=model.Levels(**levels)))


def _script(minutes=0.5):
    """A bell, breathing tones and a bed (no speech: nothing to synthesize)."""
    return breathe_script("4-6", minutes=minutes, ambient="rain")


def test_each_level_moves_its_sound_and_the_target_still_holds():
    script = _script()
    base = prepare_script(script, _settings())
    base_audio = np.concatenate(list(base.mixer.blocks(65536))).astype(np.float64)
    assert loudness.integrated_loudness(base_audio, RATE) == pytest.approx(-18.0, abs=0.5)
    for kind in model.LEVEL_KINDS:
        moved = prepare_script(script, _settings(**{f"{kind}_db": 6.0}))
        audio = np.concatenate(list(moved.mixer.blocks(65536))).astype(np.float64)
        assert loudness.integrated_loudness(audio, RATE) == pytest.approx(-18.0, abs=0.5), kind
    # The bed, alone in the lead-in's last half second: 6 dB up, times the re-planned gain.
    bed = prepare_script(script, _settings(bed_db=6.0))
    lo, n = RATE // 2, RATE // 2
    ratio = bed.mixer.render(lo, n) / base.mixer.render(lo, n)
    expected = 10 ** (6 / 20) * bed.mixer.plan.gain / base.mixer.plan.gain
    assert np.allclose(ratio, expected, rtol=1e-5)
    assert bed.mixer.plan.gain < base.mixer.plan.gain  # louder bed, less session gain
    # At 0 dB the mix is the very one without levels.
    assert np.array_equal(base_audio, np.concatenate(list(
        prepare_script(script, SessionSettings()).mixer.blocks(65536))))


def test_levels_come_from_config():
    from player.plan import resolve_settings as _session_settings

    config.set("levels.bed_db", "-6")
    config.set("levels.voice_db", "3")
    settings = _session_settings(None, (), None, None, None, None)
    assert settings.overrides.levels == model.Levels(voice_db=3.0, bed_db=-6.0)
    result = CliRunner().invoke(__import__("player.cli.app").cli.main,
                                ["config", "set", "levels.bells_db", "20"])
    assert result.exit_code == 2


def test_a_level_key_remixes_from_where_playback_is_and_is_remembered():
    session = StreamingSession(_script(0.5), SessionSettings()).prepare_all()
    gain_before = session.plan.gain
    FakeStream.pace = 0.001
    player = Player(session, stream_factory=FakeStream)
    player.start(patience=None)
    while player.position < 3 * RATE:
        time.sleep(0.001)
    playback._handle_key(player, "A")  # the bed up by a step
    assert player.finished.wait(30)
    got = player.stream.captured()
    player.close()
    step = playback.LEVEL_STEP_DB
    assert session.levels == model.Levels(bed_db=step)
    assert config.get("levels.bed_db") == step  # remembered for the next session
    assert session.plan.gain < gain_before  # re-planned: the target holds
    events = player.events()
    assert len([e for e in events if e["event"] == "seeked"]) == 1
    fade_in = next(e for e in events if e["event"] == "fade-in")
    # From the fade-in on, the audio is the session re-mixed with the new level, from where
    # playback was when the producer took the change (at most a fade's length back).
    start = player.seek_start
    assert 3 * RATE - F <= start <= fade_in["position"]
    expected = np.concatenate(list(session.blocks(engine.BLOCK, start=start)))
    keep = np.ones(len(got), dtype=bool)
    for e in events:
        if e["event"] == "underflow":
            keep[e["device_frame"]: e["device_frame"] + e["frames"]] = False
    first = fade_in["device_frame"]
    first += int(np.flatnonzero(np.any(got[first:] != 0, axis=1))[0])
    after = got[first:][keep[first:]]
    assert np.array_equal(after[F: F + RATE], expected[F: F + RATE])
    assert player.completed


def test_keys_are_listed_and_steps_bounded():
    assert {k: v[0] for k, v in playback.LEVEL_KEYS.items()} == {
        "v": "voice", "V": "voice", "t": "tones", "T": "tones",
        "b": "bells", "B": "bells", "a": "bed", "A": "bed"}
    session = StreamingSession(_script(0.5), SessionSettings())
    player = Player(session, stream_factory=FakeStream)
    for _ in range(30):
        value = player.change_level("bed", 2.0)
    assert value == model.LEVEL_RANGE_DB[1]


def test_the_voice_level_scales_speech(tmp_path):
    from player.audio.mixer import Mixer
    from player.format.script import load_script
    from player.audio.timeline import compile_timeline, speech_requests

    path = tmp_path / "v.yaml"
    path.write_text("title: V\nending: silence\nsteps:\n  - say: Rest here.\n    after: 1s\n")
    script = load_script(path)
    (request,) = speech_requests(script)
    clip = (0.1 * np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE)).astype(np.float32)

    def mixer(levels):
        tl = compile_timeline(script, lambda r: len(clip), rate=RATE,
                              overrides=Overrides(levels=levels))
        return Mixer(tl, {request: clip})

    a, b = mixer(model.Levels()), mixer(model.Levels(voice_db=-6.0))
    lo = a.timeline.speech[0].start + 1000
    ratio = b.render(lo, 1000) / a.render(lo, 1000)
    assert np.allclose(ratio, 10 ** (-6 / 20) * b.plan.gain / a.plan.gain, rtol=1e-5)
    assert b.plan.gain == pytest.approx(a.plan.gain * 2, rel=0.01)  # speech alone: target holds
