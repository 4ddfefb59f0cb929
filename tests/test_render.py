"""Rendering built-in exercises, measured by numbers (issue 2's acceptance).

Each core built-in is rendered once per test session (module fixture) with the real speech
engine; the tests then measure the file: words in order, breathing phase positions, loudness,
true peak, and the largest sample-to-sample jump at every join.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from player.library import catalog as library
from player.audio import loudness, timeline
from player.format import model
from player.audio.mixer import Mixer
from player.audio.render import SessionSettings, prepare_session, render_to_file
from player.speech.text import split_sentences

CORE = ["three-minute-breathing-space", "coherent-breathing", "self-compassion-break"]
RATE = 48000


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("render-home")


@pytest.fixture(scope="module")
def rendered(home, tmp_path_factory):
    """Render each core built-in once: name -> (session, samples)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HAVEN_HOME", str(home))
    out = {}
    folder = tmp_path_factory.mktemp("renders")
    try:
        for name in CORE:
            session = prepare_session(name, SessionSettings())
            path = folder / f"{name}.wav"
            render_to_file(session, path)
            samples, rate = sf.read(path, dtype="float32", always_2d=True)
            assert rate == RATE
            out[name] = (session, samples, path)
    finally:
        mp.undo()
    return out


def said_texts(steps) -> list[str]:
    texts = []
    for step in steps:
        if isinstance(step, model.Say):
            texts.extend(split_sentences(step.text))
        elif isinstance(step, model.Repeat):
            for _ in range(step.count):
                texts.extend(said_texts(step.steps))
    return texts


@pytest.mark.parametrize("name", CORE)
def test_length_and_format(rendered, name):
    session, samples, path = rendered[name]
    assert samples.shape == (session.timeline.length, 2)
    info = sf.info(path)
    assert info.subtype == "FLOAT" and info.samplerate == RATE and info.channels == 2


@pytest.mark.parametrize("name", CORE)
def test_spoken_words_are_the_scripts_words_in_order(rendered, name):
    session, samples, _ = rendered[name]
    script = session.script
    events = [s for s in session.timeline.speech if s.kind == "say"]
    assert [s.request.text for s in events] == said_texts(script.steps)
    words = lambda text: re.findall(r"[a-z']+", text.lower())  # noqa: E731
    assert sum((words(s.request.text) for s in events), []) == sum(
        (words(t) for t in said_texts(script.steps)), [])
    # Each sentence's clip really sounds at its place in the file: the rendered audio there
    # correlates strongly with the clip (tones and beds underneath are much quieter).
    mono = samples.mean(axis=1).astype(np.float64)
    clips = session.mixer._clips
    for event in events:
        clip = np.asarray(clips[event.request], dtype=np.float64)
        segment = mono[event.start : event.start + len(clip)]
        corr = np.dot(segment, clip) / (np.linalg.norm(segment) * np.linalg.norm(clip))
        assert corr > 0.9, (event.request.text, corr)
        # ... and not a few milliseconds off: shifting by 1 ms loses the match.
        shifted = mono[event.start + 48 : event.start + 48 + len(clip)]
        corr_shift = np.dot(shifted, clip) / (np.linalg.norm(shifted) * np.linalg.norm(clip))
        assert corr_shift < corr


def pattern_boundaries(step: model.Breathe, start: int, scale: float) -> list[tuple[int, str]]:
    """Where the pattern itself puts each phase, computed independently of the timeline."""
    cycles = timeline.breathe_cycles(step, scale)
    result = []
    t = Fraction(0)
    for c in range(cycles):
        if step.ramp_to is None:
            pattern = step.pattern
            phases = [(k, Fraction(str(s))) for k, s in pattern.phases()]
        else:
            frac = Fraction(c, max(cycles - 1, 1))
            phases = []
            for k in ("inhale", "inhale2", "hold", "exhale", "hold_out"):
                a = Fraction(str(getattr(step.pattern, k)))
                b = Fraction(str(getattr(step.ramp_to, k)))
                if a + (b - a) * frac > 0:
                    phases.append((k, a + (b - a) * frac))
        for kind, seconds in phases:
            result.append((start + round(t * RATE), kind))
            t += seconds
    return result


def breathe_steps(steps):
    for step in steps:
        if isinstance(step, model.Breathe):
            yield step
        elif isinstance(step, model.Repeat):
            for _ in range(step.count):
                yield from breathe_steps(step.steps)


