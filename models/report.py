"""The backtest report: one self-contained HTML page (figures embedded as base64 PNG, no URL).

Shows the metrics table with bootstrap confidence intervals, precision-recall curves, the
reliability diagram, skill by lead time, positives per origin and a map of hits, misses and false
alarms of the primary model at the top-10% threshold.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sauti.constants import LOCALITY_ID

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from sauti.models.backtest import BacktestResult

MAP_CLASSES = {
    "hits only": "#1a9850",
    "hits and misses": "#fee08b",
    "misses only": "#d73027",
    "false alarms only": "#74add1",
    "quiet": "#f0f0f0",
}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _models(result: BacktestResult) -> list[str]:
    return list(result.metrics["models"])


def pr_figure(result: BacktestResult):
    """Pooled precision-recall curve of every model."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
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


def reliability_figure(result: BacktestResult):
    """Observed frequency against forecast probability (bins of equal count)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
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


def lead_figure(result: BacktestResult):
    """Average precision and Brier skill against lead time within the target window."""
    import matplotlib.pyplot as plt

    by_lead = result.detail["by_lead"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
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


def origins_figure(result: BacktestResult):
    """Positives per origin: where the pooled metrics get their information from."""
    import matplotlib.pyplot as plt

    per = pd.DataFrame(result.detail["per_origin"])
    fig, ax = plt.subplots(figsize=(9, 2.4))
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


def map_figure(result: BacktestResult, localities: gpd.GeoDataFrame):
    """Locality polygons coloured by hit / miss / false alarm of the primary model."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    table = hit_miss_table(result)
    shapes = localities[[LOCALITY_ID, "geometry"]].merge(
        table, left_on=LOCALITY_ID, right_index=True, how="inner"
    )
    fig, ax = plt.subplots(figsize=(7.5, 6))
    colours = shapes["class"].map(MAP_CLASSES)
    shapes.plot(ax=ax, color=colours, edgecolor="#666", linewidth=0.4)
    counts = shapes["class"].value_counts()
    handles = [Patch(color=c, label=f"{k} ({counts.get(k, 0)})") for k, c in MAP_CLASSES.items()]
    ax.legend(handles=handles, fontsize=7, loc="lower left", title="localities", title_fontsize=7)
    ax.set_axis_off()
    ax.set_title(f"{result.metrics['primary']}: top-10% hits and misses over all origins", fontsize=10)
    return fig


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def metrics_table_html(result: BacktestResult) -> str:
    """The metrics table with 90% block-bootstrap intervals; the best value per column in bold."""
    from sauti.models.backtest import CONTRACT_METRICS
    from sauti.models.metrics import METRICS

    models = result.metrics["models"]
    best = {}
    for metric in CONTRACT_METRICS:
        values = {m: v[metric] for m, v in models.items() if v[metric] is not None}
        if values:
            pick = max if METRICS[metric].higher_is_better else min
            best[metric] = pick(values, key=values.get)
    head = "".join(f"<th>{html.escape(m)}</th>" for m in CONTRACT_METRICS)
    rows = []
    for name, values in models.items():
        cells = []
        for metric in CONTRACT_METRICS:
            ci = result.detail["intervals"].get(name, {}).get(metric, {})
            text = f"{_fmt(values[metric])}<br><small>[{_fmt(ci.get('low'))}, {_fmt(ci.get('high'))}]</small>"
            cells.append(f"<td>{'<b>' + text + '</b>' if best.get(metric) == name else text}</td>")
        rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"


def _patrol_html(patrol: dict) -> str:
    """Patrol hit rate of each plan (from ``sauti.models.patrol.evaluate``)."""
    rows = []
    for plan in ("optimised", "closest_to_base", "last_incidents", "oracle"):
        entry = patrol.get(plan)
        if not isinstance(entry, dict):
            continue
        ci = entry.get("ci") or [None, None]
        low, high = (ci.get("low"), ci.get("high")) if isinstance(ci, dict) else (ci[0], ci[-1])
        rows.append(
            f"<tr><th>{html.escape(plan)}</th><td>{_fmt(entry.get('patrol_hit_rate'))}</td>"
            f"<td>[{_fmt(low)}, {_fmt(high)}]</td>"
            f"<td>{html.escape(str(entry.get('incidents_covered', '')))}</td></tr>"
        )
    return (
        "<h2>Patrol plans in the backtest</h2>"
        f"<p>Share of next-period intercommunal incidents in localities each plan covers "
        f"({html.escape(str(patrol.get('n_incidents', '?')))} incidents, "
        f"{html.escape(str(patrol.get('n_origins', '?')))} origins; details in patrol.json).</p>"
        "<table><tr><th>plan</th><th>patrol hit rate</th><th>interval</th><th>incidents covered</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def write_report(
    result: BacktestResult,
    path: str | Path,
    *,
    localities: gpd.GeoDataFrame | None = None,
    patrol: dict | None = None,
) -> Path:
    """Write the self-contained HTML report of a backtest to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    m, d = result.metrics, result.detail
    selection = d.get("model_selection", [])
    chosen = ", ".join(f"{c['origin'][:7]}: {html.escape(c['chosen'])}" for c in selection) or "–"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Sauti backtest h={m['horizon']}</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
        "text-align:right}th{background:#f5f5f5}img{max-width:100%}small{color:#666}",
        "</style></head><body>",
        f"<h1>Rolling-origin backtest: freq {html.escape(str(m['freq']))}, horizon {m['horizon']}</h1>",
        f"<p>Origins {m['start']} to {m['end']} ({d['n_origins']} origins, "
        f"{d['origins_with_positives']} with at least one positive), {d['n_localities']} localities, "
        f"{m['n_forecasts']} forecasts, positive rate {_fmt(m['positive_rate'], 4)}. "
        "Metrics pool all forecasts; brackets are 90% moving-block bootstrap "
        f"intervals over origins ({d['bootstrap']['replicates']} replicates, blocks of "
        f"{d['bootstrap']['block_length']} origins). Alert features used: {d.get('use_alerts')}.</p>",
        "<h2>Metrics</h2>",
        metrics_table_html(result),
        "<p><small>Model chosen by nested temporal validation at each re-tuning origin: "
        f"{chosen}</small></p>",
        "<h2>Precision-recall</h2>",
        _img(_png(pr_figure(result)), "precision-recall curves"),
        "<h2>Reliability</h2>",
        _img(_png(reliability_figure(result)), "reliability diagram"),
        "<h2>Skill by lead time</h2>",
        _img(_png(lead_figure(result)), "skill by lead"),
        _img(_png(origins_figure(result)), "positives per origin"),
    ]
    if localities is not None:
        parts += [
            "<h2>Hits and misses</h2>",
            _img(_png(map_figure(result, localities)), "map of hits and misses"),
        ]
    if patrol is not None:
        parts.append(_patrol_html(patrol))
    parts.append("</body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def metrics_markdown(metrics: dict, detail: dict) -> str:
    """The metrics table with 90% bootstrap intervals as Markdown (for docs and the README)."""
    from sauti.models.backtest import CONTRACT_METRICS

    head = "| model | " + " | ".join(CONTRACT_METRICS) + " |"
    lines = [head, "|---" * (len(CONTRACT_METRICS) + 1) + "|"]
    for name, values in metrics["models"].items():
        cells = []
        for metric in CONTRACT_METRICS:
            ci = detail["intervals"].get(name, {}).get(metric, {})
            cells.append(f"{_fmt(values[metric])} [{_fmt(ci.get('low'))}, {_fmt(ci.get('high'))}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
