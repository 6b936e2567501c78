#include "bench/bench_context.h"

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "propel/target.h"
#include "propel/threading.h"
#include "propel/version.h"

namespace propel::bench {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

double AddPropelContext() {
  const Target active = active_target();
  std::string targets;
  for (const Target& t : available_targets())
    targets += std::string(targets.empty() ? "" : ",") + t.name;
  const double peak = measure_fma_peak_gflops(active, 0.3);
  std::ostringstream peak_str;
  peak_str.precision(4);
  peak_str << peak;
  benchmark::AddCustomContext("cpu_model", CpuModel());
  benchmark::AddCustomContext("propel_version", PROPEL_VERSION_STRING);
  benchmark::AddCustomContext("propel_target", active.name);
  benchmark::AddCustomContext("propel_available_targets", targets);
  benchmark::AddCustomContext("propel_threads_max", std::to_string(num_threads()));
  benchmark::AddCustomContext("fma_peak_gflops_per_core", peak_str.str());
  return peak;
}

}  // namespace propel::bench
