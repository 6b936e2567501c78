// GEMM engines per SIMD target: each one description (GemmEngine) of its micro-kernel, packing
// routines, panel layout, tile shape (MR x NR) and block bounds, which the driver in
// src/gemm/gemm_driver.cc blocks around.
//
// The micro-kernel contract (BLIS vocabulary; one call computes one MR x NR tile of C):
//
//            kc                         NR
//        +--------+                 +-------+
//     MR | A~     |   x          kc | B~    |   ->   C tile (MR x NR, row stride ldc)
//        +--------+                 +-------+
//   A~ (packed A micro-panel): for p in [0, kc): MR consecutive floats A(i0..i0+MR, p).
//   B~ (packed B micro-panel): for p in [0, kc): NR consecutive floats B(p, j0..j0+NR).
//   Panels are 64-byte aligned; rows/columns past the matrix edge are packed as zeros.
//
//   acc = A~ * B~ (FMA over p in order 0..kc-1, one accumulator per element)
//   v   = alpha * acc
//   v   = v + beta * C        only if beta != 0: if beta == 0, C is never read
//   v   = v + bias[j]         only if bias != nullptr (the last k block of a GEMM)
//   v   = act(v)              the last k block only: ReLU in registers, every other activation
//                             by params.act.fn over the stored tile rows while they are in L1
//   C   = v                   all MR rows and the kernel's full width are stored (NR, or v
//                             vectors for ukernel_cols[v - 1]); ragged edge tiles are computed
//                             into a scratch tile by the driver and copied out
//
// Engines (GemmEngine below): per target, the fp32 engine and the emulated bf16 engine on every
// target, and on AVX3 the VDPBF16PS and AMX engines where the build has them (docs/gemm.md,
// Engines; docs/precision.md). What differs between them is described by numbers (the tile, the
// panel layout, the block bounds) and by the kernels they name:
// - fp32: the panels above, fp32 FMA.
// - bf16, emulated: the fp32 engine's micro-kernels on panels whose packing rounds every operand
//   to bf16 (kernels/bf16-inl.h) as it copies or transposes it and orders each pair of depths as
//   VDPBF16PS accumulates them (2q + 1 before 2q); the thin path rounds as it loads. Products of
//   rounded operands are exact in binary32, so each element is its k bf16 products accumulated
//   in fp32.
// - bf16 on VDPBF16PS (AVX512_BF16, kernels/gemm_bf16_dot-inl.h): panels of bf16 pairs, half the
//   bytes of the fp32 panels (PanelLayout::k_per_slot = 2):
//     A~: for q in [0, ceil(kc/2)): MR 32-bit words, word r = bf16 A(i0+r, 2q) in its lower half
//         and bf16 A(i0+r, 2q+1) in its upper half;
//     B~: for q: NR words, word j = bf16 B(2q, j0+j) | bf16 B(2q+1, j0+j) << 16;
//   an odd kc's last pair has a zero upper half. A panel is PanelDepth(kc) = ceil(kc/2) words
//   deep where an fp32 panel is kc floats deep: the driver's offsets count in those units.
// - bf16 on AMX-BF16 (kernels/gemm_bf16_amx-inl.h): a 32 x 32 micro-kernel on TDPBF16PS tiles,
//   B~ as above, A~ row-major (PanelLayout::a_row_major: row r's PanelDepth(kc) words
//   contiguous, the layout of an A tile), both padded with zero pairs to whole tile steps of 16
//   pairs (PanelLayout::k_granule); the driver cuts k into blocks of multiples of 32 (KcStep)
//   and calls tile_begin / tile_end around each thread's micro-kernel calls (the tile
//   configuration). TDPBF16PS sums a tile step's products in its own order, not VDPBF16PS's
//   (docs/precision.md measures it).
//
// Kernels do no allocation, no threading, no I/O and throw nothing: arguments are validated by
// the caller (src/runtime/check.h); HWY_DASSERT guards invariants in debug builds.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/elementwise.h"

