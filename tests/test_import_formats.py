"""`haven import` of other apps' files and `haven export` for other places.

The samples in tests/samples were written by us from the formats' descriptions (issue 15):
Insight Timer, Waking Up and VA Mindfulness Coach CSVs and an Apple Health export.xml (also
zipped here, as Apple ships it). Each imports with the right start times, durations and
sources, and a second import adds nothing.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from player.cli import journal as cli_journal
from player import paths
from player.cli.app import main
from player.journal import Journal, apps

SAMPLES = Path(__file__).resolve().parent / "samples"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch, haven_home):
    monkeypatch.setattr(cli_journal, "_now", lambda: NOW)


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def stored() -> list[tuple]:
    """(local start, offset, practiced s, source, exercise, category) of every session."""
    with Journal.open(readonly=True) as j:
        return [
            (s.local_start.strftime("%Y-%m-%d %H:%M:%S"), s.utc_offset, s.practiced_s, s.source,
             s.exercise, s.category)
            for s in sorted(j.sessions(), key=lambda s: s.started_at)
        ]


EXPECTED = {
    "insight-timer.csv": ("Insight Timer", [
        ("2024-03-01 07:30:00", "+01:00", 2700.0, "insight-timer", "Morning sit", "meditation"),
        ("2024-03-02 00:40:15", "+01:00", 330.0, "insight-timer", "Breathing", "breathing"),
        ("2026-11-28 21:05:00", "+01:00", 3723.0, "insight-timer", "Evening", "meditation"),
    ]),
    # Date-only finishes are read as 12:00 noon; the start is the finish minus the length.
    "waking-up.csv": ("Waking Up", [
        ("2024-03-01 11:50:00", "+01:00", 600.0, "waking-up", "Day 1: Introduction", "meditation"),
        ("2024-03-03 07:00:00", "+01:00", 1200.0, "waking-up", "Morning Meditation", "meditation"),
        ("2024-03-03 11:55:00", "+01:00", 300.0, "waking-up", "Breathing Practice", "breathing"),
    ]),
    # Two identical rows are two sessions (the same practice done twice that day).
    "va-mindfulness-coach.csv": ("VA Mindfulness Coach", [
        ("2024-03-01 12:00:00", "+01:00", 600.0, "va-mindfulness-coach", "Body Scan", "meditation"),
        ("2024-03-02 12:00:00", "+01:00", 60.0, "va-mindfulness-coach", "Breath Awareness", "breathing"),
        ("2024-03-02 12:00:00", "+01:00", 60.0, "va-mindfulness-coach", "Breath Awareness", "breathing"),
    ]),
    # Offsets come from the file; only mindful sessions are read, not steps or sleep.
    "apple-health-export.xml": ("Apple Health", [
        ("2024-03-01 07:30:00", "+01:00", 60.0, "apple-health", "mindful-session", "breathing"),
        ("2024-03-02 00:40:00", "-05:00", 900.0, "apple-health", "mindful-session", "meditation"),
        ("2024-03-03 18:00:00", "+00:00", 1230.0, "apple-health", "mindful-session", "meditation"),
    ]),
}


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_each_sample_imports_with_its_times_lengths_and_source_and_only_once(sample):
    app, rows = EXPECTED[sample]
    path = str(SAMPLES / sample)
    assert run("import", path, "--tz", "Europe/Berlin").stdout == f"Imported 3 new sessions from {app}.\n"
    assert stored() == rows
    again = run("import", path, "--tz", "Europe/Berlin")
    assert again.stdout == f"Imported 0 new sessions from {app} (3 already in the journal).\n"
    assert stored() == rows


def test_apple_health_inside_its_zip_is_streamed_from_the_member(tmp_path):
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
        z.write(SAMPLES / "apple-health-export.xml", "apple_health_export/export.xml")
    data = json.loads(run("import", str(target), "--json").stdout)
    assert (data["format"], data["added"], data["unchanged"]) == ("apple-health", 3, 0)
    assert stored() == EXPECTED["apple-health-export.xml"][1]
    # The same sessions from the plain XML are the same records: nothing is added.
    assert run("import", str(SAMPLES / "apple-health-export.xml")).stdout.startswith("Imported 0 new")


def test_tz_decides_the_offset_of_times_without_a_zone():
    run("import", str(SAMPLES / "insight-timer.csv"), "--tz", "America/New_York")
    assert stored()[0][:2] == ("2024-03-01 07:30:00", "-05:00")
    run("import", str(SAMPLES / "insight-timer.csv"), "--tz", "+05:30")  # the same records
    assert len(stored()) == 3
    assert run("import", str(SAMPLES / "insight-timer.csv"), "--tz", "Mars/Olympus", code=2).stderr == (
        "Error: --tz 'Mars/Olympus': not a time zone; give a name such as Europe/Berlin or an "
        "offset such as +01:00\n"
    )


def test_dry_run_shows_what_would_be_added_and_changes_nothing():
    run("import", str(SAMPLES / "va-mindfulness-coach.csv"), "--tz", "UTC")
    out = run("import", str(SAMPLES / "insight-timer.csv"), "--tz", "UTC", "--dry-run").stdout
    assert out == (
        "Would import 3 new sessions from Insight Timer:\n"
        "  2024-03-01 07:30        45 min  Morning sit\n"
        "  2024-03-02 00:40         6 min  Breathing\n"
        "  2026-11-28 21:05    1 h 02 min  Evening\n"
        "Nothing was changed (--dry-run).\n"
    )
    assert len(stored()) == 3
    data = json.loads(run("import", str(SAMPLES / "va-mindfulness-coach.csv"), "--dry-run", "--json").stdout)
    assert (data["added"], data["unchanged"], data["sessions"], data["dry_run"]) == (0, 3, [], True)


def test_dry_run_before_any_journal_creates_nothing():
    out = run("import", str(SAMPLES / "waking-up.csv"), "--dry-run").stdout
    assert out.startswith("Would import 3 new sessions from Waking Up:\n")
    assert not paths.journal_path().exists()


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def test_errors_name_their_lines_and_nothing_is_imported(tmp_path):
    bad = _write(tmp_path, "it.csv", """\
        Started At,Duration,Preset,Activity
        03/01/2024 07:30:00,0:45:0,Sit,Meditation
        13/45/2024 07:30:00,0:45:0,Sit,Meditation
        03/02/2024 07:30:00,0:75:0,Sit,Meditation
        03/03/2024 07:30:00,0:5:0,Sit\x1b[31m,Meditation
        """)
    err = run("import", bad, code=2).stderr
    assert err == (
        f"Error: nothing imported: 3 invalid records: {bad}: line 3: Started At '13/45/2024 07:30:00' "
        f"is not a real date and time (MM/DD/YYYY HH:MM:SS); {bad}: line 4: Duration '0:75:0' is not "
        f"a length like 0:45:0 (minutes and seconds below 60); {bad}: line 5: exercise holds a "
        "control character, ESC (U+001B), at character 4; it may hold only text on one line\n"
    )
    assert not paths.journal_path().exists()
    va = _write(tmp_path, "va.csv", "Date,Exercise,Duration,Comments\n2024-03-01,Body Scan,ten minutes,\n")
    assert run("import", va, code=2).stderr == (
        f"Error: nothing imported: 1 invalid record: {va}: line 2: Duration 'ten minutes' is not a "
        'length like "10 minutes"\n'
    )


def test_apple_health_errors_and_hostile_xml_are_refused(tmp_path):
    bomb = _write(tmp_path, "bomb.xml", """\
        <?xml version="1.0"?>
        <!DOCTYPE HealthData [
        <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
        <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
        ]>
        <HealthData><Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="&b;"
          startDate="2024-03-01 07:30:00 +0100" endDate="2024-03-01 07:31:00 +0100"/></HealthData>
        """)
    assert run("import", bomb, code=2).stderr == (
        f"Error: {bomb}: line 3: declares an XML entity; an Apple Health export has none (refused for safety)\n"
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    external = _write(tmp_path, "ext.xml", f"""\
        <?xml version="1.0"?>
        <!DOCTYPE HealthData SYSTEM "file://{secret}">
        <HealthData><Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="x"
          startDate="2024-03-01 07:30:00 +0100" endDate="2024-03-01 07:31:00 +0100"/></HealthData>
        """)
    parsed = apps.load_file(external)  # the external DTD is never read: nothing from it appears
    assert [r["title"] for r in parsed.records] == ["Mindful session (x)"]
    other = _write(tmp_path, "other.xml", "<?xml version='1.0'?>\n<plist><dict/></plist>\n")
    assert run("import", other, code=2).stderr == (
        f"Error: {other}: line 2: not an Apple Health export (the root element is <plist>, not <HealthData>)\n"
    )
    broken = _write(tmp_path, "broken.xml", """\
        <HealthData>
         <Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="x"
           startDate="2024-03-01 07:30" endDate="2024-03-01 07:31:00 +0100"/>
         <Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="x"
           startDate="2024-03-01 07:30:00 +0100" endDate="2024-03-01 07:20:00 +0100"/>
        <Record>
        """)
    assert run("import", broken, code=2).stderr == (
        f"Error: {broken}: line 7: not readable as XML (no element found)\n"
    )
    Path(broken).write_text(Path(broken).read_text().replace("<Record>\n", "</HealthData>\n"))
    assert run("import", broken, code=2).stderr == (
        f"Error: nothing imported: 2 invalid records: {broken}: line 2: startDate '2024-03-01 07:30' "
        f"is not a time like 2024-03-01 07:30:00 +0100; {broken}: line 4: endDate is before startDate\n"
    )
    notzip = tmp_path / "x.zip"
    with zipfile.ZipFile(notzip, "w") as z:
        z.writestr("readme.txt", "hello")
    assert run("import", str(notzip), code=2).stderr == (
        f"Error: {notzip}: a zip without an export.xml; is it Apple Health's export.zip?\n"
    )


def test_apple_health_is_parsed_in_bounded_memory(tmp_path):
    """A 120 MB export.xml of other records around a few mindful sessions: the parser's peak
    memory grows by a few MB, not by the file's size (bench/a1_apple_health.py: 1 GB)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.a1_apple_health import write_export

    target = tmp_path / "export.xml"
    sessions = write_export(target, 120 * 1024 * 1024)
    code = (
        "import resource, sys\n"
        "from player.journal import apps\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"parsed = apps.load_file({str(target)!r})\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(len(parsed.records), (after - before) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert int(out[0]) == sessions
    assert int(out[1]) < 40, f"peak memory grew by {out[1]} MB for a 120 MB file"


def test_content_match_keeps_practice_that_went_round_from_being_counted_twice(tmp_path):
    run("log", "add", "body-scan", "--minutes", "20", "--at", "2026-11-20 07:30")
    out = tmp_path / "it.csv"
    run("export", "--format", "insight-timer", "-o", str(out))
    assert out.read_text().splitlines()[1] == "11/20/2026 07:30:00,0:20:0,Body Scan,Meditation"
    assert run("import", str(out)).stdout == (
        "Imported 0 new sessions from Insight Timer (1 already in the journal).\n"
    )


def _sessions_for_export():
    with Journal.open() as j:
        j.add_manual("body-scan", 1234.4, started_at=datetime(2026, 11, 20, 7, 30, tzinfo=ZoneInfo("Europe/Berlin")),
                     title="Body scan", category="body-scan", note="=calm\nand warm")
        j.add_manual("breathe:box", 300, started_at=datetime(2026, 7, 1, 22, 15, tzinfo=ZoneInfo("Europe/Berlin")),
                     title="Box breathing", category="breathing")
        j.add_manual("timer", 600, started_at=datetime(2026, 11, 21, 6, 0, tzinfo=ZoneInfo("America/New_York")))
        return {s.exercise: s for s in j.sessions()}


def test_insight_timer_export_reads_back_with_the_same_starts_and_lengths(tmp_path, monkeypatch):
    made = _sessions_for_export()
    out = tmp_path / "insight.csv"
    assert run("export", "--format", "insight-timer", "-o", str(out)).stderr == f"Exported 3 sessions to {out}.\n"
    assert out.read_text() == (
        "Started At,Duration,Preset,Activity\n"
        "07/01/2026 22:15:00,0:5:0,Box breathing,Breathing\n"
        "11/20/2026 07:30:00,0:20:34,Body scan,Meditation\n"
        "11/21/2026 06:00:00,0:10:0,timer,Meditation\n"
    )
    monkeypatch.setenv("HAVEN_HOME", str(tmp_path / "other"))
    parsed = apps.load_file(str(out), ZoneInfo("Europe/Berlin"))
    assert parsed.format == "insight-timer"
    by_name = {r["exercise"]: r for r in parsed.records}
    for original, name in (("body-scan", "Body scan"), ("breathe:box", "Box breathing")):
        back = by_name[name]
        s = made[original]
        assert datetime.fromisoformat(back["started_at"]) == datetime.fromisoformat(s.started_at.replace("Z", "+00:00"))
        assert back["practiced_s"] == round(s.practiced_s)
    assert run("import", str(out), "--tz", "Europe/Berlin").stdout == "Imported 3 new sessions from Insight Timer.\n"


def test_health_connect_export_is_shaped_like_mindfulness_session_records():
    made = _sessions_for_export()
    doc = json.loads(run("export", "--format", "health-connect").stdout)
    assert (doc["format"], doc["version"]) == ("haven-health-connect", 1)
    records = {r["title"]: r for r in doc["records"]}
    scan = records["Body scan"]
    assert scan == {
        "recordType": "MindfulnessSession",
        "startTime": "2026-11-20T07:30:00+01:00",
        "startZoneOffset": "+01:00",
        "endTime": "2026-11-20T07:50:34+01:00",
        "endZoneOffset": "+01:00",
        "mindfulnessSessionType": "meditation",
        "title": "Body scan",
        "notes": "=calm\nand warm",
        "metadata": {
            "clientRecordId": f"haven-{made['body-scan'].id}",
            "clientRecordVersion": scan["metadata"]["clientRecordVersion"],
            "recordingMethod": "manualEntry",
        },
    }
    assert records["Box breathing"]["mindfulnessSessionType"] == "breathing"
    assert records["Box breathing"]["startTime"] == "2026-07-01T22:15:00+02:00"
    assert records["timer"]["mindfulnessSessionType"] == "unguided"
    assert records["timer"]["startTime"] == "2026-11-21T06:00:00-05:00"
    # Stable ids: a second export names every session the same way.
    again = json.loads(run("export", "--format", "health-connect").stdout)
    assert [r["metadata"]["clientRecordId"] for r in again["records"]] == [
        r["metadata"]["clientRecordId"] for r in doc["records"]]


def test_sessions_from_apps_count_like_any_other_and_show_as_imported():
    run("import", str(SAMPLES / "insight-timer.csv"), "--tz", "Europe/Berlin")
    log = json.loads(run("log", "--json").stdout)["sessions"]
    assert {(r["source"], r["status"]) for r in log} == {("insight-timer", "imported")}
    # 00:40 on 2 March counts for 1 March (the day starts at 04:00): two practice days.
    assert json.loads(run("stats", "--json").stdout)["totals"]["counting_days"] == 2


def test_a_haven_export_with_app_sources_round_trips(tmp_path):
    run("import", str(SAMPLES / "apple-health-export.xml"))
    target = tmp_path / "all.csv"
    run("export", "-o", str(target))
    raw = sqlite3.connect(paths.journal_path())
    raw.execute("DELETE FROM sessions")
    raw.commit()
    raw.close()
    assert run("import", str(target)).stdout == "Imported 3 new sessions.\n"
    assert {r[3] for r in stored()} == {"apple-health"}


def test_stdin_csv_and_xml_are_recognised_too():
    text = (SAMPLES / "waking-up.csv").read_text()
    result = CliRunner().invoke(main, ["import", "-", "--dry-run", "--json"], input=text)
    assert json.loads(result.stdout)["format"] == "waking-up"
    xml = (SAMPLES / "apple-health-export.xml").read_text()
    result = CliRunner().invoke(main, ["import", "-", "--dry-run", "--json"], input=xml)
    assert json.loads(result.stdout)["added"] == 3


def test_format_is_recognised_by_header_not_by_name():
    assert apps.csv_format(["Started At", "Duration", "Preset", "Activity"]) == "insight-timer"
    assert apps.csv_format(["\ufeffFinished On", "Title", "Duration"]) == "waking-up"
    assert apps.csv_format(["Date", "Exercise", "Duration", "Comments"]) == "va-mindfulness-coach"
    assert apps.csv_format(["exercise", "started_at", "practiced_s"]) is None
