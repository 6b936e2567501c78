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
#include "src/train/optimizer.h"
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
  // Every layer's weights packed for its forward and input-gradient GEMMs (the first layer has no
  // input gradient), which every shard, thread and pass of a step reads (docs/training.md, Packed
  // weights). packed: the space, per layer. by_update: the copies the update keeps current
  // (Update packs each band of W it has just written), where that pays: always for an engine
  // whose panels are converted (bf16 pairs), else where a batch of max_batch rows would pack W
  // more than once. packed_version: the Model::version() those were made from (0: none yet).
  // step_packed: the copies this step's GEMMs read (null: the GEMM packs W itself).
  detail::AlignedFloats packed_memory;
  std::vector<detail::PackedWeights> packed;
  std::vector<detail::PackedWeights> by_update;
  std::vector<detail::PackedWeights> step_packed;
  uint64_t packed_version = 0;
  // The update's units, in arena order: a band of rows [r0, r1) of layer `layer`'s W (whole
  // multiples of DenseLayer::WeightRowUnit), packed right after it is updated, or a layer's bias
  // (r0 < 0). [begin, end): the unit's parameters.
  struct UpdateUnit {
    int64_t begin = 0, end = 0;
    int64_t layer = 0;
    int64_t r0 = -1, r1 = -1;
  };
  std::vector<UpdateUnit> update_units;
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
  // How many times a step of m rows would pack layer l's W for the product (input_grad or the
  // forward) if its GEMMs packed it themselves.
  int64_t Packings(size_t l, int64_t m, bool input_grad) const;
  // Sets step_packed for a batch of m rows, on all threads: the update's copies, packed again
  // first when the model's version is not theirs; the other products packed now where the step
  // would pack them more than once.
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
  // The arguments of the next update from g_eff = grad_scale * clip(norm) * gradient.
  detail::OptimizerUpdate NextUpdate(double norm, double grad_scale) const;
  // The optimizer update from g_eff = grad_scale * clip(norm) * gradient of every parameter,
  // unit by unit, each band of W packed for the next step while it is in cache.
  void Update(double norm, double grad_scale);
  // The same update of the parameters in chunks [chunk_begin, chunk_end) only (a process's slice
  // of a GradientExchange), which packs nothing: the next step packs the gathered parameters.
  void UpdateSlice(double norm, double grad_scale, int64_t chunk_begin, int64_t chunk_end);

  // Distributed steps (src/train/distributed.cc).
  // chunk_sumsq[c] for chunks [c0, c1) of g (detail::SumOfSquares), on all threads.
  void ChunkSquares(const float* g, int64_t c0, int64_t c1);
  // step() with a GradientReducer: local sums, the reducer, the norm of the total, the update.
  StepResult ReducerStep(const char* where, const DataView& batch);
  // step() with a GradientExchange: the update of this process's slice only.
  StepResult ExchangeStep(const char* where, const DataView& batch);
};

}  // namespace propel
