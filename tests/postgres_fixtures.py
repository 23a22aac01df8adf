"""PostgreSQL + PostGIS for the tests: the store tests run on SQLite and on a real server.

The server is ``--postgres URL`` (or ``$SAUTI_TEST_POSTGRES_URL``, which ``scripts/test.sh`` sets
after starting a throw-away cluster); without either, one is started for the session with
``scripts/postgres.sh`` and stopped at the end. With ``CI=true`` a server that cannot be reached
or started FAILS the tests that need it; elsewhere they are skipped with the reason. Each test
gets a database of its own, made from a template that already has PostGIS, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "sauti_test_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        default=os.environ.get("SAUTI_TEST_POSTGRES_URL"),
        help="PostgreSQL superuser URL for the store tests (default: start a throw-away cluster)",
    )


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests must run in CI: {message}")
    pytest.skip(f"no PostgreSQL: {message}")


def _admin(url: str, sql: str, database: str | None = None) -> None:
    import psycopg

    target = url.rsplit("/", 1)[0] + "/" + (database or url.rsplit("/", 1)[1])
    with psycopg.connect(target, autocommit=True, connect_timeout=10) as con:
        con.execute(sql)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """The URL of a PostgreSQL server with PostGIS, as a superuser (started here if none is given)."""
    url = request.config.getoption("--postgres")
    folder = None
    if not url:
        script = str(ROOT / "scripts" / "postgres.sh")
        done = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            _unavailable(f"scripts/postgres.sh start failed: {done.stderr.strip()[-1500:]}")
        values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        url, folder = values["SAUTI_PG_URL"], values["SAUTI_PG_DIR"]
    try:
        _admin(url, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        _admin(url, f"CREATE DATABASE {TEMPLATE}")
        _admin(url, "CREATE EXTENSION IF NOT EXISTS postgis", database=TEMPLATE)
    except Exception as exc:
        _unavailable(f"cannot use {url.split('@')[-1]}: {exc}")
    yield url
    if folder:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", folder], check=False)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database with PostGIS for one test (dropped afterwards)."""
    name = f"sauti_t_{uuid.uuid4().hex[:12]}"
    _admin(postgres_server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_session_url(postgres_server: str) -> str:
    """A new, empty database with PostGIS for the session (the served sample's store, shared by the
    API modules that run on both back-ends, as the SQLite server is)."""
    name = f"sauti_s_{uuid.uuid4().hex[:12]}"
    _admin(postgres_server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The store of a test that runs on both back-ends: ``None`` (the workspace's SQLite file) or a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")
