"""Other apps' files: what `haven import` reads from them and `haven export` writes for them.

Recognised by their header row (CSV) or root element (XML), never by the file name:

- Insight Timer CSV: ``Started At,Duration,Preset,Activity``; ``MM/DD/YYYY HH:MM:SS`` local
  time without a zone, durations ``H:M:S`` unpadded (``0:45:0``).
- Waking Up CSV: ``Finished On,Title,Duration``; ``MM/DD/YYYY`` and seconds; the start is the
  finish minus the duration.
- VA Mindfulness Coach CSV: ``Date,Exercise,Duration,Comments``; ``YYYY-MM-DD``, "N minutes".
- Apple Health ``export.xml``, or the ``export.zip`` that holds it: each
  ``HKCategoryTypeIdentifierMindfulSession`` record, ``startDate``/``endDate`` with offsets
  (``2024-03-01 07:30:00 +0100``). These files reach gigabytes: the XML is streamed through
  expat in 1 MiB pieces (from the zip member without unpacking it) and only mindful-session
  records become Python objects, so memory stays flat whatever the size. Entity declarations
  are refused (no "billion laughs") and external entities are never fetched or read; Apple's
  own inline DTD of element declarations is allowed.

Times without a zone are local time of this machine, or of ``--tz``. A date without a time
(Waking Up, VA Mindfulness Coach) is read as **12:00 noon** local time that day, so the session
stays on its date's practice day for any day start (at most 12:00) and any length up to 8 h.

Every session keeps its ``source`` (``insight-timer``, ``waking-up``, ``va-mindfulness-coach``,
``apple-health``) and gets an id derived from its record in the file (source, the record's own
fields, and how many identical records came before it), so importing the same file twice adds
nothing, even with another ``--tz``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import IO, Any, Callable, Mapping, Sequence

from player.errors import BadInputError
from player.journal import rules
from player.journal.exchange import (
    MAX_IMPORT_SESSIONS,
    csv_escape,
    csv_unescape,
    invalid_records_error,
    load_records,
    read_import_file,
    too_many,
)
from player.journal.records import normalise_record

# Ids of sessions imported from other apps (uuid5 of the record in its file).
_APP_NAMESPACE = uuid.UUID("3b8f0a52-6c1e-4f7d-9d55-0e1c2a7b4f91")

INSIGHT_TIMER = ("Started At", "Duration", "Preset", "Activity")
WAKING_UP = ("Finished On", "Title", "Duration")
VA_COACH = ("Date", "Exercise", "Duration", "Comments")
# Which source each recognised CSV header gives its sessions.
CSV_FORMATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("insight-timer", INSIGHT_TIMER),
    ("waking-up", WAKING_UP),
    ("va-mindfulness-coach", VA_COACH),
)
APPLE_HEALTH = "apple-health"
MINDFUL_TYPE = "HKCategoryTypeIdentifierMindfulSession"
# The largest export.xml read, inside a zip or not: far above any real export (a decade of
# heart-rate samples is a few GB), and a bound on the time a zip bomb can take.
XML_LIMIT = 64 * 1024**3
_CHUNK = 1024 * 1024
_NOON = 12 * 60
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Parsed:
    """An import file read: its format, its records (Haven's import fields) and a label each."""

    format: str  # "haven" or an app's source name
    records: list[dict[str, Any]]
    labels: list[str]

    @property
    def from_app(self) -> bool:
        return self.format != "haven"


# --- time zones and values ---------------------------------------------------------------------


def parse_tz(text: str) -> tzinfo:
    """``--tz``: a zone name (``Europe/Berlin``, ``UTC``) or a fixed offset (``+01:00``)."""
    s = text.strip()
    if s[:1] in "+-" or s in ("Z", "z"):
        try:
            return timezone(timedelta(minutes=rules.parse_offset(s)))
        except ValueError as exc:
            raise BadInputError(f"--tz {text!r}: {exc}") from None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not s or s.startswith(("/", ".")) or ".." in s:
            raise ValueError(s)
        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadInputError(
            f"--tz {text!r}: not a time zone; give a name such as Europe/Berlin or an offset such as +01:00"
        ) from None


def _aware(naive: datetime, tz: tzinfo | None) -> datetime:
    """A local time without a zone: in ``tz``, or this machine's zone (the offset then)."""
    if tz is not None:
        return naive.replace(tzinfo=tz)
    try:
        return naive.astimezone()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"the time {naive:%Y-%m-%d %H:%M} is outside the years 1971 to 9998") from None


