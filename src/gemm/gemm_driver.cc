// GEMM driver. Loop nest, BLIS names (per thread, over its block [i0, i1) x [j0, j1) of C):
//
//   jc: columns of C in steps of NC           B block  kc x nc   -> L2
//    pc: k in steps of KC                     pack B block
//     ic: rows of C in steps of MC            A block  mc x kc   -> L3, pack A block
//      ir: rows in steps of MR                A micro-panel MR x kc -> L1, reused by every jr
//       jr: columns in steps of NR            micro-kernel on one MR x NR tile
//
// BLIS's names, not BLIS's order: BLIS runs jr outside ir, keeping a kc x NR B micro-panel in L1,
// the A block in L2 and the B block in L3. Here ir is outside jr, so A's micro-panel (the smaller
// one where MR < NR, as on every fp32 and VDPBF16PS tile; as large as B's on the 32 x 32 AMX tile)
// stays in L1 while B's stream from the B block, which is sized to L2 and the A block to L3
// (src/gemm/blocking.cc; docs/gemm.md, Blocking).
//
// Invariants: every C element is produced by the same sequence of operations whatever the thread
// grid: k is never split between threads, KC blocks are visited in order, thread blocks start on
// MR/NR multiples so edge tiles are the matrix's own edges. The first KC block applies the
// caller's beta and later ones beta = 1; only the last applies bias and activation.
#include "src/gemm/gemm_driver.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "hwy/base.h"
#include "src/runtime/executor.h"
#include "src/runtime/partition.h"

