// The GEMM engines of every compiled target (kernels/gemm.h), called directly: one parameterised
// contract test over the engine registry, run for every engine this build has and this CPU runs
// (the fp32 and emulated bf16 engines of every target, VDPBF16PS and AMX where the CPU has them):
// the description's numbers, the packed layouts of A and B in both transpose cases (zero padding at
// the edges, bf16 rounding and pair order) against a scalar model of the layout, and the
// micro-kernel's contract (alpha, beta, beta == 0 never reading C, bias, ReLU) for the full tile,
// every row kernel and every right-edge width, against scalar references.
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
#include "src/runtime/target.h"
#include "tests/reference/bf16_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

// The per-target engine sets register themselves (kernels/registry.h): one per target of
// HWY_TARGETS, each under its own target bit, each with the fp32 and the emulated bf16 engine of
// that target. Fails loudly if a Highway version compiles the per-target copies differently (say,
// fewer of them, or one namespace for two targets).
TEST(EngineRegistry, EveryCompiledTargetRegisteredOnce) {
  const int64_t built = kernels::GemmBuiltTargets();
  EXPECT_NE(built, 0);
  EXPECT_EQ(kernels::GemmCompiledTargets(), built);
  EXPECT_EQ(kernels::ElementwiseBuiltTargets(), built);
  EXPECT_EQ(kernels::TargetTables<kernels::GemmEngines>::Count(),
            static_cast<size_t>(__builtin_popcountll(static_cast<uint64_t>(built))));
  EXPECT_EQ(kernels::TargetTables<kernels::ElementwiseTables>::Count(),
            static_cast<size_t>(__builtin_popcountll(static_cast<uint64_t>(built))));
  size_t engines = 0;
  for (int64_t bits = built; bits != 0; bits &= bits - 1) {
    const int64_t target = bits & -bits;
    for (int k = 0; k < kernels::kEngineKinds; ++k) {
      const kernels::EngineKind kind = static_cast<kernels::EngineKind>(k);
      const kernels::GemmEngine* e = kernels::FindEngine(target, kind);
      if (kind == kernels::EngineKind::kFp32 || kind == kernels::EngineKind::kBf16Emulated) {
        ASSERT_NE(e, nullptr) << hwy::TargetName(target) << " " << kernels::EngineKindName(kind);
      }
      // Portable mode's engine of the kind: fused, of this target and kind; a twin of its own
      // only on SCALAR; none for AMX, none on the targets without FMA.
      const kernels::GemmEngine* p = kernels::FindEngine(target, kind, /*portable=*/true);
      const bool fma = target != HWY_SSE4 && target != HWY_SSSE3;
      if (p != nullptr) {
        EXPECT_TRUE(p->fused) << hwy::TargetName(target);
        EXPECT_EQ(p->target, target);
        EXPECT_EQ(p->kind, kind);
        if (p != e) ++engines;
        EXPECT_EQ(p != e, target == HWY_SCALAR) << hwy::TargetName(target);
      }
      EXPECT_EQ(p != nullptr, fma && e != nullptr && kind != kernels::EngineKind::kBf16Amx)
          << hwy::TargetName(target) << " " << kernels::EngineKindName(kind);
      if (e == nullptr) continue;
      ++engines;
      EXPECT_EQ(e->target, target);
      EXPECT_EQ(e->kind, kind);
      EXPECT_EQ(e->fused, fma && target != HWY_SCALAR) << hwy::TargetName(target);
    }
    ASSERT_NE(kernels::ElementwiseKernelsFor(target), nullptr) << hwy::TargetName(target);
    EXPECT_EQ(kernels::ElementwiseKernelsFor(target)->target, target);
  }
  EXPECT_EQ(kernels::CompiledEngines().size(), engines);
  EXPECT_EQ(kernels::FindEngine(0, kernels::EngineKind::kFp32), nullptr);
}

// The engines this CPU runs: those of its supported targets, the native bf16 ones where the
// target layer lists their target variant (AVX3_BF16, AVX3_AMX).
std::vector<const kernels::GemmEngine*> RunnableEngines(int kind = -1) {
  std::vector<const kernels::GemmEngine*> out;
  for (const kernels::GemmEngine* e : kernels::CompiledEngines()) {
    if (kind >= 0 && static_cast<int>(e->kind) != kind) continue;
    bool runs = false;
    for (const Target& t : available_targets()) {
      if (t.bits != e->target) continue;
      const kernels::EngineKind bf16 = detail::Bf16EngineOf(t);
      runs = runs || e->kind == kernels::EngineKind::kFp32 || e->kind == bf16;
    }
    if (runs) out.push_back(e);
  }
  return out;
}

