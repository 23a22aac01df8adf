"""The notebook's offline map takes its inputs explicitly (issue #14): nothing read from settings."""

from __future__ import annotations

import pytest

from sauti.api.map.notebook import offline_map_html

pytestmark = pytest.mark.slow
OLD = "Incident data is old"


def test_the_stale_warning_follows_the_argument_not_the_environment(sample_workspace, monkeypatch):
    monkeypatch.setenv("SAUTI_STALE_AFTER_DAYS", "1000000")  # an environment the page must not read
    flagged = offline_map_html(sample_workspace)  # the sample's incidents end in December 2022
    assert OLD in flagged
    assert "Forecast for January 2023" in flagged
    quiet = offline_map_html(sample_workspace, stale_after_days=1_000_000)
    assert OLD not in quiet
    assert "Forecast for January 2023" in quiet


def test_alert_counts_say_since_when_a_newer_alert_is_counted(sample_workspace, tmp_path):
    """An alert received today is in the latest period's count (as /localities counts it), so the
    popup must not claim the count is of "the 30 days to 30 Dec 2022"."""
    from live_server import copy_workspace

    from sauti.ingest.alerts import submit_alerts
    from sauti.store import Workspace

    ws = Workspace(copy_workspace(sample_workspace.root, tmp_path / "ws"))
    outcome = submit_alerts(ws, [{"text": "Tension au marché", "locality_id": "CF431"}], source="qa-test")
    assert outcome[0].status == "accepted"  # received now, four years after the incident data ends
    page = offline_map_html(ws)
    assert "Alerts: 1 alert since 1 Dec 2022, " in page  # Bambari, with the new one
    assert "in the 30 days to" not in page
