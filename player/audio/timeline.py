"""Compile a loaded script into a timeline: ordered events at integer sample positions.

Every position is an integer number of samples from the session start. Durations are
converted once, per step, with exact rational arithmetic, so nothing drifts however long the
session is. Elastic parts (pauses, ``after`` silences, breathing given with ``for``) are
scaled by one factor to fit ``--minutes``; spoken text and fixed parts keep their length.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Sequence

from player.format import model
from player.format.durations import spelled_length
from player.errors import FitError

# Silence before the first step, so the voice never starts on the first sample.
LEAD_IN_S = Fraction(3, 2)
# Silence between sentences of one `say` (not elastic: it is part of how the text is spoken).
SENTENCE_GAP_S = Fraction(7, 10)
# Silence after a `say` that has no `after` (not elastic).
DEFAULT_AFTER_S = Fraction(1)
# Time a bell step occupies after its last strike before the next step starts; the ring
# itself carries on underneath what follows.
BELL_SETTLE_S = Fraction(3)
# Length of the closing bell's ring that the session waits for with `ending: bell`.
CLOSING_BELL_RING_S = Fraction(9)
# Quiet tail with `ending: silence` so the end does not feel cut off.
SILENCE_TAIL_S = Fraction(2)
# `ending: fade` fades everything out over this final stretch.
FADE_OUT_S = Fraction(20)
# Ambient beds fade in and out, and cross-fade on changes, over this long.
AMBIENT_FADE_S = Fraction(3)
# Spoken breathing cues are given for the first this-many cycles of a `voice`/`both` step.
VOICE_CUE_CYCLES = 3
# Elastic parts may shrink to a quarter or grow to four times (the script format spec).
MIN_SCALE = 0.25
MAX_SCALE = 4.0
# Bedtime (``Overrides.sleep``): a slower voice, voice and tones fading over the last third of
# the guided part, no closing bell, and the ambient bed carrying on for ``tail_s`` before it
# fades to silence over SLEEP_BED_FADE_S.
SLEEP_VOICE_RATE = 0.9
SLEEP_TAIL_S = 600.0
SLEEP_BED_FADE_S = Fraction(30)
# Estimating a clip's length from its text (used to plan loudness before any speech exists):
# fitted on the built-in library with espeak-ng, ~7 % error per sentence, ~0 % in total.
ESTIMATE_BASE_S = 0.227
ESTIMATE_PER_CHAR_S = 0.0535
ESTIMATE_PER_PAUSE_MARK_S = 0.273

CUE_WORDS = {
    "inhale": "in",
    "inhale2": "and a little more",
    "hold": "hold",
    "exhale": "out",
    "hold_out": "hold",
}


@dataclass(frozen=True)
class SpeechRequest:
    """What to say and with which voice; the key for synthesis and caching."""

    text: str
    engine: str | None = None
    voice: str | None = None
    rate: float = 1.0
    volume: float = 1.0
    # The pronunciations (model.Pronunciation) of words in ``text``: only those, so editing
    # another word's entry keys no other clip anew.
    lexicon: tuple[model.Pronunciation, ...] = ()
    language: str | None = None  # the script's ``language:``: chooses the voice (speech)


@dataclass(frozen=True)
class SpeechEvent:
    start: int
    length: int
    request: SpeechRequest
    kind: str  # "say", "cue" or "guide" (a line spoken over a breathe step's pacer)
    at: str | None = None  # "guide": where in the breathing, like "cycle 3 exhale"

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class BreathPhase:
    start: int
    end: int
    kind: str  # inhale | inhale2 | hold | exhale | hold_out
    cycle: int


@dataclass(frozen=True)
class BreatheEvent:
    start: int
    end: int
    phases: tuple[BreathPhase, ...]
    pattern: str  # label of the first cycle's pattern
    ramp_to: str | None
    cues: str
    tones: model.ToneSettings

    @property
    def with_tones(self) -> bool:
        return self.cues in ("tones", "both")


@dataclass(frozen=True)
class BellEvent:
    strikes: tuple[int, ...]  # sample position of each strike
    closing: bool = False
    sound: str | None = None  # None: Haven's bowl (see player.audio.sounds)

    @property
    def start(self) -> int:
        return self.strikes[0]


@dataclass(frozen=True)
class AmbientEvent:
    start: int
    sound: str | None
    level_db: float


@dataclass(frozen=True)
class Chapter:
    start: int
    title: str


@dataclass(frozen=True)
class Timeline:
    """A compiled session: everything the mixer and the display need, in samples."""

    rate: int
    length: int
    speech: tuple[SpeechEvent, ...]
    breaths: tuple[BreatheEvent, ...]
    bells: tuple[BellEvent, ...]
    ambient: tuple[AmbientEvent, ...]
    chapters: tuple[Chapter, ...]
    ending: str
    fade_out: int  # samples of the final fade (0 unless ending is fade)
    scale: float  # factor applied to elastic parts
    title: str = ""
    script_id: str = ""
    category: str | None = None
    # Bedtime only: voice, tones and bells fade out over [start, end) (the guided part's last
    # third); the ambient bed's final fade-out lasts ``bed_fade_out`` samples (0: AMBIENT_FADE_S)
    # and ends with the session; ``content_end`` is where the guided part ends.
    sleep_fade: tuple[int, int] | None = None
    bed_fade_out: int = 0
    content_end: int = 0
    levels: model.Levels = model.Levels()  # the listener's levels (Overrides.levels)
    # One line each, located in the script: lines over a pacer that run past its end or into
    # each other (``haven show`` and ``render`` say them).
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.length / self.rate

    def chapter_at(self, position: int) -> int:
        """Index of the chapter playing at ``position`` (-1 before the first)."""
        index = -1
        for i, chapter in enumerate(self.chapters):
            if chapter.start <= position:
                index = i
            else:
                break
        return index

    def to_json(self) -> dict:
        """A plain, stable description used by golden files and ``haven show --json``."""
        return {
            "rate": self.rate,
            "length": self.length,
            "scale": round(self.scale, 6),
            "ending": self.ending,
            "fade_out": self.fade_out,
            "chapters": [{"start": c.start, "title": c.title} for c in self.chapters],
            "speech": [
                {
                    "start": s.start,
                    "length": s.length,
                    "kind": s.kind,
                    "text": s.request.text,
                    "rate": s.request.rate,
                    "volume": s.request.volume,
                }
                | ({"at": s.at} if s.at is not None else {})
                for s in self.speech
            ],
            "breaths": [
                {
                    "start": b.start,
                    "end": b.end,
                    "pattern": b.pattern,
                    "ramp_to": b.ramp_to,
                    "cues": b.cues,
                    "cycles": (b.phases[-1].cycle + 1) if b.phases else 0,
                    "phases": [[p.start, p.kind] for p in b.phases],
                }
                for b in self.breaths
            ],
            "bells": [
                {"strikes": list(b.strikes), "closing": b.closing}
                | ({"sound": b.sound} if b.sound is not None else {})
                for b in self.bells
            ],
            "ambient": [
                {"start": a.start, "sound": a.sound, "level_db": a.level_db} for a in self.ambient
            ],
        } | (
            {"sleep_fade": list(self.sleep_fade), "bed_fade_out": self.bed_fade_out,
             "content_end": self.content_end}
            if self.sleep_fade is not None
            else {}
        ) | ({"levels": dataclasses.asdict(self.levels)} if self.levels != model.Levels() else {})


@dataclass(frozen=True)
class Overrides:
    """Session choices that change what is spoken or heard (from the CLI or the config)."""

    engine: str | None = None
    voice: str | None = None
    speed: float = 1.0  # speaking speed: multiplies every voice rate in the script
    ambient: str | None = None  # a sound name, "none", or None for the script's own
    ambient_level_db: float | None = None
    sleep: bool = False  # bedtime: see SLEEP_* above
    tail_s: float = SLEEP_TAIL_S  # bedtime: how long the bed carries on after the guided part
    levels: model.Levels = model.Levels()  # voice, tones, bells and bed levels (config, keys)
    # The user's pronunciations (``[lexicon]`` in config.toml); a script's own entries win.
    lexicon: tuple[model.Pronunciation, ...] = ()


@dataclass
class _Walk:
    """Mutable state of one pass over the steps at a given elastic scale."""

    rate: int
    scale: float  # elastic breathing (whole cycles)
    pause_scale: float  # continuous elastic parts (pauses, after)
    clip_length: Callable[[SpeechRequest], int]
    cursor: int = 0
    speech: list = field(default_factory=list)
    breaths: list = field(default_factory=list)
    bells: list = field(default_factory=list)
    ambient: list = field(default_factory=list)
    chapters: list = field(default_factory=list)
    fixed: int = 0  # samples that do not scale
    elastic: int = 0  # samples that scale continuously (pauses, after)
    breathing: int = 0  # samples of elastic breathing (scale in whole cycles)
    lexicon: tuple = ()  # session_lexicon()
    warnings: list = field(default_factory=list)

    def samples(self, seconds) -> int:
        return int(round(Fraction(seconds) * self.rate))


def _fraction(value: float) -> Fraction:
    """Exact rational for a float given in a script (e.g. 5.5 -> 11/2, 0.1 -> 1/10)."""
    return Fraction(str(value)) if not isinstance(value, Fraction) else value


def cycle_patterns(step: model.Breathe, cycles: int) -> list[model.Pattern]:
    """The pattern of each cycle, ramping linearly to ``ramp_to`` over the cycles."""
    if step.ramp_to is None or cycles == 1:
        return [step.pattern] * cycles
    start, end = step.pattern, step.ramp_to
    result = []
    for i in range(cycles):
        t = Fraction(i, cycles - 1)
        values = {}
        for name in ("inhale", "inhale2", "hold", "exhale", "hold_out"):
            a, b = _fraction(getattr(start, name)), _fraction(getattr(end, name))
            values[name] = a + (b - a) * t
        result.append(model.Pattern(**values))
    return result


def _pattern_seconds(patterns: Sequence[model.Pattern]) -> Fraction:
    return sum((sum(_fraction(s) for _, s in p.phases()) for p in patterns), Fraction(0))


def breathe_cycles(step: model.Breathe, scale: float) -> int:
    """Whole cycles for a breathe step: ``cycles`` as given, or ``for`` scaled and rounded."""
    if step.cycles is not None:
        return step.cycles
    # A line spoken over the pacer keeps its cycle however short --minutes makes the step.
    least = max([1] + [line.cycle for line in step.say])
    target = _fraction(step.for_s) * _fraction(scale)
    if step.ramp_to is None:
        return max(least, int(round(target / _fraction(step.pattern.cycle_s))))
    # With a linear ramp over n >= 2 cycles the total is n times the mean of the first and
    # last cycle, so the count follows directly.
    mean = (_fraction(step.pattern.cycle_s) + _fraction(step.ramp_to.cycle_s)) / 2
    return max(least, int(round(target / mean)))


def session_lexicon(script: model.Script, overrides: Overrides) -> tuple[model.Pronunciation, ...]:
    """The pronunciations a session uses: the user's, with the script's entries over them."""
    from player.format.lexicon import merge

    return merge(overrides.lexicon, script.lexicon)


def speech_requests_for(
    text: str, voice: model.Voice, overrides: Overrides, rate=None, volume=None,
    lexicon: tuple[model.Pronunciation, ...] = (),
) -> list[SpeechRequest]:
    """One request per sentence, with the voice settings and the pronunciations
    (``session_lexicon``, of which each sentence keeps the entries it uses) that shape it."""
    from player.speech.text import lexicon_for, split_sentences

    effective_rate = (rate if rate is not None else voice.rate) * overrides.speed
    if overrides.sleep:
        effective_rate *= SLEEP_VOICE_RATE
    effective_volume = volume if volume is not None else voice.volume
    return [
        SpeechRequest(
            text=sentence,
            engine=overrides.engine or voice.engine,
            voice=overrides.voice or voice.name,
            rate=round(effective_rate, 4),
            volume=round(effective_volume, 4),
            lexicon=lexicon_for(sentence, lexicon),
            language=voice.language,
        )
        for sentence in split_sentences(text)
    ]


def speech_requests(script: model.Script, overrides: Overrides = Overrides()) -> list[SpeechRequest]:
    """Every distinct clip a script needs, in order of first use (for synthesis ahead of time)."""
    seen: dict[SpeechRequest, None] = {}
    lexicon = session_lexicon(script, overrides)

    def visit(steps: Iterable[model.Step]) -> None:
        for step in steps:
            if isinstance(step, model.Say):
                for req in speech_requests_for(
                    step.text, script.voice, overrides, step.rate, step.volume, lexicon
                ):
                    seen.setdefault(req, None)
            elif isinstance(step, model.Breathe):
                kinds = {k for k, _ in step.pattern.phases()}
                if step.ramp_to is not None:
                    kinds |= {k for k, _ in step.ramp_to.phases()}
                for kind in ("inhale", "inhale2", "hold", "exhale", "hold_out"):
                    if kind in kinds and step.cues in ("voice", "both"):
                        for req in speech_requests_for(
                            CUE_WORDS[kind], script.voice, overrides, lexicon=lexicon
                        ):
                            seen.setdefault(req, None)
                for line in step.say:
                    for req in speech_requests_for(
                        line.text, script.voice, overrides, lexicon=lexicon
                    ):
                        seen.setdefault(req, None)
            elif isinstance(step, model.Repeat):
                visit(step.steps)

    visit(script.steps)
    return list(seen)


def _walk(
    script: model.Script, overrides: Overrides, w: _Walk, steps: Iterable[model.Step]
) -> None:
    for step in steps:
        if isinstance(step, model.Say):
            requests = speech_requests_for(
                step.text, script.voice, overrides, step.rate, step.volume, w.lexicon
            )
            for i, req in enumerate(requests):
                if i:
                    gap = w.samples(SENTENCE_GAP_S)
                    w.cursor += gap
                    w.fixed += gap
                length = w.clip_length(req)
                w.speech.append(SpeechEvent(w.cursor, length, req, "say"))
                w.cursor += length
                w.fixed += length
            if step.after is None:
                gap = w.samples(DEFAULT_AFTER_S)
                w.fixed += gap
            else:
                gap = w.samples(_fraction(step.after) * _fraction(w.pause_scale))
                w.elastic += gap
            w.cursor += gap
        elif isinstance(step, model.Pause):
            if step.fixed:
                gap = w.samples(_fraction(step.seconds))
                w.fixed += gap
            else:
                gap = w.samples(_fraction(step.seconds) * _fraction(w.pause_scale))
                w.elastic += gap
            w.cursor += gap
        elif isinstance(step, model.Breathe):
            _walk_breathe(script, overrides, w, step)
        elif isinstance(step, model.Bell):
            gap = w.samples(_fraction(step.gap))
            strikes = tuple(w.cursor + i * gap for i in range(step.strikes))
            w.bells.append(BellEvent(strikes, sound=step.sound))
            used = (step.strikes - 1) * gap + w.samples(BELL_SETTLE_S)
            w.cursor += used
            w.fixed += used
        elif isinstance(step, model.Section):
            w.chapters.append(Chapter(w.cursor, step.title))
        elif isinstance(step, model.AmbientChange):
            if overrides.ambient is not None:
                continue  # the listener chose a bed for the whole session
            current = w.ambient[-1] if w.ambient else AmbientEvent(0, None, script.ambient.level_db)
            level = step.level_db if step.level_db is not None else current.level_db
            w.ambient.append(AmbientEvent(w.cursor, step.sound, level))
        elif isinstance(step, model.Repeat):
            for _ in range(step.count):
                _walk(script, overrides, w, step.steps)
        else:  # pragma: no cover - the loader only builds the types above
            raise TypeError(f"unknown step {step!r}")


def _walk_breathe(script: model.Script, overrides: Overrides, w: _Walk, step: model.Breathe):
    cycles = breathe_cycles(step, w.scale)
    patterns = cycle_patterns(step, cycles)
    start = w.cursor
    phases: list[BreathPhase] = []
    # Where each phase of each cycle starts, for lines spoken over the pacer: (cycle, kind),
    # and (cycle, None) for the cycle's start. A phase of length 0 starts where the next does.
    starts: dict[tuple[int, str | None], int] = {}
    offset = Fraction(0)  # exact seconds from the step start
    for c, pattern in enumerate(patterns):
        starts[c, None] = start + w.samples(offset)
        for kind in ("inhale", "inhale2", "hold", "exhale", "hold_out"):
            seconds = getattr(pattern, kind)
            a = start + w.samples(offset)
            starts[c, kind] = a
            if not seconds > 0:
                continue
            offset += _fraction(seconds)
            b = start + w.samples(offset)
            phases.append(BreathPhase(a, b, kind, c))
            if step.cues in ("voice", "both") and c < VOICE_CUE_CYCLES:
                for req in speech_requests_for(
                    CUE_WORDS[kind], script.voice, overrides, lexicon=w.lexicon
                ):
                    w.speech.append(SpeechEvent(a, w.clip_length(req), req, "cue"))
    end = start + w.samples(offset)
    spoken_until = _walk_breathe_lines(script, overrides, w, step, starts, end)
    tones = step.tones or script.tones
    w.breaths.append(
        BreatheEvent(
            start,
            end,
            tuple(phases),
            step.pattern.label(),
            step.ramp_to.label() if step.ramp_to else None,
            step.cues,
            tones,
        )
    )
    used = end - start
    if step.cycles is None:
        w.breathing += used
    else:
        w.fixed += used
    # A line that runs past the breathing holds the next step back (never the tones).
    w.fixed += max(0, spoken_until - end)
    w.cursor = max(end, spoken_until)


def _walk_breathe_lines(script, overrides, w: _Walk, step: model.Breathe, starts, end) -> int:
    """Place the step's ``say`` lines, each starting on the sample its phase starts; returns
    where the last one ends. A line running past the step's end, or into the next line, is
    noted in ``w.warnings``."""
    spoken_until = 0
    previous = None
    for line in step.say:
        at = starts.get((line.cycle - 1, line.phase))
        if at is None:  # pragma: no cover - breathe_cycles keeps every line's cycle
            continue
        if previous is not None and at < previous[0]:
            _warn(w, line, f"'{line.at}' starts while the line at '{previous[1].at}' is still "
                           "being spoken; place it later")  # fmt: skip
        cursor = at
        for i, req in enumerate(speech_requests_for(
            line.text, script.voice, overrides, lexicon=w.lexicon
        )):  # fmt: skip
            if i:
                cursor += w.samples(SENTENCE_GAP_S)
            length = w.clip_length(req)
            w.speech.append(SpeechEvent(cursor, length, req, "guide", at=line.at))
            cursor += length
        if cursor > end:
            _warn(w, line, f"the line at '{line.at}' takes {(cursor - at) / w.rate:.1f}s but the "
                           f"breathing ends {(end - at) / w.rate:.1f}s after it starts; the next "
                           "step waits for it (place it earlier or shorten it)")  # fmt: skip
        previous = (cursor, line)
        spoken_until = max(spoken_until, cursor)
    return spoken_until


def _warn(w: _Walk, line: model.BreatheLine, message: str) -> None:
    where = line.where
    place = ":".join(str(x) for x in (where.file, where.line) if x is not None)
    path = f"{where.path}: " if where.path else ""
    text = f"{place}: {path}{message}" if place else f"{path}{message}"
    if text not in w.warnings:
        w.warnings.append(text)


def _compile_at(
    script: model.Script,
    clip_length: Callable[[SpeechRequest], int],
    rate: int,
    scale: float,
    overrides: Overrides,
    pause_scale: float | None = None,
) -> Timeline:
    w = _Walk(
        rate=rate,
        scale=scale,
        pause_scale=scale if pause_scale is None else pause_scale,
        clip_length=clip_length,
        lexicon=session_lexicon(script, overrides),
    )
    w.cursor = w.samples(LEAD_IN_S)
    w.fixed += w.cursor
    sound, level = script.ambient.sound, script.ambient.level_db
    if overrides.ambient is not None:
        sound = None if overrides.ambient == "none" else overrides.ambient
    if overrides.ambient_level_db is not None:
        level = overrides.ambient_level_db
    w.ambient.append(AmbientEvent(0, sound, level))
    _walk(script, overrides, w, script.steps)

    # Let any ringing bell or trailing speech finish before the ending.
    content_end = max(
        [w.cursor]
        + [s.end for s in w.speech]
        + [b.end for b in w.breaths]
    )
    ending = script.ending
    fade_out = 0
    sleep_fade = None
    bed_fade_out = 0
    if overrides.sleep:
        # Bedtime: the guided part fades over its last third, no closing bell, and a bed that
        # is still playing carries on for the tail, then fades to silence; nothing else sounds.
        third = content_end // 3
        sleep_fade = (content_end - third, content_end)
        if w.ambient[-1].sound is not None:
            bed_fade_out = w.samples(SLEEP_BED_FADE_S)
            length = content_end + max(w.samples(_fraction(overrides.tail_s)), bed_fade_out)
        else:
            length = content_end + w.samples(SILENCE_TAIL_S)
    elif ending == "bell":
        strike = content_end + w.samples(1)
        w.bells.append(BellEvent((strike,), closing=True))
        length = strike + w.samples(CLOSING_BELL_RING_S)
    elif ending == "fade":
        fade_out = w.samples(FADE_OUT_S)
        length = content_end + w.samples(2)
        fade_out = min(fade_out, length)
    else:
        length = content_end + w.samples(SILENCE_TAIL_S)
    # A bell struck near the end still rings out fully.
    ring = w.samples(CLOSING_BELL_RING_S)
    for bell in w.bells:
        length = max(length, bell.strikes[-1] + ring)

    return Timeline(
        rate=rate,
        length=length,
        speech=tuple(sorted(w.speech, key=lambda s: s.start)),
        breaths=tuple(w.breaths),
        bells=tuple(w.bells),
        ambient=tuple(w.ambient),
        chapters=tuple(w.chapters),
        ending=ending,
        fade_out=fade_out,
        scale=w.pause_scale,
        title=script.title,
        script_id=script.id,
        category=script.category,
        sleep_fade=sleep_fade,
        bed_fade_out=bed_fade_out,
        content_end=content_end,
        levels=overrides.levels,
        warnings=tuple(w.warnings),
    )


def compile_timeline(
    script: model.Script,
    clip_length: Callable[[SpeechRequest], int],
    *,
    rate: int = 48000,
    minutes: float | None = None,
    overrides: Overrides = Overrides(),
) -> Timeline:
    """Compile ``script`` to a timeline, fitted to ``minutes`` when given.

    ``clip_length`` returns the length in samples (at ``rate``) of a synthesized clip.
    Raises FitError naming the reachable range when ``minutes`` cannot be reached.
    """
    def compile_at(scale: float, pause_scale: float | None = None) -> Timeline:
        return _compile_at(script, clip_length, rate, scale, overrides, pause_scale)

    natural = compile_at(1.0)
    if minutes is None:
        return natural
    # At bedtime --minutes is the guided part; the bed's tail comes on top.
    tail = natural.length - natural.content_end if overrides.sleep else 0
    target = int(round(Fraction(str(minutes)) * 60 * rate)) + tail
    shortest, longest = compile_at(MIN_SCALE), compile_at(MAX_SCALE)
    # Allow half a second of slack at the ends: rounding to whole breaths is not a failure.
    slack = rate // 2
    if target < shortest.length - slack or target > longest.length + slack:
        raise FitError(
            f"'{script.id or script.title}' cannot be fitted to {_minutes_text(minutes)}: "
            f"it can run from {spelled_length(shortest.duration_s - tail / rate)} to "
            f"{spelled_length(longest.duration_s - tail / rate)}",
            shortest_s=shortest.duration_s - tail / rate,
            longest_s=longest.duration_s - tail / rate,
        )
    if target <= shortest.length:
        return shortest
    if target >= longest.length:
        return longest
    # Length grows monotonically with the scale: bisect, then absorb what whole-cycle
    # rounding leaves over with a fine scale of the continuous elastic parts only.
    lo, hi = MIN_SCALE, MAX_SCALE
    for _ in range(60):
        mid = (lo + hi) / 2
        if compile_at(mid).length < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    best_scale = min((lo, hi), key=lambda k: abs(compile_at(k).length - target))
    # Breath counts are now fixed; scale the continuous parts alone to land on the target.
    for _ in range(3):
        at_one = compile_at(best_scale, 1.0)
        at_zero = compile_at(best_scale, 0.0)
        continuous = at_one.length - at_zero.length
        if continuous <= 0:
            return compile_at(best_scale)
        pause_scale = (target - at_zero.length) / continuous
        pause_scale = min(MAX_SCALE, max(MIN_SCALE, pause_scale))
        fitted = compile_at(best_scale, pause_scale)
        if abs(fitted.length - target) <= rate // 100:
            return fitted
    return fitted


def estimate_clip_length(request: SpeechRequest, rate: int) -> int:
    """A deterministic estimate, from the text alone, of a clip's length in samples.

    Used where a length is needed before (or without) synthesis: planning the session
    loudness, and showing a session's remaining time while its speech is still being made.
    """
    text = request.text.strip()
    if not text:
        return 0
    marks = sum(text.count(c) for c in ",;:")
    seconds = ESTIMATE_BASE_S + (
        ESTIMATE_PER_CHAR_S * len(text) + ESTIMATE_PER_PAUSE_MARK_S * marks
    ) / max(request.rate, 0.1)
    return int(round(seconds * rate))


def estimated_timeline(
    script: model.Script,
    *,
    rate: int = 48000,
    minutes: float | None = None,
    overrides: Overrides = Overrides(),
) -> Timeline:
    """The timeline with every clip's length estimated from its text (no synthesis needed).

    A ``minutes`` outside what the estimated lengths can reach is clamped to that range
    instead of raising: the real fit (with real lengths) is what reports an impossible length.
    """
    def estimate(request: SpeechRequest) -> int:
        return estimate_clip_length(request, rate)

    try:
        return compile_timeline(script, estimate, rate=rate, minutes=minutes, overrides=overrides)
    except FitError as exc:
        seconds = min(max(minutes * 60.0, exc.shortest_s), exc.longest_s)
        return compile_timeline(
            script, estimate, rate=rate, minutes=seconds / 60.0, overrides=overrides
        )


def length_range(
    script: model.Script,
    clip_length: Callable[[SpeechRequest], int],
    *,
    rate: int = 48000,
    overrides: Overrides = Overrides(),
) -> tuple[float, float, float]:
    """(shortest, natural, longest) session length in seconds."""
    return tuple(
        _compile_at(script, clip_length, rate, scale, overrides).duration_s
        for scale in (MIN_SCALE, 1.0, MAX_SCALE)
    )



def _minutes_text(minutes: float) -> str:
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")
