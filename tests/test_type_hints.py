"""Type hints on public functions: at least 90% in every package (scripts/type_hints.py measures it)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("type_hints", ROOT / "scripts" / "type_hints.py")
type_hints = sys.modules["type_hints"] = importlib.util.module_from_spec(_spec)  # dataclasses need it there
_spec.loader.exec_module(type_hints)

COVERAGE = type_hints.measure()


@pytest.mark.parametrize("package", sorted(COVERAGE))
def test_every_package_hints_nine_in_ten_public_functions(package: str) -> None:
    coverage = COVERAGE[package]
    assert coverage.total > 0, f"{package}: no public function found (folder moved?)"
    assert coverage.percent >= 90, f"{package}: {coverage.percent:.1f}% hinted; missing: {coverage.missing}"


SOURCE = """
def full(workspace: "Workspace", n: int = 1, *rest: str, **named: int) -> int: ...
def no_return(workspace: "Workspace"): ...
def bare_param(workspace) -> None: ...
def _private(x): ...
class Model:
    def __init__(self, alpha: float = 1.0): ...
    def fit(self, X, y=None): ...
    @classmethod
    def make(cls) -> "Model": ...
    def _helper(self): ...
class _Hidden:
    def shown(self): ...
def outer() -> None:
    def inner(x): ...
"""


def test_the_measure_counts_public_functions_and_what_a_hint_is() -> None:
    found = {name: type_hints.is_hinted(node, method=method) for name, node, method in
             type_hints.public_functions(SOURCE)}  # fmt: skip
    # private names, dunders, methods of a private class and nested functions are not counted
    assert found == {
        "full": True,
        "no_return": False,
        "bare_param": False,
        "Model.fit": False,
        "Model.make": True,
        "outer": True,  # its nested ``inner`` is not counted
    }


def test_init_needs_no_return_hint() -> None:
    node = ast.parse("def __init__(self, alpha: float = 1.0): ...").body[0]
    assert type_hints.is_hinted(node, method=True)
    assert not type_hints.is_hinted(ast.parse("def f(self): ...").body[0], method=False)
