"""Type-hint coverage of public functions, per package (issue 21: at least 90% in every package).

A public function is a module-level ``def`` or a method of a public class whose name does not start
with ``_``, in a module whose name does not either; nested functions (typer commands registered
inside ``register``, closures) do not count. It is *hinted* when its return and every parameter but
``self``/``cls`` carry an annotation. Reads the source with :mod:`ast`; imports nothing.

Usage::

    .venv/bin/python scripts/type_hints.py            # one line a package
    .venv/bin/python scripts/type_hints.py --missing  # and the functions without full hints
    .venv/bin/python scripts/type_hints.py --min 90   # exit 1 when a package is below 90%
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: package -> (folder, sub-folders that belong to another package)
PACKAGES = {
    "sauti": ("sauti", ("cli", "migrations")),
    "sauti.cli": ("sauti/cli", ()),
    "sauti.ingest": ("ingest", ()),
    "sauti.features": ("features", ()),
    "sauti.models": ("models", ()),
    "sauti.api": ("api", ()),
}


@dataclass
class Coverage:
    """Public functions of one package: how many, how many fully hinted, and which are not."""

    total: int = 0
    hinted: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.hinted / self.total if self.total else 100.0


def is_hinted(node: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> bool:
    """Whether the return and every parameter (``self``/``cls`` of a method excepted) are annotated."""
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if method and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    returns_needed = node.name != "__init__"
    return all(p.annotation is not None for p in params) and (node.returns is not None or not returns_needed)


def public_functions(source: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """``(qualified name, node, is_method)`` of every public function of a module's source."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.parse(source).body:
        if isinstance(node, functions) and not node.name.startswith("_"):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, functions) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item, True


def package_files(folder: str, skip: tuple[str, ...]) -> Iterator[Path]:
    base = ROOT / folder
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base)
        if rel.parts[0] in skip or (path.stem.startswith("_") and path.stem != "__init__"):
            continue
        yield path


def measure() -> dict[str, Coverage]:
    """Coverage of every package of :data:`PACKAGES`."""
    out = {}
    for package, (folder, skip) in PACKAGES.items():
        coverage = Coverage()
        for path in package_files(folder, skip):
            for name, node, method in public_functions(path.read_text(encoding="utf-8")):
                coverage.total += 1
                if is_hinted(node, method=method):
                    coverage.hinted += 1
                else:
                    coverage.missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
        out[package] = coverage
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", action="store_true", help="list the functions without full hints")
    parser.add_argument("--min", type=float, default=None, help="exit 1 when a package is below this %%")
    args = parser.parse_args(argv)
    results = measure()
    for package, coverage in results.items():
        share = (
            f"{coverage.hinted:4d} / {coverage.total:4d} public functions hinted  {coverage.percent:5.1f}%"
        )
        print(f"{package:16} {share}")
        if args.missing:
            for where in coverage.missing:
                print(f"    {where}")
    below = [p for p, c in results.items() if args.min is not None and c.percent < args.min]
    if below:
        print(f"below {args.min:g}%: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
