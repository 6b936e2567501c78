// The C API: status codes, per-thread error messages, and results equal to the C++ API's.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "propel/gemm.h"
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
