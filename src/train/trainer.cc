// propel::Trainer: the workspace, the shard scheduler and the single-process step (forward, loss,
// backward, shard reduction, optimizer update). The invariants that make the step reproducible
// are listed in src/train/trainer_impl.h.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "propel/optim.h"
#include "propel/train.h"
#include "src/ops/checks.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/memory.h"
#include "src/runtime/partition.h"
#include "src/train/head.h"
#include "src/train/optimizer.h"
#include "src/train/reduction.h"
#include "src/train/trainer_impl.h"

namespace propel {

using detail::kChunk;

int64_t Trainer::Impl::Packings(size_t l, int64_t m, bool input_grad) const {
  const int64_t shards = detail::CeilDiv(m, shard_rows);
  const int64_t last_rows = m - (shards - 1) * shard_rows;
  const int gemm_threads = ByShard(shards) ? 1 : threads;
  return (shards - 1) * net[l].WeightPackings(kern, shard_rows, gemm_threads, input_grad) +
         net[l].WeightPackings(kern, last_rows, gemm_threads, input_grad);
}

void Trainer::Impl::PackWeights(int64_t m) {
  const Model& mm = *model;
  const bool current = packed_version == mm.version();
  for (size_t l = 0; l < net.size(); ++l) {
    detail::PackedWeights use, pack;
    for (bool input_grad : {false, true}) {
      float* storage = input_grad ? packed[l].input_grad : packed[l].forward;
      if (storage == nullptr) continue;
      const bool kept = (input_grad ? by_update[l].input_grad : by_update[l].forward) != nullptr;
      if (kept || Packings(l, m, input_grad) > 1) {
        (input_grad ? use.input_grad : use.forward) = storage;
        if (!kept || !current) (input_grad ? pack.input_grad : pack.forward) = storage;
      }
    }
    step_packed[l] = use;
    if (pack.forward != nullptr || pack.input_grad != nullptr) {
      net[l].PackWeights(kern, mm.parameters(), pack, threads);
    }
  }
  packed_version = mm.version();
}

void Trainer::Impl::RunShard(detail::ShardBuffers& buf, const DataView& b, int64_t r0, int64_t rows,
                             float* grad, int gemm_threads, const detail::GemmScratch* scratch,
                             double* loss, int64_t* correct, double* bounds) {
  const float* params = std::as_const(*model).parameters();
  const size_t n_layers = net.size();
  const int64_t ldx = b.ldx == 0 ? model->inputs() : b.ldx;
  const float* x = b.x + r0 * ldx;
  auto packed_of = [&](size_t l) { return &step_packed[l]; };

  // Forward: each layer into the buffers it keeps; the output layer produces logits.
  const float* a_prev = x;
  int64_t lda = ldx;
  for (size_t l = 0; l < n_layers; ++l) {
    net[l].Forward(kern, params, packed_of(l), rows, a_prev, lda, buf.z[l], buf.a[l], gemm_threads,
                   scratch);
    a_prev = buf.a[l];
    lda = net[l].layout().out;
  }

  // The head: the loss and its gradient with respect to the logits (sums over the shard's rows:
  // the 1 / rows of the mean is the update's), then the output layer's bias gradient.
  const detail::DenseLayer& top = net.back();
  int cur = 0;
  *loss = detail::HeadLoss(*kern.ew, model->head(), rows, top.layout().out, buf.z.back(), b, r0,
                           buf.delta[cur], correct);
  top.BiasGradient(kern, rows, buf.delta[cur], grad, gemm_threads);

  // Backward: each layer's dW and the dZ of the layer below (dA * act'(.), in the input-gradient
  // GEMM's epilogue), then the layer below's db from it.
  for (size_t l = n_layers; l-- > 0;) {
    const float* a_in = l == 0 ? x : buf.a[l - 1];
    const int64_t ld_in = l == 0 ? ldx : net[l].layout().in;
    float* dz_below = l == 0 ? nullptr : buf.delta[1 - cur];
    detail::ActGradEpilogue below;
    if (l > 0) below = net[l - 1].GradEpilogue(kern, buf.z[l - 1], buf.a[l - 1]);
    bounds[l] = net[l].Backward(kern, params, packed_of(l), rows, buf.delta[cur], a_in, ld_in, grad,
                                dz_below, l > 0 ? &below : nullptr, gemm_threads, scratch);
    if (l == 0) break;
    net[l - 1].BiasGradient(kern, rows, dz_below, grad, gemm_threads);
    cur = 1 - cur;
  }
}

StepResult Trainer::Impl::Gradients(const char* where, const DataView& b, bool mean) {
  detail::CheckData(where, *model, b, max_batch);
  if (model->precision() != options.precision) {
    detail::Fail(ErrorCode::kInvalidArgument, where, "the model's precision is now ",
                 precision_name(model->precision()), "; this trainer computes in ",
                 precision_name(options.precision),
                 ", the precision the model had when it was made: make a new Trainer");
  }
  if (model->portable() != options.portable) {
    detail::Fail(ErrorCode::kInvalidArgument, where, "the model's portable mode is now ",
                 model->portable() ? "on" : "off", "; this trainer computes with it ",
                 options.portable ? "on" : "off",
                 ", as the model had it when it was made: make a new Trainer");
  }
  const detail::ScopedExecution exec(options.executor, threads);
  const int64_t m = b.rows;
  const int64_t shards = detail::CeilDiv(m, shard_rows);
  const int64_t n_layers = static_cast<int64_t>(net.size());
  // Shards produce gradient sums over their rows; the 1 / rows of the mean is applied once, by
  // the update (or here, for compute_gradients), so that sums from other processes add exactly.
  const float out_scale = mean ? static_cast<float>(1.0 / static_cast<double>(m)) : 1.0f;
  PackWeights(m);

  auto run_shard = [&](detail::ShardBuffers& buf, int64_t s, int gemm_threads,
                       const detail::GemmScratch* scratch) {
    const int64_t r0 = s * shard_rows, rows = std::min(shard_rows, m - r0);
    const size_t si = static_cast<size_t>(s);
    RunShard(buf, b, r0, rows, grad_ptrs[si], gemm_threads, scratch, &shard_loss[si],
             &shard_correct[si], shard_bounds.data() + s * n_layers);
  };
  // Shards in parallel when they fill the threads evenly (or there are many of them); else one
  // shard after the other with every GEMM and element-wise pass on all threads.
  const bool by_shard = ByShard(shards);
  if (by_shard) {
    auto task = [&](int64_t t) {
      const detail::Range r = detail::Balance211(shards, threads, t);
      const detail::GemmScratch scratch{&packs[static_cast<size_t>(t)], 1};
      for (int64_t s = r.begin; s < r.end; ++s) {
        run_shard(workers[static_cast<size_t>(t)], s, 1, &scratch);
      }
    };
    detail::ParallelFor(threads, threads, task);
  } else {
    const detail::GemmScratch scratch{packs.data(), static_cast<int64_t>(packs.size())};
    for (int64_t s = 0; s < shards; ++s) run_shard(workers[0], s, threads, &scratch);
  }

  StepResult result;
  result.rows = m;
  double loss = 0.0;
  for (int64_t s = 0; s < shards; ++s) {
    loss += shard_loss[static_cast<size_t>(s)];
    result.correct += shard_correct[static_cast<size_t>(s)];
  }
  result.loss = loss / static_cast<double>(m);
  if (!std::isfinite(result.loss)) {
    int64_t bad = 0;
    while (bad < shards && std::isfinite(shard_loss[static_cast<size_t>(bad)])) ++bad;
    const int64_t r0 = bad * shard_rows, r1 = std::min(m, r0 + shard_rows);
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1, ": the loss is ", result.loss,
                 " (first in shard ", bad, ", rows ", r0, "-", r1 - 1,
                 " of the batch); the parameters are left as they were before this step");
  }

