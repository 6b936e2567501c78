// Element-wise kernels per SIMD target: activations and their derivatives, softmax, losses with
// their gradients, reductions and optimizer updates (kernels/*-inl.h, compiled per target by
// kernels/elementwise.cc). The public API (include/propel/activation.h, loss.h, optim.h) validates
// arguments and calls these through the table of the active target.
//
// Conventions shared by every kernel here:
//   - arrays are float, contiguous unless a row stride (ld*) is given; n, rows, cols >= 0;
//   - outputs may alias inputs element for element (y == x, dx == dy, dz == z), never partially;
//   - no allocation, no threads, no I/O, nothing thrown: arguments are validated by the caller.
#pragma once

#include <cmath>
#include <cstdint>

namespace propel::kernels {

// Activation codes; the numbering is propel::Activation's and the C API's PROPEL_ACT_*.
enum class Act : int {
  kIdentity = 0,
  kRelu = 1,
  kSigmoid = 2,
  kTanh = 3,
  kLeakyRelu = 4,
  kElu = 5,
  kGeluTanh = 6,
  kGeluErf = 7,
  kSilu = 8,
  kSoftplus = 9,
};
constexpr int kNumActs = 10;

// True for the activations whose derivative is a function of the output y = act(x).
constexpr bool HasOutputDerivative(Act act) {
  return act == Act::kIdentity || act == Act::kRelu || act == Act::kSigmoid || act == Act::kTanh ||
         act == Act::kLeakyRelu || act == Act::kElu;
}

// y = act(x) over n floats. alpha: the slope of leaky ReLU, the scale of ELU; ignored otherwise.
using ActForwardFn = void (*)(Act act, float alpha, int64_t n, const float* x, float* y);
// dx = dy * act'(x), x the pre-activation.
using ActBackwardFn = void (*)(Act act, float alpha, int64_t n, const float* x, const float* dy,
                               float* dx);
// dx = dy * act'(x) expressed through y = act(x) (HasOutputDerivative(act) only).
using ActBackwardOutFn = void (*)(Act act, float alpha, int64_t n, const float* y, const float* dy,
                                  float* dx);
// A hidden layer's activation backward step and its bias gradient in one pass over rows x cols
// (dA from the layer above becomes this layer's dZ):
//   dz = da * act'(s)          s: the pre-activation (from_output == false) or the output
//   db[j] += sum_i dz(i, j)    rows summed in order 0..rows-1 (db may be nullptr)
using ActBackwardBiasFn = void (*)(Act act, float alpha, bool from_output, int64_t rows,
                                   int64_t cols, const float* s, int64_t lds, const float* da,
                                   int64_t ldda, float* dz, int64_t lddz, float* db);
// Row-wise softmax (log == false) or log-softmax, max-subtracted.
using SoftmaxFn = void (*)(bool log, int64_t rows, int64_t cols, const float* x, int64_t ldx,
                           float* y, int64_t ldy);

// Losses over contiguous rows x cols arrays. Each returns the sum over rows of the per-sample
// loss (in double) and, when dz != nullptr, writes dz = grad_scale * d(per-sample loss)/dz.
//   BCE from logits z:       l = max(z, 0) - z y + log1p(exp(-|z|)),  dz = sigmoid(z) - y
//   BCE on probabilities a:  l = -(y log p + (1 - y) log(1 - p)), p = clamp(a, eps, 1 - eps),
//                            dz = a - y (the gradient with respect to the sigmoid's input)
//   MSE:                     l = (a - y)^2 / 2,  dz = a - y
// The per-sample loss is the sum over the row's cols.
using ElementLossFn = double (*)(int64_t n, const float* z, const float* y, float grad_scale,
                                 float* dz);
using BceProbFn = double (*)(int64_t n, const float* a, const float* y, float eps, float grad_scale,
                             float* dz);
// Softmax cross-entropy from logits: labels (each in [0, cols)) or soft targets (rows x cols).
//   l = logsumexp(z) - z[label],            dz = softmax(z) - onehot(label)
//   l = sum_j t_j (logsumexp(z) - z_j),     dz = softmax(z) * sum_j t_j - t
using SoftmaxCeLabelsFn = double (*)(int64_t rows, int64_t cols, const float* z,
                                     const int32_t* labels, float grad_scale, float* dz);
using SoftmaxCeSoftFn = double (*)(int64_t rows, int64_t cols, const float* z, const float* targets,
                                   float grad_scale, float* dz);

// out[j] (+)= sum_i x(i, j), rows in order 0..rows-1.
using ColumnSumsFn = void (*)(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* out,
                              bool accumulate);
// sum_i x_i^2, blocks of float partial sums added in double.
using SumSquaresFn = double (*)(int64_t n, const float* x);
// out = scale * (bufs[0] + ... + bufs[k-1]), 1 <= k <= 2^32, with a fixed pairwise tree over the
// buffer index (see ReduceSum in kernels/reduce-inl.h); out may be one of the bufs.
using ReduceSumFn = void (*)(int64_t k, const float* const* bufs, int64_t n, float scale,
                             float* out);

// Optimizer updates, one pass over n parameters. g_eff = grad_scale * g (+ weight_decay * w for
// the L2 form) is formed on the fly; grad_scale carries 1/batch and gradient-norm clipping.
struct SgdArgs {
  float lr;
  float momentum;      // 0: plain SGD (velocity unused, may be nullptr)
  float weight_decay;  // L2: added to the gradient
  float grad_scale;
  bool nesterov;
};
// SGD:       w -= lr * g_eff
// momentum:  v = momentum * v + g_eff;  w -= lr * (nesterov ? g_eff + momentum * v : v)
using SgdFn = void (*)(int64_t n, const SgdArgs& args, float* w, const float* g, float* velocity);

struct AdamArgs {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  float grad_scale;
  bool decoupled;          // AdamW: w -= lr * weight_decay * w; else L2 added to the gradient
  float bias_correction1;  // 1 - beta1^t
  float bias_correction2;  // 1 - beta2^t
};
// 1 - beta^t of update number t >= 1, the power taken in double (exact for every t < 2^53).
inline float BiasCorrection(float beta, int64_t t) {
  return static_cast<float>(1.0 - std::pow(static_cast<double>(beta), static_cast<double>(t)));
}
// m = b1 m + (1 - b1) g_eff;  v = b2 v + (1 - b2) g_eff^2;
// w -= lr * (m / c1) / (sqrt(v / c2) + eps)   (and the decoupled decay first, for AdamW)
using AdamFn = void (*)(int64_t n, const AdamArgs& args, float* w, const float* g, float* m,
                        float* v);

struct ElementwiseKernels {
  int64_t target;  // HWY_* bit
  // Portable mode's kernels (docs/reproducibility.md): IEEE division and square root where the
  // default ones refine hardware estimates, so that every target with FMA computes the same
  // bits. Every other operation, reductions included, is the same in both.
  bool portable;
  ActForwardFn act_forward;
  ActBackwardFn act_backward;
  ActBackwardOutFn act_backward_out;
  ActBackwardBiasFn act_backward_bias;
  SoftmaxFn softmax;
  ElementLossFn bce_logits;
  BceProbFn bce_prob;
  ElementLossFn mse;
  SoftmaxCeLabelsFn softmax_ce_labels;
  SoftmaxCeSoftFn softmax_ce_soft;
  ColumnSumsFn column_sums;
  SumSquaresFn sum_squares;
  ReduceSumFn reduce_sum;
  SgdFn sgd;
  AdamFn adam;
};

// The kernels of one target in both modes: what each compiled target registers
// (kernels/registry.h).
struct ElementwiseTables {
  int64_t target;
  const ElementwiseKernels* fast;      // the default mode
  const ElementwiseKernels* portable;  // portable mode
};

// Kernels compiled for `target` (a single HWY_* bit), those of portable mode when `portable`, or
// nullptr if this build has none.
const ElementwiseKernels* ElementwiseKernelsFor(int64_t target, bool portable = false);
// HWY_TARGETS of kernels/elementwise.cc: the targets its tables must have registered for.
int64_t ElementwiseBuiltTargets();

}  // namespace propel::kernels
