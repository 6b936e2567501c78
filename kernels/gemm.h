// GEMM kernels per SIMD target: the register micro-kernel and the packing routines, with the
// tile shape (MR x NR) the driver in src/gemm/gemm_driver.cc blocks around.
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
// bf16 tables (GemmKernels::bf16_operands, docs/precision.md), three kinds:
// - on every target, the fp32 micro-kernel, whose packing rounds every operand to bf16
//   (kernels/bf16-inl.h) as it copies or transposes it and orders each pair of depths as
//   VDPBF16PS accumulates them (2q + 1 before 2q); the skinny path rounds as it loads. Products
//   of rounded operands are exact in binary32, so each element is its k bf16 products
//   accumulated in fp32;
// - on AVX3 with AVX512_BF16 (kernels/gemm_bf16_dot-inl.h, GemmKernels::bf16_pairs), a
//   micro-kernel on VDPBF16PS over panels of bf16 pairs, half the bytes of the fp32 panels:
//     A~: for q in [0, ceil(kc/2)): MR 32-bit words, word r = bf16 A(i0+r, 2q) in its lower half
//         and bf16 A(i0+r, 2q+1) in its upper half;
//     B~: for q: NR words, word j = bf16 B(2q, j0+j) | bf16 B(2q+1, j0+j) << 16;
//   an odd kc's last pair has a zero upper half. A panel is PanelDepth(kc) = ceil(kc/2) words
//   deep where an fp32 panel is kc floats deep: the driver's offsets count in those units;
// - on AVX3 with AMX-BF16 (kernels/gemm_bf16_amx-inl.h), a 32 x 32 micro-kernel on TDPBF16PS
//   tiles: B~ as above, A~ row-major (GemmKernels::a_rows: row r's PanelDepth(kc) words
//   contiguous, the layout of an A tile), both padded with zero pairs to whole tile steps of 16
//   pairs (GemmKernels::pair_block); the driver cuts k into blocks of multiples of 32
//   (KcStep) and calls begin / end around each thread's micro-kernel calls (the
//   tile configuration).
//
// Kernels do no allocation, no threading, no I/O and throw nothing: arguments are validated by
// the caller (src/runtime/check.h); HWY_DASSERT guards invariants in debug builds.
#pragma once

#include <cstdint>

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

// The skinny path: C = alpha * A * B^T + beta * C over m x n, A (m x k) and B (n x k) read in
// place with row strides lda, ldb; beta == 0: C is not read. Bias and activation are applied
// afterwards by ScaleFn with beta = 1 (the same per-element steps as the micro-kernel epilogue).
using DotNTFn = void (*)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                         const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Runs `iters` rounds of independent chains of the table's multiply-add instruction (the fp32
// FMA; VDPBF16PS in a bf16_pairs table); returns a value derived from them so the work cannot be
// elided. Flops done: iters * 2 * GemmKernels::fma_peak_fmas_per_iter.
using FmaPeakFn = float (*)(int64_t iters);

// dst[i] = src[i] rounded to bf16 (kernels/bf16-inl.h) for i < n; dst may be src.
using RoundBf16Fn = void (*)(int64_t n, const float* src, float* dst);

// Most vectors in one micro-tile row (nr / lanes) on any target.
constexpr int kMaxTileVectors = 4;
// Most micro-tile rows (mr) on any target.
constexpr int kMaxTileRows = 32;

