"""The covering solver on plain arrays: known optima, brute force, capacity and bounds on random instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sauti.models.patrol.solve import CoverProblem, solve, solve_exact, solve_greedy, upper_bound


def _trap() -> CoverProblem:
    # localities L0..L4 worth 0.1 0.8 0.9 0.3 0.2; base 0 reaches L1 (8 km), L2 (2 km);
    # base 1 reaches L2 (11 km), L3 (1 km), L4 (9 km); one patrol each
    return CoverProblem(
        value=np.array([0.1, 0.8, 0.9, 0.3, 0.2]),
        capacity=np.array([1, 1]),
        pair_base=np.array([0, 0, 1, 1, 1]),
        pair_locality=np.array([1, 2, 2, 3, 4]),
        pair_distance=np.array([8.0, 2.0, 11.0, 1.0, 9.0]),
    )


def _assignment(problem: CoverProblem, chosen: np.ndarray) -> set[tuple[int, int]]:
    return {(int(problem.pair_base[k]), int(problem.pair_locality[k])) for k in chosen}


def _random_problem(seed: int, n_bases: int = 3, n_loc: int = 7) -> CoverProblem:
    rng = np.random.default_rng(seed)
    reach = rng.random((n_bases, n_loc)) < 0.5
    b, i = np.nonzero(reach)
    value = np.round(rng.random(n_loc), 2) * (rng.random(n_loc) > 0.15)
    return CoverProblem(
        value=value,
        capacity=rng.integers(0, 3, n_bases),
        pair_base=b,
        pair_locality=i,
        pair_distance=rng.random(b.size) * 50,
    )


def _plans(problem: CoverProblem):
    """Every feasible way of sending each locality one patrol (or none): (value, distance) pairs."""
    options = [
        [None] + [k for k in range(problem.n_pairs) if problem.pair_locality[k] == i]
        for i in range(problem.value.size)
    ]
    for combo in itertools.product(*options):
        chosen = [k for k in combo if k is not None]
        load = np.bincount(problem.pair_base[chosen], minlength=problem.capacity.size) if chosen else 0
        if np.all(load <= problem.capacity):
            value = float(problem.value[problem.pair_locality[chosen]].sum()) if chosen else 0.0
            yield value, float(problem.pair_distance[chosen].sum()) if chosen else 0.0


def _brute_force(problem: CoverProblem) -> float:
    """Best covered value over every plan."""
    return max(value for value, _ in _plans(problem))


def _shortest_best(problem: CoverProblem) -> float:
    """Least total distance among the plans of the best value (ties of risk are common)."""
    plans = list(_plans(problem))
    best = max(value for value, _ in plans)
    return min(distance for value, distance in plans if value >= best - 1e-9)


def test_exact_finds_the_known_optimum_where_greedy_falls_short() -> None:
    problem = _trap()
    exact = solve_exact(problem)
    greedy = solve_greedy(problem)
    assert _assignment(problem, exact.chosen) == {(0, 1), (1, 2)}
    assert exact.status == "optimal"
    np.testing.assert_allclose(exact.objective, 1.7)
    np.testing.assert_allclose(exact.upper_bound, 1.7)
    assert exact.gap == pytest.approx(0.0, abs=1e-9)
    assert _assignment(problem, greedy.chosen) == {(0, 2), (1, 3)}
    np.testing.assert_allclose(greedy.objective, 1.2)
    # greedy reports a proven bound at least the true optimum, hence a gap ≥ the true one
    assert greedy.upper_bound >= 1.7 - 1e-9
    assert greedy.gap >= (1.7 - 1.2) / 1.7 - 1e-9


@pytest.mark.parametrize("seed", range(25), ids=lambda s: f"seed{s}")
def test_exact_matches_brute_force_and_greedy_stays_within_half(seed: int) -> None:
    problem = _random_problem(seed)
    best = _brute_force(problem)
    exact = solve(problem, "exact")
    greedy = solve(problem, "greedy")
    np.testing.assert_allclose(exact.objective, best, atol=1e-9)
    assert greedy.objective <= best + 1e-9
    assert greedy.objective >= best / 2 - 1e-9
    for solution in (exact, greedy):
        assert solution.upper_bound >= best - 1e-9
        chosen_bases = problem.pair_base[solution.chosen]
        chosen_locs = problem.pair_locality[solution.chosen]
        assert np.all(np.bincount(chosen_bases, minlength=problem.capacity.size) <= problem.capacity)
        assert np.unique(chosen_locs).size == chosen_locs.size  # no locality twice
        assert np.all(problem.value[chosen_locs] > 0)  # no patrol wasted on a worthless locality


def test_upper_bound_is_the_smaller_of_total_and_per_base_bounds() -> None:
    # one base reaching three localities with 2 patrols: top-2 of {5, 3, 1} = 8
    problem = CoverProblem(
        value=np.array([5.0, 3.0, 1.0]),
        capacity=np.array([2]),
        pair_base=np.array([0, 0, 0]),
        pair_locality=np.array([0, 1, 2]),
        pair_distance=np.array([1.0, 2.0, 3.0]),
    )
    assert upper_bound(problem) == pytest.approx(8.0)


def test_exact_prefers_the_nearer_base_among_equally_good_plans() -> None:
    # one locality reachable from a far base (90 km) and a near one (10 km): the near one goes
    problem = CoverProblem(
        value=np.array([1.0]),
        capacity=np.array([1, 1]),
        pair_base=np.array([0, 1]),
        pair_locality=np.array([0, 0]),
        pair_distance=np.array([90.0, 10.0]),
    )
    assert _assignment(problem, solve(problem, "exact").chosen) == {(1, 0)}


def test_exact_prefers_the_nearer_of_equally_risky_localities() -> None:
    # one patrol, three localities of equal risk at 40, 10 and 25 km: the 10 km one is patrolled;
    # with two patrols, 10 and 25 km; a riskier far locality still beats a near one
    problem = CoverProblem(
        value=np.array([0.3, 0.3, 0.3, 0.2]),
        capacity=np.array([1]),
        pair_base=np.array([0, 0, 0, 0]),
        pair_locality=np.array([0, 1, 2, 3]),
        pair_distance=np.array([40.0, 10.0, 25.0, 1.0]),
    )
    assert _assignment(problem, solve(problem, "exact").chosen) == {(0, 1)}
    two = CoverProblem(**{**problem.__dict__, "capacity": np.array([2])})
    assert _assignment(two, solve(two, "exact").chosen) == {(0, 1), (0, 2)}
    far = CoverProblem(**{**problem.__dict__, "value": np.array([0.31, 0.3, 0.3, 0.2])})
    assert _assignment(far, solve(far, "exact").chosen) == {(0, 0)}
    greedy = solve(problem, "greedy")
    assert _assignment(problem, greedy.chosen) == {(0, 1)}


@pytest.mark.parametrize("seed", range(25), ids=lambda s: f"seed{s}")
def test_exact_plan_is_the_shortest_of_the_best(seed: int) -> None:
    """Risk coarsened to halves, so many plans tie: the one chosen has the least total distance."""
    rough = _random_problem(seed, n_bases=3, n_loc=7)
    problem = CoverProblem(**{**rough.__dict__, "value": np.ceil(rough.value * 2) / 2})
    exact = solve(problem, "exact")
    np.testing.assert_allclose(exact.objective, _brute_force(problem), atol=1e-9)
    np.testing.assert_allclose(problem.pair_distance[exact.chosen].sum(), _shortest_best(problem), atol=1e-6)


def test_auto_falls_back_to_greedy_above_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import sauti.models.patrol.solve as solver

    monkeypatch.setattr(solver, "EXACT_MAX_PAIRS", 3)
    solution = solver.solve(_trap(), "auto")
    assert solution.method == "greedy"
    assert solution.status == "greedy"
    np.testing.assert_allclose(solution.objective, 1.2)


@pytest.mark.parametrize(
    ("method", "limit", "message"),
    [("simplex", 1.0, "method must be one of"), ("exact", 0.0, "time_limit_s must be positive")],
    ids=["unknown-method", "zero-time-limit"],
)
def test_bad_solver_parameters_are_rejected(method: str, limit: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve(_trap(), method, limit)
