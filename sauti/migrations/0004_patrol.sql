-- Patrol bases a force planner declared (sauti patrol --save-bases); the API plans from them.
CREATE TABLE IF NOT EXISTS patrol_bases (
    name        TEXT PRIMARY KEY,
    longitude   REAL NOT NULL,            -- EPSG:4326
    latitude    REAL NOT NULL,
    patrols     INTEGER,                  -- patrols per period; NULL = must be given when planning
    range_km    REAL,                     -- NULL = must be given when planning
    source      TEXT,                     -- file the bases came from
    updated_at  TEXT NOT NULL
);
