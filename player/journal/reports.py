"""Reports over the journal: stats, streak, calendar heatmap and mood trend.

Each report is built from one query (``Journal.report_rows``) and the pure counting rules,
as a JSON-ready dict with stable keys (the ``--json`` output), and rendered to text by a
separate ``render_*`` function. Minutes are practiced minutes rounded to 0.1; dates are
practice days (``YYYY-MM-DD``); a value that does not exist (no sessions, no ratings, or a
streak hidden by ``show_streaks = false``) is ``null``, never a missing key.

Keys
----
stats:    today, rules{day_starts_at, min_minutes, goal_days_per_week, week_starts},
          totals{sessions, completed_sessions, practiced_minutes, counting_days, first_day,
          last_day, average_session_minutes}, this_week{…see week…, sessions,
          practiced_minutes}, by_category[{category, sessions, practiced_minutes,
          average_minutes}], by_exercise[{exercise, title, sessions, completed_sessions,
          practiced_minutes}], mood{rated_sessions, average_before, average_after,
          average_change}, mood_trend[{week_start, rated_sessions, average_before,
          average_after, average_change}], streaks{show_streaks, current_days, longest_days,
          goal_weeks_run, rest_days[weekday], freezes_held}
streak:   today, show_streaks, today_counts, today_rest, rest_days[weekday],
          current_streak{days, start, end, alive_until, frozen_days[date], rest_days[date]},
          longest_streak{days, start, end}, freezes{held, max, every, next_in_days,
          covered[date]}, weekly_goal{goal_days, week_starts, this_week, current_run_weeks,
          longest_run_weeks, recent_weeks[week]}
          (rest days and freezes: see ``rules.streaks``; ``freezes`` is null when streaks are
          hidden or ``freeze_max`` is 0)
week:     start, end, days_counted, days_elapsed, goal_days, goal_met, status
          ("met" | "on track" | "missed"), adherence ("3 of 7 days")
calendar: today, weeks, week_starts, start, end, levels[{level, from_minutes, to_minutes}],
          days[{date, week, weekday, minutes, sessions, counts, level, today, future, rest,
          frozen}],
          this_week, current_streak_days, longest_streak_days
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Sequence

from player.journal import rules as R
from player.printable import printable

# Calendar intensity: level 1 below 10 min, 2 below 20, 3 below 30, 4 from 30 minutes.
LEVEL_STEPS_MIN = (10, 20, 30)
CAL_CHARS = ("·", "░", "▒", "▓", "█")
CAL_COLORS = ("grey35", "#0e4429", "#006d32", "#26a641", "#39d353")
TODAY_MARK = "◂"
REST_CHAR = "–"  # a planned rest day without practice
FROZEN_CHAR = "◇"  # a missed day covered by a freeze
REST_COLOR = "grey50"
FROZEN_COLOR = "deep_sky_blue1"


class Day(NamedTuple):
    """One practice day's totals."""

    sessions: int
    seconds: float
    completed: int


class Group(NamedTuple):
    """Totals of one (category, exercise) pair."""

    category: str | None
    exercise: str
    title: str | None
    sessions: int
    completed: int
    seconds: float
    with_practice: int  # sessions with practiced time > 0


class MoodDay(NamedTuple):
    """Sessions of one practice day rated both before and after."""

    rated: int
    sum_before: int
    sum_after: int


@dataclass(frozen=True)
class Context:
    """Everything a report needs: per-day totals, per-exercise totals, mood sums, the rules,
    "now", today's practice day and the streak display switch."""

    days: dict[date, Day]
    groups: list[Group]
    moods: dict[date, MoodDay]
    rules: R.Rules
    now: datetime
    today: date
    show_streaks: bool

    @classmethod
    def from_journal(
        cls, journal, rules: R.Rules, now: datetime, show_streaks: bool = True, detail: bool = True
    ) -> "Context":
        """Read the summaries (three grouped queries; two without ``detail``)."""
        ds = rules.day_starts_at
        epoch = date(1970, 1, 1).toordinal()
        days = {
            date.fromordinal(epoch + d): Day(int(n), float(sec), int(done))
            for d, n, sec, done in journal.day_summary(ds)
        }
        groups = [
            Group(c, e, t, int(n), int(done), float(sec), int(wp))
            for c, e, t, n, done, sec, wp in (journal.group_summary() if detail else [])
        ]
        moods = {
            date.fromordinal(epoch + d): MoodDay(int(n), int(b), int(a))
            for d, n, b, a in (journal.mood_summary(ds) if detail else [])
        }
        return cls(days, groups, moods, rules, now, R.today(now, ds), show_streaks)

    def totals(self) -> dict[date, float]:
        """Practiced seconds per practice day (``rules.day_totals``' shape)."""
        return {d: day.seconds for d, day in self.days.items()}


