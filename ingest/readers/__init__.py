"""Incident readers by format name: ``INCIDENT_READERS`` maps a name to its spec.

Importing this package registers every built-in reader: ``acled``, ``ucdp-ged`` and ``csv`` (any
incident log through a column-mapping file). ``--format auto`` tries them in this order.
"""

from sauti.ingest.readers import acled, mapped, ucdp_ged  # noqa: F401  (registers)
from sauti.ingest.readers.registry import INCIDENT_READERS, Chunk, IncidentReader, ReaderOptions

__all__ = ["INCIDENT_READERS", "Chunk", "IncidentReader", "ReaderOptions"]
