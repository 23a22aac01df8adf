"""``/api/v1/backtests``: the workspace's backtest runs, read-only (researchers, analysts, admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, Response

from sauti.api.deps import get_source, require
from sauti.api.schemas import NOT_FOUND
from sauti.api.security import Principal
from sauti.api.services import backtests
from sauti.api.services.source import DataSource

router = APIRouter(prefix="/api/v1", tags=["backtests"])
READ = require("backtests:read")
NAME = Path(..., max_length=64, description="A run's folder name under backtests/ in the workspace.")


@router.get("/backtests", summary="Backtest runs in the workspace")
def list_runs(source: DataSource = Depends(get_source), _: Principal = Depends(READ)) -> dict:
    """Each run's name, period, horizon, origins asked for, forecasts, primary model and links."""
    return backtests.list_backtests(source)


@router.get("/backtests/{name}", summary="A backtest run's metrics.json", responses=NOT_FOUND)
def run_metrics(
    name: str = NAME, source: DataSource = Depends(get_source), _: Principal = Depends(READ)
) -> dict:
    """The metrics of every model with the run's settings, as ``metrics.json`` holds them."""
    return backtests.backtest_metrics(source, name)


@router.get(
    "/backtests/{name}/report",
    summary="A backtest run's report (HTML)",
    response_class=Response,  # errors stay JSON, as documented for every route
    responses={200: {"content": {"text/html": {}}}, **NOT_FOUND},
)
def run_report(
    name: str = NAME, source: DataSource = Depends(get_source), _: Principal = Depends(READ)
) -> Response:
    """The self-contained report page: tables, curves, the hit/miss map (no external file)."""
    return HTMLResponse(backtests.backtest_report(source, name))
