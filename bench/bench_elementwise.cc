// Element-wise kernels: activations forward and backward, softmax cross-entropy and the Adam
// update, on every SIMD target propel compiled, against a plain scalar std:: loop, Eigen 3.4's
// array expressions and oneDNN's eltwise primitive (when found), on the same inputs in one run.
//
// Names follow the suite's (bench/suite.h): propel's cases carry /target:<T>, the peers'
// /peer:<scalar|eigen|onednn>, e.g. elementwise/sigmoid_forward/n:16384/target:AVX3/threads:1 and
// elementwise/sigmoid_forward/n:16384/peer:eigen/threads:1; `propel compare FILE.json` puts them
// side by side with propel's ratio to each peer. Counters: items_per_second (elements/s),
// bytes_per_second (bytes read + written), and for the out-of-cache size bandwidth_fraction:
// bytes/s as a fraction of this machine's copy bandwidth, measured at start (memcpy of 2 x 256
// MiB, best of 5; the context's copy_bandwidth_gbs). Everything here runs on one core: propel's
// element-wise calls run on the calling thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_context.h"
#include "bench/peers.h"
#include "propel/activation.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "propel/target.h"

namespace propel::bench {
namespace {

constexpr int64_t kInCache = 16 * 1024;            // 64 KiB per array: L1/L2
constexpr int64_t kOutOfCache = 64 * 1024 * 1024;  // 256 MiB per array: DRAM

double g_copy_gbs = 0.0;

// Page-aligned, touched buffers of n floats, shared by every benchmark of that size.
struct Buffers {
  std::vector<float> x, dy, out, tmp;
};
Buffers& Data(int64_t n) {
  static std::unique_ptr<Buffers> small, large;
  auto& b = n == kInCache ? small : large;
  if (!b) {
    b = std::make_unique<Buffers>();
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-5.0f, 5.0f);
    b->x.resize(static_cast<size_t>(n));
    b->dy.resize(static_cast<size_t>(n));
    b->out.assign(static_cast<size_t>(n), 0.0f);
    b->tmp.assign(static_cast<size_t>(n), 0.0f);
    for (auto& v : b->x) v = dist(rng);
    for (auto& v : b->dy) v = dist(rng) * 0.2f;
  }
  return *b;
}

double MeasureCopyBandwidth() {
  const size_t n = static_cast<size_t>(kOutOfCache);
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(b.data());
    best = std::max(best, 2.0 * static_cast<double>(n * sizeof(float)) / s * 1e-9);
  }
  return best;
}

void SetCounters(benchmark::State& state, int64_t n, int arrays) {
  const int64_t items = static_cast<int64_t>(state.iterations()) * n;
  state.SetItemsProcessed(items);
  const int64_t bytes = items * arrays * static_cast<int64_t>(sizeof(float));
  state.SetBytesProcessed(bytes);
  if (n == kOutOfCache && g_copy_gbs > 0.0) {
    state.counters["bandwidth_fraction"] = benchmark::Counter(
        static_cast<double>(bytes) / (g_copy_gbs * 1e9), benchmark::Counter::kIsRate);
  }
}

// ------------------------------------------------------------------- scalar std:: baselines

float Sig(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float ScalarForward(int act, float x) {
  switch (act) {
    case 0:
      return x;
    case 1:
      return x > 0.0f ? x : 0.0f;
    case 2:
      return Sig(x);
    case 3:
      return std::tanh(x);
    case 4:
      return x > 0.0f ? x : 0.01f * x;
    case 5:
      return x > 0.0f ? x : std::expm1(x);
    case 6:
      return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case 7:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678f));
    case 8:
      return x * Sig(x);
    default:
      return std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
  }
}

float ScalarDerivative(int act, float x) {
  switch (act) {
    case 0:
      return 1.0f;
    case 1:
      return x > 0.0f ? 1.0f : 0.0f;
    case 2: {
      const float s = Sig(x);
      return s * (1.0f - s);
    }
    case 3: {
      const float t = std::tanh(x);
      return 1.0f - t * t;
    }
    case 4:
      return x > 0.0f ? 1.0f : 0.01f;
    case 5:
      return x > 0.0f ? 1.0f : std::exp(x);
    case 6: {
      const float k = 0.7978845608f, c = 0.044715f;
      const float t = std::tanh(k * (x + c * x * x * x));
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * c * x * x);
    }
    case 7:
      return 0.5f * (1.0f + std::erf(x * 0.70710678f)) + 0.39894228f * x * std::exp(-0.5f * x * x);
    case 8: {
      const float s = Sig(x);
      return s * (1.0f + x * (1.0f - s));
    }
    default:
      return Sig(x);
  }
}

