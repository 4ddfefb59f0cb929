"""A played session: a planned session tied to a device, the keys, the display and the journal.

``play()`` runs a whole session: journal, display, keyboard, signals; see its docstring. The
real-time engine it drives is ``player.audio.engine``; the devices are ``player.audio.devices``.

``HAVEN_PLAYBACK_REPORT=<file>`` makes ``play()`` write a JSON report there (at the start,
then at the end: frames delivered, underflows, holds, the callback's event log, timings).
Tests and ``bench/playback_bench.py`` read it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from player.audio import devices
from player.audio.engine import BLOCK, LOW_WATER, PREFILL_PATIENCE_S, RELAXED_BLOCK, Player
from player.format.durations import clock
from player.errors import AudioDeviceError, HavenError

PROGRESS_EVERY_S = 30.0  # journal progress updates
IDLE_S = 1.0  # with nothing on screen, the session loop wakes this often (and at any event)
VOLUME_STEP_DB = 3.0


# --- a whole session ---------------------------------------------------------------------


@dataclass
class PlayResult:
    exercise: str
    title: str
    planned_s: float
    practiced_s: float
    completed: bool
    reason: str  # end | stopped | interrupted | terminated | device-lost
    underflows: int = 0
    holds: int = 0
    session_id: str | None = None
    journal_problem: str | None = None
    stats: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"interrupted": 130, "terminated": 143, "device-lost": 1}.get(self.reason, 0)


class _Signals:
    """SIGINT/SIGTERM/SIGHUP set a flag instead of raising in whatever code is running, so
    stopping is always the same orderly path: fade, restore the terminal, record, exit."""

    def __init__(self):
        self.received: int | None = None
        self.event = threading.Event()
        self.on_signal: Callable[[], None] | None = None  # e.g. wake the session loop
        self._old: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except (OSError, ValueError):
                pass

    def _handler(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
        self.event.set()
        if self.on_signal is not None:
            self.on_signal()

    def restore(self) -> None:
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (OSError, ValueError):
                pass
        self._old.clear()


class _Report:
    """The optional JSON report (``HAVEN_PLAYBACK_REPORT``)."""

    def __init__(self):
        self.path = os.environ.get("HAVEN_PLAYBACK_REPORT") or None
        self.data: dict = {"pid": os.getpid(), "stage": "starting",
                           "started_monotonic": time.monotonic()}

    def write(self, **values) -> None:
        self.data.update(values)
        if not self.path:
            return
        tmp = f"{self.path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.data, fh, default=str)
            os.replace(tmp, self.path)
        except OSError:
            pass


def parse_script_controls(text: str | None, rate: int) -> list[tuple[int, str]]:
    """``"pause@2.0,resume@3.5"`` -> [(96000, "pause"), (168000, "resume")] (device clock)."""
    if not text:
        return []
    result = []
    for item in text.split(","):
        action, sep, at = item.strip().partition("@")
        if not sep or action not in ("pause", "resume", "stop"):
            raise ValueError(f"bad scripted control {item!r} (use pause@S, resume@S, stop@S)")
        result.append((int(round(float(at.rstrip("s")) * rate)), action))
    return result


def play(
    script,
    settings,
    *,
    exercise: str | None = None,
    device=None,
    quiet: bool = False,
    captions: bool = True,
    dim: bool = False,
    checkin: bool = False,
    record: bool = True,
    ring_seconds: float | None = None,
    script_controls: str | None = None,
    notify: Callable[[str], None] | None = None,
    stream_factory: Callable | None = None,
    interactive: bool | None = None,
    open_ended: bool = False,
) -> PlayResult:
    """Play ``script`` with ``settings`` to the end, a stop, a signal or a lost device.

    Order: signals are caught first (a flag, never an exception mid-way), the session is
    begun (computing only) while sounddevice loads in a thread, the device is checked
    (AudioDeviceError before anything is recorded or synthesized), speech starts synthesizing
    in the background while the loudness plan and first mixer are made (and the check-in
    question is asked), the ring is pre-filled, the stream starts and then the journal row is
    written: a play that ends before any sound (a script that cannot fit ``--minutes``,
    Ctrl-C while preparing) records nothing.
    Whatever happens after the row is written, the terminal is restored and the row is
    finished with the practiced time counted from frames delivered (``completed`` only at
    the end).
    A lost device raises AudioDeviceError after recording.
    ``open_ended`` (a timer without a length): stopping with q is how it ends, so a stop
    counts as completed.
    """
    from player.audio.streaming import StreamingSession

    report = _Report()
    signals = _Signals()
    signals.install()
    report.write(stage="started")
    exercise = exercise or script.id or script.title
    if interactive is None:
        interactive = sys.stdin.isatty()
    try:
        sd = None
        out_channels = settings.channels
        # Time to first audio (bench P2): importing sounddevice runs `ldconfig -p` and
        # PortAudio's initialization, ~60 ms of C and waiting that a thread can do while this
        # one begins the session (numpy, the requests, the planned timeline), which starts no
        # synthesis and records nothing: so the device is still checked before either. Then
        # speech starts, and the loudness plan and first mixer are made while the first clip
        # is synthesized (on a first run they compute what later runs read back: P3).
        preload = devices.preload_sounddevice() if stream_factory is None else None
        session = StreamingSession(script, settings, notify=notify, prepare=False)
        try:
            if stream_factory is None:
                preload.join()
                sd = devices.load_sounddevice()
                device, device_name, out_channels = devices.resolve_output(
                    sd, device, rate=settings.sample_rate, channels=settings.channels
                )
                report.write(device=device_name)
            if out_channels != settings.channels:
                from dataclasses import replace

                settings = replace(settings, channels=out_channels)
                session = StreamingSession(script, settings, notify=notify, prepare=False)
            session.open_ended = open_ended
            session.start()
            session.prepare()
        except BaseException:
            session.close(timeout=0.5)
            raise

        mood_before = None
        if checkin and interactive and not signals.event.is_set():
            signals.restore()  # Ctrl-C at a question skips it, as everywhere in click
            try:
                mood_before = _prompt("prompt_mood")
            except BaseException:
                session.close(timeout=0.5)
                raise
            _care(mood_before, None)
            signals.install()

        # The journal row is written once audio has started (``_run`` calls ``row.begin``): a
        # play that fails before any sound (a script that cannot fit --minutes, a device that
        # will not open, Ctrl-C while preparing) is not practice and leaves no row.
        row = _JournalRow(record, exercise, script, mood_before, notify, report)
        progress = {"practiced_s": 0.0}
        try:
            result = _run(
                session, settings, signals, report, progress,
                device=device, sd=sd, quiet=quiet, captions=captions, dim=dim,
                interactive=interactive, ring_seconds=ring_seconds,
                script_controls=script_controls, stream_factory=stream_factory,
                journal=row,
            )
        except BaseException:
            row.finish(progress["practiced_s"], False, None, None)
            raise
        finally:
            session.close(timeout=0.5)
        result.exercise, result.title = exercise, script.title
        if open_ended and result.reason == "stopped":
            result.completed = True
        result.session_id, result.journal_problem = row.session_id, row.problem

        mood_after = note = None
        if checkin and interactive and result.reason in ("end", "stopped"):
            signals.restore()
            try:
                mood_after = _prompt("prompt_mood")
                note = _prompt("prompt_note")
            except KeyboardInterrupt:
                # Ctrl-C at a question after the session: leave at once (exit 130), with the
                # session recorded as it was played (without the unanswered check-in).
                row.finish(result.practiced_s, result.completed, mood_after, None)
                raise
            _care(mood_after, mood_before)
        row.finish(result.practiced_s, result.completed, mood_after, note)
        report.write(stage="finished", reason=result.reason, **result.stats)
        if result.reason == "device-lost":
            raise AudioDeviceError(
                f"the audio device stopped working after {clock(result.practiced_s)}; "
                "the session is recorded as partial",
                hint="check the connection, then play again (`haven devices` lists outputs)",
            )
        return result
    finally:
        signals.restore()


def device_block(interactive: bool) -> int:
    """Frames per device buffer: small enough that a key is heard within 100 ms when keys can
    be pressed (``engine.BLOCK``), eight times larger otherwise (``engine.RELAXED_BLOCK``:
    fewer wake-ups of the device, the callback and PulseAudio, the most of playing's CPU)."""
    return BLOCK if interactive else RELAXED_BLOCK


def _run(session, settings, signals, report, progress, *, device, sd, quiet, captions, dim, interactive,
         ring_seconds, script_controls, stream_factory, journal) -> PlayResult:
    from player.audio.controls import KeyReader
    from player.audio.display import SessionDisplay, Snapshot

    rate = settings.sample_rate
    block = device_block(interactive)
    ring_blocks = None
    if ring_seconds:
        ring_blocks = max(LOW_WATER * 2, math.ceil(ring_seconds * rate / block))
    player = Player(
        session, device=device, block=block, ring_blocks=ring_blocks,
        stream_factory=stream_factory, scripted=parse_script_controls(script_controls, rate),
    )
    # The session loop sleeps until something happens: a key, a signal, the stream's end,
    # or the display's next refresh (IDLE_S when nothing is shown).
    wake = threading.Event()
    player.on_finished = wake.set
    signals.on_signal = wake.set
    keys = KeyReader(on_suspend=player.pause, on_key=wake.set) if interactive else None
    display = SessionDisplay(enabled=not quiet and sys.stdout.isatty(), captions=captions,
                             dim=dim, keys=keys is not None)
    tick = display.refresh_s if display.enabled else IDLE_S
    reason = "end"
    last_progress = time.monotonic()

    def snapshot() -> Snapshot:
        return Snapshot.of(player, session)

    def preparing() -> None:
        if display.enabled:
            display.update(snapshot(), preparing=True)

    try:
        display.start()
        if keys is not None and not keys.start():
            keys = None
        started = player.start(
            sd=sd, abort=signals.event.is_set, on_wait=preparing,
            patience=None if ring_seconds else PREFILL_PATIENCE_S,
        )
        if started:
            journal.begin(session.timeline.duration_s)  # sound is playing: now it is practice
        report.write(stage="playing" if started else "stopping",
                     stream_started_monotonic=player.stream_started_at)
        while started:
            if signals.event.is_set() and not player._stop_req:
                player.stop()
            if keys is not None:
                for key in keys.read():
                    _handle_key(player, key)
            if session.error is not None and not player._stop_req:
                player.stop()
            if player.producer_error is not None:
                raise player.producer_error
            if player.finished.is_set():
                break
            if player.device_lost():
                reason = "device-lost"
                break
            if display.enabled:
                display.update(snapshot())
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                try:
                    journal.progress(player.delivered / rate)
                except HavenError:
                    pass
            wake.wait(tick)
            wake.clear()  # whatever woke us is looked at from the top
    finally:
        if player.stream is not None and not player.finished.is_set():
            player.stop()
            player.finished.wait(0.5)
        player.close()
        progress["practiced_s"] = player.delivered / rate
        if keys is not None:
            keys.stop()
        display.stop()
    if session.error is not None:
        raise session.error
    if reason != "device-lost":
        if player.completed:
            reason = "end"
        elif signals.received is not None:
            reason = "interrupted" if signals.received == signal.SIGINT else "terminated"
        else:
            reason = "stopped"
    stats = player.stats()
    stats["first_audio_monotonic"] = player.first_audio_at
    return PlayResult(
        exercise="", title="",
        planned_s=session.timeline.duration_s,
        practiced_s=player.delivered / rate,
        completed=player.completed and reason == "end",
        reason=reason,
        underflows=player.underflows,
        holds=player.holds,
        stats=stats,
    )


NOTICE_S = 2.5  # how long a key's feedback stays on screen


def _notice(player: Player, text: str) -> None:
    """Feedback for a key that changed nothing you can hear (shown for ``NOTICE_S``)."""
    player.notice = (text, time.monotonic() + NOTICE_S)


def _handle_key(player: Player, key: str) -> None:
    if key == " ":
        player.toggle_pause()
    elif key in ("n", "N"):
        if not player.next_section():
            _notice(player, "This is the last section (q stops).")
    elif key in ("p", "P"):
        player.previous_section()
    elif key in ("+", "="):
        before = player.volume_db
        after = player.change_volume(VOLUME_STEP_DB)
        _notice(player, "Volume is at its highest here (0 dB); turn the computer's volume up "
                        "for more." if after == before else f"Volume {after:+.0f} dB.")
    elif key in ("-", "_"):
        before = player.volume_db
        after = player.change_volume(-VOLUME_STEP_DB)
        _notice(player, "Volume is at its lowest." if after == before
                else f"Volume {after:+.0f} dB.")
    elif key in ("q", "Q"):
        player.stop()
    elif key in LEVEL_KEYS:
        kind, step = LEVEL_KEYS[key]
        value = player.change_level(kind, step)
        try:  # remembered for the next session
            from player import config

            config.set(f"levels.{kind}_db", value)
        except Exception:  # noqa: BLE001 - a settings file that cannot be written must not stop play
            pass


# Level keys: lower case softer, upper case louder, by LEVEL_STEP_DB.
LEVEL_STEP_DB = 2.0
LEVEL_KEYS = {
    "v": ("voice", -LEVEL_STEP_DB), "V": ("voice", LEVEL_STEP_DB),
    "t": ("tones", -LEVEL_STEP_DB), "T": ("tones", LEVEL_STEP_DB),
    "b": ("bells", -LEVEL_STEP_DB), "B": ("bells", LEVEL_STEP_DB),
    "a": ("bed", -LEVEL_STEP_DB), "A": ("bed", LEVEL_STEP_DB),
}


def _prompt(name: str):
    """Ask the check-in question ``name`` of ``player.prompts`` (None when skipped)."""
    from player import prompts

    return getattr(prompts, name)()


def _care(mood, previous) -> None:
    """After a check-in rating: the care note when ``player.care``'s rule asks for one (a low
    rating, or a fall since the rating before the session), shown on the terminal."""
    from player import care, prompts

    message = care.mood_care(mood, previous)
    if message is not None:
        prompts.show_care(message)


class _JournalRow:
    """The journal row of one play: written when audio starts, updated, finished.

    ``begin`` (the stream has started) opens the journal and writes the row; ``progress``
    stores the practiced time so far; ``finish`` closes the row. Before ``begin`` nothing is
    written, so a play that never made a sound leaves no trace in the journal. A journal
    that cannot be used is told once through ``notify`` and never stops the session.
    """

    def __init__(self, record, exercise, script, mood_before, notify, report):
        self.record, self.exercise, self.script = record, exercise, script
        self.mood_before, self.notify, self.report = mood_before, notify, report
        self.journal = None
        self.session_id: str | None = None
        self.problem: str | None = None

    def begin(self, planned_s: float) -> None:
        if not self.record or self.session_id is not None or self.problem is not None:
            return
        try:
            from player.journal import Journal

            self.journal = Journal.open()
            self.session_id = self.journal.start_session(
                self.exercise, self.script.title, self.script.category,
                planned_s=round(planned_s, 3), mood_before=self.mood_before,
            )
        except (HavenError, ImportError, OSError) as exc:
            self.problem = str(exc)
            self._close()
            if self.notify is not None:
                self.notify(f"this session is not being recorded in your journal ({exc})")
            return
        self.report.write(session_id=self.session_id)

    def progress(self, practiced_s: float) -> None:
        if self.session_id is not None:
            self.journal.update_progress(self.session_id, practiced_s)

    def finish(self, practiced_s, completed, mood_after, note) -> None:
        if self.session_id is None:
            return
        try:
            self.journal.finish_session(self.session_id, round(practiced_s, 3), completed,
                                        mood_after=mood_after, note=note)
        except HavenError as exc:
            if self.notify is not None:
                self.notify(f"could not record the session in your journal ({exc})")
        finally:
            self._close()

    def _close(self) -> None:
        journal, self.journal = self.journal, None
        if journal is not None:
            try:
                journal.close()
            except Exception:  # noqa: BLE001
                pass

