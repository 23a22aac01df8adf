"""Role × endpoint matrix against the live server: who may read, post and verify what."""

from __future__ import annotations

import itertools

import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(served):
    """Every test here runs on SQLite and on PostgreSQL (one served workspace per back-end)."""
    return served


ROLES = (None, "reporter", "planner", "researcher", "analyst", "admin")
READERS = {"planner", "researcher", "analyst", "admin"}
PLANNERS = {"planner", "analyst", "admin"}  # patrol plans and responses are operational: not for researchers
BACKTEST_READERS = {"researcher", "analyst", "admin"}
ANYONE = {"reporter", "planner", "researcher", "analyst", "admin"}

# (id, method, path, roles allowed) — paths with {locality}/{alert} are filled from the server
ENDPOINTS = [
    ("version", "GET", "/api/v1/version", ANYONE),
    ("localities", "GET", "/api/v1/localities", READERS),
    ("locality-detail", "GET", "/api/v1/localities/{locality}", READERS),
    ("ogc-landing", "GET", "/ogc", READERS),
    ("ogc-localities", "GET", "/ogc/collections/localities/items?limit=5", READERS),
    ("ogc-incidents", "GET", "/ogc/collections/incidents/items?limit=5", READERS),
    ("ogc-alerts", "GET", "/ogc/collections/alerts/items?limit=5", READERS),
    ("tile", "GET", "/tiles/6/34/31.png", READERS),
    ("heatmap-png", "GET", "/heatmap.png?width=256", READERS),
    ("heatmap-tif", "GET", "/heatmap.tif", READERS),
    ("heatmap-tif-head", "HEAD", "/heatmap.tif", READERS),
    ("map", "GET", "/map", READERS),
    ("patrols", "GET", "/api/v1/patrols/priorities", PLANNERS),
    ("backtests", "GET", "/api/v1/backtests", BACKTEST_READERS),
    ("post-alert", "POST", "/api/v1/alerts", {"reporter", "analyst", "admin"}),
    ("verify-alert", "PATCH", "/api/v1/alerts/{alert}", {"analyst", "admin"}),
    ("responses", "GET", "/api/v1/responses?start=2022-12-01", PLANNERS),  # operational: not researchers
    ("responses-summary", "GET", "/api/v1/responses/summary?start=2022-12-01&end=2022-12-31", PLANNERS),
    ("users", "GET", "/api/v1/users", {"admin"}),
    ("audit", "GET", "/api/v1/audit", {"admin"}),
]


@pytest.fixture(scope="module")
def ids(server):
    localities = server.get("/api/v1/localities", "analyst").json()
    alerts = server.get("/ogc/collections/alerts/items?limit=1", "analyst").json()
    return {"locality": localities["features"][0]["id"], "alert": alerts["features"][0]["id"]}


def _body(method: str, role: str | None):
    if method == "POST":
        return {"json": {"text": f"Matrix test alert from {role} near Bambari", "category": "other"}}
    if method == "PATCH":
        return {"json": {"verification": "verified"}}
    return {}


@pytest.mark.parametrize(
    ("endpoint", "role"),
    list(itertools.product(ENDPOINTS, ROLES)),
    ids=[f"{e[0]}-{r or 'anonymous'}" for e, r in itertools.product(ENDPOINTS, ROLES)],
)
def test_role_matrix(server, ids, endpoint, role):
    _, method, path, allowed = endpoint
    path = path.format(**ids)
    with server.client(role) as client:
        response = client.request(method, path, **_body(method, role))
    if role is None:
        assert response.status_code == 401, response.text
        assert response.headers.get("www-authenticate") == "Bearer"
    elif role in allowed:
        assert response.status_code in (200, 201), f"{role} {method} {path}: {response.text[:300]}"
    else:
        assert response.status_code == 403, f"{role} {method} {path}: {response.text[:300]}"


def test_health_needs_no_key(server):
    body = server.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["store"]
    assert body["scores"]
    assert body["risk_surface"]


def test_wrong_key_is_401_and_unlisted_scheme_is_401(server):
    r1 = server.get("/api/v1/localities", headers={"Authorization": "Bearer sk_not_a_key"})
    r2 = server.get("/api/v1/localities", headers={"Authorization": f"Basic {server.keys['admin']}"})
    assert (r1.status_code, r2.status_code) == (401, 401)


def test_key_in_query_only_opens_the_map(server):
    key = server.keys["planner"]
    assert server.get(f"/api/v1/localities?key={key}").status_code == 401
    assert server.get(f"/tiles/6/34/31.png?key={key}").status_code == 401
    with server.client(None, follow_redirects=False) as client:
        first = client.get(f"/map?key={key}")
        assert first.status_code == 303
        assert first.headers["location"] == "/map"
        cookie = first.headers["set-cookie"]
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        page = client.get("/map")  # the cookie rides along
        assert page.status_code == 200
        assert "leaflet" in page.text
        assert client.get("/tiles/6/34/31.png").status_code == 200
        # the session cookie is for reading only
        assert client.post("/api/v1/alerts", json={"text": "x", "place_name": "Bria"}).status_code == 401


def test_reporter_cannot_open_the_map_with_key(server):
    assert server.get(f"/map?key={server.keys['reporter']}", follow_redirects=False).status_code == 403
