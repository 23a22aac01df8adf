"""The early-response report: did alerts get an answer, how fast, where risk was highest, whether
the plan was followed, and what happened after a response — observational, not causal.

:func:`response_report` gathers the numbers (plain data); :func:`write_response_report` renders
them into one self-contained HTML page (jinja2 template, figures drawn on
:class:`matplotlib.figure.Figure` and embedded as PNG: it opens offline).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID, PERIOD
from sauti.db import read_frame
from sauti.errors import NotReadyError, SautiError
from sauti.store import Workspace

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

ACTED = ("patrol", "engagement", "message", "other")
AFTER_DAYS = (7, 30)
TOP_SHARE = 0.10
BOOTSTRAP_REPLICATES = 1000
CI_LEVEL = 0.90
OUTCOME_COLOURS = {
    "calm": "#1a9850",
    "tension": "#fdae61",
    "violence": "#d73027",
    "unreachable": "#7f7f7f",
    "unknown": "#4575b4",
}
OBSERVATIONAL = "observational, not causal"


# --- the numbers -------------------------------------------------------------------------------------
def response_time(responses: pd.DataFrame) -> pd.Series:
    """When each response happened: its dispatch, else arrival, decision, completion, else when recorded."""
    recorded = pd.to_datetime(responses["created_at"], utc=True, format="ISO8601")
    out = recorded.copy()
    for name in ("completed_at", "decided_at", "arrived_at", "dispatched_at"):
        out = responses[name].where(responses[name].notna(), out)
    return pd.to_datetime(out, utc=True)


def _scores_history(workspace: Workspace) -> tuple[pd.DataFrame, dict | None]:
    """Every stored score of the current model (``locality_id``, ``period``, ``probability``)."""
    from sauti.models.registry_store import current_model

    record = current_model(workspace)
    if record is None:
        return pd.DataFrame(columns=[LOCALITY_ID, PERIOD, "probability"]), None
    with workspace.session() as con:
        frame = read_frame(
            con,
            "SELECT locality_id, period, probability FROM risk_scores WHERE freq = ? AND unit = ?",
            (record["freq"], record["unit"]),
        )
    frame[PERIOD] = pd.to_datetime(frame[PERIOD])
    return frame, record


def _deciles(scores: pd.DataFrame) -> pd.DataFrame:
    """Risk decile (1 lowest … 10 highest) and top-10% flag of every locality within its period."""
    ranked = scores.copy()
    pct = ranked.groupby(PERIOD)["probability"].rank(pct=True, method="first")
    ranked["decile"] = np.ceil(pct * 10).clip(1, 10).astype(int)
    ranked["top"] = pct > 1 - TOP_SHARE
    return ranked


def _period_of(times: pd.Series, freq: str) -> pd.Series:
    from sauti.features.periods import period_start, to_days

    days = to_days(times.dt.tz_convert("UTC").dt.tz_localize(None))
    return pd.Series(pd.to_datetime(period_start(days, freq)), index=times.index)


def incident_localities(workspace: Workspace, localities: gpd.GeoDataFrame) -> pd.DataFrame:
    """Incidents (``occurred_on``, ``locality_id``) placed in the report's localities."""
    from sauti.features.assign import assign_to_localities

    incidents = workspace.incidents()
    if incidents.empty:
        return pd.DataFrame(columns=["occurred_on", LOCALITY_ID])
    placed = assign_to_localities(incidents, localities, tolerance_km=5)
    placed = placed[placed[LOCALITY_ID].notna()]
    return placed[["occurred_on", LOCALITY_ID]].reset_index(drop=True)


