"""What a cube was built from: its provenance, the inputs to rebuild it with, and its snapshot hash.

``attrs["provenance"]`` (JSON) says which ingest runs (ids, files, sha256), parameters, raster and
time zone made the cube; ``attrs["snapshot"]`` is a short hash of the inputs that change its
values, equal for equal inputs. :class:`CubeInputs` are those inputs as one frozen value, resolved
once at the edges (CLI, service, pipeline) and passed down.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import xarray as xr

import sauti
from sauti.checksum import sha256_file_unchanged
from sauti.features.params import FeatureParams
from sauti.features.units import parse_unit

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace


@dataclass(frozen=True)
class CubeInputs:
    """Everything besides the store that makes a cube: feature parameters, population raster, time zone.

    Resolved once where settings are read (``sauti features``, the service, the demo) and passed
    to :func:`sauti.features.compute_features`; a rebuild takes them from the cube it replaces
    (:func:`cube_inputs`). Nothing is remembered elsewhere.
    """

    params: FeatureParams = field(default_factory=FeatureParams)
    population: Path | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.population is not None:
            object.__setattr__(self, "population", Path(self.population).absolute())

    def with_(self, **changes: Any) -> CubeInputs:
        """A copy with some inputs replaced (``None`` keeps the current one)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def cube_inputs(cube: xr.Dataset | dict) -> CubeInputs:
    """The inputs a cube was built with, to rebuild it the same way (a nowcast after new alerts).

    ``cube`` is a cube, or its provenance dict (:func:`sauti.features.storage.stored_provenance`).
    A raster recorded but no longer on disk is left out (the rebuild then has NaN population).
    """
    info = cube if isinstance(cube, dict) else provenance(cube)
    raster = (info.get("population") or {}).get("path")
    return CubeInputs(
        params=FeatureParams.from_dict(info["params"]) if info.get("params") else FeatureParams(),
        population=Path(raster) if raster and Path(raster).exists() else None,
        timezone=info.get("timezone") or "UTC",
    )


def provenance(cube: xr.Dataset) -> dict:
    """The cube's provenance as a dict."""
    return json.loads(cube.attrs.get("provenance", "{}"))


def stamp_inputs(
    cube: xr.Dataset, workspace: Workspace, *, until: str | None, end: str | None, raster: Path | None
) -> None:
    """Record the workspace, the cut-off, the cube's last day and the raster (path, sha256)."""
    info = provenance(cube)
    info.update(
        {
            "workspace": str(workspace.root),
            "until": until,
            "last_day": end,
            "population": {"path": str(raster), "sha256": sha256_file_unchanged(raster)} if raster else None,
        }
    )
    cube.attrs["provenance"] = json.dumps(info, sort_keys=True)


#: provenance entries that change the cube: the snapshot hash covers exactly these
SNAPSHOT_KEYS = (
    "ingest_runs",
    "alerts",
    "params",
    "freq",
    "unit",
    "until",
    "last_day",
    "timezone",
    "capital",
    "code_version",
)


def stamp_runs(
    cube: xr.Dataset,
    workspace: Workspace,
    incidents: pd.DataFrame,
    alerts: pd.DataFrame,
    decisions: pd.DataFrame,
    unit: str,
) -> None:
    """Record the ingest runs and alert state behind the cube; hash every input into the snapshot."""
    info = provenance(cube)
    info.update(
        {
            "ingest_runs": ingest_runs(workspace, incidents, alerts, unit),
            "incidents": int(len(incidents)),
            "alerts": {
                "count": int(len(alerts)),
                "last_updated": str(alerts["updated_at"].max()) if len(alerts) else None,
                "verification_decisions": int(len(decisions)),
            },
        }
    )
    snapshot_inputs = {k: info.get(k) for k in SNAPSHOT_KEYS}
    snapshot_inputs["population"] = (info.get("population") or {}).get("sha256")
    snapshot = hashlib.sha256(json.dumps(snapshot_inputs, sort_keys=True).encode()).hexdigest()[:16]
    info["snapshot"] = snapshot
    cube.attrs["provenance"] = json.dumps(info, sort_keys=True)
    cube.attrs["snapshot"] = snapshot
    cube.attrs["code_version"] = sauti.__version__


def ingest_runs(workspace: Workspace, incidents: pd.DataFrame, alerts: pd.DataFrame, unit: str) -> list[dict]:
    """The ingest runs (id, kind, file, sha256, format, when) behind the events and unit set used."""
    from sauti.ingest.boundaries import boundary_run_ids
    from sauti.ingest.runs import run_records

    kind, _ = parse_unit(unit)
    ids: set[int] = set(int(r) for r in pd.unique(incidents.get("run_id", pd.Series(dtype=float)).dropna()))
    ids |= {int(r) for r in pd.unique(alerts.get("run_id", pd.Series(dtype=float)).dropna())}
    # a grid is cut from admin0/admin1; admin0 draws the outline behind dist_border_km
    ids |= boundary_run_ids(workspace, ("admin0", "admin1") if kind == "grid" else (kind, "admin0"))
    rows = run_records(workspace, ids)
    return [
        {
            "run_id": r["run_id"],
            "kind": r["kind"],
            "file": Path(r["path"]).name,
            "sha256": r["sha256"],
            "format": r["format"],
            "finished_at": r["finished_at"],
        }
        for r in rows
    ]
