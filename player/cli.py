"""The ``haven`` command: parses options, calls one core function, reports known errors cleanly.

Heavy modules (numpy, sounddevice, pyttsx3, soundfile) are imported inside the commands that
need them, so ``haven --help``, ``list`` and ``stats`` start fast and work without PortAudio.
"""

from __future__ import annotations

import json
import sys

import click

from player import __version__
from player.errors import BadInputError, HavenError

HELP = """Haven: offline, voice-guided meditation, breathing and self-compassion exercises.

\b
Quick start:
  haven list                          see the exercises
  haven render coherent-breathing -o breathe.wav
  haven show self-compassion-break    sections and length range

Haven is a practice aid, not treatment, and nothing you do with it leaves this computer.
If you are in crisis or thinking of harming yourself, contact your local emergency number
now, or a crisis line (UK and Ireland: Samaritans 116 123; US: call or text 988;
elsewhere: findahelpline.com).
"""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Interrupted(click.exceptions.Exit):
    """Ctrl-C: exit 130 like a shell, after a short note."""


class HavenGroup(click.Group):
    """A group that turns Haven's errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HavenError as exc:
            if ctx.meta.get("haven.traceback"):
                raise
            message = str(exc)
            if exc.hint:
                message += f" ({exc.hint})"
            err = click.ClickException(message)
            err.exit_code = exc.exit_code
            raise err from exc
        except KeyboardInterrupt:
            if ctx.meta.get("haven.traceback"):
                raise
            click.echo("\nStopped.", err=True)
            raise _Interrupted(130) from None


def _notify(message: str) -> None:
    click.echo(f"haven: {message}", err=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _length(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}m {s:02d}s" if m else f"{s}s"


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param takes NAME=VALUE (got '{item}')")
        params[key.strip()] = value
    return params


def _parse_voice(value: str | None) -> tuple[str | None, str | None]:
    """``--voice NAME`` or ``--voice ENGINE:NAME``."""
    if not value:
        return None, None
    engine, sep, name = value.partition(":")
    return (engine or None, name or None) if sep else (None, value)


def _session_settings(
    minutes, params, voice, rate, ambient, loudness, sample_rate=48000
):
    from player import config
    from player.render import SessionSettings
    from player.timeline import Overrides

    # Options given on the command line win; then settings the user chose in config.toml.
    chosen = config.load_config()
    if rate is None and "voice.rate" in chosen.explicit:
        rate = float(chosen.get("voice.rate"))
    if loudness is None:
        loudness = float(chosen.get("audio.loudness_lufs"))
    if ambient is None and "ambient.sound" in chosen.explicit:
        ambient = chosen.get("ambient.sound")
    ambient_level = (
        float(chosen.get("ambient.level_db")) if "ambient.level_db" in chosen.explicit else None
    )
    engine, voice_name = _parse_voice(voice)
    if minutes is not None and minutes <= 0:
        raise BadInputError("--minutes must be more than 0")
    if rate is not None and not 0.5 <= rate <= 2.0:
        raise BadInputError("--rate must be between 0.5 and 2.0 (1.0 is the voice's normal speed)")
    if ambient is not None:
        from player.model import AMBIENT_SOUNDS

        if ambient != "none" and ambient not in AMBIENT_SOUNDS:
            raise BadInputError(
                f"--ambient must be one of {', '.join(AMBIENT_SOUNDS)} or none (got '{ambient}')"
            )
    if not -40.0 <= loudness <= -6.0:
        raise BadInputError("--loudness must be between -40 and -6 LUFS")
    return SessionSettings(
        rate=sample_rate,
        minutes=minutes,
        params=_parse_params(params),
        overrides=Overrides(
            engine=engine, voice=voice_name, rate=rate or 1.0, ambient=ambient,
            ambient_level_db=ambient_level,
        ),
        target_lufs=loudness,
    )


def session_options(func):
    """Options shared by every command that builds a session from a script."""
    options = [
        click.option("--minutes", "-m", type=float, help="Fit the exercise to this many minutes."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Set a script parameter (repeatable)."),
        click.option("--voice", metavar="[ENGINE:]VOICE", help="Voice to speak with (see 'haven voices')."),
        click.option("--rate", type=float, help="Speaking speed relative to normal, e.g. 0.9."),
        click.option("--ambient", metavar="SOUND", help="Background bed: pink-noise, brown-noise, white-noise or none."),
        click.option("--loudness", type=float, default=None, metavar="LUFS",
                     help="Integrated loudness of the result (default: the audio.loudness_lufs setting, -18)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(cls=HavenGroup, help=HELP, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="haven")
@click.option("--traceback", is_flag=True, help="Show the full traceback of errors (for bug reports).")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    ctx.meta["haven.traceback"] = traceback


# --- exercises -------------------------------------------------------------------------


@main.command("list")
@click.option("--category", "-c", help="Only this category (e.g. breathing, sleep).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(category: str | None, as_json: bool) -> None:
    """List the built-in exercises and your own."""
    from player import library
    from player.model import CATEGORIES

    if category is not None and category not in CATEGORIES:
        raise BadInputError(f"--category must be one of {', '.join(CATEGORIES)}")
    scripts = library.list_scripts(category)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in scripts], indent=2))
        return
    if not scripts:
        click.echo("No exercises found." if category is None else f"No {category} exercises.")
        return
    width = max(len(s.id) for s in scripts)
    cat_width = max(len(s.category or "") for s in scripts)
    for s in scripts:
        mark = "*" if s.source == "user" else " "
        text = s.summary if not s.problem else f"(cannot read: {s.problem})"
        click.echo(f"{mark} {s.id:<{width}}  {(s.category or ''):<{cat_width}}  {text}")
    if any(s.source == "user" for s in scripts):
        click.echo("\n* your own script")


@main.command()
@click.argument("name")
@session_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the full timeline).")
def show(name, minutes, params, voice, rate, ambient, loudness, as_json) -> None:
    """Show an exercise: sections, planned length and the range --minutes can reach."""
    from player.render import prepare_session
    from player.timeline import length_range

    settings = _session_settings(minutes, params, voice, rate, ambient, loudness)
    session = prepare_session(name, settings, notify=_notify)
    script, timeline = session.script, session.timeline
    clips = session.mixer._clips
    shortest, natural, longest = length_range(
        script, lambda r: len(clips[r]), rate=timeline.rate, overrides=settings.overrides
    )
    if as_json:
        data = {
            "id": script.id,
            "title": script.title,
            "summary": script.summary,
            "category": script.category,
            "tags": list(script.tags),
            "ending": script.ending,
            "length_s": round(timeline.duration_s, 3),
            "natural_s": round(natural, 3),
            "shortest_s": round(shortest, 3),
            "longest_s": round(longest, 3),
            "params": {k: {"default": p.default, "help": p.help} for k, p in script.params.items()},
            "timeline": timeline.to_json(),
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"{script.title}  ({script.id})")
    if script.summary:
        click.echo(script.summary)
    facts = []
    if script.category:
        facts.append(f"category: {script.category}")
    if script.tags:
        facts.append("tags: " + ", ".join(script.tags))
    facts.append(f"ending: {script.ending}")
    click.echo("  ".join(facts))
    click.echo(
        f"Length: {_length(timeline.duration_s)}"
        + (f" (fitted; natural {_length(natural)})" if minutes else "")
        + f"; --minutes can fit it from {_length(shortest)} to {_length(longest)}"
    )
    if script.params:
        click.echo("Parameters (--param NAME=VALUE):")
        for key, p in script.params.items():
            default = f' = "{p.default}"' if p.default is not None else " (required)"
            click.echo(f"  {key}{default}" + (f": {p.help}" if p.help else ""))
    if timeline.chapters:
        click.echo("Sections:")
        for chapter in timeline.chapters:
            click.echo(f"  {_clock(chapter.start / timeline.rate):>7}  {chapter.title}")
    said = sum(1 for s in timeline.speech if s.kind == "say")
    spoken = sum(s.length for s in timeline.speech if s.kind == "say") / timeline.rate
    click.echo(
        f"Contents: {said} spoken sentences ({_length(spoken)} of speech), "
        f"{len(timeline.breaths)} breathing practice(s), "
        f"{sum(len(b.strikes) for b in timeline.bells)} bell strike(s)"
    )


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Parameter values to check with.")
def validate(files: tuple[str, ...], params) -> None:
    """Check scripts against the format: FILE is a path or an exercise id."""
    from player import library
    from player.script import load_script

    values = _parse_params(params)
    bad = 0
    for name in files:
        try:
            script = load_script(library.resolve(name), params=values)
        except BadInputError as exc:
            bad += 1
            click.echo(f"{exc}", err=True)
        else:
            click.echo(f"ok: {name} ({script.title})")
    if bad:
        raise click.exceptions.Exit(2)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of printing.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of the script format (for editor autocompletion)."""
    from player.schema import script_json_schema

    text = json.dumps(script_json_schema(), indent=2) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Audio file to write: .wav, .flac, .ogg or .mp3.")
