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


def build_demo(workspace, sample: Path, *, force: bool = False, echo=print) -> list[str]:
    """The demo pipeline on ``sample`` into ``workspace``; returns one line per step."""
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

    from sauti.features import compute_features

    population = sample / "population" / "worldpop2020_density_caf.tif"
    compute_features(
        workspace, freq="M", unit="admin2", population=population if population.exists() else None
    )
    note("features: monthly admin2 cube built")

    from sauti.models import latest_scores, score, train

    has_scores = _has_scores(workspace, latest_scores)
    if force or not has_scores:
        train(workspace, freq="M", unit="admin2")
        note("model: trained")
    else:
        note("model: current model kept (use --force to retrain)")
    score(workspace, freq="M", unit="admin2")
    note("scores: latest period scored")

    from sauti.features import DEFAULT_SURFACE, write_default_surface

    surface = workspace.root / DEFAULT_SURFACE
    if force or not surface.exists():
        surface = write_default_surface(
            workspace, latest_scores(workspace), unit="admin2", resolution_km=HEATMAP_RESOLUTION_KM
        )
        note(f"heatmap: {surface}")
    else:
        note("heatmap: kept")

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
