-- Keyed fingerprints of reporter name tokens (HMAC with the workspace secret, never the names):
-- a name once given with any alert is scrubbed from every later alert text that mentions it.
CREATE TABLE reporter_name_tokens (
    token_ref   TEXT PRIMARY KEY,
    run_id      INTEGER REFERENCES ingest_runs(run_id)
);
