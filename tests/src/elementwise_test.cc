// The element-wise API on every SIMD target: in-place and strided use, the fused backward + bias
// pass, softmax, losses with their gradients (extreme logits included), reductions, optimizer
// updates, the GEMM epilogue with every activation, and argument errors.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "propel/activation.h"
#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "tests/reference/elementwise_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

constexpr Activation kAllActs[] = {
    Activation::kIdentity,  Activation::kRelu,     Activation::kSigmoid,  Activation::kTanh,
    Activation::kLeakyRelu, Activation::kElu,      Activation::kGeluTanh, Activation::kGeluErf,
    Activation::kSilu,      Activation::kSoftplus,
};

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

class ElementwiseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { pin_target(GetParam()); }
  void TearDown() override { unpin_target(); }
};

// Every length from 0 to 100 (tails of every size), in place and out of place, bitwise equal.
TEST_P(ElementwiseTest, InPlaceMatchesOutOfPlaceForEveryLength) {
  for (Activation act : kAllActs) {
    const float alpha = default_alpha(act);
    for (int64_t n = 0; n <= 100; ++n) {
      const auto x =
          test::RandomVector(static_cast<size_t>(n) + 1, 7 + static_cast<uint32_t>(n), -6, 6);
      const auto dy = test::RandomVector(static_cast<size_t>(n) + 1, 99, -2, 2);
      std::vector<float> y(x.size(), -7.0f), inplace = x;
      activation_forward(act, alpha, n, x.data(), y.data());
      activation_forward(act, alpha, n, inplace.data(), inplace.data());
      ASSERT_EQ(y[static_cast<size_t>(n)], -7.0f) << "wrote past n";
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(SameBits(y[i], inplace[i])) << activation_name(act) << " n=" << n;
        const double want = ref::Forward(act, alpha, x[i]);
        ASSERT_NEAR(y[i], want, 4e-5 * std::fabs(want) + 1e-30) << activation_name(act);
      }
      std::vector<float> dx(x.size(), -7.0f), dinplace = dy;
      activation_backward(act, alpha, n, x.data(), dy.data(), dx.data());
      activation_backward(act, alpha, n, x.data(), dinplace.data(), dinplace.data());
      ASSERT_EQ(dx[static_cast<size_t>(n)], -7.0f) << "wrote past n";
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(SameBits(dx[i], dinplace[i])) << activation_name(act) << " n=" << n;
        double scale = 0.0;
        const double want = dy[i] * ref::Derivative(act, alpha, x[i], &scale);
        ASSERT_NEAR(dx[i], want, 4e-5 * std::fabs(dy[i]) * scale + 1e-30)
            << activation_name(act) << " x=" << x[i];
      }
      if (has_output_derivative(act)) {
        std::vector<float> dout(x.size());
        activation_backward_from_output(act, alpha, n, y.data(), dy.data(), dout.data());
        for (int64_t i = 0; i < n; ++i) {
          const double want = dy[i] * ref::DerivativeFromOutput(act, alpha, y[i]);
          ASSERT_NEAR(dout[i], want, 1e-6 * std::fabs(want) + 1e-30) << activation_name(act);
        }
      }
    }
  }
}

