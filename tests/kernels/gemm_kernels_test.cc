// The GEMM kernels of every compiled target, called directly: packed layouts of A and B in both
// transpose cases (with zero padding at the edges), and the micro-kernel's contract (alpha, beta,
// beta == 0 never reading C, bias, ReLU), for the full tile and every row kernel, against scalar
// references.
#include <gtest/gtest.h>

#include <bit>
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

// The targets this CPU runs the bf16 kernels of `kind` on (VDPBF16PS: kernels/gemm_bf16_dot-inl.h;
// AMX: kernels/gemm_bf16_amx-inl.h).
std::vector<int64_t> Bf16Targets(Bf16Gemm kind) {
  std::vector<int64_t> out;
  for (const Target& t : available_targets()) {
    if (t.bf16_gemm == kind) out.push_back(t.bits);
  }
  return out;
}

uint32_t Bf16Bits(float v) { return std::bit_cast<uint32_t>(ref::Bf16(v)) >> 16; }

uint32_t PanelWord(const float* panel, int64_t index) {
  uint32_t w;
  std::memcpy(&w, panel + index, sizeof(w));
  return w;
}

// B~ of a pair-panel table (VDPBF16PS and AMX share it): word (q, j) of a panel of NR columns at
// q * NR + j, the bf16 of depth 2q in its lower half and of 2q + 1 in its upper half, panels
// PanelDepth(kc) words deep, zero past kc and past the matrix's columns; both transposes.
void CheckPairPanelB(const kernels::GemmKernels& K, int64_t kc, bool trans, uint32_t seed) {
  const int64_t nr = K.nr, kd = kernels::PanelDepth(K, kc);
  for (int64_t nc : {int64_t{1}, nr - 1, nr, 2 * nr + 5}) {
    const int64_t ldb = (trans ? kc : nc) + 3;
    const auto b = test::RandomVector(static_cast<size_t>((trans ? nc : kc) * ldb), seed);
    const int64_t panels = (nc + nr - 1) / nr;
    auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * nr * kd));
    std::fill(dst.get(), dst.get() + panels * nr * kd, std::nanf(""));
    K.pack_b(trans, kc, nc, b.data(), ldb, dst.get());
    auto bt = [&](int64_t p, int64_t j) -> float {
      if (j >= nc || p >= kc) return 0.0f;
      return trans ? b[j * ldb + p] : b[p * ldb + j];
    };
    for (int64_t j = 0; j < panels * nr; ++j) {
      for (int64_t q = 0; q < kd; ++q) {
        const uint32_t want = Bf16Bits(bt(2 * q, j)) | Bf16Bits(bt(2 * q + 1, j)) << 16;
        const uint32_t got = PanelWord(dst.get(), (j / nr) * nr * kd + q * nr + j % nr);
        ASSERT_EQ(got, want) << "B j=" << j << " q=" << q << " nc=" << nc << " kc=" << kc
                             << " trans=" << trans;
      }
    }
  }
}

// The pair panels: word (q, r) of a W-wide panel holds bf16 of depth 2q in its lower half and of
// 2q + 1 in its upper half (zero past an odd kc), rows or columns past the matrix zero, panels
// ceil(kc / 2) words deep; checked against the scalar rounding for every row kernel's A panels
// and for B, both transposes, odd and even kc, kc past the gathered layout's 16-depth chunks.
TEST(Bf16DotKernels, PackPairPanels) {
  const auto targets = Bf16Targets(Bf16Gemm::kDot);
  if (targets.empty()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  for (const int64_t target : targets) {
    const kernels::GemmKernels& K = *kernels::Bf16DotKernelsFor(target);
    ASSERT_TRUE(K.bf16_operands && K.bf16_pairs);
    EXPECT_EQ(K.target, target);
    EXPECT_EQ(K.other_precision, kernels::GemmKernelsFor(target));
    for (int64_t kc : {1, 2, 3, 4, 9, 17, 33, 40}) {
      EXPECT_EQ(kernels::PanelDepth(K, kc), (kc + 1) / 2);
      const int64_t kq = (kc + 1) / 2;
      for (bool trans : {false, true}) {
        // A, every row kernel's panels (the blocked path's among them).
        for (const int64_t mr : RowCounts(K)) {
          for (int64_t mc : {int64_t{1}, mr - 1, mr, 2 * mr + 3}) {
            if (mc < 1) continue;
            const int64_t lda = (trans ? mc : kc) + 3;
            const auto a = test::RandomVector(static_cast<size_t>((trans ? kc : mc) * lda), 7);
            const int64_t panels = (mc + mr - 1) / mr;
            auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kq));
            K.pack_a_rows[mr - 1](trans, mc, kc, a.data(), lda, dst.get());
            auto at = [&](int64_t i, int64_t p) -> float {
              if (i >= mc || p >= kc) return 0.0f;
              return trans ? a[p * lda + i] : a[i * lda + p];
            };
            for (int64_t i = 0; i < panels * mr; ++i) {
              for (int64_t q = 0; q < kq; ++q) {
                const uint32_t want = Bf16Bits(at(i, 2 * q)) | Bf16Bits(at(i, 2 * q + 1)) << 16;
                const uint32_t got = PanelWord(dst.get(), (i / mr) * mr * kq + q * mr + i % mr);
                ASSERT_EQ(got, want) << "A i=" << i << " q=" << q << " mr=" << mr << " mc=" << mc
                                     << " kc=" << kc << " trans=" << trans;
              }
            }
          }
        }
        CheckPairPanelB(K, kc, trans, 8);
      }
    }
  }
}

