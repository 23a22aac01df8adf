"""Model artifacts and records: skops files in ``<workspace>/models`` and the ``models`` table.

Artifacts are written with skops (never pickle). Loading checks the file's SHA-256 against the
record, then refuses any type outside :data:`TRUSTED_TYPES`, so a swapped or crafted file cannot
run code.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sauti.checksum import sha256_file
from sauti.errors import NotReadyError, SautiError
from sauti.store import utc_now

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.base import BaseEstimator

    from sauti.store import Workspace

#: Types (beyond skops' defaults) an artifact may contain. Nothing else is ever loaded.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sauti.models.ensemble.SautiClassifier",
    "sauti.models.estimators.ColumnSubset",
    "sauti.models.estimators.PlattScoreClassifier",
    "sauti.models.estimators.TemporalCalibratedClassifier",
    "sauti.models.estimators.signed_log1p",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_JSON_FIELDS = ("params", "features", "training")
#: Bump when a Sauti estimator's learned attributes change: artifacts of another format are refused
#: with a "retrain" message instead of failing somewhere inside ``predict_proba``.
ARTIFACT_FORMAT = 3


def runtime() -> dict[str, Any]:
    """What an artifact depends on beyond its own bytes: Sauti's artifact format and scikit-learn."""
    import sklearn

    return {"artifact_format": ARTIFACT_FORMAT, "scikit_learn": sklearn.__version__}


def _record(row) -> dict[str, Any]:
    record = dict(row)
    for key in _JSON_FIELDS:
        record[key] = json.loads(record[key])
    record["is_current"] = bool(record["is_current"])
    return record


def save_model(
    workspace: Workspace,
    model: BaseEstimator,
    *,
    freq: str,
    unit: str,
    horizon: int,
    estimator: str,
    features: list[str],
    data_snapshot: str,
    params: dict,
    training: dict,
) -> dict[str, Any]:
    """Write the artifact, record it and make it the current model for ``freq``/``unit``."""
    import skops.io as sio

    created = utc_now()
    stamp = created.replace("-", "").replace(":", "")
    folder = workspace.folder("models")
    tmp = folder / f".{stamp}.skops.tmp"
    sio.dump(model, tmp)
    sha = sha256_file(tmp)
    version = f"m{stamp}-{sha[:8]}"
    path = folder / f"{version}.skops"
    tmp.replace(path)
    row = {
        "version": version,
        "created_at": created,
        "freq": freq,
        "unit": unit,
        "horizon": int(horizon),
        "estimator": estimator,
        "artifact": str(path.relative_to(workspace.root)),
        "artifact_sha256": sha,
        "data_snapshot": data_snapshot,
        "params": json.dumps(params, sort_keys=True, default=str),
        "features": json.dumps(list(features)),
        "training": json.dumps({**training, "runtime": runtime()}, sort_keys=True, default=str),
        "is_current": 1,
    }
    with workspace.session() as con, workspace.transaction(con):
        con.execute("UPDATE models SET is_current = 0 WHERE freq = ? AND unit = ?", (freq, unit))
        con.execute(
            f"INSERT INTO models ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            tuple(row.values()),
        )
    return _record(row)


def current_model(workspace: Workspace, freq: str | None = None, unit: str | None = None) -> dict | None:
    """The record of the current model (the latest trained one when freq/unit are not given)."""
    query = "SELECT * FROM models WHERE is_current = 1"
    params: list[Any] = []
    if freq is not None:
        query += " AND freq = ?"
        params.append(freq)
    if unit is not None:
        query += " AND unit = ?"
        params.append(unit)
    with workspace.session() as con:
        row = con.execute(query + " ORDER BY created_at DESC, rowid DESC LIMIT 1", params).fetchone()
    return _record(row) if row is not None else None


def model_name(workspace: Workspace, version: str | None) -> str | None:
    """The model name (``sauti``, a baseline or ``module:factory``) of a recorded version."""
    if version is None:
        return None
    with workspace.session() as con:
        row = con.execute("SELECT estimator FROM models WHERE version = ?", (version,)).fetchone()
    return None if row is None else str(row[0])


def list_models(workspace: Workspace) -> list[dict[str, Any]]:
    """Every model record, newest first."""
    with workspace.session() as con:
        rows = con.execute("SELECT * FROM models ORDER BY created_at DESC, rowid DESC").fetchall()
    return [_record(r) for r in rows]


def load_model(workspace: Workspace, record: dict[str, Any]) -> BaseEstimator:
    """Load a recorded artifact safely: checksum first, then skops with an explicit trusted list."""
    import skops.io as sio

    path = workspace.root / record["artifact"]
    if not path.exists():
        raise NotReadyError(f"model artifact {path} is missing: run `sauti train` again")
    if sha256_file(path) != record["artifact_sha256"]:
        raise SautiError(
            f"model artifact {path} does not match its recorded checksum (it was changed or replaced); "
            "refusing to load it: run `sauti train` again"
        )
    saved, current = record.get("training", {}).get("runtime"), runtime()
    if saved != current:
        raise NotReadyError(
            f"model {record['version']} was saved by {saved or 'an older Sauti'} and this installation is "
            f"{current}: run `sauti train` again"
        )
    untrusted = set(sio.get_untrusted_types(file=path))
    # a researcher's model (--model module:factory) may hold the types its trainer trusted explicitly
    trusted = set(TRUSTED_TYPES) | set(record.get("params", {}).get("trusted_types") or [])
    unknown = sorted(untrusted - trusted)
    if unknown:
        raise SautiError(f"model artifact {path} holds types Sauti does not trust: {', '.join(unknown)}")
    return sio.load(path, trusted=sorted(untrusted))
