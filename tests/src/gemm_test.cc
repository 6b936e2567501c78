// propel::sgemm and propel::linear_forward against the double reference, on every SIMD target:
// named edge shapes, all transpose cases, strided operands, alpha/beta cases, large shapes by
// random probe, thread-count determinism, and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/threading.h"
#include "src/runtime/target.h"
#include "tests/reference/bf16_ref.h"
#include "tests/reference/gemm_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

using test::RandomVector;
using test::ScopedTarget;

struct Case {
  int64_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  int64_t pad;  // extra elements per stored row of A, B and C
};

// sum_p |alpha a_ip b_pj| of every element (the scale of the bf16 operand-rounding error).
std::vector<double> AbsProducts(const Case& cs, const float* a, int64_t lda, const float* b,
                                int64_t ldb) {
  std::vector<double> out(static_cast<size_t>(cs.m * cs.n), 0.0);
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < cs.n; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < cs.k; ++p) {
        s += std::fabs(static_cast<double>(cs.ta ? a[p * lda + i] : a[i * lda + p]) *
                       static_cast<double>(cs.tb ? b[j * ldb + p] : b[p * ldb + j]));
      }
      out[static_cast<size_t>(i * cs.n + j)] = std::fabs(static_cast<double>(cs.alpha)) * s;
    }
  }
  return out;
}

// Runs one case on the pinned target and checks every element against the reference bound.
// bf16 (propel::gemm_bf16): against the double product of the operands rounded by the scalar
// reference (ref::Bf16) with the fp32 bound, which only a GEMM that rounds every operand meets;
// and against the double product of the unrounded operands within the fp32 bound plus
// (2^-7 + 2^-16) sum |alpha a b|, the bound gemm_bf16 documents.
void CheckCase(const Case& cs, uint32_t seed, Precision precision = Precision::kFp32) {
  const int64_t a_rows = cs.ta ? cs.k : cs.m, a_cols = cs.ta ? cs.m : cs.k;
  const int64_t b_rows = cs.tb ? cs.n : cs.k, b_cols = cs.tb ? cs.k : cs.n;
  const int64_t lda = std::max<int64_t>(1, a_cols + cs.pad);
  const int64_t ldb = std::max<int64_t>(1, b_cols + cs.pad);
  const int64_t ldc = std::max<int64_t>(1, cs.n + cs.pad);
  auto a = RandomVector(static_cast<size_t>(std::max<int64_t>(1, a_rows * lda)), seed);
  auto b = RandomVector(static_cast<size_t>(std::max<int64_t>(1, b_rows * ldb)), seed + 1);
  auto c = RandomVector(static_cast<size_t>(std::max<int64_t>(1, cs.m * ldc)), seed + 2);
  if (cs.beta == 0.0f) std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
  const auto c_in = c;
  const bool bf16 = precision == Precision::kBf16;
  std::vector<float> ar = a, br = b;
  if (bf16) {
    for (float& v : ar) v = ref::Bf16(v);
    for (float& v : br) v = ref::Bf16(v);
  }
  const auto want = ref::GemmRef(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, ar.data(), lda,
                                 br.data(), ldb, cs.beta, c_in.data(), ldc);
  const auto unrounded = bf16 ? ref::GemmRef(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, a.data(),
                                             lda, b.data(), ldb, cs.beta, c_in.data(), ldc)
                              : ref::GemmRefResult{};
  const std::vector<double> mag =
      bf16 ? AbsProducts(cs, a.data(), lda, b.data(), ldb) : std::vector<double>{};
  const Trans ta = cs.ta ? Trans::kYes : Trans::kNo, tb = cs.tb ? Trans::kYes : Trans::kNo;
  if (bf16) {
    gemm_bf16(ta, tb, cs.m, cs.n, cs.k, cs.alpha, a.data(), lda, b.data(), ldb, cs.beta, c.data(),
              ldc);
  } else {
    sgemm(ta, tb, cs.m, cs.n, cs.k, cs.alpha, a.data(), lda, b.data(), ldb, cs.beta, c.data(), ldc);
  }
  int64_t bad = 0;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= cs.n) {  // padding between rows is never written
        const float was = c_in[i * ldc + j];
        if (!(got == was || (std::isnan(got) && std::isnan(was)))) ++bad;
        continue;
      }
      const double err = std::fabs(static_cast<double>(got) - want.c[i * cs.n + j]);
      if (!(err <= want.bound[i * cs.n + j])) {
        if (++bad <= 3) {
          ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", want "
                        << want.c[i * cs.n + j] << " +- " << want.bound[i * cs.n + j] << " ("
                        << precision_name(precision) << ")";
        }
      }
      if (bf16) {
        const size_t e = static_cast<size_t>(i * cs.n + j);
        const double bound =
            unrounded.bound[e] + (std::ldexp(1.0, -7) + std::ldexp(1.0, -16)) * mag[e];
        const double err_exact = std::fabs(static_cast<double>(got) - unrounded.c[e]);
        if (!(err_exact <= bound) && ++bad <= 3) {
          ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", exact " << unrounded.c[e]
                        << " +- " << bound << " (bf16 bound)";
        }
      }
    }
  }
  EXPECT_EQ(bad, 0) << "m=" << cs.m << " n=" << cs.n << " k=" << cs.k << " ta=" << cs.ta
                    << " tb=" << cs.tb << " alpha=" << cs.alpha << " beta=" << cs.beta
                    << " pad=" << cs.pad << " " << precision_name(precision);
}

class GemmTargetTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { pin_ = std::make_unique<ScopedTarget>(GetParam()); }
  void TearDown() override { pin_.reset(); }
  std::unique_ptr<ScopedTarget> pin_;
};

// A tiny exhaustive sweep: every m, n, k in [0, 9) with all transposes (gemma's TestTiny).
void TinySweep(Precision precision) {
  uint32_t seed = 1;
  for (int64_t m = 0; m < 9; ++m) {
    for (int64_t n = 0; n < 9; ++n) {
      for (int64_t k = 0; k < 9; k += 2) {
        for (int t = 0; t < 4; ++t)
          CheckCase({m, n, k, (t & 1) != 0, (t & 2) != 0, 1.0f, 0.0f, 0}, ++seed, precision);
      }
    }
  }
}

// Sizes just below, at and above the tile and block sizes of every target (MR in 4..8,
// NR in 4..48, KC/MC/NC of the blocking table), primes, and the MLP shapes' odd cousins.
void NamedEdgeShapes(Precision precision) {
  const int64_t subtile[] = {1, 3, 5, 7, 8, 9, 13, 15, 16, 17};
  const int64_t around_nr[] = {31, 32, 33, 47, 48, 49, 97};
  const int64_t k_around_kc[] = {1, 127, 128, 129, 255, 257, 383, 385};
  uint32_t seed = 100;
  for (int64_t m : subtile) {
    for (int64_t n : around_nr) {
      for (int t = 0; t < 4; ++t)
        CheckCase({m, n, 37, (t & 1) != 0, (t & 2) != 0, 1.0f, 1.0f, 0}, ++seed, precision);
    }
  }
  for (int64_t k : k_around_kc) {
    for (int t = 0; t < 4; ++t)
      CheckCase({23, 41, k, (t & 1) != 0, (t & 2) != 0, -0.5f, 0.25f, 3}, ++seed, precision);
  }
  // m around MC, n around NC-sized blocks (with small k to stay quick).
  for (int64_t m : {95, 97, 143, 145, 191, 193})
    CheckCase({m, 19, 11, false, true, 1.0f, 0.0f, 1}, ++seed, precision);
  for (int64_t n : {2047, 2049, 4079, 4081})
    CheckCase({9, n, 7, true, false, 1.0f, 1.0f, 0}, ++seed, precision);
}

void AlphaBetaCasesAndStrides(Precision precision) {
  uint32_t seed = 500;
  for (float alpha : {1.0f, -0.5f, 0.0f}) {
    for (float beta : {0.0f, 1.0f, 0.25f}) {
      for (int t = 0; t < 4; ++t) {
        for (int64_t pad : {0, 5}) {
          CheckCase({test::NextPrime(20), test::NextPrime(40), test::NextPrime(70), (t & 1) != 0,
                     (t & 2) != 0, alpha, beta, pad},
                    ++seed, precision);
        }
      }
    }
  }
}

