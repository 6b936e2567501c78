#!/usr/bin/env bash
# The propel command line end to end on the digits CSV: train (multiclass and the binary
# sigmoid + BCE task), the report, the same parameter checksum with 1 to 3 threads and on every
# executor, resuming from a checkpoint bit-exactly, a saved model that evaluate and predict read,
# and clear errors for bad input.
#   tests/cli/cli_test.sh PROPEL_BINARY DATA_DIR WORK_DIR
set -euo pipefail
propel=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.*\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

common=(--data "$data/digits.csv" --layers 32 --epochs 10 --lr 3e-3 --batch 64 --shard 16 --seed 3 --quiet)
"$propel" train "${common[@]}" --threads 1 --save m.ckpt --report r1.json
test -s m.ckpt || fail "no checkpoint written"
acc=$(field r1.json test_accuracy)
awk -v a="$acc" 'BEGIN { exit !(a > 0.85) }' || fail "test accuracy $acc <= 0.85"
for key in train_loss samples_per_second epochs wall_seconds threads executor target cpu parameter_checksum; do
  [ -n "$(field r1.json $key)" ] || fail "report lacks $key"
done
sum1=$(field r1.json parameter_checksum)
# (PROPEL_TEST_EXECUTORS narrows the executors, e.g. under ThreadSanitizer.)
for executor in ${PROPEL_TEST_EXECUTORS:-tbb omp serial}; do
  for threads in 2 3; do
    "$propel" train "${common[@]}" --threads "$threads" --executor "$executor" --save "" --plot "" \
      --report r.json
    [ "$(field r.json parameter_checksum)" = "$sum1" ] ||
      fail "checksum differs with $threads threads on $executor"
  done
done

# bf16 mixed precision: its own checksum, the same on every thread count; the report and the
# checkpoint say bf16, and a resume continues in it.
[ "$(field r1.json precision)" = "fp32" ] || fail "report precision is not fp32"
"$propel" train "${common[@]}" --threads 1 --precision bf16 --save h.ckpt --plot "" --report h1.json
[ "$(field h1.json precision)" = "bf16" ] || fail "report precision is not bf16"
[ "$(field h1.json parameter_checksum)" != "$sum1" ] || fail "bf16 gave the fp32 checksum"
acc=$(field h1.json test_accuracy)
awk -v a="$acc" 'BEGIN { exit !(a > 0.85) }' || fail "bf16 test accuracy $acc <= 0.85"
"$propel" train "${common[@]}" --threads 3 --precision bf16 --save "" --plot "" --report h3.json
[ "$(field h3.json parameter_checksum)" = "$(field h1.json parameter_checksum)" ] ||
  fail "bf16 checksum differs with 3 threads"
resumed=(--data "$data/digits.csv" --layers 32 --lr 3e-3 --batch 64 --shard 16 --seed 3 --quiet)
"$propel" train "${resumed[@]}" --epochs 11 --resume h.ckpt --save "" --plot "" --report h4.json
[ "$(field h4.json precision)" = "bf16" ] || fail "a resumed bf16 run is not bf16"

# Two epochs, then --resume to three: the checksum of three epochs straight.
plain=(--data "$data/digits.csv" --normalize none --layers 32 --lr 3e-3 --schedule constant --quiet --plot "")
"$propel" train "${plain[@]}" --epochs 3 --save "" --report s3.json
"$propel" train "${plain[@]}" --epochs 2 --save r2.ckpt
"$propel" train "${plain[@]}" --epochs 3 --resume r2.ckpt --save "" --report r3.json
[ "$(field r3.json parameter_checksum)" = "$(field s3.json parameter_checksum)" ] ||
  fail "2 epochs + resume differ from 3 epochs straight"

"$propel" evaluate m.ckpt "$data/digits.csv" > eval.txt
grep -q "accuracy" eval.txt || fail "evaluate printed no accuracy"
grep -q "confusion matrix" eval.txt || fail "evaluate printed no confusion matrix"
[ "$("$propel" predict m.ckpt "$data/digits.csv" | wc -l)" -eq 1797 ] || fail "predict: not one line per row"

"$propel" train --data "$data/digits.csv" --binary 3,8 --layers 16 --epochs 15 --lr 5e-3 --batch 32 \
  --quiet --save b.ckpt --report b.json
acc=$(field b.json test_accuracy)
awk -v a="$acc" 'BEGIN { exit !(a > 0.9) }' || fail "binary task accuracy $acc <= 0.9"

# Bad input: a clear message and a non-zero exit, never a crash.
expect_error() {
  local want=$1; shift
  if "$@" > out.txt 2> err.txt; then fail "no error for: $*"; fi
  grep -q -- "$want" err.txt || { cat err.txt >&2; fail "message lacks '$want' for: $*"; }
}
printf '1,2,0\n3,x,1\n' > bad.csv
expect_error "line 2, column 2: 'x' is not a number" "$propel" train --data bad.csv --quiet --save ""
expect_error "nope.csv: no such file" "$propel" train --data nope.csv --quiet --save ""
expect_error "precision" "$propel" train --data "$data/digits.csv" --precision fp16 --quiet --save ""
expect_error "checkpoint: no such file" "$propel" evaluate checkpoint "$data/digits.csv"
head -c 100 m.ckpt > cut.ckpt
expect_error "cut.ckpt: byte" "$propel" predict cut.ckpt "$data/digits.csv"
expect_error "unknown optimizer 'adamx'" "$propel" train --data "$data/digits.csv" --optimizer adamx --quiet
expect_error "executor" "$propel" train --executor gpu

# export: an ONNX file; a failed export leaves an existing file as it was.
"$propel" export m.ckpt m.onnx | grep -q 'ONNX opset 17' || fail "export printed no opset"
[ "$(head -c 1 m.onnx | od -An -tx1 | tr -d ' ')" = "08" ] || fail "m.onnx is no ModelProto"
cp m.onnx kept.onnx
expect_error "cut.ckpt: byte" "$propel" export cut.ckpt kept.onnx
cmp -s m.onnx kept.onnx || fail "a failed export changed the existing file"
expect_error "no-such-dir/x.onnx" "$propel" export m.ckpt no-such-dir/x.onnx
echo "cli: ok"
