"""The backtest report says in plain words what it shows: which origins and target periods, why a rule
ranks worse than chance, how the model compares with a baseline; its hit/miss map hides no locality."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from sauti.models.backtest import backtest_cube, write_backtest
from sauti.models.backtest_report import comparison_words, map_figure, write_report
from sauti.models.synthetic import synthetic_cube


class Contrarian(ClassifierMixin, BaseEstimator):
    """Ranks the quietest localities first: the opposite of every count the cube holds."""

    def fit(self, X, y):
        self.classes_ = np.array([0.0, 1.0])
        return self

    def predict_proba(self, X):
        counts = X[[c for c in X.columns if "count_" in c and not c.startswith("since_")]]
        total = np.nan_to_num(counts.to_numpy(dtype=float)).clip(min=0).sum(axis=1)
        p = 1.0 / (2.0 + total)
        return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def past_the_data():
    """h = 3 with origins asked for up to the cube's last period: the last two have no forecast."""
    cube = synthetic_cube(20, 60, start="2014-01-01", seed=5)  # periods 2014-01 … 2018-12
    models = {"sauti": "sauti", "neighbourhood": "neighbourhood", "contrarian": Contrarian()}
    return backtest_cube(cube, start="2018-03", end="2018-12", horizon=3, models=models, n_boot=20)


def test_the_header_names_the_origins_and_target_periods_predictions_csv_holds(past_the_data, tmp_path):
    paths = write_backtest(past_the_data, tmp_path)
    predictions = pd.read_csv(paths["predictions"])
    assert predictions["origin"].max() == "2018-10-01"  # the window of 2018-11 runs past the data
    text = write_report(past_the_data, tmp_path / "report.html").read_text()
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text))
    assert "Forecast origins 2018-03 to 2018-10" in words
    assert "target periods 2018-03 – 2018-05 to 2018-10 – 2018-12" in words
    assert "asked for origins 2018-03 to 2018-12" in words
    assert "Origins 2018-03 to 2018-12" not in words
    assert "monthly, horizon 3 months" in words


def test_a_rule_below_chance_is_explained(past_the_data, tmp_path):
    auc = past_the_data.metrics["models"]["contrarian"]["roc_auc"]
    assert auc < 0.5
    text = write_report(past_the_data, tmp_path / "report.html").read_text()
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text))
    assert "ROC AUC below 0.5" in words
    assert f"contrarian ({auc:.3f}" in words
    assert "worse than chance" in words
    above = [n for n, v in past_the_data.metrics["models"].items() if (v["roc_auc"] or 0) >= 0.5]
    note = words[words.index("ROC AUC below 0.5") :]
    note = note[: note.index("how much violence to expect")]
    assert not any(f"{n} (" in note for n in above)


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        (0.467, 0.489, "trails it by 0.022"),
        (0.246, 0.229, "beats it by 0.017"),
        (0.3101, 0.3104, "ties with it"),
    ],
    ids=["trails", "beats", "ties"],
)
def test_comparison_words_never_print_a_negative_lead(ours, theirs, expected):
    assert comparison_words(ours, theirs) == expected


def test_the_notebook_states_the_comparison_with_the_shared_words():
    from pathlib import Path

    source = (Path(__file__).parents[1] / "notebooks" / "02_backtest.py").read_text()
    assert "does NOT beat it" not in source
    assert "comparison_words(" in source


def test_the_hit_miss_legend_lies_outside_the_localities(past_the_data):
    import geopandas as gpd
    from shapely.geometry import box

    ids = [f"L{i:05d}" for i in range(20)]
    squares = [box(i % 5, i // 5, i % 5 + 1, i // 5 + 1) for i in range(20)]
    shapes = gpd.GeoDataFrame({"locality_id": ids}, geometry=squares, crs=4326)
    fig = map_figure(past_the_data, shapes)
    fig.draw_without_rendering()  # lays the figure out as saving it does
    ax = fig.axes[0]
    legend = (ax.get_legend() or fig.legends[0]).get_window_extent()
    minx, miny, maxx, maxy = shapes.total_bounds
    (x0, y0), (x1, y1) = ax.transData.transform([(minx, miny), (maxx, maxy)])
    overlaps = legend.x0 < x1 and legend.x1 > x0 and legend.y0 < y1 and legend.y1 > y0
    assert not overlaps, (legend, (x0, y0, x1, y1))
    # and the legend is on the figure, not cut off
    assert legend.x1 <= fig.bbox.x1 + 1
    assert legend.y0 >= fig.bbox.y0 - 1
