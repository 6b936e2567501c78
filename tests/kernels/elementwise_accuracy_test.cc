// Accuracy of every activation and derivative against the double-precision reference
// (tests/reference/elementwise_ref.h), over a dense sweep of float inputs, on every SIMD target.
//
// The sweep: every 4093rd bit pattern of the 2^32 floats (about a million values, both signs,
// every exponent, subnormals, the saturating tails) plus the special values. The error is
//   |got - ref| / max(scale, FLT_MIN),  scale = |ref| (the sum of the terms' magnitudes for the
//   derivatives of GELU and SiLU, which cross zero)
// so results in the subnormal range are judged in absolute terms against FLT_MIN. NaN inputs
// must give NaN, infinite references must be met exactly. The measured maxima are printed (the
// table in docs/kernels.md comes from this output).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "propel/activation.h"
#include "propel/target.h"
#include "tests/reference/elementwise_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

struct Case {
  Activation act;
  float alpha;
  double fwd_tol;  // relative error bound, forward
  double bwd_tol;  // relative error bound, derivative from the pre-activation
};

// The bars: 4e-6 for the exp-like functions (sigmoid, softplus and their derivatives), 4e-5 for
// tanh, ELU, GELU and SiLU; the piecewise-linear ones are exact (leaky ReLU: one rounding of
// alpha x, visible only on subnormal x).
const Case kCases[] = {
    {Activation::kIdentity, 0.0f, 0.0, 0.0},    {Activation::kRelu, 0.0f, 0.0, 0.0},
    {Activation::kSigmoid, 0.0f, 4e-6, 4e-6},   {Activation::kTanh, 0.0f, 4e-5, 4e-5},
    {Activation::kLeakyRelu, 0.01f, 1e-7, 0.0}, {Activation::kElu, 1.0f, 4e-5, 4e-5},
    {Activation::kElu, 0.5f, 4e-5, 4e-5},       {Activation::kGeluTanh, 0.0f, 4e-5, 4e-5},
    {Activation::kGeluErf, 0.0f, 4e-5, 4e-5},   {Activation::kSilu, 0.0f, 4e-5, 4e-5},
    {Activation::kSoftplus, 0.0f, 4e-6, 4e-6},
};

const std::vector<float>& SweepInputs() {
  static const std::vector<float> inputs = [] {
    std::vector<float> v;
    for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 4093) {
      const uint32_t bits = static_cast<uint32_t>(u);
      float f;
      std::memcpy(&f, &bits, sizeof(f));
      v.push_back(f);
    }
    const float inf = std::numeric_limits<float>::infinity();
    for (float f :
         {0.0f,    1.0f,         0.5f,  2.0f,     9.0f,    10.5f,    14.0f,   20.0f, 30.0f,
          87.3f,   88.7f,        88.8f, 89.0f,    103.9f,  104.0f,   150.0f,  1e30f, FLT_MIN,
          FLT_MAX, FLT_TRUE_MIN, inf,   0.75179f, 1.2785f, 0.34657f, 0.17328f}) {
      v.push_back(f);
      v.push_back(-f);
    }
    v.push_back(std::numeric_limits<float>::quiet_NaN());
    v.push_back(-std::numeric_limits<float>::quiet_NaN());
    // A dense uniform grid over the range where activations bend.
    for (int i = -200000; i <= 200000; ++i) v.push_back(static_cast<float>(i) * 1e-4f);
    return v;
  }();
  return inputs;
}

struct Worst {
  double err = 0.0;
  float x = 0.0f;
  float got = 0.0f;
  double ref = 0.0;
};

