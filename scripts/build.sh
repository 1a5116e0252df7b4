#!/usr/bin/env bash
# Configures and builds autostem in build/ (Release with debug info), using every core.
# Usage: scripts/build.sh [--target T]... [CMAKE_ARGS...]: with --target only those targets
# (and what they need) are built — the quickstart builds only the `autostem` tool; without, all
# (tests, benchmarks, Python module).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  # Rebuilds after a branch switch or in a second checkout reuse earlier compilations.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
targets=()
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "${cmake_args[@]}"
cmake --build build -j"$jobs" "${targets[@]}"
