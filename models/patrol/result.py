"""A patrol plan and how it is written out: figures and words (``summary``), records, CSV and GeoJSON.

:class:`PatrolPlan` is what :func:`~sauti.models.patrol.plan.plan_patrols` returns; this module
also builds the empty plan that says why nothing could be planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID, STORAGE_CRS
from sauti.csv_safe import write_csv
from sauti.jsonable import json_scalar
from sauti.models.patrol.reasons import expected_localities_text

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

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
    #: the served model in plain words (:func:`sauti.models.catalog.model_label`)
    model: str | None = None
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
            "model": self.model,
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
    """A JSON-safe float (None for missing/NaN/±inf: :func:`sauti.jsonable.json_scalar`)."""
    value = json_scalar(value)
    return None if value is None else float(value)


def empty_plan(bases: gpd.GeoDataFrame | None, status: str, notes: list[str]) -> PatrolPlan:
    import geopandas as gpd

    if bases is None or not len(bases):
        bases = gpd.GeoDataFrame(
            {"name": pd.Series([], dtype="str"), "patrols": [], "range_km": []}, geometry=[], crs=STORAGE_CRS
        )
    bases = bases.copy()
    bases["used"] = 0
    bases["reachable"] = 0
    return PatrolPlan(
        assignments=assignment_frame([]),
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


def assignment_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
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