// Compares got[i] with ref[i] (scales in scale[i]); returns the worst error and fails on any
// NaN/inf mismatch.
Worst Compare(const std::vector<float>& x, const std::vector<float>& got,
              const std::vector<double>& ref, const std::vector<double>& scale,
              const std::string& what) {
  Worst w;
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = ref[i];
    const float g = got[i];
    if (std::isnan(r)) {
      if (!std::isnan(g) && bad++ < 5)
        ADD_FAILURE() << what << ": x=" << x[i] << " want NaN, got " << g;
      continue;
    }
    if (std::isinf(r) || std::isinf(static_cast<float>(r))) {
      if (g != static_cast<float>(r) && bad++ < 5) {
        ADD_FAILURE() << what << ": x=" << x[i] << " want " << static_cast<float>(r) << ", got "
                      << g;
      }
      continue;
    }
    if (std::isnan(g) || std::isinf(g)) {
      if (bad++ < 5) ADD_FAILURE() << what << ": x=" << x[i] << " want " << r << ", got " << g;
      continue;
    }
    const double err = std::fabs(static_cast<double>(g) - r) / std::fmax(scale[i], FLT_MIN);
    if (err > w.err) w = {err, x[i], g, r};
  }
  return w;
}

std::string CaseName(const Case& c) {
  std::string s = activation_name(c.act);
  if (c.alpha != 0.0f) s += "(alpha=" + std::to_string(c.alpha) + ")";
  return s;
}

class ActivationAccuracy : public ::testing::TestWithParam<Case> {};

TEST_P(ActivationAccuracy, ForwardAndDerivativeOnEveryTarget) {
  const Case c = GetParam();
  const std::vector<float>& x = SweepInputs();
  const size_t n = x.size();
  std::vector<double> fref(n), fscale(n), dref(n), dscale(n);
  for (size_t i = 0; i < n; ++i) {
    fref[i] = ref::Forward(c.act, c.alpha, x[i]);
    fscale[i] = std::fabs(fref[i]);
    dref[i] = ref::Derivative(c.act, c.alpha, x[i], &dscale[i]);
  }
  const std::vector<float> ones(n, 1.0f);
  std::vector<float> y(n), dx(n);
  for (const std::string& target : test::TargetNames()) {
    SCOPED_TRACE(target);
    test::ScopedTarget pin(target);
    activation_forward(c.act, c.alpha, static_cast<int64_t>(n), x.data(), y.data());
    const Worst wf = Compare(x, y, fref, fscale, CaseName(c) + " forward on " + target);
    activation_backward(c.act, c.alpha, static_cast<int64_t>(n), x.data(), ones.data(), dx.data());
    const Worst wb = Compare(x, dx, dref, dscale, CaseName(c) + " derivative on " + target);
    std::printf("accuracy %-6s %-22s forward %.2e (x=%.9g)  derivative %.2e (x=%.9g)\n",
                target.c_str(), CaseName(c).c_str(), wf.err, wf.x, wb.err, wb.x);
    EXPECT_LE(wf.err, c.fwd_tol) << CaseName(c) << " forward at x=" << wf.x << ": got " << wf.got
                                 << ", want " << wf.ref;
    EXPECT_LE(wb.err, c.bwd_tol) << CaseName(c) << " derivative at x=" << wb.x << ": got " << wb.got
                                 << ", want " << wb.ref;
    // Portable mode's kernels (docs/reproducibility.md) of the targets that run their own: the
    // same bars (their divisions are exact where the default ones refine an estimate).
    const Target t = active_target();
    if (portable_target_name(t) != target) continue;
    const kernels::ElementwiseKernels& pk = *kernels::ElementwiseKernelsFor(t.bits, true);
    const auto act = static_cast<kernels::Act>(c.act);
    pk.act_forward(act, c.alpha, static_cast<int64_t>(n), x.data(), y.data());
    const Worst pf = Compare(x, y, fref, fscale, CaseName(c) + " portable forward on " + target);
    pk.act_backward(act, c.alpha, static_cast<int64_t>(n), x.data(), ones.data(), dx.data());
    const Worst pb =
        Compare(x, dx, dref, dscale, CaseName(c) + " portable derivative on " + target);
    std::printf("accuracy %-6s %-22s portable forward %.2e (x=%.9g)  derivative %.2e (x=%.9g)\n",
                target.c_str(), CaseName(c).c_str(), pf.err, pf.x, pb.err, pb.x);
    EXPECT_LE(pf.err, c.fwd_tol) << CaseName(c) << " portable forward at x=" << pf.x;
    EXPECT_LE(pb.err, c.bwd_tol) << CaseName(c) << " portable derivative at x=" << pb.x;
  }
}

