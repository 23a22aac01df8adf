"""Neighbour graphs and spatial lags (features/graph.py, features/spatial_lag.py)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from shapely.geometry import box

from sauti.features import FeatureParams, build_graph, second_order
from sauti.features.graph import lag_sparse
from sauti.features.spatial_lag import check_graph_order, spatial_lags


def _neighbours(graph) -> dict[str, set[str]]:
    adj = graph.adjacency.reset_index()
    adj = adj[adj["weight"] > 0]
    return {k: set(g["neighbor"]) for k, g in adj.groupby("focal")}


@pytest.fixture
def five_squares(three_squares) -> gpd.GeoDataFrame:
    """A | B | C in a row, D touching B only at a corner, E an island far east."""
    extra = gpd.GeoDataFrame(
        {
            "locality_id": ["D", "E"],
            "name": ["Delta", "Epsilon"],
            "level": "admin2",
            "admin1_id": ["R2", "R3"],
        },
        geometry=[box(22, 6, 23, 7), box(30, 5, 31, 6)],
        crs="EPSG:4326",
    )
    return pd.concat([three_squares, extra], ignore_index=True)


def test_queen_contiguity_of_three_squares(three_squares):
    graph = build_graph(three_squares, FeatureParams())
    assert list(graph.unique_ids) == ["A", "B", "C"]
    assert _neighbours(graph) == {"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}


def test_row_standardised_lag_is_neighbour_mean(three_squares):
    first, second = lag_sparse(build_graph(three_squares, FeatureParams()))
    y = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])  # two periods at once
    assert_allclose(first @ y, [[2, 20], [2.5, 25], [2, 20]])
    # second order: A and C see each other (two steps), B has none
    assert_allclose(second @ y, [[4, 40], [0, 0], [1, 10]])


def test_island_gets_nearest_neighbours_both_ways(five_squares):
    graph = build_graph(five_squares, FeatureParams(knn_k=1))
    nb = _neighbours(graph)
    assert nb["E"] == {"D"} or nb["E"] == {"C"}  # nearest centroid east
    nearest = next(iter(nb["E"]))
    assert "E" in nb[nearest]  # symmetric
    assert nb["D"] >= {"B", "C"}  # corner contact counts for Queen
    assert len(graph.isolates) == 0


def test_second_order_excludes_self_and_first_order(five_squares):
    graph = build_graph(five_squares, FeatureParams(knn_k=1))
    first = _neighbours(graph)
    second = _neighbours(second_order(graph))
    for unit, ring in second.items():
        assert unit not in ring
        assert not ring & first.get(unit, set())
    assert "C" in second["A"]


@pytest.mark.parametrize(
    ("params", "expected_a"),
    [
        (FeatureParams(graph="knn", knn_k=2), {"B", "C"}),
        (FeatureParams(graph="distance", distance_km=120), {"B"}),  # centroids ~111 km apart
        (FeatureParams(graph="distance", distance_km=250), {"B", "C"}),
    ],
    ids=["knn2", "distance120km", "distance250km"],
)
def test_other_graph_kinds(three_squares, params, expected_a):
    assert _neighbours(build_graph(three_squares, params))["A"] == expected_a


def test_graph_order_follows_the_frame_not_the_alphabet(three_squares):
    shuffled = three_squares.iloc[[2, 0, 1]].reset_index(drop=True)
    graph = build_graph(shuffled, FeatureParams())
    assert list(graph.unique_ids) == ["C", "A", "B"]
    first, _ = lag_sparse(graph)
    assert_allclose(first @ np.array([4.0, 1.0, 2.0]), [2, 2, 2.5])


@pytest.mark.parametrize("knn_k", [1, 2], ids=["knn1", "knn2"])
def test_second_order_equals_libpysal_higher_order(five_squares, knn_k):
    """The sparse second order (what the cube's blocks use) is libpysal's ``higher_order(k=2)``."""
    from sauti.features.synthetic import synthetic_grid

    for units in (five_squares, synthetic_grid(side_cells=9, regions_per_side=2)):
        graph = build_graph(units, FeatureParams(knn_k=knn_k))
        libpysal_second = graph.transform("b").higher_order(k=2, shortest_path=True, diagonal=False)
        assert _neighbours(second_order(graph)) == _neighbours(libpysal_second)
        first, second = lag_sparse(graph)
        assert_allclose(first.toarray(), graph.transform("r").sparse.toarray(), rtol=0, atol=0)
        assert_allclose(second.toarray(), libpysal_second.transform("r").sparse.toarray(), rtol=0, atol=0)


def test_mismatched_graph_is_refused(three_squares):
    graph = build_graph(three_squares, FeatureParams())
    with pytest.raises(ValueError, match="same order"):
        check_graph_order(graph, np.array(["B", "A", "C"]))


def test_spatial_lags_name_every_variable(three_squares):
    first, second = lag_sparse(build_graph(three_squares, FeatureParams()))
    out = spatial_lags(first, second, {"decay_x": np.eye(3), "roll3_x": np.ones((3, 3))})
    assert sorted(out) == ["splag1_decay_x", "splag1_roll3_x", "splag2_decay_x", "splag2_roll3_x"]
    assert_allclose(out["splag1_roll3_x"], np.ones((3, 3)))


def test_duplicate_ids_are_refused(three_squares):
    twice = pd.concat([three_squares, three_squares.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="more than once"):
        build_graph(twice, FeatureParams())
