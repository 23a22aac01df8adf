"""A drawn patrol plan against what the patrols recorded: which planned targets were visited, when and
by which unit, and the share of the period's incidents in the places actually visited.

Where recorded responses with action ``patrol`` and an arrival time fall in the plan's period, the
coverage is computed from those visits (``source`` = ``"recorded visits"``); with none, the plan is
assumed to have been carried out as drawn (``source`` = ``"plan as drawn"``) and every target
counts as covered. Either way the reply says which, so a reader never mistakes a plan for a patrol.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sauti.constants import LOCALITY_ID

RECORDED = "recorded visits"
AS_DRAWN = "plan as drawn"
VISIT_ACTION = "patrol"


def _window(window: tuple[str, str]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` ISO dates, inclusive, as UTC instants ``[start, end + 1 day)``."""
    try:
        start, end = (pd.Timestamp(w) for w in window)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"window must be two dates YYYY-MM-DD, not {window!r} ({exc})") from exc
    if start > end:
        raise ValueError(f"window starts {window[0]}, after it ends {window[1]}")
    as_utc = [t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC") for t in (start, end)]
    return as_utc[0].normalize(), as_utc[1].normalize() + pd.Timedelta(days=1)


def recorded_visits(responses: pd.DataFrame, window: tuple[str, str]) -> pd.DataFrame:
    """The patrols that arrived somewhere within ``window``: ``locality_id``, ``arrived_at`` (UTC),
    ``unit`` and ``response_id``, earliest arrival first."""
    missing = {"action", LOCALITY_ID, "arrived_at"} - set(responses.columns)
    if missing:
        raise ValueError(f"responses need the columns {', '.join(sorted(missing))}")
    start, end = _window(window)
    arrived = pd.to_datetime(responses["arrived_at"], utc=True, format="ISO8601")
    keep = (
        (responses["action"] == VISIT_ACTION)
        & arrived.notna()
        & (arrived >= start)
        & (arrived < end)
        & responses[LOCALITY_ID].notna()
    )
    visits = pd.DataFrame(
        {
            LOCALITY_ID: responses.loc[keep, LOCALITY_ID].astype(str),
            "arrived_at": arrived[keep],
            "unit": responses["unit"][keep] if "unit" in responses else None,
            "response_id": responses["response_id"][keep] if "response_id" in responses else None,
        }
    )
    return visits.sort_values(["arrived_at", LOCALITY_ID], kind="stable").reset_index(drop=True)


def evaluate_plan_visits(
    targets: pd.DataFrame,
    responses: pd.DataFrame,
    window: tuple[str, str],
    *,
    incidents: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """How a drawn plan was carried out in ``window``, from the recorded patrol visits when there are any.

    Parameters
    ----------
    targets : DataFrame
        The plan's targets: ``locality_id`` and optionally ``rank``, ``base``, ``name``, ``risk``
        (as :meth:`~sauti.models.patrol.result.PatrolPlan.to_records` or a plan GeoJSON's targets).
    responses : DataFrame
        Stored responses: ``action``, ``locality_id``, ``arrived_at`` (UTC datetimes or ISO 8601
        text), optionally ``unit`` and ``response_id``. Only ``patrol`` rows with an arrival in
        ``window`` are visits.
    window : (str, str)
        The plan's period, ``YYYY-MM-DD`` first and last day (inclusive, UTC).
    incidents : DataFrame, optional
        ``occurred_on`` and ``locality_id`` of incidents; when given, the share of the window's
        incidents that fell in the covered targets (``hit_rate``) and in all targets
        (``hit_rate_as_drawn``).

    Returns
    -------
    dict
        ``source`` (``"recorded visits"`` or ``"plan as drawn"``), ``window``, ``targets``,
        ``visited`` (targets covered: visited, or all of them as drawn), ``share``,
        ``recorded_visits`` (patrol arrivals in the window), ``off_plan_visits`` (of those, to
        places the plan did not name), ``risk_planned``/``risk_covered`` (sums of ``risk`` when the
        plan has it), ``rows`` (per target: ``rank``, ``base``, ``locality_id``, ``locality``,
        ``visited`` — ``True``/``False``, ``None`` when assumed — ``first_arrival``, ``units``), and
        with ``incidents`` also ``incidents``, ``incidents_covered``, ``hit_rate`` and
        ``hit_rate_as_drawn``.

    Examples
    --------
    >>> plan = pd.DataFrame({"locality_id": ["A", "B"], "rank": [1, 2]})
    >>> log = pd.DataFrame(
    ...     {"action": ["patrol"], "locality_id": ["B"], "arrived_at": ["2024-03-02T09:00:00Z"]}
    ... )
    >>> result = evaluate_plan_visits(plan, log, ("2024-03-01", "2024-03-31"))
    >>> result["source"], result["visited"], result["targets"]
    ('recorded visits', 1, 2)
    """
    if LOCALITY_ID not in targets.columns:
        raise ValueError("the plan's targets need a locality_id column")
    visits = recorded_visits(responses, window)
    source = RECORDED if len(visits) else AS_DRAWN
    planned = targets.reset_index(drop=True)
    planned_ids = planned[LOCALITY_ID].astype(str)
    by_place = {loc: group for loc, group in visits.groupby(LOCALITY_ID, sort=False)}
    rows = []
    for i, target in enumerate(planned.to_dict("records")):
        loc = str(target[LOCALITY_ID])
        seen = by_place.get(loc)
        visited = None if source == AS_DRAWN else seen is not None
        rows.append(
            {
                "rank": int(target["rank"]) if pd.notna(target.get("rank")) else i + 1,
                "base": target.get("base"),
                LOCALITY_ID: loc,
                "locality": target.get("name") or loc,
                "visited": visited,
                "first_arrival": f"{seen['arrived_at'].min():%Y-%m-%dT%H:%MZ}" if seen is not None else None,
                "units": sorted({str(u) for u in seen["unit"].dropna()}) if seen is not None else [],
            }
        )
    covered = [r["visited"] is not False for r in rows]
    result: dict[str, Any] = {
        "source": source,
        "window": [str(window[0]), str(window[1])],
        "targets": len(rows),
        "visited": int(sum(covered)),
        "share": round(sum(covered) / len(rows), 3) if rows else None,
        "recorded_visits": int(len(visits)),
        "off_plan_visits": int((~visits[LOCALITY_ID].isin(set(planned_ids))).sum()),
        "rows": rows,
    }
    if "risk" in planned.columns:
        risk = pd.to_numeric(planned["risk"], errors="coerce").fillna(0.0)
        result["risk_planned"] = round(float(risk.sum()), 4)
        result["risk_covered"] = round(float(risk[covered].sum()), 4)
    if incidents is not None:
        result.update(_incidents_covered(incidents, window, planned_ids, covered))
    return result


def _incidents_covered(
    incidents: pd.DataFrame, window: tuple[str, str], planned_ids: pd.Series, covered: list[bool]
) -> dict[str, Any]:
    """The window's incidents, and the shares in the covered targets and in all targets."""
    start, end = _window(window)
    days = pd.to_datetime(incidents["occurred_on"], utc=True, format="ISO8601")
    places = incidents.loc[(days >= start) & (days < end), LOCALITY_ID].dropna().astype(str)
    covered_ids = set(planned_ids[covered])
    n = int(len(places))
    hit = int(places.isin(covered_ids).sum())
    drawn = int(places.isin(set(planned_ids)).sum())
    return {
        "incidents": n,
        "incidents_covered": hit,
        "hit_rate": round(hit / n, 3) if n else None,
        "hit_rate_as_drawn": round(drawn / n, 3) if n else None,
    }
