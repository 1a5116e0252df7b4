#!/usr/bin/env bash
# The rehearsal of docs/live.md §4 through the command line: `autostem dm-server --fake` on
# loopback and `autostem run --backend dm` against it; the results file must hold the budget of
# points with read-back positions; then a drift-corrected run rehearsed against a drifting fake
# must equal the simulated run. Bounded: the server exits after 120 s at the latest, every
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
kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Drift correction rehearsed (issue 16): a fresh fake server whose simulator drifts as
# `run --drift after-stage-move` does, `run --backend dm --drift-correction every:50` against it,
# and the same run in-process. The commanded positions and every re-scan of the drift reference
# (offset, measured and predicted drift, times, dose, the patch itself) must be bit-identical:
# the fake drives the same simulator in the same order, on the simulator's clock, and numbers
# cross the link exactly (docs/live-protocol.md, Rehearsal). --compute fixed:0: strategy compute
# measured in wall time would move the simulated clock differently in each run.
same=(--seed 3 --profile rsi2024-remote --strategy random --exposure 0.05 --dwell 1e-5 --mode point
      --compute fixed:0 --budget-points 120 --drift-correction every:50 --drift-patch 16)
timeout 150 "$autostem" dm-server --fake --phantom nanowire --phantom-shape 48x48 --seed 3 \
  --profile rsi2024-remote --drift after-stage-move \
  --port 0 --port-file "$work/port2" --key-file "$work/key" --lifetime-s 120 \
  > "$work/server2.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port2" ] && break; sleep 0.1; done
[ -s "$work/port2" ] || { echo "server did not start"; cat "$work/server2.log"; exit 1; }
timeout 120 "$autostem" run --backend dm --port "$(cat "$work/port2")" --key-file "$work/key" \
  "${same[@]}" --out "$work/drift-live.h5" --json > "$work/drift-live.json"
timeout 120 "$autostem" run --phantom nanowire --phantom-shape 48x48 --drift after-stage-move \
  "${same[@]}" --out "$work/drift-sim.h5" --json > "$work/drift-sim.json"
cat "$work/drift-live.json"
grep -q '"drift_rescans":2' "$work/drift-live.json"
grep -q '"drift_rescans":2' "$work/drift-sim.json"
for object in /measurements/commanded_position_px /measurements/position_px /drift; do
  h5diff -r "$work/drift-sim.h5" "$work/drift-live.h5" "$object" \
    || { echo "rehearsal differs from the simulated run in $object"; exit 1; }
done
kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Rehearsal tells the truth (issue 17): with 0.3 s of (fixed) strategy compute per decision and
# --overlap, `run --backend dm` against the fake reports the simulated experiment time and
# writes the simulated run's dose map (non-zero, equal within 1e-9 relative).
same=(--seed 4 --profile rsi2024-remote --strategy random --exposure 0.5 --dwell 1e-5 --mode point
      --compute fixed:0.3 --overlap --budget-points 20)
timeout 150 "$autostem" dm-server --fake --phantom nanowire --phantom-shape 32x32 --seed 4 \
  --profile rsi2024-remote --port 0 --port-file "$work/port3" --key-file "$work/key" \
  --lifetime-s 120 > "$work/server3.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port3" ] && break; sleep 0.1; done
[ -s "$work/port3" ] || { echo "server did not start"; cat "$work/server3.log"; exit 1; }
timeout 120 "$autostem" run --backend dm --port "$(cat "$work/port3")" --key-file "$work/key" \
  "${same[@]}" --out "$work/overlap-live.h5" --json > "$work/overlap-live.json"
timeout 120 "$autostem" run --phantom nanowire --phantom-shape 32x32 \
  "${same[@]}" --out "$work/overlap-sim.h5" --json > "$work/overlap-sim.json"
cat "$work/overlap-live.json" "$work/overlap-sim.json"
python3 - "$work/overlap-live.json" "$work/overlap-sim.json" <<'PY'
import json, sys
live, sim = (json.loads(open(p).read()) for p in sys.argv[1:3])
assert abs(live["time_s"] - sim["time_s"]) <= 1e-6, ("experiment time", live["time_s"], sim["time_s"])
assert live["max_dose_e_per_A2"] > 0, "no dose map live"
assert abs(live["max_dose_e_per_A2"] - sim["max_dose_e_per_A2"]) <= 1e-9 * sim["max_dose_e_per_A2"]
PY
h5diff -r --relative=1e-9 "$work/overlap-sim.h5" "$work/overlap-live.h5" /dose_map \
  || { echo "the rehearsal's dose map differs from the simulated run's"; exit 1; }
kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""

# The session's field from the client (issue 17): one server (the rehearsal's settings let a
# client choose the survey shape and pixel size), three runs without a restart: 48x48 at 4 nm
# (the 192 nm nanowire field), the settings' 32x32, and a pixel size DM does not confirm, which
# is refused with the calibration DM shows.
timeout 150 "$autostem" dm-server --fake --phantom nanowire --phantom-shape 32x32 --seed 5 \
  --port 0 --port-file "$work/port4" --key-file "$work/key" --lifetime-s 120 \
  > "$work/server4.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do [ -s "$work/port4" ] && break; sleep 0.1; done
[ -s "$work/port4" ] || { echo "server did not start"; cat "$work/server4.log"; exit 1; }
field=(--backend dm --port "$(cat "$work/port4")" --key-file "$work/key" --strategy random --seed 5
       --exposure 0.05 --dwell 1e-5 --budget-points 10)
timeout 120 "$autostem" run "${field[@]}" --survey-shape 48x48 --pixel-size 4 \
  --out "$work/field48.h5" 2> "$work/field48.err"
grep -q "DigitalMicrograph calibrates 4.0* nm per pixel" "$work/field48.err" || { cat "$work/field48.err"; exit 1; }
timeout 120 "$autostem" run "${field[@]}" --out "$work/field32.h5"
for spec in "field48.h5 48, 48 4" "field32.h5 32, 32 6"; do
  read -r file r c px <<< "$spec"
  h5ls "$work/$file/survey/image" | grep -q "Dataset {$r $c}" \
    || { echo "$file: the survey is not ${r}${c}"; h5ls "$work/$file/survey/image"; exit 1; }
  h5dump -a /survey/image/pixel_size_nm "$work/$file" | grep -Eq "\(0\): $px(\.0*)?$" \
    || { echo "$file: pixel size is not $px nm"; h5dump -a /survey/image/pixel_size_nm "$work/$file"; exit 1; }
  h5ls "$work/$file/measurements/position_px" | grep -Eq "Dataset \{10(/[A-Za-z0-9]+)?, 2" \
    || { echo "$file: not 10 positions"; exit 1; }
done
if timeout 120 "$autostem" run "${field[@]}" --survey-shape 48x48 --pixel-size 5 \
     --out "$work/field-bad.h5" 2> "$work/field-bad.err"; then
  echo "a pixel size DM does not confirm was accepted"; exit 1
fi
grep -q "DM's survey calibration is 4 nm per pixel" "$work/field-bad.err" || { cat "$work/field-bad.err"; exit 1; }
if timeout 60 "$autostem" run --phantom nanowire --phantom-shape 32x32 --survey-shape 48x48 \
     --strategy random --budget-points 1 --out "$work/sim-field.h5" 2> "$work/sim-field.err"; then
  echo "--survey-shape was accepted by the simulator"; exit 1
fi
grep -q "survey-shape asks a live server" "$work/sim-field.err" || { cat "$work/sim-field.err"; exit 1; }
echo "cli rehearsal: ok"
