// The propel command line: train an MLP on a data set (Fashion-MNIST by default), evaluate a saved
// model, predict with it. Uses the public API only.
//   propel train [options]            propel train --help lists them with their defaults
//   propel evaluate MODEL DATA
//   propel predict MODEL DATA
//   propel bench [options]            the benchmark suite into one JSON file (tools/propel/bench.h)
//   propel compare BASE.json NEW.json
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "propel/propel.hpp"
#ifdef PROPEL_CLI_MPI
#include "propel/mpi.h"
#endif
#include "tools/propel/bench.h"

namespace {

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

struct Split {
  propel::Dataset train;
  propel::Dataset test;
  std::string name;
};

bool Exists(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

// The rows of `d` whose label is one of `classes`, relabelled 0 / 1 by their position there, as
// binary targets (the sigmoid + BCE head).
propel::Dataset BinaryTask(const propel::Dataset& d, int negative, int positive) {
  propel::Dataset b;
  b.features = d.features;
  b.target_cols = 1;
  for (int64_t i = 0; i < d.rows; ++i) {
    const int32_t y = d.labels[static_cast<size_t>(i)];
    if (y != negative && y != positive) continue;
    b.x.insert(b.x.end(), d.x.begin() + i * d.features, d.x.begin() + (i + 1) * d.features);
    b.targets.push_back(y == positive ? 1.0f : 0.0f);
    ++b.rows;
  }
  return b;
}

// Every k-th row moves to a second set (files are often grouped by class or source).
propel::Dataset TakeEvery(propel::Dataset& d, int64_t k) {
  propel::Dataset out, keep;
  for (propel::Dataset* p : {&out, &keep}) {
    p->features = d.features;
    p->classes = d.classes;
    p->target_cols = d.target_cols;
  }
  for (int64_t i = 0; i < d.rows; ++i) {
    propel::Dataset& to = (i % k == k - 1) ? out : keep;
    to.x.insert(to.x.end(), d.x.begin() + i * d.features, d.x.begin() + (i + 1) * d.features);
    if (!d.labels.empty()) to.labels.push_back(d.labels[static_cast<size_t>(i)]);
    if (!d.targets.empty()) {
      to.targets.insert(to.targets.end(), d.targets.begin() + i * d.target_cols,
                        d.targets.begin() + (i + 1) * d.target_cols);
    }
    ++to.rows;
  }
  d = std::move(keep);
  return out;
}

// --data: "fashion-mnist", "mnist", "IMAGES,LABELS" (IDX), or a CSV path (the last column the
// label); --test likewise for a separate test set.
propel::Dataset LoadOne(const std::string& spec, bool test, const std::string& data_dir) {
  const std::string part = test ? "t10k" : "train";
  if (spec == "fashion-mnist" || spec == "mnist") {
    const std::string dir = !data_dir.empty()         ? data_dir
                            : spec == "fashion-mnist" ? kFashionDir
                                                      : "/usr/share/datasets/mnist";
    const std::string images = dir + "/" + part + "-images-idx3-ubyte.gz";
    const std::string labels = dir + "/" + part + "-labels-idx1-ubyte.gz";
    if (!Exists(images)) {
      const std::string how = spec == "fashion-mnist"
                                  ? "apt-get install dataset-fashion-mnist, or pass --data-dir DIR"
                                  : "MNIST is not packaged by Debian: pass --data-dir DIR";
      throw propel::Error(propel::ErrorCode::kIo,
                          images + ": not found (" + how + " with the four IDX files)");
    }
    return propel::load_idx(images, labels);
  }
  const size_t comma = spec.find(',');
  if (comma != std::string::npos)
    return propel::load_idx(spec.substr(0, comma), spec.substr(comma + 1));
  return propel::load_csv(spec);
}

std::string Bar(double fraction, int width) {
  const int full = static_cast<int>(fraction * width + 0.5);
  return std::string(static_cast<size_t>(full), '#') +
         std::string(static_cast<size_t>(width - full), '.');
}

uint64_t Fnv1a(const void* data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
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

struct TrainArgs {
  std::string data = "fashion-mnist", test_data, data_dir;
  std::vector<int64_t> layers = {1024, 512};
  std::string activation = "relu", loss = "auto", optimizer = "adam", schedule = "cosine";
  std::string init = "he_uniform";
  float lr = 1e-3f, momentum = 0.9f, beta1 = 0.9f, beta2 = 0.999f, weight_decay = 0.0f, clip = 0.0f;
  int64_t warmup = 0, batch = 128, shard = 256, epochs = 15, early_stop = 0;
  double validation = 0.1;
  int threads = 0;
  std::string executor = "tbb";
  uint64_t seed = 1;
  std::vector<int> binary;
  std::string normalize = "auto";
  std::string save = "propel-model.ckpt", report, plot = "auto", resume;
  bool quiet = false;
  bool mpi = false;  // data parallel across the ranks of mpirun (propel/mpi.h)
  std::string mpi_reduce = "deterministic";
};

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

int Train(TrainArgs a) {
  if (g_mpi.on && g_mpi.rank != 0) a.quiet = true;  // rank 0 speaks for the run
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  propel::Dataset train = LoadOne(a.data, false, a.data_dir);
  propel::Dataset test;
  if (!a.test_data.empty()) {
    test = LoadOne(a.test_data, true, a.data_dir);
  } else if (a.data == "fashion-mnist" || a.data == "mnist") {
    test = LoadOne(a.data, true, a.data_dir);
  } else {
    test = TakeEvery(train, 5);  // a CSV without --test: every fifth row is held out
  }
  if (test.features != train.features) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        "the test set has " + std::to_string(test.features) +
                            " features, the training set " + std::to_string(train.features));
  }
  // IDX pixels arrive in [0, 1]; CSV columns are standardized with the training rows' statistics.
  const bool idx =
      a.data == "fashion-mnist" || a.data == "mnist" || a.data.find(',') != std::string::npos;
  const std::string norm = a.normalize == "auto" ? (idx ? "none" : "standardize") : a.normalize;
  std::optional<propel::Standardizer> standardizer;
  if (norm == "standardize") {
    standardizer = propel::Standardizer::fit(train);
    standardizer->apply(train);
    standardizer->apply(test);
  } else if (norm != "none") {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        "--normalize " + a.normalize + ": expected auto, none or standardize");
  }
  propel::Head head = propel::Head::kMulticlass;
  if (!a.binary.empty()) {
    train = BinaryTask(train, a.binary[0], a.binary[1]);
    test = BinaryTask(test, a.binary[0], a.binary[1]);
    head = propel::Head::kBinary;
  } else if (a.loss != "auto") {
    head = propel::parse_head(a.loss);
  } else if (train.labels.empty()) {
    head = propel::Head::kRegression;
  }
  if (train.rows == 0 || test.rows == 0) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        "no rows left for training or testing");
  }
  propel::Dataset val;
  if (a.validation > 0.0)
    val = TakeEvery(train, std::max<int64_t>(2, std::llround(1.0 / a.validation)));

  propel::ModelSpec spec;
  spec.inputs = train.features;
  for (int64_t units : a.layers)
    spec.hidden.push_back({units, propel::parse_activation(a.activation)});
  spec.head = head;
  spec.outputs = head == propel::Head::kMulticlass ? std::max(train.classes, test.classes)
                 : head == propel::Head::kBinary   ? 1
                                                   : train.target_cols;
  propel::Model model(spec, a.seed, propel::parse_init(a.init));
  propel::CheckpointInfo resumed;
  if (!a.resume.empty()) {
    // Continue a run: its parameters, optimizer (configuration and state) and epoch count.
    resumed = propel::read_checkpoint_info(a.resume);
    if (!resumed.has_optimizer) {
      throw propel::Error(propel::ErrorCode::kInvalidArgument,
                          a.resume +
                              ": holds no optimizer state to resume from (CSV runs save "
                              "models for raw features, without it)");
    }
  }

  propel::OptimizerConfig opt;
  opt.kind = resumed.has_optimizer ? resumed.optimizer.kind : propel::parse_optimizer(a.optimizer);
  opt.lr = a.lr;
  opt.momentum = a.momentum;
  opt.beta1 = a.beta1;
  opt.beta2 = a.beta2;
  opt.weight_decay = a.weight_decay;
  opt.clip_norm = a.clip;
  propel::StepOptions so;
  so.shard_rows = a.shard;
  so.threads = a.threads;
  so.executor = a.executor == "omp"      ? propel::Executor::kOpenMp
                : a.executor == "serial" ? propel::Executor::kSerial
                                         : propel::Executor::kTbb;
  propel::FitOptions fo;
  fo.epochs = a.epochs;
  fo.batch = a.batch;
  fo.seed = a.seed;
  fo.schedule.kind = propel::parse_schedule(a.schedule);
  fo.schedule.warmup_steps = a.warmup;
  fo.patience = a.early_stop;
  if (resumed.has_optimizer) {
    opt = resumed.optimizer;
    fo.start_epoch = std::min(resumed.epochs_done, a.epochs);
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  fo.progress_every = tty ? 1 : 1 << 30;
  fo.on_progress = [&](const propel::Progress& p) {
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
  fo.on_epoch = [&](const propel::EpochStats& s) {
    if (a.quiet) return;
    std::printf("epoch %3lld  train loss %.4f", static_cast<long long>(s.epoch + 1), s.train_loss);
    if (!std::isnan(s.train_accuracy)) std::printf(" acc %.4f", s.train_accuracy);
    if (!std::isnan(s.val_loss)) std::printf("  |  val loss %.4f", s.val_loss);
    if (!std::isnan(s.val_accuracy)) std::printf(" acc %.4f", s.val_accuracy);
    std::printf("  |  %.2f s, %.0f samples/s\n", s.seconds, s.samples_per_second);
    std::fflush(stdout);
  };
  const int threads = a.threads > 0 ? a.threads : propel::num_threads();
  if (!a.quiet) {
    std::printf(
        "propel %s: %s\n  data %s: %lld training, %lld validation, %lld test rows; "
        "%s, lr %g, batch %lld, %lld epochs; %s target, %d thread(s), %s\n",
        PROPEL_VERSION_STRING, model.describe().c_str(), a.data.c_str(),
        static_cast<long long>(train.rows), static_cast<long long>(val.rows),
        static_cast<long long>(test.rows), a.optimizer.c_str(), a.lr,
        static_cast<long long>(a.batch), static_cast<long long>(a.epochs),
        propel::active_target().name, threads, a.executor.c_str());
    if (g_mpi.on) {
      std::printf("  data parallel: %d ranks x batch %lld (global batch %lld), %s reduction\n",
                  g_mpi.ranks, static_cast<long long>(a.batch),
                  static_cast<long long>(a.batch) * g_mpi.ranks, a.mpi_reduce.c_str());
    }
  }
  const propel::DataView val_view = val.rows > 0 ? val.view() : propel::DataView{};
  propel::Trainer trainer(model, opt, std::min<int64_t>(a.batch, train.rows), so);
  if (resumed.has_optimizer) propel::load_checkpoint(a.resume, model, &trainer);
  propel::FitResult r;
  if (g_mpi.on) {
#ifdef PROPEL_CLI_MPI
    propel::mpi::agree(MPI_COMM_WORLD, true);  // every rank has its data and model
    g_mpi.agreed = true;
    propel::mpi::Options mo;
    mo.deterministic = a.mpi_reduce == "deterministic";
    r = propel::mpi::fit(trainer, train.view(), val.rows > 0 ? &val_view : nullptr, fo,
                         MPI_COMM_WORLD, mo);
#endif
  } else {
    r = propel::fit(trainer, train.view(), val.rows > 0 ? &val_view : nullptr, fo);
  }
  const propel::Evaluation e = propel::evaluate(model, test.view());
  double train_seconds = 0.0;
  for (const propel::EpochStats& s : r.history) train_seconds += s.seconds;
  const double sps =
      train_seconds > 0
          ? static_cast<double>(train.rows * static_cast<int64_t>(r.history.size())) / train_seconds
          : 0.0;
  const uint64_t checksum =
      Fnv1a(model.parameters(), static_cast<size_t>(model.parameter_count()) * sizeof(float));
  std::ostringstream sum;
  sum << std::hex << std::setw(16) << std::setfill('0') << checksum;

  if (g_mpi.rank != 0) return 0;  // rank 0 saves and reports for every rank
  if (!a.save.empty()) {
    if (standardizer) {
      // The saved model takes raw features: the standardization folds into the first layer,
      //   W' = W diag(1/sd),  b' = b - W' mean.
      // (Its optimizer state belongs to the standardized inputs, so it is not saved.)
      const propel::LayerLayout& l0 = model.layer(0);
      float* w = model.parameters() + l0.weight_offset;
      float* b = model.parameters() + l0.bias_offset;
      for (int64_t o = 0; o < l0.out; ++o) {
        double shift = 0.0;
        for (int64_t j = 0; j < l0.in; ++j) {
          float& wij = w[o * l0.in + j];
          wij *= standardizer->inv_std[static_cast<size_t>(j)];
          shift += static_cast<double>(wij) * standardizer->mean[static_cast<size_t>(j)];
        }
        b[o] = static_cast<float>(b[o] - shift);
      }
      propel::save_checkpoint(a.save, model);
    } else {
      propel::save_checkpoint(a.save, model, &trainer, static_cast<int64_t>(r.history.size()));
    }
  }
  std::string plot = a.plot;
  if (plot == "auto") plot = a.save.empty() ? "" : a.save + ".png";
  const bool plotted = !plot.empty() && !r.history.empty() && Plot(r.history, plot);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  if (!a.quiet) {
    std::printf("test: loss %.4f", e.loss);
    if (!std::isnan(e.accuracy)) std::printf(", accuracy %.2f%%", 100.0 * e.accuracy);
    std::printf(" on %lld rows\n", static_cast<long long>(e.rows));
    std::printf(
        "%lld epochs in %.1f s (%.1f s in all), %.0f samples/s; %s, %d thread(s) on %s; "
        "parameter checksum %s\n",
        static_cast<long long>(r.history.size()), train_seconds, wall, sps,
        propel::active_target().name, threads, a.executor.c_str(), sum.str().c_str());
    if (!a.save.empty()) std::printf("model saved to %s\n", a.save.c_str());
    if (plotted) std::printf("loss and accuracy curves: %s\n", plot.c_str());
    if (!plot.empty() && !plotted) std::printf("(no plot: gnuplot is not installed)\n");
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
      << ",\n  \"cpu\": " << Json(CpuModel()) << ",\n  \"model\": " << Json(model.describe())
      << ",\n  \"optimizer\": " << Json(a.optimizer) << ",\n  \"batch\": " << a.batch
      << ",\n  \"shard_rows\": " << a.shard << ",\n  \"seed\": " << a.seed
      << ",\n  \"parameter_checksum\": " << Json(sum.str())
      << ",\n  \"version\": " << Json(PROPEL_VERSION_STRING) << "\n}\n";
    std::ofstream(a.report) << j.str();
  }
  return 0;
}

// propel train --mpi: Train on every rank of MPI_COMM_WORLD; errors agreed on by all ranks are
// printed once, by rank 0.
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

propel::Dataset LoadForModel(const std::string& data, const propel::Model& m) {
  propel::Dataset d = LoadOne(data, true, "");
  if (d.features != m.inputs()) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        data + ": " + std::to_string(d.features) + " features, the model takes " +
                            std::to_string(m.inputs()));
  }
  return d;
}

