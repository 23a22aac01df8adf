"""Hostile input files, generated here: each gets exit 2 with ONE line naming the file and the
problem, or every row accounted for (read = accepted + rejected + duplicates, each rejected row
with a field and a reason): never a traceback, never a silent drop.

The big members of the corpus (a 52 MB alert, 10⁶ columns, 200,000 alerts) are timed and
measured by ``bench/bench_hostile.py`` (time and peak memory), not here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from live_server import sauti

from sauti.cli import main
from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace

OK = "2021-03-04T10:00:00Z"


def _deep(n: int) -> str:
    return "[" * n + "]" * n


ALERT_FILES: dict[str, tuple[str, str | bytes]] = {
    # name: (file name, content)
    "deep-json-array-item": ("deep.json", f'[{{"received_at": "{OK}", "text": "calme"}}, {_deep(100_000)}]'),
    "deep-json-object": ("deepobj.json", '{"a":' * 50_000 + "1" + "}" * 50_000),
    "deep-jsonl-line": ("deep.jsonl", f'{{"received_at": "{OK}", "text": "a"}}\n{_deep(20_000)}\n'),
    "nan-inf-coordinates": (
        "nan.json",
        f'[{{"received_at": "{OK}", "text": "a", "latitude": NaN, "longitude": NaN}},'
        f' {{"received_at": "{OK}", "text": "b", "latitude": Infinity, "longitude": 20}}]',
    ),
    "geojson-nan-polygon": (
        "poly.geojson",
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"received_at": OK, "text": "zone"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[20.6, 5.7], [20.7, 5.7], [20.7, 5.8], [20.6, 5.7]]],
                        },
                    },
                    {
                        "type": "Feature",
                        "properties": {"received_at": OK, "text": "nan"},
                        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
                    },
                    {
                        "type": "Feature",
                        "properties": {"received_at": OK, "text": "broken"},
                        "geometry": {"type": "Polygon", "coordinates": [[1, 2]]},
                    },
                ],
            }
        ).replace("[[0, 0], [1, 0]", "[[NaN, 0], [1, 0]"),
    ),
    "nul-byte-csv": ("nul.csv", b"received_at,text\n2021-03-04 10:00,avant\x00apres la pluie\n"),
    "huge-field": ("huge.csv", f"received_at,text\n2021-03-04 10:00,{'x' * 300_000}\n2021-03-04 11:00,ok\n"),
    "numeric-ids": (
        "ids.csv",
        "sms_id,received_at,text\n99120001,2021-03-04,a\n4471234567890123,2021-03-04,b\n",
    ),
    "json-bad-record": ("bad.jsonl", f'{{"received_at": "{OK}", "text": "a"}}\n{{oops}}\n'),
    "utf16-csv": ("utf16.csv", "received_at,text\n2021-03-04,a\n".encode("utf-16")),
    "utf16-json": ("utf16.json", f'[{{"received_at": "{OK}", "text": "à Bria"}}]'.encode("utf-16")),
    "jsonl-form-feed-line": (
        "ff.jsonl",
        f'{{"received_at": "{OK}", "text": "a"}}\n\x0c\n{{"received_at": "{OK}", "text": "b"}}',
    ),
}
# expected (read, accepted, rejected) and the reasons of the rejected rows
EXPECTED = {
    "deep-json-array-item": (2, 1, 1, {"nested deeper than 64 levels"}),
    "deep-json-object": (1, 0, 1, {"nested deeper than 64 levels"}),
    "deep-jsonl-line": (2, 1, 1, {"nested deeper than 64 levels"}),
    # NaN is refused like Infinity (as the API refuses both): a blank says "no coordinates"
    "nan-inf-coordinates": (2, 0, 2, {"not a finite number (NaN or Infinity)"}),
    "geojson-nan-polygon": (
        3,
        1,
        2,
        {
            "Polygon geometry has malformed coordinates",
        },
    ),
    "nul-byte-csv": (1, 1, 0, set()),
    "huge-field": (2, 1, 1, {"longer than 100000 characters"}),
    "numeric-ids": (2, 2, 0, set()),
    "json-bad-record": (2, 1, 1, {"not valid JSON (Expecting property name enclosed in double quotes)"}),
    "utf16-csv": (1, 1, 0, set()),
    "utf16-json": (1, 1, 0, set()),
    "jsonl-form-feed-line": (3, 2, 1, {"not valid JSON (Expecting value)"}),
}
FATAL_FILES: dict[str, tuple[str, str | bytes, str]] = {
    # name: (file name, content, what the one line must say)
    "empty": ("empty.csv", "", "file is empty"),
    "duplicate-headers": (
        "dup.csv",
        "received_at,text,Text\n2021-03-04,a,b\n",
        "given more than once: columns 2, 3 (text)",
    ),
    "duplicate-headers-holding-a-phone": (  # named by position; the cell only scrubbed
        "dupphone.csv",
        "received_at,text,+236 72 11 44 95,+236 72 11 44 95\n2021-03-04,a,b,c\n",
        "given more than once: columns 3, 4 ([phone])",
    ),
    "many-columns": (
        "wide.csv",
        ",".join(f"c{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n",
        "20,000 columns",
    ),
    "truncated-json": ("cut.json", '[{"received_at": "2021-03-04", "text": "abc', "ends inside a string"),
    "json-missing-comma": ("comma.json", '[{"text": "a"} {"text": "b"}]', "expected ',' or ']'"),
    "unclosed-quote": ("quote.csv", 'received_at,text\n2021-03-04,"never closed\n', "quote.csv"),
    "binary": ("noise.csv", bytes(range(256)) * 40, "noise.csv"),
    "json-scalars": ("scalars.json", '[1, "x", null]', "no received_at column"),
    # a workbook or an archive given as a table: what to do instead, not "no received_at column"
    "xlsx-workbook": (
        "alerts.xlsx",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00[Content_Types].xml" + bytes(200),
        'save the sheet as "CSV UTF-8"',
    ),
    "xls-workbook": ("alerts.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "spreadsheet workbook"),
    "gzip": ("alerts.csv.gz", b"\x1f\x8b\x08\x00" + bytes(100), "extract its file and ingest that"),
    # a header cell over the csv module's 128 KiB limit, a file of NUL bytes: one line, not a traceback
    "huge-header-cell": (
        "bighead.csv",
        "x" * 140_000 + ",text\n2021-03-04,a\n",
        "longer than 131,072 characters",
    ),
    "nul-bytes-only": ("zeros.csv", bytes(100_000), "first line holds NUL bytes"),
    # JSON Lines with a stray bracket, or junk between records, once read as empty values forever
    "jsonl-stray-bracket": (
        "stray.jsonl",
        f'{{"received_at": "{OK}", "text": "a"}}}}\n',
        "'}' after a complete value",
    ),
    "jsonl-nul-between": (
        "nul.jsonl",
        f'{{"received_at": "{OK}", "text": "a"}}\x00{{"received_at": "{OK}", "text": "b"}}',
        "nul.jsonl",
    ),
    "jsonl-nbsp-between": (
        "nbsp.jsonl",
        f'{{"received_at": "{OK}", "text": "a"}}\u00a0{{"received_at": "{OK}", "text": "b"}}',
        "nbsp.jsonl",
    ),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    ws = Workspace(tmp_path_factory.mktemp("hostile") / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    return ws.root


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(template, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("case", list(ALERT_FILES), ids=list(ALERT_FILES))
def test_hostile_alert_file_rows_are_accounted_for(ws: Workspace, tmp_path: Path, capsys, case: str) -> None:
    path = _write(tmp_path, *ALERT_FILES[case])
    code = main(["--workspace", str(ws.root), "ingest", "alerts", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    read, accepted, rejected, reasons = EXPECTED[case]
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (read, accepted, rejected)
    assert summary["read"] == summary["accepted"] + summary["rejected"] + summary["duplicates"]
    rejects = pd.read_csv(summary["rejects_file"])
    assert len(rejects) == rejected
    assert rejects["field"].notna().all()
    assert set(rejects["reason"]) == reasons


def test_nul_byte_does_not_cut_the_text_and_a_polygon_alert_is_located(ws: Workspace, tmp_path: Path) -> None:
    for case in ("nul-byte-csv", "geojson-nan-polygon"):
        assert (
            main(["--workspace", str(ws.root), "ingest", "alerts", str(_write(tmp_path, *ALERT_FILES[case]))])
            == 0
        )
    stored = ws.alerts().set_index("text")
    assert "avantapres la pluie" in stored.index
    zone = stored.loc["zone"]
    assert zone["location_source"] == "point"
    assert 20.6 <= zone["longitude"] <= 20.7
    assert zone["locality_id"] is not None


@pytest.mark.parametrize("case", list(FATAL_FILES), ids=list(FATAL_FILES))
def test_hostile_file_is_refused_in_one_line_naming_it(
    ws: Workspace, tmp_path: Path, capsys, case: str
) -> None:
    name, content, expected = FATAL_FILES[case]
    path = _write(tmp_path, name, content)
    code = main(["--workspace", str(ws.root), "ingest", "alerts", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 2, out
    assert err.count("\n") == 1, err
    assert name in err
    assert expected in err
    assert "Traceback" not in err
    assert len(ws.alerts()) == 0


ACLED_HEADER = "event_id_cnty,event_date,event_type,inter1,inter2,latitude,longitude,geo_precision,fatalities"
OTHER_FILES: dict[str, tuple[list[str], str, str | bytes, str | None]] = {
    # name: (command, file name, content, what the one line says; None: rows accounted for)
    "incidents-duplicate-headers": (
        ["incidents", "--format", "acled"],
        "dup.csv",
        ACLED_HEADER + ",fatalities\nX1,01 March 2019,Battles,2,3,5,20,1,0,0\n",
        "given more than once: columns 9, 10 (fatalities)",
    ),
    "incidents-wide": (
        ["incidents", "--format", "acled"],
        "wide.csv",
        ACLED_HEADER + "," + ",".join(f"x{i}" for i in range(20_000)) + "\n",
        "columns; at most 10,000",
    ),
    "incidents-nul-nan-inf": (
        ["incidents", "--format", "acled"],
        "nul.csv",
        (
            ACLED_HEADER + "\nX1,01 March 2019,Battles,2,3,5.1,20.2,1,0\n"
            "X2,01 March 2019,Battles,2,3,nan,20.2,1,0\nX3,01 March 2019,Battles,2,3,inf,20.2,1,0\n"
            "X4,01 March 2019,Battle\x00s,2,3,5.1,20.2,1,0\n"
        ).encode(),
        None,
    ),
    "incidents-geojson-deep-first-feature": (
        ["incidents"],
        "deep.geojson",
        '{"type": "FeatureCollection", "features": [' + _deep(100_000) + "]}",
        "nested deeper than 64 levels",
    ),
    "incidents-geojson-no-features": (
        ["incidents", "--format", "ucdp-ged"],
        "nofeatures.geojson",
        '{"type": "FeatureCollection", "features": []}',
        "has no features",
    ),
    "boundaries-not-vector": (
        ["boundaries", "--level", "admin2"],
        "noise.geojson",
        bytes(range(256)) * 8,
        "noise",
    ),
    "boundaries-empty": (["boundaries", "--level", "admin2"], "empty.geojson", "", "empty.geojson"),
    "incidents-huge-header-cell": (
        ["incidents"],
        "bighead.csv",
        "x" * 140_000 + "," + ACLED_HEADER + "\n",
        "header (line 1) cannot be read: a column name is longer than 131,072 characters",
    ),
    "incidents-nul-bytes-only": (["incidents"], "zeros.csv", bytes(100_000), "first line holds NUL bytes"),
}


@pytest.mark.parametrize("case", list(OTHER_FILES), ids=list(OTHER_FILES))
def test_hostile_incident_and_boundary_files(ws: Workspace, tmp_path: Path, capsys, case: str) -> None:
    command, name, content, expected = OTHER_FILES[case]
    path = _write(tmp_path, name, content)
    kind, *options = command
    code = main(["--workspace", str(ws.root), "ingest", kind, str(path), *options, "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if expected is not None:
        assert code == 2, out
        assert err.count("\n") == 1, err
        assert name in err
        assert expected in err
        return
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["read"], summary["accepted"], summary["rejected"], summary["duplicates"]) == (4, 2, 2, 0)
    rejects = pd.read_csv(summary["rejects_file"])
    assert rejects["reason"].tolist() == ["not a finite number (NaN or Infinity)"] * 2
    assert set(ws.incidents()["source_category"]) == {"Battles"}  # the NUL byte dropped, not kept


def test_a_ucdp_geojson_is_streamed_and_a_hostile_feature_is_one_rejected_row(
    ws: Workspace, tmp_path: Path, sample_dir: Path, capsys
) -> None:
    """A deep or broken feature among good ones is a rejected row with its reason, the others are
    stored (the file was loaded whole with json.loads: a RecursionError traceback, and a global GED
    GeoJSON in memory many times over)."""
    sample = json.loads((sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson").read_text())
    good = [json.dumps(f) for f in sample["features"][:3]]
    features = [good[0], _deep(50_000), good[1], "{oops}", good[2]]
    path = _write(
        tmp_path, "ged.geojson", '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"
    )
    code = main(["--workspace", str(ws.root), "ingest", "incidents", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (5, 3, 2)
    rejects = pd.read_csv(summary["rejects_file"])
    assert rejects["row"].tolist() == [2, 4]  # feature numbers
    assert rejects["reason"].str.contains("nested deeper than 64 levels|not valid JSON").all()


def test_a_feature_with_too_many_properties_is_refused_like_any_wide_record(tmp_path: Path) -> None:
    """The field limit holds for records reshaped on the way (a GeoJSON feature read as its
    properties), as for plain JSON records."""
    from sauti.ingest.readers.columns import json_row
    from sauti.ingest.tabular import MAX_COLUMNS, RECORD_PROBLEM, iter_json_records

    wide = {"type": "Feature", "properties": {f"p{i}": i for i in range(MAX_COLUMNS + 1)}, "geometry": None}
    narrow = {
        "type": "Feature",
        "properties": {"id": 1},
        "geometry": {"type": "Point", "coordinates": [20, 5]},
    }
    path = _write(
        tmp_path, "wide.geojson", json.dumps({"type": "FeatureCollection", "features": [narrow, wide]})
    )
    (frame,) = iter_json_records(path, ("features",), record=json_row)
    assert frame[RECORD_PROBLEM].isna().tolist() == [True, False]
    assert (
        frame[RECORD_PROBLEM].iloc[1] == f"has {MAX_COLUMNS + 3:,} fields; at most {MAX_COLUMNS:,} are read"
    )
    assert frame.loc[1, ["id", "longitude", "latitude"]].tolist() == [1, 20, 5]


@pytest.mark.parametrize("kind", ["incidents", "alerts", "places"])
def test_an_endless_input_is_refused_at_once(ws: Workspace, tmp_path: Path, kind: str) -> None:
    """``/dev/zero`` and a pipe nobody closes were read forever (and the progress bar counted their
    lines first): refused in one line, exit 2, before any byte is read."""
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        started = time.monotonic()
        done = sauti("ingest", kind, str(path), workspace=ws.root)
        assert done.returncode == 2, done.stderr
        refused = "is not a regular file (a device or a pipe); save its data to a file and ingest that"
        assert done.stderr.strip().splitlines() == [f"error: {path}: {refused}"]
        assert time.monotonic() - started < 60


def test_a_boolean_coordinate_is_not_a_number(ws: Workspace, tmp_path: Path, sample_dir: Path, capsys):
    """``"latitude": false`` in a GED GeoJSON was stored as 0.0."""
    sample = json.loads((sample_dir / "events" / "ucdp_ged_v23_1_CAF.geojson").read_text())
    features = sample["features"][:2]
    features[1]["properties"]["latitude"] = False
    path = _write(tmp_path, "ged.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    code = main(["--workspace", str(ws.root), "ingest", "incidents", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["read"], summary["accepted"], summary["rejected"]) == (2, 1, 1)
    rejects = pd.read_csv(summary["rejects_file"])
    assert (rejects["row"].tolist(), rejects["field"].tolist()) == ([2], ["latitude"])
    assert rejects["reason"].tolist() == ["not a number"]
