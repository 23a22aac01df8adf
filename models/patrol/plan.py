"""Patrol priorities: where a planner's limited patrols cover the most risk of intercommunal violence.

:func:`plan_patrols` turns localities, their risk and the bases (capacity, range) into a maximal
covering problem (see :mod:`sauti.models.patrol.solve`), solves it and returns a
:class:`PatrolPlan`: a ranked list per base with the reasons (risk, distance, top drivers), the
optimality gap, and a plain-words explanation when a base or the whole plan comes out empty.

Distance rule: from the base to the locality's **centroid** (its representative point when the
centroid falls outside a concave polygon; the point itself for point localities), measured in
:func:`sauti.geo.local_crs` centred on the localities and bases. A locality whose target point lies
in a no-go area is never a target, and (``avoid_crossing=True``, the default) a base→target
straight line that crosses a no-go area makes that pair unreachable.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sauti.features.glossary import driver_label, driver_words, feature_label, points
from sauti.models.patrol.bases import read_bases, resolve_bases, save_bases, workspace_bases
from sauti.models.patrol.borders import border_warnings, locate_bases
from sauti.models.patrol.reach import Reach, compute_reach
from sauti.models.patrol.solve import METHODS, CoverProblem, solve
from sauti.models.registry_store import current_model

from sauti.constants import LOCALITY_ID, PERIOD, STORAGE_CRS, check_columns
from sauti.errors import NotReadyError
from sauti.jsonable import plain

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

    from sauti.store import Workspace

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "PatrolPlan",
    "plan_from_workspace",
    "plan_patrols",
    "read_bases",
    "save_bases",
    "workspace_bases",
]

ASSIGNMENT_COLUMNS = (
    "base",
    "rank",
    LOCALITY_ID,
    "name",
    "risk",
    "weight",
    "value",
    "distance_km",
    "drivers",
)
DISTANCE_RULE = "centroid (representative point if outside), straight line in a local equal-area CRS"
TOP_DRIVERS = 3


@dataclass
class PatrolPlan:
    """A patrol plan: who goes where, how good it is, and why.

    Attributes
    ----------
    assignments : DataFrame
        One row per patrol: ``base``, ``rank`` (1 = the base's most valuable target), ``locality_id``,
        ``name``, ``risk`` (probability), ``weight``, ``value`` (risk × weight), ``distance_km``,
        ``drivers`` (list of the locality's top score drivers, strings).
    bases : GeoDataFrame
        ``name``, ``patrols``, ``range_km``, ``used``, ``reachable`` (localities in range, allowed and
        with positive value), Point geometry in EPSG:4326.
    status : str
        ``optimal`` | ``feasible`` (time limit hit, incumbent kept) | ``greedy`` | ``empty`` (nothing can
        be placed) | ``infeasible`` (the problem cannot be posed: no bases, localities or scores).
    localities : GeoDataFrame
        Every locality considered: ``locality_id``, ``name``, ``probability``, ``value``,
        ``covered`` and its geometry (EPSG:4326), for maps.
    period, model_version : str or None
        The scored period (``YYYY-MM-DD``, the first day of the last period of data the scores
        saw) and the model version, when the risk frame carries them.
    forecast_period : dict or None
        The period(s) the scores forecast, ``{"label": "January 2023", "start", "end"}``; known
        when the plan comes from a workspace (which knows the period length and horizon).
    weighted : bool
        Whether values are probability × a weight (e.g. population) rather than probability.
    warnings : list of str
        Things a planner must check: a base outside the workspace's boundaries, a patrol that
        crosses into another country, a population weight coarser than the localities.
    """

    assignments: pd.DataFrame
    bases: gpd.GeoDataFrame
    status: str
    method: str
    covered_risk: float
    total_risk: float
    reachable_risk: float
    upper_bound: float | None
    gap: float | None
    notes: list[str]
    seconds: float = 0.0
    target_geometry: gpd.GeoDataFrame | None = field(default=None, repr=False)
    localities: gpd.GeoDataFrame | None = field(default=None, repr=False)
    period: str | None = None
    model_version: str | None = None
    forecast_period: dict[str, str] | None = None
    weighted: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        return " ".join(self.notes)

    @property
    def expected_localities(self) -> tuple[float, float]:
        """(covered, total): expected number of localities with an incident among those patrolled,
        and among all scored localities (sums of probabilities; a probability is that of at least
        one incident in the period)."""
        if self.localities is None or not len(self.localities):
            return 0.0, 0.0
        probability = np.nan_to_num(self.localities["probability"].to_numpy(dtype=float))
        covered = self.localities["covered"].to_numpy(dtype=bool)
        return float(probability[covered].sum()), float(probability.sum())

    @property
    def headline(self) -> str:
        """The plan in a planner's terms: "Expected localities with an incident covered: 1.4 of 2.6 (55%)"."""
        return expected_localities_text(*self.expected_localities)

    def summary(self) -> dict[str, Any]:
        """The plan in figures and words (JSON-serialisable)."""
        share = self.covered_risk / self.total_risk if self.total_risk > 0 else 0.0
        expected_covered, expected_total = self.expected_localities
        return {
            "period": self.period,
            "forecast_period": self.forecast_period,
            "model_version": self.model_version,
            "headline": self.headline,
            "expected_localities_covered": _num(expected_covered),
            "expected_localities_total": _num(expected_total),
            "expected_share": _num(expected_covered / expected_total) if expected_total > 0 else None,
            "weighted": self.weighted,
            "warnings": list(self.warnings),
            "status": self.status,
            "method": self.method,
            "objective": _num(self.covered_risk),
            "covered_risk": _num(self.covered_risk),
            "total_risk": _num(self.total_risk),
            "reachable_risk": _num(self.reachable_risk),
            "covered_share": _num(share),
            "upper_bound": _num(self.upper_bound),
            "gap": _num(self.gap),
            "patrols_available": int(self.bases["patrols"].sum()) if len(self.bases) else 0,
            "patrols_used": len(self.assignments),
            "localities_covered": int(self.assignments[LOCALITY_ID].nunique()),
            "seconds": round(self.seconds, 4),
            "distance_rule": DISTANCE_RULE,
            "bases": [
                {
                    "name": str(row.name),
                    "patrols": int(row.patrols),
                    "range_km": _num(row.range_km),
                    "used": int(row.used),
                    "reachable": int(row.reachable),
                    "outside_boundaries": not bool(getattr(row, "inside", True)),
                }
                for row in self.bases.itertuples(index=False)
            ],
            "explanation": self.explanation,
        }

    def to_records(self) -> list[dict[str, Any]]:
        """The assignments as JSON-serialisable dicts, in base then rank order."""
        records = []
        for row in self.assignments.to_dict(orient="records"):
            records.append({k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()})
        for record in records:
            record["rank"] = int(record["rank"])
            record["drivers"] = list(record["drivers"])
        return records

    def to_csv(self, path: str | PathLike[str]) -> Path:
        """Write the assignments as CSV (drivers joined by ``; ``; text that a spreadsheet would run
        as a formula is escaped, see :mod:`sauti.csv_safe`); return the path."""
        from sauti.csv_safe import write_csv

        frame = self.assignments.copy()
        frame["drivers"] = frame["drivers"].map(lambda d: "; ".join(d))
        return write_csv(frame, path, float_format="%.6g")

    def to_geojson(self, geometry: str = "point") -> dict[str, Any]:
        """A GeoJSON FeatureCollection (EPSG:4326) of bases, targets and base→target routes.

        Parameters
        ----------
        geometry : {"point", "polygon"}
            Targets as their target point (light, default) or as the locality polygon.

        Every feature has a ``kind`` property: ``base`` (name, patrols, range_km, used),
        ``target`` (the assignment's columns) or ``route`` (base, locality_id, rank, distance_km;
        a LineString from the base to the target point). The collection carries the summary under
        ``"summary"`` (a foreign member, ignored by GIS readers).
        """
        from shapely.geometry import mapping

        if geometry not in ("point", "polygon"):
            raise ValueError(f"geometry must be 'point' or 'polygon', not {geometry!r}")
        features: list[dict[str, Any]] = []
        for row in self.bases.itertuples(index=False):
            features.append(
                {
                    "type": "Feature",
                    "geometry": mapping(row.geometry),
                    "properties": {
                        "kind": "base",
                        "name": str(row.name),
                        "patrols": int(row.patrols),
                        "range_km": _num(row.range_km),
                        "used": int(row.used),
                        "outside_boundaries": not bool(getattr(row, "inside", True)),
                    },
                }
            )
        base_points = dict(zip(self.bases["name"], self.bases.geometry, strict=True))
        shapes = self.target_geometry
        for record in self.to_records():
            loc = record[LOCALITY_ID]
            point = shapes.loc[loc, "point"]
            shape = point if geometry == "point" else shapes.loc[loc, "geometry"]
            features.append(
                {"type": "Feature", "geometry": mapping(shape), "properties": {"kind": "target", **record}}
            )
            start = base_points[record["base"]]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[start.x, start.y], [point.x, point.y]],
                    },
                    "properties": {
                        "kind": "route",
                        "base": record["base"],
                        LOCALITY_ID: loc,
                        "rank": record["rank"],
                        "distance_km": record["distance_km"],
                    },
                }
            )
        return {"type": "FeatureCollection", "features": features, "summary": self.summary()}


