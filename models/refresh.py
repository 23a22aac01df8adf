"""Refresh risk: features → score → surface, in one function the demo, the service and the CLI call.

The cube built by the features step is passed along to scoring (never reloaded from disk), and the
stored heatmap is redrawn with the new scores. No retraining: this is the nowcast after new data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sauti.constants import LOCALITY_DIM, PERIOD_DIM

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from sauti.features import CubeInputs, FeatureParams
    from sauti.store import Workspace


def rebuild_inputs(
    workspace: Workspace,
    *,
    freq: str,
    unit: str,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    timezone: str | None = None,
) -> CubeInputs:
    """The inputs to rebuild the cube of ``freq``/``unit`` with: those given, else the stored cube's.

    A nowcast keeps the definition of the cube it replaces (parameters, raster, time zone as
    recorded in its provenance) unless the caller passes others.
    """
    from sauti.errors import SautiError
    from sauti.features import CubeInputs, cube_inputs
    from sauti.features.storage import stored_provenance

    try:
        recorded = stored_provenance(workspace, freq=freq, unit=unit)
    except (OSError, ValueError, SautiError):
        recorded = None
    stored = cube_inputs(recorded) if recorded else CubeInputs()
    return stored.with_(params=params, population=population, timezone=timezone)


def refresh_risk(
    workspace: Workspace,
    *,
    freq: str | None = None,
    unit: str | None = None,
    cube: xr.Dataset | None = None,
    previous: xr.Dataset | None = None,
    localities: list[str] | None = None,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    timezone: str | None = None,
    surface_resolution_km: float | None = None,
    on_scored: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Rebuild the cube (unless ``cube`` is given), rescore with the current model, redraw the heatmap.

    Only what new data can change is recomputed: when the rebuilt cube has the snapshot the served
    scores were made from (an alert received after the incident logs' coverage is not in the cube),
    nothing is rescored or rewritten; otherwise drivers are recomputed for the localities whose
    latest-period features changed against ``previous`` (plus ``localities``), and the cube is
    saved after the scores are stored.

    Parameters
    ----------
    workspace : Workspace
    freq, unit : str, optional
        The model's (default: the current model's; ``M``/``admin2`` without a model).
    cube : xarray.Dataset, optional
        A cube just built and saved (the demo builds it before training): the features step is skipped.
    previous : xarray.Dataset, optional
        The cube before the new data (the service keeps it in memory), to find what changed.
    localities : list of str, optional
        Units whose drivers must be recomputed in any case.
    params, population, timezone : optional
        Cube inputs; default those of the stored cube (:func:`rebuild_inputs`).
    surface_resolution_km : float, optional
        Draw the heatmap at this resolution when the workspace has none yet; an existing one is
        always redrawn as it was made.
    on_scored : callable, optional
        Called once the new scores are stored (before the heatmap and the cube are written).

    Returns
    -------
    dict
        ``seconds``, ``changed`` (bool), ``scored`` (rows), ``localities`` (drivers recomputed;
        ``None`` = all), ``model`` (version or None), ``period`` (ISO date or None), ``heatmap``
        (path or None), ``cube`` (the cube now current).
    """
    from sauti.features import cube_path
    from sauti.features.storage import commit_cube, discard_staged
    from sauti.models.registry_store import current_model

    started = time.perf_counter()
    model = current_model(workspace, freq, unit)
    freq = model["freq"] if model else (freq or "M")
    unit = model["unit"] if model else (unit or "admin2")
    built = cube is None
    changed = None
    # read once for the cube and the surface when the cube is rebuilt; otherwise the surface reads
    # them only if it is redrawn (a continental scoring does not hold every incident meanwhile)
    incidents = workspace.incidents() if built else None
    if built:
        given = {"params": params, "population": population, "timezone": timezone}
        cube, changed = _rebuild(workspace, freq, unit, previous, incidents, **given)
    done: dict[str, Any] = {"changed": True, "model": None, "scored": 0, "period": None, "heatmap": None}
    done["localities"] = sorted(localities) if localities else []
    if model is not None:
        drawn = _score_and_draw(
            workspace, cube, changed, model, localities, on_scored, surface_resolution_km, incidents
        )
        done.update(drawn)
    if built and done["changed"]:  # a staged update (a lazy cube's touched chunks) is swapped in
        commit_cube(cube, cube_path(workspace, freq=freq, unit=unit))
    elif built:
        discard_staged(cube, cube_path(workspace, freq=freq, unit=unit))
    done["cube"] = cube
    done["seconds"] = round(time.perf_counter() - started, 3)
    return done


