// `propel train` (tools/propel/train.h).
#include "tools/propel/train.h"

#include <fcntl.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "propel/propel.hpp"
#ifdef PROPEL_CLI_MPI
#include "propel/mpi.h"
#endif
#include "tools/propel/common.h"

namespace propel::cli {

CLI::App* AddTrainCommand(CLI::App& app, TrainArgs& a) {
  CLI::App* train = app.add_subcommand("train", "train a model (Fashion-MNIST by default)");
  train
      ->add_option("--data", a.data,
                   "fashion-mnist, mnist, IMAGES,LABELS (IDX files) or a CSV file (label last)")
      ->capture_default_str();
  train->add_option(
      "--test", a.test_data,
      "test set (same forms; default: the data set's test files, or every fifth CSV row)");
  train->add_option("--data-dir", a.data_dir,
                    "folder of the four IDX files for fashion-mnist / mnist");
  train
      ->add_option("--binary", a.binary,
                   "two classes NEG,POS: a binary task with a sigmoid output and BCE (e.g. 0,6: "
                   "T-shirt vs shirt)")
      ->expected(2)
      ->delimiter(',');
  train
      ->add_option("--layers", a.layers,
                   "hidden layer widths, e.g. 1024,512 ('none': no hidden layer)")
      ->capture_default_str();
  train->add_option("--activation", a.activation, "hidden activation")->capture_default_str();
  train
      ->add_option("--loss", a.loss,
                   "auto, multiclass (softmax + CE), binary (sigmoid + BCE), regression (MSE)")
      ->capture_default_str();
  train->add_option("--init", a.init, "glorot_uniform, glorot_normal, he_uniform, he_normal")
      ->capture_default_str();
  train->add_option("--optimizer", a.optimizer, "sgd, momentum, nesterov, adam, adamw")
      ->capture_default_str();
  train->add_option("--lr", a.lr, "learning rate")->capture_default_str();
  train->add_option("--momentum", a.momentum, "momentum (momentum, nesterov)")
      ->capture_default_str();
  train->add_option("--beta1", a.beta1, "Adam beta1")->capture_default_str();
  train->add_option("--beta2", a.beta2, "Adam beta2")->capture_default_str();
  train->add_option("--weight-decay", a.weight_decay, "L2 (decoupled for adamw)")
      ->capture_default_str();
  train->add_option("--clip", a.clip, "gradient norm clipping (0: off)")->capture_default_str();
  train->add_option("--schedule", a.schedule, "constant, step, cosine")->capture_default_str();
  train->add_option("--warmup", a.warmup, "linear warm-up updates")->capture_default_str();
  train->add_option("--batch", a.batch, "mini-batch rows")->capture_default_str();
  train
      ->add_option("--shard", a.shard,
                   "rows per shard (the result depends on it, never on threads)")
      ->capture_default_str();
  train->add_option("--epochs", a.epochs, "epochs")->capture_default_str();
  train->add_option("--threads", a.threads, "threads (0: all the process may use)")
      ->capture_default_str();
  train->add_option("--executor", a.executor, "tbb, omp, serial")
      ->check(CLI::IsMember({"tbb", "omp", "serial"}))
      ->capture_default_str();
  train
      ->add_option("--precision", a.precision,
                   "fp32; bf16: the GEMMs' operands rounded to bf16, products summed in fp32; "
                   "auto: bf16 where the CPU multiplies bf16 natively (AMX, AVX512_BF16), else "
                   "fp32 (docs/precision.md)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
      ->capture_default_str();
  train->add_flag("--portable", a.portable,
                  "portable mode: the parameters, losses and predictions are bitwise the same on "
                  "every SIMD target with FMA (AVX-512, AVX2, SCALAR) and every x86-64 CPU, Intel "
                  "or AMD; costs a few percent (docs/reproducibility.md)");
  train->add_option("--seed", a.seed, "seed of the initial weights and the shuffles")
      ->capture_default_str();
  train
      ->add_option("--validation", a.validation,
                   "fraction of the training rows held out for validation")
      ->capture_default_str();
  train
      ->add_option("--early-stop", a.early_stop,
                   "stop after this many epochs without a better validation loss (0: off)")
      ->capture_default_str();
  train
      ->add_option("--normalize", a.normalize,
                   "auto (standardize CSV features with the training set's statistics; IDX pixels "
                   "are scaled to [0, 1]), standardize, none")
      ->capture_default_str();
  train->add_option("--save", a.save, "checkpoint path (empty: do not save)")
      ->capture_default_str();
  train
      ->add_option("--plot", a.plot,
                   "PNG of the loss/accuracy curves (auto: next to the checkpoint; empty: none)")
      ->capture_default_str();
  train->add_option("--report", a.report, "machine-readable summary (JSON)");
  train->add_option("--resume", a.resume,
                    "continue the run saved in this checkpoint (same data and model options; "
                    "--epochs is the total)");
  train->add_flag("--quiet", a.quiet, "print nothing but errors");
  train->add_flag("--mpi", a.mpi,
                  "data parallel across the ranks of mpirun -np N: each rank trains on its "
                  "slice of every global batch of N x --batch rows");
  train
      ->add_option("--mpi-reduce", a.mpi_reduce,
                   "deterministic (rank order, equals one process with batch N x --batch) or "
                   "allreduce (MPI_Allreduce)")
      ->check(CLI::IsMember({"deterministic", "allreduce"}))
      ->capture_default_str();
  return train;
}

namespace {

// --layers: comma-separated widths >= 1, or "none" for no hidden layer.
std::vector<int64_t> ParseLayers(const std::string& text) {
  std::vector<int64_t> widths;
  if (text == "none") return widths;
  const std::string how =
      " (widths are whole numbers >= 1 separated by commas, e.g. 1024,512; 'none': no hidden "
      "layer)";
  size_t start = 0;
  for (int position = 1;; ++position) {
    const size_t end = text.find(',', start);
    const std::string cell = text.substr(start, end == std::string::npos ? end : end - start);
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
    if (cell.empty())
      Invalid("--layers " + text + ": width " + std::to_string(position) + " is empty" + how);
    if (ec != std::errc() || ptr != cell.data() + cell.size() || v < 1) {
      Invalid("--layers " + text + ": '" + cell + "' is not a width" + how);
    }
    widths.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return widths;
}

// Draws the loss and accuracy curves with gnuplot into a PNG; false when gnuplot is missing.
bool Plot(const std::vector<propel::EpochStats>& h, const std::string& png) {
  const std::string dat = png + ".dat", gp = png + ".gp";
  {
    std::ofstream d(dat);
    d << "# epoch train_loss val_loss train_accuracy val_accuracy\n";
    for (const propel::EpochStats& s : h) {
      d << s.epoch + 1 << ' ' << s.train_loss << ' ' << s.val_loss << ' ' << s.train_accuracy << ' '
        << s.val_accuracy << '\n';
    }
    std::ofstream g(gp);
    g << "set terminal pngcairo size 1000,420 noenhanced\nset output '" << png << "'\n"
      << "set multiplot layout 1,2\nset xlabel 'epoch'\nset grid\nset key top right\n"
      << (h.size() <= 20 ? "set xtics 1\n" : "") << "set title 'loss'\nplot '" << dat
      << "' using 1:2 with linespoints title 'train', '" << dat
      << "' using 1:3 with linespoints title 'validation'\n"
      << "set key bottom right\nset title 'accuracy'\nplot '" << dat
      << "' using 1:4 with linespoints title 'train', '" << dat
      << "' using 1:5 with linespoints title 'validation'\nunset multiplot\n";
  }
  const bool ok = std::system(("gnuplot '" + gp + "' 2>/dev/null").c_str()) == 0 && Exists(png);
  std::remove(dat.c_str());
  std::remove(gp.c_str());
  return ok;
}

// Every numeric option in its range, before anything is loaded; the message names the option and
// the range.
void CheckRanges(const TrainArgs& a) {
  auto in = [](const char* option, double v, double lo, double hi, bool lo_open, bool hi_open,
               const char* range) {
    const bool ok =
        std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (!ok) Invalid(std::string(option) + " " + Num(v) + ": expected " + range);
  };
  const double inf = std::numeric_limits<double>::infinity();
  in("--lr", a.lr, 0, inf, true, true, "a finite value > 0");
  in("--momentum", a.momentum, 0, 1, true, true, "a value in (0, 1)");
  in("--beta1", a.beta1, 0, 1, false, true, "a value in [0, 1)");
  in("--beta2", a.beta2, 0, 1, false, true, "a value in [0, 1)");
  in("--weight-decay", a.weight_decay, 0, inf, false, true, "a finite value >= 0");
  in("--clip", a.clip, 0, inf, false, true, "a finite value >= 0 (0: off)");
  in("--validation", a.validation, 0, 1, false, true, "a fraction in [0, 1) (0: none)");
  auto count = [](const char* option, int64_t v, int64_t lo, int64_t hi, const char* range) {
    if (v < lo || v > hi)
      Invalid(std::string(option) + " " + std::to_string(v) + ": expected " + range);
  };
  count("--batch", a.batch, 1, int64_t{1} << 31, "a whole number in [1, 2^31]");
  count("--shard", a.shard, 1, int64_t{1} << 31, "a whole number in [1, 2^31]");
  count("--epochs", a.epochs, 1, 1000000, "a whole number in [1, 1000000]");
  count("--warmup", a.warmup, 0, int64_t{1} << 40, "a whole number >= 0");
  count("--early-stop", a.early_stop, 0, 1000000, "a whole number in [0, 1000000] (0: off)");
  count("--threads", a.threads, 0, propel::kMaxThreads,
        ("a whole number in [0, " + std::to_string(propel::kMaxThreads) + "] (0: all)").c_str());
  if (!a.binary.empty() && (a.binary[0] < 0 || a.binary[1] < 0 || a.binary[0] == a.binary[1])) {
    Invalid("--binary " + std::to_string(a.binary[0]) + "," + std::to_string(a.binary[1]) +
            ": expected two different class numbers >= 0");
  }
  if (!a.binary.empty() && a.given.count("--loss") && a.loss != "binary" && a.loss != "bce") {
    Invalid("--binary makes a binary task; it conflicts with --loss " + a.loss);
  }
}

// With --mpi: this process's rank and the number of ranks; `agreed` once every rank has its data
// and model (a failure before that point must still be agreed on, or the other ranks would wait
// in the first collective).
struct MpiRun {
  bool on = false;
  int rank = 0;
  int ranks = 1;
  bool agreed = false;
};
MpiRun g_mpi;

// What the options say once checked: everything that can be refused before any data is loaded.
struct RunPlan {
  std::vector<int64_t> layers;
  propel::Activation activation = propel::Activation::kRelu;
  propel::Init init = propel::Init::kHeUniform;
  propel::Schedule schedule = propel::Schedule::kConstant;
  std::optional<propel::Head> requested_head;  // --binary or --loss; none: from the data
  propel::CheckpointInfo resumed;              // --resume's checkpoint
  propel::OptimizerConfig opt;
  propel::Precision precision = propel::Precision::kFp32;
  bool portable = false;
};

RunPlan Plan(const TrainArgs& a) {
  RunPlan plan;
  CheckRanges(a);
  plan.layers = ParseLayers(a.layers);
  {
    // The hidden layers alone (one input, one output) bound the model from below: an impossible
    // size is refused before any data is loaded.
    propel::ModelSpec lower;
    lower.inputs = 1;
    lower.outputs = 1;
    lower.head = propel::Head::kRegression;
    for (int64_t units : plan.layers) lower.hidden.push_back({units, propel::Activation::kRelu});
    const double need = propel::model_bytes(lower), have = propel::machine_memory_bytes();
    if (have > 0 && need > have) {
      throw propel::Error(propel::ErrorCode::kOutOfMemory,
                          "--layers " + a.layers + ": the hidden layers alone need " +
                              Gigabytes(need) + " for their parameters and gradients; this " +
                              "machine has " + Gigabytes(have));
    }
  }
  plan.activation = ParseNamed("--activation", a.activation, propel::parse_activation);
  plan.init = ParseNamed("--init", a.init, propel::parse_init);
  plan.schedule = ParseNamed("--schedule", a.schedule, propel::parse_schedule);
  if (!a.binary.empty()) {
    plan.requested_head = propel::Head::kBinary;
  } else if (a.loss != "auto") {
    plan.requested_head = ParseNamed("--loss", a.loss, propel::parse_head);
  }
  if (a.normalize != "auto" && a.normalize != "none" && a.normalize != "standardize") {
    Invalid("--normalize " + a.normalize + ": expected auto, none or standardize");
  }
  if (g_mpi.rank == 0) {
    CheckWritable("--save", a.save);
    CheckWritable("--report", a.report);
    if (a.plot != "auto") CheckWritable("--plot", a.plot);
    if (a.plot == "auto" && !a.save.empty()) CheckWritable("--plot", a.save + ".png");
  }
  if (!a.resume.empty()) {
    // Continue a run: its parameters, optimizer (configuration and state) and epoch count.
    plan.resumed = propel::read_checkpoint_info(a.resume);
    if (!plan.resumed.has_optimizer) {
      Invalid("--resume " + a.resume +
              ": holds no optimizer state to resume from (it was saved without its trainer)");
    }
  }
  propel::OptimizerConfig& opt = plan.opt;
  opt.kind = ParseNamed("--optimizer", a.optimizer, propel::parse_optimizer);
  opt.lr = a.lr;
  opt.momentum = a.momentum;
  opt.beta1 = a.beta1;
  opt.beta2 = a.beta2;
  opt.weight_decay = a.weight_decay;
  opt.clip_norm = a.clip;
  if (plan.resumed.has_optimizer) {
    // A resumed run continues with its saved optimizer: an option that says otherwise is an
    // error, not silently ignored.
    const propel::OptimizerConfig& saved = plan.resumed.optimizer;
    auto conflict = [&](const char* option, const std::string& given, const std::string& stored) {
      if (a.given.count(option) && given != stored) {
        Invalid(std::string(option) + " " + given + " conflicts with --resume " + a.resume +
                ", saved with " + option + " " + stored +
                " (a resumed run continues with its saved optimizer: drop the option, or start a "
                "new run)");
      }
    };
    conflict("--optimizer", propel::optimizer_name(opt.kind), propel::optimizer_name(saved.kind));
    conflict("--lr", Num(opt.lr), Num(saved.lr));
    conflict("--momentum", Num(opt.momentum), Num(saved.momentum));
    conflict("--beta1", Num(opt.beta1), Num(saved.beta1));
    conflict("--beta2", Num(opt.beta2), Num(saved.beta2));
    conflict("--weight-decay", Num(opt.weight_decay), Num(saved.weight_decay));
    conflict("--clip", Num(opt.clip_norm), Num(saved.clip_norm));
    opt = saved;
  }
  plan.precision = propel::parse_precision(a.precision);
  plan.portable = a.portable;
  if (plan.resumed.has_optimizer) {
    // The precision and the mode too are the saved run's unless the command line asks for others.
    if (!a.given.count("--precision")) plan.precision = plan.resumed.precision;
    if (!a.given.count("--portable")) plan.portable = plan.resumed.portable;
  }
  return plan;
}

// The precision of the run as the header shows it: the resolved one, and for --precision auto
// what decided it (in portable mode auto is fp32).
std::string PrecisionLine(propel::Precision requested, bool portable) {
  if (portable && requested == propel::Precision::kAuto) return "fp32 (auto: portable mode)";
  const propel::Precision p = propel::resolve_precision(requested);
  std::string line = propel::precision_name(p);
  if (requested == propel::Precision::kAuto) {
    line += p == propel::Precision::kBf16
                ? std::string(" (auto: native bf16 on ") + propel::active_target().name + ")"
                : std::string(" (auto: no native bf16 on ") + propel::active_target().name + ")";
  }
  return line;
}

// After the target's name in the header: portable mode, and the target whose kernels it runs
// where that is another one (SCALAR for a target without FMA).
std::string TargetNote(bool portable) {
  if (!portable) return "";
  const std::string runs = propel::portable_target_name(propel::active_target());
  if (runs == propel::active_target().name) return " (portable mode)";
  return " (portable mode on the " + runs + " kernels: no FMA on " + propel::active_target().name +
         ")";
}

// The data sets of the run: the training rows (less the validation rows), the validation and
// test rows, normalized, relabelled for a binary task; and the head they make.
struct RunData {
  propel::Dataset train, val, test;
  std::string train_name, test_name;
  std::optional<propel::Standardizer> standardizer;  // CSV features: fitted on the training rows
  propel::Head head = propel::Head::kMulticlass;
};

RunData LoadData(const TrainArgs& a, std::optional<propel::Head> requested_head) {
  RunData d;
  propel::Dataset& train = d.train;
  propel::Dataset& test = d.test;
  std::string& train_name = d.train_name;
  std::string& test_name = d.test_name;
  // The data. A regression head reads real targets from a CSV's label column.
  const bool real_targets = requested_head == propel::Head::kRegression;
  train = LoadOne(a.data, false, a.data_dir, real_targets, &train_name);
  if (!a.test_data.empty()) {
    test = LoadOne(a.test_data, true, a.data_dir, real_targets, &test_name);
  } else if (a.data == "fashion-mnist" || a.data == "mnist") {
    test = LoadOne(a.data, true, a.data_dir, real_targets, &test_name);
  } else {
    test = propel::split_every(train, 5);  // a CSV without --test: every fifth row is held out
    test_name = train_name + " (every fifth row)";
  }
  if (test.features != train.features) {
    Invalid("the test set " + test_name + " has " + std::to_string(test.features) +
            " features, the training set " + train_name + " " + std::to_string(train.features));
  }
  if (real_targets && (IsIdx(a.data) || (!a.test_data.empty() && IsIdx(a.test_data)))) {
    Invalid(
        "--loss regression needs real-valued targets: IDX files hold class labels (give a "
        "CSV whose last column is the target)");
  }
  // IDX pixels arrive in [0, 1]; CSV columns are standardized with the training rows' statistics.
  const bool idx = IsIdx(a.data);
  const std::string norm = a.normalize == "auto" ? (idx ? "none" : "standardize") : a.normalize;
  if (norm == "standardize") {
    d.standardizer = propel::Standardizer::fit(train);
    d.standardizer->apply(train);
    d.standardizer->apply(test);
  }
  d.head = requested_head.value_or(propel::Head::kMulticlass);
  const propel::Head head = d.head;
  if (!a.binary.empty()) {
    CheckBinaryPair(a.binary, train, train_name);
    CheckBinaryPair(a.binary, test, test_name);
    train = propel::binary_task(train, a.binary[0], a.binary[1]);
    test = propel::binary_task(test, a.binary[0], a.binary[1]);
  } else if (head == propel::Head::kBinary) {
    LabelsAsBinaryTargets(train, train_name);
    LabelsAsBinaryTargets(test, test_name);
  } else if (head == propel::Head::kMulticlass) {
    if (std::max(train.classes, test.classes) < 2) {
      Invalid(train_name + ": every label is 0: a multiclass task needs at least two classes " +
              "(--loss regression for real targets)");
    }
  }
  if (train.rows == 0 || test.rows == 0) {
    Invalid("no rows left for training (" + std::to_string(train.rows) + ") or testing (" +
            std::to_string(test.rows) + ")");
  }
  if (a.validation > 0.0) {
    const double want = a.validation * static_cast<double>(train.rows);
    const int64_t held = static_cast<int64_t>(std::llround(want));
    if (held < 1 || held >= train.rows) {
      Invalid("--validation " + Num(a.validation) + " holds out " + std::to_string(held) + " of " +
              std::to_string(train.rows) + " training rows: at least 1 must be held out and 1 " +
              "kept (0: no validation)");
    }
    d.val = propel::split_count(train, held);
  }

  return d;
}

// The epoch loop's options, with the progress bar (on a terminal) and a line per epoch.
propel::FitOptions FitOptionsFor(const TrainArgs& a, const RunPlan& plan) {
  propel::FitOptions fo;
  fo.epochs = a.epochs;
  fo.batch = a.batch;
  fo.seed = a.seed;
  fo.schedule.kind = plan.schedule;
  fo.schedule.warmup_steps = a.warmup;
  fo.patience = a.early_stop;
  if (plan.resumed.has_optimizer) fo.start_epoch = std::min(plan.resumed.epochs_done, a.epochs);
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  fo.progress_every = tty ? 1 : 1 << 30;
  fo.on_progress = [&a, tty](const propel::Progress& p) {
    if (a.quiet || !tty) return;
    const double eta =
        p.samples_per_second > 0
            ? (p.batches - p.batch) * static_cast<double>(a.batch) / p.samples_per_second
            : 0.0;
    std::fprintf(
        stderr, "\r  epoch %lld/%lld [%s] %lld/%lld  %8.0f samples/s  loss %.4f  ETA %4.1fs ",
        static_cast<long long>(p.epoch + 1), static_cast<long long>(p.epochs),
        Bar(static_cast<double>(p.batch) / p.batches, 30).c_str(), static_cast<long long>(p.batch),
        static_cast<long long>(p.batches), p.samples_per_second, p.loss, eta);
    if (p.batch == p.batches) std::fprintf(stderr, "\r%100s\r", "");
  };
  fo.on_epoch = [&a](const propel::EpochStats& s) {
    if (a.quiet) return;
    std::printf("epoch %3lld  train loss %.4f", static_cast<long long>(s.epoch + 1), s.train_loss);
    if (!std::isnan(s.train_accuracy)) std::printf(" acc %.4f", s.train_accuracy);
    if (!std::isnan(s.val_loss) || !std::isnan(s.val_accuracy)) {
      std::printf("  |  val loss %.4f", s.val_loss);
      // An accuracy from outputs whose loss is not finite means nothing.
      if (std::isfinite(s.val_loss) && !std::isnan(s.val_accuracy))
        std::printf(" acc %.4f", s.val_accuracy);
    }
    std::printf("  |  %.2f s, %.0f samples/s\n", s.seconds, s.samples_per_second);
    std::fflush(stdout);
  };
  return fo;
}

// What a finished run leaves: the checkpoint, the curves, the summary lines and the JSON report
// (rank 0 only).
struct RunOutcome {
  propel::FitResult fit;
  propel::Evaluation test;
  double train_seconds = 0.0, samples_per_second = 0.0, wall_seconds = 0.0;
  std::string checksum;  // FNV-1a of the parameters, 16 hex digits
  int threads = 1;
};

void Finish(const TrainArgs& a, propel::Model& model, propel::Trainer& trainer, RunData& d,
            RunOutcome& o, std::chrono::steady_clock::time_point start) {
  const propel::FitResult& r = o.fit;
  const propel::Evaluation& e = o.test;
  const propel::OptimizerConfig& opt = trainer.optimizer();
  const double train_seconds = o.train_seconds, sps = o.samples_per_second;
  const int threads = o.threads;
  std::optional<propel::Standardizer>& standardizer = d.standardizer;
  if (!a.save.empty()) {
    if (standardizer) {
      // The saved model takes raw features: the standardization folds into the first layer.
      // The optimizer state (of the standardized problem) is saved with it; --resume unfolds.
      standardizer->fold(model);
    }
    propel::save_checkpoint(a.save, model, &trainer, static_cast<int64_t>(r.history.size()));
  }
  std::string plot = a.plot;
  if (plot == "auto") plot = a.save.empty() ? "" : a.save + ".png";
  const bool plotted = !plot.empty() && !r.history.empty() && Plot(r.history, plot);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!a.quiet) {
    std::printf("test: loss %.4f", e.loss);
    if (!std::isnan(e.accuracy)) std::printf(", accuracy %.2f%%", 100.0 * e.accuracy);
    std::printf(" on %lld rows\n", static_cast<long long>(e.rows));
    std::printf(
        "%lld epochs in %.1f s (%.1f s in all), %.0f samples/s; %s, %d thread(s) on %s; "
        "parameter checksum %s\n",
        static_cast<long long>(r.history.size()), train_seconds, wall, sps,
        propel::active_target().name, threads, a.executor.c_str(), o.checksum.c_str());
    if (!a.save.empty()) std::printf("model saved to %s\n", a.save.c_str());
    if (plotted) std::printf("loss and accuracy curves: %s\n", plot.c_str());
    if (!plot.empty() && !plotted) {
      if (!OnPath("gnuplot")) {
        std::printf("(no plot: gnuplot is not installed)\n");
      } else {
        std::printf("(no plot: gnuplot could not write %s)\n", plot.c_str());
      }
    }
  }
  if (!a.report.empty()) {
    std::ostringstream j;
    j << std::setprecision(9) << "{\n  \"test_accuracy\": "
      << (std::isnan(e.accuracy) ? std::string("null") : std::to_string(e.accuracy))
      << ",\n  \"test_loss\": " << e.loss
      << ",\n  \"train_loss\": " << (r.history.empty() ? 0.0 : r.history.back().train_loss)
      << ",\n  \"samples_per_second\": " << sps << ",\n  \"epochs\": " << r.history.size()
      << ",\n  \"wall_seconds\": " << wall << ",\n  \"train_seconds\": " << train_seconds
      << ",\n  \"threads\": " << threads << ",\n  \"ranks\": " << g_mpi.ranks
      << ",\n  \"executor\": " << Json(a.executor)
      << ",\n  \"target\": " << Json(propel::active_target().name)
      << ",\n  \"precision\": " << Json(propel::precision_name(model.precision()))
      << ",\n  \"portable\": " << (model.portable() ? "true" : "false")
      << ",\n  \"cpu\": " << Json(CpuModel()) << ",\n  \"model\": " << Json(model.describe())
      << ",\n  \"optimizer\": " << Json(propel::optimizer_name(opt.kind))
      << ",\n  \"lr\": " << opt.lr << ",\n  \"batch\": " << a.batch
      << ",\n  \"shard_rows\": " << a.shard << ",\n  \"seed\": " << a.seed
      << ",\n  \"parameter_checksum\": " << Json(o.checksum)
      << ",\n  \"version\": " << Json(PROPEL_VERSION_STRING) << "\n}\n";
    WriteTextFile("--report", a.report, j.str());
  }
}

}  // namespace

int Train(TrainArgs a) {
  if (g_mpi.on && g_mpi.rank != 0) a.quiet = true;  // rank 0 speaks for the run
  const auto start = std::chrono::steady_clock::now();
  // Everything that can be checked before loading and training is checked first.
  const RunPlan plan = Plan(a);
  RunData d = LoadData(a, plan.requested_head);
  const propel::OptimizerConfig& opt = plan.opt;

  propel::ModelSpec spec;
  spec.inputs = d.train.features;
  for (int64_t units : plan.layers) spec.hidden.push_back({units, plan.activation});
  spec.head = d.head;
  spec.outputs = d.head == propel::Head::kMulticlass ? std::max(d.train.classes, d.test.classes)
                 : d.head == propel::Head::kBinary   ? 1
                                                     : d.train.target_cols;
  propel::Model model(spec, a.seed, plan.init);
  // The checkpoint says which two classes of the data set the binary model separates.
  if (!a.binary.empty()) model.set_binary_classes(propel::BinaryClasses{a.binary[0], a.binary[1]});
  propel::StepOptions so;
  so.shard_rows = a.shard;
  so.threads = a.threads;
  so.precision = plan.precision;
  so.portable = plan.portable;
  so.executor = a.executor == "omp"      ? propel::Executor::kOpenMp
                : a.executor == "serial" ? propel::Executor::kSerial
                                         : propel::Executor::kTbb;
  const propel::FitOptions fo = FitOptionsFor(a, plan);
  RunOutcome o;
  o.threads = a.threads > 0 ? a.threads : propel::num_threads();
  if (!a.quiet) {
    std::printf(
        "propel %s: %s\n  data %s: %lld training, %lld validation, %lld test rows; "
        "%s, lr %g, batch %lld, %lld epochs; %s target%s, %s, %d thread(s), %s\n",
        PROPEL_VERSION_STRING, model.describe().c_str(), a.data.c_str(),
        static_cast<long long>(d.train.rows), static_cast<long long>(d.val.rows),
        static_cast<long long>(d.test.rows), propel::optimizer_name(opt.kind), opt.lr,
        static_cast<long long>(a.batch), static_cast<long long>(a.epochs),
        propel::active_target().name, TargetNote(plan.portable).c_str(),
        PrecisionLine(plan.precision, plan.portable).c_str(), o.threads, a.executor.c_str());
    if (g_mpi.on) {
      std::printf("  data parallel: %d ranks x batch %lld (global batch %lld), %s reduction\n",
                  g_mpi.ranks, static_cast<long long>(a.batch),
                  static_cast<long long>(a.batch) * g_mpi.ranks, a.mpi_reduce.c_str());
    }
  }
  const propel::DataView val_view = d.val.rows > 0 ? d.val.view() : propel::DataView{};
  const propel::DataView* validation = d.val.rows > 0 ? &val_view : nullptr;
  propel::Trainer trainer(model, opt, std::min<int64_t>(a.batch, d.train.rows), so);
  if (plan.resumed.has_optimizer) {
    propel::load_checkpoint(a.resume, model, &trainer);
    if (!a.binary.empty()) {
      model.set_binary_classes(propel::BinaryClasses{a.binary[0], a.binary[1]});
    }
    // A CSV run saved its model for raw features; training continues on standardized ones.
    if (d.standardizer) d.standardizer->unfold(model);
  }
  if (g_mpi.on) {
#ifdef PROPEL_CLI_MPI
    propel::mpi::agree(MPI_COMM_WORLD, true);  // every rank has its data and model
    g_mpi.agreed = true;
    propel::mpi::Options mo;
    mo.deterministic = a.mpi_reduce == "deterministic";
    o.fit = propel::mpi::fit(trainer, d.train.view(), validation, fo, MPI_COMM_WORLD, mo);
#endif
  } else {
    try {
      o.fit = propel::fit(trainer, d.train.view(), validation, fo);
    } catch (const propel::Error& e) {
      // A run resumed from a file fails in the file's name: its parameters or state may be
      // valid numbers that no sound run produces.
      if (a.resume.empty()) throw;
      throw propel::Error(e.code(),
                          std::string(e.what()) + " (training resumed from " + a.resume + ")");
    }
  }
  o.test = propel::evaluate(model, d.test.view());
  for (const propel::EpochStats& s : o.fit.history) o.train_seconds += s.seconds;
  o.samples_per_second =
      o.train_seconds > 0
          ? static_cast<double>(d.train.rows * static_cast<int64_t>(o.fit.history.size())) /
                o.train_seconds
          : 0.0;
  const uint64_t checksum = propel::parameter_checksum(model);
  std::ostringstream sum;
  sum << std::hex << std::setw(16) << std::setfill('0') << checksum;
  o.checksum = sum.str();
  if (g_mpi.rank != 0) return 0;  // rank 0 saves and reports for every rank
  Finish(a, model, trainer, d, o, start);
  return 0;
}

int TrainMpi(const TrainArgs& t, int* argc, char*** argv) {
#ifdef PROPEL_CLI_MPI
  MPI_Init(argc, argv);
  g_mpi.on = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_mpi.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_mpi.ranks);
  int status = 0;
  try {
    status = Train(t);
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (!g_mpi.agreed) {  // failed while loading: the other ranks wait in the agreement
      try {
        propel::mpi::agree(MPI_COMM_WORLD, false, message);
      } catch (const propel::Error& all) {
        message = all.what();
      }
    }
    // Agreed errors ("rank N: ...") are the same on every rank: rank 0 prints them.
    if (g_mpi.rank == 0 || message.rfind("rank ", 0) != 0)
      std::fprintf(stderr, "propel: %s\n", message.c_str());
    status = 1;
  }
  MPI_Finalize();
  return status;
#else
  (void)t;
  (void)argc;
  (void)argv;
  std::fprintf(stderr,
               "propel: --mpi: this propel was built without MPI (install libopenmpi-dev "
               "and rebuild)\n");
  return 1;
#endif
}

}  // namespace propel::cli
