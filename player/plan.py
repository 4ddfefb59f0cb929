"""A session from request to timeline: the one place its settings and shape are decided.

Every command that builds a session (``render``, ``play``, ``show``, ``breathe``, ``timer``,
``today``, ``feed``) comes here:

* :func:`resolve_settings`: options given, then the user's config.toml, then the script's own
  defaults; each bound checked once, here (:func:`check_minutes` is the one ``--minutes``
  bound, shared with the breathing pacer and the timer in ``player.library.sessions``);
* :func:`bedtime`: the bedtime rule (on by default for sleep exercises, in play and render);
* :func:`load`: the script, with its parameters and the bedtime rule applied;
* :func:`measure`: the timeline from the clips' real lengths, without mixing anything.

Speech is made in one way, ``render.synthesize_speech`` -> ``speech.synthesize`` (voice
settings, engine fallback, cache keys), whether a file is rendered or a session streams.
Cheap to import: config, the library and numpy load inside the functions.
"""

from __future__ import annotations

from typing import Callable

from player.errors import BadInputError

MAX_MINUTES = 240.0  # the longest session any command builds (--minutes, breathe, timer)
SPEED_RANGE = (0.5, 2.0)  # speaking speed relative to the voice's normal
LOUDNESS_RANGE = (-40.0, -6.0)  # LUFS
TAIL_MAX_MINUTES = 180.0


def check_minutes(value, what: str = "--minutes") -> float:
    """The one bound of a session's length in minutes: more than 0, at most MAX_MINUTES."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise BadInputError(f"{what} must be more than 0")
    if not value <= MAX_MINUTES:
        raise BadInputError(f"{what} must be at most {MAX_MINUTES:g}")
    return float(value)


def parse_params(values) -> dict[str, str]:
    """``--param NAME=VALUE`` (repeatable) as a dict."""
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param takes NAME=VALUE (got '{item}')")
        params[key.strip()] = value
    return params


def parse_voice(value: str | None) -> tuple[str | None, str | None]:
    """``--voice NAME`` or ``--voice ENGINE:NAME`` as ``(engine, voice)``."""
    if not value:
        return None, None
    engine, sep, name = value.partition(":")
    return (engine or None, name or None) if sep else (None, value)


def resolve_settings(
    minutes=None, params=(), voice=None, speed=None, ambient=None, loudness=None,
    sample_rate: int = 48000,
):
    """The settings of a session: options given win, then the user's config.toml.

    What neither sets stays open (None) for the script's own defaults. Raises
    ``BadInputError`` for a value out of its range.
    """
    from player import config
    from player.format.model import LEVEL_KINDS, Levels
    from player.audio.render import SessionSettings
    from player.audio.timeline import Overrides

    chosen = config.load_config()
    if speed is None and "voice.rate" in chosen.explicit:
        speed = float(chosen.get("voice.rate"))
    if loudness is None:
        loudness = float(chosen.get("audio.loudness_lufs"))
    if ambient is None and "ambient.sound" in chosen.explicit:
        ambient = chosen.get("ambient.sound")
    ambient_level = (
        float(chosen.get("ambient.level_db")) if "ambient.level_db" in chosen.explicit else None
    )
    levels = Levels(**{f"{k}_db": float(chosen.get(f"levels.{k}_db")) for k in LEVEL_KINDS})
    engine, voice_name = parse_voice(voice)
    if minutes is not None:
        check_minutes(minutes)
    if speed is not None and not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise BadInputError("--speed must be between 0.5 and 2.0 (1.0 is the voice's normal speed)")
    if ambient is not None and ambient != "none":
        from player.audio import sounds

        sounds.check_bed_name(ambient)  # a built-in bed, a sound of yours, or a file
        if sounds.resolve_file(ambient) is not None:
            sounds.check_file(ambient, "bed", sample_rate)  # unreadable or silent: fail now
    if not LOUDNESS_RANGE[0] <= loudness <= LOUDNESS_RANGE[1]:
        raise BadInputError("--loudness must be between -40 and -6 LUFS")
    return SessionSettings(
        sample_rate=sample_rate,
        minutes=minutes,
        params=parse_params(params),
        overrides=Overrides(
            engine=engine, voice=voice_name, speed=speed or 1.0, ambient=ambient,
            ambient_level_db=ambient_level, levels=levels,
            lexicon=chosen.lexicon,  # the user's [lexicon]; a script's entries win (timeline)
        ),
        target_lufs=loudness,
    )


def bedtime(settings, sleep: bool | None, tail: float | None, category: str | None = None):
    """Settings with bedtime on or off: ``sleep=None`` means on for the sleep category.

    The same rule for playing and rendering, so a rendered file is what play plays.
    """
    import dataclasses

    from player.audio.timeline import SLEEP_TAIL_S

    if sleep is None:
        sleep = category == "sleep"
    if tail is not None:
        if not sleep:
            raise BadInputError("--tail only applies at bedtime (--sleep)")
        if not 0 <= tail <= TAIL_MAX_MINUTES:
            raise BadInputError(f"--tail must be between 0 and {TAIL_MAX_MINUTES:g} minutes")
    overrides = dataclasses.replace(
        settings.overrides, sleep=sleep, tail_s=SLEEP_TAIL_S if tail is None else tail * 60.0
    )
    return dataclasses.replace(settings, overrides=overrides)


def load(name: str, settings, *, sleep: bool | None = None, tail: float | None = None):
    """``(script, settings)``: NAME (an id or a path) loaded with the settings' parameters,
    and the bedtime rule applied for its category."""
    from player.library import catalog as library

    script = library.load(name, params=settings.params)
    return script, bedtime(settings, sleep, tail, script.category)


def measure(
    script, settings, *, notify: Callable[[str], None] | None = None,
):
    """``(timeline, clip_length)``: the session's timeline from its clips' real lengths
    (speech made or taken from the cache), and ``clip_length(request)`` in samples.

    Nothing is mixed: for ``haven show`` and anything else that only needs lengths.
    """
    from player.audio.render import synthesize_speech
    from player.audio.timeline import compile_timeline, speech_requests

    clips = synthesize_speech(speech_requests(script, settings.overrides), settings, notify=notify)
    lengths = {request: len(samples) for request, samples in clips.items()}
    timeline = compile_timeline(
        script, lengths.__getitem__, rate=settings.sample_rate, minutes=settings.minutes,
        overrides=settings.overrides,
    )
    for warning in timeline.warnings if notify is not None else ():
        notify(warning)  # a line over a pacer running past it (timeline.warnings)
    return timeline, lengths.__getitem__
