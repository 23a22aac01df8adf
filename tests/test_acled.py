"""The ACLED reader: both schemas (made-up CAR rows), the inter = 4 rule, precisions and rules files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sauti.ingest.errors import IngestError
from sauti.ingest.incidents import detect_format, ingest_incidents
from sauti.ingest.readers import acled
from sauti.store import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
CURRENT = FIXTURES / "acled_current.csv"
REALTIME = FIXTURES / "acled_realtime.csv"

# What each made-up row must become: the fixtures are invented so these follow from ACLED's
# documented codes (inter 4 = identity militia; geo_precision 1/2/3; time_precision 1/2/3).
EXPECTED_CURRENT = pd.DataFrame(
    {
        "event_id": [
            "acled:CAF9001",
            "acled:CAF9002",
            "acled:CAF9003",
            "acled:CAF9004",
            "acled:CAF9005",
            "acled:CAF9006",
        ],
        "occurred_on": pd.to_datetime(
            ["2022-12-06", "2022-12-07", "2022-12-08", "2022-12-09", "2022-12-10", "2022-12-11"]
        ),
        "date_precision": ["day", "day", "week", "day", "month", "day"],
        "location_precision": ["point", "point", "locality", "region", "locality", "point"],
        # CAF9001: a Battle, but inter2 = 4 (anti-Balaka coded as identity militia) → intercommunal
        # CAF9005: a Strategic development with inter1 = 4 → intercommunal
        "category": [
            "intercommunal",
            "violence_against_civilians",
            "riot_protest",
            "explosive_remote",
            "intercommunal",
            "riot_protest",
        ],
        "fatalities": [3, 1, 0, 2, 0, 1],
    }
)
EXPECTED_REALTIME = pd.DataFrame(
    {
        "event_id": ["acled:CEN9102", "acled:CEN9101", "acled:CEN9103", "acled:CEN9104", "acled:CEN9105"],
        "occurred_on": pd.to_datetime(["2014-03-17", "2014-12-05", "2015-02-01", "2016-06-23", "2016-09-30"]),
        "date_precision": ["day", "day", "week", "day", "month"],
        "location_precision": ["locality", "point", "point", "point", "region"],
        "category": ["intercommunal", "armed_clash", "riot_protest", "explosive_remote", "other"],
        "fatalities": [6, 4, 0, 1, 0],
    }
)
COMPARED = list(EXPECTED_CURRENT.columns)


def _stored(ws: Workspace) -> pd.DataFrame:
    frame = ws.incidents()
    return frame[COMPARED].sort_values("event_id").reset_index(drop=True)


@pytest.mark.parametrize(
    ("path", "expected"),
    [(CURRENT, EXPECTED_CURRENT), (REALTIME, EXPECTED_REALTIME)],
    ids=["current-lowercase", "realtime-uppercase"],
)
def test_both_schemas_are_read_to_the_canonical_incident(workspace, path, expected):
    assert detect_format(path) == "acled"
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (
        len(expected),
        len(expected),
        0,
        0,
    )
    pd.testing.assert_frame_equal(
        _stored(workspace), expected.sort_values("event_id").reset_index(drop=True), check_dtype=False
    )
    stored = workspace.incidents()
    assert set(stored["source"]) == {"acled"}
    assert stored["text"].str.contains("test fixture").all()


def test_text_fields_and_source_category_are_kept(workspace):
    ingest_incidents(workspace, CURRENT)
    row = workspace.incidents().set_index("event_id").loc["acled:CAF9004"]
    assert row["source_category"] == "Explosions/Remote violence: Remote explosive/landmine/IED"
    assert row["place_name"] == "Koui"
    assert (row["admin1"], row["admin2"]) == ("Ouham-Pende", "Bocaranga")
    assert row["actor2"].startswith("MINUSCA")
    assert row["longitude"] == pytest.approx(15.65)
    assert row["latitude"] == pytest.approx(6.56)


def test_export_without_sub_event_type_and_time_precision(workspace, tmp_path):
    """Exports before 2019 have no ``sub_event_type``; some have no ``time_precision``: day is assumed."""
    frame = pd.read_csv(CURRENT, dtype=str, keep_default_na=False).drop(
        columns=["sub_event_type", "time_precision"]
    )
    path = tmp_path / "acled_2018.csv"
    frame.to_csv(path, index=False)
    report = ingest_incidents(workspace, path)
    assert report.accepted == len(frame)
    stored = workspace.incidents().set_index("event_id")
    assert set(stored["date_precision"]) == {"day"}
    assert stored.loc["acled:CAF9001", "source_category"] == "Battles"


def test_identity_militia_written_as_text_is_intercommunal():
    """ACLED has written actor types as text since 2023 ("Identity militia" rather than 4)."""
    category = acled.classify(
        pd.Series(["Battles", "Battles", "Riots", "Strategic developments"]),
        pd.Series(["State forces", "Identity militia", "Rioters", "4.0"]),
        pd.Series(["Rebel group", "Civilians", "Identity Militia", ""]),
    )
    assert category.tolist() == ["armed_clash", "intercommunal", "intercommunal", "intercommunal"]


def test_rules_file_changes_the_categories(workspace, tmp_path):
    rules = tmp_path / "acled_rules.yaml"
    rules.write_text("intercommunal_inter_codes: []\ncategory_by_event_type:\n  battles: armed_clash\n")
    ingest_incidents(workspace, CURRENT, rules=rules)
    stored = workspace.incidents().set_index("event_id")["category"]
    # no inter code counts any more; only Battles is mapped, everything else falls to "other"
    assert stored.to_dict() == {
        "acled:CAF9001": "armed_clash",
        "acled:CAF9002": "other",
        "acled:CAF9003": "other",
        "acled:CAF9004": "other",
        "acled:CAF9005": "other",
        "acled:CAF9006": "other",
    }


def test_unknown_key_in_rules_file_is_named(workspace, tmp_path):
    rules = tmp_path / "bad_rules.yaml"
    rules.write_text("intercomunal_inter_codes: [4]\n")
    with pytest.raises(IngestError, match=r"bad_rules\.yaml: unknown key\(s\) intercomunal_inter_codes"):
        ingest_incidents(workspace, CURRENT, rules=rules)


def test_realtime_missing_column_is_named_in_upper_case(workspace, tmp_path):
    frame = pd.read_csv(REALTIME, dtype=str, keep_default_na=False).drop(columns=["GEO_PRECISION"])
    path = tmp_path / "realtime_no_precision.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        IngestError,
        match=r"realtime_no_precision\.csv: missing required column\(s\) for ACLED: GEO_PRECISION",
    ):
        ingest_incidents(workspace, path)
    assert workspace.incidents().empty


def test_bad_values_are_rejected_with_the_source_field_name(workspace, tmp_path):
    text = REALTIME.read_text(encoding="utf-8").splitlines()
    header, rows = text[0], text[1:]
    bad = [
        rows[0].replace("05/12/2014", "2014/05/12"),  # not dd/mm/yyyy
        rows[1].replace(",2,Invented", ",9,Invented"),  # GEO_PRECISION 9
        rows[2][: rows[2].rfind(",")] + ",many",  # FATALITIES not a number
    ]
    path = tmp_path / "realtime_bad.csv"
    path.write_text("\n".join([header, *bad, *rows[3:]]) + "\n", encoding="utf-8")
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (5, 2, 3)
    rejects = pd.read_csv(report.rejects_file, dtype={"row": int})
    assert rejects[["row", "field", "reason"]].to_dict("records") == [
        {"row": 2, "field": "EVENT_DATE", "reason": "unparseable date"},
        {"row": 3, "field": "GEO_PRECISION", "reason": "not an ACLED geo_precision code (1-3)"},
        {"row": 4, "field": "FATALITIES", "reason": "not a number"},
    ]
    assert set(rejects["source_file"]) == {"realtime_bad.csv"}


def test_a_copy_of_an_export_under_another_name_adds_nothing(workspace, tmp_path):
    ingest_incidents(workspace, CURRENT)
    copy = tmp_path / "renamed_export.csv"
    shutil.copy(CURRENT, copy)
    report = ingest_incidents(workspace, copy)
    assert (report.read, report.accepted, report.duplicates) == (6, 0, 6)
    assert len(workspace.incidents()) == 6


@pytest.mark.parametrize("shape", ["api-json", "json-lines", "geojson"])
def test_json_exports_store_the_same_incidents_as_the_csv(workspace, tmp_path, shape):
    """ACLED's API answers JSON (``{"status": 200, "data": [...]}``, values as text or numbers); the
    same rows as JSON, JSON Lines or GeoJSON points store exactly what the CSV stores."""
    import json

    rows = pd.read_csv(CURRENT, dtype=str, keep_default_na=False).to_dict("records")
    for row in rows:  # the API gives numbers as numbers
        row["fatalities"] = int(row["fatalities"])
        row["latitude"], row["longitude"] = float(row["latitude"]), float(row["longitude"])
    if shape == "api-json":
        text = json.dumps({"status": 200, "success": True, "count": len(rows), "messages": [], "data": rows})
    elif shape == "json-lines":
        text = "\n".join(json.dumps(r) for r in rows)
    else:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]},
                "properties": {k: v for k, v in r.items() if k not in ("longitude", "latitude")},
            }
            for r in rows
        ]
        text = json.dumps({"type": "FeatureCollection", "features": features})
    path = (
        tmp_path
        / f"acled.{'geojson' if shape == 'geojson' else 'jsonl' if shape == 'json-lines' else 'json'}"
    )
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == "acled"
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (len(rows), len(rows), 0)
    pd.testing.assert_frame_equal(
        _stored(workspace), EXPECTED_CURRENT.sort_values("event_id").reset_index(drop=True), check_dtype=False
    )
