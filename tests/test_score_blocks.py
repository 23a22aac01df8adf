"""Scoring reads the cube one block of localities at a time and explains the drivers one slice at a
time: the stored scores do not depend on either size."""

from __future__ import annotations

import pandas as pd

import sauti.models.scoring as scoring
from sauti.features import cube_path, save_cube
from sauti.models import score, train
from sauti.models.synthetic import synthetic_cube
from sauti.store import Workspace


def _scored(root, monkeypatch, block: int, explain: int = 1_000_000) -> pd.DataFrame:
    ws = Workspace(root)
    cube = synthetic_cube(30, 40, start="2019-01-01", seed=11)
    save_cube(cube.chunk({"locality": 4}), cube_path(ws, freq="M", unit="admin2"))  # stored in chunks of 4
    train(ws, freq="M", unit="admin2", horizon=1, random_state=0)
    monkeypatch.setattr(scoring, "SCORE_BLOCK", block)
    monkeypatch.setattr(scoring, "EXPLAIN_ROWS", explain)
    score(ws)
    with ws.session() as con:
        return pd.read_sql_query(
            "SELECT locality_id, period, probability, rank, change, drivers, data_snapshot "
            "FROM risk_scores ORDER BY period, locality_id",
            con,
        )


def test_scores_do_not_depend_on_the_scoring_block(tmp_path, monkeypatch):
    whole = _scored(tmp_path / "whole", monkeypatch, 1_000_000)
    blocks = _scored(tmp_path / "blocks", monkeypatch, 5)  # 4 localities a block: 8 blocks, the last of 2
    explained = _scored(tmp_path / "explained", monkeypatch, 5, explain=7)  # drivers 7 localities at a time
    assert len(whole) == 30 * 24
    assert whole["drivers"].str.len().gt(2).sum() == 30  # every locality of the latest period explained
    pd.testing.assert_frame_equal(blocks, whole)
    pd.testing.assert_frame_equal(explained, whole)


def test_a_scoring_block_is_a_whole_number_of_stored_chunks():
    cube = synthetic_cube(30, 12, start="2019-01-01", seed=1).chunk({"locality": 4})
    assert scoring._block_step(cube, 30) == 4 * (scoring.SCORE_BLOCK // 4)
    assert scoring._block_step(cube.load(), 30) == scoring.SCORE_BLOCK
