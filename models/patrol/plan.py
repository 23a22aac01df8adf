"""Patrol priorities: where a planner's limited patrols cover the most risk of intercommunal violence.

:func:`plan_patrols` turns localities, their risk and the bases (capacity, range) into a maximal
covering problem (see :mod:`sauti.models.patrol.solve`), solves it and returns a
:class:`~sauti.models.patrol.result.PatrolPlan`: a ranked list per base with the reasons (risk,
distance, top drivers), the optimality gap, and a plain-words explanation
(:mod:`sauti.models.patrol.reasons`) when a base or the whole plan comes out empty.

Distance rule: from the base to the locality's **centroid** (its representative point when the
centroid falls outside a concave polygon; the point itself for point localities), measured in
:func:`sauti.geo.local_crs` centred on the localities and bases. A locality whose target point lies
in a no-go area is never a target, and (``avoid_crossing=True``, the default) a base→target
straight line that crosses a no-go area makes that pair unreachable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID, PERIOD, STORAGE_CRS, check_columns
from sauti.models.patrol.bases import resolve_bases
from sauti.models.patrol.borders import border_warnings, locate_bases
from sauti.models.patrol.reach import Reach, compute_reach
from sauti.models.patrol.reasons import driver_names, plan_reasons
from sauti.models.patrol.result import PatrolPlan, assignment_frame, empty_plan
from sauti.models.patrol.solve import METHODS, CoverProblem, solve

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["plan_patrols"]


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
        return empty_plan(
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
        return empty_plan(
            None, "infeasible", ["No bases: give at least one base (name, location, patrols, range)."]
        )
    if not len(localities):
        return empty_plan(base_frame, "infeasible", ["No localities: ingest boundaries first."])
    if risk is None or not len(risk):
        return empty_plan(base_frame, "infeasible", ["No risk scores: run `sauti score` first."])
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
                "drivers": driver_names(values.drivers[i]),
            }
        )
    assignments = assignment_frame(rows)
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
    """:func:`plan_reasons` fed from the plan's stages."""
    pair_base, count = reach.pair_base, len(reach.names)
    covered_risk = assignments.drop_duplicates(LOCALITY_ID)["risk"]
    return plan_reasons(
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