  // Reduce the shard gradients chunk by chunk (pairwise in shard order; scaled to the mean for
  // compute_gradients); the norm, when asked for, from each chunk's sum of squares while it is in
  // cache.
  const bool need_norm = NeedNorm();
  const int64_t chunks = detail::ChunkCount(count);
  const int64_t tasks = std::min<int64_t>(threads, chunks);
  if (shards > 1 || need_norm || out_scale != 1.0f) {
    auto reduce = [&](int64_t t) {
      const detail::Range r = detail::Balance211(chunks, tasks, t);
      const float** ptrs = chunk_ptrs.data() + t * max_shards;
      for (int64_t c = r.begin; c < r.end; ++c) {
        const int64_t j0 = c * kChunk, n = std::min(kChunk, count - j0);
        float* g = grad_ptrs[0] + j0;
        if (shards > 1 || out_scale != 1.0f) {
          for (int64_t s = 0; s < shards; ++s) ptrs[s] = grad_ptrs[static_cast<size_t>(s)] + j0;
          kern.ew->reduce_sum(shards, ptrs, n, out_scale, g);
        }
        if (need_norm) chunk_sumsq[static_cast<size_t>(c)] = detail::SumOfSquares(*kern.ew, n, g);
      }
    };
    detail::ParallelFor(tasks, static_cast<int>(tasks), reduce);
  }

