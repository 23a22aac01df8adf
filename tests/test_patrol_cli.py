"""``sauti patrol`` end to end: errors in one line, stored bases, and a real plan on the scored sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sauti.models.patrol import read_bases, workspace_bases

from sauti.cli import main
from sauti.store import Workspace


def _ingest_sample(root: Path, sample_dir: Path) -> None:
    for path, level in (("caf_adm0.gpkg", "admin0"), ("caf_adm2.gpkg", "admin2")):
        code = main(
            ["-w", str(root), "ingest", "boundaries", str(sample_dir / "boundaries" / path), "--level", level]
        )
        assert code == 0
    events = sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson"
    assert main(["-w", str(root), "ingest", "incidents", str(events)]) == 0


def test_without_scores_the_command_says_to_score_first(
    tmp_path: Path, sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ws"
    code = main(["-w", str(root), "patrol", "--bases", str(sample_dir / "bases.geojson"), "--save-bases"])
    err = capsys.readouterr().err
    assert code == 2
    assert "run `sauti train` first" in err or "run `sauti score` first" in err
    assert "Traceback" not in err
    # --save-bases stored them before planning failed, so the API can plan later
    assert workspace_bases(Workspace(root))["name"].iloc[0] == "Bangui"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bases", "missing.geojson"], "missing.geojson: file not found"),
        (["--save-bases"], "--save-bases needs --bases FILE"),
        ([], "no patrol bases in the workspace"),
        (["--bases", "SAMPLE", "--no-go", "nowhere.gpkg"], "nowhere.gpkg: no-go file not found"),
    ],
    ids=["missing-bases-file", "save-without-file", "no-stored-bases", "missing-no-go"],
)
def test_input_errors_exit_2_with_one_line(
    tmp_path: Path, sample_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    args = [str(sample_dir / "bases.geojson") if a == "SAMPLE" else a for a in args]
    code = main(["-w", str(tmp_path / "ws"), "patrol", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def featured_workspace(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The sample ingested with its monthly admin2 feature cube (with population)."""
    root = tmp_path_factory.mktemp("featured") / "ws"
    _ingest_sample(root, sample_dir)
    from sauti.features import compute_features

    raster = sample_dir / "population" / "worldpop2020_density_caf.tif"
    compute_features(Workspace(root), freq="M", unit="admin2", population=raster)
    return root


@pytest.fixture(scope="module")
def scored_workspace(featured_workspace: Path) -> Path:
    """The featured sample, trained and scored."""
    from sauti.models import score, train

    root = featured_workspace
    workspace = Workspace(root)
    train(workspace, freq="M", unit="admin2")
    score(workspace)
    return root


@pytest.mark.slow
def test_plan_on_the_scored_sample_writes_geojson_csv_and_a_table(
    scored_workspace: Path, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, csv = tmp_path / "plan.geojson", tmp_path / "plan.csv"
    args = ["-w", str(scored_workspace), "patrol", "--bases", str(sample_dir / "bases.geojson")]
    code = main([*args, "--patrols", "2", "--range-km", "150", "--out", str(out), "--csv", str(csv)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Patrol priorities" in printed
    assert "gap" in printed
    collection = json.loads(out.read_text(encoding="utf-8"))
    summary = collection["summary"]
    assert summary["status"] == "optimal"
    assert summary["patrols_available"] == 20
    targets = [f for f in collection["features"] if f["properties"]["kind"] == "target"]
    assert len(targets) == summary["patrols_used"] <= 20
    table = pd.read_csv(csv)
    assert len(table) == len(targets)
    assert (table["distance_km"] <= 150).all()
    assert table.groupby("base").size().max() <= 2
    assert table["drivers"].notna().all()  # every target says why
    code = main([*args, "--patrols", "2", "--range-km", "150", "--json", "--method", "greedy"])
    greedy = json.loads(capsys.readouterr().out)
    assert code == 0
    assert greedy["status"] == "greedy"
    assert greedy["covered_risk"] <= summary["covered_risk"] + 1e-9


@pytest.mark.slow
def test_population_weight_and_png_map(
    scored_workspace: Path, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "plan.png"
    args = ["-w", str(scored_workspace), "patrol", "--bases", str(sample_dir / "bases.geojson"), "--json"]
    assert main([*args, "--patrols", "1", "--range-km", "300"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--patrols", "1", "--range-km", "300", "--population-weight", "--png", str(png)]) == 0
    weighted = json.loads(capsys.readouterr().out)
    # weights are persons (tens of thousands per sous-préfecture): covered "risk" becomes expected persons
    assert weighted["covered_risk"] > 100 * plain["covered_risk"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


def test_patrol_eval_on_backtest_style_predictions(
    featured_workspace: Path, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sauti.features import load_cube
    from sauti.models.patrol.evaluate import evaluate_patrol_plans, observed_counts

    workspace = Workspace(featured_workspace)
    cube = load_cube(workspace, freq="M", unit="admin2")
    counts = observed_counts(cube)
    # conservation: the non-zero rows hold every intercommunal incident the cube counted
    np.testing.assert_allclose(counts["count"].sum(), np.nansum(cube["count_intercommunal"].to_numpy()))
    # predictions in run_backtest's shape for 2017 (origin = period, h = 1): risk = last year's count
    periods = pd.date_range("2017-01-01", "2017-12-01", freq="MS")
    ids = cube["locality"].to_numpy().astype(str)
    rows = []
    for period in periods:
        past = counts[(counts["period"] < period) & (counts["period"] >= period - pd.DateOffset(years=1))]
        prior = past.groupby("locality_id")["count"].sum()
        for loc in ids:
            rows.append(
                {
                    "origin": period,
                    "period": period,
                    "locality_id": loc,
                    "model": "sauti",
                    "probability": float(prior.get(loc, 0.0)) / 10 + 0.001,
                }
            )
    predictions = tmp_path / "predictions.csv"
    pd.DataFrame(rows).assign(observed=0).to_csv(predictions, index=False)
    out, png = tmp_path / "patrol.json", tmp_path / "patrol.png"
    args = ["-w", str(featured_workspace), "patrol-eval", "--predictions", str(predictions)]
    args += ["--bases", str(sample_dir / "bases.geojson"), "--out", str(out), "--png", str(png)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    direct = evaluate_patrol_plans(
        pd.read_csv(predictions, dtype={"locality_id": str}),
        workspace.localities("admin2"),
        read_bases(sample_dir / "bases.geojson"),
        patrols=None,
        range_km=None,
        incidents_observed=counts,
    )
    in_2017 = counts[counts["period"].dt.year == 2017]["count"].sum()
    assert result["n_incidents"] == direct["n_incidents"] == in_2017 > 0
    assert result["optimised"]["patrol_hit_rate"] == pytest.approx(direct["optimised"]["patrol_hit_rate"])
    assert result["oracle"]["patrol_hit_rate"] >= max(
        result[p]["patrol_hit_rate"] for p in ("optimised", "closest_to_base", "last_incidents")
    )
    assert f"{in_2017:.0f} incidents over 12 origins" in printed
    assert png.read_bytes()[:4] == b"\x89PNG"
