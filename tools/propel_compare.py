#!/usr/bin/env python3
"""propel compare: read `propel bench` JSON files (Google Benchmark format) and report.

Two runs of one CPU: a regression report. Per benchmark the change of the median time (or, for
runs made with --instructions, of the instruction count), the Mann-Whitney U test over the
repetitions from Google Benchmark's own compare tooling (gbench, Debian's libbenchmark-tools),
and a verdict; then the geometric mean of the changes over the benchmarks both runs hold. The exit
status is 1 when a benchmark or the geometric mean regressed past the thresholds, 0 otherwise,
2 on bad input.

Runs of several CPUs (or --table): a side-by-side table per kernel and target, in absolute units
(GFLOP/s, samples/s, GB/s) and as a fraction of each CPU's measured FMA peak (GEMM, training
step) or copy bandwidth (element-wise, optimizer). --targets A:B compares target A's rows with
target B's (of one run, or A from the first run and B from the second).

Output as text (default), markdown or JSON (--format), and a chart (--chart FILE.png|FILE.svg,
drawn by gnuplot). docs/benchmarking.md describes the fields and a CI recipe.
"""

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

GBENCH_DIRS = [os.environ.get("PROPEL_GBENCH_DIR", ""), "/usr/share/benchmark"]


class InputError(Exception):
    pass


def import_gbench():
    """Google Benchmark's compare.py library (gbench), with a message that says what is wrong."""
    searched = [d for d in GBENCH_DIRS if d]
    found = next((d for d in searched if os.path.isfile(os.path.join(d, "gbench", "report.py"))),
                 None)
    if found is None:
        raise InputError(
            "Google Benchmark's comparison library (gbench/report.py) is not in %s: install "
            "Debian's libbenchmark-tools, or set PROPEL_GBENCH_DIR to the folder holding gbench/"
            % " or ".join(searched))
    sys.path.insert(0, found)
    # gbench needs numpy and scipy in *this* interpreter, which need not be the one the set-up
    # provisioned: name the interpreter and the module, and suggest a package only when it is
    # Debian's interpreter that lacks it.
    for module, package in (("numpy", "python3-numpy"), ("scipy", "python3-scipy")):
        try:
            __import__(module)
        except ImportError as e:
            where = "%s (Python %d.%d)" % (sys.executable, *sys.version_info[:2])
            debian = (sys.prefix == sys.base_prefix == "/usr" and
                      os.path.realpath(sys.executable) == os.path.realpath("/usr/bin/python3"))
            if debian:
                fix = "install it with: apt-get install %s" % package
            else:
                fix = ("run propel compare with an interpreter that has it: PROPEL_PYTHON="
                       "/usr/bin/python3 (tools/setup.sh installs %s for it)" % package)
            raise InputError("the Python interpreter %s cannot import %s (%s), which Google "
                             "Benchmark's comparison library needs; %s" % (where, module, e, fix))
    try:
        import gbench.report  # noqa: F401
        import gbench.util  # noqa: F401
        return gbench
    except ImportError as e:
        raise InputError("%s/gbench does not import in %s: %s" % (found, sys.executable, e))


# ------------------------------------------------------------------------------------ input

class Run:
    """One build's results: one JSON file, or several (rounds) pooled."""

    def __init__(self, spec):
        self.files = [f for f in spec.split(",") if f]
        if not self.files:
            raise InputError("empty run: '%s'" % spec)
        self.context = None
        self.benchmarks = []
        for index, f in enumerate(self.files):
            try:
                with open(f) as fh:
                    data = json.load(fh)
            except FileNotFoundError:
                raise InputError("%s: no such file" % f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError("%s: not JSON (%s)" % (f, e))
            if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) \
                    or not isinstance(data.get("context"), dict):
                raise InputError("%s: not a Google Benchmark JSON file (no context/benchmarks)" % f)
            for b in data["benchmarks"]:
                if not isinstance(b, dict) or "name" not in b:
                    raise InputError("%s: a benchmark entry without a name" % f)
                if b.get("error_occurred"):
                    raise InputError("%s: %s failed: %s" % (f, b["name"], b.get("error_message", "")))
                if b.get("run_type", "iteration") == "iteration" and not isinstance(
                        b.get("real_time"), (int, float)):
                    raise InputError("%s: %s has no real_time" % (f, b["name"]))
            if self.context is None:
                self.context = data["context"]
            elif data["context"].get("cpu_model") != self.context.get("cpu_model"):
                raise InputError("%s: pooled with %s but from another CPU (%s vs %s)" % (
                    f, self.files[0], data["context"].get("cpu_model"), self.context.get("cpu_model")))
            for b in data["benchmarks"]:
                if b.get("run_type", "iteration") == "iteration":
                    b["_file"] = index  # pooled rounds: each file's repetitions are samples
                    self.benchmarks.append(b)
        # Registration order (random interleaving shuffles the file), repetitions in order.
        self.benchmarks.sort(key=lambda b: (b.get("family_index", -1),
                                            b.get("per_family_instance_index", -1),
                                            b["_file"], b.get("repetition_index", -1)))
        self.label = self.context.get("cpu_model") or self.files[0]

    @property
    def cpu(self):
        return self.context.get("cpu_model", "unknown")

    @property
    def measure(self):
        return self.context.get("propel_measure", "time")

    def limit(self, family, target):
        if family in ("gemm", "train", "predict"):
            v = self.context.get("fma_peak_gflops_per_core:" + target)
            return ("FMA peak", float(v)) if v else None
        v = self.context.get("copy_bandwidth_gbs")
        return ("copy bandwidth", float(v)) if v else None

    def json(self):
        return {"context": self.context, "benchmarks": copy.deepcopy(self.benchmarks)}


