"""Data flows one way: ingest → features → models → api; cli sits on top of everything.

Parses every module's imports with ``ast`` (as VIEWS' views-pipeline-core does) — absolute and
relative ``import``/``from … import`` and ``importlib.import_module("…")`` with a literal name — and
fails when a lower layer imports a higher one.
"""

from __future__ import annotations

import ast
import re
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
    """``(layer, dotted module name, path)`` of every module of the package."""
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            yield package, _dotted(package, path.relative_to(ROOT / folder)), path
    for path in (ROOT / CORE_FOLDER).rglob("*.py"):
        rel = path.relative_to(ROOT / CORE_FOLDER)
        yield ("sauti.cli" if rel.parts[0] == "cli" else "sauti"), _dotted("sauti", rel), path


def _dotted(package: str, rel: Path) -> str:
    parts = [*rel.parent.parts, rel.stem] if rel.stem != "__init__" else list(rel.parent.parts)
    return ".".join([package, *parts])


def _resolve(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import …`` written in ``importer``."""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _imports(source: str, importer: str = "sauti", is_package: bool = False):
    """Every module ``source`` imports: ``import``, ``from x import y`` as ``x`` and ``x.y`` (relative
    ones resolved against ``importer``), and ``importlib.import_module("…")`` / ``__import__("…")``
    with a literal name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = (
                node.module if node.level == 0 else _resolve(node.module, node.level, importer, is_package)
            )
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)  # the names may be modules
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


MODULES = list(_modules())


@pytest.mark.parametrize(
    ("package", "module", "path"), MODULES, ids=[str(path.relative_to(ROOT)) for _, _, path in MODULES]
)
def test_no_upward_imports(package: str, module: str, path: Path) -> None:
    own = RANKS[package]
    source = path.read_text(encoding="utf-8")
    for imported in _imports(source, module, path.name == "__init__.py"):
        layer = _layer(imported)
        if layer == "external":
            continue
        assert RANKS[layer] <= own, f"{path.relative_to(ROOT)} ({package}) imports {imported} ({layer})"


@pytest.mark.parametrize(
    ("source", "importer", "is_package", "expected"),
    [
        ("from ..models import backtest", "sauti.features.cube", False, "sauti.models"),
        ("from ..api.app import create_app", "sauti.models.backtest_report", False, "sauti.api.app"),
        ("from . import cube_report", "sauti.features", True, "sauti.features.cube_report"),
        ("from .counts import incident_counts", "sauti.features.cube", False, "sauti.features.counts"),
        ("import importlib\nimportlib.import_module('sauti.api')", "sauti.ingest.x", False, "sauti.api"),
        ("from importlib import import_module\nimport_module('sauti.cli')", "sauti.x", False, "sauti.cli"),
        ("__import__('sauti.models')", "sauti.features.x", False, "sauti.models"),
    ],
    ids=["relative-parent", "relative-parent-module", "from-dot-import", "relative-sibling", "import-module",
         "bare-import-module", "dunder-import"],
)  # fmt: skip
def test_the_checker_sees_relative_and_dynamic_imports(source, importer, is_package, expected) -> None:
    assert expected in set(_imports(source, importer, is_package))


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


# --- each layer owns its tables (issue 18 item 9) -------------------------------------------------
#: the API's tables: only sauti.api reads or writes them (others go through its functions)
API_TABLES = ("api_users", "audit_log", "idempotency_keys", "refresh_runs")
_SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+(" + "|".join(API_TABLES) + r")\b", re.I)
INGEST_MODULES = [m for m in MODULES if m[0] == "sauti.ingest"]


@pytest.mark.parametrize(
    ("package", "module", "path"),
    INGEST_MODULES,
    ids=[str(path.relative_to(ROOT)) for _, _, path in INGEST_MODULES],
)
def test_ingest_does_not_import_the_api(package: str, module: str, path: Path) -> None:
    """Ingest never calls back into the service: the API opens the transaction and calls ingest
    with its connection (an Idempotency-Key reply or an audit row is written by the API)."""
    imported = set(_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"))
    assert not {name for name in imported if _layer(name) == "sauti.api"}, path


def test_only_the_api_reads_or_writes_its_tables() -> None:
    found = []
    for package, _module, path in MODULES:
        if package in ("sauti.api", "sauti.cli"):
            continue
        found += [(str(path.relative_to(ROOT)), m.group(1)) for m in _SQL_TABLE.finditer(path.read_text())]
    assert found == [], f"SQL on the API's tables outside sauti.api: {found}"


def test_the_table_check_sees_sql_on_an_api_table() -> None:
    assert _SQL_TABLE.search('con.execute("SELECT body FROM idempotency_keys WHERE key = ?")')
    assert _SQL_TABLE.search("INSERT INTO audit_log (at) VALUES (?)")
    assert not _SQL_TABLE.search("the audit_log table is the API's")


# --- clusters live in their own subpackages (issue 21) ---------------------------------------------
#: subpackage -> the file names that would put one of its modules back beside it as a prefixed file
CLUSTERS = {
    "sauti.ingest.alerts": ("ingest", ("alert*.py", "*_alerts.py")),
    "sauti.api.map": ("api", ("map*.py", "notebook.py")),
}


@pytest.mark.parametrize("package", sorted(CLUSTERS))
def test_the_checker_walks_the_cluster_subpackages(package: str) -> None:
    """Every module of the alert and map clusters is checked, in the layer of its parent package."""
    found = [(layer, module) for layer, module, _ in MODULES if module.startswith(package + ".")]
    assert len(found) >= 4, f"{package}: {found}"
    assert {layer for layer, _ in found} == {_layer(package)}


@pytest.mark.parametrize("package", sorted(CLUSTERS))
def test_no_cluster_module_beside_its_subpackage(package: str) -> None:
    """``ingest/alert_store.py`` or ``api/mapview.py`` would split a cluster again: its modules live in
    the subpackage (``ingest/alerts/store.py``, ``api/map/view.py``)."""
    folder, patterns = CLUSTERS[package]
    stray = sorted(path.name for pattern in patterns for path in (ROOT / folder).glob(pattern))
    assert not stray, f"{folder}/: {stray} belong in {package}"


def test_a_cluster_module_importing_a_higher_layer_is_seen() -> None:
    """An upward import written inside a cluster subpackage is attributed to its layer."""
    imported = set(_imports("from ...models import current_model", "sauti.ingest.alerts.read"))
    assert "sauti.models" in imported
    assert RANKS[_layer("sauti.models")] > RANKS[_layer("sauti.ingest.alerts.read")]


# --- modules of one subject: none over 600 lines (issue 21) ------------------------------------------
MAX_LINES = 600
SOURCE_FOLDERS = ("sauti", "ingest", "features", "models", "api", "tests", "scripts", "bench", "notebooks")


def test_no_module_is_over_600_lines() -> None:
    """A module past 600 lines holds more than one subject: split it (tests too, by subject)."""
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for folder in SOURCE_FOLDERS
        for path in (ROOT / folder).rglob("*.py")
    }
    assert len(sizes) > 100, "the source folders were not found"
    assert not {k: v for k, v in sizes.items() if v > MAX_LINES}


