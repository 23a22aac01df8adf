"""Boundary ingest: the real OCHA files (CAR, South Sudan), repairs, rejects, CRS handling, formats."""

from __future__ import annotations

import json
from pathlib import Path

import boundary_fixtures
import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import Polygon, box

from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.errors import IngestError
from sauti.store import Workspace

CAF = "boundaries/CAF/caf_admbnda_adm{n}_200k_sigcaf_reach_itos_v2.shp"
SSD = "boundaries/SSD/ocha_codab_ssd_adm2.shp"


def _invariant(report) -> None:
    assert report.read == report.accepted + report.rejected + report.duplicates
    assert len(pd.read_csv(report.rejects_file)) == report.rejected


@pytest.mark.parametrize(
    ("n", "count"), [(0, 1), (2, 72), (3, 175)], ids=["caf-adm0", "caf-adm2", "caf-adm3"]
)
def test_real_car_files_store_every_feature(workspace, shared_data, n, count):
    report = ingest_boundaries(workspace, shared_data / CAF.format(n=n), f"admin{n}")
    assert (report.read, report.accepted, report.rejected) == (count, count, 0)
    _invariant(report)
    stored = workspace.localities(f"admin{n}")
    source = pyogrio.read_dataframe(shared_data / CAF.format(n=n), read_geometry=False)
    assert sorted(stored["locality_id"]) == sorted(source[f"admin{n}Pcod"])
    assert stored.geometry.is_valid.all()
    assert stored.crs.to_epsg() == 4326


def test_car_adm2_derives_17_prefectures_by_dissolve(workspace, shared_data):
    report = ingest_boundaries(workspace, shared_data / CAF.format(n=2), "admin2")
    assert any("derived 17 new admin1" in w for w in report.warnings)
    prefectures = workspace.localities("admin1")
    source = pyogrio.read_dataframe(shared_data / CAF.format(n=2), read_geometry=False)
    assert len(prefectures) == 17 == source["admin1Pcod"].nunique()
    subs = workspace.localities("admin2")
    # each préfecture is the union of its sous-préfectures: areas add up (equal-area km²)
    summed = subs.groupby("admin1_id")["area_km2"].sum()
    areas = prefectures.set_index("locality_id")["area_km2"]
    pd.testing.assert_series_equal(areas.sort_index(), summed.sort_index(), check_names=False, rtol=1e-6)
    bangui = subs[subs["name"] == "Bangui"].iloc[0]
    assert bangui["parent_id"] == bangui["admin1_id"]
    assert prefectures.set_index("locality_id").loc[bangui["parent_id"], "level"] == "admin1"
    # CAR is about 623,000 km²
    assert 600_000 < subs["area_km2"].sum() < 640_000


def test_car_adm3_after_adm2_adds_no_duplicate_parents(workspace, shared_data):
    ingest_boundaries(workspace, shared_data / CAF.format(n=2), "admin2")
    report = ingest_boundaries(workspace, shared_data / CAF.format(n=3), "admin3")
    _invariant(report)
    assert workspace.levels() == {"admin0": 1, "admin1": 17, "admin2": 72, "admin3": 175}
    communes = workspace.localities("admin3")
    assert set(communes["parent_id"]) <= set(workspace.localities("admin2")["locality_id"])


def test_south_sudan_counties_use_adm2_pcode_fields(workspace, shared_data):
    report = ingest_boundaries(workspace, shared_data / SSD, "admin2")
    source = pyogrio.read_dataframe(shared_data / SSD, read_geometry=False)
    assert (report.read, report.accepted) == (79, 79)
    counties = workspace.localities("admin2").set_index("locality_id").sort_index()
    expected = source.set_index("ADM2_PCODE").sort_index()
    assert list(counties.index) == list(expected.index)
    assert (counties["name"] == expected["ADM2_EN"]).all()
    assert (counties["parent_id"] == expected["ADM1_PCODE"]).all()
    assert len(workspace.localities("admin1")) == source["ADM1_PCODE"].nunique()