def load_context(journal=None, config=None, now: datetime | None = None, opener=None, detail: bool = True) -> Context:
    """Read the journal and config (unless given) and prepare a ``Context``.

    ``opener`` opens the journal when none is given (default ``Journal.open``); ``detail``
    False skips the per-exercise and mood queries that only ``stats`` needs.
    """
    from player.config import load_config

    cfg = config or load_config()
    now = now or datetime.now().astimezone()
    if journal is not None:
        return Context.from_journal(journal, cfg.journal_rules, now, cfg.show_streaks, detail)
    if opener is None:
        from player.journal.store import Journal

        opener = Journal.open
    with opener() as opened:
        return Context.from_journal(opened, cfg.journal_rules, now, cfg.show_streaks, detail)


# --- helpers ---------------------------------------------------------------------------------


def _minutes(seconds: float) -> float:
    return round(seconds / 60.0, 1)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _week_dict(week: R.Week) -> dict[str, Any]:
    if week.met:
        status = "met"
    elif week.over or not week.still_possible:
        status = "missed"
    else:
        status = "on track"
    return {
        "start": week.start.isoformat(),
        "end": week.end.isoformat(),
        "days_counted": week.days_counted,
        "days_elapsed": week.days_elapsed,
        "goal_days": week.goal,
        "goal_met": week.met,
        "status": status,
        "adherence": f"{week.days_counted} of 7 days",
    }


def _mood(days: Sequence[MoodDay]) -> dict[str, Any]:
    rated = sum(d.rated for d in days)
    if not rated:
        return {"rated_sessions": 0, "average_before": None, "average_after": None, "average_change": None}
    before = sum(d.sum_before for d in days)
    after = sum(d.sum_after for d in days)
    return {
        "rated_sessions": rated,
        "average_before": round(before / rated, 2),
        "average_after": round(after / rated, 2),
        "average_change": round((after - before) / rated, 2),
    }


# --- reports ---------------------------------------------------------------------------------


def mood_trend(ctx: Context, weeks: int = 8) -> list[dict[str, Any]]:
    """Average mood before/after (sessions rated both times) per week, for the last ``weeks``
    weeks that have ratings, oldest first."""
    ws = ctx.rules.week_starts
    first = R.week_start(ctx.today, ws) - timedelta(weeks=weeks - 1)
    by_week: dict[date, list[MoodDay]] = {}
    for day, mood in ctx.moods.items():
        if first <= day <= ctx.today:
            by_week.setdefault(R.week_start(day, ws), []).append(mood)
    return [{"week_start": w.isoformat(), **_mood(by_week[w])} for w in sorted(by_week)]


