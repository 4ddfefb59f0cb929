"""Worker processes: timeouts, crashes, retries and clean-up, with fake engines that misbehave.

The fake engines (tests/fake_engines.py) run in real worker processes: hangs are real
sleeps, crashes are real ``os._exit(1)``; only the audio is a tone instead of speech.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

import fake_engines
from player.errors import SpeechError
from player.speech import ClipRequest, cache, dsp, synthesize

TIMEOUT = 2.0


def descendants(pid: int | None = None) -> set[int]:
    """All living or zombie descendants of ``pid`` (default: this process), from /proc."""
    pid = os.getpid() if pid is None else pid
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def started_by_us() -> set[int]:
    """Worker processes (and their forked helpers) started on behalf of this process, even
    if an orphan was re-parented away from us: they carry our pid in their command line."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if any(b"_worker_main" in a for a in argv) and me.encode() in argv and state != "Z":
            found.add(int(entry.name))
    return found


@pytest.fixture
def no_leftovers():
    """Fail the test if it leaves any process behind: workers, their espeak helpers (even
    re-parented orphans), zombies. Clean-up is synchronous, so only a short grace."""
    before = descendants() | started_by_us()
    yield
    deadline = time.monotonic() + 0.5
    while (extra := (descendants() | started_by_us()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not extra, f"processes left behind: {sorted(extra)}"


def expected(text: str, sample_rate: int = 48000) -> np.ndarray:
    """The engine's clip as synthesize hands it out: stored in the cache's 16-bit form."""
    made = dsp.process(fake_engines.tone(text, None, 1.0, 1.0), 16000, sample_rate)
    return cache.encode(made).samples


def requests(engine: str, *texts: str) -> list[ClipRequest]:
    return [ClipRequest(t, engine=f"fake_engines:{engine}") for t in texts]


def test_fake_engine_round_trip(no_leftovers):
    clips = synthesize(requests("ToneEngine", "one", "two two"), timeout_s=TIMEOUT)
    assert [c.text for c in clips] == ["one", "two two"]
    for clip in clips:
        assert np.array_equal(clip.samples, expected(clip.text))


def test_transient_hang_is_retried_in_a_fresh_worker(no_leftovers):
    texts = ("first", "please hang here", "third", "fourth")
    started = time.monotonic()
    clips = synthesize(requests("HangOnceEngine", *texts), timeout_s=TIMEOUT, jobs=2)
    elapsed = time.monotonic() - started
    for clip, text in zip(clips, texts):
        assert np.array_equal(clip.samples, expected(text))
    assert fake_engines.calls().count("please hang here") == 2  # hung once, then retried
    assert sorted(set(fake_engines.calls())) == sorted(texts)
    assert TIMEOUT <= elapsed < TIMEOUT + 6


def test_permanent_hang_raises_speech_error_naming_the_text(no_leftovers):
    started = time.monotonic()
    with pytest.raises(SpeechError) as info:
        synthesize(requests("HangAlwaysEngine", "fine", "always hang on this"), timeout_s=TIMEOUT)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert '"always hang on this"' in message
    assert "timed out after 2 s" in message
    assert info.value.hint
    assert fake_engines.calls().count("always hang on this") == 2
    assert elapsed < 2 * TIMEOUT + 6


def test_long_text_is_shortened_in_the_error():
    text = "hang " + "and breathe " * 20
    with pytest.raises(SpeechError) as info:
        synthesize(requests("HangAlwaysEngine", text), timeout_s=0.5)
    assert "…" in str(info.value)
    assert len(str(info.value)) < 120


def test_transient_crash_is_retried(no_leftovers):
    texts = ("alpha", "crash now", "omega")
    clips = synthesize(requests("CrashOnceEngine", *texts), timeout_s=TIMEOUT)
    for clip, text in zip(clips, texts):
        assert np.array_equal(clip.samples, expected(text))
    assert fake_engines.calls().count("crash now") == 2


def test_permanent_crash_reports_exit_code_and_engine_message(no_leftovers):
    with pytest.raises(SpeechError) as info:
        synthesize(requests("CrashAlwaysEngine", "crash every time"), timeout_s=TIMEOUT)
    message = str(info.value)
    assert '"crash every time"' in message
    assert "the engine process died (exit code 1)" in message
    assert "phontab" in message  # the engine's own last words, from the worker's stderr


def test_other_clips_of_a_failing_call_are_kept_in_the_cache(no_leftovers):
    with pytest.raises(SpeechError):
        synthesize(requests("CrashAlwaysEngine", "good one", "crash always"), jobs=1,
                   timeout_s=TIMEOUT)
    # "good one" was made before the failure: the next call takes it from the cache.
    before = fake_engines.calls().count("good one")
    clip = synthesize(requests("CrashAlwaysEngine", "good one"))[0]
    assert fake_engines.calls().count("good one") == before
    assert np.array_equal(clip.samples, expected("good one"))


def test_engine_that_cannot_start_is_reported_at_once(no_leftovers):
    started = time.monotonic()
    with pytest.raises(SpeechError) as info:
        synthesize(requests("BrokenInstallEngine", "hello"), timeout_s=TIMEOUT)
    assert "could not start" in str(info.value)
    assert "fake speech library is not installed" in str(info.value)
    assert time.monotonic() - started < 5


def test_keyboard_interrupt_leaves_no_process_behind(no_leftovers):
    # One worker hangs on its clip while the other finishes one; Ctrl-C arrives (from the
    # progress callback, in the main process) while the hang is still in progress.
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(requests("HangAlwaysEngine", "hang forever", "quick"), jobs=2,
                   timeout_s=30, progress=interrupt)


def test_real_engine_timeout_kills_the_espeak_helper_too(no_leftovers):
    # ~12 minutes of speech takes espeak about a second: far beyond a 0.05 s limit, so the
    # worker is stopped while its forked espeak process is still speaking.
    text = "Breathe in, and breathe out slowly. " * 300
    with pytest.raises(SpeechError) as info:
        synthesize([ClipRequest(text)], timeout_s=0.05)
    assert "timed out after 0.05 s" in str(info.value)


def test_unknown_voice_in_fake_engine_falls_back_once():
    notices = []
    clips = synthesize(
        [ClipRequest(t, engine="fake_engines:ToneEngine", voice="nobody") for t in ("a", "b")],
        notify=notices.append,
    )
    assert notices == ['voice "nobody" is not installed for fake-tone; using the default voice (fake/calm)']
    assert np.array_equal(clips[0].samples, expected("a"))


def test_voice_matching_by_name_and_language():
    by_name, by_lang = synthesize(
        [ClipRequest("x", engine="fake_engines:ToneEngine", voice="Bright"),
         ClipRequest("y", engine="fake_engines:ToneEngine", voice="EN-US")]
    )
    for clip, text in ((by_name, "x"), (by_lang, "y")):
        made = dsp.process(fake_engines.tone(text, "fake/bright", 1.0, 1.0), 16000, 48000)
        bright = cache.encode(made).samples
        assert np.array_equal(clip.samples, bright)


def test_bad_engine_spec_is_an_error():
    with pytest.raises(SpeechError):
        synthesize([ClipRequest("x", engine="no_such_module_here:Engine")])


def test_unknown_engine_name_falls_back_with_a_notice():
    notices = []
    clip = synthesize([ClipRequest("Hello.", engine="no-such-engine")], notify=notices.append)[0]
    assert notices == ['unknown speech engine "no-such-engine"; using pyttsx3']
    assert clip.duration_s > 0.2