  // NaN/Inf in the gradient: seen in the norm when there is one; else a layer whose bound (the
  // sum over shards of the per-shard bounds, which also covers every partial sum of the
  // reduction) stays below 2^126 cannot hold one, and the other layers are checked.
  bool finite = true;
  const float* g = grad_ptrs[0];
  result.grad_norm = std::numeric_limits<double>::quiet_NaN();
  if (need_norm) {
    double sumsq = 0.0;
    for (int64_t c = 0; c < chunks; ++c) sumsq += chunk_sumsq[static_cast<size_t>(c)];
    finite = std::isfinite(sumsq);
    result.grad_norm = std::sqrt(sumsq);
  } else {
    for (int64_t l = 0; l < n_layers && finite; ++l) {
      double bound = 0.0;
      for (int64_t s = 0; s < shards; ++s) bound += shard_bounds[s * n_layers + l];
      if (bound < 0x1p126) continue;
      const LayerLayout& layer = net[static_cast<size_t>(l)].layout();
      const int64_t n = layer.bias_offset + layer.out - layer.weight_offset;
      finite = detail::FirstNonFinite(g + layer.weight_offset, n) == n;
    }
  }
  if (!finite) {
    const int64_t j = detail::FirstNonFinite(g, count);
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1, ": the gradient is not finite (",
                 detail::ParameterName(net, j), " = ", g[j],
                 "); the parameters are left as they were before this step");
  }
  return result;
}

detail::OptimizerUpdate Trainer::Impl::NextUpdate(double norm, double grad_scale) const {
  const float scale = static_cast<float>(clip_scale(norm, opt.clip_norm) * grad_scale);
  return detail::OptimizerUpdate(opt, lr, steps + 1, scale);
}

void Trainer::Impl::Update(double norm, double grad_scale) {
  const detail::ScopedExecution exec(options.executor, threads);
  const detail::OptimizerUpdate update = NextUpdate(norm, grad_scale);
  float* w = model->parameters();
  const float* g = model->gradients();
  // Threads take runs of whole units of about count / threads parameters each.
  const int64_t tasks = std::min<int64_t>(threads, static_cast<int64_t>(update_units.size()));
  auto first_unit = [&](int64_t t) {
    const int64_t at = detail::Balance211(count, tasks, t).begin;
    auto it = std::lower_bound(update_units.begin(), update_units.end(), at,
                               [](const UpdateUnit& u, int64_t j) { return u.begin < j; });
    return static_cast<size_t>(it - update_units.begin());
  };
  auto task = [&](int64_t t) {
    for (size_t i = first_unit(t), end = first_unit(t + 1); i < end; ++i) {
      const UpdateUnit& u = update_units[i];
      update.ApplyToArena(*kern.ew, *model, u.begin, u.end - u.begin, w, g, state.data(), count);
      if (u.r0 >= 0) {
        const size_t l = static_cast<size_t>(u.layer);
        net[l].PackWeightRows(kern, w, by_update[l], u.r0, u.r1);
      }
    }
  };
  if (tasks > 0) detail::ParallelFor(tasks, static_cast<int>(tasks), task);
  packed_version = model->version();
  ++steps;
}

