#!/usr/bin/env python3
"""Summarizes bench_train JSON output: samples/s and the fraction of the measured FMA peak per
network, batch, thread count and executor (medians over repetitions and over every file given),
with the thread scaling (all threads / 1 thread) per network and batch.

    bench_train --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \\
        --benchmark_out=train.json --benchmark_out_format=json
    tools/train_report.py train.json [more.json ...] [--markdown]
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict


def load(paths):
    runs = defaultdict(lambda: defaultdict(list))  # key -> counter -> values
    ctx = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        ctx = ctx or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            parts = b["run_name"].split("/")
            if len(parts) < 5 or parts[0] != "TrainStep":
                continue
            net, batch, threads, executor = parts[1], parts[2], parts[3], parts[4]
            optimizer = parts[5] if len(parts) > 5 and not parts[5].startswith("real_time") else "sgd"
            key = (net, int(batch.split(":")[1]), int(threads.split(":")[1]), executor, optimizer)
            for counter in ("samples_per_second", "peak_fraction", "GFLOPS"):
                runs[key][counter].append(b[counter])
    return ctx, runs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args()
    ctx, runs = load(args.json)
    if not runs:
        sys.exit(f"{', '.join(args.json)}: no bench_train results")
    print(f"CPU: {ctx.get('cpu_model', '?')}, target {ctx.get('propel_target', '?')}, "
          f"FMA peak {ctx.get('fma_peak_gflops_per_core', '?')} GFLOP/s per core")

    def med(key, counter):
        return statistics.median(runs[key][counter])

    def table(header, rows):
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
        print()

    keys = sorted(runs, key=lambda k: (k[0], k[1], k[4], k[2], k[3]))
    rows = []
    for k in keys:
        net, batch, threads, executor, optimizer = k
        rows.append([net, str(batch), str(threads), executor, optimizer,
                     f"{med(k, 'samples_per_second'):,.0f}", f"{med(k, 'GFLOPS'):.1f}",
                     f"{100 * med(k, 'peak_fraction'):.0f}%"])
    table(["network", "batch", "threads", "executor", "optimizer", "samples/s", "GFLOP/s",
           "of peak"], rows)

    scaling = []
    for k in keys:
        net, batch, threads, executor, optimizer = k
        one = (net, batch, 1, executor, optimizer)
        if threads > 1 and one in runs:
            scaling.append([net, str(batch), executor, optimizer, f"{threads}",
                            f"{med(k, 'samples_per_second') / med(one, 'samples_per_second'):.2f}x"])
    if scaling:
        table(["network", "batch", "executor", "optimizer", "threads", "speed-up over 1 thread"],
              scaling)


if __name__ == "__main__":
    main()