def streak_report(ctx: Context, weeks: int = 8) -> dict[str, Any]:
    """Current and longest streak, today's status and weekly goal adherence."""
    counting = R.counting_days(ctx.totals(), ctx.rules.min_minutes)
    forgiving = R.streaks(counting, ctx.today, ctx.rules)
    current, longest = forgiving.current, forgiving.longest
    run_now, run_best = R.goal_week_runs(counting, ctx.today, ctx.rules)
    recent = R.recent_weeks(counting, ctx.today, ctx.rules, weeks)
    show = ctx.show_streaks
    alive_until = R.day_end(ctx.today, R.offset_of(ctx.now), ctx.rules.day_starts_at)
    return {
        "today": ctx.today.isoformat(),
        "first_day": _iso(min(counting, default=None)),  # the first day practice counted
        "show_streaks": show,
        "today_counts": ctx.today in counting,
        "today_rest": ctx.today.weekday() in ctx.rules.rest_days,
        "rest_days": [R.WEEKDAYS[d] for d in sorted(ctx.rules.rest_days)],
        "current_streak": {
            "days": current.length if show else None,
            "start": _iso(current.start) if show else None,
            "end": _iso(current.end) if show else None,
            "alive_until": alive_until.isoformat(timespec="minutes") if show and current.length else None,
            "frozen_days": [d.isoformat() for d in forgiving.current_frozen] if show else None,
            "rest_days": [d.isoformat() for d in forgiving.current_rest] if show else None,
        },
        "freezes": {
            "held": forgiving.held,
            "max": ctx.rules.freeze_max,
            "every": ctx.rules.freeze_every,
            "next_in_days": forgiving.next_in,
            "covered": [d.isoformat() for d in forgiving.frozen],
        } if show and ctx.rules.freeze_max else None,
        "longest_streak": {
            "days": longest.length if show else None,
            "start": _iso(longest.start) if show else None,
            "end": _iso(longest.end) if show else None,
        },
        "weekly_goal": {
            "goal_days": ctx.rules.goal_days_per_week,
            "week_starts": R.WEEKDAYS[ctx.rules.week_starts],
            "this_week": _week_dict(recent[-1]),
            "current_run_weeks": run_now.length if show else None,
            "longest_run_weeks": run_best.length if show else None,
            "recent_weeks": [_week_dict(w) for w in recent],
        },
    }


def stats_report(ctx: Context) -> dict[str, Any]:
    """Totals, this week, per category and exercise, average length, mood change and trend."""
    days = ctx.days
    totals = ctx.totals()
    counting = R.counting_days(totals, ctx.rules.min_minutes)
    ordered = sorted(days)
    sessions = sum(d.sessions for d in days.values())
    with_practice = sum(g.with_practice for g in ctx.groups)

    this_start = R.week_start(ctx.today, ctx.rules.week_starts)
    this_days = [d for day, d in days.items() if this_start <= day <= ctx.today]
    this_week = _week_dict(R.week(counting, this_start, ctx.today, ctx.rules.goal_days_per_week))
    this_week["sessions"] = sum(d.sessions for d in this_days)
    this_week["practiced_minutes"] = _minutes(sum(d.seconds for d in this_days))

    cats: dict[str | None, list[Group]] = {}
    exercises: dict[str, list[Group]] = {}
    for g in ctx.groups:
        cats.setdefault(g.category, []).append(g)
        exercises.setdefault(g.exercise, []).append(g)
    by_category = []
    for cat, gs in cats.items():
        n = sum(g.sessions for g in gs)
        sec = sum(g.seconds for g in gs)
        by_category.append(
            {"category": cat, "sessions": n, "practiced_minutes": _minutes(sec), "average_minutes": _minutes(sec / n)}
        )
    by_category.sort(key=lambda d: (-d["practiced_minutes"], d["category"] or ""))
    by_exercise = []
    for ex, gs in exercises.items():
        by_exercise.append(
            {
                "exercise": ex,
                "title": next((g.title for g in sorted(gs, key=lambda g: -g.sessions) if g.title), None),
                "sessions": sum(g.sessions for g in gs),
                "completed_sessions": sum(g.completed for g in gs),
                "practiced_minutes": _minutes(sum(g.seconds for g in gs)),
            }
        )
    by_exercise.sort(key=lambda d: (-d["practiced_minutes"], d["exercise"]))
    streak = streak_report(ctx)
    return {
        "today": ctx.today.isoformat(),
        "rules": {
            "day_starts_at": R.format_hhmm(ctx.rules.day_starts_at),
            "min_minutes": ctx.rules.min_minutes,
            "goal_days_per_week": ctx.rules.goal_days_per_week,
            "week_starts": R.WEEKDAYS[ctx.rules.week_starts],
        },
        "totals": {
            "sessions": sessions,
            "completed_sessions": sum(d.completed for d in days.values()),
            "practiced_minutes": _minutes(sum(totals.values())),
            "counting_days": len(counting),
            "first_day": _iso(ordered[0]) if ordered else None,
            "last_day": _iso(ordered[-1]) if ordered else None,
            # Sessions with no practice (stopped at once) would only drag the average down.
            "average_session_minutes": _minutes(sum(totals.values()) / with_practice) if with_practice else None,
        },
        "this_week": this_week,
        "by_category": by_category,
        "by_exercise": by_exercise,
        "mood": _mood(list(ctx.moods.values())),
        "mood_trend": mood_trend(ctx),
        "streaks": {
            "show_streaks": ctx.show_streaks,
            "current_days": streak["current_streak"]["days"],
            "longest_days": streak["longest_streak"]["days"],
            "goal_weeks_run": streak["weekly_goal"]["current_run_weeks"],
            "rest_days": streak["rest_days"],
            "freezes_held": streak["freezes"]["held"] if streak["freezes"] else None,
        },
    }


