// One dense layer, the unit the training step and inference are composed of:
//   forward   Z = A_prev W^T + b, A = act(Z)      (one GEMM, bias and activation fused)
//   backward  dW = dZ^T A_prev                    (GEMM "TN", into a gradient buffer)
//             dA_prev = dZ W                      (GEMM "NN", skipped for the first layer), which
//                                                 for a hidden layer below becomes its
//             dZ_prev = dA_prev * act'(.)         in the same GEMM's epilogue (GradEpilogue),
//   and       db = column sums of dZ              (BiasGradient).
// The layer knows which of its values a training shard keeps for the backward pass, the GEMM
// problems to reserve packing space for, and how to pack its weights once for the GEMMs that read
// them (PackWeights). It holds no memory: parameters, gradients, packed weights and the shard's
// buffers are the caller's (the model's arenas, the trainer's workspace).
#pragma once

#include <cstdint>

#include "propel/model.h"
#include "src/gemm/gemm_driver.h"
#include "src/train/net_kernels.h"

namespace propel::detail {

// A layer's weights packed for the GEMMs that read them (src/gemm/gemm_driver.h, PackWholeB):
// forward, op(B) = W^T; input_grad, op(B) = W (the first layer has no input gradient: null).
// Either may be null: that GEMM packs W itself.
struct PackedWeights {
  float* forward = nullptr;
  float* input_grad = nullptr;
};

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
  void Forward(const NetKernels& k, const float* params, const PackedWeights* packed, int64_t rows,
               const float* a_prev, int64_t lda, float* z, float* a, int threads,
               const GemmScratch* scratch) const;

  // out (stride ldout) = act(a_prev W^T + b) in one GEMM with the activation fused: inference.
  void ForwardFused(const NetKernels& k, const float* params, const PackedWeights* packed,
                    int64_t rows, const float* a_prev, int64_t lda, float* out, int64_t ldout,
                    Activation act, int threads, const GemmScratch* scratch) const;

  // Backward from dz (rows x out, contiguous): dW into grad (beta 0: overwritten) and, when da is
  // not null, dA_prev = dz W into da (rows x in, contiguous), turned into the layer below's dZ
  // by `below` (its GradEpilogue) when not null. a_in is the layer's input (stride ld_in).
  // Returns a bound on every |dW_ij| and |db_i| of this shard (Cauchy-Schwarz:
  // ||dZ||_F max(||A||_F, sqrt(rows))), which is NaN or Inf when dz or a_in holds one, so that a
  // finite bound spares a pass over the gradient looking for NaN/Inf.
  double Backward(const NetKernels& k, const float* params, const PackedWeights* packed,
                  int64_t rows, const float* dz, const float* a_in, int64_t ld_in, float* grad,
                  float* da, const ActGradEpilogue* below, int threads,
                  const GemmScratch* scratch) const;

  // For a hidden layer: the epilogue that turns dA (its output's gradient, from the layer above)
  // into dZ = dA * act'(.), from the kept z or a (rows x out each, contiguous).
  ActGradEpilogue GradEpilogue(const NetKernels& k, const float* z, const float* a) const;

  // db (in grad) = the column sums of dz (rows x out, contiguous), by column blocks on `threads`.
  void BiasGradient(const NetKernels& k, int64_t rows, const float* dz, float* grad,
                    int threads) const;

  // How many times one forward (or input-gradient) GEMM of this layer on `rows` rows and
  // `threads` threads packs each panel of W itself (BPackings).
  int64_t WeightPackings(const NetKernels& k, int64_t rows, int threads, bool input_grad) const;
  // Floats of the packed weights: forward, or input_grad.
  int64_t PackedFloats(const NetKernels& k, bool input_grad) const;
  // Packs W (in params) into the non-null pointers of `dst`, on up to `threads` threads.
  void PackWeights(const NetKernels& k, const float* params, const PackedWeights& dst,
                   int threads) const;
  // The same for rows [r0, r1) of W (out x in) only, on the calling thread: r0 a multiple of
  // WeightRowUnit, r1 one too or out. Bands that cover W once pack what PackWeights packs.
  void PackWeightRows(const NetKernels& k, const float* params, const PackedWeights& dst,
                      int64_t r0, int64_t r1) const;
  // The rows of W the packed panels of both products are cut into: the forward's NR columns of
  // op(B) = W^T, the input gradient's k steps of op(B) = W (KcStep).
  int64_t WeightRowUnit(const NetKernels& k) const;

  // Reserves packing space for the layer's three GEMMs on shards of `rows` rows.
  void Reserve(const NetKernels& k, int64_t rows, const GemmScratch& scratch) const;

 private:
  LayerLayout layout_;
  bool output_;
};

}  // namespace propel::detail