// The VDPBF16PS micro-kernels (the full tile, every row kernel, every right-edge width) against a
// scalar model of the instruction, bit for bit: per element and pair, acc + a1 b1 then + a0 b0,
// each sum rounded to binary32 (the products of bf16 values are exact), then the epilogue of the
// contract in its order (alpha * acc, fma with beta * C, + bias, ReLU).
TEST(Bf16DotKernels, MicroKernelsMatchTheInstructionModelBitwise) {
  const auto targets = Bf16Targets(Bf16Gemm::kDot);
  if (targets.empty()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  for (const int64_t target : targets) {
    const kernels::GemmKernels& K = *kernels::Bf16DotKernelsFor(target);
    const int64_t nr = K.nr, lanes = K.lanes;
    std::vector<std::pair<int64_t, kernels::UkernelFn>> kernels_to_test;  // (rows, kernel)
    for (const int64_t mr : RowCounts(K)) kernels_to_test.emplace_back(mr, K.ukernel_rows[mr - 1]);
    for (int64_t kc : {1, 2, 7, 64, 301}) {
      const int64_t kq = (kc + 1) / 2;
      for (const auto& [mr, ukernel] : kernels_to_test) {
        // Operands as bf16 values, packed as pair words.
        std::vector<float> av(static_cast<size_t>(mr * 2 * kq), 0.0f);
        std::vector<float> bv(static_cast<size_t>(nr * 2 * kq), 0.0f);
        const auto ar = test::RandomVector(av.size(), 21), br = test::RandomVector(bv.size(), 22);
        auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kq));
        auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kq));
        for (int64_t q = 0; q < kq; ++q) {
          for (int64_t h = 0; h < 2 && 2 * q + h < kc; ++h) {
            for (int64_t i = 0; i < mr; ++i)
              av[(2 * q + h) * mr + i] = ref::Bf16(ar[(2 * q + h) * mr + i]);
            for (int64_t j = 0; j < nr; ++j)
              bv[(2 * q + h) * nr + j] = ref::Bf16(br[(2 * q + h) * nr + j]);
          }
          for (int64_t i = 0; i < mr; ++i) {
            const uint32_t w = Bf16Bits(av[2 * q * mr + i]) | Bf16Bits(av[(2 * q + 1) * mr + i])
                                                                  << 16;
            std::memcpy(ap.get() + q * mr + i, &w, sizeof(w));
          }
          for (int64_t j = 0; j < nr; ++j) {
            const uint32_t w = Bf16Bits(bv[2 * q * nr + j]) | Bf16Bits(bv[(2 * q + 1) * nr + j])
                                                                  << 16;
            std::memcpy(bp.get() + q * nr + j, &w, sizeof(w));
          }
        }
        const auto bias = test::RandomVector(static_cast<size_t>(nr), 23);
        const int64_t ldc = nr + 3;
        for (float alpha : {1.0f, -0.5f}) {
          for (float beta : {0.0f, 0.25f}) {
            for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
              const auto c_in = test::RandomVector(static_cast<size_t>(mr * ldc), 24);
              const kernels::UkernelParams params{alpha, beta, bias.data(),
                                                  kernels::ActParams{act, 0.0f, nullptr}};
              auto c = c_in;
              ukernel(kc, ap.get(), bp.get(), c.data(), ldc, params);
              for (int64_t i = 0; i < mr; ++i) {
                for (int64_t j = 0; j < ldc; ++j) {
                  float want = c_in[i * ldc + j];  // outside the tile: untouched
                  if (j < nr) {
                    float acc = 0.0f;
                    for (int64_t q = 0; q < kq; ++q) {
                      acc = acc + av[(2 * q + 1) * mr + i] * bv[(2 * q + 1) * nr + j];
                      acc = acc + av[2 * q * mr + i] * bv[2 * q * nr + j];
                    }
                    float out = alpha * acc;
                    if (beta != 0.0f) out = std::fma(beta, c_in[i * ldc + j], out);
                    out = out + bias[j];
                    if (act == kernels::Act::kRelu && out < 0.0f) out = 0.0f;
                    want = out;
                  }
                  ASSERT_EQ(std::bit_cast<uint32_t>(c[i * ldc + j]), std::bit_cast<uint32_t>(want))
                      << "mr=" << mr << " kc=" << kc << " i=" << i << " j=" << j << " got "
                      << c[i * ldc + j] << " want " << want;
                }
              }
              // The right-edge kernels of the blocked path: their columns of the same tile.
              if (mr != K.mr) continue;
              for (int64_t v = 1; v <= nr / lanes; ++v) {
                auto narrow = c_in;
                K.ukernel_cols[v - 1](kc, ap.get(), bp.get(), narrow.data(), ldc, params);
                for (int64_t i = 0; i < mr; ++i) {
                  for (int64_t j = 0; j < ldc; ++j) {
                    const float want = j < v * lanes ? c[i * ldc + j] : c_in[i * ldc + j];
                    ASSERT_EQ(std::bit_cast<uint32_t>(narrow[i * ldc + j]),
                              std::bit_cast<uint32_t>(want))
                        << "v=" << v << " i=" << i << " j=" << j;
                  }
                }
              }
            }
          }
        }
      }
    }
    EXPECT_TRUE(std::isfinite(K.fma_peak(100)));
    EXPECT_EQ(K.fma_peak_fmas_per_iter % (2 * K.lanes), 0);  // two multiply-adds per lane
  }
}

