-- Secondary indexes a bulk load dropped, to build them once, sorted, at its end (an index kept
-- during a load of random dates costs more than the rows themselves). A batched SQLite ingest
-- commits batches while the index is away, so the drop is recorded here in the same transaction
-- as the DROP, with the process doing the load: the load re-creates its indexes and deletes
-- these rows before its last COMMIT (or after an error), and if that process is gone (killed
-- part-way) the next opening of the store re-creates them (sauti.store.restore_abandoned_indexes).
CREATE TABLE IF NOT EXISTS deferred_indexes (
    name        TEXT PRIMARY KEY,
    table_name  TEXT NOT NULL,
    create_sql  TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    run_id      INTEGER
);
