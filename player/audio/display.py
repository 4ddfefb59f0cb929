"""What the terminal shows while a session plays (rich ``Live``; off when not a terminal).

Title, section, elapsed and remaining time, a progress bar, the line being spoken, and a
breathing indicator that grows through the in-breath and shrinks through the out-breath.
Everything is computed from the session position the audio callback has reached (frames
actually delivered, less the device's output latency), never from a wall clock, so the
indicator moves with the tones even when playback holds, pauses or seeks.

``breath_at`` and ``caption_at`` are pure functions of a timeline and a position.
"""

from __future__ import annotations

import bisect
import math
import time

from player.format.durations import clock
from dataclasses import dataclass

# Show a spoken line this long after it ends, so short sentences can be read.
CAPTION_HOLD_S = 1.5
REFRESH_S = 0.1
BAR_WIDTH = 40
BREATH_DOT = "●"  # the breathing indicator: dots, never the progress bar's line
PHASE_LABELS = {
    "inhale": "breathe in",
    "inhale2": "a little more",
    "hold": "hold",
    "exhale": "breathe out",
    "hold_out": "hold",
}


def _rise(x: float) -> float:
    """The raised cosine the tones glide along (``synth``): 0 -> 1 over x in [0, 1]."""
    x = min(1.0, max(0.0, x))
    return 0.5 - 0.5 * math.cos(math.pi * x)


def breath_at(timeline, position: int) -> tuple[str, float] | None:
    """(phase kind, size 0..1) of the breathing practice at ``position``, or None.

    The size follows the tone's pitch glide: it rises on the inhale, stays full through a
    hold, falls on the exhale and stays empty through the hold after it.
    """
    for breath in timeline.breaths:
        if breath.start <= position < breath.end and breath.phases:
            starts = [p.start for p in breath.phases]
            i = max(0, bisect.bisect_right(starts, position) - 1)
            phase = breath.phases[i]
            x = (position - phase.start) / max(phase.end - phase.start, 1)
            if phase.kind == "inhale":
                size = _rise(x)
            elif phase.kind == "exhale":
                size = 1.0 - _rise(x)
            elif phase.kind == "hold_out":
                size = 0.0
            else:  # hold, inhale2: full
                size = 1.0
            return phase.kind, size
    return None


def caption_at(timeline, position: int) -> str | None:
    """The sentence being spoken at ``position`` (kept a moment after it ends)."""
    hold = int(CAPTION_HOLD_S * timeline.rate)
    best = None
    for event in timeline.speech:
        if event.start > position:
            break
        if event.kind in ("say", "guide") and position < event.end + hold:
            best = event.request.text
    return best


@dataclass
class Snapshot:
    """Everything the display shows, taken from the player and the session at one moment."""

    title: str
    section: str | None
    position_s: float
    length_s: float
    estimated: bool
    paused: bool
    holding: bool
    seeking: bool
    preparing: str | None
    volume_db: float
    caption: str | None
    breath: tuple[str, float] | None
    underflows: int
    open_ended: bool = False  # an open-ended timer: count up, no length or bar
    notice: str | None = None  # a key's feedback ("This is the last section")

    @classmethod
    def of(cls, player, session) -> "Snapshot":
        timeline = session.timeline
        rate = timeline.rate
        latency = 0
        stream = player.stream
        if stream is not None:
            try:
                latency = int(float(stream.latency) * rate)
            except (TypeError, ValueError, AttributeError):
                latency = 0
        position = max(0, player.position - latency)
        chapter = timeline.chapter_at(position)
        total = len(getattr(session, "requests", ()) or ())
        done = getattr(session, "synthesized", total)
        preparing = None
        if not session.complete and getattr(session, "needs_all", False):
            preparing = f"Preparing speech ({done} of {total})"
        return cls(
            title=timeline.title or "",
            section=timeline.chapters[chapter].title if chapter >= 0 else None,
            position_s=position / rate,
            length_s=timeline.length / rate,
            estimated=not session.complete,
            paused=player.paused,
            holding=player.holding and not player.paused,
            seeking=player.seeking(),
            preparing=preparing,
            volume_db=player.volume_db,
            caption=caption_at(timeline, position),
            breath=breath_at(timeline, position),
            underflows=player.underflows,
            open_ended=bool(getattr(session, "open_ended", False)),
            notice=_notice_of(player),
        )


def times(position_s: float, length_s: float) -> tuple[int, int, int]:
    """(elapsed, total, left) in whole seconds, so that elapsed + left is always the total
    shown (each rounded on its own, they could be a second short of it)."""
    total = max(0, int(round(length_s)))
    elapsed = min(total, max(0, int(position_s)))
    return elapsed, total, total - elapsed


def breath_line(kind: str, size: float, width: int) -> str:
    """The breathing indicator: a row of dots that widens from the middle on the in-breath
    and narrows on the out-breath, then the phase in words."""
    label = PHASE_LABELS.get(kind, kind)
    room = max(3, min(BAR_WIDTH, width - len(label) - 3))
    n = 1 + int(round(size * (room - 1)))
    pad = (room - n) // 2
    return " " * pad + BREATH_DOT * n + " " * (room - n - pad) + "  " + label


