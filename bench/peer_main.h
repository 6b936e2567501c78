// The main of a peer comparison program (bench/bench_gemm.cc, bench/bench_train.cc): propel's
// cases come from the benchmark suite (bench/suite.h), the one registry `propel bench` uses, so
// that a case added there is measured by both; the program adds its peers' cases next to them.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "bench/suite.h"
#include "propel/target.h"
#include "propel/threading.h"

namespace propel::bench {

// Runs `family` of the suite's full preset on the active target (PROPEL_TARGET pins one) for one
// thread and all of them, and `add_peers(options, limits)`'s cases, then Google Benchmark with
// the command line's --benchmark_* flags. `before_propel` runs before each of propel's cases.
template <class Before, class AddPeers>
int PeerMain(int argc, char** argv, const char* family, Before before_propel, AddPeers add_peers,
             const std::vector<std::string>& executors = {}) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The suite's benchmarks keep pointers to the options and limits: they live until the end.
  SuiteOptions o;
  Limits limits;
  try {
    o.preset = Preset::kFull;
    o.families = {family};
    o.targets = {active_target().name};
    o.threads = {1};
    if (num_threads() > 1) o.threads.push_back(num_threads());
    o.executors = executors;
    o.before_each = before_propel;
    limits = MeasureLimits(o);
    AddSuiteContext(o, limits);
    RegisterSuite(o, limits);
    add_peers(o, limits);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace propel::bench
