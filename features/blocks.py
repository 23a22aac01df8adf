"""The cube's ``(locality, period)`` variables computed block by block with Dask, in bounded memory.

The localities are cut into blocks of consecutive rows. For each block one task counts the events
placed in it (incidents, alerts, its regions' rows) and derives the temporal summaries along the
whole time axis (decays, trailing windows, time since, trends: each row depends on its own row
only). A second task per block computes the spatial lags from the libpysal graph, built once for
the whole unit set: its sparse matrix's rows of the block are applied to the summaries of the
blocks holding the block's first- and second-order neighbours (its halo). One block is the
in-memory path: same code, same numbers (tests/test_features_chunked.py).
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
    from libpysal.graph import Graph

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


def _block_base(incidents: EventIndex, alerts: EventIndex, regions: dict, n_per: int, params) -> dict:
    """Counts and temporal summaries of one block (a dict in the cube's variable order)."""
    n_loc = next(iter(regions.values())).shape[0]
    shape = (n_loc, n_per)
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
    counts.update(regions)
    return {**counts, **temporal_summaries(counts, params)}


def _block_lags(first: sp.csr_matrix, second: sp.csr_matrix, names: list[str], dtype, *halo: dict) -> dict:
    """``splag1_*`` then ``splag2_*`` of one block from the summaries of its halo blocks (in order)."""
    values = {name: np.concatenate([h[name] for h in halo], axis=0) for name in names}
    return spatial_lags(first, second, values, dtype)


def _pick(values: dict, name: str) -> np.ndarray:
    return values[name]


def dynamic_arrays(
    incidents: EventIndex,
    alerts: EventIndex,
    regions: dict[str, np.ndarray],
    locality_region: np.ndarray,
    lag_weights: tuple[Graph, Graph],
    n_per: int,
    params: FeatureParams,
    block: int,
) -> dict[str, dask.array.Array]:
    """Every ``(locality, period)`` variable as a lazy Dask array chunked ``(block, n_per)``.

    ``regions`` holds the per-region counts (``n_regions × n_per``, small); ``lag_weights`` the
    row-standardised first- and second-order libpysal graphs (their sparse matrices are sliced
    per block, so the graph is built once).
    """
    import dask

    n_loc = len(locality_region)
    starts = list(range(0, n_loc, block))
    bounds = [(s, min(s + block, n_loc)) for s in starts]
    base_tasks = []
    for s, e in bounds:
        rows = region_rows(regions, locality_region[s:e])
        base_tasks.append(
            dask.delayed(_block_base, pure=True)(
                incidents.within(s, e), alerts.within(s, e), rows, n_per, params
            )
        )
    # names and dtypes from a one-locality, two-period block without events
    empty = _block_base(
        incidents.within(0, 0),
        alerts.within(0, 0),
        region_rows(_take(regions, 2), locality_region[:1]),
        2,
        params,
    )
    arrays: dict = {}
    for name, sample in empty.items():
        arrays[name] = _stack(base_tasks, bounds, name, sample.dtype, n_per)
    names = history_names(params)
    first, second = (sp.csr_matrix(w.sparse) for w in lag_weights)
    lag_tasks = []
    for s, e in bounds:
        halo = _halo_blocks(first, second, s, e, block)
        columns = np.concatenate([np.arange(bounds[j][0], bounds[j][1]) for j in halo])
        lag_tasks.append(
            dask.delayed(_block_lags, pure=True)(
                first[s:e][:, columns],
                second[s:e][:, columns],
                names,
                np.dtype(params.dtype),
                *[base_tasks[j] for j in halo],
            )
        )
    for label in ("splag1", "splag2"):
        for name in names:
            arrays[f"{label}_{name}"] = _stack(
                lag_tasks, bounds, f"{label}_{name}", np.dtype(params.dtype), n_per
            )
    return arrays


def _take(regions: dict[str, np.ndarray], n_per: int) -> dict[str, np.ndarray]:
    return {k: np.zeros((max(v.shape[0], 1), n_per), dtype=v.dtype) for k, v in regions.items()}


def _stack(tasks, bounds, name: str, dtype, n_per: int):
    import dask
    import dask.array as da

    pieces = [
        da.from_delayed(dask.delayed(_pick, pure=True)(task, name), shape=(e - s, n_per), dtype=dtype)
        for task, (s, e) in zip(tasks, bounds, strict=True)
    ]
    return da.concatenate(pieces, axis=0)


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
