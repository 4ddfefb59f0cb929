"""The ``haven`` command: parses options, calls one core function, reports known errors cleanly.

Heavy modules (numpy, sounddevice, pyttsx3, soundfile) are imported inside the commands that
need them, so ``haven --help``, ``list`` and ``stats`` start fast and work without PortAudio.
"""

from __future__ import annotations

import errno
import json
import os
import sys

import click

# Haven's numpy work is element-wise arithmetic and FFTs, never BLAS; OpenBLAS's thread pool
# would only spin beside the encoder and the audio (perf: 5 % of the CPU of a render on two
# cores). Set before anything imports numpy; speech workers inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from player import __version__
from player.care import CRISIS_LINES
from player.format.durations import clock
from player.errors import BadInputError, HavenError

HELP = """Haven: offline, voice-guided meditation, breathing and self-compassion exercises.

\b
Quick start:
  haven list                          see the exercises
  haven render coherent-breathing -o breathe.wav
  haven show self-compassion-break    sections and length range

Haven is a practice aid, not treatment, and nothing you do with it leaves this computer.
""" + CRISIS_LINES + "\n"

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
            err = click.ClickException(_printable(message))  # one line, inert on a terminal
            err.exit_code = exc.exit_code
            raise err from exc
        except KeyboardInterrupt:
            if ctx.meta.get("haven.traceback"):
                raise
            click.echo("\nStopped.", err=True)
            raise _Interrupted(130) from None
        except OSError as exc:
            # Any file or folder a command meets (a read-only HAVEN_HOME, a full disk, a
            # report piped to /dev/full): one line naming the path and the fix. A closed pipe
            # goes on to `main`, which exits quietly like other command-line tools.
            if ctx.meta.get("haven.traceback") or exc.errno == errno.EPIPE:
                raise
            err = click.ClickException(_os_error_line(exc))
            err.exit_code = 1
            raise err from exc

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's ``main``, plus: output that cannot be written (``haven list > /dev/full``,
        ``haven list | head -0``) ends in one line or quietly, never in a traceback or in
        "Exception ignored" noise when the interpreter shuts down."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = sys.argv[1:] if args is None else list(args)
        _open_closed_standard_streams()
        stdout = sys.stdout = _StdoutGuard(sys.stdout) if sys.stdout is not None else None
        try:
            try:
                return super().main(args, prog_name, complete_var, standalone_mode, **extra)
            except SystemExit:
                if sys.stdout is not None:
                    sys.stdout.flush()  # what is still buffered fails here, not at shutdown
                raise
        except OSError as exc:
            if "--traceback" in argv[: argv.index("--") if "--" in argv else None]:
                raise
            _silence_stdout()
            if exc.errno != errno.EPIPE:
                click.echo(f"Error: {_os_error_line(exc)}", err=True)
            sys.exit(1)
        finally:
            if stdout is not None and sys.stdout is stdout:
                sys.stdout = stdout.stream


class _StdoutGuard:
    """Standard output that marks its own write errors, so they are reported as standard
    output's (a file's write error carries no file name either)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError as exc:
            exc.haven_stdout = True
            raise

    def flush(self):
        try:
            return self.stream.flush()
        except OSError as exc:
            exc.haven_stdout = True
            raise

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _os_error_line(exc: OSError) -> str:
    """One line for an ``OSError`` met anywhere in a command (see player.files)."""
    from player.files import describe_os_error

    if getattr(exc, "haven_stdout", False):
        return describe_os_error(exc, "standard output", doing="write to")
    doing = "write" if exc.errno in _WRITE_ERRNOS else "use"
    return _printable(describe_os_error(exc, doing=doing))


def _printable(text: str) -> str:
    """A message as one inert line: user input in it (a name, a path) may hold line breaks
    or terminal escapes."""
    from player.printable import printable

    return printable(text)


_WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _open_closed_standard_streams() -> None:
    """Started with standard input, output or error closed (`haven timer 20 >&-`, some
    launchers): put /dev/null there, as if redirected to it. Otherwise the journal or a clip
    opened next would get descriptor 1, and whatever a speech worker prints would land in it;
    and Python's ``sys.stdout`` would be None, which code that asks ``isatty()`` trips on."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                continue
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="replace", closefd=False))


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush succeeds."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(fd, sys.stdout.fileno())
        finally:
            os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _report(text: str = "") -> None:
    """A report's line(s), fitted to the terminal's width at word boundaries (player.layout)."""
    from player import layout

    layout.echo(text)


