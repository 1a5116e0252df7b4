#!/usr/bin/env bash
# The newcomer's first command: install the Debian packages, build, and run the main job — seed
# 002's edge workflow replayed on the built-in nanowire phantom (GaAs wire with an Au cap,
# low-loss EELS) in the simulated microscope with the paper's remote timing profile — then the
# time the full 128×128 grid would have taken, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
echo "quickstart: 1/4 installing the Debian packages (apt-get; skipped when all are present)"
bash scripts/install-deps.sh --quickstart
echo "quickstart: 2/4 building the autostem tool (tests and benchmarks build with scripts/test.sh)"
bash scripts/build.sh --target autostem
echo "quickstart: 3/4 the main job ($(( $(date +%s) - start )) s so far)"
mkdir -p out
./build/apps/autostem run --phantom nanowire --strategy edge --profile rsi2024-remote --seed 1 \
  --out out/quickstart_edge.h5
echo
./build/apps/autostem estimate --profile rsi2024-remote --strategy grid --shape 128x128
echo
# The Python package after the main job, so that the job's output does not wait for it (issue 21).
# `import autostem` from python3 / Jupyter without pip: a .pth file in the user's site-packages
# naming build/python (docs/python.md).
echo "quickstart: 4/4 building the Python package (import autostem; docs/python.md)"
bash scripts/build.sh --target autostem_py
bash scripts/install-python.sh build
echo
echo "quickstart: done in $(( $(date +%s) - start )) s"
echo "results: out/quickstart_edge.h5 (layout: docs/results-format.md; in Python:"
echo "  python3 -c 'import autostem; print(autostem.load_run(\"out/quickstart_edge.h5\"))', docs/python.md; compare strategies with"
echo "  build/apps/autostem bench --phantom nanowire --strategies grid,random,edge --seeds 10 --out out/bench)"