struct GemmKernels {
  int64_t target;     // HWY_* bit of the target these kernels were compiled for
  int mr;             // micro-tile rows
  int nr;             // micro-tile columns (a multiple of the vector length)
  int lanes;          // floats per vector
  UkernelFn ukernel;  // the full MR x NR tile
  // ukernel_cols[v - 1]: the MR x (v * lanes) tile over the first v vectors of a B micro-panel,
  // for the right edge of C; ukernel_cols[nr / lanes - 1] == ukernel.
  UkernelFn ukernel_cols[kMaxTileVectors];
  PackAFn pack_a;
  // ukernel_rows[r - 1]: the r x NR tile over A~ micro-panels of r rows, packed by
  // pack_a_rows[r - 1]; set for the r that keep the FMA ports busy (r * nr / lanes >= 8
  // accumulators) up to mr, nullptr otherwise. ukernel_rows[mr - 1] computes what ukernel does.
  // The driver's transposed path cuts the narrow side of an output into such panels.
  UkernelFn ukernel_rows[kMaxTileRows];
  PackAFn pack_a_rows[kMaxTileRows];
  PackBFn pack_b;
  ScaleFn scale;
  DotNTFn dot_nt;
  int dot_rows;  // rows of A per dot tile (the skinny path's split granularity)
  int dot_cols;  // rows of B per dot tile
  FmaPeakFn fma_peak;
  int64_t fma_peak_fmas_per_iter;  // multiply-adds per fma_peak iteration
  RoundBf16Fn round_bf16;
  // Operands rounded to bf16 (this is a bf16 table); else fp32.
  bool bf16_operands;
  // Panels of bf16 pairs (the layouts above); else panels of floats.
  bool bf16_pairs;
  // Pairs per k step of the micro-kernel: panels are padded with zero pairs to a multiple (1; the
  // AMX kernel's 16).
  int pair_block;
  // A~ micro-panels row-major (the AMX layout); else k-major.
  bool a_rows;
  // Called on the calling thread before its first and after its last micro-kernel call of a
  // block of C (the AMX kernel's tile configuration and release), or nullptr. The kernels of such
  // a table run only between the two.
  void (*begin)();
  void (*end)();
  // The same target's table in the other precision: the fp32 one from a bf16 one; from the fp32
  // one, the bf16 table that runs on the fp32 FMA (every CPU of the target has it).
  const GemmKernels* other_precision;
};

// The depth of a packed panel in 32-bit slots (the unit of the panels' float pointers): kc for
// panels of floats, ceil(kc / 2) for panels of bf16 pairs, rounded up to whole pair blocks.
// k blocks other than a GEMM's last are multiples of this many depths: 8, or whole pair blocks
// (the AMX kernel's 32-depth tile steps), so that the panels of the blocks before depth pc hold
// PanelDepth(pc).
inline int64_t KcStep(const GemmKernels& k) {
  return k.bf16_pairs && 2 * k.pair_block > 8 ? 2 * k.pair_block : 8;
}

inline int64_t PanelDepth(const GemmKernels& k, int64_t kc) {
  if (!k.bf16_pairs) return kc;
  return ((kc + 1) / 2 + k.pair_block - 1) / k.pair_block * k.pair_block;
}

// Kernels compiled for `target` (a single HWY_* bit), or nullptr if this build has none.
const GemmKernels* GemmKernelsFor(int64_t target);

// A registered VDPBF16PS table (kernels/registry.h), by target.
struct Bf16DotTable {
  int64_t target;
  const GemmKernels* kernels;
};

// A registered AMX table, by target.
struct Bf16AmxTable {
  int64_t target;
  const GemmKernels* kernels;
};

// The bf16 table of `target` whose micro-kernel runs on AMX-BF16 tiles (TDPBF16PS), or nullptr
// where this build has none. Its kernels run only where the CPU has AMX-BF16 and AVX512_BF16 and
// the process was granted the tile data state: the target layer checks and asks
// (src/runtime/target.cc). Its other_precision is the target's fp32 table.
const GemmKernels* Bf16AmxKernelsFor(int64_t target);

// The bf16 table of `target` whose micro-kernel runs on VDPBF16PS (AVX512_BF16), or nullptr where
// this build has none for that target. Its kernels run only on a CPU with AVX512_BF16: the target
// layer checks (src/runtime/target.cc). Its other_precision is the target's fp32 table.
const GemmKernels* Bf16DotKernelsFor(int64_t target);

// Bitmask of HWY_* targets whose GEMM kernels registered (kernels/registry.h).
int64_t GemmCompiledTargets();
// HWY_TARGETS of kernels/gemm.cc: the targets hwy/foreach_target.h compiled it for. Equal to
// GemmCompiledTargets() unless registration failed (tests/kernels/gemm_kernels_test.cc).
int64_t GemmBuiltTargets();

}  // namespace propel::kernels
