#!/usr/bin/env python3
"""Tests of `propel compare` on synthetic Google Benchmark files whose truth is known.

Usage: compare_test.py PROPEL_BINARY
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unittest

PROPEL = None
TARGETS = ["AVX3", "AVX2", "SSE4"]


def make_run(path, cpu="Test CPU 1", reps=9, noise=0.02, seed=1, slow=None, scale=1.0,
             measure="time", targets=TARGETS, kernels=8, interleave=True, peers=()):
    """A propel bench-like file: kernels x targets x threads 1, `reps` repetitions.

    slow: {name substring: factor} applied to the times (or counts) of matching benchmarks.
    peers: peer names (bench/bench_*.cc's peer:<name>), each twice as slow as the first target.
    """
    rng = random.Random(seed)
    slow = slow or {}
    benchmarks = []
    family = 0
    for k in range(kernels):
        fam = "gemm" if k % 2 == 0 else "elementwise"
        columns = [("target:" + t, i, 1.0) for i, t in enumerate(targets)] + \
            [("peer:" + p, 0, 2.0) for p in peers]
        for token, t_index, peer_factor in columns:
            name = "%s/kernel_%d/%s/threads:1/real_time" % (fam, k, token)
            base = (1.0 + k) * 1e5 * (1 + t_index) * scale * peer_factor
            factor = 1.0
            for key, f in slow.items():
                if key in name:
                    factor *= f
            for r in range(reps):
                t = base * factor * (1.0 + rng.uniform(-noise, noise))
                b = {"name": name, "run_name": name, "family_index": family,
                     "per_family_instance_index": 0, "run_type": "iteration",
                     "repetitions": reps, "repetition_index": r, "threads": 1,
                     "iterations": 100, "real_time": t, "cpu_time": t, "time_unit": "ns"}
                if fam == "gemm":  # against the context's peak of the target, 100 / (rank + 1)
                    b["GFLOPS"] = 1e7 / t
                    b["peak_fraction"] = 1e7 / t / (100.0 / (t_index + 1))
                else:
                    b["bytes_per_second"] = 1e14 / t
                    b["bandwidth_fraction"] = 1e14 / t / 2e10
                if measure != "time":
                    b["instructions"] = round(base * factor)
                benchmarks.append(b)
            family += 1
    if interleave:
        rng.shuffle(benchmarks)
    context = {"cpu_model": cpu, "propel_measure": measure, "propel_commit": "abc",
               "propel_available_targets": ",".join(targets), "copy_bandwidth_gbs": "20",
               "num_cpus": 2}
    for i, t in enumerate(targets):
        context["fma_peak_gflops_per_core:" + t] = str(100.0 / (i + 1))
    with open(path, "w") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f)
    return path


def compare(*args):
    r = subprocess.run([PROPEL, "compare"] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


class Regression(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="propel-compare-test-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_same_distribution_is_not_a_regression(self):
        # Many benchmarks, noisy: the false discovery rate control keeps chance differences out.
        a = make_run(self.path("a.json"), seed=1, noise=0.05, kernels=40)
        b = make_run(self.path("b.json"), seed=2, noise=0.05, kernels=40)
        rc, out, err = compare(a, b)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("120 benchmarks compared: 0 regressed, 0 improved", out)
        self.assertIn("Result: no significant regression", out)

    def test_one_slower_benchmark_is_flagged(self):
        a = make_run(self.path("a.json"), seed=1)
        b = make_run(self.path("b.json"), seed=2, slow={"kernel_3/target:AVX2": 1.3})
        rc, out, _ = compare(a, b)
        self.assertEqual(rc, 1, out)
        flagged = [l for l in out.splitlines() if l.endswith("REGRESSION") and "/" in l]
        self.assertEqual(len(flagged), 1, out)
        self.assertIn("elementwise/kernel_3 AVX2 t1", flagged[0])
        change = float(re.search(r"([+-][0-9.]+)%", flagged[0]).group(1))
        self.assertTrue(25 < change < 35, flagged[0])
        self.assertIn("1 regressed", out)

    def test_faster_benchmark_is_an_improvement_not_a_failure(self):
        a = make_run(self.path("a.json"), seed=1)
        b = make_run(self.path("b.json"), seed=2, slow={"kernel_2/": 0.7})
        rc, out, _ = compare(a, b)
        self.assertEqual(rc, 0, out)
        self.assertIn("3 improved", out)

    def test_geometric_mean_catches_a_broad_small_slowdown(self):
        a = make_run(self.path("a.json"), seed=1, noise=0.005)
        b = make_run(self.path("b.json"), seed=2, noise=0.005, scale=1.035)
        rc, out, _ = compare(a, b)  # each +3.5%: under the 5% per benchmark, over 2% overall
        self.assertEqual(rc, 1, out)
        self.assertIn("0 regressed", out)
        geomean = float(re.search(r"Geometric mean of the changes: ([+-][0-9.]+)%", out).group(1))
        self.assertTrue(3.0 < geomean < 4.0, out)
        rc, out, _ = compare(a, b, "--geomean-threshold", "4")
        self.assertEqual(rc, 0, out)
        rc, out, _ = compare(a, b, "--threshold", "3")
        self.assertEqual(rc, 1, out)
        self.assertIn("24 regressed", out)

    def test_without_repetitions_the_threshold_decides(self):
        a = make_run(self.path("a.json"), reps=1, seed=1, noise=0.0)
        b = make_run(self.path("b.json"), reps=1, seed=2, noise=0.0, slow={"kernel_0/target:SSE4": 1.1})
        rc, out, _ = compare(a, b)
        self.assertEqual(rc, 1, out)
        self.assertIn("no U test", out)
        self.assertIn("1 regressed", out)

    def test_pooled_rounds(self):
        # 4 + 4 repetitions a side: p can reach 1.6e-4, which survives the correction for 24
        # tests (one file of 4 could not: 0.029 x 24).
        a1 = make_run(self.path("a1.json"), reps=4, seed=1)
        a2 = make_run(self.path("a2.json"), reps=4, seed=3)
        b1 = make_run(self.path("b1.json"), reps=4, seed=2, slow={"kernel_5/target:AVX3": 1.5})
        b2 = make_run(self.path("b2.json"), reps=4, seed=4, slow={"kernel_5/target:AVX3": 1.5})
        rc, out, _ = compare(a1 + "," + a2, b1 + "," + b2, "--format", "json")
        self.assertEqual(rc, 1, out)
        report = json.loads(out)
        row = [r for r in report["rows"] if "kernel_5/target:AVX3" in r["name"]][0]
        self.assertEqual(row["repetitions"], [8, 8])
        self.assertEqual(row["verdict"], "REGRESSION")
        self.assertLess(row["pvalue"], 0.01)

    def test_target_against_target(self):
        a = make_run(self.path("a.json"), seed=1)
        rc, out, _ = compare(a, "--targets", "AVX3:SSE4")  # SSE4 is 3x slower in make_run
        self.assertEqual(rc, 1, out)
        self.assertIn("8 regressed", out)
        self.assertIn("AVX3->SSE4", out)
        rc, out, _ = compare(a, "--targets", "AVX3:AVX3")
        self.assertEqual(rc, 0, out)
        rc, _, err = compare(a, "--targets", "AVX3:NEON")
        self.assertEqual(rc, 2)
        self.assertIn("target NEON has no results", err)
        self.assertIn("AVX3, AVX2, SSE4", err.replace("AVX2, AVX3", "AVX3, AVX2"))
        rc, _, err = compare(a, "--targets", "AVX3")
        self.assertEqual(rc, 2)
        self.assertIn("--targets expects A:B", err)

    def test_instruction_counts_compare_exactly(self):
        a = make_run(self.path("a.json"), reps=1, measure="instructions:callgrind", seed=1)
        b = make_run(self.path("b.json"), reps=1, measure="instructions:callgrind", seed=2)
        rc, out, _ = compare(a, b)
        self.assertEqual(rc, 0, out)
        self.assertIn("instructions per iteration", out)
        self.assertIn("+0.00%", out)
        c = make_run(self.path("c.json"), reps=1, measure="instructions:callgrind", seed=2,
                     slow={"kernel_1/target:AVX2": 1.02})
        rc, out, _ = compare(a, c)
        self.assertEqual(rc, 1, out)
        self.assertIn("+2.0%", out)
        rc, out, _ = compare(a, c, "--threshold", "3", "--geomean-threshold", "1")
        self.assertEqual(rc, 0, out)

    def test_time_and_instructions_do_not_mix(self):
        a = make_run(self.path("a.json"))
        b = make_run(self.path("b.json"), measure="instructions:perf")
        rc, _, err = compare(a, b)
        self.assertEqual(rc, 2)
        self.assertIn("measure different things", err)

    def test_markdown_and_json(self):
        a = make_run(self.path("a.json"), seed=1)
        b = make_run(self.path("b.json"), seed=2, slow={"kernel_0/": 2.0})
        rc, out, _ = compare(a, b, "--format", "markdown")
        self.assertEqual(rc, 1)
        self.assertIn("| benchmark | base | contender | change | U test p | FDR q | verdict |", out)
        self.assertIn("- Result: REGRESSION", out)
        rc, out, _ = compare(a, b, "--format", "json", "--out", self.path("r.json"))
        self.assertEqual(rc, 1)
        with open(self.path("r.json")) as f:
            report = json.load(f)
        self.assertEqual(report["regressions"], 3)
        self.assertTrue(report["failed"])

    def test_detail_appends_compare_py_report(self):
        a = make_run(self.path("a.json"), seed=1, kernels=1)
        b = make_run(self.path("b.json"), seed=2, kernels=1)
        rc, out, _ = compare(a, b, "--detail")
        self.assertEqual(rc, 0, out)
        self.assertIn("Google Benchmark's compare.py report", out)
        self.assertIn("U Test, Repetitions: 9 vs 9", out)


class Table(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="propel-compare-test-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_two_cpus_side_by_side(self):
        a = make_run(self.path("a.json"), cpu="CPU One", noise=0.0)
        b = make_run(self.path("b.json"), cpu="CPU Two", targets=["AVX2", "SSE4"], scale=0.5,
                     noise=0.0)
        rc, out, err = compare(a, b)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("different CPUs", err)
        self.assertIn("throughput by cpu", out)
        lines = out.splitlines()
        self.assertIn("CPU One", lines[1])
        self.assertIn("CPU Two", lines[1])
        # One row per case, at each CPU's best target (named in the cell): 8 cases.
        rows = [l for l in lines if l.startswith(("gemm/", "elementwise/"))]
        self.assertEqual(len(rows), 8, out)
        best = [l for l in lines if l.startswith("gemm/kernel_0 t1")][0].split()
        # GFLOP/s = 1e7 / t: CPU One's AVX3 at 1e5 ns (peak 100), CPU Two's AVX2 at 5e4 ns.
        self.assertAlmostEqual(float(best[3]), 100, delta=4)
        self.assertEqual(best[4], "AVX3")
        self.assertEqual(best[5], "100%")
        self.assertAlmostEqual(float(best[6]), 200, delta=8)
        self.assertEqual(best[7], "AVX2")
        # 200% of CPU Two's AVX2 peak: a limit that does not hold is no figure.
        self.assertEqual(best[8], "-")
        self.assertIn("FMA peak per core", out)
        self.assertIn("best target", out)
        # --all-targets: a row per case and target; still no figure above 100%.
        rc, out, err = compare(a, b, "--all-targets")
        self.assertEqual(rc, 0, out + err)
        lines = out.splitlines()
        avx3 = [l for l in lines if l.startswith("gemm/kernel_0 AVX3 t1")][0]
        self.assertTrue(avx3.rstrip().endswith("-"), avx3)  # CPU Two has no AVX3
        avx2 = [l for l in lines if l.startswith("gemm/kernel_0 AVX2 t1")][0].split()
        self.assertAlmostEqual(float(avx2[4]), 50, delta=2)
        self.assertEqual(avx2[5], "100%")
        self.assertAlmostEqual(float(avx2[6]), 200, delta=8)
        self.assertEqual(avx2[7], "-")
        for line in lines:
            for cell in line.split():
                if cell.endswith("%") and cell[:-1].isdigit():
                    self.assertLessEqual(int(cell[:-1]), 100, line)

    def test_one_run_by_target(self):
        a = make_run(self.path("a.json"))
        rc, out, _ = compare(a, "--format", "markdown")
        self.assertEqual(rc, 0)
        head = out.splitlines()[2]
        self.assertEqual(head, "| kernel | unit | AVX3 | of limit | AVX2 | of limit | SSE4 | of limit |")

    def test_filter_and_empty(self):
        a = make_run(self.path("a.json"))
        rc, out, _ = compare(a, "--filter", "elementwise")
        self.assertEqual(rc, 0)
        self.assertNotIn("gemm/", out)
        self.assertIn("GB/s", out)
        rc, _, err = compare(a, "--filter", "nothing-matches")
        self.assertEqual(rc, 2)
        self.assertIn("no benchmark to tabulate after --filter", err)


class Twins(unittest.TestCase):
    """--portable and --precisions: each suffixed case beside its twin."""

    def test_portable_cost_and_bf16_speedup(self):
        d = tempfile.mkdtemp(prefix="propel-compare-test-")
        times = {"train/784-64-10/batch:64": 2e6, "train/784-64-10:portable/batch:64": 2.1e6,
                 "train/784-64-10:bf16/batch:64": 1e6,
                 "train/784-64-10:bf16:portable/batch:64": 1.05e6}
        benchmarks = []
        for stem, t in times.items():
            name = stem + "/target:AVX2/threads:1/real_time"
            for r in range(3):
                benchmarks.append({"name": name, "run_name": name, "run_type": "iteration",
                                   "repetitions": 3, "repetition_index": r, "threads": 1,
                                   "iterations": 10, "real_time": t, "cpu_time": t,
                                   "time_unit": "ns"})
        path = os.path.join(d, "t.json")
        with open(path, "w") as f:
            json.dump({"context": {"cpu_model": "Test CPU", "propel_measure": "time",
                                   "propel_available_targets": "AVX2", "num_cpus": 2},
                       "benchmarks": benchmarks}, f)
        rc, out, err = compare(path, "--portable")
        self.assertEqual(rc, 0, err)
        self.assertIn("portable mode against the default mode", out)
        self.assertEqual(len([l for l in out.splitlines() if "+5.0%" in l]), 2, out)
        rc, out, err = compare(path, "--precisions")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len([l for l in out.splitlines() if "2.000x" in l]), 2, out)
        rc, _, err = compare(path, "--portable", "--chart", os.path.join(d, "c.png"))
        self.assertEqual(rc, 2)
        self.assertIn("--chart draws regression reports and tables", err)
        rc, _, err = compare(path, "--portable", "--filter", "nothing")
        self.assertEqual(rc, 2)
        self.assertIn("no ':portable' case", err)


class Peers(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="propel-compare-test-")

    def test_peer_columns_and_ratios(self):
        a = make_run(os.path.join(self.dir, "a.json"), peers=["openblas"], noise=0.0)
        rc, out, err = compare(a)
        self.assertEqual(rc, 0, err)
        head = out.splitlines()[1]
        self.assertIn("openblas", head)
        self.assertIn("AVX3 vs openblas", head)
        row = next(l for l in out.splitlines() if l.startswith("gemm/kernel_0 t1"))
        self.assertTrue(row.rstrip().endswith("2.00x"), row)  # twice as fast as the peer
        rc, out, _ = compare(a, "--format", "json")
        self.assertEqual(json.loads(out)["peers"], ["openblas"])


def load_compare_module():
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                        "propel_compare.py")
    spec = importlib.util.spec_from_file_location("propel_compare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Charts(unittest.TestCase):
    def test_panels_per_family_with_full_names_and_ratios(self):
        d = tempfile.mkdtemp(prefix="propel-compare-test-")
        a = make_run(os.path.join(d, "a.json"), noise=0.0)
        c = make_run(os.path.join(d, "c.json"), noise=0.0, slow={"kernel_1/": 1.5})
        rc, out, _ = compare(a, c, "--format", "json")
        self.assertEqual(rc, 1)
        panels, legend = load_compare_module().chart_panels(json.loads(out))
        self.assertEqual([p[0].split(":")[0] for p in panels], ["gemm", "elementwise"])
        self.assertEqual([name for name, _ in legend][0], "regression")
        for title, bars, band in panels:
            self.assertAlmostEqual(band, 0.05)
            for label, ratios in bars:
                self.assertIn("/kernel_", label)  # the whole case name
                (_, ratio, colour), = ratios
                if "kernel_1 " in label:
                    self.assertAlmostEqual(ratio, 1.5)
                    self.assertEqual(colour, "#d62728")
                else:
                    self.assertAlmostEqual(ratio, 1.0)
        # A table: every column against the first, per family.
        rc, out, _ = compare(a, "--format", "json")
        panels, legend = load_compare_module().chart_panels(json.loads(out))
        self.assertEqual([name for name, _ in legend], ["AVX2", "SSE4"])
        _, bars, band = panels[0]
        self.assertIsNone(band)
        self.assertAlmostEqual(dict((s, x) for s, x, _ in bars[0][1])["AVX2"], 0.5)


    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="propel-compare-test-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_png_and_svg(self):
        a = make_run(self.path("a.json"), cpu="CPU One")
        b = make_run(self.path("b.json"), cpu="CPU Two", targets=["AVX2", "SSE4"])
        c = make_run(self.path("c.json"), seed=5, slow={"kernel_1/": 1.5})
        for args, chart in (((a, b), "cpus.png"), ((a,), "targets.svg"), ((a, c), "regression.png")):
            out = self.path(chart)
            rc, _, err = compare(*args, "--chart", out)
            self.assertIn(rc, (0, 1), err)
            with open(out, "rb") as f:
                head = f.read(512)
            if chart.endswith(".png"):
                self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
            else:
                self.assertIn(b"<svg", head)
            self.assertGreater(os.path.getsize(out), 5000)

    def test_bad_chart_name(self):
        a = make_run(self.path("a.json"))
        rc, _, err = compare(a, "--chart", self.path("x.pdf"))
        self.assertEqual(rc, 2)
        self.assertIn("must end in .png or .svg", err)


class BadInput(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="propel-compare-test-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def test_errors_name_the_problem(self):
        good = make_run(self.path("good.json"))
        cases = [
            ((self.path("missing.json"), good), "missing.json: no such file"),
            ((self.write("bad.json", "{not json"), good), "bad.json: not JSON"),
            ((self.write("list.json", "[1, 2]"), good), "not a Google Benchmark JSON file"),
            ((self.write("noname.json", '{"context": {}, "benchmarks": [{}]}'), good),
             "a benchmark entry without a name"),
            ((self.write("failed.json", json.dumps({"context": {}, "benchmarks": [
                {"name": "x", "error_occurred": True, "error_message": "boom"}]})), good),
             "x failed: boom"),
            ((good + "," + make_run(self.path("other.json"), cpu="Other"), good),
             "pooled with"),
            ((self.write("notime.json", json.dumps({"context": {}, "benchmarks": [
                {"name": "gemm/x", "run_type": "iteration"}]})), good),
             "gemm/x has no real_time"),
        ]
        for args, message in cases:
            rc, out, err = compare(*args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn(message, err)
        disjoint = self.write("disjoint.json", json.dumps({"context": {"cpu_model": "Test CPU 1"},
            "benchmarks": [{"name": "other/x", "real_time": 1, "cpu_time": 1, "time_unit": "ns"}]}))
        rc, _, err = compare(good, disjoint)
        self.assertEqual(rc, 2)
        self.assertIn("no benchmark in common", err)
        rc, _, err = compare(good, good, "--alpha", "2")
        self.assertEqual(rc, 2)
        self.assertIn("--alpha", err)


if __name__ == "__main__":
    PROPEL = sys.argv.pop(1)
    unittest.main()