@pytest.mark.parametrize("name", CORE)
def test_breathing_phases_start_where_the_pattern_puts_them(rendered, name):
    session, samples, _ = rendered[name]
    steps = list(breathe_steps(session.script.steps))
    assert len(steps) == len(session.timeline.breaths)
    for step, event in zip(steps, session.timeline.breaths):
        expected = pattern_boundaries(step, event.start, session.timeline.scale)
        got = [(p.start, p.kind) for p in event.phases]
        assert [k for _, k in got] == [k for _, k in expected]
        worst = max(abs(a - b) for (a, _), (b, _) in zip(got, expected))
        assert worst <= RATE // 1000  # within 1 ms


def inhale_midpoints_from_audio(samples, event, settings, rate=RATE):
    """Measure, in the rendered audio, when each inhale's pitch glide passes its midpoint."""
    from scipy.signal import butter, hilbert, sosfiltfilt

    mono = samples.mean(axis=1).astype(np.float64)
    sos = butter(4, [settings.low_hz * 0.8, settings.high_hz * 1.25], btype="band", fs=rate,
                 output="sos")
    found = []
    for phase in event.phases:
        if phase.kind != "inhale" or phase.end - phase.start < rate:
            continue
        a, b = phase.start - rate // 4, phase.end + rate // 4
        seg = sosfiltfilt(sos, mono[a:b])
        inst = np.unwrap(np.angle(hilbert(seg)))
        freq = np.diff(inst) * rate / (2 * np.pi)
        # Average over 10 ms windows to beat down noise; the glide is smooth.
        win = rate // 100
        smooth = np.convolve(freq, np.ones(win) / win, mode="same")
        mid_f = (settings.low_hz + settings.high_hz) / 2
        centre = (phase.start + phase.end) // 2 - a
        lo, hi = centre - rate // 2, centre + rate // 2
        idx = np.nonzero(np.diff(np.sign(smooth[lo:hi] - mid_f)) > 0)[0]
        if len(idx) != 1:
            continue  # speech or a bell over this glide: not measurable cleanly
        i = lo + idx[0]
        frac = (mid_f - smooth[i]) / (smooth[i + 1] - smooth[i])
        found.append((a + i + frac, (phase.start + phase.end) / 2))
    return found


def test_tone_glides_in_the_audio_are_centred_on_the_phases(rendered):
    """The pacer's inhale glides cross mid-pitch exactly half-way through each inhale."""
    session, samples, _ = rendered["coherent-breathing"]
    measured = []
    for event in session.timeline.breaths:
        if event.with_tones:
            measured += inhale_midpoints_from_audio(samples, event, event.tones)
    assert len(measured) >= 5
    errors_ms = [abs(got - want) / RATE * 1000 for got, want in measured]
    assert max(errors_ms) < 1.0, errors_ms


@pytest.mark.parametrize("name", CORE)
def test_loudness_and_true_peak(rendered, name):
    import pyloudnorm
    from scipy.signal import resample_poly

    session, samples, _ = rendered[name]
    measured = pyloudnorm.Meter(RATE).integrated_loudness(samples.astype(np.float64))
    assert abs(measured - (-18.0)) <= 1.0, measured
    # True peak measured independently of the limiter's own detector: 4x oversampling.
    over = resample_poly(samples.astype(np.float64), 4, 1, axis=0)
    true_peak = 20 * np.log10(np.max(np.abs(over)))
    assert true_peak <= -1.0, true_peak
    assert loudness.true_peak_dbtp(samples, RATE) <= -1.0


def joins(tl) -> list[int]:
    """Every sample position where something starts or stops."""
    points = set()
    for s in tl.speech:
        points.update((s.start, s.end))
    for b in tl.breaths:
        points.update(p.start for p in b.phases)
        points.add(b.end)
    for bell in tl.bells:
        points.update(bell.strikes)
    for a in tl.ambient:
        points.add(a.start)
    if tl.fade_out:
        points.add(tl.length - tl.fade_out)
    # Block boundaries need no check here: test_blocks_do_not_depend_on_block_size shows the
    # output is bit-identical whatever the block size, so a boundary cannot add anything.
    return sorted(p for p in points if 0 < p < tl.length - 1)


