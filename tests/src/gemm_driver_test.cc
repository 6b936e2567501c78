// The GEMM driver's options the training step uses, on every SIMD target: a B packed whole
// beforehand (PackWholeB) gives bitwise the result of packing it inside the GEMM, for every
// transpose case, shape class and thread count; the act_grad epilogue gives bitwise the GEMM
// followed by the element-wise derivative kernel; BPackings counts what RunGemm packs.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "propel/threading.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/aligned.h"
#include "src/train/net_kernels.h"
#include "tests/test_util.h"

namespace propel {
namespace {

using test::RandomVector;

struct Shape {
  int64_t m, n, k;
};

// Edge tiles on both sides, several KC blocks (k > 256), n off the panel width, the skinny
// path's shapes (one narrow side), and a layer-sized product.
const Shape kShapes[] = {{1, 1, 1},      {7, 13, 5},     {37, 100, 300}, {64, 10, 1024},
                         {10, 1024, 64}, {256, 33, 600}, {3, 200, 17},   {96, 256, 513}};

class GemmDriverTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { pin_ = std::make_unique<test::ScopedTarget>(GetParam()); }
  void TearDown() override { pin_.reset(); }
  std::unique_ptr<test::ScopedTarget> pin_;
};

detail::GemmProblem Problem(const Shape& s, bool ta, bool tb, const std::vector<float>& a,
                            const std::vector<float>& b, std::vector<float>& c) {
  detail::GemmProblem p;
  p.trans_a = ta, p.trans_b = tb;
  p.m = s.m, p.n = s.n, p.k = s.k;
  p.a = a.data(), p.lda = ta ? s.m : s.k;
  p.b = b.data(), p.ldb = tb ? s.k : s.n;
  p.c = c.data(), p.ldc = s.n;
  return p;
}

TEST_P(GemmDriverTest, PackedBIsBitwiseThePackingInsideTheGemm) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int saved = num_threads();
  set_num_threads(3);
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const auto a = RandomVector(static_cast<size_t>(s.m * s.k), seed++);
        const auto b = RandomVector(static_cast<size_t>(s.k * s.n), seed++);
        std::vector<float> want(static_cast<size_t>(s.m * s.n)), got(want.size());
        const std::vector<float> bias = RandomVector(static_cast<size_t>(s.n), seed++);
        detail::GemmProblem p = Problem(s, ta, tb, a, b, want);
        p.bias = bias.data();
        p.act.act = kernels::Act::kRelu;
        detail::RunGemm(*k.gemm, k.blocking, p, 1);
        for (int threads : {1, 2, 3}) {
          detail::AlignedFloats packed(detail::PackedBFloats(*k.gemm, s.k, s.n));
          detail::PackWholeB(*k.gemm, k.blocking, tb, s.k, s.n, b.data(), p.ldb, packed.data(),
                             threads);
          detail::GemmProblem q = p;
          q.c = got.data();
          q.b_packed = packed.data();
          std::fill(got.begin(), got.end(), -1.0f);
          detail::RunGemm(*k.gemm, k.blocking, q, threads);
          EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << "m=" << s.m << " n=" << s.n << " k=" << s.k << " ta=" << ta << " tb=" << tb
              << " threads=" << threads;
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST_P(GemmDriverTest, ActGradEpilogueIsBitwiseTheDerivativeKernelAfterTheGemm) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int saved = num_threads();
  set_num_threads(2);
  uint32_t seed = 100;
  struct Act {
    kernels::Act act;
    bool from_output;
  };
  for (const Act act :
       {Act{kernels::Act::kRelu, true}, Act{kernels::Act::kSigmoid, true},
        Act{kernels::Act::kGeluTanh, false}, Act{kernels::Act::kLeakyRelu, false}}) {
    for (const Shape& s : kShapes) {
      const auto a = RandomVector(static_cast<size_t>(s.m * s.k), seed++);
      const auto b = RandomVector(static_cast<size_t>(s.k * s.n), seed++);
      auto sv = RandomVector(static_cast<size_t>(s.m * s.n), seed++);
      if (act.act == kernels::Act::kSigmoid) {
        for (float& v : sv) v = 0.5f + 0.4f * v;  // an output of the sigmoid
      }
      std::vector<float> want(static_cast<size_t>(s.m * s.n)), got(want.size());
      detail::GemmProblem p = Problem(s, false, false, a, b, want);  // dA = dZ W
      detail::RunGemm(*k.gemm, k.blocking, p, 1);
      const float alpha = act.act == kernels::Act::kLeakyRelu ? 0.01f : 0.0f;
      for (int64_t i = 0; i < s.m; ++i) {
        float* row = want.data() + i * s.n;
        const float* srow = sv.data() + i * s.n;
        if (act.from_output) {
          k.ew->act_backward_out(act.act, alpha, s.n, srow, row, row);
        } else {
          k.ew->act_backward(act.act, alpha, s.n, srow, row, row);
        }
      }
      detail::ActGradEpilogue g;
      g.act = act.act;
      g.alpha = alpha;
      g.from_output = act.from_output;
      g.s = sv.data();
      g.lds = s.n;
      g.fn = k.ew->act_backward;
      g.fn_out = k.ew->act_backward_out;
      for (int threads : {1, 2}) {
        detail::GemmProblem q = Problem(s, false, false, a, b, got);
        q.act_grad = &g;
        detail::RunGemm(*k.gemm, k.blocking, q, threads);
        EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
            << "act=" << static_cast<int>(act.act) << " m=" << s.m << " n=" << s.n << " k=" << s.k
            << " threads=" << threads;
      }
    }
  }
  set_num_threads(saved);
}

TEST_P(GemmDriverTest, BPackingsCountsTheGridRowsAndNothingForTheSkinnyPath) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int mr = k.gemm->mr, nr = k.gemm->nr;
  EXPECT_EQ(detail::BPackings(*k.gemm, false, true, 256, nr / 2, 1024, 4), 0);  // skinny: in place
  EXPECT_EQ(detail::BPackings(*k.gemm, false, false, 256, 1024, 0, 4), 0);
  EXPECT_EQ(detail::BPackings(*k.gemm, false, false, 256, 1024, 1024, 1), 1);
  for (int threads : {2, 4, 8}) {
    const detail::ThreadGrid grid = detail::ChooseThreadGrid(512, 512, 512, mr, nr, threads);
    EXPECT_EQ(detail::BPackings(*k.gemm, false, false, 512, 512, 512, threads), grid.tm);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, GemmDriverTest, ::testing::ValuesIn(test::TargetNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace propel
