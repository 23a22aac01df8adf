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