namespace propel::detail {
namespace {

constexpr size_t kAlign = 64;
// Below this many multiply-adds per thread a GEMM is not worth splitting.
constexpr int64_t kMinMacsPerThread = int64_t{1} << 20;
// Largest tile any target uses; sizes the edge-tile scratch buffers.
constexpr int64_t kMaxTile = 64 * 64;

std::atomic<int64_t> g_gemm_b_packs{0};
std::atomic<int64_t> g_whole_b_packs{0};
std::atomic<const float*> g_counted_begin{nullptr};
std::atomic<const float*> g_counted_end{nullptr};

void CountBPack(std::atomic<int64_t>& counter, const float* b) {
  const float* begin = g_counted_begin.load(std::memory_order_relaxed);
  const float* end = g_counted_end.load(std::memory_order_relaxed);
  if (begin == end || (b >= begin && b < end)) counter.fetch_add(1, std::memory_order_relaxed);
}

// Packing buffers of the calling thread, for callers that bring none: reused by every call on
// that thread, so a GEMM allocates only when it needs more than any earlier call did.
PackBuffers& LocalBuffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// Floats of packed A and B that GemmBlock needs for the block [i0, i1) x [j0, j1).
struct PackSizes {
  int64_t a;
  int64_t b;
};

PackSizes BlockPackSizes(const kernels::GemmEngine& kern, const Blocking& table,
                         const GemmProblem& p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t mc = BalancedBlock(i1 - i0, table.mc, kern.mr);
  const int64_t kc = std::min(BalancedBlock(p.k, table.kc, kernels::KcStep(kern)), p.k);
  const int64_t nc = BalancedBlock(j1 - j0, table.nc, kern.nr);
  const int64_t depth = kernels::PanelDepth(kern, kc);
  return {RoundUp(std::min(mc, i1 - i0), kern.mr) * depth,
          RoundUp(std::min(nc, j1 - j0), kern.nr) * depth};
}

}  // namespace

float* PackBuffer::Get(int64_t floats) {
  Reserve(floats);
  return data_;
}

void PackBuffer::Reserve(int64_t floats) {
  if (floats <= capacity_) return;
  std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
  const size_t bytes = RoundUp(floats * static_cast<int64_t>(sizeof(float)), kAlign);
  data_ = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
  capacity_ = floats;
}

namespace {

// The act_grad epilogue over rows [i0, i1) x columns [j0, j1) of a finished C.
void ApplyActGrad(const GemmProblem& p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const ActGradEpilogue& g = *p.act_grad;
  const int64_t n = j1 - j0;
  for (int64_t i = i0; i < i1; ++i) {
    float* c = p.c + i * p.ldc + j0;
    const float* s = g.s + i * g.lds + j0;
    if (g.from_output) {
      g.fn_out(g.act, g.alpha, n, s, c, c);
    } else {
      g.fn(g.act, g.alpha, n, s, c, c);
    }
  }
}

// One tile at the matrix edge (m_tile < MR or n_tile < NR). Right-edge tiles whose width is a
// whole number of vectors run in place on the narrower kernel; the others are computed by it into
// a full scratch tile and copied out. Either way the per-element arithmetic is the interior
// tiles'.
void EdgeTile(const kernels::GemmEngine& kern, int64_t kc, const float* ap, const float* bp,
              float* c, int64_t ldc, int64_t m_tile, int64_t n_tile,
              const kernels::UkernelParams& params) {
  int64_t vectors = CeilDiv(n_tile, kern.lanes);
  kernels::UkernelFn ukernel = kern.ukernel_cols[vectors - 1];
  if (ukernel == nullptr) {  // row kernels come in the full width only
    vectors = kern.nr / kern.lanes;
    ukernel = kern.ukernel;
  }
  if (m_tile == kern.mr && n_tile == vectors * kern.lanes) {
    ukernel(kc, ap, bp, c, ldc, params);
    return;
  }
  alignas(kAlign) float tile[kMaxTile];
  alignas(kAlign) float bias[64];
  const int64_t mr = kern.mr, nr = kern.nr;
  kernels::UkernelParams p = params;
  if (p.beta != 0.0f) {
    for (int64_t i = 0; i < mr; ++i) {
      float* row = tile + i * nr;
      if (i < m_tile) {
        std::memcpy(row, c + i * ldc, static_cast<size_t>(n_tile) * sizeof(float));
        std::fill(row + n_tile, row + nr, 0.0f);
      } else {
        std::fill(row, row + nr, 0.0f);
      }
    }
  }
  if (p.bias != nullptr) {
    std::memcpy(bias, p.bias, static_cast<size_t>(n_tile) * sizeof(float));
    std::fill(bias + n_tile, bias + nr, 0.0f);
    p.bias = bias;
  }
  ukernel(kc, ap, bp, tile, nr, p);
  for (int64_t i = 0; i < m_tile; ++i) {
    std::memcpy(c + i * ldc, tile + i * nr, static_cast<size_t>(n_tile) * sizeof(float));
  }
}

// The serial five-loop GEMM over rows [i0, i1) and columns [j0, j1) of C. padded_c: C has rows
// and columns up to whole MR x NR tiles past i1 and j1 (a scratch C), so every tile runs in place
// on the full micro-kernel; the padding gets the products of the packed zeros.
void GemmBlock(const kernels::GemmEngine& kern, const Blocking& table, const GemmProblem& p,
               int64_t i0, int64_t i1, int64_t j0, int64_t j1, PackBuffers& buf,
               bool padded_c = false) {
  const int64_t mr = kern.mr, nr = kern.nr;
  // k is blocked the same way in every thread's block (determinism); m and n per block.
  const Blocking blk = {BalancedBlock(i1 - i0, table.mc, mr),
                        BalancedBlock(p.k, table.kc, kernels::KcStep(kern)),
                        BalancedBlock(j1 - j0, table.nc, nr)};
  HWY_DASSERT(i0 % mr == 0 && j0 % nr == 0);
  HWY_DASSERT(blk.mc % mr == 0 && blk.nc % nr == 0);
  const PackSizes sizes = BlockPackSizes(kern, table, p, i0, i1, j0, j1);
  float* bpack = p.b_packed != nullptr ? nullptr : buf.b.Get(sizes.b);
  float* apack = buf.a.Get(sizes.a);
  // Tile state (AMX) from here to the end of the block; the kernels throw nothing.
  if (kern.tile_begin != nullptr) kern.tile_begin();

  for (int64_t jc = j0; jc < j1; jc += blk.nc) {
    const int64_t nc = std::min(blk.nc, j1 - jc);
    for (int64_t pc = 0; pc < p.k; pc += blk.kc) {
      const int64_t kc = std::min(blk.kc, p.k - pc);
      const bool first = pc == 0;
      const bool last = pc + kc == p.k;
      // Panel offsets in the panels' own depth units (bf16 pairs: half of kc, in whole pair
      // blocks; every k block but the last is a multiple of KcStep depths, so the blocks before
      // pc hold PanelDepth(pc)).
      const int64_t depth = kernels::PanelDepth(kern, kc);
      const float* bp_block;
      if (p.b_packed != nullptr) {
        bp_block = p.b_packed + kernels::PanelDepth(kern, pc) * RoundUp(p.n, nr) + jc * depth;
      } else {
        const float* bsrc = p.trans_b ? p.b + jc * p.ldb + pc : p.b + pc * p.ldb + jc;
        kern.pack_b(p.trans_b, kc, nc, bsrc, p.ldb, bpack);
        CountBPack(g_gemm_b_packs, bsrc);
        bp_block = bpack;
      }

      kernels::UkernelParams params;
      params.alpha = p.alpha;
      params.beta = first ? p.beta : 1.0f;
      params.act = last ? p.act : kernels::ActParams{};

      for (int64_t ic = i0; ic < i1; ic += blk.mc) {
        const int64_t mc = std::min(blk.mc, i1 - ic);
        const float* asrc = p.trans_a ? p.a + pc * p.lda + ic : p.a + ic * p.lda + pc;
        kern.pack_a(p.trans_a, mc, kc, asrc, p.lda, apack);

        for (int64_t ir = 0; ir < mc; ir += mr) {
          const int64_t m_tile = std::min(mr, mc - ir);
          const float* ap = apack + ir * depth;
          for (int64_t jr = 0; jr < nc; jr += nr) {
            const int64_t n_tile = std::min(nr, nc - jr);
            const float* bp = bp_block + jr * depth;
            params.bias = (last && p.bias != nullptr) ? p.bias + jc + jr : nullptr;
            float* ct = p.c + (ic + ir) * p.ldc + jc + jr;
            if (padded_c || (m_tile == mr && n_tile == nr)) {
              kern.ukernel(kc, ap, bp, ct, p.ldc, params);
            } else {
              EdgeTile(kern, kc, ap, bp, ct, p.ldc, m_tile, n_tile, params);
            }
          }
          // The strip of MR rows just finished is in L1: its dZ now.
          if (last && p.act_grad != nullptr)
            ApplyActGrad(p, ic + ir, ic + ir + m_tile, jc, jc + nc);
        }
      }
    }
  }
  if (kern.tile_end != nullptr) kern.tile_end();
}

}  // namespace

ThreadGrid ChooseThreadGrid(int64_t m, int64_t n, int64_t k, int mr, int nr, int budget) {
  const int64_t panels_m = CeilDiv(m, mr);
  const int64_t panels_n = CeilDiv(n, nr);
  // In double: m * n * k can exceed int64 for shapes that are valid one dimension at a time.
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const double worth = std::max(1.0, std::floor(macs / static_cast<double>(kMinMacsPerThread)));
  int64_t threads = static_cast<int64_t>(std::min(static_cast<double>(budget), worth));
  threads = std::min(threads, panels_m * panels_n);
  ThreadGrid best;
  if (threads <= 1) return best;
  double best_cost = -1.0;
  for (int64_t tn = threads; tn >= 1; --tn) {
    if (threads % tn != 0) continue;
    const int64_t tm = threads / tn;
    if (tm > panels_m || tn > panels_n) continue;
    // Per-thread cost: its largest block's multiply-adds plus the packing it repeats
    // (each thread packs the A rows and B columns of its own block).
    const double rows = static_cast<double>(CeilDiv(panels_m, tm) * mr);
    const double cols = static_cast<double>(CeilDiv(panels_n, tn) * nr);
    const double cost =
        rows * cols * static_cast<double>(k) + 4.0 * (rows + cols) * static_cast<double>(k);
    if (best_cost < 0.0 || cost < best_cost) {
      best_cost = cost;
      best = ThreadGrid{tm, tn};
    }
  }
  return best;
}

namespace {

bool UseThinPath(const kernels::GemmEngine& kern, const Blocking& blk, bool trans_a, bool trans_b,
                 int64_t m, int64_t n) {
  // A (N layout) and B (T layout) are both contiguous along k, and the output is too thin for
  // MR x NR tiles: at most half a tile wide or tall, most of a packed tile would be padding.
  // Never in portable mode: its dot products sum k in vector-wide stripes.
  return !blk.portable && !trans_a && trans_b && (2 * n <= kern.nr || 2 * m <= kern.mr);
}

bool UseThinPath(const kernels::GemmEngine& kern, const Blocking& blk, const GemmProblem& p) {
  if (p.row_invariant) {  // few columns only
    return !blk.portable && !p.trans_a && p.trans_b && 2 * p.n <= kern.nr;
  }
  return UseThinPath(kern, blk, p.trans_a, p.trans_b, p.m, p.n);
}

// Cuts the m x n output into the thread grid for `threads`, in blocks that start on multiples
// of step_m x step_n, and runs body(t, i0, i1, j0, j1) for each non-empty block t on the executor.
template <class Body>
void ForEachThreadBlock(const GemmProblem& p, int64_t step_m, int64_t step_n, int threads,
                        const Body& body) {
  const ThreadGrid grid =
      ChooseThreadGrid(p.m, p.n, p.k, static_cast<int>(step_m), static_cast<int>(step_n), threads);
  const int64_t steps_m = CeilDiv(p.m, step_m);
  const int64_t steps_n = CeilDiv(p.n, step_n);
  auto block = [&](int64_t t) {
    const Range rm = Balance211(steps_m, grid.tm, t / grid.tn);
    const Range rn = Balance211(steps_n, grid.tn, t % grid.tn);
    const int64_t i0 = rm.begin * step_m, i1 = std::min(p.m, rm.end * step_m);
    const int64_t j0 = rn.begin * step_n, j1 = std::min(p.n, rn.end * step_n);
    if (i0 < i1 && j0 < j1) body(t, i0, i1, j0, j1);
  };
  const int64_t tasks = grid.tm * grid.tn;
  ParallelFor(tasks, static_cast<int>(tasks), block);
}

void ThinBlock(const kernels::GemmEngine& kern, const GemmProblem& p, int64_t i0, int64_t i1,
               int64_t j0, int64_t j1) {
  float* c = p.c + i0 * p.ldc + j0;
  kern.thin_nt(i1 - i0, j1 - j0, p.k, p.alpha, p.a + i0 * p.lda, p.lda, p.b + j0 * p.ldb, p.ldb,
               p.beta, c, p.ldc);
  if (p.bias != nullptr || p.act.act != kernels::Act::kIdentity) {
    kern.scale(i1 - i0, j1 - j0, 1.0f, p.bias ? p.bias + j0 : nullptr, p.act, c, p.ldc);
  }
  if (p.act_grad != nullptr) ApplyActGrad(p, i0, i1, j0, j1);
}

// The row kernel that cuts `extent` rows into the fewest padded rows, the most rows per panel
// among those.
int PanelRows(const kernels::GemmEngine& kern, int64_t extent) {
  int best = kern.mr;
  for (int r = kern.mr - 1; r >= 1; --r) {
    if (kern.ukernel_rows[r - 1] != nullptr && RoundUp(extent, r) < RoundUp(extent, best)) best = r;
  }
  return best;
}

// The transposed path, for an output at most one NR panel wide that the blocked path would
// mostly pad (an output layer's 10 columns on a 16-wide tile): C^T = op(B)^T * op(A)^T by the
// blocked path into a scratch C^T, whose narrow side is cut into panels of the row kernel that
// pads it least (two 5-row panels for 10 columns) and whose long side fills whole NR-wide ones,
// then stored back transposed. Each element is the same sequence of operations as on the blocked
// path (the same k blocks in order, alpha, beta; +0 for the bias), then bias and activation are
// applied by ScaleC as on the thin path: the blocked path's result bit for bit, up to the sign
// of a zero sum plus a bias of -0.
//
// Rows of the row kernel for the transposed path of an m x n output, or 0 where it does not pay:
// the output at most NR wide and at least NR tall, and at least 10% fewer padded multiply-adds
// than the blocked path.
int TransposedRows(const kernels::GemmEngine& kern, int64_t m, int64_t n) {
  if (n > kern.nr || m < kern.nr) return 0;
  const int rows = PanelRows(kern, n);
  const bool pays =
      10 * RoundUp(n, rows) * RoundUp(m, kern.nr) < 9 * RoundUp(n, kern.nr) * RoundUp(m, kern.mr);
  return pays ? rows : 0;
}

// Rows of the blocked path's A~ panels: MR, or for an output of a few rows (an output layer's
// weight gradient, 10 x n: two 5-row panels where 6-row ones compute 12) the row kernel that
// pads them least, where that saves at least 10% of the multiply-adds. Each element is the same
// sequence of operations whatever the rows of its panel.
int BlockedRows(const kernels::GemmEngine& kern, int64_t m) {
  const int rows = PanelRows(kern, m);
  return 10 * RoundUp(m, rows) < 9 * RoundUp(m, kern.mr) ? rows : kern.mr;
}

// The blocked path's kernels with `rows`-row A~ panels: the row kernel of the full width; a
// right-edge tile runs it into EdgeTile's scratch.
kernels::GemmEngine RowKernels(const kernels::GemmEngine& kern, int rows) {
  kernels::GemmEngine out = kern;
  out.mr = rows;
  out.ukernel = kern.ukernel_rows[rows - 1];
  out.pack_a = kern.pack_a_rows[rows - 1];
  for (kernels::UkernelFn& f : out.ukernel_cols) f = nullptr;
  out.ukernel_cols[kern.nr / kern.lanes - 1] = out.ukernel;
  return out;
}

// The transposed path over rows [i0, i1) and columns [j0, j1) of C (i0 a multiple of NR, j0 of
// the row kernel's rows), in chunks of rows whose C^T is one B block of the blocked path (NC).
void TransposedBlock(const kernels::GemmEngine& rk, const Blocking& table, const GemmProblem& p,
                     int64_t i0, int64_t i1, int64_t j0, int64_t j1, PackBuffers& buf) {
  const int64_t width = j1 - j0;
  const int64_t rows_pad = RoundUp(width, rk.mr);
  const int64_t chunk_max = BalancedBlock(i1 - i0, table.nc, rk.nr);
  float* ct = buf.c.Get(rows_pad * std::min(chunk_max, RoundUp(i1 - i0, rk.nr)));
  for (int64_t ic = i0; ic < i1; ic += chunk_max) {
    const int64_t rows = std::min(chunk_max, i1 - ic);
    const int64_t ldct = RoundUp(rows, rk.nr);
    float* c = p.c + ic * p.ldc + j0;
    GemmProblem t;
    t.trans_a = !p.trans_b;
    t.trans_b = !p.trans_a;
    t.m = width;
    t.n = rows;
    t.k = p.k;
    t.alpha = p.alpha;
    t.a = p.trans_b ? p.b + j0 * p.ldb : p.b + j0;
    t.lda = p.ldb;
    t.b = p.trans_a ? p.a + ic : p.a + ic * p.lda;
    t.ldb = p.lda;
    t.beta = p.beta;
    t.c = ct;
    t.ldc = ldct;
    if (p.beta != 0.0f) {
      // C^T in, the padding zero (it is read with beta and never stored back).
      std::fill(ct, ct + rows_pad * ldct, 0.0f);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < width; ++j) ct[j * ldct + i] = c[i * p.ldc + j];
      }
    }
    GemmBlock(rk, table, t, 0, width, 0, rows, buf, /*padded_c=*/true);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < width; ++j) c[i * p.ldc + j] = ct[j * ldct + i];
    }
    if (p.bias != nullptr || p.act.act != kernels::Act::kIdentity) {
      rk.scale(rows, width, 1.0f, p.bias ? p.bias + j0 : nullptr, p.act, c, p.ldc);
    }
    if (p.act_grad != nullptr) ApplyActGrad(p, ic, ic + rows, j0, j1);
  }
}

}  // namespace

