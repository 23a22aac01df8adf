"""Features: the locality × period cube, spatial lags, exposure covariates and risk surfaces.

Pure functions over frames (``assign_to_localities``, ``build_graph``, ``build_cube``,
``risk_surface``) plus the workspace steps that load from the store and save there
(``compute_features``, ``load_cube``). See docs/features.md.
"""

from sauti.features.assign import assign_alerts, assign_to_localities
from sauti.features.cube import BUILD_STEPS, build_cube, feature_names
from sauti.features.graph import build_graph, second_order
from sauti.features.params import FeatureParams
from sauti.features.periods import period_range
from sauti.features.responses import load_responses, response_summary
from sauti.features.spatial_lag import spatial_lag
from sauti.features.storage import (
    compute_features,
    cube_end,
    cube_inputs,
    cube_path,
    load_cube,
    provenance,
    save_cube,
)
from sauti.features.surface import (
    DEFAULT_SURFACE,
    read_surface,
    refresh_default_surface,
    risk_surface,
    workspace_surface,
    write_cog,
    write_default_surface,
)
from sauti.features.temporal import decayed_sum, periods_since, rolling_sum, trend
from sauti.features.units import make_grid, unit_localities

__all__ = [
    "BUILD_STEPS",
    "DEFAULT_SURFACE",
    "FeatureParams",
    "assign_alerts",
    "assign_to_localities",
    "build_cube",
    "build_graph",
    "compute_features",
    "cube_end",
    "cube_inputs",
    "cube_path",
    "decayed_sum",
    "feature_names",
    "load_cube",
    "load_responses",
    "make_grid",
    "period_range",
    "periods_since",
    "provenance",
    "read_surface",
    "refresh_default_surface",
    "response_summary",
    "risk_surface",
    "rolling_sum",
    "save_cube",
    "second_order",
    "spatial_lag",
    "trend",
    "unit_localities",
    "write_cog",
    "workspace_surface",
    "write_default_surface",
]
