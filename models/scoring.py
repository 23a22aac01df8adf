"""Train the Sauti model on all labelled data and score the latest period (read back by
:mod:`sauti.models.stored_scores`).

``train`` fits and records a model; ``score`` applies the current model to the current cube (no
retraining: this is the nowcast after new alerts) and stores probability, rank, change since the
previous period and top drivers per locality in ``risk_scores``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from sauti.cache import memo
from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM
from sauti.errors import NotFoundError, NotReadyError, SautiError
from sauti.models.alert_use import decide_alert_use
from sauti.models.catalog import PRIMARY, resolve_model
from sauti.models.estimators import fit_weighted, single_thread
from sauti.models.explain import median_contributions, top_drivers
from sauti.models.panel import (
    ROW_BUDGET,
    TARGET_COLUMN,
    WEIGHT_COLUMN,
    NegativeSampling,
    labelled_panel,
    model_features,
    plan_sampling,
    variable_matrix,
)
from sauti.models.registry_store import current_model, load_model, save_model
from sauti.models.stored_scores import SCORE_COLUMNS, latest_scores
from sauti.progress import peak_memory_gb
from sauti.store import utc_now

if TYPE_CHECKING:  # pragma: no cover
    from sauti.features import CubeInputs
    from sauti.store import Workspace

log = logging.getLogger(__name__)

#: periods of fitted scores stored before the latest one (risk history for the API)
HISTORY_PERIODS = 23  # with the latest: 24 periods, as the map's chart shows
#: rows predicted at a time for the in-sample summary of a training
FIT_PREDICT_ROWS = 250_000
#: drivers kept per locality
TOP_DRIVERS = 5


def data_snapshot(cube: xr.Dataset) -> str:
    """A short hash identifying the data a cube was built from (its provenance)."""
    if cube.attrs.get("snapshot"):
        return str(cube.attrs["snapshot"])
    provenance = cube.attrs.get("provenance", "")
    if not isinstance(provenance, str):
        provenance = json.dumps(provenance, sort_keys=True, default=str)
    return hashlib.sha256(provenance.encode("utf-8")).hexdigest()[:16]


def _feature_table(cube: xr.Dataset, features: list[str], first: int) -> np.ndarray:
    """``(periods, localities, features)`` values of periods ``first …`` (each variable read once)."""
    recent = cube.isel({PERIOD_DIM: slice(first, None)})
    table = np.zeros((recent.sizes[PERIOD_DIM], recent.sizes[LOCALITY_DIM], len(features)))
    for k, name in enumerate(features):  # a variable the model does not read stays 0
        table[:, :, k] = variable_matrix(recent, name).T if name in recent else 0.0
    return table


def _labelled_table(
    cube: xr.Dataset,
    features: list[str],
    horizon: int,
    *,
    estimator=None,
    seed: int = 0,
    row_budget: int = ROW_BUDGET,
    negative_rate: float | None = None,
) -> tuple[pd.DataFrame, NegativeSampling]:
    """Every labelled row of the cube, read block by block of localities; over ``row_budget`` rows,
    every positive and a weighted sample of the negatives (:func:`sauti.models.panel.labelled_panel`).

    A sampled panel is read from the first period ``estimator`` trains on (its ``window``), so the
    budget is spent on rows the model sees.
    """
    sampling = plan_sampling(cube, horizon, budget=row_budget, rate=negative_rate, seed=seed)
    if sampling.positives == 0 or sampling.negatives == 0:
        raise NotReadyError(
            "cannot train: the labelled periods of the cube have "
            + ("no intercommunal incident" if sampling.positives == 0 else "only positive outcomes")
            + "; ingest more incident history first"
        )
    window = getattr(estimator, "window", None)
    if sampling.sampled and window:
        first = max(cube.sizes[PERIOD_DIM] - horizon - int(window), 0)
        if first > 0:
            sampling = plan_sampling(
                cube, horizon, budget=row_budget, rate=negative_rate, seed=seed, first_period=first
            )
    labelled, sampling = labelled_panel(cube, features, horizon, sampling)
    if np.unique(labelled[TARGET_COLUMN].to_numpy()).size < 2:
        raise NotReadyError("cannot train: the training window holds one outcome only; ingest more history")
    return labelled, sampling


def _training_summary(
    model,
    periods: pd.DatetimeIndex,
    y: np.ndarray,
    fitted: np.ndarray,
    sampling: NegativeSampling,
    weight: np.ndarray | None,
) -> dict:
    from sklearn.metrics import average_precision_score, brier_score_loss

    summary = {
        "rows": len(y),
        "positives": int(y.sum()),
        "first_period": f"{periods.min():%Y-%m-%d}",
        "last_period": f"{periods.max():%Y-%m-%d}",
        "in_sample_average_precision": float(average_precision_score(y, fitted, sample_weight=weight)),
        "in_sample_brier": float(brier_score_loss(y, fitted, sample_weight=weight)),
        "negative_sampling": sampling.as_dict(),
    }
    if hasattr(model, "weights_"):  # the Sauti ensemble: its members' weights and inner validation
        summary.update({"weights": model.weights_, "inner_validation": model.validation_})
    return summary


def train(
    workspace: Workspace,
    *,
    freq: str = "M",
    unit: str = "admin2",
    horizon: int = 1,
    random_state: int = 0,
    progress: Callable[[int], None] | None = None,
    use_alerts: bool = True,
    model: str = PRIMARY,
    trusted_types: tuple[str, ...] = (),
    include_synthetic_alerts: bool = False,
    cube: xr.Dataset | None = None,
    inputs: CubeInputs | None = None,
    row_budget: int = ROW_BUDGET,
    negative_rate: float | None = None,
) -> dict:
    """Fit ``model`` on every labelled (locality, period) of the cube and record it as current.

    The rows are read block by block of localities from the (lazy) cube, on the Dask cluster when
    one is set. A panel over ``row_budget`` labelled rows keeps every positive and a share of the
    negatives (``negative_rate``, default the validated
    :data:`~sauti.models.panel.NEGATIVE_RATE`) weighted by the inverse of the realised rate
    (``sample_weight``), so probabilities stay calibrated; ``training["negative_sampling"]``
    records the rate, the rows kept and the seed (``random_state``).

    ``cube`` is the cube to train on (default: the stored one of ``freq``/``unit``, built first
    with ``inputs`` if there is none and they are given).

    ``model`` is ``"sauti"`` (default), a servable baseline name, or ``package.module:factory``
    (see :mod:`sauti.models.catalog`; ``trusted_types`` lists the extra types its artifact may
    hold). Alerts from files marked synthetic are left out unless ``include_synthetic_alerts``
    (:mod:`sauti.models.alert_use`; the decision is in ``training["alerts"]``).
    Returns the model record: ``version``, ``created_at``, ``freq``, ``unit``, ``horizon``,
    ``estimator`` (the model name), ``artifact``, ``artifact_sha256``, ``data_snapshot``,
    ``params``, ``features``, ``training``, ``is_current``.
    """
    advance = progress or (lambda _n: None)
    choice = resolve_model(model, horizon=horizon, random_state=random_state, trusted_types=trusted_types)
    if cube is None:
        from sauti.features import load_or_build_cube

        cube = load_or_build_cube(workspace, freq=freq, unit=unit, inputs=inputs, lazy=True)
    advance(1)
    alerts = decide_alert_use(workspace, use_alerts=use_alerts, include_synthetic=include_synthetic_alerts)
    features = model_features(cube, use_alerts=alerts.use_alerts)
    estimator = choice.estimator
    labelled, sampling = _labelled_table(
        cube,
        features,
        horizon,
        estimator=estimator,
        seed=random_state,
        row_budget=row_budget,
        negative_rate=negative_rate,
    )
    y = labelled[TARGET_COLUMN].to_numpy().astype(int)
    weight = labelled[WEIGHT_COLUMN].to_numpy() if sampling.sampled else None
    periods = pd.DatetimeIndex(labelled[PERIOD])
    fit_params = {"periods": labelled["period_index"].to_numpy()} if choice.takes_periods else {}
    X = labelled[features]
    del labelled  # the feature columns are all that is kept (a continental panel: memory)
    with single_thread():
        fit_weighted(estimator, X, y, weight, **fit_params)
        fitted = np.concatenate(  # predicted in blocks of rows: one float64 copy of a block at a time
            [
                np.asarray(estimator.predict_proba(X.iloc[lo : lo + FIT_PREDICT_ROWS]))[:, 1]
                for lo in range(0, len(X), FIT_PREDICT_ROWS)
            ]
        )
    advance(1)
    training = {
        **_training_summary(estimator, periods, y, fitted, sampling, weight),
        "alerts": alerts.as_dict(),
    }
    log.info("trained %s on %d rows; peak memory %.2f GB", choice.name, len(y), peak_memory_gb())
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    record = save_model(
        workspace,
        estimator,
        freq=cube.attrs.get("freq", freq),
        unit=unit,
        horizon=horizon,
        estimator=choice.name,
        features=features,
        data_snapshot=data_snapshot(cube),
        params={**params, "use_alerts": alerts.use_alerts, "trusted_types": choice.trusted_types},
        training=training,
    )
    advance(1)
    return record


def _ranks(probability: np.ndarray) -> np.ndarray:
    return pd.Series(probability).rank(ascending=False, method="min").to_numpy(dtype=int)


def _load_current(workspace: Workspace, freq: str | None, unit: str | None, cube: xr.Dataset | None = None):
    """The current model's record, the loaded model and the recent cube it scores (``cube`` when given).

    Only the variables the model reads and the periods scored are read from the cube file.
    """
    record = current_model(workspace, freq, unit)
    if record is None:
        raise NotReadyError("no trained model for this workspace: run `sauti train` first")
    model = _loaded_model(workspace, record)
    features = record["features"]
    used = getattr(model, "used_features_", None)
    if used is None and hasattr(model, "_columns") and hasattr(model, "n_features_in_"):
        used = model._columns(model.n_features_in_)  # a calibrated rule reads its own columns
    variables = [features[j] for j in used] if used is not None else features
    if cube is None:  # read lazily: scoring reads it block by block
        from sauti.features import load_or_build_cube

        cube = load_or_build_cube(
            workspace,
            freq=record["freq"],
            unit=record["unit"],
            variables=variables,
            last_periods=HISTORY_PERIODS + 1,
            lazy=True,
        )
    missing = [f for f in variables if f not in cube]
    if missing:
        raise SautiError(
            f"the feature cube lacks {len(missing)} feature(s) model {record['version']} was trained on "
            f"(e.g. {missing[0]}): run `sauti train` again"
        )
    return record, cube, model


class _OwnColumns:
    """A model that reads only some columns, seen as a classifier of exactly those columns."""

    def __init__(self, model) -> None:
        self.model = model

    def predict_proba(self, X) -> np.ndarray:
        return self.model.predict_proba_columns(X)


def _model_view(model, features: list[str]):
    """``(predictor, names, reference)``: the Sauti ensemble is scored and explained on the few
    columns it reads; any other model on every feature."""
    used = getattr(model, "used_features_", None)
    if used is not None and hasattr(model, "predict_proba_columns"):
        return _OwnColumns(model), [features[j] for j in used], model.feature_medians_[used]
    return model, features, getattr(model, "feature_medians_", None)


def _loaded_model(workspace: Workspace, record: dict):
    """The record's model, loaded once per artifact file (a nowcast reuses it)."""
    path = workspace.root / record["artifact"]
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return load_model(workspace, record)  # says what is missing
    key = (str(workspace.root), json.dumps(record, sort_keys=True, default=str), stamp)
    return memo("models.loaded", 2).get(key, lambda: load_model(workspace, record))