def parse_name(name):
    """family, kernel (the name without target, threads and /real_time), target, threads."""
    parts = [p for p in name.split("/") if p not in ("real_time", "process_time")]
    # A peer's results (bench/bench_*.cc) carry peer:<name> where propel's carry target:<T>.
    target = next((p.split(":", 1)[1] for p in parts if p.startswith(("target:", "peer:"))), "")
    threads = next((p[8:] for p in parts if p.startswith("threads:")), "")
    kernel = "/".join(p for p in parts if not p.startswith(("target:", "peer:", "threads:")))
    return parts[0], kernel, target, threads


def short_name(name):
    family, kernel, target, threads = parse_name(name)
    s = kernel
    if target:
        s += " " + target
    if threads:
        s += " t" + threads
    return s


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return float("nan")
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(b):
    return b["real_time"] * UNIT_SECONDS.get(b.get("time_unit", "ns"), 1e-9)


# ------------------------------------------------------------------------ regression report

def retarget(run, target, token, name_filter):
    """The run's benchmarks of `target` (all when None), renamed to a common `token`."""
    out = copy.deepcopy(run.json())
    keep = []
    for b in out["benchmarks"]:
        if name_filter and not re.search(name_filter, b["name"]):
            continue
        if target is not None:
            if "/target:%s/" % target not in b["name"] + "/":
                continue
            b["name"] = b["name"].replace("/target:%s" % target, "/target:%s" % token)
            b["run_name"] = b["name"]
        keep.append(b)
    out["benchmarks"] = keep
    return out


def regression_report(gbench, base, contender, args):
    instructions = base.measure.startswith("instructions")
    targets = None
    if args.targets:
        a, b = args.targets
        for run, t in ((base, a), (contender, b)):
            if not any("/target:%s/" % t in x["name"] + "/" for x in run.benchmarks):
                have = sorted({parse_name(x["name"])[2] for x in run.benchmarks} - {""})
                raise InputError("target %s has no results in %s (it has: %s)" % (
                    t, ",".join(run.files), ", ".join(have) or "none"))
        targets = (a, b)
    token = "%s->%s" % targets if targets else None
    j1 = retarget(base, targets[0] if targets else None, token, args.filter)
    j2 = retarget(contender, targets[1] if targets else None, token, args.filter)
    names2 = {b["name"] for b in j2["benchmarks"]}
    common = [n for n in dict.fromkeys(b["name"] for b in j1["benchmarks"]) if n in names2]
    if not common:
        raise InputError("the runs have no benchmark in common%s" % (
            " after --filter" if args.filter else ""))
    j1["benchmarks"] = [b for b in j1["benchmarks"] if b["name"] in common]
    j2["benchmarks"] = [b for b in j2["benchmarks"] if b["name"] in common]
    only_base = sorted({b["name"] for b in base.benchmarks} - {b["name"] for b in contender.benchmarks}) \
        if not targets else []
    only_new = sorted({b["name"] for b in contender.benchmarks} - {b["name"] for b in base.benchmarks}) \
        if not targets else []

    # gbench: per-benchmark U test over the repetitions (time pairs), as compare.py computes it.
    diff = gbench.report.get_difference_report(
        gbench.util.sort_benchmark_results(copy.deepcopy(j1)),
        gbench.util.sort_benchmark_results(copy.deepcopy(j2)), utest=not instructions)
    utest = {d["name"]: d.get("utest") or {} for d in diff}

    threshold = args.threshold / 100.0
    rows = []
    log_sum = 0.0
    for name in common:
        lhs = [b for b in j1["benchmarks"] if b["name"] == name]
        rhs = [b for b in j2["benchmarks"] if b["name"] == name]
        if instructions:
            try:
                old = median([b["instructions"] for b in lhs])
                new = median([b["instructions"] for b in rhs])
            except KeyError:
                raise InputError("%s: no instruction count in an instructions run" % name)
        else:
            old = median([seconds(b) for b in lhs])
            new = median([seconds(b) for b in rhs])
        change = (new - old) / old if old > 0 else 0.0
        log_sum += math.log(new / old) if old > 0 and new > 0 else 0.0
        p = utest.get(name, {}).get("time_pvalue")
        rows.append({
            "name": name, "short": short_name(name), "old": old, "new": new, "change": change,
            "pvalue": p, "qvalue": None, "repetitions": (len(lhs), len(rhs)),
        })
    # Hundreds of U tests at once: control the false discovery rate (Benjamini-Hochberg), or a
    # run compared with itself would flag about alpha x (benchmarks) changes by chance.
    tested = sorted((r for r in rows if r["pvalue"] is not None), key=lambda r: r["pvalue"])
    q = 1.0
    for i in range(len(tested) - 1, -1, -1):
        q = min(q, tested[i]["pvalue"] * len(tested) / (i + 1))
        tested[i]["qvalue"] = q
    for r in rows:
        significant = instructions or r["qvalue"] is None or r["qvalue"] < args.alpha
        if r["change"] > threshold and significant:
            r["verdict"] = "REGRESSION"
        elif r["change"] < -threshold and significant:
            r["verdict"] = "improvement"
        else:
            r["verdict"] = "~"
    geomean = math.exp(log_sum / len(rows)) - 1.0
    geomean_p = None if instructions else geomean_utest(j1, j2, common)
    geomean_regressed = geomean > args.geomean_threshold / 100.0 and (
        geomean_p is None or geomean_p < args.alpha)
    regressions = [r for r in rows if r["verdict"] == "REGRESSION"]
    return {
        "kind": "regression",
        "measure": "instructions per iteration" if instructions else "median time per iteration (s)",
        "base": {"files": base.files, "cpu": base.cpu, "commit": base.context.get("propel_commit")},
        "contender": {"files": contender.files, "cpu": contender.cpu,
                      "commit": contender.context.get("propel_commit")},
        "targets": list(targets) if targets else None,
        "threshold": threshold, "geomean_threshold": args.geomean_threshold / 100.0,
        "alpha": args.alpha, "utest": not instructions,
        "rows": rows, "geomean_change": geomean, "geomean_pvalue": geomean_p,
        "geomean_regressed": geomean_regressed,
        "regressions": len(regressions), "improvements": sum(r["verdict"] == "improvement" for r in rows),
        "only_in_base": only_base, "only_in_contender": only_new,
        "failed": bool(regressions) or geomean_regressed,
        "gbench_report": gbench.report.print_difference_report(
            diff, utest=not instructions, utest_alpha=args.alpha, use_color=False) if args.detail else None,
    }


