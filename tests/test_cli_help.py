"""Every ``sauti`` command answers ``--help`` with its own description."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

import sauti.cli
from sauti.cli import app, main


def _commands(group, prefix: tuple[str, ...] = ()):
    yield prefix, group
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "sauti" for p, _ in COMMANDS])
def test_help(path: tuple[str, ...], command, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    summary = (command.help or command.short_help or "").strip().splitlines()[0][:30]
    assert summary, f"sauti {' '.join(path)} has no help text"
    assert summary.split()[0] in out
    assert "<bool>" not in out  # flags read as flags, without a placeholder


def test_contract_commands_exist() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"ingest boundaries", "ingest incidents", "status"} <= names


def test_console_script_reports_errors_in_one_line(tmp_path) -> None:
    missing = tmp_path / "nope.csv"
    result = subprocess.run(
        [sys.executable, "-m", "sauti.cli", "-w", str(tmp_path / "ws"), "ingest", "incidents", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: file not found"
    assert "Traceback" not in result.stderr


CLI_MODULES = sorted((Path(sauti.cli.__file__).parent).glob("*_cmd.py"))


def _is_command_call(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "command"


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_one_registration_style_commands_wired_in_register(path: Path) -> None:
    """Each CLI module defines its commands as top-level functions and wires them in ``register``
    (no ``@app.command`` decorators at module level, no commands nested in ``register``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    decorated = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(
            isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command" for d in node.decorator_list
        )
    ]
    assert decorated == [], f"{path.name}: commands registered by decorator: {decorated}"
    register = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"]
    assert len(register) == 1, f"{path.name} has no top-level register(app)"
    nested = [
        n.name for n in ast.walk(register[0]) if isinstance(n, ast.FunctionDef) and n is not register[0]
    ]
    assert nested == [], f"{path.name}: commands defined inside register: {nested}"


def test_ingest_lists_its_four_commands() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"ingest boundaries", "ingest incidents", "ingest alerts", "ingest places"} <= names


def test_an_unreadable_no_go_file_is_one_line_without_gdals_advice(tmp_path) -> None:
    from sauti.cli.patrol_cmd import _read_no_go
    from sauti.errors import SautiError

    path = tmp_path / "no_go.gpkg"
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(SautiError) as caught:
        _read_no_go(path)
    assert str(caught.value) == (
        f"{path}: cannot read no-go areas (not recognized as being in a supported file format)"
    )
