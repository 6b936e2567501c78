// Training: the optimizer configuration, the data view, the training step (propel::Trainer) and
// the epoch loop (propel::fit) with schedules, validation, early stopping and progress reports.
//
// One step on a mini-batch of m rows (docs/training.md has the whole story):
//   1. the batch is cut into shards of StepOptions::shard_rows rows (the last one may be shorter);
//   2. each shard runs forward and backward into its own gradient buffer, shards side by side on
//      the executor when they fill the threads evenly, else one after the other with every GEMM
//      and element-wise pass on all threads (the GEMM's result does not depend on its threads);
//   3. the shard gradients, sums over their rows, are added pairwise in shard order into
//      Model::gradients() (the gradient of the batch's summed loss);
//   4. the optimizer updates Model::parameters() from that sum times 1/m (and the clipping
//      factor), m the batch's rows — or all processes' rows with a gradient reducer.
// For a given seed, shard size, precision and SIMD target the parameters after N steps are bitwise
// the same with any thread count and on the TBB, OpenMP and serial executors; in portable mode
// (StepOptions::portable) also on every target with FMA and every x86-64 CPU.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "propel/model.h"
#include "propel/threading.h"

namespace propel {

enum class Optimizer : int {
  kSgd = 0,
  kMomentum = 1,  // heavy ball
  kNesterov = 2,
  kAdam = 3,
  kAdamW = 4,  // Adam with decoupled weight decay
};

const char* optimizer_name(Optimizer optimizer);
// "sgd", "momentum", "nesterov", "adam", "adamw"; throws on other names.
Optimizer parse_optimizer(const std::string& name);

struct OptimizerConfig {
  Optimizer kind = Optimizer::kSgd;
  float lr = 0.01f;
  float momentum = 0.9f;  // kMomentum, kNesterov
  float beta1 = 0.9f;     // kAdam, kAdamW
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 added to the gradient; decoupled for kAdamW
  float clip_norm = 0.0f;     // > 0: the gradient is scaled to at most this L2 norm
  // Whether weight_decay applies to the biases too (true) or to the weights W only (false:
  // scikit-learn's alpha, Keras' kernel regularizer).
  bool decay_bias = true;
};

// Rows of a data set or of one batch, row-major: x is rows x inputs with row stride ldx (0:
// inputs). The targets depend on the model's head: `labels` (one class in [0, outputs) per row)
// for Head::kMulticlass, `targets` (rows x outputs, row stride ldt, 0: outputs) for kBinary
// (values in [0, 1]) and kRegression. Non-owning: the caller keeps the arrays alive.
struct DataView {
  int64_t rows = 0;
  const float* x = nullptr;
  int64_t ldx = 0;
  const int32_t* labels = nullptr;
  const float* targets = nullptr;
  int64_t ldt = 0;
};

struct StepOptions {
  // Rows per shard: the unit of parallel work and of the gradient reduction. The result depends
  // on it (never on the thread count); every shard's gradient buffer costs parameter_count()
  // floats. The default keeps a batch of up to 256 rows in one shard.
  int64_t shard_rows = 256;
  Executor executor = Executor::kTbb;
  int threads = 0;  // 0: propel::num_threads() when the Trainer is made; at most kMaxThreads
  // Report StepResult::grad_norm (a pass over the gradient; always done when clipping is on).
  bool track_grad_norm = false;
  // The GEMMs' arithmetic (propel/precision.h): kBf16 rounds the operands of the forward and
  // both backward GEMMs to bf16; master weights, gradients, optimizer state and the loss stay
  // fp32. The model owns the precision (Model::precision): the Trainer sets the model's to this
  // one when it is made and computes in it; a step after Model::set_precision changed it fails
  // (make a new Trainer). kAuto is resolved when the Trainer is made (resolve_precision);
  // Trainer::options() holds the result.
  Precision precision = Precision::kFp32;
  // Portable mode (docs/reproducibility.md): the parameters, losses and predictions are then
  // bitwise the same on every SIMD target with a fused multiply-add (AVX3 and its BF16 variant,
  // AVX2, SCALAR) and so on every x86-64 CPU from Haswell and Zen 1 on, Intel or AMD, besides
  // every thread count, executor and process count; fp32 and bf16 (the VDPBF16PS order; never the
  // AMX engine); kAuto becomes kFp32. It fixes the GEMM's k blocks, leaves out its thin path and
  // replaces the hardware reciprocal and square-root estimates by IEEE division and square root:
  // a few percent of the step (docs/reproducibility.md has the figures). On SSE4 and SSSE3,
  // which have no FMA, it runs the SCALAR kernels. Like the precision, the model owns it
  // (Model::portable): the Trainer sets the model's when it is made, and a step after
  // Model::set_portable changed it fails.
  bool portable = false;
};

// What one step (or an evaluation) saw: the loss is the mean over the rows.
struct StepResult {
  double loss = 0.0;
  int64_t rows = 0;
  int64_t correct = 0;  // rows classified right (kMulticlass); outputs right (kBinary)
  // L2 norm of the mean gradient before clipping (over every process's rows when a gradient
  // reducer is set); NaN unless clipping is on or StepOptions::track_grad_norm is set.
  double grad_norm = std::numeric_limits<double>::quiet_NaN();
};

// Data parallelism across processes (propel/mpi.h builds on it): called by Trainer::step after
// the batch's gradient is reduced over its shards and before the update. `sums` holds the
// gradient summed (not averaged) over this process's `rows` rows, `count` floats in the
// parameters' layout (Model::gradients()); the reducer replaces it with the sum over every
// process and returns the total number of rows. The update then uses sums / total, so processes
// with uneven batches average correctly. It may throw (propel::Error): the step then throws it
// and changes nothing.
using GradientReducer = std::function<int64_t(float* sums, int64_t count, int64_t rows)>;

// Data parallelism with the optimizer update split over the processes (propel::mpi::fit uses
// it): the parameters are cut into `ranks` slices of whole 16 Ki-float chunks, process `rank`
// updates only its slice and the slices are exchanged afterwards, so each process does 1/ranks
// of the update work instead of all of it. The result is bitwise the one a GradientReducer
// handing back the same sums gives. Every process calls the three collectives in the same order;
// `bounds` holds ranks + 1 offsets (slice r is [bounds[r], bounds[r + 1])).
struct GradientExchange {
  int rank = 0;
  int ranks = 1;
  // Sums of `sums` (this process's gradient sums over its `rows` rows, every parameter) over the
  // processes, for this process's slice: on return sums[bounds[rank], bounds[rank + 1]) holds
  // them (the rest is unspecified). Returns the total rows. May throw: nothing changes.
  std::function<int64_t(float* sums, int64_t rows, const int64_t* bounds)> reduce_scatter;
  // Every process's slice of `values` to every process, in place (floats; doubles).
  std::function<void(float* values, const int64_t* bounds)> all_gather;
  std::function<void(double* values, const int64_t* bounds)> all_gather_doubles;
};

// The training step of one model: owns the workspace (activations, deltas, packing buffers,
// shard gradient buffers) for batches of up to max_batch rows and the optimizer state. After
// construction a step allocates nothing on the heap. The model must outlive the trainer and stay
// where it is (not moved from); the SIMD target active at construction is used for every step.
// A trainer is not thread-safe: one step at a time.
class Trainer {
 public:
  Trainer(Model& model, const OptimizerConfig& optimizer, int64_t max_batch,
          const StepOptions& options = {});
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;
  ~Trainer();