namespace propel::kernels {

// The epilogue activation: ReLU and identity are applied in registers; the others through fn,
// the element-wise kernel of the same target (ElementwiseKernels::act_forward).
struct ActParams {
  Act act = Act::kIdentity;
  float alpha = 0.0f;
  ActForwardFn fn = nullptr;  // required unless act is kIdentity or kRelu
};

struct UkernelParams {
  float alpha;
  float beta;
  const float* bias;  // NR values for this tile, or nullptr
  ActParams act;
};

// C tile (MR x NR at c, row stride ldc) per the contract above.
using UkernelFn = void (*)(int64_t kc, const float* a_panel, const float* b_panel, float* c,
                           int64_t ldc, const UkernelParams& params);

// Packs the mc x kc block of op(A) whose top-left element is at `a` into ceil(mc/MR) A~
// micro-panels, each MR * kc floats, consecutive in dst. trans: op(A) = A^T, i.e. element
// (i, p) of op(A) is a[p * lda + i]; otherwise a[i * lda + p].
using PackAFn = void (*)(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda,
                         float* dst);

// Packs the kc x nc block of op(B) at `b` into ceil(nc/NR) B~ micro-panels, each kc * NR floats.
// trans: element (p, j) of op(B) is b[j * ldb + p]; otherwise b[p * ldb + j].
using PackBFn = void (*)(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb,
                         float* dst);

// C = beta * C (or 0 when beta == 0), then + bias per column and the activation, over an
// m x n block: the k == 0 / alpha == 0 case, which reads neither A nor B.
using ScaleFn = void (*)(int64_t m, int64_t n, float beta, const float* bias, const ActParams& act,
                         float* c, int64_t ldc);

// The thin path (outputs a few rows or columns wide): C = alpha * A * B^T + beta * C over m x n,
// A (m x k) and B (n x k) read in place with row strides lda, ldb, each element a dot product;
// beta == 0: C is not read. Bias and activation are applied afterwards by ScaleFn with beta = 1
// (the same per-element steps as the micro-kernel epilogue).
using ThinNTFn = void (*)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Runs `iters` rounds of independent chains of the engine's multiply-add instruction (the fp32
// FMA, VDPBF16PS, TDPBF16PS); returns a value derived from them so the work cannot be elided.
// Flops done: iters * 2 * GemmEngine::peak_macs_per_iter.
using PeakFn = float (*)(int64_t iters);

// dst[i] = src[i] rounded to bf16 (kernels/bf16-inl.h) for i < n; dst may be src.
using RoundBf16Fn = void (*)(int64_t n, const float* src, float* dst);

// Most vectors in one micro-tile row (nr / lanes) on any target.
constexpr int kMaxTileVectors = 4;
// Most micro-tile rows (mr) on any target.
constexpr int kMaxTileRows = 32;

// What an engine's micro-kernel multiplies with, and on which operands.
enum class EngineKind : int {
  kFp32 = 0,           // the fp32 FMA on fp32 panels (every target)
  kBf16Emulated = 1,   // the fp32 FMA on operands rounded to bf16 (every target)
  kBf16Vdpbf16ps = 2,  // VDPBF16PS on panels of bf16 pairs (AVX512_BF16)
  kBf16Amx = 3,        // TDPBF16PS on AMX tiles of bf16 pairs (AMX-BF16)
};
constexpr int kEngineKinds = 4;
// "fp32", "bf16 emulated", "bf16 VDPBF16PS", "bf16 AMX".
const char* EngineKindName(EngineKind kind);

// How the packed panels hold the operands. The unit of the panels' float pointers is a 32-bit
// slot.
struct PanelLayout {
  int element_bytes = 4;     // bytes per packed operand element: 4 (fp32) or 2 (bf16)
  int k_per_slot = 1;        // depths per slot: 1, or 2 for bf16 pairs (XNNPACK's kr, oneDNN's
                             // rd_step)
  int k_granule = 1;         // slots per micro-kernel k step: panels are padded with zeros to a
                             // multiple (the AMX tile step: 16 pairs)
  bool a_row_major = false;  // A~ micro-panels row-major (the AMX A tile), else k-major
};

// Upper bounds of the cache blocks (src/gemm/blocking.cc clamps them to the caches).
struct BlockBounds {
  int64_t kc;
  int64_t mc;
  int64_t nc;
};

// One GEMM engine of one target: numbers, then the kernels it names. Built by kernels/gemm.cc
// from the target's reference engine (the fp32 kernels) with what the engine changes.
struct GemmEngine {
  EngineKind kind = EngineKind::kFp32;
  int64_t target = 0;  // HWY_* bit of the target these kernels were compiled for
  int mr = 0;          // micro-tile rows
  int nr = 0;          // micro-tile columns (a multiple of the vector length)
  int lanes = 0;       // floats per vector
  // Every multiply-add of the micro-kernels rounds once (FMA, or SCALAR's exact emulation), so
  // the engine computes bitwise what the other targets' engines of its kind compute: what portable
  // mode runs (docs/reproducibility.md). False on SSE4 and SSSE3 (no FMA) and for SCALAR's default
  // engines (a multiplication and an addition, which vectorize).
  bool fused = true;
  PanelLayout layout;
  BlockBounds bounds{};

