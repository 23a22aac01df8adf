"""The glossary labels every feature the cube can produce in plain words, for any parameters."""

from __future__ import annotations

import re

import pytest

from sauti.features import FeatureParams, build_cube
from sauti.features.glossary import driver_text, feature_label, label_drivers, percent, points
from sauti.features.synthetic import synthetic_alerts, synthetic_grid, synthetic_incidents


def _plain(label: str) -> None:
    assert "_" not in label, label
    assert len(label.split()) >= 3, label
    assert not re.search(r"\b(splag|decay|roll|hl)\d*\b", label), label


@pytest.mark.parametrize(
    ("freq", "params"),
    [
        ("M", FeatureParams()),
        ("W", FeatureParams(half_lives=(2, 4.5), windows=(5,), trend=(2, 8))),
    ],
    ids=["monthly-defaults", "weekly-other-windows"],
)
def test_every_cube_variable_has_a_plain_label(freq, params):
    grid = synthetic_grid(side_cells=4, cell_km=20)
    cube = build_cube(
        synthetic_incidents(grid, 200, weeks=60),
        synthetic_alerts(grid, 100, weeks=60),
        grid,
        freq=freq,
        params=params,
        capital=(20.9, 6.6),
    )
    names = [str(n) for n in cube.data_vars]
    assert len(names) > 70
    labels = {n: feature_label(n, freq=freq, trend=params.trend) for n in names}
    for label in labels.values():
        _plain(label)
    assert len(set(labels.values())) == len(labels)  # no two features read the same
    assert not any(label.startswith("other model input") for label in labels.values())


def test_labels_read_as_the_issue_asks():
    assert (
        feature_label("splag1_decay_count_intercommunal_hl6")
        == "intercommunal incidents in neighbouring localities, last 6 months (weighted)"
    )
    assert "second-ring" in feature_label("splag2_roll12_fatalities")
    assert feature_label("dist_capital_km").endswith("(static)")
    assert feature_label("area_km2").endswith("(static)")
    assert feature_label("roll3_count_violent", freq="W") == "violent incidents, last 3 weeks"
    assert feature_label("since_armed_clash") == "months since the last armed clash"


def test_an_unknown_name_still_shows_no_internal_name():
    label = feature_label("ensemble_member_7_score")
    _plain(label)


def test_drivers_carry_label_and_units_match_the_risk():
    drivers = label_drivers([{"feature": "area_km2", "contribution": 0.005, "value": 1200.0}])
    assert drivers == [
        {
            "feature": "area_km2",
            "label": "area of the locality in km² (static)",
            "contribution": 0.005,
            "value": 1200.0,
            "typical": None,
            "text": "area: 1,200 km²",
        }
    ]
    assert percent(0.0112) == "1.1%"
    assert percent(0.00035) == "0.035%"  # a small risk never reads as "0.0%"
    assert percent(0.25) == "25%"
    assert percent(0.0112, 2) == "1.12%"
    assert points(0.005) == "+0.50 pp"
    assert points(-0.0012) == "-0.12 pp"
    assert driver_text(drivers[0]) == "area of the locality in km² (static) (+0.50 pp)"