def repetition_geomeans(j, names):
    """The geometric mean over `names` of each repetition (of each pooled file) holding them all."""
    groups = {}
    for b in j["benchmarks"]:
        key = (b.get("_file", 0), b.get("repetition_index", 0))
        groups.setdefault(key, {})[b["name"]] = seconds(b)
    out = []
    for times in groups.values():
        if all(n in times and times[n] > 0 for n in names):
            out.append(math.exp(sum(math.log(times[n]) for n in names) / len(names)))
    return out


def geomean_utest(j1, j2, names):
    """U test p-value of the whole suite's per-repetition geometric means, or None."""
    g1, g2 = repetition_geomeans(j1, names), repetition_geomeans(j2, names)
    if min(len(g1), len(g2)) < 2:
        return None
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(g1, g2, alternative="two-sided").pvalue)


def fmt_value(v, instructions):
    if instructions:
        return "%.0f" % v
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if v >= scale or unit == "ns":
            return "%.4g %s" % (v / scale, unit)


def fmt_p(p):
    return "-" if p is None else "%.4f" % p


def regression_text(r, markdown):
    ins = r["measure"].startswith("instructions")
    lines = []
    title = "propel compare: %s -> %s (%s)" % (
        ",".join(r["base"]["files"]), ",".join(r["contender"]["files"]), r["measure"])
    if r["targets"]:
        title += "; target %s against target %s" % tuple(r["targets"])
    head = ["benchmark", "base", "contender", "change", "U test p", "FDR q", "verdict"]
    body = [[x["short"], fmt_value(x["old"], ins), fmt_value(x["new"], ins),
             "%+.1f%%" % (100 * x["change"]), fmt_p(x["pvalue"]), fmt_p(x["qvalue"]), x["verdict"]]
            for x in r["rows"]]
    summary = [
        "%d benchmarks compared: %d regressed, %d improved (threshold %.1f%%%s)." % (
            len(r["rows"]), r["regressions"], r["improvements"], 100 * r["threshold"],
            "" if not r["utest"] else
            ", U test with false discovery rate %g (Benjamini-Hochberg)" % r["alpha"]),
        "Geometric mean of the changes: %+.2f%% (threshold %.1f%%%s)." % (
            100 * r["geomean_change"], 100 * r["geomean_threshold"],
            "" if r.get("geomean_pvalue") is None
            else "; U test over the repetitions' geometric means p = %.4f" % r["geomean_pvalue"]),
    ]
    if r["utest"] and any(x["pvalue"] is None for x in r["rows"]):
        summary.append("Without repetitions (fewer than 2 per side) there is no U test: "
                       "the threshold alone decides. The U test needs 4 or more repetitions per side to reach "
                       "p < 0.05 (propel bench's default is 5; 9 is better).")
    if r["only_in_base"] or r["only_in_contender"]:
        summary.append("Not compared: %d only in the base, %d only in the contender." % (
            len(r["only_in_base"]), len(r["only_in_contender"])))
    summary.append("Result: %s" % ("REGRESSION" if r["failed"] else "no significant regression"))
    if markdown:
        lines.append("### " + title)
        lines.append("")
        lines.append("Base: %s, commit %s. Contender: %s, commit %s." % (
            r["base"]["cpu"], r["base"]["commit"], r["contender"]["cpu"], r["contender"]["commit"]))
        lines.append("")
        lines += markdown_table(head, body)
        lines.append("")
        lines += ["- " + s for s in summary]
    else:
        lines.append(title)
        lines += text_table(head, body)
        lines += summary
        if r.get("gbench_report"):
            lines.append("")
            lines.append("Google Benchmark's compare.py report:")
            lines += r["gbench_report"]
    return lines


