"""The practice journal: every session recorded safely, and counted by the spec's rules.

``Journal`` (in ``store``) records and reads sessions, built on ``schema`` (the SQLite file and
its migrations), ``records`` (what a session is, and its checks) and ``exchange`` (export and
import files); ``rules`` holds the pure counting rules (practice days, streaks with rest days
and freezes, weekly goal); ``reports`` builds the stats, streak, calendar and mood reports
from one query; ``apps`` reads other apps' exports (Insight Timer, Waking Up, VA Mindfulness
Coach, Apple Health) and writes Health Connect and Insight Timer files. ``haven play`` records
through::

    with Journal.open() as journal:
        sid = journal.start_session("body-scan", "Body scan", "body-scan", planned_s=600)
        journal.update_progress(sid, 30.0)          # every ~30 s while playing
        journal.finish_session(sid, 598.2, completed=True)
"""

from player.journal.records import FIELDS, CheckIn, ImportResult, ProgramRun, Session
from player.journal.schema import MIGRATIONS, Migration
from player.journal.store import Journal

__all__ = [
    "FIELDS", "MIGRATIONS", "CheckIn", "ImportResult", "Journal", "Migration", "ProgramRun",
    "Session",
]
