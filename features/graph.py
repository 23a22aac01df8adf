"""The spatial neighbour graph of a unit set (libpysal ``Graph``), built once and passed around.

Queen contiguity by default; ``knn`` and a ``distance`` band (between centroids in the local
equal-area CRS) on request. Whatever the kind, a unit left with no neighbour (an island, an
exclave) gets its ``knn_k`` nearest units as neighbours, and they get it back, so every unit has
a spatial lag. Second-order neighbours (neighbours of neighbours, excluding first-order ones and
the unit itself) come from :func:`second_order`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.features.params import FeatureParams
from sauti.geo import local_crs

if TYPE_CHECKING:  # pragma: no cover
    from libpysal.graph import Graph


def _indexed(localities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if LOCALITY_ID not in localities:
        raise ValueError("localities need a locality_id column")
    ids = localities[LOCALITY_ID].astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise ValueError(f"locality_id {dup!r} appears more than once in the unit set")
    frame = gpd.GeoDataFrame(geometry=localities.geometry.to_numpy(), crs=localities.crs)
    frame.index = pd.Index(ids.to_numpy(), name=LOCALITY_ID)
    return frame


def _centroids(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    crs = local_crs(tuple(frame.to_crs("EPSG:4326").total_bounds)) if frame.crs else None
    projected = frame.to_crs(crs) if crs is not None else frame
    return projected.geometry.centroid


def build_graph(localities: gpd.GeoDataFrame, params: FeatureParams | None = None) -> Graph:
    """First-order neighbour graph of ``localities``, binary weights, ids = ``locality_id``.

    Parameters
    ----------
    localities : GeoDataFrame
        The unit set (any CRS; distances are taken in :func:`sauti.geo.local_crs`).
    params : FeatureParams
        ``graph`` (contiguity | knn | distance), ``knn_k``, ``distance_km``.

    Returns
    -------
    libpysal.graph.Graph
        Ordered like ``localities``; row-standardise with ``graph.transform("r")`` for lags.

    Examples
    --------
    >>> g = build_graph(three_squares, FeatureParams())  # doctest: +SKIP
    >>> g.transform("r").lag(np.array([1.0, 2.0, 3.0]))  # doctest: +SKIP
    array([2., 2., 2.])
    """
    from libpysal.graph import Graph

    params = params or FeatureParams()
    frame = _indexed(localities)
    n = len(frame)
    if n == 0:
        raise ValueError("cannot build a graph of an empty unit set")
    if n == 1:
        return Graph.from_arrays(frame.index.to_numpy(), frame.index.to_numpy(), np.zeros(1))
    centroids = _centroids(frame)
    k = min(params.knn_k, n - 1)
    if params.graph == "contiguity":
        graph = Graph.build_contiguity(frame, rook=False)
    elif params.graph == "knn":
        graph = Graph.build_knn(centroids, k=k, coplanar="clique")
    else:
        graph = Graph.build_distance_band(centroids, threshold=params.distance_km * 1000.0, binary=True)
    return _with_island_fallback(graph, centroids, k)


def _with_island_fallback(graph, centroids: gpd.GeoSeries, k: int):
    """Give every isolate its k nearest units as (symmetric) neighbours."""
    from libpysal.graph import Graph

    isolates = graph.isolates
    if len(isolates) == 0:
        return graph
    knn = Graph.build_knn(centroids, k=k, coplanar="clique")
    adj = knn.adjacency.reset_index()
    adj = adj[adj["focal"].isin(isolates) & (adj["weight"] > 0)]
    base = graph.adjacency.reset_index()
    base = base[base["weight"] > 0]
    extra = pd.DataFrame({"focal": adj["neighbor"].to_numpy(), "neighbor": adj["focal"].to_numpy()})
    edges = pd.concat([base[["focal", "neighbor"]], adj[["focal", "neighbor"]], extra], ignore_index=True)
    edges = edges.drop_duplicates()
    ids = centroids.index.to_numpy()
    rank = pd.Series(np.arange(len(ids)), index=ids)
    edges = edges.assign(_f=rank[edges["focal"]].to_numpy(), _n=rank[edges["neighbor"]].to_numpy())
    edges = edges.sort_values(["_f", "_n"])
    still = np.setdiff1d(ids, edges["focal"].unique())
    focal = np.r_[edges["focal"].to_numpy(dtype=object), still.astype(object)]
    neighbor = np.r_[edges["neighbor"].to_numpy(dtype=object), still.astype(object)]
    weight = np.r_[np.ones(len(edges)), np.zeros(len(still))]
    order = np.argsort(rank[focal].to_numpy(), kind="stable")
    return Graph.from_arrays(focal[order], neighbor[order], weight[order])


def second_order(graph: Graph) -> Graph:
    """Neighbours at exactly two steps: first-order neighbours and self excluded (binary)."""
    from libpysal.graph import Graph

    return Graph.from_sparse(_second_order_sparse(graph).astype(np.int8), ids=graph.unique_ids)


def _second_order_sparse(graph: Graph):
    """``graph.higher_order(k=2, shortest_path=True, diagonal=False)`` as a binary sparse matrix, with
    sparse products instead of libpysal's sets of index pairs (gigabytes at 300,000 units)."""
    import scipy.sparse as sp

    binary = sp.csr_array(graph.sparse, dtype=np.float64)
    binary.data = (binary.data != 0).astype(np.float64)
    binary.eliminate_zeros()
    two = binary @ binary
    two.data[:] = 1.0
    two = (two - two.multiply(binary)).tocoo()  # reached in two steps but not in one
    keep = (two.data != 0) & (two.row != two.col)
    out = sp.csr_array((np.ones(int(keep.sum())), (two.row[keep], two.col[keep])), shape=binary.shape)
    out.sort_indices()
    return out


def _row_standardised(matrix):
    """Each row divided by its sum (a row without neighbours stays zero), as ``transform("r")``."""
    import scipy.sparse as sp

    matrix = sp.csr_array(matrix, dtype=np.float64)
    matrix.eliminate_zeros()
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    matrix.data = matrix.data / sums[rows]
    return matrix


def lag_sparse(graph: Graph):
    """The row-standardised sparse matrices (first order, second order) in the graph's id order,
    without building the second-order ``Graph`` (what the cube's blocks use at 300,000 units)."""
    return _row_standardised(graph.sparse), _row_standardised(_second_order_sparse(graph))