void RunGemm(const kernels::GemmEngine& kern, const Blocking& blk, const GemmProblem& p,
             int threads, const GemmScratch* scratch) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0 || p.alpha == 0.0f) {
    kern.scale(p.m, p.n, p.beta, p.bias, p.act, p.c, p.ldc);
    if (p.act_grad != nullptr) ApplyActGrad(p, 0, p.m, 0, p.n);
    return;
  }
  if (UseThinPath(kern, blk, p)) {
    ForEachThreadBlock(p, kern.thin_rows, kern.thin_cols, threads,
                       [&](int64_t, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
                         ThinBlock(kern, p, i0, i1, j0, j1);
                       });
    return;
  }
  if (const int rows = TransposedRows(kern, p.m, p.n); rows > 0) {
    // C's rows are the long side of C^T: cut in NR steps, its columns in steps of the row kernel.
    const kernels::GemmEngine rk = RowKernels(kern, rows);
    ForEachThreadBlock(
        p, rk.nr, rk.mr, threads, [&](int64_t t, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
          PackBuffers& buf =
              (scratch != nullptr && t < scratch->count) ? scratch->tasks[t] : LocalBuffers();
          TransposedBlock(rk, blk, p, i0, i1, j0, j1, buf);
        });
    return;
  }
  // The engine itself, or for a few rows a copy with the row kernel (built only then).
  const int rows = BlockedRows(kern, p.m);
  kernels::GemmEngine row_kernels;
  const kernels::GemmEngine* rk = &kern;
  if (rows != kern.mr) {
    row_kernels = RowKernels(kern, rows);
    rk = &row_kernels;
  }
  ForEachThreadBlock(
      p, rk->mr, rk->nr, threads, [&](int64_t t, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        PackBuffers& buf =
            (scratch != nullptr && t < scratch->count) ? scratch->tasks[t] : LocalBuffers();
        GemmBlock(*rk, blk, p, i0, i1, j0, j1, buf);
      });
}

