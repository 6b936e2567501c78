// The reduction and optimizer API (propel/optim.h): column sums, sums of squares, the pairwise
// reduction, gradient clipping, SGD and Adam updates, validated at the boundary.
#include "propel/optim.h"

#include <cmath>
#include <cstdint>

#include "src/ops/checks.h"
#include "src/runtime/check.h"

namespace propel {

using detail::BlockBytes;
using detail::Bytes;
using detail::Check;
using detail::CheckAlias;
using detail::CheckBlock;
using detail::CheckCount;
using detail::CheckPtr;
using detail::Kernels;

void column_sums(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* out,
                 bool accumulate) {
  const char* where = "propel::column_sums";
  CheckCount(where, "rows", rows);
  CheckCount(where, "cols", cols);
  CheckBlock(where, "x", x, rows, cols, ldx, "ldx");
  CheckPtr(where, "out", out, cols);
  CheckAlias(where, "out", out, Bytes(cols), "x", x, BlockBytes(rows, cols, ldx));
  Check(out != x || rows == 0 || cols == 0, where, "out must not be x");
  if (cols > 0) Kernels().column_sums(rows, cols, x, ldx, out, accumulate);
}

double sum_squares(int64_t n, const float* x) {
  const char* where = "propel::sum_squares";
  CheckCount(where, "n", n);
  CheckPtr(where, "x", x, n);
  return n > 0 ? Kernels().sum_squares(n, x) : 0.0;
}

double l2_norm(int64_t n, const float* x) {
  const char* where = "propel::l2_norm";
  CheckCount(where, "n", n);
  CheckPtr(where, "x", x, n);
  return n > 0 ? std::sqrt(Kernels().sum_squares(n, x)) : 0.0;
}

void reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out) {
  const char* where = "propel::reduce_sum";
  Check(k >= 1, where, "k = ", k, " must be at least 1");
  Check(k <= (int64_t{1} << 32), where, "k = ", k, " buffers are more than 2^32");
  CheckCount(where, "n", n);
  Check(bufs != nullptr, where, "bufs is null");
  Check(std::isfinite(scale), where, "scale = ", scale, " is not finite");
  CheckPtr(where, "out", out, n);
  for (int64_t b = 0; b < k; ++b) {
    Check(n == 0 || bufs[b] != nullptr, where, "bufs[", b, "] is null");
    CheckAlias(where, "out", out, Bytes(n), "a buffer", bufs[b], Bytes(n));
  }
  if (n > 0) Kernels().reduce_sum(k, bufs, n, scale, out);
}

float clip_scale(double norm, float max_norm) {
  if (!(max_norm > 0.0f) || !(norm > max_norm)) return 1.0f;
  return static_cast<float>(max_norm / norm);
}

void sgd_update(const SgdOptions& opt, int64_t n, float* w, const float* g, float* velocity,
                float grad_scale) {
  const char* where = "propel::sgd_update";
  Check(std::isfinite(opt.lr) && opt.lr >= 0.0f, where, "lr = ", opt.lr,
        " is not a finite non-negative number");
  Check(std::isfinite(opt.momentum) && opt.momentum >= 0.0f && opt.momentum < 1.0f, where,
        "momentum = ", opt.momentum, " is not in [0, 1)");
  Check(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0f, where,
        "weight_decay = ", opt.weight_decay, " is not a finite non-negative number");
  Check(!opt.nesterov || opt.momentum > 0.0f, where, "nesterov requires momentum > 0");
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  CheckCount(where, "n", n);
  CheckPtr(where, "w", w, n);
  CheckPtr(where, "g", g, n);
  if (opt.momentum > 0.0f) CheckPtr(where, "velocity", velocity, n);
  CheckAlias(where, "w", w, Bytes(n), "g", g, Bytes(n));
  Check(w != g || n == 0, where, "w and g are the same array");
  kernels::SgdArgs a{opt.lr, opt.momentum, opt.weight_decay, grad_scale, opt.nesterov};
  if (n > 0) Kernels().sgd(n, a, w, g, opt.momentum > 0.0f ? velocity : nullptr);
}

void adam_update(const AdamOptions& opt, int64_t step, int64_t n, float* w, const float* g,
                 float* m, float* v, float grad_scale) {
  const char* where = "propel::adam_update";
  Check(std::isfinite(opt.lr) && opt.lr >= 0.0f, where, "lr = ", opt.lr,
        " is not a finite non-negative number");
  Check(opt.beta1 >= 0.0f && opt.beta1 < 1.0f, where, "beta1 = ", opt.beta1, " is not in [0, 1)");
  Check(opt.beta2 >= 0.0f && opt.beta2 < 1.0f, where, "beta2 = ", opt.beta2, " is not in [0, 1)");
  Check(std::isfinite(opt.eps) && opt.eps > 0.0f, where, "eps = ", opt.eps,
        " is not a finite positive number");
  Check(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0f, where,
        "weight_decay = ", opt.weight_decay, " is not a finite non-negative number");
  Check(step >= 1, where, "step = ", step, " must be at least 1 (the first update is step 1)");
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  CheckCount(where, "n", n);
  CheckPtr(where, "w", w, n);
  CheckPtr(where, "g", g, n);
  CheckPtr(where, "m", m, n);
  CheckPtr(where, "v", v, n);
  Check(n == 0 || (w != g && m != v && w != m && w != v), where,
        "w, g, m and v must be distinct arrays");
  const kernels::AdamArgs a{opt.lr,
                            opt.beta1,
                            opt.beta2,
                            opt.eps,
                            opt.weight_decay,
                            grad_scale,
                            opt.decoupled,
                            kernels::BiasCorrection(opt.beta1, step),
                            kernels::BiasCorrection(opt.beta2, step)};
  Check(a.bias_correction1 > 0.0f && a.bias_correction2 > 0.0f, where,
        "the bias correction 1 - beta^step rounds to 0 at step ", step);
  if (n > 0) Kernels().adam(n, a, w, g, m, v);
}

}  // namespace propel
