"""Every ``sauti`` command answers ``--help`` with its own description."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

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
