// The benchmark suite behind `propel bench`: GEMM shapes, element-wise kernels (activations and
// losses), optimizer updates and the training step, each registered once per SIMD target (pinned
// while it runs) and thread count, with counters that read as fractions of this CPU's measured
// limits. See docs/benchmarking.md for the names, counters and context keys.
//
// Names: <family>/<case>[/n:<elements>|/batch:<rows>]/target:<TARGET>/threads:<T>, e.g.
//   gemm/square_512/target:AVX3/threads:2,
//   elementwise/sigmoid_backward/n:16384/target:SSE4/threads:1
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "propel/activation.h"
#include "propel/train.h"

namespace propel::bench {

enum class Preset { kQuick, kDefault, kFull };

// How a benchmark is measured: time (Google Benchmark's clock), or retired user-space
// instructions per iteration from a hardware counter (perf_event_open) or from Valgrind's
// callgrind (the process must then run under `valgrind --tool=callgrind`).
enum class Measure { kTime, kPerf, kCallgrind };

struct SuiteOptions {
  Preset preset = Preset::kDefault;
  std::vector<std::string> families;  // of kFamilies; empty: all
  std::vector<std::string> targets;   // target names; empty: every available target
  std::vector<int> threads = {1};     // thread counts for the multi-threaded families
  // Executors of the train family ("tbb", "omp", "serial"; serial runs one thread only). Empty:
  // serial for one thread, TBB for more, and the names carry no executor; else each name ends
  // in /executor:<name>.
  std::vector<std::string> executors;
  // Called before each benchmark of the suite runs (a peer program stops a peer's spinning
  // threads here); may be empty.
  std::function<void()> before_each;
  Measure measure = Measure::kTime;
  std::string callgrind_out;  // kCallgrind: the --callgrind-out-file given to Valgrind
};

// "gemm", "elementwise", "optimizer", "train".
extern const char* const kFamilies[5];

// Limits of this machine the counters are measured against.
struct Limits {
  std::map<std::string, double> fma_peak_gflops;  // per core, per target name
  // The peak of the arithmetic the bf16 GEMM runs on, per core and target: measured VDPBF16PS
  // chains on AVX3_BF16, the measured FMA peak on the others, whose bf16
  // kernels are fp32 FMAs on rounded operands (docs/precision.md); the context says which
  // (bf16_dot_product:<target>).
  std::map<std::string, double> bf16_peak_gflops;
  double copy_bandwidth_gbs = 0.0;  // one core, memcpy far out of cache
  double read_bandwidth_gbs = 0.0;  // one core, a streamed read far out of cache
  // What the element-wise and optimizer cases out of cache are measured against: the faster of
  // the two (no mix of reads and writes moves more bytes per second than the faster pattern).
  // Cases in cache have no such limit and get no bandwidth_fraction.
  double memory_bandwidth_gbs() const {
    return copy_bandwidth_gbs > read_bandwidth_gbs ? copy_bandwidth_gbs : read_bandwidth_gbs;
  }
};

// The cases of a preset, the one list `propel bench` and the peer programs (bench/bench_*.cc)
// register from: GEMM shapes, and training steps of whole MLPs.
struct TrainCase {
  std::vector<int64_t> widths;  // inputs, hidden..., outputs
  Activation activation;        // of the hidden layers
  int64_t batch;
  Optimizer optimizer;
  Precision precision = Precision::kFp32;  // kBf16: the case's name gains ":bf16"
  bool portable = false;  // portable mode: the name gains ":portable" (targets with FMA but SCALAR)
};
std::vector<GemmShape> GemmCases(Preset preset);
// The shapes that also run through gemm_bf16 ("gemm/<shape>:bf16/..."): the batch-256 layers of
// 784-1024-1024-10 and square_1024 (every MLP and square shape in the full preset).
std::vector<GemmShape> Bf16GemmCases(Preset preset);
std::vector<TrainCase> TrainCases(Preset preset);
// The cases of the predict family: rows per call (TrainCase::batch) of a model of those widths.
std::vector<TrainCase> PredictCases(Preset preset);

// Elements per array of the element-wise and optimizer cases: in cache (64 KiB per array: L1/L2 on
// every current CPU) and far out of cache (at least the last-level cache, 64 to 256 MiB).
constexpr int64_t kInCacheElements = 16 * 1024;
int64_t OutOfCacheElements();

// The operands of every element-wise case of n floats (x in [-5, 5), dy, out, and zeroed m, v),
// allocated once per size: the peer programs run their peers on the same data.
struct Arrays {
  std::vector<float> x, dy, out, m, v;
};
Arrays& ArraysOf(int64_t n);

// items_per_second, bytes_per_second and bandwidth_fraction (of the copy bandwidth) of a
// benchmark passing over n floats of `arrays` arrays (read plus written) per iteration.
void SetByteCounters(benchmark::State& state, const Limits& limits, int64_t n, int arrays);

// GFLOPS and peak_fraction (of `target`'s measured FMA peak times the threads) of a benchmark
// doing `flops` per iteration; for peers too (their fraction against the active target's peak).
// bf16: against the bf16 peak (Limits::bf16_peak_gflops).
void SetFlopCounters(benchmark::State& state, const Limits& limits, const std::string& target,
                     double flops, int threads, Precision precision = Precision::kFp32);

// Measures the FMA peak of each target of `options` and the copy bandwidth (a second or two).
Limits MeasureLimits(const SuiteOptions& options);

// Registers the suite with Google Benchmark; returns the number of benchmarks registered.
// Throws propel::Error for an unknown family or a target this CPU or build lacks.
int RegisterSuite(const SuiteOptions& options, const Limits& limits);

// Adds the machine, build and run description to Google Benchmark's context (written into the
// JSON next to Google Benchmark's own num_cpus, mhz_per_cpu and caches).
void AddSuiteContext(const SuiteOptions& options, const Limits& limits);

// Whether perf_event_open can count this process's user-space instructions; `why` says why not.
bool PerfInstructionsAvailable(std::string* why);

}  // namespace propel::bench
