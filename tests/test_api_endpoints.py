"""The API over real HTTP: localities, detail and redaction, alerts intake, idempotency, freshness."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import time
import uuid

import numpy as np
import pandas as pd
import pytest
import shapely
from live_server import copy_workspace, read_store

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(served):
    """Every test here that reads or writes the store runs on SQLite and on PostgreSQL (one served
    workspace per back-end); those about SQLite files or ``sauti serve`` itself use ``sqlite_server``."""
    return served


SAMPLE_ALERTS = "data/sample/alerts/synthetic_alerts.csv"


def _db(server):
    return read_store(server.workspace)


# --- localities -------------------------------------------------------------------------------------
def test_localities_is_a_feature_collection_with_latest_risk(server):
    body = server.get("/api/v1/localities", "planner").json()
    assert body["type"] == "FeatureCollection"
    with _db(server) as con:
        n_admin2 = con.execute("SELECT COUNT(*) FROM localities WHERE level = 'admin2'").fetchone()[0]
        latest = pd.read_sql_query(
            "SELECT locality_id, probability, rank FROM risk_scores "
            "WHERE period = (SELECT MAX(period) FROM risk_scores)",
            con,
        ).set_index("locality_id")
    assert len(body["features"]) == n_admin2
    served = {f["id"]: f["properties"] for f in body["features"]}
    ids = sorted(set(served) & set(latest.index))
    assert len(ids) == len(latest)
    np.testing.assert_allclose([served[i]["risk"] for i in ids], latest.loc[ids, "probability"], atol=1e-6)
    assert [served[i]["rank"] for i in ids] == latest.loc[ids, "rank"].tolist()
    first = body["features"][0]["properties"]
    assert {"change", "drivers", "model_version", "data_snapshot", "period"} <= set(first)
    assert all(set(d) >= {"feature", "contribution"} for d in first["drivers"])


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"min_risk": 0.05}, lambda p: p["risk"] is not None and p["risk"] >= 0.05),
        ({"admin1": "ouaka"}, lambda p: p["admin1_name"].lower() == "ouaka"),
        ({"admin1": "CF61"}, lambda p: p["admin1_id"] == "CF61"),
    ],
    ids=["min-risk", "admin1-by-name", "admin1-by-pcode"],
)
def test_localities_filters(server, params, check):
    everything = server.get("/api/v1/localities", "planner").json()["features"]
    body = server.get("/api/v1/localities", "planner", params=params).json()
    expected = [f["id"] for f in everything if check(f["properties"])]
    assert [f["id"] for f in body["features"]] == expected
    assert 0 < len(expected) < len(everything) or params.get("min_risk")


def test_localities_bbox_and_tolerance(server):
    bbox = (20.0, 5.0, 21.5, 6.5)
    body = server.get("/api/v1/localities", "planner", params={"bbox": ",".join(map(str, bbox))}).json()
    box = shapely.box(*bbox)
    everything = server.get("/api/v1/localities", "planner", params={"tolerance": 0}).json()["features"]
    expected = {
        f["id"]
        for f in everything
        if shapely.intersects(shapely.box(*shapely.geometry.shape(f["geometry"]).bounds), box)
    }
    assert {f["id"] for f in body["features"]} == expected
    assert expected
    coarse = server.get("/api/v1/localities", "planner", params={"tolerance": 0.05}).json()["features"]

    def count(feats):
        return sum(shapely.get_num_coordinates(shapely.geometry.shape(f["geometry"])) for f in feats)

    assert count(coarse) < count(everything) / 3


@pytest.mark.parametrize(
    ("params", "field"),
    [({"bbox": "1,2,3"}, "bbox"), ({"bbox": "10,5,2,1"}, "bbox"), ({"min_risk": 2}, "min_risk")],
    ids=["bbox-three-numbers", "bbox-min-above-max", "min-risk-above-one"],
)
def test_localities_bad_parameters_are_422_naming_the_field(server, params, field):
    response = server.get("/api/v1/localities", "planner", params=params)
    assert response.status_code == 422
    assert field in json.dumps(response.json()["errors"])


# --- detail and redaction --------------------------------------------------------------------------
def _busiest_locality(server):
    features = server.get("/api/v1/localities", "analyst").json()["features"]
    return max(features, key=lambda f: f["properties"]["alerts_total"])["id"]


def test_detail_for_analyst_has_alerts_without_pseudonyms_or_points_and_is_audited(server):
    lid = _busiest_locality(server)
    with _db(server) as con:
        before = con.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'read_alert_details'").fetchone()[
            0
        ]
        refs = {r[0] for r in con.execute("SELECT reporter_ref FROM alerts WHERE reporter_ref IS NOT NULL")}
    response = server.get(f"/api/v1/localities/{lid}", "analyst")
    body = response.json()
    assert body["alerts"], "the busiest locality has alerts"
    assert body["alerts_summary"]["count"] >= len(body["alerts"])
    for alert in body["alerts"]:
        assert not {"reporter_ref", "longitude", "latitude"} & set(alert)
    assert not any(ref in response.text for ref in refs)
    assert body["history"]
    assert body["risk"]["risk"] is not None
    with _db(server) as con:
        rows = con.execute(
            "SELECT user_name, role, resource, detail FROM audit_log WHERE action = 'read_alert_details' "
            "ORDER BY audit_id DESC"
        ).fetchall()
    assert len(rows) == before + 1
    assert (rows[0]["user_name"], rows[0]["role"]) == ("test-analyst", "analyst")
    assert rows[0]["resource"] == f"/api/v1/localities/{lid}"
    assert set(json.loads(rows[0]["detail"])["alert_ids"]) == {a["alert_id"] for a in body["alerts"]}


def test_detail_for_planner_has_counts_only(server):
    lid = _busiest_locality(server)
    body = server.get(f"/api/v1/localities/{lid}", "planner").json()
    assert "alerts" not in body
    assert body["alerts_summary"]["count"] > 0
    assert sum(body["alerts_summary"]["by_category"].values()) == body["alerts_summary"]["count"]


def test_unknown_locality_is_404(server):
    response = server.get("/api/v1/localities/NOPE", "planner")
    assert response.status_code == 404
    assert "no locality" in response.json()["detail"]
    assert "NOPE" not in response.text  # error replies never repeat the caller's input


def test_no_response_carries_stored_alert_coordinates_or_pseudonyms(server):
    with _db(server) as con:
        rows = con.execute("SELECT reporter_ref, longitude, latitude FROM alerts").fetchall()
    refs = {r["reporter_ref"] for r in rows if r["reporter_ref"]}
    exact = {(round(r["longitude"], 4), round(r["latitude"], 4)) for r in rows if r["longitude"] is not None}
    assert refs
    assert exact
    pair = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")
    for role in ("planner", "analyst", "admin"):
        for path in ("/ogc/collections/alerts/items?limit=10000", "/api/v1/localities", "/map"):
            text = server.get(path, role).text
            assert not any(ref in text for ref in refs), (role, path)
            served = {(round(float(x), 4), round(float(y), 4)) for x, y in pair.findall(text)}
            assert served
            assert not served & exact, (role, path, sorted(served & exact)[:3])


# --- alerts intake ---------------------------------------------------------------------------------
def test_post_alert_resolves_place_and_replies_with_id(server):
    text = f"Tension entre éleveurs et agriculteurs à Kaga-Bandoro ({uuid.uuid4().hex[:6]})"
    response = server.client("reporter").post(
        "/api/v1/alerts", json={"text": text, "category": "intercommunal"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["alert_id"]
    assert "kaga" in body["locality_name"].lower()
    assert body["location_source"] == "gazetteer"
    with _db(server) as con:
        stored = con.execute(
            "SELECT locality_id FROM alerts WHERE alert_id = ?", (body["alert_id"],)
        ).fetchone()
    assert stored["locality_id"] == body["locality_id"]


def test_sms_gateway_shape_is_pseudonymised(server):
    phone = "+236 72 55 01 99"
    record = {
        "from": phone,
        "text": f"Hommes armés vus près de Bria, appelez {phone}",
        "received_at": "2022-12-01T10:00:00Z",
    }
    response = server.client("reporter").post("/api/v1/alerts", json=record)
    assert response.status_code in (200, 201), response.text
    assert "72 55" not in response.text
    with _db(server) as con:
        row = con.execute(
            "SELECT text, reporter_ref, channel FROM alerts WHERE alert_id = ?",
            (response.json()["alert_id"],),
        ).fetchone()
    assert "72 55" not in row["text"]
    assert row["reporter_ref"].startswith("rep_")
    assert row["channel"] == "sms"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"text": "x", "latitude": 123.0, "longitude": 20.0}, "latitude"),
        ({"text": "x", "severity": 9}, "severity"),
        ({"text": "Rien", "received_at": "not a date"}, "received_at"),
        ({"from": "+23672000000"}, "text"),
    ],
    ids=["latitude-out-of-range", "severity-out-of-range", "unparseable-date", "sms-without-text"],
)
def test_invalid_alert_is_422_with_field_details(server, record, field):
    response = server.client("reporter").post("/api/v1/alerts", json=record)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(field in (e.get("field") or "") for e in errors), errors
    assert "23672000000" not in response.text


def test_only_analysts_may_post_an_alert_already_verified(server):
    """A reporter's key cannot inject a "verified" alert; an analyst's (a CLA spreadsheet) can."""
    text = f"Affrontements signalés à Bria {uuid.uuid4().hex[:6]}"
    for record in ({"text": text, "verification": "verified"}, {"text": text, "verified_at": "2022-12-01"}):
        response = server.client("reporter").post("/api/v1/alerts", json=record)
        assert response.status_code == 422, response.text
        assert "verification" in [e["field"] for e in response.json()["errors"]]
    batch = server.client("reporter").post(
        "/api/v1/alerts/batch", json={"alerts": [{"text": text + " b", "verification": "confirmé"}]}
    )
    assert batch.json()["results"][0]["status"] == "rejected"
    response = server.client("analyst").post(
        "/api/v1/alerts", json={"text": text, "verification": "verified"}
    )
    assert response.status_code == 201, response.text
    with _db(server) as con:
        state = con.execute(
            "SELECT verification FROM alerts WHERE alert_id = ?", (response.json()["alert_id"],)
        ).fetchone()[0]
    assert state == "verified"
    plain = server.client("reporter").post(
        "/api/v1/alerts", json={"text": text + " c", "verification": "unverified"}
    )
    assert plain.status_code == 201, plain.text


def test_idempotency_key_replays_and_refuses_another_body(server):
    key = uuid.uuid4().hex
    body = {"text": f"Attaque signalée à Ndélé {key[:6]}", "category": "attack"}
    with server.client("reporter") as client:
        first = client.post("/api/v1/alerts", json=body, headers={"Idempotency-Key": key})
        again = client.post("/api/v1/alerts", json=body, headers={"Idempotency-Key": key})
        other = client.post(
            "/api/v1/alerts", json={**body, "text": "autre"}, headers={"Idempotency-Key": key}
        )
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409
    with _db(server) as con:
        n = con.execute("SELECT COUNT(*) FROM alerts WHERE text LIKE ?", (f"%{key[:6]}%",)).fetchone()[0]
    assert n == 1


def test_batch_and_csv_upload_account_for_every_row(server, sample_dir):
    tag = uuid.uuid4().hex[:6]
    batch = {
        "alerts": [
            {"text": f"Tension à Bambari {tag}"},
            {"from": "+23675000001", "text": f"Birao calme {tag}"},
            {"text": "bad", "latitude": 5.0},
        ]
    }
    body = server.client("analyst").post("/api/v1/alerts/batch", json=batch).json()
    assert body["read"] == 3 == body["accepted"] + body["duplicates"] + body["rejected"]
    assert [r["status"] for r in body["results"]][:2] == ["accepted", "accepted"]
    assert body["results"][2]["status"] == "rejected"
    assert body["results"][2]["errors"]
    csv_rows = pd.read_csv(sample_dir / "alerts" / "synthetic_alerts.csv", dtype=str).head(20)
    buffer = io.StringIO()
    csv_rows.to_csv(buffer, index=False)
    files = {"file": ("alerts.csv", buffer.getvalue().encode(), "text/csv")}
    upload = server.client("analyst").post("/api/v1/alerts/upload", files=files).json()
    assert upload["read"] == 20 == upload["accepted"] + upload["duplicates"] + upload["rejected"]
    assert upload["duplicates"] >= 15  # the demo ingested the same rows already


def test_body_size_limit_is_413(server):
    big = {"alerts": [{"text": "x" * 4000, "place_name": "Bria"}] * 2000}  # ~8 MB > 5 MB default
    response = server.client("analyst").post("/api/v1/alerts/batch", json=big)
    assert response.status_code == 413


def test_patch_verification_is_audited_and_visible(server):
    alert = server.get("/ogc/collections/alerts/items?limit=1", "analyst").json()["features"][0]
    aid = alert["id"]
    response = server.client("analyst").patch(f"/api/v1/alerts/{aid}", json={"verification": "false_alarm"})
    assert response.status_code == 200
    assert response.json()["verification"] == "false_alarm"
    assert not {"reporter_ref", "longitude", "latitude"} & set(response.json())
    bad = server.client("analyst").patch(f"/api/v1/alerts/{aid}", json={"verification": "maybe"})
    assert bad.status_code == 422
    missing = server.client("analyst").patch("/api/v1/alerts/al_missing", json={"verification": "verified"})
    assert missing.status_code == 404
    with _db(server) as con:
        row = con.execute(
            "SELECT user_name FROM audit_log WHERE action = 'verify_alert' AND resource LIKE ?", (f"%{aid}",)
        ).fetchone()
        made = con.execute(
            "SELECT verification, decided_by, source FROM alert_verifications WHERE alert_id = ? "
            "ORDER BY rowid DESC LIMIT 1",
            (aid,),
        ).fetchone()
    assert row["user_name"] == "test-analyst"
    assert tuple(made) == ("false_alarm", "test-analyst", "api")  # the decision, dated, for the features


def test_cors_is_closed_by_default(server):
    response = server.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_access_log_never_holds_a_key(server):
    key = server.keys["analyst"]
    server.get(f"/map?key={key}", follow_redirects=False)
    server.get(f"/api/v1/health?key={key}")
    deadline = time.monotonic() + 10  # the access log is written by the server process
    while "/api/v1/health?key=***" not in (log := server.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/map?key=***" in log
    assert key not in log


# --- version, patrols, demo ------------------------------------------------------------------------
def test_version_names_the_current_model_and_snapshot(server):
    body = server.get("/api/v1/version", "reporter").json()
    with _db(server) as con:
        model = con.execute(
            "SELECT version, data_snapshot FROM models WHERE is_current = 1 ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert body["model_version"] == model["version"]
    assert body["model_name"] == "sauti"  # the demo serves the Sauti model
    assert body["code_version"]
    assert body["data_snapshot"]


def test_history_and_detail_of_a_finer_locality(server):
    admin2 = server.get("/api/v1/localities", "planner").json()["features"][0]["id"]
    detail = server.get(f"/api/v1/localities/{admin2}", "planner").json()
    assert "history" in detail, (detail, server.log_tail())
    periods = [h["period"] for h in detail["history"]]
    assert periods == sorted(periods)
    assert {"probability", "count_intercommunal"} <= set(detail["history"][-1])
    with _db(server) as con:
        admin3 = con.execute("SELECT locality_id FROM localities WHERE level = 'admin3' LIMIT 1").fetchone()[
            0
        ]
    finer = server.get(f"/api/v1/localities/{admin3}", "planner")
    assert finer.status_code == 200
    assert finer.json()["history"] == []


def test_patrol_priorities_for_posted_bases_respect_range(server, sample_dir):
    bases = json.loads((sample_dir / "bases.geojson").read_text())
    names = {f["properties"]["name"] for f in bases["features"]}
    response = server.client("planner").post(
        "/api/v1/patrols/priorities", json=bases, params={"patrols": 2, "range_km": 150}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {r["base"] for r in body["priorities"]} <= names
    assert all(r["distance_km"] <= 150 for r in body["priorities"])
    per_base = pd.Series([r["base"] for r in body["priorities"]]).value_counts()
    assert (per_base <= 2).all()
    assert body["summary"]["covered_risk"] <= body["summary"]["total_risk"]
    assert body["geojson"]["type"] == "FeatureCollection"
    bad = server.client("planner").post("/api/v1/patrols/priorities", json={"type": "Point"})
    assert bad.status_code == 422


def test_demo_rerun_adds_nothing(sqlite_server, tmp_path):
    import subprocess
    import sys

    # the server is live: the store is copied with SQLite's backup API
    workspace = copy_workspace(sqlite_server.workspace, tmp_path / "ws")
    count = (
        "SELECT (SELECT COUNT(*) FROM incidents), (SELECT COUNT(*) FROM alerts), "
        "(SELECT COUNT(*) FROM models)"
    )
    with sqlite3.connect(workspace / "sauti.sqlite") as con:
        before = con.execute(count).fetchone()
    done = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "--workspace", str(workspace), "demo", "--no-serve"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 new" in done.stderr
    with sqlite3.connect(workspace / "sauti.sqlite") as con:
        assert con.execute(count).fetchone() == before


def test_sauti_serve_starts_the_service_and_refuses_an_empty_workspace(sqlite_server, tmp_path):
    import subprocess
    import sys

    from live_server import free_port

    empty = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "--workspace", str(tmp_path / "none"), "serve"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert empty.returncode == 2
    assert "has no store" in empty.stderr
    port = free_port()
    command = [sys.executable, "-m", "sauti.cli", "--workspace", str(sqlite_server.workspace)]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health.json()["store"] is True
        reply = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/localities",
            headers={"Authorization": f"Bearer {sqlite_server.keys['planner']}"},
            timeout=30,
        )
        assert reply.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


# --- time: order, earlier periods, rising, regions ------------------------------------------------
def test_localities_sorted_and_limited(server):
    ranked = server.get("/api/v1/localities?sort=rank&limit=5", "planner").json()["features"]
    assert [f["properties"]["rank"] for f in ranked] == sorted(f["properties"]["rank"] for f in ranked)
    assert len(ranked) == 5
    assert ranked[0]["properties"]["rank"] == 1
    rising = server.get("/api/v1/localities?sort=change&limit=10", "planner").json()["features"]
    changes = [f["properties"]["change"] for f in rising]
    assert len(rising) == 10
    assert changes == sorted(changes, reverse=True)
    assert server.get("/api/v1/localities?sort=name", "planner").status_code == 422


def test_earlier_scored_periods_can_be_looked_at(server):
    listed = server.get("/api/v1/periods", "planner").json()
    assert len(listed["periods"]) == 24  # the history the chart shows
    assert (
        listed["latest"] == listed["periods"][-1] == server.get("/api/v1/version", "planner").json()["period"]
    )
    earlier = listed["periods"][-6]
    features = server.get(f"/api/v1/localities?period={earlier}", "planner").json()["features"]
    assert {f["properties"]["period"][:10] for f in features} == {earlier}
    assert server.get("/api/v1/localities?period=1900-01-01", "planner").status_code == 404


def test_rising_lists_increases_with_names(server):
    body = server.get("/api/v1/localities/rising?n=3", "planner").json()
    assert body["period"] == server.get("/api/v1/periods", "planner").json()["latest"]
    changes = [i["change"] for i in body["increases"]]
    assert changes == sorted(changes, reverse=True)
    assert all(c > 0 for c in changes)
    assert len(changes) <= 3
    assert all(i["name"] for i in body["increases"] + body["new_in_top"])
    assert all(i["rank"] <= 8 < i["previous_rank"] for i in body["new_in_top"])  # top 10% of 72


def test_admin1_risk_is_the_chance_of_at_least_one_incident_in_the_region(server):
    regions = server.get("/api/v1/localities?level=admin1", "planner").json()["features"]
    admin2 = server.get("/api/v1/localities", "planner").json()["features"]
    expected = {}
    for f in admin2:
        p = f["properties"]
        expected[p["admin1_id"]] = expected.get(p["admin1_id"], 1.0) * (1 - p["risk"])
    assert regions
    for f in regions:
        assert f["properties"]["risk"] == pytest.approx(1 - expected[f["id"]], abs=1e-5)
    assert sorted(f["properties"]["rank"] for f in regions) == list(range(1, len(regions) + 1))


def test_alerts_in_30_days_count_back_from_the_data_date(server):
    through = server.get("/api/v1/version", "planner").json()["data_through"]["incidents"]
    end = pd.Timestamp(through, tz="UTC") + pd.Timedelta(days=1)
    with _db(server) as con:
        stored = pd.read_sql_query("SELECT received_at FROM alerts WHERE locality_id IS NOT NULL", con)
    received = pd.to_datetime(stored["received_at"], utc=True)
    in_window = int(((received > end - pd.Timedelta(days=30)) & (received <= end)).sum())
    assert in_window > 0  # the sample's alerts of December 2022, not zero as counted from today
    features = server.get("/api/v1/localities", "planner").json()["features"]
    assert sum(f["properties"]["alerts_30d"] for f in features) >= in_window
