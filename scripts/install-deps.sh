#!/usr/bin/env bash
# Installs every Debian 12 package autostem needs to build, test and benchmark (apt-get only).
# Safe to run again: packages already present are left alone and apt-get update is skipped when
# nothing is missing.
set -euo pipefail

# What the first command (scripts/quickstart.sh) needs to build the autostem tool and the Python
# package and run the main job: compilers, the libraries autostem links, GoogleTest/Benchmark (the
# CMake configure looks for them), gnuplot for bench plots, NumPy/h5py for `import autostem`;
# libblas-dev/liblapack-dev because LibTorch's CMake config looks for BLAS and LAPACK (a fresh
# minbase chroot without them stops at the configure).
quickstart_packages=(
  build-essential cmake pkg-config git ccache
  libeigen3-dev libhdf5-dev libboost-program-options-dev libtbb-dev libfftw3-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev nlohmann-json3-dev
  gnuplot-nox
  python3 python3-numpy python3-h5py
  libboost-dev libssl-dev pybind11-dev python3-dev python3-serpent
  libtorch-dev libopenblas0-openmp libblas-dev liblapack-dev libcpp-httplib-dev
)
# What only the tests and benchmarks need (scripts/test.sh installs them): the references the
# tests compare against (HyperSpy, scikit-image, scikit-learn, h5dump, pytest, matplotlib, headless Chromium
# with Selenium for the live view's browser test). A fresh Debian 12 minbase
# spent 20 min 45 s in apt for all of them at once before pytest, matplotlib and Chromium were
# added (548 MB, 671 packages, docs/performance.md).
test_packages=(
  hdf5-tools python3-hyperspy python3-skimage python3-sklearn python3-pytest python3-matplotlib
  chromium chromium-driver python3-selenium
)

# Usage: install-deps.sh [--quickstart]   (default: everything, as CI and scripts/test.sh need)
packages=("${quickstart_packages[@]}")
case "${1:-}" in
  --quickstart) ;;
  "") packages+=("${test_packages[@]}") ;;
  *) echo "install-deps: unknown option '$1' (usage: install-deps.sh [--quickstart])" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
