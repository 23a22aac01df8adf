"""The UCDP GED reader on the real CAR file: categories, the actor-list rule, rules files, precisions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sauti.ingest.incidents import detect_format, ingest_incidents

GED = "ucdp_ged_v23_1_CAF.geojson"
RULES = Path(__file__).resolve().parents[1] / "ingest" / "ucdp_rules.yaml"


@pytest.fixture(scope="module")
def ged(shared_data) -> pd.DataFrame:
    """The GED properties with the point coordinates, as UCDP wrote them."""
    payload = json.loads((shared_data / "events" / GED).read_text(encoding="utf-8"))
    rows = []
    for feature in payload["features"]:
        props = dict(feature["properties"])
        props["longitude"], props["latitude"] = feature["geometry"]["coordinates"]
        rows.append(props)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def identity_ids(shared_data) -> set[int]:
    actors = pd.read_csv(shared_data / "reference" / "ucdp_actor_list_v22_1.csv", encoding="utf-8-sig")
    return set(actors.loc[actors["Org"] == 3, "ActorId"].astype(int))


def _write_rules(tmp_path: Path, **changes) -> Path:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules["intercommunal"].update(changes)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def _stored_by_id(ws) -> pd.DataFrame:
    stored = ws.incidents()
    stored["id"] = stored["event_id"].str.removeprefix("ucdp:").astype(int)
    return stored.set_index("id").sort_index()


def test_every_real_event_is_stored(workspace, shared_data, ged):
    path = shared_data / "events" / GED
    assert detect_format(path) == "ucdp-ged"
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (len(ged), len(ged), 0, 0)
    assert len(ged) == 1848
    stored = _stored_by_id(workspace)
    assert list(stored.index) == sorted(ged["id"])
    src = ged.set_index("id").sort_index()
    assert (stored["fatalities"] == src["best"]).all()
    assert (stored["occurred_on"] == pd.to_datetime(src["date_start"]).dt.normalize()).all()


def test_categories_follow_violence_type_and_actor_rules(workspace, shared_data, ged, identity_ids):
    ingest_incidents(workspace, shared_data / "events" / GED)
    stored = _stored_by_id(workspace)
    src = ged.set_index("id").sort_index()
    tov = src["type_of_violence"]
    category = stored["category"]
    # state-based violence is never intercommunal; one-sided is, only with an identity-group side
    assert set(category[tov == 1]) == {"armed_clash"}
    identity_side = src["side_a_new_id"].isin(identity_ids) | src["side_b_new_id"].isin(identity_ids)
    one_sided = tov == 3
    assert (category[one_sided & identity_side] == "intercommunal").all()
    assert (category[one_sided & ~identity_side] == "violence_against_civilians").all()
    # the README's anchor: the "Christians (CAR) - Muslims (CAR)" dyad is entirely intercommunal
    christians_muslims = src["dyad_name"] == "Christians (CAR) - Muslims (CAR)"
    assert christians_muslims.sum() == 111
    assert (category[christians_muslims] == "intercommunal").all()
    # non-state events between communally recruited armed groups (rule 2) are intercommunal too
    assert (
        category[(tov == 2) & src["dyad_name"].str.contains("anti-Balaka - UPC", regex=False)]
        == "intercommunal"
    ).all()
    assert set(category) <= {"intercommunal", "armed_clash", "violence_against_civilians"}


def test_an_event_with_an_org3_side_is_intercommunal_with_the_actor_rule_alone(
    workspace, tmp_path, shared_data, ged, identity_ids
):
    rules = _write_rules(tmp_path, communal_armed_groups=[])
    ingest_incidents(workspace, shared_data / "events" / GED, rules=rules)
    stored = _stored_by_id(workspace)
    src = ged.set_index("id").sort_index()
    identity_side = src["side_a_new_id"].isin(identity_ids) | src["side_b_new_id"].isin(identity_ids)
    expected = identity_side & src["type_of_violence"].isin([2, 3])
    pd.testing.assert_series_equal(stored["category"] == "intercommunal", expected, check_names=False)
    assert expected.sum() > 100


def test_rules_file_switching_the_rules_off_leaves_violence_types(workspace, tmp_path, shared_data, ged):
    rules = _write_rules(tmp_path, identity_org_codes=[], communal_armed_groups=[])
    ingest_incidents(workspace, shared_data / "events" / GED, rules=rules)
    stored = _stored_by_id(workspace)
    tov = ged.set_index("id").sort_index()["type_of_violence"]
    expected = tov.map({1: "armed_clash", 2: "armed_clash", 3: "violence_against_civilians"})
    pd.testing.assert_series_equal(stored["category"], expected, check_names=False)


def test_rules_file_changes_the_result_through_the_cli(tmp_path, shared_data, ged):
    from sauti.cli import main
    from sauti.store import Workspace

    rules = _write_rules(tmp_path, identity_org_codes=[], communal_armed_groups=[])
    path = str(shared_data / "events" / GED)
    default_ws, ruled_ws = tmp_path / "default", tmp_path / "ruled"
    assert main(["--workspace", str(default_ws), "ingest", "incidents", path, "--json"]) == 0
    assert (
        main(["--workspace", str(ruled_ws), "ingest", "incidents", path, "--rules", str(rules), "--json"])
        == 0
    )
    default = Workspace(default_ws).status()["incidents_by_category"]
    ruled = Workspace(ruled_ws).status()["incidents_by_category"]
    assert "intercommunal" not in ruled
    assert default["intercommunal"] > 0
    assert sum(default.values()) == sum(ruled.values()) == len(ged)


def test_location_precision_follows_where_prec_and_never_invents_a_point(workspace, shared_data, ged):
    ingest_incidents(workspace, shared_data / "events" / GED)
    stored = _stored_by_id(workspace)
    src = ged.set_index("id").sort_index()
    by_where_prec = {
        1: "point",
        2: "point",
        3: "locality",
        4: "region",
        5: "region",
        6: "country",
        7: "country",
    }
    expected = src["where_prec"].map(by_where_prec)
    no_adm2 = src["adm_2"].fillna("").str.strip() == ""
    assert no_adm2.sum() > 0
    expected[no_adm2 & expected.isin(["point", "locality"])] = "region"
    pd.testing.assert_series_equal(stored["location_precision"], expected, check_names=False)
    # empty adm_2: never finer than region
    assert set(stored.loc[no_adm2, "location_precision"]) <= {"region", "country"}
    by_date_prec = {1: "day", 2: "week", 3: "week", 4: "month", 5: "year"}
    pd.testing.assert_series_equal(
        stored["date_precision"], src["date_prec"].map(by_date_prec), check_names=False
    )


def test_csv_export_gives_the_same_incidents_as_geojson(workspace, tmp_path, shared_data, ged):
    from sauti.store import Workspace

    csv = tmp_path / "ged_caf.csv"
    ged.to_csv(csv, index=False)
    assert detect_format(csv) == "ucdp-ged"
    report = ingest_incidents(workspace, csv)
    assert report.accepted == len(ged)
    geojson_ws = Workspace(tmp_path / "from_geojson")
    ingest_incidents(geojson_ws, shared_data / "events" / GED)
    from_csv = workspace.incidents().drop(columns="run_id")
    from_geojson = geojson_ws.incidents().drop(columns="run_id")
    pd.testing.assert_frame_equal(from_csv, from_geojson)


def test_targets_table_cross_checks_south_sudan_deaths(shared_data):
    """The derived SSD county-month table is a count table, not an incident log: read as a cross-check."""
    path = shared_data / "targets" / "ucdp_ged231_SSD_county_month_best_fatalities_2011-08_2022-12.csv"
    table = pd.read_csv(path, index_col=0, parse_dates=True)
    assert table.index.min() == pd.Timestamp("2011-08-31")
    assert table.index.max() == pd.Timestamp("2022-12-31")
    assert (table.index == table.index + pd.offsets.MonthEnd(0)).all()  # month-end dates
    assert (table.fillna(0).to_numpy() >= 0).all()
    import pyogrio

    boundaries = pyogrio.read_dataframe(
        shared_data / "boundaries" / "SSD" / "ocha_codab_ssd_adm2.shp", read_geometry=False
    )
    counties = set(boundaries["ADM2_EN"])
    # columns are named by ADM2_EN; three counties are absent (Manyo, Ulang, Luakpiny/Nasir)
    assert set(table.columns) <= counties
    assert counties - set(table.columns) >= {"Manyo", "Ulang", "Luakpiny/Nasir"}
