"""Journal export and import files: writing and reading Haven's JSON and CSV, with their limits."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from player.errors import BadInputError
from player.journal.records import FIELDS

EXPORT_FORMAT = "haven-journal"
EXPORT_VERSION = 1


def invalid_records_error(problems: Sequence[str]) -> BadInputError:
    """One line, as every error: the first five problems (fix them and run it again)."""
    more = f"; … and {len(problems) - 5} more" if len(problems) > 5 else ""
    return BadInputError(
        f"nothing imported: {len(problems)} invalid record{'s' if len(problems) != 1 else ''}: "
        + "; ".join(problems[:5]) + more
    )


# --- files for export and import ---------------------------------------------------------------

# The largest file `haven import` reads: a journal of 30 years at 10 sessions a day exports to
# about 70 MB of JSON. Reading stops here, whatever the file is (a link to /dev/zero included).
IMPORT_LIMIT = 256 * 1024 * 1024
# Parsed, a file costs far more memory than its bytes (a CSV of empty rows about 140 times as
# much), so what parsing may build is bounded too: at most this many sessions in one import
# (27 years of 10 sessions a day), at most ``_JSON_VALUES_PER_SESSION`` JSON values for each
# (an export has 17), and CSV headers of at most ``_CSV_MAX_COLUMNS`` columns (an export has
# 16). Worst case about 400 MB, whatever the file holds.
MAX_IMPORT_SESSIONS = 100_000
_JSON_VALUES_PER_SESSION = 24
_CSV_MAX_COLUMNS = 32

# Spreadsheet formula injection (OWASP "CSV injection"): Excel, LibreOffice and Google Sheets
# run a cell that starts with one of these as a formula. Haven's CSV prefixes such a text cell
# with a single quote, which spreadsheets show as text, and also a cell that starts with a
# quote before one of them, so `haven import` of Haven's own CSV removes exactly the quotes
# that were added: export -> import loses nothing.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_TEXT_FIELDS = ("id", "exercise", "title", "category", "note")  # free text; the rest is checked


def csv_escape(text: str) -> str:
    """A text cell made safe to open in a spreadsheet (see ``_FORMULA_START``)."""
    if text.startswith(_FORMULA_START) or (text.startswith("'") and text[1:2].startswith(_FORMULA_START + ("'",))):
        return "'" + text
    return text


def csv_unescape(text: str) -> str:
    """Undo :func:`csv_escape` (for Haven's own CSV, recognised by its header)."""
    if text.startswith("'") and text[1:2].startswith(_FORMULA_START + ("'",)):
        return text[1:]
    return text


class _HugeNumber(float):
    """A JSON integer too long to be any field's value: infinite, so validation refuses it
    like any other out-of-range number, and named by its length in the message."""

    digits = 0

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def _json_int(text: str) -> int | float:
    """JSON integers: a huge one (Python refuses more than 4300 digits, with no place in the
    file) becomes a ``_HugeNumber``, so the error names the record and the field."""
    if len(text) <= 30:
        return int(text)
    huge = _HugeNumber("-inf" if text.startswith("-") else "inf")
    huge.digits = len(text.lstrip("-"))
    return huge


def dump_records(records: Sequence[Mapping[str, Any]], fmt: str, exported_at: str) -> str:
    """Serialise records as ``json`` (a document with ``format``/``version``/``sessions``) or
    ``csv`` (one header row of ``FIELDS``; empty cell = no value; floats exact)."""
    import json

    if fmt == "json":
        doc = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": exported_at,
            "sessions": [dict(r) for r in records],
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        # CRLF rows (RFC 4180); it also makes the writer quote any field holding \r or \n.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(FIELDS)
        for rec in records:
            row = []
            for name in FIELDS:
                value = rec.get(name)
                if value is None:
                    row.append("")
                elif isinstance(value, bool):
                    row.append("true" if value else "false")
                elif isinstance(value, float):
                    row.append(repr(value))  # repr round-trips a float exactly
                elif name in _CSV_TEXT_FIELDS:
                    row.append(csv_escape(str(value)))
                else:
                    row.append(str(value))
            writer.writerow(row)
        return out.getvalue()
    raise BadInputError(f"unknown export format {fmt!r}: use csv or json")


def load_records(text: str, name: str = "<input>") -> tuple[list[dict[str, Any]], list[str]]:
    """Parse an import file (JSON export, JSON list, or CSV with a header row).

    Returns the records and a label for each (``name: line N`` for CSV, ``name: session N``
    for JSON) so validation errors point at the right place.
    """
    import csv
    import json

    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        # Every JSON value after a container's first follows a comma: this bounds how many
        # objects parsing builds, before it builds any (a few ms for 100 MB).
        values = stripped.count(",") + stripped.count("[") + stripped.count("{")
        if values > MAX_IMPORT_SESSIONS * _JSON_VALUES_PER_SESSION:
            raise too_many(name)
        try:
            doc = json.loads(stripped, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{name}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise BadInputError(f"{name}: not a journal export: the JSON is nested too deeply") from None
        if isinstance(doc, dict):
            if doc.get("format") not in (None, EXPORT_FORMAT) or "sessions" not in doc:
                raise BadInputError(f"{name}: not a Haven journal export (no \"sessions\" list)")
            if isinstance(doc.get("version"), int) and doc["version"] > EXPORT_VERSION:
                raise BadInputError(f"{name}: written by a newer Haven (export version {doc['version']})")
            doc = doc["sessions"]
        if not isinstance(doc, list):
            raise BadInputError(f"{name}: expected a list of sessions")
        return doc, [f"{name}: session {i}" for i in range(1, len(doc) + 1)]
    reader = csv.DictReader(_lines(stripped))
    try:
        header = reader.fieldnames or []
    except csv.Error:
        raise _csv_error(name, 1) from None
    if not header:
        raise BadInputError(f"{name}: empty file")
    if len(header) > _CSV_MAX_COLUMNS:
        raise BadInputError(
            f"{name}: line 1: the header has {len(header):,} columns; a journal CSV has at most {_CSV_MAX_COLUMNS}"
        )
    if "exercise" not in header or "started_at" not in header or not ({"practiced_s", "minutes"} & set(header)):
        raise BadInputError(
            f"{name}: line 1: the CSV header must name at least exercise, started_at and "
            "practiced_s (or minutes)"
        )
    own = tuple(header) == FIELDS  # Haven's own CSV: undo its formula escaping
    records: list[dict[str, Any]] = []
    labels: list[str] = []
    for line, row in csv_rows(reader, name):
        if None in row:
            raise BadInputError(f"{name}: line {line}: more cells than the header has columns")
        if own:
            for key in _CSV_TEXT_FIELDS:
                if row.get(key):
                    row[key] = csv_unescape(row[key])
        records.append(row)
        labels.append(f"{name}: line {line}")
    return records, labels


def too_many(name: str, what: str = "sessions") -> BadInputError:
    return BadInputError(
        f"{name}: more than {MAX_IMPORT_SESSIONS:,} {what}, more than one import takes; split it into parts"
    )


def csv_rows(reader: Any, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a ``csv.DictReader``, each with the line it starts on. Unreadable CSV, or
    more rows than ``MAX_IMPORT_SESSIONS``, ends the reading with one line naming the place."""
    import csv

    line = reader.line_num
    rows = iter(reader)
    count = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error:
            raise _csv_error(name, line + 1) from None
        count += 1
        if count > MAX_IMPORT_SESSIONS:
            raise too_many(name)
        yield line + 1, row
        line = reader.line_num


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, one at a time (``io.StringIO`` would hold a
    four-bytes-a-character copy of the whole file)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def _csv_error(name: str, line: int) -> BadInputError:
    import csv

    limit = csv.field_size_limit()
    return BadInputError(
        f"{name}: line {line}: not readable as CSV (a cell longer than {limit // 1024} KiB, "
        "or a quote that is never closed)"
    )


def read_import_file(file: str) -> tuple[str, str]:
    """``(text, name for messages)`` of an import file, or of standard input for ``-``.

    Regular files only (a named pipe never blocks, a folder or device is refused), at most
    ``IMPORT_LIMIT`` bytes read whatever the source (``/dev/zero`` or an endless pipe on
    standard input included), UTF-8 with an optional BOM; bytes that are not UTF-8 are
    reported with their line.
    """
    import sys

    from player.files import read_regular

    if file == "-":
        name = "<stdin>"
        try:
            data = sys.stdin.buffer.read(IMPORT_LIMIT + 1)
        except OSError as exc:
            from player.files import describe_os_error

            raise BadInputError(describe_os_error(exc, "standard input", doing="read")) from None
        if len(data) > IMPORT_LIMIT:
            raise BadInputError(f"{name}: more than the {IMPORT_LIMIT // (1024 * 1024)} MiB an import may hold")
    else:
        name = file
        try:
            data = read_regular(file, limit=IMPORT_LIMIT, what="journal export", error=BadInputError)
        except FileNotFoundError:
            raise BadInputError(f"{file}: no such file") from None
    try:
        # Bytes, decoded here: newline translation would alter line breaks inside CSV notes.
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInputError(f"{name}: line {line}: not UTF-8 text (byte {exc.start + 1})") from None
