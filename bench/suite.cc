#include "bench/suite.h"

#include <benchmark/benchmark.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_context.h"
#include "bench/shapes.h"
#include "bench/suite_build.h"
#include "propel/activation.h"
#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/model.h"
#include "propel/optim.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/train.h"
#include "propel/version.h"

namespace propel::bench {

const char* const kFamilies[5] = {"gemm", "elementwise", "optimizer", "train", "predict"};

namespace {

constexpr int64_t kInCache = kInCacheElements;

std::string Format(double v) {
  std::ostringstream s;
  s.precision(5);
  s << v;
  return s.str();
}

// ---------------------------------------------------------------- instruction counting

// Counts the user-space instructions the calling thread retires between Start and Stop.
class InstructionCounter {
 public:
  explicit InstructionCounter(const SuiteOptions& o) : measure_(o.measure), out_(o.callgrind_out) {
    if (measure_ != Measure::kPerf) return;
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    fd_ = static_cast<int>(::syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    if (fd_ < 0) {
      throw Error(ErrorCode::kUnsupported,
                  std::string("perf_event_open(instructions) failed: ") + std::strerror(errno));
    }
  }
  ~InstructionCounter() {
    if (fd_ >= 0) ::close(fd_);
  }
  InstructionCounter(const InstructionCounter&) = delete;
  InstructionCounter& operator=(const InstructionCounter&) = delete;

  void Start() {
    if (measure_ == Measure::kPerf) {
      ::ioctl(fd_, PERF_EVENT_IOC_RESET, 0);
      ::ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
    } else if (measure_ == Measure::kCallgrind) {
      CALLGRIND_ZERO_STATS;
    }
  }

  // Stops a kPerf count: the instructions since Start, or -1 if the counter cannot be read.
  double StopPerf() {
    ::ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t v = 0;
    if (::read(fd_, &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) return -1.0;
    return static_cast<double>(v);
  }

  // Sets the "instructions" counter (per iteration) of `state`.
  void Stop(benchmark::State& state, const std::string& name) {
    double count = 0.0;
    if (measure_ == Measure::kPerf) {
      count = StopPerf();
      if (count < 0.0) {
        state.SkipWithError("reading the instruction counter failed");
        return;
      }
    } else if (measure_ == Measure::kCallgrind) {
      CALLGRIND_DUMP_STATS_AT(name.c_str());
      count = CallgrindTotal(++dumps_);
      if (count < 0.0) {
        state.SkipWithError(
            ("no callgrind dump " + std::to_string(dumps_) + " in " + out_).c_str());
        return;
      }
    } else {
      return;
    }
    state.counters["instructions"] =
        benchmark::Counter(count / static_cast<double>(state.iterations()));
  }

 private:
  // With --separate-threads=yes callgrind writes dump k of --callgrind-out-file=F to one file
  // per thread, F.k-TT; the benchmark runs on the main thread, TT = 01. Its "totals:" line is
  // the count: the calling thread's alone, as perf counts it (an idle pool thread that wakes
  // while the loop runs would otherwise add a number of instructions that depends on the load
  // of the machine).
  double CallgrindTotal(int k) const {
    std::ifstream in(out_ + "." + std::to_string(k) + "-01");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("totals:", 0) == 0 || line.rfind("summary:", 0) == 0)
        return std::strtod(line.c_str() + line.find(':') + 1, nullptr);
    }
    return -1.0;
  }

