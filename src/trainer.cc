// propel::Trainer: the shard scheduler and the training step (forward, loss, backward, shard
// reduction, optimizer update) on a workspace allocated once.
//
// Invariants that make a step bitwise reproducible for any thread count and executor:
//   - shard boundaries depend on the batch and StepOptions::shard_rows only;
//   - every floating-point result inside a shard is produced by the same operations whether the
//     shard runs alone on one thread or with its GEMMs and element-wise passes spread over many:
//     the GEMM splits over m and n only, element-wise passes are split by whole rows (or, for the
//     bias gradient, whole columns, each summed over rows in order);
//   - shard gradients are added by one fixed pairwise tree in shard order, element by element;
//   - scalar totals (loss, gradient norm) are added in a fixed order: per shard, per chunk.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "propel/optim.h"
#include "propel/train.h"
#include "src/check.h"
#include "src/dense_layer.h"
#include "src/elementwise.h"
#include "src/executor.h"
#include "src/memory.h"
#include "src/names.h"
#include "src/network.h"
#include "src/partition.h"
#include "src/train_internal.h"

namespace propel {

namespace {

// Parameters per chunk of the reduction, norm and update passes: 64 KiB of each array, so a
// chunk's reduced gradient is still in L2 when its sum of squares is taken.
constexpr int64_t kChunk = 16384;

const char* const kOptimizerNames[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};

bool IsMomentum(Optimizer o) { return o == Optimizer::kMomentum || o == Optimizer::kNesterov; }
bool IsAdam(Optimizer o) { return o == Optimizer::kAdam || o == Optimizer::kAdamW; }

}  // namespace

void detail::CheckOptimizer(const char* where, const OptimizerConfig& o) {
  using detail::Check;
  const int kind = static_cast<int>(o.kind);
  Check(kind >= 0 && kind <= 4, where, "unknown optimizer ", kind);
  Check(std::isfinite(o.lr) && o.lr >= 0.0f, where, "lr = ", o.lr,
        " must be finite and non-negative");
  Check(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f, where,
        "weight_decay = ", o.weight_decay, " must be finite and non-negative");
  Check(std::isfinite(o.clip_norm) && o.clip_norm >= 0.0f, where, "clip_norm = ", o.clip_norm,
        " must be finite and non-negative (0: off)");
  if (IsMomentum(o.kind)) {
    Check(o.momentum > 0.0f && o.momentum < 1.0f, where, "momentum = ", o.momentum,
          " must be in (0, 1)");
  }
  if (IsAdam(o.kind)) {
    Check(o.beta1 >= 0.0f && o.beta1 < 1.0f, where, "beta1 = ", o.beta1, " must be in [0, 1)");
    Check(o.beta2 >= 0.0f && o.beta2 < 1.0f, where, "beta2 = ", o.beta2, " must be in [0, 1)");
    Check(std::isfinite(o.eps) && o.eps > 0.0f, where, "eps = ", o.eps, " must be positive");
  }
}

const char* optimizer_name(Optimizer optimizer) {
  return detail::NameOf(kOptimizerNames, static_cast<int>(optimizer));
}

Optimizer parse_optimizer(const std::string& name) {
  const int o = detail::IndexOf(kOptimizerNames, name);
  if (o >= 0) return static_cast<Optimizer>(o);
  detail::Fail(ErrorCode::kInvalidArgument, "propel::parse_optimizer", "unknown optimizer '", name,
               "' (expected ", detail::Alternatives(kOptimizerNames), ")");
}

namespace detail {

void CheckData(const char* where, const Model& model, const DataView& d, int64_t max_rows) {
  Check(d.rows >= 1, where, "the data has ", d.rows, " rows (at least 1 needed)");
  Check(max_rows <= 0 || d.rows <= max_rows, where, "the batch has ", d.rows,
        " rows, more than max_batch = ", max_rows);
  const int64_t in = model.inputs(), out = model.outputs();
  const int64_t ldx = d.ldx == 0 ? in : d.ldx;
  Check(d.x != nullptr, where, "x is null");
  Check(ldx >= in, where, "ldx = ", ldx, " is smaller than the model's input width ", in);
  Check(d.rows - 1 <= ((int64_t{1} << 60) - in) / ldx, where, "x: ", d.rows, " rows of stride ",
        ldx, " exceed the largest array size");
  if (model.head() == Head::kMulticlass) {
    Check(d.labels != nullptr, where, "labels are null (a multiclass model needs one per row)");
    for (int64_t i = 0; i < d.rows; ++i) {
      Check(d.labels[i] >= 0 && d.labels[i] < out, where, "label of row ", i, " is ", d.labels[i],
            ", outside [0, ", out, ")");
    }
    return;
  }
  const int64_t ldt = d.ldt == 0 ? out : d.ldt;
  Check(d.targets != nullptr, where, "targets are null (a ", head_name(model.head()),
        " model needs rows x ", out, " of them)");
  Check(ldt >= out, where, "ldt = ", ldt, " is smaller than the output width ", out);
  Check(d.rows - 1 <= ((int64_t{1} << 60) - out) / ldt, where, "targets: ", d.rows,
        " rows of stride ", ldt, " exceed the largest array size");
  const bool binary = model.head() == Head::kBinary;
  for (int64_t i = 0; i < d.rows; ++i) {
    const float* t = d.targets + i * ldt;
    for (int64_t j = 0; j < out; ++j) {
      const bool ok = binary ? (t[j] >= 0.0f && t[j] <= 1.0f) : std::isfinite(t[j]);
      Check(ok, where, "target [", i, "][", j, "] = ", t[j],
            binary ? " is outside [0, 1]" : " is not finite");
    }
  }
}

double HeadLoss(const kernels::ElementwiseKernels& ew, Head head, int64_t rows, int64_t out,
                const float* z, const DataView& d, int64_t r0, float grad_scale, float* dz,
                int64_t* correct) {
  double loss = 0.0;
  int64_t right = 0;
  if (head == Head::kMulticlass) {
    const int32_t* labels = d.labels + r0;
    loss = ew.softmax_ce_labels(rows, out, z, labels, grad_scale, dz);
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = z + i * out;
      const int64_t best = std::max_element(row, row + out) - row;
      right += best == labels[i] ? 1 : 0;
    }
  } else {
    const int64_t ldt = d.ldt == 0 ? out : d.ldt;
    const float* t = d.targets + r0 * ldt;
    const kernels::ElementLossFn fn = head == Head::kBinary ? ew.bce_logits : ew.mse;
    if (ldt == out) {
      loss = fn(rows * out, z, t, grad_scale, dz);
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        loss += fn(out, z + i * out, t + i * ldt, grad_scale, dz ? dz + i * out : nullptr);
      }
    }
    if (head == Head::kBinary) {
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < out; ++j) {
          right += (z[i * out + j] > 0.0f) == (t[i * ldt + j] >= 0.5f) ? 1 : 0;
        }
      }
    }
  }
  if (correct != nullptr) *correct = right;
  return loss;
}

}  // namespace detail

