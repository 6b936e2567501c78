#!/usr/bin/env bash
# The command line's three tasks end to end — regression and binary from CSV, the binary task of
# a multiclass IDX set — through train, evaluate, predict and resume; then what careless and
# hostile input gets: every option's range, files that cannot be written or are not files,
# impossible sizes, odd CSV encodings. Every error is one line naming the option or file, an
# exit status of 1, and comes before any training.
#   tests/cli/cli_tasks_test.sh PROPEL_BINARY DATA_DIR WORK_DIR [IDX_DIR]
set -euo pipefail
propel=$1 data=$2 work=$3 idx=${4:-/usr/share/datasets/fashion-mnist}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.*\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }
# Expects exit status 1 within 10 s and a one-line message containing $1.
expect_error() {
  local want=$1 rc=0; shift
  timeout 10 "$@" > out.txt 2> err.txt || rc=$?
  [ "$rc" -eq 1 ] || { cat err.txt >&2; fail "exit $rc (want 1) for: $*"; }
  grep -qF -- "$want" err.txt || { cat err.txt >&2; fail "message lacks '$want' for: $*"; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt >&2; fail "not one line for: $*"; }
  if grep -q "^epoch" out.txt; then fail "trained before failing: $*"; fi
}
rows() { sed -n 's/.* on \([0-9]*\) rows.*/\1/p' "$1" | head -1; }

# ---- regression from a CSV: 64 digit pixels -> a real target
awk -F, -v OFS=, '{ t = 0.1 * $20 - 0.05 * $37 + 0.25; $65 = t; print }' "$data/digits.csv" > reg.csv
q=(--quiet --plot "" --layers 16 --batch 64)
"$propel" train --data reg.csv --loss regression "${q[@]}" --epochs 4 --save reg.ckpt --report reg.json
[ -n "$(field reg.json test_loss)" ] || fail "no regression test loss"
"$propel" evaluate reg.ckpt reg.csv > eval.txt
grep -q "regression, .* on 1797 rows: loss" eval.txt || fail "evaluate regression: $(cat eval.txt)"
[ "$("$propel" predict reg.ckpt reg.csv | wc -l)" -eq 1797 ] || fail "predict regression rows"
"$propel" train --data reg.csv --loss regression "${q[@]}" --epochs 6 --resume reg.ckpt --save reg2.ckpt \
  --report reg2.json
[ "$(field reg2.json epochs)" = 2 ] || fail "regression resume ran $(field reg2.json epochs) epochs, not 2"
# Whole-number targets are real targets too with --loss regression.
awk -F, -v OFS=, '{ $65 = $20; print }' "$data/digits.csv" > regint.csv
"$propel" train --data regint.csv --loss regression "${q[@]}" --epochs 1 --save ""
expect_error "for real-valued targets pass --loss regression" "$propel" train --data reg.csv "${q[@]}"

# ---- binary from a CSV (labels 0 / 1): sigmoid + BCE (without scikit-learn's count line)
tail -n +2 "$data/breast_cancer.csv" > bc.csv
"$propel" train --data bc.csv --loss binary "${q[@]}" --epochs 20 --lr 3e-3 \
  --save bin.ckpt --report bin.json
acc=$(field bin.json test_accuracy)
awk -v a="$acc" 'BEGIN { exit !(a > 0.9) }' || fail "breast cancer binary accuracy $acc <= 0.9"
"$propel" evaluate bin.ckpt bc.csv | grep -q "binary, .* accuracy" ||
  fail "evaluate binary CSV"
"$propel" predict bin.ckpt bc.csv > pred.txt
[ "$(wc -l < pred.txt)" -eq 569 ] || fail "predict binary rows"
awk '{ if ($1 < 0 || $1 > 1 || NF != 1) exit 1 }' pred.txt || fail "binary predictions not in [0, 1]"
"$propel" train --data bc.csv --loss binary "${q[@]}" --epochs 22 --lr 3e-3 \
  --resume bin.ckpt --save "" --report bin2.json
