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

// Runs `families` of the suite's full preset for one thread and all of them on the active target
// (PROPEL_TARGET pins one; PROPEL_BENCH_TARGETS=all, or a list such as AVX2,SSE4, runs those),
// and `add_peers(options, limits)`'s cases, then Google Benchmark with the command line's
// --benchmark_* flags. `before_propel` runs before each of propel's cases.
template <class Before, class AddPeers>
int PeerMain(int argc, char** argv, const std::vector<std::string>& families, Before before_propel,
             AddPeers add_peers, const std::vector<std::string>& executors = {}) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The suite's benchmarks keep pointers to the options and limits: they live until the end.
  SuiteOptions o;
  Limits limits;
  try {
    o.preset = Preset::kFull;
    o.families = families;
    o.targets = {active_target().name};
    if (const char* which = std::getenv("PROPEL_BENCH_TARGETS"); which != nullptr && *which) {
      const std::string list = which;
      if (list == "all") {
        o.targets.clear();  // the suite's default: every available target
      } else if (list != "best") {
        o.targets.clear();
        std::stringstream names(list);
        for (std::string t; std::getline(names, t, ',');) {
          if (!t.empty()) o.targets.push_back(t);
        }
      }
    }
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