struct Trainer::Impl {
  // One worker's buffers for a shard of up to shard_rows rows.
  struct Slot {
    detail::AlignedFloats memory;
    std::vector<float*> a;  // a[l]: output of hidden layer l (rows x out_l)
    std::vector<float*> z;  // z[l]: pre-activation where the backward pass needs it, and logits
    float* delta[2] = {nullptr, nullptr};
  };

  Model* model = nullptr;
  OptimizerConfig opt;  // as configured
  float lr = 0.0f;      // of the next update
  StepOptions options;
  int threads = 1;
  int64_t max_batch = 0;
  int64_t shard_rows = 0;
  int64_t max_shards = 0;
  int64_t count = 0;
  detail::NetKernels k;
  std::vector<detail::DenseLayer> net;  // the model's layers, the units of a shard
  std::vector<Slot> slots;
  std::vector<detail::PackBuffers> packs;  // one per thread
  std::vector<detail::AlignedFloats> shard_grads;
  std::vector<float*> grad_ptrs;         // max_shards: [0] is the model's gradient arena
  std::vector<const float*> chunk_ptrs;  // threads x max_shards, for the reduction
  std::vector<double> shard_loss;
  std::vector<int64_t> shard_correct;
  std::vector<double> chunk_sumsq;
  std::vector<double> shard_bounds;  // max_shards x layers: see Shard
  detail::AlignedFloats state;
  int64_t steps = 0;
  GradientReducer reducer;            // step(): local sums -> sums over every process
  GradientExchange exchange;          // or: the update split over the processes
  std::vector<int64_t> slice_chunks;  // exchange: ranks + 1 chunk offsets of the slices
  std::vector<int64_t> slice_bounds;  // the same in parameters

