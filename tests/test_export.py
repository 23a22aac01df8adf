"""``sauti export``: files people share hold what the API serves the role, and never a reporter.

Runs on a copy of the live server's demo workspace (real scores, drivers and synthetic alerts whose
reporters' numbers and names are known), through the CLI, and reads the files back with GDAL's
``ogrinfo``, pyogrio and the csv module.
"""

from __future__ import annotations

import csv
import json
import struct
import subprocess
from pathlib import Path

import pyogrio
import pytest
from live_server import copy_workspace
from test_privacy import find

from sauti.api.services.redaction import generalised_points
from sauti.cli import main
from sauti.ingest.alerts import submit_alerts
from sauti.ingest.alerts.synthetic import reporter_pool
from sauti.store import Workspace

pytestmark = [pytest.mark.server, pytest.mark.slow]
COLLECTIONS = ("localities", "incidents", "alerts")
FORMATS = ("gpkg", "geojson", "csv")
ROLES = ("planner", "analyst")
FORMULAS = ('=HYPERLINK("http://example.invalid","x")', "+SUM(1,2)", "-2+3", "@cmd", "\tTabbed", "\rReturn")


@pytest.fixture(scope="module")
def workspace(server, tmp_path_factory) -> Workspace:
    """A copy of the demo workspace, with names and an alert a spreadsheet would run as formulas."""
    root = tmp_path_factory.mktemp("export") / "ws"
    ws = Workspace(copy_workspace(server.workspace, root))
    ids = ws.localities("admin2")["locality_id"].sort_values().tolist()[: len(FORMULAS)]
    with ws.session() as con:
        con.executemany(
            "UPDATE localities SET name = ? WHERE locality_id = ?", list(zip(FORMULAS, ids, strict=True))
        )
    outcome = submit_alerts(ws, [{"text": FORMULAS[0], "place_name": "Bambari"}], source="export-test")
    assert outcome[0].status == "accepted"
    return ws


@pytest.fixture(scope="module")
def exports(workspace) -> dict[tuple[str, str, str], Path]:
    """Every collection × format × role, written by the CLI."""
    out = {}
    for collection in COLLECTIONS:
        for fmt in FORMATS:
            for role in ROLES:
                path = workspace.root.parent / "out" / f"{collection}-{role}.{fmt}"
                code = main(
                    ["-w", str(workspace.root), "export", collection, "--format", fmt, "--out", str(path)]
                    + ["--role", role]
                )
                assert code == 0, (collection, fmt, role)
                out[(collection, fmt, role)] = path
    return out


