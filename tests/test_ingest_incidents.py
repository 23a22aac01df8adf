"""The bad-input suite for incident files: every row accounted for, every reject explained.

Each test asserts ``read == accepted + rejected + duplicates`` and that the rejects file holds one
line per rejected row, naming the source file, the row (as a spreadsheet numbers it), the field and
the reason.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from sauti.ingest.bookkeeping import RAW_VALUE_CHARS
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.errors import IngestError
from sauti.ingest.incidents import ingest_incidents
from sauti.ingest.tabular import MAX_FIELD_CHARS

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
COLUMNS = [
    "event_id_cnty",
    "event_date",
    "time_precision",
    "event_type",
    "actor1",
    "inter1",
    "actor2",
    "inter2",
    "admin1",
    "admin2",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "notes",
    "fatalities",
]
BASE = {
    "event_date": "06 December 2022",
    "time_precision": "1",
    "event_type": "Battles",
    "actor1": "UPC",
    "inter1": "2",
    "actor2": "FPRC",
    "inter2": "2",
    "admin1": "Ouaka",
    "admin2": "Bambari",
    "location": "Bambari",
    "latitude": "5.7630",
    "longitude": "20.6700",
    "geo_precision": "1",
    "notes": "Made-up event (test fixture).",
    "fatalities": "1",
}


def write_acled(path: Path, rows: list[dict], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    """A current-schema ACLED file: each row is ``BASE`` updated with its overrides."""
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=delimiter)
        writer.writeheader()
        for number, row in enumerate(rows, start=1):
            writer.writerow({**BASE, "event_id_cnty": f"CAF{number}", **row})
    return path


def rejects_of(report) -> pd.DataFrame:
    """The rejects file, checked against the report's counts."""
    assert report.read == report.accepted + report.rejected + report.duplicates
    frame = pd.read_csv(report.rejects_file, dtype={"field": str, "reason": str}, keep_default_na=False)
    assert list(frame.columns) == ["source_file", "row", "field", "reason", "raw"]
    assert len(frame) == report.rejected
    return frame


def reasons(frame: pd.DataFrame) -> list[tuple[int, str, str]]:
    return list(frame[["row", "field", "reason"]].itertuples(index=False, name=None))


def test_empty_file_is_fatal(workspace, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match=r"empty\.csv: file is empty"):
        ingest_incidents(workspace, path, "acled")
    runs = workspace.runs()
    assert runs["status"].tolist() == ["failed"]
    assert runs.loc[0, "message"].endswith("file is empty")
    assert workspace.incidents().empty


def test_header_only_file_reads_nothing(workspace, tmp_path):
    path = write_acled(tmp_path / "header_only.csv", [])
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (0, 0, 0, 0)
    assert rejects_of(report).empty
    assert workspace.runs()["status"].tolist() == ["ok"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters_are_sniffed(workspace, tmp_path, delimiter):
    rows = [{}, {"latitude": "6,5423", "longitude": "21,9863", "location": "Bria, Haute-Kotto"}]
    path = write_acled(tmp_path / "export.csv", rows, delimiter=delimiter)
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted) == (2, 2)
    stored = workspace.incidents().set_index("event_id")
    assert stored.loc["acled:CAF2", "latitude"] == pytest.approx(6.5423)  # decimal comma
    assert stored.loc["acled:CAF2", "place_name"] == "Bria, Haute-Kotto"


def test_missing_required_column_is_fatal_and_names_it(workspace, tmp_path):
    frame = pd.read_csv(FIXTURES / "acled_current.csv", dtype=str).drop(columns=["geo_precision"])
    path = tmp_path / "no_precision.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(IngestError) as err:
        ingest_incidents(workspace, path, "acled")
    assert str(err.value).endswith("no_precision.csv: missing required column(s) for ACLED: geo_precision")
    assert workspace.incidents().empty
    assert workspace.runs()["status"].tolist() == ["failed"]


