"""Turn the feature cube into the long (locality, period) table the estimators train on.

Rows are ordered by period, then locality, so "the last rows" of a training table are its latest
periods (the temporal calibration hold-out relies on it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from sauti.constants import LOCALITY_DIM, LOCALITY_ID, PERIOD, PERIOD_DIM, TARGET_CATEGORY

log = logging.getLogger(__name__)

# variables that carry alert information (left out of incident-only runs)
ALERT_MARKER = "alerts_"
# variables derived from recorded responses (patrols…): used only when the cube is marked
# ``with_responses`` (sauti.features.responses.add_response_features), never by train/score
RESPONSE_MARKER = "responses_"


def model_features(cube: xr.Dataset, *, use_alerts: bool = True) -> list[str]:
    """Names of the cube variables the Sauti model uses, in a stable order.

    Every numeric variable on ``(locality, period)``, ``(locality,)`` or ``(period,)`` is a feature
    (the cube only holds values known at the end of each period). With ``use_alerts=False`` every
    variable derived from alerts (name containing ``alerts_``) is left out, which is how headline
    skill is measured on real incident data only.
    """
    from sauti.features import feature_names  # the features layer's own list (a broken import fails)

    names = list(feature_names(cube))
    allowed = {(LOCALITY_DIM, PERIOD_DIM), (PERIOD_DIM, LOCALITY_DIM), (LOCALITY_DIM,), (PERIOD_DIM,)}
    out = []
    for name in names:
        if name not in cube.data_vars:
            continue
        var = cube[name]
        if tuple(var.dims) not in allowed or not np.issubdtype(var.dtype, np.number):
            continue
        if not use_alerts and ALERT_MARKER in name:
            continue
        if RESPONSE_MARKER in name and not cube.attrs.get("with_responses"):
            continue  # responses only in a backtest that asked for them (docs/models.md, issue 19)
        out.append(name)
    if not out:
        raise ValueError("the feature cube has no numeric (locality, period) variables to model with")
    return out


def variable_matrix(cube: xr.Dataset, name: str) -> np.ndarray:
    """A cube variable as a float ``(locality, period)`` array (static / seasonal ones broadcast)."""
    var = cube[name]
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    if var.dims == (PERIOD_DIM, LOCALITY_DIM):
        var = var.transpose(LOCALITY_DIM, PERIOD_DIM)
    values = var.to_numpy().astype(float)
    if var.dims == (LOCALITY_DIM,):
        return np.broadcast_to(values[:, None], (n_loc, n_per))
    if var.dims == (PERIOD_DIM,):
        return np.broadcast_to(values[None, :], (n_loc, n_per))
    return values


def panel_frame(
    cube: xr.Dataset, variables: list[str], extra: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Long table: ``locality_id``, ``period``, ``period_index`` then one column per variable.

    Parameters
    ----------
    cube : xarray.Dataset
        The feature cube.
    variables : list of str
        Cube variables to include.
    extra : dict, optional
        More ``(locality, period)`` arrays to add as columns (targets, baseline scores).
    """
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    columns: dict[str, np.ndarray] = {
        LOCALITY_ID: np.tile(cube[LOCALITY_DIM].to_numpy().astype(str), n_per),
        PERIOD: np.repeat(pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy()).to_numpy(), n_loc),
        "period_index": np.repeat(np.arange(n_per), n_loc),
    }
    for name in variables:
        columns[name] = variable_matrix(cube, name).T.ravel()
    for name, values in (extra or {}).items():
        columns[name] = np.asarray(values, dtype=float).T.ravel()
    return pd.DataFrame(columns)


# --- the training panel read block by block (continental cubes; issue 17) -------------------------

#: labelled rows a training panel holds in memory at most; beyond it negatives are sampled
ROW_BUDGET = 1_000_000
#: share of negative rows kept when a panel is over :data:`ROW_BUDGET`, chosen on validation origins
#: of the sample (docs/models.md, "Training rows read block by block"); lowered only if the budget
#: needs it
NEGATIVE_RATE = 0.25
#: (locality, period) cells read per block of localities (about 120 MB of features at float32)
BLOCK_CELLS = 250_000
#: the lowest rate compared on validation origins (a budget forcing a lower one is warned about)
LOWEST_VALIDATED_RATE = 0.05
#: the lowest rate a budget may force
MIN_NEGATIVE_RATE = 1e-3
TARGET_COLUMN = "_target"
#: the locality's position in the cube (rows of a block-read panel)
LOCALITY_INDEX = "_locality_index"
WEIGHT_COLUMN = "_weight"


