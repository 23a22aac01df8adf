"""Data flows one way: ingest → features → models → api; cli sits on top of everything.

Parses every module's imports with ``ast`` (as VIEWS' views-pipeline-core does) and fails when a
lower layer imports a higher one.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# layer rank: a module may import only modules of equal or lower rank
RANKS = {
    "sauti": 0,
    "sauti.ingest": 1,
    "sauti.features": 2,
    "sauti.models": 3,
    "sauti.api": 4,
    "sauti.pipeline": 5,
    "sauti.cli": 5,
}
FOLDERS = {
    "sauti.ingest": "ingest",
    "sauti.features": "features",
    "sauti.models": "models",
    "sauti.api": "api",
}
CORE_FOLDER = "sauti"


def _layer(module: str) -> str:
    for name in sorted(RANKS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return "external"


def _modules():
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            yield package, path
    for path in (ROOT / CORE_FOLDER).rglob("*.py"):
        rel = path.relative_to(ROOT / CORE_FOLDER)
        top = {"cli": "sauti.cli", "pipeline.py": "sauti.pipeline"}
        yield top.get(rel.parts[0], "sauti"), path


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize(("package", "path"), list(_modules()), ids=lambda v: str(v).split("/work/main/")[-1])
def test_no_upward_imports(package: str, path: Path) -> None:
    own = RANKS[package]
    for module in _imports(path):
        layer = _layer(module)
        if layer == "external":
            continue
        assert RANKS[layer] <= own, f"{path.relative_to(ROOT)} ({package}) imports {module} ({layer})"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A sub-folder with an __init__.py that pyproject does not list would be missing when installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    found = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found <= listed, f"packages missing from pyproject: {sorted(found - listed)}"


def test_no_top_level_api_or_models_module() -> None:
    import importlib.util

    assert importlib.util.find_spec("sauti.api") is not None
    for name in ("api", "models", "ingest", "features"):
        spec = importlib.util.find_spec(name)
        assert spec is None or "site-packages" not in str(spec.origin), f"{name} installed at top level"
