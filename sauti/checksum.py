"""SHA-256 of files: how ingest runs, cube provenance and model artifacts identify their inputs."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in ``chunk``-sized blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_file_unchanged(path: str | os.PathLike[str]) -> str:
    """:func:`sha256_file`, read again only when the file's size or modification time changed.

    For inputs read on every rebuild (a population raster can be hundreds of MB): the hash is kept
    per ``(path, size, mtime_ns)``, so a file replaced in place is hashed anew.
    """
    stat = os.stat(path)
    return _sha256_of(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)