// The AMX panels: A~ row-major (word (r, q) of a 32-row panel at r * kd + q), B~ k-major as
// VDPBF16PS's, both kd = ceil(kc / 2) rounded up to 16 words deep with zero pairs past kc, both
// transposes, rows and columns past the matrix zero.
TEST(Bf16AmxKernels, PackTilePanels) {
  const auto targets = Bf16Targets(Bf16Gemm::kAmx);
  if (targets.empty()) GTEST_SKIP() << "no AMX-BF16 on this CPU (or no tile state from Linux)";
  for (const int64_t target : targets) {
    const kernels::GemmKernels& K = *kernels::Bf16AmxKernelsFor(target);
    ASSERT_TRUE(K.bf16_operands && K.bf16_pairs && K.a_rows);
    ASSERT_NE(K.begin, nullptr);
    ASSERT_NE(K.end, nullptr);
    EXPECT_EQ(K.target, target);
    EXPECT_EQ(K.other_precision, kernels::GemmKernelsFor(target));
    EXPECT_EQ(kernels::KcStep(K) % (2 * K.pair_block), 0);
    const int64_t mr = K.mr, nr = K.nr;
    for (int64_t kc : {1, 2, 31, 32, 33, 64, 77}) {
      const int64_t kq = (kc + 1) / 2, kd = kernels::PanelDepth(K, kc);
      EXPECT_EQ(kd % K.pair_block, 0);
      EXPECT_GE(kd, kq);
      EXPECT_LT(kd - kq, K.pair_block);
      for (bool trans : {false, true}) {
        for (int64_t mc : {int64_t{1}, mr - 1, mr, 2 * mr + 3}) {
          const int64_t lda = (trans ? mc : kc) + 3;
          const auto a = test::RandomVector(static_cast<size_t>((trans ? kc : mc) * lda), 17);
          const int64_t panels = (mc + mr - 1) / mr;
          auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kd));
          std::fill(dst.get(), dst.get() + panels * mr * kd, std::nanf(""));
          K.pack_a(trans, mc, kc, a.data(), lda, dst.get());
          auto at = [&](int64_t i, int64_t p) -> float {
            if (i >= mc || p >= kc) return 0.0f;
            return trans ? a[p * lda + i] : a[i * lda + p];
          };
          for (int64_t i = 0; i < panels * mr; ++i) {
            for (int64_t q = 0; q < kd; ++q) {
              const uint32_t want = Bf16Bits(at(i, 2 * q)) | Bf16Bits(at(i, 2 * q + 1)) << 16;
              const uint32_t got = PanelWord(dst.get(), (i / mr) * mr * kd + (i % mr) * kd + q);
              ASSERT_EQ(got, want) << "A i=" << i << " q=" << q << " mc=" << mc << " kc=" << kc
                                   << " trans=" << trans;
            }
          }
        }
        CheckPairPanelB(K, kc, trans, 18);
      }
    }
  }
}