void Trainer::Impl::UpdateSlice(double norm, double grad_scale, int64_t chunk_begin,
                                int64_t chunk_end) {
  const detail::ScopedExecution exec(options.executor, threads);
  const detail::OptimizerUpdate update = NextUpdate(norm, grad_scale);
  float* w = model->parameters();
  const float* g = model->gradients();
  chunk_end = std::min(chunk_end, detail::ChunkCount(count));
  const int64_t chunks = chunk_end - chunk_begin;
  const int64_t tasks = std::min<int64_t>(threads, chunks);
  auto task = [&](int64_t t) {
    const detail::Range r = detail::Balance211(chunks, tasks, t);
    const int64_t j0 = (chunk_begin + r.begin) * kChunk;
    const int64_t n = std::min((chunk_begin + r.end) * kChunk, count) - j0;
    update.ApplyToArena(*kern.ew, *model, j0, n, w, g, state.data(), count);
  };
  if (tasks > 0) detail::ParallelFor(tasks, static_cast<int>(tasks), task);
  ++steps;
}

Trainer::Trainer(Model& model, const OptimizerConfig& optimizer, int64_t max_batch,
                 const StepOptions& options)
    : impl_(std::make_unique<Impl>()) {
  const char* where = "propel::Trainer";
  using detail::Check;
  detail::CheckOptimizer(where, optimizer);
  Check(max_batch >= 1, where, "max_batch = ", max_batch, " must be at least 1");
  Check(options.shard_rows >= 1, where, "shard_rows = ", options.shard_rows, " must be at least 1");
  const int e = static_cast<int>(options.executor);
  Check(e >= 0 && e <= 2, where, "unknown executor ", e);
  Check(options.threads >= 0 && options.threads <= kMaxThreads, where,
        "threads = ", options.threads, " is outside [0, ", kMaxThreads,
        "] (0: the process-wide budget)");
  detail::CheckedPrecision(where, options.precision);
  Impl& t = *impl_;
  t.model = &model;
  t.opt = optimizer;
  t.lr = optimizer.lr;
  t.options = options;
  // Portable mode resolves auto to fp32: auto's choice depends on the CPU.
  t.options.precision = options.portable && options.precision == Precision::kAuto
                            ? Precision::kFp32
                            : resolve_precision(options.precision);
  t.threads = options.threads > 0 ? options.threads : num_threads();
  t.options.threads = t.threads;
  t.max_batch = max_batch;
  t.shard_rows = std::min(options.shard_rows, max_batch);
  t.max_shards = detail::CeilDiv(max_batch, t.shard_rows);
  t.count = model.parameter_count();
  t.kern = detail::ActiveNetKernels(t.options.precision, t.options.portable);
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    t.net.emplace_back(model.layer(l), l == model.num_layers() - 1);
  }
  const int64_t n_layers = model.num_layers();
  const int64_t state_arrays = detail::StateArrays(t.opt.kind);

  // Workers: one per thread when shards can run side by side, else one.
  const int64_t n_workers = std::max<int64_t>(1, std::min<int64_t>(t.threads, t.max_shards));
  const int64_t rows = t.shard_rows;
  // Packed weights (the forward's of every layer, the input gradient's of all but the first)
  // where the update keeps them (by_update) or a batch can pack them more than once (several
  // shards or threads).
  const bool several = t.max_shards > 1 || t.threads > 1;
  struct PackedAt {
    int64_t offset = -1;  // floats into packed_memory, -1: none
    bool kept = false;    // by the update
  };
  std::vector<PackedAt> packed_at(2 * t.net.size());  // [2 l + input_grad]
  int64_t packed_floats = 0;
  for (size_t l = 0; l < t.net.size(); ++l) {
    for (bool input_grad : {false, true}) {
      if (input_grad && l == 0) continue;
      const bool kept = t.kern.gemm->pair_panels() || t.Packings(l, max_batch, input_grad) > 1;
      if (!kept && !several) continue;
      packed_at[2 * l + input_grad] = {packed_floats, kept};
      packed_floats += detail::PadToLine(t.net[l].PackedFloats(t.kern, input_grad));
    }
  }
  {
    // Everything below that grows with the model or the batch, before any of it is allocated:
    // optimizer state, shard gradient buffers, and per worker the activations of a shard.
    int64_t widest = 0;
    for (const detail::DenseLayer& layer : t.net) widest = std::max(widest, layer.layout().out);
    double activations = 2.0 * static_cast<double>(rows) * static_cast<double>(widest);
    for (const detail::DenseLayer& layer : t.net) activations += 2.0 * rows * layer.layout().out;
    const double model_bytes = 8.0 * static_cast<double>(t.count);
    const double bytes =
        4.0 * (static_cast<double>(state_arrays + t.max_shards - 1) * static_cast<double>(t.count) +
               static_cast<double>(n_workers) * activations + static_cast<double>(packed_floats));
    detail::CheckMemory(where,
                        "training " + model.describe() + " (batch " + std::to_string(max_batch) +
                            ", shards of " + std::to_string(t.shard_rows) + " rows, " +
                            std::to_string(t.threads) + " threads: optimizer state, shard " +
                            "gradients, activations and packed weights, besides the model's " +
                            detail::FormatBytes(model_bytes) + ")",
                        bytes + model_bytes);
  }
  for (int64_t i = 0; i < n_workers; ++i) t.workers.emplace_back(t.net, rows);
  // Packing buffers for every GEMM of a shard, on one thread or on all of them.
  t.packs = std::vector<detail::PackBuffers>(static_cast<size_t>(t.threads));
  const detail::GemmScratch scratch{t.packs.data(), static_cast<int64_t>(t.packs.size())};
  for (const detail::DenseLayer& layer : t.net) layer.Reserve(t.kern, rows, scratch);
  if (packed_floats > 0) t.packed_memory.Resize(packed_floats);
  t.packed.resize(t.net.size());
  t.by_update.resize(t.net.size());
  t.step_packed.resize(t.net.size());
  for (size_t l = 0; l < t.net.size(); ++l) {
    for (bool input_grad : {false, true}) {
      const PackedAt& at = packed_at[2 * l + input_grad];
      if (at.offset < 0) continue;
      float* storage = t.packed_memory.data() + at.offset;
      (input_grad ? t.packed[l].input_grad : t.packed[l].forward) = storage;
      if (at.kept) (input_grad ? t.by_update[l].input_grad : t.by_update[l].forward) = storage;
    }
  }
  // The update's units: bands of W of whole row units, about kChunk parameters each, and biases.
  for (size_t l = 0; l < t.net.size(); ++l) {
    const LayerLayout& layer = t.net[l].layout();
    const int64_t unit = t.net[l].WeightRowUnit(t.kern);
    const int64_t band = unit * std::max<int64_t>(1, kChunk / (unit * layer.in));
    for (int64_t r0 = 0; r0 < layer.out; r0 += band) {
      const int64_t r1 = std::min(layer.out, r0 + band);
      t.update_units.push_back({layer.weight_offset + r0 * layer.in,
                                layer.weight_offset + r1 * layer.in, static_cast<int64_t>(l), r0,
                                r1});
    }
    t.update_units.push_back(
        {layer.bias_offset, layer.bias_offset + layer.out, static_cast<int64_t>(l), -1, -1});
  }
  // Shard gradient buffers: shard 0 writes into the model's gradient arena.
  t.grad_ptrs.assign(static_cast<size_t>(t.max_shards), nullptr);
  t.grad_ptrs[0] = model.gradients();
  for (int64_t i = 1; i < t.max_shards; ++i) {
    t.shard_grads.emplace_back(t.count);
    t.grad_ptrs[static_cast<size_t>(i)] = t.shard_grads.back().data();
  }
  t.chunk_ptrs.assign(static_cast<size_t>(t.threads * t.max_shards), nullptr);
  t.shard_loss.assign(static_cast<size_t>(t.max_shards), 0.0);
  t.shard_correct.assign(static_cast<size_t>(t.max_shards), 0);
  t.chunk_sumsq.assign(static_cast<size_t>(detail::ChunkCount(t.count)), 0.0);
  t.shard_bounds.assign(static_cast<size_t>(t.max_shards * n_layers), 0.0);
  if (state_arrays > 0) t.state.Resize(state_arrays * t.count);
  model.set_precision(t.options.precision);
  model.set_portable(t.options.portable);
}

Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;
Trainer::~Trainer() = default;

