"""How fast and how often the mission answered alerts: the response summary of a window.

Pure functions over frames (alerts, responses, their links, localities); the API, the CLI report and
the notebook call :func:`response_summary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from sauti.store import Workspace

NO_ACTION = "none"


def load_responses(
    workspace: Workspace, *, include_synthetic: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored responses (times as UTC datetimes, ``alert_ids`` as lists) and their links
    ``(response_id, alert_id)``: what :func:`response_summary` takes."""
    from sauti.ingest.responses import response_frames

    return response_frames(workspace, include_synthetic=include_synthetic)


def _minutes_stats(minutes: pd.Series) -> dict[str, Any]:
    """``{"median", "p90", "n"}`` of a series of minutes (``None`` without any value)."""
    values = minutes.dropna().to_numpy(dtype=float)
    if not len(values):
        return {"median": None, "p90": None, "n": 0}
    return {
        "median": round(float(np.median(values)), 1),
        "p90": round(float(np.percentile(values, 90)), 1),
        "n": int(len(values)),
    }


def alert_response_times(alerts: pd.DataFrame, responses: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """One row per alert: whether it got a response that acted, and the minutes from its
    ``received_at`` to the first dispatch and the first arrival of those responses.

    A response to several alerts counts from each of them; an alert answered several times counts
    its first dispatch and its first arrival. Responses whose action is ``none`` do not count.
    """
    acted = responses.loc[responses["action"] != NO_ACTION, ["response_id", "dispatched_at", "arrived_at"]]
    pairs = links.merge(acted, on="response_id").groupby("alert_id")
    first = pd.DataFrame(
        {
            "answered": pairs.size() > 0,
            "dispatched_at": pairs["dispatched_at"].min(),
            "arrived_at": pairs["arrived_at"].min(),
        }
    )
    out = alerts.join(first, on="alert_id")
    out["answered"] = out["answered"].fillna(False).astype(bool)
    for name, column in (("minutes_to_dispatch", "dispatched_at"), ("minutes_to_arrival", "arrived_at")):
        out[name] = (pd.to_datetime(out[column], utc=True) - out["received_at"]).dt.total_seconds() / 60
    return out


def _block(frame: pd.DataFrame) -> dict[str, Any]:
    alerts = int(len(frame))
    answered = int(frame["answered"].sum())
    return {
        "alerts": alerts,
        "alerts_with_response": answered,
        "share_with_response": round(answered / alerts, 4) if alerts else None,
        "minutes_alert_to_dispatch": _minutes_stats(frame["minutes_to_dispatch"]),
        "minutes_alert_to_arrival": _minutes_stats(frame["minutes_to_arrival"]),
    }


def response_summary(
    alerts: pd.DataFrame,
    responses: pd.DataFrame,
    links: pd.DataFrame,
    localities: pd.DataFrame,
    *,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """The summary of alerts received from ``start`` to ``end`` (``YYYY-MM-DD``, inclusive, UTC days).

    ``alerts``: ``alert_id``, ``received_at`` (UTC), ``category``, ``locality_id``; ``responses``:
    ``response_id``, ``action``, ``dispatched_at``, ``arrived_at`` (UTC); ``links``: ``response_id``,
    ``alert_id``; ``localities``: ``locality_id``, ``admin1_id``, ``admin1_name``.

    Returns ``alerts``, ``alerts_with_response`` (a response whose action is not ``none``),
    ``share_with_response``, ``minutes_alert_to_dispatch`` and ``minutes_alert_to_arrival`` (each
    ``{"median", "p90", "n"}``), and the same by admin1 (``by_admin1``) and by alert category
    (``by_category``).

    Examples
    --------
    >>> empty = pd.DataFrame(columns=["alert_id", "received_at", "category", "locality_id"])
    >>> response_summary(empty, pd.DataFrame(columns=["response_id", "action", "dispatched_at",
    ...     "arrived_at"]), pd.DataFrame(columns=["response_id", "alert_id"]),
    ...     pd.DataFrame(columns=["locality_id", "admin1_id", "admin1_name"]))["alerts"]
    0
    """
    received = pd.to_datetime(alerts["received_at"], utc=True)
    keep = pd.Series(True, index=alerts.index)
    if start:
        keep &= received >= pd.Timestamp(start, tz="UTC")
    if end:
        keep &= received < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    window = alerts.loc[keep, ["alert_id", "category", LOCALITY_ID]].assign(received_at=received[keep])
    timed = alert_response_times(window, responses, links)
    admin = localities[[LOCALITY_ID, "admin1_id", "admin1_name"]].drop_duplicates(LOCALITY_ID)
    timed = timed.merge(admin, on=LOCALITY_ID, how="left")
    summary: dict[str, Any] = {"start": start, "end": end, **_block(timed)}
    located = timed["admin1_id"].notna()
    summary["by_admin1"] = [
        {"admin1_id": key[0], "admin1_name": key[1], **_block(group)}
        for key, group in timed[located].groupby(["admin1_id", "admin1_name"], sort=True)
    ]
    if (~located).any():  # alerts no locality was found for: listed last
        summary["by_admin1"].append({"admin1_id": None, "admin1_name": None, **_block(timed[~located])})
    summary["by_category"] = [
        {"category": key, **_block(group)} for key, group in timed.groupby("category", sort=True)
    ]
    return summary


# --- responses as model features (issue 19, item 5) ---------------------------------------------------
RESPONSE_MARKER = "responses_"
"""Cube variables derived from responses carry this in their name (left out unless asked for)."""
RESPONSE_VARIABLES = ("responses_acted", "responses_violence_reported")


def to_units(ids: pd.Series, localities: pd.DataFrame, unit: str, unit_ids: set) -> pd.Series:
    """Each locality id as the unit holding it (an admin3 place → its admin2 when the units are
    admin2; a unit stays itself); ids that fall in no unit become missing."""
    column = f"{unit}_id"
    out = ids.where(ids.isin(unit_ids))
    if column in localities:
        parent = localities.drop_duplicates(LOCALITY_ID).set_index(LOCALITY_ID)[column]
        out = out.where(out.notna(), ids.map(parent))
    return out.where(out.isin(unit_ids))


def add_response_features(
    cube: xr.Dataset, responses: pd.DataFrame, localities: pd.DataFrame, *, timezone: str | None = None
) -> xr.Dataset:
    """``cube`` with two ``(locality, period)`` variables counted from ``responses``:
    ``responses_acted`` (responses that acted: patrol, engagement, message, other) and
    ``responses_violence_reported`` (responses whose outcome was violence), each in the period of the
    response's time (dispatch, else decision, arrival, completion) — known at the end of that
    period, like every cube variable, so a forecast made at ``t`` sees only responses up to ``t``.

    They are exposure and selection controls (where the mission was present and what it saw), not a
    treatment the model may credit with safety: docs/models.md says how they are used.
    """
    from sauti.constants import LOCALITY_DIM, PERIOD_DIM
    from sauti.features.periods import period_start, to_days

    units = [str(v) for v in cube[LOCALITY_DIM].to_numpy()]
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    unit = str(cube.attrs.get("unit", cube.attrs.get("level", "admin2")))
    freq = str(cube.attrs.get("freq", "M"))
    shape = (len(units), len(periods))
    acted = np.zeros(shape)
    violence = np.zeros(shape)
    if len(responses):
        time = responses["dispatched_at"]
        for name in ("decided_at", "arrived_at", "completed_at"):
            time = time.where(time.notna(), responses[name])
        frame = pd.DataFrame(
            {
                "unit": to_units(responses[LOCALITY_ID], localities, unit.split(":")[0], set(units)),
                "time": pd.to_datetime(time, utc=True),
                "acted": responses["action"] != NO_ACTION,
                "violence": responses["outcome"] == "violence",
            }
        ).dropna(subset=["unit", "time"])
        if len(frame):
            starts = pd.DatetimeIndex(period_start(to_days(frame["time"], timezone), freq))
            col = periods.get_indexer(starts)
            row = pd.Index(units).get_indexer(frame["unit"])
            keep = (col >= 0) & (row >= 0)
            np.add.at(acted, (row[keep], col[keep]), frame["acted"].to_numpy()[keep])
            np.add.at(violence, (row[keep], col[keep]), frame["violence"].to_numpy()[keep])
    dims = (LOCALITY_DIM, PERIOD_DIM)
    out = cube.assign({RESPONSE_VARIABLES[0]: (dims, acted), RESPONSE_VARIABLES[1]: (dims, violence)})
    out.attrs["with_responses"] = 1  # models use response variables only from a cube marked so
    return out