[ "$(field bin2.json epochs)" = 2 ] || fail "binary resume"
expect_error "a binary model needs labels 0 and 1" "$propel" train --data "$data/digits.csv" --loss binary "${q[@]}"

# ---- the binary task of a multiclass set: --binary NEG,POS, evaluated on the same two classes
"$propel" train --data "$data/digits.csv" --binary 3,8 "${q[@]}" --epochs 10 --lr 5e-3 --save d38.ckpt
"$propel" evaluate d38.ckpt "$data/digits.csv" --binary 3,8 > eval.txt
rows38=$(awk -F, '$65 == 3 || $65 == 8' "$data/digits.csv" | wc -l)
[ "$(rows eval.txt)" = "$rows38" ] || fail "evaluate --binary 3,8: $(cat eval.txt), want $rows38 rows"
# The checkpoint records the two classes: evaluate and predict use them unless told otherwise.
"$propel" evaluate d38.ckpt "$data/digits.csv" > eval2.txt
grep -q "of classes 3 (0) and 8 (1): " eval2.txt || fail "evaluate without --binary: $(cat eval2.txt)"
[ "$(sed 's/ of classes 3 (0) and 8 (1)//' eval2.txt)" = "$(cat eval.txt)" ] ||
  fail "recorded classes differ from --binary 3,8: $(cat eval2.txt) vs $(cat eval.txt)"
[ "$("$propel" predict d38.ckpt "$data/digits.csv" | wc -l)" -eq "$rows38" ] || fail "predict 3,8"
awk -F, '$65 < 6' "$data/digits.csv" > d05.csv
expect_error "has no class 8 (its classes are 0 to 5); the model was trained on classes 3,8" \
  "$propel" evaluate d38.ckpt d05.csv
expect_error "--binary: the model is regression, not binary" "$propel" evaluate reg.ckpt reg.csv --binary 3,8
if [ -s "$idx/train-images-idx3-ubyte.gz" ]; then
  "$propel" train --binary 0,6 --layers 16 --epochs 1 --quiet --plot "" --save fb.ckpt --report fb.json
  "$propel" evaluate fb.ckpt fashion-mnist --binary 0,6 > eval.txt
  [ "$(rows eval.txt)" = 2000 ] || fail "fashion-mnist 0,6 test rows: $(cat eval.txt)"
  "$propel" evaluate fb.ckpt fashion-mnist > eval.txt
  [ "$(rows eval.txt)" = 2000 ] || fail "fashion-mnist recorded 0,6 test rows: $(cat eval.txt)"
  "$propel" train --binary 0,6 --layers 16 --epochs 2 --quiet --plot "" --resume fb.ckpt --save "" \
    --report fb2.json
  [ "$(field fb2.json epochs)" = 1 ] || fail "fashion-mnist binary resume"
  [ "$("$propel" predict fb.ckpt fashion-mnist --binary 0,6 | wc -l)" -eq 2000 ] || fail "predict 0,6"
fi

