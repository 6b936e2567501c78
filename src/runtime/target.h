// The active SIMD target and the kernel tables it selects (the layer between the public target
// API and kernels/*). Dispatch happens once per API call, never per tile.
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/precision.h"

namespace propel::detail {

// HWY_* bit of the target kernels run on now (pinned, else the best compiled and supported).
int64_t ActiveTargetBits();

// GEMM kernels of the active target, for operands in `precision` (its bf16 table for kBf16).
const kernels::GemmKernels& ActiveGemmKernels(Precision precision = Precision::kFp32);

// Element-wise kernels of the active target.
const kernels::ElementwiseKernels& ActiveElementwiseKernels();

}  // namespace propel::detail
