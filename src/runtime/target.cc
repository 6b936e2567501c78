// SIMD target selection: available targets, pinning (API and PROPEL_TARGET), the FMA and bf16
// dot-product peak probes.
#include "propel/target.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "hwy/targets.h"
#include "propel/error.h"
#include "src/runtime/check.h"
#include "src/runtime/target.h"

namespace propel {
namespace {

// CPUID.(EAX=7, ECX=1):EAX bit 5: AVX512_BF16 (VCVTNE2PS2BF16, VCVTNEPS2BF16, VDPBF16PS). The
// OS support of the AVX-512 state it needs is the AVX3 target's, which hwy::SupportedTargets()
// checks.
bool CpuHasAvx512Bf16() {
#if HWY_ARCH_X86 && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0 || eax < 1) return false;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (eax & (1u << 5)) != 0;
#else
  return false;
#endif
}

// CPUID.(EAX=7, ECX=0):EDX bits 22 and 24: AMX-BF16 and AMX-TILE; then the tile data state
// (XFEATURE_XTILEDATA, 18), which Linux (5.16 and later) gives a process only when it asks
// (arch_prctl ARCH_REQ_XCOMP_PERM): asked here, once, the first time the targets are listed. A
// refusal (an older kernel, a hypervisor that hides the state) leaves AVX3_AMX unavailable.
bool CpuHasAmxBf16() {
#if defined(__linux__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  if ((edx & (1u << 22)) == 0 || (edx & (1u << 24)) == 0) return false;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// Every target this build compiled, best first: each Highway target of the GEMM kernels and,
// just before the one they extend, the variants whose bf16 GEMMs run on AMX tiles ("AVX3_AMX")
// and on VDPBF16PS ("AVX3_BF16").
// Built once and never destroyed; the names point into it.
struct Compiled {
  std::vector<Target> targets;
  std::vector<bool> supported;  // by this CPU
  std::vector<std::string> names;
};

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return s;
}

const Compiled& CompiledTargets() {
  static const Compiled* const compiled = [] {
    auto* out = new Compiled;
    Compiled& c = *out;
    const int64_t cpu = hwy::SupportedTargets();
    const bool bf16 = CpuHasAvx512Bf16();
    const bool amx =
        bf16 && (cpu & HWY_AVX3) != 0 && CpuHasAmxBf16();  // its packing: VCVTNE2PS2BF16
    for (int64_t bits = kernels::GemmCompiledTargets(); bits != 0; bits &= bits - 1) {
      const int64_t t = bits & -bits;  // lowest set bit first: the better targets
      const std::string name = t == HWY_SCALAR ? "SCALAR" : hwy::TargetName(t);
      if (kernels::Bf16AmxKernelsFor(t) != nullptr) {
        c.names.push_back(name + "_AMX");
        c.targets.push_back(Target{t, "", Bf16Gemm::kAmx});
        c.supported.push_back((cpu & t) != 0 && amx);
      }
      if (kernels::Bf16DotKernelsFor(t) != nullptr) {
        c.names.push_back(name + "_BF16");
        c.targets.push_back(Target{t, "", Bf16Gemm::kDot});
        c.supported.push_back((cpu & t) != 0 && bf16);
      }
      c.names.push_back(name);
      c.targets.push_back(Target{t, "", Bf16Gemm::kFma});
      c.supported.push_back((cpu & t) != 0);
    }
    // The strings are final: their characters no longer move.
    for (size_t i = 0; i < c.targets.size(); ++i) c.targets[i].name = c.names[i].c_str();
    return out;
  }();
  return *compiled;
}

// Targets are kept as indices into CompiledTargets() plus one; 0 means "the best available".
int BestIndex() {
  static const int best = [] {
    const Compiled& c = CompiledTargets();
    for (size_t i = 0; i < c.targets.size(); ++i) {
      if (c.supported[i]) return static_cast<int>(i) + 1;
    }
    return 0;
  }();
  return best;
}

int ParseTarget(const std::string& name, const char* where) {
  const std::string want = Upper(name);
  const Compiled& c = CompiledTargets();
  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (want != c.names[i]) continue;
    if (!c.supported[i]) {
      detail::Fail(ErrorCode::kUnsupported, where, "target ", want,
                   " was compiled but this CPU does not support it",
                   c.targets[i].bf16_gemm == Bf16Gemm::kDot   ? " (it needs AVX512_BF16)"
                   : c.targets[i].bf16_gemm == Bf16Gemm::kAmx ? " (it needs AMX-BF16, AVX512_BF16 "
                                                                "and the tile state from Linux)"
                                                              : "");
    }
    return static_cast<int>(i) + 1;
  }
  std::string known;
  for (const Target& t : available_targets())
    known += std::string(known.empty() ? "" : ", ") + t.name;
  detail::Fail(ErrorCode::kUnsupported, where, "unknown or unavailable target '", name,
               "' (available: ", known, ")");
}

// The target named by PROPEL_TARGET (0: unset or "best"), parsed on first use. A bad name
// throws on every use, so the error is not lost; a pin through the API takes precedence.
int EnvironmentTarget() {
  static const int target = [] {
    const char* env = std::getenv("PROPEL_TARGET");
    if (env == nullptr || *env == '\0' || Upper(env) == "BEST") return 0;
    return ParseTarget(env, "PROPEL_TARGET");
  }();
  return target;
}

std::atomic<bool> g_api_pinned{false};  // pin_target/unpin_target was called
std::atomic<int> g_api_target{0};       // its target (0: the best one)

const Target& ActiveTargetEntry() {
  const int pinned = g_api_pinned.load(std::memory_order_relaxed)
                         ? g_api_target.load(std::memory_order_relaxed)
                         : EnvironmentTarget();
  const int index = pinned != 0 ? pinned : BestIndex();
  if (index == 0) detail::Fail(ErrorCode::kInternal, "propel", "no SIMD target is available");
  return CompiledTargets().targets[static_cast<size_t>(index - 1)];
}

// The GEMM table of `target` for operands in `precision`.
const kernels::GemmKernels* GemmTable(const Target& target, Precision precision) {
  const kernels::GemmKernels* k = kernels::GemmKernelsFor(target.bits);
  if (k == nullptr || precision == Precision::kFp32) return k;
  switch (target.bf16_gemm) {
    case Bf16Gemm::kDot:
      return kernels::Bf16DotKernelsFor(target.bits);
    case Bf16Gemm::kAmx:
      return kernels::Bf16AmxKernelsFor(target.bits);
    case Bf16Gemm::kFma:
      break;
  }
  return k->other_precision;
}

double MeasurePeak(const Target& target, Precision precision, double min_seconds,
                   const char* where) {
  const Compiled& c = CompiledTargets();
  bool available = false;
  for (size_t i = 0; i < c.targets.size(); ++i) {
    available = available || (c.supported[i] && c.targets[i].bits == target.bits &&
                              c.targets[i].bf16_gemm == target.bf16_gemm);
  }
  const kernels::GemmKernels* k = available ? GemmTable(target, precision) : nullptr;
  detail::Check(k != nullptr, where, "target ", target.name, " is not available");
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

}  // namespace

std::vector<Target> available_targets() {
  std::vector<Target> out;
  const Compiled& c = CompiledTargets();
  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (c.supported[i]) out.push_back(c.targets[i]);
  }
  return out;
}

