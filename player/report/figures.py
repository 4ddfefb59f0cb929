"""The figures of a practice report, as one JSON-ready dict (``haven report --json``).

Everything is counted by the journal's rules (``player.journal.rules``) and reuses the
existing reports where they already say it: streaks and goal runs come from
``reports.streak_report``, the calendar levels from ``reports.level_for``, program progress
from ``programs.progress``. Nothing here imports a plotting library.

Keys (dates are practice days, ``YYYY-MM-DD``; minutes are practised minutes rounded to 0.1;
a value that does not exist is ``null``, never a missing key):

format ("haven-report"), version (1), generated_at, today, summary (the sentences at the top),
period{kind ("all" | "since" | "program"), start, end, days},
rules{day_starts_at, min_minutes, goal_days_per_week, week_starts},
recent{days, start, end, days_practised, sessions, practiced_minutes},
totals{sessions, completed_sessions, stopped_sessions, practiced_minutes, counting_days,
  days, average_session_minutes},
weeks[{start, end, sessions, practiced_minutes, days_counted, days_elapsed, goal_days,
  goal_met, status, adherence}],
goal{goal_days, weeks_finished, weeks_met, adherence_percent, current_run_weeks,
  longest_run_weeks},
streaks{show_streaks, current_days, longest_days, longest_start, longest_end},
calendar[{date, minutes, sessions, counts, level}], levels (as ``haven calendar --json``),
by_category[{category, sessions, practiced_minutes}],
by_exercise[{exercise, title, category, sessions, completed_sessions, practiced_minutes}],
completion{sessions, completed, stopped_early, completed_percent},
program (null, or {id, title, started_on, ends_on, stopped_on, status, found,
  practices_done, practices_total, weeks[{week, title, start, end, done, total,
  practised[{exercise, minutes}]}], checkin_items, checkins[{checkpoint, label, date,
  ratings{item: 0-10 | null}, note?}], changes{item: last - first | null},
  reflections[{week, date, note}] (only with notes)}),
rest_days[weekday] (null: none planned), freezes (held now; null: streaks hidden or no freezes),
notes (null without ``--notes``; else [{date, kind ("session" | "check-in" |
  "reflection"), what, note}], oldest first).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from player.errors import BadInputError, NotFoundError
from player.journal import reports as Rp
from player.journal import rules as R

FORMAT = "haven-report"
VERSION = 1
RECENT_DAYS = 28  # "You practised on 18 of the last 28 days"


def _minutes(seconds: float) -> float:
    return round(seconds / 60.0, 1)


def _local_day(instant: str, offset: str, day_starts_at: int) -> date:
    """The practice day of a stored instant (a check-in's, a reflection's)."""
    return R.practice_day(R.parse_utc(instant), R.parse_offset(offset), day_starts_at)


def duration_words(minutes: float) -> str:
    """``125.0`` -> ``2 h 5 min``; ``42.5`` -> ``43 min``."""
    total = int(round(minutes))
    hours, mins = divmod(total, 60)
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the period ------------------------------------------------------------------------------


def _latest_run(journal):
    """The running program, else the one started last (None when no program was ever run)."""
    run = journal.running_program()
    if run is not None:
        return run
    runs = journal.program_runs()
    return runs[0] if runs else None


def _program_end(run, program, today: date, day_starts_at: int) -> date:
    """The last practice day a run covers: its end, its stop day, or today, whichever is first."""
    last = today
    if program is not None:
        last = min(last, run.started_on + timedelta(days=program.length_days - 1))
    if run.stopped_at:
        last = min(last, _stop_day(run, day_starts_at))
    return max(last, run.started_on)


def _stop_day(run, day_starts_at: int) -> date:
    """The practice day (this machine's offset) a run was stopped on."""
    return R.today(R.parse_utc(run.stopped_at).astimezone(), day_starts_at)


def _find_program(name: str):
    from player.library import programs

    try:
        return programs.find_program(name)
    except NotFoundError:
        return None


# --- building --------------------------------------------------------------------------------


def build(
    journal,
    config,
    now: datetime,
    *,
    since: str | None = None,
    program: bool = False,
    notes: bool = False,
) -> dict[str, Any]:
    """All the figures of a report over ``journal`` as seen at ``now`` (aware, local).

    ``since``: ``haven log``'s forms (``2026-09-01``, ``28d``, ``12w``); ``program``: the
    period of the running program (or the one run last); neither: the whole journal.
    """
    from player.journal.records import parse_since

    if since is not None and program:
        raise BadInputError("--since and --program choose the period in two ways: give one of them")
    rules: R.Rules = config.journal_rules
    ds = rules.day_starts_at
    ctx = Rp.load_context(journal, config, now, detail=False)
    today = ctx.today

    run = _latest_run(journal)
    prog = _find_program(run.program) if run is not None else None
    if program:
        if run is None:
            raise NotFoundError("no program has been started yet, so there is no program period "
                                "('haven program start NAME' begins one)")
        kind, start, end = "program", run.started_on, _program_end(run, prog, today, ds)
    elif since is not None:
        bound = parse_since(since, today)
        kind, start, end = "since", bound, today
        if start > today:
            raise BadInputError(f"--since {since!r} is after today ({today.isoformat()})")
    else:
        first = min(ctx.days) if ctx.days else today
        kind, start, end = "all", min(first, today), today

    totals = ctx.totals()
    counting = R.counting_days(totals, rules.min_minutes)
    in_period = {d: day for d, day in ctx.days.items() if start <= d <= end}

    # Per exercise in the period (one grouped query); sessions themselves only for notes.
    groups = [
        Rp.Group(c, e, t, int(n), int(done), float(sec), int(wp))
        for c, e, t, n, done, sec, wp in journal.group_summary(ds, start, end)
    ] if in_period else []

    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": now.isoformat(timespec="seconds"),
        "today": today.isoformat(),
        "summary": [],
        "period": {"kind": kind, "start": start.isoformat(), "end": end.isoformat(),
                   "days": (end - start).days + 1},
        "rules": {
            "day_starts_at": R.format_hhmm(ds),
            "min_minutes": rules.min_minutes,
            "goal_days_per_week": rules.goal_days_per_week,
            "week_starts": R.WEEKDAYS[rules.week_starts],
        },
    }
    data["recent"] = _recent(ctx, counting, end)
    data["totals"] = _totals(in_period, counting, groups, start, end)
    data["weeks"] = _weeks(ctx, counting, start, end)
    streak = Rp.streak_report(ctx)
    data["goal"] = _goal(data["weeks"], rules, streak)
    data["streaks"] = {
        "show_streaks": ctx.show_streaks,
        "current_days": streak["current_streak"]["days"],
        "longest_days": streak["longest_streak"]["days"],
        "longest_start": streak["longest_streak"]["start"],
        "longest_end": streak["longest_streak"]["end"],
    }
    data["calendar"] = _calendar(ctx, counting, start, end)
    data["levels"] = Rp.calendar_report(ctx, weeks=1)["levels"]
    data["by_category"], data["by_exercise"] = _mix(groups)
    data["completion"] = _completion(data["totals"])
    data["program"] = None
    if run is not None and run.started_on <= end and _program_end(run, prog, today, ds) >= start:
        data["program"] = _program(journal, run, prog, rules, today, notes)
    # Planned rest days (weekday names; null: none planned) and the streak freezes held now
    # (null: streaks hidden or freezes turned off), as `haven streak` counts them.
    data["rest_days"] = streak["rest_days"] or None
    data["freezes"] = streak["freezes"]["held"] if streak["freezes"] else None
    data["notes"] = _notes(journal, start, end, today, data["program"], ds) if notes else None
    data["summary"] = summary(data)
    return data


