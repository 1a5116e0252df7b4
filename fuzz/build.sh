#!/usr/bin/env bash
# Builds the libFuzzer targets for the vendor-format readers (not part of the CMake build).
# Needs clang++ and libFuzzer/sanitizer runtimes (Debian: clang, libclang-rt-14-dev).
#   fuzz/build.sh [OUT_DIR]            (default: build-fuzz/)
#   OUT/fuzz_dm  OUT/corpus_dm  -max_len=65536 -max_total_time=600 -rss_limit_mb=2048
# Seed corpora are made from the fixtures in ../shared/datasets (or $AUTOSTEM_DATA).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${1:-$root/build-fuzz}"
data="${AUTOSTEM_DATA:-$root/../shared/datasets}"
CXX="${CXX:-clang++}"
mkdir -p "$out/obj"
jobs_max="${JOBS:-2}"  # parallel compilations (JOBS=N fuzz/build.sh …)
throttle() { while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done; }

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined
       -I"$root/datasets/include" -I"$root/core/include" -I"$root/datasets/src/formats"
       -I"$root/datasets/src" -I/usr/include/eigen3 -I/usr/include/hdf5/serial)
srcs=(dm_tags dm_image transpose ser emd dm_write)
objs=()
for s in "${srcs[@]}"; do
  "$CXX" "${flags[@]}" -c "$root/datasets/src/formats/$s.cpp" -o "$out/obj/$s.o" &
  objs+=("$out/obj/$s.o")
  throttle
done
# The Signal type (datasets/src/signal.cpp) and, through its front door, the other readers.
for s in signal h5 hspy npy isolate; do
  "$CXX" "${flags[@]}" -c "$root/datasets/src/$s.cpp" -o "$out/obj/ds_$s.o" &
  objs+=("$out/obj/ds_$s.o")
  throttle
done
wait
# fuzz_emd reads in a child process and copies the child's coverage counters back; the helper
# that finds them must not be instrumented itself (see fuzz/coverage_counters.cpp).
"$CXX" -std=c++20 -O1 -g -fsanitize=address,undefined -c "$here/coverage_counters.cpp" -o "$out/obj/coverage_counters.o"
hdf5_libs=(-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
for t in dm ser emd; do
  extra=()
  [ "$t" = emd ] && extra=("$out/obj/coverage_counters.o")
  "$CXX" "${flags[@]}" -fsanitize=fuzzer "$here/fuzz_$t.cpp" "${objs[@]}" "${extra[@]}" "${hdf5_libs[@]}" -o "$out/fuzz_$t"
done

# Seed corpora.
mkdir -p "$out/corpus_dm" "$out/corpus_ser" "$out/corpus_emd"
# Fixtures up to 64 KiB (the 300 KiB ones run at a few executions per second under ASan), named
# by their path so that 1D/2D/3D files of the same name do not overwrite each other.
if [ -d "$data/dm" ]; then
  find "$data/dm" -name '*.dm[34]' -size -64k -print0 |
    while IFS= read -r -d '' f; do cp "$f" "$out/corpus_dm/$(echo "${f#"$data"/}" | tr '/ ' '__')"; done
fi
# The real SER (2 MiB, offset table at its end) is too big to be a useful seed; make_seeds
# writes small valid 1-D and 2-D series instead, plus DM and EMD seeds.
"$CXX" -std=c++20 -O1 -I"$root/datasets/include" -I"$root/core/include" -I"$root/datasets/src/formats" \
  -I/usr/include/eigen3 -I/usr/include/hdf5/serial "$here/make_seeds.cpp" \
  "$root/datasets/src/formats/dm_write.cpp" "$root/datasets/src/formats/dm_tags.cpp" \
  "${hdf5_libs[@]}" -o "$out/make_seeds"
"$out/make_seeds" "$out"
echo "built: $out/fuzz_dm $out/fuzz_ser $out/fuzz_emd"
