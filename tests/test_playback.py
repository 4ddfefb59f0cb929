"""The player without sound hardware: ring, callback, controls, holds and the streaming session.

A FakeStream calls the callback from a thread like PortAudio and keeps every buffer, so each
test can compare what was "played" with the source sample for sample.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from fake_audio import ArraySource, FakeStream, noise
from player.format import model
from player.audio import playback
from player.audio.engine import BLOCK, FADE_S, Player, fade_curve

RATE = 48000
B = BLOCK
F = int(FADE_S * RATE)


@pytest.fixture(autouse=True)
def fresh_streams(monkeypatch):
    FakeStream.instances.clear()
    monkeypatch.setattr(FakeStream, "pace", 0.0)
    monkeypatch.setattr(FakeStream, "stall_after", None)
    monkeypatch.setattr(FakeStream, "die_after", None)
    yield
    for stream in FakeStream.instances:
        stream.stop()


def run(player: Player, timeout: float = 20.0) -> np.ndarray:
    """Start, wait for the end, return everything the fake device received."""
    assert player.start(patience=None)
    assert player.finished.wait(timeout), "the stream did not end"
    stream = player.stream
    player.close()
    return stream.captured()


def down_up():
    up = fade_curve(F)
    return np.ascontiguousarray(up[::-1]), up


def test_fade_curve_is_a_raised_cosine_within_100_ms():
    up = fade_curve(F)
    assert up.shape == (F, 1) and up.dtype == np.float32
    assert F <= 0.1 * RATE
    assert 0 < up[0, 0] < 1e-5 and 1 - 1e-5 < up[-1, 0] < 1
    assert np.all(np.diff(up[:, 0]) > 0)
    assert np.allclose(up[:, 0] + up[::-1, 0], 1.0, atol=1e-6)  # symmetric: no level bump


def test_played_audio_is_the_source_sample_for_sample():
    audio = noise(3.0)
    # The fake device is not paced: a ring holding the whole source keeps up with it.
    stream_out = run(Player(ArraySource(audio), stream_factory=FakeStream, ring_blocks=200))
    assert np.array_equal(stream_out[: len(audio)], audio)
    assert not stream_out[len(audio):].any()


def test_callback_only_copies_into_preallocated_memory():
    """No array is made in the callback: numpy allocates nothing, and Python objects stay tiny."""
    audio = noise(2.0)
    player = Player(ArraySource(audio), ring_blocks=64, stream_factory=lambda **kw: SimpleNamespace(
        start=lambda: None, stop=lambda: None, close=lambda: None, abort=lambda: None,
        latency=0.0))
    player.start(patience=None)
    player._quit = True  # only the callback runs from here on
    player._producer.join(2)
    out = np.zeros((B, 2), dtype=np.float32)
    status = SimpleNamespace(output_underflow=False)
    slot_buffers = [id(d) for d in player.ring.data]
    player._callback(out, B, None, status)  # warm up: first-call caches
    player.change_volume(-3.0)  # exercise the volume ramp and the fades too
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(40):
            if i == 10:
                player.pause()
            if i == 20:
                player.resume()
            player._callback(out, B, None, status)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    numpy_domain = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
    grown = after.filter_traces([numpy_domain]).compare_to(
        before.filter_traces([numpy_domain]), "filename")
    assert sum(max(0, s.size_diff) for s in grown) == 0, grown[:3]
    python = [s for s in after.compare_to(before, "filename") if s.size_diff > 0]
    assert sum(s.size_diff for s in python) < 4096, python[:5]
    assert [id(d) for d in player.ring.data] == slot_buffers  # the same slots, reused
    player._quit = True


def test_pause_inserts_exactly_the_documented_fades_and_silence():
    audio = noise(3.0)
    p, q = 48_000, 100_000
    player = Player(ArraySource(audio), stream_factory=FakeStream, ring_blocks=200,
                    scripted=[(p, "pause"), (q, "resume")])
    got = run(player)
    down, up = down_up()
    expected = np.concatenate([
        audio[:p], audio[p : p + F] * down, np.zeros((q - p - F, 2), np.float32),
        audio[p + F : p + 2 * F] * up, audio[p + 2 * F :],
    ])
    assert np.array_equal(got[: len(expected)], expected)
    assert not got[len(expected):].any()
    assert player.delivered == len(audio)  # practiced time: pauses excluded
    assert player.paused_frames == q - p - F
    assert player.device_frames >= len(expected)
    names = [e["event"] for e in player.events()]
    assert names == ["fade-out", "paused", "fade-in", "playing", "end"]


def test_stop_fades_out_within_100_ms_and_ends_the_stream():
    audio = noise(5.0)
    at = 30_000
    player = Player(ArraySource(audio), stream_factory=FakeStream, ring_blocks=300,
                    scripted=[(at, "stop")])
    got = run(player)
    down, _ = down_up()
    assert np.array_equal(got[:at], audio[:at])
    assert np.array_equal(got[at : at + F], audio[at : at + F] * down)
    assert not got[at + F :].any()
    assert len(got) - at <= 0.1 * RATE + B  # fade plus the rest of that one buffer
    assert player.stopped and not player.completed
    assert player.delivered == at + F


def test_stop_while_paused_ends_at_once():
    player = Player(ArraySource(noise(5.0)), stream_factory=FakeStream, ring_blocks=300,
                    scripted=[(10_000, "pause"), (40_000, "stop")])
    got = run(player)
    assert player.stopped and player.delivered == 10_000 + F
    assert len(got) <= 40_000 + B


def test_underflows_are_counted_and_lose_no_audio():
    """A producer slower than the device: silence is inserted, counted and logged, and the
    audio around it is the source with nothing dropped or repeated."""
    audio = noise(1.5)
    source = ArraySource(audio, block_delay=0.004)  # 4 ms a block; the device takes one a ms
    FakeStream.pace = 0.001
    player = Player(source, stream_factory=FakeStream, ring_blocks=8)
    got = run(player)
    assert player.underflows > 0
    assert player.underflow_frames >= player.underflows
    events = [e for e in player.events() if e["event"] == "underflow"]
    assert len(events) == player.underflows
    keep = np.ones(len(got), dtype=bool)
    for e in events:
        keep[e["device_frame"] : e["device_frame"] + e["frames"]] = False
    assert np.array_equal(got[keep][: len(audio)], audio)
    assert player.delivered == len(audio)
    assert player.stats()["underflows"] == player.underflows


def test_late_speech_holds_silence_with_fades_instead_of_glitching():
    audio = noise(4.0)
    source = ArraySource(audio, ready_until=RATE)  # only the first second is final
    FakeStream.pace = 0.004
    player = Player(source, stream_factory=FakeStream, ring_blocks=16)
    player.start(patience=0.05)
    deadline = time.monotonic() + 10
    while not player.holding and time.monotonic() < deadline:
        time.sleep(0.005)
    assert player.holding  # what the display shows as "waiting for the voice"
    time.sleep(0.2)
    source.release(len(audio))
    assert player.finished.wait(20)
    got = player.stream.captured()
    player.close()
    assert player.holds >= 1 and player.hold_frames > 0
    assert player.delivered == len(audio)
    # Removing the silence leaves the source, faded out and in over one block at the hold.
    voiced = got[np.any(got != 0, axis=1)]
    assert len(voiced) == len(audio)
    hold_at = int(np.flatnonzero(~np.any(got != 0, axis=1))[0])
    ratio = voiced[:hold_at] / np.where(audio[:hold_at] == 0, 1, audio[:hold_at])
    assert np.allclose(ratio[: hold_at - B], 1.0)
    assert np.max(np.abs(np.diff(got[hold_at - 4 : hold_at + 4, 0]))) < 0.05  # no click


def test_next_and_previous_section_restart_the_stream_at_chapter_starts():
    audio = noise(6.0)
    chapters = (0, 2 * RATE, 4 * RATE)
    FakeStream.pace = 0.001
    source = ArraySource(audio, chapters=chapters)
    player = Player(source, stream_factory=FakeStream)
    player.start(patience=None)
    while player.position < 10_000:
        time.sleep(0.001)
    assert player.next_section()
    assert player.finished.wait(20)
    got = player.stream.captured()
    player.close()
    events = player.events()
    seeked = [e for e in events if e["event"] == "seeked"]
    assert len(seeked) == 1
    fade_in = next(e for e in events if e["event"] == "fade-in")
    # After the seek (and the silence while the new position is prepared) the audio is
    # chapter 2 from its first sample, faded in.
    start = fade_in["device_frame"] + int(np.flatnonzero(got[fade_in["device_frame"]:, 0])[0])
    assert start - fade_in["device_frame"] == player.seek_frames
    # (On a busy machine the fake device, ~20x real time, may outrun the refill: any
    # underflow silence is logged, and is taken out before comparing.)
    keep = np.ones(len(got), dtype=bool)
    for e in events:
        if e["event"] == "underflow":
            keep[e["device_frame"] : e["device_frame"] + e["frames"]] = False
    after = got[start:][keep[start:]]
    _, up = down_up()
    assert np.array_equal(after[:F], audio[2 * RATE : 2 * RATE + F] * up)
    assert np.array_equal(after[F : F + RATE], audio[2 * RATE + F : 3 * RATE + F])
    assert player.completed


def test_previous_section_restarts_the_current_one_or_goes_back_early_on():
    source = ArraySource(noise(1.0), chapters=(0, 10_000, 30_000))
    player = Player(source, stream_factory=FakeStream)
    player.position = 30_000 + 4 * RATE  # well into chapter 3: restart it
    player.previous_section()
    assert player._seek_to == 2
    player._gen = player._target_gen
    player.position = 30_000 + 100  # just started: go to chapter 2
    player.previous_section()
    assert player._seek_to == 1


def test_volume_steps_ramp_without_a_jump():
    audio = np.full((RATE, 2), 0.5, dtype=np.float32)
    FakeStream.pace = 0.0005
    player = Player(ArraySource(audio), stream_factory=FakeStream, ring_blocks=64)
    player.start(patience=None)
    while player.position < 5_000:
        time.sleep(0.0005)
    assert player.change_volume(-6.0) == -6.0
    assert player.finished.wait(20)
    got = player.stream.captured()[: len(audio), 0]
    player.close()
    assert got[0] == 0.5 and abs(got[len(audio) - 1] - 0.5 * 10 ** (-6 / 20)) < 1e-6
    assert np.max(np.abs(np.diff(got))) < 0.5 / B * 2  # a ramp over a buffer, no step
    assert player.change_volume(+20) == 0.0  # never above the mix level


def test_a_lost_device_is_noticed():
    FakeStream.die_after = 5
    player = Player(ArraySource(noise(3.0)), stream_factory=FakeStream)
    player.start(patience=None)
    assert player.finished.wait(5)
    assert player.device_lost()
    player.close()


def test_scripted_controls_parse():
    assert playback.parse_script_controls("pause@2.0,resume@3.5s", RATE) == [
        (96000, "pause"), (168000, "resume")]
    with pytest.raises(ValueError):
        playback.parse_script_controls("jump@1", RATE)


def test_play_records_the_session_and_counts_frames(haven_home):
    """A whole session through play(): journal row, practiced time from frames delivered."""
    from player.journal import Journal
    from player.audio.render import SessionSettings
    from player.library.sessions import timer_script

    script = timer_script(12.0)
    result = playback.play(script, SessionSettings(), stream_factory=FakeStream,
                           interactive=False, quiet=True)
    assert result.reason == "end" and result.completed and result.exit_code == 0
    assert result.practiced_s == pytest.approx(result.planned_s, abs=1 / RATE)
    with Journal.open() as journal:
        (row,) = journal.sessions()
    assert row.exercise == "timer" and row.completed
    assert row.practiced_s == pytest.approx(result.practiced_s, abs=0.001)


def test_play_with_a_lost_device_records_a_partial_session(haven_home):
    from player.errors import AudioDeviceError
    from player.journal import Journal
    from player.audio.render import SessionSettings
    from player.library.sessions import timer_script

    FakeStream.stall_after = 40
    FakeStream.pace = 0.001
    with pytest.raises(AudioDeviceError) as err:
        playback.play(timer_script(30.0), SessionSettings(), stream_factory=FakeStream,
                      interactive=False, quiet=True)
    assert "recorded as partial" in str(err.value)
    assert err.value.exit_code == 1
    with Journal.open() as journal:
        (row,) = journal.sessions()
    assert not row.completed
    block = playback.device_block(interactive=False)  # no keys: the relaxed device block
    assert row.practiced_s == pytest.approx(40 * block / RATE, abs=block / RATE)


# --- the streaming session -------------------------------------------------------------


def _script():
    return model.Script(
        id="t", title="T", ending="bell",
        ambient=model.AmbientSettings("pink-noise", -20),
        steps=(
            model.Section("One"),
            model.Say("Hello there. Let us begin slowly."),
            model.Breathe(model.Pattern(2, 0, 3), cycles=2, cues="both"),
            model.Section("Two"),
            model.Say("A longer sentence, with a pause, to make the clip a little longer.",
                      after=2),
            model.Bell(),
            model.Say("Done."),
        ),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_session_is_sample_identical_to_a_render(seed):
    """Clips arriving in any order, blocks pulled as soon as they are final: the same audio
    as rendering the finished session (same gain, same timeline, same limiter)."""
    from player.audio.render import SessionSettings, prepare_script, synthesize_speech
    from player.audio.streaming import StreamingSession

    settings = SessionSettings()
    script = _script()
    rendered = np.concatenate(list(prepare_script(script, settings).mixer.blocks(8192)))
    session = StreamingSession(script, settings)
    clips = synthesize_speech(session.requests, settings)
    order = list(session.requests)
    random.Random(seed).shuffle(order)
    assert session.ready_until > 0 and not session.complete  # can start before any speech
    lookahead = 2 * B + 427
    blocks, pos = [], 0
    stream = session.blocks(B)
    while True:
        while not (session.complete or pos + lookahead <= session.ready_until):
            request = order.pop()
            session.add_clip(request, clips[request])
            session.refresh()
        block = next(stream, None)
        if block is None:
            break
        blocks.append(block)
        pos += len(block)
    assert np.array_equal(np.concatenate(blocks), rendered)


def test_speech_is_synthesized_while_the_session_is_prepared(monkeypatch):
    """Playback starts speech before the loudness plan and the first mixer are made (on a
    first run they compute the tone and bell levels and a bed's loop): clips arrive while
    they are made, wait for them, and the session is then the same audio as a render."""
    from player.audio import streaming
    from player.audio.render import SessionSettings, prepare_script
    from player.audio.streaming import StreamingSession

    arrived = []
    real = streaming.prepared_clip

    def recording(samples, rate, volume):
        arrived.append(len(samples))
        return real(samples, rate, volume)

    monkeypatch.setattr(streaming, "prepared_clip", recording)
    settings = SessionSettings()
    script = _script()
    session = StreamingSession(script, settings, prepare=False)
    try:
        assert session.plan is None and session.mixer is None  # nothing heavy yet
        session.start()
        deadline = time.monotonic() + 60
        while not arrived and time.monotonic() < deadline:
            time.sleep(0.01)
        assert arrived, "no clip was synthesized before prepare()"
        time.sleep(0.2)
        assert session.mixer is None and session.synthesized == 0  # waiting for the plan
        session.prepare()
        while not session.complete and time.monotonic() < deadline:
            time.sleep(0.01)
            session.refresh()
        assert session.complete and session.error is None
        played = np.concatenate(list(session.blocks(8192)))
    finally:
        session.close()
    rendered = np.concatenate(list(prepare_script(script, settings).mixer.blocks(8192)))
    assert np.array_equal(played, rendered)


def test_a_failing_prepare_stops_the_speech(monkeypatch):
    from player.audio import mixer
    from player.audio.render import SessionSettings
    from player.audio.streaming import StreamingSession

    def broken(*args, **kwargs):
        raise RuntimeError("no plan")

    monkeypatch.setattr(mixer, "plan_loudness", broken)
    session = StreamingSession(_script(), SessionSettings(), prepare=False)
    session.start()
    with pytest.raises(RuntimeError, match="no plan"):
        session.prepare()
    session._thread.join(10)
    assert not session._thread.is_alive()


def test_streaming_needs_every_clip_when_fitting_to_minutes():
    from player.audio.render import SessionSettings
    from player.audio.streaming import StreamingSession

    session = StreamingSession(_script(), SessionSettings(minutes=1.5))
    assert session.needs_all and session.ready_until == 0
    assert session.timeline.length > 0  # the display has an estimate meanwhile


# --- display and keys ------------------------------------------------------------------


def test_breath_indicator_grows_on_the_inhale_and_shrinks_on_the_exhale():
    from player.audio.display import breath_at
    from player.audio.timeline import compile_timeline

    script = model.Script(id="b", title="B", ending="silence",
                          steps=(model.Breathe(model.Pattern(4, 2, 4), cycles=1),))
    tl = compile_timeline(script, lambda r: 0, rate=RATE)
    (breath,) = tl.breaths
    inhale, hold, exhale = breath.phases
    sizes = [breath_at(tl, inhale.start + k * RATE)[1] for k in range(4)]
    assert sizes == sorted(sizes) and sizes[0] == 0.0
    assert breath_at(tl, hold.start + RATE) == ("hold", 1.0)
    out = [breath_at(tl, exhale.start + k * RATE)[1] for k in range(4)]
    assert out == sorted(out, reverse=True) and out[0] == 1.0
    assert breath_at(tl, (inhale.start + inhale.end) // 2) == ("inhale", pytest.approx(0.5))
    assert breath_at(tl, breath.end + 1) is None


def test_caption_shows_the_line_being_spoken():
    from player.audio.display import caption_at
    from player.audio.timeline import compile_timeline

    script = model.Script(id="c", title="C", ending="silence",
                          steps=(model.Say("One line.", after=10), model.Say("Two.")))
    tl = compile_timeline(script, lambda r: RATE, rate=RATE)
    first, second = tl.speech
    assert caption_at(tl, first.start + 10) == "One line."
    assert caption_at(tl, first.end + RATE) == "One line."  # held a moment
    assert caption_at(tl, first.end + 5 * RATE) is None
    assert caption_at(tl, second.start) == "Two."


def test_keys_are_decoded_and_escape_sequences_skipped():
    from player.audio.controls import decode_keys

    assert decode_keys(b" nq\x1b[A+\x1bOP-") == [" ", "n", "q", "+", "-"]