def _notify(message: str) -> None:
    click.echo(f"haven: {_printable(message)}", err=True)



def _length(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}m {s:02d}s" if m else f"{s}s"


def _plural(n: int, word: str) -> str:
    """``1 session``, ``0 sessions``: never "session(s)"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    from player.plan import parse_params

    return parse_params(values)


def _session_settings(minutes, params, voice, speed, ambient, loudness, sample_rate=48000):
    """The options of a session command, resolved by the core (``player.plan``)."""
    from player.plan import resolve_settings

    return resolve_settings(minutes, params, voice, speed, ambient, loudness, sample_rate)


def session_options(func):
    """Options shared by every command that builds a session from a script."""
    options = [
        click.option("--minutes", "-m", type=float, help="Fit the exercise to this many minutes."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Set a script parameter (repeatable)."),
        click.option("--voice", metavar="[ENGINE:]VOICE",
                     help="Voice to speak with: piper or joe (the neural voice), espeak or "
                          "espeak:en-gb (the system voice), ... (see 'haven voices')."),
        click.option("--speed", "--rate", "speed", type=float,
                     help="Speaking speed relative to normal, e.g. 0.9 (--rate: the same)."),
        click.option("--ambient", metavar="SOUND", help="Background sound: rain, ocean, stream, pink-noise, brown-noise, white-noise, one of yours ('haven sounds'), a sound file, or none."),
        click.option("--loudness", type=float, default=None, metavar="LUFS",
                     help="Integrated loudness of the result (default: the audio.loudness_lufs setting, -18)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(cls=HavenGroup, help=HELP, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="haven")
@click.option("--traceback", is_flag=True, help="Show the full traceback of errors (for bug reports).")
@click.pass_context
def main(ctx: click.Context, traceback: bool) -> None:
    ctx.meta["haven.traceback"] = traceback
    if ctx.invoked_subcommand is None:  # `haven` alone: a short welcome (player.cli.welcome)
        from player.cli import journal as cli_journal, welcome

        _report("\n".join(welcome.lines(cli_journal._now())))


@main.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the tab-completion script for SHELL; e.g. in ~/.bashrc:
    eval "$(haven completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(main, {}, "haven", "_HAVEN_COMPLETE").source())


# --- exercises -------------------------------------------------------------------------


@main.command("list")
@click.option("--category", "-c", help="Only this category (e.g. breathing, sleep).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(category: str | None, as_json: bool) -> None:
    """List the built-in exercises and your own."""
    from player.library import catalog as library
    from player.format.model import CATEGORIES

    if category is not None and category not in CATEGORIES:
        raise BadInputError(f"--category must be one of {', '.join(CATEGORIES)}")
    scripts = library.list_scripts(category)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in scripts], indent=2))
        return
    if not scripts:
        click.echo("No exercises found." if category is None else f"No {category} exercises.")
        return
    from player import layout
    from player.library import lengths
    from player.printable import one_line

    found = lengths.ranges({s.id: s.path for s in scripts if not s.problem})
    cols = layout.width()
    width = max(len(s.id) for s in scripts)
    cat_width = max(len(s.category or "") for s in scripts)
    length_width = max(len(lengths.describe(found.get(s.id))) for s in scripts)
    head = 2 + width + 2 + cat_width + 2 + length_width + 2
    for s in scripts:
        mark = "*" if s.source == "user" else " "
        text = one_line(s.summary if not s.problem else f"(cannot read: {s.problem})")
        row = (f"{mark} {s.id:<{width}}  {one_line(s.category or ''):<{cat_width}}  "
               f"{lengths.describe(found.get(s.id)):>{length_width}}")
        if s.problem:  # no category or length to show: the problem follows the name
            click.echo(layout.wrap(text, f"{mark} {s.id:<{width}}  ", "    ", cols))
        elif cols - head >= 24:  # the summary in its own column, wrapped inside it
            click.echo(layout.wrap(text, row + "  ", " " * head, cols))
        elif head - cat_width - 2 <= cols:  # the summary below, indented
            click.echo(row.rstrip() if len(row.rstrip()) <= cols else
                       f"{mark} {s.id:<{width}}  {lengths.describe(found.get(s.id))}")
            click.echo(layout.wrap(text if len(row.rstrip()) <= cols
                                   else f"({one_line(s.category or '-')}) {text}", "    ", cols=cols))
        else:  # a very narrow terminal: the name, then the rest below
            click.echo(layout.wrap(f"{mark} {s.id}", cols=cols))
            click.echo(layout.wrap(f"{lengths.describe(found.get(s.id))}, "
                                   f"{one_line(s.category or '-')}: {text}", "    ", cols=cols))
    if any(s.source == "user" for s in scripts):
        click.echo("\n* your own script")
    if any(v is not None and not v[2] for v in found.values()):
        click.echo(layout.wrap("~ an estimate from the words; 'haven show NAME' measures it "
                               "with your voice.", cols=cols))


def _stop_the_other_session(holder) -> bool:
    """Another session is playing: ask whether to stop it (it fades out and is recorded
    as partial) and play this one, or to leave it and exit. Ctrl-C leaves at once."""
    from player.prompts import leave_on_ctrl_c

    click.echo(f"A session is playing: {holder.describe()}.")
    answer = False
    with leave_on_ctrl_c():
        answer = click.confirm(
            "Stop it (what was played is recorded) and play this one instead?", default=False
        )
    return answer


def _remember_lengths(name: str, shortest: float, natural: float, longest: float) -> None:
    """Keep `show`'s measured length range for `haven list` (best effort)."""
    from player.library import lengths
    from player.library.catalog import resolve

    try:
        lengths.remember(resolve(name), shortest, natural, longest)
    except (HavenError, OSError):
        pass