@dataclass(frozen=True)
class NegativeSampling:
    """How a training panel was thinned: what the model card records (``training["negative_sampling"]``).

    ``rate`` is the share of negative rows kept (1.0: every row); kept negatives carry the weight
    ``negatives / kept negatives`` (the inverse of the realised rate), positives weight 1, so the
    weights of the negatives sum to the number of negatives and probabilities stay calibrated.
    """

    rate: float
    seed: int
    budget: int
    rows_labelled: int
    positives: int
    negatives: int
    rows_kept: int = 0
    negatives_kept: int = 0
    negative_weight: float = 1.0
    first_period_index: int = 0
    forced: bool = False

    @property
    def sampled(self) -> bool:
        return self.rate < 1.0

    @property
    def below_validated(self) -> bool:
        """Whether the row budget forced a rate below the one chosen on validation
        (:data:`NEGATIVE_RATE`): the model is then trained on fewer negatives than validated."""
        return self.forced and self.rate < NEGATIVE_RATE

    def as_dict(self) -> dict:
        return {
            "rate": self.rate,
            "seed": self.seed,
            "row_budget": self.budget,
            "rows_labelled": self.rows_labelled,
            "positives": self.positives,
            "negatives": self.negatives,
            "rows_kept": self.rows_kept,
            "negatives_kept": self.negatives_kept,
            "negative_weight": self.negative_weight,
            "validated_rate": NEGATIVE_RATE,
            "below_validated_rate": self.below_validated,
        }


