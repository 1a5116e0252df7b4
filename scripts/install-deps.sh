#!/usr/bin/env bash
# Installs every Debian 12 package autostem needs to build, test and benchmark (apt-get only).
# Safe to run again: packages already present are left alone and apt-get update is skipped when
# nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ccache
  libeigen3-dev libhdf5-dev hdf5-tools libboost-program-options-dev libtbb-dev libfftw3-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev nlohmann-json3-dev
  gnuplot-nox
  python3 python3-numpy python3-h5py python3-hyperspy python3-skimage
  libboost-dev libssl-dev pybind11-dev python3-dev python3-serpent
  libtorch-dev libopenblas0-openmp python3-sklearn
  libcpp-httplib-dev chromium chromium-driver python3-selenium
)

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
