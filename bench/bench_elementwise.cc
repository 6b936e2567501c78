// Element-wise kernels against their peers: a plain scalar std:: loop, Eigen 3.4's array
// expressions and oneDNN's eltwise primitive (when found), on the same inputs in one process.
// propel's cases are the benchmark suite's element-wise and optimizer families (bench/suite.h,
// full preset: every activation forward and backward in cache and streamed from memory, softmax
// cross-entropy, BCE, MSE, the optimizer updates) on the active target (PROPEL_BENCH_TARGETS=all
// for every target); the peers run on the suite's own arrays in cache (16 Ki floats; the scalar
// loop streamed would take minutes), Adam and a memcpy also out of cache.
//
// Names follow the suite's: propel's cases carry /target:<T>, the peers' /peer:<name>, e.g.
// elementwise/sigmoid_forward/n:16384/target:AVX3/threads:1 and
// elementwise/sigmoid_forward/n:16384/peer:eigen/threads:1; `propel compare FILE.json` puts them
// side by side with the best target's ratio to each peer. Counters: items_per_second
// (elements/s), bytes_per_second (bytes read + written) and bandwidth_fraction (of the copy
// bandwidth the suite measures at start). Everything here runs on one core: propel's
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

#include "bench/peer_main.h"
#include "bench/peers.h"
#include "bench/suite.h"
#include "propel/activation.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "propel/target.h"

namespace propel::bench {
namespace {

Limits g_limits;

// Scratch of n floats for the peers that need it (Eigen's derivatives).
std::vector<float>& Scratch(int64_t n) {
  static std::vector<float> tmp;
  if (static_cast<int64_t>(tmp.size()) < n) tmp.assign(static_cast<size_t>(n), 0.0f);
  return tmp;
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

enum class Peer { kScalar, kEigen, kDnnl };
const char* PeerName(Peer p) {
  return p == Peer::kScalar ? "scalar" : p == Peer::kEigen ? "eigen" : "onednn";
}

void BM_Activation(benchmark::State& state, Activation act, bool backward, Peer peer, int64_t n) {
  Arrays& b = ArraysOf(n);
  float* tmp = Scratch(n).data();
  const int a = static_cast<int>(act);
  for (auto _ : state) {
    switch (peer) {
      case Peer::kScalar:
        for (int64_t i = 0; i < n; ++i) {
          b.out[i] = backward ? b.dy[i] * ScalarDerivative(a, b.x[i]) : ScalarForward(a, b.x[i]);
        }
        break;
      case Peer::kEigen:
        backward ? EigenBackward(a, n, b.x.data(), b.dy.data(), b.out.data(), tmp)
                 : EigenForward(a, n, b.x.data(), b.out.data());
        break;
      case Peer::kDnnl:
        backward ? DnnlBackward(a, n, b.x.data(), b.dy.data(), b.out.data())
                 : DnnlForward(a, n, b.x.data(), b.out.data());
        break;
    }
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  SetByteCounters(state, g_limits, n, backward ? 3 : 2);
}

void BM_Copy(benchmark::State& state, int64_t n) {
  Arrays& b = ArraysOf(n);
  for (auto _ : state) {
    std::memcpy(b.out.data(), b.x.data(), static_cast<size_t>(n) * sizeof(float));
    benchmark::DoNotOptimize(b.out.data());
    benchmark::ClobberMemory();
  }
  SetByteCounters(state, g_limits, n, 2);
}

// Softmax cross-entropy with labels over rows of `cols` (about 16 Ki logits in all, as the
// suite's case).
void BM_SoftmaxCe(benchmark::State& state, int64_t cols) {
  const int64_t rows = std::max<int64_t>(1, kInCacheElements / cols), n = rows * cols;
  Arrays& b = ArraysOf(kInCacheElements);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[i] = static_cast<int32_t>((i * 7) % cols);
  for (auto _ : state) {
    benchmark::DoNotOptimize(EigenSoftmaxCe(rows, cols, b.x.data(), labels.data(), b.out.data()));
    benchmark::ClobberMemory();
  }
  SetByteCounters(state, g_limits, n, 2);
}

// One Adam step over n parameters (w, g, m, v: 4 arrays read, 3 written), as Eigen expressions.
void BM_Adam(benchmark::State& state, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n), 0.5f), g(static_cast<size_t>(n), 0.01f),
      m(static_cast<size_t>(n), 0.0f), v(static_cast<size_t>(n), 0.0f);
  AdamOptions opt;
  for (auto _ : state) {
    EigenAdam(n, opt.lr / (1.0f - std::pow(opt.beta1, 10.0f)),
              1.0f / std::sqrt(1.0f - std::pow(opt.beta2, 10.0f)), w.data(), g.data(), m.data(),
              v.data());
    benchmark::DoNotOptimize(w.data());
    benchmark::ClobberMemory();
  }
  SetByteCounters(state, g_limits, n, 7);
}

constexpr Activation kActs[] = {
    Activation::kIdentity,  Activation::kRelu,     Activation::kSigmoid,  Activation::kTanh,
    Activation::kLeakyRelu, Activation::kElu,      Activation::kGeluTanh, Activation::kGeluErf,
    Activation::kSilu,      Activation::kSoftplus,
};

void RegisterPeers() {
  const auto name = [](const std::string& kernel, int64_t n, const char* peer) {
    return kernel + "/n:" + std::to_string(n) + "/peer:" + peer + "/threads:1";
  };
  const int64_t big = OutOfCacheElements();
  benchmark::RegisterBenchmark(name("elementwise/copy", big, "memcpy").c_str(), BM_Copy, big)
      ->UseRealTime();
  for (Activation act : kActs) {
    for (bool backward : {false, true}) {
      const std::string kernel = std::string("elementwise/") + activation_name(act) +
                                 (backward ? "_backward" : "_forward");
      for (Peer p : {Peer::kScalar, Peer::kEigen, Peer::kDnnl}) {
        if (p == Peer::kEigen && !EigenAvailable()) continue;
        if (p == Peer::kDnnl && (!DnnlAvailable() || act == Activation::kIdentity)) continue;
        benchmark::RegisterBenchmark(name(kernel, kInCacheElements, PeerName(p)).c_str(),
                                     BM_Activation, act, backward, p, kInCacheElements)
            ->UseRealTime();
      }
    }
  }
  if (!EigenAvailable()) return;
  for (int64_t cols : {10, 1000}) {
    const int64_t n = std::max<int64_t>(1, kInCacheElements / cols) * cols;
    benchmark::RegisterBenchmark(
        name("elementwise/softmax_ce_c" + std::to_string(cols), n, "eigen").c_str(), BM_SoftmaxCe,
        cols)
        ->UseRealTime();
  }
  for (int64_t n : {kInCacheElements, big}) {
    benchmark::RegisterBenchmark(name("optimizer/adam", n, "eigen").c_str(), BM_Adam, n)
        ->UseRealTime();
  }
}

}  // namespace
}  // namespace propel::bench

int main(int argc, char** argv) {
  using namespace propel::bench;
  return PeerMain(
      argc, argv, {"elementwise", "optimizer"}, [] {},
      [](const SuiteOptions&, const Limits& limits) {
        g_limits = limits;
        benchmark::AddCustomContext("peers", std::string(EigenAvailable() ? "eigen " : "") +
                                                 (DnnlAvailable() ? "onednn" : ""));
        RegisterPeers();
      });
}
