"""Incident readers by format name: ``INCIDENT_READERS`` maps a name to its spec.

Importing this package registers every built-in reader.
"""

from sauti.ingest.readers import ucdp_ged  # noqa: F401  (registers)
from sauti.ingest.readers.registry import INCIDENT_READERS, Chunk, IncidentReader, ReaderOptions

__all__ = ["INCIDENT_READERS", "Chunk", "IncidentReader", "ReaderOptions"]
