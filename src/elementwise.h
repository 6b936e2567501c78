// Shared validation for the element-wise API (src/elementwise.cc) and the fused GEMM epilogue.
#pragma once

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/activation.h"
#include "propel/optim.h"

namespace propel::detail {

// Checks act (a known code) and alpha (finite) and returns the epilogue parameters with the
// element-wise kernel of the active target.
kernels::ActParams CheckedActivation(const char* where, Activation act, float alpha);

// The Adam kernel's arguments for update number `step` (from 1): bias corrections 1 - beta^step
// computed in double. Arguments are not checked here.
kernels::AdamArgs AdamArgsFor(const AdamOptions& opt, int64_t step, float grad_scale);

}  // namespace propel::detail
