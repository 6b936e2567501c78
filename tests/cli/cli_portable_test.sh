#!/usr/bin/env bash
# propel train --portable (docs/reproducibility.md): one parameter checksum and one test loss on
# every SIMD target this CPU runs (PROPEL_TARGET), with 1 and 2 threads, on the tbb, omp and
# serial executors, in fp32 and bf16, and under mpirun -np 2 (2 ranks x half the batch on one
# target equal 1 process with the whole batch on another).
#   cli_portable_test.sh PROPEL DATA_DIR WORK_DIR [MPIEXEC]
set -euo pipefail
py=${PROPEL_PYTHON:-/usr/bin/python3}
propel=$1
data=$2/digits.csv
work=$3
mpiexec=${4:-}
rm -rf "$work"
mkdir -p "$work"
cd "$work"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
field() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# The available targets, from the message an unknown one gets ("... (available: AVX2, SCALAR)").
targets=$({ PROPEL_TARGET=no-such-target "$propel" train --data "$data" --quiet 2>&1 || true; } |
  sed -n 's/.*(available: \(.*\)).*/\1/p' | tr -d ,)
[ -n "$targets" ] || fail "no target list"
echo "targets: $targets"

common=(--data "$data" --layers 40,24 --activation tanh --epochs 1 --shard 32 --save "" --plot ""
  --quiet --portable)
for precision in fp32 bf16; do
  want=""
  for t in $targets; do
    for threads in 1 2; do
      for executor in ${PROPEL_TEST_EXECUTORS:-tbb omp serial}; do
        report=$precision-$t-$threads-$executor.json
        PROPEL_TARGET=$t "$propel" train "${common[@]}" --batch 64 --precision $precision \
          --threads $threads --executor "$executor" --report "$report"
        got="$(field "$report" parameter_checksum) $(field "$report" test_loss)"
        [ "$(field "$report" portable)" = True ] || fail "$report: not portable"
        if [ -z "$want" ]; then
          want=$got
          echo "$precision: checksum and test loss $want"
        fi
        [ "$got" = "$want" ] || fail "$precision on $t, $threads threads, $executor: $got, want $want"
      done
    done
  done
done

# Data parallel: 2 ranks x 32 rows on the last target (SCALAR) equal 1 process x 64 rows on the
# first (the best one).
if [ -n "$mpiexec" ]; then
  first=${targets%% *}
  last=${targets##* }
  PROPEL_TARGET=$first "$propel" train "${common[@]}" --batch 64 --threads 1 --report one.json
  PROPEL_TARGET=$last "$mpiexec" --allow-run-as-root --oversubscribe -np 2 \
    "$propel" train "${common[@]}" --batch 32 --threads 1 --mpi --report two.json
  [ "$(field one.json parameter_checksum)" = "$(field two.json parameter_checksum)" ] ||
    fail "mpirun -np 2 on $last: $(field two.json parameter_checksum), 1 process on $first: $(field one.json parameter_checksum)"
  echo "mpirun -np 2 on $last = 1 process on $first: $(field one.json parameter_checksum)"
fi
echo "cli_portable: all checks passed"