int64_t BPackings(const kernels::GemmEngine& kern, const Blocking& blk, bool trans_a, bool trans_b,
                  int64_t m, int64_t n, int64_t k, int threads) {
  if (m == 0 || n == 0 || k == 0 || UseThinPath(kern, blk, trans_a, trans_b, m, n) ||
      TransposedRows(kern, m, n) > 0) {
    return 0;
  }
  return ChooseThreadGrid(m, n, k, BlockedRows(kern, m), kern.nr, threads).tm;
}

int64_t PackedBFloats(const kernels::GemmEngine& kern, int64_t k, int64_t n) {
  return kernels::PanelDepth(kern, k) * RoundUp(n, kern.nr);
}

void PackBPart(const kernels::GemmEngine& kern, const Blocking& table, bool trans_b, int64_t k,
               int64_t n, const float* b, int64_t ldb, int64_t p0, int64_t p1, int64_t j0,
               int64_t j1, float* dst) {
  if (p0 >= p1 || j0 >= j1) return;
  HWY_DASSERT(p0 % kernels::KcStep(kern) == 0 && j0 % kern.nr == 0);
  const int64_t kc_max = BalancedBlock(k, table.kc, kernels::KcStep(kern));
  const int64_t n_pad = RoundUp(n, kern.nr);
  for (int64_t pc = p0 / kc_max * kc_max; pc < p1; pc += kc_max) {
    const int64_t kc = std::min(kc_max, k - pc);
    const int64_t q0 = std::max(p0, pc), q1 = std::min(p1, pc + kc);
    const int64_t depth = kernels::PanelDepth(kern, kc);
    float* block = dst + kernels::PanelDepth(kern, pc) * n_pad;
    auto src = [&](int64_t p, int64_t j) { return trans_b ? b + j * ldb + p : b + p * ldb + j; };
    if (q0 == pc && q1 == pc + kc) {  // whole panels: one call for the columns
      kern.pack_b(trans_b, kc, j1 - j0, src(pc, j0), ldb, block + j0 * depth);
      continue;
    }
    // Part of the block's depth: panel by panel, each at its depth offset. q0 - pc is a multiple
    // of KcStep, so the offset is exact in the panels' units and a part that ends inside the
    // block needs no padding.
    const int64_t offset = kernels::PanelDepth(kern, q0 - pc) * kern.nr;
    for (int64_t jr = j0; jr < j1; jr += kern.nr) {
      kern.pack_b(trans_b, q1 - q0, std::min<int64_t>(kern.nr, j1 - jr), src(q0, jr), ldb,
                  block + jr * depth + offset);
    }
  }
}

