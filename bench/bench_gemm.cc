// GEMM throughput: propel against OpenBLAS (when found) on the suite's shapes (bench/suite.h,
// the full preset) in the same process, for 1 thread and all threads, and the fused epilogue of a
// layer's forward pass against a separate activation pass. propel's cases are the suite's own
// (gemm/<shape>/target:<T>/threads:<n> on the active target: PROPEL_TARGET=AVX2 pins one);
// OpenBLAS's are gemm/<shape>/peer:openblas/threads:<n>. Counters: GFLOPS and peak_fraction (of
// the FMA peak of the target, or for the peer of the best target, times the threads).
// `propel compare FILE.json` tabulates them side by side.
//
//   build/release/bench/bench_gemm --benchmark_filter=square
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench/peer_main.h"
#include "bench/shapes.h"
#include "bench/suite.h"
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

Limits g_limits;
std::string g_best;  // the best target available: the peers' peak fraction is against its peak

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
  SetFlopCounters(state, g_limits, g_best, 2.0 * static_cast<double>(s.m) * s.n * s.k, threads);
}

#ifdef PROPEL_BENCH_OPENBLAS
void BM_OpenBlas(benchmark::State& state, GemmShape s, int threads) {
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

void RegisterPeers(const std::vector<int>& thread_counts) {
#ifdef PROPEL_BENCH_OPENBLAS
  for (const GemmShape& s : GemmCases(Preset::kFull)) {
    for (int t : thread_counts) {
      const std::string name = "gemm/" + s.name + "/peer:openblas/threads:" + std::to_string(t);
      benchmark::RegisterBenchmark(name.c_str(), BM_OpenBlas, s, t)->UseRealTime();
    }
  }
#else
  (void)thread_counts;
#endif
  for (Activation act : {Activation::kIdentity, Activation::kRelu, Activation::kSigmoid,
                         Activation::kGeluTanh, Activation::kGeluErf}) {
    for (bool fused : {true, false}) {
      if (!fused && act == Activation::kIdentity) continue;
      const std::string name = std::string("gemm/linear_fwd_b256_1024x1024_") +
                               activation_name(act) + (fused ? "_fused" : "_separate") +
                               "/target:" + g_best + "/threads:1";
      benchmark::RegisterBenchmark(name.c_str(), BM_Linear, act, fused)->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace propel::bench

int main(int argc, char** argv) {
  using namespace propel::bench;
#ifdef PROPEL_BENCH_OPENBLAS
  // OpenBLAS's pool threads spin after each call: stopped before every propel case.
  const auto before_propel = [] { blas_thread_shutdown_(); };
#else
  const auto before_propel = [] {};
#endif
  return PeerMain(
      argc, argv, {"gemm"}, before_propel, [](const SuiteOptions& o, const Limits& limits) {
        g_limits = limits;
        g_best = propel::active_target().name;
#ifdef PROPEL_BENCH_OPENBLAS
        benchmark::AddCustomContext("openblas_config", std::string(openblas_get_config()) +
                                                           " core=" + openblas_get_corename());
#endif
        RegisterPeers(o.threads);
      });
}
