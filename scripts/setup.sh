#!/usr/bin/env bash
# The newcomer's first command: install everything, then run the main job on the bundled sample
# (ingest → features → train → score → heatmap → patrol plan) into ./workspace. No server needed:
# the store is an embedded SQLite file. Serve it afterwards with `.venv/bin/sauti serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/sauti --workspace "${SAUTI_WORKSPACE:-workspace}" demo --no-serve