def _write_geojson(path: Path, features: list[dict], crs: str | None = "EPSG:4326") -> Path:
    payload: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        payload["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:" + crs.replace(":", "::")}}
    path.write_text(json.dumps(payload))
    return path


def _feature(code: str, name: str, geometry: dict | None) -> dict:
    props = {"admin2Pcode": code, "admin2Name": name, "admin1Pcode": "R1", "admin1Name": "Region One"}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def test_bow_tie_is_repaired_and_empty_polygon_rejected(workspace, tmp_path):
    bow_tie = Polygon([(20, 5), (21, 6), (21, 5), (20, 6), (20, 5)])
    assert not bow_tie.is_valid
    path = _write_geojson(
        tmp_path / "broken.geojson",
        [
            _feature("B1", "Bow tie", shapely.geometry.mapping(bow_tie)),
            _feature("E1", "Empty", {"type": "Polygon", "coordinates": []}),
            _feature("N1", "No geometry", None),
            _feature("OK", "Square", shapely.geometry.mapping(box(22, 5, 23, 6))),
        ],
    )
    report = ingest_boundaries(workspace, path, "admin2")
    assert (report.read, report.accepted, report.rejected) == (4, 2, 2)
    _invariant(report)
    rejects = pd.read_csv(report.rejects_file)
    assert rejects[["source_file", "row", "field", "reason"]].to_dict("records") == [
        {"source_file": "broken.geojson", "row": 2, "field": "geometry", "reason": "empty geometry"},
        {"source_file": "broken.geojson", "row": 3, "field": "geometry", "reason": "empty geometry"},
    ]
    stored = workspace.localities("admin2").set_index("locality_id")
    repaired = stored.loc["B1", "geometry"]
    assert repaired.is_valid
    assert repaired.geom_type in ("Polygon", "MultiPolygon")
    assert repaired.area == pytest.approx(0.5)  # the two triangles of the bow tie


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_file_without_crs_is_read_as_wgs84_with_a_warning(workspace, tmp_path):
    frame = gpd.GeoDataFrame(
        {"admin2Pcod": ["A", "B"], "admin2Name": ["Alpha", "Beta"]},
        geometry=[box(20, 5, 21, 6), box(21, 5, 22, 6)],
        crs=None,
    )
    path = tmp_path / "no_crs.shp"
    frame.to_file(path)
    assert not path.with_suffix(".prj").exists()
    report = ingest_boundaries(workspace, path, "admin2")
    assert report.accepted == 2
    assert any("no CRS" in w and "WGS84" in w for w in report.warnings)
    stored = workspace.localities("admin2").set_index("locality_id")
    assert stored.loc["A", "geometry"].bounds == pytest.approx((20, 5, 21, 6))


def test_projected_file_is_reprojected_to_wgs84(workspace, tmp_path, three_squares):
    projected = three_squares.rename(columns={"locality_id": "admin2Pcode", "name": "admin2Name"})
    projected = projected[["admin2Pcode", "admin2Name", "geometry"]].to_crs("EPSG:32634")
    path = tmp_path / "utm.gpkg"
    projected.to_file(path)
    ingest_boundaries(workspace, path, "admin2")
    stored = workspace.localities("admin2").set_index("locality_id").sort_index()
    for code, original in zip(["A", "B", "C"], three_squares.geometry, strict=True):
        assert stored.loc[code, "geometry"].bounds == pytest.approx(original.bounds, abs=1e-6)
    # areas are computed in an equal-area CRS: a 1°×1° cell at 5°N is about 12,270 km²
    assert stored["area_km2"].to_numpy() == pytest.approx([12_270] * 3, rel=0.01)


def test_geojson_boundaries(workspace, tmp_path, three_squares):
    features = [
        _feature(code, name, shapely.geometry.mapping(geom))
        for code, name, geom in zip(
            three_squares["locality_id"], three_squares["name"], three_squares.geometry, strict=True
        )
    ]
    report = ingest_boundaries(workspace, _write_geojson(tmp_path / "squares.geojson", features), "admin2")
    assert report.accepted == 3
    assert workspace.localities("admin2")["name"].tolist() == ["Alpha", "Bêta", "Gamma"]


