// Target listing and pinning, and the FMA peak probe.
#include <gtest/gtest.h>

#include <string>

#include "propel/error.h"
#include "propel/target.h"
#include "tests/test_util.h"

namespace propel {
namespace {

TEST(Target, ScalarFallbackAlwaysAvailableAndBestIsFirst) {
  const auto targets = available_targets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(std::string(targets.back().name), "SCALAR");
  unpin_target();
  EXPECT_EQ(active_target().bits, targets.front().bits);
}

TEST(Target, PinEachAndUnpin) {
  for (const Target& t : available_targets()) {
    pin_target(t.name);
    EXPECT_EQ(active_target().bits, t.bits);
  }
  pin_target("best");
  EXPECT_EQ(active_target().bits, available_targets().front().bits);
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
  }
}

}  // namespace
}  // namespace propel