# ----------------------------------------------------------------------------- table report

FAMILY_METRIC = {  # family: (counter, unit, scale)
    "gemm": ("GFLOPS", "GFLOP/s", 1.0),
    "train": ("samples_per_second", "samples/s", 1.0),
    "predict": ("rows_per_second", "rows/s", 1.0),
    "elementwise": ("bytes_per_second", "GB/s", 1e-9),
    "optimizer": ("bytes_per_second", "GB/s", 1e-9),
}
FRACTION = {"gemm": "peak_fraction", "train": "peak_fraction", "predict": "peak_fraction",
            "elementwise": "bandwidth_fraction", "optimizer": "bandwidth_fraction"}


def metric_of(family, instructions):
    if instructions:
        return ("instructions", "instructions/iteration", 1.0)
    return FAMILY_METRIC.get(family, (None, "us/iteration", 1.0))


def repetitions_by_name(run, name_filter):
    """The run's repetitions of each benchmark whose name matches name_filter (None: all), by
    name, in the run's order."""
    by_name = {}
    for b in run.benchmarks:
        if name_filter and not re.search(name_filter, b["name"]):
            continue
        by_name.setdefault(b["name"], []).append(b)
    return by_name


def table_report(runs, args):
    instructions = runs[0].measure.startswith("instructions")
    group_by = args.group_by or ("target" if len(runs) == 1 else "cpu")
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):  # same CPU twice: tell the runs apart by file
        labels = ["%s (%s)" % (r.label, os.path.basename(r.files[0])) for r in runs]
    # Several CPUs: one row per case at each CPU's best target (the target in the cell) unless
    # --all-targets asks for a row per target.
    compact = group_by == "cpu" and not args.all_targets
    cells = {}  # (row, column) -> (value, fraction, target)
    peers = set()  # columns that are peers (bench/bench_*.cc), not propel targets
    rows, families, column_keys = [], {}, {}  # column label -> (run index, target rank)
    for index, (run, label) in enumerate(zip(runs, labels)):
        targets = [t for t in run.context.get("propel_available_targets", "").split(",") if t]
        for name, reps in repetitions_by_name(run, args.filter).items():
            family, kernel, target, threads = parse_name(name)
            is_peer = "/peer:" in name
            counter, unit, scale = metric_of(family, instructions)
            if counter is None:
                value = median([seconds(b) for b in reps if "real_time" in b]) * 1e6
            elif any(counter in b for b in reps):
                value = median([b[counter] for b in reps if counter in b]) * scale
            else:
                continue
            frac_key = FRACTION.get(family)
            fracs = [b[frac_key] for b in reps if frac_key and frac_key in b]
            frac = median(fracs) if fracs else None
            if group_by == "cpu":
                if compact and not is_peer:
                    row = "%s t%s" % (kernel, threads)
                else:
                    row = "%s %s t%s" % (kernel, target, threads)
                col = label
                key = (index, 0)
            else:  # best target first, as the run's context lists them
                row = "%s t%s" % (kernel, threads)
                col = target if len(runs) == 1 else "%s %s" % (label, target)
                key = (index, targets.index(target) if target in targets else len(targets))
                if is_peer:
                    peers.add(col)
            if row not in families:
                rows.append(row)
                families[row] = (family, unit)
            column_keys.setdefault(col, key)
            old = cells.get((row, col))
            if old is not None and compact and not is_peer:
                higher = not unit.endswith("/iteration")
                if (value <= old[0]) if higher else (value >= old[0]):
                    continue  # this CPU has a better target for the case
            cells[(row, col)] = (value, frac, target if compact and not is_peer else None)
    if not rows:
        raise InputError("no benchmark to tabulate%s" % (" after --filter" if args.filter else ""))
    columns = sorted(column_keys, key=lambda c: column_keys[c])
    limits = []
    for run, label in zip(runs, labels):
        peaks = {k.split(":", 1)[1]: v for k, v in run.context.items()
                 if k.startswith("fma_peak_gflops_per_core:")}
        limits.append({"run": label, "files": run.files, "fma_peak_gflops_per_core": peaks,
                       "copy_bandwidth_gbs": run.context.get("copy_bandwidth_gbs"),
                       "read_bandwidth_gbs": run.context.get("read_bandwidth_gbs"),
                       "commit": run.context.get("propel_commit")})
    return {"kind": "table", "group_by": group_by, "instructions": instructions, "rows": rows,
            "columns": columns, "units": {r: families[r][1] for r in rows},
            "families": {r: families[r][0] for r in rows},
            "peers": [c for c in columns if c in peers],
            "cells": {"%s\t%s" % k: {"value": v[0], "fraction": v[1], "target": v[2]}
                      for k, v in cells.items()},
            "best_target": compact,
            "limits": limits, "failed": False}


