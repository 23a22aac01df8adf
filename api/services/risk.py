"""Risk per locality: the GeoJSON collection behind ``GET /localities`` and one locality's detail.

Each feature is serialised once per data generation and tolerance and cached as JSON text, so a
request only filters and joins strings.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sauti.api.services import redaction
from sauti.api.services.source import DataSource
from sauti.constants import LOCALITY_ID
from sauti.errors import NotFoundError, NotReadyError
from sauti.jsonable import json_number, json_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sauti.api.deps import LocalityQuery
    from sauti.api.security import Principal

TOP_DRIVERS = 3
RECENT_ALERT_DAYS = 30
RECENT_INCIDENTS = 20
HISTORY_PERIODS = 24


def _drivers(value: Any, n: int = TOP_DRIVERS) -> list[dict]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    out = []
    for item in list(value)[:n]:
        if isinstance(item, dict):
            out.append({k: json_number(v) if k != "feature" else str(v) for k, v in item.items()})
    return out


def served_level(source: DataSource, requested: str | None = None) -> str:
    """The unit level the collection serves: the one requested, else the scored one, else admin2."""
    return source.cached(("served_level", requested), lambda: _served_level(source, requested))


def _served_level(source: DataSource, requested: str | None) -> str:
    localities = source.localities()
    levels = set(localities["level"])
    if requested:
        if requested not in levels:
            raise NotFoundError(f"no such level in the workspace: it has {', '.join(sorted(levels))}")
        return requested
    scores = source.scores()
    if scores is not None:
        scored = localities[localities[LOCALITY_ID].isin(set(scores[LOCALITY_ID].astype(str)))]
        if len(scored):
            return str(scored["level"].mode().iloc[0])
    for level in ("admin2", "admin3", "admin1", "grid"):
        if level in levels:
            return level
    if not levels:
        raise NotReadyError("the workspace holds no localities: run `sauti ingest boundaries FILE` first")
    return sorted(levels)[0]


def ancestors(source: DataSource) -> dict[str, dict[str, str]]:
    """``locality_id -> {level: id}`` for the locality itself and every coarser admin level."""

    def build():
        localities = source.localities()
        out: dict[str, dict[str, str]] = {}
        cols = [c for c in ("admin1_id", "admin2_id", "admin3_id") if c in localities.columns]
        for row in localities[[LOCALITY_ID, "level", *cols]].to_dict("records"):
            ids = {c[:-3]: str(row[c]) for c in cols if isinstance(row[c], str) and row[c]}
            ids[row["level"]] = str(row[LOCALITY_ID])
            out[str(row[LOCALITY_ID])] = ids
        return out

    return source.cached("ancestors", build)


def roll_up(source: DataSource, locality_ids, level: str) -> list[str | None]:
    """The ``level`` unit containing each locality id (an admin3 alert counts in its admin2)."""
    table = ancestors(source)
    return [table.get(str(lid), {}).get(level) if lid is not None else None for lid in locality_ids]


def alert_counts_by_locality(
    source: DataSource, level: str, until: datetime | None = None, window_end: datetime | None = None
) -> dict[str, tuple[int, int]]:
    """``unit id -> (alerts in the 30 days to until, alerts in all to until)`` at ``level``: counts only.

    ``until`` defaults to now; the map passes the end of the period it shows, so "in 30 days" counts
    back from the data's date, not from the wall clock. ``window_end`` moves only the 30-day window
    (the API counts back from the forecast's data date and keeps newer alerts in both counts).
    """

    def build():
        alerts = source.alerts()
        if alerts.empty:
            return {}
        end = window_end or (datetime.now(UTC) if until is None else until)
        located = alerts.dropna(subset=[LOCALITY_ID])
        if until is not None:
            located = located[located["received_at"] <= until]
        located = located.copy()
        located["unit"] = roll_up(source, located[LOCALITY_ID], level)
        located = located.dropna(subset=["unit"])
        total = located.groupby("unit").size()
        recent = located[located["received_at"] > end - timedelta(days=RECENT_ALERT_DAYS)]
        recent = recent.groupby("unit").size()
        return {str(k): (int(recent.get(k, 0)), int(v)) for k, v in total.items()}

    return source.cached(("alert_counts", level, until, window_end), build)


def data_date(source: DataSource) -> datetime:
    """End of the day the forecast's incident data is complete through (now when there is none)."""
    through = source.data_through().get("incidents")
    if not through:
        return datetime.now(UTC)
    return datetime.fromisoformat(through).replace(tzinfo=UTC) + timedelta(days=1)


def mark_after_forecast_data(source: DataSource, details: list[dict]) -> list[dict]:
    """Set ``after_forecast_data`` on each alert detail: received after the day the forecast's incident
    data run to (:func:`data_date`), so it is not in the forecast shown (a person must be told)."""
    import pandas as pd

    cutoff = pd.Timestamp(data_date(source))
    for detail in details:
        when = pd.Timestamp(detail["received_at"]) if detail.get("received_at") else None
        if when is not None and when.tzinfo is None:
            when = when.tz_localize("UTC")
        detail["after_forecast_data"] = bool(when is not None and when >= cutoff)
    return details


def _scores_by_id(source: DataSource, period: str | None = None, level: str | None = None) -> dict[str, dict]:
    """Scores of ``period`` (default the latest) by locality id; for a coarser ``level`` than the
    scored one (``admin1``), each unit's risk of at least one incident among its localities."""
    scores = source.scores() if period is None else source.period_scores(period)
    if scores is None:
        return {}
    if level is not None and not scores.empty:
        scored_level = {v.get(level) for v in ancestors(source).values()}
        if not set(scores[LOCALITY_ID].astype(str)) & scored_level:
            return _rolled_up(source, scores, level)
    out = {}
    for row in scores.to_dict("records"):
        out[str(row[LOCALITY_ID])] = {
            "period": json_text(row.get("period")),
            "risk": json_number(row.get("probability")),
            "rank": json_number(row.get("rank")),
            "change": json_number(row.get("change")),
            "drivers": _drivers(row.get("drivers"), n=10),
            "model_version": json_text(row.get("model_version")),
            "data_snapshot": json_text(row.get("data_snapshot")),
            "scored_at": json_text(row.get("scored_at")),
        }
    return out


def _rolled_up(source: DataSource, scores, level: str) -> dict[str, dict]:
    """Scores of ``level`` units from their localities' (``1 − Π(1 − p)``, ranked), no drivers."""
    from sauti.models.roll_up import region_risk

    ids = scores[LOCALITY_ID].astype(str)
    regions = dict(zip(ids, roll_up(source, ids, level), strict=True))
    risk = region_risk(dict(zip(ids, scores["probability"], strict=True)), regions)
    ranked = sorted(risk, key=lambda k: -risk[k])
    first = scores.iloc[0]
    return {
        unit: {
            **EMPTY_SCORE,
            "period": json_text(first.get("period")),
            "risk": json_number(risk[unit]),
            "rank": ranked.index(unit) + 1,
            "model_version": json_text(first.get("model_version")),
            "data_snapshot": json_text(first.get("data_snapshot")),
            "scored_at": json_text(first.get("scored_at")),
        }
        for unit in risk
    }


def _locality_fields(row: dict) -> dict[str, Any]:
    """What a locality is (id, name, level, parents, area): the head of a feature and of a detail."""
    return {
        LOCALITY_ID: str(row[LOCALITY_ID]),
        "name": row["name"],
        "level": row["level"],
        "admin1_id": row.get("admin1_id"),
        "admin1_name": row.get("admin1_name"),
        "admin2_name": row.get("admin2_name"),
        "area_km2": json_number(row.get("area_km2")),
    }


EMPTY_SCORE = {
    "period": None,
    "risk": None,
    "rank": None,
    "change": None,
    "drivers": [],
    "model_version": None,
    "data_snapshot": None,
    "scored_at": None,
}


def _feature_table(source: DataSource, level: str, tolerance: float, period: str | None = None) -> dict:
    """Serialised features of one level (cached per generation): ids, filters' columns, JSON text."""

    def build():
        import numpy as np
        import shapely

        localities = source.localities()
        units = localities[localities["level"] == level]
        scores = _scores_by_id(source, period, level)
        counts = alert_counts_by_locality(source, level, window_end=data_date(source))
        geoms = units.geometry.values
        if tolerance > 0:
            geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
        geoms = shapely.set_precision(geoms, 1e-5)
        texts, risks, changes, admin1 = [], [], [], []
        for row, geom in zip(units.to_dict("records"), geoms, strict=True):
            lid = str(row[LOCALITY_ID])
            score = scores.get(lid, EMPTY_SCORE)
            recent, total = counts.get(lid, (0, 0))
            props = {
                **_locality_fields(row),
                **score,
                "drivers": score["drivers"][:TOP_DRIVERS],
                "alerts_30d": recent,
                "alerts_total": total,
            }
            props = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in props.items()}
            texts.append(
                '{"type":"Feature","id":'
                + json.dumps(lid)
                + ',"geometry":'
                + shapely.to_geojson(geom)
                + ',"properties":'
                + json.dumps(props, ensure_ascii=False)
                + "}"
            )
            risks.append(np.nan if score["risk"] is None else score["risk"])
            changes.append(np.nan if score["change"] is None else score["change"])
            admin1.append(
                {str(row.get("admin1_id") or "").casefold(), str(row.get("admin1_name") or "").casefold()}
            )
        return {
            "ids": units[LOCALITY_ID].astype(str).tolist(),
            "bounds": shapely.bounds(units.geometry.values),
            "risk": np.asarray(risks, dtype=float),
            "change": np.asarray(changes, dtype=float),
            "admin1": admin1,
            "texts": texts,
        }

    return source.cached(("features", level, round(tolerance, 8), period), build)