// Seeded random problems: any shape up to a few tiles and blocks, any transposes, strides,
// alpha and beta, to reach combinations the named cases above do not.
void RandomProblems(Precision precision) {
  std::mt19937 rng(2024);
  auto dim = [&](int64_t hi) {
    return static_cast<int64_t>(rng() % static_cast<uint32_t>(hi + 1));
  };
  const float alphas[] = {1.0f, -0.5f, 0.0f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.25f, -1.0f};
  for (int i = 0; i < 100; ++i) {
    const Case cs{dim(130),         dim(130),          dim(300),         (rng() & 1) != 0,
                  (rng() & 2) != 0, alphas[rng() % 4], betas[rng() % 4], dim(3)};
    CheckCase(cs, 5000 + static_cast<uint32_t>(i), precision);
  }
}

// Few rows or few columns: the forward-pass shapes of an output layer and of single-row
// inference, which take the unpacked dot-product path in the NT case (and tiles elsewhere).
void SkinnyShapes(Precision precision) {
  uint32_t seed = 700;
  for (int64_t thin : {1, 2, 3, 4, 5, 9, 10, 11}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      CheckCase({thin, 131, 67, ta, tb, 1.0f, 0.0f, 0}, ++seed, precision);
      CheckCase({131, thin, 67, ta, tb, -0.5f, 0.25f, 2}, ++seed, precision);
      CheckCase({57, thin, 1, ta, tb, 1.0f, 1.0f, 1}, ++seed, precision);
    }
  }
}

TEST_P(GemmTargetTest, TinySweep) { TinySweep(Precision::kFp32); }
TEST_P(GemmTargetTest, NamedEdgeShapes) { NamedEdgeShapes(Precision::kFp32); }
TEST_P(GemmTargetTest, AlphaBetaCasesAndStrides) { AlphaBetaCasesAndStrides(Precision::kFp32); }
TEST_P(GemmTargetTest, RandomProblems) { RandomProblems(Precision::kFp32); }
TEST_P(GemmTargetTest, SkinnyShapes) { SkinnyShapes(Precision::kFp32); }

// The same shape classes through gemm_bf16 (docs/precision.md), on every target.
TEST_P(GemmTargetTest, Bf16TinySweep) { TinySweep(Precision::kBf16); }
TEST_P(GemmTargetTest, Bf16NamedEdgeShapes) { NamedEdgeShapes(Precision::kBf16); }
TEST_P(GemmTargetTest, Bf16AlphaBetaCasesAndStrides) { AlphaBetaCasesAndStrides(Precision::kBf16); }
TEST_P(GemmTargetTest, Bf16RandomProblems) { RandomProblems(Precision::kBf16); }
TEST_P(GemmTargetTest, Bf16SkinnyShapes) { SkinnyShapes(Precision::kBf16); }

// Large products are checked in O(n^2) with a probe vector: C t must equal A (B t).
TEST_P(GemmTargetTest, LargeByRandomProbe) {
  const int64_t m = 301, n = 517, k = 1031;
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
    const auto a = RandomVector(static_cast<size_t>(m * k), 7 + t);
    const auto b = RandomVector(static_cast<size_t>(k * n), 11 + t);
    const auto probe = RandomVector(static_cast<size_t>(n), 13 + t);
    std::vector<float> c(static_cast<size_t>(m * n));
    sgemm(ta ? Trans::kYes : Trans::kNo, tb ? Trans::kYes : Trans::kNo, m, n, k, 1.0f, a.data(),
          lda, b.data(), ldb, 0.0f, c.data(), n);
    std::vector<double> bt(static_cast<size_t>(k), 0.0), bt_abs(static_cast<size_t>(k), 0.0);
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t j = 0; j < n; ++j) {
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        bt[p] += bv * probe[j];
        bt_abs[p] += std::fabs(bv * probe[j]);
      }
    }
    const double u = std::numeric_limits<float>::epsilon() / 2;
    for (int64_t i = 0; i < m; ++i) {
      double got = 0.0, want = 0.0, mag = 0.0;
      for (int64_t j = 0; j < n; ++j) got += static_cast<double>(c[i * n + j]) * probe[j];
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        want += av * bt[p];
        mag += std::fabs(av) * bt_abs[p];
      }
      ASSERT_NEAR(got, want, 2.0 * (k + 2) * u * mag)
          << "row " << i << " ta=" << ta << " tb=" << tb;
    }
  }
}

