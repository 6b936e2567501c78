#!/usr/bin/env bash
# A benchmark peer whose CMake package cannot be loaded never stops the build: configures propel
# with a oneDNN package config that fails (message(FATAL_ERROR), first on CMAKE_PREFIX_PATH) and
# an Eigen package config whose own dependency is missing; checks that configure succeeds, reports
# both peers as left out, and that the peers' sources compile without them.
#   broken_peers_test.sh SOURCE_DIR WORK_DIR CMAKE  (Ninja)
set -euo pipefail
source_dir=$1
work=$2
cmake_bin=${3:-cmake}
rm -rf "$work"
mkdir -p "$work/prefix/lib/cmake/dnnl" "$work/prefix/share/eigen3/cmake"
cat > "$work/prefix/lib/cmake/dnnl/dnnl-config.cmake" << 'CMAKE'
message(FATAL_ERROR "this oneDNN package is broken on purpose")
CMAKE
cat > "$work/prefix/lib/cmake/dnnl/dnnl-config-version.cmake" << 'CMAKE'
set(PACKAGE_VERSION 9.9)
set(PACKAGE_VERSION_COMPATIBLE TRUE)
CMAKE
cat > "$work/prefix/share/eigen3/cmake/Eigen3Config.cmake" << 'CMAKE'
find_package(PropelNoSuchDependency REQUIRED)
CMAKE
cat > "$work/prefix/share/eigen3/cmake/Eigen3ConfigVersion.cmake" << 'CMAKE'
set(PACKAGE_VERSION 3.4.9)
set(PACKAGE_VERSION_COMPATIBLE TRUE)
CMAKE

"$cmake_bin" -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DPROPEL_BUILD_TESTS=OFF -DPROPEL_BUILD_EXAMPLES=OFF \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; echo "FAIL: configure failed" >&2; exit 1; }
grep -F "bench: oneDNN found but unusable: this oneDNN package is broken on purpose; its comparisons are left out" \
  "$work/configure.log" || { cat "$work/configure.log"; echo "FAIL: no report of the broken oneDNN" >&2; exit 1; }
grep -E "bench: Eigen found but unusable: .*PropelNoSuchDependency.*; its comparisons are left out" \
  "$work/configure.log" || { cat "$work/configure.log"; echo "FAIL: no report of the broken Eigen" >&2; exit 1; }
# The peer sources compile without them (the library itself is built by the suite's own build;
# compiling it again here would cost minutes).
for object in peers_dnnl.cc.o peers_eigen.cc.o; do
  "$cmake_bin" --build "$work/build" --target "bench/CMakeFiles/bench_elementwise.dir/$object" \
    > "$work/build.log" 2>&1 || { tail -30 "$work/build.log"; echo "FAIL: $object did not compile" >&2; exit 1; }
done
echo "broken peers reported and skipped"
