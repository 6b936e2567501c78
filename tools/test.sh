#!/usr/bin/env bash
# Builds and runs propel's whole test suite: installs what is missing, configures the CMake
# preset (default: release; also debug, shared, asan, tsan), builds it and runs CTest.
#   tools/test.sh            # Release
#   tools/test.sh asan       # AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
tools/setup.sh
cmake --preset "$preset" > /dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j "$(nproc)"
