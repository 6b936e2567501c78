// propel::Trainer's state and its step, shared by the single-process step (src/train/trainer.cc)
// and the distributed one (src/train/distributed.cc).
//
// Invariants that make a step bitwise reproducible for any thread count and executor:
//   - shard boundaries depend on the batch and StepOptions::shard_rows only;
//   - every floating-point result inside a shard is produced by the same operations whether the
//     shard runs alone on one thread or with its GEMMs and element-wise passes spread over many:
//     the GEMM splits over m and n only, element-wise passes are split by whole rows (or, for the
//     bias gradient, whole columns, each summed over rows in order);
//   - shard gradients are added by one fixed pairwise tree in shard order, element by element;
//   - scalar totals (loss, gradient norm) are added in a fixed order: per shard, per chunk.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "propel/train.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/aligned.h"
#include "src/train/dense_layer.h"
#include "src/train/net_kernels.h"
#include "src/train/workspace.h"

namespace propel {

struct Trainer::Impl {
  Model* model = nullptr;
  OptimizerConfig opt;  // as configured
  float lr = 0.0f;      // of the next update
  StepOptions options;
  int threads = 1;
  int64_t max_batch = 0;
  int64_t shard_rows = 0;
  int64_t max_shards = 0;
  int64_t count = 0;  // parameters
  detail::NetKernels kern;
  std::vector<detail::DenseLayer> net;  // the model's layers, the units of a shard
  std::vector<detail::ShardBuffers> workers;
  std::vector<detail::PackBuffers> packs;  // one per thread
  // Every layer's weights packed for its forward and input-gradient GEMMs, once per step before
  // the shards, where the step would otherwise pack them more than once (PackWeights):
  // packed_storage, per layer, the space for both (empty when no batch up to max_batch can need
  // it); packed, per layer, the copies this step's GEMMs read (null: the GEMM packs W).
  detail::AlignedFloats packed_memory;
  std::vector<detail::PackedWeights> packed_storage;
  std::vector<detail::PackedWeights> packed;
  std::vector<detail::AlignedFloats> shard_grads;
  std::vector<float*> grad_ptrs;         // max_shards: [0] is the model's gradient arena
  std::vector<const float*> chunk_ptrs;  // threads x max_shards, for the reduction
  std::vector<double> shard_loss;
  std::vector<int64_t> shard_correct;
  std::vector<double> chunk_sumsq;
  std::vector<double> shard_bounds;  // max_shards x layers: see RunShard
  detail::AlignedFloats state;
  int64_t steps = 0;
  GradientReducer reducer;            // step(): local sums -> sums over every process
  GradientExchange exchange;          // or: the update split over the processes
  std::vector<int64_t> slice_chunks;  // exchange: ranks + 1 chunk offsets of the slices
  std::vector<int64_t> slice_bounds;  // the same in parameters

  // Whether the step takes the gradient's norm: for clipping, or to report it.
  bool NeedNorm() const { return opt.clip_norm > 0.0f || options.track_grad_norm; }

  // Whether a batch of this many shards runs them side by side (one per thread) rather than one
  // after the other with every GEMM on all threads.
  bool ByShard(int64_t shards) const {
    return threads > 1 && shards >= threads &&
           (shards % threads == 0 || shards >= 4 * static_cast<int64_t>(threads));
  }
  // Sets `packed` for a batch of m rows and packs those weights, on all threads: a GEMM's W is
  // packed once beforehand when the step's shards (and their thread grids) would pack it more
  // than once; packed once anyway, it is packed by the GEMM into cache-sized blocks, which
  // costs no write of a whole copy (docs/training.md, Pre-packed weights).
  void PackWeights(int64_t m);
  // Forward each layer, the head's loss, backward each layer: rows [r0, r0 + rows) of the batch
  // into the gradient buffer `grad` (sums over the shard's rows). *loss, *correct: the shard's
  // summed loss and right answers; bounds[l]: DenseLayer::Backward's bound for layer l.
  void RunShard(detail::ShardBuffers& buf, const DataView& b, int64_t r0, int64_t rows, float* grad,
                int gemm_threads, const detail::GemmScratch* scratch, double* loss,
                int64_t* correct, double* bounds);
  // Every shard, then the reduction of their gradients into the model's gradient arena: sums over
  // the batch's rows, or (mean) the mean gradient. Fails on a non-finite loss or gradient.
  StepResult Gradients(const char* where, const DataView& b, bool mean);
  // The optimizer update from g_eff = grad_scale * clip(norm) * gradient, of the parameters in
  // chunks [chunk_begin, chunk_end) (all of them by default).
  void Update(double norm, double grad_scale, int64_t chunk_begin = 0,
              int64_t chunk_end = std::numeric_limits<int64_t>::max());

  // Distributed steps (src/train/distributed.cc).
  // chunk_sumsq[c] for chunks [c0, c1) of g (detail::SumOfSquares), on all threads.
  void ChunkSquares(const float* g, int64_t c0, int64_t c1);
  // step() with a GradientReducer: local sums, the reducer, the norm of the total, the update.
  StepResult ReducerStep(const char* where, const DataView& batch);
  // step() with a GradientExchange: the update of this process's slice only.
  StepResult ExchangeStep(const char* where, const DataView& batch);
};

}  // namespace propel
