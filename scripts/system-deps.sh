#!/usr/bin/env bash
# System tools the tests and benchmarks need: GDAL's ogrinfo, headless Chromium, wrk.
# Installed from Debian's packages when missing; nothing is downloaded at run time by Sauti itself.
set -euo pipefail
need=()
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # bench/bench_api.py load generator
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1
    fi
fi
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