  void Shard(Slot& w, const DataView& b, int64_t r0, int64_t rows, float* grad, int gemm_threads,
             const detail::GemmScratch* scratch, double* loss, int64_t* correct, double* bounds);
  // Forward, loss, backward and shard reduction into the model's gradient arena: sums over the
  // batch's rows, or (mean) the mean gradient.
  StepResult Gradients(const char* where, const DataView& b, bool mean);
  // The optimizer update from g_eff = grad_scale * clip(norm) * gradient, of the parameters in
  // chunks [chunk_begin, chunk_end) (all of them by default).
  void Update(double norm, double grad_scale, int64_t chunk_begin = 0,
              int64_t chunk_end = std::numeric_limits<int64_t>::max());
  // chunk_sumsq[c] for chunks [c0, c1) of g: the sum of squares (in double when the squares pass
  // the float range), NaN for a chunk holding NaN/Inf. On all threads.
  void ChunkSquares(const float* g, int64_t c0, int64_t c1);
  // step() with a GradientExchange: the update of this process's slice only.
  StepResult ExchangeStep(const char* where, const DataView& batch);
};

namespace {

// Index of the first NaN or Inf among x[0, n), or n.
int64_t FirstNonFinite(const float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(x[j])) return j;
  }
  return n;
}

}  // namespace

void Trainer::Impl::Shard(Slot& w, const DataView& b, int64_t r0, int64_t rows, float* grad,
                          int gemm_threads, const detail::GemmScratch* scratch, double* loss,
                          int64_t* correct, double* bounds) {
  const float* params = model->parameters();
  const int64_t n_layers = static_cast<int64_t>(net.size());
  const int64_t ldx = b.ldx == 0 ? model->inputs() : b.ldx;
  const float* x = b.x + r0 * ldx;

  // Forward: each layer into the buffers it keeps; the output layer produces logits.
  const float* a_prev = x;
  int64_t lda = ldx;
  for (int64_t l = 0; l < n_layers; ++l) {
    const size_t ls = static_cast<size_t>(l);
    net[ls].Forward(k, params, rows, a_prev, lda, w.z[ls], w.a[ls], gemm_threads, scratch);
    a_prev = w.a[ls];
    lda = net[ls].layout().out;
  }

  // The head: the loss and its gradient with respect to the logits (sums over the shard's rows:
  // the 1 / rows of the mean is the update's), then the output layer's bias gradient.
  const detail::DenseLayer& top = net.back();
  int cur = 0;
  *loss = detail::HeadLoss(*k.ew, model->head(), rows, top.layout().out, w.z.back(), b, r0, 1.0f,
                           w.delta[cur], correct);
  top.BiasGradient(k, rows, w.delta[cur], grad);

  // Backward: each layer's dW and the dA below it; the layer below turns dA into its dZ and db.
  for (int64_t l = n_layers - 1; l >= 0; --l) {
    const size_t ls = static_cast<size_t>(l);
    const float* a_in = l == 0 ? x : w.a[ls - 1];
    const int64_t ld_in = l == 0 ? ldx : net[ls].layout().in;
    float* da = l == 0 ? nullptr : w.delta[1 - cur];
    bounds[l] = net[ls].Backward(k, params, rows, w.delta[cur], a_in, ld_in, grad, da, gemm_threads,
                                 scratch);
    if (l == 0) break;
    net[ls - 1].ActivationBackward(k, rows, da, w.z[ls - 1], w.a[ls - 1], grad, gemm_threads);
    cur = 1 - cur;
  }
}