def _recent(ctx, counting: set[date], end: date) -> dict[str, Any]:
    first = end - timedelta(days=RECENT_DAYS - 1)
    days = [d for d in ctx.days if first <= d <= end]
    return {
        "days": RECENT_DAYS,
        "start": first.isoformat(),
        "end": end.isoformat(),
        "days_practised": sum(1 for d in days if d in counting),
        "sessions": sum(ctx.days[d].sessions for d in days),
        "practiced_minutes": _minutes(sum(ctx.days[d].seconds for d in days)),
    }


def _totals(in_period, counting, groups, start: date, end: date) -> dict[str, Any]:
    n = sum(d.sessions for d in in_period.values())
    done = sum(d.completed for d in in_period.values())
    seconds = sum(d.seconds for d in in_period.values())
    # Sessions with no practice (stopped at once) would only drag the average down.
    with_practice = sum(g.with_practice for g in groups)
    return {
        "sessions": n,
        "completed_sessions": done,
        "stopped_sessions": n - done,
        "practiced_minutes": _minutes(seconds),
        "counting_days": sum(1 for d in in_period if d in counting),
        "days": (end - start).days + 1,
        "average_session_minutes": _minutes(seconds / with_practice) if with_practice else None,
    }


def _weeks(ctx, counting, start: date, end: date) -> list[dict[str, Any]]:
    """Every week that overlaps the period, whole (weeks are how the goal is counted)."""
    rules = ctx.rules
    first = R.week_start(start, rules.week_starts)
    last = R.week_start(end, rules.week_starts)
    per_week: dict[date, list[float]] = {}
    for d, day in ctx.days.items():
        if first <= d <= last + timedelta(days=6):
            acc = per_week.setdefault(R.week_start(d, rules.week_starts), [0, 0.0])
            acc[0] += day.sessions
            acc[1] += day.seconds
    out = []
    ws = first
    while ws <= last:
        week = Rp._week_dict(R.week(counting, ws, ctx.today, rules.goal_days_per_week))
        n, seconds = per_week.get(ws, (0, 0.0))
        out.append({"start": week.pop("start"), "end": week.pop("end"), "sessions": n,
                    "practiced_minutes": _minutes(seconds), **week})
        ws += timedelta(weeks=1)
    return out


