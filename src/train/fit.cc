// The epoch loop (propel::fit), evaluation and learning-rate schedules.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#include "propel/train.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/names.h"
#include "src/runtime/random.h"
#include "src/runtime/target.h"
#include "src/train/head.h"

namespace propel {

namespace {

const char* const kScheduleNames[] = {"constant", "step", "cosine"};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void CheckSchedule(const char* where, const LrSchedule& s) {
  using detail::Check;
  const int kind = static_cast<int>(s.kind);
  Check(kind >= 0 && kind <= 2, where, "unknown schedule ", kind);
  Check(s.warmup_steps >= 0, where, "warmup_steps = ", s.warmup_steps, " is negative");
  Check(s.kind != Schedule::kStep || s.step_epochs >= 1, where, "step_epochs = ", s.step_epochs,
        " must be at least 1");
  Check(std::isfinite(s.gamma) && s.gamma > 0.0f, where, "gamma = ", s.gamma, " must be positive");
  Check(std::isfinite(s.min_lr) && s.min_lr >= 0.0f, where, "min_lr = ", s.min_lr,
        " must be finite and non-negative");
}

}  // namespace

const char* schedule_name(Schedule schedule) {
  return detail::NameOf(kScheduleNames, static_cast<int>(schedule));
}

Schedule parse_schedule(const std::string& name) {
  return detail::ParseName<Schedule>("propel::parse_schedule", "schedule", kScheduleNames, name);
}

float scheduled_lr(const LrSchedule& s, float base_lr, int64_t t, int64_t epoch,
                   int64_t total_steps) {
  double lr = base_lr;
  switch (s.kind) {
    case Schedule::kConstant:
      break;
    case Schedule::kStep:
      lr = base_lr * std::pow(static_cast<double>(s.gamma),
                              static_cast<double>(epoch / std::max<int64_t>(1, s.step_epochs)));
      break;
    case Schedule::kCosine: {
      const double total = static_cast<double>(std::max<int64_t>(1, total_steps));
      const double progress = std::min(1.0, static_cast<double>(t) / total);
      lr = s.min_lr + (base_lr - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
      break;
    }
  }
  if (t < s.warmup_steps) {
    lr *= static_cast<double>(t + 1) / static_cast<double>(s.warmup_steps);
  }
  return static_cast<float>(lr);
}

Evaluation evaluate(const Model& model, const DataView& data, int64_t batch) {
  const char* where = "propel::evaluate";
  detail::Check(batch >= 1, where, "batch = ", batch, " must be at least 1");
  detail::CheckData(where, model, data, 0);
  const int64_t out = model.outputs();
  const int64_t ldx = data.ldx == 0 ? model.inputs() : data.ldx;
  const int64_t block = std::min(batch, data.rows);
  std::vector<float> logits(static_cast<size_t>(block * out));
  const kernels::ElementwiseKernels& ew = detail::ActiveElementwiseKernels(model.portable());
  double loss = 0.0;
  int64_t correct = 0;
  for (int64_t r0 = 0; r0 < data.rows; r0 += block) {
    const int64_t rows = std::min(block, data.rows - r0);
    model.predict_logits(rows, data.x + r0 * ldx, ldx, logits.data(), out);
    int64_t right = 0;
    loss += detail::HeadLoss(ew, model.head(), rows, out, logits.data(), data, r0, nullptr, &right);
    correct += right;
  }
  Evaluation e;
  e.rows = data.rows;
  e.loss = loss / static_cast<double>(data.rows);
  switch (model.head()) {
    case Head::kMulticlass:
      e.accuracy = static_cast<double>(correct) / static_cast<double>(data.rows);
      break;
    case Head::kBinary:
      e.accuracy = static_cast<double>(correct) / static_cast<double>(data.rows * out);
      break;
    case Head::kRegression:
      e.accuracy = std::numeric_limits<double>::quiet_NaN();
      break;
  }
  return e;
}

FitResult fit(Model& model, const DataView& train, const DataView* validation,
              const OptimizerConfig& optimizer, const FitOptions& options,
              const StepOptions& step_options) {
  detail::Check(options.batch >= 1, "propel::fit", "batch = ", options.batch,
                " must be at least 1");
  detail::Check(train.rows >= 1, "propel::fit", "the data has ", train.rows,
                " rows (at least 1 needed)");
  Trainer trainer(model, optimizer, std::min(options.batch, train.rows), step_options);
  return fit(trainer, train, validation, options);
}

FitResult fit(Trainer& trainer, const DataView& train, const DataView* validation,
              const FitOptions& options) {
  const char* where = "propel::fit";
  using detail::Check;
  Model& model = trainer.model();
  const OptimizerConfig& optimizer = trainer.optimizer();
  Check(options.epochs >= 0, where, "epochs = ", options.epochs, " is negative");
  Check(options.start_epoch >= 0 && options.start_epoch <= options.epochs, where,
        "start_epoch = ", options.start_epoch, " is outside [0, epochs = ", options.epochs, "]");
  Check(options.batch >= 1, where, "batch = ", options.batch, " must be at least 1");
  Check(options.ranks >= 1 && options.rank >= 0 && options.rank < options.ranks, where, "rank ",
        options.rank, " of ", options.ranks, " processes is not a valid rank");
  Check(options.patience >= 0, where, "patience = ", options.patience, " is negative");
  Check(options.progress_every >= 1, where, "progress_every = ", options.progress_every,
        " must be at least 1");
  CheckSchedule(where, options.schedule);
  const float base_lr = std::isnan(options.base_lr) ? optimizer.lr : options.base_lr;
  Check(std::isfinite(base_lr) && base_lr >= 0.0f, where, "base_lr = ", base_lr,
        " must be finite and non-negative");
  detail::CheckData(where, model, train, 0);
  if (validation != nullptr) detail::CheckData("propel::fit (validation)", model, *validation, 0);

  const int64_t n = train.rows, in = model.inputs(), out = model.outputs();
  const int64_t ranks = options.ranks, rank = options.rank;
  const int64_t batch = std::min(options.batch, (n + ranks - 1) / ranks);  // per process
  const int64_t global = batch * ranks;
  const int64_t batches = (n + global - 1) / global;
  const int64_t total_steps = batches * options.epochs;
  const bool multiclass = model.head() == Head::kMulticlass;
  const int64_t ldx = train.ldx == 0 ? in : train.ldx;
  const int64_t ldt = train.ldt == 0 ? out : train.ldt;
  Check(batch <= trainer.max_batch(), where, "batch = ", batch,
        " exceeds the trainer's max_batch = ", trainer.max_batch());

  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<float> xb(static_cast<size_t>(batch * in));
  std::vector<int32_t> lb(multiclass ? static_cast<size_t>(batch) : 0);
  std::vector<float> tb(multiclass ? 0 : static_cast<size_t>(batch * out));
  std::vector<float> best_params;
  const detail::CounterRng rng(options.seed);

  FitResult result;
  double best_loss = std::numeric_limits<double>::infinity();
  int64_t since_best = 0;
  const auto run_start = std::chrono::steady_clock::now();
  for (int64_t epoch = options.start_epoch; epoch < options.epochs; ++epoch) {
    // The order of epoch e: a Fisher-Yates shuffle of 0..n-1 drawn from (seed, e) alone.
    std::iota(order.begin(), order.end(), int64_t{0});
    if (options.shuffle) {
      for (int64_t i = n - 1; i > 0; --i) {
        const uint64_t j = rng.Below(static_cast<uint32_t>(epoch), static_cast<uint64_t>(i),
                                     static_cast<uint64_t>(i) + 1);
        std::swap(order[static_cast<size_t>(i)], order[j]);
      }
    }
    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0, seen_all = 0;
    for (int64_t b = 0; b < batches; ++b) {
      // This process's rows of global batch b: rows [rank x batch, (rank + 1) x batch) of it,
      // fewer or none in a short last batch (the shard boundaries of one process with the
      // global batch).
      const int64_t g0 = b * global, g_rows = std::min(global, n - g0);
      const int64_t r0 = g0 + rank * batch;
      const int64_t rows = std::clamp<int64_t>(g_rows - rank * batch, 0, batch);
      seen_all += g_rows;
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t src = order[static_cast<size_t>(r0 + i)];
        std::memcpy(xb.data() + i * in, train.x + src * ldx, static_cast<size_t>(in) * 4);
        if (multiclass) {
          lb[static_cast<size_t>(i)] = train.labels[src];
        } else {
          std::memcpy(tb.data() + i * out, train.targets + src * ldt, static_cast<size_t>(out) * 4);
        }
      }
      DataView view;
      view.rows = rows;
      view.x = xb.data();
      view.ldx = in;
      view.labels = multiclass ? lb.data() : nullptr;
      view.targets = multiclass ? nullptr : tb.data();
      view.ldt = out;
      const int64_t t = epoch * batches + b;
      trainer.set_learning_rate(scheduled_lr(options.schedule, base_lr, t, epoch, total_steps));
      StepResult r;
      try {
        r = trainer.step(view);
      } catch (const Error& e) {
        throw Error(e.code(), std::string(e.what()) + " [epoch " + std::to_string(epoch) +
                                  ", batch " + std::to_string(b) + "]");
      }
      loss_sum += r.loss * static_cast<double>(rows);
      correct += r.correct;
      seen += rows;
      ++result.steps;
      if (options.on_progress && ((b + 1) % options.progress_every == 0 || b + 1 == batches)) {
        Progress p;
        p.epoch = epoch;
        p.epochs = options.epochs;
        p.batch = b + 1;
        p.batches = batches;
        p.loss = loss_sum / static_cast<double>(seen);
        p.seconds = Seconds(epoch_start);
        p.samples_per_second = p.seconds > 0.0 ? static_cast<double>(seen_all) / p.seconds : 0.0;
        p.lr = trainer.learning_rate();
        options.on_progress(p);
      }
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = Seconds(epoch_start);
    stats.samples_per_second =
        stats.seconds > 0.0 ? static_cast<double>(seen_all) / stats.seconds : 0.0;
    stats.train_loss = loss_sum / static_cast<double>(seen);
    stats.train_accuracy = multiclass ? static_cast<double>(correct) / static_cast<double>(seen)
                           : model.head() == Head::kBinary
                               ? static_cast<double>(correct) / static_cast<double>(seen * out)
                               : std::numeric_limits<double>::quiet_NaN();
    stats.lr = trainer.learning_rate();
    if (validation != nullptr) {
      // On the run's executor and threads, like the steps.
      const detail::ScopedExecution exec(trainer.options().executor, trainer.threads());
      const Evaluation v = evaluate(model, *validation);
      stats.val_loss = v.loss;
      stats.val_accuracy = v.accuracy;
    }
    result.history.push_back(stats);
    if (options.on_epoch) options.on_epoch(stats);

    if (validation != nullptr) {
      if (stats.val_loss < best_loss - options.min_delta) {
        best_loss = stats.val_loss;
        result.best_epoch = epoch;
        since_best = 0;
        if (options.patience > 0 && options.restore_best) {
          const float* params = std::as_const(model).parameters();
          best_params.assign(params, params + model.parameter_count());
        }
      } else if (options.patience > 0 && ++since_best >= options.patience) {
        result.stopped_early = true;
        break;
      }
    }
  }
  if (result.stopped_early && options.restore_best && !best_params.empty()) {
    std::copy(best_params.begin(), best_params.end(), model.parameters());
  }
  result.seconds = Seconds(run_start);
  return result;
}

}  // namespace propel