StepResult Trainer::Impl::Gradients(const char* where, const DataView& b, bool mean) {
  detail::CheckData(where, *model, b, max_batch);
  const detail::ScopedExecution exec(options.executor, threads);
  const int64_t m = b.rows;
  const int64_t shards = detail::CeilDiv(m, shard_rows);
  // Shards produce gradient sums over their rows; the 1 / rows of the mean is applied once, by
  // the update (or here, for compute_gradients), so that sums from other processes add exactly.
  const float out_scale = mean ? static_cast<float>(1.0 / static_cast<double>(m)) : 1.0f;

  auto run_shard = [&](Slot& w, int64_t s, int gemm_threads, const detail::GemmScratch* scratch) {
    const int64_t r0 = s * shard_rows, rows = std::min(shard_rows, m - r0);
    Shard(w, b, r0, rows, grad_ptrs[static_cast<size_t>(s)], gemm_threads, scratch,
          &shard_loss[static_cast<size_t>(s)], &shard_correct[static_cast<size_t>(s)],
          shard_bounds.data() + s * static_cast<int64_t>(net.size()));
  };
  // Shards in parallel when they fill the threads evenly (or there are many of them); else one
  // shard after the other with every GEMM and element-wise pass on all threads.
  const bool by_shard = threads > 1 && shards >= threads &&
                        (shards % threads == 0 || shards >= 4 * static_cast<int64_t>(threads));
  if (by_shard) {
    auto task = [&](int64_t t) {
      const detail::Range r = detail::Balance211(shards, threads, t);
      const detail::GemmScratch scratch{&packs[static_cast<size_t>(t)], 1};
      for (int64_t s = r.begin; s < r.end; ++s) {
        run_shard(slots[static_cast<size_t>(t)], s, 1, &scratch);
      }
    };
    detail::ParallelFor(threads, threads, task);
  } else {
    const detail::GemmScratch scratch{packs.data(), static_cast<int64_t>(packs.size())};
    for (int64_t s = 0; s < shards; ++s) run_shard(slots[0], s, threads, &scratch);
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
  const bool need_norm = opt.clip_norm > 0.0f || options.track_grad_norm;
  const int64_t chunks = detail::CeilDiv(count, kChunk);
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
          k.ew->reduce_sum(shards, ptrs, n, out_scale, g);
        }
        if (need_norm) chunk_sumsq[static_cast<size_t>(c)] = k.ew->sum_squares(n, g);
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
    if (!std::isfinite(sumsq)) {
      // NaN/Inf, or squares past the float range (entries above 1.8e19): tell which, and take
      // the norm in double.
      finite = FirstNonFinite(g, count) == count;
      sumsq = 0.0;
      for (int64_t j = 0; finite && j < count; ++j) sumsq += static_cast<double>(g[j]) * g[j];
    }
    result.grad_norm = std::sqrt(sumsq);
  } else {
    const int64_t n_layers = static_cast<int64_t>(net.size());
    for (int64_t l = 0; l < n_layers && finite; ++l) {
      double bound = 0.0;
      for (int64_t s = 0; s < shards; ++s) bound += shard_bounds[s * n_layers + l];
      if (bound < 0x1p126) continue;
      const LayerLayout& layer = net[static_cast<size_t>(l)].layout();
      const int64_t n = layer.bias_offset + layer.out - layer.weight_offset;
      finite = FirstNonFinite(g + layer.weight_offset, n) == n;
    }
  }
  if (!finite) {
    const int64_t j = FirstNonFinite(g, count);
    int64_t l = 0;
    while (l + 1 < static_cast<int64_t>(net.size()) &&
           j >= net[static_cast<size_t>(l + 1)].layout().weight_offset) {
      ++l;
    }
    const LayerLayout& layer = net[static_cast<size_t>(l)].layout();
    std::ostringstream what;
    if (j < layer.bias_offset) {
      const int64_t e = j - layer.weight_offset;
      what << "dW of layer " << l << " [" << e / layer.in << "][" << e % layer.in << "]";
    } else {
      what << "db of layer " << l << " [" << j - layer.bias_offset << "]";
    }
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1, ": the gradient is not finite (",
                 what.str(), " = ", g[j],
                 "); the parameters are left as they were before this step");
  }
  return result;
}