// The fused pass equals backward + column sums, bitwise, with strides and both forms.
TEST_P(ElementwiseTest, BackwardBiasMatchesSeparatePasses) {
  for (Activation act : kAllActs) {
    const float alpha = default_alpha(act);
    for (bool from_output : {false, true}) {
      if (from_output && !has_output_derivative(act)) continue;
      for (int64_t cols : {1, 7, 16, 37, 100}) {
        const int64_t rows = 13, ld = cols + 3;
        const auto x = test::RandomVector(static_cast<size_t>(rows * ld), 5, -4, 4);
        const auto da = test::RandomVector(static_cast<size_t>(rows * ld), 6);
        std::vector<float> s = x;
        if (from_output) activation_forward(act, alpha, rows * ld, x.data(), s.data());
        auto db = test::RandomVector(static_cast<size_t>(cols), 8);
        auto db_want = db;
        std::vector<float> dz(static_cast<size_t>(rows * ld), 0.0f), dz_want = dz;
        activation_backward_bias(act, alpha, from_output, rows, cols, s.data(), ld, da.data(), ld,
                                 dz.data(), ld, db.data());
        for (int64_t i = 0; i < rows; ++i) {
          if (from_output) {
            activation_backward_from_output(act, alpha, cols, s.data() + i * ld, da.data() + i * ld,
                                            dz_want.data() + i * ld);
          } else {
            activation_backward(act, alpha, cols, s.data() + i * ld, da.data() + i * ld,
                                dz_want.data() + i * ld);
          }
        }
        column_sums(rows, cols, dz_want.data(), ld, db_want.data(), true);
        for (size_t i = 0; i < dz.size(); ++i) ASSERT_TRUE(SameBits(dz[i], dz_want[i])) << i;
        for (int64_t j = 0; j < cols; ++j) ASSERT_TRUE(SameBits(db[j], db_want[j])) << j;
      }
    }
  }
}

TEST_P(ElementwiseTest, SoftmaxAndLogSoftmax) {
  for (int64_t cols : {1, 2, 10, 16, 17, 100, 1000}) {
    const int64_t rows = 5, ld = cols + 2;
    auto x = test::RandomVector(static_cast<size_t>(rows * ld), 3, -20, 20);
    x[1] = 80.0f;  // large logits: the max subtraction keeps exp finite
    std::vector<float> y(x.size()), ly(x.size());
    softmax(rows, cols, x.data(), ld, y.data(), ld);
    log_softmax(rows, cols, x.data(), ld, ly.data(), ld);
    for (int64_t i = 0; i < rows; ++i) {
      const auto want = ref::SoftmaxRow(x.data() + i * ld, cols, false);
      const auto lwant = ref::SoftmaxRow(x.data() + i * ld, cols, true);
      float m = -INFINITY;
      for (int64_t j = 0; j < cols; ++j) m = std::fmax(m, x[i * ld + j]);
      for (int64_t j = 0; j < cols; ++j) {
        // 2e-6, plus the rounding of x - max in float (relative 6e-8 |x - max| in exp)
        const double rel = 2e-6 + 6e-8 * (m - x[i * ld + j]);
        ASSERT_NEAR(y[i * ld + j], want[j], rel * want[j] + 1e-37) << cols << " " << i << " " << j;
        ASSERT_NEAR(ly[i * ld + j], lwant[j], 1e-6 * (std::fabs(lwant[j]) + 1.0));
      }
    }
    auto inplace = x;  // in place
    softmax(rows, cols, inplace.data(), ld, inplace.data(), ld);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) ASSERT_TRUE(SameBits(inplace[i * ld + j], y[i * ld + j]));
    }
  }
  std::vector<float> nan_row = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  std::vector<float> out(3);
  softmax(1, 3, nan_row.data(), 3, out.data(), 3);
  for (float v : out) EXPECT_TRUE(std::isnan(v));
}

// Logits for the loss tests: ordinary values and the extremes (+-100, +-1e30).
std::vector<float> LossLogits(size_t n, uint32_t seed) {
  auto z = test::RandomVector(n, seed, -8, 8);
  const float extremes[] = {100.0f, -100.0f, 1e30f, -1e30f, 0.0f, 30.0f, -30.0f};
  for (size_t i = 0; i < n; i += 3) z[i] = extremes[(i / 3) % 7];
  return z;
}

