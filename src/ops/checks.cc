// The argument checks of the array API (src/ops/checks.h).
#include "src/ops/checks.h"

#include <cmath>
#include <cstdint>

#include "src/runtime/check.h"
#include "src/runtime/target.h"

namespace propel::detail {

const kernels::ElementwiseKernels& Kernels() { return ActiveElementwiseKernels(); }

bool ValidAct(Activation act) {
  const int a = static_cast<int>(act);
  return a >= 0 && a < kernels::kNumActs;
}

void CheckAct(const char* where, Activation act, float alpha) {
  Check(ValidAct(act), where, "activation code ", static_cast<int>(act), " is not one of 0..",
        kernels::kNumActs - 1);
  Check(std::isfinite(alpha), where, "alpha = ", alpha, " is not finite");
}

kernels::ActParams CheckedActivation(const char* where, Activation act, float alpha) {
  CheckAct(where, act, alpha);
  kernels::ActParams p;
  p.act = ToAct(act);
  p.alpha = alpha;
  p.fn = Kernels().act_forward;
  return p;
}

void CheckCount(const char* where, const char* name, int64_t n) {
  Check(n >= 0, where, name, " = ", n, " is negative");
  Check(n <= kMaxElements, where, name, " = ", n, " exceeds the largest array size (2^60)");
}

void CheckProduct(const char* where, int64_t rows, int64_t cols) {
  Check(cols == 0 || rows <= kMaxElements / cols, where, rows, " x ", cols,
        " elements exceed the largest array size (2^60)");
}

void CheckPtr(const char* where, const char* name, const void* p, int64_t n) {
  Check(n == 0 || p != nullptr, where, name, " is null with ", n, " elements");
}

void CheckAlias(const char* where, const char* out_name, const void* out, int64_t out_bytes,
                const char* in_name, const void* in, int64_t in_bytes) {
  if (out == in || out_bytes <= 0 || in_bytes <= 0 || out == nullptr || in == nullptr) return;
  const auto o = reinterpret_cast<uintptr_t>(out);
  const auto i = reinterpret_cast<uintptr_t>(in);
  Check(o + static_cast<uintptr_t>(out_bytes) <= i || i + static_cast<uintptr_t>(in_bytes) <= o,
        where, out_name, " overlaps ", in_name, " partially (it may only be the same array)");
}

void CheckBlock(const char* where, const char* name, const void* p, int64_t rows, int64_t cols,
                int64_t ld, const char* ld_name) {
  Check(ld >= 1 && ld >= cols, where, ld_name, " = ", ld, " is smaller than cols = ", cols);
  CheckExtent(where, name, rows, cols, ld);
  Check(rows == 0 || cols == 0 || p != nullptr, where, name, " is null with ", rows, " x ", cols,
        " elements");
}

void CheckedPrecision(const char* where, Precision precision) {
  const int p = static_cast<int>(precision);
  Check(p >= 0 && p <= 2, where, "unknown precision ", p,
        " (expected fp32 (0), bf16 (1) or auto (2))");
}

}  // namespace propel::detail
