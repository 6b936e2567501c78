#!/usr/bin/env bash
# `propel bench` end to end: the quick suite on every target into one JSON file with its context,
# `propel compare` of that file (no regression against itself; the best target against the
# scalar fallback flagged), deterministic instruction counts (perf or callgrind), and the errors.
#   bench_cli_test.sh PROPEL_BINARY WORK_DIR
set -euo pipefail
# The Python the build chose (ctest passes it); never whichever python3 is first on PATH.
py=${PROPEL_PYTHON:-/usr/bin/python3}
propel=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Expects the command to fail with a message containing $1.
expect_error() {
  local message=$1
  shift
  if "$@" > out.txt 2> err.txt; then fail "$* succeeded"; fi
  grep -qF -- "$message" err.txt || {
    cat err.txt >&2
    fail "$*: no '$message' in the error"
  }
}

# ---- the quick suite: every family, every target, 1 and all threads, the context
"$propel" bench --quick --out quick.json > quick.log 2>&1 || {
  cat quick.log >&2
  fail "propel bench --quick"
}
"$py" - quick.json << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["context"]
for key in ("cpu_model", "cpu_flags", "num_cpus", "caches", "compiler", "propel_version",
            "propel_commit", "propel_build_type", "propel_available_targets", "propel_targets_run",
            "copy_bandwidth_gbs", "propel_measure", "propel_preset"):
    assert key in c and c[key] not in ("", None), "context lacks " + key
targets = c["propel_available_targets"].split(",")
assert targets[-1] == "SCALAR", targets
assert c["propel_targets_run"] == c["propel_available_targets"]
assert c["propel_measure"] == "time" and c["propel_preset"] == "quick"
for t in targets:
    assert float(c["fma_peak_gflops_per_core:" + t]) > 0, t
assert float(c["copy_bandwidth_gbs"]) > 0
threads = c["propel_threads_run"].split(",")
names = {b["name"] for b in d["benchmarks"]}
# A target whose bf16 GEMMs have their own kernels (AVX3_BF16) runs the GEMM and training
# benchmarks only: its element-wise and optimizer kernels are its base target's.
variants = [t for t in targets if not c["bf16_dot_product:" + t].startswith("fp32 FMA")]
for t in targets:
    assert float(c["bf16_peak_gflops_per_core:" + t]) > 0, t
for family in ("gemm", "elementwise", "optimizer", "train", "predict"):
    for t in targets:
        if family in ("elementwise", "optimizer") and t in variants:
            assert not any("/target:%s/" % t in n for n in names if n.startswith(family + "/")), t
            continue
        assert any(n.startswith(family + "/") and "/target:%s/" % t in n for n in names), (family, t)
    if family in ("gemm", "train", "predict"):
        for th in threads:
            assert any(n.startswith(family + "/") and "/threads:%s/" % th in n for n in names), (family, th)
for b in d["benchmarks"]:
    fam = b["name"].split("/")[0]
    if fam in ("gemm", "train", "predict"):
        # Every target's limit holds (SCALAR's too: the 128-bit targets' peak); a little
        # measurement noise allowed.
        assert b["GFLOPS"] > 0 and 0 < b["peak_fraction"] < 1.05, b
    else:
        # In cache no bandwidth is a limit: no fraction; out of cache, one that holds.
        assert b["bytes_per_second"] > 0, b
        assert 0 < b.get("bandwidth_fraction", 0.5) < 1.05, b
    if fam == "train":
        assert b["samples_per_second"] > 0, b
    if fam == "predict":
        assert b["rows_per_second"] > 0, b
print("quick.json: %d benchmarks, targets %s, threads %s" % (len(d["benchmarks"]), ",".join(targets), ",".join(threads)))
EOF

# ---- compare: a run against itself, the best target against the scalar fallback, a table, a chart
"$propel" compare quick.json quick.json > same.txt || fail "quick.json against itself regressed"
grep -q "Result: no significant regression" same.txt || fail "no verdict in $(cat same.txt)"
best=$("$py" -c "import json; print(json.load(open('quick.json'))['context']['propel_available_targets'].split(',')[0])")
if [ "$best" != SCALAR ]; then
  if "$propel" compare quick.json --targets "$best:SCALAR" > scalar.txt; then
    fail "$best against SCALAR not flagged: $(cat scalar.txt)"
  fi
  grep -q "Result: REGRESSION" scalar.txt || fail "no regression verdict"
