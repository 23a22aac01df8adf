"""The declared parameters of the feature cube: windows, half-lives, graph, tolerances.

One frozen dataclass, stored verbatim in the cube's provenance, so a cube can always say how it
was built and two cubes built with the same parameters from the same data are identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

GRAPH_KINDS = ("contiguity", "knn", "distance")

# the variables whose history is summarised (decays, rolling sums, trends) and spatially lagged
HISTORY_VARIABLES = ("count_intercommunal", "count_violent", "fatalities", "alerts_total")


@dataclass(frozen=True)
class FeatureParams:
    """Everything that shapes the cube besides the data.

    Parameters
    ----------
    half_lives : tuple of float
        Half-lives, in periods, of the exponentially decayed sums ``decay_<var>_hl<h>``.
    windows : tuple of int
        Lengths, in periods, of the rolling sums ``roll<w>_<var>``.
    trend : tuple of int
        ``(short, long)`` windows of ``trend_<var>`` = mean over the last ``short`` periods minus
        the mean over the last ``long`` periods (both ending at and including ``t``).
    since_cap : int
        Value of ``since_<cat>`` when the category has never occurred in the locality (and the cap
        for longer gaps), in periods.
    snap_tolerance_km : float
        Point events outside every locality but within this distance of one are snapped to the
        nearest locality (border, river and coast errors).
    name_score : float
        Least rapidfuzz ratio (0-100) for an admin name in an event to name a locality.
    graph : {"contiguity", "knn", "distance"}
        Neighbour definition for the spatial lags: Queen contiguity, k nearest centroids, or every
        centroid within ``distance_km``. Units left without neighbours get their ``knn_k``
        nearest ones (k-nearest fallback, made symmetric).
    knn_k : int
        Neighbours of the ``knn`` graph and of the island fallback.
    distance_km : float
        Threshold of the ``distance`` graph.
    capital_name : str
        Name of the capital's locality (any admin level) for ``dist_capital_km``, when no capital
        coordinates are given.
    capital : tuple of float or None
        ``(lon, lat)`` of the capital; overrides ``capital_name``.
    rainy_months : tuple of int
        Months (1-12) flagged by ``rainy_season``; CAR's rainy season is May to October.
    population_is_density : bool
        The population raster holds persons per km² (WorldPop density) rather than persons per cell.
    dtype : str
        Floating dtype of the derived features (``float32`` halves memory on big grids).
    """

    half_lives: tuple[float, ...] = (1, 3, 6, 12)
    windows: tuple[int, ...] = (3, 12)
    trend: tuple[int, int] = (3, 12)
    since_cap: int = 120
    snap_tolerance_km: float = 5.0
    name_score: float = 85.0
    graph: str = "contiguity"
    knn_k: int = 4
    distance_km: float = 100.0
    capital_name: str = "Bangui"
    capital: tuple[float, float] | None = None
    rainy_months: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    population_is_density: bool = True
    dtype: str = "float32"
    history_variables: tuple[str, ...] = field(default=HISTORY_VARIABLES)

    def __post_init__(self) -> None:
        _check(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureParams:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"unknown feature parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)

    def with_(self, **changes: Any) -> FeatureParams:
        """A copy with some parameters changed."""
        return replace(self, **changes)


def _check(p: FeatureParams) -> None:
    if not p.half_lives or any(h <= 0 for h in p.half_lives):
        raise ValueError(f"FeatureParams.half_lives must be positive periods, got {p.half_lives!r}")
    if not p.windows or any(int(w) != w or w < 1 for w in p.windows):
        raise ValueError(f"FeatureParams.windows must be whole periods >= 1, got {p.windows!r}")
    if len(p.trend) != 2 or not 1 <= p.trend[0] < p.trend[1]:
        raise ValueError(f"FeatureParams.trend must be (short, long) with 1 <= short < long, got {p.trend!r}")
    if p.since_cap < 1:
        raise ValueError(f"FeatureParams.since_cap must be >= 1 period, got {p.since_cap!r}")
    if p.snap_tolerance_km < 0:
        raise ValueError(f"FeatureParams.snap_tolerance_km must be >= 0, got {p.snap_tolerance_km!r}")
    if p.graph not in GRAPH_KINDS:
        raise ValueError(f"FeatureParams.graph must be one of {', '.join(GRAPH_KINDS)}, got {p.graph!r}")
    if p.knn_k < 1:
        raise ValueError(f"FeatureParams.knn_k must be >= 1, got {p.knn_k!r}")
    if p.distance_km <= 0:
        raise ValueError(f"FeatureParams.distance_km must be > 0, got {p.distance_km!r}")
    if any(not 1 <= m <= 12 for m in p.rainy_months):
        raise ValueError(f"FeatureParams.rainy_months must be months 1-12, got {p.rainy_months!r}")
    if p.dtype not in ("float32", "float64"):
        raise ValueError(f"FeatureParams.dtype must be float32 or float64, got {p.dtype!r}")
    if p.capital is not None and len(p.capital) != 2:
        raise ValueError(f"FeatureParams.capital must be (lon, lat), got {p.capital!r}")
    unknown = [v for v in p.history_variables if v not in HISTORY_VARIABLES]
    if unknown:
        raise ValueError(f"FeatureParams.history_variables: unknown {unknown}; known: {HISTORY_VARIABLES}")
