-- PostgreSQL only: an O(1) data stamp, and the check that an incident's ingest run exists made once
-- per statement instead of once per row.

-- 1. The data stamp (sauti.db.data_stamp): every statement that writes localities, incidents,
-- alerts, alert verifications, risk scores or ingest runs draws the next value of a sequence
-- (never blocks, never rolled back) and holds, until its transaction ends, a shared advisory lock
-- that readers list in pg_locks. The stamp read is (the sequence's last value, the transactions
-- holding that lock): a write changes it when it is made and again when its transaction ends, so
-- a reader that built its view before a COMMIT never keeps that view past it. Two look-ups, no
-- table scan; writers never wait on each other for it.
CREATE SEQUENCE IF NOT EXISTS sauti_data_stamp;

CREATE OR REPLACE FUNCTION sauti_bump_data_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1396790612, 1);
    PERFORM nextval('sauti_data_stamp');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON localities
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();
CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();
CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();
CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alert_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();
CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON risk_scores
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();
CREATE OR REPLACE TRIGGER sauti_data_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ingest_runs
    FOR EACH STATEMENT EXECUTE FUNCTION sauti_bump_data_stamp();

-- 2. incidents.run_id → ingest_runs: the foreign key's per-row trigger (one look-up and row lock
-- per incident: about a third of a bulk load's server time) becomes one set-based check per
-- statement, with the same guarantees: an incident's run exists (locked FOR KEY SHARE till the
-- transaction ends, as the foreign key does) and a run holding incidents cannot be deleted. The
-- error is the foreign key's (SQLSTATE 23503, "FOREIGN KEY constraint failed").
ALTER TABLE incidents DROP CONSTRAINT IF EXISTS incidents_run_id_fkey;

CREATE OR REPLACE FUNCTION sauti_incident_runs_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked_runs bigint;
BEGIN
    SELECT COUNT(DISTINCT run_id) INTO wanted FROM new_incidents;
    SELECT COUNT(*) INTO locked_runs FROM (
        SELECT 1 FROM ingest_runs WHERE run_id IN (SELECT run_id FROM new_incidents) FOR KEY SHARE
    ) AS locked;
    IF locked_runs < wanted THEN
        RAISE EXCEPTION 'insert or update on table "incidents" violates foreign key constraint "incidents_run_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'incidents', CONSTRAINT = 'incidents_run_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER incidents_run_id_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_incidents FOR EACH STATEMENT EXECUTE FUNCTION sauti_incident_runs_exist();
CREATE OR REPLACE TRIGGER incidents_run_id_update AFTER UPDATE ON incidents
    REFERENCING NEW TABLE AS new_incidents FOR EACH STATEMENT EXECUTE FUNCTION sauti_incident_runs_exist();

CREATE OR REPLACE FUNCTION sauti_runs_keep_incidents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM incidents WHERE run_id IN (SELECT run_id FROM old_runs)) THEN
        RAISE EXCEPTION 'update or delete on table "ingest_runs" violates foreign key constraint "incidents_run_id_fkey" on table "incidents"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'incidents', CONSTRAINT = 'incidents_run_id_fkey';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER ingest_runs_keep_incidents AFTER DELETE ON ingest_runs
    REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION sauti_runs_keep_incidents();