def test_topojson_boundaries(workspace, tmp_path):
    """Two squares sharing an edge, as TopoJSON arcs (read through GDAL's TopoJSON driver)."""
    topology = {
        "type": "Topology",
        "objects": {
            "communes": {
                "type": "GeometryCollection",
                "geometries": [
                    {
                        "type": "Polygon",
                        "arcs": [[0, 1]],
                        "properties": {"admin3Pcode": "T1", "admin3Name": "West"},
                    },
                    {
                        "type": "Polygon",
                        "arcs": [[-1, 2]],
                        "properties": {"admin3Pcode": "T2", "admin3Name": "East"},
                    },
                ],
            }
        },
        "arcs": [
            [[21, 5], [21, 6]],  # shared edge
            [[21, 6], [20, 6], [20, 5], [21, 5]],
            [[21, 5], [22, 5], [22, 6], [21, 6]],
        ],
    }
    path = tmp_path / "communes.topojson"
    path.write_text(json.dumps(topology))
    report = ingest_boundaries(workspace, path, "admin3")
    assert (report.read, report.accepted, report.rejected) == (2, 2, 0)
    stored = workspace.localities("admin3").set_index("locality_id").sort_index()
    assert stored.loc["T1", "geometry"].bounds == pytest.approx((20, 5, 21, 6))
    assert stored.loc["T2", "geometry"].bounds == pytest.approx((21, 5, 22, 6))
    assert stored.loc["T1", "geometry"].touches(stored.loc["T2", "geometry"])


def test_reingest_is_idempotent(workspace, shared_data):
    first = ingest_boundaries(workspace, shared_data / CAF.format(n=2), "admin2")
    second = ingest_boundaries(workspace, shared_data / CAF.format(n=2), "admin2")
    assert (first.accepted, second.accepted, second.duplicates) == (72, 0, 72)
    _invariant(second)
    assert workspace.levels()["admin2"] == 72


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_text(""), p)[1], "cannot read as a vector file"),
        (lambda p: (p.write_text("not,a,vector\n1,2,3\n"), p)[1], "cannot read as a vector file|no geometry"),
    ],
    ids=["missing", "empty", "not-vector"],
)
def test_unreadable_boundary_file_is_one_clear_error(workspace, tmp_path, make, message):
    path = make(tmp_path / "bad.geojson")
    with pytest.raises(IngestError, match=r"bad\.geojson: (" + message + ")"):
        ingest_boundaries(workspace, path, "admin2")


def test_a_binary_boundary_file_is_named_without_gdals_advice(workspace, tmp_path):
    path = tmp_path / "bad.gpkg"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(IngestError) as caught:
        ingest_boundaries(workspace, path, "admin2")
    assert str(caught.value).endswith(
        "cannot read as a vector file (not recognized as being in a supported file format)"
    )
    assert "<DRIVER>" not in str(caught.value)  # GDAL's advice about driver prefixes: not for a Sauti user


