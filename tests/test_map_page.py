"""``/map`` for a person with a browser: a page asking for the key (never raw JSON), the key form,
expired sessions, other periods; and the words and numbers the page is made of."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sauti.api.map.content import (
    RANK_CLASSES,
    MapPeriod,
    history_chart,
    nice_ceiling,
    percent,
    plural,
    points,
    rank_class,
)


# --- the page's words and numbers --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0107, "1.1%"),
        (0.0196, "2.0%"),
        (0.00035, "0.035%"),
        (0.25, "25%"),
        (0.0, "0%"),
        (0.999, "100%"),
        (None, "–"),
    ],
    ids=["one-percent", "trailing-zero", "tiny", "quarter", "zero", "near-certain", "missing"],
)
def test_percent_keeps_two_significant_digits(p, text):
    assert percent(p) == text


def test_points_are_signed_percentage_points():
    assert points(0.0061) == "+0.61 pp"
    assert points(-0.00018) == "-0.018 pp"
    assert points(None) == "–"


@pytest.mark.parametrize(("n", "text"), [(0, "0 alerts"), (1, "1 alert"), (2, "2 alerts")])
def test_plural(n, text):
    assert plural(n, "alert") == text


def test_rank_classes_split_72_localities_into_six_classes():
    classes = [rank_class(r, 72) for r in range(1, 73)]
    assert classes[:4] == [0] * 4  # ranks 1-4 are the top 5% (3.6 of 72)
    assert classes[4:8] == [1] * 4
    assert sorted(set(classes)) == list(range(len(RANK_CLASSES)))
    assert classes == sorted(classes)
    assert rank_class(None, 72) is None


@pytest.mark.parametrize(("value", "top"), [(0.0107, 0.02), (0.02, 0.02), (0.0031, 0.005), (0.21, 0.25)])
def test_axis_tops_are_round(value, top):
    assert nice_ceiling(value) == pytest.approx(top)


def test_history_chart_has_dated_and_valued_axes():
    periods = pd.date_range("2021-01-01", periods=24, freq="MS")
    history = [(p, 0.001 * (i % 5)) for i, p in enumerate(periods)]
    shown = MapPeriod(periods[-1], tuple(periods), "M", 1)
    svg = history_chart(history, shown)
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", svg)
    assert labels[:3] == ["0%", "0.25%", "0.50%"]  # axis top: 0.4% rounded up to 0.5%
    assert [t for t in labels if re.fullmatch(r"[A-Z][a-z]{2} \d{4}", t)] == [
        "Jan 2021",
        "Dec 2021",
        "Dec 2022",
    ]
    assert "24 periods" in labels
    assert len(re.search(r'points="([^"]+)"', svg)[1].split()) == 24
    assert history_chart(history[:1], shown) == ""
    assert shown.forecast == "January 2023"
    assert MapPeriod(periods[-1], tuple(periods), "M", 3).forecast == "January – March 2023"


# --- /map without a key, with a wrong one, with an expired session ------------------------------------


@pytest.mark.server
@pytest.mark.slow
def test_map_without_a_key_asks_for_it_in_a_page(server):
    response = server.get("/map")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["www-authenticate"] == "Bearer"
    assert re.search(r'<form method="post" action="/map">', response.text)
    assert 'name="key"' in response.text
    assert '"detail"' not in response.text
    assert "<title>Sauti – Risk map</title>" in response.text  # not "Sauti – Sauti risk map"


@pytest.mark.server
@pytest.mark.slow
def test_the_key_form_signs_in_or_says_why_not(server):
    with server.client(None, follow_redirects=False) as client:
        wrong = client.post("/map", data={"key": "sk_not_a_key"})
        assert wrong.status_code == 401
        assert "not recognised" in wrong.text
        assert "set-cookie" not in wrong.headers
        reporter = client.post("/map", data={"key": server.keys["reporter"]})
        assert reporter.status_code == 403
        assert "may not open the map" in reporter.text
        signed = client.post("/map", data={"key": server.keys["planner"]})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/map"
        page = client.get("/map")
        assert page.status_code == 200
        assert "Forecast for" in page.text


@pytest.mark.server
@pytest.mark.slow
def test_an_expired_session_gets_the_form_again(server):
    from sauti.api.security import SESSION_COOKIE, authenticate_key, issue_session_token
    from sauti.store import Workspace

    workspace = Workspace(server.workspace)
    principal = authenticate_key(workspace, server.keys["analyst"])
    expired = issue_session_token(workspace, principal, ttl_s=-1)
    with server.client(None, follow_redirects=False) as client:
        client.cookies.set(SESSION_COOKIE, expired)
        response = client.get("/map")
    assert response.status_code == 401
    assert "session has expired" in response.text
    assert 'name="key"' in response.text


@pytest.mark.server
@pytest.mark.slow
def test_an_unknown_period_is_a_page_not_json(server):
    response = server.get("/map?period=1990-01-01", "analyst")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "scored periods run" in response.text


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("role", ["analyst", "planner"])
def test_no_popup_names_an_internal_code(server, role):
    """Every popup of every layer (localities, incidents, alerts) in words: no ``snake_case`` code."""
    import html
    import json

    page = server.get("/map", role).text
    popups = [json.loads(f'"{raw}"') for raw in re.findall(r'"popup": "((?:[^"\\]|\\.)*)"', page)]
    assert len(popups) > 72  # the localities, and incidents and alerts
    assert any("Alert" in p or "alert" in p for p in popups)
    for popup in popups:
        text = html.unescape(re.sub(r"<[^>]+>", " ", popup))
        assert not re.search(r"[a-z]_[a-z]", text), text
        for n, word in re.findall(r"\b(\d+) (deaths?|alerts?|false alarms?)\b", text):
            assert (n == "1") == (not word.endswith("s")), text  # "1 alert", "2 alerts", "0 deaths"


@pytest.mark.parametrize(
    ("units", "quantity", "low", "high"),
    [
        ("probability (0-1)", None, "0%", "5.0% or more"),
        ("relative index (0-1, 1 = highest; not a probability)", None, "0", "0.05 or more"),
        ("likelihood (0-1)", "probability", "0%", "5.0% or more"),  # the quantity tag decides
        ("probability-weighted index (0-1)", "relative_risk_index", "0", "0.05 or more"),
    ],
    ids=["probability", "relative-index", "quantity-probability", "quantity-index"],
)
def test_heatmap_legend_speaks_the_rasters_units(tmp_path, units, quantity, low, high):
    """The legend states the raster's own units and description, in % when the values are
    probabilities: as its ``quantity`` tag says, or its units when it has none."""
    import numpy as np
    import rasterio
    from affine import Affine

    from sauti.api.map.content import heatmap_legend
    from sauti.api.services.source import DataSource
    from sauti.settings import Settings
    from sauti.store import Workspace

    source = DataSource(Workspace(tmp_path / "ws"), Settings())
    path = source.risk_surface_path
    path.parent.mkdir(parents=True)
    values = np.linspace(0, 0.05, 100 * 100, dtype="float32").reshape(100, 100)
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 1, "dtype": "float32"}
    with rasterio.open(
        path, "w", crs="EPSG:32634", transform=Affine(1000, 0, 0, 0, -1000, 0), **profile
    ) as dst:
        dst.write(values, 1)
        dst.update_tags(units=units, description="What the cells hold, in a sentence.")
        if quantity:
            dst.update_tags(quantity=quantity)
    legend = heatmap_legend(source)
    assert legend["units"] == units
    assert legend["description"] == "What the cells hold, in a sentence."
    assert legend["high"] == high  # the 99th percentile the tiles stretch to (0.0495 → 5.0% / 0.05)
    assert legend["low"] == low