  Measure measure_;
  std::string out_;
  int fd_ = -1;
  static inline int dumps_ = 0;  // dumps are numbered per process
};

// ------------------------------------------------------------------------------ operands

// Deterministic values in [-0.5, 0.5) (the kernels' speed does not depend on them, but NaNs or
// denormals would).
void Fill(std::vector<float>& v, uint64_t salt) {
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(((i + salt) * 7919 + salt * 104729) % 1000) * 1e-3f - 0.5f;
}

// ------------------------------------------------------------------------------ the cases

struct Context {
  const SuiteOptions* options;
  const Limits* limits;
};

// What every benchmark does around its loop: pin the target, warm up once, count instructions
// when asked, set the throughput counters.
template <typename Body>
void Run(benchmark::State& state, const Context& c, const std::string& name,
         const std::string& target, Body&& body) {
  if (c.options->before_each) c.options->before_each();
  pin_target(target);
  body();  // warm: first touch of buffers and thread pools, outside the measurement
  InstructionCounter counter(*c.options);
  counter.Start();
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  counter.Stop(state, name);
  unpin_target();
}

void FlopCounters(benchmark::State& state, const Context& c, const std::string& target,
                  double flops, int threads, Precision precision = Precision::kFp32) {
  if (c.options->measure != Measure::kTime) {  // rates of a counted run mean nothing
    state.counters["threads"] = threads;
    return;
  }
  SetFlopCounters(state, *c.limits, target, flops, threads, precision);
}

void ByteCounters(benchmark::State& state, const Context& c, int64_t n, int arrays) {
  if (c.options->measure != Measure::kTime) {
    state.counters["threads"] = 1;
    return;
  }
  SetByteCounters(state, *c.limits, n, arrays);
}

// The fraction of a training step spent outside its GEMMs: 1 - t_gemms / t_step, where t_gemms
// is the time of the step's products run alone through propel::sgemm (the same shapes and
// transposes on the same threads, one call per layer and pass: forward, weight gradient, input
// gradient but for the first layer) and t_step the time of a step; medians of interleaved
// repetitions, measured after the case's own timing. What it counts: the loss, the element-wise
// passes, the shard reduction, the update, and what the step's GEMMs lose to the step's
// memory traffic (cold weights and gradients) against the same GEMMs run back to back.
double OutsideGemm(const TrainCase& tc, Trainer& trainer, const DataView& view, int threads,
                   Executor executor) {
  const int64_t batch = tc.batch;
  int64_t widest = 0, largest = 0;
  for (size_t l = 0; l + 1 < tc.widths.size(); ++l) {
    widest = std::max({widest, tc.widths[l], tc.widths[l + 1]});
    largest = std::max(largest, tc.widths[l] * tc.widths[l + 1]);
  }
  std::vector<float> act(static_cast<size_t>(batch * widest)), delta(act.size()), out(act.size()),
      w(static_cast<size_t>(largest)), g(w.size());
  Fill(act, 5);
  Fill(delta, 6);
  Fill(w, 7);
  // The products in the case's precision: propel::gemm_bf16 for the bf16 steps.
  const auto mm = [&](Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
    if (tc.precision == Precision::kBf16) {
      gemm_bf16(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    } else {
      sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    }
  };
  const auto gemms = [&] {
    for (size_t l = 0; l + 1 < tc.widths.size(); ++l) {
      const int64_t in = tc.widths[l], o = tc.widths[l + 1];
      mm(Trans::kNo, Trans::kYes, batch, o, in, act.data(), in, w.data(), in, out.data(), o);
      mm(Trans::kYes, Trans::kNo, o, in, batch, delta.data(), o, act.data(), in, g.data(), in);
      if (l > 0) {
        mm(Trans::kNo, Trans::kNo, batch, in, o, delta.data(), o, w.data(), in, out.data(), in);
      }
    }
  };
  const Executor saved_executor = propel::executor();
  const int saved_threads = num_threads();
  set_executor(executor);
  set_num_threads(threads);
  gemms();
  std::vector<double> step_s, gemm_s;
  const auto seconds = [](const auto& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int r = 0; r < 7; ++r) {
    step_s.push_back(seconds([&] { benchmark::DoNotOptimize(trainer.step(view).loss); }));
    gemm_s.push_back(seconds(gemms));
  }
  set_executor(saved_executor);
  set_num_threads(saved_threads);
  std::sort(step_s.begin(), step_s.end());
  std::sort(gemm_s.begin(), gemm_s.end());
  return 1.0 - gemm_s[gemm_s.size() / 2] / step_s[step_s.size() / 2];
}

// The multiclass MLP of a case's widths and hidden activation.
ModelSpec SpecOf(const TrainCase& tc) {
  ModelSpec spec;
  spec.inputs = tc.widths.front();
  for (size_t l = 1; l + 1 < tc.widths.size(); ++l)
    spec.hidden.push_back({tc.widths[l], tc.activation});
  spec.outputs = tc.widths.back();
  spec.head = Head::kMulticlass;
  return spec;
}

struct Registrar {
  const SuiteOptions& options;
  Context context;
  int count = 0;

  bool Instructions() const { return options.measure != Measure::kTime; }

  benchmark::internal::Benchmark* Add(const std::string& name,
                                      std::function<void(benchmark::State&)> fn,
                                      int64_t iterations) {
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& s) { fn(s); });
    b->UseRealTime();
    if (Instructions()) b->Iterations(iterations);
    ++count;
    return b;
  }