def test_missing_id_column_names_the_file_and_columns(workspace, tmp_path):
    frame = gpd.GeoDataFrame({"label": ["x"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    path = tmp_path / "unlabelled.gpkg"
    frame.to_file(path)
    with pytest.raises(IngestError, match=r"unlabelled\.gpkg: no admin2 id column found among label"):
        ingest_boundaries(workspace, path, "admin2")


def test_projected_file_without_crs_is_refused_with_the_crs_option(workspace, sample_dir, tmp_path):
    """A UTM shapefile without .prj read as degrees gave NaN areas counted as duplicates."""
    utm = gpd.read_file(sample_dir / "boundaries" / "caf_adm2.gpkg").to_crs("EPSG:32634")
    utm[["admin2Pcod", "admin2Name", "geometry"]].to_file(tmp_path / "utm.shp")
    (tmp_path / "utm.prj").unlink()
    with pytest.raises(IngestError, match=r"utm\.shp: file has no CRS .* pass --crs"):
        ingest_boundaries(workspace, tmp_path / "utm.shp", "admin2")
    assert len(workspace.localities()) == 0
    report = ingest_boundaries(workspace, tmp_path / "utm.shp", "admin2", crs="EPSG:32634")
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (72, 72, 0, 0)
    stored = workspace.localities("admin2")
    assert stored["area_km2"].notna().all()
    assert stored.total_bounds[0] > 14  # CAR in degrees
    assert stored.total_bounds[2] < 28


def test_out_of_range_and_non_finite_coordinates_are_rejected_with_a_reason(workspace, tmp_path):
    features = [
        ("X1", "[[200,95],[201,95],[201,96],[200,96],[200,95]]"),
        ("X2", "[[20,5],[NaN,5],[21,6],[20,6],[20,5]]"),
        ("X3", "[[20,5],[Infinity,5],[21,6],[20,6],[20,5]]"),
        ("X4", "[[20,5],[21,5],[21,6],[20,6],[20,5]]"),
    ]
    body = ",".join(
        f'{{"type":"Feature","properties":{{"ADM2_PCODE":"{pid}","ADM2_FR":"{pid}"}},'
        f'"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}'
        for pid, ring in features
    )
    path = tmp_path / "bad.geojson"
    path.write_text(f'{{"type":"FeatureCollection","features":[{body}]}}')
    report = ingest_boundaries(workspace, path, "admin2")
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (4, 1, 3, 0)
    rejects = pd.read_csv(report.rejects_file)
    assert list(rejects["row"]) == [1, 2, 3]
    assert "outside longitude [-180, 180]" in rejects["reason"].iloc[0]
    assert set(rejects["reason"].iloc[1:]) == {"coordinates are not finite numbers (NaN or Infinity)"}


# --- schemas recognised without hints ------------------------------------------------------------

SSD_STATES = 10
CAF_PREFECTURES = 17


def _ocha_names(shared_data: Path, relative: str, column: str) -> list[str]:
    return sorted(pyogrio.read_dataframe(shared_data / relative, read_geometry=False)[column])


@pytest.mark.parametrize(
    ("build", "schema", "source", "name_column", "admin1", "country"),
    [
        (lambda shared, tmp: shared / SSD, "ocha-cod", SSD, "ADM2_EN", SSD_STATES, "South Sudan"),
        (
            lambda shared, tmp: shared / CAF.format(n=2),
            "ocha-cod-legacy",
            CAF.format(n=2),
            "admin2Name",
            CAF_PREFECTURES,
            "Central African Republic",
        ),
        (boundary_fixtures.gadm36_topojson, "gadm", SSD, "ADM2_EN", SSD_STATES, "South Sudan"),
        (
            boundary_fixtures.gadm41_gpkg,
            "gadm",
            CAF.format(n=2),
            "admin2Name",
            CAF_PREFECTURES,
            "Central African Republic",
        ),
        (boundary_fixtures.geoboundaries_geojson, "geoboundaries", SSD, "ADM2_EN", 0, "SSD"),
        (
            boundary_fixtures.cod_zip,
            "ocha-cod-legacy",
            CAF.format(n=2),
            "admin2Name",
            CAF_PREFECTURES,
            "Central African Republic",
        ),
    ],
    ids=["ocha-ssd", "ocha-caf-legacy", "gadm36-topojson-no-crs", "gadm41-gpkg", "geoboundaries", "cod-zip"],
)
def test_known_schemas_ingest_at_admin2_with_names_and_no_hints(
    workspace, shared_data, tmp_path, build, schema, source, name_column, admin1, country
):
    path = build(shared_data, tmp_path)
    report = ingest_boundaries(workspace, path, "admin2")
    expected_names = _ocha_names(shared_data, source, name_column)
    assert (report.read, report.accepted, report.rejected) == (len(expected_names),) * 2 + (0,)
    _invariant(report)
    assert report.schema["name"] == schema
    assert report.summary()["schema"] == report.schema
    stored = workspace.localities("admin2")
    assert sorted(stored["name"]) == expected_names
    # the same geometry as the OCHA file it was built from: areas add up to the same country
    ocha_area = ingest_boundaries(Workspace(tmp_path / "ocha"), shared_data / source, "admin2")
    assert ocha_area.accepted == len(expected_names)
    reference = Workspace(tmp_path / "ocha").localities("admin2")["area_km2"].sum()
    assert stored["area_km2"].sum() == pytest.approx(reference, rel=1e-4)
    levels = workspace.levels()
    assert levels.get("admin1", 0) == admin1
    assert workspace.localities("admin0")["name"].tolist() == [country]
    if admin1:
        parents = workspace.localities("admin1").set_index("locality_id")
        assert set(stored["parent_id"]) == set(parents.index)
        assert stored["parent_name"].notna().all()


def test_gadm_topojson_without_crs_warns_and_keeps_variant_names(workspace, shared_data, tmp_path):
    path = boundary_fixtures.gadm36_topojson(shared_data, tmp_path)
    report = ingest_boundaries(workspace, path, "admin2")
    assert any("no CRS" in w for w in report.warnings)
    assert report.schema == {
        "name": "gadm",
        "title": "GADM 3.6 / 4.1 (GID_2, NAME_2)",
        "id_field": "GID_2",
        "name_field": "NAME_2",
        "parent_id_field": "GID_1",
        "parent_name_field": "NAME_1",
    }
    juba = workspace.localities("admin2").set_index("name").loc["Juba"]
    assert juba["locality_id"].startswith("SSD.")
    assert juba["admin1_name"] == "Central Equatoria"
    # VARNAME_2 holds several names separated by "|": each is a name the gazetteer knows
    assert set(juba["alt_names"]) == {"Juba County", "JUBA"}


def test_explicit_fields_override_the_schema_but_keep_its_parents(workspace, shared_data, tmp_path):
    path = boundary_fixtures.gadm36_topojson(shared_data, tmp_path)
    report = ingest_boundaries(workspace, path, "admin2", id_field="HASC_2", name_field="NAME_2")
    assert report.schema["name"] == "gadm"
    assert report.schema["id_field"] == "HASC_2"
    stored = workspace.localities("admin2")
    assert stored["locality_id"].str.fullmatch(r"SS\.\d\d\.\d\d").all()
    assert stored["parent_id"].str.fullmatch(r"SSD\.\d+_1").all()


def test_columns_nobody_knows_are_named_custom(workspace, tmp_path):
    frame = gpd.GeoDataFrame(
        {"code": ["X1"], "label": ["Xanadu"]}, geometry=[box(20, 5, 21, 6)], crs="EPSG:4326"
    )
    frame.to_file(tmp_path / "custom.gpkg")
    report = ingest_boundaries(
        workspace, tmp_path / "custom.gpkg", "admin2", id_field="code", name_field="label"
    )
    assert report.schema["name"] == "custom"
    assert workspace.localities("admin2")["name"].tolist() == ["Xanadu"]


def test_an_override_naming_a_missing_column_is_one_clear_error(workspace, shared_data):
    with pytest.raises(IngestError, match=r"has no column 'GID_2'; it has .*ADM2_PCODE"):
        ingest_boundaries(workspace, shared_data / SSD, "admin2", id_field="GID_2")


def test_geoboundaries_file_of_another_level_says_so(workspace, shared_data, tmp_path):
    path = boundary_fixtures.geoboundaries_geojson(shared_data, tmp_path)
    report = ingest_boundaries(workspace, path, "admin1")
    assert report.accepted == 79
    assert any("shapeType says ADM2; stored as admin1" in w for w in report.warnings)


def test_admin3_follows_the_schema_of_its_file(workspace, shared_data):
    report = ingest_boundaries(workspace, shared_data / CAF.format(n=3), "admin3")
    assert report.schema["name"] == "ocha-cod-legacy"
    assert (report.schema["id_field"], report.schema["parent_id_field"]) == ("admin3Pcod", "admin2Pcod")


def test_gadm_admin1_file_names_states_and_the_country(workspace, shared_data, tmp_path):
    """GADM's level-1 file (GID_1, NAME_1 with GID_0 and 4.1's COUNTRY): same registry, another level."""
    counties = boundary_fixtures.gadm_frame(shared_data / SSD, "ADM", "SSD", "South Sudan")
    states = counties.dissolve(by="GID_1", as_index=False)[["GID_0", "NAME_0", "GID_1", "NAME_1", "geometry"]]
    path = tmp_path / "gadm41_SSD_1.gpkg"
    states.rename(columns={"NAME_0": "COUNTRY"}).to_file(path, layer="ADM_ADM_1")
    report = ingest_boundaries(workspace, path, "admin1")
    assert report.schema["name"] == "gadm"
    assert (report.schema["id_field"], report.schema["parent_id_field"]) == ("GID_1", "GID_0")
    stored = workspace.localities("admin1")
    states_in_ocha = set(pyogrio.read_dataframe(shared_data / SSD, read_geometry=False)["ADM1_EN"])
    assert sorted(stored["name"]) == sorted(states_in_ocha)
    assert len(stored) == SSD_STATES
    assert workspace.localities("admin0")["name"].tolist() == ["South Sudan"]


def test_geoboundaries_levels_are_linked_by_location(workspace, shared_data, tmp_path):
    """geoBoundaries ships one level per file with no parent codes: counties find their state by location."""
    states = boundary_fixtures.geoboundaries_adm1_geojson(shared_data, tmp_path)
    counties = boundary_fixtures.geoboundaries_geojson(shared_data, tmp_path)
    alone = ingest_boundaries(Workspace(tmp_path / "alone"), counties, "admin2")
    assert any("ingest that level first" in w for w in alone.warnings)

    assert ingest_boundaries(workspace, states, "admin1").accepted == SSD_STATES
    report = ingest_boundaries(workspace, counties, "admin2")
    assert any(
        "admin1 parents found by location among the 10 stored admin1 units" in w for w in report.warnings
    )
    stored = workspace.localities("admin2").set_index("name")
    ocha = pyogrio.read_dataframe(shared_data / SSD, read_geometry=False).set_index("ADM2_EN")
    # every county under the state OCHA puts it in (same geometry, so containment is exact)
    assert (stored["admin1_name"] == ocha.loc[stored.index, "ADM1_EN"]).all()
    assert set(stored["parent_id"]) == set(workspace.localities("admin1")["locality_id"])
    assert (stored["admin0_id"] == "SSD").all()
    assert workspace.levels() == {"admin0": 1, "admin1": SSD_STATES, "admin2": 79}


def test_the_level_asked_for_picks_its_layer_of_a_multi_layer_source(
    workspace, shared_data, tmp_path
) -> None:
    """A GADM GeoPackage holds every level (``ADM_ADM_0`` first) and a COD-AB zip one shapefile per
    level: the layer read is the one whose columns are the level asked for, and the summary says
    which; a level no layer holds is refused with the layers' names and the ``--layer`` way out."""
    gpkg = boundary_fixtures.gadm41_gpkg(shared_data, tmp_path)
    report = ingest_boundaries(workspace, gpkg, "admin1")
    assert (report.accepted, report.rejected) == (CAF_PREFECTURES, 0)
    assert "read layer ADM_ADM_1, the admin1 layer of 3" in report.warnings
    archive = boundary_fixtures.cod_zip(shared_data, tmp_path)
    other = Workspace(tmp_path / "other")
    report = ingest_boundaries(other, archive, "admin3")
    assert report.schema["id_field"] == "admin3Pcod"
    assert any("caf_admbnda_adm3_200k_sigcaf_reach_itos_v2" in w for w in report.warnings)
    with pytest.raises(IngestError, match=r"holds 3 layers \(.*\) and none has admin1 columns .*--layer"):
        ingest_boundaries(Workspace(tmp_path / "third"), archive, "admin1")
    named = ingest_boundaries(Workspace(tmp_path / "fourth"), gpkg, "admin2", layer="ADM_ADM_2")
    assert named.accepted == 72


def test_a_geoboundaries_zip_reads_the_full_detail_level_once(workspace, shared_data, tmp_path) -> None:
    """The same level in three formats plus a simplified copy and metadata JSON: one dataset read
    (full detail), every unit once."""
    archive = boundary_fixtures.geoboundaries_zip(shared_data, tmp_path)
    report = ingest_boundaries(workspace, archive, "admin2")
    assert (report.read, report.accepted, report.rejected) == (79, 79, 0)
    assert report.schema["name"] == "geoboundaries"
    assert any("read layer" in w and "simplified" not in w for w in report.warnings), report.warnings
    (tmp_path / "again").mkdir()
    full = gpd.read_file(boundary_fixtures.geoboundaries_geojson(shared_data, tmp_path / "again"))
    stored = workspace.localities("admin2")
    vertices = shapely.get_num_coordinates(stored.geometry.to_numpy()).sum()
    assert vertices == pytest.approx(shapely.get_num_coordinates(full.geometry.to_numpy()).sum(), rel=0.01)


def test_features_sharing_an_id_are_one_locality_and_a_clashing_name_is_rejected(workspace, tmp_path) -> None:
    """A unit written one part per feature (an island, an exclave) keeps every part: one locality, the
    union of the parts, its area their sum. An id an earlier row gives to another name is rejected
    (field and reason), not silently made a "duplicate"."""
    parts = [box(20, 5, 20.5, 5.5), box(21, 5, 21.5, 5.5), box(20, 6, 20.5, 6.5), box(22, 6, 22.5, 6.5)]
    frame = gpd.GeoDataFrame(
        {
            "ADM2_PCODE": ["X01", "X01", "X02", "X02"],
            "ADM2_EN": ["Alpha", "Alpha", "Beta", "Gamma"],
            "ADM1_PCODE": "X1",
            "ADM1_EN": "Region",
        },
        geometry=parts,
        crs="EPSG:4326",
    )
    path = tmp_path / "parts.geojson"
    frame.to_file(path, driver="GeoJSON")
    report = ingest_boundaries(workspace, path, "admin2")
    assert (report.read, report.accepted, report.rejected, report.duplicates) == (4, 3, 1, 0)
    assert any("2 features share the id X01" in w for w in report.warnings), report.warnings
    stored = workspace.localities("admin2").set_index("locality_id")
    assert sorted(stored.index) == ["X01", "X02"]
    assert stored.loc["X01", "geometry"].geom_type == "MultiPolygon"
    single = ingest_boundaries(Workspace(tmp_path / "one"), _one_part(frame, tmp_path), "admin2")
    assert single.accepted == 1
    one_part = Workspace(tmp_path / "one").localities("admin2")["area_km2"].iloc[0]
    assert stored.loc["X01", "area_km2"] == pytest.approx(2 * one_part, rel=0.01)
    rejects = pd.read_csv(report.rejects_file, dtype=str)
    assert rejects[["row", "field"]].values.tolist() == [["4", "ADM2_PCODE"]]  # as the file names it
    assert rejects["reason"].iloc[0] == "id 'X02' is 'Beta' earlier in this file, not 'Gamma'"
    again = ingest_boundaries(workspace, path, "admin2")
    assert (again.accepted, again.rejected, again.duplicates) == (
        0,
        1,
        3,
    )  # parts share their locality's fate


def _one_part(frame: gpd.GeoDataFrame, folder: Path) -> Path:
    path = folder / "one.geojson"
    frame.iloc[[0]].to_file(path, driver="GeoJSON")
    return path
