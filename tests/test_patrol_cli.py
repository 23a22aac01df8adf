"""``sauti patrol`` end to end: errors in one line, stored bases, and a real plan on the scored sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sauti.cli import main
from sauti.models.patrol import read_bases, workspace_bases
from sauti.store import Workspace


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
def scored_workspace(sample_workspace: Workspace) -> Path:
    """A copy of the sample workspace: monthly admin2 cube with population, trained and scored."""
    return sample_workspace.root


@pytest.mark.slow
def test_plan_on_the_scored_sample_writes_geojson_csv_and_a_table(
    scored_workspace: Path, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, csv = tmp_path / "plan.geojson", tmp_path / "plan.csv"
    args = ["-w", str(scored_workspace), "patrol", "--bases", str(sample_dir / "bases.geojson")]
    code = main([*args, "--patrols", "2", "--range-km", "150", "--out", str(out), "--csv", str(csv)])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0
    assert "Patrol priorities" in printed
    # the sample's incidents end in December 2022: the plan is flagged as status/score flag it
    assert captured.err.startswith("warning: Incident data is old: complete through 30 Dec 2022")
    assert "gap" in printed
    # planner terms: the forecast period (the month after the last data), the model, the headline
    served = "the Sauti model (calibrated rules and a learned model, combined), version m"  # in words
    assert f"Forecast for January 2023 (2023-01-01 to 2023-01-31; {served}" in " ".join(printed.split())
    assert "Expected localities with an incident covered: " in printed
    assert "covered risk" not in printed
    collection = json.loads(out.read_text(encoding="utf-8"))
    summary = collection["summary"]
    assert summary["status"] == "optimal"
    assert summary["period"] == "2022-12-01"
    assert summary["forecast_period"] == {"label": "January 2023", "start": "2023-01-01", "end": "2023-01-31"}
    assert summary["model_version"].startswith("m")
    np.testing.assert_allclose(
        summary["expected_localities_covered"],
        sum(f["properties"]["risk"] for f in collection["features"] if f["properties"]["kind"] == "target"),
    )
    assert summary["warnings"] == []  # the sample's bases all lie inside CAR
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
    # the coarse raster is said, with the figure a planner would otherwise take at face value
    assert any(
        "1 of 72 localities is smaller than one cell (smallest: Bangui, 66 km², 72,533 people)" in w
        for w in weighted["warnings"]
    ), weighted["warnings"]
    # weights are persons (tens of thousands per sous-préfecture): covered "risk" becomes expected persons
    assert weighted["covered_risk"] > 100 * plain["covered_risk"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


@pytest.mark.slow
def test_patrol_csv_escapes_base_names_that_look_like_formulas(
    scored_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sauti patrol --csv`` never writes a cell a spreadsheet would run (issue #12)."""
    import csv as csv_module

    hostile = ['=HYPERLINK("http://x.invalid","go")', "+Bangui", "-Bimbo", "@Bossangoa"]
    places = [(18.56, 4.36), (18.52, 4.33), (17.45, 6.49), (20.67, 5.76)]
    bases = tmp_path / "bases.csv"
    bases.write_text(
        "name,longitude,latitude,patrols,range_km\n"
        + "".join(
            f'"{n.replace(chr(34), chr(34) * 2)}",{x},{y},2,150\n'
            for n, (x, y) in zip(hostile, places, strict=True)
        )
    )
    out = tmp_path / "plan.csv"
    code = main(["-w", str(scored_workspace), "patrol", "--bases", str(bases), "--csv", str(out)])
    capsys.readouterr()
    assert code == 0
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv_module.reader(handle))
    assert len(rows) > 4
    header, body = rows[0], rows[1:]
    assert {row[header.index("base")] for row in body} == {"'" + n for n in hostile}
    for row in body:
        for column, cell in zip(header, row, strict=True):
            if column not in ("risk", "weight", "value", "distance_km", "rank"):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)


@pytest.mark.slow
def test_a_base_in_cameroon_is_reported_not_planned_silently(
    scored_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bases = tmp_path / "bases.csv"
    # Garoua-Boulaï (Cameroon), a few km west of the border, and Bouar inside CAR
    bases.write_text(
        "name,longitude,latitude,patrols,range_km\nGaroua-Boulaï,14.40,5.88,3,150\nBouar,15.60,5.93,2,100\n"
    )
    code = main(["-w", str(scored_workspace), "patrol", "--bases", str(bases)])
    printed = capsys.readouterr().out
    assert code == 0
    flat = " ".join(printed.split())
    assert (
        "Warning: Base Garoua-Boulaï lies outside the workspace's boundaries (11 km from the nearest" in flat
    )
    assert "its 3 patrols would cross the border into Central African Republic to reach" in flat
    assert "Warning: Base Bouar" not in flat


def test_patrol_eval_on_backtest_style_predictions(
    scored_workspace: Path, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sauti.features import load_cube
    from sauti.models.patrol.evaluate import evaluate_patrol_plans, observed_counts

    workspace = Workspace(scored_workspace)
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
    args = ["-w", str(scored_workspace), "patrol-eval", "--predictions", str(predictions)]
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
    # plans by their names in words, never the result's keys
    for label in (
        "Optimised (Sauti risk)",
        "Closest to base",
        "Last period's incidents",
        "Hindsight (ceiling)",
    ):
        assert label in printed
    assert "_" not in printed
    assert png.read_bytes()[:4] == b"\x89PNG"
