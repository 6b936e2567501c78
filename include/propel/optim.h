// Reductions over gradient buffers and the optimizer updates, one fused pass each.
//
// The update functions form the effective gradient on the fly,
//   g_eff = grad_scale * g  (+ weight_decay * w for the L2 forms)
// where grad_scale carries 1 / batch size and gradient-norm clipping (clip_scale), so neither
// needs a pass of its own. Arrays are contiguous, n >= 0; errors throw propel::Error.
#pragma once

#include <cstdint>

namespace propel {

// out[j] = (accumulate ? out[j] : 0) + sum_i x(i, j), rows added in order 0..rows-1 (the same
// result on every SIMD target). The bias gradient of a layer: column sums of dZ.
void column_sums(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* out,
                 bool accumulate);

// sum_i x_i^2 (float partial sums per block, added in double), and its square root.
double sum_squares(int64_t n, const float* x);
double l2_norm(int64_t n, const float* x);

// out = scale * (bufs[0] + ... + bufs[k-1]), 1 <= k <= 2^32, added by a fixed pairwise tree over
// the buffer index (balanced for k a power of two; see docs/kernels.md), so the result depends on k
// and the data only, never on threads. out may be one of the buffers. The shard-gradient
// reduction, with scale = 1 / batch.
void reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out);

// The factor that clips a gradient of L2 norm `norm` to at most max_norm: min(1, max_norm /
// norm); 1 when max_norm <= 0 (clipping off).
float clip_scale(double norm, float max_norm);

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.0f;      // 0: plain SGD
  float weight_decay = 0.0f;  // L2, added to the gradient
  bool nesterov = false;      // requires momentum > 0
};

// SGD:       w -= lr * g_eff
// momentum:  v = momentum * v + g_eff;  w -= lr * v            (velocity: n floats, start at 0)
// Nesterov:  v = momentum * v + g_eff;  w -= lr * (g_eff + momentum * v)
// velocity may be nullptr when momentum == 0.
void sgd_update(const SgdOptions& opt, int64_t n, float* w, const float* g, float* velocity,
                float grad_scale = 1.0f);

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // true: AdamW (w -= lr * weight_decay * w); false: L2 in g_eff
};

// Adam step number `step` (1 for the first update):
//   m = beta1 m + (1 - beta1) g_eff;  v = beta2 v + (1 - beta2) g_eff^2
//   w -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
// m and v: n floats each, zero before the first step.
void adam_update(const AdamOptions& opt, int64_t step, int64_t n, float* w, const float* g,
                 float* m, float* v, float grad_scale = 1.0f);

}  // namespace propel