def _history_start(
    workspace: Workspace, record: dict, periods: pd.DatetimeIndex, n_ids: int, *, nowcast: bool
) -> int:
    """First period to predict: :data:`HISTORY_PERIODS` before the latest, or only the one before it
    for a nowcast when this model's scores of that period are already stored for every locality
    (new data in the latest period does not change earlier features: they are causal)."""
    latest = len(periods) - 1
    full = max(0, latest - HISTORY_PERIODS)
    if not nowcast or latest < 1:
        return full
    stored = _stored_localities(workspace, record, f"{periods[latest - 1]:%Y-%m-%d}")
    return latest - 1 if len(stored) == n_ids else full


def _probabilities(model, table: np.ndarray, features: list[str]) -> np.ndarray:
    """``(periods, localities)`` probabilities of a ``(periods, localities, features)`` table."""
    names = features if hasattr(model, "feature_names_in_") else None
    n_per, n_loc, n_feat = table.shape
    flat = table.reshape(n_per * n_loc, n_feat)
    with single_thread():
        rows = pd.DataFrame(flat, columns=names, copy=False) if names is not None else flat
        return np.asarray(model.predict_proba(rows))[:, 1].reshape(n_per, n_loc)


#: localities explained (drivers) at a time, as their rows are written
EXPLAIN_ROWS = 25_000