@main.command()
@click.argument("name")
@session_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the full timeline).")
def show(name, minutes, params, voice, speed, ambient, loudness, as_json) -> None:
    """Show an exercise: sections, planned length and the range --minutes can reach."""
    from player import plan
    from player.printable import printable
    from player.audio.timeline import length_range

    settings = _session_settings(minutes, params, voice, speed, ambient, loudness)
    # The exercise itself (not its bedtime version): its lengths are what `list` shows.
    script, settings = plan.load(name, settings, sleep=False)
    timeline, clip_length = plan.measure(script, settings, notify=_notify)
    shortest, natural, longest = length_range(
        script, clip_length, rate=timeline.rate, overrides=settings.overrides
    )
    if not settings.params and settings.overrides.speed == 1.0:
        _remember_lengths(name, shortest, natural, longest)
    if as_json:
        data = {
            "id": script.id,
            "title": script.title,
            "summary": script.summary,
            "credit": script.credit,
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
    _report(printable(f"{script.title}  ({script.id})"))
    if script.summary:
        _report(printable(script.summary, keep="\n\t"))
    if script.credit:
        _report(printable(f"From: {script.credit}", keep="\n\t"))
    facts = []
    if script.category:
        facts.append(f"category: {script.category}")
    if script.tags:
        facts.append("tags: " + ", ".join(script.tags))
    facts.append(f"ending: {script.ending}")
    _report(printable("  ".join(facts)))
    _report(
        f"Length: {_length(timeline.duration_s)}"
        + (f" (fitted; natural {_length(natural)})" if minutes else "")
        + f"; --minutes can fit it from {_length(shortest)} to {_length(longest)}"
    )
    if script.params:
        _report("Parameters (--param NAME=VALUE):")
        for key, p in script.params.items():
            default = f' = "{p.default}"' if p.default is not None else " (required)"
            _report(printable(f"  {key}{default}" + (f": {p.help}" if p.help else "")))
    if timeline.chapters:
        _report("Sections:")
        for chapter in timeline.chapters:
            _report(f"  {clock(chapter.start / timeline.rate):>7}  {printable(chapter.title)}")
    guided = [s for s in timeline.speech if s.kind == "guide"]
    if guided:
        _report("Spoken over the breathing:")
        for line in guided:
            _report(printable(f"  {clock(line.start / timeline.rate):>7}  {line.at}: "
                              f"{line.request.text}"))  # fmt: skip
    said = sum(1 for s in timeline.speech if s.kind in ("say", "guide"))
    spoken = sum(s.length for s in timeline.speech if s.kind in ("say", "guide")) / timeline.rate
    strikes = sum(len(b.strikes) for b in timeline.bells)
    _report(
        f"Contents: {_plural(said, 'spoken sentence')}"
        + (f" ({_length(spoken)} of speech)" if said else "")
        + (f", {_plural(len(timeline.breaths), 'breathing practice')}" if timeline.breaths else "")
        + (f", {_plural(strikes, 'bell strike')}" if strikes else "")
    )


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Parameter values to check with.")
def validate(files: tuple[str, ...], params) -> None:
    """Check scripts against the format: FILE is a path or an exercise id."""
    from player.library import catalog as library
    from player.printable import printable
    from player.format.script import load_script

    values = _parse_params(params)
    bad = 0
    for name in files:
        try:
            script = load_script(library.resolve(name), params=values)
        except BadInputError as exc:
            bad += 1
            for problem in getattr(exc, "problems", None) or [exc]:  # one line each
                click.echo(_printable(str(problem)), err=True)
        else:
            click.echo(printable(f"ok: {name} ({script.title})"))
    if bad:
        raise click.exceptions.Exit(2)


@main.command()
@click.option("-o", "--output", type=click.Path(allow_dash=True), metavar="FILE",
              help="Write to this file instead of printing.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of the script format (for editor autocompletion)."""
    from player.format.schema import script_json_schema

    text = json.dumps(script_json_schema(), indent=2) + "\n"
    if output is not None:
        from player.files import output_kind, write_output

        how = output_kind(output)
        write_output(output, text, mode=0o644)
        if how == "replace":  # not into what went to standard output, a pipe or a device
            click.echo(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True), metavar="FILE",
              help="Audio file to write: .wav, .flac, .ogg or .mp3 (- for standard output, with --format).")
@click.option("--format", "audio_format", type=click.Choice(["wav", "flac", "ogg", "mp3"]),
              help="File format (default: from the file name's extension).")
@session_options
@click.option("--sample-rate", type=click.Choice(["44100", "48000"]), default="48000",
              show_default=True, help="Sample rate of the file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--sleep/--no-sleep", default=None,
              help="Bedtime version, as `haven play` plays it (see `haven play --help`; "
                   "default: on for sleep exercises).")
@click.option("--tail", type=float, metavar="MINUTES",
              help="At bedtime: minutes the background sound goes on after the guidance (10).")
@click.option("--stereo/--mono", "stereo", default=None,
              help="Channels of the file (default: stereo, but mono for an MP3 or Ogg file of "
                   "a session with no stereo sound: the same in both ears, half the size).")
def render(name, output, audio_format, minutes, params, voice, speed, ambient, loudness,
           sample_rate, quiet, sleep, tail, stereo) -> None:
    """Render an exercise to an audio file."""
    from player import plan
    from player.audio.render import check_output, prepare_script, render_to_file

    how = check_output(output, audio_format)  # a bad name or place fails before any work
    settings = _session_settings(minutes, params, voice, speed, ambient, loudness, int(sample_rate))
    script, settings = plan.load(name, settings, sleep=sleep, tail=tail)
    show_progress = not quiet and sys.stderr.isatty()
    with _Progress(show_progress) as progress:
        session = prepare_script(
            script, settings, notify=_notify, progress=progress.stage("Preparing speech")
        )
        result = render_to_file(
            session, output, progress=progress.stage("Rendering"), format=audio_format,
            channels=None if stereo is None else 2 if stereo else 1,
        )
    if quiet:
        return
    chapters = f", {result.chapters} chapters" if result.chapters else ""
    click.echo(
        f"Wrote {'standard output' if how == 'stdout' else output} "
        f"({_length(result.duration_s)}, {result.rate} Hz "
        f"{'stereo' if result.channels == 2 else 'mono'}{chapters})",
        err=how != "replace",  # the audio itself may be on standard output
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


def playback_options(func):
    """Options of every command that plays a session."""
    options = [
        click.option("--device", "-d", metavar="NAME|NUMBER",
                     help="Output device (see 'haven devices'); default: the system's."),
        click.option("--quiet", "-q", is_flag=True, help="No display and no summary."),
        click.option("--no-captions", is_flag=True, help="Do not show the lines being spoken."),
        click.option("--dim/--no-dim", default=None,
                     help="Keep the screen nearly dark (default: on at bedtime, --sleep)."),
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
          buffer_seconds, script_controls, open_ended=False) -> None:
    """Play a built session and turn its outcome into output and an exit code."""
    from player.audio.playback import parse_script_controls, play

    if checkin is None:
        try:
            from player import config

            checkin = bool(config.get("play.checkin"))
        except Exception:  # noqa: BLE001 - a broken setting must not stop a session
            checkin = False
    if buffer_seconds is not None and not 0 < buffer_seconds <= 7200:
        raise BadInputError("--buffer-seconds must be more than 0")
    try:
        parse_script_controls(script_controls, settings.sample_rate)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    from player import playlock

    if dim is None:  # bedtime sessions keep the screen dark unless asked otherwise
        dim = bool(getattr(settings.overrides, "sleep", False))
    decide = _stop_the_other_session if sys.stdin.isatty() else None
    with playlock.holding(exercise or script.id or "", script.title or "", decide):
        result = play(
            script, settings, exercise=exercise, device=device, quiet=quiet,
            captions=not no_captions, dim=dim, checkin=checkin, ring_seconds=buffer_seconds,
            script_controls=script_controls, notify=_notify, open_ended=open_ended,
        )
    if not quiet:
        how = {
            "end": "completed",
            "stopped": "stopped early, recorded as partial",
            "interrupted": "interrupted, recorded as partial",
            "terminated": "ended by a signal, recorded as partial",
        }.get(result.reason, result.reason)
        if open_ended and result.reason == "stopped" and result.completed:
            how = "stopped with q, completed"
        if result.session_id is None:
            how = how.replace(", recorded as partial", "") + ", not recorded"
        dropouts = (
            "no audio dropouts" if not result.underflows
            else f"{_plural(result.underflows, 'audio dropout')}: the computer was too busy"
        )
        from player import layout

        layout.echo(f"{result.title}: {_length(result.practiced_s)} practised ({how}; {dropouts}).",
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
def play(name, minutes, params, voice, speed, ambient, loudness, device, quiet, no_captions, dim,
         checkin, buffer_seconds, script_controls, sleep, tail) -> None:
    """Play an exercise: space pause/resume, n next section, p previous (restart) section,
    +/- volume, v/t/b/a voice/tones/bells/background softer (V/T/B/A louder), q stop. Playback starts at once; speech is made while it plays."""
    play_exercise(name, minutes=minutes, params=params, voice=voice, speed=speed, ambient=ambient,
                  loudness=loudness, sleep=sleep, tail=tail, device=device, quiet=quiet,
                  no_captions=no_captions, dim=dim, checkin=checkin,
                  buffer_seconds=buffer_seconds, script_controls=script_controls)


def play_exercise(name, *, minutes=None, params=(), voice=None, speed=None, ambient=None,
                  loudness=None, sleep=None, tail=None, device=None, quiet=False,
                  no_captions=False, dim=None, checkin=None, buffer_seconds=None,
                  script_controls=None) -> None:
    """`haven play NAME`: the session planned by the core (``player.plan``), then played.
    ``haven today`` plays its practice through here too."""
    from player import plan

    settings = _session_settings(minutes, params, voice, speed, ambient, loudness)
    script, settings = plan.load(name, settings, sleep=sleep, tail=tail)
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
@click.option("--ambient", metavar="SOUND", help="Background sound: rain, ocean, stream, pink-noise, brown-noise, white-noise, one of yours ('haven sounds'), a sound file, or none.")
@click.option("--loudness", type=float, default=None, metavar="LUFS",
              help="Integrated loudness (default: the audio.loudness_lufs setting, -18).")
@playback_options
def breathe(pattern, minutes, bpm, ramp_to, cues, ambient, loudness, device, quiet, no_captions,
            dim, checkin, buffer_seconds, script_controls) -> None:
    """A breathing pacer: PATTERN is a name (coherent, box, 4-7-8, ...) or seconds like 4-6 or
    4-7-8 (default coherent)."""
    from player.library.sessions import breathe_script

    script = breathe_script(pattern, minutes=minutes, bpm=bpm, ramp_to=ramp_to, cues=cues)
    settings = _session_settings(None, (), None, None, ambient, loudness)
    _play(script, settings, exercise=script.id, device=device, quiet=quiet,
          no_captions=no_captions, dim=dim, checkin=checkin, buffer_seconds=buffer_seconds,
          script_controls=script_controls)


@main.command()
@click.argument("minutes", required=False, metavar="[MINUTES|SAVED]")
@click.option("--every", metavar="DURATION",
              help="An interval bell this often: 5m, 90s, or a number of minutes like MINUTES.")
@click.option("--bells", metavar="TIMES", help="Bells exactly at these times, e.g. 0,25m,30m.")
@click.option("--random", "random_count", type=int, metavar="N",
              help="N bells at random times, never within a minute of another or of the ends.")
@click.option("--prepare", metavar="DURATION", help="Silence before the starting bell, e.g. 30s.")
@click.option("--start-bell", metavar="BELL",
              help="single (default), double, triple, none, or a bell sound (low-bowl, high-bowl, "
                   "your own), with a count like low-bowl:2.")
@click.option("--end-bell", metavar="BELL", help="The ending bell, as --start-bell.")
@click.option("--interval-bell", metavar="BELL", help="The interval bells, as --start-bell.")
@click.option("--ambient", metavar="SOUND",
              help="Background sound from the first bell to the last: rain, ocean, stream, ... (see 'haven sounds'), or none.")
@click.option("--save", metavar="NAME",
              help="Save these choices as a timer called NAME instead of starting (then: haven timer NAME).")
@click.option("--seed", type=int, hidden=True)  # test hook: the random bells' seed
@click.option("--loudness", type=float, default=None, metavar="LUFS",
              help="Integrated loudness (default: the audio.loudness_lufs setting, -18).")
@playback_options
def timer(minutes, every, bells, random_count, prepare, start_bell, end_bell, interval_bell,
          ambient, save, seed, loudness, device, quiet, no_captions, dim, checkin,
          buffer_seconds, script_controls) -> None:
    """Silent sitting for MINUTES (or a duration like 20m) between a starting and an ending
    bell; without MINUTES it counts up until you press q. SAVED starts a timer saved with
    --save (options given with it win)."""
    import dataclasses
    import random

    from player.library import sessions

    given = {
        "minutes": minutes, "every": every, "bells": bells, "random": random_count,
        "prepare": prepare, "start_bell": start_bell, "end_bell": end_bell,
        "interval_bell": interval_bell, "ambient": ambient,
    }
    if save is not None:
        path = sessions.save_timer(save, given)
        click.echo(f"Saved timer '{save}' ({sessions.describe_timer(given)}) in {path}. "
                   f"Start it with: haven timer {save}")
        return
    options = sessions.timer_options(given)
    settings = _session_settings(None, (), None, None, options["ambient"], loudness)
    # The bed belongs to the sitting (from its first bell to its last), not the whole session.
    bed = settings.overrides.ambient
    settings = dataclasses.replace(
        settings, overrides=dataclasses.replace(settings.overrides, ambient=None))
    script = sessions.timer_from_options(
        options, ambient=bed, ambient_level_db=settings.overrides.ambient_level_db,
        rng=random.Random(seed) if seed is not None else None,
    )
    _play(script, settings, exercise=script.id, device=device, quiet=quiet,
          no_captions=no_captions, dim=dim, checkin=checkin, buffer_seconds=buffer_seconds,
          script_controls=script_controls, open_ended=options["minutes"] is None)


@main.command("sounds")
@click.option("--play", "play_name", metavar="NAME",
              help="Hear one: a bed for 20 seconds, a bell struck (your own sounds too).")
@click.option("--device", "-d", metavar="NAME|NUMBER", help="Output device for --play.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sounds_cmd(play_name, device, as_json) -> None:
    """List the background sounds and bells, Haven's and your own, or hear one."""
    from player.audio import sounds

    if play_name is not None:
        from player.audio.playback import play
        from player.audio.render import SessionSettings

        script = sounds.preview_script(play_name)
        result = play(script, SessionSettings(), device=device, quiet=True, record=False,
                      notify=_notify)
        if result.exit_code:
            raise click.exceptions.Exit(result.exit_code)
        return
    found = sounds.listing()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    yours = ", ".join(f"{s['name']} ({os.path.basename(s['file'])})" for s in found["yours"])
    click.echo(f"Beds:   {', '.join(found['beds'])}")
    click.echo(f"Bells:  {', '.join(found['bells'])}; {', '.join(found['strikes'])} "
               "(the bowl struck two or three times)")
    click.echo(f"Yours:  {_printable(yours) if yours else 'none yet'}")
    click.echo(f"\nYour sounds folder: {_printable(found['folder'])}\n"
               "A sound file there is used by its name (--ambient creek, bell: {sound: creek}); "
               "any file path works too.\nHear one: haven sounds --play NAME")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices(as_json: bool) -> None:
    """List the audio outputs Haven can play to (use a number or name with --device)."""
    from player.errors import AudioDeviceError
    from player.audio.devices import FIX_NO_DEVICE, output_devices

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


SAMPLE_SENTENCE = ("Let your shoulders soften, and let the breath find its own pace. "
                   "There is nothing you need to do right now.")


@main.command()
@click.option("--engine", help="Only this engine's voices (pyttsx3 or espeak, piper).")
@click.option("--all", "show_all", is_flag=True,
              help="Every system voice (default: those of your language and English).")
@click.option("--sample", metavar="[ENGINE:]VOICE",
              help="Speak one sentence with this voice, to compare (as --voice takes it).")
@click.option("-o", "--output", type=click.Path(allow_dash=True), metavar="FILE",
              help="With --sample: write the sentence to this audio file instead of playing it.")
@click.option("--device", "-d", metavar="NAME|NUMBER", help="Output device for --sample.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(engine: str | None, show_all: bool, sample: str | None, output: str | None,
           device: str | None, as_json: bool) -> None:
    """List the voices by engine, your language first, marking the default and what is
    installed; or hear one with --sample."""
    import dataclasses

    from player import speech
    from player.speech.engines import ENGINE_LABELS, SYSTEM_ENGINE

    if sample is not None:
        _speak_sample(sample, output=output, device=device)
        return
    if output is not None or device is not None:
        raise BadInputError("--output and --device go with --sample VOICE")
    found, notes = speech.all_voices(engine)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(v) for v in found], indent=2))
        for note in notes:
            _notify(note)
        return
    default = speech.default_voice()
    mine = _user_language()
    def speaks(v, lang: str) -> bool:
        return speech.speaks_language(v.languages, lang)

    shown = [v for v in found if show_all or v.engine != SYSTEM_ENGINE
             or speaks(v, mine) or speaks(v, "en")]
    shown.sort(key=lambda v: (not speaks(v, mine), not speaks(v, "en")))
    default_id = _default_id(default)
    def typed(v) -> str:  # the name a user types: "espeak:gmw/en-us", not the adapter's name
        return f"{'espeak' if v.engine == SYSTEM_ENGINE else v.engine}:{v.id}"

    width = max((len(typed(v)) for v in shown), default=0)
    lang_width = max((len(", ".join(v.languages) or "-") for v in shown), default=0)
    for name in sorted(dict.fromkeys(v.engine for v in found), key=lambda n: n != default.engine):
        group = [v for v in shown if v.engine == name]
        heading = ENGINE_LABELS.get(name, name)
        heading = heading[:1].upper() + heading[1:]
        _report(f"{heading}{', the default' if name == default.engine else ''}:")
        for v in group:
            langs = ", ".join(v.languages) or "-"
            state = "installed" if v.installed else "not installed"
            if name == default.engine and v.id == default_id:
                state += ", default"
            _report(f"{typed(v):<{width}}  {langs:<{lang_width}}  {state:<18}  "
                    f"{v.name}")
        hidden = sum(1 for v in found if v.engine == name) - len(group)
        if hidden:
            _report(f"  ... and {_plural(hidden, 'more voice')} in other languages "
                    "(haven voices --all)")
        if name == "piper":
            from player.speech.engines import NEURAL_LICENCE_NOTE

            _report(f"  Licence: {NEURAL_LICENCE_NOTE}")
        _report("")
    for note in notes:
        _report(note)
    _report(f"Default: {ENGINE_LABELS.get(default.engine, default.engine)}, because "
            f"{default.why}.")
    _report("Hear one: haven voices --sample VOICE. Use one with --voice VOICE (piper, joe, "
            "espeak:en-gb), or for every session: haven config set voice.engine ENGINE; "
            "haven config set voice VOICE")


def _user_language() -> str:
    """The user's language from the locale (LC_ALL, LC_MESSAGES, LANG), e.g. "de"; "en"."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            code = value.split(".", 1)[0].split("@", 1)[0].replace("_", "-").lower()
            return code.split("-", 1)[0] if code not in ("c", "posix") else "en"
    return "en"


def _default_id(default) -> str | None:
    """The id of the default voice in its engine's listing (None: the engine's own default)."""
    if default.voice:
        return default.voice
    from player.speech.engines import load_engine_class

    return getattr(load_engine_class(default.engine), "DEFAULT_VOICE_ID", None)


def _speak_sample(voice: str, *, output: str | None, device: str | None) -> None:
    """``haven voices --sample VOICE``: one sentence with that voice, played as any session
    is (or written to ``output``), so voices can be compared."""
    from player import plan
    from player.format import model

    settings = plan.resolve_settings(voice=voice)
    script = model.Script(id="voice-sample", title=f"Voice sample: {voice}",
                          steps=(model.Say(SAMPLE_SENTENCE, after=0.5),), ending="silence")
    if output is not None:
        from player.audio.render import check_output, prepare_script, render_to_file

        how = check_output(output, None)
        render_to_file(prepare_script(script, settings, notify=_notify), output)
        if how == "replace":
            click.echo(f"Wrote {output}")
        return
    from player.audio.playback import play
    from player.errors import AudioDeviceError

    try:
        result = play(script, settings, device=device, quiet=True, record=False, notify=_notify)
    except AudioDeviceError as exc:  # as play says it, with this command's way to a file
        raise AudioDeviceError(exc.message, hint="connect headphones or speakers, or write it "
                               f"to a file: haven voices --sample {voice} -o sample.wav") from exc
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


@main.command()
def doctor() -> None:
    """Check the speech engine, audio libraries, devices and folders; print fixes."""
    from player.cli.doctor import run_checks

    problems = 0
    limits = []
    for check in run_checks():
        mark = "ok " if check.ok else ("-- " if check.optional else "!! ")
        _report(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            _report(f"     fix: {check.fix}")
        if not check.ok and not check.optional:
            problems += 1
        elif not check.ok:
            limits.append(check.name)
    if problems:
        _report(f"\n{_plural(problems, 'problem')} found.")
        raise click.exceptions.Exit(1)
    if "audio output" in limits:
        _report("\nHaven cannot play sound here: no audio output (see above). Everything else is "
                "in place, and 'haven render NAME -o FILE' makes a file to play anywhere.")
    elif limits:
        _report(f"\nEverything Haven needs is in place; optional parts missing: "
                f"{', '.join(limits)} (marked -- above).")
    else:
        _report("\nEverything Haven needs is in place.")


@main.group()
def cache() -> None:
    """Inspect or clear the cache of synthesized speech and computed sounds."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Show where the speech cache is and how big it is."""
    from player.speech.cache import cache_info as info

    data = info()
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    _report(f"Folder:  {data['folder']}")
    _report(f"Clips:   {data['entries']}")
    over = ""
    if data["bytes"] > data["max_bytes"]:
        over = " (over the limit: trimmed when new speech is next saved)"
    _report(f"Size:    {data['bytes'] / 1e6:.1f} MB{over}")
    _report(f"Limit:   {data['max_bytes'] / 1e6:g} MB, least recently used clips go first "
               "(haven config set cache.max_mb N)")
    if data["other_files"]:
        _report(f"Other:   {data['other_files']} files ({data['other_bytes'] / 1e6:.1f} MB) "
                   "that are no clip; haven cache clear removes them")


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached clip and computed sound (they are re-made when needed)."""
    from player.speech.cache import cache_clear as clear

    files, size = clear()
    click.echo(f"Removed {files} files ({size / 1e6:.1f} MB).")


def _register_journal_commands() -> None:
    """Journal and settings commands live in their own module; add them to the group."""
    from player.cli import journal as cli_journal

    for command in cli_journal.COMMANDS:
        main.add_command(command)


_register_journal_commands()


def _register_program_commands() -> None:
    """Programs (`program`, `today`) and `new` live in their own module; add them too."""
    from player.cli import programs as cli_programs

    for command in cli_programs.COMMANDS:
        main.add_command(command)


_register_program_commands()


def _register_report_command() -> None:
    """`report` (a practice report as one HTML page) lives in player.report; add it too."""
    from player.report.command import report

    main.add_command(report)


_register_report_command()


def _register_sync_commands() -> None:
    """`remind` (a calendar file) and `feed` (a private podcast feed) live in player.cli.sync."""
    from player.cli import sync as cli_sync

    for command in cli_sync.COMMANDS:
        main.add_command(command)


_register_sync_commands()