_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _us_datetime(name: str, text: str, *, time_required: bool) -> tuple[datetime, bool]:
    """``MM/DD/YYYY[ HH:MM[:SS]]`` → (naive datetime, whether a time was given)."""
    m = _US_DATE.fullmatch(text.strip())
    form = "MM/DD/YYYY HH:MM:SS" if time_required else "MM/DD/YYYY"
    if not m or (time_required and m.group(4) is None):
        raise ValueError(f"{name} {_shown(text)} is not a date like {form}")
    month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    has_time = m.group(4) is not None
    hour, minute, second = (int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)) if has_time else (0, 0, 0)
    try:
        return datetime(year, month, day, hour, minute, second), has_time
    except ValueError:
        raise ValueError(f"{name} {_shown(text)} is not a real date and time ({form})") from None


def _hms(name: str, text: str) -> float:
    """``0:45:0`` (H:M:S, unpadded) or ``45:00`` (M:S) → seconds."""
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        raise ValueError(f"{name} {_shown(text)} is not a length like 0:45:0 (hours:minutes:seconds)")
    numbers = [int(p) for p in parts]
    if len(numbers) == 2:
        numbers.insert(0, 0)
    h, m, s = numbers
    if m >= 60 or s >= 60:
        raise ValueError(f"{name} {_shown(text)} is not a length like 0:45:0 (minutes and seconds below 60)")
    return float(h * 3600 + m * 60 + s)


_MINUTES = re.compile(r"(\d{1,6}(?:\.\d+)?)\s*(?:minutes?|mins?|m)?", re.IGNORECASE)


def _minutes(name: str, text: str) -> float:
    """``12 minutes``, ``1 minute``, ``12`` → seconds."""
    m = _MINUTES.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{name} {_shown(text)} is not a length like \"10 minutes\"")
    return float(m.group(1)) * 60.0


def _seconds(name: str, text: str) -> float:
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        value = -1.0
    if not s or value != value or value < 0 or len(s) > 20:
        raise ValueError(f"{name} {_shown(text)} is not a number of seconds")
    return value


def _shown(text: str) -> str:
    from player.journal.records import _show

    return _show(text)


def category_of(*texts: str | None) -> str:
    """A category for a session named only by another app: breathing when it says so."""
    joined = " ".join(t for t in texts if t).lower()
    return "breathing" if "breath" in joined else "meditation"


