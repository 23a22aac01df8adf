"""Reading patrol bases (GeoJSON, CSV), the errors that name file/row/field, and the workspace table."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

from sauti.errors import NotReadyError
from sauti.models.patrol import read_bases, save_bases, workspace_bases
from sauti.models.patrol.bases import BasesError
from sauti.store import Workspace

TOWNS = ["Bangui", "Bambari", "Bria", "Kaga-Bandoro", "Bouar", "Paoua", "Ndélé", "Birao", "Obo", "Berbérati"]


def test_sample_bases_are_the_illustrative_towns_inside_their_sous_prefectures(sample_dir: Path) -> None:
    bases = read_bases(sample_dir / "bases.geojson")
    assert bases["name"].tolist() == TOWNS
    assert bases.crs.to_epsg() == 4326
    assert (bases["patrols"] > 0).all()
    assert (bases["range_km"] > 0).all()
    raw = json.loads((sample_dir / "bases.geojson").read_text(encoding="utf-8"))
    assert all(f["properties"]["illustrative"] is True for f in raw["features"])
    adm2 = gpd.read_file(sample_dir / "boundaries" / "caf_adm2.gpkg")
    joined = gpd.sjoin(bases, adm2[["admin2Name", "geometry"]], predicate="within")
    assert dict(zip(joined["name"], joined["admin2Name"], strict=True)) == {t: t for t in TOWNS}


def test_csv_with_aliases_reads_like_geojson(tmp_path: Path) -> None:
    path = tmp_path / "bases.csv"
    path.write_text("Base,lat,lon,patrols,range\nAlpha,4.5,18.5,3,50\nBeta,5.0,20.0,,\n", encoding="utf-8")
    bases = read_bases(path)
    expected = gpd.GeoDataFrame(
        {
            "name": pd.Series(["Alpha", "Beta"], dtype="str"),
            "patrols": pd.array([3, None], dtype="Int64"),
            "range_km": [50.0, float("nan")],
        },
        geometry=[Point(18.5, 4.5), Point(20.0, 5.0)],
        crs="EPSG:4326",
    )
    assert_geodataframe_equal(bases, expected)


CSV_TEXT = "name,longitude,latitude,patrols,range_km\nAlpha,18.5,4.5,3,50\nBeta,20.0,5.0,1,80\n"


@pytest.mark.parametrize(
    "kind", ["path", "csv-bytes", "geojson-bytes", "mapping", "frame", "geoframe"], ids=lambda k: k
)
def test_bases_read_the_same_from_paths_bytes_mappings_and_frames(tmp_path: Path, kind: str) -> None:
    """Posted bases and uploads need no temporary file (issue #14): every source gives one frame."""
    path = tmp_path / "bases.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    expected = read_bases(path)
    collection = json.loads(expected.to_json())
    sources = {
        "path": lambda: path,
        "csv-bytes": lambda: CSV_TEXT.encode("utf-8"),
        "geojson-bytes": lambda: json.dumps(collection).encode("utf-8"),
        "mapping": lambda: collection,
        "frame": lambda: pd.read_csv(path),
        "geoframe": lambda: expected.to_crs(32634),
    }
    bases = read_bases(sources[kind]())
    assert_geodataframe_equal(bases, expected, check_less_precise=True)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"name,longitude,latitude\nA,18,north\n", "posted bases: row 1: field 'latitude' is not a number"),
        (b"{not json", "posted bases: cannot read as a vector file"),
        (b"\xff\xfe\x00bad", "posted bases: not UTF-8 text"),
    ],
    ids=["bad-number", "bad-json", "not-utf8"],
)
def test_bad_bytes_name_the_source_row_and_field(source: bytes, message: str) -> None:
    with pytest.raises(BasesError, match=message):
        read_bases(source)