std::string EngineName(const kernels::GemmEngine& e) {
  std::string name = std::string(e.target == HWY_SCALAR ? "SCALAR" : hwy::TargetName(e.target)) +
                     "_" + kernels::EngineKindName(e.kind);
  // SCALAR's portable twins (fused multiply-adds).
  if (kernels::FindEngine(e.target, e.kind) != &e) name += "_fused";
  for (char& c : name) {
    if (c == ' ') c = '_';
  }
  return name;
}

class EngineContract : public ::testing::TestWithParam<const kernels::GemmEngine*> {
 protected:
  const kernels::GemmEngine& E() const { return *GetParam(); }
  // Runs f between the engine's tile hooks (the AMX tile configuration).
  template <class F>
  void InTiles(const F& f) const {
    if (E().tile_begin != nullptr) E().tile_begin();
    f();
    if (E().tile_end != nullptr) E().tile_end();
  }
};

// Engines of one kind, for what only they promise.
class Vdpbf16psEngine : public EngineContract {};
class EmulatedBf16Engine : public EngineContract {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Vdpbf16psEngine);

// The row kernels ukernel_rows / pack_a_rows (r x NR tiles, r-row A~ panels): set for a range
// of r ending at mr, where they are the blocked path's kernels.
std::vector<int64_t> RowCounts(const kernels::GemmEngine& k) {
  std::vector<int64_t> rows;
  for (int64_t r = 1; r <= kernels::kMaxTileRows; ++r) {
    if (k.ukernel_rows[r - 1] != nullptr) rows.push_back(r);
  }
  return rows;
}

TEST_P(EngineContract, DescriptionIsConsistent) {
  const kernels::GemmEngine& e = E();
  EXPECT_GT(e.mr, 0);
  EXPECT_GT(e.lanes, 0);
  EXPECT_EQ(e.nr % e.lanes, 0);
  EXPECT_LE(e.mr * e.nr, 64 * 64);
  EXPECT_LE(e.nr, 64);
  EXPECT_LE(e.nr / e.lanes, kernels::kMaxTileVectors);
  EXPECT_EQ(e.bf16_operands(), e.kind != kernels::EngineKind::kFp32);
  // bf16 pairs exactly for the native engines, two bytes per element there.
  const bool native =
      e.kind == kernels::EngineKind::kBf16Vdpbf16ps || e.kind == kernels::EngineKind::kBf16Amx;
  EXPECT_EQ(e.pair_panels(), native);
  EXPECT_EQ(e.layout.element_bytes * e.layout.k_per_slot, 4);
  EXPECT_EQ(e.layout.a_row_major, e.kind == kernels::EngineKind::kBf16Amx);
  EXPECT_EQ(e.tile_begin == nullptr, e.tile_end == nullptr);
  EXPECT_GE(e.bounds.kc, kernels::KcStep(e));
  EXPECT_GE(e.bounds.mc, e.mr);
  EXPECT_GE(e.bounds.nc, e.nr);
  EXPECT_GT(e.thin_rows, 0);
  EXPECT_GT(e.thin_cols, 0);
  for (int64_t kc : {1, 2, 7, 31, 32, 33, 256, 301}) {
    const int64_t slots = (kc + e.layout.k_per_slot - 1) / e.layout.k_per_slot;
    const int64_t kd = kernels::PanelDepth(e, kc);
    EXPECT_EQ(kd % e.layout.k_granule, 0) << kc;
    EXPECT_GE(kd, slots) << kc;
    EXPECT_LT(kd - slots, e.layout.k_granule) << kc;
  }
  // A k block of KcStep depths fills whole granules: the blocks before depth pc hold
  // PanelDepth(pc).
  EXPECT_EQ(kernels::KcStep(e) % (e.layout.k_per_slot * e.layout.k_granule), 0);
  EXPECT_EQ(kernels::PanelDepth(e, 3 * kernels::KcStep(e)),
            3 * kernels::PanelDepth(e, kernels::KcStep(e)));
  ASSERT_NE(e.peak, nullptr);
  float v = 0.0f;
  InTiles([&] { v = e.peak(100); });
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(e.peak_macs_per_iter, 0);
}

