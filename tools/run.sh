#!/usr/bin/env bash
# propel's main job: installs what is missing, builds in Release and runs the GEMM benchmark
# report (propel against OpenBLAS on square and MLP training shapes, 1 thread and all threads).
# Extra arguments go to bench_gemm, e.g. tools/run.sh --benchmark_filter=square
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release
out=build/release/gemm.json
build/release/bench/bench_gemm --benchmark_repetitions=3 --benchmark_min_time=0.1 \
  --benchmark_out="$out" --benchmark_out_format=json --benchmark_format=console "$@" \
  2> >(grep -v "Library was built as DEBUG" >&2) > /dev/null
tools/gemm_report.py "$out"
echo "Full results (Google Benchmark JSON): $out"
