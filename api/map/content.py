"""What the risk map says, computed once per data stamp and period: which period it shows, how current
the data are, each locality's colour class and popup, the priority list, what is rising, the legends.

:mod:`sauti.api.map.view` draws it with folium; the HTML fragments come from the jinja2 templates in
``api/map/templates`` (package data). Nothing here names an internal column or feature to a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sauti.api.services.risk import RECENT_ALERT_DAYS, alert_counts_by_locality, data_date, scored_periods
from sauti.api.services.risk import rising as rising_answer
from sauti.api.services.source import DataSource
from sauti.api.services.tiles import HeatmapRenderer, risk_colormap
from sauti.constants import LOCALITY_ID
from sauti.errors import NotFoundError
from sauti.features.glossary import INCIDENT_ONE, percent, points
from sauti.features.periods import forecast_window
from sauti.figures import page_template
from sauti.models import current_model, score_histories

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: colour classes by rank share (upper bound of the share of localities ranked above, label);
#: ColorBrewer YlOrRd, 6 classes, colour-blind safe, darkest for the highest risk
RANK_CLASSES = (
    (0.05, "top 5%", "#bd0026"),
    (0.10, "next 5% (top 10%)", "#f03b20"),
    (0.25, "top 10–25%", "#fd8d3c"),
    (0.50, "top 25–50%", "#feb24c"),
    (0.75, "lower 50–75%", "#fed976"),
    (1.00, "lowest 25%", "#ffffb2"),
)
NO_SCORE_COLOUR = "#d9d9d9"
PRIORITY_LENGTH = 10
RISING_LENGTH = 5


def render(name: str, **context: Any) -> str:
    """Render the template ``api/map/templates/<name>`` with the map's number and word helpers."""
    helpers = {"pct": percent, "pp": points, "plural": plural, "words": words, "incident": incident_words}
    return page_template("sauti.api.map", name).render(**helpers, **context)


# --- words and numbers -----------------------------------------------------------------------------
def words(code: object) -> str:
    """A stored category or state in words: ``false_alarm`` → "false alarm"."""
    return str(code).replace("_", " ")


def incident_words(category: str) -> str:
    """One incident of ``category`` in words, from the glossary: ``armed_clash`` → "armed clash"."""
    return INCIDENT_ONE.get(category, words(category))


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 alert``, ``2 alerts``, ``0 alerts``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def rank_class(rank: int | None, n: int) -> int | None:
    """Index into :data:`RANK_CLASSES` of a locality ranked ``rank`` (1 = highest) among ``n``."""
    if rank is None or n <= 0:
        return None
    share = (rank - 1) / n
    return next(i for i, (upper, _, _) in enumerate(RANK_CLASSES) if share < upper or upper == 1.0)


# --- the period shown ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapPeriod:
    """The scored period a map shows and how to name it."""

    period: pd.Timestamp
    periods: tuple[pd.Timestamp, ...]
    freq: str
    horizon: int

    @property
    def latest(self) -> bool:
        return self.period == self.periods[-1]

    @property
    def previous(self) -> pd.Timestamp | None:
        earlier = [p for p in self.periods if p < self.period]
        return earlier[-1] if earlier else None

    def name(self, period: pd.Timestamp | None = None) -> str:
        period = self.period if period is None else period
        return f"{period:%B %Y}" if self.freq == "M" else f"the week of {period.day} {period:%B %Y}"

    def short(self, period: pd.Timestamp) -> str:
        return f"{period:%b %Y}" if self.freq == "M" else f"{period:%d %b %Y}"

    @property
    def forecast(self) -> str:
        """The period(s) the scores forecast, in words: "January 2023", "January – March 2023"."""
        return self.forecast_of(self.period)

    def forecast_of(self, period: pd.Timestamp) -> str:
        """What the scores of ``period`` forecast, in words."""
        return forecast_window(period, self.freq, self.horizon)["label"]

    @property
    def end(self) -> datetime:
        """The last instant of the period (UTC): what the data of this period run to."""
        import pandas as pd

        step = pd.DateOffset(months=1) if self.freq == "M" else pd.DateOffset(weeks=1)
        return (self.period + step).to_pydatetime().replace(tzinfo=UTC) - pd.Timedelta(microseconds=1)


