-- The service's risk refreshes after new alerts (the API's table: api/services/refresh_claims.py).
-- With several worker processes on one store, a row is a claim: a request is covered by a refresh
-- claimed after its alerts were stored that finished ok, so a refresh runs once per data change and
-- the other workers skip it and serve its result.
CREATE TABLE IF NOT EXISTS refresh_runs (
    refresh_id   INTEGER PRIMARY KEY,         -- 1, 2, … given in the claim (claims take turns)
    data_stamp   TEXT NOT NULL,               -- the store's data stamp the refresh started from
    worker       TEXT NOT NULL,               -- host:pid of the process that ran it
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL                -- running | ok | failed
);
