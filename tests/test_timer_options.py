"""`haven timer`'s options (issue 16): --every in minutes, random bells, a preparation delay,
open-ended sits, bell choices, the bed from the first bell to the last, and saved timers.

Bell times are checked in the rendered audio, to the sample: a bell's first sample is exactly
0 and its second is not, and a silent timer renders exact zeros between bells, so the first
non-zero sample after silence is the strike position + 1.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_audio import FakeStream
from player.audio import timeline
from test_cli_play import device, runner  # noqa: F401 - fixtures shared with `haven play` tests
from player.cli.app import main
from player.errors import BadInputError
from player.audio.render import SessionSettings, prepare_script
from player.library.sessions import (
    RANDOM_BELL_CLEARANCE_S,
    TIMER_STRIKE_GAP_S,
    parse_every,
    parse_prepare,
    random_bell_times,
    timer_options,
    timer_script,
)

RATE = 48000
LEAD = int(timeline.LEAD_IN_S * RATE)


def journal_rows():
    from player.journal import Journal

    with Journal.open() as journal:
        return journal.sessions()


def render(script):
    session = prepare_script(script, SessionSettings())
    audio = np.concatenate(list(session.mixer.blocks(65536)))
    return session, audio


def onsets(audio: np.ndarray, quiet: int = RATE // 10) -> list[int]:
    """Positions of the first non-zero sample after at least ``quiet`` samples of exact
    silence (left channel); a ringing bell crosses zero, it is never silent that long."""
    x = audio[:, 0]
    nz = np.flatnonzero(x != 0)
    if not len(nz):
        return []
    gaps = np.diff(np.concatenate([[-quiet - 1], nz]))
    return nz[gaps > quiet].tolist()


def strikes(tl) -> list[int]:
    return sorted(s for bell in tl.bells for s in bell.strikes)


# --- --every ----------------------------------------------------------------------------


def test_every_takes_units_and_a_bare_number_means_minutes():
    assert parse_every("5") == 300.0
    assert parse_every("2.5") == 150.0
    assert parse_every("90s") == 90.0
    assert parse_every("1m30s") == 90.0
    with pytest.raises(BadInputError) as err:
        parse_every("soon")
    assert str(err.value).startswith("--every not a duration")


def test_every_bells_in_the_rendered_audio_to_the_sample():
    session, audio = render(timer_script(200.0, every_s=parse_every("1")))
    expected = [LEAD + k * 60 * RATE for k in range(4)] + [LEAD + 200 * RATE]
    assert strikes(session.timeline) == expected
    assert onsets(audio) == [s + 1 for s in expected]
    assert not np.any(audio[: LEAD + 1])


@pytest.mark.parametrize("args, message", [
    (["timer", "10", "--every", "15"], "Error: --every 15m is longer than the 10m sitting\n"),
    (["timer", "10", "--every", "1s"], "Error: --every must be at least 4 seconds\n"),
    (["timer", "10", "--every", "5", "--random", "2"], "Error: give --every or --random, not both\n"),
    (["timer", "3", "--random", "3"],
     "Error: --random 3: the sitting must be at least 4m long (random bells keep a minute "
     "from each other and from the ends)\n"),
    (["timer", "--random", "2"], "Error: --random needs the sitting's length (MINUTES)\n"),
    (["timer", "10", "--prepare", "30"], "Error: --prepare needs a unit, like 30s or 2m (got '30')\n"),
    (["timer", "10", "--prepare", "11m"], "Error: --prepare must be at most 10m (got 11m)\n"),
    (["timer", "10", "--start-bell", "loud"],
     "Error: --start-bell must be one of none, single, double, triple or a bell sound: no bell "
     "sound 'loud' (built-in: bowl, low-bowl, high-bowl; yours: none yet; or give a file path)\n"),
    (["timer", "10", "--end-bell", "bowl:4"],
     "Error: --end-bell: the count after ':' must be 1, 2 or 3 (got 'bowl:4')\n"),
    (["timer", "--end-bell", "double"],
     "Error: an open-ended sitting has no ending bell: it ends when you press q\n"),
    (["timer", "zazen"],
     "Error: MINUTES: 'zazen' is neither a length (20, 20m, 1h) nor a saved timer "
     "(none saved yet)\n"),
    (["timer", "--save", "Zazen", "20"],
     "Error: --save: a timer's name is lower-case letters, digits and hyphens, starting with "
     "a letter (got 'Zazen')\n"),
])
def test_bad_timer_options_exit_2_with_one_exact_line(runner, device, args, message):
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output == message


# --- random bells -----------------------------------------------------------------------


def test_random_bells_keep_a_minute_apart_and_from_the_ends_in_the_audio():
    script = timer_script(360.0, random_count=3, rng=random.Random(16))
    session, audio = render(script)
    found = strikes(session.timeline)
    assert found[0] == LEAD and found[-1] == LEAD + 360 * RATE and len(found) == 5
    assert all((b - a) >= RANDOM_BELL_CLEARANCE_S * RATE for a, b in zip(found, found[1:]))
    assert all((s - LEAD) % RATE == 0 for s in found)  # whole seconds: exact samples
    assert onsets(audio) == [s + 1 for s in found]
    # Another seed, other times: the bells are not fixed.
    other = timer_script(360.0, random_count=3, rng=random.Random(17))
    from player.audio.timeline import compile_timeline

    assert strikes(compile_timeline(other, lambda r: 0, rate=RATE)) != found


@settings(max_examples=200, deadline=None)
@given(total=st.integers(min_value=1, max_value=4 * 3600), count=st.integers(1, 20),
       seed=st.integers(0, 2**32))
def test_random_bells_property(total, count, seed):
    try:
        times = random_bell_times(float(total), count, random.Random(seed))
    except BadInputError:
        assert total < (count + 1) * RANDOM_BELL_CLEARANCE_S
        return
    assert len(times) == count
    edges = [0.0] + times + [float(total)]
    assert all(b - a >= RANDOM_BELL_CLEARANCE_S for a, b in zip(edges, edges[1:]))


# --- preparation, bell choices, the bed ---------------------------------------------------


def test_prepare_delays_every_bell_and_a_double_start_bell_strikes_twice():
    script = timer_script(120.0, prepare_s=parse_prepare("30s"), start_bell="double",
                          end_bell="triple")
    session, audio = render(script)
    start, end = LEAD + 30 * RATE, LEAD + 150 * RATE
    gap = int(TIMER_STRIKE_GAP_S * RATE)
    assert strikes(session.timeline) == [start, start + gap, end, end + gap, end + 2 * gap]
    assert [c.title for c in session.timeline.chapters] == ["Preparing", "Sitting"]
    assert not np.any(audio[:start + 1])  # silence through the preparation
    assert onsets(audio) == [start + 1, end + 1]
    # The second strike to the sample: the same timer with a single starting bell renders the
    # same samples up to it and different ones from the next sample on (before the limiter).
    single = prepare_script(timer_script(120.0, prepare_s=30.0, end_bell="triple"),
                            SessionSettings())
    a = session.mixer.render(start, 2 * gap)
    b = single.mixer.render(start, 2 * gap) * np.float32(session.mixer.plan.gain
                                                         / single.mixer.plan.gain)
    diff = np.flatnonzero(np.abs(a - b)[:, 0] > 1e-6)
    assert diff[0] == gap + 1


def test_no_bells_at_all_but_a_bed_for_the_sitting():
    script = timer_script(60.0, start_bell="none", end_bell="none", ambient="pink-noise")
    session, audio = render(script)
    assert strikes(session.timeline) == []
    assert [(a.start, a.sound) for a in session.timeline.ambient] == [
        (0, None), (LEAD, "pink-noise"), (LEAD + 60 * RATE, None)]
    assert not np.any(audio[:LEAD + 1]) and np.all(audio[LEAD + 1 : LEAD + 200] != 0)


def test_the_bed_fades_in_at_the_first_bell_and_out_under_the_last():
    bare = prepare_script(timer_script(120.0), SessionSettings())
    with_bed = prepare_script(timer_script(120.0, ambient="brown-noise"), SessionSettings())
    fade = int(timeline.AMBIENT_FADE_S * RATE)
    first, last = LEAD, LEAD + 120 * RATE
    scale = np.float32(bare.mixer.plan.gain / with_bed.mixer.plan.gain)
    for lo, hi, bed_sounds in ((0, first + 1, False), (first + 1, first + RATE, True),
                               (last - RATE, last, True), (last + fade, with_bed.mixer.length, False)):
        diff = with_bed.mixer.render(lo, hi - lo) * scale - bare.mixer.render(lo, hi - lo)
        assert bool(np.any(np.abs(diff) > 1e-6)) == bed_sounds, (lo, hi)


# --- open-ended -----------------------------------------------------------------------


def test_open_ended_sit_counts_up_until_q_and_logs_what_was_sat(runner, device):
    FakeStream.pace = 0.002
    result = runner.invoke(main, ["timer", "--every", "1", "--script-controls", "stop@3.0",
                                  "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Open-ended sitting: 3s practised (stopped with q, completed;")
    (row,) = journal_rows()
    assert row.exercise == "timer" and row.completed
    assert row.practiced_s == pytest.approx(3.05, abs=0.05)


def test_open_ended_script_has_a_starting_bell_and_interval_bells_only():
    from player.audio.timeline import compile_timeline

    tl = compile_timeline(timer_script(None, every_s=1800.0), lambda r: 0, rate=RATE)
    assert strikes(tl) == [LEAD + k * 1800 * RATE for k in range(8)]
    assert tl.length == LEAD + 4 * 3600 * RATE + int(timeline.SILENCE_TAIL_S * RATE)


# --- saved timers ---------------------------------------------------------------------


def test_a_timer_saved_by_name_starts_by_name_and_options_given_win(runner, device):
    result = runner.invoke(main, ["timer", "--save", "zazen", "0.5", "--every", "10s",
                                  "--prepare", "5s", "--start-bell", "double"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Saved timer 'zazen' (30s, bell every 10s, 5s to prepare, start: double) in ")
    assert result.output.endswith("timers.toml. Start it with: haven timer zazen\n")
    assert journal_rows() == []  # saving does not start it
    options = timer_options({"minutes": "zazen", "bells": "0,20s"})
    assert options["every"] is None and options["bells"] == "0,20s"
    assert options["prepare"] == "5s" and options["start_bell"] == "double"
    result = runner.invoke(main, ["timer", "zazen", "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    (row,) = journal_rows()
    assert row.completed and row.practiced_s == pytest.approx(1.5 + 5 + 30 + 9, abs=0.01)
    # A bad combination is refused before anything is saved.
    result = runner.invoke(main, ["timer", "--save", "bad", "1", "--every", "5m"])
    assert result.exit_code == 2 and "longer than the 1m sitting" in result.output
    assert "bad" not in timer_options.__globals__["saved_timers"]()


def test_bell_choices_take_bell_sounds_with_a_count_and_files_of_your_own(runner, device,
                                                                          tmp_path):
    import soundfile

    from player.audio.timeline import compile_timeline

    tl = compile_timeline(timer_script(120.0, start_bell="low-bowl:2", end_bell="high-bowl"),
                          lambda r: 0, rate=RATE)
    assert [(b.sound, len(b.strikes)) for b in tl.bells] == [("low-bowl", 2), ("high-bowl", 1)]
    t = np.arange(3 * RATE) / RATE
    soundfile.write(tmp_path / "gong.wav", 0.2 * np.sin(2 * np.pi * 300 * t) * np.exp(-t), RATE)
    soundfile.write(tmp_path / "creek.wav",
                    0.05 * np.random.default_rng(1).standard_normal((6 * RATE, 2)), RATE)
    result = runner.invoke(main, ["timer", "0.5", "--start-bell", str(tmp_path / "gong.wav"),
                                  "--ambient", str(tmp_path / "creek.wav"), "--quiet",
                                  "--buffer-seconds", "60"])
    assert result.exit_code == 0, result.output
    (row,) = journal_rows()
    assert row.completed


def test_the_display_counts_an_open_ended_sit_up():
    import io

    from rich.console import Console

    from player.audio.display import SessionDisplay, Snapshot

    def shown(open_ended):
        snap = Snapshot(title="Open-ended sitting", section="Sitting", position_s=75.0,
                        length_s=4 * 3600 + 3.5, estimated=False, paused=False, holding=False,
                        seeking=False, preparing=None, volume_db=0.0, caption=None, breath=None,
                        underflows=0, open_ended=open_ended)
        out = io.StringIO()
        Console(file=out, width=100).print(SessionDisplay(enabled=False).render(snap))
        return out.getvalue()

    assert "Sitting   1:15 sat   q to end" in shown(True) and "left" not in shown(True)
    assert "left" in shown(False)