StepResult Trainer::step(const DataView& batch) {
  const char* where = "propel::Trainer::step";
  Impl& t = *impl_;
  if (t.exchange.reduce_scatter) return t.ExchangeStep(where, batch);
  if (t.reducer) return t.ReducerStep(where, batch);
  StepResult r = t.Gradients(where, batch, false);  // sums over the batch's rows
  const double inv_rows = 1.0 / static_cast<double>(r.rows);
  r.grad_norm *= inv_rows;  // of the mean gradient (NaN stays NaN)
  t.Update(r.grad_norm, inv_rows);
  return r;
}

StepResult Trainer::compute_gradients(const DataView& batch) {
  return impl_->Gradients("propel::Trainer::compute_gradients", batch, true);
}

void Trainer::apply_gradients() {
  const char* where = "propel::Trainer::apply_gradients";
  Impl& t = *impl_;
  const detail::ScopedExecution exec(t.options.executor, t.threads);
  const float* g = t.model->gradients();
  const double sumsq = detail::SumOfSquares(*t.kern.ew, t.count, g);
  if (std::isnan(sumsq)) {
    const int64_t j = detail::FirstNonFinite(g, t.count);
    detail::Fail(ErrorCode::kNumerical, where, "gradient [", j, "] = ", g[j],
                 "; the parameters are left unchanged");
  }
  t.Update(std::sqrt(sumsq), 1.0);
}

float Trainer::learning_rate() const { return impl_->lr; }

void Trainer::set_learning_rate(float lr) {
  detail::Check(std::isfinite(lr) && lr >= 0.0f, "propel::Trainer::set_learning_rate", "lr = ", lr,
                " must be finite and non-negative");
  impl_->lr = lr;
}

const OptimizerConfig& Trainer::optimizer() const { return impl_->opt; }
Model& Trainer::model() { return *impl_->model; }
int64_t Trainer::steps() const { return impl_->steps; }

void Trainer::set_steps(int64_t steps) {
  detail::Check(steps >= 0 && steps <= detail::kMaxSteps, "propel::Trainer::set_steps",
                "steps = ", steps, " is outside [0, 2^53]");
  impl_->steps = steps;
}

int64_t Trainer::state_size() const { return detail::StateArrays(impl_->opt.kind) * impl_->count; }

float* Trainer::state() { return impl_->state.data(); }
int64_t Trainer::max_batch() const { return impl_->max_batch; }
int Trainer::threads() const { return impl_->threads; }
const StepOptions& Trainer::options() const { return impl_->options; }

}  // namespace propel