TEST_P(EngineContract, RowKernelsRangeEndsAtTheTile) {
  const auto rows = RowCounts(E());
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back(), E().mr);
  EXPECT_EQ(E().ukernel_rows[E().mr - 1], E().ukernel);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i], rows[i - 1] + 1);
  EXPECT_GE(rows.front() * E().nr / E().lanes, 8) << "fewer accumulators than latency x ports";
  for (int64_t r = 1; r <= kernels::kMaxTileRows; ++r) {
    EXPECT_EQ(E().ukernel_rows[r - 1] == nullptr, E().pack_a_rows[r - 1] == nullptr) << r;
  }
}

uint32_t Bits(float v) { return std::bit_cast<uint32_t>(v); }
uint32_t Bf16Bits(float v) { return Bits(ref::Bf16(v)) >> 16; }

uint32_t PanelWord(const float* panel, int64_t index) {
  uint32_t w;
  std::memcpy(&w, panel + index, sizeof(w));
  return w;
}

// The 32-bit slot that depth slot q of row (or column) i holds in the engine's layout, from the
// operand's elements at(i, p) (zero past the matrix): the float itself (fp32); rounded to bf16
// and each pair of depths swapped, 2q + 1 before 2q, as VDPBF16PS accumulates them (the emulated
// bf16; an odd kc's last depth stays); a word of the pair bf16(2q) | bf16(2q + 1) << 16 (the
// native engines).
template <class At>
uint32_t ExpectedSlot(const kernels::GemmEngine& e, const At& at, int64_t i, int64_t q,
                      int64_t kc) {
  if (e.pair_panels()) return Bf16Bits(at(i, 2 * q)) | Bf16Bits(at(i, 2 * q + 1)) << 16;
  if (!e.bf16_operands()) return Bits(at(i, q));
  if (q >= kc) return 0;
  const int64_t src = q % 2 == 1 ? q - 1 : (q + 1 < kc ? q + 1 : q);
  return Bits(ref::Bf16(at(i, src)));
}

// A~ panels of every row kernel: rows or columns past the matrix zero, depth padded with zeros to
// PanelDepth(kc), k-major or (a_row_major) row-major, both transposes.
TEST_P(EngineContract, PackALayoutBothTransposes) {
  const kernels::GemmEngine& e = E();
  for (const int64_t mr : RowCounts(e)) {
    const kernels::PackAFn pack_a = e.pack_a_rows[mr - 1];
    for (int64_t mc : {int64_t{1}, mr - 1, mr, mr + 1, 3 * mr + 2}) {
      if (mc < 1) continue;
      for (int64_t kc : {1, 2, 3, 4, 9, 17, 33, 40}) {
        const int64_t kd = kernels::PanelDepth(e, kc);
        for (bool trans : {false, true}) {
          const int64_t lda = (trans ? mc : kc) + 2;
          const auto a = test::RandomVector(static_cast<size_t>((trans ? kc : mc) * lda), 5);
          const int64_t panels = (mc + mr - 1) / mr;
          auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kd));
          std::fill(dst.get(), dst.get() + panels * mr * kd, std::nanf(""));
          pack_a(trans, mc, kc, a.data(), lda, dst.get());
          if (mr == e.mr) {  // the blocked path's packing: the same panels
            auto dst2 = hwy::AllocateAligned<float>(static_cast<size_t>(panels * mr * kd));
            e.pack_a(trans, mc, kc, a.data(), lda, dst2.get());
            ASSERT_EQ(std::memcmp(dst.get(), dst2.get(), panels * mr * kd * sizeof(float)), 0);
          }
          auto at = [&](int64_t i, int64_t p) -> float {
            if (i >= mc || p >= kc) return 0.0f;
            return trans ? a[p * lda + i] : a[i * lda + p];
          };
          for (int64_t i = 0; i < panels * mr; ++i) {
            for (int64_t q = 0; q < kd; ++q) {
              const int64_t in_panel = e.layout.a_row_major ? (i % mr) * kd + q : q * mr + i % mr;
              const uint32_t got = PanelWord(dst.get(), (i / mr) * mr * kd + in_panel);
              ASSERT_EQ(got, ExpectedSlot(e, at, i, q, kc))
                  << "i=" << i << " q=" << q << " mr=" << mr << " mc=" << mc << " kc=" << kc
                  << " trans=" << trans;
            }
          }
        }
      }
    }
  }
}

