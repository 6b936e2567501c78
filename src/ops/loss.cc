// The loss API (propel/loss.h): the losses and their gradients, validated at the boundary; a
// non-finite loss names the first non-finite input.
#include "propel/loss.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "src/ops/checks.h"
#include "src/runtime/check.h"

namespace propel {

using detail::Bytes;
using detail::Check;
using detail::CheckAlias;
using detail::CheckCount;
using detail::CheckProduct;
using detail::CheckPtr;
using detail::Kernels;

namespace {

void CheckLossShape(const char* where, int64_t rows, int64_t cols, const float* in,
                    const char* in_name, const void* target, const char* target_name, float* dz,
                    float grad_scale) {
  CheckCount(where, "rows", rows);
  CheckCount(where, "cols", cols);
  CheckProduct(where, rows, cols);
  CheckPtr(where, in_name, in, rows * cols);
  CheckPtr(where, target_name, target, rows * cols);
  CheckAlias(where, "dz", dz, Bytes(rows * cols), in_name, in, Bytes(rows * cols));
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
}

// The first non-finite value of a rows x cols array, as "name[row][col] = value".
bool FindNonFinite(const float* p, int64_t rows, int64_t cols, const char* name,
                   std::string* what) {
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(p[i])) {
      *what = std::string(name) + "[" + std::to_string(i / cols) + "][" + std::to_string(i % cols) +
              "] = " + (std::isnan(p[i]) ? "nan" : (p[i] > 0 ? "inf" : "-inf"));
      return true;
    }
  }
  return false;
}

// A non-finite loss: name the first non-finite input (or report the overflow).
[[noreturn]] void NumericalFailure(const char* where, int64_t rows, int64_t cols, const float* in,
                                   const char* in_name, const float* target,
                                   const char* target_name) {
  std::string what;
  if (FindNonFinite(in, rows, cols, in_name, &what) ||
      (target != nullptr && FindNonFinite(target, rows, cols, target_name, &what))) {
    detail::Fail(ErrorCode::kNumerical, where, "non-finite input: ", what);
  }
  detail::Fail(ErrorCode::kNumerical, where, "the loss overflowed with finite inputs");
}

float Mean(double total, int64_t rows) {
  return rows > 0 ? static_cast<float>(total / static_cast<double>(rows)) : 0.0f;
}

}  // namespace

namespace {
// The element-wise losses: checks, the kernel (a call returning the summed loss), the non-finite
// report, the mean.
template <class Kernel>
float ElementLoss(const char* where, int64_t rows, int64_t cols, const float* in,
                  const char* in_name, const float* y, float* dz, float grad_scale,
                  const Kernel& kernel) {
  CheckLossShape(where, rows, cols, in, in_name, y, "y", dz, grad_scale);
  if (rows * cols == 0) return 0.0f;
  const double total = kernel(rows * cols);
  if (!std::isfinite(total)) NumericalFailure(where, rows, cols, in, in_name, y, "y");
  return Mean(total, rows);
}
}  // namespace

float bce_with_logits(int64_t rows, int64_t cols, const float* z, const float* y, float* dz,
                      float grad_scale) {
  return ElementLoss("propel::bce_with_logits", rows, cols, z, "z", y, dz, grad_scale,
                     [&](int64_t n) { return Kernels().bce_logits(n, z, y, grad_scale, dz); });
}

float binary_cross_entropy(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                           float grad_scale, float eps) {
  const char* where = "propel::binary_cross_entropy";
  Check(eps > 0.0f && eps < 0.5f, where, "eps = ", eps, " is not in (0, 0.5)");
  return ElementLoss(where, rows, cols, a, "a", y, dz, grad_scale,
                     [&](int64_t n) { return Kernels().bce_prob(n, a, y, eps, grad_scale, dz); });
}

float mean_squared_error(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                         float grad_scale) {
  return ElementLoss("propel::mean_squared_error", rows, cols, a, "a", y, dz, grad_scale,
                     [&](int64_t n) { return Kernels().mse(n, a, y, grad_scale, dz); });
}

float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const int32_t* labels,
                            float* dz, float grad_scale) {
  const char* where = "propel::softmax_cross_entropy";
  CheckCount(where, "rows", rows);
  Check(classes >= 1, where, "classes = ", classes, " must be at least 1");
  CheckCount(where, "classes", classes);
  CheckProduct(where, rows, classes);
  CheckPtr(where, "z", z, rows * classes);
  CheckPtr(where, "labels", labels, rows);
  CheckAlias(where, "dz", dz, Bytes(rows * classes), "z", z, Bytes(rows * classes));
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  for (int64_t i = 0; i < rows; ++i) {
    Check(labels[i] >= 0 && labels[i] < classes, where, "labels[", i, "] = ", labels[i],
          " is outside [0, ", classes, ")");
  }
  if (rows == 0) return 0.0f;
  const double total = Kernels().softmax_ce_labels(rows, classes, z, labels, grad_scale, dz);
  if (!std::isfinite(total)) NumericalFailure(where, rows, classes, z, "z", nullptr, nullptr);
  return Mean(total, rows);
}

float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const float* targets,
                            float* dz, float grad_scale) {
  const char* where = "propel::softmax_cross_entropy";
  Check(classes >= 1, where, "classes = ", classes, " must be at least 1");
  CheckLossShape(where, rows, classes, z, "z", targets, "targets", dz, grad_scale);
  if (rows == 0) return 0.0f;
  const double total = Kernels().softmax_ce_soft(rows, classes, z, targets, grad_scale, dz);
  if (!std::isfinite(total)) NumericalFailure(where, rows, classes, z, "z", targets, "targets");
  return Mean(total, rows);
}

}  // namespace propel
