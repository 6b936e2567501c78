#!/usr/bin/env bash
# propel train --mpi under mpirun -np 2: the same parameters (checksum) as one process with the
# global batch, in deterministic mode; a working MPI_Allreduce mode; an error every rank agrees on.
#   cli_mpi_test.sh PROPEL MPIEXEC DATA_DIR WORK_DIR
set -euo pipefail
# The Python the build chose (ctest passes it); never whichever python3 is first on PATH.
py=${PROPEL_PYTHON:-/usr/bin/python3}
propel=$1
mpiexec=$2
data=$3/digits.csv
work=$4
rm -rf "$work"
mkdir -p "$work"
cd "$work"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
mpirun=("$mpiexec" --allow-run-as-root --oversubscribe -np 2)
common=(--layers 32,16 --epochs 3 --shard 32 --save "" --plot "" --quiet --threads 1)
checksum() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['parameter_checksum'])" "$1"; }

"$propel" train --data "$data" "${common[@]}" --batch 64 --report one.json
"${mpirun[@]}" "$propel" train --data "$data" "${common[@]}" --mpi --batch 32 --report two.json
[ "$(checksum one.json)" = "$(checksum two.json)" ] ||
  fail "2 ranks x 32 rows: checksum $(checksum two.json), 1 process x 64 rows: $(checksum one.json)"
"$py" -c "import json; r = json.load(open('two.json')); assert r['ranks'] == 2, r"

"${mpirun[@]}" "$propel" train --data "$data" "${common[@]}" --mpi --mpi-reduce allreduce --batch 32 --report ar.json
"$py" -c "
import json
a, b = json.load(open('one.json')), json.load(open('ar.json'))
assert abs(a['test_accuracy'] - b['test_accuracy']) < 0.02, (a['test_accuracy'], b['test_accuracy'])"

# A bad data set fails every rank, once, with the reason; nothing hangs (ctest's timeout).
if "${mpirun[@]}" "$propel" train "${common[@]}" --mpi --data missing.csv > out.txt 2> err.txt; then
  fail "a missing data set did not fail"
fi
grep -q "rank 0: .*missing.csv" err.txt || fail "no agreed error: $(cat err.txt)"
[ "$(grep -c 'propel: rank' err.txt)" = 1 ] || fail "the error was not printed once: $(cat err.txt)"
echo "cli_mpi: all checks passed"
