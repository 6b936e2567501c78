// The GEMM driver's options the training step uses, on every SIMD target: a B packed whole
// beforehand (PackWholeB) gives bitwise the result of packing it inside the GEMM, for every
// transpose case, shape class and thread count; the act_grad epilogue gives bitwise the GEMM
// followed by the element-wise derivative kernel; outputs narrower than a tile (the transposed
// path) and outputs of a few rows (the row kernels) give bitwise the elements of the MR x NR
// tiles; BPackings counts what RunGemm packs.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "propel/threading.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/aligned.h"
#include "src/runtime/partition.h"
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

// The optimizer's update packs W band by band (PackBPart): bands of rows of op(B) = W (the input
// gradient's B, cut across KC blocks) and of columns of op(B) = W^T (the forward's), in any order,
// write PackWholeB's panels bit for bit, in both precisions.
TEST_P(GemmDriverTest, PackedPartsAreBitwiseTheWholePacking) {
  uint32_t seed = 500;
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const detail::NetKernels k = detail::ActiveNetKernels(precision);
    const int64_t step = detail::CeilDiv(k.gemm->nr, kernels::KcStep(*k.gemm)) *
                         kernels::KcStep(*k.gemm);  // a common multiple of both
    for (const Shape& s : {Shape{0, 10, 1024}, Shape{0, 1024, 10}, Shape{0, 100, 301},
                           Shape{0, 33, 600}, Shape{0, 7, 5}}) {
      const auto w = RandomVector(static_cast<size_t>(s.k * s.n), seed++);
      for (bool tb : {false, true}) {
        const int64_t ldb = tb ? s.k : s.n;
        const int64_t floats = detail::PackedBFloats(*k.gemm, s.k, s.n);
        detail::AlignedFloats want(floats), got(floats);
        std::fill(want.data(), want.data() + floats, -7.0f);
        std::fill(got.data(), got.data() + floats, -7.0f);
        detail::PackWholeB(*k.gemm, k.blocking, tb, s.k, s.n, w.data(), ldb, want.data(), 1);
        // Bands of `step` (and of 3 * step) in reverse order: rows of op(B) for a transposed one
        // (W^T's columns are W's rows), else its rows.
        for (int64_t band : {step, 3 * step}) {
          const int64_t extent = tb ? s.n : s.k;
          for (int64_t r0 = (extent - 1) / band * band; r0 >= 0; r0 -= band) {
            const int64_t r1 = std::min(extent, r0 + band);
            if (tb) {
              detail::PackBPart(*k.gemm, k.blocking, tb, s.k, s.n, w.data(), ldb, 0, s.k, r0, r1,
                                got.data());
            } else {
              detail::PackBPart(*k.gemm, k.blocking, tb, s.k, s.n, w.data(), ldb, r0, r1, 0, s.n,
                                got.data());
            }
          }
          EXPECT_EQ(std::memcmp(want.data(), got.data(), static_cast<size_t>(floats) * 4), 0)
              << precision_name(precision) << " k=" << s.k << " n=" << s.n << " tb=" << tb
              << " band=" << band;
        }
      }
    }
  }
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

// An output at most one tile wide runs on the transposed path (C^T by the blocked path, with
// panels of the row kernel that pads it least); every element is the blocked path's: the first n
// columns of a product wider than a tile, computed with the same operands, strides and options.
TEST_P(GemmDriverTest, TransposedPathIsBitwiseTheBlockedPath) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int saved = num_threads();
  set_num_threads(3);
  const int64_t nr = k.gemm->nr;
  const int64_t wide = nr + nr / 2 + 1;          // past one panel: the blocked path
  const int64_t long_m = 2 * k.blocking.nc + 7;  // several C^T chunks
  uint32_t seed = 300;
  struct Case {
    float beta;
    bool bias;
    kernels::Act act;
    bool act_grad;
  };
  const Case cases[] = {{0.0f, false, kernels::Act::kIdentity, false},
                        {0.5f, true, kernels::Act::kRelu, false},
                        {0.0f, true, kernels::Act::kSigmoid, false},
                        {1.0f, false, kernels::Act::kIdentity, true}};
  for (int64_t m : {nr, int64_t{64}, int64_t{128}, int64_t{257}, long_m}) {
    for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{10}, nr - 1, nr}) {
      for (int64_t kk : {int64_t{7}, int64_t{300}}) {
        for (bool ta : {false, true}) {
          for (bool tb : {false, true}) {
            if (n > nr) continue;                    // not an output narrower than a tile
            if (!ta && tb && 2 * n <= nr) continue;  // the skinny path: dot products
            const Case& cs = cases[seed % 4];
            const auto a = RandomVector(static_cast<size_t>(m * kk), seed++);
            const auto b = RandomVector(static_cast<size_t>(kk * wide), seed++);
            const auto c0 = RandomVector(static_cast<size_t>(m * wide), seed++);
            const auto bias = RandomVector(static_cast<size_t>(wide), seed++);
            const auto sv = RandomVector(static_cast<size_t>(m * wide), seed++);
            detail::ActGradEpilogue g;
            g.act = kernels::Act::kLeakyRelu;
            g.alpha = 0.01f;
            g.s = sv.data();
            g.lds = wide;
            g.fn = k.ew->act_backward;
            g.fn_out = k.ew->act_backward_out;
            auto problem = [&](int64_t cols, std::vector<float>& c) {
              detail::GemmProblem p;
              p.trans_a = ta, p.trans_b = tb;
              p.m = m, p.n = cols, p.k = kk;
              p.a = a.data(), p.lda = ta ? m : kk;
              p.b = b.data(), p.ldb = tb ? kk : wide;
              p.beta = cs.beta;
              p.c = c.data(), p.ldc = wide;
              p.bias = cs.bias ? bias.data() : nullptr;
              p.act.act = cs.act;
              p.act.fn = k.ew->act_forward;
              if (cs.act_grad) p.act_grad = &g;
              return p;
            };
            std::vector<float> want = c0;
            detail::RunGemm(*k.gemm, k.blocking, problem(wide, want), 1);
            for (int threads : {1, 3}) {
              std::vector<float> got = c0;
              detail::RunGemm(*k.gemm, k.blocking, problem(n, got), threads);
              for (int64_t i = 0; i < m; ++i) {
                ASSERT_EQ(std::memcmp(&want[i * wide], &got[i * wide], n * sizeof(float)), 0)
                    << "row " << i << " m=" << m << " n=" << n << " k=" << kk << " ta=" << ta
                    << " tb=" << tb << " beta=" << cs.beta << " threads=" << threads;
                ASSERT_EQ(
                    std::memcmp(&c0[i * wide + n], &got[i * wide + n], (wide - n) * sizeof(float)),
                    0)
                    << "past column n, row " << i;
              }
            }
          }
        }
      }
    }
  }
  set_num_threads(saved);
}