TEST_P(ElementwiseTest, BinaryLossesAndGradients) {
  for (int64_t cols : {1, 3, 20}) {
    const int64_t rows = 37, n = rows * cols;
    const auto z = LossLogits(static_cast<size_t>(n), 11);
    auto y = test::RandomVector(static_cast<size_t>(n), 12, 0, 1);
    for (size_t i = 0; i < y.size(); i += 2) y[i] = y[i] < 0.5f ? 0.0f : 1.0f;  // hard labels too
    const float scale = 1.0f / static_cast<float>(rows);
    std::vector<float> dz(static_cast<size_t>(n));
    // from logits
    double want = 0.0;
    std::vector<double> gwant(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) want += ref::BceLogits(z[i], y[i], &gwant[i]);
    want /= rows;
    const float got = bce_with_logits(rows, cols, z.data(), y.data(), dz.data(), scale);
    EXPECT_NEAR(got, want, 2e-6 * std::fabs(want));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(dz[i], scale * gwant[i], 1e-6 * scale) << "z=" << z[i] << " y=" << y[i];
    }
    // the loss alone (dz null) is the same number
    EXPECT_EQ(bce_with_logits(rows, cols, z.data(), y.data(), nullptr, scale), got);
    // on probabilities (a sigmoid output), with the clamp
    std::vector<float> a(static_cast<size_t>(n));
    activation_forward(Activation::kSigmoid, 0.0f, n, z.data(), a.data());
    want = 0.0;
    for (int64_t i = 0; i < n; ++i) want += ref::BceProb(a[i], y[i], 1e-7, &gwant[i]);
    want /= rows;
    EXPECT_NEAR(binary_cross_entropy(rows, cols, a.data(), y.data(), dz.data(), scale), want,
                4e-6 * std::fabs(want));
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(dz[i], scale * gwant[i], 1e-7 * scale);
    // mean squared error
    want = 0.0;
    for (int64_t i = 0; i < n; ++i) want += ref::Mse(a[i], y[i], &gwant[i]);
    want /= rows;
    EXPECT_NEAR(mean_squared_error(rows, cols, a.data(), y.data(), dz.data(), 1.0f), want,
                2e-6 * std::fabs(want));
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(dz[i], gwant[i], 1e-7);
  }
}

TEST_P(ElementwiseTest, SoftmaxCrossEntropyLabelsAndSoftTargets) {
  for (int64_t classes : {1, 2, 10, 17, 1000}) {
    const int64_t rows = 23, n = rows * classes;
    const auto z = LossLogits(static_cast<size_t>(n), 21);
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    std::vector<float> onehot(static_cast<size_t>(n), 0.0f);
    for (int64_t i = 0; i < rows; ++i) {
      labels[i] = static_cast<int32_t>((i * 7) % classes);
      onehot[i * classes + labels[i]] = 1.0f;
    }
    auto soft = test::RandomVector(static_cast<size_t>(n), 22, 0, 1);
    const float scale = 0.5f;
    double want = 0.0, want_soft = 0.0;
    std::vector<double> g(static_cast<size_t>(n)), gs(static_cast<size_t>(n));
    for (int64_t i = 0; i < rows; ++i) {
      want += ref::SoftmaxCe(z.data() + i * classes, classes, nullptr, labels[i],
                             g.data() + i * classes);
      want_soft += ref::SoftmaxCe(z.data() + i * classes, classes, soft.data() + i * classes, 0,
                                  gs.data() + i * classes);
    }
    want /= rows;
    want_soft /= rows;
    std::vector<float> dz(static_cast<size_t>(n)), dz1(static_cast<size_t>(n)), dz2 = dz;
    const float got =
        softmax_cross_entropy(rows, classes, z.data(), labels.data(), dz.data(), scale);
    // relative to the loss, plus the rounding of the largest logit (1e30) that enters it
    EXPECT_NEAR(got, want, 2e-6 * std::fabs(want) + 1e30 * 1.2e-7 / rows * (classes > 1))
        << classes;
    const float got1 =
        softmax_cross_entropy(rows, classes, z.data(), onehot.data(), dz1.data(), scale);
    EXPECT_NEAR(got1, got, 2e-6 * std::fabs(got) + 1e30 * 1.2e-7 / rows * (classes > 1));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(dz[i], scale * g[i], 1e-6 * scale) << classes << " " << i;
      ASSERT_NEAR(dz1[i], scale * g[i], 1e-6 * scale) << classes << " " << i;
    }
    const float got2 =
        softmax_cross_entropy(rows, classes, z.data(), soft.data(), dz2.data(), scale);
    EXPECT_NEAR(got2, want_soft,
                2e-6 * std::fabs(want_soft) + 1e30 * 1.2e-7 * classes / rows * (classes > 1));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(dz2[i], scale * gs[i], 2e-6 * scale * (1.0 + std::fabs(gs[i])))
          << classes << " " << i;
    }
    // in place: dz == z
    auto zz = z;
    EXPECT_EQ(softmax_cross_entropy(rows, classes, zz.data(), labels.data(), zz.data(), scale),
              got);
    for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(SameBits(zz[i], dz[i]));
  }
}

