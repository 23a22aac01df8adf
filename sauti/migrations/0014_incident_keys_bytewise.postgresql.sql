-- PostgreSQL only: incidents' key (event_id) and date (occurred_on) compare byte by byte
-- (COLLATE "C"), as SQLite and Python compare text. Every incident written checks its key in the
-- primary-key index and adds its date to incidents_occurred_on; with the database's default
-- collation each comparison there goes through the C library's strcoll. Equality is unchanged (a
-- duplicate is still exactly the same key), ISO dates sort the same either way, and ORDER BY
-- event_id now gives SQLite's order. No rewrite of the rows: only the two indexes are rebuilt.
ALTER TABLE incidents
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN occurred_on TYPE text COLLATE "C";