  void Gemm(const GemmShape& s, const std::string& target, int threads,
            Precision precision = Precision::kFp32) {
    const bool bf16 = precision == Precision::kBf16;
    const std::string name = "gemm/" + s.name + (bf16 ? ":bf16" : "") + "/target:" + target +
                             "/threads:" + std::to_string(threads);
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(threads);
          std::vector<float> a(static_cast<size_t>(s.m * s.k)), b(static_cast<size_t>(s.k * s.n)),
              out(static_cast<size_t>(s.m * s.n));
          Fill(a, 1);
          Fill(b, 2);
          const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
          const Trans ta = s.ta ? Trans::kYes : Trans::kNo, tb = s.tb ? Trans::kYes : Trans::kNo;
          Run(state, c, name, target, [&] {
            if (bf16) {
              gemm_bf16(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(),
                        s.n);
            } else {
              sgemm(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(),
                    s.n);
            }
          });
          FlopCounters(state, c, target, 2.0 * static_cast<double>(s.m) * s.n * s.k, threads,
                       precision);
        },
        2);
  }

  void Activation(propel::Activation act, bool backward, int64_t n, const std::string& target) {
    const std::string name = std::string("elementwise/") + activation_name(act) +
                             (backward ? "_backward" : "_forward") + "/n:" + std::to_string(n) +
                             "/target:" + target + "/threads:1";
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(1);
          Arrays& a = ArraysOf(n);
          const float alpha = default_alpha(act);
          Run(state, c, name, target, [&] {
            if (backward) {
              activation_backward(act, alpha, n, a.x.data(), a.dy.data(), a.out.data());
            } else {
              activation_forward(act, alpha, n, a.x.data(), a.out.data());
            }
          });
          ByteCounters(state, c, n, backward ? 3 : 2);
        },
        n == kInCache ? 50 : 1);
  }

  // Softmax cross-entropy with labels over rows of `cols`, about kInCache logits in all.
  void SoftmaxCe(int64_t cols, const std::string& target) {
    const int64_t rows = std::max<int64_t>(1, kInCache / cols), n = rows * cols;
    const std::string name = "elementwise/softmax_ce_c" + std::to_string(cols) +
                             "/n:" + std::to_string(n) + "/target:" + target + "/threads:1";
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(1);
          Arrays& a = ArraysOf(kInCache);
          std::vector<int32_t> labels(static_cast<size_t>(rows));
          for (int64_t i = 0; i < rows; ++i)
            labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7) % cols);
          Run(state, c, name, target, [&] {
            benchmark::DoNotOptimize(
                softmax_cross_entropy(rows, cols, a.x.data(), labels.data(), a.out.data(), 1.0f));
          });
          ByteCounters(state, c, n, 2);
        },
        50);
  }

  // Binary cross-entropy on logits (the sigmoid head) and mean squared error, 10 columns.
  void PointLoss(bool bce, const std::string& target) {
    const int64_t cols = 10, rows = kInCache / cols, n = rows * cols;
    const std::string name = std::string("elementwise/") + (bce ? "bce_logits" : "mse") +
                             "/n:" + std::to_string(n) + "/target:" + target + "/threads:1";
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(1);
          Arrays& a = ArraysOf(kInCache);
          std::vector<float> y(static_cast<size_t>(n));
          for (size_t i = 0; i < y.size(); ++i) y[i] = (i % 3 == 0) ? 1.0f : 0.0f;
          Run(state, c, name, target, [&] {
            benchmark::DoNotOptimize(
                bce ? bce_with_logits(rows, cols, a.x.data(), y.data(), a.out.data(), 1.0f)
                    : mean_squared_error(rows, cols, a.x.data(), y.data(), a.out.data(), 1.0f));
          });
          ByteCounters(state, c, n, 3);
        },
        50);
  }

  // One update of n parameters. Arrays read + written: SGD 3, momentum 5, Adam/AdamW 7.
  void Optimizer(const std::string& kind, int64_t n, const std::string& target) {
    const std::string name =
        "optimizer/" + kind + "/n:" + std::to_string(n) + "/target:" + target + "/threads:1";
    const Context c = context;
    const int arrays = kind == "sgd" ? 3 : kind == "momentum" ? 5 : 7;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(1);
          Arrays& a = ArraysOf(n);
          // The weights move by lr * g each call; tiny steps keep them far from overflow.
          SgdOptions sgd;
          sgd.lr = 1e-6f;
          sgd.momentum = kind == "momentum" ? 0.9f : 0.0f;
          AdamOptions adam;
          adam.lr = 1e-6f;
          adam.decoupled = kind == "adamw";
          adam.weight_decay = kind == "adamw" ? 0.01f : 0.0f;
          int64_t step = 0;
          Run(state, c, name, target, [&] {
            if (kind == "sgd" || kind == "momentum") {
              sgd_update(sgd, n, a.out.data(), a.dy.data(),
                         kind == "momentum" ? a.m.data() : nullptr);
            } else {
              adam_update(adam, ++step, n, a.out.data(), a.dy.data(), a.m.data(), a.v.data());
            }
          });
          ByteCounters(state, c, n, arrays);
        },
        n == kInCache ? 50 : 1);
  }

  // Model::predict of `batch` rows of a trained-size model, called again and again with the same
  // parameters (an inference service): the forward GEMMs with their fused epilogues and the head,
  // and whatever predict keeps between calls (its packed weights, per parameter version).
  void Predict(const TrainCase& tc, const std::string& target, int threads) {
    const int64_t rows = tc.batch;
    std::string widths;
    for (int64_t w : tc.widths) widths += (widths.empty() ? "" : "-") + std::to_string(w);
    if (tc.precision == Precision::kBf16) widths += ":bf16";
    const std::string name = "predict/" + widths + "/rows:" + std::to_string(rows) +
                             "/target:" + target + "/threads:" + std::to_string(threads);
    double flops = 0.0;
    for (size_t l = 0; l + 1 < tc.widths.size(); ++l)
      flops += 2.0 * rows * static_cast<double>(tc.widths[l] * tc.widths[l + 1]);
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          set_num_threads(threads);
          const ModelSpec spec = SpecOf(tc);
          Model model(spec, 1);
          model.set_precision(tc.precision);
          std::vector<float> x(static_cast<size_t>(rows * spec.inputs));
          std::vector<float> out(static_cast<size_t>(rows * spec.outputs));
          Fill(x, 5);
          Run(state, c, name, target,
              [&] { model.predict(rows, x.data(), spec.inputs, out.data(), spec.outputs); });
          FlopCounters(state, c, target, flops, threads, tc.precision);
          state.counters["rows_per_second"] = benchmark::Counter(
              static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
        },
        2);
  }

  // executor: "" for the default (serial for one thread, TBB for more), unnamed.
  void Train(const TrainCase& tc, const std::string& target, int threads,
             const std::string& executor) {
    const int64_t batch = tc.batch;
    const propel::Optimizer opt_kind = tc.optimizer;
    std::string widths;
    for (int64_t w : tc.widths) widths += (widths.empty() ? "" : "-") + std::to_string(w);
    if (tc.activation != propel::Activation::kRelu)
      widths += std::string(":") + activation_name(tc.activation);
    if (opt_kind != propel::Optimizer::kSgd) widths += std::string(":") + optimizer_name(opt_kind);
    if (tc.precision == Precision::kBf16) widths += ":bf16";
    if (tc.portable) widths += ":portable";
    const std::string name = "train/" + widths + "/batch:" + std::to_string(batch) +
                             "/target:" + target + "/threads:" + std::to_string(threads) +
                             (executor.empty() ? "" : "/executor:" + executor);
    const Executor exec = executor == "omp"      ? Executor::kOpenMp
                          : executor == "serial" ? Executor::kSerial
                          : executor == "tbb"    ? Executor::kTbb
                          : threads == 1         ? Executor::kSerial
                                                 : Executor::kTbb;
    // Multiply-adds x 2 of a step: forward and weight gradient of every layer, input gradient of
    // every layer but the first.
    double flops = 0.0;
    for (size_t l = 0; l + 1 < tc.widths.size(); ++l)
      flops +=
          2.0 * batch * static_cast<double>(tc.widths[l] * tc.widths[l + 1]) * (l == 0 ? 2.0 : 3.0);
    const Context c = context;
    Add(
        name,
        [=](benchmark::State& state) {
          pin_target(target);  // the trainer's workspace is sized for the target's kernels
          const ModelSpec spec = SpecOf(tc);
          Model model(spec, 1);
          std::vector<float> x(static_cast<size_t>(batch * spec.inputs));
          Fill(x, 4);
          std::vector<int32_t> labels(static_cast<size_t>(batch));
          for (int64_t i = 0; i < batch; ++i)
            labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % spec.outputs);
          DataView view;
          view.rows = batch;
          view.x = x.data();
          view.labels = labels.data();
          OptimizerConfig opt;
          opt.kind = opt_kind;
          opt.lr = 1e-4f;
          StepOptions so;
          so.executor = exec;
          so.threads = threads;
          so.precision = tc.precision;
          so.portable = tc.portable;
          Trainer trainer(model, opt, batch, so);
          Run(state, c, name, target, [&] { benchmark::DoNotOptimize(trainer.step(view).loss); });
          FlopCounters(state, c, target, flops, threads, tc.precision);
          if (c.options->measure == Measure::kTime) {
            state.counters["samples_per_second"] = benchmark::Counter(
                static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
            pin_target(target);
            state.counters["outside_gemm"] = OutsideGemm(tc, trainer, view, threads, exec);
            unpin_target();
          }
        },
        2)
        ->Unit(benchmark::kMillisecond);
  }
};

