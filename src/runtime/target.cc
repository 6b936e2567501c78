// SIMD target selection: available targets, pinning (API and PROPEL_TARGET), FMA peak probe.
#include "propel/target.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>

#include "hwy/targets.h"
#include "propel/error.h"
#include "src/runtime/check.h"
#include "src/runtime/target.h"

namespace propel {
namespace {

// Targets compiled and supported by this CPU, as a HWY_* bitmask. Lower bits are better targets.
int64_t AvailableMask() { return hwy::SupportedTargets() & kernels::GemmCompiledTargets(); }

// Computed once: hwy::SupportedTargets() runs CPUID, too slow for every GEMM call.
int64_t BestTarget() {
  static const int64_t best = [] {
    const int64_t mask = AvailableMask();
    return mask & -mask;  // lowest set bit = best target
  }();
  return best;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return s;
}

Target MakeTarget(int64_t bits) {
  return Target{bits, bits == HWY_SCALAR ? "SCALAR" : hwy::TargetName(bits)};
}

int64_t ParseTarget(const std::string& name, const char* where) {
  const std::string want = Upper(name);
  for (int64_t bits = kernels::GemmCompiledTargets(); bits != 0; bits &= bits - 1) {
    const int64_t t = bits & -bits;
    if (want == MakeTarget(t).name) {
      if ((hwy::SupportedTargets() & t) == 0) {
        detail::Fail(ErrorCode::kUnsupported, where, "target ", want,
                     " was compiled but this CPU does not support it");
      }
      return t;
    }
  }
  std::string known;
  for (const Target& t : available_targets())
    known += std::string(known.empty() ? "" : ", ") + t.name;
  detail::Fail(ErrorCode::kUnsupported, where, "unknown or unavailable target '", name,
               "' (available: ", known, ")");
}

// The target named by PROPEL_TARGET (0: unset or "best"), parsed on first use. A bad name
// throws on every use, so the error is not lost; a pin through the API takes precedence.
int64_t EnvironmentTarget() {
  static const int64_t target = [] {
    const char* env = std::getenv("PROPEL_TARGET");
    if (env == nullptr || *env == '\0' || Upper(env) == "BEST") return int64_t{0};
    return ParseTarget(env, "PROPEL_TARGET");
  }();
  return target;
}

std::atomic<bool> g_api_pinned{false};  // pin_target/unpin_target was called
std::atomic<int64_t> g_api_target{0};   // its target (0: the best one)

}  // namespace

std::vector<Target> available_targets() {
  std::vector<Target> out;
  for (int64_t bits = AvailableMask(); bits != 0; bits &= bits - 1)
    out.push_back(MakeTarget(bits & -bits));
  return out;
}

Target active_target() { return MakeTarget(detail::ActiveTargetBits()); }

void pin_target(const std::string& name) {
  const bool best = name.empty() || Upper(name) == "BEST";
  g_api_target.store(best ? 0 : ParseTarget(name, "propel::pin_target"));
  g_api_pinned.store(true);
}

void unpin_target() {
  g_api_target.store(0);
  g_api_pinned.store(true);
}

double measure_fma_peak_gflops(const Target& target, double min_seconds) {
  const kernels::GemmKernels* k = kernels::GemmKernelsFor(target.bits);
  detail::Check(k != nullptr && (hwy::SupportedTargets() & target.bits) != 0,
                "propel::measure_fma_peak_gflops", "target ", target.name, " is not available");
  using Clock = std::chrono::steady_clock;
  volatile float sink = k->fma_peak(1000);  // warm up (and wake a throttled vector unit)
  double best = 0.0;
  int64_t iters = 10000;
  const auto start_all = Clock::now();
  for (;;) {
    const auto t0 = Clock::now();
    sink = sink + k->fma_peak(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < 0.005) {
      iters *= 4;
      continue;
    }
    best = std::max(best, 2.0 * static_cast<double>(iters) * k->fma_peak_fmas_per_iter / s * 1e-9);
    if (std::chrono::duration<double>(Clock::now() - start_all).count() >= min_seconds) break;
  }
  (void)sink;
  return best;
}

namespace detail {

int64_t ActiveTargetBits() {
  const int64_t pinned = g_api_pinned.load(std::memory_order_relaxed)
                             ? g_api_target.load(std::memory_order_relaxed)
                             : EnvironmentTarget();
  return pinned != 0 ? pinned : BestTarget();
}

const kernels::GemmKernels& ActiveGemmKernels(Precision precision) {
  const kernels::GemmKernels* k = kernels::GemmKernelsFor(ActiveTargetBits());
  if (k == nullptr) Fail(ErrorCode::kInternal, "propel", "no GEMM kernels for the active target");
  const int p = static_cast<int>(precision);
  Check(p == 0 || p == 1, "propel", "unknown precision ", p);
  return precision == Precision::kBf16 ? *k->other_precision : *k;
}

const kernels::ElementwiseKernels& ActiveElementwiseKernels() {
  const kernels::ElementwiseKernels* k = kernels::ElementwiseKernelsFor(ActiveTargetBits());
  if (k == nullptr) {
    Fail(ErrorCode::kInternal, "propel", "no element-wise kernels for the active target");
  }
  return *k;
}

}  // namespace detail
}  // namespace propel