def _num(value: Any) -> float | None:
    """A JSON-safe float (None for missing/NaN/±inf: :func:`sauti.jsonable.plain`)."""
    value = plain(value)
    return None if value is None else float(value)


def _amount(value: float) -> str:
    """An expected count with two significant digits and no exponent: 12, 2.6, 0.41, 0.012."""
    if value >= 10:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    if value <= 0:
        return "0"
    return f"{value:.{max(2, 1 - math.floor(math.log10(value)))}f}"


def expected_localities_text(covered: float, total: float) -> str:
    """``Expected localities with an incident covered: 1.4 of 2.6 (55%)``."""
    share = f" ({covered / total:.0%})" if total > 0 else ""
    return f"Expected localities with an incident covered: {_amount(covered)} of {_amount(total)}{share}"


def _score_identity(risk: pd.DataFrame | None) -> tuple[str | None, str | None]:
    """The forecast period (latest, ``YYYY-MM-DD``) and model version(s) a risk frame carries."""
    if risk is None or not len(risk):
        return None, None
    period = None
    if PERIOD in risk.columns:
        periods = pd.to_datetime(risk[PERIOD], errors="coerce").dropna()
        period = str(periods.max().date()) if len(periods) else None
    version = None
    if "model_version" in risk.columns:
        version = ", ".join(sorted(set(risk["model_version"].dropna().astype(str)))) or None
    return period, version


