"""Sauti: geospatial early-warning analytics for intercommunal violence.

Data flows one way: ``sauti.ingest`` → ``sauti.features`` → ``sauti.models`` → ``sauti.api``;
``sauti.cli`` and the notebooks sit on top and call the same public functions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sauti")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
