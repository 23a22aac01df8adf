"""The registry of incident readers, by format name, with detection from column names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sauti.ingest.validate import RowChecker


@dataclass
class Chunk:
    """Canonical incident columns for a batch of rows plus the failures found while parsing."""

    frame: pd.DataFrame
    checker: RowChecker


@dataclass(frozen=True)
class ReaderOptions:
    """Options a reader may use; each reader documents which."""

    mapping: Path | None = None
    rules: Path | None = None
    chunksize: int = 200_000
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentReader:
    """A named incident format: how to recognise it and how to read it."""

    name: str
    description: str
    detect: Callable[[list[str]], bool]
    read: Callable[[Path, ReaderOptions], Iterator[Chunk]]
    needs_mapping: bool = False


INCIDENT_READERS: dict[str, IncidentReader] = {}


def register(reader: IncidentReader) -> IncidentReader:
    INCIDENT_READERS[reader.name] = reader
    return reader
