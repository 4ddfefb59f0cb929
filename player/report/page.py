"""The report as one self-contained HTML page.

Everything is inline: the style sheet, the charts (SVG text from ``player.report.charts``) and
nothing else. A Content-Security-Policy in the page forbids every fetch (``default-src
'none'``), so even a copy edited later cannot reach the network when opened. Light and dark
colours follow ``prefers-color-scheme``; printing (A4 or Letter) uses light colours, starts
each section on a new page and keeps charts and table rows whole. All text from the journal
is escaped.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

from player.report.figures import duration_words

# Tables longer than this start folded (a <details> element) so the page stays readable.
FOLD_ROWS = 40

CSS = """
:root {
  color-scheme: light dark;
  --paper: #ffffff; --ink: #1b1d21; --muted: #555b63; --grid: #d3d6db; --rule: #e3e5e8;
  --panel: #f5f6f8; --accent: #0072b2;
  --heat-0: #e8eaed; --heat-1: #c6dcef; --heat-2: #86b9e0; --heat-3: #3a87c4; --heat-4: #0b4f85;
}
@media (prefers-color-scheme: dark) {
  :root {
    --paper: #15171a; --ink: #e6e7e9; --muted: #a4a9b0; --grid: #3a3e44; --rule: #2c3035;
    --panel: #1e2125; --accent: #56b4e9;
    --heat-0: #2a2e33; --heat-1: #17435f; --heat-2: #206c9c; --heat-3: #429bd8; --heat-4: #9fd2f5;
  }
}
* { box-sizing: border-box; }
html { background: var(--paper); color: var(--ink); }
body {
  margin: 0 auto; padding: 1.5rem 1.25rem 3rem; max-width: 62rem;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 0 0 .75rem; padding-top: .5rem; border-top: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
p { margin: .4rem 0; }
.period, .muted, figcaption, footer { color: var(--muted); }
section { margin: 2rem 0; }
.summary { background: var(--panel); border-radius: 8px; padding: 1rem 1.25rem; }
.summary h2 { border: 0; padding: 0; }
.summary p { font-size: 1.08rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr));
  gap: .75rem; margin: 1rem 0 0; }
.figures div { background: var(--paper); border-radius: 6px; padding: .5rem .75rem; }
.figures dt { font-size: .8rem; color: var(--muted); }
.figures dd { margin: 0; font-size: 1.3rem; font-weight: 600; }
figure { margin: .5rem 0 1rem; }
svg.chart { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem;
  font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .2rem .75rem .2rem 0; border-bottom: 1px solid var(--rule);
  vertical-align: top; }
td.n, th.n { text-align: right; }
td { white-space: nowrap; }
td:last-child { white-space: normal; }
details > summary { cursor: pointer; color: var(--accent); margin: .25rem 0; }
.notes li { margin: .4rem 0; }
.notes q { quotes: "\\201C" "\\201D"; }
footer { border-top: 2px solid var(--rule); margin-top: 3rem; padding-top: .75rem;
  font-size: .85rem; }