@session_options
@click.option("--sample-rate", type=click.Choice(["44100", "48000"]), default="48000",
              show_default=True, help="Sample rate of the file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--sleep", is_flag=True,
              help="Bedtime version, as `haven play --sleep` plays it (see `haven play --help`).")
@click.option("--tail", type=float, metavar="MINUTES",
              help="With --sleep: minutes the background sound goes on after the guidance (10).")
def render(name, output, minutes, params, voice, rate, ambient, loudness, sample_rate, quiet,
           sleep, tail) -> None:
    """Render an exercise to an audio file."""
    from pathlib import Path

    from player.render import format_for, prepare_session, render_to_file

    format_for(Path(output))  # reject a bad file name before doing any work
    settings = _session_settings(minutes, params, voice, rate, ambient, loudness, int(sample_rate))
    settings = _bedtime(settings, sleep, tail)
    show_progress = not quiet and sys.stderr.isatty()
    with _Progress(show_progress) as progress:
        session = prepare_session(
            name, settings, notify=_notify, progress=progress.stage("Preparing speech")
        )
        result = render_to_file(session, output, progress=progress.stage("Rendering"))
    chapters = f", {result.chapters} chapters" if result.chapters else ""
    click.echo(
        f"Wrote {output} ({_length(result.duration_s)}, {result.rate} Hz "
        f"{'stereo' if result.channels == 2 else 'mono'}{chapters})"
    )


