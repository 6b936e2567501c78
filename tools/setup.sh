#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages propel builds, tests and benchmarks with, then makes the
# project's Python: build/venv, a virtual environment of Debian's python3 with the PyPI packages
# of python/requirements.txt (cmake/PropelPython.cmake uses it).
# Idempotent: installs only what is missing. Needs root (or sudo) when a Debian package is
# missing, and PyPI when build/venv is made or python/requirements.txt has changed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3 python3-dev python3-venv
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

if [ ${#missing[@]} -ne 0 ]; then
  echo "propel setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# build/venv: made once, refilled when the requirements change (their copy in the venv is the
# stamp). Always from /usr/bin/python3, whatever python3 comes first on PATH.
cd "$(dirname "$0")/.."
venv=build/venv
requirements=python/requirements.txt
if ! cmp -s "$requirements" "$venv/propel-requirements.txt" 2>/dev/null; then
  echo "propel setup: $venv from /usr/bin/python3 with $requirements (PyPI)"
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  # pip trusts the system's certificate store, where a network's own CA is installed (as apt and
  # curl do), unless PIP_CERT says otherwise.
  cert=()
  if [ -z "${PIP_CERT:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cert=(--cert /etc/ssl/certs/ca-certificates.crt)
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${cert[@]}" \
    -r "$requirements"
  cp "$requirements" "$venv/propel-requirements.txt"
fi
