"""SYNTHETIC response log for the sample: made-up patrols, engagements and messages answering the
sample's (synthetic) alerts, seeded, every row marked ``synthetic`` — for the demo, the report and
the notebook; never used for skill.

The sample's alert ids are keyed by each workspace's secret (the reporter's pseudonym is part of an
alert's identity), so a response log naming them cannot be a fixed file: it is drawn from the
alerts a workspace holds (:func:`synthetic_responses`), deterministically for a seed and the same
alerts, and written beside the workspace by :func:`write_synthetic_responses` (``sauti demo``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.ingest.responses.check import RESPONSE_OUTCOMES
from sauti.store import Workspace

SEED = 19
CSV_NAME = "synthetic_responses.csv"
SYNTHETIC_NOTE = (
    "SYNTHETIC: made-up responses to the synthetic sample alerts (sauti.ingest.responses.synthetic)"
)
# chance that an alert of each category gets a response that acts (the rest: none recorded)
ANSWER_RATE = {
    "attack": 0.8,
    "threat_to_civilians": 0.7,
    "intercommunal_tension": 0.65,
    "armed_group_movement": 0.55,
    "displacement": 0.45,
    "other": 0.3,
}
ACTIONS = ("patrol", "engagement", "message", "other")
ACTION_WEIGHTS = (0.6, 0.25, 0.12, 0.03)
OUTCOME_WEIGHTS = (0.55, 0.25, 0.05, 0.08, 0.07)
UNITS = ("BANBAT 1 Coy", "BANBAT 2 Coy", "PAKBAT QRF", "RWABATT 3", "FPU Bangui", "CAC team")
NO_ACTION_NOTES = (
    "No unit available within range",
    "Road cut by the river; reassessed next day",
    "Local authorities already on site",
)


def synthetic_responses(alerts: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """A response log answering ``alerts`` (``alert_id``, ``received_at``, ``category``, ``locality_id``).

    About two thirds of alerts get a patrol, engagement or message (more for attacks and threats);
    a few get a recorded decision not to act. Minutes to decision, dispatch and arrival are
    log-normal (medians about 1 h, 3 h and 5 h after the alert). Every row has ``synthetic`` true.

    Examples
    --------
    >>> alerts = pd.DataFrame({"alert_id": ["a"], "received_at": [pd.Timestamp("2022-01-01", tz="UTC")],
    ...                        "category": ["attack"], "locality_id": ["CF11"]})
    >>> list(synthetic_responses(alerts, seed=1).columns)[:3]
    ['response_id', 'action', 'alert_ids']
    """
    rng = np.random.default_rng(seed)
    ordered = alerts.sort_values(["received_at", LOCALITY_ID, "category"], kind="stable").reset_index(
        drop=True
    )
    ordered = ordered[ordered[LOCALITY_ID].notna()]
    rows = []
    for alert in ordered.itertuples(index=False):
        draw = rng.random()
        rate = ANSWER_RATE.get(alert.category, 0.3)
        received = pd.Timestamp(alert.received_at).tz_convert("UTC")
        decided = received + pd.Timedelta(minutes=float(rng.lognormal(np.log(60), 0.6)))
        if draw < rate:
            dispatched = decided + pd.Timedelta(minutes=float(rng.lognormal(np.log(110), 0.7)))
            arrived = dispatched + pd.Timedelta(minutes=float(rng.lognormal(np.log(100), 0.6)))
            completed = arrived + pd.Timedelta(minutes=float(rng.lognormal(np.log(180), 0.4)))
            reported = rng.random() < 0.9  # some arrivals never reported
            rows.append(
                {
                    "action": rng.choice(ACTIONS, p=ACTION_WEIGHTS),
                    "alert_ids": alert.alert_id,
                    "unit": rng.choice(UNITS),
                    "decided_at": decided,
                    "dispatched_at": dispatched,
                    "arrived_at": arrived if reported else None,
                    "completed_at": completed if reported else None,
                    "outcome": rng.choice(RESPONSE_OUTCOMES, p=OUTCOME_WEIGHTS) if reported else "unknown",
                    "notes": "",
                }
            )
            if rows[-1]["outcome"] == "unreachable":  # set out, never got there: no arrival to report
                rows[-1]["arrived_at"] = None
        elif draw < rate + 0.05:
            rows.append(
                {
                    "action": "none",
                    "alert_ids": alert.alert_id,
                    "unit": "",
                    "decided_at": decided,
                    "dispatched_at": None,
                    "arrived_at": None,
                    "completed_at": None,
                    "outcome": "unknown",
                    "notes": rng.choice(NO_ACTION_NOTES),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for name in ("decided_at", "dispatched_at", "arrived_at", "completed_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.insert(0, "response_id", [f"syn-resp-{i:05d}" for i in range(1, len(frame) + 1)])
    frame["synthetic"] = "true"
    return frame


def write_synthetic_responses(workspace: Workspace, folder: str | Path, seed: int = SEED) -> Path | None:
    """Write the synthetic response log for the workspace's synthetic alerts to ``folder``; ``None``
    when the workspace holds no alert from a file marked synthetic."""
    import json

    with workspace.session() as con:
        found = con.execute("SELECT run_id, params FROM ingest_runs WHERE kind = 'alerts'").fetchall()
    runs = [r[0] for r in found if json.loads(r[1] or "{}").get("synthetic")]
    if not runs:
        return None
    alerts = workspace.alerts()
    alerts = alerts[alerts["run_id"].isin(runs)]
    frame = synthetic_responses(alerts[["alert_id", "received_at", "category", LOCALITY_ID]], seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CSV_NAME
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path