fi
"$propel" compare quick.json --format markdown --chart targets.svg > table.md || fail "table"
grep -q "| kernel | unit | $best | of limit |" table.md || fail "table header: $(head -3 table.md)"
grep -q "<svg" targets.svg || fail "no SVG chart"

# ---- --list writes nothing, runs nothing
"$propel" bench --quick --list --out listed.json > list.txt
[ ! -e listed.json ] || fail "--list wrote results"
grep -q "^train/784-256-128-10/batch:64/target:SCALAR/threads:1" list.txt || fail "--list: $(head list.txt)"

# ---- instruction counts: deterministic (a training step too: only the benchmark's thread is
# counted, not the pool thread that initialized its model), and a slower target is flagged exactly
# (sanitizer builds skip this: Valgrind cannot run them)
if [ -z "${PROPEL_TEST_NO_VALGRIND:-}" ]; then
for run in 1 2; do
  "$propel" bench --instructions --quick --family elementwise,gemm,train \
    --filter 'relu_forward|square|train/784-256-128-10/batch:64' --targets best,SCALAR \
    --out "count$run.json" > "count$run.log" 2>&1 || {
    cat "count$run.log" >&2
    fail "propel bench --instructions"
  }
done
"$py" - count1.json << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["context"]["propel_measure"].startswith("instructions:"), d["context"]["propel_measure"]
assert len(d["benchmarks"]) == 6, [b["name"] for b in d["benchmarks"]]
for b in d["benchmarks"]:
    assert b["instructions"] > 1000, b
    assert "GFLOPS" not in b and "bytes_per_second" not in b, b  # no rates from a counted run
EOF
"$propel" compare count1.json count2.json > counts.txt || fail "instruction counts differ: $(cat counts.txt)"
grep -q "Geometric mean of the changes: +0.00%" counts.txt || fail "counts not identical: $(cat counts.txt)"
counted_best=$("$py" -c "import json; print(json.load(open('count1.json'))['context']['propel_targets_run'].split(',')[0])")
if [ "$counted_best" != SCALAR ]; then
  if "$propel" compare count1.json --targets "$counted_best:SCALAR" > counted.txt; then
    fail "SCALAR's instruction counts not flagged against $counted_best: $(cat counted.txt)"
  fi
fi
expect_error "time with time" "$propel" compare quick.json count1.json
fi

# ---- bad requests say what was wrong
expect_error "unknown benchmark family 'nope'" "$propel" bench --quick --family nope --out x.json
expect_error "target 'NEON' is not available here" "$propel" bench --quick --targets NEON --out x.json
expect_error "'0' is not a thread count" "$propel" bench --quick --threads 0 --out x.json
expect_error "--quick and --full exclude each other" "$propel" bench --quick --full --out x.json
expect_error "no benchmark matched" "$propel" bench --quick --filter no-such-benchmark --out x.json
expect_error "no such file" "$propel" compare missing.json quick.json
echo previous > keep.json  # a run that fails keeps the previous results and leaves no temporary
expect_error "no benchmark matched" "$propel" bench --quick --filter no-such-benchmark --out keep.json
[ "$(cat keep.json)" = previous ] || fail "a failed run replaced the previous results"
if ls keep.json.tmp-* > /dev/null 2>&1; then fail "a failed run left its temporary file"; fi
expect_error "cannot write" "$propel" bench --quick --out no-such-dir/x.json

# ---- the interpreter: whichever python3 is first on PATH is never used; a chosen one that lacks
# a module, or does not exist, is named in the message
mkdir -p path-python
printf '#!/bin/sh\necho "the python3 first on PATH was run" >&2\nexit 3\n' > path-python/python3
chmod +x path-python/python3
PATH="$PWD/path-python:$PATH" "$propel" compare quick.json quick.json > path.txt ||
  fail "propel compare with another python3 first on PATH: $(cat path.txt)"
if "$py" -m venv --without-pip bare-venv > /dev/null 2>&1; then  # no numpy, no scipy
  expect_error "bare-venv/bin/python (Python" env PROPEL_PYTHON="$PWD/bare-venv/bin/python" \
    "$propel" compare quick.json quick.json
  grep -qF "cannot import numpy" err.txt || fail "the missing module is not named: $(cat err.txt)"
  if grep -q "apt-get install" err.txt; then fail "a venv's missing module suggests apt-get: $(cat err.txt)"; fi
fi
expect_error "cannot run the Python interpreter '/nonexistent/python3' (PROPEL_PYTHON)" \
  env PROPEL_PYTHON=/nonexistent/python3 "$propel" compare quick.json quick.json
echo "bench_cli: all checks passed"
