// Scalar GEMM reference in double precision, with the error bound a float GEMM must meet.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace propel::ref {

struct GemmRefResult {
  std::vector<double> c;      // alpha * op(A) * op(B) + beta * C (+ bias, activation), exact-ish
  std::vector<double> bound;  // per element: the worst-case float rounding error allowed
};

// Row-major reference of C = act(alpha * op(A) * op(B) + beta * C + bias). With beta == 0 the
// input C is not read. The bound is the standard dot-product bound (k + 2) * u * (|alpha| *
// sum |a||b| + |beta * c| + |bias|), u = 2^-24, times a factor 2 for the alpha/beta roundings.
inline GemmRefResult GemmRef(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                             const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                             const float* c, int64_t ldc, const float* bias = nullptr,
                             bool relu = false) {
  GemmRefResult r;
  r.c.assign(static_cast<size_t>(m * n), 0.0);
  r.bound.assign(static_cast<size_t>(m * n), 0.0);
  const double u = std::numeric_limits<float>::epsilon() / 2;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0, abs_sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
        abs_sum += std::fabs(av * bv);
      }
      double v = static_cast<double>(alpha) * sum;
      double mag = std::fabs(static_cast<double>(alpha)) * abs_sum;
      if (beta != 0.0f) {
        const double cv = static_cast<double>(beta) * c[i * ldc + j];
        v += cv;
        mag += std::fabs(cv);
      }
      if (bias != nullptr) {
        v += bias[j];
        mag += std::fabs(bias[j]);
      }
      const double bound = 2.0 * static_cast<double>(k + 2) * u * mag;
      if (relu) v = v < 0.0 ? 0.0 : v;
      r.c[i * n + j] = v;
      r.bound[i * n + j] = bound + std::numeric_limits<float>::denorm_min();
    }
  }
  return r;
}

}  // namespace propel::ref