void PackWholeB(const kernels::GemmEngine& kern, const Blocking& table, bool trans_b, int64_t k,
                int64_t n, const float* b, int64_t ldb, float* dst, int threads) {
  if (k == 0 || n == 0) return;
  CountBPack(g_whole_b_packs, b);
  // The KC blocks of GemmBlock, cut into column pieces of whole panels: tasks of about 64 KiB.
  const int64_t kc_max = BalancedBlock(k, table.kc, kernels::KcStep(kern));
  const int64_t blocks_k = CeilDiv(k, kc_max);
  const int64_t piece = std::max<int64_t>(kern.nr, RoundUp((int64_t{16} << 10) / kc_max, kern.nr));
  const int64_t pieces_n = CeilDiv(n, piece);
  const int64_t tasks = blocks_k * pieces_n;
  auto pack = [&](int64_t first, int64_t last) {
    for (int64_t t = first; t < last; ++t) {
      const int64_t pc = (t / pieces_n) * kc_max, jc = (t % pieces_n) * piece;
      PackBPart(kern, table, trans_b, k, n, b, ldb, pc, std::min(k, pc + kc_max), jc,
                std::min(n, jc + piece), dst);
    }
  };
  const int64_t parts = std::min<int64_t>(std::max(threads, 1), tasks);
  if (parts <= 1) {
    pack(0, tasks);
    return;
  }
  auto part = [&](int64_t t) {
    const Range r = Balance211(tasks, parts, t);
    pack(r.begin, r.end);
  };
  ParallelFor(parts, static_cast<int>(parts), part);
}

