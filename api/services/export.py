"""Exports people share (GeoPackage, GeoJSON, CSV): the API's collections as a role may see them.

The features come from the OGC API's feature tables (:func:`sauti.api.services.ogc.table_for`), so an
export holds exactly what the API would serve the same role, redacted by the same code
(``services.redaction``): planners get alert counts per locality, analysts alerts at their
locality's representative point with scrubbed text; nobody gets stored coordinates, reporter
pseudonyms, phone numbers or names. Nested values are flattened into columns a GIS or a
spreadsheet shows: drivers as ``driver_N_label`` / ``driver_N_contribution``, counts by category as
``by_category_<name>``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sauti.api.services import ogc
from sauti.api.services.source import DataSource
from sauti.errors import SautiError
from sauti.features.glossary import driver_label

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

    from sauti.api.security import Principal

COLLECTIONS = ("localities", "incidents", "alerts")
READ_PERMISSION = "risk:read"  # what the OGC router asks of every collection (alerts then by role)
EXPORTED_DRIVERS = 3


class ExportForbidden(SautiError):
    """The role may not read the collection asked for."""


def _risk_label(props: dict, count: int) -> str:
    risk = props.get("risk")
    if risk is None:
        return str(props.get("name"))
    from sauti.features.glossary import percent

    rank = f", rank {props['rank']} of {count}" if props.get("rank") is not None else ""
    return f"{props.get('name')}: {percent(risk)} risk{rank}"


def _flat(props: dict, count: int) -> dict[str, Any]:
    """One feature's properties as flat columns (no lists or objects)."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key == "drivers":
            continue
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = value
    if "drivers" in props:
        out["label"] = _risk_label(props, count)
        drivers = props["drivers"] or []
        for i in range(EXPORTED_DRIVERS):
            driver = drivers[i] if i < len(drivers) else {}
            out[f"driver_{i + 1}_label"] = driver_label(driver) or None
            out[f"driver_{i + 1}_contribution"] = driver.get("contribution")
    return out


def export_frame(source: DataSource, collection: str, principal: Principal) -> gpd.GeoDataFrame:
    """The features of ``collection`` as ``principal`` may see them, flattened, in EPSG:4326.

    Raises
    ------
    ExportForbidden
        When the role may not read the collection (a reporter reads nothing).
    """
    import geopandas as gpd
    import shapely

    if collection not in COLLECTIONS:
        raise SautiError(f"cannot export {collection!r}: choose one of {', '.join(COLLECTIONS)}")
    if not principal.can(READ_PERMISSION):
        raise ExportForbidden(
            f"the role {principal.role} may not read {collection}: export as planner or analyst"
        )
    features = [json.loads(text) for text in ogc.table_for(source, collection, principal).texts]
    rows = [_flat(f["properties"], len(features)) for f in features]
    geometry = [shapely.geometry.shape(f["geometry"]) for f in features]
    return gpd.GeoDataFrame(rows, geometry=geometry, crs="EPSG:4326")


def detail_ids(frame: gpd.GeoDataFrame, collection: str) -> list[str]:
    """Ids of the alerts whose details an export holds (for the audit log), else []."""
    if collection != "alerts" or "alert_id" not in frame.columns:
        return []
    return frame["alert_id"].astype(str).tolist()
