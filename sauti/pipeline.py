"""The main job: the sample, end to end (ingest → features → train → score → heatmap → patrols).

This sits on top of every layer, like the CLI: ``sauti demo`` and the notebooks call
:func:`build_demo`, so there is one implementation of the main job.
"""

from __future__ import annotations

from pathlib import Path

from sauti.errors import SautiError

# data/sample beside the package folders (a source checkout or an editable install)
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
HEATMAP_RESOLUTION_KM = 5.0


def build_demo(
    workspace, sample: Path, *, force: bool = False, echo=print, timezone: str | None = None
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
    for level in ("admin2", "admin3"):
        path = sample / "boundaries" / f"caf_{level[:3]}{level[-1]}.gpkg"
        report = ingest_boundaries(workspace, path, level)
        note(f"boundaries {level}: {report.accepted} new, {report.duplicates} already stored")
    report = ingest_incidents(workspace, sample / "events" / "ucdp_ged_v23_1_CAF.geojson")
    note(f"incidents: {report.accepted} new, {report.duplicates} already stored, {report.rejected} rejected")
    alerts_csv = sample / "alerts" / "synthetic_alerts.csv"
    if alerts_csv.exists():
        from sauti.ingest.alerts import ingest_alerts

        report = ingest_alerts(workspace, alerts_csv)
        note(f"alerts: {report.accepted} new, {report.duplicates} already stored, {report.rejected} rejected")

    from sauti.features import DEFAULT_SURFACE, compute_features
    from sauti.models import latest_scores, train
    from sauti.models.refresh import refresh_risk

    if timezone is None:
        from sauti.settings import get_settings

        timezone = get_settings().timezone
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
        from sauti.models.patrol import plan_from_workspace
        from sauti.models.patrol.bases import read_bases, save_bases

        save_bases(workspace, read_bases(bases), source=str(bases))
        summary = plan_from_workspace(workspace).summary()
        note(
            f"patrols: {summary.get('status')} plan covers {summary.get('covered_risk', 0):.2f} of "
            f"{summary.get('total_risk', 0):.2f} expected risk (sum of probabilities)"
        )
    return done


def _has_scores(workspace, latest_scores) -> bool:
    try:
        frame = latest_scores(workspace)
    except SautiError:
        return False
    return frame is not None and len(frame) > 0
