"""The service's refresh after alerts (``sauti.api.services.nowcast.refresh``), on the sample workspace."""

from __future__ import annotations

from sauti.api.services.nowcast import refresh
from sauti.api.services.source import DataSource
from sauti.settings import Settings


def test_a_refresh_that_changes_nothing_keeps_the_service_caches(sample_workspace) -> None:
    """Every request's cached views are dropped only when a refresh changed what is served."""
    source = DataSource(sample_workspace, Settings(workspace=sample_workspace.root))
    first = refresh(source)
    generation = source.generation
    again = refresh(source, previous=first["cube"])
    assert again["changed"] is False
    assert source.generation == generation
    assert first["cube"] is not None
