"""Response state on the map and a response recorded from a popup (issue 19), in headless Chromium
against a local server with the network cut."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser import chromium, evaluate, load_page, screenshot
from live_server import add_users, copy_workspace, start_server

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SAUTI_SCREENSHOTS", ROOT / "build" / "screenshots"))


@pytest.fixture(scope="module")
def served(sample_workspace_template, tmp_path_factory):
    workspace = copy_workspace(sample_workspace_template, tmp_path_factory.mktemp("map-resp") / "ws")
    live = start_server(workspace, add_users(workspace, prefix="maprsp"))
    yield live
    live.stop()


def test_the_page_shows_response_state_to_analysts(served):
    page = served.get("/map", "analyst").text
    assert "Record a response" in page
    assert "without a response" in page  # locality popups
    assert r"Response:\u003c/b\u003e" in page  # alert popups (the analyst's alert layer, JSON-escaped)


@pytest.mark.timeout(180)
def test_a_planner_records_a_patrol_from_a_locality_popup(served):
    with chromium() as devtools:
        load_page(devtools, f"{served.url}/map?key={served.keys['planner']}")
        evaluate(devtools, "document.querySelector('.sauti-priorities li a').click()")
        text = evaluate(devtools, "document.querySelector('.leaflet-popup-content').innerText")
        assert "Responses:" in text
        assert "Record a response" in text
        locality = evaluate(
            devtools,
            "document.querySelector('.leaflet-popup-content form.sauti-respond [name=locality_id]').value",
        )
        evaluate(
            devtools,
            """(() => {
              const box = document.querySelector('.leaflet-popup-content details');
              box.open = true;
              const form = box.querySelector('form');
              form.action.value = 'patrol';
              form.unit.value = 'BANBAT 1 Coy';
              form.dispatched_at.value = '2023-01-05T08:00';
              form.arrived_at.value = '2023-01-05T10:30';
              form.outcome.value = 'calm';
              form.notes.value = 'Chef joint au +236 75 11 99 88';
              return true;
            })()""",
        )
        screenshot(devtools, SHOTS / "map-response-form.png")
        evaluate(devtools, "document.querySelector('.leaflet-popup-content form button').click()")
        status = ""
        for _ in range(50):
            status = evaluate(
                devtools, "document.querySelector('.leaflet-popup-content .sauti-respond-status').textContent"
            )
            if status not in ("", "Saving…"):
                break
            time.sleep(0.2)
        screenshot(devtools, SHOTS / "map-response-saved.png")
    assert status == "Saved.", status
    listed = served.get(f"/api/v1/responses?locality_id={locality}", "analyst").json()["responses"]
    (saved,) = listed
    assert (saved["action"], saved["outcome"], saved["recorded_by"]) == ("patrol", "calm", "maprsp-planner")
    assert saved["notes"] == "Chef joint au [phone]"


def test_a_cookie_alone_never_writes(served):
    with served.client() as client:
        first = client.get(f"/map?key={served.keys['planner']}", follow_redirects=False)
        cookie = first.cookies
        plain = client.post("/api/v1/responses", json={"action": "patrol"}, cookies=cookie)
        assert plain.status_code == 401
