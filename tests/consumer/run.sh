#!/usr/bin/env bash
# Installs the propel build in $1 into a scratch prefix under $2, then builds and runs a consumer
# against it twice: with find_package(propel) and with pkg-config.
set -euo pipefail
build_dir=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
cmake_bin=${PROPEL_CMAKE:-cmake}
generator=${PROPEL_GENERATOR:-Ninja}
# The flags the library was built with (e.g. sanitizers) must reach the consumer's link too.
cxx_flags=${PROPEL_CONSUMER_CXX_FLAGS:-}
ld_flags=${PROPEL_CONSUMER_LD_FLAGS:-}

rm -rf "$work"
mkdir -p "$work"
"$cmake_bin" --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"

echo "== find_package(propel)"
"$cmake_bin" -S "$here" -B "$work/cmake-build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_FLAGS="$cxx_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ld_flags" > "$work/configure.log"
"$cmake_bin" --build "$work/cmake-build" > "$work/build.log"
"$work/cmake-build/consumer"

echo "== pkg-config propel"
libdir=$(find "$work/prefix" -name propel.pc -printf '%h\n' | head -n 1)
export PKG_CONFIG_PATH="$libdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
static=""
if ! ls "$work/prefix"/lib*/libpropel.so* > /dev/null 2>&1 && ! ls "$work/prefix"/lib/*/libpropel.so* > /dev/null 2>&1; then
  static="--static"
fi
# shellcheck disable=SC2046,SC2086
c++ -std=c++20 -O1 $cxx_flags $ld_flags "$here/main.cc" -o "$work/consumer-pc" $(pkg-config $static --cflags --libs propel) \
  -Wl,-rpath,"$(pkg-config --variable=libdir propel)"
"$work/consumer-pc"
