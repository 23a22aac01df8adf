"""What the served risk stands on: model, scored period, heatmap and data currency, as plain data.

``sauti status`` prints it and the map can show it; the currency warning is the same text
``/api/v1/health`` gives (:func:`sauti.ingest.currency.currency_warning`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sauti.errors import SautiError
from sauti.ingest.currency import (
    STALE_AFTER_DAYS,
    currency_warning,
    data_through,
    last_events,
    target_silence,
)

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace


def risk_status(
    workspace: Workspace, *, stale_after_days: int = STALE_AFTER_DAYS, today: date | None = None
) -> dict[str, Any]:
    """Model (name, version, frequency, unit), scored period, heatmap and data currency.

    Returns ``{"model": {...} | None, "scored_period": "YYYY-MM-DD" | None, "heatmap": {...} | None,
    "data_through": {"incidents", "alerts"}, "last_events": {category: date}, "target_silence":
    {...} | None, "warning": str | None, "warnings": [str]}``, and ``"forecast"`` (the
    :func:`~sauti.features.periods.forecast_window` of the scored period) when there are scores.
    ``warning`` is the stale-data warning; ``warnings`` adds the silent-target one
    (:func:`~sauti.ingest.currency.target_silence`).
    """
    from sauti.features import DEFAULT_SURFACE
    from sauti.models.catalog import model_label
    from sauti.models.registry_store import current_model
    from sauti.models.score_history import scored_periods

    through = data_through(workspace)
    silence = target_silence(workspace, through)
    stale = currency_warning(through, stale_after_days=stale_after_days, today=today)
    out: dict[str, Any] = {
        "model": None,
        "scored_period": None,
        "heatmap": None,
        "data_through": through,
        "last_events": last_events(workspace),
        "target_silence": silence,
        "warning": stale,
        "warnings": [w for w in (stale, silence["warning"] if silence else None) if w],
    }
    if not workspace.exists:
        return out
    record = current_model(workspace)
    if record is not None:
        out["model"] = {
            "name": str(record.get("estimator") or "sauti"),
            "label": model_label(str(record.get("estimator") or "sauti")),
            "version": record["version"],
            "freq": record["freq"],
            "unit": record["unit"],
            "created_at": record.get("created_at"),
        }
        try:
            periods = scored_periods(workspace, freq=record["freq"], unit=record["unit"])
        except SautiError:
            periods = []
        out["scored_period"] = f"{periods[-1]:%Y-%m-%d}" if periods else None
        if periods:  # the period people read: the one the scores forecast
            from sauti.features.periods import forecast_window

            horizon = int(record.get("horizon") or 1)
            out["forecast"] = forecast_window(periods[-1], record["freq"], horizon)
    surface = workspace.root / DEFAULT_SURFACE
    if surface.exists():
        out["heatmap"] = {"path": str(surface), "made": _surface_made(surface)}
    return out


def _surface_made(path) -> dict[str, Any]:
    from sauti.features import read_surface

    tags = read_surface(path).attrs
    return {k: tags.get(k) for k in ("resolution_km", "until", "blend") if k in tags}
