// SIMD target selection: available targets, pinning (API and PROPEL_TARGET), the one lookup of a
// GEMM engine and its blocking by target and precision, the peak probes.
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
#include "src/gemm/blocking.h"
#include "src/ops/checks.h"
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

// Every target this build compiled, best first: each Highway target of the GEMM engines and,
// just before the one they extend, the variants whose bf16 GEMMs run on the AMX engine
// ("AVX3_AMX") and on the VDPBF16PS engine ("AVX3_BF16").
// Built once and never destroyed; the names point into it.
struct Compiled {
  std::vector<Target> targets;
  std::vector<kernels::EngineKind> bf16;  // the engine of each target's bf16 GEMMs
  std::vector<bool> supported;            // by this CPU
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
      auto add = [&](const std::string& n, kernels::EngineKind kind, bool supported) {
        c.names.push_back(n);
        c.targets.push_back(Target{t, ""});
        c.bf16.push_back(kind);
        c.supported.push_back(supported);
      };
      if (kernels::FindEngine(t, kernels::EngineKind::kBf16Amx) != nullptr) {
        add(name + "_AMX", kernels::EngineKind::kBf16Amx, (cpu & t) != 0 && amx);
      }
      if (kernels::FindEngine(t, kernels::EngineKind::kBf16Vdpbf16ps) != nullptr) {
        add(name + "_BF16", kernels::EngineKind::kBf16Vdpbf16ps, (cpu & t) != 0 && bf16);
      }
      add(name, kernels::EngineKind::kBf16Emulated, (cpu & t) != 0);
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
                   c.bf16[i] == kernels::EngineKind::kBf16Vdpbf16ps ? " (it needs AVX512_BF16)"
                   : c.bf16[i] == kernels::EngineKind::kBf16Amx
                       ? " (it needs AMX-BF16, AVX512_BF16 and the tile state from Linux)"
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

// The index into CompiledTargets() of the target kernels run on now.
size_t ActiveIndex() {
  const int pinned = g_api_pinned.load(std::memory_order_relaxed)
                         ? g_api_target.load(std::memory_order_relaxed)
                         : EnvironmentTarget();
  const int index = pinned != 0 ? pinned : BestIndex();
  if (index == 0) detail::Fail(ErrorCode::kInternal, "propel", "no SIMD target is available");
  return static_cast<size_t>(index - 1);
}

const Target& ActiveTargetEntry() { return CompiledTargets().targets[ActiveIndex()]; }

// The index of `target` among the supported ones (its name and bits); fails with `code`, naming
// `where`, when it is not one of them.
size_t SupportedIndex(const Target& target, const char* where,
                      ErrorCode code = ErrorCode::kUnsupported) {
  const Compiled& c = CompiledTargets();
  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (c.supported[i] && c.targets[i].bits == target.bits &&
        std::string(c.targets[i].name) == target.name) {
      return i;
    }
  }
  detail::Fail(code, where, "target ", target.name, " is not available");
}

// kAuto resolved for the target at `index`: bf16 where its bf16 engine is native.
Precision Resolved(size_t index, Precision precision) {
  if (precision != Precision::kAuto) return precision;
  return CompiledTargets().bf16[index] != kernels::EngineKind::kBf16Emulated ? Precision::kBf16
                                                                             : Precision::kFp32;
}

kernels::EngineKind KindAt(size_t index, Precision precision) {
  return Resolved(index, precision) == Precision::kFp32 ? kernels::EngineKind::kFp32
                                                        : CompiledTargets().bf16[index];
}

// Every compiled engine with its blocking for this host's caches, per mode (portable: portable
// mode's blocking), computed once.
const detail::GemmSetup& SetupOf(const kernels::GemmEngine* engine, bool portable = false) {
  static const std::vector<detail::GemmSetup>* const setups = [] {
    auto* out = new std::vector<detail::GemmSetup>[2];
    for (const kernels::GemmEngine* e : kernels::CompiledEngines()) {
      for (int mode = 0; mode < 2; ++mode) {
        out[mode].push_back({e, detail::BlockingFor(*e, detail::HostCacheSizes(), mode == 1)});
      }
    }
    return out;
  }();
  for (const detail::GemmSetup& s : setups[portable ? 1 : 0]) {
    if (s.engine == engine) return s;
  }
  detail::Fail(ErrorCode::kInternal, "propel", "a GEMM engine that is not registered");
}

const detail::GemmSetup& SetupAt(size_t index, Precision precision) {
  const kernels::GemmEngine* e =
      kernels::FindEngine(CompiledTargets().targets[index].bits, KindAt(index, precision));
  if (e == nullptr) detail::Fail(ErrorCode::kInternal, "propel", "no GEMM engine for the target");
  return SetupOf(e);
}

