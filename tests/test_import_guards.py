"""A broken import of Sauti's own modules fails loudly (issue #12): it never turns into "no data"."""

from __future__ import annotations

import sys

import pytest

from sauti.cli.features_cmd import _heatmap_scores
from sauti.models.panel import model_features
from sauti.models.synthetic import synthetic_cube
from sauti.store import Workspace


def test_model_features_are_the_features_layers_list():
    cube = synthetic_cube(n_localities=9, n_periods=24, alerts=True)
    names = model_features(cube)
    assert "decay_count_violent_hl3" in names
    assert "alerts_total" in names
    assert not any("alerts_" in n for n in model_features(cube, use_alerts=False))


def test_model_features_do_not_hide_a_broken_features_layer(monkeypatch):
    cube = synthetic_cube(n_localities=9, n_periods=24)
    monkeypatch.setitem(sys.modules, "sauti.features", None)  # import of it now fails
    with pytest.raises(ImportError):
        model_features(cube)


def test_heatmap_does_not_read_a_broken_models_layer_as_no_scores(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sauti.models", None)
    with pytest.raises(ImportError):
        _heatmap_scores(Workspace(tmp_path / "ws"), "M", "admin2")
