// The GEMM kernels of every compiled target, called directly: packed layouts of A and B in both
// transpose cases (with zero padding at the edges), and the micro-kernel's contract (alpha, beta,
// beta == 0 never reading C, bias, ReLU), for the full tile and every row kernel, against scalar
// references.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "hwy/targets.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/registry.h"
#include "propel/target.h"
#include "tests/reference/bf16_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

std::vector<int64_t> CompiledSupportedTargets() {
  std::vector<int64_t> out;
  for (int64_t bits = kernels::GemmCompiledTargets() & hwy::SupportedTargets(); bits != 0;
       bits &= bits - 1) {
    out.push_back(bits & -bits);
  }
  return out;
}

// The per-target tables register themselves (kernels/registry.h): one per target of HWY_TARGETS,
// each under its own target bit. Fails loudly if a Highway version compiles the per-target
// copies differently (say, fewer of them, or one namespace for two targets).
TEST(KernelRegistry, EveryCompiledTargetRegisteredOnce) {
  const int64_t built = kernels::GemmBuiltTargets();
  EXPECT_NE(built, 0);
  EXPECT_EQ(kernels::GemmCompiledTargets(), built);
  EXPECT_EQ(kernels::ElementwiseBuiltTargets(), built);
  EXPECT_EQ(kernels::TargetTables<kernels::GemmKernels>::Count(),
            static_cast<size_t>(__builtin_popcountll(static_cast<uint64_t>(built))));
  EXPECT_EQ(kernels::TargetTables<kernels::ElementwiseKernels>::Count(),
            static_cast<size_t>(__builtin_popcountll(static_cast<uint64_t>(built))));
  for (int64_t bits = built; bits != 0; bits &= bits - 1) {
    const int64_t target = bits & -bits;
    ASSERT_NE(kernels::GemmKernelsFor(target), nullptr) << hwy::TargetName(target);
    EXPECT_EQ(kernels::GemmKernelsFor(target)->target, target);
    ASSERT_NE(kernels::ElementwiseKernelsFor(target), nullptr) << hwy::TargetName(target);
    EXPECT_EQ(kernels::ElementwiseKernelsFor(target)->target, target);
  }
  EXPECT_EQ(kernels::GemmKernelsFor(0), nullptr);
}

class GemmKernelsTest : public ::testing::TestWithParam<int64_t> {
 protected:
  const kernels::GemmKernels& K() const { return *kernels::GemmKernelsFor(GetParam()); }
};

TEST_P(GemmKernelsTest, TableDescribesItsTarget) {
  const auto* k = kernels::GemmKernelsFor(GetParam());
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->target, GetParam());
  EXPECT_GT(k->mr, 0);
  EXPECT_GT(k->nr, 0);
  EXPECT_LE(k->mr * k->nr, 64 * 64);
  EXPECT_LE(k->nr, 64);
}

// The row kernels ukernel_rows / pack_a_rows (r x NR tiles, r-row A~ panels): set for a range
// of r ending at mr, where they are the blocked path's kernels.
std::vector<int64_t> RowCounts(const kernels::GemmKernels& k) {
  std::vector<int64_t> rows;
  for (int64_t r = 1; r <= kernels::kMaxTileRows; ++r) {
    if (k.ukernel_rows[r - 1] != nullptr) rows.push_back(r);
  }
  return rows;
}

TEST_P(GemmKernelsTest, RowKernelsRangeEndsAtTheTile) {
  const auto rows = RowCounts(K());
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back(), K().mr);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i], rows[i - 1] + 1);
  EXPECT_GE(rows.front() * K().nr / K().lanes, 8) << "fewer accumulators than FMA latency x ports";
  for (int64_t r = 1; r <= kernels::kMaxTileRows; ++r) {
    EXPECT_EQ(K().ukernel_rows[r - 1] == nullptr, K().pack_a_rows[r - 1] == nullptr) << r;
  }
}

// The depth of op(A) / op(B) that packed depth p holds: p itself in fp32; in the bf16 tables the
// other member of its pair (2q <-> 2q + 1; an odd kc's last depth stays), rounded to bf16
// (kernels/gemm.h).
int64_t SourceDepth(bool bf16, int64_t p, int64_t kc) {
  if (!bf16) return p;
  if (p % 2 == 1) return p - 1;
  return p + 1 < kc ? p + 1 : p;
}

float Packed(bool bf16, float v) { return bf16 ? ref::Bf16(v) : v; }

