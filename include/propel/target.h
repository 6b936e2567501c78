// SIMD targets: which ones this build compiled, which one runs, and how to pin one.
//
// Every kernel family is compiled once per target (SSSE3, SSE4, AVX2, AVX3 on x86, plus the
// portable scalar fallback) and the best one the CPU supports is chosen at run time. Two
// variants of AVX3 differ from it in their bf16 GEMM engine only (their fp32 and element-wise
// kernels are AVX3's): AVX3_AMX multiplies on AMX-BF16 tiles (Intel Sapphire Rapids and later),
// AVX3_BF16 with VDPBF16PS (AVX512_BF16: AMD Zen 4, Intel Cooper Lake and later); on AVX3
// itself, as on every other target, bf16 GEMMs multiply the rounded operands with the fp32 FMA
// (gemm_engine_name says which). The three sum the same bf16 products in different orders, so
// their bf16 results agree to rounding, not bit for bit (docs/precision.md).
// Tests and benchmarks pin each target in turn; users compare targets on one CPU the same way.
// The environment variable PROPEL_TARGET (e.g. PROPEL_TARGET=AVX2) pins a target at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "propel/precision.h"

namespace propel {

struct Target {
  int64_t bits = 0;       // Highway's HWY_* bit of the code this target runs
  const char* name = "";  // "AVX3_AMX", "AVX3_BF16", "AVX3", "AVX2", "SSE4", "SSSE3", "SCALAR"
};

// Targets compiled into this build and supported by this CPU, best first.
std::vector<Target> available_targets();

// The target kernels run on now: the pinned one, else the best available.
Target active_target();

// Pins kernels to the named target (case-insensitive; "best" or "" unpins). Overrides
// PROPEL_TARGET, which only sets the target until the first call of pin_target/unpin_target.
// Throws propel::Error(kUnsupported) if the target was not compiled or the CPU lacks it.
// Process-wide; not to be called while kernels run on other threads.
void pin_target(const std::string& name);
void unpin_target();

// Measures this core's peak single-precision FMA throughput on `target` in GFLOP/s
// (two flops per FMA lane), running independent FMA chains for at least `min_seconds`.
// Runs on the calling thread. Used by benchmarks to report fractions of the peak.
double measure_fma_peak_gflops(const Target& target, double min_seconds = 0.05);

// The GEMM engine `target` computes products of `precision` with (docs/gemm.md, Engines): "fp32",
// "bf16 emulated" (the fp32 FMA on operands rounded to bf16), "bf16 VDPBF16PS" or "bf16 AMX".
// kAuto is resolved for `target`. Throws propel::Error(kUnsupported) for a target this build and
// CPU do not have.
std::string gemm_engine_name(const Target& target, Precision precision);

// The target whose kernels portable mode (StepOptions::portable, docs/reproducibility.md) runs on
// `target`: the target itself where it has a fused multiply-add (AVX3 and its variants, AVX2,
// SCALAR), SCALAR on SSE4 and SSSE3 (whose portable kernels emulate the fused multiply-add exactly
// on every CPU). Throws propel::Error(kUnsupported) for a target this build and CPU do not have.
std::string portable_target_name(const Target& target);

// The same for the multiply-adds of the target's bf16 GEMMs: TDPBF16PS on AVX3_AMX (tiles from
// L1, no loads in the loop), VDPBF16PS chains on AVX3_BF16 (two multiply-adds per fp32 lane), the
// fp32 FMA on the others.
double measure_bf16_peak_gflops(const Target& target, double min_seconds = 0.05);

}  // namespace propel
