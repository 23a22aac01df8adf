"""Health and version: is the service up, and which code, model and data it serves."""

from __future__ import annotations

from typing import Any

from sauti.api.services.source import DataSource


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sauti")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        import sauti

        return getattr(sauti, "__version__", "unknown")


def health(source: DataSource) -> dict[str, Any]:
    """Liveness plus what is ready (store, scores, risk surface), data currency and the nowcast state.

    ``warnings`` lists what a person should know (incident data older than the setting).
    """
    ready_store = source.workspace.exists
    scores = source.scores() if ready_store else None
    nowcast = dict(source.nowcast.state) if source.nowcast is not None else None
    warning = source.currency_warning()
    return {
        "status": "ok",
        "store": ready_store,
        "scores": scores is not None,
        "risk_surface": source.risk_surface_path.exists(),
        "generation": source.generation,
        "data_through": source.data_through(),
        "warnings": [warning] if warning else [],
        "nowcast": nowcast,
    }


def version(source: DataSource) -> dict[str, Any]:
    """Code version, and the model version and data snapshot behind the served scores."""
    scores = source.scores() if source.workspace.exists else None
    model_version = data_snapshot = scored_at = period = None
    if scores is not None:
        latest = scores.sort_values("scored_at").iloc[-1]
        model_version = str(latest["model_version"])
        data_snapshot = str(latest["data_snapshot"])
        scored_at = str(latest["scored_at"])
        period = f"{latest['period']:%Y-%m-%d}"
    from sauti.models import model_name

    return {
        "code_version": code_version(),
        "model_name": model_name(source.workspace, model_version) if model_version else None,
        "model_version": model_version,
        "data_snapshot": data_snapshot,
        "scored_at": scored_at,
        "period": period,
        "data_through": source.data_through(),
    }
