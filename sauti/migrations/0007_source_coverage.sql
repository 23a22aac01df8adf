-- The period each ingested source covers ("complete through"): the latest event date of the file,
-- or a later date the user declared (`sauti ingest incidents FILE --complete-through DATE`: a quiet
-- log is current). The forecast period follows the incident sources' coverage, never the alerts'.
CREATE TABLE IF NOT EXISTS source_coverage (
    run_id            INTEGER PRIMARY KEY REFERENCES ingest_runs(run_id),
    kind              TEXT NOT NULL,              -- incidents | alerts
    complete_through  TEXT NOT NULL,              -- ISO date
    declared          INTEGER NOT NULL DEFAULT 0  -- 1 when given by the user, 0 when the latest event date
);
CREATE INDEX IF NOT EXISTS source_coverage_kind ON source_coverage(kind, complete_through);

-- Runs stored before: what their rows say (the latest date among the rows each run added).
INSERT OR IGNORE INTO source_coverage (run_id, kind, complete_through, declared)
SELECT run_id, 'incidents', substr(MAX(occurred_on), 1, 10), 0 FROM incidents GROUP BY run_id;
