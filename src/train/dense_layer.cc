// A dense layer's forward and backward passes (src/train/dense_layer.h).
#include "src/train/dense_layer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/runtime/executor.h"
#include "src/runtime/partition.h"

namespace propel::detail {

namespace {

// fn(begin, end) over [0, n) cut into `parts` balanced pieces of whole units of `unit`, on up to
// `parts` threads (inline when parts == 1).
template <class F>
void Split(int64_t n, int64_t unit, int parts, const F& fn) {
  if (parts <= 1 || n <= unit) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t units = CeilDiv(n, unit);
  const int64_t tasks = std::min<int64_t>(parts, units);
  auto task = [&](int64_t t) {
    const Range r = Balance211(units, tasks, t);
    fn(r.begin * unit, std::min(n, r.end * unit));
  };
  ParallelFor(tasks, static_cast<int>(tasks), task);
}

// A GEMM problem of the layer: op(A) m x k times op(B) k x n into C (beta 0), data pointers null.
GemmProblem Problem(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                    int64_t ldb, int64_t ldc) {
  GemmProblem p;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.m = m, p.n = n, p.k = k;
  p.alpha = 1.0f, p.beta = 0.0f;
  p.lda = lda, p.ldb = ldb, p.ldc = ldc;
  return p;
}

// Z (rows x out) = A_prev (rows x in) * W^T. Row-invariant: each row of Z is the same whatever
// rows it is computed with (a prediction does not depend on the batch it is part of).
GemmProblem ForwardProblem(const LayerLayout& l, int64_t rows) {
  GemmProblem p = Problem(false, true, rows, l.out, l.in, l.in, l.in, l.out);
  p.row_invariant = true;
  return p;
}
// dW (out x in) = dZ^T (out x rows) * A_prev (rows x in)
GemmProblem WeightGradProblem(const LayerLayout& l, int64_t rows) {
  return Problem(true, false, l.out, l.in, rows, l.out, l.in, l.in);
}
// dA_prev (rows x in) = dZ (rows x out) * W (out x in)
GemmProblem InputGradProblem(const LayerLayout& l, int64_t rows) {
  return Problem(false, false, rows, l.in, l.out, l.out, l.in, l.in);
}

// out (stride ldout) = a_prev W^T + b, with `act` fused into the epilogue when not null.
void ForwardGemm(const NetKernels& k, const LayerLayout& l, const float* params,
                 const PackedWeights* packed, int64_t rows, const float* a_prev, int64_t lda,
                 float* out, int64_t ldout, const kernels::ActParams* act, int threads,
                 const GemmScratch* scratch) {
  GemmProblem p = ForwardProblem(l, rows);
  p.a = a_prev, p.lda = lda;
  p.b = params + l.weight_offset;
  p.b_packed = packed != nullptr ? packed->forward : nullptr;
  p.c = out, p.ldc = ldout;
  p.bias = params + l.bias_offset;
  if (act != nullptr) p.act = *act;
  RunGemm(*k.gemm, k.blocking, p, threads, scratch);
}

}  // namespace

bool DenseLayer::keeps_pre_activation() const {
  return output_ || !has_output_derivative(layout_.activation);
}

void DenseLayer::ForwardFused(const NetKernels& k, const float* params, const PackedWeights* packed,
                              int64_t rows, const float* a_prev, int64_t lda, float* out,
                              int64_t ldout, Activation act, int threads,
                              const GemmScratch* scratch) const {
  const kernels::ActParams fused = ActParamsFor(k, act, layout_.alpha);
  ForwardGemm(k, layout_, params, packed, rows, a_prev, lda, out, ldout, &fused, threads, scratch);
}

void DenseLayer::Forward(const NetKernels& k, const float* params, const PackedWeights* packed,
                         int64_t rows, const float* a_prev, int64_t lda, float* z, float* a,
                         int threads, const GemmScratch* scratch) const {
  const int64_t out = layout_.out;
  if (!keeps_pre_activation()) {  // only A is kept: the activation in the epilogue
    ForwardFused(k, params, packed, rows, a_prev, lda, a, out, layout_.activation, threads,
                 scratch);
    return;
  }
  // Z (the logits, or a pre-activation the derivative needs); a hidden layer makes A in one pass.
  ForwardGemm(k, layout_, params, packed, rows, a_prev, lda, z, out, nullptr, threads, scratch);
  if (output_) return;
  const kernels::Act act = static_cast<kernels::Act>(layout_.activation);
  Split(rows, 1, threads, [&](int64_t i0, int64_t i1) {
    k.ew->act_forward(act, layout_.alpha, (i1 - i0) * out, z + i0 * out, a + i0 * out);
  });
}

double DenseLayer::Backward(const NetKernels& k, const float* params, const PackedWeights* packed,
                            int64_t rows, const float* dz, const float* a_in, int64_t ld_in,
                            float* grad, float* da, const ActGradEpilogue* below, int threads,
                            const GemmScratch* scratch) const {
  const int64_t in = layout_.in, out = layout_.out;
  double ss_a = 0.0;
  if (ld_in == in) {
    ss_a = k.ew->sum_squares(rows * in, a_in);
  } else {
    for (int64_t i = 0; i < rows; ++i) ss_a += k.ew->sum_squares(in, a_in + i * ld_in);
  }
  const double norm_dz = std::sqrt(k.ew->sum_squares(rows * out, dz));
  const double bound = norm_dz * std::max(std::sqrt(ss_a), std::sqrt(static_cast<double>(rows)));

  GemmProblem gw = WeightGradProblem(layout_, rows);
  gw.a = dz;
  gw.b = a_in;
  gw.ldb = ld_in;
  gw.c = grad + layout_.weight_offset;
  RunGemm(*k.gemm, k.blocking, gw, threads, scratch);
  if (da != nullptr) {
    GemmProblem gx = InputGradProblem(layout_, rows);
    gx.a = dz;
    gx.b = params + layout_.weight_offset;
    gx.b_packed = packed != nullptr ? packed->input_grad : nullptr;
    gx.c = da;
    gx.act_grad = below;
    RunGemm(*k.gemm, k.blocking, gx, threads, scratch);
  }
  return bound;
}

ActGradEpilogue DenseLayer::GradEpilogue(const NetKernels& k, const float* z,
                                         const float* a) const {
  ActGradEpilogue g;
  g.act = static_cast<kernels::Act>(layout_.activation);
  g.alpha = layout_.alpha;
  g.from_output = !keeps_pre_activation();
  g.s = g.from_output ? a : z;
  g.lds = layout_.out;
  g.fn = k.ew->act_backward;
  g.fn_out = k.ew->act_backward_out;
  return g;
}

void DenseLayer::BiasGradient(const NetKernels& k, int64_t rows, const float* dz, float* grad,
                              int threads) const {
  const int64_t out = layout_.out;
  float* db = grad + layout_.bias_offset;
  Split(out, 16, threads, [&](int64_t j0, int64_t j1) {
    k.ew->column_sums(rows, j1 - j0, dz + j0, out, db + j0, false);
  });
}

int64_t DenseLayer::WeightPackings(const NetKernels& k, int64_t rows, int threads,
                                   bool input_grad) const {
  const GemmProblem p =
      input_grad ? InputGradProblem(layout_, rows) : ForwardProblem(layout_, rows);
  return BPackings(*k.gemm, k.blocking, p.trans_a, p.trans_b, p.m, p.n, p.k, threads);
}

int64_t DenseLayer::PackedFloats(const NetKernels& k, bool input_grad) const {
  return input_grad ? PackedBFloats(*k.gemm, layout_.out, layout_.in)
                    : PackedBFloats(*k.gemm, layout_.in, layout_.out);
}

void DenseLayer::PackWeights(const NetKernels& k, const float* params, const PackedWeights& dst,
                             int threads) const {
  const float* w = params + layout_.weight_offset;
  if (dst.forward != nullptr) {  // op(B) = W^T: in x out
    PackWholeB(*k.gemm, k.blocking, true, layout_.in, layout_.out, w, layout_.in, dst.forward,
               threads);
  }
  if (dst.input_grad != nullptr) {  // op(B) = W: out x in
    PackWholeB(*k.gemm, k.blocking, false, layout_.out, layout_.in, w, layout_.in, dst.input_grad,
               threads);
  }
}

void DenseLayer::PackWeightRows(const NetKernels& k, const float* params, const PackedWeights& dst,
                                int64_t r0, int64_t r1) const {
  const float* w = params + layout_.weight_offset;
  if (dst.forward != nullptr) {  // columns [r0, r1) of op(B) = W^T
    PackBPart(*k.gemm, k.blocking, true, layout_.in, layout_.out, w, layout_.in, 0, layout_.in, r0,
              r1, dst.forward);
  }
  if (dst.input_grad != nullptr) {  // rows [r0, r1) of op(B) = W
    PackBPart(*k.gemm, k.blocking, false, layout_.out, layout_.in, w, layout_.in, r0, r1, 0,
              layout_.in, dst.input_grad);
  }
}

int64_t DenseLayer::WeightRowUnit(const NetKernels& k) const {
  return std::lcm<int64_t>(k.gemm->nr, kernels::KcStep(*k.gemm));
}

void DenseLayer::Reserve(const NetKernels& k, int64_t rows, const GemmScratch& scratch) const {
  for (const GemmProblem& p : {ForwardProblem(layout_, rows), WeightGradProblem(layout_, rows),
                               InputGradProblem(layout_, rows)}) {
    ReserveGemm(*k.gemm, k.blocking, p.m, p.n, p.k, scratch);
  }
}

}  // namespace propel::detail
