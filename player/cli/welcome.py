"""What ``haven`` with no command shows: a short welcome instead of only the usage text.

What to try first, today's practice when a program runs, and the streak once there is one;
``haven --help`` keeps the full list of commands and the crisis lines. Nothing heavy is
imported (no numpy, no speech engine), and a journal that cannot be read only leaves its
lines out: the welcome never fails.
"""

from __future__ import annotations

from datetime import datetime

TRY_FIRST = (
    ("haven list", "the exercises and their lengths"),
    ("haven play three-minute-breathing-space", "a first practice, three minutes"),
    ("haven breathe", "a five-minute breathing pacer"),
    ("haven program start foundations", "four weeks of short daily practice"),
)
MORE = ("Every command: haven --help. Tab completion for your shell: haven completion bash "
        "(or zsh, fish); the README says where to put it.")


def lines(now: datetime) -> list[str]:
    """The welcome's lines (report text: the caller fits them to the terminal)."""
    out = ["Haven: guided meditation, breathing and self-compassion, offline.", ""]
    today = _today(now)
    if today:
        out += today + [""]
    else:
        from player.layout import width as terminal_width

        width = max(len(cmd) for cmd, _ in TRY_FIRST)
        out.append("To begin:")
        if 2 + width + 2 + max(len(what) for _, what in TRY_FIRST) <= terminal_width():
            out += [f"  {cmd:<{width}}  {what}" for cmd, what in TRY_FIRST]
        else:  # narrow: each command on its own line, what it does below it
            for cmd, what in TRY_FIRST:
                out += [f"  {cmd}", f"      {what}"]
        out.append("")
    streak = _streak(now)
    if streak:
        out += [streak, ""]
    out.append(MORE)
    return out


def _today(now: datetime) -> list[str]:
    """Today's practice in the running program (from ``haven today --list``), or nothing."""
    try:
        from player.cli import journal as cli_journal, programs as cli_programs
        from player.library import programs

        with cli_journal._open_journal(readonly=True) as journal:
            state = programs.program_state(journal, now)
        if state is None:
            return []
        head = cli_programs._headline(state)
        if state.progress.status != "running":
            return [head, "'haven today' says more."]
        play = ["Play it with: haven today"] if state.progress.due is not None else []
        return [head, cli_programs._today_line(state), *play]
    except Exception:  # noqa: BLE001 - a welcome never fails; `haven today` reports problems
        return []


def _streak(now: datetime) -> str | None:
    """``Streak: 3 days (longest 5).`` once anything was practised; None before, or when
    streaks are hidden (``show_streaks = false``)."""
    try:
        from player.cli import journal as cli_journal
        from player.journal import reports

        ctx = reports.load_context(now=now, opener=cli_journal._reader, detail=False)
        data = reports.streak_report(ctx, weeks=1)
    except Exception:  # noqa: BLE001 - as above
        return None
    if not data.get("show_streaks") or not data.get("first_day"):
        return None
    current = data["current_streak"]["days"] or 0
    longest = data["longest_streak"]["days"] or 0
    days = f"{current} day{'' if current == 1 else 's'}"
    text = f"Streak: {days}" + (f" (longest {longest})" if longest > current else "")
    if current and not data["today_counts"] and not data["today_rest"]:
        text += "; practise today to keep it"
    return text + "."
