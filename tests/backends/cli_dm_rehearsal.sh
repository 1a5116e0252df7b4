#!/usr/bin/env bash
# The rehearsal of docs/live.md §4 through the command line: `autostem dm-server --fake` on
# loopback and `autostem run --backend dm` against it; the results file must hold the budget of
# points with read-back positions. Bounded: the server exits after 120 s at the latest, every
# command runs under `timeout`, and the server is killed (by its pid) on the way out.
# usage: cli_dm_rehearsal.sh AUTOSTEM_EXECUTABLE
set -euo pipefail
autostem="$1"
work="$(mktemp -d /tmp/autostem-dm-cli-XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/key"
timeout 150 "$autostem" dm-server --fake --phantom nanowire --phantom-shape 32x32 --seed 2 \
  --port 0 --port-file "$work/port" --key-file "$work/key" --lifetime-s 120 \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
timeout 120 "$autostem" run --backend dm --port "$(cat "$work/port")" --key-file "$work/key" \
  --strategy random --seed 2 --exposure 0.05 --dwell 1e-5 --budget-points 15 \
  --out "$work/live.h5" --json > "$work/summary.json"
cat "$work/summary.json"
grep -q '"measurements":15' "$work/summary.json"
grep -q '"stop_reason":"budget_points"' "$work/summary.json"
# A wrong key is refused with a clear message and a non-zero exit.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/wrong"
if timeout 60 "$autostem" run --backend dm --port "$(cat "$work/port")" --key-file "$work/wrong" \
     --strategy random --budget-points 1 --out "$work/wrong.h5" 2> "$work/wrong.err"; then
  echo "a wrong key was accepted"; exit 1
fi
grep -q "authentication" "$work/wrong.err" || { cat "$work/wrong.err"; exit 1; }
echo "cli rehearsal: ok"
