// GEMM throughput: propel against OpenBLAS (when found) on the same shapes in the same process,
// for 1 thread and all threads. Counters: GFLOPS, and peak_frac = the fraction of this CPU's FMA
// peak (measured at start-up on the active target, per core, times the threads used).
//
//   PROPEL_TARGET=AVX2 ./bench_gemm --benchmark_filter=square   (pin a target)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench/bench_context.h"
#include "bench/shapes.h"
#include "propel/activation.h"
#include "propel/gemm.h"
#include "propel/threading.h"

#ifdef PROPEL_BENCH_OPENBLAS
#include <cblas.h>
// OpenBLAS's pool threads spin (sched_yield) for a while after each call and would take the
// second core from the propel benchmark that follows; shutting the pool down stops them, and
// OpenBLAS restarts it on its next threaded call.
extern "C" void blas_thread_shutdown_(void);
#endif

namespace propel::bench {
namespace {

double g_peak_gflops = 0.0;

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const GemmShape& s)
      : a(static_cast<size_t>(s.m * s.k)),
        b(static_cast<size_t>(s.k * s.n)),
        c(static_cast<size_t>(s.m * s.n)) {
    for (size_t i = 0; i < a.size(); ++i)
      a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
  }
  int64_t lda(const GemmShape& s) const { return s.ta ? s.m : s.k; }
  int64_t ldb(const GemmShape& s) const { return s.tb ? s.k : s.n; }
};

void SetCounters(benchmark::State& state, const GemmShape& s, int threads) {
  const double flops = 2.0 * static_cast<double>(s.m) * s.n * s.k;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_frac"] = benchmark::Counter(flops / (g_peak_gflops * 1e9 * threads),
                                                   benchmark::Counter::kIsIterationInvariantRate);
  state.counters["M"] = static_cast<double>(s.m);
  state.counters["N"] = static_cast<double>(s.n);
  state.counters["K"] = static_cast<double>(s.k);
  state.counters["threads"] = threads;
}

void BM_Propel(benchmark::State& state, GemmShape s) {
  const int threads = static_cast<int>(state.range(0));
  set_num_threads(threads);
#ifdef PROPEL_BENCH_OPENBLAS
  blas_thread_shutdown_();
#endif
  Operands op(s);
  for (auto _ : state) {
    sgemm(s.ta ? Trans::kYes : Trans::kNo, s.tb ? Trans::kYes : Trans::kNo, s.m, s.n, s.k, 1.0f,
          op.a.data(), op.lda(s), op.b.data(), op.ldb(s), 0.0f, op.c.data(), s.n);
    benchmark::ClobberMemory();
  }
  SetCounters(state, s, threads);
}

#ifdef PROPEL_BENCH_OPENBLAS
void BM_OpenBlas(benchmark::State& state, GemmShape s) {
  const int threads = static_cast<int>(state.range(0));
  openblas_set_num_threads(threads);
  Operands op(s);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.0f,
                op.a.data(), static_cast<int>(op.lda(s)), op.b.data(), static_cast<int>(op.ldb(s)),
                0.0f, op.c.data(), static_cast<int>(s.n));
    benchmark::ClobberMemory();
  }
  SetCounters(state, s, threads);
}
#endif

// The forward pass of a layer, batch 256, 1024 -> 1024, one thread: the activation fused into the
// GEMM epilogue against the same GEMM followed by a separate activation pass over Z.
void BM_Linear(benchmark::State& state, Activation act, bool fused) {
  const GemmShape s{"linear", false, true, 256, 1024, 1024};
  set_num_threads(1);
#ifdef PROPEL_BENCH_OPENBLAS
  blas_thread_shutdown_();
#endif
  Operands op(s);
  const std::vector<float> bias(static_cast<size_t>(s.n), 0.01f);
  const float alpha = default_alpha(act);
  for (auto _ : state) {
    if (fused) {
      linear_forward(s.m, s.k, s.n, op.a.data(), s.k, op.b.data(), s.k, bias.data(), act,
                     op.c.data(), s.n, alpha);
    } else {
      linear_forward(s.m, s.k, s.n, op.a.data(), s.k, op.b.data(), s.k, bias.data(),
                     Activation::kIdentity, op.c.data(), s.n);
      activation_forward(act, alpha, s.m * s.n, op.c.data(), op.c.data());
    }
    benchmark::ClobberMemory();
  }
  SetCounters(state, s, 1);
}

void RegisterAll() {
  std::vector<GemmShape> shapes = SquareShapes();
  for (const auto& s : MlpShapes()) shapes.push_back(s);
  const int all = num_threads();
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  for (const GemmShape& s : shapes) {
    for (int t : thread_counts) {
      benchmark::RegisterBenchmark(("propel/" + s.name).c_str(), BM_Propel, s)
          ->Arg(t)
          ->ArgName("threads")
          ->UseRealTime();
#ifdef PROPEL_BENCH_OPENBLAS
      benchmark::RegisterBenchmark(("openblas/" + s.name).c_str(), BM_OpenBlas, s)
          ->Arg(t)
          ->ArgName("threads")
          ->UseRealTime();
#endif
    }
  }
  for (Activation act : {Activation::kIdentity, Activation::kRelu, Activation::kSigmoid,
                         Activation::kGeluTanh, Activation::kGeluErf}) {
    for (bool fused : {true, false}) {
      if (!fused && act == Activation::kIdentity) continue;
      const std::string name = std::string("linear/fwd_b256_1024x1024/") + activation_name(act) +
                               (fused ? "/fused" : "/separate");
      benchmark::RegisterBenchmark(name.c_str(), BM_Linear, act, fused)->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace propel::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  propel::bench::g_peak_gflops = propel::bench::AddPropelContext();
#ifdef PROPEL_BENCH_OPENBLAS
  benchmark::AddCustomContext(
      "openblas_config", std::string(openblas_get_config()) + " core=" + openblas_get_corename());
#endif
  propel::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