void Trainer::Impl::Update(double norm, double grad_scale, int64_t chunk_begin, int64_t chunk_end) {
  const detail::ScopedExecution exec(options.executor, threads);
  const float scale = static_cast<float>(clip_scale(norm, opt.clip_norm) * grad_scale);
  float* w = model->parameters();
  const float* g = model->gradients();
  const int64_t t = steps + 1;
  kernels::SgdArgs sgd{lr, IsMomentum(opt.kind) ? opt.momentum : 0.0f, opt.weight_decay, scale,
                       opt.kind == Optimizer::kNesterov};
  AdamOptions adam_opt;
  adam_opt.lr = lr;
  adam_opt.beta1 = opt.beta1;
  adam_opt.beta2 = opt.beta2;
  adam_opt.eps = opt.eps;
  adam_opt.weight_decay = opt.weight_decay;
  adam_opt.decoupled = opt.kind == Optimizer::kAdamW;
  const kernels::AdamArgs adam = detail::AdamArgsFor(adam_opt, t, scale);
  float* s0 = state.data();
  float* s1 = IsAdam(opt.kind) ? state.data() + count : nullptr;
  chunk_end = std::min(chunk_end, detail::CeilDiv(count, kChunk));
  const int64_t chunks = chunk_end - chunk_begin;
  const int64_t tasks = std::min<int64_t>(threads, chunks);
  auto update = [&](int64_t task) {
    const detail::Range r = detail::Balance211(chunks, tasks, task);
    const int64_t j0 = (chunk_begin + r.begin) * kChunk;
    const int64_t n = std::min((chunk_begin + r.end) * kChunk, count) - j0;
    if (IsAdam(opt.kind)) {
      k.ew->adam(n, adam, w + j0, g + j0, s0 + j0, s1 + j0);
    } else {
      k.ew->sgd(n, sgd, w + j0, g + j0, s0 ? s0 + j0 : nullptr);
    }
  };
  if (tasks > 0) detail::ParallelFor(tasks, static_cast<int>(tasks), update);
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
  Impl& s = *impl_;
  s.model = &model;
  s.opt = optimizer;
  s.lr = optimizer.lr;
  s.options = options;
  s.threads = options.threads > 0 ? options.threads : num_threads();
  s.options.threads = s.threads;
  s.max_batch = max_batch;
  s.shard_rows = std::min(options.shard_rows, max_batch);
  s.max_shards = detail::CeilDiv(max_batch, s.shard_rows);
  s.count = model.parameter_count();
  s.k = detail::ActiveNetKernels();
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    s.net.emplace_back(model.layer(l), l == model.num_layers() - 1);
  }
  const int64_t n_layers = model.num_layers();

  // Workers: one per thread when shards can run side by side, else one.
  const int64_t n_slots = std::max<int64_t>(1, std::min<int64_t>(s.threads, s.max_shards));
  const int64_t rows = s.shard_rows;
  int64_t widest = 0;
  for (const detail::DenseLayer& layer : s.net) widest = std::max(widest, layer.layout().out);
  {
    // Everything below that grows with the model or the batch, before any of it is allocated:
    // optimizer state, shard gradient buffers, and per worker the activations of a shard.
    const int64_t state_arrays = IsAdam(s.opt.kind) ? 2 : IsMomentum(s.opt.kind) ? 1 : 0;
    double activations = 2.0 * static_cast<double>(rows) * static_cast<double>(widest);
    for (const detail::DenseLayer& layer : s.net) activations += 2.0 * rows * layer.layout().out;
    const double model_bytes = 8.0 * static_cast<double>(s.count);
    const double bytes =
        4.0 * (static_cast<double>(state_arrays + s.max_shards - 1) * static_cast<double>(s.count) +
               static_cast<double>(n_slots) * activations);
    detail::CheckMemory(where,
                        "training " + model.describe() + " (batch " + std::to_string(max_batch) +
                            ", shards of " + std::to_string(s.shard_rows) + " rows, " +
                            std::to_string(s.threads) + " threads: optimizer state, shard " +
                            "gradients and activations, besides the model's " +
                            detail::FormatBytes(model_bytes) + ")",
                        bytes + model_bytes);
  }
  s.slots.resize(static_cast<size_t>(n_slots));
  for (Impl::Slot& w : s.slots) {
    // One allocation carved into line-aligned pieces: two delta buffers of the widest layer, then
    // per layer what it keeps (DenseLayer::keeps_*). The walk runs twice, to size and to carve.
    w.a.assign(static_cast<size_t>(n_layers), nullptr);
    w.z.assign(static_cast<size_t>(n_layers), nullptr);
    auto carve = [&](float* base) {
      const int64_t delta = detail::PadToLine(rows * widest);
      int64_t at = 2 * delta;
      for (int64_t l = 0; l < n_layers; ++l) {
        const detail::DenseLayer& layer = s.net[static_cast<size_t>(l)];
        const int64_t piece = detail::PadToLine(rows * layer.layout().out);
        for (auto [keeps, slot] : {std::pair{layer.keeps_output(), &w.a},
                                   std::pair{layer.keeps_pre_activation(), &w.z}}) {
          if (!keeps) continue;
          if (base != nullptr) (*slot)[static_cast<size_t>(l)] = base + at;
          at += piece;
        }
      }
      if (base != nullptr) {
        w.delta[0] = base;
        w.delta[1] = base + delta;
      }
      return at;
    };
    w.memory.Resize(carve(nullptr));
    carve(w.memory.data());
  }
  // Packing buffers for every GEMM of a shard, on one thread or on all of them.
  s.packs = std::vector<detail::PackBuffers>(static_cast<size_t>(s.threads));
  const detail::GemmScratch scratch{s.packs.data(), static_cast<int64_t>(s.packs.size())};
  for (const detail::DenseLayer& layer : s.net) layer.Reserve(s.k, rows, scratch);
  // Shard gradient buffers: shard 0 writes into the model's gradient arena.
  s.grad_ptrs.assign(static_cast<size_t>(s.max_shards), nullptr);
  s.grad_ptrs[0] = model.gradients();
  for (int64_t i = 1; i < s.max_shards; ++i) {
    s.shard_grads.emplace_back(s.count);
    s.grad_ptrs[static_cast<size_t>(i)] = s.shard_grads.back().data();
  }
  s.chunk_ptrs.assign(static_cast<size_t>(s.threads * s.max_shards), nullptr);
  s.shard_loss.assign(static_cast<size_t>(s.max_shards), 0.0);
  s.shard_correct.assign(static_cast<size_t>(s.max_shards), 0);
  s.chunk_sumsq.assign(static_cast<size_t>(detail::CeilDiv(s.count, kChunk)), 0.0);
  s.shard_bounds.assign(static_cast<size_t>(s.max_shards * n_layers), 0.0);
  const int64_t state_arrays = IsAdam(s.opt.kind) ? 2 : IsMomentum(s.opt.kind) ? 1 : 0;
  if (state_arrays > 0) s.state.Resize(state_arrays * s.count);
}

Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;
Trainer::~Trainer() = default;

