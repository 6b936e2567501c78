#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages propel builds, tests and benchmarks with.
# Idempotent: installs only what is missing. Needs root (or sudo) when anything is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  libhwy-dev libtbb-dev libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  clang-14 libclang-rt-14-dev libcli11-dev gnuplot-nox dataset-fashion-mnist
  libbenchmark-tools python3-scipy python3-numpy valgrind libopenmpi-dev openmpi-bin
  libopenblas-dev libeigen3-dev libdnnl-dev ocl-icd-opencl-dev
)
# ocl-icd-opencl-dev: Debian's oneDNN (a benchmark peer) is built with an OpenCL GPU runtime, and
# its CMake package refuses to load without the OpenCL headers and loader. Without them the build
# still works: bench/ reports the peer as unusable and leaves its comparisons out.

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "propel setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