def _record(
    source: str, key: Sequence[str], seen: dict[str, int], *, start: datetime, seconds: float,
    exercise: str, title: str | None, category: str | None, note: str | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """One session in ``normalise_record``'s input form, with its id from the file's record."""
    ident = "|".join([source, *key])
    seen[ident] = seen.get(ident, 0) + 1
    if seen[ident] > 1:  # the same record again is the same practice done again
        ident += f"#{seen[ident]}"
    end = end if end is not None else start + timedelta(seconds=seconds)
    return {
        "id": str(uuid.uuid5(_APP_NAMESPACE, ident)),
        "exercise": exercise,
        "title": title,
        "category": category,
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "utc_offset": rules.format_offset(rules.offset_of(start)),
        "planned_s": seconds,
        "practiced_s": seconds,
        "completed": True,
        "source": source,
        "note": note,
    }


def _checked(record: dict[str, Any]) -> dict[str, Any]:
    """The journal's own checks (text without control characters, lengths, years), here, so
    one run reports every problem of the file with its line."""
    normalise_record(record, "1970-01-01T00:00:00Z")
    return record


# --- CSV formats ---------------------------------------------------------------------------------


def _insight_timer(row: Mapping[str, str], tz: tzinfo | None, seen: dict[str, int]) -> dict[str, Any]:
    naive, _ = _us_datetime("Started At", row["Started At"], time_required=True)
    seconds = _hms("Duration", row["Duration"])
    preset = csv_unescape(row.get("Preset") or "").strip()
    activity = csv_unescape(row.get("Activity") or "").strip()
    name = preset or activity or "Meditation"
    return _record(
        "insight-timer", [row["Started At"].strip(), row["Duration"].strip(), preset, activity], seen,
        start=_aware(naive, tz), seconds=seconds, exercise=name, title=name,
        category=activity.lower() if activity else category_of(preset),
    )


def _waking_up(row: Mapping[str, str], tz: tzinfo | None, seen: dict[str, int]) -> dict[str, Any]:
    naive, has_time = _us_datetime("Finished On", row["Finished On"], time_required=False)
    if not has_time:
        naive += timedelta(minutes=_NOON)
    seconds = _seconds("Duration", row["Duration"])
    title = (row.get("Title") or "").strip() or "Waking Up"
    end = _aware(naive, tz)
    return _record(
        "waking-up", [row["Finished On"].strip(), row["Duration"].strip(), title], seen,
        start=end - timedelta(seconds=seconds), end=end, seconds=seconds, exercise=title,
        title=title, category=category_of(title),
    )


def _va_coach(row: Mapping[str, str], tz: tzinfo | None, seen: dict[str, int]) -> dict[str, Any]:
    text = row["Date"].strip()
    m = _ISO_DATE.fullmatch(text)
    try:
        if not m:
            raise ValueError
        naive = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))) + timedelta(minutes=_NOON)
    except ValueError:
        raise ValueError(f"Date {_shown(text)} is not a date like YYYY-MM-DD") from None
    seconds = _minutes("Duration", row["Duration"])
    exercise = (row.get("Exercise") or "").strip() or "Mindfulness exercise"
    note = (row.get("Comments") or "").strip() or None
    return _record(
        "va-mindfulness-coach", [text, row["Duration"].strip(), exercise, note or ""], seen,
        start=_aware(naive, tz), seconds=seconds, exercise=exercise, title=exercise,
        category=category_of(exercise), note=note,
    )


_ROW_READERS: dict[str, Callable[[Mapping[str, str], tzinfo | None, dict[str, int]], dict[str, Any]]] = {
    "insight-timer": _insight_timer,
    "waking-up": _waking_up,
    "va-mindfulness-coach": _va_coach,
}


def csv_format(header: Sequence[str]) -> str | None:
    """The app whose export has this header row (its columns, in any order), or None."""
    names = {h.strip().lstrip("\ufeff") for h in header}
    for source, columns in CSV_FORMATS:
        if set(columns) <= names:
            return source
    return None


def _first_row(text: str) -> list[str]:
    import csv

    from player.journal.exchange import _lines

    try:
        return next(csv.reader(_lines(text[:65536])), [])
    except (csv.Error, StopIteration):
        return []


def load_app_csv(text: str, name: str, source: str, tz: tzinfo | None) -> Parsed:
    """Read one app's CSV; every problem is collected with its line, and nothing is kept if
    any row is invalid (``BadInputError`` naming the first five)."""
    import csv

    from player.journal.exchange import _csv_error, _lines, csv_rows

    reader = csv.DictReader(_lines(text))
    try:
        reader.fieldnames = [h.strip().lstrip("\ufeff") for h in (reader.fieldnames or [])]
    except csv.Error:
        raise _csv_error(name, 1) from None
    read_row = _ROW_READERS[source]
    records: list[dict[str, Any]] = []
    labels: list[str] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(reader, name):
        label = f"{name}: line {line}"
        if None in row:
            problems.append(f"{label}: more cells than the header has columns")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line at the end of a hand-edited file
        try:
            records.append(_checked(read_row({k: v or "" for k, v in row.items()}, tz, seen)))
            labels.append(label)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    if problems:
        raise invalid_records_error(problems)
    return Parsed(source, records, labels)


# --- Apple Health ---------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised inside an expat handler to end parsing with a message."""


