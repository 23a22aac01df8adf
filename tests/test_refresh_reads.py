"""One refresh (cube → scores → surface) reads the incident log once, and draws the surface with
the same function as ``sauti heatmap``."""

from __future__ import annotations

from sauti.features import DEFAULT_SURFACE, SurfaceParams
from sauti.features.surface import read_surface
from sauti.models import train
from sauti.models.refresh import refresh_risk


def test_a_refresh_reads_incidents_once_and_redraws_the_surface_as_it_was_made(sample_workspace, monkeypatch):
    ws = sample_workspace
    train(ws, freq="M", unit="admin2")  # a new model version: the refresh rescores and redraws
    made = SurfaceParams.from_attrs(read_surface(ws.root / DEFAULT_SURFACE).attrs)
    real = ws.incidents
    reads = []

    def counted(until=None):
        reads.append(until)
        return real(until=until)

    monkeypatch.setattr(ws, "incidents", counted)
    (ws.root / DEFAULT_SURFACE).unlink()
    done = refresh_risk(ws, freq="M", unit="admin2", surface_resolution_km=made.resolution_km)
    assert reads == [None]  # every incident, once: the cube and the surface filter by date themselves
    assert done["heatmap"] is not None
    assert SurfaceParams.from_attrs(read_surface(ws.root / DEFAULT_SURFACE).attrs) == made
