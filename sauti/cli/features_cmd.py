"""``sauti features`` (build and save the cube) and ``sauti heatmap`` (write the risk surface COG)."""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sauti.constants import LOCALITY_ID
from sauti.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from sauti.features import CubeInputs, FeatureParams
    from sauti.store import Workspace

#: ``--scheduler`` of every command that computes (features, train, score, heatmap, backtest)
SCHEDULER_OPTION = typer.Option(
    None,
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Build the feature cube on this Dask cluster (default: $SAUTI_DASK_SCHEDULER, else this machine).",
)


def on_scheduler(command: Callable[..., None]) -> Callable[..., None]:
    """Run a command's Dask work on its ``--scheduler`` (else ``SAUTI_DASK_SCHEDULER``, else locally)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from sauti.scheduler import dask_scheduler, scheduler_address

        with dask_scheduler(scheduler_address(kwargs.get("scheduler"))):
            return command(*args, **kwargs)

    return run


SAMPLE_POPULATION = (
    Path(__file__).resolve().parents[2] / "data" / "sample" / "population" / "worldpop2020_density_caf.tif"
)


def _default_population(workspace: Workspace, population: Path | None) -> Path | None:
    """The --population file, else the setting, else the sample raster where it covers the localities."""
    if population is not None:
        return population
    from sauti.settings import get_settings

    configured = getattr(get_settings(), "population", None)
    if configured:
        return Path(configured)
    if SAMPLE_POPULATION.exists() and _covers(SAMPLE_POPULATION, workspace):
        return SAMPLE_POPULATION
    return None


def resolve_cube_inputs(
    workspace: Workspace, *, params: FeatureParams | None = None, population: Path | None = None
) -> CubeInputs:
    """The cube inputs of a command that may build a cube: ``params`` (default parameters), the
    population raster (:func:`_default_population`) and the mission's time zone (``SAUTI_TIMEZONE``).

    Resolved once here, at the edge, so a cube is never built silently without population in UTC.
    """
    from sauti.features import CubeInputs, FeatureParams
    from sauti.settings import get_settings

    return CubeInputs(
        params=params or FeatureParams(),
        population=_default_population(workspace, population),
        timezone=get_settings().timezone,
    )


def _covers(raster: Path, workspace: Workspace) -> bool:
    """Whether ``raster`` covers every stored locality (the sample's CAR raster says 0 elsewhere)."""
    import rasterio
    from rasterio.warp import transform_bounds

    localities = workspace.localities()
    if localities.empty:
        return False
    minx, miny, maxx, maxy = localities.total_bounds
    with rasterio.open(raster) as src:
        left, bottom, right, top = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    return left <= minx and bottom <= miny and right >= maxx and top >= maxy


def features(
    freq: str = typer.Option("M", "--freq", help="M (months) or W (ISO weeks)."),
    unit: str = typer.Option("admin2", "--unit", help="admin1|admin2|admin3 (as stored) or grid:<N>km."),
    until: str = typer.Option(None, "--until", help="Use only data dated on or before YYYY-MM-DD."),
    population: Path = typer.Option(
        None, "--population", help="Population raster (default: $SAUTI_POPULATION, else the sample WorldPop)."
    ),
    graph: str = typer.Option("contiguity", "--graph", help="Neighbours: contiguity|knn|distance."),
    knn_k: int = typer.Option(4, "--knn-k", help="k of the knn graph and of the island fallback."),
    distance_km: float = typer.Option(100.0, "--distance-km", help="Threshold of the distance graph."),
    report: bool = typer.Option(True, "--report/--no-report", help="Also draw an HTML summary of the cube."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
    scheduler: str = SCHEDULER_OPTION,
) -> None:
    """Build the locality × period feature cube from the store and save it in the workspace."""
    from sauti.cli import current_workspace
    from sauti.features import BUILD_STEPS, FeatureParams, compute_features, cube_path, provenance
    from sauti.features.periods import check_freq
    from sauti.scheduler import dask_scheduler, scheduler_address

    workspace = current_workspace()
    params = FeatureParams(graph=graph, knn_k=knn_k, distance_km=distance_km)
    started = time.perf_counter()
    with (
        dask_scheduler(scheduler_address(scheduler)),
        progress_bar(f"features {unit} × {check_freq(freq)}", BUILD_STEPS) as advance,
    ):
        cube = compute_features(
            workspace,
            freq=freq,
            unit=unit,
            until=until,
            inputs=resolve_cube_inputs(workspace, params=params, population=population),
            progress=advance,
        )
    seconds = time.perf_counter() - started
    path = cube_path(workspace, freq=freq, unit=unit)
    info = provenance(cube)
    summary = {
        "cube": str(path),
        "unit": unit,
        "freq": cube.attrs["freq"],
        "localities": int(cube.sizes["locality"]),
        "periods": int(cube.sizes["period"]),
        "first_period": info["start"],
        "last_period": info["end"],
        "variables": len(cube.data_vars),
        "incident_assignment": info["incident_assignment"],
        "alert_assignment": info["alert_assignment"],
        "snapshot": cube.attrs["snapshot"],
        "seconds": round(seconds, 2),
    }
    if report:
        from sauti.features.cube_report import write_cube_report
        from sauti.features.units import unit_localities

        summary["report"] = str(
            write_cube_report(cube, unit_localities(workspace, unit), path.with_suffix(".html"))
        )
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"cube {unit} × {summary['freq']}: {summary['localities']} localities × {summary['periods']} periods "
        f"({summary['first_period']} … {summary['last_period']}), {summary['variables']} variables "
        f"in {seconds:.1f} s → {path}"
    )
    typer.echo(f"  incidents: {_placement(summary['incident_assignment']) or 'none'}")
    if summary["alert_assignment"]:
        typer.echo(f"  alerts: {_placement(summary['alert_assignment'])}")
    if report:
        typer.echo(f"  report: {summary['report']}")


# how events were placed (features.assign's codes), in the words a person reads
PLACEMENT_WORDS = {
    "contains": "inside a locality",
    "snapped": "snapped to the nearest locality",
    "named": "placed by place name",
    "stored": "at the locality they were reported for",
    "region": "region only (not in locality counts)",
    "country": "country only (not counted)",
    "outside": "outside every locality (not counted)",
}


def _placement(counts: dict[str, int]) -> str:
    """``{"contains": 1734, "region": 85}`` → "1,734 inside a locality, 85 region only (…)"."""
    return ", ".join(f"{n:,} {PLACEMENT_WORDS.get(code, code)}" for code, n in counts.items())


def heatmap(
    out: Path = typer.Option(..., "--out", help="GeoTIFF (COG) to write."),
    resolution_km: float = typer.Option(2.0, "--resolution-km", help="Pixel size in km."),
    unit: str = typer.Option("admin2", "--unit", help="Unit set whose risk scores are blended in."),
    freq: str = typer.Option("M", "--freq", help="Frequency of the model whose scores are blended in."),
    until: str = typer.Option(None, "--until", help="Reference date (default: the latest incident)."),
    half_life_days: float = typer.Option(90.0, "--half-life-days", help="Recency half-life of incidents."),
    bandwidth_km: float = typer.Option(25.0, "--bandwidth-km", help="Kernel bandwidth."),
    blend: float = typer.Option(
        0.5, "--blend", help="Weight of the incident density against locality scores."
    ),
    values: str = typer.Option(
        "index",
        "--values",
        help="index: a relative risk index (incident density blended with scores, 1 = highest); "
        "probability: the locality probabilities themselves (needs scores; no density).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
    scheduler: str = SCHEDULER_OPTION,
) -> None:
    """Write the risk surface (recent-incident density blended with locality scores) as a COG.

    Also writes the surface the service serves (<workspace>/rasters/risk_surface.tif) and a PNG
    preview beside --out. Its tags say what the values are: a relative index (not a probability)
    unless --values probability.
    """
    from sauti.cli import current_workspace
    from sauti.features import DEFAULT_SURFACE, SurfaceParams, draw_surface
    from sauti.features.cube_report import write_surface_preview
    from sauti.features.periods import check_freq

    workspace = current_workspace()
    freq = check_freq(freq)
    scores, note = _heatmap_scores(workspace, freq, unit)
    blend, relative = _values_mode(values, scores, blend, note)
    params = SurfaceParams(
        resolution_km=resolution_km,
        until=until,
        half_life_days=half_life_days,
        bandwidth_km=bandwidth_km,
        blend=blend,
        relative_scores=relative,
    )
    with progress_bar("heatmap", 2) as advance:
        surface, written = draw_surface(workspace, scores, unit=unit, params=params, out=out)
        served = workspace.root / DEFAULT_SURFACE
        advance(1)
        preview = write_surface_preview(surface, Path(out).with_suffix(".png"))
        advance(1)
    summary = {
        "out": str(written),
        "served": str(served),
        "preview": str(preview),
        "width": int(surface.sizes["x"]),
        "height": int(surface.sizes["y"]),
        "resolution_km": resolution_km,
        "until": surface.attrs["until"],
        "scores": note,
        "crs": _crs_name(surface.attrs["crs"]),
        "units": surface.attrs["units"],
    }
    _print_heatmap(summary, as_json)


def _values_mode(values: str, scores, blend: float, note: str) -> tuple[float, bool]:
    """``(blend, relative_scores)`` for ``--values``: the index as asked, or the probabilities alone."""
    from sauti.errors import NotReadyError, SautiError

    if values == "index":
        return blend, True
    if values != "probability":
        raise SautiError(f"--values must be index or probability, not {values!r}")
    if scores is None:
        raise NotReadyError(f"--values probability needs locality scores ({note}); run `sauti score` first")
    return 0.0, False


def _heatmap_scores(workspace: Workspace, freq: str, unit: str):
    """The latest locality scores to blend in (None when there are none for ``unit``) and a note."""
    from sauti.errors import SautiError
    from sauti.features import unit_localities
    from sauti.models import latest_probabilities  # a broken import fails loudly, not as "no scores"

    try:  # the probabilities only: the surface never reads the drivers
        scores = latest_probabilities(workspace, freq=freq, unit=unit)
    except (SautiError, sqlite3.Error):
        scores = None
    if scores is None or not len(scores):
        return None, "no model scores yet: incident density only"
    if not scores[LOCALITY_ID].isin(set(unit_localities(workspace, unit)[LOCALITY_ID])).any():
        return None, f"the latest scores are not for --unit {unit}: incident density only"
    return scores, f"blended with {len(scores)} locality scores"


def _crs_name(wkt: str) -> str:
    from pyproj import CRS

    crs = CRS.from_wkt(wkt)
    code = crs.to_epsg(min_confidence=100)  # an equal-area CRS of one region is no EPSG one
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def _print_heatmap(summary: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"risk surface {summary['width']}×{summary['height']} px at {summary['resolution_km']:g} km "
        f"until {summary['until']} ({summary['scores']}) → {summary['out']}"
    )
    typer.echo(f"  values: {summary['units']}; CRS {summary['crs']}")
    typer.echo(f"  served copy: {summary['served']}\n  preview: {summary['preview']}")


def register(app: typer.Typer) -> None:
    """Add ``features`` and ``heatmap`` to the root app."""
    app.command("features")(features)
    app.command("heatmap")(on_scheduler(heatmap))