class _Explainer:
    """Top drivers (JSON) of the ``wanted`` localities, computed one slice of localities at a time
    (the drivers of a continent, as Python objects, would otherwise be the largest thing scoring
    holds)."""

    def __init__(self, model, X_now: np.ndarray, wanted: np.ndarray, features: list[str], reference) -> None:
        self.model, self.X_now, self.wanted = model, X_now, wanted
        self.features, self.reference = features, reference

    def slice(self, lo: int, hi: int) -> list[str | None]:
        """Drivers of localities ``lo … hi - 1`` (None for one not wanted: its stored drivers stay)."""
        rows = lo + np.flatnonzero(self.wanted[lo:hi])
        out: list[str | None] = [None] * (hi - lo)
        if rows.size == 0:
            return out
        X = self.X_now[rows]
        with single_thread():
            contrib = median_contributions(
                self.model,
                X,
                self.reference,
                feature_names=self.features if hasattr(self.model, "feature_names_in_") else None,
            )
        explained = top_drivers(contrib, X, self.features, TOP_DRIVERS, self.reference)
        for i, d in zip(rows.tolist(), explained, strict=True):
            out[i - lo] = json.dumps(d)
        return out


def score(
    workspace: Workspace,
    *,
    freq: str | None = None,
    unit: str | None = None,
    localities: list[str] | None = None,
    cube: xr.Dataset | None = None,
    results: bool = True,
) -> pd.DataFrame:
    """Score the latest period of the current cube with the current model and store the result.

    ``cube`` is the cube just built (:func:`sauti.models.refresh.refresh_risk` passes it along);
    default the stored one, built first if there is none. With ``localities`` (a nowcast) only the
    latest two periods are predicted when this model's earlier scores are stored.

    Probabilities and ranks are recomputed for every locality (ranks depend on all of them);
    drivers are recomputed for ``localities`` (default: all) and for any locality without a
    stored score. Returns the stored rows of the latest period for ``localities`` (default: all),
    with the columns of :func:`latest_scores`; with ``results=False`` none (an empty frame with
    those columns: a continental scoring that only stores does not read every locality's drivers
    back).

    Memory is bounded by blocks, not by the region: the cube is read and predicted one block of
    localities at a time (:data:`SCORE_BLOCK`), drivers are explained and turned into store rows
    :data:`EXPLAIN_ROWS` localities at a time as they are written; only the probabilities
    (periods × localities) and the latest feature values (localities × features) are whole.
    """
    record, cube, model = _load_current(workspace, freq, unit, cube)
    features = record["features"]  # the model's columns, in order
    ids = cube[LOCALITY_DIM].to_numpy().astype(str)
    if localities is not None:
        unknown = sorted(set(localities) - set(ids))
        if unknown:
            raise NotFoundError(f"unknown locality id(s) for unit {record['unit']}: {', '.join(unknown[:5])}")
    all_periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy())
    first = _history_start(workspace, record, all_periods, len(ids), nowcast=localities is not None)
    predictor, names, reference = _model_view(model, features)
    probabilities, X_now = _score_blocks(predictor, cube, names, first)
    periods = all_periods[first:]
    if localities is None:
        wanted = np.ones(len(ids), dtype=bool)
    else:
        stored = _stored_localities(workspace, record, f"{periods[-1]:%Y-%m-%d}")
        wanted = np.isin(ids, sorted(set(localities) | (set(ids) - stored)))
    if reference is None:  # the region's median, as one explanation of every locality would use
        reference = np.nan_to_num(np.nanmedian(X_now, axis=0))
    explain = _Explainer(predictor, X_now, wanted, names, reference)
    scored = _Scored(ids, periods, probabilities, explain, record, data_snapshot(cube))
    _store_scores(workspace, scored, partial=localities is not None)
    _store_feature_labels(workspace, names, record["freq"])
    log.info("scored %d localities; peak memory %.2f GB", len(ids), peak_memory_gb())
    if not results:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    result = latest_scores(workspace, freq=record["freq"], unit=record["unit"])
    if localities is not None:
        result = result[result[LOCALITY_ID].isin(localities)].reset_index(drop=True)
    return result


