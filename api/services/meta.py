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

    ``warnings`` lists what a person should know (incident data older than the setting, a forecast
    target silent far longer than its usual gaps; the figures behind the second are in ``/version``).
    """
    ready_store = source.workspace.exists
    scores = source.scores() if ready_store else None
    nowcast = dict(source.nowcast.state) if source.nowcast is not None else None
    return {
        "status": "ok",
        "store": ready_store,
        "scores": scores is not None,
        "risk_surface": source.risk_surface_path.exists(),
        "generation": source.generation,
        "data_through": source.data_through(),
        "warnings": source.data_warnings(),
        "nowcast": nowcast,
        "caches": source.caches.sizes(),  # entries of the caches this service owns, by name
    }


def version(source: DataSource) -> dict[str, Any]:
    """Code version, the model version and data snapshot behind the served scores, and data currency:
    the date each source covers, the latest incident of each category, and how long the forecast
    target has been silent against its usual gaps (``target_silence``, with its ``warning``)."""
    scores = source.scores() if source.workspace.exists else None
    model_version = data_snapshot = scored_at = period = None
    if scores is not None:
        latest = scores.sort_values("scored_at").iloc[-1]
        model_version = str(latest["model_version"])
        data_snapshot = str(latest["data_snapshot"])
        scored_at = str(latest["scored_at"])
        period = f"{latest['period']:%Y-%m-%d}"
    from sauti.models import model_name
    from sauti.models.catalog import model_label

    name = model_name(source.workspace, model_version) if model_version else None
    return {
        "code_version": code_version(),
        "model_name": name,
        "model_label": model_label(name) if name else None,
        "model_version": model_version,
        "data_snapshot": data_snapshot,
        "scored_at": scored_at,
        "period": period,
        "data_through": source.data_through(),
        "last_events": source.last_events(),
        "target_silence": source.target_silence(),
    }