def _driver_text(item: dict) -> str:
    """``label (+0.68 pp)``: the driver in plain words (:mod:`sauti.features.glossary`, so no internal
    name reaches a person) and its contribution in percentage points, like the risk in %."""
    name = driver_label(item) or str(item.get("name") or "?")
    if item.get("feature") and item.get("value") is not None:
        name = driver_words(item)  # the value (and the typical locality's) in words
    contribution = item.get("contribution")
    if isinstance(contribution, (int, float)) and not isinstance(contribution, bool):
        return f"{name} ({points(contribution)})"
    return str(name)


def _driver_names(value: Any, top: int = TOP_DRIVERS) -> list[str]:
    """Normalise a score's drivers (list of names/dicts, or JSON text) to up to ``top`` strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            names = [s.strip() for s in text.replace(";", ",").split(",") if s.strip()][:top]
            return [feature_label(n) for n in names]
    if isinstance(value, dict):
        value = [{"feature": k, "contribution": v} for k, v in value.items()]
    if not isinstance(value, (list, tuple, np.ndarray)):
        return [feature_label(str(value))]
    out = []
    for item in list(value)[:top]:
        if isinstance(item, dict):
            out.append(_driver_text(item))
        else:
            out.append(str(item))
    return out


# --- inputs ----------------------------------------------------------------------------------------
def _risk_values(localities: gpd.GeoDataFrame, risk: pd.DataFrame) -> pd.DataFrame:
    """One row per locality (in locality order): probability (NaN if unscored) and drivers."""
    check_columns(risk.columns, (LOCALITY_ID, "probability"), "risk")
    frame = risk.copy()
    frame[LOCALITY_ID] = frame[LOCALITY_ID].astype(str)
    if frame[LOCALITY_ID].duplicated().any():
        if PERIOD not in frame.columns:
            dup = frame.loc[frame[LOCALITY_ID].duplicated(), LOCALITY_ID].iloc[0]
            raise ValueError(f"risk has several rows for locality {dup!r}; give one row per locality")
        frame = frame.sort_values(PERIOD).drop_duplicates(LOCALITY_ID, keep="last")
    probability = pd.to_numeric(frame["probability"], errors="coerce")
    if (probability < 0).any():
        bad = frame.loc[probability < 0, LOCALITY_ID].iloc[0]
        raise ValueError(f"risk probability must be ≥ 0 (locality {bad!r})")
    frame["probability"] = probability
    if "drivers" not in frame.columns:
        frame["drivers"] = None
    frame = frame.set_index(LOCALITY_ID)
    ids = localities[LOCALITY_ID].astype(str)
    out = pd.DataFrame({LOCALITY_ID: ids.to_numpy()})
    out["probability"] = frame["probability"].reindex(ids).to_numpy(dtype=float)
    out["drivers"] = frame["drivers"].reindex(ids).to_numpy(dtype=object)
    return out


def _weights(ids: pd.Series, weight: pd.Series | None) -> np.ndarray:
    if weight is None:
        return np.ones(len(ids))
    if not isinstance(weight, pd.Series):
        raise ValueError("weight must be a pandas Series indexed by locality_id")
    values = pd.to_numeric(weight, errors="coerce")
    values.index = values.index.astype(str)
    if values.index.duplicated().any():
        raise ValueError("weight has a locality_id more than once")
    out = values.reindex(ids.astype(str)).to_numpy(dtype=float)
    if (out[~np.isnan(out)] < 0).any():
        raise ValueError("weight must be ≥ 0 for every locality")
    return out


def _empty_plan(bases: gpd.GeoDataFrame | None, status: str, notes: list[str]) -> PatrolPlan:
    import geopandas as gpd

    if bases is None or not len(bases):
        bases = gpd.GeoDataFrame(
            {"name": pd.Series([], dtype="str"), "patrols": [], "range_km": []}, geometry=[], crs=STORAGE_CRS
        )
    bases = bases.copy()
    bases["used"] = 0
    bases["reachable"] = 0
    return PatrolPlan(
        assignments=_assignment_frame([]),
        bases=bases,
        status=status,
        method="none",
        covered_risk=0.0,
        total_risk=0.0,
        reachable_risk=0.0,
        upper_bound=None if status == "infeasible" else 0.0,
        gap=None if status == "infeasible" else 0.0,
        notes=notes,
        target_geometry=None,
    )


def _assignment_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ASSIGNMENT_COLUMNS))
    return frame.astype(
        {
            "base": "str",
            "rank": "int64",
            LOCALITY_ID: "str",
            "name": "str",
            "risk": "float64",
            "weight": "float64",
            "value": "float64",
            "distance_km": "float64",
        }
    )


# --- the plan ----------------------------------------------------------------------------------
def plan_patrols(
    localities: gpd.GeoDataFrame,
    risk: pd.DataFrame,
    bases: gpd.GeoDataFrame,
    *,
    patrols: int | None = None,
    range_km: float | None = None,
    weight: pd.Series | None = None,
    no_go: gpd.GeoDataFrame | None = None,
    method: str = "auto",
    time_limit_s: float = 10.0,
    avoid_crossing: bool = True,
) -> PatrolPlan:
    """Choose patrol targets that maximise covered risk within each base's capacity and range.

    Parameters
    ----------
    localities : GeoDataFrame
        ``locality_id`` (and ``name`` if known) with polygon or point geometry, any CRS.
    risk : DataFrame
        ``locality_id``, ``probability`` and optionally ``drivers`` (and ``period``: with several
        rows per locality the latest period is used). Unscored localities are never targets.
    bases : GeoDataFrame
        As from :func:`read_bases`: ``name``, ``patrols``, ``range_km``, Point geometry.
    patrols, range_km : optional
        Override every base's patrols per period / range (km) when given.
    weight : Series, optional
        Per-locality weight indexed by ``locality_id`` (e.g. population); value = probability ×
        weight. A locality with no weight gets 0.
    no_go : GeoDataFrame, optional
        Polygons no patrol may target (or, with ``avoid_crossing``, cross on the straight line).
    method : {"auto", "exact", "greedy"}
        ``exact`` = HiGHS MILP with ``time_limit_s`` (falls back to the better of incumbent and
        greedy when time runs out); ``greedy`` = highest value first; ``auto`` = exact unless the
        instance has more than 2 million reachable pairs.
    time_limit_s : float
        Time limit for the exact solver.

    Returns
    -------
    PatrolPlan

    Examples
    --------
    >>> bases = read_bases("data/sample/bases.geojson")  # doctest: +SKIP
    >>> plan = plan_patrols(localities, risk, bases, patrols=3, range_km=80)  # doctest: +SKIP
    >>> plan.summary()["status"], plan.summary()["gap"]  # doctest: +SKIP
    ('optimal', 0.0)
    """
    plan = _plan_patrols(
        localities, risk, bases, patrols, range_km, weight, no_go, method, time_limit_s, avoid_crossing
    )
    plan.period, plan.model_version = _score_identity(risk)
    plan.weighted = weight is not None
    return plan


def _plan_patrols(
    localities, risk, bases, patrols, range_km, weight, no_go, method, time_limit_s, avoid_crossing
) -> PatrolPlan:
    """:func:`plan_patrols`' stages: check, value, reach, solve, rank and explain."""
    start = time.perf_counter()
    _check_plan_parameters(localities, method, time_limit_s)
    base_frame = resolve_bases(bases, patrols, range_km)
    localities = localities.reset_index(drop=True)
    refusal = _cannot_plan(localities, risk, base_frame)
    if refusal is not None:
        return refusal
    scores = _risk_values(localities, risk)
    if scores["probability"].isna().all():
        return _empty_plan(
            base_frame,
            "infeasible",
            [
                f"No risk scores for these localities: the {len(risk)} scores name none of the "
                f"{len(localities)} localities (scored at another unit?); run `sauti score` first."
            ],
        )
    values = _locality_values(localities, scores, weight)
    reach = compute_reach(localities, base_frame, no_go=no_go, avoid_crossing=avoid_crossing)
    problem = _cover_problem(reach, values.value, base_frame)
    solution = solve(problem, method=method, time_limit_s=time_limit_s)
    return _plan_from_solution(localities, base_frame, values, reach, problem, solution, patrols, start)