// Whether a target runs the portable-mode twins: those whose portable mode runs their own fused
// engine at the default mode's speed. Not SCALAR (its exact fused multiply-add is some 30 times
// slower than its default kernels: a training step of the large MLP takes seconds), nor SSE4
// and SSSE3, whose portable mode runs SCALAR's kernels.
bool PortableTwinRuns(const std::string& target) {
  for (const Target& t : available_targets()) {
    if (target == t.name) return target != "SCALAR" && portable_target_name(t) == target;
  }
  return false;
}

std::vector<std::string> SelectedTargets(const SuiteOptions& o) {
  std::vector<std::string> all;
  for (const Target& t : available_targets()) all.emplace_back(t.name);
  if (o.targets.empty()) return all;
  std::vector<std::string> out;
  for (std::string want : o.targets) {
    for (char& ch : want) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (want == "BEST") want = all.front();
    if (std::find(all.begin(), all.end(), want) == all.end()) {
      std::string list;
      for (const auto& t : all) list += (list.empty() ? "" : ", ") + t;
      throw Error(ErrorCode::kUnsupported,
                  "target '" + want + "' is not available here (this CPU and build: " + list + ")");
    }
    if (std::find(out.begin(), out.end(), want) == out.end()) out.push_back(want);
  }
  return out;
}

