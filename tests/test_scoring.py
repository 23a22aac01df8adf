"""Train, score, read back: skops artifacts that cannot run code, drivers, nowcast without retraining."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sauti.errors import NotFoundError, NotReadyError, SautiError
from sauti.features import cube_path, load_cube, save_cube
from sauti.models import latest_scores, risk_history, score, train
from sauti.models.explain import median_contributions, top_drivers
from sauti.models.registry_store import (
    TRUSTED_TYPES,
    current_model,
    list_models,
    load_model,
    model_name,
    runtime,
)
from sauti.models.synthetic import synthetic_cube
from sauti.store import Workspace


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("trained") / "ws")
    cube = synthetic_cube(20, 48, start="2018-01-01", seed=4)
    save_cube(cube, cube_path(ws, freq="M", unit="admin2"))
    record = train(ws, freq="M", unit="admin2", horizon=1, random_state=0)
    return ws, cube, record


@pytest.fixture
def trained(trained_template, tmp_path):
    """A private copy of a trained workspace (training once keeps the module fast)."""
    template, cube, record = trained_template
    shutil.copytree(template.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws"), cube, record


def test_train_records_a_loadable_model(trained):
    ws, cube, record = trained
    assert record["is_current"]
    assert record["freq"] == "M"
    assert record["unit"] == "admin2"
    assert record["horizon"] == 1
    assert record["training"]["rows"] == 20 * 47  # the last period has no observed next period
    assert record["training"]["positives"] > 0
    assert record["estimator"] == "sauti"
    assert set(record["training"]["weights"]) >= {"neighbourhood", "logistic"}
    assert (ws.root / record["artifact"]).read_bytes()[:2] == b"PK"  # a skops zip, not a pickle
    assert current_model(ws)["version"] == record["version"]
    model = load_model(ws, record)
    assert model.weights_ == record["training"]["weights"]
    assert model_name(ws, record["version"]) == "sauti"


def test_training_is_reproducible(trained):
    ws, _cube, first = trained
    second = train(ws, freq="M", unit="admin2", horizon=1, random_state=0)
    a, b = load_model(ws, first), load_model(ws, second)
    X = np.random.default_rng(0).poisson(1.0, size=(30, len(first["features"]))).astype(float)
    X = pd.DataFrame(X, columns=first["features"])
    assert_allclose(a.predict_proba(X), b.predict_proba(X))
    assert [m["version"] for m in list_models(ws)] == [second["version"], first["version"]]
    assert current_model(ws)["version"] == second["version"]


def test_a_swapped_artifact_is_refused(trained):
    ws, _cube, record = trained
    path = ws.root / record["artifact"]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SautiError, match="checksum"):
        load_model(ws, record)


@pytest.mark.parametrize(
    "saved",
    [
        None,
        {"artifact_format": 1, "scikit_learn": "current"},
        {"artifact_format": "current", "scikit_learn": "0.24.2"},
    ],
    ids=["no-runtime-recorded", "older-artifact-format", "other-scikit-learn"],
)
def test_an_artifact_from_another_runtime_asks_for_retraining(trained, saved):
    ws, _cube, record = trained
    assert record["training"]["runtime"] == runtime()
    if saved is not None:
        saved = {k: (runtime()[k] if v == "current" else v) for k, v in saved.items()}
    stale = dict(record, training={**record["training"], "runtime": saved})
    with pytest.raises(NotReadyError, match="run `sauti train` again"):
        load_model(ws, stale)


def test_an_artifact_with_untrusted_types_is_refused(trained):
    import hashlib

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    ws, _cube, record = trained
    path = ws.root / "models" / "crafted.skops"
    sio.dump(FunctionTransformer(func=eval), path)
    crafted = dict(record, artifact="models/crafted.skops")
    crafted["artifact_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SautiError, match="does not trust: builtins.eval"):
        load_model(ws, crafted)
    assert "builtins.eval" not in TRUSTED_TYPES


def test_score_ranks_explains_and_stores(trained):
    ws, cube, record = trained
    frame = score(ws)
    assert list(frame.columns) == [
        "locality_id",
        "period",
        "probability",
        "rank",
        "change",
        "drivers",
        "model_version",
        "data_snapshot",
        "scored_at",
    ]
    assert len(frame) == 20
    assert (frame["period"] == pd.Timestamp("2021-12-01")).all()
    assert (frame["model_version"] == record["version"]).all()
    assert (frame["data_snapshot"] == record["data_snapshot"]).all()
    assert frame["probability"].between(0, 1).all()
    # rank 1 is the highest probability; ranks follow the probabilities
    ordered = frame.sort_values("rank")
    assert np.all(np.diff(ordered["probability"].to_numpy()) <= 1e-12)
    assert ordered["rank"].iloc[0] == 1
    # change = this period's probability minus the previous period's (same model)
    history = risk_history(ws, frame["locality_id"].iloc[0])
    prev = history[history["period"] == pd.Timestamp("2021-11-01")]["probability"].iloc[0]
    assert_allclose(frame["change"].iloc[0], frame["probability"].iloc[0] - prev)
    drivers = frame["drivers"].iloc[0]
    assert 0 < len(drivers) <= 5
    assert set(drivers[0]) == {"feature", "label", "contribution", "value", "typical", "text"}
    assert drivers[0]["typical"] is not None  # what the contribution is measured against
    assert drivers[0]["text"][0].isdigit() or drivers[0]["text"].startswith("no ")  # the value, in words
    assert drivers[0]["feature"] in record["features"]
    assert "_" not in drivers[0]["label"]
    assert len(drivers[0]["label"].split()) >= 3
    pd.testing.assert_frame_equal(latest_scores(ws), frame)


def test_risk_history_carries_observed_counts(trained):
    ws, cube, _record = trained
    score(ws)
    history = risk_history(ws, "L00003")
    assert len(history) == 24  # the latest period and the 23 before it (the map's 24-period chart)
    observed = cube["count_intercommunal"].sel(locality="L00003").to_numpy()[-24:]
    assert_allclose(history["count_intercommunal"].to_numpy(), observed)
    assert history["rank"].between(1, 20).all()
    with pytest.raises(NotFoundError):
        risk_history(ws, "nowhere")


def test_nowcast_rescore_without_retraining(trained):
    ws, _cube, record = trained
    before = score(ws).set_index("locality_id")
    cube = load_cube(ws, freq="M", unit="admin2")
    quiet = before["probability"].idxmin()
    for name in cube.data_vars:
        if name.startswith(("count_intercommunal", "decay_count_intercommunal", "roll3_count_intercommunal")):
            values = cube[name].to_numpy().copy()
            values[list(cube["locality"].to_numpy()).index(quiet), -1] += 4
            cube[name] = (cube[name].dims, values)
    save_cube(cube, cube_path(ws, freq="M", unit="admin2"))
    after = score(ws, localities=[quiet]).set_index("locality_id")
    assert list(after.index) == [quiet]
    assert after.loc[quiet, "probability"] > before.loc[quiet, "probability"]
    assert after.loc[quiet, "model_version"] == record["version"]
    assert len(list_models(ws)) == 1
    # the other localities keep their drivers; ranks were recomputed for everyone
    latest = latest_scores(ws).set_index("locality_id")
    other = before.index[before.index != quiet][0]
    assert latest.loc[other, "drivers"] == before.loc[other, "drivers"]
    assert sorted(latest["rank"]) == sorted(
        pd.Series(latest["probability"]).rank(ascending=False, method="min")
    )


def test_back_to_back_rescores_carry_distinct_stamps(trained):
    """The service tells a new nowcast from the last by ``scored_at``: two within a second must differ."""
    ws, _cube, _record = trained
    target = score(ws)["locality_id"].iloc[0]
    stamps = [score(ws, localities=[target])["scored_at"].iloc[0] for _ in range(3)]
    assert len(set(stamps)) == 3, stamps
    assert all(pd.Timestamp(s).tzinfo is not None for s in stamps)
    assert stamps == sorted(stamps)


def test_score_before_train_says_what_to_do(workspace):
    with pytest.raises(NotReadyError, match="sauti train"):
        score(workspace)
    with pytest.raises(NotReadyError, match="sauti train"):
        latest_scores(workspace)


def test_median_contributions_by_hand():
    class Linear:
        def predict_proba(self, X):
            p = 0.1 * X[:, 0] + 0.02 * X[:, 1]
            return np.column_stack([1 - p, p])

    X = np.array([[3.0, 0.0], [0.0, 5.0]])
    contrib = median_contributions(Linear(), X, np.array([0.0, 0.0]))
    assert_allclose(contrib, [[0.3, 0.0], [0.0, 0.1]])
    drivers = top_drivers(contrib, X, ["decay", "alerts"], top=5)
    assert drivers == [
        [{"feature": "decay", "contribution": 0.3, "value": 3.0}],
        [{"feature": "alerts", "contribution": 0.1, "value": 5.0}],
    ]
    json.dumps(drivers)  # plain JSON for the API


def test_a_baseline_trains_and_serves_by_name(trained):
    ws, cube, _record = trained
    record = train(ws, freq="M", unit="admin2", model="neighbourhood")
    assert record["estimator"] == "neighbourhood"
    assert model_name(ws, record["version"]) == "neighbourhood"
    frame = score(ws).set_index("locality_id")
    assert (frame["model_version"] == record["version"]).all()
    # the served ranking is the rule's: own plus neighbours' decayed intercommunal count
    last = cube.isel(period=-1)
    rule = (last["decay_count_intercommunal_hl6"] + last["splag1_decay_count_intercommunal_hl6"]).to_series()
    top = rule.sort_values(ascending=False).index[0]
    assert frame.loc[top, "rank"] == 1
    drivers = {d["feature"] for row in frame["drivers"] for d in row}
    assert drivers <= {"decay_count_intercommunal_hl6", "splag1_decay_count_intercommunal_hl6"}
    with pytest.raises(SautiError, match="cannot be served"):
        train(ws, model="historical_average_12")
    with pytest.raises(SautiError, match="unknown model"):
        train(ws, model="no_such_rule")


def research_model():
    """A researcher's factory (``--model tests.test_scoring:research_model``)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)


