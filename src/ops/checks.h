// The argument checks of the array API (propel/activation.h, loss.h, optim.h, and the fused
// epilogue of propel/gemm.h): each throws propel::Error(kInvalidArgument) naming the function
// (`where`) and the argument. The kernels below assume what these establish.
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/activation.h"
#include "propel/precision.h"

namespace propel::detail {

// The element-wise kernels of the active target (src/runtime/target.h).
const kernels::ElementwiseKernels& Kernels();

// act is a known code and alpha finite.
void CheckAct(const char* where, Activation act, float alpha);
bool ValidAct(Activation act);
inline kernels::Act ToAct(Activation act) {
  return static_cast<kernels::Act>(static_cast<int>(act));
}

// Checks act and alpha and returns the epilogue parameters with the element-wise kernel of the
// active target.
kernels::ActParams CheckedActivation(const char* where, Activation act, float alpha);

// precision is kFp32 or kBf16.
void CheckedPrecision(const char* where, Precision precision);

// n in [0, 2^60].
void CheckCount(const char* where, const char* name, int64_t n);
// rows x cols elements (both already checked by CheckCount) fit in 2^60.
void CheckProduct(const char* where, int64_t rows, int64_t cols);
// p is not null unless it has no elements.
void CheckPtr(const char* where, const char* name, const void* p, int64_t n);
// An output may be the input itself, or disjoint from it; a partial overlap is refused.
// out_bytes, in_bytes: the extents of the two arrays.
void CheckAlias(const char* where, const char* out_name, const void* out, int64_t out_bytes,
                const char* in_name, const void* in, int64_t in_bytes);
// A rows x cols block with row stride ld (named ld_name): ld >= cols, the extent fits, p is not
// null unless the block is empty.
void CheckBlock(const char* where, const char* name, const void* p, int64_t rows, int64_t cols,
                int64_t ld, const char* ld_name);

inline int64_t Bytes(int64_t n) { return n * static_cast<int64_t>(sizeof(float)); }
// The extent in bytes of a rows x cols block with row stride ld.
inline int64_t BlockBytes(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : Bytes((rows - 1) * ld + cols);
}

}  // namespace propel::detail