def test_unrecognised_columns_are_fatal_and_listed(workspace, tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("when,where,what\n2020-01-01,Bangui,clash\n")
    with pytest.raises(
        IngestError, match=r"mystery\.csv: cannot tell the incident format.*when, where, what"
    ):
        ingest_incidents(workspace, path)


def test_unparseable_and_future_dates_are_rejected(workspace, tmp_path):
    rows = [
        {},
        {"event_date": "31 Smarch 2019"},
        {"event_date": "2022-13-01"},
        {"event_date": "06 December 2099"},
        {"event_date": ""},
        {"event_date": "2022-12-07"},  # ISO, as API exports write it
    ]
    report = ingest_incidents(workspace, write_acled(tmp_path / "dates.csv", rows))
    assert (report.read, report.accepted, report.rejected) == (6, 2, 4)
    assert reasons(rejects_of(report)) == [
        (3, "event_date", "unparseable date"),
        (4, "event_date", "unparseable date"),
        (5, "event_date", "date is in the future"),
        (6, "event_date", "required value is missing"),
    ]


def test_coordinates_out_of_range_or_missing_are_rejected(workspace, tmp_path):
    rows = [
        {},
        {"latitude": "95.1", "longitude": "120.5"},  # out of range, and not a swap either
        {"longitude": "-200"},
        {"latitude": "", "longitude": "20.1"},
        {"latitude": "0", "longitude": "0"},
        {"latitude": "north"},
        {"latitude": "", "longitude": "", "geo_precision": "1"},
        {"latitude": "", "longitude": "", "geo_precision": "3"},  # region-precise: no point needed
    ]
    report = ingest_incidents(workspace, write_acled(tmp_path / "coords.csv", rows))
    assert (report.read, report.accepted, report.rejected) == (8, 2, 6)
    assert reasons(rejects_of(report)) == [
        (3, "latitude", "out of range [-90, 90]"),
        (4, "longitude", "out of range [-180, 180]"),
        (5, "latitude", "only one of longitude/latitude is given"),
        (6, "latitude", "coordinates are 0,0 (missing value written as zero)"),
        (7, "latitude", "not a number"),
        (8, "latitude", "point-precise event without coordinates"),
    ]


def test_swapped_coordinates_without_boundaries(workspace, tmp_path):
    """With no localities stored, a latitude beyond ±90 that is a valid longitude reads as a swap."""
    rows = [{}, {"latitude": "96.17", "longitude": "16.80"}]  # Yangon, swapped
    report = ingest_incidents(workspace, write_acled(tmp_path / "swapped.csv", rows))
    assert reasons(rejects_of(report)) == [(3, "latitude", "latitude and longitude look swapped")]


def test_a_suspected_swap_is_a_warning_not_a_reject(workspace, tmp_path, sample_dir):
    """With CAR boundaries stored, a point outside them whose swap falls inside is stored as written
    and counted in a warning: it may be a neighbour's event (Agadez, Niger, swaps into CAR)."""
    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    rows = [
        {},
        {"latitude": "18.5550", "longitude": "4.3612"},  # Bangui swapped, or a point in Niger
        {"latitude": "16.97", "longitude": "7.99", "location": "Agadez"},  # Niger: swap lands in CAR
        {"latitude": "9.03", "longitude": "38.74", "location": "Addis Ababa"},  # outside, not swapped
    ]
    report = ingest_incidents(workspace, write_acled(tmp_path / "swapped.csv", rows))
    assert (report.read, report.accepted, report.rejected, report.outside) == (4, 4, 0, 3)
    assert report.summary()["outside"] == 3
    assert report.warnings == [
        "3 rows lie outside the stored boundaries: stored, but counted towards no locality",
        "2 rows lie outside the boundaries but would lie inside if latitude and longitude were swapped:"
        " stored as written; check the file's coordinate columns",
    ]
    with workspace.session() as con:
        stored = {r[0]: r[1] for r in con.execute("SELECT place_name, latitude FROM incidents")}
    assert stored["Agadez"] == 16.97  # as written


def test_another_countrys_file_keeps_every_row(workspace, tmp_path, sample_dir, shared_data):
    """Real South Sudan points (OCHA admin2 units) ingested into a CAR workspace: all kept, all
    counted as outside (many lie inside CAR's bounding box: the polygons decide)."""
    import geopandas as gpd

    ingest_boundaries(workspace, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ssd = gpd.read_file(shared_data / "boundaries" / "SSD" / "ocha_codab_ssd_adm2.shp").to_crs(4326)
    points = ssd.representative_point()
    rows = [
        {"latitude": f"{p.y:.4f}", "longitude": f"{p.x:.4f}", "location": str(name)}
        for p, name in zip(points, ssd["ADM2_EN"], strict=True)
    ]
    report = ingest_incidents(workspace, write_acled(tmp_path / "ssd.csv", rows))
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (len(rows), len(rows), 0, 0)
    assert report.outside == len(rows)
    assert report.warnings == [
        f"{len(rows)} rows lie outside the stored boundaries: stored, but counted towards no locality"
    ]
    assert len(workspace.incidents()) == len(rows)


def test_duplicates_within_a_file_and_on_reingest(workspace, tmp_path):
    rows = [{}, {}, {"event_id_cnty": "CAF1"}, {"event_id_cnty": "CAF1", "fatalities": "9"}]
    path = write_acled(tmp_path / "dups.csv", rows)
    first = ingest_incidents(workspace, path)
    assert (first.read, first.accepted, first.rejected, first.duplicates) == (4, 2, 0, 2)
    rejects_of(first)
    stored = workspace.incidents().set_index("event_id")
    assert stored.loc["acled:CAF1", "fatalities"] == 1  # the first occurrence is kept
    second = ingest_incidents(workspace, path)
    assert (second.read, second.accepted, second.rejected, second.duplicates) == (4, 0, 0, 4)
    rejects_of(second)
    assert len(workspace.incidents()) == 2
    runs = workspace.runs()
    assert runs[["rows_read", "accepted", "duplicates"]].values.tolist() == [[4, 2, 2], [4, 0, 4]]
    assert runs["sha256"].nunique() == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_are_read_as_such(workspace, tmp_path, encoding):
    """Excel's "Unicode text" and some gateways write UTF-16 (with a BOM, or without one): read as
    Windows-1252 it had no recognisable column at all."""
    rows = [{"location": "Ndélé", "admin1": "Bamingui-Bangoran", "notes": "Attaque près de Ndélé – fixture"}]
    path = write_acled(tmp_path / f"{encoding}.csv", rows, delimiter="\t", encoding=encoding)
    report = ingest_incidents(workspace, path)
    assert (report.accepted, report.rejected) == (1, 0)
    stored = workspace.incidents().iloc[0]
    assert stored["place_name"] == "Ndélé"
    assert stored["text"] == "Attaque près de Ndélé – fixture"


def test_windows_1252_file_is_read_with_a_warning(workspace, tmp_path):
    rows = [{"location": "Ndélé", "admin1": "Bamingui-Bangoran", "notes": "Attaque près de Ndélé – fixture"}]
    path = write_acled(tmp_path / "cp1252.csv", rows, encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    report = ingest_incidents(workspace, path)
    assert (report.accepted, report.rejected) == (1, 0)
    assert any("Windows-1252" in w for w in report.warnings)
    stored = workspace.incidents().iloc[0]
    assert stored["place_name"] == "Ndélé"
    assert stored["text"] == "Attaque près de Ndélé – fixture"


def test_stray_bytes_in_a_utf8_file_reject_only_their_rows(workspace, tmp_path):
    rows = [{"location": "Ndélé"}, {"location": "BRIA_MARK"}, {"location": "Bria"}]
    path = write_acled(tmp_path / "stray.csv", rows)
    path.write_bytes(path.read_bytes().replace(b"BRIA_MARK", b"Bria\xff\xfe"))
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (3, 2, 1)
    assert reasons(rejects_of(report)) == [(3, "location", "holds bytes that are not valid UTF-8")]
    assert sorted(workspace.incidents()["place_name"]) == ["Bria", "Ndélé"]


def test_gigantic_field_is_rejected_and_nothing_else_affected(workspace, tmp_path):
    huge = "x" * (5 * 1024 * 1024)
    rows = [{}, {"notes": huge}, {}]
    path = write_acled(tmp_path / "huge.csv", rows)
    assert path.stat().st_size > 5_000_000
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (3, 2, 1)
    rejects = rejects_of(report)
    assert reasons(rejects) == [(3, "notes", f"longer than {MAX_FIELD_CHARS} characters")]
    # the rejects file shows the row, not the 5 MB
    raw = json.loads(rejects.loc[0, "raw"])
    assert raw["notes"].endswith(f"[{len(huge):,} characters in all]")
    assert len(raw["notes"]) < RAW_VALUE_CHARS + 50
    assert Path(report.rejects_file).stat().st_size < 10_000
    assert sorted(workspace.incidents()["event_id"]) == ["acled:CAF1", "acled:CAF3"]


def test_bad_codes_and_counts_are_rejected(workspace, tmp_path):
    rows = [
        {},
        {"geo_precision": "7"},
        {"time_precision": "day"},
        {"fatalities": "-3"},
        {"fatalities": "a few"},
        {"event_id_cnty": " "},
        {"fatalities": ""},  # no count given: 0
    ]
    report = ingest_incidents(workspace, write_acled(tmp_path / "codes.csv", rows))
    assert reasons(rejects_of(report)) == [
        (3, "geo_precision", "not an ACLED geo_precision code (1-3)"),
        (4, "time_precision", "not an ACLED time_precision code (1-3)"),
        (5, "fatalities", "negative count"),
        (6, "fatalities", "not a number"),
        (7, "event_id_cnty", "required value is missing"),
    ]
    assert workspace.incidents().set_index("event_id").loc["acled:CAF7", "fatalities"] == 0


def test_rejects_file_names_the_source_file_and_keeps_the_raw_row(workspace, tmp_path):
    path = write_acled(tmp_path / "one_bad.csv", [{"latitude": "123"}])
    report = ingest_incidents(workspace, path)
    rejects = rejects_of(report)
    assert rejects.loc[0, "source_file"] == "one_bad.csv"
    raw = json.loads(rejects.loc[0, "raw"])
    assert raw["latitude"] == "123"
    assert raw["event_id_cnty"] == "CAF1"
    assert Path(report.rejects_file).parent == workspace.root / "rejects"


def test_many_chunks_keep_row_numbers_and_counts(workspace, tmp_path):
    rows = [{} for _ in range(25)]
    rows[17] = {"latitude": "-191"}
    path = write_acled(tmp_path / "chunks.csv", rows)
    report = ingest_incidents(workspace, path, chunksize=4)
    assert (report.read, report.accepted, report.rejected) == (25, 24, 1)
    assert reasons(rejects_of(report)) == [(19, "latitude", "out of range [-90, 90]")]


def _with_lines(path: Path, edits: dict[int, str]) -> Path:
    """Rewrite lines of a file (0 = the header) to ``edits[i]``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, text in edits.items():
        lines[number] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chunksize", [200_000, 3], ids=["one-chunk", "many-chunks"])
def test_a_row_with_surplus_fields_is_rejected_not_the_file(workspace, tmp_path, chunksize):
    """An unquoted comma inside a value: that row is rejected (surplus shown), the others stored."""
    rows = [{} for _ in range(8)]
    path = write_acled(tmp_path / "ragged.csv", rows)
    line5 = path.read_text(encoding="utf-8").splitlines()[5]  # CAF5
    shifted = line5.replace("Made-up event (test fixture).", "Made-up event, Bambari (test fixture).")
    path = _with_lines(path, {5: shifted, 7: line5.replace("CAF5", "CAF7") + ",,"})  # CAF7: empty surplus
    report = ingest_incidents(workspace, path, chunksize=chunksize)
    assert (report.read, report.accepted, report.rejected) == (8, 7, 1)
    rejects = rejects_of(report)
    assert reasons(rejects) == [
        (
            6,
            "(row)",
            "more fields than the header (quote a value that holds the delimiter); "
            "surplus values in _extra_fields",
        )
    ]
    raw = json.loads(rejects.loc[0, "raw"])
    assert raw["event_id_cnty"] == "CAF5"
    assert raw["_extra_fields"] == "1"  # fatalities pushed past the last column
    stored = workspace.incidents().set_index("event_id")
    assert "acled:CAF5" not in stored.index
    assert stored.loc["acled:CAF7", "fatalities"] == 1  # trailing empty fields are no surplus
    assert stored.loc["acled:CAF8", "place_name"] == "Bambari"  # rows after it read as before


@pytest.mark.parametrize("chunksize", [200_000, 2], ids=["one-chunk", "many-chunks"])
def test_rows_with_many_surplus_fields_are_rejected_wherever_they_are(workspace, tmp_path, chunksize):
    """More surplus fields than the fast parser keeps (SURPLUS_SLOTS): the csv module reads on."""
    path = write_acled(tmp_path / "wide.csv", [{} for _ in range(7)])
    lines = path.read_text(encoding="utf-8").splitlines()
    path = _with_lines(path, {1: lines[1] + ",a,b,c,d", 4: lines[4] + ",x", 6: lines[6] + ",,,,,y"})
    report = ingest_incidents(workspace, path, chunksize=chunksize)
    assert (report.read, report.accepted, report.rejected) == (7, 4, 3)
    rejects = rejects_of(report)
    assert rejects["row"].tolist() == [2, 5, 7]
    assert set(rejects["field"]) == {"(row)"}
    surplus = [json.loads(raw)["_extra_fields"] for raw in rejects["raw"]]
    assert surplus == ["a,b,c,d", "x", ",,,,y"]
    assert sorted(workspace.incidents()["event_id"]) == [
        "acled:CAF2",
        "acled:CAF3",
        "acled:CAF5",
        "acled:CAF7",
    ]


def test_trailing_delimiters_on_every_row_shift_nothing(workspace, tmp_path):
    """Data rows one field longer than the header: pandas alone would take the first column as an
    index and shift every value one column left."""
    path = write_acled(tmp_path / "trailing.csv", [{}, {"fatalities": "4"}])
    lines = path.read_text(encoding="utf-8").splitlines()
    path = _with_lines(path, {i: lines[i] + "," for i in range(1, len(lines))})
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (2, 2, 0)
    stored = workspace.incidents().set_index("event_id")
    assert sorted(stored.index) == ["acled:CAF1", "acled:CAF2"]
    assert stored.loc["acled:CAF2", "fatalities"] == 4
    assert stored.loc["acled:CAF1", "latitude"] == pytest.approx(5.763)


def test_a_row_with_fewer_fields_is_padded_and_checked(workspace, tmp_path):
    path = write_acled(tmp_path / "short.csv", [{}, {}])
    line = path.read_text(encoding="utf-8").splitlines()[2]
    path = _with_lines(path, {2: line.rsplit(",", 3)[0]})  # geo_precision, notes, fatalities cut
    report = ingest_incidents(workspace, path)
    assert (report.read, report.accepted, report.rejected) == (2, 1, 1)
    assert reasons(rejects_of(report)) == [(3, "geo_precision", "required value is missing")]
