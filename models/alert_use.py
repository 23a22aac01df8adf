"""Which alerts a model may learn from: alerts from files marked synthetic never inflate skill.

The sample's alerts are generated to precede real events, so a model reading them would look
better than any real alert stream allows. An alerts file whose rows carry ``synthetic = true`` is
recorded as such at ingest (``ingest_runs.params.synthetic``); ``train`` and ``backtest`` then
leave every alert-derived feature out unless the caller asks for them
(``--include-synthetic-alerts``), and say which alerts were used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace


@dataclass(frozen=True)
class AlertUse:
    """The decision and what it was based on (written to metrics_detail.json and the report)."""

    use_alerts: bool
    alerts_stored: int
    synthetic_files: list[str] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _synthetic_runs(workspace: Workspace) -> tuple[int, list[str]]:
    from sauti.ingest.alerts.store import count_alerts, synthetic_alert_files

    return count_alerts(workspace), synthetic_alert_files(workspace)


def decide_alert_use(
    workspace: Workspace, *, use_alerts: bool = True, include_synthetic: bool = False
) -> AlertUse:
    """Whether alert-derived features may be used, given the stored alerts and the caller's wishes."""
    total, synthetic = _synthetic_runs(workspace)
    if not use_alerts:
        return AlertUse(False, total, synthetic, "alert features turned off (--no-alerts)")
    if total == 0:
        return AlertUse(False, 0, [], "no alerts stored")
    if synthetic and not include_synthetic:
        return AlertUse(
            False,
            total,
            synthetic,
            f"every alert feature left out: alerts from synthetic file(s) {', '.join(synthetic)} "
            "(--include-synthetic-alerts uses them)",
        )
    note = "synthetic alerts included on request" if synthetic else "all stored alerts used"
    return AlertUse(True, total, synthetic, note)
