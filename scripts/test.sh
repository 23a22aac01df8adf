#!/usr/bin/env bash
# The whole test suite: installs what it needs (venv, GDAL tools, Chromium), lints, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
