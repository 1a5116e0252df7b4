#!/usr/bin/env bash
# Regenerates the tables of docs/validation.md and docs/performance.md from the commands behind
# them and diffs them against the committed ones. The logic is scripts/reproduce_docs.py; see its
# header for the markers, the tolerances and which tables are long.
#
#   bash scripts/reproduce-docs.sh                 # every regenerable table, report only
#   bash scripts/reproduce-docs.sh --quick         # skip the long tables (minutes instead of ~25 min)
#   bash scripts/reproduce-docs.sh --only workflows
#   bash scripts/reproduce-docs.sh --write --accuracy-only   # rewrite the accuracy tables in place
#   bash scripts/reproduce-docs.sh --list          # every table, its kind, runtime, or why not regenerated
#
# Exit status: 0 = no accuracy drift; 1 = an accuracy figure drifted (timings only warn);
# 2 = usage or a command failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Debian's python3 carries numpy (and python3-serpent for perf-serpent); prefer it over a pyenv shim.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
exec "$py" "$root/scripts/reproduce_docs.py" "$@"