// The engine of the named target's bf16 GEMMs ("bf16 emulated" where it has no native one).
std::string Bf16EngineOf(const std::string& name) {
  for (const Target& t : available_targets()) {
    if (name == t.name) return gemm_engine_name(t, Precision::kBf16);
  }
  return "bf16 emulated";
}

// A variant of a base target with a native bf16 engine of its own (AVX3_AMX, AVX3_BF16).
bool Bf16DotTarget(const std::string& name) { return Bf16EngineOf(name) != "bf16 emulated"; }

// What the bf16 GEMMs of a target multiply with, for the context (bf16_dot_product:<target>).
const char* Bf16DotProduct(const std::string& name) {
  const std::string engine = Bf16EngineOf(name);
  if (engine == "bf16 AMX") return "TDPBF16PS (AMX-BF16 tiles)";
  if (engine == "bf16 VDPBF16PS") return "VDPBF16PS (AVX512_BF16)";
  return "fp32 FMA on operands rounded to bf16 (no native bf16 kernel)";
}

bool Wants(const SuiteOptions& o, const std::string& family) {
  return o.families.empty() ||
         std::find(o.families.begin(), o.families.end(), family) != o.families.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string CpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

double MeasureCopyBandwidth(int64_t n, int repetitions) {
  std::vector<float> a(static_cast<size_t>(n), 1.0f), b(static_cast<size_t>(n), 0.0f);
  double best = 0.0;
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), a.size() * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(a.size() * sizeof(float)) / s * 1e-9);
  }
  return best;
}

// Bytes per second of one thread reading n floats (as 64-bit words, xor-folded: a reduction the
// compiler vectorizes), best of `repetitions`.
double MeasureReadBandwidth(int64_t n, int repetitions) {
  std::vector<uint64_t> a(static_cast<size_t>(n / 2));
  for (size_t i = 0; i < a.size(); ++i) a[i] = i * 0x9E3779B97F4A7C15ull;
  double best = 0.0;
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t x = 0;
    for (uint64_t w : a) x ^= w;
    benchmark::DoNotOptimize(x);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(a.size() * sizeof(uint64_t)) / s * 1e-9);
  }
  return best;
}

// The target whose measured peak bounds `target`'s GEMM and training: the target itself, except
// SCALAR, whose loops the compiler vectorizes with the baseline ISA's 128-bit multiplies and
// adds: bounded by the 128-bit targets' probe (SSSE3 or SSE4: Mul + Add where MulAdd has no FMA),
// not by the scalar probe.
std::string PeakBasis(const std::string& target) {
  if (target != "SCALAR") return target;
  std::string basis = target;
  for (const Target& t : available_targets()) {
    const std::string name = t.name;
    if (name == "SSSE3" || (name == "SSE4" && basis == target)) basis = name;
  }
  return basis;
}

}  // namespace