// The AMX micro-kernel between the table's begin and end, on panels packed by the table, against
// the double product of the rounded operands: TDPBF16PS does not add in the order Intel's
// pseudo-code gives (docs/precision.md), so the bound is the fp32 one, (kc + 2) 2^-24 sum |a' b'|
// per element, doubled as the fp32 kernel tests do; then the epilogue of the contract, and nothing
// written outside the tile.
TEST(Bf16AmxKernels, MicroKernelContract) {
  const auto targets = Bf16Targets(Bf16Gemm::kAmx);
  if (targets.empty()) GTEST_SKIP() << "no AMX-BF16 on this CPU (or no tile state from Linux)";
  for (const int64_t target : targets) {
    const kernels::GemmKernels& K = *kernels::Bf16AmxKernelsFor(target);
    const int64_t mr = K.mr, nr = K.nr;
    ASSERT_EQ(K.ukernel_rows[mr - 1], K.ukernel);
    ASSERT_EQ(K.ukernel_cols[nr / K.lanes - 1], K.ukernel);
    for (int64_t kc : {1, 2, 33, 64, 301}) {
      const int64_t kd = kernels::PanelDepth(K, kc);
      const auto a = test::RandomVector(static_cast<size_t>(mr * kc), 31);  // mr x kc
      const auto b = test::RandomVector(static_cast<size_t>(kc * nr), 32);  // kc x nr
      auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kd));
      auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kd));
      K.pack_a(false, mr, kc, a.data(), kc, ap.get());
      K.pack_b(false, kc, nr, b.data(), nr, bp.get());
      const auto bias = test::RandomVector(static_cast<size_t>(nr), 33);
      const int64_t ldc = nr + 5;
      for (float alpha : {1.0f, -0.5f}) {
        for (float beta : {0.0f, 0.25f}) {
          for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
            auto c = test::RandomVector(static_cast<size_t>(mr * ldc), 34);
            if (beta == 0.0f) {  // C is not read: its NaNs must not show
              for (int64_t i = 0; i < mr; ++i) {
                for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = std::nanf("");
              }
            }
            const auto c_in = c;
            const kernels::UkernelParams params{alpha, beta, bias.data(),
                                                kernels::ActParams{act, 0.0f, nullptr}};
            K.begin();
            K.ukernel(kc, ap.get(), bp.get(), c.data(), ldc, params);
            K.end();
            for (int64_t i = 0; i < mr; ++i) {
              for (int64_t j = 0; j < ldc; ++j) {
                if (j >= nr) {
                  ASSERT_EQ(std::bit_cast<uint32_t>(c[i * ldc + j]),
                            std::bit_cast<uint32_t>(c_in[i * ldc + j]));
                  continue;
                }
                double sum = 0.0, mag = 0.0;
                for (int64_t p = 0; p < kc; ++p) {
                  const double prod = static_cast<double>(ref::Bf16(a[i * kc + p])) *
                                      static_cast<double>(ref::Bf16(b[p * nr + j]));
                  sum += prod;
                  mag += std::fabs(prod);
                }
                double want = alpha * sum;
                mag *= std::fabs(alpha);
                if (beta != 0.0f) {
                  want += beta * static_cast<double>(c_in[i * ldc + j]);
                  mag += std::fabs(beta * c_in[i * ldc + j]);
                }
                want += bias[j];
                mag += std::fabs(bias[j]);
                if (act == kernels::Act::kRelu && want < 0.0) want = 0.0;
                const double tol = 2.0 * (kc + 3) * std::ldexp(1.0, -24) * mag;
                ASSERT_NEAR(c[i * ldc + j], want, tol) << "kc=" << kc << " i=" << i << " j=" << j
                                                       << " alpha=" << alpha << " beta=" << beta;
              }
            }
          }
        }
      }
    }
    K.begin();
    const float peak = K.fma_peak(10);
    K.end();
    EXPECT_TRUE(std::isfinite(peak));
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, GemmKernelsTest,
                         ::testing::ValuesIn(CompiledSupportedTargets()), [](const auto& info) {
                           return std::string(
                               info.param == HWY_SCALAR ? "SCALAR" : hwy::TargetName(info.param));
                         });

}  // namespace
}  // namespace propel
