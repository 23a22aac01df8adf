#!/usr/bin/env bash
# The whole test suite: installs what it needs (venv, GDAL tools, Chromium), lints, starts a
# throw-away PostgreSQL + PostGIS cluster for the store tests on PostgreSQL (stopped at the end,
# whatever happens), runs pytest. Set SAUTI_TEST_POSTGRES_URL to use a server of your own instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ -z "${SAUTI_TEST_POSTGRES_URL:-}" ]; then
    eval "$(bash scripts/postgres.sh start)"
    trap 'bash scripts/postgres.sh stop "$SAUTI_PG_DIR"' EXIT
    export SAUTI_TEST_POSTGRES_URL="$SAUTI_PG_URL"
fi
.venv/bin/python -m pytest "$@"
