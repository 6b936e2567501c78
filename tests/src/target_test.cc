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
    EXPECT_EQ(std::string(active_target().name), t.name);
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

// A target whose bf16 GEMMs have a native engine (AVX3_AMX, AVX3_BF16) is its base target
// everywhere else: the same fp32 engine and element-wise kernels; its bf16 engine works on panels
// of bf16 pairs. Listed before its base target (AVX3_AMX, AVX3_BF16, AVX3). The one lookup gives
// each target's engines and their blocking, and gemm_engine_name names them.
TEST(Target, Bf16VariantsShareEverythingButTheBf16Engine) {
  const auto targets = available_targets();
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    ScopedTarget pin(t.name);
    const detail::GemmSetup& bf16 = detail::ActiveEngine(Precision::kBf16);
    const detail::GemmSetup& fp32 = detail::ActiveEngine(Precision::kFp32);
    EXPECT_EQ(&bf16, &detail::EngineFor(t, Precision::kBf16)) << t.name;
    EXPECT_EQ(&fp32, &detail::EngineFor(t, Precision::kFp32)) << t.name;
    EXPECT_EQ(bf16.engine->kind, detail::Bf16EngineOf(t)) << t.name;
    EXPECT_EQ(fp32.engine, kernels::FindEngine(t.bits, kernels::EngineKind::kFp32)) << t.name;
    EXPECT_EQ(bf16.engine->target, t.bits) << t.name;
    EXPECT_EQ(gemm_engine_name(t, Precision::kFp32), "fp32");
    EXPECT_EQ(gemm_engine_name(t, Precision::kBf16), kernels::EngineKindName(bf16.engine->kind));
    EXPECT_EQ(&detail::ActiveElementwiseKernels(), kernels::ElementwiseKernelsFor(t.bits));
    EXPECT_GE(bf16.blocking.kc, kernels::KcStep(*bf16.engine)) << t.name;
    EXPECT_EQ(bf16.blocking.kc % kernels::KcStep(*bf16.engine), 0) << t.name;
    EXPECT_EQ(bf16.blocking.nc % bf16.engine->nr, 0) << t.name;
    EXPECT_EQ(bf16.blocking.mc % bf16.engine->mr, 0) << t.name;
    if (detail::Bf16EngineOf(t) == kernels::EngineKind::kBf16Emulated) {
      EXPECT_FALSE(bf16.engine->pair_panels()) << t.name;
      EXPECT_EQ(resolve_precision(Precision::kAuto), Precision::kFp32) << t.name;
      continue;
    }
    EXPECT_TRUE(bf16.engine->pair_panels()) << t.name;
    EXPECT_EQ(resolve_precision(Precision::kAuto), Precision::kBf16) << t.name;
    size_t base = i + 1;
    while (base < targets.size() &&
           (targets[base].bits != t.bits ||
            detail::Bf16EngineOf(targets[base]) != kernels::EngineKind::kBf16Emulated)) {
      EXPECT_EQ(targets[base].bits, t.bits) << "a variant of " << t.name << "'s base is apart";
      ++base;
    }
    ASSERT_LT(base, targets.size()) << t.name << " is not followed by its base target";
    const std::string suffix =
        detail::Bf16EngineOf(t) == kernels::EngineKind::kBf16Amx ? "_AMX" : "_BF16";
    EXPECT_EQ(std::string(t.name), std::string(targets[base].name) + suffix);
  }
  EXPECT_THROW(gemm_engine_name(Target{0, "NOSUCH"}, Precision::kFp32), Error);
}

}  // namespace
}  // namespace propel
