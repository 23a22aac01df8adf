"""Synthetic alerts never inflate skill: a file marked synthetic is left out of train and backtest."""

from __future__ import annotations

import json

import pytest
from store_rows import with_squares, write_lines

from sauti.features import cube_path, save_cube
from sauti.ingest.alerts import ingest_alerts
from sauti.models import train
from sauti.models.alert_use import decide_alert_use
from sauti.models.backtest import backtest_workspace
from sauti.models.synthetic import synthetic_cube

ROWS = [
    "date_reception,telephone,message,categorie,lieu,latitude,longitude,verification,synthetic",
    "01/01/2016 01:21,+236 75 69 51 79,Tension ici,tension intercommunautaire,,0.5,0.5,non vérifié,{flag}",
    "02/01/2016 09:10,+236 75 69 51 80,Hommes armés,mouvement de groupe armé,,1.5,0.5,non vérifié,{flag}",
]


@pytest.fixture
def alerts_workspace(workspace, three_squares, tmp_path):
    return with_squares(workspace, three_squares, tmp_path)


def _alerts_file(tmp_path, flag: str):
    return write_lines(tmp_path, f"alerts_{flag}.csv", [r.format(flag=flag) for r in ROWS])


def test_a_file_marked_synthetic_is_recorded_and_left_out(alerts_workspace, tmp_path):
    ws = alerts_workspace
    assert ingest_alerts(ws, _alerts_file(tmp_path, "true")).accepted == 2
    with ws.session() as con:
        params = json.loads(con.execute("SELECT params FROM ingest_runs WHERE kind = 'alerts'").fetchone()[0])
    assert params["synthetic"] is True
    decision = decide_alert_use(ws)
    assert not decision.use_alerts
    assert decision.synthetic_files == ["alerts_true.csv"]
    assert "--include-synthetic-alerts" in decision.reason
    assert decide_alert_use(ws, include_synthetic=True).use_alerts
    assert not decide_alert_use(ws, use_alerts=False, include_synthetic=True).use_alerts


def test_real_alerts_are_used(alerts_workspace, tmp_path):
    ws = alerts_workspace
    ingest_alerts(ws, _alerts_file(tmp_path, "false"))
    decision = decide_alert_use(ws)
    assert decision.use_alerts
    assert decision.synthetic_files == []


def test_train_and_backtest_say_which_alerts_were_used(alerts_workspace, tmp_path):
    ws = alerts_workspace
    ingest_alerts(ws, _alerts_file(tmp_path, "true"))
    save_cube(synthetic_cube(20, 48, start="2018-01-01", seed=4), cube_path(ws, freq="M", unit="admin2"))
    record = train(ws, freq="M", unit="admin2")
    assert record["training"]["alerts"]["use_alerts"] is False
    assert not [f for f in record["features"] if "alerts_" in f]
    included = train(ws, freq="M", unit="admin2", include_synthetic_alerts=True)
    assert included["training"]["alerts"]["use_alerts"] is True
    assert [f for f in included["features"] if "alerts_" in f]
    _cube, result = backtest_workspace(ws, start="2021-01", end="2021-03", models=["sauti", "climatology"])
    assert result.detail["alerts"]["synthetic_files"] == ["alerts_true.csv"]
    assert result.detail["use_alerts"] is False
    assert not [f for f in result.detail["features"] if "alerts_" in f]
