"""A driver in plain words: its value with what it counts, and the typical locality it is measured
against (so "+0.17 pp" for 38 months since the last incident reads as it should)."""

from __future__ import annotations

import numpy as np
import pytest

from sauti.features.glossary import CONTRIBUTION_MEANING, driver_words, label_drivers, value_words
from sauti.models.explain import top_drivers


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("roll3_count_intercommunal", 3.0, "3 intercommunal incidents in the last 3 months"),
        ("count_violent", 1.0, "1 violent incident in the latest month"),
        ("decay_count_violent_hl6", 10.407, "10 violent incidents in the last 6 months (weighted)"),
        ("since_intercommunal", 38.0, "38 months since the last intercommunal incident"),
        ("since_intercommunal", 120.0, "no intercommunal incident in the last 120 months"),
        ("since_armed_clash", 1.0, "1 month since the last armed clash"),
        ("dist_border_km", 12.3, "distance to the national border: 12 km"),
        (
            "splag1_decay_count_violent_hl3",
            1.2335,
            "1.2 violent incidents per neighbouring locality on average, last 3 months (weighted)",
        ),
        ("decay_fatalities_hl3", 30.3, "30 deaths in recorded incidents in the last 3 months (weighted)"),
        (
            "decay_count_intercommunal_hl6",
            0.0054,
            "almost no intercommunal incidents in the last 6 months (weighted)",
        ),
        ("roll3_count_intercommunal", 0.0, "no intercommunal incidents in the last 3 months"),
    ],
    ids=[
        "window",
        "one",
        "weighted",
        "since",
        "since-never",
        "since-one",
        "distance",
        "neighbours",
        "deaths",
        "trace",
        "none",
    ],
)
def test_a_value_in_plain_words(name, value, words):
    assert value_words(name, value) == words
    assert "_" not in value_words(name, value)


def test_a_driver_names_the_typical_locality():
    since = {"feature": "since_intercommunal", "value": 38.0, "typical": 120.0, "contribution": 0.0017}
    assert (
        driver_words(since)
        == "38 months since the last intercommunal incident (typical locality: 120 months or more)"
    )
    decay = {"feature": "decay_count_violent_hl6", "value": 10.4, "typical": 0.029}
    assert (
        driver_words(decay) == "10 violent incidents in the last 6 months (weighted; typical locality: none)"
    )
    labelled = label_drivers([since])[0]
    assert labelled["typical"] == 120.0
    assert labelled["text"] == driver_words(since)
    assert "compared with a typical locality" in CONTRIBUTION_MEANING


def test_top_drivers_carry_the_reference_they_are_measured_against():
    contributions = np.array([[0.02, 0.0, -0.01]])
    X = np.array([[5.0, 0.0, 130.0]])
    drivers = top_drivers(
        contributions,
        X,
        ["count_violent", "area_km2", "since_intercommunal"],
        3,
        np.array([0.0, 900.0, 120.0]),
    )
    assert drivers == [
        [
            {"feature": "count_violent", "contribution": 0.02, "value": 5.0, "typical": 0.0},
            {"feature": "since_intercommunal", "contribution": -0.01, "value": 130.0, "typical": 120.0},
        ]
    ]


def test_the_locality_popup_shows_each_drivers_value_and_what_its_points_mean():
    import re

    from sauti.api.map.content import LocalityView, plain_drivers, render

    stored = [
        {"feature": "since_intercommunal", "contribution": 0.0017, "value": 38.0, "typical": 120.0},
        {"feature": "decay_count_violent_hl6", "contribution": 0.024, "value": 10.4, "typical": 0.029},
    ]
    view = LocalityView("CF431", "Bambari", "Ouaka", risk=0.037, rank=1, klass=0)
    view.drivers = plain_drivers(label_drivers(stored))
    html = render("locality_popup.html", v=view, chart="", n=72, base_rate=0.011, forecast="January 2023")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert (
        "38 months since the last intercommunal incident (typical locality: 120 months or more): +0.17 pp"
        in text
    )
    assert "10 violent incidents in the last 6 months (weighted; typical locality: none): +2.4 pp" in text
    assert "compared with a typical locality" in text