# ---- every option's range, named in the message
d=(--data "$data/digits.csv" --quiet --save "" --plot "")
expect_error "--validation 1.5: expected a fraction in [0, 1)" "$propel" train "${d[@]}" --validation 1.5
expect_error "--validation 1: expected a fraction in [0, 1)" "$propel" train "${d[@]}" --validation 1
expect_error "--validation nan: expected" "$propel" train "${d[@]}" --validation nan
expect_error "--validation -0.1: expected" "$propel" train "${d[@]}" --validation -0.1
expect_error "--validation 1e-30 holds out 0 of" "$propel" train "${d[@]}" --validation 1e-30
"$propel" train --data "$data/digits.csv" --save "" --plot "" --epochs 1 --layers 8 --validation 0.99 > v.txt
grep -q "14 training, 1424 validation" v.txt || fail "--validation 0.99: $(head -2 v.txt)"
expect_error "--binary 0,0: expected two different class numbers" "$propel" train "${d[@]}" --binary 0,0
expect_error "--binary -1,1: expected two different class numbers" "$propel" train "${d[@]}" --binary -1,1
expect_error "has no class 99 (its classes are 0 to 9)" "$propel" train "${d[@]}" --binary 0,99
expect_error "--threads 1000000: expected a whole number in [0, 1024]" "$propel" train "${d[@]}" --threads 1000000
expect_error "--layers 8,,8: width 2 is empty" "$propel" train "${d[@]}" --layers 8,,8
expect_error "--layers 8,0: '0' is not a width" "$propel" train "${d[@]}" --layers 8,0
expect_error "--lr 0: expected a finite value > 0" "$propel" train "${d[@]}" --lr 0
expect_error "--lr inf: expected" "$propel" train "${d[@]}" --lr inf
expect_error "--momentum 1: expected a value in (0, 1)" "$propel" train "${d[@]}" --momentum 1
expect_error "--beta1 1: expected a value in [0, 1)" "$propel" train "${d[@]}" --beta1 1
expect_error "--beta2 -0.5: expected" "$propel" train "${d[@]}" --beta2 -0.5
expect_error "--weight-decay -1: expected" "$propel" train "${d[@]}" --weight-decay -1
expect_error "--clip nan: expected" "$propel" train "${d[@]}" --clip nan
expect_error "--batch 0: expected a whole number in [1, 2^31]" "$propel" train "${d[@]}" --batch 0
expect_error "--shard 0: expected" "$propel" train "${d[@]}" --shard 0
expect_error "--epochs 0: expected" "$propel" train "${d[@]}" --epochs 0
expect_error "--warmup -3: expected" "$propel" train "${d[@]}" --warmup -3
expect_error "--early-stop -1: expected" "$propel" train "${d[@]}" --early-stop -1
expect_error "--activation swish: unknown activation" "$propel" train "${d[@]}" --activation swish
expect_error "--loss hinge: unknown head" "$propel" train "${d[@]}" --loss hinge
expect_error "--init zeros: unknown initializer" "$propel" train "${d[@]}" --init zeros
expect_error "--schedule linear: unknown" "$propel" train "${d[@]}" --schedule linear
expect_error "--normalize minmax: expected auto, none or standardize" "$propel" train "${d[@]}" --normalize minmax
expect_error "--binary makes a binary task; it conflicts with --loss regression" \
  "$propel" train "${d[@]}" --binary 1,2 --loss regression
# No hidden layer at all: logistic regression.
"$propel" train --data "$data/digits.csv" --layers none --epochs 2 --quiet --save lin.ckpt --plot ""
"$propel" evaluate lin.ckpt "$data/digits.csv" | grep -q "^64-10 multiclass" || fail "--layers none"

# ---- --resume: the saved optimizer, never a silently ignored option
"$propel" train --data "$data/digits.csv" --layers 8 --epochs 1 --quiet --plot "" --optimizer adam \
  --lr 2e-3 --save res.ckpt
expect_error "--lr 0.01 conflicts with --resume res.ckpt, saved with --lr 0.002" \
  "$propel" train --data "$data/digits.csv" --layers 8 --epochs 2 --resume res.ckpt --lr 0.01 --save ""
expect_error "--optimizer sgd conflicts with --resume res.ckpt, saved with --optimizer adam" \
  "$propel" train --data "$data/digits.csv" --layers 8 --epochs 2 --resume res.ckpt --optimizer sgd --save ""
"$propel" train --data "$data/digits.csv" --layers 8 --epochs 2 --resume res.ckpt --lr 0.002 --save "" \
  --plot "" > res.txt
grep -q "adam, lr 0.002," res.txt || fail "resume header: $(head -2 res.txt)"
"$propel" train --data "$data/digits.csv" --layers 8 --epochs 2 --resume res.ckpt --save "" --plot "" \
  --report res.json > res.txt
grep -q "adam, lr 0.002," res.txt || fail "the header does not print the saved optimizer: $(head -2 res.txt)"
[ "$(field res.json optimizer)" = adam ] || fail "report optimizer"

