// Trains an MLP on the UCI handwritten digits (tests/data/digits.csv: 1797 8x8 images, every fifth
// held out for testing) through propel's C++ API, printing one line per epoch. An example of
// embedding propel as a training backend:
//   build/release/examples/train_digits [path/to/digits.csv] [--threads N] [--executor
//   tbb|omp|serial]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "propel/propel.hpp"

namespace {

struct Split {
  std::vector<float> x;
  std::vector<int32_t> y;
  propel::DataView View() const {
    propel::DataView v;
    v.rows = static_cast<int64_t>(y.size());
    v.x = x.data();
    v.labels = y.data();
    return v;
  }
};

// 64 pixel values (0..16, scaled to [0, 1]) then the digit, per line; every fifth row to test.
bool Load(const std::string& path, Split* train, Split* test) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  for (int64_t row = 0; std::getline(in, line); ++row) {
    std::vector<float> v;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) v.push_back(std::strtof(cell.c_str(), nullptr));
    if (v.size() != 65) {
      std::fprintf(stderr, "%s:%lld: expected 65 values, found %zu\n", path.c_str(),
                   static_cast<long long>(row + 1), v.size());
      return false;
    }
    Split& to = row % 5 == 4 ? *test : *train;
    for (int j = 0; j < 64; ++j) to.x.push_back(v[j] / 16.0f);
    to.y.push_back(static_cast<int32_t>(v[64]));
  }
  return !train->y.empty() && !test->y.empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = PROPEL_EXAMPLE_DIGITS;
  propel::StepOptions step;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      step.threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--executor") && i + 1 < argc) {
      const std::string e = argv[++i];
      step.executor = e == "omp"      ? propel::Executor::kOpenMp
                      : e == "serial" ? propel::Executor::kSerial
                                      : propel::Executor::kTbb;
    } else {
      path = argv[i];
    }
  }
  Split train, test;
  if (!Load(path, &train, &test)) {
    std::fprintf(stderr, "cannot read the digits data set from %s\n", path.c_str());
    return 1;
  }
  try {
    propel::ModelSpec spec;
    spec.inputs = 64;
    spec.hidden = {{128, propel::Activation::kRelu}};
    spec.outputs = 10;
    spec.head = propel::Head::kMulticlass;
    propel::Model model(spec, /*seed=*/1);

    propel::OptimizerConfig opt;
    opt.kind = propel::Optimizer::kAdam;
    opt.lr = 2e-3f;
    propel::FitOptions fit;
    fit.epochs = 60;
    fit.batch = 32;
    fit.schedule.kind = propel::Schedule::kCosine;
    fit.on_epoch = [](const propel::EpochStats& s) {
      if (s.epoch % 10 == 9 || s.epoch == 0) {
        std::printf(
            "epoch %3lld  train loss %.4f  acc %.4f  |  test loss %.4f  acc %.4f  |  "
            "%.0f samples/s\n",
            static_cast<long long>(s.epoch + 1), s.train_loss, s.train_accuracy, s.val_loss,
            s.val_accuracy, s.samples_per_second);
      }
    };
    std::printf("propel %s: %s on %lld training images, target %s, %d thread(s)\n",
                PROPEL_VERSION_STRING, model.describe().c_str(),
                static_cast<long long>(train.y.size()), propel::active_target().name,
                step.threads > 0 ? step.threads : propel::num_threads());
    const propel::DataView val = test.View();
    const propel::FitResult r = propel::fit(model, train.View(), &val, opt, fit, step);
    const propel::Evaluation e = propel::evaluate(model, test.View());
    std::printf("test accuracy %.2f%% on %lld held-out images; %lld steps in %.2f s\n",
                100.0 * e.accuracy, static_cast<long long>(e.rows), static_cast<long long>(r.steps),
                r.seconds);
  } catch (const propel::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