TEST_P(GemmTargetTest, LinearForwardFusesBiasAndRelu) {
  uint32_t seed = 900;
  for (int64_t batch : {1, 7, 64}) {
    for (int64_t out : {1, 10, 47, 130}) {
      const int64_t in = 83;
      const auto x = RandomVector(static_cast<size_t>(batch * in), ++seed);
      const auto w = RandomVector(static_cast<size_t>(out * in), ++seed);
      const auto bias = RandomVector(static_cast<size_t>(out), ++seed);
      for (Activation act : {Activation::kIdentity, Activation::kRelu}) {
        std::vector<float> z(static_cast<size_t>(batch * out),
                             std::numeric_limits<float>::quiet_NaN());
        linear_forward(batch, in, out, x.data(), in, w.data(), in, bias.data(), act, z.data(), out);
        const auto want =
            ref::GemmRef(false, true, batch, out, in, 1.0f, x.data(), in, w.data(), in, 0.0f,
                         nullptr, out, bias.data(), act == Activation::kRelu);
        for (size_t i = 0; i < z.size(); ++i) {
          ASSERT_NEAR(z[i], want.c[i], want.bound[i])
              << "batch=" << batch << " out=" << out << " i=" << i;
        }
      }
    }
  }
}

TEST_P(GemmTargetTest, ReluKeepsNan) {
  const int64_t in = 4, out = 3;
  std::vector<float> x = {1, 2, 3, std::numeric_limits<float>::quiet_NaN()};
  std::vector<float> w(static_cast<size_t>(out * in), 1.0f);
  std::vector<float> z(static_cast<size_t>(out));
  linear_forward(1, in, out, x.data(), in, w.data(), in, nullptr, Activation::kRelu, z.data(), out);
  for (float v : z) EXPECT_TRUE(std::isnan(v));
}

// The result must not depend on the thread count: work is split over m and n only.
TEST_P(GemmTargetTest, BitwiseIdenticalAcrossThreadCounts) {
  const int saved = num_threads();
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    const int64_t m = 263, n = 389, k = 517;
    const auto a = RandomVector(static_cast<size_t>(m * k), 21 + t);
    const auto b = RandomVector(static_cast<size_t>(k * n), 23 + t);
    std::vector<float> c1;
    for (int threads : {1, 2, 3, 4}) {
      for (Executor ex : test::Executors()) {
        set_num_threads(threads);
        set_executor(ex);
        std::vector<float> c(static_cast<size_t>(m * n), 0.5f);
        sgemm(ta ? Trans::kYes : Trans::kNo, tb ? Trans::kYes : Trans::kNo, m, n, k, 0.75f,
              a.data(), ta ? m : k, b.data(), tb ? k : n, 0.5f, c.data(), n);
        if (c1.empty()) {
          c1 = c;
        } else {
          ASSERT_EQ(0, std::memcmp(c1.data(), c.data(), c.size() * sizeof(float)))
              << threads << " threads, executor " << static_cast<int>(ex) << ", ta=" << ta
              << " tb=" << tb;
        }
      }
    }
  }
  set_executor(Executor::kTbb);
  set_num_threads(saved);
}

