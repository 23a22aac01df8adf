"""Per-prediction contributions ("top drivers") of any fitted probability model.

The contribution of feature ``j`` to locality ``i``'s score is how much the probability drops when
that feature alone is set to its training median: ``p(x) - p(x with x_j = median_j)``. It works
the same for the logistic and the boosted candidates (for a logistic model it is, before
calibration, the coefficient times the distance from the median), needs no extra library, and is
exact zero for a feature at its typical value (most counts are zero most of the time).

The sign reads against that typical value: "+0.17 pp" for "38 months since the last intercommunal
incident" where the training median is 120 (the cap: most locality-months had none in ten years)
says an incident three years ago makes a place riskier than one with none in ten years, not that
quiet raises risk. The Sauti model's learned members are monotone (risk never rises with time since
the last incident, never falls as recent counts rise), so a value more recent than the typical one
never lowers the risk. Each driver carries ``typical`` so people see what it is compared with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.base import BaseEstimator


def median_contributions(
    model: BaseEstimator,
    X: np.ndarray,
    reference: np.ndarray,
    *,
    columns: np.ndarray | None = None,
    feature_names: list[str] | None = None,
    batch_rows: int = 50_000,
) -> np.ndarray:
    """``(n, p)`` contributions: probability minus the probability with one feature at ``reference``.

    For a pool of members (the Sauti ensemble, ``p = sum_k w_k p_k``) this is exactly the weighted
    sum of the members' own contributions.

    Parameters
    ----------
    model : fitted classifier
        Anything with ``predict_proba``.
    X : ndarray of shape (n, p)
        Rows to explain.
    reference : ndarray of shape (p,)
        Reference value per feature (the training medians).
    columns : array of int, optional
        The only columns the model reads (others contribute exactly zero); default: all.
    feature_names : list of str, optional
        Column names, when the model was fitted on a DataFrame.
    batch_rows : int
        Changed rows predicted per call (bounds memory: ``batch_rows * p`` floats).
    """
    X = np.asarray(X, dtype=float)

    def predict(rows: np.ndarray) -> np.ndarray:
        if feature_names is not None:
            import pandas as pd

            rows = pd.DataFrame(rows, columns=feature_names, copy=False)
        return model.predict_proba(rows)[:, 1]

    base = predict(X)
    contributions = np.zeros_like(X)
    # every (row, feature) pair whose value differs from the reference, predicted in large batches
    pairs = []
    for j in range(X.shape[1]) if columns is None else np.asarray(columns, dtype=int):
        differs = ~((X[:, j] == reference[j]) | (np.isnan(X[:, j]) & np.isnan(reference[j])))
        rows = np.flatnonzero(differs)
        if rows.size:
            pairs.append((np.full(rows.size, j), rows))
    if not pairs:
        return contributions
    features = np.concatenate([p[0] for p in pairs])
    rows = np.concatenate([p[1] for p in pairs])
    for lo in range(0, rows.size, batch_rows):
        f, r = features[lo : lo + batch_rows], rows[lo : lo + batch_rows]
        changed = X[r].copy()
        changed[np.arange(r.size), f] = reference[f]
        contributions[r, f] = base[r] - predict(changed)
    return contributions


def top_drivers(
    contributions: np.ndarray,
    X: np.ndarray,
    feature_names: list[str],
    top: int = 5,
    reference: np.ndarray | None = None,
) -> list[list[dict]]:
    """Per row, the ``top`` features by absolute contribution as ``{"feature","contribution","value"}``
    and, given ``reference``, ``"typical"``: the value the contribution is measured against (a
    positive contribution means this value raises the risk above that of a typical locality).

    Features with a zero contribution are never listed.
    """
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top]
    rows = np.arange(contributions.shape[0])[:, None]
    picked = np.round(contributions[rows, order], 6).tolist()  # rounded once, as arrays
    values = np.round(np.asarray(X, dtype=float)[rows, order], 6)
    shown = np.where(np.isnan(values), None, values).tolist()
    typical = None
    if reference is not None:
        rounded = np.round(np.asarray(reference, dtype=float), 6)
        typical = np.where(np.isnan(rounded), None, rounded).tolist()
    out = []
    for i, columns in enumerate(order.tolist()):
        drivers = []
        for j, c, v in zip(columns, picked[i], shown[i], strict=True):
            if c == 0.0:
                continue
            driver = {"feature": feature_names[j], "contribution": c, "value": v}
            if typical is not None:
                driver["typical"] = typical[j]
            drivers.append(driver)
        out.append(drivers)
    return out