def _plan_from_solution(
    localities, base_frame, values: _Values, reach: Reach, problem: CoverProblem, solution, patrols, start
) -> PatrolPlan:
    """The solver's chosen pairs as a ranked, explained :class:`PatrolPlan`."""
    assignments = _assignments(problem, solution.chosen, reach.names, localities, values)
    base_out = _bases_with_use(base_frame, assignments, problem, reach.names)
    status = solution.status if len(assignments) else "empty"
    notes = _explain_plan(
        base_frame, base_out, reach, values, patrols, status, solution, assignments, len(localities)
    )
    where = locate_bases(localities, base_frame)
    base_out["inside"] = where["inside"].to_numpy()
    return PatrolPlan(
        assignments=assignments,
        bases=base_out,
        status=status,
        method=solution.method,
        covered_risk=solution.objective,
        total_risk=values.total,
        reachable_risk=float(values.value[np.unique(problem.pair_locality)].sum()),
        upper_bound=solution.upper_bound,
        gap=solution.gap if status != "empty" else 0.0,
        notes=notes,
        seconds=time.perf_counter() - start,
        target_geometry=_target_geometry(localities, reach, assignments),
        localities=_considered_localities(localities, values, assignments),
        warnings=border_warnings(localities, base_frame, assignments, where),
    )