TEST_P(GemmTargetTest, Bf16BitwiseIdenticalAcrossThreadCountsAndStorage) {
  const int saved = num_threads();
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    const int64_t m = 263, n = 389, k = 517;
    const auto a = RandomVector(static_cast<size_t>(m * k), 31 + t);
    const auto b = RandomVector(static_cast<size_t>(k * n), 33 + t);
    std::vector<bf16> a16(a.size()), b16(b.size());
    to_bf16(static_cast<int64_t>(a.size()), a.data(), a16.data());
    to_bf16(static_cast<int64_t>(b.size()), b.data(), b16.data());
    const Trans tra = ta ? Trans::kYes : Trans::kNo, trb = tb ? Trans::kYes : Trans::kNo;
    std::vector<float> c1;
    for (int threads : {1, 3}) {
      for (Executor ex : test::Executors()) {
        set_num_threads(threads);
        set_executor(ex);
        std::vector<float> c(static_cast<size_t>(m * n), 0.5f);
        std::vector<float> c_stored = c;
        gemm_bf16(tra, trb, m, n, k, 0.75f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.5f,
                  c.data(), n);
        gemm_bf16(tra, trb, m, n, k, 0.75f, a16.data(), ta ? m : k, b16.data(), tb ? k : n, 0.5f,
                  c_stored.data(), n);
        ASSERT_EQ(0, std::memcmp(c.data(), c_stored.data(), c.size() * sizeof(float)))
            << "stored bf16 operands, " << threads << " threads, ta=" << ta << " tb=" << tb;
        if (c1.empty()) {
          c1 = c;
        } else {
          ASSERT_EQ(0, std::memcmp(c1.data(), c.data(), c.size() * sizeof(float)))
              << threads << " threads, executor " << static_cast<int>(ex) << ", ta=" << ta
              << " tb=" << tb;
        }
      }
    }
  }
  set_executor(Executor::kTbb);
  set_num_threads(saved);
}

// The vector conversion of every target against the scalar reference, bit for bit: zeros,
// denormals (to zero, sign kept), the smallest and largest normals, ties both ways, the largest
// bf16 and what rounds past it (infinity), infinities, quiet and signalling NaNs with payloads,
// then random bit patterns over the whole binary32 range; arrays long enough for vectors and a
// tail, and the scalar form.
TEST_P(GemmTargetTest, Bf16RoundingMatchesTheScalarReference) {
  std::vector<uint32_t> bits = {
      0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x00400000u, 0x00800000u, 0x80800000u,
      0x3F800000u, 0x3F808000u, 0x3F818000u, 0x3F807FFFu, 0x3F808001u, 0xBF808000u, 0xBF818000u,
      0x7F7F0000u, 0x7F7F7FFFu, 0x7F7F8000u, 0x7F7FFFFFu, 0xFF7F8000u, 0x7F800000u, 0xFF800000u,
      0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FA50001u, 0xFF812345u, 0x7FFFFFFFu, 0x00FF8000u,
      0x0080FFFFu, 0x33800000u, 0x4B7FFFFFu};
  std::mt19937 rng(77);
  for (int i = 0; i < 20000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * sizeof(float));
  std::vector<bf16> got(x.size());
  to_bf16(static_cast<int64_t>(x.size()), x.data(), got.data());
  std::vector<float> back(x.size());
  to_float(static_cast<int64_t>(got.size()), got.data(), back.data());
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t want = std::bit_cast<uint32_t>(ref::Bf16(x[i])) >> 16;
    const uint16_t scalar = to_bf16(x[i]).bits;
    if ((got[i].bits != want || scalar != want ||
         std::bit_cast<uint32_t>(back[i]) != (want << 16)) &&
        ++bad <= 5) {
      ADD_FAILURE() << std::hex << "0x" << bits[i] << ": got 0x" << got[i].bits << " (scalar 0x"
                    << scalar << "), want 0x" << want;
    }
  }
  EXPECT_EQ(bad, 0) << GetParam();
  // The reference's own corner cases, as numbers.
  EXPECT_EQ(ref::Bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);  // tie to even (down)
  EXPECT_EQ(ref::Bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));  // up
  EXPECT_TRUE(std::isinf(ref::Bf16(std::numeric_limits<float>::max())));
  EXPECT_TRUE(std::signbit(ref::Bf16(-std::numeric_limits<float>::denorm_min())));
}

