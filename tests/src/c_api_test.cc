// The C API: status codes, per-thread error messages, and results equal to the C++ API's.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "propel/activation.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "propel/propel.h"
#include "propel/version.h"
#include "tests/test_util.h"

namespace {

TEST(CApi, SgemmMatchesCppApiBitwise) {
  const int64_t m = 37, n = 29, k = 53;
  const auto a = propel::test::RandomVector(static_cast<size_t>(m * k), 1);
  const auto b = propel::test::RandomVector(static_cast<size_t>(k * n), 2);
  std::vector<float> c1(static_cast<size_t>(m * n), 1.0f), c2 = c1;
  ASSERT_EQ(propel_sgemm(1, 0, m, n, k, 0.5f, a.data(), m, b.data(), n, 0.25f, c1.data(), n),
            PROPEL_OK);
  propel::sgemm(propel::Trans::kYes, propel::Trans::kNo, m, n, k, 0.5f, a.data(), m, b.data(), n,
                0.25f, c2.data(), n);
  EXPECT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)));
}

TEST(CApi, ElementwiseMatchesCppApiBitwise) {
  const int64_t n = 77;
  const auto x = propel::test::RandomVector(static_cast<size_t>(n), 3, -4, 4);
  const auto dy = propel::test::RandomVector(static_cast<size_t>(n), 4);
  for (int act = PROPEL_ACT_IDENTITY; act <= PROPEL_ACT_SOFTPLUS; ++act) {
    const auto a = static_cast<propel::Activation>(act);
    const float alpha = propel::default_alpha(a);
    std::vector<float> y1(n), y2(n), d1(n), d2(n);
    ASSERT_EQ(propel_activation_forward(act, alpha, n, x.data(), y1.data()), PROPEL_OK);
    propel::activation_forward(a, alpha, n, x.data(), y2.data());
    EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << act;
    ASSERT_EQ(propel_activation_backward(act, alpha, n, x.data(), dy.data(), d1.data()), PROPEL_OK);
    propel::activation_backward(a, alpha, n, x.data(), dy.data(), d2.data());
    EXPECT_EQ(0, std::memcmp(d1.data(), d2.data(), d1.size() * sizeof(float))) << act;
    const int from_out =
        propel_activation_backward_from_output(act, alpha, n, y1.data(), dy.data(), d1.data());
    EXPECT_EQ(from_out,
              propel::has_output_derivative(a) ? PROPEL_OK : PROPEL_ERROR_INVALID_ARGUMENT)
        << act;
  }
  EXPECT_EQ(propel_activation_forward(10, 0.0f, n, x.data(), nullptr),
            PROPEL_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(propel_last_error()).find("activation code 10"), std::string::npos);

  // losses: the mean through the out-pointer, the same gradient as C++
  const int64_t rows = 7, classes = 11;
  const auto z = propel::test::RandomVector(static_cast<size_t>(rows * classes), 5, -3, 3);
  std::vector<int32_t> labels = {0, 1, 2, 10, 4, 5, 6};
  std::vector<float> dz1(z.size()), dz2(z.size());
  float loss = 0.0f;
  ASSERT_EQ(propel_loss_softmax_ce(rows, classes, z.data(), labels.data(), 0.5f, dz1.data(), &loss),
            PROPEL_OK);
  EXPECT_EQ(loss, propel::softmax_cross_entropy(rows, classes, z.data(), labels.data(), dz2.data(),
                                                0.5f));
  EXPECT_EQ(0, std::memcmp(dz1.data(), dz2.data(), dz1.size() * sizeof(float)));
  EXPECT_EQ(
      propel_loss_softmax_ce(rows, classes, z.data(), labels.data(), 0.5f, dz1.data(), nullptr),
      PROPEL_ERROR_INVALID_ARGUMENT);
  auto bad = z;
  bad[12] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(propel_loss_mse(rows, classes, bad.data(), z.data(), 1.0f, dz1.data(), &loss),
            PROPEL_ERROR_NUMERICAL);
  EXPECT_NE(std::string(propel_last_error()).find("a[1][1] = nan"), std::string::npos);

  // optimizer, reductions
  std::vector<float> w(z.begin(), z.end()), m(z.size()), v(z.size());
  auto w2 = w, m2 = m, v2 = v;
  ASSERT_EQ(propel_adam_update(static_cast<int64_t>(w.size()), 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                               1, 1.0f, w.data(), dz2.data(), m.data(), v.data()),
            PROPEL_OK);
  propel::AdamOptions opt;
  opt.weight_decay = 0.01f;
  opt.decoupled = true;
  propel::adam_update(opt, 1, static_cast<int64_t>(w2.size()), w2.data(), dz2.data(), m2.data(),
                      v2.data());
  EXPECT_EQ(0, std::memcmp(w.data(), w2.data(), w.size() * sizeof(float)));
  double ss = 0.0;
  ASSERT_EQ(propel_sum_squares(static_cast<int64_t>(w.size()), w.data(), &ss), PROPEL_OK);
  EXPECT_EQ(ss, propel::sum_squares(static_cast<int64_t>(w.size()), w.data()));
  std::vector<float> cs(classes);
  ASSERT_EQ(propel_column_sums(rows, classes, z.data(), cs.data(), 0), PROPEL_OK);
  const float* bufs[] = {w.data(), w2.data()};
  std::vector<float> sum(w.size());
  ASSERT_EQ(propel_reduce_sum(2, bufs, static_cast<int64_t>(w.size()), 0.5f, sum.data()),
            PROPEL_OK);
  EXPECT_EQ(sum[3], 0.5f * (w[3] + w2[3]));
}