@media print {
  :root {
    --paper: #ffffff; --ink: #000000; --muted: #444444; --grid: #bbbbbb; --rule: #cccccc;
    --panel: #f2f2f2; --accent: #000000;
    --heat-0: #e8eaed; --heat-1: #c6dcef; --heat-2: #86b9e0; --heat-3: #3a87c4; --heat-4: #0b4f85;
  }
  @page { margin: 14mm 12mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  section { margin: 0; }
  section.page { break-before: page; }
  figure, tr, .summary, .figures div { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  details > summary { display: none; }
  .summary { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  svg.chart { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[bool] | None = None, fold: bool | None = None) -> str:  # fmt: skip
    """A table of the numbers behind a chart (folded into <details> when long)."""
    rows = list(rows)
    numeric = numeric or [False] * len(head)
    cls = [' class="n"' if n else "" for n in numeric]
    out = [f"<table><caption>{esc(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col"{c}>{esc(h)}</th>' for h, c in zip(head, cls)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f"<td{c}>{cell}</td>" for cell, c in zip(row, cls)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    text = "".join(out)
    if fold if fold is not None else len(rows) > FOLD_ROWS:
        return f"<details><summary>The numbers ({len(rows)} rows)</summary>{text}</details>"
    return text


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _figures_grid(pairs: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in pairs)
    return f'<dl class="figures">{items}</dl>'


def render(data: dict[str, Any], charts: dict[str, str], version: str) -> str:
    """The whole page from the figures and the rendered charts (``key -> <svg>``)."""
    period = data["period"]
    totals = data["totals"]
    title = f"Practice report, {period['start']} to {period['end']}"
    parts: list[str] = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may be fetched: the page is complete as it is.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="Haven {esc(version)}">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Practice report</h1>",
        f'<p class="period">{esc(_period_words(data))}</p>',
        "</header>",
    ]
    # Summary.
    goal = data["goal"]
    streaks = data["streaks"]
    pairs = [
        ("Practice", duration_words(totals["practiced_minutes"])),
        ("Sessions", f"{totals['sessions']:,}"),
        ("Days practised", f"{totals['counting_days']:,} of {totals['days']:,}"),
    ]
    if goal["weeks_finished"]:
        pairs.append(("Weeks meeting the goal", f"{goal['weeks_met']} of {goal['weeks_finished']}"))
    if streaks["show_streaks"]:
        pairs.append(("Current streak", f"{streaks['current_days']} days"))
    parts.append('<section class="summary" id="summary" aria-labelledby="h-summary">'
                 '<h2 id="h-summary">Summary</h2>'
                 + "".join(f"<p>{esc(s)}</p>" for s in data["summary"])
                 + _figures_grid(pairs) + "</section>")  # fmt: skip

    if not totals["sessions"]:
        parts.append('<section><p>No sessions were recorded in this period, so there is nothing '
                     "to chart yet.</p></section>")  # fmt: skip
    else:
        parts.append(_weeks_section(data, charts))
        parts.append(_calendar_section(data, charts))
        parts.append(_mix_section(data, charts))
    if data["program"] is not None:
        parts.append(_program_section(data, charts))
    parts.append(_adherence_section(data))
    if data["notes"] is not None:
        parts.append(_notes_section(data["notes"]))
    rules = data["rules"]
    parts.append(
        "<footer>"
        f"<p>Made by Haven {esc(version)} on {esc(data['generated_at'][:16].replace('T', ' '))}, "
        "from the practice journal on this computer. A day counts from "
        f"{esc(_minutes_words(rules['min_minutes']))} of practice; days start at "
        f"{esc(rules['day_starts_at'])}; weeks start on "
        f"{esc(rules['week_starts'].capitalize())}.</p>"
        "<p>This page holds personal health information. It was written only to the file you "
        "chose and needs no network to be read.</p>"
        "</footer>"
    )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _minutes_words(minutes: float) -> str:
    """``1.0`` -> ``1 minute``, ``2.5`` -> ``2.5 minutes``."""
    text = f"{minutes:g}"
    return f"{text} minute{'' if text == '1' else 's'}"


def _period_words(data: dict[str, Any]) -> str:
    period = data["period"]
    kind = {"all": "everything in the journal", "since": "since " + period["start"],
            "program": "the program's period"}[period["kind"]]  # fmt: skip
    return f"{period['start']} to {period['end']} ({period['days']:,} days; {kind})"


def _section(key: str, heading: str, body: str, page: bool = True) -> str:
    cls = ' class="page"' if page else ""
    return (f'<section{cls} id="{key}" aria-labelledby="h-{key}"><h2 id="h-{key}">{esc(heading)}'
            f"</h2>{body}</section>")  # fmt: skip


def _weeks_section(data, charts) -> str:
    weeks = data["weeks"]
    rows = [
        (esc(w["start"]), _num(w["sessions"]), _num(w["practiced_minutes"]),
         esc(w["adherence"]), esc(w["status"]))
        for w in weeks
    ]  # fmt: skip
    body = figure(charts["weekly"], "Bars: minutes practised each week (top) and days practised "
                                    "each week (bottom); the dashed line is the weekly goal.")  # fmt: skip
    body += table("Minutes and days practised per week",
                  ("week from", "sessions", "minutes", "days practised", "goal"), rows,
                  (False, True, True, False, False))  # fmt: skip
    return _section("weeks", "Week by week", body, page=False)


def _calendar_section(data, charts) -> str:
    days = [d for d in data["calendar"] if d["sessions"]]
    rows = [(esc(d["date"]), _num(d["sessions"]), _num(d["minutes"]), "yes" if d["counts"] else "no")
            for d in days]  # fmt: skip
    body = figure(charts["calendar"], "Each square is a day, shaded by the minutes practised "
                                      "(see the key); days outside the period are left blank.")  # fmt: skip
    body += table("Days with practice", ("day", "sessions", "minutes", "counts"), rows,
                  (False, True, True, False))  # fmt: skip
    return _section("calendar", "Calendar", body)


def _mix_section(data, charts) -> str:
    cats = data["by_category"]
    exes = data["by_exercise"]
    body = "<h3>By category</h3>" + figure(charts["categories"], "Minutes practised by category.")
    body += table("Practice by category", ("category", "sessions", "minutes"),
                  [(esc(c["category"] or "(none)"), _num(c["sessions"]), _num(c["practiced_minutes"]))
                   for c in cats], (False, True, True))  # fmt: skip
    body += "<h3>By exercise</h3>" + figure(charts["exercises"], "Minutes practised by exercise.")
    body += table("Practice by exercise", ("exercise", "category", "sessions", "completed", "minutes"),
                  [(esc(e["title"] or e["exercise"]), esc(e["category"] or ""), _num(e["sessions"]),
                    _num(e["completed_sessions"]), _num(e["practiced_minutes"])) for e in exes],
                  (False, False, True, True, True))  # fmt: skip
    comp = data["completion"]
    body += "<h3>Completed or stopped early</h3>" + figure(
        charts["completion"], "Sessions played to the end, and sessions stopped before the end.")
    body += table("Session completion", ("", "sessions", "share"), [
        ("completed", _num(comp["completed"]), f"{comp['completed_percent']}%"),
        ("stopped early", _num(comp["stopped_early"]), f"{100 - comp['completed_percent']}%"),
    ], (False, True, True))  # fmt: skip
    return _section("mix", "What was practised", body)


def _program_section(data, charts) -> str:
    from player.care import ITEMS

    prog = data["program"]
    head = f"<p><strong>{esc(prog['title'])}</strong>, started {esc(prog['started_on'])}"
    if prog["ends_on"]:
        head += f", ends {esc(prog['ends_on'])}"
    if prog["stopped_on"]:
        head += f", stopped {esc(prog['stopped_on'])}"
    head += "."
    if prog["found"]:
        head += (f" {prog['practices_done']} of {prog['practices_total']} practices done "
                 f"({esc(prog['status'])}).")  # fmt: skip
    else:
        head += " The program's file could not be found any more, so its weeks are not shown."
    body = head + "</p>"
    if prog["weeks"]:
        body += figure(charts["program"], "Filled bars: practices done; outlines: the week's "
                                          "practices.")  # fmt: skip
        rows = []
        for w in prog["weeks"]:
            done = ", ".join(f"{esc(p['exercise'])} {_num(p['minutes'])} min" for p in w["practised"])
            rows.append((str(w["week"]), esc(w["title"]), esc(w["start"]),
                         f"{w['done']} of {w['total']}", done or "–"))  # fmt: skip
        body += table("The program's weeks and what was practised",
                      ("week", "title", "from", "practices done", "practised"), rows,
                      (True, False, False, False, False), fold=False)  # fmt: skip
    items = prog["checkin_items"]
    if prog["checkins"]:
        names = {i: _item_name(i) for i in items}
        body += "<h3>Check-ins</h3>"
        body += figure(charts["checkins"], "Each check-in item's rating (0-10) at each check-in. "
                       + " ".join(f"{ITEMS[i].name.capitalize()}: "
                                  f"{'higher' if ITEMS[i].worse == 'low' else 'lower'} is easier."
                                  for i in items if i in ITEMS))  # fmt: skip
        rows = [
            (esc(c["label"]), esc(c["date"]), *(_num(c["ratings"].get(i)) for i in items))
            for c in prog["checkins"]
        ]
        changes = prog["changes"]
        rows.append(("change", "first to last",
                     *(("–" if changes.get(i) is None else f"{changes[i]:+d}") for i in items)))  # fmt: skip
        body += table("Check-in ratings (0-10; – not answered)", ("check-in", "date", *names.values()),
                      rows, (False, False, *([True] * len(items))), fold=False)  # fmt: skip
    else:
        body += "<p>No check-in has been answered yet.</p>"
    return _section("program", "Program", body)


def _item_name(item: str) -> str:
    from player.care import ITEMS

    return ITEMS[item].name.capitalize() if item in ITEMS else item


def _adherence_section(data) -> str:
    goal = data["goal"]
    streaks = data["streaks"]
    rows = [("Weekly goal", f"{goal['goal_days']} days a week")]
    if goal["weeks_finished"]:
        rows.append(("Full weeks meeting the goal",
                     f"{goal['weeks_met']} of {goal['weeks_finished']} ({goal['adherence_percent']}%)"))  # fmt: skip
    if streaks["show_streaks"]:
        rows.append(("Weeks in a row meeting the goal, now", _num(goal["current_run_weeks"])))
        rows.append(("Most weeks in a row meeting the goal", _num(goal["longest_run_weeks"])))
        rows.append(("Current streak", f"{streaks['current_days']} days"))
        if streaks["longest_days"]:
            rows.append(("Longest streak", f"{streaks['longest_days']} days "
                                           f"({streaks['longest_start']} to {streaks['longest_end']})"))  # fmt: skip
    if data["rest_days"] is not None:
        rows.append(("Rest days", ", ".join(d.capitalize() for d in data["rest_days"])))
    if data["freezes"] is not None:
        rows.append(("Streak freezes held", str(data["freezes"])))
    body = table("Streak and weekly goal", ("", ""), [(esc(a), esc(b)) for a, b in rows], fold=False)
    if not streaks["show_streaks"]:
        body += '<p class="muted">Streak counts are turned off (journal.show_streaks).</p>'
    return _section("adherence", "Streak and weekly goal", body, page=False)


def _notes_section(notes) -> str:
    if not notes:
        return _section("notes", "Notes", "<p>No notes in this period.</p>")
    items = "".join(
        f"<li><strong>{esc(n['date'])}</strong>, {esc(n['kind'])} ({esc(n['what'])}): "
        f"<q>{esc(n['note'])}</q></li>"
        for n in notes
    )
    return _section("notes", "Notes", f'<ul class="notes">{items}</ul>')
