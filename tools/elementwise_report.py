#!/usr/bin/env python3
"""Summarizes bench_elementwise JSON output: per function and direction, propel's elements/s on
each target against the scalar loop, Eigen and oneDNN, the ratio to the best peer, and the
out-of-cache fraction of the copy bandwidth. Medians over repetitions when present.

Usage: tools/elementwise_report.py FILE.json [--markdown]
"""
import json
import statistics
import sys
from collections import defaultdict

PEERS = ("eigen", "onednn", "scalar")


def load(path):
    with open(path) as f:
        doc = json.load(f)
    runs = defaultdict(list)
    for b in doc["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        name = b["name"].removesuffix("/real_time")
        runs[name].append(b)
    return doc.get("context", {}), runs


def median(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    md = "--markdown" in sys.argv
    if len(args) != 1:
        sys.exit(__doc__)
    ctx, runs = load(args[0])
    print(f"CPU: {ctx.get('cpu_model', '?')}; copy bandwidth {ctx.get('copy_bandwidth_gbs', '?')} GB/s;"
          f" targets {ctx.get('propel_available_targets', '?')}")
    rows = defaultdict(dict)  # (function, direction, size) -> impl -> Gelem/s (and copy_frac)
    fracs = {}
    # Out of cache: bytes/s as a fraction of the memcpy benchmark of the same run (medians),
    # which follows the machine's bandwidth of the moment better than the start-up measurement.
    copy = runs.get("copy/memcpy/67108864")
    copy_bps = median(copy, "bytes_per_second") if copy else None
    for name, rs in runs.items():
        parts = name.split("/")
        if parts[0] in ("copy",):
            continue
        if parts[0] in ("softmax_ce", "adam"):
            key = (parts[0], parts[1] if parts[0] == "softmax_ce" else "update",
                   parts[3] if len(parts) > 3 else parts[1])
            impl = parts[2] if parts[0] == "softmax_ce" else parts[1]
            if parts[0] == "adam":
                key = ("adam", "update", parts[2])
            rows[key][impl] = median(rs, "items_per_second") / 1e9
            continue
        func, direction, impl, size = parts[0], parts[1], parts[2], parts[3]
        rows[(func, direction, size)][impl] = median(rs, "items_per_second") / 1e9
        if size == "67108864" and copy_bps:
            fracs[(func, direction, size, impl)] = median(rs, "bytes_per_second") / copy_bps
    order = ["propel_AVX3", "propel_AVX2", "propel_SSE4", "propel_SSSE3", "propel_SCALAR"]
    targets = sorted({i for r in rows.values() for i in r if i.startswith("propel_")},
                     key=lambda t: order.index(t) if t in order else len(order))
    head = ["function", "dir", "size"] + [t.removeprefix("propel_") for t in targets] + \
        list(PEERS) + ["best/peer", "copy frac"]
    sep = " | " if md else "  "
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(f"{h:>10}" for h in head))
    for key in sorted(rows, key=lambda k: (k[0], k[1], int(k[2]) if k[2].isdigit() else 0)):
        r = rows[key]
        best = max((r[t] for t in targets if t in r), default=None)
        peer = max((r[p] for p in ("eigen", "onednn") if p in r), default=None)
        ratio = f"{best / peer:.2f}" if best and peer else "-"
        frac = max((fracs[(key[0], key[1], key[2], t)] for t in targets
                    if (key[0], key[1], key[2], t) in fracs), default=None)
        cells = list(key) + [f"{r[t]:.2f}" if t in r else "-" for t in targets] + \
            [f"{r[p]:.2f}" if p in r else "-" for p in PEERS] + \
            [ratio, f"{frac:.2f}" if frac is not None else "-"]
        if md:
            print("| " + " | ".join(cells) + " |")
        else:
            print(sep.join(f"{c:>10}" for c in cells))
    print("(elements/s in G; 'best/peer': propel's best target over the faster of Eigen and oneDNN;"
          " 'copy frac': bytes read + written per second over memcpy's in the same run)")


if __name__ == "__main__":
    main()