# ---- files the run writes: checked before training
mkdir -p adir
expect_error "--report adir: is a directory, not a file" "$propel" train "${d[@]}" --report adir
expect_error "--report /nonexistent/r.json: cannot create a file in /nonexistent" \
  "$propel" train "${d[@]}" --report /nonexistent/r.json
expect_error "--save /nonexistent/m.ckpt: cannot create a file in /nonexistent" \
  "$propel" train --data "$data/digits.csv" --quiet --save /nonexistent/m.ckpt
expect_error "--save adir: is a directory, not a file" "$propel" train --data "$data/digits.csv" --quiet --save adir
expect_error "--plot /nonexistent/p.png: cannot create a file" "$propel" train --data "$data/digits.csv" --quiet --save "" --plot /nonexistent/p.png
if [ "$(id -u)" -ne 0 ]; then  # root writes anywhere
  mkdir -p ro && chmod 500 ro
  expect_error "--report ro/r.json: cannot create a file in ro: Permission denied" \
    "$propel" train "${d[@]}" --report ro/r.json
fi

# ---- inputs that are not files: one line, at once
mkfifo fifo
for bad in adir fifo /dev/zero; do
  t0=$(date +%s%N)
  expect_error "$bad: is a" "$propel" train --data "$bad" --quiet --save ""
  expect_error "$bad: is a" "$propel" evaluate "$bad" "$data/digits.csv"
  expect_error "$bad: is a" "$propel" predict lin.ckpt "$bad"
  expect_error "$bad: is a" "$propel" train --data "$data/digits.csv" --layers 8 --epochs 2 --resume "$bad" --save ""
  expect_error "$bad: is a" "$propel" train --data "$bad,$bad" --quiet --save ""
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 4000 ] || fail "$bad: slower than 1 s per command"
done

# ---- impossible sizes: the need and the machine's memory, before allocating (in 2 GB of address
# space, which the sanitizers' shadow memory cannot live in)
(
  [ -n "${PROPEL_TEST_SANITIZED:-}" ] || ulimit -v 2000000
  expect_error "--layers 100000,100000: the hidden layers alone need 80.0 GB for their parameters and gradients; this machine has" "$propel" train --data "$data/digits.csv" \
    --layers 100000,100000 --quiet --save ""
)

# ---- messages name their file; content is printed escaped
printf '1,2,0\n3,4,0\n5,6,0\n7,8,0\n9,10,0\n11,12,0\n' > oneclass.csv
expect_error "oneclass.csv: every label is 0: a multiclass task needs at least two classes" \
  "$propel" train --data oneclass.csv --quiet --save ""
awk -F, -v OFS=, 'NR == 5 { $65 = 12 } { print }' "$data/digits.csv" > label12.csv
expect_error "label12.csv: row 5 has label 12, the model has 10 classes" "$propel" evaluate lin.ckpt label12.csv
cut -d, -f2- "$data/digits.csv" > narrow.csv
expect_error "the test set narrow.csv has 63 features, the training set" \
  "$propel" train --data "$data/digits.csv" --test narrow.csv --quiet --save ""
printf '1,2,0\n3,\001\000x,1\n' > binary.csv
expect_error "line 2, column 2: '\\x01\\x00x' is not a number" "$propel" train --data binary.csv --quiet --save ""

# ---- CSV encodings: a UTF-8 byte-order mark, CR-only line ends
printf '\357\273\277' > bom.csv && cat "$data/digits.csv" >> bom.csv
"$propel" evaluate lin.ckpt bom.csv > eval.txt
[ "$(rows eval.txt)" = 1797 ] || fail "BOM CSV: $(cat eval.txt)"
tr '\n' '\r' < "$data/digits.csv" > cr.csv
"$propel" evaluate lin.ckpt cr.csv > eval.txt
[ "$(rows eval.txt)" = 1797 ] || fail "CR-only CSV: $(cat eval.txt)"
echo "cli tasks and input: ok"
