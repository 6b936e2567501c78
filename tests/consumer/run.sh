#!/usr/bin/env bash
# Installs the propel build in $1 into a scratch prefix under $2, then builds and runs a consumer
# against it: with find_package(propel) (and checks that a 1.x request is refused: the package
# promises SameMajorVersion), with pkg-config, and, when PROPEL_CONSUMER_SUBPROJECTS=1, builds
# propel inside a consumer with add_subdirectory and with FetchContent.
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

echo "== pkg-config propel from C11 (the C compiler drives the link)"
# Exactly the flags `pkg-config --static` gives, for the static and the shared library alike: a
# static libpropel must bring the C++ runtime, libm, OpenMP and threads through Libs.private.
# c_api_train.c uses <math.h> itself, hence its own -lm.
c_source_dir=$(cd "$here/.." && pwd)
# shellcheck disable=SC2046,SC2086
cc -std=c11 -O1 -Wall -Werror $cxx_flags $ld_flags "$c_source_dir/c_api_example.c" -o "$work/c-example-pc" \
  $(pkg-config --static --cflags --libs propel) -Wl,-rpath,"$(pkg-config --variable=libdir propel)"
"$work/c-example-pc"
# shellcheck disable=SC2046,SC2086
cc -std=c11 -O1 -Wall -Werror $cxx_flags $ld_flags "$c_source_dir/c_api_train.c" -o "$work/c-train-pc" \
  $(pkg-config --static --cflags --libs propel) -lm -Wl,-rpath,"$(pkg-config --variable=libdir propel)"
(cd "$work" && ./c-train-pc)

echo "== find_package(propel 1.0) is refused by a 0.x package"
sed 's/find_package(propel 0.1 CONFIG REQUIRED)/find_package(propel 1.0 CONFIG REQUIRED)/' \
  "$here/CMakeLists.txt" > "$work/major.cmake"
mkdir -p "$work/major"
cp "$work/major.cmake" "$work/major/CMakeLists.txt"
cp "$here/main.cc" "$work/major/"
if "$cmake_bin" -S "$work/major" -B "$work/major-build" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/major.log" 2>&1; then
  echo "a consumer asking for propel 1.0 configured against $(grep -o 'propel [0-9.]*' "$work/install.log" | head -1)" >&2
  exit 1
fi
grep -q "not compatible\|Could not find a configuration file\|version" "$work/major.log"

if [ "${PROPEL_CONSUMER_SUBPROJECTS:-0}" = 1 ]; then
  source_dir=$(cd "$here/../.." && pwd)
  echo "== add_subdirectory(propel)"
  "$cmake_bin" -S "$here/subproject" -B "$work/sub-build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DPROPEL_SOURCE="$source_dir" > "$work/sub-configure.log"
  "$cmake_bin" --build "$work/sub-build" > "$work/sub-build.log"
  "$work/sub-build/consumer"

  echo "== FetchContent(propel)"
  # The source tree as a release archive (tracked and new files, not build outputs).
  (cd "$source_dir" && git ls-files --cached --others --exclude-standard -z |
    tar --null -T - -czf "$work/propel-src.tar.gz" --transform 's,^,propel/,')
  "$cmake_bin" -S "$here/subproject" -B "$work/fetch-build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DPROPEL_ARCHIVE="$work/propel-src.tar.gz" > "$work/fetch-configure.log"
  "$cmake_bin" --build "$work/fetch-build" > "$work/fetch-build.log"
  "$work/fetch-build/consumer"
fi
