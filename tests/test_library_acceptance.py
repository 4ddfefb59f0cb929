"""Acceptance of the exercise library and its programs (issue 5), measured on the real thing.

- Every built-in script and program validates, through the same commands a user runs.
- Every built-in script renders, with the real speech engine, at the SHORTEST length its
  elastic parts reach (the cheapest complete render: the whole library in ~25 s of mixing),
  and the render says all of the script's text in order: the timeline's spoken sentences are
  the script's ``say`` texts split into sentences (repeats expanded), and each clip is checked
  against its text (not silent, a length that fits its text at its rate) and against the
  rendered audio at its timeline position (they correlate there, and not 20 ms off).
- ``haven show NAME --json`` lists each script's sections and its reachable range, and fitting
  to either end lands within 1 s of it (through ``compile_timeline`` with the real clip
  lengths; one script also through ``haven render --minutes`` end to end).
- Programs name only built-in exercises, at lengths those exercises can reach, and their
  intentions follow the library's writing rules (``test_builtin_text``).

Speech for the whole library (~790 sentences) takes ~70 s to synthesize on two cores, so the
clips are kept between runs in pytest's cache folder (``.pytest_cache/d/haven-speech``):
they are content-addressed and verified when loaded, so a stale entry is never used.
Measured on two cores shared with other jobs (load ~5): 105 s with the cache warm (56 s of
CPU, so about a minute on an idle machine), 155 s cold. Most of the warm time is the mixer
normalizing every clip (an FFT per clip) once for `haven show` and once for the render.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from player.library import catalog as library, programs
from player.format import model
from player.cli.app import main
from player.errors import FitError
from player.audio.render import SessionSettings, prepare_script, synthesize_speech
from player.speech.text import split_sentences
from player.audio.timeline import compile_timeline, length_range, speech_requests
from test_builtin_text import FORBIDDEN_CLAIMS, MAX_SENTENCE_WORDS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_IDS = sorted(p.stem for p in (ROOT / "scripts").glob("*.yaml"))
PROGRAM_FILES = sorted((ROOT / "programs").glob("*.yaml"))
RATE = 48000

# Real clip lengths per script, filled by the render test and reused by the range test.
LENGTHS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def home(tmp_path_factory, request):
    """One HAVEN_HOME for the module, its speech cache kept between runs when pytest can."""
    home = tmp_path_factory.mktemp("library-home")
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    if cache is not None:
        (home / "cache").symlink_to(cache.mkdir("haven-speech"), target_is_directory=True)
    return home


@pytest.fixture
def library_home(home, monkeypatch):
    monkeypatch.setenv("HAVEN_HOME", str(home))
    return home


def expand(steps):
    """The steps in the order they run, repeats multiplied out."""
    for step in steps:
        if isinstance(step, model.Repeat):
            for _ in range(step.count):
                yield from expand(step.steps)
        else:
            yield step


def said_texts(script: model.Script) -> list[str]:
    return [s for step in expand(script.steps) if isinstance(step, model.Say)
            for s in split_sentences(step.text)]  # fmt: skip


def section_titles(script: model.Script) -> list[str]:
    return [step.title for step in expand(script.steps) if isinstance(step, model.Section)]


def clip_lengths(script: model.Script) -> dict:
    if script.id not in LENGTHS:
        settings = SessionSettings()
        clips = synthesize_speech(speech_requests(script, settings.overrides), settings)
        LENGTHS[script.id] = {r: len(c) for r, c in clips.items()}
    return LENGTHS[script.id]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


# --- validation ----------------------------------------------------------------------------------


def test_every_built_in_script_and_program_validates():
    runner = CliRunner()
    result = runner.invoke(main, ["validate", *map(str, sorted((ROOT / "scripts").glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\nok: ") + result.stdout.startswith("ok: ") == len(SCRIPT_IDS) >= 18
    result = runner.invoke(main, ["program", "validate", *map(str, PROGRAM_FILES)])
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.stdout.splitlines()] == list(map(str, PROGRAM_FILES))


# --- rendering: all of the text, in order ----------------------------------------------------------


@pytest.mark.parametrize("sid", SCRIPT_IDS)
def test_script_renders_and_says_all_its_text_in_order(sid, library_home):
    script = library.load(sid)
    settings = SessionSettings()
    clips = synthesize_speech(speech_requests(script, settings.overrides), settings)
    LENGTHS[sid] = {r: len(c) for r, c in clips.items()}
    shortest, _natural, _longest = length_range(script, LENGTHS[sid].__getitem__, rate=RATE)
    session = prepare_script(script, SessionSettings(minutes=shortest / 60))
    tl = session.timeline
    assert abs(tl.duration_s - shortest) <= 1.0

    # The timeline against the script: every sentence of every `say`, in order, once.
    said = [s for s in tl.speech if s.kind == "say"]
    assert [s.request.text for s in said] == said_texts(script)
    assert [s.start for s in tl.speech] == sorted(s.start for s in tl.speech)

    # The whole session, through the limiter, as rendering and playback consume it.
    mono = np.empty(tl.length, dtype=np.float32)
    pos, peak = 0, 0.0
    for block in session.mixer.blocks(16384):
        mono[pos : pos + len(block)] = block.mean(axis=1)
        peak = max(peak, float(np.max(np.abs(block))))
        pos += len(block)
    assert pos == tl.length and peak <= 1.0 and np.isfinite(mono).all()

    # Each clip against its text, and against the audio where the timeline puts it.
    shift = RATE // 50  # 20 ms
    for event in tl.speech:
        clip = clips[event.request].astype(np.float64)
        text = event.request.text
        assert len(clip) == event.length
        assert np.sqrt(np.mean(clip**2)) > 0.01, (text, "silent clip")
        # Its length fits its text at its rate: speech runs at about 15 characters a second.
        ratio = len(clip) / RATE / ((0.25 + len(text) / 15) / event.request.rate)
        assert 0.45 < ratio < 1.6, (text, ratio)
        here = correlation(mono[event.start : event.start + len(clip)], clip)
        assert here > 0.8, (text, here)
        later = mono[event.start + shift : event.start + shift + len(clip)]
        assert correlation(later, clip[: len(later)]) < here, text


# --- haven show's range, honoured at both ends --------------------------------------------------------


@pytest.mark.parametrize("sid", SCRIPT_IDS)
def test_show_gives_sections_and_a_range_that_minutes_reaches_at_both_ends(sid, library_home):
    result = CliRunner().invoke(main, ["show", sid, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    script = library.load(sid)
    assert data["id"] == sid and data["title"] == script.title
    chapters = [c["title"] for c in data["timeline"]["chapters"]]
    assert chapters == section_titles(script) and len(chapters) >= 2
    shortest, natural, longest = data["shortest_s"], data["natural_s"], data["longest_s"]
    assert shortest < natural < longest
    lengths = clip_lengths(script)
    for end in (shortest, longest):
        fitted = compile_timeline(script, lengths.__getitem__, rate=RATE, minutes=end / 60)
        assert abs(fitted.duration_s - end) <= 1.0, (end, fitted.duration_s)
    for outside in (shortest - 30, longest + 30):
        with pytest.raises(FitError) as info:
            compile_timeline(script, lengths.__getitem__, rate=RATE, minutes=outside / 60)
        assert abs(info.value.shortest_s - shortest) <= 0.01
        assert abs(info.value.longest_s - longest) <= 0.01


def test_render_minutes_honours_both_ends_of_the_shown_range(library_home, tmp_path):
    """End to end for the shortest exercise: `haven render --minutes` at each end of the range."""
    import soundfile as sf

    sid = "three-minute-breathing-space"
    runner = CliRunner()
    data = json.loads(runner.invoke(main, ["show", sid, "--json"]).stdout)
    for end in (data["shortest_s"], data["longest_s"]):
        out = tmp_path / f"{end:.0f}.wav"
        result = runner.invoke(main, ["render", sid, "--minutes", f"{end / 60:.6f}", "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        info = sf.info(out)
        assert info.samplerate == RATE and abs(info.frames / RATE - end) <= 1.0
        out.unlink()
    result = runner.invoke(main, ["render", sid, "--minutes", "1", "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: '{sid}' cannot be fitted to 1 minute: it can run from ")


# --- programs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PROGRAM_FILES, ids=lambda p: p.stem)
def test_programs_use_built_in_exercises_at_lengths_they_reach(path, library_home):
    prog = programs.load_program(path, exercises=set(SCRIPT_IDS))  # built-in ids only
    for week in prog.weeks:
        assert 5 <= len(week.practices) <= 7, week.title  # most days, with a free day or so
        for practice in week.practices:
            for sid in practice.exercises:
                if practice.minutes is None:
                    continue
                script = library.load(sid)
                shortest, _, longest = length_range(script, clip_lengths(script).__getitem__)
                assert shortest + 30 <= practice.minutes * 60 <= longest - 30, (
                    week.title, sid, practice.minutes, shortest / 60, longest / 60)


def test_the_built_in_programs_follow_their_arcs():
    found = {p.stem: programs.load_program(p, exercises=set(SCRIPT_IDS)) for p in PROGRAM_FILES}
    assert len(found["foundations"].weeks) == 4 and len(found["twelve-weeks"].weeks) == 12
    category = {sid: library.load(sid).category for sid in SCRIPT_IDS}

    def exercises(prog, weeks):
        return {x for w in weeks for p in prog.weeks[w - 1].practices for x in p.exercises}

    twelve = found["twelve-weeks"]
    # Weeks 1-4: noticing thoughts, breath and body, and the pull to withdraw; no
    # self-compassion practice yet beyond the steadying ones offered as a choice every week.
    steadying = {"safe-place", "soothing-touch", "here-and-now", "extended-exhale"}
    for week in twelve.weeks:
        assert any(set(p.exercises) == steadying for p in week.practices), week.title
    noticing = exercises(twelve, range(1, 5))
    assert {"mindful-breathing", "body-scan", "thoughts-as-passing-events", "turning-toward"} <= noticing
    assert all(category[x] in ("meditation", "body-scan", "breathing") for x in noticing - steadying)
    # Weeks 5-8: self-compassion every week, and the deeper practices of turning toward.
    for week in range(5, 9):
        assert any(category[x] == "self-compassion" for x in exercises(twelve, [week])), week
    assert {"exploring-a-difficulty", "rain-for-strong-emotions"} <= exercises(twelve, range(5, 9))
    # Weeks 9-12: relationships, reassurance seeking, then a practice of your own choosing.
    assert "loving-kindness" in exercises(twelve, [9])
    assert "riding-the-reassurance-urge" in exercises(twelve, [10]) & exercises(twelve, [11])
    assert any(p.is_choice for p in twelve.weeks[11].practices)
    assert all(category[x] in ("meditation", "body-scan", "breathing")
               for x in exercises(found["foundations"], range(1, 5)))  # fmt: skip


@pytest.mark.parametrize("path", PROGRAM_FILES, ids=lambda p: p.stem)
def test_program_texts_are_plain_warm_and_claim_nothing(path):
    prog = programs.load_program(path, exercises=set(SCRIPT_IDS))
    texts = [prog.title, prog.summary] + [t for w in prog.weeks for t in (w.title, w.intention)]
    for text in texts:
        assert not FORBIDDEN_CLAIMS.search(text), text
        # Invitations, not orders ("you do not have to" is fine).
        assert not re.search(r"\b(must|should)\b|(?<!not )\bhave to\b", text, re.IGNORECASE), text
        for sentence in split_sentences(text):
            assert len(sentence.split()) <= MAX_SENTENCE_WORDS, sentence
    for week in prog.weeks:
        assert 25 <= len(week.intention.split()) <= 80, week.title
    assert len({w.title for w in prog.weeks}) == len(prog.weeks)
