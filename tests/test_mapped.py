"""The mapped-CSV reader: the mapping-file format (YAML and TOML), its errors, and the real AWSD log."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sauti.ingest.errors import IngestError
from sauti.ingest.incidents import ingest_incidents
from sauti.ingest.readers.mapped import load_mapping, packaged_mappings

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LOG = FIXTURES / "mission_log.csv"
AWSD_NAME = "awsd_security_incidents_1997-2025.csv"


@pytest.mark.parametrize("mapping", ["mission_log.yaml", "mission_log.toml"], ids=["yaml", "toml"])
def test_mapping_builds_canonical_incidents(workspace, mapping):
    report = ingest_incidents(workspace, LOG, "csv", FIXTURES / mapping)
    # ML-005 is 31 February: the only reject
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (6, 5, 1, 0)
    rejects = pd.read_csv(report.rejects_file)
    assert rejects[["row", "field", "reason"]].to_dict("records") == [
        {"row": 6, "field": "Date", "reason": "unparseable date"}
    ]
    stored = workspace.incidents().set_index("event_id").sort_index()
    expected = pd.DataFrame(
        {
            "event_id": ["jmac:ML-001", "jmac:ML-002", "jmac:ML-003", "jmac:ML-004", "jmac:ML-006"],
            "source": "mission",
            "occurred_on": pd.to_datetime(
                ["2021-02-03", "2021-02-04", "2021-02-05", "2021-02-06", "2021-02-07"]
            ),
            "date_precision": "day",
            # "20,6700" has a decimal comma; ML-004 has no coordinates
            "longitude": [20.67, 21.9863, 18.555, None, 19.186],
            "location_precision": ["point", "locality", "point", "region", "locality"],  # "village" → default
            # ML-002 is an "Attack" but its description matches the intercommunal rule, which wins
            "category": ["armed_clash", "intercommunal", "riot_protest", "explosive_remote", "other"],
            "fatalities": [2, 3, 0, 1, 0],  # sum of two columns, blanks as 0
            "admin1": ["Ouaka", "Haute-Kotto", "Bangui", "Ouham-Pende", "Nana-Grebizi"],
            "place_name": ["Bambari", "Bria", "Bangui", None, "Kaga-Bandoro"],
            "source_category": ["Clash", "Attack", "Demonstration", "IED", "Looting"],
        }
    ).set_index("event_id")
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False)


def test_year_month_day_columns_set_date_precision(workspace, tmp_path):
    csv = tmp_path / "ymd.csv"
    csv.write_text(
        "id,y,m,d,kind\n1,2020,5,17,x\n2,2020,5,,x\n3,2020,,,x\n4,,,,x\n5,2020,13,,x\n6,2020,2,30,x\n"
    )
    mapping = tmp_path / "ymd.yaml"
    mapping.write_text(
        "source: ymd\nid: {column: id}\ndate: {year: y, month: m, day: d}\n"
        "category: {default: other}\n"  # no coordinates: located to the country
    )
    report = ingest_incidents(workspace, csv, "csv", mapping)
    assert (report.read, report.accepted, report.rejected) == (6, 3, 3)
    stored = workspace.incidents().set_index("event_id")
    assert stored["occurred_on"].dt.strftime("%Y-%m-%d").to_dict() == {
        "ymd:1": "2020-05-17",
        "ymd:2": "2020-05-01",
        "ymd:3": "2020-01-01",
    }
    assert stored["date_precision"].to_dict() == {"ymd:1": "day", "ymd:2": "month", "ymd:3": "year"}
    assert set(stored["location_precision"]) == {"country"}
    assert stored["longitude"].isna().all()
    rejects = pd.read_csv(report.rejects_file)
    assert rejects[["row", "field", "reason"]].to_dict("records") == [
        {"row": 5, "field": "y", "reason": "required value is missing"},
        {"row": 6, "field": "y", "reason": "year/month/day is not a date"},
        {"row": 7, "field": "y", "reason": "year/month/day is not a date"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "source: x\nid: {column: Ref}\ndate: {column: Date, formt: '%Y'}\n",
            r"unknown key 'date\.formt'.*known keys of 'date': column, formats",
        ),
        (
            "source: x\nid: {column: Ref}\ndate: {column: Date}\ncolour: red\n",
            r"unknown key 'colour'.*known keys: source, id, date",
        ),
        ("source: x\ndate: {column: Date}\n", r"required key 'id' is missing"),
        (
            "source: x\nid: {column: Ref}\ndate: {column: Date}\ncategory: {default: riots}\n",
            r"key 'category\.default'",
        ),
        ("source: x\nid: {column: Ref}\ndate: {column: Date, year: Y}\n", r"either 'column'.*or 'year'"),
        (
            "source: x\nid: {column: Ref}\ndate: {column: Date}\n"
            "category:\n  rules: [{column: A, pattern: '(', category: other}]\n",
            r"not a regular expression",
        ),
        ("- just\n- a list\n", r"must hold a table of keys"),
    ],
    ids=[
        "unknown-nested-key",
        "unknown-top-key",
        "missing-id",
        "bad-category",
        "two-date-ways",
        "bad-regex",
        "not-a-table",
    ],
)
def test_mapping_errors_name_the_file_and_key(tmp_path, text, message):
    mapping = tmp_path / "broken_mapping.yaml"
    mapping.write_text(text)
    with pytest.raises(IngestError, match=r"broken_mapping\.yaml: .*" + message):
        load_mapping(mapping)


def test_column_named_in_mapping_but_absent_is_fatal(workspace, tmp_path):
    mapping = tmp_path / "typo.yaml"
    mapping.write_text((FIXTURES / "mission_log.yaml").read_text().replace("Lat\n", "Latitude\n"))
    with pytest.raises(
        IngestError, match=r"mission_log\.csv: missing column\(s\) named in mapping typo\.yaml: Latitude"
    ):
        ingest_incidents(workspace, LOG, "csv", mapping)
    assert workspace.incidents().empty


def test_csv_format_needs_a_mapping(workspace):
    with pytest.raises(IngestError, match="needs a --mapping file"):
        ingest_incidents(workspace, LOG, "csv")


def test_packaged_awsd_mapping_reads_every_real_row(workspace, shared_data):
    assert "awsd" in packaged_mappings()
    path = shared_data / "events" / AWSD_NAME
    report = ingest_incidents(workspace, path, "csv", "awsd")
    source = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert report.read == len(source) == 4337
    assert report.read == report.accepted + report.rejected + report.duplicates
    rejects = pd.read_csv(report.rejects_file)
    assert len(rejects) == report.rejected
    stored = workspace.incidents()
    assert len(stored) == report.accepted
    # every row accounted for: stored or in the rejects file, none twice
    stored_ids = set(stored["event_id"].str.removeprefix("awsd:"))
    rejected_rows = set(rejects["row"])
    accounted = [
        (incident_id in stored_ids) + ((row + 2) in rejected_rows)
        for row, incident_id in enumerate(source["Incident ID"])
    ]
    assert accounted == [1] * len(source)
    # counts by country (joined back through the id) match the data's documented figures
    by_country = source.set_index("Incident ID").loc[sorted(stored_ids), "Country"].value_counts()
    kept = source["Incident ID"].isin(stored_ids)
    expected = source.loc[kept, "Country"].value_counts()
    pd.testing.assert_series_equal(by_country.sort_index(), expected.sort_index(), check_names=False)
    assert by_country["South Sudan"] == (source["Country"] == "South Sudan").sum() == 583
    assert by_country["Central African Republic"] == 142


def test_awsd_dates_precisions_and_fatalities_follow_the_source(workspace, shared_data):
    path = shared_data / "events" / AWSD_NAME
    ingest_incidents(workspace, path, "csv", "awsd")
    source = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("Incident ID")
    stored = (
        workspace.incidents().assign(ref=lambda f: f["event_id"].str.removeprefix("awsd:")).set_index("ref")
    )
    src = source.loc[stored.index]
    no_day, no_month = src["Day"].str.strip() == "", src["Month"].str.strip() == ""
    expected_precision = pd.Series("day", index=src.index).mask(no_day, "month").mask(no_month, "year")
    pd.testing.assert_series_equal(stored["date_precision"], expected_precision, check_names=False)
    assert (stored["occurred_on"].dt.year == src["Year"].astype(int)).all()
    assert (stored.loc[no_day & ~no_month, "occurred_on"].dt.day == 1).all()
    assert (stored["fatalities"] == src["Total killed"].astype(int)).all()
    # a row with a city is located to the locality; one with nothing at all, to the country
    has_city = src["City"].str.strip() != ""
    assert set(stored.loc[has_city, "location_precision"]) == {"locality"}
    nothing = ~has_city & (src["District"].str.strip() == "") & (src["Region"].str.strip() == "")
    assert set(stored.loc[nothing, "location_precision"]) == {"country"}
    assert set(stored["category"]) <= {
        "intercommunal",
        "armed_clash",
        "violence_against_civilians",
        "riot_protest",
        "explosive_remote",
        "other",
    }
    mob = src["Attack context"].str.strip().str.lower() == "mob violence"
    assert (stored.loc[mob, "category"].isin(["riot_protest", "intercommunal"])).all()
    assert (
        stored.loc[src["Details"].str.contains("tribal clashes", case=False), "category"]
        .eq("intercommunal")
        .all()
    )


def test_a_mapping_wins_over_columns_that_look_like_acled(workspace):
    mapping = FIXTURES / "acled_as_mapping.yaml"
    report = ingest_incidents(workspace, FIXTURES / "acled_current.csv", mapping=mapping)
    assert report.format == "csv"
    assert report.accepted == 6
    stored = workspace.incidents()
    assert set(stored["source"]) == {"acled-mapped"}
    assert set(stored["category"]) == {"other"}  # the mapping has no category rules
    assert stored["event_id"].str.startswith("acled-mapped:CAF").all()
