"""GDAL's OAPIF driver reads Sauti's OGC API – Features with the key in GDAL_HTTP_HEADERS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.server, pytest.mark.gdal, pytest.mark.slow]


def _ogrinfo(server, *options: str, layer: str | None = None, key: str | None) -> subprocess.CompletedProcess:
    if shutil.which("ogrinfo") is None:
        pytest.fail("ogrinfo not found: install Debian gdal-bin (scripts/system-deps.sh)")
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60"}
    env.pop("GDAL_HTTP_HEADERS", None)
    if key:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {key}"
    command = ["ogrinfo", "-ro", *options, f"OAPIF:{server.url}/ogc", *([layer] if layer else [])]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_ogrinfo_lists_the_collections(server):
    done = _ogrinfo(server, "-q", key=server.keys["planner"])
    assert done.returncode == 0, done.stderr
    for layer in ("localities", "incidents", "alerts"):
        assert re.search(rf"^\d+: {layer}\b", done.stdout, re.M), done.stdout


@pytest.mark.parametrize("layer", ["localities", "incidents", "alerts"])
def test_ogrinfo_reads_every_feature(server, layer):
    expected = server.get(f"/ogc/collections/{layer}/items", "analyst", params={"limit": 1}).json()[
        "numberMatched"
    ]
    done = _ogrinfo(server, "-q", "-oo", "PAGE_SIZE=500", layer=layer, key=server.keys["analyst"])
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^OGRFeature\(", done.stdout, re.M)) == expected > 0


def test_ogrinfo_without_the_key_is_refused(server):
    done = _ogrinfo(server, "-q", key=None)
    assert done.returncode != 0
    assert "401" in done.stderr or "HTTP" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        ("occurred_on >= '2022-01-01'", lambda d: d >= "2022-01-01"),
        ("occurred_on < '2015-06-01'", lambda d: d < "2015-06-01"),
        (
            "occurred_on >= '2019-01-01' AND occurred_on <= '2019-12-31'",
            lambda d: (d >= "2019-01-01") & (d <= "2019-12-31"),
        ),
    ],
    ids=["since-2022", "before-mid-2015", "during-2019"],
)
def test_ogrinfo_date_filter_gets_the_stored_count(server, where, keep):
    """GDAL turns the date filter into ``datetime=2022-01-01T/..``; the server must take that form."""
    from sauti.store import Workspace

    incidents = Workspace(server.workspace).incidents().dropna(subset=["longitude", "latitude"])
    incidents = incidents[incidents["location_precision"].isin(["point", "locality"])]
    days = incidents["occurred_on"].astype(str).str[:10]
    expected = int(keep(days).sum())
    log_before = server.log.read_text()
    done = _ogrinfo(
        server, "-q", "-oo", "PAGE_SIZE=1000", "-where", where, layer="incidents", key=server.keys["planner"]
    )
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^OGRFeature\(", done.stdout, re.M)) == expected > 0
    requests = server.log.read_text()[len(log_before) :]
    filtered = [
        line
        for line in requests.splitlines()
        if "/ogc/collections/incidents/items" in line and "datetime=" in line
    ]
    assert filtered, "GDAL did not pass the date filter to the server"
    assert all('" 200' in line for line in filtered), filtered
