"""Spatial assignment of incidents and alerts to localities (features/assign.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from sauti.features import assign_alerts, assign_to_localities
from sauti.features.assign import match_names, normalise_name

# 1° of longitude at 5.5°N is about 110.8 km: 0.02° ≈ 2.2 km, 0.1° ≈ 11 km


def _value(x):
    return None if pd.isna(x) else x


def _events(rows):
    return pd.DataFrame(
        rows, columns=["event_id", "longitude", "latitude", "location_precision", "admin1", "admin2"]
    )


@pytest.mark.parametrize(
    ("lon", "lat", "precision", "locality", "assignment"),
    [
        (20.5, 5.5, "point", "A", "contains"),
        (22.5, 5.5, "point", "C", "contains"),
        (21.0, 5.5, "point", "A", "contains"),  # on the A|B border: first locality in frame order
        (19.98, 5.5, "point", "A", "snapped"),  # ~2 km west of A
        (23.03, 5.5, "point", "C", "snapped"),  # ~3 km east of C
        (19.9, 5.5, "point", None, "outside"),  # ~11 km west of A
        (21.5, 7.0, "point", None, "outside"),
        (21.5, 5.5, "locality", "B", "contains"),
    ],
    ids=[
        "inside-A",
        "inside-C",
        "shared-border",
        "snap-2km",
        "snap-3km",
        "beyond-tolerance",
        "far-north",
        "locality-inside-B",
    ],
)
def test_point_rule(three_squares, lon, lat, precision, locality, assignment):
    out = assign_to_localities(
        _events([("e", lon, lat, precision, None, None)]), three_squares, tolerance_km=5
    )
    assert out["assignment"].iloc[0] == assignment
    assert _value(out["locality_id"].iloc[0]) == locality


def test_tolerance_is_measured_in_km(three_squares):
    events = _events([("e", 19.98, 5.5, "point", None, None)])  # ~2.2 km outside A
    assert assign_to_localities(events, three_squares, tolerance_km=3)["assignment"].iloc[0] == "snapped"
    assert assign_to_localities(events, three_squares, tolerance_km=2)["assignment"].iloc[0] == "outside"


def test_locality_precise_event_outside_goes_to_named_locality(three_squares):
    # the point is in the sea far away, but the source names the admin2 unit (with accents lost
    # and the suffix GED adds)
    events = _events([("e", 30.0, 0.0, "locality", "Region One province", "Beta region")])
    out = assign_to_localities(events, three_squares, tolerance_km=5)
    assert out["assignment"].iloc[0] == "named"
    assert out["locality_id"].iloc[0] == "B"
    assert out["region_id"].iloc[0] == "R1"


def test_locality_precise_without_coordinates_uses_the_name(three_squares):
    events = _events([("e", np.nan, np.nan, "locality", None, "Gama")])  # misspelt
    out = assign_to_localities(events, three_squares, tolerance_km=5)
    assert (out["assignment"].iloc[0], out["locality_id"].iloc[0]) == ("named", "C")


def test_point_precise_event_ignores_names(three_squares):
    events = _events([("e", 30.0, 0.0, "point", "Region One", "Alpha")])
    out = assign_to_localities(events, three_squares, tolerance_km=5)
    assert out["assignment"].iloc[0] == "outside"
    assert pd.isna(out["locality_id"].iloc[0])


@pytest.mark.parametrize(
    ("lon", "lat", "admin1", "region"),
    [(22.5, 5.5, None, "R2"), (40.0, 0.0, "Region One province", "R1"), (40.0, 0.0, "Nowhere", None)],
    ids=["by-point", "by-name", "unknown"],
)
def test_region_precise_events_never_reach_a_locality(three_squares, lon, lat, admin1, region):
    out = assign_to_localities(
        _events([("e", lon, lat, "region", admin1, None)]), three_squares, tolerance_km=5
    )
    assert out["assignment"].iloc[0] == "region"
    assert pd.isna(out["locality_id"].iloc[0])
    assert _value(out["region_id"].iloc[0]) == region


def test_country_precise_events_feed_nothing(three_squares):
    out = assign_to_localities(
        _events([("e", 20.5, 5.5, "country", "Region One", "Alpha")]), three_squares, tolerance_km=5
    )
    assert out["assignment"].iloc[0] == "country"
    assert pd.isna(out["locality_id"].iloc[0])
    assert pd.isna(out["region_id"].iloc[0])


def test_point_geometry_frames_work(three_squares, three_points):
    out = assign_to_localities(three_points, three_squares, tolerance_km=5)
    assert out["locality_id"].tolist() == ["A", "B", "C"]
    assert (out["assignment"] == "contains").all()


def test_input_is_not_modified_and_order_kept(three_squares):
    events = _events([(f"e{i}", 20.1 + i * 0.5, 5.5, "point", None, None) for i in range(6)])
    before = events.copy()
    out = assign_to_localities(events, three_squares, tolerance_km=5)
    pd.testing.assert_frame_equal(events, before)
    assert out["event_id"].tolist() == events["event_id"].tolist()
    assert out["locality_id"].tolist() == ["A", "A", "B", "B", "C", "C"]


def test_unknown_precision_is_an_error(three_squares):
    with pytest.raises(ValueError, match="location_precision"):
        assign_to_localities(_events([("e", 20.5, 5.5, "street", None, None)]), three_squares, tolerance_km=5)


def test_alerts_use_stored_locality_then_point(three_squares):
    alerts = pd.DataFrame(
        {
            "alert_id": ["a1", "a2", "a3", "a4"],
            "locality_id": ["C", None, "CF999", None],  # CF999: resolved to a locality not in this unit set
            "longitude": [20.5, 21.5, 20.5, np.nan],
            "latitude": [5.5, 5.5, 5.5, np.nan],
        }
    )
    out = assign_alerts(alerts, three_squares, tolerance_km=5)
    assert out["locality_id"].tolist()[:3] == ["C", "B", "A"]
    assert pd.isna(out["locality_id"].iloc[3])
    assert out["assignment"].tolist() == ["stored", "contains", "contains", "outside"]
    assert out["region_id"].tolist()[:3] == ["R2", "R1", "R1"]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ombella-M'Poko province", "ombellampoko"),
        ("Ombella M'Poko", "ombellampoko"),
        ("Mambéré-Kadéï", "mamberekadei"),
        ("Bangui region", "bangui"),
        (None, ""),
    ],
    ids=["ged-admin1", "ocha-admin1", "accents", "suffix", "missing"],
)
def test_normalise_name(raw, key):
    assert normalise_name(raw) == key


def test_ambiguous_names_never_match():
    candidates = pd.Series(["Bossangoa", "Bossangoa", "Bouar"], index=["X1", "X2", "X3"])
    out = match_names(pd.Series(["Bossangoa region", "Bouar", "Nowhere"]), candidates)
    assert pd.isna(out.iloc[0])
    assert out.iloc[1] == "X3"
    assert pd.isna(out.iloc[2])


def test_many_points_are_assigned_like_one_by_one(three_squares):
    rng = np.random.default_rng(5)
    lon = rng.uniform(19.8, 23.2, 500)
    lat = rng.uniform(4.8, 6.2, 500)
    events = pd.DataFrame({"longitude": lon, "latitude": lat, "location_precision": "point"})
    bulk = assign_to_localities(events, three_squares, tolerance_km=0)
    expected = []
    for x, y in zip(lon, lat, strict=True):
        hit = [
            lid
            for lid, g in zip(three_squares.locality_id, three_squares.geometry, strict=True)
            if g.intersects(box(x, y, x, y))
        ]
        expected.append(hit[0] if hit else None)
    assert bulk["locality_id"].where(bulk["locality_id"].notna(), None).tolist() == expected