void CheckPackA(const kernels::GemmKernels& K, bool bf16) {
  ASSERT_EQ(K.bf16_operands, bf16);
  for (const int64_t mr : RowCounts(K)) {
    const kernels::PackAFn pack_a = K.pack_a_rows[mr - 1];
    for (int64_t mc : {int64_t{1}, mr - 1, mr, mr + 1, 3 * mr + 2}) {
      if (mc < 1) continue;
      for (int64_t kc : {1, 3, 4, 9, 17}) {
        for (bool trans : {false, true}) {
          const int64_t lda = (trans ? mc : kc) + 2;
          const auto a = test::RandomVector(static_cast<size_t>((trans ? kc : mc) * lda), 5);
          const int64_t panels = (mc + mr - 1) / mr;
          auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kc));
          pack_a(trans, mc, kc, a.data(), lda, dst.get());
          if (mr == K.mr) {  // the blocked path's packing: the same layout
            auto dst2 = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kc));
            K.pack_a(trans, mc, kc, a.data(), lda, dst2.get());
            ASSERT_EQ(std::memcmp(dst.get(), dst2.get(), panels * mr * kc * sizeof(float)), 0);
          }
          for (int64_t i = 0; i < panels * mr; ++i) {
            for (int64_t p = 0; p < kc; ++p) {
              const int64_t q = SourceDepth(bf16, p, kc);
              const float want =
                  i < mc ? Packed(bf16, trans ? a[q * lda + i] : a[i * lda + q]) : 0.0f;
              const float got = dst[(i / mr) * mr * kc + p * mr + i % mr];
              ASSERT_EQ(got, want) << "i=" << i << " p=" << p << " mr=" << mr << " mc=" << mc
                                   << " kc=" << kc << " trans=" << trans << " bf16=" << bf16;
            }
          }
        }
      }
    }
  }
}

void CheckPackB(const kernels::GemmKernels& K, bool bf16) {
  ASSERT_EQ(K.bf16_operands, bf16);
  const int64_t nr = K.nr;
  for (int64_t nc : {int64_t{1}, nr - 1, nr, nr + 1, 2 * nr + 5}) {
    if (nc < 1) continue;
    for (int64_t kc : {1, 3, 4, 9, 17}) {
      for (bool trans : {false, true}) {
        const int64_t ldb = (trans ? kc : nc) + 3;
        const auto b = test::RandomVector(static_cast<size_t>((trans ? nc : kc) * ldb), 6);
        const int64_t panels = (nc + nr - 1) / nr;
        auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * nr * kc));
        K.pack_b(trans, kc, nc, b.data(), ldb, dst.get());
        for (int64_t j = 0; j < panels * nr; ++j) {
          for (int64_t p = 0; p < kc; ++p) {
            const int64_t q = SourceDepth(bf16, p, kc);
            const float want =
                j < nc ? Packed(bf16, trans ? b[j * ldb + q] : b[q * ldb + j]) : 0.0f;
            const float got = dst[(j / nr) * nr * kc + p * nr + j % nr];
            ASSERT_EQ(got, want) << "j=" << j << " p=" << p << " nc=" << nc << " kc=" << kc
                                 << " trans=" << trans << " bf16=" << bf16;
          }
        }
      }
    }
  }
}

TEST_P(GemmKernelsTest, PackALayoutBothTransposes) { CheckPackA(K(), false); }
TEST_P(GemmKernelsTest, PackBLayoutBothTransposes) { CheckPackB(K(), false); }

// The bf16 table of the same target: the same panels, rounded, each pair of depths swapped; the
// same micro-kernels; the tables point at each other.
TEST_P(GemmKernelsTest, Bf16TablePacksRoundedPairsInDotProductOrder) {
  const kernels::GemmKernels& b = *K().other_precision;
  EXPECT_EQ(b.other_precision, &K());
  EXPECT_EQ(b.target, K().target);
  EXPECT_EQ(b.ukernel, K().ukernel);
  CheckPackA(b, true);
  CheckPackB(b, true);
}

