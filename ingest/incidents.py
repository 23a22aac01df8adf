"""Ingest an incident log (ACLED, UCDP GED, or any CSV through a mapping file) into the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import shapely

from sauti.db import POSTGRESQL
from sauti.ingest.bookkeeping import IngestReport
from sauti.ingest.currency import coverage_date, latest_date, parse_complete_through, record_coverage
from sauti.ingest.errors import IngestError
from sauti.ingest.readers import INCIDENT_READERS, IncidentReader, ReaderOptions
from sauti.ingest.readers.columns import is_json, source_columns
from sauti.ingest.readers.mapped import resolve_mapping
from sauti.ingest.runs import ProgressCallback, ingest_run
from sauti.ingest.tabular import inspect_text
from sauti.ingest.validate import Footprint, coordinate_warnings, suspected_swaps, validate_incidents
from sauti.store import Workspace

AUTO = "auto"
log = logging.getLogger(__name__)


def detect_format(path: Path, mapping: Path | None = None) -> str:
    """The registered format whose signature matches the file's columns."""
    columns = source_columns(path)
    for name, reader in INCIDENT_READERS.items():
        if not reader.needs_mapping and reader.detect(columns):
            return name
    if mapping is not None:
        return "csv"
    shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
    raise IngestError(
        path, f"cannot tell the incident format from its columns ({shown}); pass --format or a --mapping file"
    )


def resolve_reader(path: Path, fmt: str = AUTO, mapping: Path | None = None) -> IncidentReader:
    if fmt == AUTO:  # a mapping file says how to read the file, whatever its columns look like
        fmt = "csv" if mapping is not None else detect_format(path)
    if fmt not in INCIDENT_READERS:
        raise IngestError(path, f"unknown format {fmt!r}; known: {', '.join(INCIDENT_READERS)}")
    reader = INCIDENT_READERS[fmt]
    if reader.needs_mapping and mapping is None:
        raise IngestError(path, f"format {fmt!r} needs a --mapping file")
    return reader


def workspace_extent(workspace: Workspace) -> tuple[float, float, float, float] | None:
    """Bounding box of the stored localities, or ``None`` when there are none."""
    with workspace.session() as con:
        row = con.execute("SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM localities").fetchone()
    return None if row[0] is None else tuple(row)


def workspace_footprint(workspace: Workspace) -> Footprint | None:
    """The stored boundaries' bounding box and the union of their coarsest level (prepared for
    fast point tests), or ``None`` when there are none."""
    extent = workspace_extent(workspace)
    if extent is None:
        return None
    coarsest = min(workspace.levels())
    shape = shapely.union_all(workspace.localities(coarsest).geometry.to_numpy())
    shapely.prepare(shape)
    return Footprint(extent, shape)


def ingest_incidents(
    workspace: Workspace,
    path: str | Path,
    fmt: str = AUTO,
    mapping: str | Path | None = None,
    *,
    rules: str | Path | None = None,
    chunksize: int = 200_000,
    progress: ProgressCallback | None = None,
    today: date | None = None,
    complete_through: str | date | None = None,
) -> IngestReport:
    """Read, validate and store every row of an incident file; rejected rows go to a rejects file.

    The run records the date the file is complete through (:mod:`sauti.ingest.currency`): its
    latest valid event date, or ``complete_through`` when given (a quiet log declared current; it
    may not be before the file's latest event nor in the future).

    Examples
    --------
    >>> report = ingest_incidents(Workspace("ws"), "ged.geojson")  # doctest: +SKIP
    >>> report.read == report.accepted + report.rejected + report.duplicates  # doctest: +SKIP
    True
    """
    path = Path(path)
    declared = parse_complete_through(complete_through)
    mapping = resolve_mapping(mapping) if mapping else None
    reader = resolve_reader(path, fmt, mapping)
    options = ReaderOptions(mapping=mapping, rules=Path(rules) if rules else None, chunksize=chunksize)
    footprint = workspace_footprint(workspace)
    extent = footprint.extent if footprint else None
    params = {"mapping": str(mapping) if mapping else None, "rules": str(rules) if rules else None}
    with ingest_run(workspace, "incidents", path, fmt=reader.name, params=params, batched=True) as run:
        note = None if is_json(path) else inspect_text(path).warning
        if note:
            log.warning("%s: %s", path, note)
            run.report.warnings.append(note)
        latest, swaps = None, 0
        run.report.outside = 0
        checked = _checked_chunks(reader.read(path, options), footprint, extent, today)
        if workspace.backend == POSTGRESQL:  # the server's work overlaps the next chunk's reading
            checked = read_ahead(checked)
        for read, good, rejects, outside, suspected in checked:
            run.count_read(read)
            run.reject(rejects)
            run.report.outside += outside
            swaps += suspected
            run.store("incidents", good)
            if len(good):
                latest = max(filter(None, (latest, latest_date(good["occurred_on"]))), default=None)
            if progress:
                progress(read)
        for note in coordinate_warnings(run.report.outside, swaps):
            log.warning("%s: %s", path, note)
            run.report.warnings.append(note)
        through = coverage_date(latest, declared, source=str(path), today=today or date.today())
        run.begin()  # the coverage is committed with the run's record
        record_coverage(run.con, run.run_id, "incidents", through, declared=declared is not None)
    return run.report


def _checked_chunks(
    chunks: Iterator[Any], footprint: Footprint | None, extent: Any, today: date | None
) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame, int, int]]:
    """Each chunk read and checked: ``(rows read, accepted rows, rejects, rows outside the
    boundaries, suspected swaps)`` — pure work on frames, nothing written."""
    for chunk in chunks:
        good, rejects = validate_incidents(chunk.frame, chunk.checker, today=today)
        lon, lat = good["longitude"], good["latitude"]
        outside = int(footprint.outside(lon, lat).sum()) if footprint is not None else 0
        yield len(chunk.frame), good, rejects, outside, int(suspected_swaps(lon, lat, extent).sum())


T = TypeVar("T")


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each made in a background thread while the caller works on the one before.

    The PostgreSQL ingest reads and checks the next chunk of a file while the server inserts the
    last one (waiting on the server releases the GIL): the two overlap on two cores. Only one item
    is made ahead (bounded memory), the caller still does every write, in order, and an exception
    raised making an item is raised here, in its place. Not used on SQLite, whose inserts run in
    this process: there it bought little and cost CPU per row (GIL hand-offs) and memory.
    """
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sauti-read-ahead") as pool:
        future = pool.submit(next, items, end)
        while True:
            item = future.result()
            if item is end:
                return
            future = pool.submit(next, items, end)
            yield item
