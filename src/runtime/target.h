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
const GemmSetup& EngineFor(const Target& target, Precision precision);
// The same for the active target.
const GemmSetup& ActiveEngine(Precision precision = Precision::kFp32);

// The engine `target`'s bf16 GEMMs run on (kBf16Emulated on the targets without a native one).
kernels::EngineKind Bf16EngineOf(const Target& target);

// Element-wise kernels of the active target.
const kernels::ElementwiseKernels& ActiveElementwiseKernels();

}  // namespace propel::detail
