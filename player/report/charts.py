"""The report's charts: matplotlib (Agg-free SVG backend, no pyplot) rendered to inline SVG.

Imported only by ``haven report`` (matplotlib takes a third of a second to import). Each
function takes the figures (``player.report.figures``) and returns one ``<svg>`` element as
text, ready to sit inside the HTML page:

- the XML prolog, DOCTYPE, metadata block and namespace declarations are removed (an HTML
  parser puts ``<svg>`` in the SVG namespace by itself), so the page holds no URL at all;
- the ink and grid colours and the heatmap's shades are CSS variables, so the page's light
  and dark colour schemes apply to the charts too;
- ``role="img"``, an ``aria-label`` and a ``<title>`` describe the chart; the numbers behind
  it are in a table below it on the page;
- matplotlib's font list is cached in Haven's cache folder (``MPLCONFIGDIR``), so nothing is
  written outside ``HAVEN_HOME`` when it is set;
- ids are salted per chart (``svg.hashsalt``), so several charts share a page without
  clashing ids, and the output is the same for the same figures.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); where two series must be told apart they also differ in shape (hatching,
markers, line style).
"""

from __future__ import annotations

import html
import os
import re
from datetime import date, timedelta
from typing import Any, Sequence

from player import paths

# matplotlib keeps a list of the system's fonts in its cache folder: in Haven's cache folder
# (under HAVEN_HOME when set, like everything Haven writes), unless MPLCONFIGDIR says otherwise.
if not os.environ.get("MPLCONFIGDIR"):
    os.environ["MPLCONFIGDIR"] = str(paths.ensure_private_dir(paths.cache_dir() / "matplotlib"))

import matplotlib  # noqa: E402

matplotlib.use("svg")

from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#e69f00",
    "sky_blue": "#56b4e9",
    "bluish_green": "#009e73",
    "yellow": "#f0e442",
    "blue": "#0072b2",
    "vermillion": "#d55e00",
    "reddish_purple": "#cc79a7",
}
SERIES = ("blue", "orange", "bluish_green", "reddish_purple", "vermillion", "sky_blue")
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", "-.", ":", "-", "--")

# Stand-in colours drawn by matplotlib and replaced by CSS variables in the SVG text.
_VARS = {
    "#010203": "var(--ink)",
    "#010204": "var(--grid)",
    "#010205": "var(--heat-0)",
    "#010206": "var(--heat-1)",
    "#010207": "var(--heat-2)",
    "#010208": "var(--heat-3)",
    "#010209": "var(--heat-4)",
    "#01020a": "var(--paper)",
}
INK, GRID, PAPER = "#010203", "#010204", "#01020a"
HEAT = ("#010205", "#010206", "#010207", "#010208", "#010209")

WIDTH_IN = 9.0
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "axes.titlecolor": INK,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.facecolor": "none",
    "figure.facecolor": "none",
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "svg.fonttype": "path",  # glyphs as paths: no font is needed where the page is opened
    "hatch.color": INK,
}