StepResult Trainer::step(const DataView& batch) {
  const char* where = "propel::Trainer::step";
  Impl& s = *impl_;
  if (s.exchange.reduce_scatter) return s.ExchangeStep(where, batch);
  StepResult r;
  if (batch.rows == 0 && s.reducer) {  // nothing from this process this step
    std::fill(s.model->gradients(), s.model->gradients() + s.count, 0.0f);
    const bool need_norm = s.opt.clip_norm > 0.0f || s.options.track_grad_norm;
    if (need_norm) r.grad_norm = 0.0;
  } else {
    r = s.Gradients(where, batch, false);  // sums over the batch's rows
  }
  int64_t total = r.rows;
  if (s.reducer) {
    float* g = s.model->gradients();
    total = s.reducer(g, s.count, r.rows);
    detail::Check(total >= 1, where, "step ", s.steps + 1, ": the gradient reducer returned ",
                  total, " rows (at least 1 expected); the parameters are left as they were");
    // Every process checked its own sums; their total can still overflow. The chunks' sums of
    // squares tell, and give the norm of the reduced sums.
    const int64_t chunks = detail::CeilDiv(s.count, kChunk);
    s.ChunkSquares(g, 0, chunks);
    double sumsq = 0.0;
    for (int64_t c = 0; c < chunks; ++c) sumsq += s.chunk_sumsq[static_cast<size_t>(c)];
    if (!std::isfinite(sumsq)) {
      const int64_t bad = FirstNonFinite(g, s.count);
      detail::Fail(ErrorCode::kNumerical, where, "step ", s.steps + 1,
                   ": the reduced gradient is not finite ([", bad, "] = ", g[bad],
                   "); the parameters are left as they were before this step");
    }
    if (!std::isnan(r.grad_norm)) r.grad_norm = std::sqrt(sumsq);
  }
  const double inv_rows = 1.0 / static_cast<double>(total);
  r.grad_norm *= inv_rows;  // of the mean gradient (NaN stays NaN)
  s.Update(r.grad_norm, inv_rows);
  return r;
}

