-- Every verification decision on an alert, with when it was made: features count an alert as
-- verified (or a false alarm) only from the period the decision was made in, so a backtest never
-- learns from a decision taken after its forecast date. alerts.verification stays the current state.
CREATE TABLE alert_verifications (
    alert_id      TEXT NOT NULL REFERENCES alerts(alert_id),
    verification  TEXT NOT NULL,              -- unverified | verified | false_alarm
    decided_at    TEXT NOT NULL,              -- UTC ISO 8601
    decided_by    TEXT,                       -- API user name; NULL for a state given in a file
    source        TEXT NOT NULL               -- file | api | library (set_verification called directly)
);
CREATE INDEX alert_verifications_alert ON alert_verifications(alert_id, decided_at);

-- Alerts stored before: their current state, dated when it was last changed through the service,
-- else when the alert was received (what a file without verified_at says).
INSERT INTO alert_verifications (alert_id, verification, decided_at, decided_by, source)
SELECT alert_id, verification,
       CASE WHEN updated_at > created_at THEN updated_at ELSE received_at END,
       NULL,
       CASE WHEN updated_at > created_at THEN 'api' ELSE 'file' END
FROM alerts WHERE verification <> 'unverified';
