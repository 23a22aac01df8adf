"""The cube's ``(locality, period)`` variables computed block by block with Dask, in bounded memory.

The localities are cut into blocks of consecutive rows. For each block one task counts the events
placed in it (incidents, alerts, its regions' rows) and derives the temporal summaries along the
whole time axis (decays, trailing windows, time since, trends: each row depends on its own row
only). A second task per block computes the spatial lags from the libpysal graph, built once for
the whole unit set: its sparse matrix's rows of the block are applied to the summaries of the
blocks holding the block's first- and second-order neighbours (its halo). One block is the
in-memory path: same code, same numbers (tests/test_features_chunked.py). The graph has a few
layers whatever the number of blocks, so :func:`sauti.features.storage.save_cube` computes and
writes it a slab of blocks at a time, each slab culled to its blocks and their halo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from sauti.features.counts import alert_counts, incident_counts, region_rows
from sauti.features.spatial_lag import spatial_lags
from sauti.features.temporal import history_names, temporal_summaries

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import dask.array
    from dask.callbacks import Callback

    from sauti.features.params import FeatureParams

#: cells (localities × periods) per block: ~110 float32 variables of 500k cells are ~220 MB
CELLS_PER_BLOCK = 500_000


def block_size(n_localities: int, n_periods: int, cells: int | None = None) -> int:
    """Localities per block so a block holds about ``cells`` (default :data:`CELLS_PER_BLOCK`) cells."""
    per = max(int((cells or CELLS_PER_BLOCK) // max(n_periods, 1)), 1)
    return max(min(per, n_localities), 1)


@dataclass(frozen=True)
class EventIndex:
    """Where events count: locality position, period position and what each one is (flat arrays)."""

    locality: np.ndarray
    period: np.ndarray
    columns: dict[str, np.ndarray]

    def within(self, start: int, stop: int) -> EventIndex:
        """The events of localities ``start … stop - 1``, positions made relative to ``start``."""
        keep = (self.locality >= start) & (self.locality < stop)
        return EventIndex(
            self.locality[keep] - start, self.period[keep], {k: v[keep] for k, v in self.columns.items()}
        )


@dataclass(frozen=True)
class _BaseInputs:
    """What one block's counts need (one object, so Dask passes it to the task as it is)."""

    incidents: EventIndex
    alerts: EventIndex
    regions: dict[str, np.ndarray]
    locality_region: np.ndarray
    n_per: int
    params: FeatureParams


@dataclass(frozen=True)
class _LagInputs:
    """The block's rows of the first- and second-order matrices (columns: its halo blocks' rows)."""

    first: sp.csr_matrix
    second: sp.csr_matrix
    names: tuple[str, ...]
    dtype: np.dtype


def _block_base(inputs: _BaseInputs) -> dict:
    """Counts and temporal summaries of one block (a dict in the cube's variable order).

    The block's rows of the per-region counts are read here, in the task, not when the graph is
    built (that would hold every block's rows in memory before the first task runs).
    """
    incidents, alerts = inputs.incidents, inputs.alerts
    shape = (len(inputs.locality_region), inputs.n_per)
    counts = incident_counts(
        incidents.columns["category"],
        incidents.columns["fatalities"],
        incidents.locality,
        incidents.period,
        shape,
    )
    counts.update(
        alert_counts(
            alerts.columns["category"], alerts.columns["verification"], alerts.locality, alerts.period, shape
        )
    )
    counts.update(region_rows(inputs.regions, inputs.locality_region))
    return {**counts, **temporal_summaries(counts, inputs.params)}


def _block_lags(inputs: _LagInputs, *halo: dict) -> dict:
    """``splag1_*`` then ``splag2_*`` of one block from the summaries of its halo blocks (in order)."""
    values = {name: np.concatenate([h[name] for h in halo], axis=0) for name in inputs.names}
    return spatial_lags(inputs.first, inputs.second, values, inputs.dtype)


def _pick(values: dict, name: str) -> np.ndarray:
    return values[name]


def _history(values: dict, names: _Names) -> dict:
    """The summaries the halo's lags read (the rest of the block is freed once it is written)."""
    return {name: values[name] for name in names.names}


@dataclass(frozen=True)
class _Names:
    """Variable names passed to a task as they are (Dask would look for keys in a bare tuple)."""

    names: tuple[str, ...]


def _by_block(events: EventIndex, bounds: list[tuple[int, int]]) -> list[EventIndex]:
    """``events.within(s, e)`` for every block, from one sort (same events, same order in each)."""
    order = np.argsort(events.locality, kind="stable")
    located = events.locality[order]
    pieces = []
    for s, e in bounds:
        first, stop = np.searchsorted(located, [s, e])
        keep = np.sort(order[first:stop])  # the events' own order, as ``within`` keeps it
        columns = {k: v[keep] for k, v in events.columns.items()}
        pieces.append(EventIndex(events.locality[keep] - s, events.period[keep], columns))
    return pieces


