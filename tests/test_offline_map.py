"""The notebook's offline map takes its inputs explicitly (issue #14): nothing read from settings."""

from __future__ import annotations

import pytest
from sauti.api.notebook import offline_map_html

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