def _check_plan_parameters(localities: gpd.GeoDataFrame, method: str, time_limit_s: float) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be positive, not {time_limit_s!r}")
    check_columns(localities.columns, (LOCALITY_ID,), "localities")
    if localities.crs is None:
        raise ValueError("localities have no CRS; set one (the store uses EPSG:4326)")


def _cannot_plan(
    localities: gpd.GeoDataFrame, risk: pd.DataFrame | None, base_frame: gpd.GeoDataFrame
) -> PatrolPlan | None:
    """An ``infeasible`` plan saying why, when bases, localities or scores are missing; else None."""
    if not len(base_frame):
        return _empty_plan(
            None, "infeasible", ["No bases: give at least one base (name, location, patrols, range)."]
        )
    if not len(localities):
        return _empty_plan(base_frame, "infeasible", ["No localities: ingest boundaries first."])
    if risk is None or not len(risk):
        return _empty_plan(base_frame, "infeasible", ["No risk scores: run `sauti score` first."])
    return None


@dataclass(frozen=True)
class _Values:
    """Per locality (in locality order): identity, probability, weight and value = probability × weight."""

    ids: np.ndarray
    names: np.ndarray
    probability: np.ndarray
    weight: np.ndarray
    value: np.ndarray
    drivers: np.ndarray

    @property
    def total(self) -> float:
        return float(self.value.sum())


