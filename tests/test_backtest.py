"""The rolling-origin harness: no model ever sees its test period; metrics and outputs keep the contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import average_precision_score

from sauti.models.backtest import CONTRACT_METRICS, backtest_cube, write_backtest
from sauti.models.backtest_report import write_report
from sauti.models.baselines import BASELINES
from sauti.models.metrics import (
    METRICS,
    Forecasts,
    block_bootstrap_weights,
    bootstrap_intervals,
    captured_share,
    compute_metrics,
)
from sauti.models.synthetic import synthetic_cube
from sauti.models.target import make_target

CHEATER_LOG: list[dict] = []


class Cheater(ClassifierMixin, BaseEstimator):
    """Memorises every label it is trained on by (locality, period) and answers from memory."""

    def fit(self, X, y):
        keys = zip(X["key_locality"].to_numpy(), X["key_period"].to_numpy(), strict=True)
        self.memory_ = dict(zip(keys, np.asarray(y), strict=True))
        self.classes_ = np.array([0.0, 1.0])
        CHEATER_LOG.append({"fit_max_period": int(X["key_period"].max())})
        return self

    def predict_proba(self, X):
        keys = list(zip(X["key_locality"].to_numpy(), X["key_period"].to_numpy(), strict=True))
        known = [k in self.memory_ for k in keys]
        CHEATER_LOG[-1].update({"test_period": int(X["key_period"].min()), "answers_known": int(sum(known))})
        p = np.array([self.memory_.get(k, 0.5) for k in keys], dtype=float)
        return np.column_stack([1 - p, p])


def _keyed_cube(n_localities=16, n_periods=48, seed=5):
    cube = synthetic_cube(n_localities, n_periods, start="2015-01-01", seed=seed)
    cube["key_period"] = ("period", np.arange(n_periods, dtype=float))
    cube["key_locality"] = ("locality", np.arange(n_localities, dtype=float))
    return cube


@pytest.mark.parametrize("horizon", [1, 3], ids=["h1", "h3"])
def test_a_cheating_model_never_sees_its_test_period(horizon):
    CHEATER_LOG.clear()
    cube = _keyed_cube()
    result = backtest_cube(
        cube, start="2017-01", end="2018-06", horizon=horizon, models={"cheater": Cheater()}, n_boot=10
    )
    assert len(CHEATER_LOG) == 18
    for entry in CHEATER_LOG:
        assert entry["answers_known"] == 0
        # the whole target window of every training row ends before the origin (= test period + 1)
        assert entry["fit_max_period"] + horizon <= entry["test_period"]
    cheat = result.predictions[result.predictions["model"] == "cheater"]
    assert_allclose(cheat["probability"], 0.5)

    # the same model handed the test labels would be perfect: the guard above is what stops it
    y = make_target(cube, horizon).to_numpy().T.ravel()
    frame = pd.DataFrame(
        {
            "key_locality": np.tile(np.arange(16.0), 48),
            "key_period": np.repeat(np.arange(48.0), 16),
        }
    )
    ok = np.isfinite(y)
    leaked = Cheater().fit(frame[ok], y[ok]).predict_proba(frame[ok])[:, 1]
    assert average_precision_score(y[ok], leaked) == 1.0


def test_predictions_do_not_change_when_the_future_changes():
    cube = synthetic_cube(12, 40, start="2015-01-01", seed=2)
    origin = 30  # 2017-07
    future = cube.copy(deep=True)
    rng = np.random.default_rng(0)
    for name, var in future.data_vars.items():
        if "period" in var.dims:
            values = var.to_numpy().copy()
            index = [slice(None)] * values.ndim
            index[var.dims.index("period")] = slice(origin, None)
            values[tuple(index)] = rng.poisson(3.0, size=values[tuple(index)].shape)
            future[name] = (var.dims, values)
    models = ["sauti", "last_value", "neighbourhood", "climatology"]
    a = backtest_cube(cube, start="2017-07", end="2017-07", models=models, n_boot=5).predictions
    b = backtest_cube(future, start="2017-07", end="2017-07", models=models, n_boot=5).predictions
    assert_allclose(a["probability"].to_numpy(), b["probability"].to_numpy())


@pytest.fixture(scope="module")
def small_backtest():
    cube = synthetic_cube(25, 60, start="2014-01-01", seed=11)
    return backtest_cube(cube, start="2018-01", end="2018-12", horizon=2, n_boot=50, random_state=3)


def test_metrics_json_keeps_the_contract(small_backtest, tmp_path):
    paths = write_backtest(small_backtest, tmp_path)
    metrics = json.loads(paths["metrics"].read_text())
    assert list(metrics) == [
        "freq",
        "horizon",
        "start",
        "end",
        "n_forecasts",
        "positive_rate",
        "primary",
        "models",
    ]
    assert (metrics["freq"], metrics["horizon"], metrics["start"], metrics["end"]) == (
        "M",
        2,
        "2018-01",
        "2018-12",
    )
    assert metrics["primary"] == "sauti"
    assert set(metrics["models"]) == {"sauti", *BASELINES}
    for values in metrics["models"].values():
        # every contract key, in order; log_loss is added after them
        assert list(values) == [*CONTRACT_METRICS, "log_loss"]
    # the last origin (2018-12) needs 2019-01, past the cube: not observed, left out
    assert metrics["n_forecasts"] == 11 * 25
    pred = pd.read_csv(paths["predictions"])
    assert list(pred.columns) == ["origin", "period", "locality_id", "model", "probability", "observed"]
    assert len(pred) == 11 * 25 * (len(BASELINES) + 1)
    assert_allclose(metrics["positive_rate"], pred[pred["model"] == "sauti"]["observed"].mean())
    # period is the last period of the target window: origin + horizon - 1
    first = pred.iloc[0]
    assert (first["origin"], first["period"]) == ("2018-01-01", "2018-02-01")
    detail = json.loads(paths["detail"].read_text())
    ci = detail["intervals"]["sauti"]["average_precision"]
    assert ci["low"] <= metrics["models"]["sauti"]["average_precision"] <= ci["high"]
    assert set(detail["by_lead"]["sauti"]) == {"1", "2"}
    assert metrics["models"]["climatology"]["brier_skill"] == 0.0
    # the primary model against the best baseline of each metric, paired over the same origins
    versus = detail["versus_best_baseline"]
    ap = versus["average_precision"]
    best = max((m for m in BASELINES), key=lambda m: metrics["models"][m]["average_precision"] or -1.0)
    assert ap["baseline"] == best
    assert_allclose(
        ap["difference"],
        metrics["models"]["sauti"]["average_precision"] - metrics["models"][best]["average_precision"],
    )
    assert ap["low"] <= ap["difference"] <= ap["high"]
    assert versus["brier"]["better"] == (
        metrics["models"]["sauti"]["brier"] < versus["brier"]["baseline_value"]
    )
    assert detail["empty_window"] is False


def test_sauti_beats_climatology_on_a_process_with_memory(small_backtest):
    m = small_backtest.metrics["models"]
    assert m["sauti"]["average_precision"] > 1.5 * m["climatology"]["average_precision"]
    assert m["sauti"]["hit_rate_top10"] > 0.2


def test_report_is_self_contained(small_backtest, tmp_path, three_squares):
    import geopandas as gpd
    from shapely.geometry import box

    ids = [f"L{i:05d}" for i in range(25)]
    shapes = gpd.GeoDataFrame(
        {"locality_id": ids},
        geometry=[box(i % 5, i // 5, i % 5 + 1, i // 5 + 1) for i in range(25)],
        crs=4326,
    )
    path = write_report(small_backtest, tmp_path / "report.html", localities=shapes)
    text = path.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 5  # PR curves, reliability, skill by lead, positives per origin, map
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    without_images = re.sub(r'src="data:image/png;base64,[^"]*"', "", text)
    assert not re.search(r"https?:|//|url\(|@import", without_images, flags=re.I)
    assert "hits and misses" in text.lower()
    assert "<small>[" in text  # bootstrap intervals in the table


def test_captured_share_splits_ties_fairly():
    score = np.array([3.0, 2.0, 2.0, 1.0])
    positives = np.array([1.0, 0.0, 1.0, 0.0])
    assert_allclose(captured_share(score, positives, np.ones(4), 0.5), 1.5)
    assert_allclose(captured_share(score, positives, np.array([1.0, 3.0, 1.0, 5.0]), 0.1), 1.0)


def test_hit_rate_and_pai_by_hand():
    # two origins of 10 localities; top 10% = 1 locality
    p = np.tile(np.linspace(1, 0.1, 10), 2)
    y = np.zeros(20)
    y[[0, 5, 10]] = 1  # two hits at the top, one miss
    area = np.tile(np.r_[0.5, np.full(9, 19.0 / 18)], 2)  # the top locality holds 5% of the area
    f = Forecasts(y, p, np.repeat([0, 1], 10), area, np.full(20, 0.15))
    m = compute_metrics(f)
    assert_allclose(m["hit_rate_top10"], 2 / 3)
    # budget 10% of area 10 = 1: the top locality (0.5) plus half of the second (0.5 of 19/18)
    captured = 1 + (0.5 / (19 / 18)) * 0  # the second-ranked locality is negative in both origins
    assert_allclose(m["pai_top10"], (2 * captured / 3) / 0.1)
    assert_allclose(m["brier"], np.mean((p - y) ** 2))
    assert m["brier_skill"] < 0  # these probabilities are worse than 0.15 everywhere


def test_bootstrap_is_seeded_and_keeps_origin_count():
    a = block_bootstrap_weights(20, 30, 6, seed=1)
    b = block_bootstrap_weights(20, 30, 6, seed=1)
    assert_allclose(a, b)
    assert_allclose(a.sum(axis=1), 20)
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(float)
    f = Forecasts(
        y, rng.random(400) * 0.2 + 0.3 * y, np.repeat(np.arange(20), 20), np.ones(400), np.full(400, 0.1)
    )
    ci = bootstrap_intervals(f, a)
    point = compute_metrics(f)
    for name in METRICS:
        assert ci[name]["low"] <= point[name] + 1e-9
        assert ci[name]["high"] >= point[name] - 1e-9


@pytest.mark.slow
def test_cli_backtest_on_the_sample(sample_workspace, tmp_path):
    """``sauti backtest`` on a copy of the session's sample workspace (boundaries, GED incidents, cube)."""
    sauti = [sys.executable, "-m", "sauti.cli", "--workspace", str(sample_workspace.root)]
    out = tmp_path / "bt"
    bases = tmp_path / "bases.geojson"
    bases.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Bangui", "patrols": 2, "range_km": 150},
                        "geometry": {"type": "Point", "coordinates": [18.56, 4.36]},
                    }
                ],
            }
        )
    )
    done = subprocess.run(
        [*sauti, "backtest", "--start", "2017-01", "--end", "2017-04", "--freq", "M", "--horizon", "1"]
        + ["--out", str(out), "--models", "sauti,climatology,last_value", "--json", "--bases", str(bases)],
        check=True,
        capture_output=True,
        text=True,
    )
    metrics = json.loads(done.stdout)
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert metrics["n_forecasts"] == 4 * 72
    assert set(metrics["models"]) == {"sauti", "climatology", "last_value"}
    report = (out / "report.html").read_text()
    assert "map of hits and misses" in report
    # the patrol hook writes its own file and a report section, never metrics.json keys
    patrol = json.loads((out / "patrol.json").read_text())
    assert {"optimised", "closest_to_base", "last_incidents"} <= set(patrol)
    assert "Patrol plans in the backtest" in report
    assert "<th>Closest to base</th>" in report  # plans by name, not by the result's keys
    assert "closest_to_base" not in report
    assert not re.search(r"https?:", report)
    bad = subprocess.run(
        [*sauti, "backtest", "--start", "2030-01", "--end", "2030-02", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "no period of the feature cube" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("ties", [False, True], ids=["distinct-scores", "tied-scores"])
def test_fast_ap_and_auc_match_scikit_learn(ties):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.1).astype(float)
    p = rng.random(500) + 0.3 * y
    if ties:
        p = np.round(p, 1)
    w = rng.integers(0, 3, 500).astype(float)
    f = Forecasts(y, p, np.zeros(500), np.ones(500))
    for weights in (None, w):
        assert_allclose(
            METRICS["average_precision"].func(f, weights),
            average_precision_score(y, p, sample_weight=weights),
        )
        assert_allclose(METRICS["roc_auc"].func(f, weights), roc_auc_score(y, p, sample_weight=weights))


def test_the_ensemble_never_sees_its_test_period_and_learns_weights_inside_its_window(monkeypatch):
    import sauti.models.backtest as backtest_module
    import sauti.models.ensemble as ensemble_module
    from sauti.models.ensemble import SautiClassifier

    seen: list[dict] = []
    real_folds = ensemble_module._time_folds

    def spy_folds(X, target, periods, *args):
        folds = real_folds(X, target, periods, *args)
        seen[-1]["validation_max"] = max((int(periods[va].max()) for _, va in folds), default=-1)
        return folds

    class Spy(SautiClassifier):
        def fit(self, X, y, periods=None):
            seen.append({"fit_max": int(X["key_period"].max()), "periods_max": int(np.max(periods))})
            return super().fit(X, y, periods=periods)

        def predict_proba(self, X):
            seen[-1]["test_period"] = int(X["key_period"].min())
            return super().predict_proba(X)

    monkeypatch.setattr(ensemble_module, "_time_folds", spy_folds)
    monkeypatch.setattr(backtest_module, "SautiClassifier", Spy)
    horizon = 2
    backtest_cube(
        _keyed_cube(),
        start="2017-01",
        end="2017-12",
        horizon=horizon,
        models=["sauti"],
        n_boot=5,
        restack_every=1,
    )
    assert len(seen) == 12  # one fit per origin (restack_every=1: weights learned at each)
    for entry in seen:
        assert entry["fit_max"] == entry["periods_max"]
        assert entry["fit_max"] + horizon <= entry["test_period"]
        # the weights' validation blocks lie inside the rows given to fit
        assert entry["validation_max"] <= entry["fit_max"]


def test_an_empty_window_is_said_in_the_detail_and_the_report(tmp_path):
    cube = synthetic_cube(12, 48, start="2015-01-01", seed=3)
    counts = cube["count_intercommunal"].to_numpy().copy()
    counts[:, 30:] = 0  # no intercommunal incident from 2017-07 on
    cube["count_intercommunal"] = (cube["count_intercommunal"].dims, counts)
    result = backtest_cube(cube, start="2017-08", end="2017-12", models=["sauti", "neighbourhood"], n_boot=5)
    assert result.detail["empty_window"] is True
    sauti = result.metrics["models"]["sauti"]
    assert sauti["average_precision"] is None
    assert sauti["brier"] is not None  # Brier and log loss stay defined
    text = write_report(result, tmp_path / "report.html").read_text()
    assert "No positive in this window" in text


@pytest.fixture(scope="module")
def weekly_workspace(tmp_path_factory):
    """A workspace holding only a weekly synthetic cube (60 weeks from Monday 2018-01-01)."""
    from sauti.features import cube_path, save_cube
    from sauti.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("weekly") / "ws")
    cube = synthetic_cube(12, 60, start="2018-01-01", freq="W", seed=2)
    save_cube(cube, cube_path(ws, freq="W", unit="admin2"))
    return ws


