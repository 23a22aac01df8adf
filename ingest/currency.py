"""Data currency: the date each source is complete through, and the warning when incidents are old.

Every incident ingest records the date its file covers (``source_coverage``, migration 0007): the
latest event date, or a later date the user declares (``--complete-through``) for a log that is
quiet but current. The forecast period follows the incident sources' coverage; alerts newer than
it are counted and shown but do not move it. :func:`data_through` is what ``/api/v1/version``,
``/health``, the map and ``sauti status`` show, and :func:`currency_warning` the one warning text.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

SOURCES = ("incidents", "alerts")
#: incident data older than this many days gets a warning (the setting's default)
STALE_AFTER_DAYS = 45


def parse_complete_through(value: str | date | None) -> date | None:
    """A ``YYYY-MM-DD`` text (or a date) as a date; ``None`` stays ``None``.

    Raises
    ------
    sauti.errors.SautiError
        When the text is not a date.
    """
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise SautiError(f"--complete-through {value!r} is not a date; give it as YYYY-MM-DD") from None


def coverage_date(latest: date | None, declared: date | None, *, source: str, today: date) -> str | None:
    """The ``complete_through`` date to record for one ingest run (ISO text), or ``None``.

    ``declared`` must not be earlier than the file's latest event (the file itself shows data
    after it) nor later than ``today``.
    """
    if declared is None:
        return None if latest is None else latest.isoformat()
    if latest is not None and declared < latest:
        raise SautiError(
            f"{source}: --complete-through {declared.isoformat()} is before the file's latest event "
            f"({latest.isoformat()}); give a date on or after it"
        )
    if declared > today:
        raise SautiError(f"{source}: --complete-through {declared.isoformat()} is in the future")
    return declared.isoformat()


def record_coverage(
    con: sqlite3.Connection, run_id: int, kind: str, complete_through: str | None, *, declared: bool
) -> None:
    """Store the date run ``run_id`` of ``kind`` is complete through (inside the run's transaction)."""
    if complete_through is None:
        return
    con.execute(
        "INSERT OR REPLACE INTO source_coverage (run_id, kind, complete_through, declared) VALUES (?,?,?,?)",
        (run_id, kind, complete_through, int(declared)),
    )


def latest_date(values: pd.Series) -> date | None:
    """The latest date among ``values`` (dates or ISO texts), or ``None``."""
    if values is None or len(values) == 0:
        return None
    latest = pd.to_datetime(values, errors="coerce").max()
    return None if pd.isna(latest) else latest.date()


def data_through(workspace: Workspace) -> dict[str, str | None]:
    """``{"incidents": "YYYY-MM-DD", "alerts": "YYYY-MM-DD"}``: the date each source covers.

    Incidents: the latest recorded coverage of any incident ingest (declared or the latest event
    date), never earlier than the latest stored incident. Alerts: the date of the latest alert
    received (UTC). ``None`` where a source has nothing.
    """
    if not workspace.exists:
        return dict.fromkeys(SOURCES)
    with workspace.session() as con:
        declared = con.execute(
            "SELECT MAX(complete_through) FROM source_coverage WHERE kind = 'incidents'"
        ).fetchone()[0]
        events = con.execute("SELECT substr(MAX(occurred_on), 1, 10) FROM incidents").fetchone()[0]
        alerts = con.execute("SELECT MAX(received_at) FROM alerts").fetchone()[0]
    known = [d for d in (declared, events) if d]
    return {
        "incidents": max(known) if known else None,
        "alerts": str(pd.to_datetime(alerts, utc=True).date()) if alerts else None,
    }


def incident_age_days(through: dict[str, str | None], today: date | None = None) -> int | None:
    """Days between the incident data's coverage and ``today`` (UTC); ``None`` without incidents."""
    if not through.get("incidents"):
        return None
    today = today or datetime.now(UTC).date()
    return (today - date.fromisoformat(through["incidents"])).days


def currency_warning(
    through: dict[str, str | None], *, stale_after_days: int = STALE_AFTER_DAYS, today: date | None = None
) -> str | None:
    """The warning to show when incident data is older than ``stale_after_days``, else ``None``.

    One text for ``/health``, the map and ``sauti status``::

        >>> currency_warning({"incidents": "2022-12-31", "alerts": None}, today=date(2023, 3, 1))
        'Incident data is old: complete through 31 Dec 2022, 60 days ago (limit 45). The forecast is \
for the period after it, not for today. Ingest a newer incident log, or declare a quiet log current \
with: sauti ingest incidents FILE --complete-through DATE.'
    """
    age = incident_age_days(through, today)
    if age is None or age <= stale_after_days:
        return None
    shown = date.fromisoformat(through["incidents"]).strftime("%d %b %Y").lstrip("0")
    return (  # plain text (shown as it is on the map): no Markdown
        f"Incident data is old: complete through {shown}, {age:,} days ago (limit {stale_after_days}). "
        "The forecast is for the period after it, not for today. Ingest a newer incident log, or declare "
        "a quiet log current with: sauti ingest incidents FILE --complete-through DATE."
    )