class _Progress:
    """A rich progress bar on a terminal; does nothing otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(), transient=True,
                console=__import__("rich.console").console.Console(stderr=True),
            )
            self._progress.__enter__()
        return self

    def stage(self, description: str):
        if not self._progress:
            return None
        task = self._progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            self._progress.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc):
        if self._progress:
            self._progress.__exit__(*exc)
        return False


# --- playing ---------------------------------------------------------------------------


def _bedtime(settings, sleep: bool | None, tail: float | None, category: str | None = None):
    """Settings with bedtime on or off (``sleep=None``: on for the sleep category)."""
    import dataclasses

    from player.timeline import SLEEP_TAIL_S

    if sleep is None:
        sleep = category == "sleep"
    if tail is not None:
        if not sleep:
            raise BadInputError("--tail only applies at bedtime (--sleep)")
        if not 0 <= tail <= 180:
            raise BadInputError("--tail must be between 0 and 180 minutes")
    overrides = dataclasses.replace(
        settings.overrides, sleep=sleep, tail_s=SLEEP_TAIL_S if tail is None else tail * 60.0
    )
    return dataclasses.replace(settings, overrides=overrides)


def playback_options(func):
    """Options of every command that plays a session."""
    options = [
        click.option("--device", "-d", metavar="NAME|NUMBER",
                     help="Output device (see 'haven devices'); default: the system's."),
        click.option("--quiet", "-q", is_flag=True, help="No display and no summary."),
        click.option("--no-captions", is_flag=True, help="Do not show the lines being spoken."),
        click.option("--dim", is_flag=True, help="Keep the screen nearly dark (bedtime)."),
        click.option("--checkin/--no-checkin", default=None,
                     help="Rate your mood before and after (default: the play.checkin setting)."),
        # Test and benchmark hooks: how much audio to prepare ahead, and controls applied at
        # exact frames of output ("pause@2.0,resume@3.5,stop@9").
        click.option("--buffer-seconds", type=float, hidden=True),
        click.option("--script-controls", hidden=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _play(script, settings, *, exercise, device, quiet, no_captions, dim, checkin,
          buffer_seconds, script_controls) -> None:
    """Play a built session and turn its outcome into output and an exit code."""
    from player.playback import parse_script_controls, play

    if checkin is None:
        try:
            from player import config

            checkin = bool(config.get("play.checkin"))
        except Exception:  # noqa: BLE001 - a broken setting must not stop a session
            checkin = False
    if buffer_seconds is not None and not 0 < buffer_seconds <= 7200:
        raise BadInputError("--buffer-seconds must be more than 0")
    try:
        parse_script_controls(script_controls, settings.rate)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    result = play(
        script, settings, exercise=exercise, device=device, quiet=quiet,
        captions=not no_captions, dim=dim, checkin=checkin, ring_seconds=buffer_seconds,
        script_controls=script_controls, notify=_notify,
    )
    if not quiet:
        how = {
            "end": "completed",
            "stopped": "stopped early, recorded as partial",
            "interrupted": "interrupted, recorded as partial",
            "terminated": "ended by a signal, recorded as partial",
        }.get(result.reason, result.reason)
        if result.session_id is None:
            how = how.replace(", recorded as partial", "") + ", not recorded"
        dropouts = (
            "no audio dropouts" if not result.underflows
            else f"{result.underflows} audio dropout(s) (the computer was too busy)"
        )
        click.echo(f"{result.title}: {_length(result.practiced_s)} practiced ({how}; {dropouts}).",
                   err=True)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


@main.command()
@click.argument("name")
@session_options
@playback_options
@click.option("--sleep/--no-sleep", default=None,
              help="Bedtime: slower voice, voice and tones fade over the last third, no closing "
                   "bell, the background sound goes on, then fades, and Haven exits by itself "
                   "(default: on for sleep exercises).")
@click.option("--tail", type=float, metavar="MINUTES",
              help="At bedtime: minutes the background sound goes on after the guidance (10).")
def play(name, minutes, params, voice, rate, ambient, loudness, device, quiet, no_captions, dim,
         checkin, buffer_seconds, script_controls, sleep, tail) -> None:
    """Play an exercise: space pause/resume, n next section, p previous (restart) section,
    +/- volume, q stop. Playback starts at once; speech is made while it plays."""
    from player import library

    settings = _session_settings(minutes, params, voice, rate, ambient, loudness)
    script = library.load(name, params=settings.params)
    settings = _bedtime(settings, sleep, tail, script.category)
    _play(script, settings, exercise=script.id or name, device=device, quiet=quiet,
          no_captions=no_captions, dim=dim, checkin=checkin, buffer_seconds=buffer_seconds,
          script_controls=script_controls)


@main.command()
@click.argument("pattern", required=False)
@click.option("--minutes", "-m", type=float, default=5.0, show_default=True,
              help="How long to breathe.")
@click.option("--bpm", type=float, help="Breaths a minute, in and out equal (instead of PATTERN).")
@click.option("--ramp-to", metavar="PATTERN|BPM",
              help="Change cycle by cycle to this pattern or breaths a minute by the end.")
@click.option("--cues", type=click.Choice(["tones", "voice", "both", "none"]), default="tones",
              show_default=True, help="How each phase is signalled.")
@click.option("--ambient", metavar="SOUND", help="Background bed: pink-noise, brown-noise, white-noise or none.")
@click.option("--loudness", type=float, default=None, metavar="LUFS",
              help="Integrated loudness (default: the audio.loudness_lufs setting, -18).")
@playback_options
def breathe(pattern, minutes, bpm, ramp_to, cues, ambient, loudness, device, quiet, no_captions,
            dim, checkin, buffer_seconds, script_controls) -> None:
    """A breathing pacer: PATTERN is a name (coherent, box, 4-7-8, ...) or seconds like 4-6 or
    4-7-8 (default coherent)."""
    from player.sessions import breathe_script

    script = breathe_script(pattern, minutes=minutes, bpm=bpm, ramp_to=ramp_to, cues=cues)
    settings = _session_settings(None, (), None, None, ambient, loudness)
    _play(script, settings, exercise=script.id, device=device, quiet=quiet,
          no_captions=no_captions, dim=dim, checkin=checkin, buffer_seconds=buffer_seconds,
          script_controls=script_controls)


@main.command()
@click.argument("minutes")
@click.option("--every", metavar="DURATION", help="An interval bell this often, e.g. 5m.")
@click.option("--bells", metavar="TIMES", help="Bells exactly at these times, e.g. 0,25m,30m.")
@click.option("--ambient", metavar="SOUND", help="Background bed: pink-noise, brown-noise, white-noise or none.")
@click.option("--loudness", type=float, default=None, metavar="LUFS",
              help="Integrated loudness (default: the audio.loudness_lufs setting, -18).")
@playback_options
def timer(minutes, every, bells, ambient, loudness, device, quiet, no_captions, dim, checkin,
          buffer_seconds, script_controls) -> None:
    """Silent sitting for MINUTES (or a duration like 20m) with a starting and an ending bell."""
    from player.durations import parse_duration
    from player.sessions import parse_bell_times, parse_timer_length, timer_script

    every_s = None
    if every is not None:
        try:
            every_s = parse_duration(every)
        except ValueError as exc:
            raise BadInputError(f"--every {exc}") from None
    script = timer_script(
        parse_timer_length(minutes), every_s=every_s,
        bells=parse_bell_times(bells) if bells is not None else None,
    )
    settings = _session_settings(None, (), None, None, ambient, loudness)
    _play(script, settings, exercise=script.id, device=device, quiet=quiet,
          no_captions=no_captions, dim=dim, checkin=checkin, buffer_seconds=buffer_seconds,
          script_controls=script_controls)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices(as_json: bool) -> None:
    """List the audio outputs Haven can play to (use a number or name with --device)."""
    from player.errors import AudioDeviceError
    from player.playback import FIX_NO_DEVICE, output_devices

    found = output_devices()
    if as_json:
        click.echo(json.dumps([d.to_json() for d in found], indent=2))
        return
    if not found:
        raise AudioDeviceError("no audio output device found", hint=FIX_NO_DEVICE)
    width = max(len(d.name) for d in found)
    for d in found:
        mark = "*" if d.is_default else " "
        click.echo(f"{mark}{d.index:>3}  {d.name:<{width}}  {d.hostapi}, {d.channels} channels, "
                   f"{d.default_rate:g} Hz")
    if any(d.is_default for d in found):
        click.echo("\n* the default output")


# --- voices, health, cache ------------------------------------------------------------


@main.command()
@click.option("--engine", help="Only this engine's voices.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(engine: str | None, as_json: bool) -> None:
    """List every engine's voices, with language and whether each is installed."""
    import dataclasses

    from player import speech

    found, notes = speech.all_voices(engine)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(v) for v in found], indent=2))
        for note in notes:
            _notify(note)
        return
    width = max((len(f"{v.engine}:{v.id}") for v in found), default=0)
    lang_width = max((len(", ".join(v.languages) or "-") for v in found), default=0)
    for v in found:
        langs = ", ".join(v.languages) or "-"
        state = "installed" if v.installed else "not installed"
        click.echo(f"{v.engine + ':' + v.id:<{width}}  {langs:<{lang_width}}  {state:<13}  {v.name}")
    for note in notes:
        click.echo(note)
    click.echo("\nUse one with --voice ENGINE:VOICE, or make it the default: "
               "haven config set voice.engine ENGINE; haven config set voice VOICE")