def _locality_values(localities: gpd.GeoDataFrame, scores: pd.DataFrame, weight: pd.Series | None) -> _Values:
    """Values from :func:`_risk_values`' scores and the optional weight."""
    probability = scores["probability"].to_numpy(dtype=float)
    w = _weights(localities[LOCALITY_ID], weight)
    value = probability * w
    value[~np.isfinite(value)] = 0.0
    ids = localities[LOCALITY_ID].astype(str).to_numpy()
    names = localities["name"].astype(str).to_numpy() if "name" in localities.columns else ids
    return _Values(ids, names, probability, w, value, scores["drivers"].to_numpy(dtype=object))


def _cover_problem(reach: Reach, value: np.ndarray, base_frame: gpd.GeoDataFrame) -> CoverProblem:
    """The covering instance: pairs whose route is open and whose target has a positive value."""
    valued = reach.open_route & (value[reach.pair_locality] > 0)
    return CoverProblem(
        value=value,
        capacity=base_frame["patrols"].to_numpy(dtype=np.int64),
        pair_base=reach.pair_base[valued],
        pair_locality=reach.pair_locality[valued],
        pair_distance=reach.pair_distance[valued],
    )


def _assignments(
    problem: CoverProblem, chosen: np.ndarray, names: list[str], localities: gpd.GeoDataFrame, values: _Values
) -> pd.DataFrame:
    """One row per chosen pair, ranked within each base by value, then distance, then id."""
    rows = []
    for k in chosen:
        i, b = int(problem.pair_locality[k]), int(problem.pair_base[k])
        rows.append(
            {
                "base": names[b],
                "rank": 0,
                LOCALITY_ID: values.ids[i],
                "name": values.names[i],
                "risk": values.probability[i],
                "weight": values.weight[i],
                "value": values.value[i],
                "distance_km": float(problem.pair_distance[k]),
                "drivers": _driver_names(values.drivers[i]),
            }
        )
    assignments = _assignment_frame(rows)
    if not len(assignments):
        return assignments
    order = {n: j for j, n in enumerate(names)}
    assignments["_b"] = assignments["base"].map(order)
    assignments = assignments.sort_values(
        ["_b", "value", "distance_km", LOCALITY_ID], ascending=[True, False, True, True]
    ).drop(columns="_b")
    assignments["rank"] = assignments.groupby("base").cumcount().astype("int64") + 1
    return assignments.reset_index(drop=True)


def _bases_with_use(
    base_frame: gpd.GeoDataFrame, assignments: pd.DataFrame, problem: CoverProblem, names: list[str]
) -> gpd.GeoDataFrame:
    """The bases with ``used`` (patrols placed) and ``reachable`` (valued localities in reach)."""
    out = base_frame.copy()
    out["used"] = assignments["base"].value_counts().reindex(names, fill_value=0).to_numpy().astype("int64")
    out["reachable"] = np.bincount(problem.pair_base, minlength=len(names)).astype("int64")
    return out