def locality_blocks(n_localities: int, n_periods: int, cells: int = BLOCK_CELLS) -> list[slice]:
    """Consecutive blocks of localities holding about ``cells`` (locality, period) cells each."""
    size = max(1, int(cells) // max(int(n_periods), 1))
    return [slice(lo, min(lo + size, n_localities)) for lo in range(0, n_localities, size)]


def _compact(values: np.ndarray) -> np.ndarray:
    """float32 where it holds the values exactly (float32 and small-integer variables), else float64."""
    if values.dtype == np.float32:
        return values
    integral = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    if integral and (values.size == 0 or int(np.abs(values.astype(np.int64)).max()) < 2**24):
        return values.astype(np.float32)
    return values.astype(np.float64)


def _block_column(block: xr.Dataset, name: str, rows: np.ndarray) -> np.ndarray:
    """One variable of a block of localities at the chosen ``(period, locality)`` cells ``rows``
    (a boolean ``(period, locality)`` mask): read alone, static / seasonal ones broadcast."""
    var = block[name]
    if var.dims == (PERIOD_DIM, LOCALITY_DIM):
        var = var.transpose(LOCALITY_DIM, PERIOD_DIM)
    values = _compact(var.to_numpy())
    if var.dims == (LOCALITY_DIM,):
        return np.broadcast_to(values[None, :], rows.shape)[rows]
    if var.dims == (PERIOD_DIM,):
        return np.broadcast_to(values[:, None], rows.shape)[rows]
    return values.T[rows]


def _read_blocks(cube: xr.Dataset, cells: int | None) -> list[slice]:
    """Blocks of localities: the cube's own chunks of localities when it is Dask-backed (each stored
    chunk is read once), else blocks of about ``cells`` cells."""
    n_loc, n_per = cube.sizes[LOCALITY_DIM], cube.sizes[PERIOD_DIM]
    count = cube[f"count_{TARGET_CATEGORY}"]
    if cells is None and count.chunks is not None:
        size = int(count.chunks[count.dims.index(LOCALITY_DIM)][0])
        return [slice(lo, min(lo + size, n_loc)) for lo in range(0, n_loc, size)]
    return locality_blocks(n_loc, n_per, cells or BLOCK_CELLS)


def plan_sampling(
    cube: xr.Dataset,
    horizon: int,
    *,
    budget: int = ROW_BUDGET,
    rate: float | None = None,
    seed: int = 0,
    first_period: int = 0,
) -> NegativeSampling:
    """Count the labelled rows and positives (one variable, block by block) and decide the rate.

    ``rate`` forces a rate (validation experiments); default: every row when the labelled panel
    fits in ``budget`` rows, else :data:`NEGATIVE_RATE`, lowered when even that is over budget.
    """
    from sauti.models.target import make_target

    count = f"count_{TARGET_CATEGORY}"
    positives = labelled = 0
    for block in _read_blocks(cube, None):
        part = cube[[count]].isel({LOCALITY_DIM: block}).load()
        target = make_target(part, horizon).to_numpy()[:, first_period:]
        finite = np.isfinite(target)
        labelled += int(finite.sum())
        positives += int(target[finite].sum())
    negatives = labelled - positives
    forced = False
    if rate is None:
        if labelled <= budget or negatives == 0:
            rate = 1.0
        else:
            fits = (budget - positives) / negatives
            rate = max(min(NEGATIVE_RATE, fits), MIN_NEGATIVE_RATE)
            forced = rate < NEGATIVE_RATE
            if forced:
                log.warning(
                    "training panel of %d rows (%d positives): the row budget of %d rows forces keeping "
                    "%.4f of the negatives, below the rate chosen on validation (%.2f; rates from %.2f "
                    "to 0.5 were compared); a larger --row-budget keeps more",
                    labelled,
                    positives,
                    budget,
                    rate,
                    NEGATIVE_RATE,
                    LOWEST_VALIDATED_RATE,
                )
    if not 0 < rate <= 1:
        raise ValueError(f"negative sampling rate must be in (0, 1], got {rate}")
    return NegativeSampling(
        rate=float(rate),
        seed=int(seed),
        budget=int(budget),
        rows_labelled=labelled,
        positives=positives,
        negatives=negatives,
        first_period_index=int(first_period),
        forced=forced,
    )


def labelled_panel(
    cube: xr.Dataset,
    variables: list[str],
    horizon: int,
    sampling: NegativeSampling,
    *,
    keep_periods: np.ndarray | None = None,
    extra: Callable[[xr.Dataset], dict[str, np.ndarray]] | None = None,
    cells: int | None = None,
) -> tuple[pd.DataFrame, NegativeSampling]:
    """The training rows of ``cube`` read block by block of localities, never the whole panel at once.

    Returns the rows of :func:`panel_frame` (same order: period, then locality; same values, in
    float32 where that is exact) whose target is observed from period
    ``sampling.first_period_index`` on — every positive and the sampled negatives — plus every row
    of ``keep_periods`` (the periods a backtest scores, observed or not), with ``_target`` and
    ``_weight`` (1 for positives and kept periods, ``negatives / kept negatives`` for sampled
    negatives). ``extra(block)`` adds ``(locality, period)`` arrays of the block as columns.

    A lazy (Dask-backed) cube is read one block of localities at a time (its stored chunks of
    localities; ``cells`` forces blocks of about that many cells) and one variable at a time, on
    the Dask cluster when one is set (:func:`sauti.scheduler.dask_scheduler`); each block logs
    its rows and the peak memory.
    """
    from sauti.models.target import make_target
    from sauti.progress import peak_memory_gb

    n_per = cube.sizes[PERIOD_DIM]
    count = f"count_{TARGET_CATEGORY}"
    periods = pd.DatetimeIndex(cube[PERIOD_DIM].to_numpy()).to_numpy()
    ids = cube[LOCALITY_DIM].to_numpy().astype(str)
    keep = np.zeros(n_per, dtype=bool)
    if keep_periods is not None:
        keep[np.asarray(keep_periods, dtype=int)] = True
    in_kept = np.broadcast_to(keep[:, None], (n_per, 1))
    period_at = np.arange(n_per)[:, None]
    frames, negatives, kept_negatives = [], 0, 0
    blocks = _read_blocks(cube, cells)
    for i, block in enumerate(blocks):
        part = cube.isel({LOCALITY_DIM: block})  # lazy: each variable is read alone below
        target = make_target(part[[count]].load(), horizon).to_numpy().T  # (period, locality)
        candidate = np.isfinite(target) & (period_at >= sampling.first_period_index) & ~in_kept
        negative = candidate & (target == 0)
        chosen = in_kept | (candidate & (target == 1))
        if sampling.sampled:  # one stream per block of localities: the same rows locally and on a cluster
            draw = np.random.default_rng([sampling.seed, block.start]).random(target.shape[::-1]).T
            chosen = chosen | (negative & (draw < sampling.rate))
        else:
            chosen = chosen | negative
        negatives += int(negative.sum())
        kept_negatives += int((negative & chosen).sum())
        where_period, where_loc = np.nonzero(chosen)  # period, then locality
        columns: dict[str, np.ndarray] = {
            LOCALITY_INDEX: block.start + where_loc,
            LOCALITY_ID: ids[block][where_loc],
            PERIOD: periods[where_period],
            "period_index": where_period,
        }
        for name in variables:
            columns[name] = _block_column(part, name, chosen)
        columns[TARGET_COLUMN] = target[chosen]
        for name, values in (extra(part) if extra else {}).items():
            columns[name] = np.asarray(values, dtype=float).T[chosen]
        columns[WEIGHT_COLUMN] = np.where(negative[chosen], 0.0, 1.0)  # sampled negatives: weighted below
        frames.append(pd.DataFrame(columns))
        log.info(
            "training rows: block %d/%d (localities %d-%d): %d rows kept; peak memory %.2f GB",
            i + 1,
            len(blocks),
            block.start,
            block.stop - 1,
            len(where_loc),
            peak_memory_gb(),
        )
    panel = pd.concat(frames, ignore_index=True)
    del frames
    order = np.lexsort((panel[LOCALITY_INDEX].to_numpy(), panel["period_index"].to_numpy()))
    panel = panel.iloc[order].reset_index(drop=True)
    weight = negatives / kept_negatives if kept_negatives else 1.0
    weights = panel[WEIGHT_COLUMN].to_numpy()
    panel[WEIGHT_COLUMN] = np.where(weights == 0.0, weight, weights)
    done = replace(
        sampling, rows_kept=len(panel), negatives_kept=kept_negatives, negative_weight=float(weight)
    )
    log.info(
        "training panel: %d rows kept of %d labelled (negative rate %.4g); peak memory %.2f GB",
        len(panel),
        sampling.rows_labelled,
        sampling.rate,
        peak_memory_gb(),
    )
    return panel, done