// ------------------------------------------------------------------------ benchmark bodies

enum class Impl { kPropel, kScalar, kEigen, kDnnl };

struct ActCase {
  Activation act;
  bool backward;
  Impl impl;
  std::string target;  // propel only
  int64_t n;
};

void BM_Activation(benchmark::State& state, ActCase c) {
  Buffers& b = Data(c.n);
  const int a = static_cast<int>(c.act);
  const float alpha = default_alpha(c.act);
  if (c.impl == Impl::kPropel) pin_target(c.target);
  for (auto _ : state) {
    switch (c.impl) {
      case Impl::kPropel:
        if (c.backward) {
          activation_backward(c.act, alpha, c.n, b.x.data(), b.dy.data(), b.out.data());
        } else {
          activation_forward(c.act, alpha, c.n, b.x.data(), b.out.data());
        }
        break;
      case Impl::kScalar:
        for (int64_t i = 0; i < c.n; ++i) {
          b.out[i] = c.backward ? b.dy[i] * ScalarDerivative(a, b.x[i]) : ScalarForward(a, b.x[i]);
        }
        break;
      case Impl::kEigen:
        c.backward ? EigenBackward(a, c.n, b.x.data(), b.dy.data(), b.out.data(), b.tmp.data())
                   : EigenForward(a, c.n, b.x.data(), b.out.data());
        break;
      case Impl::kDnnl:
        c.backward ? DnnlBackward(a, c.n, b.x.data(), b.dy.data(), b.out.data())
                   : DnnlForward(a, c.n, b.x.data(), b.out.data());
        break;
    }
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  if (c.impl == Impl::kPropel) unpin_target();
  SetCounters(state, c.n, c.backward ? 3 : 2);
}

void BM_Copy(benchmark::State& state) {
  Buffers& b = Data(kOutOfCache);
  for (auto _ : state) {
    std::memcpy(b.out.data(), b.x.data(), b.x.size() * sizeof(float));
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, kOutOfCache, 2);
}

// Softmax cross-entropy with labels over rows of `cols` (about 16 Ki logits in all).
void BM_SoftmaxCe(benchmark::State& state, Impl impl, std::string target, int64_t cols) {
  const int64_t rows = std::max<int64_t>(1, kInCache / cols), n = rows * cols;
  Buffers& b = Data(kInCache);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[i] = static_cast<int32_t>((i * 7) % cols);
  if (impl == Impl::kPropel) pin_target(target);
  for (auto _ : state) {
    const double loss =
        impl == Impl::kPropel
            ? softmax_cross_entropy(rows, cols, b.x.data(), labels.data(), b.out.data(), 1.0f)
            : EigenSoftmaxCe(rows, cols, b.x.data(), labels.data(), b.out.data());
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  if (impl == Impl::kPropel) unpin_target();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}

// One Adam step over n parameters (w, g, m, v: 4 arrays read, 3 written).
void BM_Adam(benchmark::State& state, Impl impl, std::string target, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n), 0.5f), g(static_cast<size_t>(n), 0.01f),
      m(static_cast<size_t>(n), 0.0f), v(static_cast<size_t>(n), 0.0f);
  AdamOptions opt;
  if (impl == Impl::kPropel) pin_target(target);
  for (auto _ : state) {
    if (impl == Impl::kPropel) {
      adam_update(opt, 10, n, w.data(), g.data(), m.data(), v.data());
    } else {
      EigenAdam(n, opt.lr / (1.0f - std::pow(opt.beta1, 10.0f)),
                1.0f / std::sqrt(1.0f - std::pow(opt.beta2, 10.0f)), w.data(), g.data(), m.data(),
                v.data());
    }
    benchmark::DoNotOptimize(w.data());
    benchmark::ClobberMemory();
  }
  if (impl == Impl::kPropel) unpin_target();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 7 * 4);
}