@pytest.mark.parametrize(
    ("start", "end"),
    [("2018-07-02", "2018-08-27"), ("2018-W27", "2018-W35"), ("2018-07-04", "2018-W35-7")],
    ids=["dates", "iso-weeks", "mixed"],
)
def test_weekly_origins_are_dates_or_iso_weeks(weekly_workspace, start, end, tmp_path, capsys):
    from sauti.cli import main

    argv = ["-w", str(weekly_workspace.root), "backtest", "--freq", "W", "--start", start, "--end", end]
    argv += ["--models", "climatology,last_value", "--out", str(tmp_path), "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads(captured.out)
    assert (metrics["start"], metrics["end"]) == ("2018-07-02", "2018-08-27")  # the weeks' Mondays
    origins = pd.read_csv(tmp_path / "predictions.csv")["origin"].unique()
    assert list(origins) == [f"{d:%Y-%m-%d}" for d in pd.date_range("2018-07-02", "2018-08-27", freq="7D")]


@pytest.mark.parametrize(
    ("freq", "start", "named"),
    [("W", "2018-07", "an ISO week like 2019-W02"), ("M", "2018-W27", "a month like 2017-01")],
    ids=["month-for-weeks", "week-for-months"],
)
def test_a_backtest_origin_in_the_wrong_form_names_the_form_expected(
    weekly_workspace, freq, start, named, capsys
):
    from sauti.cli import main

    argv = ["-w", str(weekly_workspace.root), "backtest", "--freq", freq, "--start", start, "--end", start]
    assert main([*argv, "--out", str(weekly_workspace.root / "bt")]) == 2
    err = " ".join(capsys.readouterr().err.split())  # typer wraps its box
    assert named in err
    assert "--start" in err