def after_response_effects(
    treated: pd.DataFrame,
    deciles: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    days: tuple[int, ...] = AFTER_DAYS,
    replicates: int = BOOTSTRAP_REPLICATES,
    random_state: int = 0,
) -> dict[str, Any]:
    """Incidents in the ``d`` days after each response, against localities of the same risk decile
    and period that got no response in that period (counted from the same day).

    ``treated``: one row per response with ``locality_id``, ``period`` and ``time`` (UTC);
    ``deciles``: ``locality_id``, ``period``, ``decile``; ``incidents``: ``occurred_on``,
    ``locality_id``. Returns per window the mean incidents after a response, the mean in the
    matched comparison localities, their difference and a percentile bootstrap interval over
    responses. Observational, not causal: patrols go where trouble is expected.
    """
    rng = np.random.default_rng(random_state)
    answered = set(zip(treated[LOCALITY_ID], treated[PERIOD], strict=True))
    by_cell = {key: group[LOCALITY_ID].tolist() for key, group in deciles.groupby([PERIOD, "decile"])}
    lookup = deciles.set_index([LOCALITY_ID, PERIOD])["decile"]
    days_of = {
        loc: np.sort(group["occurred_on"].to_numpy(dtype="datetime64[D]"))
        for loc, group in incidents.groupby(LOCALITY_ID)
    }

    def count(loc: str, start: np.datetime64, span: int) -> int:
        dates = days_of.get(loc)
        if dates is None:
            return 0
        return int(
            np.searchsorted(dates, start + span, side="right") - np.searchsorted(dates, start, "right")
        )

    out: dict[str, Any] = {"note": OBSERVATIONAL, "windows": []}
    rows = []
    for row in treated.itertuples(index=False):
        key = (getattr(row, LOCALITY_ID), getattr(row, PERIOD))
        if key not in lookup.index:
            continue
        decile = int(lookup.loc[key])
        controls = [
            c for c in by_cell.get((key[1], decile), []) if (c, key[1]) not in answered and c != key[0]
        ]
        if not controls:
            continue
        start = np.datetime64(row.time.tz_convert("UTC").tz_localize(None).date(), "D")
        rows.append(
            {
                "treated": [count(key[0], start, d) for d in days],
                "control": [float(np.mean([count(c, start, d) for c in controls])) for d in days],
            }
        )
    out["n_responses"] = len(rows)
    for pos, span in enumerate(days):
        if not rows:
            out["windows"].append({"days": span, "n": 0})
            continue
        t = np.array([r["treated"][pos] for r in rows], dtype=float)
        c = np.array([r["control"][pos] for r in rows], dtype=float)
        diff = t - c
        picks = rng.integers(0, len(diff), size=(replicates, len(diff)))
        boot = diff[picks].mean(axis=1)
        low, high = np.quantile(boot, [(1 - CI_LEVEL) / 2, 1 - (1 - CI_LEVEL) / 2])
        out["windows"].append(
            {
                "days": span,
                "n": len(rows),
                "after_response": round(float(t.mean()), 3),
                "comparison": round(float(c.mean()), 3),
                "difference": round(float(diff.mean()), 3),
                "interval": [round(float(low), 3), round(float(high), 3)],
            }
        )
    return out


def top_risk_coverage(deciles: pd.DataFrame, treated: pd.DataFrame, periods: pd.DatetimeIndex) -> dict:
    """Share of each period's top-10% risk localities that got a response in that period."""
    top = deciles[deciles["top"] & deciles[PERIOD].isin(periods)]
    answered = set(zip(treated[LOCALITY_ID], treated[PERIOD], strict=True))
    hit = [(loc, per) in answered for loc, per in zip(top[LOCALITY_ID], top[PERIOD], strict=True)]
    n = len(top)
    return {
        "periods": len(set(top[PERIOD])),
        "top_localities": n,
        "with_response": int(sum(hit)),
        "share": round(sum(hit) / n, 3) if n else None,
    }