// The losses' logarithm (math::Log in kernels/math-inl.h, both modes): -log(p) of binary
// cross-entropy with y = 1, one element per call, over every 4093rd positive float below 1 (and
// the smallest normal and subnormal ones), against double's log. Measured on AMD EPYC Zen 3: at
// most 6.4 ulp with the reciprocal estimate (SSE4's RCPPS; the estimate, and so the worst case,
// differs between CPUs: 6.2 on Zen 3's AVX2, 5.4 on an emulated Skylake-X's), 5.3 ulp with the
// division (portable mode and SCALAR, the same everywhere).
TEST(LossLogarithm, WithinSevenUlpOnEveryTarget) {
  std::vector<float> p;
  for (uint32_t u = 1; u < 0x3F800000u; u += 4093) {
    float f;
    std::memcpy(&f, &u, sizeof(f));
    p.push_back(f);
  }
  p.push_back(FLT_MIN);
  p.push_back(FLT_TRUE_MIN);
  const float one = 1.0f;
  for (const Target& t : available_targets()) {
    for (bool portable : {false, true}) {
      const kernels::ElementwiseKernels& k = *kernels::ElementwiseKernelsFor(t.bits, portable);
      double worst = 0.0;
      float at = 0.0f;
      for (float v : p) {
        const double got = k.bce_prob(1, &v, &one, FLT_TRUE_MIN, 1.0f, nullptr);
        const double want = -std::log(static_cast<double>(v));
        const double err = std::fabs(got - want) / std::fabs(want);
        if (err > worst) worst = err, at = v;
      }
      std::printf("accuracy %-6s log%s %.2e ulp (p=%.9g)\n", t.name, portable ? " (portable)" : "",
                  worst / 0x1p-24, at);
      EXPECT_LE(worst, 7 * 0x1p-24) << t.name << (portable ? " portable" : "") << " at p=" << at;
    }
  }
}

// The output form: act'(x) evaluated from y = act(x) against the same formula in double on the
// same float y (the formula's own conditioning is the caller's choice, not the kernel's error).
class OutputFormAccuracy : public ::testing::TestWithParam<Case> {};

TEST_P(OutputFormAccuracy, DerivativeFromOutputOnEveryTarget) {
  const Case c = GetParam();
  const std::vector<float>& x = SweepInputs();
  const size_t n = x.size();
  std::vector<float> y(n);
  std::vector<double> dref(n), dscale(n);
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(ref::Forward(c.act, c.alpha, x[i]));
    dref[i] = ref::DerivativeFromOutput(c.act, c.alpha, y[i]);
    dscale[i] = std::fabs(dref[i]);
  }
  const std::vector<float> ones(n, 1.0f);
  std::vector<float> dx(n);
  for (const std::string& target : test::TargetNames()) {
    SCOPED_TRACE(target);
    test::ScopedTarget pin(target);
    activation_backward_from_output(c.act, c.alpha, static_cast<int64_t>(n), y.data(), ones.data(),
                                    dx.data());
    const Worst w = Compare(y, dx, dref, dscale, CaseName(c) + " output form on " + target);
    std::printf("accuracy %-6s %-22s from output %.2e (y=%.9g)\n", target.c_str(),
                CaseName(c).c_str(), w.err, w.x);
    EXPECT_LE(w.err, 1e-6) << CaseName(c) << " at y=" << w.x;
  }
}

std::string ParamName(const ::testing::TestParamInfo<Case>& info) {
  std::string s = activation_name(info.param.act);
  if (info.param.alpha == 0.5f) s += "_alpha_half";
  return s;
}

std::vector<Case> OutputFormCases() {
  std::vector<Case> v;
  for (const Case& c : kCases) {
    if (has_output_derivative(c.act)) v.push_back(c);
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ActivationAccuracy, ::testing::ValuesIn(kCases), ParamName);
INSTANTIATE_TEST_SUITE_P(All, OutputFormAccuracy, ::testing::ValuesIn(OutputFormCases()),
                         ParamName);

}  // namespace
}  // namespace propel