def _stored_localities(workspace: Workspace, record: dict, period: str) -> set[str]:
    with workspace.session() as con:
        return {
            r[0]
            for r in con.execute(
                "SELECT locality_id FROM risk_scores "
                "WHERE freq = ? AND unit = ? AND period = ? AND model_version = ?",
                (record["freq"], record["unit"], period, record["version"]),
            )
        }


#: localities per block read and scored at once (aligned to the cube's stored chunks)
SCORE_BLOCK = 16_384


def _score_blocks(model, cube: xr.Dataset, features: list[str], first: int) -> tuple[np.ndarray, np.ndarray]:
    """``(periods, localities)`` probabilities of periods ``first …`` and the latest period's
    ``(localities, features)`` values, reading the cube one block of localities at a time (a
    lazy cube: only the chunks of the variables and periods scored)."""
    recent = cube[[f for f in features if f in cube]].isel({PERIOD_DIM: slice(first, None)})
    n_loc, n_per = recent.sizes[LOCALITY_DIM], recent.sizes[PERIOD_DIM]
    probabilities = np.empty((n_per, n_loc))
    X_now = np.empty((n_loc, len(features)))
    step = _block_step(recent, n_loc)
    for start in range(0, n_loc, step):
        block = recent.isel({LOCALITY_DIM: slice(start, start + step)}).load()
        table = _feature_table(block, features, 0)
        probabilities[:, start : start + step] = _probabilities(model, table, features)
        X_now[start : start + step] = table[-1]
    return probabilities, X_now