def response_report(
    workspace: Workspace,
    *,
    start: str | None = None,
    end: str | None = None,
    plan: gpd.GeoDataFrame | None = None,
    include_synthetic: bool = True,
) -> dict[str, Any]:
    """Every number of the early-response report, as plain data (see the module docstring)."""
    from sauti.features.responses import alert_response_times, response_summary, to_units
    from sauti.ingest.responses import response_frames

    responses, links = response_frames(workspace, include_synthetic=include_synthetic)
    if responses.empty:
        raise NotReadyError(
            "no responses stored: run `sauti ingest responses FILE` or record them in the API"
        )
    responses["time"] = response_time(responses)
    alerts = workspace.alerts()
    start = start or f"{responses['time'].min():%Y-%m-%d}"
    end = end or f"{responses['time'].max():%Y-%m-%d}"
    if pd.Timestamp(start) > pd.Timestamp(end):
        raise SautiError(f"--start {start} is after --end {end}")
    localities = workspace.localities()
    summary = response_summary(alerts, responses, links, localities, start=start, end=end)
    in_window = (responses["time"] >= pd.Timestamp(start, tz="UTC")) & (
        responses["time"] < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    )
    window = responses[in_window].copy()
    received = pd.to_datetime(alerts["received_at"], utc=True)
    keep = (received >= pd.Timestamp(start, tz="UTC")) & (
        received < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    )
    timed = alert_response_times(alerts.loc[keep, ["alert_id", "received_at"]], responses, links)
    report: dict[str, Any] = {
        "start": start,
        "end": end,
        "summary": summary,
        "minutes": {
            "dispatch": timed["minutes_to_dispatch"].dropna().round(1).tolist(),
            "arrival": timed["minutes_to_arrival"].dropna().round(1).tolist(),
        },
        "responses": int(len(window)),
        "by_action": window["action"].value_counts().to_dict(),
        "by_outcome": window["outcome"].value_counts().to_dict(),
        "synthetic": int(window["synthetic"].astype(bool).sum()),
        "window_responses": window,
    }
    scores, record = _scores_history(workspace)
    report["model"] = record
    if record is None or scores.empty:
        report["risk"] = None
        return report
    unit_ids = set(scores[LOCALITY_ID])
    units = localities[localities[LOCALITY_ID].isin(unit_ids)].reset_index(drop=True)
    deciles = _deciles(scores)
    responses[LOCALITY_ID] = to_units(responses[LOCALITY_ID], localities, record["unit"], unit_ids)
    window[LOCALITY_ID] = responses.loc[window.index, LOCALITY_ID]
    acted = responses[responses["action"].isin(ACTED) & responses[LOCALITY_ID].isin(unit_ids)].copy()
    acted[PERIOD] = _period_of(acted["time"], record["freq"])
    acted_window = acted[acted.index.isin(window.index)]
    periods = pd.DatetimeIndex(sorted(set(acted_window[PERIOD]) & set(deciles[PERIOD])))
    incidents = incident_localities(workspace, units)
    report["risk"] = {
        "freq": record["freq"],
        "unit": record["unit"],
        "scored_periods": [f"{p:%Y-%m-%d}" for p in sorted(set(deciles[PERIOD]))],
        "coverage": top_risk_coverage(deciles, acted, periods),
        "effects": after_response_effects(acted_window, deciles, incidents),
        "latest_period": f"{deciles[PERIOD].max():%Y-%m-%d}",
        "latest_label": _period_label(deciles[PERIOD].max(), record["freq"], record.get("horizon") or 1),
    }
    latest = deciles[deciles[PERIOD] == deciles[PERIOD].max()][[LOCALITY_ID, "probability"]]
    report["map"] = {"units": units, "latest": latest}
    if plan is not None and len(plan):
        from sauti.models.patrol.visits import evaluate_plan_visits

        window_of_plan = plan.attrs.get("window", (start, end))
        report["plan"] = evaluate_plan_visits(plan, responses, window_of_plan, incidents=incidents)
        report["plan"]["label"] = plan.attrs.get("label")
    return report


