-- What the mission did about alerts and plans (issue 19): one row per response, its alerts in
-- response_alerts. Plain portable SQL (no SQLite-only functions). Times are UTC ISO 8601 text,
-- each NULL until known; notes and unit are scrubbed of phone numbers and reporter names.
CREATE TABLE IF NOT EXISTS responses (
    response_id    TEXT PRIMARY KEY,             -- the client's key (idempotent)
    action         TEXT NOT NULL CHECK (action IN ('patrol', 'engagement', 'message', 'other', 'none')),
    locality_id    TEXT,                         -- given, else the (first) linked alert's
    plan_entry     TEXT,                         -- optional patrol-plan entry (e.g. base:target)
    unit           TEXT,                         -- who went
    decided_at     TEXT,
    dispatched_at  TEXT,
    arrived_at     TEXT,
    completed_at   TEXT,
    outcome        TEXT NOT NULL DEFAULT 'unknown'
                   CHECK (outcome IN ('calm', 'tension', 'violence', 'unreachable', 'unknown')),
    casualties     INTEGER CHECK (casualties IS NULL OR casualties >= 0),
    notes          TEXT,
    recorded_by    TEXT,                         -- API user name; NULL for a file
    source         TEXT NOT NULL,                -- file | api | library
    synthetic      INTEGER NOT NULL DEFAULT 0,   -- 1: made-up sample data, never used for skill
    run_id         INTEGER REFERENCES ingest_runs(run_id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_locality ON responses(locality_id);
CREATE INDEX IF NOT EXISTS responses_dispatched ON responses(dispatched_at);

CREATE TABLE IF NOT EXISTS response_alerts (
    response_id    TEXT NOT NULL REFERENCES responses(response_id),
    alert_id       TEXT NOT NULL REFERENCES alerts(alert_id),
    PRIMARY KEY (response_id, alert_id)
);
CREATE INDEX IF NOT EXISTS response_alerts_alert ON response_alerts(alert_id);