TEST_P(ElementwiseTest, ColumnSumsAreInRowOrder) {
  for (int64_t cols : {1, 5, 16, 33, 257}) {
    const int64_t rows = 19, ld = cols + 1;
    const auto x = test::RandomVector(static_cast<size_t>(rows * ld), 31, -1e3f, 1e3f);
    auto out = test::RandomVector(static_cast<size_t>(cols), 32);
    auto want = out;
    column_sums(rows, cols, x.data(), ld, out.data(), true);
    for (int64_t j = 0; j < cols; ++j) {
      for (int64_t i = 0; i < rows; ++i) want[j] = want[j] + x[i * ld + j];
      ASSERT_TRUE(SameBits(out[j], want[j])) << j;  // same order, same bits, on every target
    }
    column_sums(rows, cols, x.data(), ld, out.data(), false);
    for (int64_t j = 0; j < cols; ++j) {
      float s = 0.0f;
      for (int64_t i = 0; i < rows; ++i) s = s + x[i * ld + j];
      ASSERT_TRUE(SameBits(out[j], s));
    }
  }
}

TEST_P(ElementwiseTest, SumSquaresAndNorm) {
  for (int64_t n : {0, 1, 15, 16, 17, 1000, 4096, 4097, 100003}) {
    const auto x = test::RandomVector(static_cast<size_t>(n), 41, -3, 3);
    double want = 0.0;
    for (float v : x) want += static_cast<double>(v) * v;
    EXPECT_NEAR(sum_squares(n, x.data()), want, 1e-6 * want) << n;
    EXPECT_NEAR(l2_norm(n, x.data()), std::sqrt(want), 1e-6 * std::sqrt(want)) << n;
  }
  EXPECT_EQ(clip_scale(10.0, 5.0f), 0.5f);
  EXPECT_EQ(clip_scale(1.0, 5.0f), 1.0f);
  EXPECT_EQ(clip_scale(10.0, 0.0f), 1.0f);
}