def _period_label(period: pd.Timestamp, freq: str, horizon: int = 1) -> str:
    from sauti.features.periods import forecast_window

    return f"forecast for {forecast_window(period, freq, horizon)['label']}"


def workspace_plan(workspace: Workspace, path: Path | None = None) -> pd.DataFrame | None:
    """Patrol targets to check adherence against: a plan GeoJSON (``sauti patrol --out``), else the
    plan the workspace's bases and latest scores give (``None`` without bases). ``attrs["window"]``
    holds the period the plan is for."""
    import json

    if path is not None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        targets = [
            f["properties"]
            for f in data.get("features", [])
            if f.get("properties", {}).get("kind") == "target"
        ]
        frame = pd.DataFrame(targets)
        window = (data.get("summary") or {}).get("forecast_period") or {}
    else:
        from sauti.models.patrol import plan_from_workspace

        try:
            plan = plan_from_workspace(workspace)
        except NotReadyError:
            return None
        frame = pd.DataFrame(plan.to_records())
        window = plan.forecast_period or {}
    if frame.empty or LOCALITY_ID not in frame:
        return None
    if window.get("start") and window.get("end"):
        frame.attrs["window"] = (window["start"], window["end"])
        frame.attrs["label"] = window.get("label")
    return frame


# --- responses in the model (item 5) -----------------------------------------------------------------
def with_response_features(
    workspace: Workspace, cube, horizon: int, include_synthetic: bool = False
) -> tuple[Any, dict]:
    """``cube`` with the response variables, and the Sauti design whose learned member also reads
    them (for :func:`~sauti.models.backtest.backtest_workspace` with ``use_responses``)."""
    from sauti.features.responses import RESPONSE_VARIABLES, add_response_features, load_responses
    from sauti.models.catalog import sauti_design
    from sauti.models.ensemble import LEARNED_FEATURES

    responses, _links = load_responses(workspace, include_synthetic=include_synthetic)
    cube = add_response_features(cube, responses, workspace.localities())
    design = sauti_design(horizon)
    base = tuple(design.get("features") or LEARNED_FEATURES)
    return cube, {**design, "features": (*base, *RESPONSE_VARIABLES)}


def response_skill(
    workspace: Workspace,
    *,
    start: str,
    end: str,
    horizon: int = 1,
    include_synthetic: bool = False,
    **options,
) -> dict[str, Any]:
    """The Sauti model's backtest skill without and with the response features, on the same origins.

    ``include_synthetic`` lets made-up responses in (the sample's): for trying the machinery only,
    never for a skill claim. Returns ``{"without": metrics, "with": metrics, "responses_used": n}``.
    """
    from sauti.features.responses import load_responses
    from sauti.models.backtest import backtest_workspace

    responses, _ = load_responses(workspace, include_synthetic=include_synthetic)
    out: dict[str, Any] = {"responses_used": int(len(responses)), "synthetic_included": include_synthetic}
    for key, flag in (("without", False), ("with", True)):
        _cube, result = backtest_workspace(
            workspace, start=start, end=end, horizon=horizon, models=["sauti"], use_responses=flag,
            include_synthetic_responses=include_synthetic, **options,
        )  # fmt: skip
        out[key] = result.metrics["models"]["sauti"]
    return out