Limits MeasureLimits(const SuiteOptions& options) {
  Limits l;
  if (options.measure != Measure::kTime) return l;  // fractions of time limits: not counted
  for (const std::string& t : SelectedTargets(options)) {
    for (const Target& target : available_targets()) {
      if (t != target.name) continue;
      l.fma_peak_gflops[t] = measure_fma_peak_gflops(target, 0.2);
      const std::string basis = PeakBasis(t);
      for (const Target& b : available_targets()) {
        if (basis != t && basis == b.name) {
          l.fma_peak_gflops[t] = std::max(l.fma_peak_gflops[t], measure_fma_peak_gflops(b, 0.2));
        }
      }
      l.bf16_peak_gflops[t] =
          Bf16DotTarget(t) ? measure_bf16_peak_gflops(target, 0.2) : l.fma_peak_gflops[t];
    }
  }
  const int reps = options.preset == Preset::kQuick ? 3 : 5;
  l.copy_bandwidth_gbs = MeasureCopyBandwidth(OutOfCacheElements(), reps);
  l.read_bandwidth_gbs = MeasureReadBandwidth(OutOfCacheElements(), reps);
  return l;
}

int64_t OutOfCacheElements() {
  long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 <= 0) l3 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  const int64_t bytes = std::clamp<int64_t>(l3 > 0 ? l3 : 0, int64_t{64} << 20, int64_t{256} << 20);
  return bytes / static_cast<int64_t>(sizeof(float));
}

Arrays& ArraysOf(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Arrays>> cache;
  auto& a = cache[n];
  if (!a) {
    a = std::make_unique<Arrays>();
    const size_t s = static_cast<size_t>(n);
    for (auto* v : {&a->x, &a->dy, &a->out, &a->m, &a->v}) v->resize(s);
    Fill(a->x, 1);
    Fill(a->dy, 2);
    Fill(a->out, 3);
    std::fill(a->m.begin(), a->m.end(), 0.0f);
    std::fill(a->v.begin(), a->v.end(), 0.0f);
    for (float& f : a->x) f *= 10.0f;  // activations see inputs in [-5, 5)
  }
  return *a;
}

void SetByteCounters(benchmark::State& state, const Limits& limits, int64_t n, int arrays) {
  state.counters["threads"] = 1;
  const auto it = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(it * n);
  const int64_t bytes = it * n * arrays * static_cast<int64_t>(sizeof(float));
  state.SetBytesProcessed(bytes);
  // Only out of cache: in cache no single bandwidth bounds a kernel honestly.
  if (limits.memory_bandwidth_gbs() > 0.0 && n >= OutOfCacheElements()) {
    state.counters["bandwidth_fraction"] =
        benchmark::Counter(static_cast<double>(bytes) / (limits.memory_bandwidth_gbs() * 1e9),
                           benchmark::Counter::kIsRate);
  }
}

std::vector<GemmShape> GemmCases(Preset preset) {
  if (preset == Preset::kQuick) {
    return {{"square_256", false, false, 256, 256, 256},
            {"fwd_b64_1024x784", false, true, 64, 1024, 784}};
  }
  const bool full = preset == Preset::kFull;
  std::vector<GemmShape> shapes;
  for (const GemmShape& s : SquareShapes())
    if (full || s.m <= 1024) shapes.push_back(s);
  for (const GemmShape& s : MlpShapes()) {
    const bool output_layer = s.name.find("b256_10x") != std::string::npos ||
                              s.name.find("b256_1024x10") != std::string::npos;
    if (full || output_layer || s.name.find("1024x1024") != std::string::npos) shapes.push_back(s);
  }
  if (full) {
    for (const GemmShape& s : SkinnyShapes()) shapes.push_back(s);
  }
  return shapes;
}

std::vector<GemmShape> Bf16GemmCases(Preset preset) {
  if (preset == Preset::kQuick) return {};
  std::vector<GemmShape> shapes;
  for (const GemmShape& s : GemmCases(preset)) {
    const bool layer = s.name.find("_b256_") != std::string::npos && s.name != "dA_b256_784x1024";
    if (preset == Preset::kFull ? s.name.rfind("skinny", 0) != 0
                                : layer || s.name == "square_1024") {
      shapes.push_back(s);
    }
  }
  return shapes;
}

// The two MLPs the train and predict families run.
const std::vector<int64_t> kSmallMlp = {784, 256, 128, 10};
const std::vector<int64_t> kLargeMlp = {784, 1024, 1024, 10};

