"""Scores are written in short transactions (batches), with the same stored rows as one write."""

from __future__ import annotations

import contextlib

import pandas as pd

import sauti.models.scoring as scoring
from sauti.features import cube_path, save_cube
from sauti.models import score, train
from sauti.models.synthetic import synthetic_cube
from sauti.store import Workspace


def _scored(root, monkeypatch, batch: int) -> tuple[pd.DataFrame, int]:
    ws = Workspace(root)
    save_cube(synthetic_cube(15, 40, start="2019-01-01", seed=7), cube_path(ws, freq="M", unit="admin2"))
    train(ws, freq="M", unit="admin2", horizon=1, random_state=0)
    real = ws.transaction
    writes = []

    @contextlib.contextmanager
    def counted(con):
        with real(con) as inside:
            before = con.total_changes
            yield inside
            writes.append(con.total_changes - before)

    monkeypatch.setattr(scoring, "WRITE_BATCH_ROWS", batch)
    monkeypatch.setattr(ws, "transaction", counted)
    score(ws)
    with ws.session() as con:
        stored = pd.read_sql_query(
            "SELECT locality_id, period, probability, rank, change, drivers, data_snapshot "
            "FROM risk_scores ORDER BY period, locality_id",
            con,
        )
    return stored, writes


def test_scores_are_committed_in_batches_with_the_same_rows(tmp_path, monkeypatch):
    whole, (*one, labels) = _scored(tmp_path / "one", monkeypatch, 1_000_000)
    batched, (*many, labels_again) = _scored(tmp_path / "many", monkeypatch, 7)
    assert labels == labels_again > 0  # the last transaction stores the features' plain-word labels
    assert len(whole) == 15 * 24  # the latest period and 23 before it
    assert len(one) == 2  # history, then the latest period
    assert max(many) <= 7
    assert sum(many) == len(whole)
    assert len(many) == -(-15 * 23 // 7) + -(-15 // 7)
    pd.testing.assert_frame_equal(batched, whole)
