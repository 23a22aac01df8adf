"""Community alerts: files and service submissions → canonical, pseudonymised, geocoded alerts.

One cluster, one module a step: :mod:`~sauti.ingest.alerts.read` reads files
(:func:`ingest_alerts`), :mod:`~sauti.ingest.alerts.submit` takes records posted to the service,
:mod:`~sauti.ingest.alerts.prepare` turns a chunk of either into storable rows,
:mod:`~sauti.ingest.alerts.ids` says which ids are stored keyed (they carry a phone number),
:mod:`~sauti.ingest.alerts.fields` holds column names, vocabularies (``vocabulary.yaml``) and
times, :mod:`~sauti.ingest.alerts.store` the SQL, and :mod:`~sauti.ingest.alerts.synthetic` the
seeded, made-up alert stream of the sample. See docs/alerts.md.
"""

from sauti.ingest.alerts.fields import (
    FIELD_ALIASES,
    canonical_columns,
    normalize_category,
    normalize_verification,
    parse_received_at,
)
from sauti.ingest.alerts.read import feature_point, ingest_alerts
from sauti.ingest.alerts.store import record_verification, set_verification
from sauti.ingest.alerts.submit import (
    AlertOutcome,
    Submission,
    prepare_submission,
    store_submission,
    submit_alerts,
)

__all__ = [
    "AlertOutcome",
    "Submission",
    "FIELD_ALIASES",
    "canonical_columns",
    "feature_point",
    "ingest_alerts",
    "normalize_category",
    "normalize_verification",
    "parse_received_at",
    "prepare_submission",
    "record_verification",
    "set_verification",
    "store_submission",
    "submit_alerts",
]