def _explain_plan(
    base_frame, base_out, reach: Reach, values: _Values, patrols_override, status, solution, assignments, n
) -> list[str]:
    """:func:`_explain` fed from the plan's stages."""
    pair_base, count = reach.pair_base, len(reach.names)
    covered_risk = assignments.drop_duplicates(LOCALITY_ID)["risk"]
    return _explain(
        names=reach.names,
        ranges=base_frame["range_km"].to_numpy(dtype=float),
        capacity=base_frame["patrols"].to_numpy(dtype=np.int64),
        used=base_out["used"].to_numpy(),
        in_range=np.bincount(pair_base, minlength=count),
        allowed=np.bincount(pair_base[reach.allowed], minlength=count),
        open_routes=np.bincount(pair_base[reach.open_route], minlength=count),
        reachable=base_out["reachable"].to_numpy(),
        nearest=reach.nearest_km,
        base_in_nogo=reach.base_in_no_go,
        unscored=int(np.isnan(values.probability).sum()),
        n_localities=n,
        patrols_override=patrols_override,
        status=status,
        method=solution.method,
        expected=(float(covered_risk.sum()), float(np.nansum(values.probability))),
        weighted=bool(np.any(values.weight != 1)),
        covered_value=(solution.objective, values.total),
        gap=solution.gap,
        n_covered=len(assignments),
    )


def _target_geometry(
    localities: gpd.GeoDataFrame, reach: Reach, assignments: pd.DataFrame
) -> gpd.GeoDataFrame:
    """Target point and polygon (EPSG:4326) of each assigned locality, indexed by locality_id."""
    import geopandas as gpd

    shapes = gpd.GeoDataFrame(
        {"point": reach.target_points.to_numpy()},
        geometry=localities.geometry.to_crs(STORAGE_CRS).to_numpy(),
        index=pd.Index(localities[LOCALITY_ID].astype(str).to_numpy(), name=LOCALITY_ID),
        crs=STORAGE_CRS,
    )
    return shapes.loc[assignments[LOCALITY_ID].to_numpy()] if len(assignments) else shapes.iloc[:0]


def _considered_localities(
    localities: gpd.GeoDataFrame, values: _Values, assignments: pd.DataFrame
) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            LOCALITY_ID: values.ids,
            "name": values.names,
            "probability": values.probability,
            "value": values.value,
            "covered": np.isin(values.ids, assignments[LOCALITY_ID].to_numpy()),
        },
        geometry=localities.geometry.to_crs(STORAGE_CRS).to_numpy(),
        crs=STORAGE_CRS,
    )


def _explain(
    *,
    names,
    ranges,
    capacity,
    used,
    in_range,
    allowed,
    open_routes,
    reachable,
    nearest,
    base_in_nogo,
    unscored,
    n_localities,
    patrols_override,
    status,
    method,
    expected,
    weighted,
    covered_value,
    gap,
    n_covered,
) -> list[str]:
    """Plain-words reasons: the headline, then what limited each base."""
    notes: list[str] = []
    if int(capacity.sum()) == 0:
        notes.append(
            "patrols = 0: there are no patrols to place."
            if patrols_override == 0
            else "Every base has 0 patrols per period: there are no patrols to place."
        )
    elif n_covered:
        covered, total = covered_value
        value = (
            f" Weighted risk covered: {_amount(covered)} of {_amount(total)} ({covered / total:.0%})."
            if weighted and total > 0
            else ""
        )
        notes.append(
            f"{n_covered} patrol{'s' if n_covered != 1 else ''} from {int((used > 0).sum())} "
            f"base{'s' if (used > 0).sum() != 1 else ''} cover {n_covered} localit"
            f"{'ies' if n_covered != 1 else 'y'}. {expected_localities_text(*expected)}.{value} "
            f"Plan {status} ({method}), gap {gap:.2%}."
        )
    else:
        notes.append("No patrol can be placed.")
    for b, name in enumerate(names):
        if capacity[b] == 0:
            if int(capacity.sum()) > 0:
                notes.append(f"Base {name} has 0 patrols.")
            continue
        r = f"{ranges[b]:g} km"
        if in_range[b] == 0:
            far = f" (the nearest is {nearest[b]:.0f} km away)" if np.isfinite(nearest[b]) else ""
            notes.append(f"No locality within {r} of base {name}{far}.")
        elif allowed[b] == 0:
            notes.append(f"All {in_range[b]} localities within {r} of base {name} are in no-go areas.")
        elif open_routes[b] == 0:
            where = " (the base itself lies in one)" if base_in_nogo[b] else ""
            notes.append(f"Every route from base {name} crosses a no-go area{where}.")
        elif reachable[b] == 0:
            notes.append(f"No locality within {r} of base {name} has a risk score above zero.")
        elif used[b] < capacity[b]:
            spare = capacity[b] - used[b]
            why = (
                f"only {reachable[b]} localit{'ies' if reachable[b] != 1 else 'y'} with risk within {r}"
                if reachable[b] < capacity[b]
                else "other bases already cover the rest of its reach"
            )
            notes.append(f"Base {name}: {spare} of {capacity[b]} patrols unused ({why}).")
    if unscored:
        notes.append(f"{unscored} of {n_localities} localities have no risk score and were not considered.")
    return notes