def test_a_user_model_round_trips_through_skops_only_when_its_types_are_trusted(trained):
    ws, _cube, _record = trained
    spec = f"{__name__}:research_model"
    record = train(ws, model=spec)  # nothing trusted beyond Sauti's own types
    with pytest.raises(SautiError, match="does not trust"):
        score(ws)
    trusted = (
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    )
    record = train(ws, model=spec, trusted_types=trusted)
    assert record["estimator"] == spec
    assert record["params"]["trusted_types"] == sorted(trusted)
    model = load_model(ws, record)
    assert type(model).__name__ == "RandomForestClassifier"
    frame = score(ws)
    assert (frame["model_version"] == record["version"]).all()
    assert frame["probability"].between(0, 1).all()


def test_cli_train_a_baseline_then_score_serves_it_and_version_names_it(trained, capsys):
    from sauti.api.services.meta import version
    from sauti.api.services.source import DataSource
    from sauti.cli import main
    from sauti.settings import Settings

    ws, _cube, _record = trained
    assert main(["-w", str(ws.root), "train", "--model", "neighbourhood", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["estimator"] == "neighbourhood"
    assert main(["-w", str(ws.root), "score", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert {row["model_version"] for row in scored} == {summary["version"]}
    served = version(DataSource(Workspace(ws.root), Settings(workspace=ws.root)))
    assert served["model_name"] == "neighbourhood"
    assert served["model_version"] == summary["version"]
    assert main(["-w", str(ws.root), "train", "--model", "historical_average_12"]) == 2
    assert "cannot be served" in capsys.readouterr().err


def test_a_cube_read_in_part_keeps_the_values_of_the_whole(trained):
    ws, cube, _record = trained
    part = load_cube(
        ws, freq="M", unit="admin2", variables=["decay_count_violent_hl6", "area_km2"], last_periods=5
    )
    assert set(part.data_vars) == {"decay_count_violent_hl6", "area_km2"}
    assert part.sizes["period"] == 5
    whole = load_cube(ws, freq="M", unit="admin2")
    assert_allclose(
        part["decay_count_violent_hl6"].to_numpy(),
        whole["decay_count_violent_hl6"].isel(period=slice(-5, None)),
    )
    assert_allclose(part["area_km2"].to_numpy(), whole["area_km2"].to_numpy())


@pytest.mark.slow
def test_cli_score_warns_like_status_when_the_incident_data_is_old(sample_workspace, capsys):
    from sauti.cli import main

    assert main(["-w", str(sample_workspace.root), "score", "--top", "3"]) == 0
    captured = capsys.readouterr()
    assert "Bambari" in captured.out  # names, not P-codes
    assert captured.err.startswith("warning: Incident data is old: complete through 30 Dec 2022")
    assert main(["-w", str(sample_workspace.root), "score", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)  # stdout stays JSON; the warning is on stderr
    assert "Incident data is old" in captured.err


def test_time_since_the_last_incident_never_raises_the_risk(trained):
    """A driver's sign reads against the typical locality: more recent than typical raises the risk,
    and quieter for longer never does (the learned members are monotone in time since)."""
    from sauti.models.scoring import _model_view

    ws, _cube, record = trained
    frame = score(ws)
    model = load_model(ws, record)
    predictor, names, reference = _model_view(model, record["features"])
    since = [j for j, n in enumerate(names) if n.startswith("since_")]
    assert since
    for j in since:
        rows = np.tile(reference, (7, 1)).astype(float)
        rows[:, j] = [0, 1, 3, 12, 36, 60, 120]
        p = predictor.predict_proba(rows)[:, 1]
        assert np.all(np.diff(p) <= 1e-12), (names[j], p)
    seen = [d for drivers in frame["drivers"] for d in drivers if d["feature"].startswith("since_")]
    for d in seen:
        if d["value"] < d["typical"]:
            assert d["contribution"] >= 0, d
            assert "since the last" in d["text"]
            assert "typical locality" in d["text"]


# --- a rule served by name is calibrated as in the backtest, and named in plain words (#20 item 12) ----
@pytest.fixture(scope="module")
def rule_served(tmp_path_factory):
    """The neighbourhood rule trained and scored on a synthetic cube without its last period."""
    ws = Workspace(tmp_path_factory.mktemp("rule") / "ws")
    full = synthetic_cube(24, 60, start="2015-01-01", seed=11)
    cube = full.isel(period=slice(0, -1))
    save_cube(cube, cube_path(ws, freq="M", unit="admin2"))
    record = train(ws, freq="M", unit="admin2", model="neighbourhood", cube=cube)
    return ws, full, cube, record, score(ws, cube=cube)


def test_a_served_rule_gives_the_backtests_calibrated_probabilities(rule_served):
    from sauti.models.backtest import backtest_cube

    _ws, full, cube, record, frame = rule_served
    origin = f"{pd.Timestamp(full.period.values[-1]):%Y-%m}"  # trained on every period before it
    result = backtest_cube(
        full, start=origin, end=origin, models=["neighbourhood"], n_boot=5, use_alerts=False
    )
    backtest = result.predictions.query("model == 'neighbourhood'").set_index("locality_id")["probability"]
    served = frame.set_index("locality_id")["probability"]
    assert_allclose(served.sort_index().to_numpy(), backtest.sort_index().to_numpy(), rtol=1e-6)
    raw = (cube["decay_count_intercommunal_hl6"] + cube["splag1_decay_count_intercommunal_hl6"]).isel(
        period=-1
    )
    assert not np.allclose(served.sort_index().to_numpy(), raw.to_series().sort_index().to_numpy())


def test_a_served_rule_expects_as_many_localities_with_an_incident_as_training_saw(rule_served):
    """Calibration in the large: summed over its training window, the served probabilities expect as
    many (locality, period) incidents as there were; the rule's raw scores do not."""
    from sauti.models.panel import panel_frame
    from sauti.models.target import make_target

    ws, _full, cube, record, _frame = rule_served
    features = record["features"]
    table = panel_frame(cube, features, extra={"_target": make_target(cube, 1).to_numpy()})
    labelled = table[np.isfinite(table["_target"].to_numpy())]
    assert len(labelled) == record["training"]["rows"]
    periods = labelled["period"].nunique()
    observed = labelled["_target"].sum() / periods  # localities with an incident per period
    expected = load_model(ws, record).predict_proba(labelled[features])[:, 1].sum() / periods
    assert expected == pytest.approx(observed, rel=0.02)
    raw = (labelled["decay_count_intercommunal_hl6"] + labelled["splag1_decay_count_intercommunal_hl6"]).sum()
    assert raw / periods != pytest.approx(observed, rel=0.5)  # what serving raw scores would claim


def test_the_cli_plan_and_version_name_the_served_rule_in_plain_words(rule_served, capsys):
    from sauti.api.services.meta import version
    from sauti.api.services.source import DataSource
    from sauti.cli import main
    from sauti.settings import Settings

    ws, *_ = rule_served
    words = "the neighbourhood rule (own plus neighbours' mean decayed intercommunal count), calibrated"
    assert main(["-w", str(ws.root), "status"]) == 0
    assert f"model          {words}" in capsys.readouterr().out
    served = version(DataSource(Workspace(ws.root), Settings(workspace=ws.root)))
    assert served["model_name"] == "neighbourhood"
    assert served["model_label"].startswith(words)


@pytest.mark.server
@pytest.mark.slow
def test_the_map_and_the_plan_name_a_served_rule(server, tmp_path):
    """``sauti train --model neighbourhood && sauti score`` on the sample: the map, the plan (API and
    CLI) and ``sauti score`` say which model the risk comes from, in words."""
    from live_server import copy_workspace, sauti, start_server

    ws = copy_workspace(server.workspace, tmp_path / "ws")
    assert sauti("train", "--model", "neighbourhood", workspace=ws).returncode == 0
    scored = sauti("score", workspace=ws)
    assert scored.returncode == 0, scored.stderr
    words = "the neighbourhood rule (own plus neighbours' mean decayed intercommunal count), calibrated"
    assert f"served model: {words}" in scored.stdout
    planned = sauti("patrol", workspace=ws)
    assert planned.returncode == 0, planned.stderr
    assert words in " ".join(planned.stdout.split())
    live = start_server(ws, server.keys)
    try:
        assert f"Risk from {words}" in live.get("/map", "analyst").text.replace("&#39;", "'")
        plan = live.get("/api/v1/patrols/priorities", "planner").json()
        assert plan["summary"]["model"].startswith(words)
    finally:
        live.stop()