def _block_step(recent: xr.Dataset, n_loc: int) -> int:
    """Localities per scoring block: a whole number of the stored chunks, about :data:`SCORE_BLOCK`."""
    chunked = [
        v.chunks[v.dims.index(LOCALITY_DIM)][0]
        for v in recent.data_vars.values()
        if v.chunks and LOCALITY_DIM in v.dims
    ]
    chunk = max(chunked) if chunked else SCORE_BLOCK
    return max(chunk * max(SCORE_BLOCK // chunk, 1), 1) if n_loc else 1


class _Scored:
    """The scores of one run, turned into store rows on demand (never all at once)."""

    def __init__(self, ids, periods, probabilities, explain: _Explainer, record, snapshot) -> None:
        self.ids, self.periods, self.probabilities = ids, periods, probabilities
        self.explain, self.record, self.snapshot = explain, record, snapshot
        self.scored_at = utc_now("milliseconds")  # two refreshes within a second still differ
        self.change = np.vstack([np.full((1, len(ids)), np.nan), np.diff(probabilities, axis=0)])

    @property
    def latest(self) -> str:
        return f"{self.periods[-1]:%Y-%m-%d}"

    def history_periods(self) -> list[str]:
        return [f"{p:%Y-%m-%d}" for p in self.periods[:-1]]

    def rows(self, t: int):
        """One row per locality of period ``t``, made :data:`EXPLAIN_ROWS` localities at a time:
        the latest period with drivers (None keeps the stored ones), earlier ones with none."""
        n = len(self.ids)
        latest = t == len(self.periods) - 1
        period = f"{self.periods[t]:%Y-%m-%d}"
        ranks = _ranks(self.probabilities[t])
        key = (self.record["freq"], self.record["unit"])
        stamp = (self.record["version"], self.snapshot, self.scored_at)
        for lo in range(0, n, EXPLAIN_ROWS):
            hi = min(lo + EXPLAIN_ROWS, n)
            explained = self.explain.slice(lo, hi) if latest else ["[]"] * (hi - lo)
            change = self.change[t, lo:hi]
            for row in zip(
                self.ids[lo:hi].tolist(),
                self.probabilities[t, lo:hi].tolist(),
                ranks[lo:hi].tolist(),
                np.where(np.isnan(change), None, change).tolist(),
                explained,
                strict=True,
            ):
                yield (row[0], period, *key, *row[1:], *stamp)


def _store_scores(workspace: Workspace, scored: _Scored, *, partial: bool) -> None:
    """Upsert the history and then the latest period (keeping stored drivers where none were
    recomputed), committed in batches of :data:`WRITE_BATCH_ROWS` rows made as they are written.

    No write transaction holds the store long, so alert posts are never kept waiting behind a
    continental scoring (one transaction of 720,000 rows held it 22.5 s), and the rows are never
    all in memory at once. The latest period is written last: every history row a reader sees
    belongs with scores already served or about to be.
    """
    columns = (
        "locality_id, period, freq, unit, probability, rank, change, drivers, "
        "model_version, data_snapshot, scored_at"
    )
    upsert = (
        f"INSERT INTO risk_scores ({columns}) VALUES (?,?,?,?,?,?,?,COALESCE(?, '[]'),?,?,?) "
        "ON CONFLICT(locality_id, period, freq, unit) DO UPDATE SET probability = excluded.probability, "
        "rank = excluded.rank, change = excluded.change, model_version = excluded.model_version, "
        "data_snapshot = excluded.data_snapshot, scored_at = excluded.scored_at, "
        "drivers = CASE WHEN CAST(? AS TEXT) IS NULL THEN risk_scores.drivers ELSE excluded.drivers END"
    )
    replace = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ")[4:])
    history_sql = f"INSERT INTO risk_scores ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?) " + (
        "ON CONFLICT DO NOTHING"
        if partial
        else f"ON CONFLICT(locality_id, period, freq, unit) DO UPDATE SET {replace}"
    )
    n_history = len(scored.periods) - 1
    if n_history:
        with workspace.session() as con:
            current = _history_current(con, scored)
        if not current:
            history = itertools.chain.from_iterable(scored.rows(t) for t in range(n_history))
            _write_batches(workspace, history_sql, history)
    latest = ((*row, row[7]) for row in scored.rows(n_history))
    _write_batches(workspace, upsert, latest)


#: rows per write transaction of :func:`_store_scores` (about a second of SQLite writing)
WRITE_BATCH_ROWS = 25_000


def _write_batches(workspace: Workspace, sql: str, rows) -> None:
    rows = iter(rows)
    while batch := list(itertools.islice(rows, WRITE_BATCH_ROWS)):
        with workspace.session() as con, workspace.transaction(con):
            con.executemany(sql, batch)


def _store_feature_labels(workspace: Workspace, names: list[str], freq: str) -> None:
    """The plain-word label of each feature the model uses (``feature_labels``), for readers of the
    store that cannot call the glossary (the PostgreSQL view ``sauti_risk_latest``)."""
    from sauti.features.glossary import feature_label

    rows = [(name, freq, feature_label(name, freq=freq)) for name in names]
    with workspace.session() as con, workspace.transaction(con):
        con.executemany(
            "INSERT INTO feature_labels (feature, freq, label) VALUES (?, ?, ?) "
            "ON CONFLICT (feature, freq) DO UPDATE SET label = excluded.label",
            rows,
        )


def _history_current(con, scored: _Scored) -> bool:
    """Whether every history row is already stored from the same model and the same data (then the
    probabilities are the same and rewriting them would only cost time)."""
    periods = scored.history_periods()
    stored = con.execute(
        "SELECT COUNT(*) FROM risk_scores WHERE freq = ? AND unit = ? AND period BETWEEN ? AND ? "
        "AND model_version = ? AND data_snapshot = ?",
        (
            scored.record["freq"],
            scored.record["unit"],
            periods[0],
            periods[-1],
            scored.record["version"],
            scored.snapshot,
        ),
    ).fetchone()[0]
    return stored == len(periods) * len(scored.ids)
