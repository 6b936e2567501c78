#!/usr/bin/env bash
# The performance regression gate (docs/benchmarking.md): builds a base revision and the working
# tree, runs `propel bench` on both in alternating rounds on this machine (base, change; then
# change, base; ...) so that drift of a shared machine hits both alike, pools the rounds and runs
# `propel compare`. Exit status: 0 no significant regression, 1 regression, 2 bad input or a
# failed build.
#
#   tools/bench_regression.sh [--base REF] [--rounds N] [--out DIR] [-- propel bench options]
#
#   tools/bench_regression.sh --base origin/main -- --family gemm,train --threads 1
#   tools/bench_regression.sh --base HEAD~1 --rounds 1 -- --instructions   # counts: one round
#
# Defaults: --base HEAD (the last commit against uncommitted changes), 2 rounds, results in
# build/bench-regression (per-round JSON files, report.md, report.txt, report.png).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

base=HEAD
rounds=2
out=build/bench-regression
compare_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --base) base=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threshold|--geomean-threshold|--alpha|--filter) compare_args+=("$1" "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "bench_regression.sh: unknown option $1 (options for propel bench go after --)" >&2; exit 2 ;;
  esac
done
bench_args=("$@")
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "bench_regression.sh: --rounds must be a positive number, not '$rounds'" >&2
  exit 2
fi
commit=$(git rev-parse --verify --quiet "$base^{commit}") || {
  echo "bench_regression.sh: '$base' is not a commit of this repository" >&2
  exit 2
}

tools/setup.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The base: a detached worktree of REF, built in Release beside the change's build.
worktree=$out/base-src
if [ -d "$worktree" ]; then git worktree remove --force "$worktree" > /dev/null 2>&1 || rm -rf "$worktree"; fi
git worktree prune
git worktree add --detach "$worktree" "$commit" > /dev/null
trap 'git -C "$root" worktree remove --force "$worktree" > /dev/null 2>&1 || true' EXIT

build() {  # source dir, build dir
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROPEL_BUILD_TESTS=OFF \
    -DPROPEL_BUILD_EXAMPLES=OFF -DPROPEL_BUILD_BENCH=OFF -DPROPEL_BUILD_CLI=ON > /dev/null
  cmake --build "$2" --target propel_cli
}
echo "== building the base ($base = ${commit:0:12})"
build "$worktree" "$out/base-build" || exit 2
echo "== building the change (working tree)"
build "$root" "$out/change-build" || exit 2
base_bin=$out/base-build/tools/propel/propel
change_bin=$out/change-build/tools/propel/propel
"$base_bin" bench --help > /dev/null 2>&1 || {
  echo "bench_regression.sh: the base ($base) has no 'propel bench'" >&2
  exit 2
}

base_runs=()
change_runs=()
for r in $(seq 1 "$rounds"); do
  order=(base change)
  if [ $((r % 2)) -eq 0 ]; then order=(change base); fi
  for side in "${order[@]}"; do
    echo "== round $r/$rounds: $side"
    bin=$base_bin
    [ "$side" = change ] && bin=$change_bin
    "$bin" bench "${bench_args[@]}" --out "$out/$side-$r.json" > "$out/$side-$r.log" 2>&1 || {
      tail -20 "$out/$side-$r.log" >&2
      echo "bench_regression.sh: propel bench failed on the $side (log: $out/$side-$r.log)" >&2
      exit 2
    }
    if [ "$side" = base ]; then base_runs+=("$out/$side-$r.json"); else change_runs+=("$out/$side-$r.json"); fi
  done
done

join() { local IFS=,; echo "$*"; }
status=0
"$change_bin" compare "$(join "${base_runs[@]}")" "$(join "${change_runs[@]}")" \
  ${compare_args[@]+"${compare_args[@]}"} --out "$out/report.txt" || status=$?
"$change_bin" compare "$(join "${base_runs[@]}")" "$(join "${change_runs[@]}")" \
  ${compare_args[@]+"${compare_args[@]}"} --format markdown --out "$out/report.md" \
  --chart "$out/report.png" > /dev/null || true
cat "$out/report.txt"
echo "Report: $out/report.md, chart: $out/report.png"
exit "$status"
