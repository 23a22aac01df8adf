"""A mission in another country, end to end through the CLI, with no column hints.

South Sudan's counties as GADM 3.6 ships them (TopoJSON, no CRS; built from the real OCHA file) and a
made-up ACLED export over them go through ingest, features, train, score and a patrol plan; what
people read names the counties, not GADM's codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import boundary_fixtures
import pytest
import rasterio

from sauti.cli import main
from sauti.models import latest_scores
from sauti.store import Workspace

POPULATION = "population/afripop2020_worldpop_20km_africa.tif"
BASES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": name, "patrols": 2, "range_km": 250},
            "geometry": {"type": "Point", "coordinates": xy},
        }
        for name, xy in (("Juba", [31.58, 4.85]), ("Malakal", [31.66, 9.53]), ("Wau", [28.0, 7.7]))
    ],
}


def _run(capsys, *args: str) -> str:
    code = main(list(args))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.slow
def test_south_sudan_from_gadm_and_acled_to_a_patrol_plan(tmp_path: Path, shared_data: Path, capsys) -> None:
    counties = boundary_fixtures.ssd_ocha(shared_data)
    names = set(counties["name2"])
    boundaries = boundary_fixtures.gadm36_topojson(shared_data, tmp_path)
    events = boundary_fixtures.acled_export(counties, tmp_path / "acled_ssd.csv", months=36)
    ws = ["--workspace", str(tmp_path / "ws")]

    out = _run(capsys, *ws, "ingest", "boundaries", str(boundaries), "--level", "admin2")
    assert "accepted 79" in out
    assert "schema: GADM 3.6 / 4.1" in out
    summary = json.loads(_run(capsys, *ws, "ingest", "incidents", str(events), "--json"))
    assert summary["accepted"] == summary["read"] == 432
    population = str(shared_data / POPULATION)
    out = _run(capsys, *ws, "features", "--population", population, "--no-report")
    assert "79 localities × 36 periods" in out
    _run(capsys, *ws, "train")

    scores = _run(capsys, *ws, "score", "--top", "10").splitlines()
    rows = scores[2:]
    assert len(rows) == 10
    for line in rows:
        assert "SSD." not in line, "a GADM code reached the scores table"
    printed = [line[6:30].strip() for line in rows]
    assert set(printed) <= names
    assert len(set(printed)) == 10

    # the heatmap as probabilities: its tags say so and its top value is the top locality's risk
    heat = json.loads(
        _run(capsys, *ws, "heatmap", "--out", str(tmp_path / "p.tif"), "--values", "probability", "--json")
    )
    assert heat["units"] == "probability (0-1)"
    assert heat["crs"].startswith("EPSG:32636")  # South Sudan spans 24-36° E: its centre is in UTM zone 36 N
    with rasterio.open(tmp_path / "p.tif") as src:
        assert src.tags()["quantity"] == "probability"
        top = float(src.read(1, masked=True).max())
    highest = latest_scores(Workspace(tmp_path / "ws"))["probability"].max()
    assert top == pytest.approx(highest, rel=1e-6)  # float32 in the file

    bases = tmp_path / "bases.geojson"
    bases.write_text(json.dumps(BASES))
    plan_file = tmp_path / "plan.geojson"
    plan = json.loads(_run(capsys, *ws, "patrol", "--bases", str(bases), "--out", str(plan_file), "--json"))
    assert plan["status"] == "optimal"
    assert plan["localities_covered"] == plan["patrols_used"] == 6
    targets = [f["properties"] for f in json.loads(plan_file.read_text())["features"]]
    targets = [t for t in targets if t["kind"] == "target"]
    assert len(targets) == 6
    assert {t["name"] for t in targets} <= names
    # the plan goes where the model puts the risk: its targets are among the highest-ranked counties
    assert len({t["name"] for t in targets} & set(printed)) >= 4


@pytest.mark.parametrize(
    ("boundaries", "uses_sample"),
    [(boundary_fixtures.SSD, False), (boundary_fixtures.CAF, True)],
    ids=["south-sudan", "car"],
)
def test_the_sample_population_is_a_default_only_where_it_covers_the_localities(
    workspace, shared_data, monkeypatch, boundaries, uses_sample
):
    """The sample's CAR raster would give South Sudan a population of 0 everywhere, silently."""
    from sauti.cli.features_cmd import SAMPLE_POPULATION, _default_population
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.settings import get_settings

    monkeypatch.delenv("SAUTI_POPULATION", raising=False)
    get_settings.cache_clear()
    ingest_boundaries(workspace, shared_data / boundaries.format(n=2), "admin2")
    assert _default_population(workspace, None) == (SAMPLE_POPULATION if uses_sample else None)
    given = shared_data / POPULATION
    assert _default_population(workspace, given) == given