std::vector<TrainCase> TrainCases(Preset preset) {
  using A = propel::Activation;
  using O = propel::Optimizer;
  if (preset == Preset::kQuick) return {{kSmallMlp, A::kRelu, 64, O::kSgd}};
  std::vector<TrainCase> cases = {{kSmallMlp, A::kRelu, 256, O::kSgd},
                                  {kLargeMlp, A::kRelu, 64, O::kSgd},
                                  {kLargeMlp, A::kRelu, 256, O::kSgd},
                                  {kLargeMlp, A::kRelu, 256, O::kAdam}};
  // The bf16 twins of the cases above ("train/<widths>:bf16/...").
  for (size_t i = 0, n = cases.size(); i < n; ++i) {
    TrainCase twin = cases[i];
    twin.precision = Precision::kBf16;
    cases.push_back(twin);
  }
  if (preset == Preset::kFull) {
    cases.push_back({kSmallMlp, A::kRelu, 64, O::kSgd});
    cases.push_back({kLargeMlp, A::kSigmoid, 64, O::kSgd});
    cases.push_back({kLargeMlp, A::kSigmoid, 256, O::kSgd});
  }
  // The portable-mode twins of every case ("train/<widths>:portable/..."), beside which each
  // shows what portable mode costs (docs/reproducibility.md).
  for (size_t i = 0, n = cases.size(); i < n; ++i) {
    TrainCase twin = cases[i];
    twin.portable = true;
    cases.push_back(twin);
  }
  return cases;
}

std::vector<TrainCase> PredictCases(Preset preset) {
  using A = propel::Activation;
  using O = propel::Optimizer;
  if (preset == Preset::kQuick) return {{kSmallMlp, A::kRelu, 1, O::kSgd}};
  return {{kLargeMlp, A::kRelu, 1, O::kSgd},
          {kLargeMlp, A::kRelu, 16, O::kSgd},
          {kLargeMlp, A::kRelu, 256, O::kSgd},
          {kLargeMlp, A::kRelu, 1, O::kSgd, Precision::kBf16}};
}

void SetFlopCounters(benchmark::State& state, const Limits& limits, const std::string& target,
                     double flops, int threads, Precision precision) {
  state.counters["threads"] = threads;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const std::map<std::string, double>& peaks =
      precision == Precision::kBf16 ? limits.bf16_peak_gflops : limits.fma_peak_gflops;
  const auto peak = peaks.find(target);
  if (peak != peaks.end() && peak->second > 0.0) {
    state.counters["peak_fraction"] = benchmark::Counter(
        flops / (peak->second * 1e9 * threads), benchmark::Counter::kIsIterationInvariantRate);
  }
}

int RegisterSuite(const SuiteOptions& o, const Limits& limits) {
  for (const std::string& f : o.families) {
    if (std::find(std::begin(kFamilies), std::end(kFamilies), f) == std::end(kFamilies)) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "unknown benchmark family '" + f + "' (gemm, elementwise, optimizer, train, predict)");
    }
  }
  const std::vector<std::string> targets = SelectedTargets(o);
  Registrar r{o, Context{&o, &limits}};
  const bool quick = o.preset == Preset::kQuick, full = o.preset == Preset::kFull;
  // Instruction counts do not depend on where the data lives: in-cache sizes only.
  const bool out_of_cache = !quick && !r.Instructions();
  const int64_t big = OutOfCacheElements();

  if (Wants(o, "gemm")) {
    for (const GemmShape& s : GemmCases(o.preset))
      for (const std::string& t : targets)
        for (int threads : o.threads) r.Gemm(s, t, threads);
    for (const GemmShape& s : Bf16GemmCases(o.preset))
      for (const std::string& t : targets)
        for (int threads : o.threads) r.Gemm(s, t, threads, Precision::kBf16);
  }

  if (Wants(o, "elementwise")) {
    std::vector<propel::Activation> acts;
    if (quick) {
      acts = {Activation::kRelu, Activation::kSigmoid};
    } else {
      for (int a = 0; a <= static_cast<int>(Activation::kSoftplus); ++a)
        acts.push_back(static_cast<Activation>(a));
    }
    for (propel::Activation act : acts) {
      for (bool backward : {false, true}) {
        for (const std::string& t : targets) {
          if (Bf16DotTarget(t)) continue;  // its element-wise kernels are its base target's
          r.Activation(act, backward, kInCache, t);
          const bool streamed = full || act == Activation::kRelu || act == Activation::kSigmoid;
          if (out_of_cache && streamed) r.Activation(act, backward, big, t);
        }
      }
    }
    for (const std::string& t : targets) {
      if (Bf16DotTarget(t)) continue;
      r.SoftmaxCe(10, t);
      if (quick) continue;
      r.SoftmaxCe(1000, t);
      r.PointLoss(true, t);
      r.PointLoss(false, t);
    }
  }

  if (Wants(o, "optimizer")) {
    const std::vector<std::string> kinds =
        quick ? std::vector<std::string>{"sgd", "adam"}
              : std::vector<std::string>{"sgd", "momentum", "adam", "adamw"};
    for (const std::string& k : kinds) {
      for (const std::string& t : targets) {
        if (Bf16DotTarget(t)) continue;
        r.Optimizer(k, kInCache, t);
        if (out_of_cache) r.Optimizer(k, big, t);
      }
    }
  }

  if (Wants(o, "train")) {
    for (const std::string& e : o.executors) {
      if (e != "tbb" && e != "omp" && e != "serial") {
        throw Error(ErrorCode::kInvalidArgument, "unknown executor '" + e + "' (tbb, omp, serial)");
      }
    }
    const std::vector<std::string> executors =
        o.executors.empty() ? std::vector<std::string>{""} : o.executors;
    for (const TrainCase& c : TrainCases(o.preset))
      for (const std::string& t : targets)
        for (int threads : o.threads)
          for (const std::string& e : executors)
            if ((e != "serial" || threads == 1) && (!c.portable || PortableTwinRuns(t)))
              r.Train(c, t, threads, e);
  }

  if (Wants(o, "predict")) {
    for (const TrainCase& c : PredictCases(o.preset))
      for (const std::string& t : targets)
        for (int threads : o.threads) r.Predict(c, t, threads);
  }
  return r.count;
}

