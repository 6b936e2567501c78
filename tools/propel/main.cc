// The propel command line: train an MLP on a data set (Fashion-MNIST by default), evaluate a saved
// model, predict with it. Uses the public API only.
//   propel train [options]            propel train --help lists them with their defaults
//   propel evaluate MODEL DATA
//   propel predict MODEL DATA
//   propel bench [options]            the benchmark suite into one JSON file (tools/propel/bench.h)
//   propel compare BASE.json NEW.json
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
#include "tools/propel/bench.h"

namespace {

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

struct Split {
  propel::Dataset train;
  propel::Dataset test;
  std::string name;
};

bool Exists(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

// Whether `program` is an executable in one of PATH's folders.
bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

[[noreturn]] void Invalid(const std::string& message) {
  throw propel::Error(propel::ErrorCode::kInvalidArgument, message);
}

std::string Gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  return buf;
}

// "%g" of a double, for messages.
std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool IsIdx(const std::string& spec) {
  return spec == "fashion-mnist" || spec == "mnist" || spec.find(',') != std::string::npos;
}

// --data: "fashion-mnist", "mnist", "IMAGES,LABELS" (IDX), or a CSV path (the last column the
// label: a class number, or with real_targets a real value); --test likewise for a separate test
// set. `name` receives what messages call the set (the CSV path, or the images file).
propel::Dataset LoadOne(const std::string& spec, bool test, const std::string& data_dir,
                        bool real_targets, std::string* name) {
  const std::string part = test ? "t10k" : "train";
  if (spec == "fashion-mnist" || spec == "mnist") {
    const std::string dir = !data_dir.empty()         ? data_dir
                            : spec == "fashion-mnist" ? kFashionDir
                                                      : "/usr/share/datasets/mnist";
    const std::string images = dir + "/" + part + "-images-idx3-ubyte.gz";
    const std::string labels = dir + "/" + part + "-labels-idx1-ubyte.gz";
    if (!Exists(images)) {
      const std::string how = !data_dir.empty() ? "--data-dir " + data_dir + " must hold"
                              : spec == "fashion-mnist"
                                  ? "apt-get install dataset-fashion-mnist, or pass --data-dir DIR"
                                    " with"
                                  : "MNIST is not packaged by Debian: pass --data-dir DIR with";
      throw propel::Error(propel::ErrorCode::kIo,
                          images + ": not found (" + how + " the four IDX files)");
    }
    *name = images;
    return propel::load_idx(images, labels);
  }
  const size_t comma = spec.find(',');
  if (comma != std::string::npos) {
    *name = spec.substr(0, comma);
    return propel::load_idx(spec.substr(0, comma), spec.substr(comma + 1));
  }
  *name = spec;
  propel::CsvOptions csv;
  csv.classes = !real_targets;
  try {
    return propel::load_csv(spec, csv);
  } catch (const propel::Error& e) {
    const std::string what = e.what();
    if (what.find("is not a class number") == std::string::npos) throw;
    throw propel::Error(e.code(), what + "; for real-valued targets pass --loss regression");
  }
}

// Labels 0 / 1 as the targets of a binary (sigmoid + BCE) head; any other label is an error.
void LabelsAsBinaryTargets(propel::Dataset& d, const std::string& name) {
  if (!d.targets.empty()) return;
  for (int64_t i = 0; i < d.rows; ++i) {
    const int32_t y = d.labels[static_cast<size_t>(i)];
    if (y != 0 && y != 1) {
      Invalid(name + ": row " + std::to_string(i + 1) + " has label " + std::to_string(y) +
              ": a binary model needs labels 0 and 1 (or --binary NEG,POS to pick two classes)");
    }
  }
  d.targets.assign(d.labels.begin(), d.labels.end());
  d.labels.clear();
  d.target_cols = 1;
}

// --binary NEG,POS against a data set: two distinct classes that it has.
void CheckBinaryPair(const std::vector<int>& pair, const propel::Dataset& d,
                     const std::string& name) {
  if (pair[0] < 0 || pair[1] < 0 || pair[0] == pair[1]) {
    Invalid("--binary " + std::to_string(pair[0]) + "," + std::to_string(pair[1]) +
            ": expected two different class numbers >= 0");
  }
  if (d.labels.empty()) {
    Invalid("--binary: " + name + " has real targets, not class labels");
  }
  for (int c : pair) {
    if (c >= d.classes) {
      Invalid("--binary " + std::to_string(pair[0]) + "," + std::to_string(pair[1]) + ": " + name +
              " has no class " + std::to_string(c) + " (its classes are 0 to " +
              std::to_string(d.classes - 1) + ")");
    }
  }
}

// A file the run will write must be writable before the run starts (not after an hour of
// training): not a directory, in a folder that exists and takes a new file.
void CheckWritable(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st)) {
    Invalid(option + " " + path + ": is a directory, not a file");
  }
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
    Invalid(option + " " + path + ": exists and is not a regular file");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  const std::string probe =
      (std::filesystem::path(dir) / (".propel-write-probe-" + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": cannot create a file in " +
                                                    dir + ": " + std::strerror(err));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

// Writes `text` to `path` through a temporary file renamed over it; an error names the option.
void WriteTextFile(const std::string& option, const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": writing " + tmp +
                                                      " failed; the previous file is unchanged");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw propel::Error(propel::ErrorCode::kIo, option + " " + path + ": " + std::strerror(err) +
                                                    "; the previous file is unchanged");
  }
}

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