StepResult Trainer::compute_gradients(const DataView& batch) {
  return impl_->Gradients("propel::Trainer::compute_gradients", batch, true);
}

void Trainer::set_gradient_reducer(GradientReducer reducer) {
  detail::Check(!reducer || !impl_->exchange.reduce_scatter,
                "propel::Trainer::set_gradient_reducer",
                "a gradient exchange is set; remove it first");
  impl_->reducer = std::move(reducer);
}

void Trainer::set_gradient_exchange(GradientExchange exchange) {
  const char* where = "propel::Trainer::set_gradient_exchange";
  Impl& s = *impl_;
  if (!exchange.reduce_scatter) {
    s.exchange = GradientExchange{};
    return;
  }
  detail::Check(!s.reducer, where, "a gradient reducer is set; remove it first");
  detail::Check(
      static_cast<bool>(exchange.all_gather) && static_cast<bool>(exchange.all_gather_doubles),
      where, "all_gather and all_gather_doubles are required");
  detail::Check(exchange.ranks >= 1 && exchange.rank >= 0 && exchange.rank < exchange.ranks, where,
                "rank ", exchange.rank, " of ", exchange.ranks, " is not a valid rank");
  // Slices of whole chunks, so that each chunk's sum of squares is taken as one process would.
  const int64_t chunks = detail::CeilDiv(s.count, kChunk);
  s.slice_chunks.resize(static_cast<size_t>(exchange.ranks) + 1);
  s.slice_bounds.resize(static_cast<size_t>(exchange.ranks) + 1);
  for (int r = 0; r <= exchange.ranks; ++r) {
    s.slice_chunks[static_cast<size_t>(r)] = chunks * r / exchange.ranks;
    s.slice_bounds[static_cast<size_t>(r)] =
        std::min(s.count, s.slice_chunks[static_cast<size_t>(r)] * kChunk);
  }
  s.exchange = std::move(exchange);
}

void Trainer::gather_optimizer_state() {
  Impl& s = *impl_;
  if (!s.exchange.reduce_scatter) return;
  for (int64_t a = 0; a * s.count < state_size(); ++a)
    s.exchange.all_gather(s.state.data() + a * s.count, s.slice_bounds.data());
}

void Trainer::Impl::ChunkSquares(const float* g, int64_t c0, int64_t c1) {
  const detail::ScopedExecution exec(options.executor, threads);
  const int64_t tasks = std::min<int64_t>(threads, c1 - c0);
  auto squares = [&](int64_t t) {
    const detail::Range range = detail::Balance211(c1 - c0, tasks, t);
    for (int64_t c = c0 + range.begin; c < c0 + range.end; ++c) {
      const int64_t j0 = c * kChunk, n = std::min(kChunk, count - j0);
      double sq = k.ew->sum_squares(n, g + j0);
      if (!std::isfinite(sq)) {
        if (FirstNonFinite(g + j0, n) < n) {
          sq = std::numeric_limits<double>::quiet_NaN();
        } else {  // squares past the float range: in double
          sq = 0.0;
          for (int64_t j = 0; j < n; ++j) sq += static_cast<double>(g[j0 + j]) * g[j0 + j];
        }
      }
      chunk_sumsq[static_cast<size_t>(c)] = sq;
    }
  };
  if (tasks > 0) detail::ParallelFor(tasks, static_cast<int>(tasks), squares);
}

