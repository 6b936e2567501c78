#!/usr/bin/env bash
# Builds the readers' libFuzzer targets with clang-14 (the fuzz preset) and runs each for a fixed
# number of inputs from the seed corpus in fuzz/corpus/ (new inputs go to a scratch corpus under
# build/fuzz/). A finding fails the script and leaves its reproducer (crash-*) in the current
# folder.
#   tools/fuzz.sh            # 100000 runs each (CI)
#   tools/fuzz.sh 10000000   # longer
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100000}
tools/setup.sh
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz
for name in idx csv checkpoint; do
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  echo "fuzzing the ${name} reader: ${runs} runs"
  log=build/fuzz/${name}.log
  rc=0
  "build/fuzz/fuzz/propel_fuzz_${name}" -runs="$runs" -max_len=4096 "$corpus" "fuzz/corpus/$name" \
    > "$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -60 "$log"
    echo "fuzz: the ${name} reader failed (exit ${rc}); full log: ${log}" >&2
    exit "$rc"
  fi
  grep -E "^Done" "$log"
done