// A target whose bf16 GEMMs run on VDPBF16PS gives, bit for bit, what its base target's bf16
// GEMMs give with the fp32 FMA on rounded operands in pair order (kernels/gemm_bf16_dot-inl.h):
// every path (blocked with edge tiles and row kernels, transposed, skinny), every transpose case,
// odd and even k, alpha and beta, more than one k block. The operands keep every partial sum far
// from the denormal range, where the two are documented to differ.
TEST(GemmBf16Dot, MatchesTheFmaOnRoundedOperandsBitwise) {
  int tested = 0;
  for (const Target& t : available_targets()) {
    if (detail::Bf16EngineOf(t) != kernels::EngineKind::kBf16Vdpbf16ps) continue;
    std::string base;
    for (const Target& u : available_targets()) {
      if (u.bits == t.bits && detail::Bf16EngineOf(u) == kernels::EngineKind::kBf16Emulated) {
        base = u.name;
      }
    }
    ASSERT_FALSE(base.empty()) << t.name;
    ++tested;
    const std::vector<Case> cases = {
        {64, 1024, 784, false, true, 1.0f, 0.0f, 0},    // a forward layer
        {256, 784, 1024, false, false, 1.0f, 0.0f, 0},  // an input gradient
        {1024, 784, 256, true, false, 1.0f, 0.0f, 0},   // a weight gradient
        {10, 1024, 256, true, false, 1.0f, 0.0f, 0},    // a 10-row weight gradient (row kernels)
        {256, 10, 1024, false, false, 1.0f, 0.0f, 0},   // a 10-wide output (transposed path)
        {256, 10, 1023, false, true, 1.0f, 0.0f, 0},    // the skinny path, odd k
        {37, 53, 1, false, false, 1.0f, 0.0f, 1},      {37, 53, 3, true, true, -0.5f, 0.25f, 3},
        {101, 97, 1201, true, true, 0.75f, 1.0f, 2},   {9, 200, 17, false, true, 2.0f, -1.0f, 0},
        {200, 9, 17, true, false, 1.0f, 0.0f, 5},      {48, 48, 2, false, false, 1.0f, 0.5f, 0},
    };
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& cs = cases[ci];
      const int64_t lda = (cs.ta ? cs.m : cs.k) + cs.pad, ldb = (cs.tb ? cs.k : cs.n) + cs.pad;
      const int64_t ldc = cs.n + cs.pad;
      // Values in [-1, 1): partial sums of order 1, never below 2^-126 (nor exactly zero).
      const auto a = RandomVector(static_cast<size_t>((cs.ta ? cs.k : cs.m) * lda), 90 + ci);
      const auto b = RandomVector(static_cast<size_t>((cs.tb ? cs.n : cs.k) * ldb), 190 + ci);
      const auto c0 = RandomVector(static_cast<size_t>(cs.m * ldc), 290 + ci);
      std::vector<float> c_dot = c0, c_fma = c0;
      const Trans ta = cs.ta ? Trans::kYes : Trans::kNo, tb = cs.tb ? Trans::kYes : Trans::kNo;
      {
        ScopedTarget pin(t.name);
        gemm_bf16(ta, tb, cs.m, cs.n, cs.k, cs.alpha, a.data(), lda, b.data(), ldb, cs.beta,
                  c_dot.data(), ldc);
      }
      {
        ScopedTarget pin(base);
        gemm_bf16(ta, tb, cs.m, cs.n, cs.k, cs.alpha, a.data(), lda, b.data(), ldb, cs.beta,
                  c_fma.data(), ldc);
      }
      int64_t bad = 0;
      for (size_t i = 0; i < c_dot.size(); ++i) {
        if (std::bit_cast<uint32_t>(c_dot[i]) != std::bit_cast<uint32_t>(c_fma[i]) && ++bad <= 3) {
          ADD_FAILURE() << t.name << " vs " << base << ", case " << ci << " element " << i << ": "
                        << c_dot[i] << " vs " << c_fma[i];
        }
      }
      ASSERT_EQ(bad, 0) << "case " << ci;
    }
  }
  if (tested == 0) GTEST_SKIP() << "this CPU has no target with a VDPBF16PS kernel";
}

