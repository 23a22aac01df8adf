-- Core store: ingest runs, localities, incidents, alerts, gazetteer.
CREATE TABLE ingest_runs (
    run_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,              -- boundaries | incidents | alerts | settlements
    path          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    format        TEXT,
    params        TEXT NOT NULL DEFAULT '{}', -- JSON
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,              -- ok | failed
    rows_read     INTEGER NOT NULL DEFAULT 0,
    accepted      INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    rejects_file  TEXT,
    message       TEXT
);

CREATE TABLE localities (
    locality_id   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    level         TEXT NOT NULL,
    parent_id     TEXT,
    parent_name   TEXT,
    admin0_id     TEXT, admin0_name TEXT,
    admin1_id     TEXT, admin1_name TEXT,
    admin2_id     TEXT, admin2_name TEXT,
    admin3_id     TEXT, admin3_name TEXT,
    alt_names     TEXT NOT NULL DEFAULT '[]', -- JSON list
    area_km2      REAL NOT NULL,
    geometry      BLOB NOT NULL,              -- WKB, EPSG:4326
    minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL,
    run_id        INTEGER NOT NULL REFERENCES ingest_runs(run_id)
);
CREATE INDEX localities_level ON localities(level);

CREATE TABLE incidents (
    event_id           TEXT PRIMARY KEY,
    source             TEXT NOT NULL,
    occurred_on        TEXT NOT NULL,         -- ISO date
    date_precision     TEXT NOT NULL,
    longitude          REAL,
    latitude           REAL,
    location_precision TEXT NOT NULL,
    category           TEXT NOT NULL,
    fatalities         INTEGER NOT NULL DEFAULT 0,
    actor1             TEXT,
    actor2             TEXT,
    admin1             TEXT,
    admin2             TEXT,
    place_name         TEXT,
    source_category    TEXT,
    text               TEXT,
    run_id             INTEGER NOT NULL REFERENCES ingest_runs(run_id)
);
CREATE INDEX incidents_occurred_on ON incidents(occurred_on);

CREATE TABLE alerts (
    alert_id            TEXT PRIMARY KEY,
    received_at         TEXT NOT NULL,        -- ISO 8601, UTC
    reporter_ref        TEXT,                 -- keyed pseudonym; the raw identifier is never stored
    channel             TEXT NOT NULL,
    text                TEXT,                 -- scrubbed of phone numbers and reporter names
    category            TEXT NOT NULL,
    longitude           REAL,                 -- exact; never leaves the store
    latitude            REAL,
    place_name          TEXT,
    locality_id         TEXT,
    locality_confidence REAL,
    location_source     TEXT NOT NULL,
    verification        TEXT NOT NULL DEFAULT 'unverified',
    severity            INTEGER,
    run_id              INTEGER REFERENCES ingest_runs(run_id),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX alerts_received_at ON alerts(received_at);
CREATE INDEX alerts_locality ON alerts(locality_id);

CREATE TABLE place_names (
    name          TEXT NOT NULL,
    locality_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,              -- admin | alt | settlement
    longitude     REAL,
    latitude      REAL,
    run_id        INTEGER REFERENCES ingest_runs(run_id),
    PRIMARY KEY (name, locality_id, kind)
);