def _notice_of(player) -> str | None:
    notice = getattr(player, "notice", None)
    if not notice or time.monotonic() > notice[1]:
        return None
    return notice[0]



class SessionDisplay:
    """A rich Live view on stdout; every method is a no-op when ``enabled`` is False."""

    def __init__(self, *, enabled: bool, captions: bool = True, dim: bool = False,
                 keys: bool = False, console=None):
        self.enabled = enabled
        self.captions = captions
        self.dim = dim
        self.keys = keys
        self._console = console
        self._live = None
        self._last = 0.0
        self._shown = None  # what the screen shows now (``view``): redrawn only on a change
        self.refresh_s = REFRESH_S
        self.redraws = 0

    def start(self) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.live import Live

        console = self._console or Console()
        self._live = Live(console=console, auto_refresh=False, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def update(self, snapshot: Snapshot, *, preparing: bool = False) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last < REFRESH_S:
            return
        self._last = now
        view = self.view(snapshot, preparing=preparing)
        if view == self._shown:
            return  # the same text and bar: drawing it again would cost and show nothing
        self._shown = view
        self.redraws += 1
        self._live.update(self.render(snapshot, preparing=preparing), refresh=True)

    def view(self, snap: Snapshot, *, preparing: bool = False) -> tuple:
        """Everything ``render`` shows, as it is shown (whole seconds, the bar's steps, the
        breathing indicator's dots): two snapshots with the same view draw the same screen."""
        width = self._width()
        fraction = snap.position_s / snap.length_s if snap.length_s > 0 else 0.0
        breath = None
        if snap.breath is not None:
            breath = breath_line(snap.breath[0], snap.breath[1], width)
        return (
            snap.title, snap.section, times(snap.position_s, snap.length_s),
            int(snap.position_s) if snap.open_ended else None, snap.estimated,
            snap.open_ended, int(2 * min(BAR_WIDTH, width) * min(1.0, fraction)),
            preparing, snap.preparing, snap.paused, snap.holding, snap.seeking, breath,
            snap.notice, snap.caption if self.captions else None, round(snap.volume_db),
            snap.underflows, width,
        )

    def stop(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except Exception:  # noqa: BLE001 - the terminal may be gone; nothing to show
                pass

    # --- drawing ---------------------------------------------------------------------

    def _width(self) -> int:
        """The terminal's width (rich's console; 80 without one)."""
        console = self._console or (self._live.console if self._live is not None else None)
        try:
            return int(console.width) if console is not None else 80
        except (TypeError, ValueError, AttributeError):
            return 80

    def render(self, snap: Snapshot, *, preparing: bool = False):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        dim = self.dim
        faint = "grey23" if dim else "dim"
        main = "grey30" if dim else "bold"
        accent = "grey27" if dim else "cyan"
        lines = []
        if not dim:
            lines.append(Text(snap.title, style=main))
        elapsed, total, left = times(snap.position_s, snap.length_s)
        about = "about " if snap.estimated else ""
        where = f"{clock(elapsed, floor=True)} / {about}{clock(total, floor=True)}"
        where += f"   {about}{clock(left, floor=True)} left"
        if snap.open_ended:
            where = f"{clock(snap.position_s, floor=True)} sat   q to end"
        head = f"{snap.section}   " if snap.section else ""
        lines.append(Text(head + where, style=faint))
        fraction = snap.position_s / snap.length_s if snap.length_s > 0 else 0.0
        width = self._width()
        if not snap.open_ended:  # counting up: no length, no bar
            lines.append(
                ProgressBar(total=1000, completed=int(1000 * min(1.0, fraction)),
                            width=min(BAR_WIDTH, width), style="grey11" if dim else "grey30",
                            complete_style=accent, finished_style=accent)
            )
            # rich's bar ends without a line break: end its line here, or the next line
            # (the breathing indicator, "Paused") would be drawn on the bar's own line.
            lines.append(Text(""))
        lines.append(Text(""))  # and a blank line: what follows never touches the bar
        status = None
        if preparing or snap.preparing:
            status = snap.preparing or "Getting ready..."
        elif snap.paused:
            status = "Paused. Press space to go on."
        elif snap.holding:
            status = "Waiting for the voice to be ready..."
        elif snap.seeking:
            status = "Moving..."
        if snap.breath is not None and status is None:
            kind, size = snap.breath
            lines.append(Text(breath_line(kind, size, width), style=accent))
        else:
            lines.append(Text(status or "", style=faint if dim else "italic"))
        if snap.notice:
            lines.append(Text(snap.notice, style=faint if dim else "italic"))
        if self.captions:
            lines.append(Text(snap.caption or "", style=main if not dim else faint))
        if self.keys:
            hint = "space pause  n/p section  +/- volume  v t b a level (V T B A up)  q stop"
            if snap.volume_db < 0:
                hint += f"   volume {snap.volume_db:+.0f} dB"
            from player.layout import fit_line

            lines.append(Text(fit_line(hint, width), style=faint))
        if snap.underflows and not dim:
            noun = "audio dropout" if snap.underflows == 1 else "audio dropouts"
            lines.append(Text(f"{snap.underflows} {noun}", style="yellow"))
        return Group(*lines)
