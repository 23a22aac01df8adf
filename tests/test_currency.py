"""Data currency: what each ingest records, the forecast period following the incident logs, the warning."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from test_ingest_incidents import BASE, write_acled

from sauti.constants import PERIOD_DIM
from sauti.errors import SautiError
from sauti.features import compute_features
from sauti.ingest.alerts import ingest_alerts
from sauti.ingest.boundaries import ingest_boundaries
from sauti.ingest.currency import currency_warning, data_through, last_events, target_silence
from sauti.ingest.incidents import ingest_incidents
from sauti.store import Workspace


def _acled(tmp_path: Path, dates: list[str], name: str = "log.csv") -> Path:
    rows = [{**BASE, "event_id_cnty": f"CAF{i}", "event_date": d} for i, d in enumerate(dates)]
    return write_acled(tmp_path / name, rows)


@pytest.fixture
def logged(tmp_path: Path, sample_dir: Path) -> Workspace:
    """admin2 boundaries and an incident log whose latest event is 6 December 2022."""
    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    ingest_incidents(ws, _acled(tmp_path, ["06 November 2022", "06 December 2022"]))
    return ws


def _coverage(ws: Workspace) -> list[tuple]:
    with ws.session() as con:
        return [tuple(r) for r in con.execute("SELECT kind, complete_through, declared FROM source_coverage")]


def test_an_ingest_records_its_latest_event_and_a_declared_date(logged, tmp_path):
    assert _coverage(logged) == [("incidents", "2022-12-06", 0)]
    assert data_through(logged) == {"incidents": "2022-12-06", "alerts": None}
    quiet = _acled(tmp_path, ["06 December 2022"], "quiet.csv")  # nothing new, but current to 3 March
    ingest_incidents(logged, quiet, complete_through="2023-03-03")
    assert _coverage(logged)[-1] == ("incidents", "2023-03-03", 1)
    assert data_through(logged)["incidents"] == "2023-03-03"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("2022-12-01", "before the file's latest event"),
        ("2999-01-01", "in the future"),
        ("March", "not a date"),
    ],
    ids=["before-latest-event", "future", "not-a-date"],
)
def test_an_impossible_declaration_is_refused_and_stores_nothing(logged, tmp_path, declared, message):
    later = _acled(tmp_path, ["07 December 2022"], "later.csv")
    with pytest.raises(SautiError, match=message):
        ingest_incidents(logged, later, complete_through=declared)
    assert data_through(logged)["incidents"] == "2022-12-06"
    assert len(logged.incidents()) == 2


def test_the_cube_follows_the_incident_log_not_a_newer_alert(logged, tmp_path):
    before = compute_features(logged)
    alerts = tmp_path / "alerts.csv"
    alerts.write_text(
        "date_reception,message,categorie,latitude,longitude\n"
        "28/11/2026 10:00,Tension entre éleveurs et agriculteurs,tension intercommunautaire,5.7630,20.6700\n",
        encoding="utf-8",
    )
    assert ingest_alerts(logged, alerts).accepted == 1
    after = compute_features(logged)
    last = pd.Timestamp(after[PERIOD_DIM].to_numpy()[-1])
    assert last == pd.Timestamp("2022-12-01")  # the live alert did not move the period to 2026-11
    assert after.attrs["snapshot"] == before.attrs["snapshot"]  # nor change the cube
    assert data_through(logged) == {"incidents": "2022-12-06", "alerts": "2026-11-28"}
    # declaring the quiet log current moves the period to the declared date's
    ingest_incidents(logged, _acled(tmp_path, ["06 December 2022"], "q.csv"), complete_through="2026-11-28")
    current = compute_features(logged)
    assert pd.Timestamp(current[PERIOD_DIM].to_numpy()[-1]) == pd.Timestamp("2026-11-01")
    assert int(current["alerts_total"].isel({PERIOD_DIM: -1}).sum()) == 1
    assert json.loads(current.attrs["provenance"])["last_day"] == "2026-11-30"


def test_the_warning_names_the_date_and_the_fix():
    through = {"incidents": "2022-12-31", "alerts": "2026-11-28"}
    text = currency_warning(through, stale_after_days=45, today=date(2023, 3, 1))
    assert "complete through 31 Dec 2022" in text
    assert "60 days ago" in text
    assert "--complete-through" in text
    assert currency_warning(through, stale_after_days=60, today=date(2023, 3, 1)) is None
    assert currency_warning({"incidents": None, "alerts": None}) is None


def test_cli_declares_a_quiet_log_current(logged, tmp_path):
    from typer.testing import CliRunner

    from sauti.cli import app

    quiet = _acled(tmp_path, ["06 December 2022"], "cli.csv")
    args = ["-w", str(logged.root), "ingest", "incidents", str(quiet), "--complete-through", "2023-01-15"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert data_through(logged)["incidents"] == "2023-01-15"
    bad = subprocess.run(
        [sys.executable, "-m", "sauti.cli", *args[:-1], "15/01/2023"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.timeout(180)
def test_a_live_alert_keeps_the_period_and_health_warns(server):
    """Done-when of #11: a live alert dated today, incident log ending 2022-12 (real uvicorn)."""
    before = server.get("/api/v1/version", "reporter").json()
    runs = server.get("/api/v1/health").json()["nowcast"]["runs"]
    today = datetime.now(UTC).date().isoformat()
    reply = server.client("reporter").post(
        "/api/v1/alerts",
        # midnight UTC: dated today and never ahead of the clock (08:00 was "in the future" before 08:00)
        json={"text": "Tension entre éleveurs à Bambari", "received_at": f"{today}T00:00:00Z"},
    )
    assert reply.status_code in (200, 201), reply.text
    deadline = time.monotonic() + 120
    health = server.get("/api/v1/health").json()
    while (health["nowcast"]["runs"] <= runs or health["nowcast"]["running"]) and time.monotonic() < deadline:
        time.sleep(0.3)
        health = server.get("/api/v1/health").json()
    assert health["nowcast"]["last_error"] is None, health
    assert health["nowcast"]["last"]["changed"] is False, health  # nothing to rescore: not in the cube
    after = server.get("/api/v1/version", "reporter").json()
    assert after["period"] == before["period"] == "2022-12-01"
    assert after["data_through"]["incidents"].startswith("2022-12")
    assert after["data_through"]["alerts"] == today
    assert set(after["data_through"]) == {"incidents", "alerts"}
    assert any("Incident data is old" in w for w in health["warnings"]), health
    assert health["data_through"] == after["data_through"]


