"""A1: `haven import` of a 1 GB Apple Health export.xml in bounded memory (issue 15).

The export is synthetic and deterministic (``write_export``): Apple's inline DTD, then blocks
of heart-rate and step records with metadata children, like a real export's bulk, each block
holding one mindful session (about one per 230 KB, a few thousand in all). The import runs
as its own process (``haven import FILE --json``) into an empty journal; its peak resident
memory comes from ``os.wait4`` for that process alone, beside the file's size. Target: peak
RSS under 200 MB, whatever the size (the parser keeps only mindful-session records).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import Context, Row, haven_argv

SIZE_BYTES = 1024**3
QUICK_SIZE_BYTES = 128 * 1024**2
TARGET_RSS_MB = 200.0

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate value CDATA #REQUIRED>
<!ELEMENT Me EMPTY>
<!ELEMENT Record ((MetadataEntry)*)>
<!ATTLIST Record type CDATA #REQUIRED unit CDATA #IMPLIED value CDATA #IMPLIED
  sourceName CDATA #REQUIRED sourceVersion CDATA #IMPLIED device CDATA #IMPLIED
  creationDate CDATA #IMPLIED startDate CDATA #REQUIRED endDate CDATA #REQUIRED>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry key CDATA #REQUIRED value CDATA #REQUIRED>
]>
<HealthData locale="en_GB">
 <ExportDate value="2026-11-29 07:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1980-01-01"/>
"""
FOOTER = "</HealthData>\n"
_BULK = (
    ' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" sourceVersion="10.1"'
    ' device="&lt;&lt;HKDevice: 0x2829ac4b0&gt;, name:Apple Watch&gt;" unit="count/min"'
    ' creationDate="2024-03-01 07:{m:02d}:10 +0100" startDate="2024-03-01 07:{m:02d}:00 +0100"'
    ' endDate="2024-03-01 07:{m:02d}:00 +0100" value="{v}">\n'
    '  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>\n'
    " </Record>\n"
    ' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Phone" unit="count"'
    ' creationDate="2024-03-01 08:{m:02d}:00 +0100" startDate="2024-03-01 07:{m:02d}:00 +0100"'
    ' endDate="2024-03-01 07:{m:02d}:59 +0100" value="{s}"/>\n'
)
_BLOCK = "".join(_BULK.format(m=i % 60, v=60 + i % 40, s=i * 7 % 900) for i in range(500))
_MINDFUL = (
    ' <Record type="HKCategoryTypeIdentifierMindfulSession" sourceName="Breathe" sourceVersion="10.1"'
    ' creationDate="{end}" startDate="{start}" endDate="{end}" value="HKCategoryValueNotApplicable"/>\n'
)


def write_export(path: Path, size: int) -> int:
    """Write a synthetic export.xml of about ``size`` bytes; returns its mindful sessions."""
    first = datetime(2010, 1, 1, 7, 30)
    sessions = 0
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        written += fh.write(HEADER)
        while written < size:
            start = first + timedelta(hours=13 * sessions)
            end = start + timedelta(minutes=5 + sessions % 20)
            written += fh.write(_MINDFUL.format(start=f"{start:%Y-%m-%d %H:%M:%S} +0100",
                                                end=f"{end:%Y-%m-%d %H:%M:%S} +0100"))
            written += fh.write(_BLOCK)
            sessions += 1
        fh.write(FOOTER)
    return sessions


def _import(ctx: Context, target: Path) -> tuple[dict, float, float]:
    """``(haven import --json output, seconds, peak RSS in MB)`` in an empty journal."""
    home = ctx.fresh_home()
    out_path, err_path = ctx.workdir / "import.out", ctx.workdir / "import.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(haven_argv() + ["import", str(target), "--json"], env=ctx.env(home),
                                stdout=out, stderr=err)
        # wait4, not Popen.wait: the resource usage of this process alone.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"haven import failed ({proc.returncode}): {err_path.read_text(errors='replace')[-500:]}")
    return json.loads(out_path.read_text()), seconds, usage.ru_maxrss / 1024.0  # Linux: KiB


def run(ctx: Context) -> list[Row]:
    import zipfile

    size = QUICK_SIZE_BYTES if ctx.quick else SIZE_BYTES
    target = ctx.workdir / "export.xml"
    sessions = write_export(target, size)
    actual = target.stat().st_size
    result, seconds, rss_mb = _import(ctx, target)
    # As Apple ships it: export.zip, read from the member without unpacking it.
    packed = ctx.workdir / "export.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.write(target, "apple_health_export/export.xml")
    target.unlink()
    zipped, zip_seconds, zip_rss_mb = _import(ctx, packed)
    zip_bytes = packed.stat().st_size
    packed.unlink()
    return [
        Row(
            id="A1",
            what=f"`haven import` of a {actual / 1024**2:,.0f} MB Apple Health export.xml "
                 f"({sessions:,} mindful sessions among its records)",
            figure=f"peak RSS {rss_mb:.0f} MB, {seconds:.1f} s",
            baseline=f"file {actual / 1024**2:,.0f} MB",
            ratio=f"{rss_mb / (actual / 1024**2) * 100:.1f}% of the file (target < {TARGET_RSS_MB:.0f} MB)",
            met=rss_mb < TARGET_RSS_MB and result["added"] == sessions,
            data={
                "file_bytes": actual,
                "mindful_sessions": sessions,
                "added": result["added"],
                "peak_rss_mb": round(rss_mb, 1),
                "seconds": round(seconds, 2),
                "mb_per_s": round(actual / 1024**2 / seconds, 1),
                "target_rss_mb": TARGET_RSS_MB,
            },
        ),
        Row(
            id="A1",
            what=f"the same inside export.zip ({zip_bytes / 1024**2:,.0f} MB), streamed from the member",
            figure=f"peak RSS {zip_rss_mb:.0f} MB, {zip_seconds:.1f} s",
            baseline=f"plain XML: {rss_mb:.0f} MB, {seconds:.1f} s",
            ratio=f"target < {TARGET_RSS_MB:.0f} MB",
            met=zip_rss_mb < TARGET_RSS_MB and zipped["added"] == sessions,
            data={
                "zip_bytes": zip_bytes,
                "xml_bytes": actual,
                "added": zipped["added"],
                "peak_rss_mb": round(zip_rss_mb, 1),
                "seconds": round(zip_seconds, 2),
                "target_rss_mb": TARGET_RSS_MB,
            },
        ),
    ]
