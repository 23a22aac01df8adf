-- PostgreSQL only: localities and located incidents as PostGIS geometries (EPSG:4326, GiST-indexed),
-- generated from the WKB / longitude-latitude columns, and the views GIS desktop
-- tools open: sauti_risk_latest (one polygon per locality of the current model's unit) and
-- sauti_alert_counts (alerts per locality: counts only, never text, reporter or coordinates).
CREATE EXTENSION IF NOT EXISTS postgis;

-- generated columns (computed by the server from the stored WKB / coordinates, on every write)
ALTER TABLE localities ADD COLUMN IF NOT EXISTS geom geometry(MultiPolygon, 4326)
    GENERATED ALWAYS AS (ST_Multi(ST_CollectionExtract(ST_SetSRID(ST_GeomFromWKB(geometry), 4326), 3))) STORED;
CREATE INDEX IF NOT EXISTS localities_geom_gist ON localities USING GIST (geom);

ALTER TABLE incidents ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326)
    GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)) STORED;
CREATE INDEX IF NOT EXISTS incidents_geom_gist ON incidents USING GIST (geom);

CREATE OR REPLACE VIEW sauti_alert_counts AS
SELECT locality_id,
       COUNT(*) AS alerts,
       SUM(CASE WHEN verification = 'verified' THEN 1 ELSE 0 END) AS verified,
       SUM(CASE WHEN verification = 'false_alarm' THEN 1 ELSE 0 END) AS false_alarms,
       MAX(substr(received_at, 1, 10)) AS latest_day
FROM alerts WHERE locality_id IS NOT NULL GROUP BY locality_id;

CREATE OR REPLACE VIEW sauti_risk_latest AS
SELECT l.locality_id,
       l.name,
       l.level,
       CAST(r.period AS date) AS period,
       r.probability,
       r.rank,
       r.change,
       (SELECT string_agg(COALESCE(f.label, d.value ->> 'feature'), '; ' ORDER BY d.ordinality)
          FROM jsonb_array_elements(CAST(r.drivers AS jsonb)) WITH ORDINALITY AS d(value, ordinality)
          LEFT JOIN feature_labels f ON f.feature = d.value ->> 'feature' AND f.freq = r.freq) AS drivers,
       m.version AS model_name,
       l.geom
FROM models m
JOIN risk_scores r ON r.freq = m.freq AND r.unit = m.unit
     AND r.period = (SELECT MAX(period) FROM risk_scores s WHERE s.freq = m.freq AND s.unit = m.unit)
JOIN localities l ON l.locality_id = r.locality_id
WHERE m.is_current = 1
  AND m.created_at = (SELECT MAX(created_at) FROM models c WHERE c.is_current = 1);
