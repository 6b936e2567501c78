// Context every propel benchmark records in its JSON: CPU, SIMD target, threads, FMA peak.
#pragma once

#include <string>

namespace propel::bench {

// CPU model string from /proc/cpuinfo ("unknown" elsewhere).
std::string CpuModel();

// Adds cpu_model, propel_version, target, available targets, hardware threads and the measured
// one-core FMA peak of the active target (GFLOP/s) to Google Benchmark's context; returns the peak.
double AddPropelContext();

}  // namespace propel::bench