// The fixed tree is bitwise the scalar reference's, for every k, so identical on every target.
TEST_P(ElementwiseTest, ReduceSumFollowsTheFixedTree) {
  for (int64_t k : {1, 2, 3, 4, 5, 7, 8, 13, 16, 33}) {
    for (int64_t n : {1, 15, 256, 257, 1000}) {
      std::vector<std::vector<float>> bufs;
      std::vector<const float*> ptrs;
      for (int64_t b = 0; b < k; ++b) {
        bufs.push_back(
            test::RandomVector(static_cast<size_t>(n), 50 + static_cast<uint32_t>(b), -1e4f, 1e4f));
      }
      for (const auto& b : bufs) ptrs.push_back(b.data());
      const float scale = 1.0f / 3.0f;
      const auto want = ref::ReduceSumTree(bufs, scale);
      std::vector<float> out(static_cast<size_t>(n));
      reduce_sum(k, ptrs.data(), n, scale, out.data());
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(SameBits(out[i], want[i])) << k << " " << n << " " << i;
      // in place into the first buffer
      auto first = bufs[0];
      ptrs[0] = first.data();
      reduce_sum(k, ptrs.data(), n, scale, first.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(SameBits(first[i], want[i]));
    }
  }
}

TEST_P(ElementwiseTest, SgdMomentumNesterov) {
  const int64_t n = 1037;
  const auto w0 = test::RandomVector(n, 61);
  const auto g = test::RandomVector(n, 62);
  for (float momentum : {0.0f, 0.9f}) {
    for (bool nesterov : {false, true}) {
      if (nesterov && momentum == 0.0f) continue;
      SgdOptions opt;
      opt.lr = 0.1f;
      opt.momentum = momentum;
      opt.weight_decay = 1e-2f;
      opt.nesterov = nesterov;
      auto w = w0;
      std::vector<float> v(n, 0.0f);
      std::vector<double> wd(w0.begin(), w0.end()), vd(n, 0.0);
      for (int step = 0; step < 3; ++step) {
        sgd_update(opt, n, w.data(), g.data(), v.data(), 0.5f);
        for (int64_t i = 0; i < n; ++i) {
          const double ge = 0.5 * g[i] + 1e-2 * wd[i];
          if (momentum == 0.0f) {
            wd[i] -= 0.1 * ge;
          } else {
            vd[i] = 0.9 * vd[i] + ge;
            wd[i] -= 0.1 * (nesterov ? ge + 0.9 * vd[i] : vd[i]);
          }
        }
      }
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(w[i], wd[i], 1e-6) << momentum << nesterov << i;
    }
  }
}

TEST_P(ElementwiseTest, AdamAndAdamW) {
  const int64_t n = 1037;
  const auto w0 = test::RandomVector(n, 71);
  for (bool decoupled : {false, true}) {
    AdamOptions opt;
    opt.lr = 1e-2f;
    opt.weight_decay = 0.1f;
    opt.decoupled = decoupled;
    auto w = w0;
    std::vector<float> m(n, 0.0f), v(n, 0.0f);
    std::vector<double> wd(w0.begin(), w0.end()), md(n, 0.0), vd(n, 0.0);
    for (int step = 1; step <= 5; ++step) {
      const auto g = test::RandomVector(n, 72 + static_cast<uint32_t>(step));
      adam_update(opt, step, n, w.data(), g.data(), m.data(), v.data(), 2.0f);
      for (int64_t i = 0; i < n; ++i) {
        double ge = 2.0 * g[i];
        if (!decoupled) ge += 0.1 * wd[i];
        md[i] = 0.9 * md[i] + 0.1 * ge;
        vd[i] = 0.999 * vd[i] + 0.001 * ge * ge;
        if (decoupled) wd[i] -= 1e-2 * 0.1 * wd[i];
        const double mh = md[i] / (1.0 - std::pow(0.9, step));
        const double vh = vd[i] / (1.0 - std::pow(0.999, step));
        wd[i] -= 1e-2 * mh / (std::sqrt(vh) + 1e-8);
      }
    }
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(w[i], wd[i], 2e-6) << decoupled << " " << i;
  }
}

// The subnormal policy (docs/training.md, Subnormal numbers): a momentum, velocity or Adam moment
// that would be stored below FLT_MIN in magnitude is stored as +0, and then stays 0 while its
// gradient is zero; a normal one decays as the update says; w never steps by a subnormal product.
// Seeded with subnormals, normals about to cross, and normals far from it, zero gradients.
TEST_P(ElementwiseTest, OptimizerStateFlushesSubnormalsToZero) {
  const float tiny = std::numeric_limits<float>::min();  // 2^-126
  const std::vector<float> seeds = {tiny / 2,    -tiny / 3,    tiny * 1.05f, -tiny * 1.05f,
                                    tiny * 1e3f, 1e-3f,        -0.5f,        tiny / 1e6f,
                                    tiny * 1.2f, tiny * 0.99f, 3e-39f,       -1e-40f};
  const int64_t n = static_cast<int64_t>(seeds.size());
  const std::vector<float> g(static_cast<size_t>(n), 0.0f);
  auto is_flushed_or_normal = [&](float x) { return x == 0.0f || std::fabs(x) >= tiny; };
  for (int kind = 0; kind < 3; ++kind) {  // momentum, Nesterov, Adam
    std::vector<float> w(static_cast<size_t>(n), 1.0f), m = seeds, v = seeds;
    for (float& x : v) x = std::fabs(x);
    for (int step = 1; step <= 30; ++step) {
      const std::vector<float> m_before = m;
      if (kind < 2) {
        SgdOptions opt;
        opt.lr = 0.1f;
        opt.momentum = 0.9f;
        opt.nesterov = kind == 1;
        sgd_update(opt, n, w.data(), g.data(), m.data(), 1.0f);
      } else {
        AdamOptions opt;
        opt.lr = 1e-3f;
        adam_update(opt, step, n, w.data(), g.data(), m.data(), v.data(), 1.0f);
      }
      for (int64_t i = 0; i < n; ++i) {
        const float want = 0.9f * m_before[static_cast<size_t>(i)];
        const float got = m[static_cast<size_t>(i)];
        ASSERT_TRUE(is_flushed_or_normal(got))
            << kind << " step " << step << " " << i << " " << got;
        if (std::fabs(want) < tiny) {
          ASSERT_TRUE(SameBits(got, 0.0f)) << kind << " step " << step << " " << i;
        } else {
          ASSERT_EQ(got, want) << kind << " step " << step << " " << i;
        }
        if (kind == 2) ASSERT_TRUE(is_flushed_or_normal(v[static_cast<size_t>(i)])) << i;
        ASSERT_TRUE(std::isfinite(w[static_cast<size_t>(i)]) &&
                    std::fabs(w[static_cast<size_t>(i)]) >= tiny);
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      if (std::fabs(seeds[static_cast<size_t>(i)]) < tiny) {
        EXPECT_EQ(m[static_cast<size_t>(i)], 0.0f) << kind << " " << i;  // flushed at step 1
      }
    }
  }
}

// linear_forward applies every activation in the epilogue (registers or L1), on every path:
// full and edge tiles, the skinny path, k = 0.
TEST_P(ElementwiseTest, LinearForwardWithEveryActivation) {
  for (Activation act : kAllActs) {
    const float alpha = default_alpha(act);
    for (auto [batch, in, out] : {std::tuple<int64_t, int64_t, int64_t>{37, 29, 53},
                                  {256, 64, 10},
                                  {3, 200, 2},
                                  {5, 0, 7}}) {
      const auto x = test::RandomVector(static_cast<size_t>(batch * in), 81);
      const auto w = test::RandomVector(static_cast<size_t>(out * in), 82);
      const auto bias = test::RandomVector(static_cast<size_t>(out), 83);
      std::vector<float> z(static_cast<size_t>(batch * out));
      const int64_t ld = in > 0 ? in : 1;
      linear_forward(batch, in, out, x.data(), ld, w.data(), ld, bias.data(), act, z.data(), out,
                     alpha);
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t j = 0; j < out; ++j) {
          double pre = bias[j], mag = std::fabs(bias[j]);
          for (int64_t p = 0; p < in; ++p) {
            pre += static_cast<double>(x[i * in + p]) * w[j * in + p];
            mag += std::fabs(static_cast<double>(x[i * in + p]) * w[j * in + p]);
          }
          const double err_pre = (in + 2) * 1.2e-7 * mag;  // the GEMM's rounding
          double scale = 0.0;
          ref::Derivative(act, alpha, pre, &scale);
          const double want = ref::Forward(act, alpha, pre);
          ASSERT_NEAR(z[i * out + j], want,
                      4e-5 * std::fabs(want) + err_pre * (scale + 1e-3) + 1e-30)
              << activation_name(act) << " " << batch << "x" << in << "x" << out;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, ElementwiseTest, ::testing::ValuesIn(test::TargetNames()),
                         [](const auto& info) { return info.param; });

// ------------------------------------------------------------------------ argument errors

template <class F>
std::string ErrorOf(F&& f, ErrorCode want_code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), want_code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ElementwiseErrors, NameTheArgument) {
  std::vector<float> a(16, 0.5f), b(16, 0.5f), c(16);
  EXPECT_NE(
      ErrorOf([&] { activation_forward(static_cast<Activation>(42), 0, 4, a.data(), c.data()); },
              ErrorCode::kInvalidArgument)
          .find("activation code 42"),
      std::string::npos);
  EXPECT_NE(ErrorOf([&] { activation_forward(Activation::kRelu, 0, -1, a.data(), c.data()); },
                    ErrorCode::kInvalidArgument)
                .find("n = -1"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { activation_forward(Activation::kRelu, 0, 4, nullptr, c.data()); },
                    ErrorCode::kInvalidArgument)
                .find("x is null"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { activation_forward(Activation::kRelu, 0, 8, a.data(), a.data() + 1); },
                    ErrorCode::kInvalidArgument)
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { activation_forward(Activation::kElu, NAN, 4, a.data(), c.data()); },
                    ErrorCode::kInvalidArgument)
                .find("alpha"),
            std::string::npos);
  EXPECT_NE(ErrorOf(
                [&] {
                  activation_backward_from_output(Activation::kGeluTanh, 0, 4, a.data(), b.data(),
                                                  c.data());
                },
                ErrorCode::kInvalidArgument)
                .find("pre-activation"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf([&] { parse_activation("swishy"); }, ErrorCode::kInvalidArgument).find("swishy"),
      std::string::npos);
  EXPECT_EQ(parse_activation("gelu_erf"), Activation::kGeluErf);
  for (Activation act : kAllActs) EXPECT_EQ(parse_activation(activation_name(act)), act);

  std::vector<int32_t> labels = {0, 3, 1, 2};
  EXPECT_NE(ErrorOf([&] { softmax_cross_entropy(4, 3, a.data(), labels.data(), c.data(), 1.0f); },
                    ErrorCode::kInvalidArgument)
                .find("labels[1] = 3"),
            std::string::npos);
  labels[1] = -1;
  EXPECT_NE(ErrorOf([&] { softmax_cross_entropy(4, 3, a.data(), labels.data(), c.data(), 1.0f); },
                    ErrorCode::kInvalidArgument)
                .find("labels[1] = -1"),
            std::string::npos);
  labels[1] = 0;
  a[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(ErrorOf([&] { softmax_cross_entropy(4, 3, a.data(), labels.data(), c.data(), 1.0f); },
                    ErrorCode::kNumerical)
                .find("z[2][1] = nan"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { bce_with_logits(4, 4, a.data(), b.data(), c.data(), 1.0f); },
                    ErrorCode::kNumerical)
                .find("z[1][3] = nan"),
            std::string::npos);
  a[7] = 0.5f;
  b[2] = std::numeric_limits<float>::infinity();
  EXPECT_NE(ErrorOf([&] { mean_squared_error(2, 8, a.data(), b.data(), c.data(), 1.0f); },
                    ErrorCode::kNumerical)
                .find("y[0][2] = inf"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { binary_cross_entropy(2, 8, a.data(), a.data(), c.data(), 1.0f, 0.7f); },
                    ErrorCode::kInvalidArgument)
                .find("eps"),
            std::string::npos);
  AdamOptions adam;
  EXPECT_NE(ErrorOf([&] { adam_update(adam, 0, 4, a.data(), b.data(), c.data(), c.data() + 4); },
                    ErrorCode::kInvalidArgument)
                .find("step = 0"),
            std::string::npos);
  SgdOptions sgd;
  sgd.nesterov = true;
  EXPECT_NE(
      ErrorOf([&] { sgd_update(sgd, 4, a.data(), b.data(), nullptr); }, ErrorCode::kInvalidArgument)
          .find("nesterov"),
      std::string::npos);
  // sizes whose byte counts would overflow are refused before any arithmetic on them
  EXPECT_NE(
      ErrorOf(
          [&] { activation_forward(Activation::kRelu, 0, int64_t{1} << 61, a.data(), c.data()); },
          ErrorCode::kInvalidArgument)
          .find("exceeds the largest array size"),
      std::string::npos);
  EXPECT_NE(ErrorOf(
                [&] {
                  mean_squared_error(int64_t{1} << 40, int64_t{1} << 40, a.data(), b.data(),
                                     nullptr, 1.0f);
                },
                ErrorCode::kInvalidArgument)
                .find("exceed the largest array size"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { softmax(int64_t{1} << 40, 8, a.data(), int64_t{1} << 30, c.data(), 8); },
                    ErrorCode::kInvalidArgument)
                .find("rows of stride"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { reduce_sum(0, nullptr, 4, 1.0f, c.data()); }, ErrorCode::kInvalidArgument)
                .find("k = 0"),
            std::string::npos);
}

}  // namespace
}  // namespace propel

namespace propel {
namespace {

// The README's element-wise example, as written there, on small arrays.
TEST(ElementwiseReadme, ExampleRuns) {
  const int64_t batch = 8, classes = 10, out = 10, shards = 2, n_params = 64, step = 1;
  const int64_t n = batch * classes;
  auto z = test::RandomVector(n, 1), da = test::RandomVector(n, 2),
       logits = test::RandomVector(n, 3);
  std::vector<float> a(n), dz(n), y(batch, 1.0f), db(out);
  std::vector<int32_t> labels(batch, 3);
  auto g0 = test::RandomVector(n_params, 4), g1 = test::RandomVector(n_params, 5);
  const float* shard_grads[] = {g0.data(), g1.data()};
  std::vector<float> grad(n_params), params(n_params, 0.5f), adam_m(n_params), adam_v(n_params);

  propel::activation_forward(propel::Activation::kGeluTanh, 0.0f, n, z.data(), a.data());
  propel::activation_backward(propel::Activation::kGeluTanh, 0.0f, n, z.data(), da.data(),
                              dz.data());
  propel::activation_backward_from_output(propel::Activation::kSigmoid, 0.0f, n, a.data(),
                                          da.data(), dz.data());
  float loss = propel::softmax_cross_entropy(batch, classes, logits.data(), labels.data(),
                                             dz.data(), 1.0f / batch);
  float bce = propel::bce_with_logits(batch, 1, z.data(), y.data(), dz.data(), 1.0f / batch);
  propel::column_sums(batch, out, dz.data(), out, db.data(), /*accumulate=*/false);
  propel::reduce_sum(shards, shard_grads, n_params, 1.0f / batch, grad.data());
  float clip = propel::clip_scale(propel::l2_norm(n_params, grad.data()), 1.0f);
  propel::adam_update({.lr = 1e-3f, .weight_decay = 1e-2f, .decoupled = true}, step, n_params,
                      params.data(), grad.data(), adam_m.data(), adam_v.data(), clip);
  EXPECT_GT(loss, 0.0f);
  EXPECT_GT(bce, 0.0f);
  EXPECT_LE(clip, 1.0f);
  for (float p : params) EXPECT_NE(p, 0.5f);  // Adam's first step moves every parameter by ~lr
}

}  // namespace
}  // namespace propel