def map_period(source: DataSource, requested: str | None = None) -> MapPeriod | None:
    """The period to show: ``requested`` (``YYYY-MM`` or ``YYYY-MM-DD``), else the latest scored."""
    import pandas as pd

    record = current_model(source.workspace)
    if record is None or source.scores() is None:
        return None

    periods = tuple(pd.Timestamp(p) for p in scored_periods(source)["periods"])
    if not periods:
        return None
    period = periods[-1]
    if requested:
        try:
            wanted = pd.Timestamp(requested)
        except ValueError:
            raise NotFoundError("the period asked for is not a date: use YYYY-MM or YYYY-MM-DD") from None
        if wanted not in periods:
            raise NotFoundError(
                "no scores for the period asked for: scored periods run "
                f"{periods[0]:%Y-%m-%d} to {periods[-1]:%Y-%m-%d}"
            )
        period = wanted
    return MapPeriod(period, periods, record["freq"], int(record.get("horizon") or 1))


# --- per locality ------------------------------------------------------------------------------------
@dataclass
class LocalityView:
    """One locality as the map shows it."""

    locality_id: str
    name: str
    region: str | None
    risk: float | None = None
    rank: int | None = None
    change: float | None = None
    ratio: float | None = None
    drivers: list[dict] = field(default_factory=list)
    history: list[tuple[pd.Timestamp, float]] = field(default_factory=list)
    alerts_30d: int = 0
    alerts_total: int = 0
    alerts_window: str = ""  # "since 1 Dec 2022" or "in the 30 days to 31 Jul 2022"
    klass: int | None = None

    @property
    def colour(self) -> str:
        return NO_SCORE_COLOUR if self.klass is None else RANK_CLASSES[self.klass][2]

    @property
    def class_label(self) -> str:
        return "not scored" if self.klass is None else RANK_CLASSES[self.klass][1]


def plain_drivers(drivers: list[dict]) -> list[dict]:
    """Drivers a person can read: ``{"label", "text", "contribution"}`` for those with a plain-words
    label; ``text`` is the value (and the typical locality's) in words, else the label."""
    from sauti.features.glossary import driver_words

    return [
        {
            "label": str(d["label"]),
            "text": str(d.get("text") or driver_words(d)),
            "contribution": float(d.get("contribution") or 0.0),
        }
        for d in drivers
        if d.get("label")
    ]


def locality_views(
    source: DataSource, units: pd.DataFrame, shown: MapPeriod | None, level: str
) -> list[LocalityView]:
    """Every unit of ``level`` with its score, class, drivers, history and alert counts in ``shown``."""
    scores = _period_scores(source, shown)
    histories = _histories(source, shown)
    counts, alerts_window = _alert_counts(source, shown, level)
    n = len(scores)
    base_rate = float(scores["probability"].mean()) if n else None
    by_id = scores.set_index(LOCALITY_ID).to_dict("index")
    views = []
    for row in units[[LOCALITY_ID, "name", *_region_column(units)]].to_dict("records"):
        lid = str(row[LOCALITY_ID])
        view = LocalityView(lid, str(row["name"]), row.get("admin1_name") or None)
        view.alerts_30d, view.alerts_total = counts.get(lid, (0, 0))
        view.alerts_window = alerts_window
        view.history = histories.get(lid, [])
        score = by_id.get(lid)
        if score is not None:
            view.risk = float(score["probability"])
            view.rank = int(score["rank"])
            view.change = None if _missing(score["change"]) else float(score["change"])
            view.ratio = view.risk / base_rate if base_rate else None
            view.drivers = plain_drivers(score["drivers"] or [])[:3]
            view.klass = rank_class(view.rank, n)
        views.append(view)
    return views


def _alert_counts(
    source: DataSource, shown: MapPeriod | None, level: str
) -> tuple[dict[str, tuple[int, int]], str]:
    """Alerts per unit and the words for their window. The latest period counts as the API does:
    from 30 days before the incident data's date on, alerts received since then included (so the
    words say "since <day>", never "in the 30 days to" a day the newer alerts came after); an
    earlier period counts the 30 days up to its end."""
    from datetime import timedelta

    if shown is None or shown.latest:
        end = data_date(source)
        counts = alert_counts_by_locality(source, level, window_end=end)
        return counts, f"since {_day(end - timedelta(days=RECENT_ALERT_DAYS))}"
    counts = alert_counts_by_locality(source, level, until=shown.end)
    return counts, f"in the {RECENT_ALERT_DAYS} days to {_day(shown.end)}"


def _day(moment) -> str:
    return f"{moment:%d %b %Y}".lstrip("0")