def _goal(weeks, rules, streak) -> dict[str, Any]:
    finished = [w for w in weeks if w["status"] in ("met", "missed") and w["days_elapsed"] == 7]
    met = sum(1 for w in finished if w["goal_met"])
    goal = streak["weekly_goal"]
    return {
        "goal_days": rules.goal_days_per_week,
        "weeks_finished": len(finished),
        "weeks_met": met,
        "adherence_percent": round(100.0 * met / len(finished)) if finished else None,
        "current_run_weeks": goal["current_run_weeks"],
        "longest_run_weeks": goal["longest_run_weeks"],
    }


def _calendar(ctx, counting, start: date, end: date) -> list[dict[str, Any]]:
    out = []
    for i in range((end - start).days + 1):
        d = start + timedelta(days=i)
        day = ctx.days.get(d)
        seconds = day.seconds if day else 0.0
        out.append({
            "date": d.isoformat(),
            "minutes": _minutes(seconds),
            "sessions": day.sessions if day else 0,
            "counts": d in counting,
            "level": Rp.level_for(seconds, d in counting),
        })
    return out


def _mix(groups) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cats: dict[str | None, list[float]] = {}
    exes: dict[str, list] = {}
    for g in groups:
        c = cats.setdefault(g.category, [0, 0.0])
        c[0] += g.sessions
        c[1] += g.seconds
        exes.setdefault(g.exercise, []).append(g)
    by_category = [
        {"category": c, "sessions": int(n), "practiced_minutes": _minutes(sec)}
        for c, (n, sec) in cats.items()
    ]
    by_category.sort(key=lambda d: (-d["practiced_minutes"], d["category"] or ""))
    by_exercise = []
    for exercise, gs in exes.items():
        main = max(gs, key=lambda g: g.sessions)
        by_exercise.append({
            "exercise": exercise,
            "title": main.title or next((g.title for g in gs if g.title), None),
            "category": main.category,
            "sessions": sum(g.sessions for g in gs),
            "completed_sessions": sum(g.completed for g in gs),
            "practiced_minutes": _minutes(sum(g.seconds for g in gs)),
        })
    by_exercise.sort(key=lambda d: (-d["practiced_minutes"], d["exercise"]))
    return by_category, by_exercise


def _completion(totals: dict[str, Any]) -> dict[str, Any]:
    n = totals["sessions"]
    done = totals["completed_sessions"]
    return {
        "sessions": n,
        "completed": done,
        "stopped_early": n - done,
        "completed_percent": round(100.0 * done / n) if n else None,
    }