def dynamic_arrays(
    incidents: EventIndex,
    alerts: EventIndex,
    regions: dict[str, np.ndarray],
    locality_region: np.ndarray,
    lag_weights: tuple[sp.csr_array, sp.csr_array],
    n_per: int,
    params: FeatureParams,
    block: int,
) -> dict[str, dask.array.Array]:
    """Every ``(locality, period)`` variable as a lazy Dask array chunked ``(block, n_per)``.

    ``regions`` holds the per-region counts (``n_regions × n_per``, small); ``lag_weights`` the
    row-standardised first- and second-order sparse matrices of the libpysal graph
    (:func:`sauti.features.graph.lag_sparse`; sliced per block, so the graph is built once).

    The graph is small whatever the number of blocks: one layer of count tasks, one of lag tasks
    and one per variable picking it from its block's task (no per-block layers), so computing a
    slice of localities (:func:`sauti.features.storage.save_cube` writes the cube in slabs of
    blocks) culls it quickly to the slice's blocks and their halo.
    """
    import uuid

    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

    n_loc = len(locality_region)
    bounds = [(s, min(s + block, n_loc)) for s in range(0, n_loc, block)]
    token = uuid.uuid4().hex
    base_name, lags_name = f"_block_base-{token}", f"_block_lags-{token}"
    history_name = f"_block_history-{token}"
    base_layer = MaterializedLayer(
        {
            (base_name, j): (
                _block_base,
                _BaseInputs(inc, ale, regions, locality_region[s:e], n_per, params),
            )
            for j, ((s, e), inc, ale) in enumerate(
                zip(bounds, _by_block(incidents, bounds), _by_block(alerts, bounds), strict=True)
            )
        }
    )
    # names and dtypes from a one-locality, two-period block without events
    none = incidents.within(0, 0), alerts.within(0, 0)
    empty = _block_base(_BaseInputs(*none, _take(regions, 2), locality_region[:1], 2, params))
    names = tuple(history_names(params))
    dtype = np.dtype(params.dtype)
    first, second = (sp.csr_matrix(w) for w in lag_weights)
    lag_tasks, only = {}, _Names(names)
    for j, (s, e) in enumerate(bounds):
        halo = _halo_blocks(first, second, s, e, block)
        columns = np.concatenate([np.arange(bounds[h][0], bounds[h][1]) for h in halo])
        inputs = _LagInputs(first[s:e][:, columns], second[s:e][:, columns], names, dtype)
        lag_tasks[(lags_name, j)] = (_block_lags, inputs, *[(history_name, h) for h in halo])
    lags_layer = MaterializedLayer(lag_tasks)
    history_layer = MaterializedLayer(
        {(history_name, j): (_history, (base_name, j), only) for j in range(len(bounds))}
    )
    chunks = (tuple(e - s for s, e in bounds), (n_per,))
    sources = [(name, sample.dtype, base_name) for name, sample in empty.items()]
    sources += [(f"{label}_{name}", dtype, lags_name) for label in ("splag1", "splag2") for name in names]
    arrays: dict = {}
    for name, kind, source in sources:
        key = f"{name}-{token}"
        layers = {base_name: base_layer, key: _pick_layer(key, source, name, len(bounds))}
        dependencies = {base_name: set(), key: {source}}
        if source == lags_name:
            layers[history_name], dependencies[history_name] = history_layer, {base_name}
            layers[lags_name], dependencies[lags_name] = lags_layer, {history_name}
        graph = HighLevelGraph(layers, dependencies)
        arrays[name] = da.Array(graph, key, chunks=chunks, dtype=kind)
    return arrays


def _pick_layer(key: str, source: str, name: str, n_blocks: int):
    from dask.highlevelgraph import MaterializedLayer

    return MaterializedLayer({(key, j, 0): (_pick, (source, j), name) for j in range(n_blocks)})


def _take(regions: dict[str, np.ndarray], n_per: int) -> dict[str, np.ndarray]:
    return {k: np.zeros((max(v.shape[0], 1), n_per), dtype=v.dtype) for k, v in regions.items()}


def _halo_blocks(first: sp.csr_matrix, second: sp.csr_matrix, start: int, stop: int, block: int) -> list[int]:
    """The blocks holding the rows ``start … stop - 1`` and every first- or second-order neighbour."""
    used = np.union1d(first[start:stop].indices, second[start:stop].indices)
    own = np.arange(start // block, (stop - 1) // block + 1)
    return sorted(set((used // block).tolist()) | set(own.tolist()))


def block_progress(n_blocks: int, advance: Callable[[int], None] | None = None) -> Callback:
    """A Dask callback (local schedulers) that logs each finished block with the peak memory so far,
    and calls ``advance(1)`` per block when given (a progress bar)."""
    import logging

    from dask.callbacks import Callback

    from sauti.progress import peak_memory_gb

    log = logging.getLogger(__name__)

    class _Blocks(Callback):
        done = 0

        def _posttask(self, key, result, dsk, state, worker_id) -> None:
            name = key[0] if isinstance(key, tuple) else key
            if str(name).startswith("_block_lags-"):
                self.done += 1
                log.info("cube block %d/%d done; peak memory %.2f GB", self.done, n_blocks, peak_memory_gb())
                if advance is not None:
                    advance(1)

    return _Blocks()