def _region_column(units: pd.DataFrame) -> list[str]:
    return ["admin1_name"] if "admin1_name" in units.columns else []


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _period_scores(source: DataSource, shown: MapPeriod | None) -> pd.DataFrame:
    import pandas as pd

    if shown is None:
        return pd.DataFrame(columns=[LOCALITY_ID, "probability", "rank", "change", "drivers"])
    return source.scores() if shown.latest else source.period_scores(f"{shown.period:%Y-%m-%d}")


def _histories(source: DataSource, shown: MapPeriod | None) -> dict[str, list]:
    if shown is None:
        return {}

    def build():
        frame = score_histories(source.workspace, until=shown.period)
        return {
            str(lid): list(zip(group["period"], group["probability"].astype(float), strict=True))
            for lid, group in frame.groupby(LOCALITY_ID)
        }

    return source.cached(("map", "histories", shown.period), build)


def rising(source: DataSource, shown: MapPeriod | None) -> dict[str, list[dict]]:
    """The rising panel's two lists, with names (the same answer as ``GET /localities/rising``)."""
    if shown is None or shown.previous is None:
        return {"increases": [], "new_in_top": []}
    return rising_answer(source, n=RISING_LENGTH, period=f"{shown.period:%Y-%m-%d}")


def priorities(views: list[LocalityView], n: int = PRIORITY_LENGTH) -> list[LocalityView]:
    """The ``n`` highest-risk localities, highest first."""
    scored = [v for v in views if v.rank is not None]
    return sorted(scored, key=lambda v: (v.rank, v.name))[:n]


# --- the history chart ---------------------------------------------------------------------------------
CHART_WIDTH, CHART_HEIGHT = 270, 104
CHART_MARGIN = {"left": 44, "right": 10, "top": 8, "bottom": 30}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (an axis top)."""
    if value <= 0:
        return 1e-3
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def history_chart(history: list[tuple[pd.Timestamp, float]], shown: MapPeriod) -> str:
    """An inline SVG line chart of a locality's risk over its scored periods, with dated axes."""
    if len(history) < 2:
        return ""
    m = CHART_MARGIN
    plot_w = CHART_WIDTH - m["left"] - m["right"]
    plot_h = CHART_HEIGHT - m["top"] - m["bottom"]
    top = nice_ceiling(max(v for _, v in history))
    step = plot_w / (len(history) - 1)

    def x(i: int) -> float:
        return round(m["left"] + i * step, 1)

    def y(v: float) -> float:
        return round(m["top"] + (1 - v / top) * plot_h, 1)

    last = len(history) - 1
    x_ticks = [(x(i), shown.short(history[i][0])) for i in sorted({0, last // 2, last})]
    return render(
        "history_chart.svg",
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=m["left"],
        right=CHART_WIDTH - m["right"],
        bottom=m["top"] + plot_h,
        points=" ".join(f"{x(i)},{y(v)}" for i, (_, v) in enumerate(history)),
        y_ticks=[(y(v), percent(v)) for v in (0.0, top / 2, top)],
        x_ticks=x_ticks,
        end=(x(last), y(history[-1][1])),
        n=len(history),
        label=f"risk from {shown.short(history[0][0])} to {shown.short(history[-1][0])}",
    )


# --- the heatmap's legend --------------------------------------------------------------------------------
def heatmap_legend(source: DataSource) -> dict[str, str] | None:
    """What the heatmap's colours mean, from the raster's own ``units``/``description`` tags and the
    colour stretch the tiles use (0 → 99th percentile); ``None`` without a risk surface."""
    if not source.risk_surface_path.exists():
        return None
    renderer = HeatmapRenderer(source.risk_surface_path)
    tags = renderer.reader().dataset.tags()
    low, high = renderer.stretch()
    units = tags.get("units", "").strip()
    description = tags.get("description", "").strip()
    # the raster says what it holds in its ``quantity`` tag; files without one are judged by their units
    quantity = tags.get("quantity", "").strip()
    is_probability = quantity == "probability" if quantity else units.lower().startswith("probab")
    fmt = percent if is_probability else (lambda v: f"{v:.2g}")
    ramp = risk_colormap()
    stops = ", ".join(
        "rgba({}, {}, {}, {:.2f})".format(*ramp[i][:3], ramp[i][3] / 255) for i in (0, 64, 128, 192, 255)
    )
    return {
        "units": units or "not stated in the file (no units tag)",
        "description": description,
        "low": fmt(low),
        "high": f"{fmt(high)} or more",
        "stops": stops,
    }
