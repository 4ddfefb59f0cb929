"""Bedtime (`--sleep`): a slower voice, voice and tones fading over the last third, no closing
bell, and the bed carrying on for the tail before it fades to silence and the session ends."""

from __future__ import annotations

import numpy as np
import pytest

from player.format import model
from player.audio import timeline
from player.audio.mixer import Mixer
from player.audio.timeline import Overrides, compile_timeline, speech_requests

RATE = 8000  # a low rate keeps these renders quick


def clip_length(request) -> int:
    return int(len(request.text) * 0.06 * RATE)


def script(bed="brown-noise", ending="bell"):
    return model.Script(
        id="night", title="Night", category="sleep", ending=ending,
        ambient=model.AmbientSettings(bed, -20) if bed else model.AmbientSettings(),
        steps=(
            model.Say("Settle down for the night.", after=5),
            model.Breathe(model.Pattern(4, 0, 6), cycles=4),
            model.Say("Let everything go.", after=10),
        ),
    )


def test_voice_is_slower_at_bedtime():
    day = speech_requests(script())
    night = speech_requests(script(), Overrides(sleep=True))
    assert [r.rate for r in night] == [pytest.approx(r.rate * 0.9) for r in day]


def test_bedtime_timeline_shape():
    tail = 120.0
    tl = compile_timeline(script(), clip_length, rate=RATE,
                          overrides=Overrides(sleep=True, tail_s=tail))
    assert not tl.bells  # no closing bell
    end = tl.content_end
    assert tl.sleep_fade == (end - end // 3, end)
    assert tl.length == end + int(tail * RATE)
    assert tl.bed_fade_out == int(timeline.SLEEP_BED_FADE_S * RATE)
    assert tl.fade_out == 0
    assert tl.to_json()["sleep_fade"] == list(tl.sleep_fade)


def test_without_a_bed_there_is_no_tail():
    tl = compile_timeline(script(bed=None), clip_length, rate=RATE,
                          overrides=Overrides(sleep=True))
    assert tl.length == tl.content_end + int(timeline.SILENCE_TAIL_S * RATE)


def test_day_timelines_are_unchanged():
    day = compile_timeline(script(), clip_length, rate=RATE)
    assert day.sleep_fade is None and day.bells[-1].closing
    assert "sleep_fade" not in day.to_json()


def test_minutes_fit_the_guided_part_and_the_tail_comes_on_top():
    tl = compile_timeline(script(), clip_length, rate=RATE, minutes=1.5,
                          overrides=Overrides(sleep=True, tail_s=60))
    assert abs(tl.content_end / RATE - 90) < 1.0
    assert tl.length == tl.content_end + 60 * RATE


def test_voice_and_tones_fade_out_and_the_bed_goes_on_then_fades_to_silence():
    tl = compile_timeline(script(), clip_length, rate=RATE,
                          overrides=Overrides(sleep=True, tail_s=90))
    clips = {}
    for event in tl.speech:
        t = np.arange(event.length) / RATE
        clips[event.request] = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    mixer = Mixer(tl, clips)
    audio = np.concatenate(list(mixer.blocks(4096)))
    rms = lambda a, b: float(np.sqrt(np.mean(audio[a:b] ** 2)))  # noqa: E731
    bed_mid_tail = rms(tl.content_end + 20 * RATE, tl.content_end + 40 * RATE)
    assert bed_mid_tail > 1e-4  # the bed carries on after the guidance
    # The last spoken line sits in the fade: quieter than the first one, and the fade
    # reaches silence where the guided part ends.
    first, last = tl.speech[0], tl.speech[-1]
    assert tl.sleep_fade[0] < last.start
    assert rms(last.end - last.length // 4, last.end) < 0.75 * rms(first.start, first.end)
    from player.audio.mixer import sleep_envelope

    positions = np.array([tl.sleep_fade[0], (tl.sleep_fade[0] + tl.content_end) / 2,
                          tl.content_end])
    assert sleep_envelope(tl, positions).tolist() == pytest.approx([1.0, 0.5, 0.0])
    # ... and the session ends in silence, faded.
    assert np.max(np.abs(audio[-RATE // 10 :])) < 1e-3
    assert rms(len(audio) - 40 * RATE, len(audio) - 35 * RATE) > rms(len(audio) - 5 * RATE,
                                                                      len(audio) - RATE)