# --- from the workspace ------------------------------------------------------------------------------
def plan_from_workspace(
    workspace: Workspace,
    *,
    patrols: int | None = None,
    range_km: float | None = None,
    bases: gpd.GeoDataFrame | str | PathLike[str] | None = None,
    method: str = "auto",
    time_limit_s: float = 10.0,
    weight: pd.Series | str | None = None,
    no_go: gpd.GeoDataFrame | None = None,
) -> PatrolPlan:
    """Plan from what the workspace holds: the latest scores, their localities, the stored bases.

    Parameters
    ----------
    workspace : Workspace
    patrols, range_km, method, time_limit_s, no_go
        As in :func:`plan_patrols`.
    weight : Series or "population", optional
        As in :func:`plan_patrols`; ``"population"`` takes each locality's population from the
        feature cube of the scored unit (:func:`sauti.models.patrol.weights.population_weight`).
    bases : GeoDataFrame or path, optional
        The bases to use; default the workspace's ``patrol_bases`` table.

    Raises
    ------
    NotReadyError
        No scores (``sauti score`` has not run), scored localities missing from the store, or no
        bases given and none stored.
    """
    record = current_model(workspace)
    base_frame = _workspace_bases(workspace, bases)
    scores = _latest_scores(workspace)
    localities = _scored_localities(workspace, record, scores)
    if isinstance(weight, str):
        if weight != "population":
            raise ValueError(f"weight must be a Series or 'population', not {weight!r}")
        from sauti.models.patrol.weights import population_weight

        weight = population_weight(workspace, localities)
    plan = plan_patrols(
        localities,
        scores,
        base_frame,
        patrols=patrols,
        range_km=range_km,
        weight=weight,
        no_go=no_go,
        method=method,
        time_limit_s=time_limit_s,
    )
    if plan.period is not None and record is not None and record.get("freq"):
        from sauti.features.periods import forecast_window

        plan.forecast_period = forecast_window(plan.period, record["freq"], record.get("horizon") or 1)
    caveat = weight.attrs.get("caveat") if isinstance(weight, pd.Series) else None
    if caveat:
        plan.warnings.append(caveat)
    return plan


def _workspace_bases(workspace: Workspace, bases) -> gpd.GeoDataFrame:
    if bases is None:
        return workspace_bases(workspace)
    if isinstance(bases, (str, PathLike, bytes, dict)):
        return read_bases(bases)
    return bases


def _scored_localities(workspace: Workspace, record: dict | None, scores: pd.DataFrame) -> gpd.GeoDataFrame:
    """The scored localities of the unit the current model scores (a grid is rebuilt, not stored)."""
    from sauti.features import unit_localities

    if record is not None and record.get("unit"):
        localities = unit_localities(workspace, record["unit"])
    else:
        localities = workspace.localities()
    ids = set(scores[LOCALITY_ID].astype(str))
    localities = localities[localities[LOCALITY_ID].astype(str).isin(ids)].reset_index(drop=True)
    if not len(localities):
        raise NotReadyError(
            f"the {len(ids)} scored localities are not in the workspace's localities; "
            "ingest the boundaries they were scored on"
        )
    return localities


def _latest_scores(workspace: Workspace) -> pd.DataFrame:
    from sauti.models.scoring import latest_scores

    scores = latest_scores(workspace)
    if scores is None or not len(scores):
        raise NotReadyError("no risk scores: run `sauti score` first")
    return scores
