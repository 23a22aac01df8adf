"""The OpenAPI document tells the truth: a bounded schemathesis run against a live server, per role.

Every operation is exercised with generated valid and invalid inputs (examples, coverage, fuzzing
and stateful phases) under each role's key; the run must find no server error (5xx), no status
code the document does not list, no undocumented content type and no reply that breaks its
documented schema. Bounded: at most 5 examples per operation and 15 s per role. It runs on its own
server over a copy of the demo workspace, because it posts (and may revoke) freely.

A second run serves the demo workspace without saved patrol bases and exercises the patrol
operations: there the stored-bases plan is a 503 ("not ready", documented on every operation), which
the run accepts; a 500 it does not (the server log must hold no error id).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import ROLES, add_users, copy_workspace, drop_patrol_bases, start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SECONDS_PER_ROLE = 15


@pytest.fixture(scope="module")
def fuzzed(server, tmp_path_factory):
    workspace = copy_workspace(server.workspace, tmp_path_factory.mktemp("schema") / "ws")
    live = start_server(workspace, add_users(workspace, prefix="fuzz"), via_cli=True)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def fuzzed_no_bases(server, tmp_path_factory):
    workspace = copy_workspace(server.workspace, tmp_path_factory.mktemp("schema-nb") / "ws")
    live = start_server(drop_patrol_bases(workspace), add_users(workspace, prefix="fuzz"), via_cli=True)
    yield live
    live.stop()


def _st() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    return [found]


def _run(live, role: str, cwd: Path, *extra: str, config: Path | None = None, operations: int = 20) -> str:
    settings = ["--config-file", str(config)] if config else []
    done = subprocess.run(
        [*_st(), *settings, "run", f"{live.url}/api/v1/openapi.json", *extra,
         "--header", f"Authorization: Bearer {live.keys[role]}",
         "--checks", CHECKS, "--max-examples", "5", "--max-time", str(SECONDS_PER_ROLE),
         "--workers", "1", "--request-timeout", "30", "--seed", "12", "--no-color"],
        capture_output=True, text=True, timeout=SECONDS_PER_ROLE + 90, cwd=cwd,  # its cache goes there
    )  # fmt: skip
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    assert "Failures:" not in done.stdout, summary
    tested = int(summary.split("Tested: ")[1].split()[0])
    assert tested >= operations, summary  # every documented operation (of those chosen) was reached
    assert re.search(r"error [0-9a-f]{12} on ", live.log.read_text()) is None  # no 500 logged
    return done.stdout


@pytest.mark.parametrize("role", ROLES)
def test_openapi_document_matches_every_reply(fuzzed, role, tmp_path):
    _run(fuzzed, role, tmp_path)


@pytest.mark.parametrize("role", ["planner", "analyst"])
def test_a_workspace_without_bases_answers_503_not_500(fuzzed_no_bases, role, tmp_path):
    config = tmp_path / "schemathesis.toml"  # 503 (not ready) is an answer here; 500 is not
    config.write_text('[checks.not_a_server_error]\nexpected-statuses = ["2xx", "3xx", "4xx", "503"]\n')
    _run(fuzzed_no_bases, role, tmp_path, "--include-path-regex", "/patrols/", config=config, operations=2)
    with fuzzed_no_bases.client(role) as client:
        reply = client.get("/api/v1/patrols/priorities")
    assert reply.status_code == 503, reply.text
    assert "sauti patrol" in reply.json()["detail"]
