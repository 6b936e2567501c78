// Target listing and pinning, the bf16 variants of a target, and the peak probes.
#include <gtest/gtest.h>

#include <string>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/error.h"
#include "propel/target.h"
#include "src/runtime/target.h"
#include "tests/test_util.h"

namespace propel {
namespace {

using test::ScopedTarget;

TEST(Target, ScalarFallbackAlwaysAvailableAndBestIsFirst) {
  const auto targets = available_targets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(std::string(targets.back().name), "SCALAR");
  unpin_target();
  EXPECT_EQ(std::string(active_target().name), targets.front().name);
}

TEST(Target, PinEachAndUnpin) {
  for (const Target& t : available_targets()) {
    pin_target(t.name);
    EXPECT_EQ(active_target().bits, t.bits);
    EXPECT_EQ(std::string(active_target().name), t.name);
    EXPECT_EQ(active_target().bf16_gemm, t.bf16_gemm);
  }
  pin_target("best");
  EXPECT_EQ(std::string(active_target().name), available_targets().front().name);
  pin_target("scalar");  // case-insensitive
  EXPECT_EQ(std::string(active_target().name), "SCALAR");
  unpin_target();
}

TEST(Target, UnknownTargetIsAClearError) {
  try {
    pin_target("AVX9000");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("AVX9000"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("SCALAR"), std::string::npos);  // lists what exists
  }
}

TEST(Target, FmaPeakIsPositiveOnEveryTarget) {
  for (const Target& t : available_targets()) {
    EXPECT_GT(measure_fma_peak_gflops(t, 0.001), 0.0) << t.name;
    EXPECT_GT(measure_bf16_peak_gflops(t, 0.001), 0.0) << t.name;
  }
}

// A target whose bf16 GEMMs have their own kernels (AVX3_AMX, AVX3_BF16) is its base target
// everywhere else: the same fp32 GEMM table and element-wise kernels; its bf16 table is a
// pair-panel one. Listed before its base target (AVX3_AMX, AVX3_BF16, AVX3).
TEST(Target, Bf16VariantsShareEverythingButTheBf16Gemm) {
  const auto targets = available_targets();
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    ScopedTarget pin(t.name);
    const kernels::GemmKernels& bf16 = detail::ActiveGemmKernels(Precision::kBf16);
    const kernels::GemmKernels& fp32 = detail::ActiveGemmKernels(Precision::kFp32);
    EXPECT_TRUE(bf16.bf16_operands) << t.name;
    EXPECT_FALSE(fp32.bf16_operands) << t.name;
    EXPECT_EQ(&fp32, kernels::GemmKernelsFor(t.bits)) << t.name;
    EXPECT_EQ(&detail::ActiveElementwiseKernels(), kernels::ElementwiseKernelsFor(t.bits));
    if (t.bf16_gemm == Bf16Gemm::kFma) {
      EXPECT_EQ(&bf16, fp32.other_precision) << t.name;
      EXPECT_FALSE(bf16.bf16_pairs) << t.name;
      continue;
    }
    EXPECT_TRUE(bf16.bf16_pairs) << t.name;
    EXPECT_EQ(bf16.other_precision, &fp32) << t.name;
    size_t base = i + 1;
    while (base < targets.size() &&
           (targets[base].bits != t.bits || targets[base].bf16_gemm != Bf16Gemm::kFma)) {
      EXPECT_EQ(targets[base].bits, t.bits) << "a variant of " << t.name << "'s base is apart";
      ++base;
    }
    ASSERT_LT(base, targets.size()) << t.name << " is not followed by its base target";
    const std::string suffix = t.bf16_gemm == Bf16Gemm::kAmx ? "_AMX" : "_BF16";
    EXPECT_EQ(std::string(t.name), std::string(targets[base].name) + suffix);
  }
}

}  // namespace
}  // namespace propel
