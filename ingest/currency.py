"""Data currency: the date each source is complete through, and the warning when incidents are old.

Every incident ingest records the date its file covers (``source_coverage``, migration 0007): the
latest event date, or a later date the user declares (``--complete-through``) for a log that is
quiet but current. The forecast period follows the incident sources' coverage; alerts newer than
it are counted and shown but do not move it. :func:`data_through` is what ``/api/v1/version``,
``/health``, the map and ``sauti status`` show, and :func:`currency_warning` the one warning text.
Beside it they show the latest incident of each category (:func:`last_events`) and warn when the
forecast target has been silent far longer than its usual gaps between events (:func:`target_silence`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import TARGET_CATEGORY
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
        "INSERT INTO source_coverage (run_id, kind, complete_through, declared) VALUES (?,?,?,?)"
        " ON CONFLICT (run_id) DO UPDATE SET kind = excluded.kind,"
        " complete_through = excluded.complete_through, declared = excluded.declared",
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


#: the target category's silence is "far longer than usual" beyond this quantile of its past gaps
USUAL_GAP_QUANTILE = 0.95
#: fewer past gaps than this say too little about what is usual: no silence warning
MIN_GAPS = 10


def last_events(workspace: Workspace) -> dict[str, str]:
    """``{category: "YYYY-MM-DD"}``: the date of the latest stored incident of each category.

    The forecast target (:data:`~sauti.constants.TARGET_CATEGORY`) comes first, then the others
    from the most recent; categories without incidents are left out.
    """
    if not workspace.exists:
        return {}
    with workspace.session() as con:
        rows = con.execute(
            "SELECT category, substr(MAX(occurred_on), 1, 10) FROM incidents GROUP BY category"
        ).fetchall()
    target = [(c, d) for c, d in rows if d and c == TARGET_CATEGORY]
    others = sorted(((c, d) for c, d in rows if d and c != TARGET_CATEGORY), key=lambda r: r[1], reverse=True)
    return dict(target + others)


def target_silence(workspace: Workspace, through: dict[str, str | None] | None = None) -> dict | None:
    """How long the forecast target has been silent, against its usual gaps between events.

    ``silent_days`` runs from the latest target-category incident to the date the incident data
    is complete through (:func:`data_through`), so stale data is not counted as silence (that is
    :func:`currency_warning`'s job). ``usual_gap_days`` is the :data:`USUAL_GAP_QUANTILE` quantile
    of the past gaps between consecutive event dates (95 in 100 past gaps were that long or shorter),
    ``longest_gap_days`` the longest. ``warning`` is set when the silence is longer than the usual gap
    and at least :data:`MIN_GAPS` gaps are known. ``None`` without any target-category incident.
    """
    if not workspace.exists:
        return None
    through = through or data_through(workspace)
    with workspace.session() as con:
        days = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT substr(occurred_on, 1, 10) AS day FROM incidents "
                "WHERE category = ? ORDER BY day",
                (TARGET_CATEGORY,),
            )
        ]
    if not days or not through.get("incidents"):
        return None
    dates = pd.to_datetime(pd.Series(days), errors="coerce").dropna()
    gaps = dates.diff().dt.days.dropna().to_numpy()
    last = dates.iloc[-1].date()
    silent = max((date.fromisoformat(through["incidents"]) - last).days, 0)
    out = {
        "category": TARGET_CATEGORY,
        "last_event": last.isoformat(),
        "silent_days": silent,
        "gaps": int(gaps.size),
        "usual_gap_days": None,
        "longest_gap_days": int(gaps.max()) if gaps.size else None,
        "warning": None,
    }
    if gaps.size < MIN_GAPS:
        return out
    usual = int(np.quantile(gaps, USUAL_GAP_QUANTILE, method="inverted_cdf"))
    out["usual_gap_days"] = usual
    if silent > usual:
        out["warning"] = silence_warning(out, through["incidents"])
    return out


def silence_warning(silence: dict, through: str) -> str:
    """The plain-words warning for a target category silent longer than its usual gaps.

    >>> silence_warning({"last_event": "2020-11-21", "silent_days": 769, "usual_gap_days": 48,
    ...                  "longest_gap_days": 1539}, "2022-12-30")  # doctest: +NORMALIZE_WHITESPACE
    'No intercommunal incident since 21 Nov 2020: 769 days up to the end of the incident data \
(30 Dec 2022), while 95 in 100 earlier gaps between intercommunal incidents were 48 days or shorter \
(the longest was 1,539 days). The forecast is of intercommunal incidents: check that the incident log \
still records them before reading low risk as calm.'
    """
    what = TARGET_CATEGORY.replace("_", " ")
    share = round(USUAL_GAP_QUANTILE * 100)
    return (
        f"No {what} incident since {_day(silence['last_event'])}: {silence['silent_days']:,} days up to the "
        f"end of the incident data ({_day(through)}), while {share} in 100 earlier gaps between {what} "
        f"incidents were {silence['usual_gap_days']:,} days or shorter (the longest was "
        f"{silence['longest_gap_days']:,} days). The forecast is of {what} incidents: check that the "
        "incident log still records them before reading low risk as calm."
    )


def _day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d %b %Y").lstrip("0")