def test_geopackage_of_localities_lists_risk_label_and_drivers_in_ogrinfo(exports):
    path = exports[("localities", "gpkg", "planner")]
    done = subprocess.run(
        ["ogrinfo", "-so", str(path), "localities"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr  # a GeoPackage version GDAL 3.6 (QGIS LTR) reads without a word
    assert "Feature Count: 72" in done.stdout
    for field in ("risk: Real", "label: String", "name: String", "driver_1_label: String"):
        assert field in done.stdout
    assert "driver_1_contribution: Real" in done.stdout
    frame = pyogrio.read_dataframe(path)
    top = frame.sort_values("rank").iloc[0]
    assert top["label"] == f"{top['name']}: {top['risk']:.1%} risk, rank 1 of 72"
    # drivers in plain words from the glossary, never the model's internal names
    for label in frame[["driver_1_label", "driver_2_label", "driver_3_label"]].stack():
        assert "_" not in label
        assert len(label.split()) >= 3


def test_every_format_holds_the_same_features(exports):
    for collection in COLLECTIONS:
        for role in ROLES:
            gpkg = pyogrio.read_dataframe(exports[(collection, "gpkg", role)])
            geojson = pyogrio.read_dataframe(exports[(collection, "geojson", role)])
            with open(exports[(collection, "csv", role)], newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            assert len(gpkg) == len(geojson) == len(rows) > 0, (collection, role)


def test_alerts_follow_the_role_as_the_api_does(exports, workspace):
    planner = pyogrio.read_dataframe(exports[("alerts", "gpkg", "planner")])
    analyst = pyogrio.read_dataframe(exports[("alerts", "gpkg", "analyst")])
    # planners: counts per locality, no alert, no text
    assert {"text", "alert_id", "reporter_ref"}.isdisjoint(planner.columns)
    assert planner["count"].sum() == workspace.alerts()["locality_id"].notna().sum()
    # analysts: each located alert with its scrubbed text, never the reporter pseudonym
    assert "reporter_ref" not in analyst.columns
    assert analyst["text"].str.len().gt(0).any()
    assert len(analyst) == workspace.alerts()["locality_id"].notna().sum()
    # placed at their locality's representative point, not where they were reported
    served = generalised_points(analyst, workspace.localities())
    for lid, x, y in zip(analyst["locality_id"], analyst.geometry.x, analyst.geometry.y, strict=True):
        assert (round(x, 5), round(y, 5)) == served[lid]


def _points(path: Path) -> set[tuple[float, float]]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return {
                (round(float(r["longitude"]), 5), round(float(r["latitude"]), 5))
                for r in csv.DictReader(handle)
            }
    frame = pyogrio.read_dataframe(path)
    return set(zip(frame.geometry.x.round(5), frame.geometry.y.round(5), strict=True))


def test_no_reporter_number_name_or_position_in_any_export(exports, workspace):
    pool = reporter_pool()
    stored = workspace.alerts().dropna(subset=["longitude", "latitude"])
    assert len(stored) > 100  # the synthetic alerts carry exact positions in the store
    exact = set(zip(stored["longitude"].round(5), stored["latitude"].round(5), strict=True))
    raw = {struct.pack("<dd", x, y) for x, y in zip(stored["longitude"], stored["latitude"], strict=True)}
    for key, path in exports.items():
        data = path.read_bytes()
        assert find(data, pool) == [], key
        assert b"reporter_ref" not in data, key
        if key[0] == "alerts":
            assert not _points(path) & exact, key  # no alert where it was reported
            assert not [pair for pair in raw if pair in data], key  # nor the stored doubles (GeoPackage WKB)
    # positive control: the analyst's alert file does hold the alerts' texts to scan
    with open(exports[("alerts", "csv", "analyst")], newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert sum(len(t) for t in texts) > 10_000


def test_csv_cells_a_spreadsheet_would_run_are_escaped(exports):
    with open(exports[("localities", "csv", "planner")], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = {row["name"] for row in rows}
    for formula in FORMULAS:
        assert "'" + formula in names, formula
        assert formula not in names
    assert any(row["change"].startswith("-") for row in rows)  # numbers stay numbers
    with open(exports[("alerts", "csv", "analyst")], newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert "'" + FORMULAS[0] in texts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "alerts", "--out", "x.gpkg", "--role", "reporter"], "may not read alerts"),
        (["export", "alerts", "--format", "kml", "--out", "x.kml"], "--format must be one of gpkg"),
        (["export", "alerts", "--out", "x.kml"], "from its name: pass --format gpkg|geojson|csv"),
        (["export", "users", "--out", "x.gpkg"], "cannot export 'users'"),
        (["export", "alerts", "--out", "x.gpkg", "--role", "chief"], "--role must be one of"),
    ],
    ids=["reporter-reads-nothing", "bad-format", "unknown-suffix", "bad-collection", "bad-role"],
)
def test_export_errors_are_one_line(workspace, tmp_path, capsys, args, message):
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    code = main(["-w", str(workspace.root), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_format_follows_the_file_name(workspace, tmp_path):
    path = tmp_path / "incidents.geojson"
    assert main(["-w", str(workspace.root), "export", "incidents", "--out", str(path)]) == 0
    collection = json.loads(path.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(pyogrio.read_dataframe(path)) > 1000


def test_the_summary_line_says_a_planners_alerts_are_counts_per_locality(workspace, tmp_path, capsys):
    out = tmp_path / "alerts.csv"
    assert main(["-w", str(workspace.root), "export", "alerts", "--out", str(out), "--role", "planner"]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"alert counts for {len(rows)} localities (no alert text) as a planner sees them")
    assert main(["-w", str(workspace.root), "export", "alerts", "--out", str(out), "--role", "analyst"]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        alerts = list(csv.DictReader(handle))
    assert capsys.readouterr().out.startswith(f"{len(alerts)} alerts as an analyst sees them")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("collection", ["alerts", "incidents"])
def test_what_a_file_leaves_out_is_said_and_counted(workspace, tmp_path, capsys, collection, role):
    """Alerts without a resolved locality and region-precision incidents have no point to export."""
    out = tmp_path / f"{collection}.geojson"
    args = ["-w", str(workspace.root), "export", collection, "--out", str(out), "--role", role]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    in_file = sum(f["properties"].get("count", 1) for f in features)
    stored = len(workspace.alerts() if collection == "alerts" else workspace.incidents())
    assert summary["left_out"] == stored - in_file > 0  # the sample has unresolved alerts and region events
    assert main(args) == 0
    note = capsys.readouterr().out.splitlines()[-1]
    assert note.startswith(f"note: {stored - in_file} stored {collection} not in the file")
