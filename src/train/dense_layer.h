// One dense layer, the unit the training step and inference are composed of:
//   forward   Z = A_prev W^T + b, A = act(Z)      (one GEMM, bias and activation fused)
//   backward  dW = dZ^T A_prev                    (GEMM "TN", into a gradient buffer)
//             dA_prev = dZ W                      (GEMM "NN", skipped for the first layer)
//   and for a hidden layer, given dA from the layer above,
//             dZ = dA * act'(.) in place, db = column sums of dZ   (one pass, by columns)
// The layer knows which of its values a training shard keeps for the backward pass and the GEMM
// problems to reserve packing space for. It holds no memory: parameters, gradients and the
// shard's buffers are the caller's (the model's arenas, the trainer's workspace).
#pragma once

#include <cstdint>

#include "propel/model.h"
#include "src/gemm/gemm_driver.h"
#include "src/train/net_kernels.h"

namespace propel::detail {

class DenseLayer {
 public:
  // `output`: the model's last layer, which produces logits (its activation is the head's).
  DenseLayer(const LayerLayout& layout, bool output) : layout_(layout), output_(output) {}

  const LayerLayout& layout() const { return layout_; }
  bool output() const { return output_; }

  // What a training shard keeps of this layer, `out` floats per row each: the output A (a hidden
  // layer's, the next layer's input) and the pre-activation Z (the output layer's logits, and a
  // hidden layer's when its derivative is not taken from the output).
  bool keeps_output() const { return !output_; }
  bool keeps_pre_activation() const;

  // Training forward on `rows` rows of a_prev (stride lda) into the kept buffers (stride out):
  // z and/or a as keeps_*() say (the other may be null). GEMM and activation on `threads`.
  void Forward(const NetKernels& k, const float* params, int64_t rows, const float* a_prev,
               int64_t lda, float* z, float* a, int threads, const GemmScratch* scratch) const;

  // out (stride ldout) = act(a_prev W^T + b) in one GEMM with the activation fused: inference.
  void ForwardFused(const NetKernels& k, const float* params, int64_t rows, const float* a_prev,
                    int64_t lda, float* out, int64_t ldout, Activation act, int threads,
                    const GemmScratch* scratch) const;

  // Backward from dz (rows x out, contiguous): dW into grad (beta 0: overwritten) and, when da is
  // not null, dA_prev = dz W into da (rows x in, contiguous). a_in is the layer's input (stride
  // ld_in). Returns a bound on every |dW_ij| and |db_i| of this shard (Cauchy-Schwarz:
  // ||dZ||_F max(||A||_F, sqrt(rows))), which is NaN or Inf when dz or a_in holds one, so that a
  // finite bound spares a pass over the gradient looking for NaN/Inf.
  double Backward(const NetKernels& k, const float* params, int64_t rows, const float* dz,
                  const float* a_in, int64_t ld_in, float* grad, float* da, int threads,
                  const GemmScratch* scratch) const;

  // For a hidden layer: dA (rows x out, contiguous) becomes dZ = dA * act'(.) in place, from the
  // kept z or a, and db (in grad) = its column sums. By column blocks on `threads`.
  void ActivationBackward(const NetKernels& k, int64_t rows, float* da, const float* z,
                          const float* a, float* grad, int threads) const;

  // For the output layer: db (in grad) = the column sums of dz (rows x out, contiguous).
  void BiasGradient(const NetKernels& k, int64_t rows, const float* dz, float* grad) const;

  // Reserves packing space for the layer's three GEMMs on shards of `rows` rows.
  void Reserve(const NetKernels& k, int64_t rows, const GemmScratch& scratch) const;

 private:
  LayerLayout layout_;
  bool output_;
};

}  // namespace propel::detail