@main.command()
def doctor() -> None:
    """Check the speech engine, audio libraries, devices and folders; print fixes."""
    from player.doctor import run_checks

    problems = 0
    for check in run_checks():
        mark = "ok " if check.ok else ("-- " if check.optional else "!! ")
        click.echo(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"     fix: {check.fix}")
        if not check.ok and not check.optional:
            problems += 1
    if problems:
        click.echo(f"\n{problems} problem(s) found.")
        raise click.exceptions.Exit(1)
    click.echo("\nEverything Haven needs is in place.")


@main.group()
def cache() -> None:
    """Inspect or clear the cache of synthesized speech."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Show where the speech cache is and how big it is."""
    from player.speech.cache import cache_info as info

    data = info()
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"Folder:  {data['folder']}")
    click.echo(f"Clips:   {data['entries']}")
    click.echo(f"Size:    {data['bytes'] / 1e6:.1f} MB")


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached clip (they are re-made when needed)."""
    from player.speech.cache import cache_clear as clear

    files, size = clear()
    click.echo(f"Removed {files} files ({size / 1e6:.1f} MB).")


def _register_journal_commands() -> None:
    """Journal and settings commands live in their own module; add them to the group."""
    from player import cli_journal

    for command in cli_journal.COMMANDS:
        main.add_command(command)


_register_journal_commands()


def _register_program_commands() -> None:
    """Programs (`program`, `today`) and `new` live in their own module; add them too."""
    from player import cli_programs

    for command in cli_programs.COMMANDS:
        main.add_command(command)


_register_program_commands()
