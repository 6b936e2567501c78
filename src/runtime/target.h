// The active SIMD target and the engines and kernel tables it selects (the layer between the
// public target API and kernels/*). Dispatch happens once per API call, never per tile.
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/precision.h"
#include "propel/target.h"
#include "src/gemm/blocking.h"

namespace propel::detail {

// HWY_* bit of the target kernels run on now (pinned, else the best compiled and supported).
int64_t ActiveTargetBits();

// A GEMM engine and its blocking for this host's caches (computed once per engine).
struct GemmSetup {
  const kernels::GemmEngine* engine = nullptr;
  Blocking blocking{};
};

// The one lookup of a GEMM engine: the one `target` computes GEMMs of `precision` with (kAuto
// resolved for the target; kBf16: the target's bf16 engine), with its blocking. Throws
// propel::Error(kUnsupported) for a target this build and CPU do not have.
// portable: portable mode's (docs/reproducibility.md): the engine of portable_target_name(target),
// fp32 for kFp32 and kAuto, for kBf16 VDPBF16PS where the target has it (never AMX) and the
// emulated engine elsewhere; the blocking with the fixed KC and no thin path.
const GemmSetup& EngineFor(const Target& target, Precision precision, bool portable = false);
// The same for the active target.
const GemmSetup& ActiveEngine(Precision precision = Precision::kFp32, bool portable = false);

// The engine `target`'s bf16 GEMMs run on (kBf16Emulated on the targets without a native one).
kernels::EngineKind Bf16EngineOf(const Target& target);

// Element-wise kernels of the active target (portable: portable mode's, of its portable target).
const kernels::ElementwiseKernels& ActiveElementwiseKernels(bool portable = false);

}  // namespace propel::detail
