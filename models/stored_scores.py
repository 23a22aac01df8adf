"""Stored risk scores read back: the latest or one period's scores with their drivers in plain words,
one locality's history with its observed counts, and what the served scores stand on.

Reads only ``risk_scores`` rows of the current model's frequency and unit; :mod:`sauti.models.scoring`
writes them (``train``, ``score``) and :mod:`sauti.models.score_history` reads them over time for the
map.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM
from sauti.db import read_frame
from sauti.errors import NotFoundError, NotReadyError
from sauti.features import load_cube
from sauti.features.glossary import label_drivers
from sauti.models.score_history import score_key

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

SCORE_COLUMNS = (
    LOCALITY_ID,
    PERIOD,
    "probability",
    "rank",
    "change",
    "drivers",
    "model_version",
    "data_snapshot",
    "scored_at",
)
OBSERVED_VARIABLES = ("count_intercommunal", "count_violent", "fatalities")


def served_stamp(workspace: Workspace, record: dict) -> tuple[str | None, str | None, str | None]:
    """``(period, data_snapshot, model_version)`` of the latest stored scores of ``record``'s
    frequency and unit (all ``None`` before the first scoring): what the served scores stand on."""
    with workspace.session() as con:
        row = con.execute(
            "SELECT period, data_snapshot, model_version FROM risk_scores WHERE freq = ? AND unit = ? "
            "ORDER BY period DESC, scored_at DESC LIMIT 1",
            (record["freq"], record["unit"]),
        ).fetchone()
    return (None, None, None) if row is None else (str(row[0])[:10], row[1], row[2])


def latest_scores(
    workspace: Workspace, *, freq: str | None = None, unit: str | None = None, limit: int | None = None
) -> pd.DataFrame:
    """Stored scores of the latest scored period, best rank first (the ``limit`` best only, when given).

    Columns: ``locality_id``, ``period`` (Timestamp), ``probability``, ``rank``, ``change``,
    ``drivers`` (list of ``{"feature","label","contribution","value"}``: ``label`` in plain words from
    :mod:`sauti.features.glossary`, ``contribution`` in probability like ``probability``), ``model_version``,
    ``data_snapshot``, ``scored_at``.
    """
    return period_scores(workspace, None, freq=freq, unit=unit, limit=limit)


def latest_probabilities(
    workspace: Workspace, *, freq: str | None = None, unit: str | None = None
) -> pd.DataFrame:
    """``locality_id`` and ``probability`` of the latest scored period, best rank first.

    What a risk surface blends in: the rows of :func:`latest_scores` without their drivers (a
    continent's drivers in plain words are the largest part of the frame, and the surface never
    reads them). Empty when nothing is scored yet.
    """
    key = score_key(workspace, freq, unit)
    with workspace.session() as con:
        return read_frame(
            con,
            f"SELECT {LOCALITY_ID}, probability FROM risk_scores WHERE freq = ? AND unit = ? "
            "AND period = (SELECT MAX(period) FROM risk_scores WHERE freq = ? AND unit = ?) "
            "ORDER BY rank, locality_id",
            (*key, *key),
        )


def period_scores(
    workspace: Workspace,
    period: pd.Timestamp | str | None,
    *,
    freq: str | None = None,
    unit: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored scores of one scored ``period`` (``None``: the latest), best rank first.

    Columns as :func:`latest_scores`. Periods before the latest hold fitted values of the model
    and no drivers (``[]``). ``limit``: only the first rows in that order (a command that prints
    the top ten of a continent does not parse every locality's drivers).
    """
    key = score_key(workspace, freq, unit)
    with workspace.session() as con:
        if period is None:
            period = con.execute(
                "SELECT MAX(period) FROM risk_scores WHERE freq = ? AND unit = ?", key
            ).fetchone()[0]
            if period is None:
                raise NotReadyError("no risk scores yet: run `sauti score` first")
        wanted = f"{pd.Timestamp(period):%Y-%m-%d}"
        bounded = "" if limit is None else f" LIMIT {int(limit)}"
        frame = read_frame(
            con,
            f"SELECT {', '.join(SCORE_COLUMNS)} FROM risk_scores WHERE freq = ? AND unit = ? AND period = ? "
            "ORDER BY rank, locality_id" + bounded,
            (*key, wanted),
        )
    if frame.empty:  # the period asked for is not repeated back: the scored ones are named instead
        with workspace.session() as con:
            first, last = con.execute(
                "SELECT MIN(period), MAX(period) FROM risk_scores WHERE freq = ? AND unit = ?", key
            ).fetchone()
        if first is None:
            raise NotReadyError("no risk scores yet: run `sauti score` first")
        raise NotFoundError(
            "no scores for the period asked for: scored periods run "
            f"{pd.Timestamp(first):%Y-%m-%d} to {pd.Timestamp(last):%Y-%m-%d}"
        )
    frame[PERIOD] = pd.to_datetime(frame[PERIOD])
    frame["drivers"] = frame["drivers"].map(lambda text: label_drivers(json.loads(text), freq=key[0]))
    return frame


def risk_history(workspace: Workspace, locality_id: str) -> pd.DataFrame:
    """Stored scores of one locality over time with its observed counts from the cube.

    Columns: ``period``, ``probability``, ``rank``, ``count_intercommunal``, ``count_violent``,
    ``fatalities`` (observed in that period). Scores before the latest period are fitted values of
    the current model (those periods were in its training data).
    """
    key = score_key(workspace)
    with workspace.session() as con:
        frame = read_frame(
            con,
            "SELECT period, probability, rank FROM risk_scores "
            "WHERE locality_id = ? AND freq = ? AND unit = ? ORDER BY period",
            (locality_id, *key),
        )
    try:  # a read: the stored cube or none, never one built (and written) here
        cube = load_cube(workspace, freq=key[0], unit=key[1])
    except NotReadyError:
        cube = None
    known = cube is not None and locality_id in set(cube[LOCALITY_DIM].to_numpy().astype(str))
    if frame.empty and not known:
        raise NotFoundError(f"no locality with this id in unit {key[1]}")  # the id is not repeated
    frame[PERIOD] = pd.to_datetime(frame[PERIOD])
    if known:
        sel = cube.sel({LOCALITY_DIM: locality_id})
        observed = pd.DataFrame(
            {name: sel[name].to_numpy() for name in OBSERVED_VARIABLES if name in cube},
            index=pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy(), name=PERIOD),
        )
        frame = frame.merge(observed, left_on=PERIOD, right_index=True, how="left")
    return frame.reset_index(drop=True)


def model_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a model record worth showing a user (no file paths)."""
    keys = ("version", "created_at", "freq", "unit", "horizon", "estimator", "data_snapshot", "training")
    return {k: record[k] for k in keys}