_PROLOG = re.compile(r"\A.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_COLOUR = re.compile("|".join(re.escape(k) for k in _VARS))


def _figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasSVG(fig)
    return fig


def to_svg(fig: Figure, label: str, key: str) -> str:
    """The figure as an accessible inline ``<svg>`` (see the module docstring)."""
    import io

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"haven-{key}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                 "Type": None})  # fmt: skip
    text = buf.getvalue()
    text = _PROLOG.sub("", text, count=1)
    text = _METADATA.sub("", text)
    text = _COMMENT.sub("", text)
    text = _XMLNS.sub("", text)
    text = _COLOUR.sub(lambda m: _VARS[m.group(0)], text)
    title_id = f"chart-{key}-title"
    attrs = f' role="img" aria-labelledby="{title_id}" class="chart" id="chart-{key}"'
    text = text.replace("<svg", "<svg" + attrs, 1)
    head_end = text.index(">", text.index("<svg")) + 1
    return (
        text[:head_end]
        + f'<title id="{title_id}">{html.escape(label)}</title>'
        + text[head_end:].strip()
    )


def _rects(ax, rects: Sequence[tuple[float, float, float, float]], colour: str, **kw):
    """Many rectangles ``(x, y, width, height)`` as one compound path: a 10-year chart draws
    in milliseconds and stays small in SVG (one ``<path>``, not thousands)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    verts: list[tuple[float, float]] = []
    codes: list[int] = []
    for x, y, w, h in rects:
        if w <= 0 or h <= 0:
            continue
        verts += [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
        codes += [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    if not verts:
        return None
    patch = PathPatch(Path(verts, codes), facecolor=colour, **kw)
    # add_artist, not add_patch: the callers set the limits, and add_patch's walk over every
    # vertex to update them would cost more than drawing.
    ax.add_artist(patch)
    return patch


def _bars(ax, values: Sequence[float], colour: str, width: float, **kw):
    """Vertical bars at 0, 1, 2, ... (see ``_rects``)."""
    return _rects(ax, [(i - width / 2, 0.0, width, v) for i, v in enumerate(values)], colour, **kw)


def _date_ticks(ax, days: Sequence[date], count: int = 8) -> None:
    """Label about ``count`` evenly spaced positions of ``days`` (one per bar)."""
    n = len(days)
    if not n:
        return
    step = max(1, -(-n // count))
    positions = list(range(0, n, step))
    long_span = (days[-1] - days[0]).days > 400
    fmt = "%b %Y" if long_span else "%-d %b"
    ax.set_xticks(positions, [days[i].strftime(fmt) for i in positions])
    ax.set_xlim(-0.7, n - 0.3)


# --- the charts ------------------------------------------------------------------------------


def weekly(weeks: list[dict[str, Any]], goal_days: int) -> tuple[Figure, str]:
    """Minutes per week (bars), and days practised per week against the weekly goal."""
    with matplotlib.rc_context(_RC):
        fig = _figure(4.4)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        starts = [date.fromisoformat(w["start"]) for w in weeks]
        width = 0.8 if len(weeks) < 200 else 1.0
        minutes = [w["practiced_minutes"] for w in weeks]
        _bars(top, minutes, OKABE_ITO["blue"], width, linewidth=0)
        top.set_ylim(0, max(max(minutes) * 1.08, 10))
        top.set_ylabel("minutes")
        top.set_title("Minutes practised per week", loc="left")
        top.grid(axis="y")
        top.set_axisbelow(True)
        status = [w["status"] for w in weeks]
        days = [w["days_counted"] for w in weeks]
        hatch = len(weeks) <= 60  # hatching tells the states apart without colour, where it shows
        for state, colour, pattern, name in (
            ("met", "bluish_green", None, "goal met"),
            ("missed", "orange", "//", "goal not met"),
            ("on track", "sky_blue", "..", "this week so far"),
        ):
            if state in status:
                _bars(bottom, [d if s == state else 0 for d, s in zip(days, status)],
                      OKABE_ITO[colour], width, linewidth=0, hatch=pattern if hatch else None,
                      label=name)  # fmt: skip
        bottom.axhline(goal_days, color=INK, linestyle="--", linewidth=1.2,
                       label=f"goal: {goal_days} days")  # fmt: skip
        bottom.set_ylim(0, 7.4)
        bottom.set_yticks(range(0, 8))
        bottom.set_ylabel("days")
        bottom.set_title("Days practised per week, and the weekly goal", loc="left")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
        bottom.grid(axis="y")
        bottom.set_axisbelow(True)
        _date_ticks(bottom, starts)
    label = (
        f"Bar charts of minutes practised and days practised per week for {len(weeks)} weeks "
        f"from {weeks[0]['start']}, with a dashed line at the weekly goal of {goal_days} days"
    )
    return fig, label


def heatmap(calendar: list[dict[str, Any]], week_starts: int) -> tuple[Figure, str]:
    """A calendar heatmap: one band of weeks (columns) by weekdays (rows) per year."""
    first = date.fromisoformat(calendar[0]["date"])
    last = date.fromisoformat(calendar[-1]["date"])
    years = list(range(first.year, last.year + 1))
    multi = len(years) > 1 and (last - first).days > 190
    # Columns: weeks since the first week shown (one band only) or since the year's first week.
    def origin(year: int) -> date:
        start = date(year, 1, 1) if multi else first
        return start - timedelta(days=(start.weekday() - week_starts) % 7)

    cols = max(((last if not multi else date(y, 12, 31)) - origin(y)).days // 7 + 1
               for y in (years if multi else [first.year]))  # fmt: skip
    rows_per_band = 8  # seven days and a gap
    bands = years if multi else [first.year]
    cells: list[list[tuple[float, float, float, float]]] = [[] for _ in HEAT]
    size = 0.86  # of a cell; the rest is the gap between days
    for day in calendar:
        d = date.fromisoformat(day["date"])
        band = bands.index(d.year) if multi else 0
        col = (d - origin(d.year if multi else first.year)).days // 7
        row = band * rows_per_band + (d.weekday() - week_starts) % 7
        cells[day["level"]].append((col, row, size, size))
    with matplotlib.rc_context(_RC):
        # About 0.16 in a day: a short period makes a small chart, not giant squares.
        width = min(WIDTH_IN, max(5.6, 1.3 + 0.16 * cols))  # room for the legend
        height = 0.5 + 1.05 * len(bands) if multi else 2.0
        fig = _figure(height, width)
        ax = fig.subplots()
        for level, rects in enumerate(cells):
            _rects(ax, rects, HEAT[level], linewidth=0)
        ax.set_xlim(0, cols)
        ax.set_ylim(len(bands) * rows_per_band - 1, 0)
        ax.set_aspect("equal")
        ax.set_anchor("W")  # a short period: a small calendar on the left, like the tables
        for spine in ax.spines.values():
            spine.set_visible(False)
        weekday_names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        ticks, names = [], []
        for b, year in enumerate(bands):
            for r in (0, 2, 4, 6):
                ticks.append(b * rows_per_band + r + size / 2)
                name = weekday_names[(week_starts + r) % 7]
                names.append(f"{year}  {name}" if multi and r == 0 else name)
        ax.set_yticks(ticks, names, fontsize=8)
        # Month labels along the top band.
        mticks, mnames = [], []
        y0 = first.year if not multi else years[0]
        month = date(first.year, first.month, 1) if not multi else date(y0, 1, 1)
        while month <= (last if not multi else date(y0, 12, 31)):
            col = (max(month, first if not multi else month) - origin(y0)).days // 7
            mticks.append(col + size / 2)
            mnames.append(month.strftime("%b"))
            month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        ax.xaxis.tick_top()
        ax.set_xticks(mticks, mnames, fontsize=8)
        ax.tick_params(length=0)
        # Legend: the five shades.
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(facecolor=c, edgecolor=INK, linewidth=0.4) for c in HEAT],
            labels=["none", "< 10 min", "10-19", "20-29", "30+ min"],
            loc="upper left", bbox_to_anchor=(0.0, -0.02), ncols=5, fontsize=8,
            handlelength=1.0, columnspacing=1.0,
        )
    label = (
        f"Calendar heatmap of practice from {first.isoformat()} to {last.isoformat()}: one "
        "square per day, shaded by the minutes practised: none, under 10, 10 to 19, 20 to 29, 30 or more"
    )
    return fig, label


def horizontal_bars(
    rows: list[tuple[str, float]], title: str, unit: str, colour: str = "blue"
) -> tuple[Figure, str]:
    """One horizontal bar per row (label, value), largest at the top."""
    with matplotlib.rc_context(_RC):
        fig = _figure(0.6 + 0.28 * max(len(rows), 1))
        ax = fig.subplots()
        labels = [r[0] for r in rows]
        values = [r[1] for r in rows]
        y = list(range(len(rows)))
        bars = ax.barh(y, values, color=OKABE_ITO[colour], height=0.7)
        ax.bar_label(bars, [f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(title, loc="left")
        ax.grid(axis="x")
        ax.set_axisbelow(True)
        ax.margins(x=0.12)
    label = f"Horizontal bar chart: {title.lower()}, in {unit}"
    return fig, label


def completion(completed: int, stopped: int) -> tuple[Figure, str]:
    """Completed and stopped-early sessions as one divided bar."""
    with matplotlib.rc_context(_RC):
        fig = _figure(1.3)
        ax = fig.subplots()
        total = completed + stopped or 1
        ax.barh([0], [completed], color=OKABE_ITO["bluish_green"], height=0.6, label="completed")
        ax.barh([0], [stopped], left=[completed], color=OKABE_ITO["vermillion"], height=0.6,
                hatch="//", label="stopped early")  # fmt: skip
        for left, value in ((0, completed), (completed, stopped)):
            if value / total > 0.08:
                ax.text(left + value / 2, 0, f"{value:,} ({100 * value / total:.0f}%)",
                        ha="center", va="center", color="#ffffff", fontsize=9, fontweight="bold")  # fmt: skip
        ax.set_yticks([])
        ax.set_xlim(0, total)
        ax.set_xlabel("sessions")
        ax.spines["left"].set_visible(False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.1), fontsize=9)
    label = f"Divided bar: {completed} sessions completed and {stopped} stopped early"
    return fig, label


def program_weeks(weeks: list[dict[str, Any]]) -> tuple[Figure, str]:
    """Practices done of each week's total, one bar per program week."""
    with matplotlib.rc_context(_RC):
        fig = _figure(2.6)
        ax = fig.subplots()
        x = [w["week"] for w in weeks]
        ax.bar(x, [w["total"] for w in weeks], color="none", edgecolor=INK, linewidth=1,
               width=0.7, label="practices in the week")  # fmt: skip
        ax.bar(x, [w["done"] for w in weeks], color=OKABE_ITO["blue"], width=0.7,
               label="practices done")  # fmt: skip
        ax.set_xticks(x, [str(n) for n in x])
        ax.set_xlabel("program week")
        ax.set_ylabel("practices")
        ax.set_ylim(0, 7.4)
        ax.grid(axis="y")
        ax.set_axisbelow(True)
        ax.set_title("Practices done in each week of the program", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    label = f"Bar chart of practices done against each week's practices, weeks 1 to {x[-1]}"
    return fig, label


def checkin_trends(checkins: list[dict[str, Any]], items: list[str],
                   names: dict[str, str]) -> tuple[Figure, str]:  # fmt: skip
    """One small line chart per check-in item, 0-10 against the check-in dates."""
    from matplotlib.dates import DateFormatter

    n = len(items)
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    with matplotlib.rc_context(_RC):
        fig = _figure(0.4 + 2.2 * rows)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
        for i, item in enumerate(items):
            ax = axes[i // cols][i % cols]
            points = [(date.fromisoformat(c["date"]), c["ratings"].get(item)) for c in checkins]
            points = [(d, v) for d, v in points if v is not None]
            colour = OKABE_ITO[SERIES[i % len(SERIES)]]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], color=colour,
                        marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[i % len(LINESTYLES)],
                        linewidth=2, markersize=6)  # fmt: skip
                for d, v in points:
                    ax.annotate(str(v), (d, v), textcoords="offset points", xytext=(0, 7),
                                ha="center", fontsize=8)  # fmt: skip
            ax.set_ylim(-0.5, 11)
            ax.set_yticks([0, 5, 10])
            ax.grid(axis="y")
            ax.set_title(names.get(item, item), loc="left")
            dates = sorted({date.fromisoformat(c["date"]) for c in checkins})
            ax.set_xticks(dates)  # a tick at each check-in, not at arbitrary days
            ax.set_xlim(dates[0] - timedelta(days=3), dates[-1] + timedelta(days=3))
            ax.xaxis.set_major_formatter(DateFormatter("%-d %b"))
            ax.tick_params(axis="x", labelsize=8, labelbottom=True)
        for j in range(n, rows * cols):
            axes[j // cols][j % cols].set_visible(False)
    label = (
        "Line charts of each check-in item's rating from 0 to 10 at each check-in date: "
        + ", ".join(names.get(i, i) for i in items)
    )
    return fig, label