def localities_geojson(source: DataSource, query: LocalityQuery) -> str:
    """The FeatureCollection for ``GET /localities`` as JSON text (cached unless a bbox is given)."""
    if query.bbox_tuple is None:
        key = (
            "localities_geojson",
            query.level,
            query.tolerance,
            query.min_risk,
            (query.admin1 or "").casefold(),
            query.period,
            query.sort,
            query.limit,
        )
        return source.cached(key, lambda: _localities_geojson(source, query))
    return _localities_geojson(source, query)


def _localities_geojson(source: DataSource, query: LocalityQuery) -> str:
    import numpy as np

    level = served_level(source, query.level)
    table = _feature_table(source, level, query.tolerance, query.period)
    keep = np.ones(len(table["ids"]), dtype=bool)
    if query.min_risk is not None:
        keep &= np.nan_to_num(table["risk"], nan=-1.0) >= query.min_risk
    if query.bbox_tuple is not None:
        minx, miny, maxx, maxy = query.bbox_tuple
        b = table["bounds"]
        keep &= (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
    if query.admin1:
        wanted = query.admin1.casefold()
        keep &= np.array([wanted in names for names in table["admin1"]], dtype=bool)
    order = np.flatnonzero(keep)
    if query.sort is not None:  # highest risk (rank 1) or largest rise first; unscored last
        key = table["risk"] if query.sort == "rank" else table["change"]
        order = order[np.argsort(-np.nan_to_num(key[order], nan=-np.inf), kind="stable")]
    if query.limit is not None:
        order = order[: query.limit]
    selected = [table["texts"][i] for i in order]
    meta = json.dumps({"level": level, "numberReturned": len(selected), "generation": source.generation})
    return '{"type":"FeatureCollection","features":[' + ",".join(selected) + '],"metadata":' + meta + "}"


def _locality_row(source: DataSource, locality_id: str) -> dict:
    localities = source.localities()
    match = localities[localities[LOCALITY_ID] == locality_id]
    if match.empty:
        raise NotFoundError("no locality with this id in the workspace (see GET /api/v1/localities)")
    return match.iloc[0]


def recent_incidents(source: DataSource, geometry, n: int = RECENT_INCIDENTS) -> list[dict]:
    """The ``n`` latest incidents located in ``geometry`` (point or locality precision)."""
    import shapely

    incidents = source.incidents()
    if incidents.empty:
        return []
    located = incidents.dropna(subset=["longitude", "latitude"])
    located = located[located["location_precision"].isin(["point", "locality"])]
    minx, miny, maxx, maxy = geometry.bounds
    near = located[located["longitude"].between(minx, maxx) & located["latitude"].between(miny, maxy)]
    inside = shapely.contains_xy(geometry, near["longitude"].to_numpy(), near["latitude"].to_numpy())
    hits = near[inside].sort_values("occurred_on", ascending=False).head(n)
    cols = ["event_id", "source", "occurred_on", "category", "fatalities", "location_precision", "place_name"]
    out = []
    for row in hits[cols + ["longitude", "latitude"]].to_dict("records"):
        item = {c: (json_text(row[c]) if c != "fatalities" else json_number(row[c])) for c in cols}
        item["occurred_on"] = item["occurred_on"][:10] if item["occurred_on"] else None
        item["longitude"], item["latitude"] = json_number(row["longitude"]), json_number(row["latitude"])
        out.append(item)
    return out


def history_records(frame: pd.DataFrame | None, n: int = HISTORY_PERIODS) -> list[dict]:
    """The last ``n`` periods of a risk history as plain records."""
    if frame is None or len(frame) == 0:
        return []
    frame = frame.reset_index(drop="period" in frame.columns)
    frame = frame.sort_values("period").tail(n) if "period" in frame.columns else frame.tail(n)
    wanted = ("period", "probability", "rank", "count_intercommunal", "count_violent", "fatalities")
    keep = [c for c in wanted if c in frame.columns]
    out = []
    for row in frame[keep].to_dict("records"):
        out.append({k: (json_text(v) if k == "period" else json_number(v)) for k, v in row.items()})
    return out


def locality_detail(source: DataSource, locality_id: str, principal: Principal) -> tuple[dict, list[str]]:
    """One locality: risk, drivers, history, recent incidents and alerts redacted for ``principal``.

    Returns the body and the ids of alerts whose details it contains (for the audit log).
    """
    body, details = source.cached(("locality_detail", locality_id), lambda: _detail(source, locality_id))
    body = dict(body)
    shown: list[str] = []
    if redaction.may_see_alert_details(principal):
        body["alerts"] = details
        shown = [d["alert_id"] for d in details]
    return body, shown


def _detail(source: DataSource, locality_id: str) -> tuple[dict, list[dict]]:
    """One locality's body and its redacted alert details, built once per data stamp (a map click
    then costs a dictionary copy and, for analysts, the audit record)."""
    row = _locality_row(source, locality_id)
    score = _scores_by_id_cached(source).get(locality_id, EMPTY_SCORE)
    here = _alerts_in(source, row["level"]).get(locality_id)
    alerts = source.alerts()
    here = alerts.iloc[here if here is not None else []].sort_values("received_at", ascending=False)
    body: dict[str, Any] = {
        **_locality_fields(row),
        "bbox": [round(v, 5) for v in row.geometry.bounds],
        "risk": score,
        "history": history_records(source.risk_history(locality_id)),
        "incidents": recent_incidents(source, row.geometry),
        "alerts_summary": redaction.alert_counts(here),
    }
    return body, mark_after_forecast_data(source, redaction.alert_details(here.head(50)))


def _scores_by_id_cached(source: DataSource) -> dict[str, dict]:
    return source.cached("scores_by_id", lambda: _scores_by_id(source))


def _alerts_in(source: DataSource, level: str) -> dict[str, list[int]]:
    """``unit id -> positions in source.alerts()`` of the alerts located in it (rolled up to ``level``)."""

    def build():
        alerts = source.alerts()
        out: dict[str, list[int]] = {}
        for position, unit in enumerate(roll_up(source, alerts[LOCALITY_ID], level)):
            if unit is not None:
                out.setdefault(unit, []).append(position)
        return out

    return source.cached(("alerts_in", level), build)


def scored_periods(source: DataSource) -> dict:
    """``{"periods": [ISO dates, oldest first], "latest": ISO date}`` of the current model's scores."""

    def build():
        from sauti.models.score_history import scored_periods as periods_of

        periods = [f"{p:%Y-%m-%d}" for p in periods_of(source.workspace)]
        return {"periods": periods, "latest": periods[-1] if periods else None}

    source.require_store()
    return source.cached("api_scored_periods", build)


def rising(source: DataSource, n: int = 5, period: str | None = None) -> dict:
    """What rose into ``period`` (default the latest): the ``n`` largest increases since the
    previous period and the localities newly in the top 10%, with names, risk and change."""

    scored = scored_periods(source)
    if period is not None and period not in scored["periods"]:  # refused, and not repeated back
        periods = scored["periods"]
        known = f": scored periods run {periods[0]} to {periods[-1]}" if periods else ""
        raise NotFoundError(f"no scores for the period asked for{known}")

    def build():
        from sauti.models.score_history import rising_localities, score_histories

        latest = period or scored["latest"]
        if latest is None:
            return {"period": None, "increases": [], "new_in_top": []}
        found = rising_localities(score_histories(source.workspace, until=latest, n=2), latest, n=n)
        names = source.localities().set_index(LOCALITY_ID)["name"].to_dict()
        for items in found.values():
            for item in items:
                item["name"] = names.get(item[LOCALITY_ID])
        return {"period": latest, **found}

    source.require_store()
    return source.cached(("api_rising", n, period), build)
