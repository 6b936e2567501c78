// SIMD target selection: available targets, pinning (API and PROPEL_TARGET), FMA peak probe.
#include "propel/target.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>

#include "hwy/targets.h"
#include "propel/error.h"
#include "src/check.h"
#include "src/target.h"

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

int64_t ParseTarget(const std::string& name, const char* where) {
  const std::string want = Upper(name);
  for (int64_t bits = kernels::GemmCompiledTargets(); bits != 0; bits &= bits - 1) {
    const int64_t t = bits & -bits;
    if (want == hwy::TargetName(t) || (want == "SCALAR" && t == HWY_SCALAR) ||
        (want == "EMU128" && t == HWY_EMU128)) {
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

std::atomic<int64_t> g_pinned{-1};  // -1: not initialized from the environment yet; 0: unpinned
std::once_flag g_env_once;

void InitFromEnvironment() {
  std::call_once(g_env_once, [] {
    int64_t pinned = 0;
    const char* env = std::getenv("PROPEL_TARGET");
    if (env != nullptr && *env != '\0' && Upper(env) != "BEST") {
      pinned = ParseTarget(env, "PROPEL_TARGET");
    }
    int64_t expected = -1;
    g_pinned.compare_exchange_strong(expected, pinned);
  });
}

Target MakeTarget(int64_t bits) {
  return Target{bits, bits == HWY_SCALAR ? "SCALAR" : hwy::TargetName(bits)};
}

}  // namespace

std::vector<Target> available_targets() {
  std::vector<Target> out;
  for (int64_t bits = AvailableMask(); bits != 0; bits &= bits - 1)
    out.push_back(MakeTarget(bits & -bits));
  return out;
}

Target active_target() { return MakeTarget(detail::ActiveTargetBits()); }

void pin_target(const std::string& name) {
  InitFromEnvironment();
  if (name.empty() || Upper(name) == "BEST") {
    g_pinned.store(0);
    return;
  }
  g_pinned.store(ParseTarget(name, "propel::pin_target"));
}

void unpin_target() {
  InitFromEnvironment();
  g_pinned.store(0);
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
  InitFromEnvironment();
  const int64_t pinned = g_pinned.load(std::memory_order_relaxed);
  return pinned > 0 ? pinned : BestTarget();
}

const kernels::GemmKernels& ActiveGemmKernels() {
  const kernels::GemmKernels* k = kernels::GemmKernelsFor(ActiveTargetBits());
  if (k == nullptr) Fail(ErrorCode::kInternal, "propel", "no GEMM kernels for the active target");
  return *k;
}

}  // namespace detail
}  // namespace propel