def _program(journal, run, program, rules: R.Rules, today: date, notes: bool) -> dict[str, Any]:
    from player.library import programs as P

    ds = rules.day_starts_at
    last = _program_end(run, program, today, ds)
    checkins = journal.program_checkins(run.id)
    items = program.checkin_items if program is not None else _items_in(checkins)
    labels = {c.number: c.label for c in P.all_checkpoints(program)} if program else {}
    out: dict[str, Any] = {
        "id": run.program,
        "title": (program.title if program else None) or run.title or run.program,
        "started_on": run.started_on.isoformat(),
        "ends_on": (run.started_on + timedelta(days=program.length_days - 1)).isoformat() if program else None,
        "stopped_on": _stop_day(run, ds).isoformat() if run.stopped_at else None,
        "status": None,
        "found": program is not None,
        "practices_done": None,
        "practices_total": None,
        "weeks": [],
        "checkin_items": list(items),
        "checkins": [],
        "changes": {item: P.item_change(checkins, item) for item in items},
        "reflections": [],
    }
    if program is not None:
        practiced = journal.exercise_day_totals(ds, run.started_on, last)
        prog = P.progress(program, run.started_on, last, practiced, rules.min_minutes)
        status = P.Progress(program, run.started_on, today, prog.weeks, None).status
        out["status"] = "stopped" if run.stopped_at and status == "running" else status
        out["practices_done"] = prog.practices_done
        out["practices_total"] = prog.practices_total
        for w in prog.weeks:
            if w.start > last:
                break
            minutes: dict[str, float] = {}
            for i in range(P.DAYS_PER_WEEK):
                for exercise, seconds in (practiced.get(w.start + timedelta(days=i)) or {}).items():
                    minutes[exercise] = minutes.get(exercise, 0.0) + seconds
            out["weeks"].append({
                "week": w.week.number,
                "title": w.week.title,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "done": w.done,
                "total": w.total,
                "practised": [
                    {"exercise": x, "minutes": _minutes(sec)}
                    for x, sec in sorted(minutes.items(), key=lambda kv: (-kv[1], kv[0]))
                    if sec > 0
                ],
            })
    for c in checkins:
        entry = {
            "checkpoint": c.checkpoint,
            "label": labels.get(c.checkpoint, f"check-in {c.checkpoint}"),
            "date": _local_day(c.answered_at, c.utc_offset, ds).isoformat(),
            "ratings": {item: P.rating(c, item) for item in items},
        }
        if notes:
            entry["note"] = c.note
        out["checkins"].append(entry)
    if notes:
        out["reflections"] = [
            {"week": r.week, "date": _local_day(r.answered_at, r.utc_offset, ds).isoformat(),
             "note": r.note}
            for r in journal.program_reflections(run.id) if r.note
        ]
    return out


def _items_in(checkins) -> tuple[str, ...]:
    from player.care import ITEMS

    seen = {"mood"} | {item for c in checkins for item, _ in c.ratings}
    return tuple(item for item in ITEMS if item in seen)


def _notes(journal, start: date, end: date, today: date, program, ds: int) -> list[dict[str, Any]]:
    sessions = journal.sessions(since=start, day_starts_at=ds, today=today)
    out = [
        {"date": s.practice_day(ds).isoformat(), "kind": "session",
         "what": s.title or s.exercise, "note": s.note}
        for s in reversed(sessions) if s.note and s.practice_day(ds) <= end
    ]
    if program is not None:
        for c in program["checkins"]:
            if c.get("note"):
                out.append({"date": c["date"], "kind": "check-in", "what": c["label"], "note": c["note"]})
        for r in program["reflections"]:
            out.append({"date": r["date"], "kind": "reflection", "what": f"week {r['week']}",
                        "note": r["note"]})
    out.sort(key=lambda n: n["date"])
    return out


# --- words -----------------------------------------------------------------------------------


def summary(data: dict[str, Any]) -> list[str]:
    """A few plain sentences for the top of the report."""
    recent = data["recent"]
    period = data["period"]
    last = "the last 28 days" if period["end"] == data["today"] else f"the 28 days to {period['end']}"
    out = []
    if recent["sessions"]:
        out.append(
            f"You practised on {recent['days_practised']} of {last}: "
            f"{duration_words(recent['practiced_minutes'])} in {_plural(recent['sessions'], 'session')}."
        )
    else:
        out.append(f"No practice was recorded in {last}.")
    goal = data["goal"]
    recent_weeks = [w for w in data["weeks"] if w["days_elapsed"] == 7][-4:]
    if recent_weeks:
        met = sum(1 for w in recent_weeks if w["goal_met"])
        out.append(
            f"The weekly goal of {_plural(goal['goal_days'], 'day')} was met in {met} of the last "
            f"{_plural(len(recent_weeks), 'full week')}."
        )
    totals = data["totals"]
    if period["kind"] != "all" or period["days"] > RECENT_DAYS:
        out.append(
            f"From {period['start']} to {period['end']}: {duration_words(totals['practiced_minutes'])} "
            f"in {_plural(totals['sessions'], 'session')}, on {_plural(totals['counting_days'], 'day')}."
        )
    prog = data["program"]
    if prog is not None and prog["found"]:
        out.append(
            f"{prog['title']}: {prog['practices_done']} of {prog['practices_total']} practices done "
            f"({prog['status']})."
        )
    streaks = data["streaks"]
    if streaks["show_streaks"] and streaks["current_days"]:
        out.append(f"Current streak: {_plural(streaks['current_days'], 'day')}.")
    return out
