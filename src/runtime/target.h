// The active SIMD target and the kernel tables it selects (the layer between the public target
// API and kernels/*). Dispatch happens once per API call, never per tile.
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"

namespace propel::detail {

// HWY_* bit of the target kernels run on now (pinned, else the best compiled and supported).
int64_t ActiveTargetBits();

// GEMM kernels of the active target.
const kernels::GemmKernels& ActiveGemmKernels();

// Element-wise kernels of the active target.
const kernels::ElementwiseKernels& ActiveElementwiseKernels();

}  // namespace propel::detail