  UkernelFn ukernel = nullptr;  // the full MR x NR tile
  // ukernel_cols[v - 1]: the MR x (v * lanes) tile over the first v vectors of a B micro-panel,
  // for the right edge of C; ukernel_cols[nr / lanes - 1] == ukernel; nullptr where the engine
  // has no such width (the driver then computes the edge into a scratch tile).
  UkernelFn ukernel_cols[kMaxTileVectors] = {};
  PackAFn pack_a = nullptr;
  // ukernel_rows[r - 1]: the r x NR tile over A~ micro-panels of r rows, packed by
  // pack_a_rows[r - 1]; set for the r that keep the multiply-add units busy, nullptr otherwise.
  // ukernel_rows[mr - 1] computes what ukernel does. The driver's transposed path cuts the
  // narrow side of an output into such panels.
  UkernelFn ukernel_rows[kMaxTileRows] = {};
  PackAFn pack_a_rows[kMaxTileRows] = {};
  PackBFn pack_b = nullptr;
  ScaleFn scale = nullptr;
  ThinNTFn thin_nt = nullptr;
  int thin_rows = 0;  // rows of A per thin tile (the thin path's split granularity)
  int thin_cols = 0;  // rows of B per thin tile
  PeakFn peak = nullptr;
  int64_t peak_macs_per_iter = 0;  // multiply-adds per peak iteration
  RoundBf16Fn round_bf16 = nullptr;
  // Called on the calling thread before its first and after its last micro-kernel call of a
  // block of C (the AMX tile configuration and release), or nullptr. The kernels of such an
  // engine run only between the two.
  void (*tile_begin)() = nullptr;
  void (*tile_end)() = nullptr;

  // Operands rounded to bf16 (a bf16 engine); else fp32.
  constexpr bool bf16_operands() const { return kind != EngineKind::kFp32; }
  // Panels of bf16 pairs; else of floats.
  constexpr bool pair_panels() const { return layout.k_per_slot == 2; }
};

// The depth of a packed panel in 32-bit slots: ceil(kc / k_per_slot), rounded up to whole k
// granules. k blocks other than a GEMM's last are multiples of KcStep depths: 8, or a whole k
// granule's depths where that is more (the AMX kernel's 32-depth tile steps), so that the panels
// of the blocks before depth pc hold PanelDepth(pc).
constexpr int64_t KcStep(const GemmEngine& e) {
  const int64_t granule = int64_t{e.layout.k_per_slot} * e.layout.k_granule;
  return granule > 8 ? granule : 8;
}

constexpr int64_t PanelDepth(const GemmEngine& e, int64_t kc) {
  const int64_t slots = (kc + e.layout.k_per_slot - 1) / e.layout.k_per_slot;
  return (slots + e.layout.k_granule - 1) / e.layout.k_granule * e.layout.k_granule;
}

// The engines of one target, by EngineKind (nullptr: not in this build). Registered once per
// compiled target (kernels/registry.h).
struct GemmEngines {
  int64_t target;
  const GemmEngine* engines[kEngineKinds];
  // Portable mode's engine of each kind (fused ones): the same as engines[] on the targets with
  // FMA, SCALAR's fused twins of its fp32 and emulated bf16 engines, none for AMX (TDPBF16PS
  // sums in its own order) and none on SSE4 and SSSE3 (portable mode runs SCALAR's there).
  const GemmEngine* portable[kEngineKinds];
};

// The engine of `kind` compiled for `target` (a single HWY_* bit), or nullptr where this build
// has none; portable: portable mode's (GemmEngines::portable). The VDPBF16PS engine runs only
// on a CPU with AVX512_BF16, the AMX engine only where the CPU has AMX-BF16 and AVX512_BF16 and
// the process was granted the tile data state: the target layer checks and asks
// (src/runtime/target.cc).
const GemmEngine* FindEngine(int64_t target, EngineKind kind, bool portable = false);

// Every engine this build has, target by target (best target first), in EngineKind order, each
// target's portable-only engines after its others: what the contract tests and the benchmarks
// enumerate.
std::vector<const GemmEngine*> CompiledEngines();

// Bitmask of HWY_* targets whose GEMM engines registered (kernels/registry.h).
int64_t GemmCompiledTargets();
// HWY_TARGETS of kernels/gemm.cc: the targets hwy/foreach_target.h compiled it for. Equal to
// GemmCompiledTargets() unless registration failed (tests/kernels/gemm_kernels_test.cc).
int64_t GemmBuiltTargets();

}  // namespace propel::kernels