// An output of a few rows runs on the row kernel that pads them least (10 rows: two 5-row
// panels); every element is what MR-row panels give: the first m rows of a taller product.
TEST_P(GemmDriverTest, FewRowsAreBitwiseTheRowsOfATallerProduct) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int saved = num_threads();
  set_num_threads(3);
  const int64_t mr = k.gemm->mr, nr = k.gemm->nr;
  const int64_t tall = 4 * mr + 1;
  uint32_t seed = 700;
  for (int64_t m : {int64_t{1}, int64_t{4}, int64_t{5}, int64_t{10}, 2 * mr - 1, 3 * mr + 2}) {
    if (m > tall) continue;
    for (int64_t n : {2 * nr + 3, int64_t{1024}}) {
      for (int64_t kk : {int64_t{7}, int64_t{300}}) {
        for (bool ta : {false, true}) {
          for (bool tb : {false, true}) {
            if (!ta && tb && 2 * m <= mr) continue;  // the skinny path: dot products
            const float beta = seed % 2 == 0 ? 0.0f : 0.5f;
            const auto a = RandomVector(static_cast<size_t>(tall * kk), seed++);
            const auto b = RandomVector(static_cast<size_t>(kk * n), seed++);
            const auto c0 = RandomVector(static_cast<size_t>(tall * n), seed++);
            const auto bias = RandomVector(static_cast<size_t>(n), seed++);
            auto problem = [&](int64_t rows, std::vector<float>& c) {
              detail::GemmProblem p;
              p.trans_a = ta, p.trans_b = tb;
              p.m = rows, p.n = n, p.k = kk;
              p.a = a.data(), p.lda = ta ? tall : kk;
              p.b = b.data(), p.ldb = tb ? kk : n;
              p.beta = beta;
              p.c = c.data(), p.ldc = n;
              p.bias = bias.data();
              p.act.act = kernels::Act::kRelu;
              return p;
            };
            std::vector<float> want = c0;
            detail::RunGemm(*k.gemm, k.blocking, problem(tall, want), 1);
            for (int threads : {1, 3}) {
              std::vector<float> got = c0;
              detail::RunGemm(*k.gemm, k.blocking, problem(m, got), threads);
              ASSERT_EQ(std::memcmp(want.data(), got.data(), m * n * sizeof(float)), 0)
                  << "m=" << m << " n=" << n << " k=" << kk << " ta=" << ta << " tb=" << tb
                  << " threads=" << threads;
              ASSERT_EQ(std::memcmp(c0.data() + m * n, got.data() + m * n,
                                    (tall - m) * n * sizeof(float)),
                        0)
                  << "rows past m";
            }
          }
        }
      }
    }
  }
  set_num_threads(saved);
}

TEST_P(GemmDriverTest, BPackingsCountsTheGridRowsAndNothingForTheSkinnyPath) {
  const detail::NetKernels k = detail::ActiveNetKernels();
  const int mr = k.gemm->mr, nr = k.gemm->nr;
  EXPECT_EQ(detail::BPackings(*k.gemm, k.blocking, false, true, 256, nr / 2, 1024, 4),
            0);  // skinny: in place
  // The transposed path (10 columns on a wider tile) packs op(A) as its B, never op(B) as B.
  if (nr >= 16)
    EXPECT_EQ(detail::BPackings(*k.gemm, k.blocking, false, false, 256, 10, 1024, 4), 0);
  EXPECT_EQ(detail::BPackings(*k.gemm, k.blocking, false, false, 256, 1024, 0, 4), 0);
  EXPECT_EQ(detail::BPackings(*k.gemm, k.blocking, false, false, 256, 1024, 1024, 1), 1);
  for (int threads : {2, 4, 8}) {
    const detail::ThreadGrid grid = detail::ChooseThreadGrid(512, 512, 512, mr, nr, threads);
    EXPECT_EQ(detail::BPackings(*k.gemm, k.blocking, false, false, 512, 512, 512, threads),
              grid.tm);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, GemmDriverTest, ::testing::ValuesIn(test::TargetNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace propel
