"""``sauti export localities|incidents|alerts``: files people share, redacted as the API redacts them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

FORMATS = ("gpkg", "geojson", "csv")


def export(
    collection: str = typer.Argument(..., help="localities | incidents | alerts"),
    fmt: str = typer.Option(
        None, "--format", help="gpkg (GeoPackage) | geojson | csv (default: --out's suffix)."
    ),
    out: Path = typer.Option(..., "--out", help="File to write (replaced if it exists)."),
    role: str = typer.Option(
        "planner",
        "--role",
        help="Whose view to export: planner or researcher (alerts as counts per locality) or analyst/admin "
        "(alerts at their locality's point, scrubbed text). Never stored coordinates, phones or names.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
) -> None:
    """Write the localities (risk, rank, plain-words drivers), incidents or alerts as the role sees them."""
    from sauti.api.security import ROLES, Principal, audit
    from sauti.api.services.export import detail_ids, export_frame
    from sauti.api.services.source import DataSource
    from sauti.cli import current_workspace
    from sauti.settings import get_settings

    fmt = (fmt or _format_of(out)).lower()
    if fmt not in FORMATS:
        raise SautiError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if role not in ROLES:
        raise SautiError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    workspace = current_workspace()
    if not workspace.exists:
        raise SautiError(f"workspace {workspace.root} has no store: ingest data first")
    principal = Principal(0, "sauti export", role)
    frame = export_frame(DataSource(workspace, get_settings()), collection, principal)
    written = _write(frame, out, fmt, collection)
    shown = detail_ids(frame, collection)
    if shown:
        audit(workspace, principal, "export_alert_details", str(written), alert_ids=shown)
    left_out = _left_out(workspace, frame, collection)
    summary = {
        "collection": collection,
        "format": fmt,
        "role": role,
        "features": len(frame),
        "left_out": left_out,
        "out": str(written),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{_what(frame, collection, role)} → {written} ({fmt})")
    if left_out:
        noun = collection if left_out != 1 else collection[:-1]
        typer.echo(
            f"note: {left_out} stored {noun} not in the file: no locality to place "
            f"{'them' if left_out != 1 else 'it'} at (unresolved place, or region/country precision)"
        )


def _left_out(workspace: Workspace, frame, collection: str) -> int:
    """How many stored incidents or alerts the file leaves out (those the API cannot place either)."""
    if collection == "localities":
        return 0
    stored = workspace.status()[collection]  # row counts, not the tables themselves
    in_file = int(frame["count"].sum()) if "count" in frame.columns else len(frame)
    return max(stored - in_file, 0)


def _what(frame, collection: str, role: str) -> str:
    """What the file holds, in words: a planner's alerts are counts per locality, not alerts."""
    article = "an" if role[0] in "aeiou" else "a"
    if collection == "alerts" and "alert_id" not in frame.columns:
        return f"alert counts for {len(frame)} localities (no alert text) as {article} {role} sees them"
    return f"{len(frame)} {collection} as {article} {role} sees them"


def _format_of(out: Path) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    suffix = "geojson" if suffix == "json" else suffix
    if suffix not in FORMATS:
        raise SautiError(f"cannot tell the format of {out} from its name: pass --format {'|'.join(FORMATS)}")
    return suffix


def _write(frame, out: Path, fmt: str, layer: str) -> Path:
    """GeoPackage/GeoJSON through GDAL; CSV with a point (lon/lat) per row, formula-safe."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    if fmt == "gpkg":  # GeoPackage 1.2: what older GDAL (QGIS LTR) opens without a warning
        frame.to_file(out, driver="GPKG", layer=layer, dataset_options={"VERSION": "1.2"})
        return out
    if fmt == "geojson":
        frame.to_file(out, driver="GeoJSON")
        return out
    from sauti.csv_safe import write_csv

    points = frame.geometry.representative_point()
    table = frame.drop(columns=frame.geometry.name).assign(
        longitude=points.x.round(5).to_numpy(), latitude=points.y.round(5).to_numpy()
    )
    return write_csv(table, out)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the root app."""
    app.command("export")(export)