// The contract for the blocked path's kernel and every row kernel (r rows of the full width).
TEST_P(GemmKernelsTest, MicroKernelContract) {
  const int64_t nr = K().nr;
  for (const int64_t mr : RowCounts(K())) {
    const kernels::UkernelFn ukernel = K().ukernel_rows[mr - 1];
    for (int64_t kc : {1, 2, 7, 64}) {
      auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kc));
      auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kc));
      const auto av = test::RandomVector(static_cast<size_t>(mr * kc), 1);
      const auto bv = test::RandomVector(static_cast<size_t>(nr * kc), 2);
      std::copy(av.begin(), av.end(), ap.get());
      std::copy(bv.begin(), bv.end(), bp.get());
      const auto bias = test::RandomVector(static_cast<size_t>(nr), 3);
      const int64_t ldc = nr + 5;
      for (float alpha : {1.0f, -0.5f}) {
        for (float beta : {0.0f, 1.0f, 0.25f}) {
          for (bool with_bias : {false, true}) {
            for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
              auto c = test::RandomVector(static_cast<size_t>(mr * ldc), 4);
              if (beta == 0.0f)
                std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
              const auto c_in = c;
              kernels::UkernelParams params{alpha, beta, with_bias ? bias.data() : nullptr,
                                            kernels::ActParams{act, 0.0f, nullptr}};
              ukernel(kc, ap.get(), bp.get(), c.data(), ldc, params);
              if (mr == K().mr) {  // the blocked path's kernel: bitwise the same
                auto c2 = c_in;
                K().ukernel(kc, ap.get(), bp.get(), c2.data(), ldc, params);
                ASSERT_EQ(std::memcmp(c.data(), c2.data(), c.size() * sizeof(float)), 0);
              }
              for (int64_t i = 0; i < mr; ++i) {
                for (int64_t j = 0; j < nr; ++j) {
                  double sum = 0.0, mag = 0.0;
                  for (int64_t p = 0; p < kc; ++p) {
                    sum += static_cast<double>(av[p * mr + i]) * bv[p * nr + j];
                    mag += std::fabs(static_cast<double>(av[p * mr + i]) * bv[p * nr + j]);
                  }
                  double want = alpha * sum;
                  mag *= std::fabs(alpha);
                  if (beta != 0.0f) {
                    want += beta * static_cast<double>(c_in[i * ldc + j]);
                    mag += std::fabs(beta * c_in[i * ldc + j]);
                  }
                  if (with_bias) {
                    want += bias[j];
                    mag += std::fabs(bias[j]);
                  }
                  if (act == kernels::Act::kRelu && want < 0.0) want = 0.0;
                  const double tol =
                      2.0 * (kc + 3) * std::numeric_limits<float>::epsilon() / 2 * mag + 1e-30;
                  ASSERT_NEAR(c[i * ldc + j], want, tol)
                      << "mr=" << mr << " i=" << i << " j=" << j << " kc=" << kc
                      << " alpha=" << alpha << " beta=" << beta;
                }
                for (int64_t j = nr; j < ldc; ++j) {  // outside the tile: untouched
                  const float was = c_in[i * ldc + j], got = c[i * ldc + j];
                  ASSERT_TRUE(got == was || (std::isnan(got) && std::isnan(was)));
                }
              }
            }
          }
        }
      }
    }
  }
}

// The right-edge kernels compute the first v vectors of a tile exactly as the full kernel does
// (bitwise), and write nothing past them.
TEST_P(GemmKernelsTest, NarrowKernelsMatchFullKernelBitwise) {
  const int64_t mr = K().mr, nr = K().nr, lanes = K().lanes, kc = 37;
  ASSERT_EQ(nr % lanes, 0);
  ASSERT_EQ(K().ukernel_cols[nr / lanes - 1], K().ukernel);
  auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kc));
  auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kc));
  const auto av = test::RandomVector(static_cast<size_t>(mr * kc), 8);
  const auto bv = test::RandomVector(static_cast<size_t>(nr * kc), 9);
  std::copy(av.begin(), av.end(), ap.get());
  std::copy(bv.begin(), bv.end(), bp.get());
  const auto bias = test::RandomVector(static_cast<size_t>(nr), 10);
  const auto c0 = test::RandomVector(static_cast<size_t>(mr * nr), 11);
  for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
    const kernels::UkernelParams params{-0.5f, 0.25f, bias.data(),
                                        kernels::ActParams{act, 0.0f, nullptr}};
    auto full = c0;
    K().ukernel(kc, ap.get(), bp.get(), full.data(), nr, params);
    for (int64_t v = 1; v <= nr / lanes; ++v) {
      ASSERT_NE(K().ukernel_cols[v - 1], nullptr) << v;
      auto narrow = c0;
      K().ukernel_cols[v - 1](kc, ap.get(), bp.get(), narrow.data(), nr, params);
      for (int64_t i = 0; i < mr; ++i) {
        for (int64_t j = 0; j < nr; ++j) {
          const float want = j < v * lanes ? full[i * nr + j] : c0[i * nr + j];
          ASSERT_EQ(std::memcmp(&narrow[i * nr + j], &want, sizeof(float)), 0)
              << "v=" << v << " i=" << i << " j=" << j;
        }
      }
    }
  }
}

TEST_P(GemmKernelsTest, FmaPeakKernelRuns) {
  const float v = K().fma_peak(100);
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(K().fma_peak_fmas_per_iter, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, GemmKernelsTest,
                         ::testing::ValuesIn(CompiledSupportedTargets()), [](const auto& info) {
                           return std::string(
                               info.param == HWY_SCALAR ? "SCALAR" : hwy::TargetName(info.param));
                         });

}  // namespace
}  // namespace propel
