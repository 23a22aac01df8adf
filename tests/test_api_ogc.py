"""OGC API – Features over HTTP: landing, conformance, collections, paging, bbox, datetime, items."""

from __future__ import annotations

import pandas as pd
import pytest
from live_server import read_store

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(served):
    """Every test here runs on SQLite and on PostgreSQL (one served workspace per back-end)."""
    return served


def _links(body: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in body["links"]}


def test_landing_and_conformance(server):
    landing = server.get("/ogc", "planner").json()
    rels = _links(landing)
    assert {"self", "conformance", "data", "service-desc"} <= set(rels)
    assert all("type" in link for link in landing["links"])
    conf = server.get("/ogc/conformance", "planner").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf


def test_collections_list_the_three_layers_with_items_links(server):
    body = server.get("/ogc/collections", "planner").json()
    assert [c["id"] for c in body["collections"]] == ["localities", "incidents", "alerts"]
    for collection in body["collections"]:
        items = _links(collection)["items"]
        assert items["type"] == "application/geo+json"
        assert items["href"].endswith("/items?f=json")
        assert len(collection["extent"]["spatial"]["bbox"][0]) == 4


def test_paging_walks_every_incident_once(server):
    first = server.get("/ogc/collections/incidents/items", "planner", params={"limit": 500}).json()
    total = first["numberMatched"]
    seen, page, pages = [], first, 0
    while True:
        assert page["type"] == "FeatureCollection"
        assert page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        pages += 1
        nxt = _links(page).get("next")
        if nxt is None:
            break
        page = server.get(nxt["href"].replace(server.url, ""), "planner").json()
        assert "prev" in _links(page)
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 500)
    with read_store(server.workspace) as con:
        located = con.execute(
            "SELECT COUNT(*) FROM incidents WHERE longitude IS NOT NULL "
            "AND location_precision IN ('point', 'locality')"
        ).fetchone()[0]
    assert total == located


def test_bbox_and_datetime_filters_match_the_store(server):
    params = {"bbox": "20,5,23,8", "datetime": "2017-01-01T00:00:00Z/2018-12-31T23:59:59Z", "limit": 10000}
    body = server.get("/ogc/collections/incidents/items", "planner", params=params).json()
    with read_store(server.workspace) as con:
        frame = pd.read_sql_query(
            "SELECT event_id FROM incidents WHERE longitude BETWEEN 20 AND 23 AND latitude BETWEEN 5 AND 8 "
            "AND occurred_on BETWEEN '2017-01-01' AND '2018-12-31' "
            "AND location_precision IN ('point','locality')",
            con,
        )
    assert body["numberMatched"] == len(frame) > 0
    assert {f["id"] for f in body["features"]} == set(frame["event_id"])
    open_end = server.get(
        "/ogc/collections/incidents/items", "planner", params={"datetime": "2022-06-01/.."}
    ).json()
    assert all(f["properties"]["occurred_on"] >= "2022-06-01" for f in open_end["features"])


def test_item_by_id_and_missing_item(server):
    page = server.get("/ogc/collections/incidents/items", "planner", params={"limit": 1}).json()
    fid = page["features"][0]["id"]
    item = server.get(f"/ogc/collections/incidents/items/{fid}", "planner")
    assert item.status_code == 200
    assert item.json()["id"] == fid
    assert item.headers["content-type"].startswith("application/geo+json")
    assert server.get("/ogc/collections/incidents/items/nope", "planner").status_code == 404
    assert server.get("/ogc/collections/nope/items", "planner").status_code == 404


def test_alerts_are_counts_for_planners_and_generalised_points_for_analysts(server):
    planner = server.get("/ogc/collections/alerts/items", "planner", params={"limit": 10000}).json()
    analyst = server.get("/ogc/collections/alerts/items", "analyst", params={"limit": 10000}).json()
    assert planner["features"]
    assert all("text" not in f["properties"] for f in planner["features"])
    assert sum(f["properties"]["count"] for f in planner["features"]) == analyst["numberMatched"]
    with read_store(server.workspace) as con:
        exact = {
            (round(x, 5), round(y, 5))
            for x, y in con.execute("SELECT longitude, latitude FROM alerts WHERE longitude IS NOT NULL")
        }
    served = {tuple(f["geometry"]["coordinates"]) for f in analyst["features"]}
    # every served position is a locality's representative point: far fewer positions than alerts
    assert len(served) < analyst["numberMatched"] / 5
    assert not served & exact
    assert all("reporter_ref" not in f["properties"] for f in analyst["features"])


def test_alert_datetime_filter_for_both_views(server):
    window = {"datetime": "2018-01-01T00:00:00Z/2018-12-31T23:59:59Z", "limit": 10000}
    analyst = server.get("/ogc/collections/alerts/items", "analyst", params=window).json()
    planner = server.get("/ogc/collections/alerts/items", "planner", params=window).json()
    with read_store(server.workspace) as con:
        expected = con.execute(
            "SELECT COUNT(*) FROM alerts WHERE locality_id IS NOT NULL "
            "AND received_at >= '2018-01-01' AND received_at < '2019-01-01'"
        ).fetchone()[0]
    assert expected > 0
    assert analyst["numberMatched"] == expected
    assert all(f["properties"]["received_at"].startswith("2018") for f in analyst["features"])
    assert sum(f["properties"]["count"] for f in planner["features"]) == expected