// A name option parsed by the library's parser (propel::parse_*), its error naming the option.
template <class Parse>
auto ParseNamed(const std::string& option, const std::string& value, Parse parse) {
  try {
    return parse(value);
  } catch (const propel::Error& e) {
    const std::string what = e.what();
    const size_t colon = what.find(": ");
    Invalid(option + " " + value + ": " +
            (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
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
  std::string layers = "1024,512";
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
  std::set<std::string> given;  // the options the command line set explicitly
};

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

int Train(TrainArgs a) {
  if (g_mpi.on && g_mpi.rank != 0) a.quiet = true;  // rank 0 speaks for the run
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  // Everything that can be checked before loading and training is checked first.
  CheckRanges(a);
  const std::vector<int64_t> layers = ParseLayers(a.layers);
  {
    // The hidden layers alone (one input, one output) bound the model from below: an impossible
    // size is refused before any data is loaded.
    propel::ModelSpec lower;
    lower.inputs = 1;
    lower.outputs = 1;
    lower.head = propel::Head::kRegression;
    for (int64_t units : layers) lower.hidden.push_back({units, propel::Activation::kRelu});
    const double need = propel::model_bytes(lower), have = propel::machine_memory_bytes();
    if (have > 0 && need > have) {
      throw propel::Error(propel::ErrorCode::kOutOfMemory,
                          "--layers " + a.layers + ": the hidden layers alone need " +
                              Gigabytes(need) + " for their parameters and gradients; this " +
                              "machine has " + Gigabytes(have));
    }
  }
  const propel::Activation activation =
      ParseNamed("--activation", a.activation, propel::parse_activation);
  const propel::Init init = ParseNamed("--init", a.init, propel::parse_init);
  const propel::Schedule schedule = ParseNamed("--schedule", a.schedule, propel::parse_schedule);
  std::optional<propel::Head> requested_head;
  if (!a.binary.empty()) {
    requested_head = propel::Head::kBinary;
  } else if (a.loss != "auto") {
    requested_head = ParseNamed("--loss", a.loss, propel::parse_head);
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
  propel::CheckpointInfo resumed;
  if (!a.resume.empty()) {
    // Continue a run: its parameters, optimizer (configuration and state) and epoch count.
    resumed = propel::read_checkpoint_info(a.resume);
    if (!resumed.has_optimizer) {
      Invalid("--resume " + a.resume +
              ": holds no optimizer state to resume from (it was saved without its trainer)");
    }
  }
  propel::OptimizerConfig opt;
  opt.kind = ParseNamed("--optimizer", a.optimizer, propel::parse_optimizer);
  opt.lr = a.lr;
  opt.momentum = a.momentum;
  opt.beta1 = a.beta1;
  opt.beta2 = a.beta2;
  opt.weight_decay = a.weight_decay;
  opt.clip_norm = a.clip;
  if (resumed.has_optimizer) {
    // A resumed run continues with its saved optimizer: an option that says otherwise is an
    // error, not silently ignored.
    const propel::OptimizerConfig& saved = resumed.optimizer;
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

  // The data. A regression head reads real targets from a CSV's label column.
  const bool real_targets = requested_head == propel::Head::kRegression;
  std::string train_name, test_name;
  propel::Dataset train = LoadOne(a.data, false, a.data_dir, real_targets, &train_name);
  propel::Dataset test;
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
  std::optional<propel::Standardizer> standardizer;
  if (norm == "standardize") {
    standardizer = propel::Standardizer::fit(train);
    standardizer->apply(train);
    standardizer->apply(test);
  }
  propel::Head head = requested_head.value_or(propel::Head::kMulticlass);
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
  propel::Dataset val;
  if (a.validation > 0.0) {
    const double want = a.validation * static_cast<double>(train.rows);
    const int64_t held = static_cast<int64_t>(std::llround(want));
    if (held < 1 || held >= train.rows) {
      Invalid("--validation " + Num(a.validation) + " holds out " + std::to_string(held) + " of " +
              std::to_string(train.rows) + " training rows: at least 1 must be held out and 1 " +
              "kept (0: no validation)");
    }
    val = propel::split_count(train, held);
  }

  propel::ModelSpec spec;
  spec.inputs = train.features;
  for (int64_t units : layers) spec.hidden.push_back({units, activation});
  spec.head = head;
  spec.outputs = head == propel::Head::kMulticlass ? std::max(train.classes, test.classes)
                 : head == propel::Head::kBinary   ? 1
                                                   : train.target_cols;
  propel::Model model(spec, a.seed, init);
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
  fo.schedule.kind = schedule;
  fo.schedule.warmup_steps = a.warmup;
  fo.patience = a.early_stop;
  if (resumed.has_optimizer) fo.start_epoch = std::min(resumed.epochs_done, a.epochs);
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
    if (!std::isnan(s.val_loss) || !std::isnan(s.val_accuracy)) {
      std::printf("  |  val loss %.4f", s.val_loss);
      // An accuracy from outputs whose loss is not finite means nothing.
      if (std::isfinite(s.val_loss) && !std::isnan(s.val_accuracy))
        std::printf(" acc %.4f", s.val_accuracy);
    }
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
        static_cast<long long>(test.rows), propel::optimizer_name(opt.kind), opt.lr,
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
  if (resumed.has_optimizer) {
    propel::load_checkpoint(a.resume, model, &trainer);
    // A CSV run saved its model for raw features; training continues on standardized ones.
    if (standardizer) standardizer->unfold(model);
  }
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
    try {
      r = propel::fit(trainer, train.view(), val.rows > 0 ? &val_view : nullptr, fo);
    } catch (const propel::Error& e) {
      // A run resumed from a file fails in the file's name: its parameters or state may be
      // valid numbers that no sound run produces.
      if (a.resume.empty()) throw;
      throw propel::Error(e.code(),
                          std::string(e.what()) + " (training resumed from " + a.resume + ")");
    }
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
      // The saved model takes raw features: the standardization folds into the first layer.
      // The optimizer state (of the standardized problem) is saved with it; --resume unfolds.
      standardizer->fold(model);
    }
    propel::save_checkpoint(a.save, model, &trainer, static_cast<int64_t>(r.history.size()));
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
      << ",\n  \"cpu\": " << Json(CpuModel()) << ",\n  \"model\": " << Json(model.describe())
      << ",\n  \"optimizer\": " << Json(propel::optimizer_name(opt.kind))
      << ",\n  \"lr\": " << opt.lr << ",\n  \"batch\": " << a.batch
      << ",\n  \"shard_rows\": " << a.shard << ",\n  \"seed\": " << a.seed
      << ",\n  \"parameter_checksum\": " << Json(sum.str())
      << ",\n  \"version\": " << Json(PROPEL_VERSION_STRING) << "\n}\n";
    WriteTextFile("--report", a.report, j.str());
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

// The data set for a saved model's head: class labels (multiclass), 0 / 1 targets (binary: the
// labels 0 and 1, or with --binary NEG,POS those two classes' rows), real targets (regression).
// For predict (`check_labels` false) the labels only select rows; they are not checked.
propel::Dataset LoadForModel(const std::string& data, const propel::Model& m,
                             const std::vector<int>& binary, bool check_labels) {
  const propel::Head head = m.head();
  if (!binary.empty() && head != propel::Head::kBinary) {
    Invalid("--binary: the model is " + std::string(propel::head_name(head)) + ", not binary");
  }
  if (head == propel::Head::kRegression && IsIdx(data)) {
    Invalid(data +
            ": IDX files hold class labels; a regression model needs a CSV with real "
            "targets");
  }
  std::string name;
  propel::Dataset d = LoadOne(data, true, "", head == propel::Head::kRegression, &name);
  if (d.features != m.inputs()) {
    Invalid(name + ": " + std::to_string(d.features) + " features, the model takes " +
            std::to_string(m.inputs()));
  }
  if (head == propel::Head::kBinary) {
    if (!binary.empty()) {
      CheckBinaryPair(binary, d, name);
      d = propel::binary_task(d, binary[0], binary[1]);
      if (d.rows == 0) Invalid(name + ": no rows of the classes given by --binary");
    } else if (check_labels) {
      LabelsAsBinaryTargets(d, name);
    }
  } else if (head == propel::Head::kMulticlass) {
    for (int64_t i = 0; i < d.rows && check_labels; ++i) {
      const int32_t y = d.labels[static_cast<size_t>(i)];
      if (y >= m.outputs()) {
        Invalid(name + ": row " + std::to_string(i + 1) + " has label " + std::to_string(y) +
                ", the model has " + std::to_string(m.outputs()) + " classes (0 to " +
                std::to_string(m.outputs() - 1) + ")");
      }
    }
  } else if (d.target_cols != m.outputs()) {
    Invalid(name + ": " + std::to_string(d.target_cols) + " target column(s), the model has " +
            std::to_string(m.outputs()) + " outputs");
  }
  return d;
}

int Evaluate(const std::string& model_path, const std::string& data,
             const std::vector<int>& binary) {
  const propel::Model m = propel::load_model(model_path);
  const propel::Dataset d = LoadForModel(data, m, binary, true);
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

int Predict(const std::string& model_path, const std::string& data,
            const std::vector<int>& binary) {
  const propel::Model m = propel::load_model(model_path);
  const propel::Dataset d = LoadForModel(data, m, binary, false);
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
  train
      ->add_option("--layers", t.layers,
                   "hidden layer widths, e.g. 1024,512 ('none': no hidden layer)")
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

  std::vector<int> eval_binary;
  for (CLI::App* command : {evaluate, predict}) {
    command
        ->add_option("--binary", eval_binary,
                     "NEG,POS: the two classes a --binary model was trained on (its rows only, "
                     "relabelled 0 / 1)")
        ->expected(2)
        ->delimiter(',');
  }

  CLI11_PARSE(app, argc, argv);
  for (const CLI::Option* option : train->get_options()) {
    if (option->count() > 0) t.given.insert(option->get_name());
  }
  if (train->parsed() && t.mpi) return TrainMpi(t, &argc, &argv);
  try {
    if (bench->parsed()) return propel::cli::RunBench(bench_args, bench, argc, argv);
    if (compare->parsed()) return propel::cli::RunCompare(compare);
    if (train->parsed()) return Train(t);
    if (evaluate->parsed()) return Evaluate(model_path, data_path, eval_binary);
    if (predict->parsed()) return Predict(model_path, data_path, eval_binary);
  } catch (const propel::Error& e) {
    std::fprintf(stderr, "propel: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    // The library checks its large allocations against the machine first; this is what is left.
    std::fprintf(stderr, "propel: out of memory (a buffer could not be allocated)\n");
    return 1;
  } catch (const std::exception& e) {
    // Every expected failure is a propel::Error; anything else is a bug worth a report.
    std::fprintf(stderr, "propel: internal error: %s (please report it)\n", e.what());
    return 1;
  }
  return 0;
}