TEST(CApi, ErrorsReturnStatusAndMessage) {
  float a[4] = {0}, b[4] = {0}, c[4] = {0};
  EXPECT_EQ(propel_sgemm(0, 0, -2, 2, 2, 1, a, 2, b, 2, 0, c, 2), PROPEL_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(propel_last_error()).find("m = -2"), std::string::npos);
  EXPECT_EQ(propel_sgemm(2, 0, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2), PROPEL_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(propel_last_error()).find("trans_a = 2"), std::string::npos);
  EXPECT_EQ(propel_set_num_threads(0), PROPEL_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(propel_set_executor(17), PROPEL_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(propel_set_target("NOPE"), PROPEL_ERROR_UNSUPPORTED);
  EXPECT_EQ(propel_linear_forward(1, 2, 2, a, 2, b, 2, nullptr, 99, 0.0f, c, 2),
            PROPEL_ERROR_INVALID_ARGUMENT);
}

TEST(CApi, LastErrorIsPerThread) {
  float a[4] = {0}, b[4] = {0}, c[4] = {0};
  ASSERT_NE(propel_sgemm(0, 0, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2), PROPEL_OK);
  std::string other;
  std::thread([&] {
    propel_sgemm(0, 0, 2, 2, 2, 1, a, 1, b, 2, 0, c, 2);
    other = propel_last_error();
  }).join();
  EXPECT_NE(other.find("lda = 1"), std::string::npos);
  EXPECT_NE(std::string(propel_last_error()).find("m = -1"), std::string::npos);
}

TEST(CApi, VersionTargetAndThreads) {
  EXPECT_STREQ(propel_version(), PROPEL_VERSION_STRING);
  ASSERT_EQ(propel_set_target("SCALAR"), PROPEL_OK);
  EXPECT_STREQ(propel_get_target(), "SCALAR");
  ASSERT_EQ(propel_set_target(nullptr), PROPEL_OK);
  EXPECT_STRNE(propel_get_target(), "");
  const int saved = propel_get_num_threads();
  ASSERT_EQ(propel_set_num_threads(3), PROPEL_OK);
  EXPECT_EQ(propel_get_num_threads(), 3);
  propel_set_num_threads(saved);
}

}  // namespace
