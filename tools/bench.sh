#!/usr/bin/env bash
# The benchmark reports: installs what is missing, builds in Release and runs the GEMM (propel
# against OpenBLAS on square and MLP training shapes, 1 thread and all threads), the element-wise
# kernels on the best SIMD target (against a scalar loop, Eigen and oneDNN) and the training step
# of whole MLPs (samples/s, fraction of the FMA peak, thread scaling).
# Extra arguments go to bench_gemm, e.g. tools/bench.sh --benchmark_filter=square
set -euo pipefail
cd "$(dirname "$0")/.."
# The reports run on the interpreter the set-up provisions (or PROPEL_PYTHON), not PATH's python3.
py=${PROPEL_PYTHON:-/usr/bin/python3}
tools/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release
out=build/release/gemm.json
build/release/bench/bench_gemm --benchmark_repetitions=3 --benchmark_min_time=0.1 \
  --benchmark_out="$out" --benchmark_out_format=json --benchmark_format=console "$@" \
  2> >(grep -v "Library was built as DEBUG" >&2) > /dev/null
"$py" tools/gemm_report.py "$out"
echo "Full results (Google Benchmark JSON): $out"
echo
ew=build/release/elementwise.json
PROPEL_BENCH_TARGETS=best build/release/bench/bench_elementwise --benchmark_min_time=0.1 \
  --benchmark_out="$ew" --benchmark_out_format=json --benchmark_format=console \
  2> >(grep -v "Library was built as DEBUG" >&2) > /dev/null
"$py" tools/elementwise_report.py "$ew"
echo "Full results (Google Benchmark JSON): $ew; every target: build/release/bench/bench_elementwise"
echo
tr=build/release/train.json
build/release/bench/bench_train --benchmark_filter='/(tbb|serial)' --benchmark_min_time=0.2 \
  --benchmark_out="$tr" --benchmark_out_format=json --benchmark_format=console \
  2> >(grep -v "Library was built as DEBUG" >&2) > /dev/null
"$py" tools/train_report.py "$tr"
echo "Full results (Google Benchmark JSON): $tr; every executor: build/release/bench/bench_train"
