-- The service: API users (keys stored as SHA-256 hashes only), the audit log, idempotency keys.
CREATE TABLE api_users (
    user_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,              -- reporter | planner | analyst | admin
    key_hash     TEXT NOT NULL UNIQUE,       -- sha256 hex of the API key; the key itself is never stored
    key_prefix   TEXT NOT NULL,              -- first characters of the key, to tell keys apart
    created_at   TEXT NOT NULL,
    disabled_at  TEXT
);

CREATE TABLE audit_log (
    audit_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    role         TEXT NOT NULL,
    action       TEXT NOT NULL,              -- e.g. read_alert_details, verify_alert
    resource     TEXT NOT NULL,              -- e.g. /api/v1/localities/CF11
    detail       TEXT NOT NULL DEFAULT '{}'  -- JSON: alert ids, counts
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE idempotency_keys (
    user_name     TEXT NOT NULL,
    key           TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    body_sha256   TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    response_body TEXT NOT NULL,             -- JSON sent back the first time
    created_at    TEXT NOT NULL,
    PRIMARY KEY (user_name, key)
);
