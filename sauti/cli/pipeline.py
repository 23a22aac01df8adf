"""The main job: the sample, end to end (ingest → features → train → score → heatmap → patrols).

This sits on top of every layer, like the CLI: ``sauti demo`` and the notebooks call
:func:`build_demo`, so there is one implementation of the main job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sauti.errors import SautiError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from sauti.store import Workspace

# data/sample beside the package folders (a source checkout or an editable install)
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
HEATMAP_RESOLUTION_KM = 5.0


def build_demo(
    workspace: Workspace,
    sample: Path,
    *,
    force: bool = False,
    echo: Callable[[str], object] = print,
    timezone: str | None = None,
) -> list[str]:
    """The demo pipeline on ``sample`` into ``workspace``; returns one line per step.

    ``timezone`` is the mission's (default: the ``SAUTI_TIMEZONE`` setting). Scoring and the
    heatmap go through :func:`sauti.models.refresh.refresh_risk`, as the service's nowcast does.
    """
    from sauti.ingest.boundaries import ingest_boundaries
    from sauti.ingest.incidents import ingest_incidents

    done: list[str] = []

    def note(line: str) -> None:
        done.append(line)
        echo(line)

    if not sample.exists():
        raise SautiError(f"sample folder {sample} not found: run scripts/build_sample.py or pass --sample")
    if timezone is None:  # one zone for the alerts' periods and the cube's
        from sauti.settings import get_settings

        timezone = get_settings().timezone
    for level in ("admin2", "admin3"):
        path = sample / "boundaries" / f"caf_{level[:3]}{level[-1]}.gpkg"
        report = ingest_boundaries(workspace, path, level)
        note(f"boundaries {level}: {report.accepted} new, {report.duplicates} already stored")
    report = ingest_incidents(workspace, sample / "events" / "ucdp_ged_v23_1_CAF.geojson")
    note(f"incidents: {report.accepted} new, {report.duplicates} already stored, {report.rejected} rejected")
    alerts_csv = sample / "alerts" / "synthetic_alerts.csv"
    if alerts_csv.exists():
        from sauti.ingest.alerts import ingest_alerts

        report = ingest_alerts(workspace, alerts_csv, timezone=timezone)
        note(f"alerts: {report.accepted} new, {report.duplicates} already stored, {report.rejected} rejected")
        from sauti.ingest.responses import ingest_responses
        from sauti.ingest.responses.synthetic import write_synthetic_responses

        responses_csv = write_synthetic_responses(workspace, workspace.folder("synthetic"))
        if responses_csv is not None:  # made-up answers to the made-up alerts (issue 19)
            report = ingest_responses(workspace, responses_csv, timezone=timezone)
            note(f"responses (synthetic): {report.accepted} new, {report.duplicates} already stored")

    from sauti.features import DEFAULT_SURFACE, compute_features
    from sauti.models import latest_scores, train
    from sauti.models.refresh import refresh_risk

    population = sample / "population" / "worldpop2020_density_caf.tif"
    cube = compute_features(
        workspace,
        freq="M",
        unit="admin2",
        population=population if population.exists() else None,
        timezone=timezone,
    )
    note("features: monthly admin2 cube built")

    if force or not _has_scores(workspace, latest_scores):
        train(workspace, freq="M", unit="admin2", cube=cube)
        note("model: trained")
    else:
        note("model: current model kept (use --force to retrain)")
    surface = workspace.root / DEFAULT_SURFACE
    if force and surface.exists():
        surface.unlink()  # drawn again at the demo's resolution
    done_refresh = refresh_risk(
        workspace, freq="M", unit="admin2", cube=cube, surface_resolution_km=HEATMAP_RESOLUTION_KM
    )
    note(f"scores: period {done_refresh['period']} scored")
    note(f"heatmap: {done_refresh['heatmap']}")

    bases = sample / "bases.geojson"
    if bases.exists():
        from sauti.models.patrol import plan_from_workspace, read_bases, save_bases

        save_bases(workspace, read_bases(bases), source=str(bases))
        summary = plan_from_workspace(workspace).summary()
        note(f"patrols ({summary['status']} plan): {summary['headline'][0].lower()}{summary['headline'][1:]}")
    return done


def _has_scores(workspace: Workspace, latest_scores) -> bool:
    try:
        frame = latest_scores(workspace)
    except SautiError:
        return False
    return frame is not None and len(frame) > 0


def backtest_with_patrols(
    workspace: Workspace,
    *,
    out: Path,
    bases: Path,
    patrols: int | None = None,
    range_km: float | None = None,
    **backtest: Any,
) -> dict:
    """A backtest (``sauti.models.backtest``) plus the patrol evaluation of its primary model's forecasts.

    Writes the backtest's outputs and ``patrol.json`` into ``out``, with a patrol section in the
    report; ``patrols``/``range_km`` override the bases file's values. Returns the metrics.json dict.
    The backtest itself never imports the patrol layer: they meet here, above both.
    """
    from sauti.models.backtest import backtest_workspace, localities_for_map, write_outputs

    path = Path(bases)
    if not path.exists():
        raise SautiError(f"--bases {path}: file not found")
    unit = backtest.get("unit", "admin2")
    localities = localities_for_map(workspace, unit)
    if localities is None:
        raise SautiError("--bases needs locality geometry for the backtest's unit set; none is stored")
    cube, result = backtest_workspace(workspace, **backtest)
    patrol = _evaluate_patrols(cube, result, localities, path, patrols, range_km)
    write_outputs(result, out, localities=localities, patrol=patrol)
    return result.metrics


def _evaluate_patrols(cube, result, localities, bases: Path, patrols, range_km) -> dict:
    """Patrol hit rate of the optimised plans against the simple ones, on the backtest's forecasts."""
    from sauti.constants import TARGET_CATEGORY
    from sauti.models.patrol.bases import read_bases
    from sauti.models.patrol.evaluate import evaluate_patrol_plans, observed_counts

    return evaluate_patrol_plans(
        result.predictions.drop(columns="_row"),
        localities,
        read_bases(bases),
        patrols=patrols,
        range_km=range_km,
        incidents_observed=observed_counts(cube, TARGET_CATEGORY),
        model=result.metrics["primary"],
        freq=result.metrics["freq"],
        random_state=result.detail["bootstrap"]["seed"],
    )