@pytest.mark.parametrize("name", CORE)
def test_no_jump_at_any_join_beyond_what_the_signal_contains(rendered, name):
    session, samples, _ = rendered[name]
    x = samples.astype(np.float64)
    diff = np.abs(np.diff(x, axis=0)).max(axis=1)
    near, around = 48, 4800  # 1 ms at the join, 100 ms of context either side
    worst = 0.0
    for j in joins(session.timeline):
        at = diff[max(0, j - near) : j + near].max()
        context = np.concatenate(
            (diff[max(0, j - around) : max(0, j - near)], diff[j + near : j + around])
        )
        if context.size == 0:
            continue
        ratio = at / max(context.max(), 1e-6)
        worst = max(worst, ratio if at > 1e-4 else 0.0)
        assert at <= context.max() * 1.05 + 1e-4, (j, at, context.max())
    assert worst < 1.06


def test_voice_above_tones_above_ambient(home, monkeypatch):
    monkeypatch.setenv("HAVEN_HOME", str(home))
    session = prepare_session("coherent-breathing", SessionSettings(
        overrides=timeline.Overrides(ambient="pink-noise")))
    plan = session.mixer.plan
    mixer = session.mixer
    tl = session.timeline
    rate = tl.rate
    # Loudness of each source alone, measured on its own audio.
    speech = [s for s in tl.speech if s.kind == "say"]
    voice = np.concatenate([mixer._clips[s.request] for s in speech]) * mixer._voice_amp
    tone = mixer._tracks[0]
    tone_audio = tone.render(tone.start, tone.end - tone.start) * mixer._tone_amps[0]
    layer = mixer._layers[0]
    bed = layer[5].render(0, 20 * rate) * layer[4]
    lv = loudness.integrated_loudness(voice.astype(np.float64), rate)
    lt = loudness.integrated_loudness(tone_audio.astype(np.float64), rate)
    la = loudness.integrated_loudness(bed.astype(np.float64)[:, 0], rate)
    assert lv - lt >= 6, (lv, lt)
    assert lt - la >= 6, (lt, la)
    assert plan.target_lufs == -18.0


def test_same_settings_same_bytes(home, monkeypatch, tmp_path):
    monkeypatch.setenv("HAVEN_HOME", str(home))
    for suffix in (".wav", ".flac"):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        render_to_file(prepare_session("self-compassion-break", SessionSettings()), a)
        render_to_file(prepare_session("self-compassion-break", SessionSettings()), b)
        assert a.read_bytes() == b.read_bytes()


def test_blocks_do_not_depend_on_block_size(rendered):
    session, samples, _ = rendered["three-minute-breathing-space"]
    mixer = session.mixer
    for block in (1000, 4096):
        joined = np.concatenate(list(mixer.blocks(block)))
        assert np.array_equal(joined, samples), block
    # The unlimited mix is a pure function of position as well.
    a = mixer.render(123_457, 50_000)
    b = np.concatenate([mixer.render(123_457, 7), mixer.render(123_464, 49_993)])
    assert np.array_equal(a, b)


def test_wav_carries_sections_as_cue_chapters(rendered):
    session, _, path = rendered["three-minute-breathing-space"]
    data = path.read_bytes()
    assert b"cue " in data and b"adtl" in data
    for chapter in session.timeline.chapters:
        assert chapter.title.encode() in data
    sf.info(path)  # still a valid WAV for libsndfile


def test_fade_ending_fades_to_silence(home, monkeypatch, tmp_path):
    monkeypatch.setenv("HAVEN_HOME", str(home))
    path = tmp_path / "fade.yaml"
    path.write_text(
        "title: Fade\nending: fade\nambient: {sound: brown-noise, level_db: -20}\n"
        "steps:\n  - say: Rest now.\n  - pause: 30\n"
    )
    session = prepare_session(str(path), SessionSettings())
    out = np.concatenate(list(session.mixer.blocks()))
    tail = out[-RATE // 10 :]
    assert np.max(np.abs(tail)) < 1e-3
    fade_start = session.timeline.length - session.timeline.fade_out
    before = np.sqrt(np.mean(out[fade_start - RATE : fade_start] ** 2))
    middle = np.sqrt(np.mean(out[fade_start + 9 * RATE : fade_start + 11 * RATE] ** 2))
    assert middle < before * 0.8  # fading well under way half-way through the fade
