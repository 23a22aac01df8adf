"""Risk models: the forecast target, baselines, the Sauti model, rolling-origin backtests, training
and scoring. Heavy modules load on first use, so ``import sauti.models`` stays cheap.

Public API (what the CLI, the service and the notebooks call)::

    from sauti.models import train, score, latest_scores, risk_history, run_backtest, BASELINES, METRICS
    from sauti.models import pr_figure, reliability_figure, map_figure, plan_patrols, read_bases, plan_figure
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "train": "sauti.models.scoring",
    "score": "sauti.models.scoring",
    "latest_scores": "sauti.models.stored_scores",
    "latest_probabilities": "sauti.models.stored_scores",
    "risk_history": "sauti.models.stored_scores",
    "period_scores": "sauti.models.stored_scores",
    "scored_periods": "sauti.models.score_history",
    "score_histories": "sauti.models.score_history",
    "rising_localities": "sauti.models.score_history",
    "current_model": "sauti.models.registry_store",
    "model_name": "sauti.models.registry_store",
    "resolve_model": "sauti.models.catalog",
    "run_backtest": "sauti.models.backtest",
    "backtest_cube": "sauti.models.backtest",
    "BASELINES": "sauti.models.baselines",
    "METRICS": "sauti.models.metrics",
    "make_target": "sauti.models.target",
    "SautiClassifier": "sauti.models.ensemble",
    "LEARNED_FEATURES": "sauti.models.ensemble",
    "synthetic_cube": "sauti.models.synthetic",
    # figures and tables of a backtest result (what report.html draws)
    "pr_figure": "sauti.models.backtest_report",
    "reliability_figure": "sauti.models.backtest_report",
    "origins_figure": "sauti.models.backtest_report",
    "map_figure": "sauti.models.backtest_report",
    "metrics_table_html": "sauti.models.backtest_report",
    "comparison_words": "sauti.models.backtest_report",
    # patrol priorities
    "plan_patrols": "sauti.models.patrol",
    "read_bases": "sauti.models.patrol",
    "plan_figure": "sauti.models.patrol",
    "population_weight": "sauti.models.patrol",
    # the early-response report (issue 19)
    "response_report": "sauti.models.responses",
    "write_response_report": "sauti.models.responses",
    "workspace_plan": "sauti.models.responses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sauti.models' has no attribute {name!r}")