  // Forward, loss, backward, reduction and update on 1 <= batch.rows <= max_batch rows (0 rows
  // when a gradient reducer is set: this process then contributes zero sums and no rows).
  // On NaN/Inf in the loss or in the gradients throws propel::Error (kNumerical) naming the step
  // and leaves the parameters and the optimizer state as they were before it.
  StepResult step(const DataView& batch);
  // Forward, loss and backward only: Model::gradients() receives the gradient of the batch's
  // mean loss. Parameters are not touched. When it throws (as step does), Model::gradients()
  // holds nothing meaningful. No gradient reducer runs. Without clipping, compute_gradients
  // then apply_gradients equals step bitwise; with clipping, to rounding (step scales the sums
  // by clip / rows in one multiplication).
  StepResult compute_gradients(const DataView& batch);
  // One optimizer update from Model::gradients() (clipping as configured).
  void apply_gradients();
  // Installs (or, with an empty function, removes) the reducer step() calls between the
  // backward pass and the update; see GradientReducer. The default: none (one process).
  void set_gradient_reducer(GradientReducer reducer);
  // Installs (or, with an empty reduce_scatter, removes) a GradientExchange; exclusive with a
  // gradient reducer. While one is set, the optimizer state outside this process's slice is not
  // kept current: gather_optimizer_state() (collective) brings every slice's state here, e.g.
  // before saving a checkpoint.
  void set_gradient_exchange(GradientExchange exchange);
  void gather_optimizer_state();

  // The learning rate of the next update (schedules change it); optimizer() keeps the
  // configuration the trainer was made with, lr included.
  float learning_rate() const;
  void set_learning_rate(float lr);
  const OptimizerConfig& optimizer() const;
  Model& model();
  // Updates applied so far (Adam's bias correction uses it).
  int64_t steps() const;
  // The optimizer's state: velocity (momentum kinds) or first then second moments (Adam kinds),
  // parameter_count() floats each, in the parameters' layout; empty for plain SGD.
  int64_t state_size() const;
  float* state();
  void set_steps(int64_t steps);

