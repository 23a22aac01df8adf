"""The patrol answer over real HTTP, in a planner's terms: forecast period, model version, expected
localities with an incident covered, and warnings for bases outside the boundaries (issue #11)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

HEADLINE = re.compile(r"^Expected localities with an incident covered: [0-9.,]+ of [0-9.,]+ \(\d+%\)$")


def test_stored_plan_names_its_forecast_period_model_and_expected_localities(server):
    version = server.get("/api/v1/version", "planner").json()
    response = server.get("/api/v1/patrols/priorities", "planner")
    assert response.status_code == 200, response.text
    body = response.json()
    summary = body["summary"]
    assert summary["model_version"] == version["model_version"]
    assert summary["period"] == "2022-12-01"
    assert summary["forecast_period"] == {"label": "January 2023", "start": "2023-01-01", "end": "2023-01-31"}
    assert HEADLINE.match(summary["headline"]), summary["headline"]
    np.testing.assert_allclose(
        summary["expected_localities_covered"], sum(r["risk"] for r in body["priorities"]), rtol=1e-9
    )
    assert summary["expected_localities_covered"] <= summary["expected_localities_total"]
    # the sample's incident log ends in 2022, its last intercommunal incident in 2020: the plan carries
    # the same stale-data and silent-target warnings as /health
    stale = server.get("/api/v1/health").json()["warnings"]
    assert len(stale) == 2
    assert stale[0].startswith("Incident data is old")
    assert stale[1].startswith("No intercommunal incident since 21 Nov 2020")
    assert summary["warnings"] == stale


def test_a_posted_base_across_the_border_is_warned_about(server):
    bases = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [14.40, 5.88]},  # Garoua-Boulaï, Cameroon
                "properties": {"name": "Garoua-Boulaï", "patrols": 2, "range_km": 150},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [18.56, 4.37]},  # Bangui
                "properties": {"name": "Bangui", "patrols": 2, "range_km": 100},
            },
        ],
    }
    with server.client("planner") as client:
        response = client.post("/api/v1/patrols/priorities", json=bases)
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert len(summary["warnings"]) == 3
    assert summary["warnings"][0].startswith("Incident data is old")
    assert summary["warnings"][1].startswith("No intercommunal incident since")
    assert summary["warnings"][2].startswith("Base Garoua-Boulaï lies outside the workspace's boundaries")
    assert "would cross the border into Central African Republic" in summary["warnings"][2]
    outside = {b["name"]: b["outside_boundaries"] for b in summary["bases"]}
    assert outside == {"Garoua-Boulaï": True, "Bangui": False}
    kinds = [
        f["properties"] for f in response.json()["geojson"]["features"] if f["properties"]["kind"] == "base"
    ]
    assert {p["name"]: p["outside_boundaries"] for p in kinds} == outside
    assert json.dumps(summary, ensure_ascii=False).count("Garoua-Boulaï") >= 2
