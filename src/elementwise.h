// Shared validation for the element-wise API (src/elementwise.cc) and the fused GEMM epilogue.
#pragma once

#include "kernels/gemm.h"
#include "propel/activation.h"

namespace propel::detail {

// Checks act (a known code) and alpha (finite) and returns the epilogue parameters with the
// element-wise kernel of the active target.
kernels::ActParams CheckedActivation(const char* where, Activation act, float alpha);

}  // namespace propel::detail