# --- library code never drives pyplot (issue 21) --------------------------------------------------
def _uses_pyplot(source: str) -> list[str]:
    """``import matplotlib.pyplot`` (any form) and ``matplotlib.use(...)`` calls in ``source``."""
    found = [m for m in _imports(source) if m == "matplotlib.pyplot" or m.startswith("matplotlib.pyplot.")]
    for node in ast.walk(ast.parse(source)):
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and func.attr == "use" and isinstance(func.value, ast.Name):
            found += ["matplotlib.use"] if func.value.id in ("matplotlib", "mpl") else []
    return found


@pytest.mark.parametrize(
    ("package", "module", "path"), MODULES, ids=[str(path.relative_to(ROOT)) for _, _, path in MODULES]
)
def test_library_code_never_touches_pyplot(package: str, module: str, path: Path) -> None:
    """Figures are ``matplotlib.figure.Figure`` objects, so a notebook's backend and figure list are
    never changed by the library (notebooks themselves may use pyplot)."""
    assert not _uses_pyplot(path.read_text(encoding="utf-8")), f"{path.relative_to(ROOT)} uses pyplot"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import matplotlib.pyplot as plt", True),
        ("from matplotlib import pyplot", True),
        ("import matplotlib\nmatplotlib.use('Agg')", True),
        ("from matplotlib.figure import Figure", False),
    ],
    ids=["import-pyplot", "from-matplotlib-import-pyplot", "matplotlib-use", "figure"],
)
def test_the_pyplot_check_sees_every_form(source: str, expected: bool) -> None:
    assert bool(_uses_pyplot(source)) is expected


# --- the patrol layer: models/patrol/ sits beside the backtest, never under it ---------------------
PATROL_PACKAGE = "sauti.models.patrol"


def _defines_backtest_result(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ClassDef) and node.name == "BacktestResult" for node in tree.body)


def _backtest_modules() -> list[Path]:
    """``models/backtest*.py`` and whichever models module defines ``BacktestResult``."""
    found = []
    for path in sorted((ROOT / "models").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if path.stem.startswith("backtest") or _defines_backtest_result(tree):
            found.append(path)
    return found


def _imported_modules(path: Path) -> set[str]:
    """Every module a ``models/`` file imports (:func:`_imports`)."""
    return set(_imports(path.read_text(encoding="utf-8"), f"sauti.models.{path.stem}"))


def test_backtest_modules_are_found() -> None:
    names = {path.name for path in _backtest_modules()}
    assert "backtest.py" in names


@pytest.mark.parametrize("path", _backtest_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_backtest_does_not_import_the_patrol_layer(path: Path) -> None:
    """The CLI or sauti.cli.pipeline combines a backtest with a patrol evaluation; the backtest stays
    free of patrols (issue #14)."""
    patrol = [
        module
        for module in _imported_modules(path)
        if module == PATROL_PACKAGE or module.startswith(PATROL_PACKAGE + ".")
    ]
    assert not patrol, f"{path.relative_to(ROOT)} imports the patrol layer: {sorted(set(patrol))}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sauti.models.patrol.evaluate import evaluate_patrol_plans", True),
        ("from sauti.models import patrol", True),
        ("from .patrol import plan_patrols", True),
        ("from . import patrol", True),
        ("import importlib\nimportlib.import_module('sauti.models.patrol.bases')", True),
        ("from sauti.models.backtest_report import write_report", False),
        ("from .metrics import METRICS", False),
    ],
    ids=["absolute", "from-package", "relative", "relative-package", "import-module", "report", "metrics"],
)
def test_patrol_import_detection(tmp_path: Path, source: str, expected: bool) -> None:
    """The check above sees every form of import (it would miss nothing a refactor might write)."""
    path = tmp_path / "backtest.py"
    path.write_text(source + "\n", encoding="utf-8")
    modules = _imported_modules(path)
    assert any(m == PATROL_PACKAGE or m.startswith(PATROL_PACKAGE + ".") for m in modules) is expected