constexpr Activation kActs[] = {
    Activation::kIdentity,  Activation::kRelu,     Activation::kSigmoid,  Activation::kTanh,
    Activation::kLeakyRelu, Activation::kElu,      Activation::kGeluTanh, Activation::kGeluErf,
    Activation::kSilu,      Activation::kSoftplus,
};

// Every available target, or only the active one with PROPEL_BENCH_TARGETS=best.
void RegisterAll() {
  std::vector<std::string> targets;
  const char* which = std::getenv("PROPEL_BENCH_TARGETS");
  if (which != nullptr && std::string(which) == "best") {
    targets.emplace_back(active_target().name);
  } else {
    for (const Target& t : available_targets()) targets.emplace_back(t.name);
  }
  benchmark::RegisterBenchmark("copy/memcpy/n:67108864/peer:memcpy/threads:1", BM_Copy)
      ->UseRealTime();
  for (Activation act : kActs) {
    for (bool backward : {false, true}) {
      for (int64_t n : {kInCache, kOutOfCache}) {
        const std::string base = std::string("elementwise/") + activation_name(act) +
                                 (backward ? "_backward" : "_forward") + "/n:" + std::to_string(n) +
                                 "/";
        const std::string size = "/threads:1";
        for (const std::string& t : targets) {
          benchmark::RegisterBenchmark((base + "target:" + t + size).c_str(), BM_Activation,
                                       ActCase{act, backward, Impl::kPropel, t, n})
              ->UseRealTime();
        }
        if (n != kInCache) continue;  // peers in cache (the scalar loop would take minutes)
        benchmark::RegisterBenchmark((base + "peer:scalar" + size).c_str(), BM_Activation,
                                     ActCase{act, backward, Impl::kScalar, "", n})
            ->UseRealTime();
        if (EigenAvailable()) {
          benchmark::RegisterBenchmark((base + "peer:eigen" + size).c_str(), BM_Activation,
                                       ActCase{act, backward, Impl::kEigen, "", n})
              ->UseRealTime();
        }
        if (DnnlAvailable() && act != Activation::kIdentity) {
          benchmark::RegisterBenchmark((base + "peer:onednn" + size).c_str(), BM_Activation,
                                       ActCase{act, backward, Impl::kDnnl, "", n})
              ->UseRealTime();
        }
      }
    }
  }
  for (int64_t cols : {10, 1000}) {
    const std::string base = "elementwise/softmax_ce_c" + std::to_string(cols) + "/";
    for (const std::string& t : targets) {
      benchmark::RegisterBenchmark((base + "target:" + t + "/threads:1").c_str(), BM_SoftmaxCe,
                                   Impl::kPropel, t, cols)
          ->UseRealTime();
    }
    if (EigenAvailable()) {
      benchmark::RegisterBenchmark((base + "peer:eigen/threads:1").c_str(), BM_SoftmaxCe,
                                   Impl::kEigen, std::string(), cols)
          ->UseRealTime();
    }
  }
  for (int64_t n : {int64_t{2048}, kInCache, int64_t{16} * 1024 * 1024}) {
    const std::string base = "optimizer/adam/n:" + std::to_string(n) + "/";
    const std::string size = "/threads:1";
    for (const std::string& t : targets) {
      benchmark::RegisterBenchmark((base + "target:" + t + size).c_str(), BM_Adam, Impl::kPropel, t,
                                   n)
          ->UseRealTime();
    }
    if (EigenAvailable()) {
      benchmark::RegisterBenchmark((base + "peer:eigen" + size).c_str(), BM_Adam, Impl::kEigen,
                                   std::string(), n)
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace propel::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  propel::bench::AddPropelContext();
  propel::bench::g_copy_gbs = propel::bench::MeasureCopyBandwidth();
  std::ostringstream bw;
  bw.precision(4);
  bw << propel::bench::g_copy_gbs;
  benchmark::AddCustomContext("copy_bandwidth_gbs", bw.str());
  benchmark::AddCustomContext("peers",
                              std::string(propel::bench::EigenAvailable() ? "eigen " : "") +
                                  (propel::bench::DnnlAvailable() ? "onednn" : ""));
  propel::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