def _rebuild(
    workspace: Workspace, freq: str, unit: str, previous, incidents, **given
) -> tuple[xr.Dataset, list[str] | None]:
    """The cube with the new data and the localities whose latest values changed (``None``: unknown).

    New alerts in the last period update ``previous`` (:func:`update_features`): in place when it is
    in memory; when it is read lazily from the store (a big cube: the service never holds it), a
    new version of the store is staged with only the touched chunks rewritten. Anything else
    rebuilds the cube from the store: in memory (not saved yet), or for a big cube block by block
    into the store (then read lazily).
    """
    from sauti.features import compute_features
    from sauti.features.incremental import changed_localities, update_features

    inputs = rebuild_inputs(workspace, freq=freq, unit=unit, **given)
    big = previous is not None and previous.encoding.get("version") is not None
    if big and not Path(previous.encoding["version"]).exists():
        previous = None  # a lazy cube swapped out twice since (its files are gone): rebuild, compare nothing
    if previous is not None:
        key = {"freq": freq, "unit": unit}
        updated = update_features(workspace, previous, **key, inputs=inputs, incidents=incidents)
        if updated is not None:
            return updated
    cube = compute_features(workspace, freq=freq, unit=unit, save=big, inputs=inputs, incidents=incidents)
    return cube, changed_localities(previous, cube)


def nowcast_base(workspace: Workspace, *, freq: str, unit: str, inputs: CubeInputs) -> xr.Dataset:
    """The cube a service keeps between nowcasts (``previous`` of :func:`refresh_risk`).

    A stored cube of more than :data:`sauti.features.compute.IN_MEMORY_CELLS` cells is read lazily
    (the web process never holds a continental cube: a nowcast rewrites only the chunks its alerts
    touch); a smaller one is rebuilt in memory from the store, which also fills the feature layer's
    caches (graph, zonal population) before the first alert.
    """
    from sauti.errors import NotReadyError
    from sauti.features import compute_features, load_cube
    from sauti.features.compute import IN_MEMORY_CELLS

    try:
        stored = load_cube(workspace, freq=freq, unit=unit, lazy=True)
    except NotReadyError:
        stored = None
    if stored is not None and stored.sizes[LOCALITY_DIM] * stored.sizes[PERIOD_DIM] > IN_MEMORY_CELLS:
        return stored
    return compute_features(workspace, freq=freq, unit=unit, inputs=inputs, save=False)


def _score_and_draw(
    workspace: Workspace,
    cube,
    changed: list[str] | None,
    model: dict,
    localities,
    on_scored,
    resolution_km,
    incidents,
) -> dict[str, Any]:
    from sauti.features import DEFAULT_SURFACE, SurfaceParams, draw_surface, refresh_default_surface
    from sauti.models.scoring import data_snapshot, score
    from sauti.models.stored_scores import latest_probabilities, served_stamp

    period, snapshot, version = served_stamp(workspace, model)
    last = str(pd.Timestamp(cube[PERIOD_DIM].to_numpy()[-1]).date())
    if (period, snapshot, version) == (last, data_snapshot(cube), model["version"]):
        return {"changed": False, "model": model["version"], "period": period, "localities": []}
    changed = changed if period == last else None
    explain = None if changed is None else sorted(set(changed) | set(localities or ()))
    score(workspace, freq=model["freq"], unit=model["unit"], localities=explain, cube=cube, results=False)
    if on_scored is not None:
        on_scored()
    scores = latest_probabilities(workspace, freq=model["freq"], unit=model["unit"])
    surface = refresh_default_surface(workspace, scores, unit=model["unit"], incidents=incidents)
    if surface is None and resolution_km is not None and not (workspace.root / DEFAULT_SURFACE).exists():
        params = SurfaceParams(resolution_km=resolution_km)
        surface = draw_surface(workspace, scores, unit=model["unit"], params=params, incidents=incidents)[1]
    return {
        "model": model["version"],
        "scored": cube.sizes[LOCALITY_DIM] if explain is None else len(explain),
        "localities": explain,
        "period": last,
        "heatmap": None if surface is None else str(surface),
    }
