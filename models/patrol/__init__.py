"""Patrol priorities for force planners: where limited patrols from given bases cover the most risk.

One module per step: :mod:`~sauti.models.patrol.bases` (read, check and store bases),
:mod:`~sauti.models.patrol.weights` (population weights), :mod:`~sauti.models.patrol.reach` (who
can reach whom), :mod:`~sauti.models.patrol.solve` (the covering problem on plain arrays),
:mod:`~sauti.models.patrol.borders` (bases outside the boundaries, patrols across a border),
:mod:`~sauti.models.patrol.plan` (a plan from localities, risk and bases),
:mod:`~sauti.models.patrol.result` (the plan and how it is written out: summary, CSV, GeoJSON),
:mod:`~sauti.models.patrol.reasons` (the plan in plain words),
:mod:`~sauti.models.patrol.from_workspace` (a plan from the workspace's scores and bases),
:mod:`~sauti.models.patrol.evaluate` (patrol hit rate over backtest origins),
:mod:`~sauti.models.patrol.visits` (a drawn plan against the recorded patrol visits) and
:mod:`~sauti.models.patrol.plot` (a static map of a plan).

Public API::

    from sauti.models.patrol import read_bases, plan_patrols, plan_from_workspace, plan_figure
    from sauti.models.patrol import evaluate_patrol_plans, observed_counts, population_weight
    from sauti.models.patrol import evaluate_plan_visits

The backtest does not import this package (``tests/test_layering.py``):
:func:`sauti.cli.pipeline.backtest_with_patrols` combines a backtest with a patrol evaluation.
"""

from __future__ import annotations

from sauti.models.patrol.bases import BasesError, check_bases, read_bases, save_bases, workspace_bases
from sauti.models.patrol.evaluate import PLANS, evaluate_patrol_plans, hit_rate_figure, observed_counts
from sauti.models.patrol.from_workspace import plan_from_workspace
from sauti.models.patrol.plan import plan_patrols
from sauti.models.patrol.plot import plan_figure
from sauti.models.patrol.reach import Reach, compute_reach
from sauti.models.patrol.result import PatrolPlan
from sauti.models.patrol.solve import CoverProblem
from sauti.models.patrol.visits import evaluate_plan_visits, recorded_visits
from sauti.models.patrol.weights import population_weight

__all__ = [
    "PLANS",
    "BasesError",
    "CoverProblem",
    "PatrolPlan",
    "Reach",
    "check_bases",
    "compute_reach",
    "evaluate_patrol_plans",
    "evaluate_plan_visits",
    "hit_rate_figure",
    "observed_counts",
    "plan_figure",
    "plan_from_workspace",
    "plan_patrols",
    "population_weight",
    "read_bases",
    "recorded_visits",
    "save_bases",
    "workspace_bases",
]
