#!/usr/bin/env bash
# Compares what two builds of the autostem CLI produce for fixed seeds — the check behind a
# refactoring that must not change behaviour ("CLI outputs identical for fixed seeds").
#   bash scripts/compare-cli.sh OLD_AUTOSTEM NEW_AUTOSTEM [WORKDIR]
# Runs the same commands with both binaries and compares: printed text (wall-clock figures and
# file paths masked), the measured positions and signals of every results file (h5dump), bench
# summary.csv (columns that depend on the wall clock dropped) and atom lists. Session time is
# compared for the commands that charge compute as fixed (--compute fixed:S); with the default
# "measured" compute the session clock includes this computer's wall time and differs run to run.
# Exit 0 when everything matches; otherwise lists the differences.
set -uo pipefail
old=$(realpath "$1"); new=$(realpath "$2")
work=${3:-$(mktemp -d)}
data=${AUTOSTEM_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/datasets}
mkdir -p "$work/old" "$work/new"
fail=0

cmds=(
  "run --phantom nanowire --strategy edge --profile rsi2024-remote --seed 1 --compute fixed:0 --out OUT/edge.h5"
  "run --phantom nanowire --strategy random --budget-points 200 --seed 3 --compute fixed:0 --out OUT/random.h5 --json"
  "run --phantom nanowire --phantom-shape 48x48 --strategy grid --compute fixed:0 --out OUT/grid.h5"
  "run --phantom nanoparticles --phantom-shape 64x64 --strategy cs --param fraction=0.1,reconstruction=tv --seed 2 --compute fixed:0 --out OUT/cs.h5"
  "reconstruct OUT/cs.h5 --method tv --out OUT/cs_tv.npy"
  "reconstruct OUT/cs.h5 --method fista --out OUT/cs_fista.npy"
  "reconstruct OUT/cs.h5 --method biharmonic --spectrum-image --components 4 --out OUT/cs_si.npy"
  "run --phantom lattice --phantom-shape 96x96 --strategy atoms --seed 4 --compute fixed:0 --out OUT/atoms.h5"
  "run --phantom nanoparticles --phantom-shape 32x32 --strategy dkl --scalarizer band_mean:3.3:3.7 --budget-points 25 --seed 1 --compute fixed:0.5 --out OUT/dkl.h5"
  "run --phantom lattice --phantom-shape 128x128 --strategy dcnn --param target=defects --seed 2 --compute fixed:0 --out OUT/dcnn.h5"
  "estimate --profile rsi2024-remote --strategy grid --shape 128x128"
  "estimate --profile rsi2024-remote --points 137"
  "atoms $data/haadf/graphene/G-Si-2nm.npy --method log --out OUT/gsi_log.csv"
  "atoms $data/haadf/graphene/G-Si-2nm.npy --method dcnn --out OUT/gsi_dcnn.csv"
  "bench --phantom nanowire:48x48 --strategies grid,random,edge,cs --seeds 2 --compute fixed:0 --threads 1 --no-plots --out OUT/bench"
)

mask() {  # wall-clock figures and the per-binary output folder
  sed -E -e "s#$work/(old|new)#OUT#g" \
         -e 's/[0-9.]+ (ms|s) wall/WALL/g' -e 's/in [0-9.]+ s/in T s/g' \
         -e 's/"wall_s": *[0-9.e+-]+/"wall_s": W/g' -e 's/latency[^,]*[0-9.e+-]+/latency L/g' \
         -e 's/(decision|wall)[^0-9]*[0-9.e+-]+ ?(ms|s)/\1 T/g' \
         -e 's/p95 [0-9.e+-]+ s/p95 T s/g' -e 's/, [0-9.]+ s;/, T s;/g' \
         -e 's/[0-9.]+e-0[5-9]/LAT/g'  # sub-10-µs decision latencies in the bench table
}

i=0
for c in "${cmds[@]}"; do
  i=$((i + 1))
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    ${bin} ${c//OUT/$work/$side} > "$work/$side/cmd$i.txt" 2>&1
    echo "exit $?" >> "$work/$side/cmd$i.txt"
  done
  if ! diff <(mask < "$work/old/cmd$i.txt") <(mask < "$work/new/cmd$i.txt") > "$work/diff$i.txt"; then
    echo "DIFFERENT output: autostem $c"; head -20 "$work/diff$i.txt"; fail=1
  else
    echo "same output:      autostem $c"
  fi
done

for f in "$work"/old/*.h5; do
  b=$(basename "$f")
  for d in /measurements/position_px /measurements/actual_position_px /measurements/signal /survey/image /dose_map; do
    if ! diff <(h5dump -d "$d" "$f" 2>&1 | tail -n +3) <(h5dump -d "$d" "$work/new/$b" 2>&1 | tail -n +3) > /dev/null; then
      echo "DIFFERENT $d in $b"; fail=1
    fi
  done
  for a in strategy_parameters measurements stop_reason total_dose_e_per_A2; do
    if ! diff <(h5dump -a "/$a" "$f" 2>&1 | tail -n +3) <(h5dump -a "/$a" "$work/new/$b" 2>&1 | tail -n +3) > /dev/null; then
      echo "DIFFERENT attribute $a in $b"; fail=1
    fi
  done
  echo "compared datasets of $b"
done
for f in "$work"/old/*.csv "$work"/old/*.npy; do
  [ -e "$f" ] || continue
  cmp -s "$f" "$work/new/$(basename "$f")" && echo "same file:        $(basename "$f")" || { echo "DIFFERENT file: $(basename "$f")"; fail=1; }
done
if [ -f "$work/old/bench/summary.csv" ]; then
  # Drop the columns that depend on the wall clock (latency, wall time).
  keep() { python3 -c "
import csv,sys
r=list(csv.reader(open(sys.argv[1])))
idx=[i for i,h in enumerate(r[0]) if not any(k in h for k in ('latency','wall'))]
for row in r: print(','.join(row[i] for i in idx if i < len(row)))" "$1"; }
  if diff <(keep "$work/old/bench/summary.csv") <(keep "$work/new/bench/summary.csv") > "$work/bench.diff"; then
    echo "same bench summary.csv (wall-clock columns dropped)"
  else
    echo "DIFFERENT bench summary.csv"; head -20 "$work/bench.diff"; fail=1
  fi
fi
echo "work folder: $work"
exit $fail
