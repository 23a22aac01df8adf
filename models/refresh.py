"""Refresh risk: features → score → surface, in one function the demo, the service and the CLI call.

The cube built by the features step is passed along to scoring (never reloaded from disk), and the
stored heatmap is redrawn with the new scores. No retraining: this is the nowcast after new data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    from sauti.features import FeatureParams

    from sauti.store import Workspace


def rebuild_inputs(
    workspace: Workspace,
    *,
    freq: str,
    unit: str,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """The inputs to rebuild the cube of ``freq``/``unit`` with: those given, else the stored cube's.

    A nowcast keeps the definition of the cube it replaces (parameters, raster, time zone as
    recorded in its provenance) unless the caller passes others.
    """
    from sauti.features.storage import cube_inputs, stored_provenance

    try:
        recorded = stored_provenance(workspace, freq=freq, unit=unit)
    except (OSError, ValueError):
        recorded = None
    stored = cube_inputs(recorded) if recorded else {"params": None, "population": None, "timezone": "UTC"}
    return {
        "params": params if params is not None else stored["params"],
        "population": population if population is not None else stored["population"],
        "timezone": timezone or stored["timezone"],
    }


def refresh_risk(
    workspace: Workspace,
    *,
    freq: str | None = None,
    unit: str | None = None,
    cube: xr.Dataset | None = None,
    localities: list[str] | None = None,
    params: FeatureParams | None = None,
    population: str | Path | None = None,
    timezone: str | None = None,
    surface_resolution_km: float | None = None,
) -> dict[str, Any]:
    """Rebuild the cube (unless ``cube`` is given), rescore with the current model, redraw the heatmap.

    Parameters
    ----------
    workspace : Workspace
    freq, unit : str, optional
        The model's (default: the current model's; ``M``/``admin2`` without a model).
    cube : xarray.Dataset, optional
        A cube just built (the demo builds it before training): the features step is skipped.
    localities : list of str, optional
        Units whose drivers must be recomputed (new alerts there); default all.
    params, population, timezone : optional
        Cube inputs; default those of the stored cube (:func:`rebuild_inputs`).
    surface_resolution_km : float, optional
        Draw the heatmap at this resolution when the workspace has none yet; an existing one is
        always redrawn as it was made.

    Returns
    -------
    dict
        ``seconds``, ``scored`` (rows), ``localities``, ``model`` (version or None), ``period``
        (ISO date of the scored period or None), ``heatmap`` (path or None).
    """
    from sauti.models.registry_store import current_model

    started = time.perf_counter()
    model = current_model(workspace, freq, unit)
    freq = model["freq"] if model else (freq or "M")
    unit = model["unit"] if model else (unit or "admin2")
    if cube is None:
        cube = _rebuild(workspace, freq, unit, params=params, population=population, timezone=timezone)
    done: dict[str, Any] = {"model": None, "scored": 0, "period": None, "heatmap": None}
    if model is not None:
        done.update(_score_and_draw(workspace, cube, model, localities, surface_resolution_km))
    done["localities"] = sorted(localities) if localities else []
    done["seconds"] = round(time.perf_counter() - started, 3)
    return done


def _rebuild(workspace, freq: str, unit: str, **given) -> xr.Dataset:
    from sauti.features import compute_features

    inputs = rebuild_inputs(workspace, freq=freq, unit=unit, **given)
    return compute_features(workspace, freq=freq, unit=unit, **inputs)


def _score_and_draw(workspace, cube, model: dict, localities, resolution_km) -> dict[str, Any]:
    from sauti.features import DEFAULT_SURFACE, refresh_default_surface, write_default_surface
    from sauti.models.scoring import latest_scores, score

    frame = score(workspace, freq=model["freq"], unit=model["unit"], localities=localities, cube=cube)
    scores = latest_scores(workspace, freq=model["freq"], unit=model["unit"])
    surface = refresh_default_surface(workspace, scores, unit=model["unit"])
    if surface is None and resolution_km is not None and not (workspace.root / DEFAULT_SURFACE).exists():
        surface = write_default_surface(workspace, scores, unit=model["unit"], resolution_km=resolution_km)
    period = scores["period"].max() if len(scores) else None
    return {
        "model": model["version"],
        "scored": len(frame),
        "period": None if period is None else f"{period:%Y-%m-%d}",
        "heatmap": None if surface is None else str(surface),
    }
