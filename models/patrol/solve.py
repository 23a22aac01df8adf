"""The patrol covering problem on plain arrays: exact (``scipy.optimize.milp``/HiGHS) and greedy.

Bases ``b`` have a capacity ``p_b`` (patrols per period); a reachable pair ``(b, i)`` may send one
patrol from ``b`` to locality ``i``; a locality is covered when at least one patrol goes there and
is then worth ``value_i`` (probability × weight). The model is the maximal covering problem of the
patrol issue::

    maximise   Σ_i value_i · y_i
    subject to y_i ≤ Σ_b x_{b,i}        (a locality counts only if a patrol goes there)
               Σ_i x_{b,i} ≤ p_b        (capacity of each base)
               x_{b,i} ∈ {0, 1} on reachable pairs only, 0 ≤ y_i ≤ 1

Because each patrol covers one locality, the constraint matrix is that of a bipartite
b-matching and is totally unimodular: the LP relaxation is integral and HiGHS normally closes the
problem at the root node. The greedy method (highest value first, nearest base with a free patrol)
is a ½-approximation; its gap is reported against cheap upper bounds (see :func:`upper_bound`).

Everything here is geometry-free so it can be tested on hand-made instances and benchmarked alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

STATUSES = ("optimal", "feasible", "greedy", "empty", "infeasible")
METHODS = ("auto", "exact", "greedy")
# ``auto`` solves exactly up to this many reachable (base, locality) pairs, greedy above.
EXACT_MAX_PAIRS = 2_000_000


@dataclass(frozen=True)
class CoverProblem:
    """A patrol covering instance.

    Parameters
    ----------
    value : array (n_localities,)
        Non-negative worth of covering each locality.
    capacity : array (n_bases,)
        Patrols each base can send.
    pair_base, pair_locality : int arrays (n_pairs,)
        The reachable pairs (indices into ``capacity`` and ``value``).
    pair_distance : float array (n_pairs,)
        Distance of each pair (used to break ties: nearer bases first).
    """

    value: np.ndarray
    capacity: np.ndarray
    pair_base: np.ndarray
    pair_locality: np.ndarray
    pair_distance: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.pair_base.size)


@dataclass(frozen=True)
class CoverSolution:
    """Which pairs were chosen and how good that is.

    ``chosen`` indexes the problem's pairs; every locality appears at most once and no base
    exceeds its capacity. ``upper_bound`` is a proven bound on the optimum, so
    ``gap = (upper_bound - objective) / upper_bound``.
    """

    chosen: np.ndarray
    objective: float
    upper_bound: float
    status: str
    method: str
    seconds: float

    @property
    def gap(self) -> float:
        if self.upper_bound <= 0:
            return 0.0
        return max(0.0, (self.upper_bound - self.objective) / self.upper_bound)


def _useful_pairs(problem: CoverProblem) -> np.ndarray:
    """Indices of pairs worth considering: positive value, base with capacity."""
    return np.flatnonzero(
        (problem.value[problem.pair_locality] > 0) & (problem.capacity[problem.pair_base] > 0)
    )


def _candidate_pairs(problem: CoverProblem) -> np.ndarray:
    """Useful pairs that can appear in some optimal plan: each base's ``P`` best localities.

    With ``P = Σ_b p_b`` patrols in all, a base never needs a locality outside its own ``P``
    most valuable reachable ones: the other bases cover at most ``P − p_b`` of that list and the
    base itself uses at most ``p_b − 1`` others, so one of them is free and worth at least as much
    (swap argument). This exact pruning keeps 10 bases × 10,000 localities at a few thousand pairs.
    """
    useful = _useful_pairs(problem)
    total = int(problem.capacity[np.unique(problem.pair_base[useful])].sum()) if useful.size else 0
    if useful.size == 0:
        return useful
    # base, then value descending, then distance: rank within each base
    order = np.lexsort(
        (
            problem.pair_distance[useful],
            -problem.value[problem.pair_locality[useful]],
            problem.pair_base[useful],
        )
    )
    ordered = useful[order]
    bases = problem.pair_base[ordered]
    starts = np.r_[0, np.flatnonzero(np.diff(bases)) + 1]
    rank = np.arange(ordered.size) - np.repeat(starts, np.diff(np.r_[starts, ordered.size]))
    return np.sort(ordered[rank < total])


def upper_bound(problem: CoverProblem) -> float:
    """A cheap bound on the optimum, valid for any instance.

    The smaller of (a) the sum of the ``Σ p_b`` largest reachable values (each patrol covers at
    most one locality) and (b) ``Σ_b`` the sum of the ``p_b`` largest values reachable from ``b``.
    """
    useful = _useful_pairs(problem)
    if useful.size == 0:
        return 0.0
    localities = np.unique(problem.pair_locality[useful])
    total_patrols = int(problem.capacity[np.unique(problem.pair_base[useful])].sum())
    values = np.sort(problem.value[localities])[::-1]
    bound_total = float(values[:total_patrols].sum())
    bound_bases = 0.0
    bases = problem.pair_base[useful]
    order = np.argsort(bases, kind="stable")
    split = np.flatnonzero(np.diff(bases[order])) + 1
    for group in np.split(useful[order], split):
        b = problem.pair_base[group[0]]
        v = np.sort(problem.value[problem.pair_locality[group]])[::-1]
        bound_bases += float(v[: int(problem.capacity[b])].sum())
    return min(bound_total, bound_bases)


def solve_greedy(problem: CoverProblem) -> CoverSolution:
    """Highest-value locality first, sent to the nearest reachable base that has a patrol left.

    A ½-approximation (greedy b-matching), so ``2 × objective`` bounds the optimum; the reported
    upper bound is the smaller of that and :func:`upper_bound`.
    """
    start = time.perf_counter()
    useful = _useful_pairs(problem)
    # value descending, then distance ascending, then index for determinism
    order = np.lexsort((useful, problem.pair_distance[useful], -problem.value[problem.pair_locality[useful]]))
    left = problem.capacity.astype(np.int64).copy()
    covered = np.zeros(problem.value.size, dtype=bool)
    chosen: list[int] = []
    bases = problem.pair_base[useful[order]].tolist()
    locs = problem.pair_locality[useful[order]].tolist()
    pairs = useful[order].tolist()
    for b, i, k in zip(bases, locs, pairs, strict=True):
        if covered[i] or left[b] <= 0:
            continue
        covered[i] = True
        left[b] -= 1
        chosen.append(k)
    chosen_arr = np.asarray(chosen, dtype=np.int64)
    objective = float(problem.value[problem.pair_locality[chosen_arr]].sum()) if chosen else 0.0
    bound = min(upper_bound(problem), 2.0 * objective)
    return CoverSolution(
        chosen=chosen_arr,
        objective=objective,
        upper_bound=max(bound, objective),
        status="greedy",
        method="greedy",
        seconds=time.perf_counter() - start,
    )


def _milp(cost, a_matrix, upper, lower_x, integrality, time_limit_s: float):
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = cost.size
    lower = np.zeros(n)
    lower[: lower_x.size] = lower_x
    return milp(
        c=cost,
        constraints=LinearConstraint(a_matrix, -np.inf, upper),
        integrality=integrality,
        bounds=Bounds(lower, np.ones(n)),
        options={"time_limit": max(float(time_limit_s), 0.01), "disp": False, "mip_rel_gap": 1e-7},
    )


def _cover_matrix(pairs: np.ndarray, problem: CoverProblem):
    """Sparse rows: y_j − Σ_b x_{b,j} ≤ 0 for each locality j, then Σ_j x_{b,j} ≤ p_b per base."""
    import scipy.sparse as sp

    locs, loc_index = np.unique(problem.pair_locality[pairs], return_inverse=True)
    bases, base_index = np.unique(problem.pair_base[pairs], return_inverse=True)
    n_x, n_y, n_b = pairs.size, locs.size, bases.size
    x_cols = np.arange(n_x)
    rows = np.concatenate([loc_index, np.arange(n_y), n_y + base_index])
    cols = np.concatenate([x_cols, n_x + np.arange(n_y), x_cols])
    data = np.concatenate([-np.ones(n_x), np.ones(n_y), np.ones(n_x)])
    matrix = sp.csr_array((data, (rows, cols)), shape=(n_y + n_b, n_x + n_y))
    upper = np.concatenate([np.zeros(n_y), problem.capacity[bases].astype(float)])
    return matrix, upper, locs


def _nearest_per_locality(pairs: np.ndarray, problem: CoverProblem) -> np.ndarray:
    """Keep one chosen pair per locality (the nearest): drops double coverage, which adds nothing."""
    if pairs.size == 0:
        return pairs
    order = np.lexsort((problem.pair_distance[pairs], problem.pair_locality[pairs]))
    ordered = pairs[order]
    first = np.r_[True, np.diff(problem.pair_locality[ordered]) != 0]
    return np.sort(ordered[first])


def solve_exact(problem: CoverProblem, time_limit_s: float = 10.0, *, prune: bool = True) -> CoverSolution:
    """Solve with HiGHS branch-and-bound under a time limit.

    Stage 1 maximises covered value. Stage 2 (if time is left) minimises the total patrol distance
    among plans of that value, so among optimal plans the nearest localities and bases are used.
    ``prune`` (default) first drops pairs no optimal plan needs (see :func:`_candidate_pairs`).
    Returns status ``optimal`` when HiGHS proves optimality, ``feasible`` when the time limit hit
    with an incumbent; raises ``TimeoutError`` when it hit the limit with none (callers fall back
    to greedy).
    """
    start = time.perf_counter()
    useful = _candidate_pairs(problem) if prune else _useful_pairs(problem)
    if useful.size == 0:
        return CoverSolution(np.zeros(0, dtype=np.int64), 0.0, 0.0, "optimal", "exact", 0.0)
    matrix, upper, locs = _cover_matrix(useful, problem)
    n_x = useful.size
    cost = np.concatenate([np.zeros(n_x), -problem.value[locs]])
    integrality = np.concatenate([np.ones(n_x), np.zeros(locs.size)])
    result = _milp(cost, matrix, upper, np.zeros(n_x), integrality, time_limit_s)
    if result.x is None:
        raise TimeoutError(f"HiGHS found no solution within {time_limit_s:g} s ({result.message})")
    x = result.x[:n_x] > 0.5
    chosen = _nearest_per_locality(useful[x], problem)
    objective = float(problem.value[problem.pair_locality[chosen]].sum())
    dual = getattr(result, "mip_dual_bound", None)
    bound = -float(dual) if dual is not None and np.isfinite(dual) else upper_bound(problem)
    bound = max(min(bound, upper_bound(problem)), objective)
    status = "optimal" if result.status == 0 else "feasible"

    remaining = time_limit_s - (time.perf_counter() - start)
    if status == "optimal" and remaining > 0.05 and chosen.size:
        chosen = _shortest_assignment(problem, chosen, useful, objective, remaining)
        objective = float(problem.value[problem.pair_locality[chosen]].sum())
    return CoverSolution(
        chosen=chosen,
        objective=objective,
        upper_bound=bound,
        status=status,
        method="exact",
        seconds=time.perf_counter() - start,
    )


def _shortest_assignment(
    problem: CoverProblem, chosen: np.ndarray, candidates: np.ndarray, objective: float, time_limit_s: float
) -> np.ndarray:
    """Stage 2: among plans covering the optimal value, the one with the least total patrol distance.

    Over the same candidate pairs as stage 1, with each locality patrolled at most once, each base
    within its capacity and the covered value held at ``objective`` (to a relative 1e-9), minimise
    the summed distance. Plans of equal value are all open, so the nearer of two localities of
    equal risk is patrolled, and each covered locality goes to the nearest base that can take it.
    Keeps ``chosen`` if HiGHS does not prove an optimum in the time left.
    """
    import scipy.sparse as sp

    pairs = candidates
    value = problem.value[problem.pair_locality[pairs]]
    locs, loc_index = np.unique(problem.pair_locality[pairs], return_inverse=True)
    bases, base_index = np.unique(problem.pair_base[pairs], return_inverse=True)
    n = pairs.size
    cols = np.arange(n)
    # Σ_b x_{b,j} ≤ 1 per locality; Σ_j x_{b,j} ≤ p_b per base; −Σ value·x ≤ −objective
    floor = objective - 1e-9 * max(objective, 1.0)
    matrix = sp.csr_array(
        (
            np.r_[np.ones(n), np.ones(n), -value],
            (
                np.r_[loc_index, locs.size + base_index, np.full(n, locs.size + bases.size)],
                np.r_[cols, cols, cols],
            ),
        ),
        shape=(locs.size + bases.size + 1, n),
    )
    upper = np.r_[np.ones(locs.size), problem.capacity[bases].astype(float), -floor]
    scale = max(float(problem.pair_distance[pairs].max()), 1e-9)
    result = _milp(problem.pair_distance[pairs] / scale, matrix, upper, np.zeros(n), np.ones(n), time_limit_s)
    if result.status != 0 or result.x is None:
        return chosen
    better = _nearest_per_locality(pairs[result.x > 0.5], problem)
    if float(problem.value[problem.pair_locality[better]].sum()) < floor:
        return chosen
    return better


def solve(problem: CoverProblem, method: str = "auto", time_limit_s: float = 10.0) -> CoverSolution:
    """Solve with ``method`` = ``exact``, ``greedy`` or ``auto``.

    ``auto`` solves exactly when the instance has at most :data:`EXACT_MAX_PAIRS` reachable pairs;
    when the exact solver runs out of time it also runs greedy and keeps the better plan (with the
    tighter bound). ``exact`` does the same fallback rather than fail.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be positive, not {time_limit_s!r}")
    if method == "greedy" or (method == "auto" and problem.n_pairs > EXACT_MAX_PAIRS):
        return solve_greedy(problem)
    start = time.perf_counter()
    try:
        exact = solve_exact(problem, time_limit_s)
    except TimeoutError:
        exact = None
    if exact is not None and exact.status == "optimal":
        return exact
    greedy = solve_greedy(problem)
    if exact is None or greedy.objective > exact.objective:
        bound = greedy.upper_bound if exact is None else min(greedy.upper_bound, exact.upper_bound)
        return CoverSolution(
            greedy.chosen,
            greedy.objective,
            max(bound, greedy.objective),
            "greedy",
            "greedy",
            time.perf_counter() - start,
        )
    return CoverSolution(
        exact.chosen,
        exact.objective,
        max(min(exact.upper_bound, greedy.upper_bound), exact.objective),
        "feasible",
        "exact",
        time.perf_counter() - start,
    )