# --- the page -----------------------------------------------------------------------------------------
def _times_figure(minutes: dict[str, list[float]]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 3.2))
    axes = fig.subplots(1, 2, sharey=False)
    for ax, (key, title) in zip(
        axes, (("dispatch", "Alert to dispatch"), ("arrival", "Alert to arrival")), strict=True
    ):
        values = np.asarray(minutes[key], dtype=float)
        if len(values):
            hours = values / 60
            ax.hist(hours, bins=min(30, max(5, len(values) // 3)), color="#4575b4", edgecolor="white")
            ax.axvline(np.median(hours), color="#d73027", lw=1.5, label=f"median {np.median(hours):.1f} h")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no times recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set(
            title=f"{title} ({len(values)} alerts)",
            xlabel="hours after the alert was received",
            ylabel="alerts",
        )
    fig.tight_layout()
    return fig


def _map_figure(units: gpd.GeoDataFrame, latest: pd.DataFrame, responses: pd.DataFrame, period: str):
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(8.5, 6.2))
    ax = fig.subplots()
    shaded = units.merge(latest, on=LOCALITY_ID, how="left")
    shaded.plot(
        ax=ax, column="probability", cmap="OrRd", edgecolor="#999", linewidth=0.4, legend=True,
        legend_kwds={"label": f"risk of intercommunal violence, {period}", "shrink": 0.6,
                     "format": PercentFormatter(1.0, decimals=1)},
        missing_kwds={"color": "#eeeeee"},
    )  # fmt: skip
    points = units.set_index(LOCALITY_ID).geometry.representative_point()
    acted = responses[responses["action"] != "none"]
    per = acted[acted[LOCALITY_ID].isin(points.index)].groupby(LOCALITY_ID).size()
    if len(per):
        sizes = 12 + 160 * np.sqrt(per.to_numpy() / per.max())
        ax.scatter(
            points.loc[per.index].x, points.loc[per.index].y, s=sizes, color="#2c7bb6",
            edgecolor="white", linewidth=0.6, alpha=0.8, zorder=3,
        )  # fmt: skip
        handles = [
            ax.scatter([], [], s=12 + 160 * np.sqrt(n / per.max()), color="#2c7bb6", edgecolor="white",
                       label=f"{n} response{'s' if n != 1 else ''}")
            for n in sorted({1, int(per.median()), int(per.max())})
        ]  # fmt: skip
        ax.legend(handles=handles, title="responses that acted", fontsize=8, loc="upper left")
    ax.set_axis_off()
    ax.set_title("Where the mission responded, over the latest forecast risk")
    fig.tight_layout()
    return fig


def _minutes_words(stats: dict) -> str:
    if not stats.get("n"):
        return "no times recorded"
    median, p90 = _duration(stats["median"]), _duration(stats["p90"])
    return f"median {median}, 90th percentile {p90} ({stats['n']} alerts)"


def _duration(minutes: float | None) -> str:
    if minutes is None:
        return "–"
    if abs(minutes) < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def write_response_report(report: dict[str, Any], out: str | Path) -> Path:
    """Render :func:`response_report`'s numbers into one self-contained HTML page at ``out``."""
    from sauti.features.glossary import VISIT_SOURCE_WORDS, action_words, outcome_words
    from sauti.figures import page_template, png_base64

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    s = report["summary"]
    figures = [
        {"title": "How long alerts waited", "alt": "histograms of hours from alert to dispatch and arrival",
         "data": png_base64(_times_figure(report["minutes"]))},
    ]  # fmt: skip
    if report.get("map"):
        figures.append(
            {
                "title": "Responses over risk",
                "alt": "map: localities shaded by forecast risk, dots sized by the number of responses",
                "data": png_base64(
                    _map_figure(
                        report["map"]["units"],
                        report["map"]["latest"],
                        report["window_responses"],
                        report["risk"]["latest_label"],
                    )
                ),
            }
        )
    share = s["share_with_response"]
    page = page_template("sauti.models", "response_report.html.j2").render(
        r=report,
        s=s,
        share=f"{share:.0%}" if share is not None else "–",
        dispatch=_minutes_words(s["minutes_alert_to_dispatch"]),
        arrival=_minutes_words(s["minutes_alert_to_arrival"]),
        duration=_duration,
        pct=lambda v: "–" if v is None else f"{v:.0%}",
        action_words=action_words,
        outcome_words=outcome_words,
        visit_source=VISIT_SOURCE_WORDS.get,
        figures=figures,
        escape=html.escape,
    )
    out.write_text(page, encoding="utf-8")
    return out
