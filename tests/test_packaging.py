"""pyproject.toml ships what exists: every package-data pattern names at least one file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folder(package: str) -> Path:
    """The source folder of ``package`` under the ``package-dir`` mapping."""
    mapping = SETUPTOOLS["package-dir"]
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in mapping:
            return ROOT / mapping[prefix] / Path(*parts[cut:])
    return ROOT / Path(*parts)


PATTERNS = [(pkg, pattern) for pkg, globs in SETUPTOOLS["package-data"].items() for pattern in globs]


@pytest.mark.parametrize(("package", "pattern"), PATTERNS, ids=[f"{p}:{g}" for p, g in PATTERNS])
def test_package_data_pattern_matches_files(package: str, pattern: str) -> None:
    assert package in SETUPTOOLS["packages"], f"{package} is not a listed package"
    matches = [p for p in _folder(package).glob(pattern) if p.is_file()]
    assert matches, f"{package}: {pattern} matches no file in {_folder(package).relative_to(ROOT)}"