def twins(runs, args, suffix):
    """(run, name, twin repetitions, repetitions) of every case whose name holds `suffix` and
    whose twin (the same name without it) ran too, per run; an InputError when there is none."""
    out = []
    for run in runs:
        by_name = repetitions_by_name(run, args.filter)
        for name, reps in by_name.items():
            if suffix in name and name.replace(suffix, "") in by_name:
                out.append((run, name, by_name[name.replace(suffix, "")], reps))
    if not out:
        raise InputError("no '%s' case with its twin%s" % (
            suffix, " after --filter" if args.filter else ""))
    return out


def precision_report(runs, args):
    """Each ':bf16' case beside its fp32 twin (the same name without ':bf16'), per run."""
    rows = []
    for run, name, twin, reps in twins(runs, args, ":bf16"):
        fp32 = median([seconds(b) for b in twin])
        bf16 = median([seconds(b) for b in reps])
        frac = [b["peak_fraction"] for b in reps if "peak_fraction" in b]
        rows.append({"run": run.label, "case": short_name(name.replace(":bf16", "")),
                     "fp32_seconds": fp32, "bf16_seconds": bf16,
                     "speedup": fp32 / bf16 if bf16 > 0 else None,
                     "bf16_peak_fraction": median(frac) if frac else None,
                     "bf16_dot_product": run.context.get(
                         "bf16_dot_product:" + parse_name(name)[2], "")})
    return {"kind": "precisions", "rows": rows, "failed": False}


def precision_text(r, markdown):
    head = ["case", "fp32", "bf16", "bf16 speed-up", "bf16 peak fraction"]
    body = []
    for row in r["rows"]:
        body.append([row["case"], "%.4g ms" % (1e3 * row["fp32_seconds"]),
                     "%.4g ms" % (1e3 * row["bf16_seconds"]),
                     "%.3fx" % row["speedup"] if row["speedup"] else "-",
                     "%.3f" % row["bf16_peak_fraction"] if row["bf16_peak_fraction"] else "-"])
    lines = ["bf16 against fp32, medians of one run (%s)" % r["rows"][0]["run"]]
    dots = sorted({row["bf16_dot_product"] for row in r["rows"] if row["bf16_dot_product"]})
    if dots:
        lines.append("bf16 arithmetic: " + "; ".join(dots))
    return lines + (markdown_table(head, body) if markdown else text_table(head, body))


def portable_report(runs, args):
    """Each ':portable' case beside its default-mode twin (the same name without ':portable'),
    per run: what portable mode costs (docs/reproducibility.md)."""
    rows = []
    for run, name, twin, reps in twins(runs, args, ":portable"):
        default = median([seconds(b) for b in twin])
        portable = median([seconds(b) for b in reps])
        rows.append({"run": run.label, "case": short_name(name.replace(":portable", "")),
                     "default_seconds": default, "portable_seconds": portable,
                     "cost": portable / default - 1.0 if default > 0 else None})
    return {"kind": "portable", "rows": rows, "failed": False}


def portable_text(r, markdown):
    head = ["case", "default", "portable", "portable's cost"]
    body = [[row["case"], "%.4g ms" % (1e3 * row["default_seconds"]),
             "%.4g ms" % (1e3 * row["portable_seconds"]),
             "%+.1f%%" % (100 * row["cost"]) if row["cost"] is not None else "-"]
            for row in r["rows"]]
    lines = ["portable mode against the default mode, medians of one run (%s)" % r["rows"][0]["run"]]
    return lines + (markdown_table(head, body) if markdown else text_table(head, body))


def speedup(t, row, col, peer):
    """How many times faster propel's `col` is than `peer` on `row` (None when one is missing)."""
    a, b = t["cells"].get("%s\t%s" % (row, col)), t["cells"].get("%s\t%s" % (row, peer))
    if a is None or b is None or not a["value"] or not b["value"]:
        return None
    lower_is_better = t["units"][row].endswith("/iteration")
    return b["value"] / a["value"] if lower_is_better else a["value"] / b["value"]


