"""Errors that stop an ingest: one clear line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

from sauti.errors import SautiError


class IngestError(SautiError):
    """A fatal problem with an input file (missing, unreadable, no required column…)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
