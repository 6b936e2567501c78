#!/usr/bin/env bash
# The peer comparisons: installs what is missing, builds in Release and runs the GEMM (propel
# against OpenBLAS on the suite's square and MLP training shapes, 1 thread and all threads), the
# element-wise kernels on the best SIMD target (against a scalar loop, Eigen and oneDNN) and the
# training step of whole MLPs (samples/s, fraction of the FMA peak, thread scaling, executors),
# each tabulated by `propel compare` with propel's ratio to every peer.
# Extra arguments go to bench_gemm, e.g. tools/bench.sh --benchmark_filter=square
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release
propel=build/release/tools/propel/propel
run() {  # run PROGRAM JSON [ARGS...]: Google Benchmark JSON into JSON, then the table
  local program=$1 out=$2
  shift 2
  "$program" --benchmark_out="$out" --benchmark_out_format=json --benchmark_format=console "$@" \
    2> >(grep -v "Library was built as DEBUG" >&2) > /dev/null
  "$propel" compare "$out"
  echo "Full results (Google Benchmark JSON): $out"
  echo
}
run build/release/bench/bench_gemm build/release/gemm.json --benchmark_repetitions=3 \
  --benchmark_min_time=0.1 "$@"
run build/release/bench/bench_elementwise build/release/elementwise.json \
  --benchmark_min_time=0.1
run build/release/bench/bench_train build/release/train.json \
  --benchmark_filter='executor:(tbb|serial)' --benchmark_min_time=0.2
echo "Every executor: build/release/bench/bench_train; every target: PROPEL_TARGET=<T> or propel bench"