def _geojson(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "bases.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _point(name: str, x: float = 18.0, y: float = 4.0, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {"name": name, "patrols": 2, "range_km": 40, **props},
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("csv:name,longitude,latitude\n", "no bases in the file"),
        ("csv:name,x_coord,latitude\nA,18,4\n", "needs longitude and latitude columns"),
        (
            "csv:name,longitude,latitude,patrols\nA,18,4,2\nB,19,four,2\n",
            "row 2: field 'latitude' is not a number",
        ),
        (
            "csv:name,longitude,latitude,patrols\nA,18,4,2\nB,19,5,-1\n",
            "row 2 (B): field 'patrols' must be a whole",
        ),
        ("csv:name,longitude,latitude,patrols\nA,18,4,2.5\n", "row 1 (A): field 'patrols' must be a whole"),
        ("csv:name,longitude,latitude,range_km\nA,18,4,0\n", "row 1 (A): field 'range_km' must be > 0 km"),
        ("csv:name,longitude,latitude\nA,18,4\nA,19,5\n", "row 2: base name 'A' appears twice"),
        ("csv:name,longitude,latitude\n,18,4\n", "row 1: field 'name' is empty"),
        ("csv:name,longitude,latitude\nA,4,95\n", "row 1 (A): longitude/latitude (4, 95) out of range"),
        ("csv:site,longitude,latitude\nA,18,4\n", "no 'name' column"),
        ("csv:", "the file is empty"),
        ("bytes:name,longitude,latitude\nBerb\xe9rati,15.8,4.3\n", "not UTF-8 text"),
        ("polygon", "row 1 (Zone): geometry is a Polygon; a base is a Point"),
        ("missing", "file not found"),
        ("xlsx", "unsupported bases file"),
    ],
    ids=[
        "no-rows",
        "no-longitude",
        "bad-latitude",
        "negative-patrols",
        "fractional-patrols",
        "zero-range",
        "duplicate-name",
        "empty-name",
        "latitude-out-of-range",
        "no-name-column",
        "empty-file",
        "latin-1",
        "polygon",
        "missing-file",
        "unsupported-suffix",
    ],
)
def test_bad_bases_files_name_the_file_row_and_field(tmp_path: Path, content: str, message: str) -> None:
    if content.startswith("csv:"):
        path = tmp_path / "bases.csv"
        path.write_text(content[4:], encoding="utf-8")
    elif content.startswith("bytes:"):
        path = tmp_path / "bases.csv"
        path.write_bytes(content[6:].encode("latin-1"))
    elif content == "polygon":
        feature = _point("Zone")
        feature["geometry"] = {"type": "Polygon", "coordinates": [[[18, 4], [19, 4], [19, 5], [18, 4]]]}
        path = _geojson(tmp_path, [feature])
    elif content == "missing":
        path = tmp_path / "nowhere.geojson"
    else:
        path = tmp_path / "bases.xlsx"
        path.write_bytes(b"PK")
    with pytest.raises(BasesError) as caught:
        read_bases(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_geojson_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["A"], "patrols": [1], "range_km": [10.0]}, geometry=[Point(18.5, 4.4)], crs="EPSG:4326"
    ).to_crs("EPSG:32634")
    path = tmp_path / "utm.geojson"
    frame.to_file(path, driver="GeoJSON")
    bases = read_bases(path)
    assert bases.crs.to_epsg() == 4326
    assert bases.geometry.iloc[0].x == pytest.approx(18.5, abs=1e-6)
    assert bases.geometry.iloc[0].y == pytest.approx(4.4, abs=1e-6)


def test_bases_round_trip_through_the_workspace(workspace: Workspace, sample_dir: Path) -> None:
    with pytest.raises(NotReadyError, match="no patrol bases in the workspace"):
        workspace_bases(workspace)
    bases = read_bases(sample_dir / "bases.geojson")
    assert save_bases(workspace, bases, source="bases.geojson") == 10
    back = workspace_bases(workspace)
    assert_geodataframe_equal(back, bases, check_less_precise=True)
    # saving again replaces, never appends
    assert save_bases(workspace, bases.iloc[:3]) == 3
    assert workspace_bases(workspace)["name"].tolist() == TOWNS[:3]


def test_an_unreadable_upload_is_named_without_gdals_internal_path_or_advice() -> None:
    with pytest.raises(BasesError) as caught:
        read_bases(b"{not json")
    text = str(caught.value)
    assert (
        text
        == "posted bases: cannot read as a vector file (not recognized as being in a supported file format)"
    )
    assert "/vsimem/" not in text  # GDAL's in-memory name for the upload is nobody's business
