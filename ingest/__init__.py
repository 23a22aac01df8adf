"""Ingest: files and service submissions → the store's canonical tables, every row stored or rejected.

The first layer (``ingest → features → models → api``). Its entry points, one module a source:
``boundaries.ingest_boundaries`` (any file pyogrio reads → localities), ``incidents.ingest_incidents``
(ACLED, UCDP GED or a mapped CSV, through the reader registry in ``readers/``) and the alert
cluster ``alerts/`` (``ingest_alerts`` for files, ``submit_alerts`` for the service) and the
response cluster ``responses/`` (what was done about alerts: ``ingest_responses``,
``submit_responses``). Every run goes
through ``runs`` (all or nothing) and ``bookkeeping`` (the per-file report and the rejects file
naming file, row, field and reason); ``gazetteer`` resolves places to localities and ``currency``
says how recent each source is. Nothing here imports a higher layer. See docs/ingest.md.
"""