def _alert_file(tmp_path: Path, when: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(
        "date_reception,message,categorie,latitude,longitude\n"
        f"{when},Tension entre éleveurs et agriculteurs,tension intercommunautaire,5.7630,20.6700\n",
        encoding="utf-8",
    )
    return path


def test_new_alerts_update_the_last_period_exactly_as_a_full_build(logged, tmp_path):
    import numpy as np

    from sauti.features import CubeInputs
    from sauti.features.incremental import update_features

    previous = compute_features(logged, timezone="Africa/Bangui")
    assert update_features(logged, previous.copy(deep=True), freq="M", unit="admin2") is None  # other zone
    ingest_alerts(logged, _alert_file(tmp_path, "20/12/2022 10:00", "a.csv"))
    updated = update_features(
        logged, previous.copy(deep=True), freq="M", unit="admin2", inputs=CubeInputs(timezone="Africa/Bangui")
    )
    full = compute_features(logged, timezone="Africa/Bangui")
    cube, changed = updated
    assert cube.attrs["snapshot"] == full.attrs["snapshot"] != previous.attrs["snapshot"]
    for name in full.data_vars:
        np.testing.assert_allclose(cube[name].to_numpy(), full[name].to_numpy(), rtol=1e-5, atol=1e-6)
    moved = [n for n in full.data_vars if not full[n].equals(previous[n])]
    assert moved
    assert all("alerts_" in n for n in moved), [n for n in moved if "alerts_" not in n]
    # the alert's unit and the units around it (spatial lags), not the whole country
    bambari = str(full["name"].to_series().loc[lambda s: s == "Bambari"].index[0])
    assert bambari in changed
    assert 1 < len(changed) < full.sizes["locality"]
    # an alert dated in an earlier period changes earlier columns: the cube is built in full
    ingest_alerts(logged, _alert_file(tmp_path, "10/11/2022 10:00", "b.csv"))
    assert (
        update_features(logged, full, freq="M", unit="admin2", inputs=CubeInputs(timezone="Africa/Bangui"))
        is None
    )


def test_status_shows_model_period_heatmap_and_currency(sample_workspace):
    done = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "-w", str(sample_workspace.root), "status"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(
        line.split(None, 1) for line in done.stdout.splitlines() if line and not line.startswith(" ")
    )
    served = "the Sauti model (calibrated rules and a learned model, combined)"  # in words, not "sauti"
    assert lines["model"].startswith(f"{served}, version m")
    assert "monthly" in lines["model"]
    assert "scored period  2022-12-01 (data to its end; forecast for January 2023)" in done.stdout
    assert "risk_surface.tif" in done.stdout
    assert "data through   incidents 2022-12-" in done.stdout
    assert "Incident data is old" in done.stderr
    assert "_" not in done.stdout.split("incidents ", 1)[1].split("alerts", 1)[0]  # categories in words


def test_the_warning_is_plain_text_for_the_map_and_health():
    """One text for /health, the map (shown as it is, no Markdown) and the CLI: no backticks."""
    text = currency_warning({"incidents": "2022-12-30", "alerts": None}, today=date(2026, 11, 29))
    assert text.startswith("Incident data is old: complete through 30 Dec 2022, 1,430 days ago (limit 45).")
    assert "`" not in text
    assert text.endswith("with: sauti ingest incidents FILE --complete-through DATE.")


# --- currency per incident category and the silent forecast target (#20 item 11) ---------------------
def _category_log(tmp_path: Path, target: list[date], other: list[date]) -> Path:
    """An ACLED log: ``target`` days are intercommunal (inter code 4), ``other`` days armed clashes."""
    rows = [
        {"event_date": f"{d:%d %B %Y}", "inter1": "4", "event_type": "Violence against civilians"}
        for d in target
    ]
    rows += [{"event_date": f"{d:%d %B %Y}"} for d in other]
    return write_acled(tmp_path / "categories.csv", rows)


def _every(first: str, n: int, days: int) -> list[date]:
    return [d.date() for d in pd.date_range(first, periods=n, freq=f"{days}D")]


@pytest.fixture
def bounded(tmp_path: Path, sample_dir: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ingest_boundaries(ws, sample_dir / "boundaries" / "caf_adm2.gpkg", "admin2")
    return ws


def test_a_target_silent_far_longer_than_its_usual_gaps_is_warned(bounded, tmp_path):
    # intercommunal every 10 days (12 events, 11 gaps) up to 2021-01-01; armed clashes go on to 2022-12-06
    target = _every("2020-09-13", 12, 10)
    ingest_incidents(bounded, _category_log(tmp_path, target, [date(2021, 6, 1), date(2022, 12, 6)]))
    assert list(last_events(bounded).items()) == [
        ("intercommunal", "2021-01-01"),
        ("armed_clash", "2022-12-06"),
    ]
    silence = target_silence(bounded)
    assert silence["last_event"] == "2021-01-01"
    assert (
        silence["silent_days"] == (date(2022, 12, 6) - date(2021, 1, 1)).days
    )  # to the data's end, not today
    assert (silence["gaps"], silence["usual_gap_days"], silence["longest_gap_days"]) == (11, 10, 10)
    assert silence["warning"].startswith("No intercommunal incident since 1 Jan 2021: 704 days up to the end")
    assert (
        "95 in 100 earlier gaps between intercommunal incidents were 10 days or shorter" in silence["warning"]
    )
    assert "_" not in silence["warning"]
    assert "`" not in silence["warning"]


@pytest.mark.parametrize(
    ("target", "other", "usual"),
    [
        (_every("2020-09-13", 12, 10), [date(2021, 1, 9)], 10),  # 8 days of silence: usual
        (_every("2020-12-12", 3, 10), [date(2022, 12, 6)], None),  # 2 gaps say nothing of what is usual
    ],
    ids=["within-usual-gaps", "too-few-gaps"],
)
def test_no_silence_warning_within_usual_gaps_or_without_history(bounded, tmp_path, target, other, usual):
    ingest_incidents(bounded, _category_log(tmp_path, target, other))
    silence = target_silence(bounded)
    assert silence["usual_gap_days"] == usual
    assert silence["warning"] is None


def test_a_store_without_the_target_category_has_no_silence(bounded, tmp_path):
    ingest_incidents(bounded, _category_log(tmp_path, [], [date(2022, 12, 6)]))
    assert last_events(bounded) == {"armed_clash": "2022-12-06"}
    assert target_silence(bounded) is None


def test_the_sample_shows_each_category_and_warns_of_the_silent_target(server):
    """The sample's last intercommunal incident is 21 Nov 2020 while its data runs to 30 Dec 2022."""
    version = server.get("/api/v1/version", "planner").json()
    assert version["last_events"]["intercommunal"] == "2020-11-21"
    assert list(version["last_events"])[0] == "intercommunal"  # the forecast target first
    assert version["last_events"]["armed_clash"] == version["data_through"]["incidents"]
    silence = version["target_silence"]
    assert (
        silence["silent_days"]
        == (date.fromisoformat(version["data_through"]["incidents"]) - date(2020, 11, 21)).days
    )
    assert silence["silent_days"] > silence["usual_gap_days"]
    health = server.get("/api/v1/health").json()
    assert silence["warning"] in health["warnings"]
    plan = server.get("/api/v1/patrols/priorities", "planner").json()
    assert silence["warning"] in plan["summary"]["warnings"]
    page = server.get("/map", "analyst").text
    assert "Latest incident of each kind: intercommunal incident 21 Nov 2020 · armed clash " in page
    assert "No intercommunal incident since 21 Nov 2020" in page


def test_status_lists_the_latest_incident_of_each_category(sample_workspace):
    done = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "-w", str(sample_workspace.root), "status", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    risk = json.loads(done.stdout)["risk"]
    assert risk["last_events"]["intercommunal"] == "2020-11-21"
    assert any(w.startswith("No intercommunal incident since 21 Nov 2020") for w in risk["warnings"])
    text = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "-w", str(sample_workspace.root), "status"],
        capture_output=True,
        text=True,
    )
    assert "latest event   intercommunal 2020-11-21 (the forecast target)" in text.stdout
    assert "warning: No intercommunal incident since 21 Nov 2020" in text.stderr
