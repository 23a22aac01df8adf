"""Boundary files in the shapes a new mission downloads them, built from the real OCHA files.

Same geometry as the OCHA source, the column names of GADM 3.6 (a quantized TopoJSON with no CRS,
as GADM distributes it), GADM 4.1 (GeoPackage, ``COUNTRY`` for the country's name) and geoBoundaries
(GeoJSON, one level per file). Written to a temporary folder by the tests, never committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

SSD = "boundaries/SSD/ocha_codab_ssd_adm2.shp"
CAF = "boundaries/CAF/caf_admbnda_adm2_200k_sigcaf_reach_itos_v2.shp"
QUANTUM = 1e-6  # degrees per TopoJSON integer step (GADM's files use about 1e-4)


def _ocha(path: Path, prefix: str) -> gpd.GeoDataFrame:
    """The OCHA file with uniform column names: code/name of admin0..2."""
    frame = pyogrio.read_dataframe(path)
    if prefix == "ADM":
        cols = {f"ADM{k}_{s}": f"{t}{k}" for k in range(3) for s, t in (("PCODE", "code"), ("EN", "name"))}
    else:
        cols = {f"admin{k}{s}": f"{t}{k}" for k in range(3) for s, t in (("Pcod", "code"), ("Name", "name"))}
    return frame.rename(columns=cols)[[*cols.values(), "geometry"]]


def gadm_frame(path: Path, prefix: str, iso3: str, country: str) -> gpd.GeoDataFrame:
    """GADM columns (GID_0..2, NAME_0..2, VARNAME_2, TYPE_2, ENGTYPE_2, HASC_2) over OCHA geometry."""
    src = _ocha(path, prefix).sort_values(["code1", "code2"]).reset_index(drop=True)
    region = {c: i + 1 for i, c in enumerate(dict.fromkeys(src["code1"]))}
    within = src.groupby("code1").cumcount() + 1
    gid1 = [f"{iso3}.{region[c]}_1" for c in src["code1"]]
    return gpd.GeoDataFrame(
        {
            "GID_0": iso3,
            "NAME_0": country,
            "GID_1": gid1,
            "NAME_1": src["name1"],
            "NL_NAME_1": None,
            "GID_2": [f"{iso3}.{region[c]}.{j}_1" for c, j in zip(src["code1"], within, strict=True)],
            "NAME_2": src["name2"],
            "VARNAME_2": [f"{n} County|{n.upper()}" for n in src["name2"]],
            "NL_NAME_2": None,
            "TYPE_2": "County",
            "ENGTYPE_2": "County",
            "CC_2": None,
            "HASC_2": [
                f"{iso3[:2]}.{region[c]:02d}.{j:02d}" for c, j in zip(src["code1"], within, strict=True)
            ],
        },
        geometry=src.geometry.to_numpy(),
        crs="EPSG:4326",
    )


def _rings(geom) -> list[list[np.ndarray]]:
    polygons = [geom] if geom.geom_type == "Polygon" else list(geom.geoms)
    return [[np.asarray(p.exterior.coords), *(np.asarray(r.coords) for r in p.interiors)] for p in polygons]


def write_topojson(frame: gpd.GeoDataFrame, path: Path, layer: str) -> Path:
    """A quantized, delta-encoded TopoJSON (one arc per ring) with no CRS, as GADM ships them."""
    x0, y0 = frame.total_bounds[:2]
    arcs, geometries = [], []
    for props, geom in zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True):
        polygons = []
        for rings in _rings(geom):
            ids = []
            for ring in rings:
                q = np.round((ring - (x0, y0)) / QUANTUM).astype(np.int64)
                arcs.append(np.vstack([q[:1], np.diff(q, axis=0)]).tolist())
                ids.append([len(arcs) - 1])
            polygons.append(ids)
        kind = "Polygon" if len(polygons) == 1 else "MultiPolygon"
        props = {k: v for k, v in props.items() if v is not None}
        geometries.append(
            {"type": kind, "arcs": polygons[0] if kind == "Polygon" else polygons, "properties": props}
        )
    topology = {
        "type": "Topology",
        "transform": {"scale": [QUANTUM, QUANTUM], "translate": [float(x0), float(y0)]},
        "objects": {layer: {"type": "GeometryCollection", "geometries": geometries}},
        "arcs": arcs,
    }
    path.write_text(json.dumps(topology))
    return path


def gadm36_topojson(shared: Path, folder: Path) -> Path:
    """South Sudan counties as GADM 3.6 distributes admin2: ``gadm36_SSD_2.json``, TopoJSON, no CRS."""
    frame = gadm_frame(shared / SSD, "ADM", "SSD", "South Sudan")
    return write_topojson(frame, folder / "gadm36_SSD_2.json", "gadm36_SSD_2")


def gadm41_gpkg(shared: Path, folder: Path) -> Path:
    """CAR sous-préfectures in GADM 4.1's shape: ``COUNTRY`` instead of ``NAME_0``, one GeoPackage
    holding every level as GADM ships it (layers ``ADM_ADM_0``, ``ADM_ADM_1``, ``ADM_ADM_2``)."""
    frame = gadm_frame(shared / CAF, "admin", "CAF", "Central African Republic")
    frame = frame.rename(columns={"NAME_0": "COUNTRY"})
    path = folder / "gadm41_CAF.gpkg"
    for k, keep in ((0, ["GID_0", "COUNTRY"]), (1, ["GID_0", "COUNTRY", "GID_1", "NAME_1"])):
        level = frame[[*keep, "geometry"]].dissolve(by=keep[-2], as_index=False)[[*keep, "geometry"]]
        level.to_file(path, layer=f"ADM_ADM_{k}", driver="GPKG")
    frame.to_file(path, layer="ADM_ADM_2", driver="GPKG")
    return path


def cod_zip(shared: Path, folder: Path) -> Path:
    """A COD-AB download as HDX serves it: one zip, a folder inside, a shapefile per level."""
    import zipfile

    path = folder / "caf_adm_200k_shp.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for source in sorted((shared / CAF).parent.glob("caf_admbnda_*")):
            archive.write(source, f"caf_adm_200k_shp/{source.name}")
    return path


def geoboundaries_geojson(shared: Path, folder: Path, source: str = SSD, iso3: str = "SSD") -> Path:
    """One level per file: ``shapeName``, ``shapeISO``, ``shapeID``, ``shapeGroup``, ``shapeType``."""
    src = _ocha(shared / source, "ADM" if source == SSD else "admin")
    frame = gpd.GeoDataFrame(
        {
            "shapeName": src["name2"],
            "shapeISO": None,
            "shapeID": [f"5{i:07d}B{i % 7}" for i in range(len(src))],
            "shapeGroup": iso3,
            "shapeType": "ADM2",
        },
        geometry=src.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    path = folder / f"geoBoundaries-{iso3}-ADM2.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


ACLED_COLUMNS = [
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
]


def acled_export(boundaries: gpd.GeoDataFrame, path: Path, *, start="2019-01-01", months=36, seed=13) -> Path:
    """A made-up ACLED export (current schema) over ``boundaries`` (name column ``name2``).

    Communal clashes (inter 4 against inter 4) recur in a few hot counties, so the target has
    positives; other violence is scattered. Seeded: the same file every time.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    hot = set(rng.choice(len(boundaries), size=max(3, len(boundaries) // 8), replace=False).tolist())
    rows = []
    days = pd.date_range(start, periods=months * 30, freq="D")
    for i in range(months * 12):
        county = int(rng.choice(sorted(hot))) if i % 2 == 0 else int(rng.integers(len(boundaries)))
        communal = county in hot and rng.random() < 0.8
        geom = boundaries.geometry.iloc[county]
        point = geom.representative_point()
        lon, lat = point.x + rng.normal(0, 0.01), point.y + rng.normal(0, 0.01)
        if not geom.contains(shapely.Point(lon, lat)):
            lon, lat = point.x, point.y
        day = days[int(rng.integers(len(days)))]
        name = str(boundaries["name2"].iloc[county])
        rows.append(
            {
                "event_id_cnty": f"SSD{90000 + i}",
                "event_date": day.strftime("%d %B %Y"),
                "year": day.year,
                "time_precision": 1,
                "disorder_type": "Political violence",
                "event_type": "Violence against civilians" if not communal else "Battles",
                "sub_event_type": "Attack" if not communal else "Armed clash",
                "actor1": "Communal Militia (South Sudan)" if communal else "Unidentified Armed Group",
                "inter1": 4 if communal else 3,
                "actor2": "Communal Militia (South Sudan)" if communal else "Civilians (South Sudan)",
                "inter2": 4 if communal else 7,
                "interaction": 44 if communal else 37,
                "iso": 728,
                "region": "Eastern Africa",
                "country": "South Sudan",
                "admin1": str(boundaries["name1"].iloc[county]),
                "admin2": name,
                "location": name,
                "latitude": round(lat, 4),
                "longitude": round(lon, 4),
                "geo_precision": 1,
                "source": "Invented",
                "source_scale": "Local",
                "notes": f"Made-up event near {name} (test fixture).",
                "fatalities": int(rng.integers(0, 6)),
                "timestamp": 1670500000,
            }
        )
    frame = pd.DataFrame(rows).reindex(columns=ACLED_COLUMNS)
    frame.to_csv(path, index=False)
    return path


def ssd_ocha(shared: Path) -> gpd.GeoDataFrame:
    """South Sudan's OCHA counties with uniform columns (code0..2, name0..2)."""
    return _ocha(shared / SSD, "ADM")


def geoboundaries_adm1_geojson(shared: Path, folder: Path) -> Path:
    """South Sudan's states as geoBoundaries ships ADM1: its own file, no codes of the counties."""
    src = _ocha(shared / SSD, "ADM").dissolve(by="code1", as_index=False)
    frame = gpd.GeoDataFrame(
        {
            "shapeName": src["name1"],
            "shapeISO": src["code1"],
            "shapeID": [f"7{i:07d}B1" for i in range(len(src))],
            "shapeGroup": "SSD",
            "shapeType": "ADM1",
        },
        geometry=src.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    path = folder / "geoBoundaries-SSD-ADM1.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def geoboundaries_zip(shared: Path, folder: Path) -> Path:
    """geoBoundaries' "-all" download: the level as GeoJSON, shapefile and TopoJSON, simplified
    copies, and metadata files that are not vector data."""
    import zipfile

    geojson = geoboundaries_geojson(shared, folder)
    frame = gpd.read_file(geojson)
    stem = geojson.stem
    shp_folder = folder / "shp"
    shp_folder.mkdir(exist_ok=True)
    frame.to_file(shp_folder / f"{stem}.shp")
    simplified = frame.set_geometry(frame.geometry.simplify(0.05))
    simplified.to_file(folder / f"{stem}_simplified.geojson", driver="GeoJSON")
    path = folder / f"{stem}-all.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(geojson, geojson.name)
        archive.write(folder / f"{stem}_simplified.geojson", f"{stem}_simplified.geojson")
        for part in sorted(shp_folder.iterdir()):
            archive.write(part, part.name)
        archive.writestr(f"{stem}-metaData.json", json.dumps({"boundaryISO": "SSD", "boundaryType": "ADM2"}))
        archive.writestr(f"{stem}-metaData.txt", "Boundary Representative of Year: 2020")
        archive.writestr("CITATION-AND-USE-geoBoundaries.txt", "CC BY 4.0")
    return path