Target active_target() { return ActiveTargetEntry(); }

void pin_target(const std::string& name) {
  const bool best = name.empty() || Upper(name) == "BEST";
  g_api_target.store(best ? 0 : ParseTarget(name, "propel::pin_target"));
  g_api_pinned.store(true);
}

void unpin_target() {
  g_api_target.store(0);
  g_api_pinned.store(true);
}

Precision resolve_precision(Precision precision) {
  const int p = static_cast<int>(precision);
  detail::Check(p >= 0 && p <= 2, "propel::resolve_precision", "unknown precision ", p,
                " (expected fp32 (0), bf16 (1) or auto (2))");
  if (precision != Precision::kAuto) return precision;
  return ActiveTargetEntry().bf16_gemm != Bf16Gemm::kFma ? Precision::kBf16 : Precision::kFp32;
}

double measure_fma_peak_gflops(const Target& target, double min_seconds) {
  return MeasurePeak(target, Precision::kFp32, min_seconds, "propel::measure_fma_peak_gflops");
}

double measure_bf16_peak_gflops(const Target& target, double min_seconds) {
  return MeasurePeak(target, Precision::kBf16, min_seconds, "propel::measure_bf16_peak_gflops");
}

namespace detail {

int64_t ActiveTargetBits() { return ActiveTargetEntry().bits; }

const kernels::GemmKernels& ActiveGemmKernels(Precision precision) {
  const kernels::GemmKernels* k = GemmTable(ActiveTargetEntry(), resolve_precision(precision));
  if (k == nullptr) Fail(ErrorCode::kInternal, "propel", "no GEMM kernels for the active target");
  return *k;
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
