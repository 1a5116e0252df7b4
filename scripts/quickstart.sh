#!/usr/bin/env bash
# The newcomer's first command: install the Debian packages, build, and run the main job — a
# simulated edge-free baseline experiment on the built-in nanowire phantom (grid of low-loss
# spectra, remote timing profile of seed 002) — then print the summary and the results file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
mkdir -p out
./build/apps/autostem run --phantom nanowire --strategy random --budget-points 500 \
  --profile rsi2024-remote --seed 1 --out out/quickstart.h5
./build/apps/autostem estimate --profile rsi2024-remote --strategy grid --shape 128x128
echo "results: out/quickstart.h5 (layout: docs/results-format.md)"