# The notebooks' backtest windows (origins): the sample's whole test period, or — quick, for CI —
# the twelve origins of 2017, its busiest year (same data and code, fewer origins).
NOTEBOOK_WINDOWS = {"full": ("2017-01", "2022-11"), "quick": ("2017-01", "2017-12")}


@dataclass(frozen=True)
class NotebookSetup:
    """What every notebook starts from: its workspace, whether it runs quick, its backtest window."""

    workspace: Workspace
    quick: bool
    window: tuple[str, str]


def notebook_setup(*, build: bool = True, echo: Callable[[str], object] = print) -> NotebookSetup:
    """The notebooks' first cell, written once.

    The workspace is ``$SAUTI_WORKSPACE`` (as for the CLI), else ``./workspace`` beside the
    notebook; with ``build`` it is built from the sample when it does not exist yet (what
    ``sauti demo --no-serve`` does). ``SAUTI_NOTEBOOK_QUICK=1`` (set by the CI test) picks the
    short backtest window of :data:`NOTEBOOK_WINDOWS`; without it the notebooks run every origin.
    """
    import os

    from sauti.settings import Settings
    from sauti.store import Workspace

    settings = Settings()
    workspace = Workspace(Path(settings.workspace).resolve(), settings.database_url)
    quick = os.environ.get("SAUTI_NOTEBOOK_QUICK") == "1"
    if build and not workspace.exists:
        build_demo(workspace, SAMPLE, echo=echo)
    echo(f"workspace: {workspace.root}  quick: {quick}")
    return NotebookSetup(workspace, quick, NOTEBOOK_WINDOWS["quick" if quick else "full"])
