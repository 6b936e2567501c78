#!/usr/bin/env python3
"""Summarizes bench_gemm JSON output: GFLOP/s, fraction of the measured FMA peak, and the
propel/OpenBLAS ratio per shape and thread count (medians over repetitions), with the geometric
mean of the ratios over the MLP shapes.

    bench_gemm --benchmark_repetitions=3 --benchmark_out=gemm.json --benchmark_out_format=json
    tools/gemm_report.py gemm.json [--markdown]
"""
import argparse
import json
import math
import statistics
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(list)  # (lib, shape, threads) -> [GFLOP/s]
    peak = defaultdict(list)
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        parts = b["run_name"].split("/")
        if len(parts) < 3 or not parts[2].startswith("threads:"):
            continue
        lib, shape, threads = parts[0], parts[1], int(parts[2].split(":")[1])
        runs[(lib, shape, threads)].append(b["GFLOPS"] / 1e9 if b["GFLOPS"] > 1e6 else b["GFLOPS"])
        if lib == "propel":
            peak[(shape, threads)].append(b["peak_frac"])
    return data.get("context", {}), runs, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    ctx, runs, peak = load(args.json)
    if not runs:
        sys.exit(f"{args.json}: no bench_gemm results")

    print(f"CPU: {ctx.get('cpu_model', '?')}, target {ctx.get('propel_target', '?')}, "
          f"FMA peak {ctx.get('fma_peak_gflops_per_core', '?')} GFLOP/s per core; "
          f"{ctx.get('openblas_config', 'no OpenBLAS')}")
    if "core=Prescott" in ctx.get("openblas_config", "") and \
            ctx.get("propel_target", "") in ("AVX2", "AVX3", "AVX3_DL"):
        print("note: OpenBLAS did not recognise this CPU and runs its generic SSE3 kernels; for a "
              "comparison with its best kernels run the benchmark with OPENBLAS_CORETYPE=SkylakeX "
              "(AVX-512) or Haswell (AVX2)")
    def key(st):  # threads, then squares by size, then MLP shapes by batch and product
        shape, threads = st
        if shape.startswith("square_"):
            return (threads, 0, int(shape.split("_")[1]), "")
        kind, batch = shape.split("_")[0], shape.split("_")[1]
        return (threads, 1, int(batch.lstrip("b")), ["fwd", "dW", "dA"].index(kind) if kind in
                ("fwd", "dW", "dA") else 3, shape)
    shapes = sorted({(s, t) for (_, s, t) in runs}, key=key)
    header = ["shape", "threads", "propel GFLOP/s", "of peak", "OpenBLAS GFLOP/s", "propel/OpenBLAS"]
    rows, ratios = [], defaultdict(list)
    for shape, threads in shapes:
        p = runs.get(("propel", shape, threads))
        o = runs.get(("openblas", shape, threads))
        if not p:
            continue
        pm = statistics.median(p)
        frac = statistics.median(peak[(shape, threads)])
        om = statistics.median(o) if o else None
        ratio = pm / om if om else None
        if ratio and not shape.startswith("square"):
            ratios[threads].append(ratio)
        rows.append([shape, str(threads), f"{pm:.1f}", f"{100 * frac:.0f}%",
                     f"{om:.1f}" if om else "-", f"{ratio:.2f}" if ratio else "-"])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for threads, rs in sorted(ratios.items()):
        gm = math.exp(sum(math.log(r) for r in rs) / len(rs))
        print(f"geometric mean propel/OpenBLAS over {len(rs)} MLP shapes, {threads} thread(s): {gm:.2f}")


if __name__ == "__main__":
    main()
