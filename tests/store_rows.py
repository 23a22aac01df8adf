"""Small hand-built store contents shared by the store, response and alert tests: incident rows as
``insert_new`` takes them, and a workspace holding :func:`conftest.three_squares` as its localities."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from sauti.ingest.boundaries import ingest_boundaries
from sauti.store import Workspace


def incident_rows(n: int) -> pd.DataFrame:
    """``n`` located incidents (ids ``t:0`` …), one a day through January 2020 and again, in square A."""
    return pd.DataFrame(
        {
            "event_id": [f"t:{i}" for i in range(n)],
            "source": "test",
            "occurred_on": [f"2020-01-{1 + i % 28:02d}" for i in range(n)],
            "date_precision": "day",
            "location_precision": "point",
            "category": "other",
            "fatalities": 0,
            "longitude": [20.5 + i / 1000 for i in range(n)],
            "latitude": 5.5,
        }
    )


def with_squares(workspace: Workspace, squares: gpd.GeoDataFrame, folder: Path) -> Workspace:
    """``workspace`` with ``squares`` ingested as its admin2 localities (ids and names as given)."""
    shapes = folder / "squares.geojson"
    squares.to_file(shapes, driver="GeoJSON")
    ingest_boundaries(workspace, shapes, "admin2", id_field="locality_id", name_field="name")
    return workspace


def write_lines(folder: Path, name: str, lines: list[str]) -> Path:
    """A text file of ``lines`` (a CSV of alerts or responses) in ``folder``."""
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def after_each_batch(monkeypatch, hook) -> None:
    """Call ``hook(run)`` after each batch an ingest run commits (the run record's first), as
    another process would look at the store between them."""
    from sauti.ingest import runs

    commit_batch = runs.RunContext.commit_batch

    def committing(self):
        commit_batch(self)
        hook(self)

    monkeypatch.setattr(runs.RunContext, "commit_batch", committing)


def fail_at_batch(monkeypatch, n: int) -> None:
    """Make an ingest run raise ``RuntimeError("disk gone")`` right after its ``n``-th committed batch."""

    def hook(run) -> None:
        if run.committed_batches == n:
            raise RuntimeError("disk gone")

    after_each_batch(monkeypatch, hook)