int Evaluate(const std::string& model_path, const std::string& data) {
  const propel::Model m = propel::load_model(model_path);
  const propel::Dataset d = LoadForModel(data, m);
  const propel::Evaluation e = propel::evaluate(m, d.view());
  std::printf("%s on %lld rows: loss %.4f", m.describe().c_str(), static_cast<long long>(e.rows),
              e.loss);
  if (!std::isnan(e.accuracy)) std::printf(", accuracy %.2f%%", 100.0 * e.accuracy);
  std::printf("\n");
  if (m.head() == propel::Head::kMulticlass) {
    const int64_t k = m.outputs();
    std::vector<float> p(static_cast<size_t>(d.rows * k));
    m.predict(d.rows, d.x.data(), d.features, p.data(), k);
    std::vector<int64_t> confusion(static_cast<size_t>(k * k), 0);
    for (int64_t i = 0; i < d.rows; ++i) {
      const float* row = p.data() + i * k;
      const int64_t guess = std::max_element(row, row + k) - row;
      ++confusion[static_cast<size_t>(d.labels[static_cast<size_t>(i)] * k + guess)];
    }
    std::printf("confusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t j = 0; j < k; ++j) std::printf("%6lld", static_cast<long long>(j));
    std::printf("\n");
    for (int64_t i = 0; i < k; ++i) {
      std::printf("%6lld", static_cast<long long>(i));
      for (int64_t j = 0; j < k; ++j)
        std::printf("%6lld", static_cast<long long>(confusion[static_cast<size_t>(i * k + j)]));
      std::printf("\n");
    }
  }
  return 0;
}

int Predict(const std::string& model_path, const std::string& data) {
  const propel::Model m = propel::load_model(model_path);
  const propel::Dataset d = LoadForModel(data, m);
  const int64_t k = m.outputs();
  std::vector<float> p(static_cast<size_t>(d.rows * k));
  m.predict(d.rows, d.x.data(), d.features, p.data(), k);
  for (int64_t i = 0; i < d.rows; ++i) {
    const float* row = p.data() + i * k;
    if (m.head() == propel::Head::kMulticlass) {
      std::printf("%lld", static_cast<long long>(std::max_element(row, row + k) - row));
    }
    for (int64_t j = 0; j < k; ++j)
      std::printf("%s%.6g", (j == 0 && m.head() != propel::Head::kMulticlass) ? "" : " ", row[j]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"propel: multilayer perceptrons trained on the CPU"};
  app.require_subcommand(1);
  TrainArgs t;
  CLI::App* train = app.add_subcommand("train", "train a model (Fashion-MNIST by default)");
  train
      ->add_option("--data", t.data,
                   "fashion-mnist, mnist, IMAGES,LABELS (IDX files) or a CSV file (label last)")
      ->capture_default_str();
  train->add_option(
      "--test", t.test_data,
      "test set (same forms; default: the data set's test files, or every fifth CSV row)");
  train->add_option("--data-dir", t.data_dir,
                    "folder of the four IDX files for fashion-mnist / mnist");
  train
      ->add_option("--binary", t.binary,
                   "two classes NEG,POS: a binary task with a sigmoid output and BCE (e.g. 0,6: "
                   "T-shirt vs shirt)")
      ->expected(2)
      ->delimiter(',');
  train->add_option("--layers", t.layers, "hidden layer widths")
      ->delimiter(',')
      ->capture_default_str();
  train->add_option("--activation", t.activation, "hidden activation")->capture_default_str();
  train
      ->add_option("--loss", t.loss,
                   "auto, multiclass (softmax + CE), binary (sigmoid + BCE), regression (MSE)")
      ->capture_default_str();
  train->add_option("--init", t.init, "glorot_uniform, glorot_normal, he_uniform, he_normal")
      ->capture_default_str();
  train->add_option("--optimizer", t.optimizer, "sgd, momentum, nesterov, adam, adamw")
      ->capture_default_str();
  train->add_option("--lr", t.lr, "learning rate")->capture_default_str();
  train->add_option("--momentum", t.momentum, "momentum (momentum, nesterov)")
      ->capture_default_str();
  train->add_option("--beta1", t.beta1, "Adam beta1")->capture_default_str();
  train->add_option("--beta2", t.beta2, "Adam beta2")->capture_default_str();
  train->add_option("--weight-decay", t.weight_decay, "L2 (decoupled for adamw)")
      ->capture_default_str();
  train->add_option("--clip", t.clip, "gradient norm clipping (0: off)")->capture_default_str();
  train->add_option("--schedule", t.schedule, "constant, step, cosine")->capture_default_str();
  train->add_option("--warmup", t.warmup, "linear warm-up updates")->capture_default_str();
  train->add_option("--batch", t.batch, "mini-batch rows")->capture_default_str();
  train
      ->add_option("--shard", t.shard,
                   "rows per shard (the result depends on it, never on threads)")
      ->capture_default_str();
  train->add_option("--epochs", t.epochs, "epochs")->capture_default_str();
  train->add_option("--threads", t.threads, "threads (0: all the process may use)")
      ->capture_default_str();
  train->add_option("--executor", t.executor, "tbb, omp, serial")
      ->check(CLI::IsMember({"tbb", "omp", "serial"}))
      ->capture_default_str();
  train->add_option("--seed", t.seed, "seed of the initial weights and the shuffles")
      ->capture_default_str();
  train
      ->add_option("--validation", t.validation,
                   "fraction of the training rows held out for validation")
      ->capture_default_str();
  train
      ->add_option("--early-stop", t.early_stop,
                   "stop after this many epochs without a better validation loss (0: off)")
      ->capture_default_str();
  train
      ->add_option("--normalize", t.normalize,
                   "auto (standardize CSV features with the training set's statistics; IDX pixels "
                   "are scaled to [0, 1]), standardize, none")
      ->capture_default_str();
  train->add_option("--save", t.save, "checkpoint path (empty: do not save)")
      ->capture_default_str();
  train
      ->add_option("--plot", t.plot,
                   "PNG of the loss/accuracy curves (auto: next to the checkpoint; empty: none)")
      ->capture_default_str();
  train->add_option("--report", t.report, "machine-readable summary (JSON)");
  train->add_option("--resume", t.resume,
                    "continue the run saved in this checkpoint (same data and model options; "
                    "--epochs is the total)");
  train->add_flag("--quiet", t.quiet, "print nothing but errors");
  train->add_flag("--mpi", t.mpi,
                  "data parallel across the ranks of mpirun -np N: each rank trains on its "
                  "slice of every global batch of N x --batch rows");
  train
      ->add_option("--mpi-reduce", t.mpi_reduce,
                   "deterministic (rank order, equals one process with batch N x --batch) or "
                   "allreduce (MPI_Allreduce)")
      ->check(CLI::IsMember({"deterministic", "allreduce"}))
      ->capture_default_str();

  std::string model_path, data_path;
  CLI::App* evaluate =
      app.add_subcommand("evaluate", "loss, accuracy and confusion matrix of a saved model");
  evaluate->add_option("MODEL", model_path, "checkpoint")->required();
  evaluate
      ->add_option("DATA", data_path,
                   "fashion-mnist, mnist (their test files), IMAGES,LABELS or a CSV file")
      ->required();
  CLI::App* predict =
      app.add_subcommand("predict", "one line per row: the class (multiclass) and the outputs");
  predict->add_option("MODEL", model_path, "checkpoint")->required();
  predict->add_option("DATA", data_path, "as for evaluate")->required();

  propel::cli::BenchArgs bench_args;
  CLI::App* bench = propel::cli::AddBenchCommand(app, bench_args);
  CLI::App* compare = propel::cli::AddCompareCommand(app);

  CLI11_PARSE(app, argc, argv);
  if (train->parsed() && t.mpi) return TrainMpi(t, &argc, &argv);
  try {
    if (bench->parsed()) return propel::cli::RunBench(bench_args, bench, argc, argv);
    if (compare->parsed()) return propel::cli::RunCompare(compare);
    if (train->parsed()) return Train(t);
    if (evaluate->parsed()) return Evaluate(model_path, data_path);
    if (predict->parsed()) return Predict(model_path, data_path);
  } catch (const propel::Error& e) {
    std::fprintf(stderr, "propel: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "propel: %s\n", e.what());
    return 1;
  }
  return 0;
}
