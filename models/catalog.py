"""Which estimator a model name stands for: the Sauti ensemble, a baseline rule, or a researcher's factory.

``sauti train --model NAME`` and :func:`sauti.models.scoring.train` resolve names here:

* ``"sauti"`` — :class:`~sauti.models.ensemble.SautiClassifier` with the design of
  :data:`SAUTI_DESIGNS` for its horizon;
* a baseline name whose rule reads one period's features (``columns`` in the registry) — that rule
  calibrated by :class:`~sauti.models.estimators.PlattScoreClassifier`;
* ``"package.module:callable"`` — a factory returning an unfitted scikit-learn classifier, fitted on
  the cube's feature table (a DataFrame). Its artifact loads only if every type skops finds in it is
  trusted: Sauti's own, or listed explicitly by the caller (``--trust``), recorded with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from sauti.errors import SautiError
from sauti.models.ensemble import LONG_HORIZON_FEATURES

PRIMARY = "sauti"
#: The Sauti model's design per horizon (design 2), fixed on the sample's validation origins
#: 2013-07 … 2016-12 only (docs/models.md, "Development protocol"). One period ahead: train on the
#: latest 180 periods, pull the stacking weights towards equal weights with 30 nats, default members
#: and learned features (design 1). Longer horizons: the same window, weights held nearer equal
#: (100 nats) and the learned member also reads the neighbours' violent count at half-life 6 and
#: fatalities at half-life 12 (:data:`~sauti.models.ensemble.LONG_HORIZON_FEATURES`).
SAUTI_DESIGNS: dict[str, dict[str, Any]] = {
    "h1": {"window": 180, "shrinkage": 30.0},
    "longer": {"window": 180, "shrinkage": 100.0, "features": LONG_HORIZON_FEATURES},
}


def sauti_design(horizon: int) -> dict[str, Any]:
    """The Sauti model's parameters for a forecast ``horizon`` periods ahead (see :data:`SAUTI_DESIGNS`)."""
    return dict(SAUTI_DESIGNS["h1" if int(horizon) <= 1 else "longer"])


class UnknownModelError(SautiError):
    """A model name that is neither the Sauti model, a servable baseline nor a usable factory."""


@dataclass
class ModelChoice:
    """A resolved model name: the unfitted estimator and what its artifact may contain."""

    name: str
    estimator: Any
    trusted_types: list[str] = field(default_factory=list)
    takes_periods: bool = False


def servable_baselines() -> list[str]:
    """Baselines that can be trained and served as a model (their rule reads one period's features)."""
    from sauti.models.baselines import BASELINES

    return [n for n, spec in BASELINES.items() if spec.columns is not None]


def model_label(name: str) -> str:
    """The served model in plain words, for the map, the patrol plan, the CLI and ``/version``.

    >>> model_label("sauti")
    'the Sauti model (calibrated rules and a learned model, combined)'
    >>> model_label("neighbourhood")
    "the neighbourhood rule (own plus neighbours' mean decayed intercommunal count), calibrated to \
probabilities on its training data"
    """
    from sauti.models.baselines import BASELINES

    if name == PRIMARY:
        return "the Sauti model (calibrated rules and a learned model, combined)"
    if name in BASELINES:
        rule, what = name.replace("_", " "), BASELINES[name].description
        return f"the {rule} rule ({what}), calibrated to probabilities on its training data"
    return f"a researcher's model ({name})"


def resolve_model(
    name: str, *, horizon: int = 1, random_state: int = 0, trusted_types: tuple[str, ...] = ()
) -> ModelChoice:
    """The estimator behind ``name`` (see the module docstring)."""
    from sauti.models.baselines import BASELINES
    from sauti.models.ensemble import SautiClassifier
    from sauti.models.estimators import PlattScoreClassifier

    if name == PRIMARY:
        model = SautiClassifier(horizon=horizon, random_state=random_state, **sauti_design(horizon))
        return ModelChoice(name, model, takes_periods=True)
    if name in BASELINES:
        columns = BASELINES[name].columns
        if columns is None:
            raise UnknownModelError(
                f"baseline {name!r} needs earlier periods than the feature table holds and cannot be "
                f"served; servable: {', '.join(servable_baselines())}"
            )
        return ModelChoice(name, PlattScoreClassifier(column=tuple(columns)))
    if ":" in name:
        return ModelChoice(name, _from_factory(name), trusted_types=sorted(trusted_types))
    raise UnknownModelError(
        f"unknown model {name!r}: use {PRIMARY}, a baseline ({', '.join(servable_baselines())}) "
        "or package.module:factory"
    )


def _from_factory(spec: str):
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UnknownModelError(
            f"--model {spec}: cannot import {attribute!r} from {module_name!r} ({exc})"
        ) from exc
    estimator = factory() if callable(factory) else None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")):
        raise UnknownModelError(
            f"--model {spec}: the factory must return a scikit-learn classifier (with fit and predict_proba)"
        )
    return estimator