// B~ panels: NR columns, k-major, columns past the matrix zero, depth padded with zeros to
// PanelDepth(kc), both transposes.
TEST_P(EngineContract, PackBLayoutBothTransposes) {
  const kernels::GemmEngine& e = E();
  const int64_t nr = e.nr;
  for (int64_t nc : {int64_t{1}, nr - 1, nr, nr + 1, 2 * nr + 5}) {
    if (nc < 1) continue;
    for (int64_t kc : {1, 2, 3, 4, 9, 17, 33, 40}) {
      const int64_t kd = kernels::PanelDepth(e, kc);
      for (bool trans : {false, true}) {
        const int64_t ldb = (trans ? kc : nc) + 3;
        const auto b = test::RandomVector(static_cast<size_t>((trans ? nc : kc) * ldb), 6);
        const int64_t panels = (nc + nr - 1) / nr;
        auto dst = hwy::AllocateAligned<float>(static_cast<size_t>(panels * nr * kd));
        std::fill(dst.get(), dst.get() + panels * nr * kd, std::nanf(""));
        e.pack_b(trans, kc, nc, b.data(), ldb, dst.get());
        auto at = [&](int64_t j, int64_t p) -> float {
          if (j >= nc || p >= kc) return 0.0f;
          return trans ? b[j * ldb + p] : b[p * ldb + j];
        };
        for (int64_t j = 0; j < panels * nr; ++j) {
          for (int64_t q = 0; q < kd; ++q) {
            const uint32_t got = PanelWord(dst.get(), (j / nr) * nr * kd + q * nr + j % nr);
            ASSERT_EQ(got, ExpectedSlot(e, at, j, q, kc))
                << "j=" << j << " q=" << q << " nc=" << nc << " kc=" << kc << " trans=" << trans;
          }
        }
      }
    }
  }
}