StepResult Trainer::Impl::ExchangeStep(const char* where, const DataView& batch) {
  StepResult r;
  float* g = model->gradients();
  if (batch.rows == 0) {  // nothing from this process this step
    std::fill(g, g + count, 0.0f);
  } else {
    r = Gradients(where, batch, false);  // sums over the batch's rows
  }
  const size_t rank = static_cast<size_t>(exchange.rank);
  const int64_t total = exchange.reduce_scatter(g, r.rows, slice_bounds.data());
  detail::Check(total >= 1, where, "step ", steps + 1, ": the gradient exchange returned ", total,
                " rows (at least 1 expected); the parameters are left as they were");
  // Sums of squares of this slice's chunks (NaN for a chunk holding NaN/Inf), gathered: every
  // process sees the whole gradient's norm, added in chunk order as one process adds it, and
  // whether the gradient is finite.
  const int64_t c0 = slice_chunks[rank], c1 = slice_chunks[rank + 1];
  ChunkSquares(g, c0, c1);
  exchange.all_gather_doubles(chunk_sumsq.data(), slice_chunks.data());
  const int64_t chunks = detail::CeilDiv(count, kChunk);
  double sumsq = 0.0;
  for (int64_t c = 0; c < chunks; ++c) sumsq += chunk_sumsq[static_cast<size_t>(c)];
  if (!std::isfinite(sumsq)) {
    int64_t c = 0;
    while (c < chunks && std::isfinite(chunk_sumsq[static_cast<size_t>(c)])) ++c;
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1,
                 ": the reduced gradient is not finite (in parameters [", c * kChunk, ", ",
                 std::min(count, (c + 1) * kChunk),
                 ")); the parameters are left as they were before this step");
  }
  const double inv_rows = 1.0 / static_cast<double>(total);
  const bool need_norm = opt.clip_norm > 0.0f || options.track_grad_norm;
  r.grad_norm = need_norm ? std::sqrt(sumsq) * inv_rows : std::numeric_limits<double>::quiet_NaN();
  Update(r.grad_norm, inv_rows, c0, c1);
  exchange.all_gather(model->parameters(), slice_bounds.data());
  return r;
}

void Trainer::apply_gradients() {
  const char* where = "propel::Trainer::apply_gradients";
  Impl& s = *impl_;
  const detail::ScopedExecution exec(s.options.executor, s.threads);
  const float* g = s.model->gradients();
  double sumsq = s.k.ew->sum_squares(s.count, g);
  if (!std::isfinite(sumsq)) {
    const int64_t j = FirstNonFinite(g, s.count);
    if (j < s.count) {
      detail::Fail(ErrorCode::kNumerical, where, "gradient [", j, "] = ", g[j],
                   "; the parameters are left unchanged");
    }
    sumsq = 0.0;  // squares past the float range: the norm in double
    for (int64_t i = 0; i < s.count; ++i) sumsq += static_cast<double>(g[i]) * g[i];
  }
  const double norm = std::sqrt(sumsq);
  s.Update(norm, 1.0);
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

int64_t Trainer::state_size() const {
  const Optimizer o = impl_->opt.kind;
  return (IsAdam(o) ? 2 : IsMomentum(o) ? 1 : 0) * impl_->count;
}

float* Trainer::state() { return impl_->state.data(); }
int64_t Trainer::max_batch() const { return impl_->max_batch; }
int Trainer::threads() const { return impl_->threads; }
const StepOptions& Trainer::options() const { return impl_->options; }

}  // namespace propel