void AddSuiteContext(const SuiteOptions& o, const Limits& limits) {
  std::string available;
  for (const Target& t : available_targets())
    available += std::string(available.empty() ? "" : ",") + t.name;
  std::vector<std::string> threads;
  for (int t : o.threads) threads.push_back(std::to_string(t));
  utsname u{};
  ::uname(&u);
  benchmark::AddCustomContext("propel_bench_schema", "1");
  benchmark::AddCustomContext("propel_version", PROPEL_VERSION_STRING);
  benchmark::AddCustomContext("propel_commit", kBuildCommit);
  benchmark::AddCustomContext("propel_build_type", kBuildType);
  benchmark::AddCustomContext("compiler", kCompiler);
  benchmark::AddCustomContext("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
  benchmark::AddCustomContext("cpu_model", CpuModel());
  benchmark::AddCustomContext("cpu_flags", CpuFlags());
  benchmark::AddCustomContext("cpu_cores_usable", std::to_string(num_threads()));
  benchmark::AddCustomContext("propel_available_targets", available);
  benchmark::AddCustomContext("propel_targets_run", Join(SelectedTargets(o)));
  benchmark::AddCustomContext("propel_threads_run", Join(threads));
  benchmark::AddCustomContext("propel_preset", o.preset == Preset::kQuick  ? "quick"
                                               : o.preset == Preset::kFull ? "full"
                                                                           : "default");
  benchmark::AddCustomContext("propel_measure", o.measure == Measure::kTime ? "time"
                                                : o.measure == Measure::kPerf
                                                    ? "instructions:perf"
                                                    : "instructions:callgrind");
  for (const auto& [target, gflops] : limits.fma_peak_gflops)
    benchmark::AddCustomContext("fma_peak_gflops_per_core:" + target, Format(gflops));
  for (const auto& [target, gflops] : limits.bf16_peak_gflops) {
    benchmark::AddCustomContext("bf16_peak_gflops_per_core:" + target, Format(gflops));
    benchmark::AddCustomContext("bf16_dot_product:" + target, Bf16DotProduct(target));
  }
  if (limits.copy_bandwidth_gbs > 0.0)
    benchmark::AddCustomContext("copy_bandwidth_gbs", Format(limits.copy_bandwidth_gbs));
  if (limits.read_bandwidth_gbs > 0.0)
    benchmark::AddCustomContext("read_bandwidth_gbs", Format(limits.read_bandwidth_gbs));
  for (const auto& [target, gflops] : limits.fma_peak_gflops) {
    if (PeakBasis(target) != target)
      benchmark::AddCustomContext("fma_peak_basis:" + target, PeakBasis(target));
  }
}

bool PerfInstructionsAvailable(std::string* why) {
  SuiteOptions o;
  o.measure = Measure::kPerf;
  try {
    InstructionCounter c(o);
    c.Start();
    volatile int sink = 0;
    for (int i = 0; i < 1000; ++i) sink = sink + i;
    // A hypervisor that hides the counter may still open it and count nothing.
    if (c.StopPerf() < 1000.0) {
      if (why != nullptr) *why = "the instruction counter opens but does not count";
      return false;
    }
  } catch (const Error& e) {
    if (why != nullptr) *why = e.what();
    return false;
  }
  return true;
}

}  // namespace propel::bench
