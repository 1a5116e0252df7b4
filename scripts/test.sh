#!/usr/bin/env bash
# The test command: builds (if needed) and runs every test with ctest, benchmarks as smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh  # what the tests need beyond the quickstart
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 900
