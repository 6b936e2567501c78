// The training step (forward, loss, backward, shard reduction, update) of whole MLPs, for 1
// thread and all threads, on the TBB, OpenMP and serial executors.
//
// Names: TrainStep/<widths joined by '-'>[:<hidden activation, when not ReLU>]/batch:<b>/
//        threads:<t>/<executor>[/<optimizer, when not SGD>]
// Counters: samples_per_second; peak_fraction = the step's GEMM FLOPs per second over the FMA peak
// measured at start-up on the active target (per core, times the threads used); GFLOPS.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/bench_context.h"
#include "propel/model.h"
#include "propel/threading.h"
#include "propel/train.h"

namespace propel::bench {
namespace {

double g_peak_gflops = 0.0;

struct Net {
  std::vector<int64_t> widths;  // inputs, hidden..., outputs
  Activation act;
};

std::string NetName(const Net& n) {
  std::string s;
  for (int64_t w : n.widths) s += (s.empty() ? "" : "-") + std::to_string(w);
  if (n.act != Activation::kRelu) s += std::string(":") + activation_name(n.act);
  return s;
}

// Multiply-adds x 2 of one step on `batch` rows: forward and weight gradients for every layer,
// input gradients for every layer but the first.
double StepFlops(const Net& n, int64_t batch) {
  double flops = 0.0;
  for (size_t l = 0; l + 1 < n.widths.size(); ++l) {
    const double mac = static_cast<double>(n.widths[l]) * static_cast<double>(n.widths[l + 1]);
    flops += 2.0 * batch * mac * (l == 0 ? 2.0 : 3.0);
  }
  return flops;
}

const char* ExecutorName(Executor e) {
  return e == Executor::kTbb ? "tbb" : e == Executor::kOpenMp ? "omp" : "serial";
}

void BM_TrainStep(benchmark::State& state, Net net, int64_t batch, int threads, Executor executor,
                  Optimizer optimizer) {
  ModelSpec spec;
  spec.inputs = net.widths.front();
  for (size_t l = 1; l + 1 < net.widths.size(); ++l)
    spec.hidden.push_back({net.widths[l], net.act});
  spec.outputs = net.widths.back();
  spec.head = Head::kMulticlass;
  Model model(spec, 1);
  std::vector<float> x(static_cast<size_t>(batch * spec.inputs));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f;
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  DataView view;
  view.rows = batch;
  view.x = x.data();
  view.labels = labels.data();
  OptimizerConfig opt;
  opt.kind = optimizer;
  opt.lr = 1e-3f;
  StepOptions so;
  so.executor = executor;
  so.threads = threads;
  Trainer trainer(model, opt, batch, so);
  trainer.step(view);  // warm: first touch of the workspace, thread pools started
  for (auto _ : state) {
    const StepResult r = trainer.step(view);
    benchmark::DoNotOptimize(r.loss);
  }
  const double flops = StepFlops(net, batch);
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_fraction"] = benchmark::Counter(
      flops / (g_peak_gflops * 1e9 * threads), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

void RegisterAll() {
  const int all = num_threads();
  std::vector<int> thread_counts = {1};
  if (all > 1) thread_counts.push_back(all);
  const Net big{{784, 1024, 1024, 10}, Activation::kRelu};
  const Net big_sigmoid{{784, 1024, 1024, 10}, Activation::kSigmoid};
  const Net small{{784, 256, 128, 10}, Activation::kRelu};
  struct Config {
    Net net;
    int64_t batch;
  };
  const std::vector<Config> configs = {{big, 64},          {big, 256},  {big_sigmoid, 64},
                                       {big_sigmoid, 256}, {small, 64}, {small, 256}};
  auto add = [](const Config& c, int threads, Executor e, Optimizer o) {
    std::string name = "TrainStep/" + NetName(c.net) + "/batch:" + std::to_string(c.batch) +
                       "/threads:" + std::to_string(threads) + "/" + ExecutorName(e);
    if (o != Optimizer::kSgd) name += std::string("/") + optimizer_name(o);
    benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, c.net, c.batch, threads, e, o)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  for (const Config& c : configs) {
    for (int threads : thread_counts) {
      for (Executor e : {Executor::kTbb, Executor::kOpenMp, Executor::kSerial}) {
        if (e == Executor::kSerial && threads > 1) continue;  // the serial executor uses one
        add(c, threads, e, Optimizer::kSgd);
      }
    }
  }
  // The optimizer's share of a step: Adam reads and writes two more arrays of parameters.
  for (int threads : thread_counts) add({big, 256}, threads, Executor::kTbb, Optimizer::kAdam);
}

}  // namespace
}  // namespace propel::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  propel::bench::g_peak_gflops = propel::bench::AddPropelContext();
  propel::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
