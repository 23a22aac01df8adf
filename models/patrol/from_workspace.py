"""A patrol plan from what the workspace holds: the latest scores, their localities, the stored bases."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.errors import NotReadyError
from sauti.features import unit_localities
from sauti.features.periods import forecast_window
from sauti.models.patrol.bases import read_bases, workspace_bases
from sauti.models.patrol.plan import plan_patrols
from sauti.models.patrol.result import PatrolPlan
from sauti.models.patrol.weights import population_weight
from sauti.models.registry_store import current_model
from sauti.models.stored_scores import latest_scores

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

    from sauti.store import Workspace


def plan_from_workspace(
    workspace: Workspace,
    *,
    patrols: int | None = None,
    range_km: float | None = None,
    bases: gpd.GeoDataFrame | str | PathLike[str] | None = None,
    method: str = "auto",
    time_limit_s: float = 10.0,
    weight: pd.Series | str | None = None,
    no_go: gpd.GeoDataFrame | None = None,
) -> PatrolPlan:
    """Plan from what the workspace holds: the latest scores, their localities, the stored bases.

    Parameters
    ----------
    workspace : Workspace
    patrols, range_km, method, time_limit_s, no_go
        As in :func:`plan_patrols`.
    weight : Series or "population", optional
        As in :func:`plan_patrols`; ``"population"`` takes each locality's population from the
        feature cube of the scored unit (:func:`sauti.models.patrol.weights.population_weight`).
    bases : GeoDataFrame or path, optional
        The bases to use; default the workspace's ``patrol_bases`` table.

    Raises
    ------
    NotReadyError
        No scores (``sauti score`` has not run), scored localities missing from the store, or no
        bases given and none stored.
    """
    record = current_model(workspace)
    base_frame = _workspace_bases(workspace, bases)
    scores = _latest_scores(workspace)
    localities = _scored_localities(workspace, record, scores)
    if isinstance(weight, str):
        if weight != "population":
            raise ValueError(f"weight must be a Series or 'population', not {weight!r}")
        weight = population_weight(workspace, localities)
    plan = plan_patrols(
        localities,
        scores,
        base_frame,
        patrols=patrols,
        range_km=range_km,
        weight=weight,
        no_go=no_go,
        method=method,
        time_limit_s=time_limit_s,
    )
    if plan.period is not None and record is not None and record.get("freq"):
        plan.forecast_period = forecast_window(plan.period, record["freq"], record.get("horizon") or 1)
    if plan.model_version is not None:  # the served model in plain words (#20 item 12)
        from sauti.models.catalog import model_label
        from sauti.models.registry_store import model_name

        name = model_name(workspace, plan.model_version)
        plan.model = model_label(name) if name else None
    caveat = weight.attrs.get("caveat") if isinstance(weight, pd.Series) else None
    if caveat:
        plan.warnings.append(caveat)
    return plan


def _workspace_bases(workspace: Workspace, bases) -> gpd.GeoDataFrame:
    if bases is None:
        return workspace_bases(workspace)
    if isinstance(bases, (str, PathLike, bytes, dict)):
        return read_bases(bases)
    return bases


def _scored_localities(workspace: Workspace, record: dict | None, scores: pd.DataFrame) -> gpd.GeoDataFrame:
    """The scored localities of the unit the current model scores (a grid is rebuilt, not stored)."""
    if record is not None and record.get("unit"):
        localities = unit_localities(workspace, record["unit"])
    else:
        localities = workspace.localities()
    ids = set(scores[LOCALITY_ID].astype(str))
    localities = localities[localities[LOCALITY_ID].astype(str).isin(ids)].reset_index(drop=True)
    if not len(localities):
        raise NotReadyError(
            f"the {len(ids)} scored localities are not in the workspace's localities; "
            "ingest the boundaries they were scored on"
        )
    return localities


def _latest_scores(workspace: Workspace) -> pd.DataFrame:
    scores = latest_scores(workspace)
    if scores is None or not len(scores):
        raise NotReadyError("no risk scores: run `sauti score` first")
    return scores
