"""Sauti: geospatial early-warning analytics for intercommunal violence.

Data flows one way: ``sauti.ingest`` → ``sauti.features`` → ``sauti.models`` → ``sauti.api``;
``sauti.cli`` and the notebooks sit on top and call the same public functions.

This folder holds the two ends of that flow. The **foundation**, which every layer may import and
which imports no layer: ``store`` (workspace, connections, migrations), ``settings``,
``constants``, ``errors``, ``privacy``, ``cache``, ``geo``, ``jsonable``,
``csv_safe``, ``checksum``, ``figures``, ``basemap``, ``progress``. The **edge**, which may import
everything: ``cli/`` (the ``sauti`` command, and ``cli/pipeline.py``, the end-to-end job the
command and the notebooks share). ``tests/test_layering.py`` holds the line between them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sauti")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
