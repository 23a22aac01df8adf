"""Backtest runs a workspace holds, read-only: what researchers (and analysts) read through the API.

A run is a folder ``<workspace>/backtests/<name>/`` written by ``sauti backtest --out`` (its
``metrics.json``, ``report.html``, ``predictions.csv``). Names are folder names of letters, digits,
``.``, ``_`` and ``-``; a name asked for is never repeated back in an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sauti.api.services.source import DataSource
from sauti.errors import NotFoundError

BACKTESTS_FOLDER = "backtests"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SUMMARY_KEYS = ("freq", "horizon", "start", "end", "n_forecasts", "positive_rate", "primary")


def backtests_folder(source: DataSource) -> Path:
    """Where ``sauti backtest --out`` publishes runs for the API: ``<workspace>/backtests``."""
    return source.workspace.root / BACKTESTS_FOLDER


def _run_folder(source: DataSource, name: str) -> Path:
    folder = backtests_folder(source)
    if _NAME.fullmatch(name) and ".." not in name:
        run = folder / name
        if (run / "metrics.json").is_file():
            return run
    raise NotFoundError("no backtest run of that name (GET /api/v1/backtests lists them)")


def _metrics(run: Path) -> dict[str, Any] | None:
    try:
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


def list_backtests(source: DataSource) -> dict[str, Any]:
    """Every run with a readable ``metrics.json``: name, period, horizon, origins, primary model, links."""
    folder = backtests_folder(source)
    runs = []
    if folder.is_dir():
        for run in sorted(p for p in folder.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)):
            metrics = _metrics(run)
            if metrics is None:
                continue
            runs.append(
                {
                    "name": run.name,
                    **{k: metrics.get(k) for k in _SUMMARY_KEYS},
                    "report": (run / "report.html").is_file(),
                    "links": {
                        "metrics": f"/api/v1/backtests/{run.name}",
                        "report": f"/api/v1/backtests/{run.name}/report",
                    },
                }
            )
    return {"backtests": runs, "folder": f"{BACKTESTS_FOLDER}/ in the workspace"}


def backtest_metrics(source: DataSource, name: str) -> dict[str, Any]:
    """The run's ``metrics.json`` as written (the backtest's stable contract)."""
    metrics = _metrics(_run_folder(source, name))
    if metrics is None:
        raise NotFoundError("that backtest run's metrics.json cannot be read: run the backtest again")
    return metrics


def backtest_report(source: DataSource, name: str) -> str:
    """The run's self-contained ``report.html`` (figures embedded; it loads nothing)."""
    path = _run_folder(source, name) / "report.html"
    if not path.is_file():
        raise NotFoundError("that backtest run has no report.html: run the backtest again")
    return path.read_text(encoding="utf-8")
