-- Risk models: trained model records (artifacts are skops files in <workspace>/models/) and
-- per-locality risk scores for the latest periods.
CREATE TABLE models (
    version         TEXT PRIMARY KEY,            -- e.g. m20261124T081500Z-1a2b3c4d
    created_at      TEXT NOT NULL,               -- ISO 8601 UTC
    freq            TEXT NOT NULL,               -- M | W
    unit            TEXT NOT NULL,               -- admin2 | admin3 | grid:10km ...
    horizon         INTEGER NOT NULL,            -- periods ahead the target covers
    estimator       TEXT NOT NULL,               -- chosen candidate (e.g. logistic_C0.1)
    artifact        TEXT NOT NULL,               -- path of the .skops file, relative to the workspace
    artifact_sha256 TEXT NOT NULL,               -- checked before loading
    data_snapshot   TEXT NOT NULL,               -- hash of the cube provenance
    params          TEXT NOT NULL DEFAULT '{}',  -- JSON
    features        TEXT NOT NULL DEFAULT '[]',  -- JSON list of feature names, in order
    training        TEXT NOT NULL DEFAULT '{}',  -- JSON: rows, positives, periods, in-sample metrics
    is_current      INTEGER NOT NULL DEFAULT 0   -- 1 for the model `score` uses (per freq/unit)
);
CREATE INDEX models_current ON models(freq, unit, is_current);

CREATE TABLE risk_scores (
    locality_id     TEXT NOT NULL,
    period          TEXT NOT NULL,               -- ISO date of the period start
    freq            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    probability     REAL NOT NULL,
    rank            INTEGER NOT NULL,            -- 1 = highest risk in that period
    change          REAL,                        -- probability minus the previous period's
    drivers         TEXT NOT NULL DEFAULT '[]',  -- JSON list of {feature, contribution, value}
    model_version   TEXT NOT NULL REFERENCES models(version),
    data_snapshot   TEXT NOT NULL,
    scored_at       TEXT NOT NULL,
    PRIMARY KEY (locality_id, period, freq, unit)
);
CREATE INDEX risk_scores_period ON risk_scores(freq, unit, period);