def _health_time(name: str, text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        raise ValueError(f"{name} {_shown(text)} is not a time like 2024-03-01 07:30:00 +0100") from None


def _mindful_record(attrs: Mapping[str, str], seen: dict[str, int]) -> dict[str, Any]:
    start = _health_time("startDate", attrs.get("startDate", ""))
    end = _health_time("endDate", attrs.get("endDate", ""))
    if end < start:
        raise ValueError("endDate is before startDate")
    app = (attrs.get("sourceName") or "").strip() or None
    return _record(
        APPLE_HEALTH, [app or "", attrs["startDate"].strip(), attrs["endDate"].strip()], seen,
        start=start, end=end, seconds=(end - start).total_seconds(), exercise="mindful-session",
        title=f"Mindful session ({app})" if app else "Mindful session", category=category_of(app),
    )


def parse_health_xml(stream: IO[bytes], name: str, *, first: bytes = b"") -> Parsed:
    """Stream an Apple Health ``export.xml``: only mindful-session records are kept."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    # Refuse entity declarations (nothing to expand: no "billion laughs"), never resolve an
    # external entity or DTD, and never parse parameter entities. Element and attribute-list
    # declarations (Apple's own inline DTD) are harmless and allowed.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_entity(*_args: Any) -> None:
        raise _Stop(f"{name}: line {parser.CurrentLineNumber}: declares an XML entity; "
                    "an Apple Health export has none (refused for safety)")

    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = lambda *_a: 0  # an error, never a read

    records: list[dict[str, Any]] = []
    labels: list[str] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    root: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        if not root:
            root.append(tag)
            if tag != "HealthData":
                raise _Stop(f"{name}: line {parser.CurrentLineNumber}: not an Apple Health export "
                            f"(the root element is <{tag[:40]}>, not <HealthData>)")
            return
        if tag != "Record" or attrs.get("type") != MINDFUL_TYPE:
            return
        label = f"{name}: line {parser.CurrentLineNumber}"
        if len(records) >= MAX_IMPORT_SESSIONS:
            raise _Stop(str(too_many(name, "mindful sessions")))
        try:
            records.append(_checked(_mindful_record(attrs, seen)))
            labels.append(label)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")

    parser.StartElementHandler = start
    parser.buffer_text = False
    total = 0
    try:
        chunk = first
        while True:
            if chunk:
                total += len(chunk)
                if total > XML_LIMIT:
                    raise _Stop(f"{name}: more than the {XML_LIMIT // 1024**3} GiB an Apple Health export may hold")
                parser.Parse(chunk, False)
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
        parser.Parse(b"", True)
    except _Stop as exc:
        raise BadInputError(str(exc)) from None
    except expat.ExpatError as exc:
        raise BadInputError(
            f"{name}: line {exc.lineno}: not readable as XML ({expat.ErrorString(exc.code)})"
        ) from None
    except OSError as exc:  # a damaged zip member (bad CRC) or a read error
        raise BadInputError(f"{name}: could not be read to the end ({exc})") from None
    if not root:
        raise BadInputError(f"{name}: empty file")
    if problems:
        raise invalid_records_error(problems)
    return Parsed(APPLE_HEALTH, records, labels)


def _health_member(names: Sequence[str]) -> str | None:
    """The export.xml in Apple's zip (``apple_health_export/export.xml``)."""
    for member in names:
        if member.rsplit("/", 1)[-1] == "export.xml":
            return member
    return None


def parse_health_zip(fh: IO[bytes], name: str) -> Parsed:
    import zipfile

    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadInputError(f"{name}: not a readable zip file ({exc})") from None
    with archive:
        member = _health_member(archive.namelist())
        if member is None:
            raise BadInputError(f"{name}: a zip without an export.xml; is it Apple Health's export.zip?")
        try:
            with archive.open(member) as stream:
                return parse_health_xml(stream, f"{name}: {member}")
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise BadInputError(f"{name}: {member} could not be unpacked ({exc})") from None


# --- the entry point ---------------------------------------------------------------------------------


def load_file(file: str, tz: tzinfo | None = None) -> Parsed:
    """Read any import file `haven import` accepts, recognised by its content."""
    if file != "-":
        from player.files import open_regular

        try:
            with open_regular(file, what="journal export", error=BadInputError) as fh:
                head = fh.read(4096)
                if head.startswith(_ZIP_MAGIC):
                    fh.seek(0)
                    return parse_health_zip(fh, file)
                if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                    return parse_health_xml(fh, file, first=head)
        except FileNotFoundError:
            raise BadInputError(f"{file}: no such file") from None
    text, name = read_import_file(file)
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        import io

        return parse_health_xml(io.BytesIO(text.encode("utf-8")), name)
    source = csv_format(_first_row(text.lstrip("\ufeff")))
    if source is not None:
        return load_app_csv(text.lstrip("\ufeff"), name, source, tz)
    records, labels = load_records(text, name)
    return Parsed("haven", records, labels)


# --- exports for other places ----------------------------------------------------------------------------


HEALTH_CONNECT_FORMAT = "haven-health-connect"
HEALTH_CONNECT_VERSION = 1


def session_type(record: Mapping[str, Any]) -> str:
    """Health Connect's mindfulness session type: breathing, unguided (a plain timer) or
    meditation (everything guided that is not breathing)."""
    category = (record.get("category") or "").lower()
    exercise = (record.get("exercise") or "").lower()
    if category == "breathing" or exercise.startswith("breathe:"):
        return "breathing"
    if exercise == "timer" or category in ("timer", "unguided", "silent"):
        return "unguided"
    return "meditation"


def _local(instant: str, offset: str) -> str:
    tz = timezone(timedelta(minutes=rules.parse_offset(offset)))
    return rules.parse_utc(instant).astimezone(tz).isoformat()


def _end_instant(record: Mapping[str, Any]) -> str:
    if record.get("ended_at"):
        return record["ended_at"]
    start = rules.parse_utc(record["started_at"])
    return rules.format_utc(start + timedelta(seconds=round(float(record["practiced_s"]))))


def health_connect(records: Sequence[Mapping[str, Any]], exported_at: str) -> tuple[int, str]:
    """``(sessions written, JSON)``: one record per session shaped like Health Connect's
    ``MindfulnessSessionRecord``. A session must end after it starts there, so sessions with
    no time at all (stopped at once) are left out."""
    import json

    out = []
    for rec in records:
        end = _end_instant(rec)
        if rules.parse_utc(end) <= rules.parse_utc(rec["started_at"]):
            continue
        offset = rec["utc_offset"]
        out.append({
            "recordType": "MindfulnessSession",
            "startTime": _local(rec["started_at"], offset),
            "startZoneOffset": offset,
            "endTime": _local(end, offset),
            "endZoneOffset": offset,
            "mindfulnessSessionType": session_type(rec),
            "title": rec.get("title") or rec["exercise"],
            "notes": rec.get("note"),
            "metadata": {
                # Stable per session, so importing again updates instead of duplicating;
                # the version grows with every edit (Health Connect keeps the highest).
                "clientRecordId": f"haven-{rec['id']}",
                "clientRecordVersion": int(rules.parse_utc(rec.get("updated_at") or rec["started_at"]).timestamp()),
                "recordingMethod": "manualEntry" if rec.get("source") == "manual" else
                ("automaticallyRecorded" if rec.get("source") == "played" else "unknown"),
            },
        })
    doc = {
        "format": HEALTH_CONNECT_FORMAT,
        "version": HEALTH_CONNECT_VERSION,
        "exported_at": exported_at,
        "records": out,
    }
    return len(out), json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _hms_text(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60}:{total % 60}"


def insight_timer(records: Sequence[Mapping[str, Any]]) -> tuple[int, str]:
    """``(sessions written, CSV)`` in Insight Timer's export format, which their import and
    ours read: local start times (each session's own offset), unpadded ``H:M:S`` lengths."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(INSIGHT_TIMER)
    count = 0
    for rec in records:
        tz = timezone(timedelta(minutes=rules.parse_offset(rec["utc_offset"])))
        local = rules.parse_utc(rec["started_at"]).astimezone(tz)
        name = " ".join((rec.get("title") or rec["exercise"]).split())
        activity = "Breathing" if session_type(rec) == "breathing" else "Meditation"
        writer.writerow([
            local.strftime("%m/%d/%Y %H:%M:%S"), _hms_text(float(rec["practiced_s"])),
            csv_escape(name), activity,
        ])
        count += 1
    return count, out.getvalue()