def table_text(t, markdown):
    peers = t.get("peers", [])
    ours = [c for c in t["columns"] if c not in peers]
    head = ["kernel", "unit"]
    for c in t["columns"]:
        head += [c] if t["instructions"] or c in peers else [c, "of limit"]
    # A ratio column for each peer that shares a case with propel's first column.
    rated = [p for p in peers if ours and any(speedup(t, r, ours[0], p) for r in t["rows"])]
    head += ["%s vs %s" % (ours[0], p) for p in rated]
    body = []
    for row in t["rows"]:
        line = [row, t["units"][row]]
        for c in t["columns"]:
            cell = t["cells"].get("%s\t%s" % (row, c))
            simple = t["instructions"] or c in peers
            if cell is None:
                line += ["-"] if simple else ["-", "-"]
                continue
            line.append("%.4g" % cell["value"] + (" %s" % cell["target"] if cell.get("target")
                                                   else ""))
            if not simple:
                frac = cell["fraction"]
                # A fraction above 1 means the limit does not bound the case (a file of an
                # older propel bench): no figure rather than a wrong one.
                line.append("-" if frac is None or frac > 1.0 else "%.0f%%" % (100 * frac))
        for p in rated:
            x = speedup(t, row, ours[0], p)
            line.append("-" if x is None else "%.2fx" % x)
        body.append(line)
    notes = []
    for lim in t["limits"]:
        peaks = ", ".join("%s %s" % (k, v) for k, v in lim["fma_peak_gflops_per_core"].items())
        notes.append("%s: FMA peak per core (GFLOP/s) %s; copy bandwidth %s GB/s; read bandwidth "
                     "%s GB/s; commit %s" % (
                         lim["run"], peaks or "not measured",
                         lim["copy_bandwidth_gbs"] or "not measured",
                         lim.get("read_bandwidth_gbs") or "not measured", lim["commit"]))
    if rated:
        notes.append("%s vs PEER: how many times faster propel's %s is than the peer (above 1: "
                     "propel is faster)." % (ours[0], ours[0]))
    if t.get("best_target"):
        notes.append("One row per case at each CPU's best target for it (named in the cell); "
                     "--all-targets: a row per target.")
    notes.append("Limits: GEMM and training step against the FMA peak of their target times the "
                 "threads (SCALAR: the 128-bit vector targets' peak, the ISA its loops are "
                 "vectorized with); element-wise and optimizer out of cache against one core's "
                 "memory bandwidth (the faster of a streamed read and a copy); in cache, and "
                 "wherever a run's figure would exceed its limit, none ('-').")
    if markdown:
        return ["### propel compare: throughput by %s" % t["group_by"], ""] + \
            markdown_table(head, body) + [""] + ["- " + n for n in notes]
    return ["propel compare: throughput by %s" % t["group_by"]] + text_table(head, body) + notes


# ------------------------------------------------------------------------------- formatting

def text_table(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                              for i, (x, w) in enumerate(zip(r, widths)))
    return [fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in body]


