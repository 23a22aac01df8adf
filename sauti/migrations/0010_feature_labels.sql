-- Plain-word labels of the features a model uses (written when scores are stored), so a reader of
-- the store (the PostgreSQL view sauti_risk_latest, QGIS) shows drivers in words, not feature names.
CREATE TABLE IF NOT EXISTS feature_labels (
    feature  TEXT NOT NULL,
    freq     TEXT NOT NULL,               -- M | W: the same feature reads "months" or "weeks"
    label    TEXT NOT NULL,
    PRIMARY KEY (feature, freq)
);
