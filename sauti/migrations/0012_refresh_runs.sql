-- The service's risk refreshes after new alerts (the API's table): one row per data stamp refreshed.
-- With several worker processes on one store the insert is the claim: a refresh runs once per data
-- change, the other workers skip it and serve its result.
CREATE TABLE IF NOT EXISTS refresh_runs (
    refresh_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    data_stamp   TEXT NOT NULL UNIQUE,        -- the store's data stamp the refresh started from
    result_stamp TEXT,                        -- the stamp after its own writes (scores): nothing new there
    worker       TEXT NOT NULL,               -- host:pid of the process that ran it
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL                -- running | ok | failed
);
CREATE INDEX IF NOT EXISTS refresh_runs_result ON refresh_runs(result_stamp);
