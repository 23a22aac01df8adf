"""The backtest report: one self-contained HTML page (figures embedded as base64 PNG, no URL).

Shows the metrics table with bootstrap confidence intervals, precision-recall curves, the
reliability diagram, skill by lead time, positives per origin and a map of hits, misses and false
alarms of the primary model at the top-10% threshold. The page and its metrics table are jinja2
templates (``templates/``); figures are :class:`matplotlib.figure.Figure` objects, never pyplot,
so drawing one leaves a notebook's backend alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID
from sauti.figures import page_template, png_base64
from sauti.models.metrics import METRICS
from sauti.models.result import REPORTED_METRICS, BacktestResult, format_value

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from matplotlib.figure import Figure

MAP_CLASSES = {
    "hits only": "#1a9850",
    "hits and misses": "#fee08b",
    "misses only": "#d73027",
    "false alarms only": "#74add1",
    "quiet": "#f0f0f0",
}


def _models(result: BacktestResult) -> list[str]:
    return list(result.metrics["models"])


def pr_figure(result: BacktestResult) -> Figure:
    """Pooled precision-recall curve of every model."""
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    pred = result.predictions
    for name in _models(result):
        sub = pred[pred["model"] == name]
        if sub["observed"].nunique() < 2:
            continue
        precision, recall, _ = precision_recall_curve(sub["observed"], sub["probability"])
        ap = result.metrics["models"][name]["average_precision"]
        ax.plot(
            recall,
            precision,
            lw=2.2 if name == result.metrics["primary"] else 1.1,
            label=f"{name} (AP {ap:.3f})",
        )
    ax.axhline(result.metrics["positive_rate"] or 0, color="grey", ls=":", lw=1, label="positive rate")
    ax.set(
        xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall (pooled)"
    )
    ax.legend(fontsize=7, loc="upper right")
    return fig


def reliability_figure(result: BacktestResult) -> Figure:
    """Observed frequency against forecast probability (bins of equal count)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    top = 0.05
    for name in _models(result):
        curve = result.detail["reliability"].get(name, [])
        if not curve:
            continue
        x = [b["mean_probability"] for b in curve]
        y = [b["observed_rate"] for b in curve]
        top = max(top, *x, *y)
        ax.plot(x, y, marker="o", ms=3, lw=2.2 if name == result.metrics["primary"] else 1, label=name)
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=1, label="perfect")
    ax.set(xlabel="forecast probability", ylabel="observed frequency", title="Reliability")
    ax.legend(fontsize=7)
    return fig


def lead_figure(result: BacktestResult) -> Figure:
    """Average precision and Brier skill against lead time within the target window."""
    from matplotlib.figure import Figure

    by_lead = result.detail["by_lead"]
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    for name in _models(result):
        leads = sorted(by_lead[name], key=int)
        x = [int(k) for k in leads]
        for ax, metric in zip(axes, ("average_precision", "brier_skill"), strict=True):
            y = [by_lead[name][k][metric] for k in leads]
            y = [np.nan if v is None else v for v in y]
            ax.plot(x, y, marker="o", lw=2.2 if name == result.metrics["primary"] else 1, label=name)
    for ax, metric in zip(axes, ("average precision", "Brier skill"), strict=True):
        ax.set(xlabel="lead (periods after the forecast)", ylabel=metric, title=f"{metric} by lead")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def origins_figure(result: BacktestResult) -> Figure:
    """Positives per origin: where the pooled metrics get their information from."""
    from matplotlib.figure import Figure

    per = pd.DataFrame(result.detail["per_origin"])
    fig = Figure(figsize=(9, 2.4))
    ax = fig.subplots()
    ax.bar(pd.to_datetime(per["origin"]), per["positives"], width=25, color="#555")
    ax.set(ylabel="positive localities", title="Localities with an intercommunal incident, per origin")
    return fig


def hit_miss_table(result: BacktestResult, model: str | None = None) -> pd.DataFrame:
    """Per locality: hits, misses and false alarms of ``model`` at the top-10% threshold.

    A locality is in the top set of an origin when its rank (ties sharing the best rank) is within
    ``ceil(0.1 * n_localities)``.
    """
    model = model or result.metrics["primary"]
    pred = result.predictions[result.predictions["model"] == model].copy()
    n = pred.groupby("origin")[LOCALITY_ID].transform("size")
    rank = pred.groupby("origin")["probability"].rank(ascending=False, method="min")
    top = rank <= np.ceil(0.1 * n)
    pred["hit"] = top & (pred["observed"] == 1)
    pred["miss"] = ~top & (pred["observed"] == 1)
    pred["false_alarm"] = top & (pred["observed"] == 0)
    table = pred.groupby(LOCALITY_ID)[["hit", "miss", "false_alarm"]].sum().astype(int)
    table["class"] = np.select(
        [
            (table["hit"] > 0) & (table["miss"] == 0),
            (table["hit"] > 0) & (table["miss"] > 0),
            table["miss"] > 0,
            table["false_alarm"] > 0,
        ],
        ["hits only", "hits and misses", "misses only", "false alarms only"],
        default="quiet",
    )
    return table


