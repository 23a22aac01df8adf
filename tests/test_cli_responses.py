"""``sauti ingest responses`` and ``sauti responses report`` on the sample workspace (issue 19)."""

from __future__ import annotations

import json
import re

import pytest
from live_server import read_store, sauti

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def alerts(sample_workspace):
    with read_store(sample_workspace.root) as con:
        rows = con.execute(
            "SELECT alert_id, received_at FROM alerts WHERE locality_id IS NOT NULL"
            " ORDER BY received_at DESC LIMIT 3"
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_the_demo_loaded_a_synthetic_response_log(sample_workspace):
    with read_store(sample_workspace.root) as con:
        n, synthetic, linked = con.execute(
            "SELECT COUNT(*), SUM(synthetic), (SELECT COUNT(DISTINCT response_id) FROM response_alerts)"
            " FROM responses"
        ).fetchone()
    assert n > 100
    assert synthetic == n  # every sample response is labelled synthetic
    assert linked == n


def test_three_patrol_reports_one_arriving_before_dispatch(sample_workspace, alerts, tmp_path):
    (a1, _), (a2, _), (a3, _) = alerts
    rows = [
        ("cli-1", a1, "2023-01-02T08:00:00Z", "2023-01-02T10:00:00Z", "calm", ""),
        ("cli-2", f"{a2};{a3}", "2023-01-03T08:00:00Z", "", "unknown", "call +236 72 11 22 33"),
        ("cli-3", a3, "2023-01-04T12:00:00Z", "2023-01-04T09:00:00Z", "calm", ""),  # arrives before
    ]
    path = tmp_path / "patrol_reports.csv"
    lines = ["response_id,action,alert_ids,unit,dispatched_at,arrived_at,outcome,notes"]
    lines += [f"{rid},patrol,{ids},BANBAT,{d},{a},{o},{n}" for rid, ids, d, a, o, n in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = sauti("ingest", "responses", str(path), "--json", workspace=sample_workspace.root)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["read"], summary["accepted"], summary["rejected"], summary["duplicates"]) == (3, 2, 1, 0)
    with open(summary["rejects_file"], encoding="utf-8") as fh:
        rejects = fh.read()
    assert "arrived_at,arrival before dispatch" in rejects
    with read_store(sample_workspace.root) as con:
        notes = con.execute("SELECT notes FROM responses WHERE response_id = 'cli-2'").fetchone()[0]
    assert notes == "call [phone]"


def test_the_report_is_a_self_contained_page(sample_workspace, tmp_path):
    out = tmp_path / "report.html"
    done = sauti("responses", "report", "--out", str(out), workspace=sample_workspace.root)
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "observational, not causal" in page.lower()
    assert "Synthetic data" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2  # times and the map
    assert not re.search(r'(src|href)="https?://', page)  # nothing to fetch: opens offline
    assert "Plan adherence" in page
    # the sample's synthetic log ends before the plan's period (January 2023); the CLI test above
    # (when it ran first) recorded a patrol arriving on 2 January
    source = re.search(r"Source: (recorded visits|plan as drawn)", page)
    assert source, "the plan adherence must say where its coverage comes from"
    if source.group(1) == "recorded visits":
        assert re.search(r"<b>\d+ of \d+</b> \(\d+%\) were reached by a patrol", page)
    bad = sauti(
        "responses", "report", "--out", str(out), "--start", "2022-13-01", workspace=sample_workspace.root
    )
    assert bad.returncode != 0
    assert "YYYY-MM-DD" in bad.stderr
