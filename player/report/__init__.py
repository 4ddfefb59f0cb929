"""``haven report``: a practice report to look at and to share, as one self-contained HTML page.

``figures.build`` counts everything (the ``--json`` output; no plotting library), ``charts``
draws the charts with matplotlib as inline SVG (imported only here, so start-up elsewhere is
unchanged), ``page`` puts figures, charts and tables into the page. ``command`` is the Click
command ``player.cli.app`` registers.
"""

from __future__ import annotations

from typing import Any


def render_charts(data: dict[str, Any]) -> dict[str, str]:
    """Every chart the figures call for, as ``key -> <svg>`` text."""
    from player.care import ITEMS
    from player.journal.rules import weekday_index
    from player.report import charts

    out: dict[str, tuple] = {}
    if data["totals"]["sessions"]:
        out["weekly"] = charts.weekly(data["weeks"], data["goal"]["goal_days"])
        out["calendar"] = charts.heatmap(data["calendar"], weekday_index(data["rules"]["week_starts"]))
        cats = [(c["category"] or "(none)", c["practiced_minutes"]) for c in data["by_category"]]
        out["categories"] = charts.horizontal_bars(cats, "Minutes practised by category", "minutes")
        exes = [(e["title"] or e["exercise"], e["practiced_minutes"]) for e in data["by_exercise"]]
        if len(exes) > 15:  # the table below the chart lists every one
            rest = sum(v for _, v in exes[14:])
            exes = exes[:14] + [(f"{len(data['by_exercise']) - 14} others", rest)]
        out["exercises"] = charts.horizontal_bars(
            exes, "Minutes practised by exercise", "minutes", colour="reddish_purple"
        )
        comp = data["completion"]
        out["completion"] = charts.completion(comp["completed"], comp["stopped_early"])
    prog = data["program"]
    if prog is not None:
        if prog["weeks"]:
            out["program"] = charts.program_weeks(prog["weeks"])
        if prog["checkins"]:
            names = {i: ITEMS[i].name.capitalize() if i in ITEMS else i for i in prog["checkin_items"]}
            out["checkins"] = charts.checkin_trends(prog["checkins"], prog["checkin_items"], names)
    return {key: charts.to_svg(fig, label, key) for key, (fig, label) in out.items()}


def html_report(data: dict[str, Any]) -> str:
    """The whole HTML page for the figures ``data``."""
    from player import __version__
    from player.report import page

    return page.render(data, render_charts(data), __version__)