def map_figure(result: BacktestResult, localities: gpd.GeoDataFrame) -> Figure:
    """Locality polygons coloured by hit / miss / false alarm of the primary model."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    table = hit_miss_table(result)
    shapes = localities[[LOCALITY_ID, "geometry"]].merge(
        table, left_on=LOCALITY_ID, right_index=True, how="inner"
    )
    fig = Figure(figsize=(8.5, 6), layout="constrained")
    ax = fig.subplots()
    colours = shapes["class"].map(MAP_CLASSES)
    shapes.plot(ax=ax, color=colours, edgecolor="#666", linewidth=0.4)
    counts = shapes["class"].value_counts()
    handles = [Patch(color=c, label=f"{k} ({counts.get(k, 0)})") for k, c in MAP_CLASSES.items()]
    # outside the data extent (right of the map), so no locality is hidden under it
    fig.legend(handles=handles, fontsize=7, loc="outside right upper", title="localities", title_fontsize=7)
    ax.set_axis_off()
    ax.set_title(f"{result.metrics['primary']}: top-10% hits and misses over all origins", fontsize=10)
    return fig


def comparison_words(ours: float, theirs: float, digits: int = 3) -> str:
    """How one value stands against another, in words with a positive amount:
    ``"beats it by 0.022"``, ``"trails it by 0.022"`` or ``"ties with it"`` (higher is better)."""
    difference = round(float(ours) - float(theirs), digits)
    if difference > 0:
        return f"beats it by {difference:.{digits}f}"
    if difference < 0:
        return f"trails it by {-difference:.{digits}f}"
    return "ties with it"


def _month(period: pd.Timestamp, freq: str) -> str:
    return f"{period:%Y-%m}" if freq == "M" else f"{period:%Y-%m-%d}"


def origins_words(result: BacktestResult) -> dict[str, str]:
    """The origins and target periods the forecasts really cover (from the predictions), in words.

    ``origins``: first and last origin run; ``targets``: the first and last target window (the
    periods forecast); ``asked``: the origins asked for when they differ (forecasts whose target window
    runs past the data are left out, so the last origins asked for may have none); ``""`` otherwise.
    """
    m = result.metrics
    freq, horizon = m.get("freq", "M"), int(m.get("horizon") or 1)
    pred = result.predictions
    if pred is None or pred.empty:
        return {"origins": f"{m['start']} to {m['end']}", "targets": "none", "asked": ""}
    origins = pd.to_datetime(pred["origin"])
    periods = pd.to_datetime(pred["period"])
    first, last = origins.min(), origins.max()

    def window(start: pd.Timestamp, end: pd.Timestamp) -> str:
        return _month(start, freq) if horizon == 1 else f"{_month(start, freq)} – {_month(end, freq)}"

    first_end, last_end = periods[origins == first].max(), periods.max()
    origins_text = f"{_month(first, freq)} to {_month(last, freq)}"
    asked = ""
    if (_month(first, freq), _month(last, freq)) != (m["start"], m["end"]):
        asked = (
            f"asked for origins {m['start']} to {m['end']}; origins whose target window runs past the data "
            "(or before the first period with features) have no forecast and are left out"
        )
    return {
        "origins": origins_text,
        "targets": f"{window(first, first_end)} to {window(last, last_end)}",
        "asked": asked,
    }


def below_chance_notes(result: BacktestResult) -> list[dict[str, str]]:
    """One plain-words note per model whose pooled ROC AUC is below 0.5 (ranks worse than chance)."""
    notes = []
    pred = result.predictions
    for name, values in result.metrics["models"].items():
        auc = values.get("roc_auc")
        if auc is None or auc != auc or auc >= 0.5:
            continue
        sub = pred[pred["model"] == name] if pred is not None else None
        tied = 0.0
        if sub is not None and len(sub):
            sizes = sub.groupby(["origin", "probability"])["probability"].transform("size")
            tied = float((sizes > 1).mean())
        notes.append(
            {
                "model": name,
                "auc": format_value(auc),
                "tied": f"{tied:.0%}",
            }
        )
    return notes


def _value_and_interval(values: dict, detail: dict, name: str, metric: str) -> tuple[str, str]:
    ci = detail["intervals"].get(name, {}).get(metric, {})
    return format_value(
        values.get(metric)
    ), f"[{format_value(ci.get('low'))}, {format_value(ci.get('high'))}]"


def metrics_table(result: BacktestResult) -> dict:
    """The metrics table as template data: ``metrics`` (column names) and ``rows``, one a model, each
    cell a value, its 90% block-bootstrap interval and whether it is the best of its column."""
    models = result.metrics["models"]
    best = {}
    for metric in REPORTED_METRICS:
        values = {m: v.get(metric) for m, v in models.items() if v.get(metric) is not None}
        if values:
            pick = max if METRICS[metric].higher_is_better else min
            best[metric] = pick(values, key=values.get)
    rows = []
    for name, values in models.items():
        cells = []
        for metric in REPORTED_METRICS:
            value, interval = _value_and_interval(values, result.detail, name, metric)
            cells.append({"value": value, "interval": interval, "best": best.get(metric) == name})
        rows.append({"name": name, "cells": cells})
    return {"metrics": list(REPORTED_METRICS), "rows": rows}


def metrics_table_html(result: BacktestResult) -> str:
    """The metrics table with 90% block-bootstrap intervals; the best value per column in bold
    (the template ``templates/metrics_table.html.j2`` that the report includes)."""
    return page_template("sauti.models", "metrics_table.html.j2").render(**metrics_table(result))


def _patrol_rows(patrol: dict) -> dict:
    """Patrol hit rate of each plan (from the patrol evaluator) as template rows."""
    rows = []
    for plan in ("optimised", "closest_to_base", "last_incidents", "oracle"):
        entry = patrol.get(plan)
        if not isinstance(entry, dict):
            continue
        ci = entry.get("ci") or [None, None]
        low, high = (ci.get("low"), ci.get("high")) if isinstance(ci, dict) else (ci[0], ci[-1])
        rows.append(
            {
                "plan": (patrol.get("labels") or {}).get(plan, plan),
                "rate": format_value(entry.get("patrol_hit_rate")),
                "low": format_value(low),
                "high": format_value(high),
                "covered": entry.get("incidents_covered", ""),
            }
        )
    return {
        "rows": rows,
        "n_incidents": patrol.get("n_incidents", "?"),
        "n_origins": patrol.get("n_origins", "?"),
    }


def verdict_line(result: BacktestResult) -> str:
    """One sentence: how the primary model compares with the best baseline of each headline metric."""
    versus = result.detail.get("versus_best_baseline") or {}
    primary = result.metrics["primary"]
    parts, wins, total = [], 0, 0
    for metric, label in (
        ("average_precision", "average precision"),
        ("hit_rate_top10", "top-10% hit rate"),
        ("brier_skill", "Brier skill"),
        ("log_loss", "log loss"),
    ):
        v = versus.get(metric) or {}
        if v.get("difference") is None:
            continue
        total += 1
        wins += bool(v["better"])
        parts.append(
            f"{label} {format_value(v['value'])} vs {format_value(v['baseline_value'])} ({v['baseline']}), "
            f"difference {v['difference']:+.3g} [{format_value(v['low'])}, {format_value(v['high'])}]"
        )
    if not parts:
        return f"{primary}: no comparison with the baselines (undefined metrics or no baseline run)."
    head = "at or above" if wins == total else f"better on {wins} of {total} headline metrics than"
    return f"Verdict: {primary} is {head} the best baseline of each — " + "; ".join(parts) + "."


def _figures(result: BacktestResult, localities) -> list[dict]:
    figures = [
        {
            "title": "Precision-recall",
            "alt": "precision-recall curves",
            "data": png_base64(pr_figure(result)),
        },
        {
            "title": "Reliability",
            "alt": "reliability diagram",
            "data": png_base64(reliability_figure(result)),
        },
        {"title": "Skill by lead time", "alt": "skill by lead", "data": png_base64(lead_figure(result))},
        {"title": "", "alt": "positives per origin", "data": png_base64(origins_figure(result))},
    ]
    if localities is not None:
        figures.append(
            {
                "title": "Hits and misses",
                "alt": "map of hits and misses",
                "data": png_base64(map_figure(result, localities)),
            }
        )
    return figures


def _second(item: tuple[str, float]) -> float:
    return -item[1]


def write_report(
    result: BacktestResult,
    path: str | Path,
    *,
    localities: gpd.GeoDataFrame | None = None,
    patrol: dict | None = None,
) -> Path:
    """Write the self-contained HTML report of a backtest to ``path`` (template shipped with the package)."""
    d = result.detail
    weights = "; ".join(
        f"{c['origin'][:7]}: "
        + ", ".join(f"{n} {w:.2f}" for n, w in sorted(c["weights"].items(), key=lambda kv: -kv[1]))
        for c in d.get("ensemble", [])
    )
    alerts = d.get("alerts") or {
        "reason": "alert features used" if d.get("use_alerts") else "no alert features used"
    }
    page = page_template("sauti.models", "backtest_report.html.j2").render(
        m=result.metrics,
        d=d,
        empty=bool(d.get("empty_window")),
        verdict=verdict_line(result),
        positive_rate=format_value(result.metrics["positive_rate"], 4),
        alerts=alerts.get("reason", ""),
        **metrics_table(result),
        weights=weights or "–",
        figures=_figures(result, localities),
        patrol=_patrol_rows(patrol) if patrol is not None else None,
        span=origins_words(result),
        below_chance=below_chance_notes(result),
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def metrics_markdown(metrics: dict, detail: dict) -> str:
    """The metrics table with 90% bootstrap intervals as Markdown (for docs and the README)."""
    head = "| model | " + " | ".join(REPORTED_METRICS) + " |"
    lines = [head, "|---" * (len(REPORTED_METRICS) + 1) + "|"]
    for name, values in metrics["models"].items():
        cells = []
        for metric in REPORTED_METRICS:
            cells.append(" ".join(_value_and_interval(values, detail, name, metric)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