def markdown_table(head, body):
    esc = lambda x: str(x).replace("|", "\\|")
    return ["| " + " | ".join(esc(h) for h in head) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"] + \
        ["| " + " | ".join(esc(x) for x in r) + " |" for r in body]


# ------------------------------------------------------------------------------------ chart

def gp_quote(s):
    return "'" + str(s).replace("'", "''") + "'"


def chart_panels(report):
    """Per family: (title, [(label, [(series, ratio, colour)])], band): each bar a ratio to 1."""
    panels = []
    if report["kind"] in ("precisions", "portable"):
        raise InputError("--chart draws regression reports and tables, not --precisions or "
                         "--portable")
    if report["kind"] == "regression":
        colour = {"REGRESSION": "#d62728", "improvement": "#2ca02c", "~": "#9a9a9a"}
        what = "instructions" if report["measure"].startswith("instructions") else "time"
        for fam in dict.fromkeys(parse_name(r["name"])[0] for r in report["rows"]):
            rows = [r for r in report["rows"] if parse_name(r["name"])[0] == fam]
            bars = [(r["short"], [("", r["new"] / r["old"] if r["old"] > 0 else 1.0,
                                   colour[r["verdict"]])]) for r in rows]
            panels.append(("%s: %s new / base (below 1: faster; shaded: within the %g%% threshold)"
                           % (fam, what, 100 * report["threshold"]), bars, report["threshold"]))
        return panels, [("regression", "#d62728"), ("improvement", "#2ca02c"),
                        ("no significant change", "#9a9a9a")]
    # A table: every column against the first (its runs' or targets' ratio, above 1: faster).
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    base, others = report["columns"][0], report["columns"][1:]
    if not others:
        raise InputError("--chart needs two columns or more to compare (one run of one target?)")
    series_colour = {c: palette[i % len(palette)] for i, c in enumerate(others)}
    for fam in dict.fromkeys(report["families"].values()):
        bars = []
        for row in (r for r in report["rows"] if report["families"][r] == fam):
            ratios = []
            for c in others:
                x = speedup(report, row, c, base)
                if x is not None:
                    ratios.append((c, x, series_colour[c]))
            if ratios:
                bars.append((row, ratios))
        if bars:
            unit = report["units"][next(r for r in report["rows"] if report["families"][r] == fam)]
            panels.append(("%s: %s against %s (above 1: faster)" % (fam, unit, base), bars, None))
    if not panels:
        raise InputError("--chart: no row has values in two columns")
    return panels, [(c, series_colour[c]) for c in others]


def ratio_ticks(lo, hi):
    """Ratios to label on a log axis over [lo, hi]: 1, and round ratios spaced out evenly."""
    candidates = (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0,
                  4.0, 5.0, 10.0)
    gap = (math.log(hi) - math.log(lo)) / 12.0  # at most ~12 labels across the axis
    ticks = [1.0]
    for side in (sorted((t for t in candidates if t > 1.0)),
                 sorted((t for t in candidates if t < 1.0), reverse=True)):
        last = 1.0
        for t in side:
            if lo <= t <= hi and abs(math.log(t) - math.log(last)) >= gap:
                ticks.append(t)
                last = t
    return sorted(ticks)


def chart(report, path):
    """One panel per family, a horizontal bar per case from 1 to its ratio (log axis centred on
    1), the full case names beside the bars."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        raise InputError("--chart needs gnuplot (apt-get install gnuplot-nox)")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise InputError("--chart %s: the file must end in .png or .svg" % path)
    panels, legend = chart_panels(report)
    ratios = [x for _, bars, _ in panels for _, rs in bars for _, x, _ in rs if x > 0]
    band = max((p[2] or 0.0) for p in panels)
    spread = max([abs(math.log(x)) for x in ratios] + [math.log1p(band) * 1.5, math.log(1.1)])
    lo, hi = math.exp(-spread * 1.15), math.exp(spread * 1.15)
    longest = max(len(label) for _, bars, _ in panels for label, _ in bars)
    left = 24 + 8 * longest          # pixels for the case names (sans 9: under 8 px a character)
    row_px = lambda n_series: 8 + 10 * n_series
    heights = [70 + sum(row_px(len(rs)) for _, rs in bars) for _, bars, _ in panels]
    width, height = left + 760, sum(heights) + 40
    tmp = tempfile.mkdtemp(prefix="propel-chart-")
    try:
        term = "pngcairo noenhanced size %d,%d font 'sans,9'" % (width, height) if ext == ".png" \
            else "svg noenhanced size %d,%d dynamic font 'sans,9'" % (width, height)
        script = ["set terminal " + term, "set output " + gp_quote(path),
                  "set datafile separator '\\t'", "set logscale x 2",
                  "set xrange [%r:%r]" % (lo, hi), "set grid xtics", "set style fill solid 0.9",
                  "set xtics (%s)" % ", ".join("'%gx' %r" % (t, t) for t in ratio_ticks(lo, hi)),
                  "set key off", "set tics front", "set ytics scale 0 nomirror",
                  "set lmargin at screen %r" % (left / width), "set rmargin at screen 0.97",
                  "set multiplot"]
        top = 1.0 - 40.0 / height
        for i, (title, bars, panel_band) in enumerate(panels):
            dat = os.path.join(tmp, "panel%d.tsv" % i)
            ticks, y = [], 0.0
            with open(dat, "w") as f:
                for label, rs in bars:  # top to bottom: y grows downwards (yrange reversed)
                    h = row_px(len(rs))
                    ticks.append((label, y + h / 2.0))
                    for k, (series, x, colour) in enumerate(rs):
                        y0 = y + 4 + 10 * k
                        # x y xlow xhigh ylow yhigh colour, then the value beside the bar's end
                        f.write("%r\t%r\t%r\t%r\t%r\t%r\t%d\t%r\t%s\n" % (
                            math.sqrt(x), y0 + 4.5, min(1.0, x), max(1.0, x), y0, y0 + 9,
                            int(colour[1:], 16), x, "%.3g" % x))
                    y += h
            frac = heights[i] / height
            script += ["set origin 0,%r" % (top - frac), "set size 1,%r" % frac,
                       "set tmargin 2", "set bmargin 2", "set title " + gp_quote(title),
                       "set yrange [%r:0]" % y,
                       "set ytics (%s)" % ", ".join("%s %r" % (gp_quote(l), v) for l, v in ticks),
                       "unset object"]
            if panel_band:
                script.append("set object 1 rect from %r,graph 0 to %r,graph 1 behind "
                              "fillcolor rgb '#e8e8e8' fillstyle solid 1.0 noborder" % (
                                  1.0 / (1.0 + panel_band), 1.0 + panel_band))
            script.append("set arrow 1 from 1,graph 0 to 1,graph 1 nohead lc rgb '#404040' front")
            script.append("plot %s using 1:2:3:4:5:6:7 with boxxyerror lc rgb variable, "
                          "'' using ($8 >= 1 ? $8 : NaN):2:9 with labels left offset char 0.5,0 "
                          "font 'sans,8' tc rgb '#303030', "
                          "'' using ($8 < 1 ? $8 : NaN):2:9 with labels right offset char -0.5,0 "
                          "font 'sans,8' tc rgb '#303030'" % gp_quote(dat))
            top -= frac
        # The legend: what the colours say, under the title strip.
        script += ["unset object", "unset arrow", "set origin 0,%r" % (1.0 - 40.0 / height),
                   "set size 1,%r" % (40.0 / height), "unset border", "unset tics", "unset title",
                   "set xrange [0:1]", "set yrange [0:1]", "unset logscale x",
                   "set lmargin at screen 0.02"]
        x = 0.02
        for k, (name, colour) in enumerate(legend):
            script.append("set label %d %s at screen %r,screen %r tc rgb '%s' front" % (
                k + 1, gp_quote("\u25a0 " + name), x, 1.0 - 22.0 / height, colour))
            x += (len(name) + 5) * 7.0 / width
        script += ["plot -1 notitle", "unset multiplot"]
        gp = os.path.join(tmp, "chart.gp")
        with open(gp, "w", encoding="utf-8") as f:
            f.write("\n".join(script) + "\n")
        res = subprocess.run([gnuplot, gp], capture_output=True, text=True)
        if res.returncode != 0 or not os.path.isfile(path):
            raise InputError("gnuplot failed drawing %s: %s" % (path, res.stderr.strip()[-500:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="propel compare",
        description="Compare propel bench results: a regression report for two runs of one CPU, "
                    "a side-by-side table for runs of several CPUs (or --table).",
        epilog="RUN is a JSON file from propel bench, or several joined by commas (rounds of one "
               "build, pooled). Exit status: 0 no significant regression, 1 regression, 2 bad input.")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--threshold", type=float, default=None, metavar="PCT",
                   help="a benchmark regresses when its median time grows by more than PCT percent "
                        "and the U test finds the difference significant (default 5; 1 for "
                        "instruction counts, which need no test)")
    p.add_argument("--geomean-threshold", type=float, default=None, metavar="PCT",
                   help="the run regresses when the geometric mean of the changes exceeds PCT "
                        "percent (default 2; 0.5 for instruction counts)")
    p.add_argument("--alpha", type=float, default=0.05, help="U test significance level (0.05)")
    p.add_argument("--targets", metavar="A:B",
                   help="compare target A's benchmarks with target B's, e.g. AVX3:SSE4")
    p.add_argument("--table", action="store_true",
                   help="side-by-side table even for runs of one CPU")
    p.add_argument("--group-by", choices=["cpu", "target"],
                   help="table and chart columns: runs (cpu, default for several runs) or targets "
                        "(default for one run)")
    p.add_argument("--all-targets", action="store_true",
                   help="runs of several CPUs: a row per case and target (default: one row per "
                        "case at each CPU's best target)")
    p.add_argument("--precisions", action="store_true",
                   help="each ':bf16' case beside its fp32 twin: times and the bf16 speed-up")
    p.add_argument("--portable", action="store_true",
                   help="each ':portable' case beside its default-mode twin: times and what "
                        "portable mode costs")
    p.add_argument("--filter", metavar="REGEX", help="only benchmarks whose name matches")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--out", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--chart", metavar="FILE", help="draw a chart (.png or .svg) with gnuplot")
    p.add_argument("--detail", action="store_true",
                   help="append Google Benchmark's compare.py report (every repetition)")
    args = p.parse_args(argv)
    if args.targets:
        parts = args.targets.split(":")
        if len(parts) != 2 or not all(parts):
            p.error("--targets expects A:B, e.g. AVX3:SSE4")
        args.targets = tuple(x.upper() for x in parts)
    for name in ("threshold", "geomean_threshold"):
        v = getattr(args, name)
        if v is not None and v < 0:
            p.error("--%s must be >= 0" % name.replace("_", "-"))
    if not 0 < args.alpha < 1:
        p.error("--alpha must be between 0 and 1")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        runs = [Run(s) for s in args.runs]
        measures = {r.measure.split(":")[0] for r in runs}
        if len(measures) > 1:
            raise InputError("the runs measure different things (%s): compare time with time and "
                             "instruction counts with instruction counts" % ", ".join(sorted(measures)))
        instructions = "instructions" in measures
        if args.threshold is None:
            args.threshold = 1.0 if instructions else 5.0
        if args.geomean_threshold is None:
            args.geomean_threshold = 0.5 if instructions else 2.0
        same_cpu = len({r.cpu for r in runs}) == 1
        if args.targets and len(runs) == 1:
            runs = [runs[0], runs[0]]
        if args.precisions:
            report = precision_report(runs, args)
            lines = precision_text(report, args.format == "markdown")
        elif args.portable:
            report = portable_report(runs, args)
            lines = portable_text(report, args.format == "markdown")
        elif args.table or len(runs) > 2 or (len(runs) == 1) or not same_cpu:
            if not same_cpu and len(runs) == 2 and not args.table:
                print("propel compare: the runs come from different CPUs (%s; %s): showing them "
                      "side by side, not as a regression report" % (runs[0].cpu, runs[1].cpu),
                      file=sys.stderr)
            report = table_report(runs, args)
            lines = table_text(report, args.format == "markdown")
        else:
            report = regression_report(import_gbench(), runs[0], runs[1], args)
            lines = regression_text(report, args.format == "markdown")
        text = json.dumps(report, indent=1) + "\n" if args.format == "json" else "\n".join(lines) + "\n"
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        if args.chart:
            chart(report, args.chart)
        return 1 if report["failed"] else 0
    except InputError as e:
        print("propel compare: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