void CountBPacksFrom(const float* begin, const float* end) {
  g_counted_begin.store(begin, std::memory_order_relaxed);
  g_counted_end.store(end, std::memory_order_relaxed);
  g_gemm_b_packs.store(0, std::memory_order_relaxed);
  g_whole_b_packs.store(0, std::memory_order_relaxed);
}

BPackCounts CountedBPacks() {
  return {g_gemm_b_packs.load(std::memory_order_relaxed),
          g_whole_b_packs.load(std::memory_order_relaxed)};
}

void ReserveGemm(const kernels::GemmEngine& kern, const Blocking& blk, int64_t m, int64_t n,
                 int64_t k, const GemmScratch& scratch) {
  // BalancedBlock(total, max, g) never exceeds RoundUp(5 max / 4 + 1, g) (a remainder under a
  // quarter block is spread over at least one other block), and a thread's block never exceeds
  // the whole problem: a bound for every thread grid and every smaller shape.
  const int64_t mc = RoundUp(std::min(m, blk.mc * 5 / 4 + 1), kern.mr);
  const int64_t nc = RoundUp(std::min(n, blk.nc * 5 / 4 + 1), kern.nr);
  const int64_t depth =
      kernels::PanelDepth(kern, std::min(k, RoundUp(blk.kc * 5 / 4 + 1, kernels::KcStep(kern))));
  // The transposed path (m >= NR, n <= NR): op(B)^T as A in panels of at most MR rows (the row
  // kernel pads n no more than MR-row panels do), op(A)^T as B, and C^T.
  const bool transposed = m >= kern.nr;
  const int64_t t_m = RoundUp(std::min<int64_t>(n, kern.nr), kern.mr);
  const int64_t t_n = RoundUp(std::min(m, blk.nc * 5 / 4 + 1), kern.nr);
  for (int64_t t = 0; t < scratch.count; ++t) {
    scratch.tasks[t].a.Reserve((transposed ? std::max(mc, t_m) : mc) * depth);
    scratch.tasks[t].b.Reserve((transposed ? std::max(nc, t_n) : nc) * depth);
    if (transposed) scratch.tasks[t].c.Reserve(t_m * t_n);
  }
}

}  // namespace propel::detail
