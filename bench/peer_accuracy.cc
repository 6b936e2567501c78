// Accuracy of the element-wise peers (Eigen's array expressions, oneDNN's eltwise primitive)
// over the same float sweep and against the same double-precision references as propel's own
// accuracy test (tests/kernels/elementwise_accuracy_test.cc), so that speed ratios can be read
// together with what each implementation computes. Prints one line per function and direction.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench/peers.h"
#include "propel/activation.h"
#include "tests/reference/elementwise_ref.h"

namespace {

struct Worst {
  double err = 0.0;
  float x = 0.0f;
  double err_normal = 0.0;  // over the inputs whose reference result is a normal float
  float x_normal = 0.0f;
};

// |got - ref| / max(scale, FLT_MIN), NaN mismatches counted as infinite.
Worst Measure(const std::vector<float>& x, const std::vector<float>& got, propel::Activation act,
              float alpha, bool derivative) {
  Worst w;
  for (size_t i = 0; i < x.size(); ++i) {
    double scale = 0.0;
    const double ref = derivative ? propel::ref::Derivative(act, alpha, x[i], &scale)
                                  : propel::ref::Forward(act, alpha, x[i]);
    if (!derivative) scale = std::fabs(ref);
    if (std::isnan(ref) != std::isnan(got[i])) {
      if (w.err != INFINITY) w.err = INFINITY, w.x = x[i];
      continue;
    }
    if (std::isnan(ref)) continue;
    const double e = std::fabs(got[i] - ref) / std::fmax(scale, FLT_MIN);
    if (e > w.err) w.err = e, w.x = x[i];
    if (scale >= FLT_MIN && e > w.err_normal) w.err_normal = e, w.x_normal = x[i];
  }
  return w;
}

}  // namespace

int main() {
  using propel::Activation;
  std::vector<float> x;
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 4093) {
    const uint32_t bits = static_cast<uint32_t>(u);
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    if (std::isfinite(f)) x.push_back(f);
  }
  for (int i = -200000; i <= 200000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(x.size()), tmp(x.size()), ones(x.size(), 1.0f);
  std::printf(
      "max relative error over %lld finite floats (docs/kernels.md gives the metric);\n"
      "'normal': only where the reference result is at least FLT_MIN\n",
      static_cast<long long>(n));
  for (int a = 2; a < 10; ++a) {
    const auto act = static_cast<Activation>(a);
    const float alpha = propel::default_alpha(act);
    for (bool derivative : {false, true}) {
      const char* dir = derivative ? "derivative" : "forward";
      if (propel::bench::EigenAvailable() &&
          (derivative
               ? propel::bench::EigenBackward(a, n, x.data(), ones.data(), y.data(), tmp.data())
               : propel::bench::EigenForward(a, n, x.data(), y.data()))) {
        const Worst w = Measure(x, y, act, alpha, derivative);
        std::printf("eigen   %-10s %-10s all %9.2e (x = %-12g) normal %9.2e (x = %g)\n",
                    propel::activation_name(act), dir, w.err, w.x, w.err_normal, w.x_normal);
      }
      if (propel::bench::DnnlAvailable() &&
          (derivative ? propel::bench::DnnlBackward(a, n, x.data(), ones.data(), y.data())
                      : propel::bench::DnnlForward(a, n, x.data(), y.data()))) {
        const Worst w = Measure(x, y, act, alpha, derivative);
        std::printf("onednn  %-10s %-10s all %9.2e (x = %-12g) normal %9.2e (x = %g)\n",
                    propel::activation_name(act), dir, w.err, w.x, w.err_normal, w.x_normal);
      }
    }
  }
  return 0;
}
