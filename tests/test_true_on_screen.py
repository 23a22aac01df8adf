"""What a person reads is the same number everywhere and never their own input echoed back."""

from __future__ import annotations

import pandas as pd
import pytest

from sauti.features.glossary import percent


def test_the_patrol_table_prints_risk_as_the_map_does():
    from rich.console import Console

    from sauti.cli.patrol_cmd import _priority_table

    class Plan:
        row = {"base": "Bangui", "rank": 1, "name": "Bambari", "risk": 0.0086, "distance_km": 12.0}
        assignments = pd.DataFrame([{**row, "drivers": []}])

    console = Console(width=200, record=True)
    console.print(_priority_table(Plan(), {"weighted": False}))
    text = console.export_text()
    assert percent(0.0086) == "0.86%"
    assert " 0.86% " in text
    assert "0.9%" not in text


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/localities?period=2030-01-01",
        "/api/v1/localities/rising?period=2030-01-01",
        "/map?period=2030-01-01",
    ],
    ids=["localities", "rising", "map"],
)
def test_an_unscored_period_is_refused_without_echo(server, path):
    response = server.get(path, "planner")
    assert response.status_code == 404, response.text
    assert "2030" not in response.text
    assert "scored periods run" in response.text


@pytest.mark.server
@pytest.mark.slow
def test_an_alert_newer_than_the_forecast_data_is_marked(server):
    alert = {
        "text": "Tension au marché après la réunion",
        "category": "intercommunal_tension",
        "place_name": "Bria",
        "received_at": "2026-11-30T08:00:00Z",
    }
    with server.client("analyst") as client:
        posted = client.post("/api/v1/alerts", json=alert)
    assert posted.status_code in (200, 201), posted.text
    reply = posted.json()
    detail = server.get(f"/api/v1/localities/{reply['locality_id']}", "analyst").json()
    marks = {a["alert_id"]: a["after_forecast_data"] for a in detail["alerts"]}
    assert marks[reply["alert_id"]] is True
    assert any(v is False for v in marks.values())  # the sample's alerts are inside the data
    item = server.get(f"/ogc/collections/alerts/items/{reply['alert_id']}", "analyst").json()
    assert item["properties"]["after_forecast_data"] is True
    page = server.get("/map", "analyst").text
    assert "After the forecast's data: received after 30 Dec 2022" in page.replace("\\u0027", "'")


def test_the_plan_maps_risk_scale_reads_in_percent():
    from patrol_helpers import greedy_trap

    from sauti.models.patrol import plan_patrols
    from sauti.models.patrol.plot import plan_figure

    localities, risk, bases = greedy_trap()
    risk = risk.assign(probability=risk["probability"] / 100)  # small risks, as on the sample
    figure = plan_figure(plan_patrols(localities, risk, bases))
    figure.canvas.draw()
    colourbar = figure.axes[-1]
    ticks = [t.get_text() for t in colourbar.get_yticklabels() if t.get_text()]
    assert ticks
    assert all(t.endswith("%") for t in ticks), ticks
    assert colourbar.get_ylabel() == "risk of at least one intercommunal incident"
