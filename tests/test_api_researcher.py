"""The researcher role against the live server: risk, incidents, the map and backtest runs read-only;
no alert text, no writes, no patrol plans."""

from __future__ import annotations

import re

import pytest

from sauti.models.backtest import backtest_cube, write_backtest
from sauti.models.backtest_report import write_report
from sauti.models.synthetic import synthetic_cube

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def published(server):
    """A small backtest run published where the API reads runs: ``<workspace>/backtests/h2``."""
    cube = synthetic_cube(12, 48, start="2015-01-01", seed=4)
    result = backtest_cube(
        cube, start="2017-06", end="2017-12", horizon=2, models=["sauti", "neighbourhood"], n_boot=5
    )
    out = server.workspace / "backtests" / "h2"
    write_backtest(result, out)
    write_report(result, out / "report.html")
    return result


def test_a_researcher_reads_risk_and_backtests(server, published):
    assert server.get("/api/v1/localities?limit=3", "researcher").status_code == 200
    assert server.get("/ogc/collections/incidents/items?limit=3", "researcher").status_code == 200
    listing = server.get("/api/v1/backtests", "researcher")
    assert listing.status_code == 200, listing.text
    runs = {run["name"]: run for run in listing.json()["backtests"]}
    assert runs["h2"]["horizon"] == 2
    assert runs["h2"]["report"] is True
    metrics = server.get("/api/v1/backtests/h2", "researcher").json()
    assert metrics["models"]["sauti"]["average_precision"] == pytest.approx(
        published.metrics["models"]["sauti"]["average_precision"]
    )
    report = server.get("/api/v1/backtests/h2/report", "researcher")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "Forecast origins 2017-06" in report.text


@pytest.mark.parametrize(
    "name", ["nope", "..", "h2%2F..%2F..", "+23672114495"], ids=["unknown", "dots", "traversal", "phone"]
)
def test_an_unknown_run_is_404_without_echo(server, published, name):
    response = server.get(f"/api/v1/backtests/{name}", "researcher")
    assert response.status_code == 404
    assert "23672114495" not in response.text
    assert "nope" not in response.text


def test_a_researcher_gets_no_alert_text(server):
    localities = server.get("/api/v1/localities?limit=1", "researcher").json()
    detail = server.get(f"/api/v1/localities/{localities['features'][0]['id']}", "researcher").json()
    assert "alerts" not in detail
    assert "alerts_summary" in detail
    items = server.get("/ogc/collections/alerts/items?limit=50", "researcher").json()
    analyst = server.get("/ogc/collections/alerts/items?limit=50", "analyst").json()
    assert any("text" in f["properties"] for f in analyst["features"])  # the analyst's view has text
    assert not any("text" in f["properties"] for f in items["features"])
    page = server.get("/map", "researcher")
    assert page.status_code == 200
    assert "Alert: " not in page.text  # no alert popup (analysts only)
    assert "Patrol" not in re.sub(r"<script[^>]*src=[^>]*>", "", page.text)  # plans are for planners


def _page_text(page) -> str:
    return re.sub(r"<script[^>]*src=[^>]*>", "", page.text)


def test_a_map_a_planner_opened_is_not_served_to_a_researcher(server):
    """Neither role sees alert details, so a map cached for one must not be served to the other:
    the planner's carries the patrol plan, which the researcher may not read (and the other way,
    the planner would lose it)."""
    planner = server.get("/map", "planner")
    assert planner.status_code == 200
    assert "Patrol" in _page_text(planner)
    researcher = server.get("/map", "researcher")
    assert researcher.status_code == 200
    assert "Patrol" not in _page_text(researcher)
    assert "Patrol" in _page_text(server.get("/map", "planner"))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/alerts", {"text": "researcher write", "category": "other"}),
        ("PATCH", "/api/v1/alerts/{alert}", {"verification": "verified"}),
        ("DELETE", "/api/v1/users/test-planner", None),
        ("GET", "/api/v1/patrols/priorities", None),
        ("GET", "/api/v1/audit", None),
    ],
    ids=["post-alert", "verify-alert", "revoke-user", "patrol-plan", "audit"],
)
def test_a_researcher_may_not_write_nor_plan(server, method, path, body):
    alerts = server.get("/ogc/collections/alerts/items?limit=1", "analyst").json()
    path = path.format(alert=alerts["features"][0]["id"])
    with server.client("researcher") as client:
        response = client.request(method, path, **({"json": body} if body is not None else {}))
    assert response.status_code == 403, response.text