  int64_t max_batch() const;
  int threads() const;
  const StepOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The loss (mean per row) and accuracy of a model on a data set (accuracy: NaN for kRegression;
// for kBinary, the fraction of outputs on the right side of 0.5). Runs in blocks of `batch` rows
// on the thread budget and executor of propel/threading.h.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t rows = 0;
};
Evaluation evaluate(const Model& model, const DataView& data, int64_t batch = 1024);

// Learning-rate schedules, as a function of the update count t (from 0) and the epoch:
//   kConstant: lr;  kStep: lr * gamma^(epoch / step_epochs);
//   kCosine:   min_lr + (lr - min_lr) (1 + cos(pi t / T)) / 2 over all T updates of the run.
// A linear warm-up from lr / warmup_steps to the schedule's value covers the first warmup_steps.
enum class Schedule : int { kConstant = 0, kStep = 1, kCosine = 2 };
const char* schedule_name(Schedule schedule);
Schedule parse_schedule(const std::string& name);  // "constant", "step", "cosine"

struct LrSchedule {
  Schedule kind = Schedule::kConstant;
  int64_t warmup_steps = 0;
  int64_t step_epochs = 10;
  float gamma = 0.1f;
  float min_lr = 0.0f;
};

// The learning rate of update t (0-based) in epoch `epoch` (0-based) of a run of total_steps.
float scheduled_lr(const LrSchedule& schedule, float base_lr, int64_t t, int64_t epoch,
                   int64_t total_steps);

// Reported by fit after every `FitOptions::progress_every` batches and at the end of each epoch.
struct Progress {
  int64_t epoch = 0;  // 0-based
  int64_t epochs = 0;
  int64_t batch = 0;  // batches done in this epoch
  int64_t batches = 0;
  double loss = 0.0;  // mean loss over this epoch's batches so far
  double samples_per_second = 0.0;
  double seconds = 0.0;  // since the epoch started
  float lr = 0.0f;
};

struct EpochStats {
  int64_t epoch = 0;
  double train_loss = 0.0;
  double train_accuracy = 0.0;                                 // NaN for kRegression
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // NaN without a validation set
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0.0;
  double samples_per_second = 0.0;
  float lr = 0.0f;  // at the end of the epoch
};

struct FitOptions {
  int64_t epochs = 10;
  int64_t batch = 64;
  uint64_t seed = 0;  // shuffling: the order of epoch e is a pure function of (seed, e)
  bool shuffle = true;
  LrSchedule schedule;
  // The schedule's base learning rate; NaN: the optimizer's (OptimizerConfig::lr). For a loop
  // that changes the rate between calls of fit (scikit-learn's invscaling and adaptive).
  float base_lr = std::numeric_limits<float>::quiet_NaN();
  // Early stopping on the validation loss: stop after `patience` epochs without an improvement
  // of more than min_delta (0: off); restore_best puts back the parameters of the best epoch.
  int64_t patience = 0;
  double min_delta = 0.0;
  bool restore_best = true;
  // Epochs already done (resuming from a checkpoint): epochs [start_epoch, epochs) run, with the
  // shuffles and the schedule of an uninterrupted run. Early stopping starts counting afresh.
  int64_t start_epoch = 0;
  // Data parallelism across processes (propel/mpi.h sets these): this process is `rank` of
  // `ranks`, and trains on its slice of every global batch of ranks x batch rows of the shared
  // shuffled order — rows [rank x batch, (rank + 1) x batch) of it, fewer or none in a short
  // last batch — while the trainer's gradient reducer sums over the processes, so the run is the
  // one-process run with batch ranks x batch. The epoch's train_loss and train_accuracy are over
  // this process's rows.
  int64_t rank = 0;
  int64_t ranks = 1;
  int64_t progress_every = 1;
  std::function<void(const Progress&)> on_progress;
  std::function<void(const EpochStats&)> on_epoch;
};

struct FitResult {
  std::vector<EpochStats> history;
  int64_t best_epoch = -1;  // by validation loss; -1 without a validation set
  bool stopped_early = false;
  int64_t steps = 0;
  double seconds = 0.0;
};

// Trains the model for options.epochs epochs over `train` in shuffled mini-batches (the last one
// of an epoch may be short), evaluating on `validation` (may be null) after each epoch.
FitResult fit(Model& model, const DataView& train, const DataView* validation,
              const OptimizerConfig& optimizer, const FitOptions& options = {},
              const StepOptions& step = {});

// The same on an existing trainer (its model, optimizer state, update count, executor and
// threads), e.g. one restored from a checkpoint; options.batch must not exceed its max_batch.
FitResult fit(Trainer& trainer, const DataView& train, const DataView* validation,
              const FitOptions& options = {});

}  // namespace propel