def level_for(seconds: float, counts: bool) -> int:
    """Heatmap intensity 0–4: 0 when the day does not count, then by minutes."""
    if not counts:
        return 0
    minutes = seconds / 60.0
    return 1 + sum(minutes >= step for step in LEVEL_STEPS_MIN)


def calendar_report(ctx: Context, weeks: int = 12) -> dict[str, Any]:
    """A heatmap of the last ``weeks`` weeks (the last one is the current week)."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    totals = ctx.totals()
    counting = R.counting_days(totals, ctx.rules.min_minutes)
    start = R.week_start(ctx.today, ctx.rules.week_starts) - timedelta(weeks=weeks - 1)
    frozen = set(R.streaks(counting, ctx.today, ctx.rules).frozen) if ctx.show_streaks else set()
    days = []
    for i in range(weeks * 7):
        d = start + timedelta(days=i)
        seconds = totals.get(d, 0.0)
        days.append(
            {
                "date": d.isoformat(),
                "week": i // 7,
                "weekday": R.WEEKDAYS[d.weekday()],
                "minutes": _minutes(seconds),
                "sessions": ctx.days[d].sessions if d in ctx.days else 0,
                "counts": d in counting,
                "level": level_for(seconds, d in counting),
                "today": d == ctx.today,
                "future": d > ctx.today,
                # A planned day off without practice, and a missed day a freeze covered.
                "rest": d not in counting and d.weekday() in ctx.rules.rest_days,
                "frozen": d in frozen,
            }
        )
    lo = ctx.rules.min_minutes
    bounds = (0, *LEVEL_STEPS_MIN, None)
    levels = [{"level": 0, "from_minutes": 0, "to_minutes": lo}]
    for level in range(1, 5):
        frm, to = max(lo, bounds[level - 1]), bounds[level]
        if to is None or frm < to:  # a level below min_minutes can never be shown
            levels.append({"level": level, "from_minutes": frm, "to_minutes": to})
    streak = streak_report(ctx)
    return {
        "today": ctx.today.isoformat(),
        "weeks": weeks,
        "week_starts": R.WEEKDAYS[ctx.rules.week_starts],
        "start": start.isoformat(),
        "end": (start + timedelta(days=weeks * 7 - 1)).isoformat(),
        "levels": levels,
        "days": days,
        "this_week": streak["weekly_goal"]["this_week"],
        "current_streak_days": streak["current_streak"]["days"],
        "longest_streak_days": streak["longest_streak"]["days"],
    }


# --- text ------------------------------------------------------------------------------------


def fmt_minutes(minutes: float) -> str:
    """``25 min``, ``1 h 05 min``; rounded to whole minutes (under a minute: ``0.5 min``)."""
    if minutes < 1:
        return f"{minutes:g} min"
    whole = int(round(minutes))
    hours, mins = divmod(whole, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def _fmt_day(iso: str | None, year: bool = False) -> str:
    if not iso:
        return "—"
    d = date.fromisoformat(iso)
    return d.strftime("%a %-d %b %Y" if year else "%a %-d %b")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _week_line(w: dict[str, Any]) -> str:
    line = f"{w['days_counted']} of 7 days (goal {w['goal_days']})"
    return line + {"met": " — goal met", "on track": " — on track", "missed": " — goal not reachable"}[w["status"]]


def _streak_lines(s: dict[str, Any]) -> list[str]:
    cur, best, goal = s["current_streak"], s["longest_streak"], s["weekly_goal"]
    lines = []
    if s["show_streaks"]:
        if cur["days"]:
            text = f"Current streak: {_plural(cur['days'], 'day')} (since {_fmt_day(cur['start'])})"
            if s["today_rest"] and not s["today_counts"]:
                text += "; today is a rest day"
            elif not s["today_counts"]:
                until = datetime.fromisoformat(cur["alive_until"])
                text += f"; practise today to keep it (until {until:%H:%M} {until:%a})"
            lines.append(text)
            if cur["frozen_days"]:
                lines.append("  covered by freezes: " + ", ".join(_fmt_day(d) for d in cur["frozen_days"]))
        else:
            lines.append("Current streak: 0 days")
        if best["days"] == 1:  # one day: its date, not "Fri – Fri"
            lines.append(f"Longest streak: 1 day ({_fmt_day(best['start'], True)})")
        elif best["days"]:
            lines.append(
                f"Longest streak: {_plural(best['days'], 'day')} "
                f"({_fmt_day(best['start'], True)} – {_fmt_day(best['end'], True)})"
            )
        else:
            lines.append("Longest streak: 0 days")
        fz = s["freezes"]
        if fz:
            text = f"Freezes:        {fz['held']} of {fz['max']} held (one per {fz['every']} practice days)"
            if fz["next_in_days"]:
                text += f"; next after {fz['next_in_days']} more"
            lines.append(text)
    if s["rest_days"]:
        lines.append(f"Rest days:      {', '.join(d.capitalize() for d in s['rest_days'])} "
                     "(they neither break nor extend a streak)")
    lines.append(f"This week:      {_week_line(goal['this_week'])}")
    if s["show_streaks"]:
        lines.append(
            f"Weekly goal met {_plural(goal['current_run_weeks'], 'week')} in a row "
            f"(longest run {_plural(goal['longest_run_weeks'], 'week')})"
        )
    # Only the weeks since practice began: a new user is not shown weeks "missed" before it.
    first = s.get("first_day")
    weeks = [w for w in goal["recent_weeks"]
             if first is not None and w["end"] >= first or w is goal["recent_weeks"][-1]]
    marks = "".join(
        "●" if w["goal_met"] else ("○" if w["status"] == "missed" else "◌") for w in weeks
    )
    key = "  ".join(k for k, shown in (("● goal met", "●" in marks), ("○ not met", "○" in marks),
                                       ("◌ this week, in progress", "◌" in marks)) if shown)
    lines.append(f"Recent weeks:   {marks}  ({key})" if key else f"Recent weeks:   {marks}")
    if not s["show_streaks"]:
        lines.append("Streak counts are hidden (show_streaks = false); the record is unchanged.")
    return lines


def render_streak(s: dict[str, Any]) -> str:
    return "\n".join(_streak_lines(s))


def render_stats(d: dict[str, Any], cols: int | None = None) -> str:
    t = d["totals"]
    r = d["rules"]
    if not t["sessions"]:
        return "No sessions recorded yet. Play an exercise, or add practice done elsewhere with `haven log add`."
    w = d["this_week"]
    lines = [
        f"Practice record to {_fmt_day(d['today'], True)} (days start at {r['day_starts_at']}; "
        f"a day counts from {r['min_minutes']:g} min)",
        "",
        f"Total       {_plural(t['sessions'], 'session')} ({t['completed_sessions']} completed), "
        f"{fmt_minutes(t['practiced_minutes'])}, {_plural(t['counting_days'], 'practice day')} "
        f"since {_fmt_day(t['first_day'], True)}",
        f"Average     {fmt_minutes(t['average_session_minutes'] or 0)} per session",
        f"This week   {_week_line(w)}; {_plural(w['sessions'], 'session')}, "
        f"{fmt_minutes(w['practiced_minutes'])}",
    ]
    st = d["streaks"]
    if st["show_streaks"]:
        held = f", {_plural(st['freezes_held'], 'freeze')} held" if st["freezes_held"] is not None else ""
        lines.append(
            f"Streak      {_plural(st['current_days'], 'day')} (longest {st['longest_days']}{held}); "
            f"weekly goal met {_plural(st['goal_weeks_run'], 'week')} in a row"
        )
    lines += ["", "By category"]
    for c in d["by_category"]:
        lines.append(
            f"  {printable(c['category'] or '(none)'):<18} {_plural(c['sessions'], 'session'):>13}  "
            f"{fmt_minutes(c['practiced_minutes']):>12}  avg {fmt_minutes(c['average_minutes'])}"
        )
    lines += ["", "By exercise"]
    shown = d["by_exercise"][:10]
    from player.layout import shorten, width

    name_w = max(12, min(40, (cols or width()) - 30))
    for e in shown:
        name = printable(e["exercise"] + (f" ({e['title']})" if e["title"] and e["title"] != e["exercise"] else ""))
        lines.append(
            f"  {shorten(name, name_w):<{name_w}} {_plural(e['sessions'], 'session'):>13}  {fmt_minutes(e['practiced_minutes']):>12}"
        )
    if len(d["by_exercise"]) > len(shown):
        lines.append(f"  … and {len(d['by_exercise']) - len(shown)} more (see --json)")
    m = d["mood"]
    if m["rated_sessions"]:
        lines += [
            "",
            f"Mood        {m['average_before']:.1f} before → {m['average_after']:.1f} after "
            f"({m['average_change']:+.1f}) over {_plural(m['rated_sessions'], 'rated session')}",
        ]
        trend = d["mood_trend"]
        if trend:
            lines.append(
                "  by week   "
                + "  ".join(f"{date.fromisoformat(x['week_start']):%-d %b} {x['average_change']:+.1f}" for x in trend)
            )
    return "\n".join(lines)


def render_calendar(c: dict[str, Any], color: bool = False) -> str:
    """The heatmap as text: weekdays down, weeks across (oldest left), month names on top.

    With ``color`` the result is rich markup (green shades, today reversed); otherwise plain
    unicode shading that reads without colour.
    """
    weeks = c["weeks"]
    days = c["days"]
    cols: list[list[dict[str, Any]]] = [days[i * 7 : i * 7 + 7] for i in range(weeks)]
    label_w = 4
    header = [" "] * (label_w + weeks * 2 + 2)
    starts = [
        next((date.fromisoformat(x["date"]) for x in col if x["date"].endswith("-01")), None)
        for col in cols
    ]
    labels = {i: d.strftime("%b") for i, d in enumerate(starts) if d}
    if 0 not in labels and not (weeks > 1 and starts[1]):
        labels[0] = date.fromisoformat(cols[0][0]["date"]).strftime("%b")
    for i, name in sorted(labels.items()):
        pos = label_w + i * 2
        header[pos : pos + len(name)] = list(name)
    lines = ["".join(header).rstrip()]
    for row in range(7):
        wd = cols[0][row]["weekday"][:3].capitalize()
        cells = []
        for col in cols:
            day = col[row]
            if day["future"]:
                cells.append("  ")
                continue
            ch = CAL_CHARS[day["level"]]
            mark = TODAY_MARK if day["today"] else " "
            special = FROZEN_CHAR if day.get("frozen") else (REST_CHAR if day.get("rest") else None)
            if color:
                tone = FROZEN_COLOR if day.get("frozen") else (REST_COLOR if day.get("rest") else CAL_COLORS[day["level"]])
                style = tone + (" reverse" if day["today"] else "")
                cells.append(f"[{style}]{special or ('■' if day['level'] else '·')}[/]{mark}")
            else:
                cells.append((special or ch) + mark)
        lines.append(f"{wd:<{label_w}}" + "".join(cells).rstrip())
    def symbol(level: int) -> str:
        if color:
            return f"[{CAL_COLORS[level]}]{'■' if level else '·'}[/]"
        return CAL_CHARS[level]

    lv = c["levels"]
    swatch = " ".join(symbol(i) for i in range(5))
    ranges = ", ".join(
        f"{symbol(x['level'])} "
        + (f"{x['from_minutes']:g}+ min" if x["to_minutes"] is None else f"{x['from_minutes']:g}–{x['to_minutes']:g} min")
        for x in lv[1:]
    )
    lines += [
        "",
        f"Less {swatch} More    {TODAY_MARK} today",
        f"{ranges}; under {lv[0]['to_minutes']:g} min does not count",
    ]
    shown = [(FROZEN_CHAR, FROZEN_COLOR, "missed, covered by a freeze", any(d.get("frozen") for d in days)),
             (REST_CHAR, REST_COLOR, "rest day", any(d.get("rest") for d in days))]
    keys = [f"[{tone}]{ch}[/] {what}" if color else f"{ch} {what}" for ch, tone, what, seen in shown if seen]
    if keys:
        lines.append("; ".join(keys))
    summary = [f"This week: {_week_line(c['this_week'])}"]
    if c["current_streak_days"] is not None:
        summary.append(f"streak {_plural(c['current_streak_days'], 'day')} (longest {c['longest_streak_days']})")
    lines += ["", " · ".join(summary)]
    return "\n".join(lines)



# --- log, export, import -----------------------------------------------------------------------


def _status(s) -> str:
    if s.source == "manual":
        return "manual"
    if s.source != "played":  # Haven's own import, or another app's (insight-timer, ...)
        return "imported"
    if s.completed:
        return "completed"
    return "stopped" if s.ended_at else "unfinished"


def describe_session(s) -> str:
    """One line naming a session: ``1a2b3c4d body-scan, 10 min on Fri 20 Nov 2026 07:30``."""
    when = s.local_start
    return f"{printable(s.id[:8])} {printable(s.exercise)}, {fmt_minutes(s.practiced_s / 60.0)} on {when:%a %-d %b %Y %H:%M}"


def log_report(since=None, limit=None, now: datetime | None = None, opener=None, config=None) -> dict[str, Any]:
    """Sessions newest first (``Journal.sessions``) as records with ``practice_day`` and
    ``practiced_minutes`` added, plus how many sessions the journal holds in all."""
    from player.config import load_config

    cfg = config or load_config()
    rules = cfg.journal_rules
    now = now or datetime.now().astimezone()
    if opener is None:
        from player.journal.store import Journal

        opener = Journal.open
    with opener() as journal:
        found = journal.sessions(
            since=since, limit=None if limit is None else limit + 1,
            day_starts_at=rules.day_starts_at, today=R.today(now, rules.day_starts_at),
        )
        total = journal.count()
    more = limit is not None and len(found) > limit
    found = found[:limit] if limit is not None else found
    records = []
    for s in found:
        rec = s.to_record()
        rec["practice_day"] = s.practice_day(rules.day_starts_at).isoformat()
        rec["practiced_minutes"] = _minutes(s.practiced_s)
        rec["status"] = _status(s)
        records.append(rec)
    return {"sessions": records, "total": total, "more": more, "since": since, "limit": limit}


def render_log(data: dict[str, Any], cols: int | None = None) -> str:
    """The sessions as a table that fits ``cols`` (the terminal's width): the exercise column
    takes what is left, names shortened at a word boundary; narrower than a table fits, each
    session takes two lines."""
    from player import layout

    cols = cols or layout.width()
    rows = data["sessions"]
    if not rows:
        return "No sessions recorded yet." if not data["total"] else "No sessions match."
    cells = []
    for r in rows:
        tz_start = datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
        offset = R.parse_offset(r["utc_offset"])
        local = tz_start + timedelta(minutes=offset)
        length = fmt_minutes(r["practiced_minutes"])
        if r["planned_s"] and r["status"] in ("stopped", "unfinished"):
            planned = fmt_minutes(r["planned_s"] / 60.0)
            length = f"{length.removesuffix(' min')} of {planned}"
        mood = ""
        if r["mood_before"] is not None or r["mood_after"] is not None:
            fmt = lambda v: "–" if v is None else str(v)  # noqa: E731
            mood = f"{fmt(r['mood_before'])}→{fmt(r['mood_after'])}"
        cells.append((printable(r["id"][:8]), f"{local:%Y-%m-%d %H:%M}", length,
                      printable(r["exercise"]), r["status"], mood, r))
    length_w = max(6, *(len(c[2]) for c in cells))
    status_w = max(6, *(len(c[4]) for c in cells))
    fixed = 8 + 2 + 16 + 2 + length_w + 2 + 2 + status_w + 2 + 5
    table = cols - fixed >= 12
    name_w = max(len("Exercise"), min(max(len(c[3]) for c in cells), cols - fixed))
    lines = []
    if table:
        lines.append(f"{'ID':<8}  {'Started (local)':<16}  {'Length':>{length_w}}  {'Exercise':<{name_w}}  "
                     f"{'Status':<{status_w}}  Mood")  # fmt: skip
    for ident, started, length, name, status, mood, r in cells:
        if table:
            lines.append(f"{ident:<8}  {started}  {length:>{length_w}}  "
                         f"{layout.shorten(name, name_w):<{name_w}}  {status:<{status_w}}  {mood}".rstrip())  # fmt: skip
        else:
            lines.append(layout.wrap(f"{started}  {length}", cols=cols))
            lines.append(layout.wrap(", ".join(x for x in (layout.shorten(name, cols - 2), status,
                                                           mood, ident) if x), "  ", cols=cols))
        if r["note"]:
            note = printable(" ".join(r["note"].split()))
            indent = " " * 10 if table else "  "
            lines.append(layout.shorten(f"{indent}note: {note}", cols))
    if data["more"]:
        lines.append(
            f"… showing the {len(rows)} newest of {data['total']} sessions; use --limit N or --since DATE for more"
        )
    return "\n".join(lines)


def export_text(journal, fmt: str, now: datetime, rescue: bool = False) -> tuple[int, str]:
    """``(number of sessions, file text)`` of a full export in ``fmt`` (csv or json).

    ``rescue``: from a damaged journal, export the sessions that can be read (see
    ``Journal.export_records``; ``journal.rescue_problem`` then says what could not)."""
    from player.journal import exchange

    records = journal.export_records(rescue=rescue)
    return len(records), exchange.dump_records(records, fmt, R.format_utc(now))


def export_app_text(journal, fmt: str, now: datetime, rescue: bool = False) -> tuple[int, str]:
    """``(sessions written, file text)`` for another place: ``health-connect`` or
    ``insight-timer`` (see ``player.journal.apps``)."""
    from player.journal import apps

    records = journal.export_records(rescue=rescue)
    if fmt == "health-connect":
        return apps.health_connect(records, R.format_utc(now))
    if fmt == "insight-timer":
        return apps.insight_timer(records)
    raise ValueError(f"unknown export format {fmt!r}")


APP_NAMES = {
    "haven": "a Haven export", "insight-timer": "Insight Timer", "waking-up": "Waking Up",
    "va-mindfulness-coach": "VA Mindfulness Coach", "apple-health": "Apple Health",
}


def render_import(result, fmt: str | None = None) -> str:
    n = result.added
    source = f" from {APP_NAMES.get(fmt, fmt)}" if fmt and fmt != "haven" else ""
    if result.dry_run:
        lines = [f"Would import {n} new session{'s' if n != 1 else ''}{source}"
                 + (f" ({result.unchanged} already in the journal)" if result.unchanged else "")
                 + ("." if not n else ":")]
        for rec in result.new[:50]:
            local = datetime.fromisoformat(rec["started_at"].replace("Z", "+00:00")) + timedelta(
                minutes=R.parse_offset(rec["utc_offset"]))
            lines.append(f"  {local:%Y-%m-%d %H:%M}  {fmt_minutes(_minutes(rec['practiced_s'])):>12}  "
                         f"{printable(rec['title'] or rec['exercise'])[:40]}")
        if n > 50:
            lines.append(f"  … and {n - 50} more (--json lists them all)")
        if result.conflicts:
            lines.append(f"{len(result.conflicts)} with an id already used by a different session would be left as they are.")
        lines.append("Nothing was changed (--dry-run).")
        return "\n".join(lines)
    text = f"Imported {n} new session{'s' if n != 1 else ''}{source}"
    extra = []
    if result.unchanged:
        extra.append(f"{result.unchanged} already in the journal")
    if result.conflicts:
        extra.append(
            f"{len(result.conflicts)} with an id already used by a different session, kept as they "
            f"were: {', '.join(c[:8] for c in result.conflicts[:10])}{' …' if len(result.conflicts) > 10 else ''}"
        )
    return text + (f" ({'; '.join(extra)})" if extra else "") + "."