// Callers on several threads at once each get their own packing buffers and the same answer.
TEST_P(GemmTargetTest, ConcurrentCallersAgree) {
  const int64_t m = 150, n = 170, k = 190;
  const auto a = RandomVector(static_cast<size_t>(m * k), 31);
  const auto b = RandomVector(static_cast<size_t>(k * n), 32);
  std::vector<float> want(static_cast<size_t>(m * n));
  sgemm(Trans::kNo, Trans::kYes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, want.data(), n);
  std::vector<std::vector<float>> got(4, std::vector<float>(want.size()));
  std::vector<std::thread> threads;
  for (auto& c : got) {
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep) {
        sgemm(Trans::kNo, Trans::kYes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& c : got) {
    EXPECT_EQ(0, std::memcmp(c.data(), want.data(), want.size() * sizeof(float)));
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, GemmTargetTest, ::testing::ValuesIn(test::TargetNames()),
                         [](const auto& info) { return info.param; });

// ---- Argument errors (target-independent) -----------------------------------------------------

std::string ErrorOf(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "(no error)";
}

// One invalid sgemm call and the text its error must contain.
struct BadCall {
  Trans ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  bool null_a, null_b, null_c;
  const char* expect;
};

TEST(GemmArguments, InvalidArgumentsNameTheArgument) {
  const auto N = Trans::kNo, T = Trans::kYes;
  const BadCall calls[] = {
      {N, N, -1, 2, 2, 2, 2, 2, false, false, false, "m = -1"},
      {N, N, 2, -3, 2, 2, 2, 2, false, false, false, "n = -3"},
      {N, N, 2, 2, -4, 2, 2, 2, false, false, false, "k = -4"},
      {N, N, 2, 2, 5, 3, 2, 2, false, false, false, "lda = 3"},
      {T, N, 6, 2, 2, 5, 2, 2, false, false, false, "lda = 5"},
      {N, N, 2, 4, 2, 2, 3, 4, false, false, false, "ldb = 3"},
      {N, T, 2, 2, 4, 4, 3, 2, false, false, false, "ldb = 3"},
      {N, N, 2, 4, 2, 2, 4, 3, false, false, false, "ldc = 3"},
      {N, N, 2, 2, 2, 2, 2, 2, true, false, false, "a is null"},
      {N, N, 2, 2, 2, 2, 2, 2, false, true, false, "b is null"},
      {N, N, 2, 2, 2, 2, 2, 2, false, false, true, "c is null"},
      {static_cast<Trans>(7), N, 2, 2, 2, 2, 2, 2, false, false, false, "trans_a = 7"},
      // extents whose index arithmetic would overflow
      {N, N, int64_t{1} << 40, 2, 2, int64_t{1} << 30, 2, 2, false, false, false,
       "A: 1099511627776 stored rows of stride 1073741824 exceed"},
      {N, N, 2, int64_t{1} << 40, int64_t{1} << 40, int64_t{1} << 40, int64_t{1} << 40,
       int64_t{1} << 40, false, false, false, "B: 1099511627776 stored rows"},
  };
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, 0.0f);
  for (const BadCall& bc : calls) {
    const std::string what = ErrorOf([&] {
      sgemm(bc.ta, bc.tb, bc.m, bc.n, bc.k, 1.0f, bc.null_a ? nullptr : a.data(), bc.lda,
            bc.null_b ? nullptr : b.data(), bc.ldb, 0.0f, bc.null_c ? nullptr : c.data(), bc.ldc);
    });
    EXPECT_NE(what.find(bc.expect), std::string::npos) << "want '" << bc.expect << "' in: " << what;
    EXPECT_NE(what.find("propel::sgemm"), std::string::npos) << what;
  }
  const std::string what = ErrorOf([&] {
    linear_forward(2, 3, 4, a.data(), 2, b.data(), 3, nullptr, Activation::kRelu, c.data(), 4);
  });
  EXPECT_NE(what.find("ldx = 2"), std::string::npos) << what;
  const std::string huge = ErrorOf([&] {
    linear_forward(int64_t{1} << 40, 3, 4, a.data(), int64_t{1} << 30, b.data(), 3, nullptr,
                   Activation::kRelu, c.data(), 4);
  });
  EXPECT_NE(huge.find("X: "), std::string::npos) << huge;
}

TEST(GemmArguments, EmptyProblemsAreValidAndTouchNothing) {
  std::vector<float> c(4, 3.0f);
  sgemm(Trans::kNo, Trans::kNo, 0, 0, 0, 1, nullptr, 1, nullptr, 1, 0, nullptr, 1);
  sgemm(Trans::kNo, Trans::kNo, 2, 2, 0, 1, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2);
  for (float v : c) EXPECT_EQ(v, 1.5f);
  sgemm(Trans::kNo, Trans::kNo, 2, 2, 3, 0.0f, nullptr, 3, nullptr, 2, 0.0f, c.data(), 2);
  for (float v : c) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace propel