// Portable mode (docs/reproducibility.md) on the target at `index`: the target whose kernels it
// runs (the same one where it has a fused multiply-add; SCALAR, whose portable kernels emulate it
// exactly on every CPU, for SSE4 and SSSE3) ...
size_t PortableIndex(size_t index) {
  const Compiled& c = CompiledTargets();
  const int64_t bits = c.targets[index].bits;
  if (bits != HWY_SSE4 && bits != HWY_SSSE3) return index;
  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (c.targets[i].bits == HWY_SCALAR) return i;
  }
  detail::Fail(ErrorCode::kInternal, "propel", "portable mode needs the SCALAR target");
}

// ... and the engine of its GEMMs: fp32 (kAuto too: which precision auto picks depends on the
// CPU), or for bf16 the VDPBF16PS engine where the target has one (an AMX target included: AMX
// sums in another order) and the emulation of its order elsewhere.
const detail::GemmSetup& PortableSetupAt(size_t index, Precision precision) {
  const size_t at = PortableIndex(index);
  kernels::EngineKind kind = kernels::EngineKind::kFp32;
  if (precision == Precision::kBf16) {
    kind = CompiledTargets().bf16[at] == kernels::EngineKind::kBf16Amx
               ? kernels::EngineKind::kBf16Vdpbf16ps
               : CompiledTargets().bf16[at];
  }
  const kernels::GemmEngine* e =
      kernels::FindEngine(CompiledTargets().targets[at].bits, kind, /*portable=*/true);
  if (e == nullptr) detail::Fail(ErrorCode::kInternal, "propel", "no GEMM engine for the target");
  return SetupOf(e, /*portable=*/true);
}

double MeasurePeak(const Target& target, Precision precision, double min_seconds,
                   const char* where) {
  const kernels::GemmEngine& k =
      *SetupAt(SupportedIndex(target, where, ErrorCode::kInvalidArgument), precision).engine;
  using Clock = std::chrono::steady_clock;
  volatile float sink = k.peak(1000);  // warm up (and wake a throttled vector unit)
  double best = 0.0;
  int64_t iters = 10000;
  const auto start_all = Clock::now();
  for (;;) {
    const auto t0 = Clock::now();
    sink = sink + k.peak(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < 0.005) {
      iters *= 4;
      continue;
    }
    best = std::max(best, 2.0 * static_cast<double>(iters) * k.peak_macs_per_iter / s * 1e-9);
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
  return Resolved(ActiveIndex(), precision);
}

std::string gemm_engine_name(const Target& target, Precision precision) {
  const char* where = "propel::gemm_engine_name";
  detail::CheckedPrecision(where, precision);
  return kernels::EngineKindName(KindAt(SupportedIndex(target, where), precision));
}

std::string portable_target_name(const Target& target) {
  return CompiledTargets()
      .names[PortableIndex(SupportedIndex(target, "propel::portable_target_name"))];
}

double measure_fma_peak_gflops(const Target& target, double min_seconds) {
  return MeasurePeak(target, Precision::kFp32, min_seconds, "propel::measure_fma_peak_gflops");
}

double measure_bf16_peak_gflops(const Target& target, double min_seconds) {
  return MeasurePeak(target, Precision::kBf16, min_seconds, "propel::measure_bf16_peak_gflops");
}

namespace detail {

int64_t ActiveTargetBits() { return ActiveTargetEntry().bits; }

kernels::EngineKind Bf16EngineOf(const Target& target) {
  return CompiledTargets().bf16[SupportedIndex(target, "propel")];
}

const GemmSetup& EngineFor(const Target& target, Precision precision, bool portable) {
  const size_t index = SupportedIndex(target, "propel");
  return portable ? PortableSetupAt(index, precision) : SetupAt(index, precision);
}

const GemmSetup& ActiveEngine(Precision precision, bool portable) {
  return portable ? PortableSetupAt(ActiveIndex(), precision) : SetupAt(ActiveIndex(), precision);
}

const kernels::ElementwiseKernels& ActiveElementwiseKernels(bool portable) {
  const size_t index = portable ? PortableIndex(ActiveIndex()) : ActiveIndex();
  const kernels::ElementwiseKernels* k =
      kernels::ElementwiseKernelsFor(CompiledTargets().targets[index].bits, portable);
  if (k == nullptr) {
    Fail(ErrorCode::kInternal, "propel", "no element-wise kernels for the active target");
  }
  return *k;
}

}  // namespace detail
}  // namespace propel