// The contract for the blocked path's kernel and every row kernel (r rows of the full width), on
// panels packed by the engine, against the double product of the operands as the engine sees
// them (rounded to bf16 for a bf16 engine): within the fp32 summation bound (kc + 3) 2^-24
// sum |a b|, doubled; then the epilogue of the contract, and nothing written outside the tile.
TEST_P(EngineContract, MicroKernelContract) {
  const kernels::GemmEngine& e = E();
  const int64_t nr = e.nr;
  auto operand = [&](float v) {
    return e.bf16_operands() ? static_cast<double>(ref::Bf16(v)) : static_cast<double>(v);
  };
  for (const int64_t mr : RowCounts(e)) {
    const kernels::UkernelFn ukernel = e.ukernel_rows[mr - 1];
    for (int64_t kc : {1, 2, 7, 33, 64, 301}) {
      const int64_t kd = kernels::PanelDepth(e, kc);
      const auto a = test::RandomVector(static_cast<size_t>(mr * kc), 1);  // mr x kc
      const auto b = test::RandomVector(static_cast<size_t>(kc * nr), 2);  // kc x nr
      auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kd));
      auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kd));
      e.pack_a_rows[mr - 1](false, mr, kc, a.data(), kc, ap.get());
      e.pack_b(false, kc, nr, b.data(), nr, bp.get());
      const auto bias = test::RandomVector(static_cast<size_t>(nr), 3);
      const int64_t ldc = nr + 5;
      for (float alpha : {1.0f, -0.5f}) {
        for (float beta : {0.0f, 1.0f, 0.25f}) {
          for (bool with_bias : {false, true}) {
            for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
              auto c = test::RandomVector(static_cast<size_t>(mr * ldc), 4);
              if (beta == 0.0f) {  // C is not read: its NaNs must not show
                for (int64_t i = 0; i < mr; ++i) {
                  for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = std::nanf("");
                }
              }
              const auto c_in = c;
              const kernels::UkernelParams params{alpha, beta, with_bias ? bias.data() : nullptr,
                                                  kernels::ActParams{act, 0.0f, nullptr}};
              InTiles([&] { ukernel(kc, ap.get(), bp.get(), c.data(), ldc, params); });
              if (mr == e.mr) {  // the blocked path's kernel: bitwise the same
                auto c2 = c_in;
                InTiles([&] { e.ukernel(kc, ap.get(), bp.get(), c2.data(), ldc, params); });
                ASSERT_EQ(std::memcmp(c.data(), c2.data(), c.size() * sizeof(float)), 0);
              }
              for (int64_t i = 0; i < mr; ++i) {
                for (int64_t j = 0; j < ldc; ++j) {
                  if (j >= nr) {  // outside the tile: untouched
                    ASSERT_EQ(Bits(c[i * ldc + j]), Bits(c_in[i * ldc + j]));
                    continue;
                  }
                  double sum = 0.0, mag = 0.0;
                  for (int64_t p = 0; p < kc; ++p) {
                    const double prod = operand(a[i * kc + p]) * operand(b[p * nr + j]);
                    sum += prod;
                    mag += std::fabs(prod);
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
                  const double tol = 2.0 * (kc + 3) * std::ldexp(1.0, -24) * mag + 1e-30;
                  ASSERT_NEAR(c[i * ldc + j], want, tol)
                      << "mr=" << mr << " i=" << i << " j=" << j << " kc=" << kc
                      << " alpha=" << alpha << " beta=" << beta;
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
// (bitwise), and write nothing past them; an engine without one for some width (AMX) has the
// driver compute that edge into a scratch tile.
TEST_P(EngineContract, NarrowKernelsMatchFullKernelBitwise) {
  const kernels::GemmEngine& e = E();
  const int64_t mr = e.mr, nr = e.nr, lanes = e.lanes, kc = 37;
  ASSERT_EQ(e.ukernel_cols[nr / lanes - 1], e.ukernel);
  const int64_t kd = kernels::PanelDepth(e, kc);
  const auto a = test::RandomVector(static_cast<size_t>(mr * kc), 8);
  const auto b = test::RandomVector(static_cast<size_t>(kc * nr), 9);
  auto ap = hwy::AllocateAligned<float>(static_cast<size_t>(mr * kd));
  auto bp = hwy::AllocateAligned<float>(static_cast<size_t>(nr * kd));
  e.pack_a(false, mr, kc, a.data(), kc, ap.get());
  e.pack_b(false, kc, nr, b.data(), nr, bp.get());
  const auto bias = test::RandomVector(static_cast<size_t>(nr), 10);
  const auto c0 = test::RandomVector(static_cast<size_t>(mr * nr), 11);
  for (auto act : {kernels::Act::kIdentity, kernels::Act::kRelu}) {
    const kernels::UkernelParams params{-0.5f, 0.25f, bias.data(),
                                        kernels::ActParams{act, 0.0f, nullptr}};
    auto full = c0;
    InTiles([&] { e.ukernel(kc, ap.get(), bp.get(), full.data(), nr, params); });
    for (int64_t v = 1; v <= nr / lanes; ++v) {
      if (e.ukernel_cols[v - 1] == nullptr) continue;
      auto narrow = c0;
      InTiles([&] { e.ukernel_cols[v - 1](kc, ap.get(), bp.get(), narrow.data(), nr, params); });
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

// The emulated bf16 engine is the fp32 engine's micro-kernels on rounded panels (a portable twin,
// the fused fp32 engine's).
TEST_P(EmulatedBf16Engine, RunsTheFp32MicroKernels) {
  const bool twin = kernels::FindEngine(E().target, E().kind) != &E();
  const kernels::GemmEngine* fp32 =
      kernels::FindEngine(E().target, kernels::EngineKind::kFp32, /*portable=*/twin);
  ASSERT_NE(fp32, nullptr);
  EXPECT_EQ(E().ukernel, fp32->ukernel);
  EXPECT_EQ(E().mr, fp32->mr);
  EXPECT_EQ(E().nr, fp32->nr);
  for (int r = 0; r < kernels::kMaxTileRows; ++r)
    EXPECT_EQ(E().ukernel_rows[r], fp32->ukernel_rows[r]);
}

// The VDPBF16PS micro-kernels (the full tile, every row kernel, every right-edge width) against a
// scalar model of the instruction, bit for bit: per element and pair, acc + a1 b1 then + a0 b0,
// each sum rounded to binary32 (the products of bf16 values are exact), then the epilogue of the
// contract in its order (alpha * acc, fma with beta * C, + bias, ReLU).
TEST_P(Vdpbf16psEngine, MatchesTheInstructionModelBitwise) {
  {
    const kernels::GemmEngine& K = E();
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
    EXPECT_EQ(K.peak_macs_per_iter % (2 * K.lanes), 0);  // two multiply-adds per lane
  }
}

auto NameOf(const ::testing::TestParamInfo<const kernels::GemmEngine*>& info) {
  return EngineName(*info.param);
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineContract, ::testing::ValuesIn(RunnableEngines()), NameOf);
INSTANTIATE_TEST_SUITE_P(
    Engines, Vdpbf16psEngine,
    ::testing::ValuesIn(RunnableEngines(static_cast<int>(kernels::EngineKind::kBf16Vdpbf16ps))),
    NameOf);
INSTANTIATE_TEST_SUITE_P(
    Engines, EmulatedBf16Engine,
    ::testing::ValuesIn(RunnableEngines(static_cast<int>(kernels::EngineKind::kBf16Emulated))),
    NameOf);

}  // namespace
}  // namespace propel
