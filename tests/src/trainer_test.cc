// The training step and the epoch loop: gradients against finite differences of the double
// reference network, bitwise determinism across executors and thread counts, numerical failure,
// the textbook XOR case and two small real data sets (tests/data).
#include "propel/train.h"

#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "propel/error.h"
#include "propel/optim.h"
#include "propel/threading.h"
#include "src/gemm/gemm_driver.h"
#include "src/train/net_kernels.h"
#include "tests/reference/mlp_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

ModelSpec Spec(int64_t inputs, std::vector<Layer> hidden, int64_t outputs, Head head) {
  return test::MlpSpec(inputs, std::move(hidden), outputs, head);
}

// A data set held in memory, with labels or targets to suit a head.
struct Data {
  int64_t rows = 0, cols = 0, outputs = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;

  DataView View(int64_t r0 = 0, int64_t n = -1) const {
    DataView v;
    v.rows = n < 0 ? rows - r0 : n;
    v.x = x.data() + r0 * cols;
    v.ldx = cols;
    if (!labels.empty()) v.labels = labels.data() + r0;
    if (!targets.empty()) v.targets = targets.data() + r0 * outputs;
    v.ldt = outputs;
    return v;
  }
};

Data RandomData(const Model& m, int64_t rows, uint32_t seed) {
  Data d;
  d.rows = rows;
  d.cols = m.inputs();
  d.outputs = m.outputs();
  d.x = test::RandomVector(static_cast<size_t>(rows * d.cols), seed, -1.5f, 1.5f);
  const std::vector<float> u =
      test::RandomVector(static_cast<size_t>(rows * d.outputs), seed + 1, 0.0f, 1.0f);
  switch (m.head()) {
    case Head::kMulticlass:
      for (int64_t i = 0; i < rows; ++i) {
        d.labels.push_back(static_cast<int32_t>(u[static_cast<size_t>(i)] * d.outputs) %
                           static_cast<int32_t>(d.outputs));
      }
      break;
    case Head::kBinary:
      for (float v : u) d.targets.push_back(v < 0.5f ? 0.0f : 1.0f);
      break;
    case Head::kRegression:
      for (float v : u) d.targets.push_back(2.0f * v - 1.0f);
      break;
  }
  return d;
}

std::vector<double> AsDouble(const float* p, int64_t n) { return std::vector<double>(p, p + n); }

// ------------------------------------------------------------------------- gradient check

struct GradCase {
  Activation act;
  Head head;
  int depth;  // hidden layers
};

void PrintTo(const GradCase& c, std::ostream* os) {
  *os << activation_name(c.act) << ", " << head_name(c.head) << ", " << c.depth << " hidden";
}

std::string CaseName(const testing::TestParamInfo<GradCase>& info) {
  return std::string(activation_name(info.param.act)) + "_" + head_name(info.param.head) + "_" +
         std::to_string(info.param.depth);
}

class GradientCheck : public testing::TestWithParam<GradCase> {};
class GradientCheckBf16 : public testing::TestWithParam<GradCase> {};

// Every parameter's analytical gradient (propel, float) against central differences of the
// double reference network, on a batch of 11 rows cut into shards of 4, 4 and 3.
//
// In bf16 (docs/precision.md) the tolerance grows by what rounding the GEMM operands can do. Each
// GEMM's operands carry a relative error of at most 2^-8 each, so each product at most
// 2^-7 + 2^-16; a gradient entry of layer l is reached through the L forward GEMMs below the
// loss, the backward input-gradient GEMMs from the output down to layer l, and its weight-gradient
// GEMM: at most 2L + 1 of them. To first order in 2^-7, and with the activations' derivatives
// (at most ~1.1 for the ones tested) bounding how an error in Z moves A, the entry is within
// (2L + 1) 2^-7 (1 + 2^-9) of the layer's largest gradient entry, on top of the fp32 tolerance.
void CheckGradients(const GradCase& c, Precision precision) {
  std::vector<Layer> hidden;
  const int64_t widths[] = {7, 5};
  for (int i = 0; i < c.depth; ++i) hidden.push_back({widths[i], c.act});
  Model m(Spec(6, hidden, c.head == Head::kMulticlass ? 4 : 3, c.head), 17, Init::kGlorotNormal);
  // Non-zero biases, so that every term of the gradient is exercised.
  for (int64_t l = 0; l < m.num_layers(); ++l) {
    const LayerLayout& L = m.layer(l);
    for (int64_t j = 0; j < L.out; ++j) m.parameters()[L.bias_offset + j] = 0.1f * (j % 3) - 0.1f;
  }
  const Data d = RandomData(m, 11, 5);
  StepOptions opt;
  opt.shard_rows = 4;
  opt.threads = 3;
  opt.precision = precision;
  Trainer trainer(m, OptimizerConfig{}, 11, opt);
  const StepResult r = trainer.compute_gradients(d.View());

  const ref::MlpRef net(m);
  const std::vector<double> p = AsDouble(m.parameters(), m.parameter_count());
  const bool bf16 = precision == Precision::kBf16;
  const double gemms = 2.0 * static_cast<double>(m.num_layers()) + 1.0;
  const double bf16_rel = bf16 ? gemms * std::ldexp(1.0, -7) * (1.0 + std::ldexp(1.0, -9)) : 0.0;
  EXPECT_NEAR(
      r.loss, net.Loss(p, d.View()),
      (1e-5 + (bf16 ? m.num_layers() * std::ldexp(1.0, -7) : 0.0)) * (1 + std::fabs(r.loss)));
  // The scale a gradient entry is judged against: the largest of its layer.
  std::vector<double> fd(p.size());
  int one_sided = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    bool side = false;
    fd[j] = net.Gradient(p, d.View(), j, 1e-6, &side);
    ASSERT_FALSE(std::isnan(fd[j])) << "parameter " << j << ": kinks on both sides";
    one_sided += side ? 1 : 0;
  }
  for (int64_t l = 0; l < m.num_layers(); ++l) {
    const LayerLayout& L = m.layer(l);
    double scale = 0;
    for (int64_t j = L.weight_offset; j < L.bias_offset + L.out; ++j) {
      scale = std::max(scale, std::fabs(fd[static_cast<size_t>(j)]));
    }
    for (int64_t j = L.weight_offset; j < L.bias_offset + L.out; ++j) {
      const double g = m.gradients()[j], want = fd[static_cast<size_t>(j)];
      ASSERT_NEAR(g, want, (1e-5 + bf16_rel) * scale + 1e-4 * std::fabs(want))
          << "layer " << l << (j < L.bias_offset ? " weight " : " bias ")
          << (j < L.bias_offset ? j - L.weight_offset : j - L.bias_offset) << ", "
          << precision_name(precision);
    }
  }
  testing::Test::RecordProperty("one_sided", one_sided);
}

TEST_P(GradientCheck, MatchesFiniteDifferences) { CheckGradients(GetParam(), Precision::kFp32); }

TEST_P(GradientCheckBf16, MatchesFiniteDifferencesToTheBf16Bound) {
  CheckGradients(GetParam(), Precision::kBf16);
}

std::vector<GradCase> GradCases() {
  std::vector<GradCase> cases;
  for (int a = 0; a < 10; ++a) {
    for (Head h : {Head::kBinary, Head::kMulticlass, Head::kRegression}) {
      for (int depth : {1, 2}) cases.push_back({static_cast<Activation>(a), h, depth});
    }
  }
  for (Head h : {Head::kBinary, Head::kMulticlass, Head::kRegression}) {
    cases.push_back({Activation::kIdentity, h, 0});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllActivationsAndHeads, GradientCheck, testing::ValuesIn(GradCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(AllActivationsAndHeads, GradientCheckBf16, testing::ValuesIn(GradCases()),
                         CaseName);

// ReLU's kink: inputs placed so that pre-activations sit within the finite-difference step of 0
// on one side; the check must then use the one-sided difference on the right piece.
TEST(GradientCheckKink, ReluNearZeroUsesTheRightPiece) {
  Model m(Spec(2, {{3, Activation::kRelu}}, 1, Head::kRegression), 1);
  float* w = m.parameters();
  // Hidden unit 0: z = x0 - x1, placed at +3e-7 for row 0 (inside h = 1e-6 of the kink).
  w[0] = 1.0f, w[1] = -1.0f;
  Data d;
  d.rows = 2, d.cols = 2, d.outputs = 1;
  d.x = {0.5f, 0.5f - 3e-7f, -0.25f, 0.75f};
  d.targets = {0.3f, -0.2f};
  Trainer trainer(m, OptimizerConfig{}, 2);
  trainer.compute_gradients(d.View());
  const ref::MlpRef net(m);
  const std::vector<double> p = AsDouble(m.parameters(), m.parameter_count());
  int one_sided = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    bool side = false;
    const double want = net.Gradient(p, d.View(), j, 1e-6, &side);
    one_sided += side ? 1 : 0;
    EXPECT_NEAR(m.gradients()[j], want, 1e-5) << j;
  }
  EXPECT_GT(one_sided, 0);  // the kink was crossed and handled, not averaged over
}

// ---------------------------------------------------------------------------- determinism

std::vector<float> TrainSteps(const ModelSpec& spec, const OptimizerConfig& opt, int64_t batch,
                              int64_t shard, Executor e, int threads, int steps,
                              Precision precision = Precision::kFp32) {
  Model m(spec, 21);
  const Data d = RandomData(m, batch * steps, 8);
  StepOptions so;
  so.shard_rows = shard;
  so.executor = e;
  so.threads = threads;
  so.precision = precision;
  Trainer t(m, opt, batch, so);
  for (int s = 0; s < steps; ++s) t.step(d.View(s * batch, s == steps - 1 ? batch - 3 : batch));
  return std::vector<float>(m.parameters(), m.parameters() + m.parameter_count());
}

TEST(Determinism, BitwiseAcrossExecutorsAndThreads) {
  const ModelSpec spec =
      Spec(45, {{96, Activation::kRelu}, {40, Activation::kGeluTanh}, {33, Activation::kTanh}}, 7,
           Head::kMulticlass);
  OptimizerConfig adam;
  adam.kind = Optimizer::kAdamW;
  adam.lr = 1e-2f;
  adam.weight_decay = 1e-2f;
  OptimizerConfig momentum;
  momentum.kind = Optimizer::kNesterov;
  momentum.clip_norm = 0.5f;
  // 7 shards (the last ones short) and 8 shards: shards run side by side or one after another
  // with the threads inside each GEMM, depending on the thread count.
  for (const int64_t batch : {50, 64}) {
    for (const OptimizerConfig& opt : {adam, momentum}) {
      const std::vector<float> want = TrainSteps(spec, opt, batch, 8, Executor::kSerial, 1, 4);
      for (Executor e : test::Executors()) {
        for (int threads : {1, 2, 3, 8}) {
          const std::vector<float> got = TrainSteps(spec, opt, batch, 8, e, threads, 4);
          ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << "batch " << batch << ", " << optimizer_name(opt.kind) << ", executor "
              << static_cast<int>(e) << ", " << threads << " threads";
        }
      }
    }
  }
}

// bf16 mixed precision keeps every guarantee of the fp32 step: the same bits on every executor
// and thread count, pre-packed (rounded) weights included, on every target; and it is another
// computation than fp32's.
TEST(Determinism, Bf16BitwiseAcrossExecutorsThreadsAndPrepacking) {
  const ModelSpec spec =
      Spec(45, {{96, Activation::kRelu}, {40, Activation::kGeluTanh}, {33, Activation::kTanh}}, 7,
           Head::kMulticlass);
  OptimizerConfig adam;
  adam.kind = Optimizer::kAdamW;
  adam.lr = 1e-2f;
  adam.weight_decay = 1e-2f;
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    for (const int64_t batch : {50, 64}) {
      const std::vector<float> want =
          TrainSteps(spec, adam, batch, 8, Executor::kSerial, 1, 4, Precision::kBf16);
      const std::vector<float> fp32 = TrainSteps(spec, adam, batch, 8, Executor::kSerial, 1, 4);
      EXPECT_NE(std::memcmp(want.data(), fp32.data(), want.size() * sizeof(float)), 0) << target;
      for (Executor e : test::Executors()) {
        for (int threads : {2, 3}) {
          const std::vector<float> got =
              TrainSteps(spec, adam, batch, 8, e, threads, 4, Precision::kBf16);
          ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << target << ", batch " << batch << ", executor " << static_cast<int>(e) << ", "
              << threads << " threads";
        }
      }
    }
    // One 512-row shard: W pre-packed (and rounded) once on several threads, by each GEMM on one.
    const ModelSpec wide =
        Spec(64, {{256, Activation::kRelu}, {256, Activation::kSigmoid}}, 10, Head::kMulticlass);
    const std::vector<float> one =
        TrainSteps(wide, adam, 512, 512, Executor::kSerial, 1, 2, Precision::kBf16);
    const std::vector<float> three =
        TrainSteps(wide, adam, 512, 512, Executor::kTbb, 3, 2, Precision::kBf16);
    EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0) << target;
  }
}

// Weights packed once per step, by the update that writes them, where that pays: for an engine
// of converted panels (bf16 pairs) always, else where a step would pack W more than once (here:
// 8 shards of 32 rows, one after the other on one thread or side by side on two). There, after
// the first step (which packs the initial weights), no GEMM of a step packs W and the step packs
// nothing beforehand, on every executor. A one-shard step on one thread of an engine of float
// panels lets each GEMM pack W (measured faster: docs/training.md, Packed weights).
TEST(PackedWeights, NoStepAfterTheFirstPacksTheWeights) {
  const ModelSpec spec =
      Spec(64, {{256, Activation::kRelu}, {96, Activation::kSigmoid}}, 10, Head::kMulticlass);
  OptimizerConfig adam;
  adam.kind = Optimizer::kAdam;
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
      const bool converted = detail::ActiveNetKernels(precision).gemm->pair_panels();
      for (Executor e : test::Executors()) {
        for (int threads : {1, 2}) {
          for (int64_t shard : {int64_t{256}, int64_t{32}}) {
            if (!converted && threads == 2 && shard == 256) continue;  // the thread grid decides
            Model m(spec, 3);
            const Data d = RandomData(m, 256, 9);
            StepOptions so;
            so.shard_rows = shard;
            so.executor = e;
            so.threads = threads;
            so.precision = precision;
            Trainer t(m, adam, 256, so);
            const float* params = std::as_const(m).parameters();
            detail::CountBPacksFrom(params, params + m.parameter_count());
            t.step(d.View());
            const detail::BPackCounts first = detail::CountedBPacks();
            for (int s = 0; s < 3; ++s) t.step(d.View(0, s == 2 && converted ? 100 : 256));
            const detail::BPackCounts after = detail::CountedBPacks();
            detail::CountBPacksFrom(nullptr, nullptr);
            const std::string what = target + ", " + precision_name(precision) + ", executor " +
                                     std::to_string(static_cast<int>(e)) + ", " +
                                     std::to_string(threads) + " threads, shards of " +
                                     std::to_string(shard);
            EXPECT_EQ(after.whole - first.whole, 0) << what;
            if (converted || shard < 256) {
              EXPECT_EQ(first.gemm, 0) << what;
              EXPECT_GT(first.whole, 0) << what;
              EXPECT_EQ(after.gemm - first.gemm, 0) << what;
            } else {
              EXPECT_EQ(first.whole, 0) << what;
              EXPECT_GT(after.gemm - first.gemm, 0) << what;
            }
          }
        }
      }
    }
  }
}

// The model owns the precision: the trainer sets it when it is made and computes in it; a step
// after the model's precision was changed behind it fails and changes nothing.
TEST(Trainer, AStepAfterTheModelsPrecisionChangedFails) {
  const ModelSpec spec = Spec(8, {{16, Activation::kRelu}}, 3, Head::kMulticlass);
  Model m(spec, 1);
  const Data d = RandomData(m, 32, 2);
  StepOptions so;
  so.precision = Precision::kBf16;
  Trainer t(m, OptimizerConfig{}, 32, so);
  EXPECT_EQ(m.precision(), Precision::kBf16);
  t.step(d.View());
  m.set_precision(Precision::kFp32);
  const std::vector<float> before(std::as_const(m).parameters(),
                                  std::as_const(m).parameters() + m.parameter_count());
  try {
    t.step(d.View());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("precision is now fp32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::memcmp(before.data(), std::as_const(m).parameters(), before.size() * 4), 0);
  m.set_precision(Precision::kBf16);
  EXPECT_NO_THROW(t.step(d.View()));
}

// What the update packs band by band is what the step packs from scratch, so a step gives the
// same bits whether its weights were packed by the previous update or, after a write through
// Model::parameters() (a new version), packed again at its start; and a write between steps is
// seen by the next step, as it is by a new trainer.
TEST(PackedWeights, AWriteToTheParametersIsSeenByTheNextStep) {
  const ModelSpec spec =
      Spec(64, {{256, Activation::kRelu}, {96, Activation::kTanh}}, 10, Head::kMulticlass);
  OptimizerConfig sgd;
  sgd.kind = Optimizer::kSgd;
  sgd.lr = 0.05f;
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    StepOptions so;
    so.precision = precision;
    so.threads = 2;
    Model a(spec, 4), b(spec, 4);
    const Data d = RandomData(a, 128, 10);
    Trainer ta(a, sgd, 128, so), tb(b, sgd, 128, so);
    for (int s = 0; s < 3; ++s) {
      ta.step(d.View());
      tb.step(d.View());
      const uint64_t version = b.version();
      b.parameters();  // a new version: tb packs b's weights again at its next step
      EXPECT_NE(b.version(), version);
    }
    const int64_t n = a.parameter_count();
    const float* pa = std::as_const(a).parameters();
    const float* pb = std::as_const(b).parameters();
    EXPECT_EQ(std::memcmp(pa, pb, static_cast<size_t>(n) * sizeof(float)), 0)
        << precision_name(precision);
    // Halve the first layer's weights of a: its trainer's next step equals a new trainer's
    // (plain SGD keeps no state) on a copy of the halved model.
    float* w = a.parameters();
    for (int64_t j = 0; j < a.layer(0).in * a.layer(0).out; ++j) w[j] *= 0.5f;
    Model c(a);
    Trainer tc(c, sgd, 128, so);
    ta.step(d.View());
    tc.step(d.View());
    EXPECT_EQ(std::memcmp(std::as_const(a).parameters(), std::as_const(c).parameters(),
                          static_cast<size_t>(n) * sizeof(float)),
              0)
        << precision_name(precision);
  }
}

TEST(Determinism, BitwiseOnEveryTarget) {
  const ModelSpec spec =
      Spec(20, {{24, Activation::kSigmoid}, {17, Activation::kSoftplus}}, 3, Head::kBinary);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    const std::vector<float> want = TrainSteps(spec, opt, 40, 6, Executor::kSerial, 1, 3);
    for (int threads : {2, 3}) {
      const std::vector<float> got = TrainSteps(spec, opt, 40, 6, Executor::kTbb, threads, 3);
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
          << target << ", " << threads << " threads";
    }
  }
}

// The gradient of the mean loss does not depend on how the batch is sharded (to rounding).
TEST(Shards, GradientIndependentOfShardSizeToRounding) {
  Model m(Spec(30, {{40, Activation::kElu}}, 5, Head::kMulticlass), 4);
  const Data d = RandomData(m, 37, 3);
  std::vector<float> want;
  for (int64_t shard : {37, 1, 5, 16}) {
    StepOptions so;
    so.shard_rows = shard;
    Trainer t(m, OptimizerConfig{}, 37, so);
    t.compute_gradients(d.View());
    std::vector<float> g(m.gradients(), m.gradients() + m.parameter_count());
    if (want.empty()) {
      want = g;
      continue;
    }
    for (size_t j = 0; j < g.size(); ++j) ASSERT_NEAR(g[j], want[j], 1e-6) << "shard " << shard;
  }
}

// --------------------------------------------------------------------- optimizer and errors

TEST(Trainer, StepIsGradientsThenUpdate) {
  const ModelSpec spec = Spec(12, {{9, Activation::kRelu}}, 3, Head::kRegression);
  OptimizerConfig opt;
  opt.kind = Optimizer::kMomentum;
  opt.lr = 0.05f;
  Model a(spec, 2), b(spec, 2);
  const Data d = RandomData(a, 16, 4);
  Trainer ta(a, opt, 16), tb(b, opt, 16);
  for (int s = 0; s < 3; ++s) {
    ta.step(d.View());
    tb.compute_gradients(d.View());
    tb.apply_gradients();
  }
  EXPECT_EQ(std::memcmp(a.parameters(), b.parameters(), a.parameter_count() * 4), 0);
  EXPECT_EQ(ta.steps(), 3);
  EXPECT_EQ(ta.state_size(), a.parameter_count());
}

// ------------------------------------------------------------------------ gradient reducer

bool SameBits(const Model& a, const Model& b) {
  return a.parameter_count() == b.parameter_count() &&
         std::memcmp(a.parameters(), b.parameters(), a.parameter_count() * sizeof(float)) == 0;
}

TEST(GradientReducer, IdentityAndAnIdenticalTwinChangeNothing) {
  const ModelSpec spec = Spec(10, {{12, Activation::kTanh}}, 4, Head::kMulticlass);
  for (const Optimizer kind : {Optimizer::kMomentum, Optimizer::kAdamW}) {
    OptimizerConfig opt;
    opt.kind = kind;
    opt.lr = 0.05f;
    opt.momentum = 0.9f;
    StepOptions so;
    so.shard_rows = 5;
    so.track_grad_norm = true;
    Model plain(spec, 3), identity(spec, 3), twin(spec, 3);
    const Data d = RandomData(plain, 13, 5);
    Trainer tp(plain, opt, 13, so), ti(identity, opt, 13, so), tt(twin, opt, 13, so);
    ti.set_gradient_reducer([](float*, int64_t, int64_t rows) { return rows; });
    // A second process with the same batch: sums and rows double, the mean is the same (x2 and
    // /2 are exact in binary floating point).
    tt.set_gradient_reducer([](float* sums, int64_t n, int64_t rows) {
      for (int64_t j = 0; j < n; ++j) sums[j] *= 2.0f;
      return 2 * rows;
    });
    for (int s = 0; s < 3; ++s) {
      const StepResult a = tp.step(d.View());
      const StepResult b = ti.step(d.View());
      const StepResult c = tt.step(d.View());
      EXPECT_EQ(a.grad_norm, b.grad_norm);
      EXPECT_EQ(a.grad_norm, c.grad_norm);
    }
    EXPECT_TRUE(SameBits(plain, identity)) << optimizer_name(kind);
    EXPECT_TRUE(SameBits(plain, twin)) << optimizer_name(kind);
  }
}

// Two "processes" of 8 rows each (two shards of 4), exchanging sums through the reducer in rank
// order, give bitwise the weights of one process training on the 16 rows (four shards of 4):
// the shard tree of 16 rows is the tree of the two 8-row halves, added in the same order.
TEST(GradientReducer, TwoProcessesEqualOneWithTheirRowsTogether) {
  const ModelSpec spec =
      Spec(9, {{16, Activation::kRelu}, {7, Activation::kSigmoid}}, 3, Head::kMulticlass);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  opt.lr = 0.01f;
  StepOptions so;
  so.shard_rows = 4;
  Model whole(spec, 8), rank0(spec, 8), rank1(spec, 8);
  const Data d = RandomData(whole, 16, 21);
  Trainer tw(whole, opt, 16, so), t0(rank0, opt, 8, so), t1(rank1, opt, 8, so);
  const int64_t n = whole.parameter_count();
  std::vector<float> s0(static_cast<size_t>(n)), s1(static_cast<size_t>(n));
  struct Captured {};
  // Sums of rank `me` are stashed; the reduced sums are s0 + s1 in rank order.
  auto exchange = [&](int me) {
    return [&, me](float* sums, int64_t count, int64_t rows) {
      std::memcpy((me == 0 ? s0 : s1).data(), sums, count * sizeof(float));
      const float* bufs[2] = {s0.data(), s1.data()};
      reduce_sum(2, bufs, count, 1.0f, sums);
      return 2 * rows;
    };
  };
  for (int step = 0; step < 4; ++step) {
    // Rank 1's sums first (a capture that aborts its step), then both ranks' steps.
    t1.set_gradient_reducer([&](float* sums, int64_t count, int64_t) -> int64_t {
      std::memcpy(s1.data(), sums, count * sizeof(float));
      throw Captured{};
    });
    EXPECT_THROW(t1.step(d.View(8, 8)), Captured);
    t0.set_gradient_reducer(exchange(0));
    t1.set_gradient_reducer(exchange(1));
    t0.step(d.View(0, 8));
    t1.step(d.View(8, 8));
    tw.step(d.View());
  }
  EXPECT_TRUE(SameBits(rank0, rank1));
  EXPECT_TRUE(SameBits(whole, rank0));
  EXPECT_EQ(t0.steps(), 4);
  EXPECT_EQ(t1.steps(), 4);
}

// The split update: two "processes" as two threads, the exchange's collectives through shared
// buffers and a barrier; the same bits as one process with their rows together (and as the
// reducer), with clipping on, on a model of three chunks (slices of one chunk and two).
TEST(GradientExchange, TwoThreadsEqualOneProcess) {
  const ModelSpec spec =
      Spec(9, {{200, Activation::kRelu}, {200, Activation::kTanh}}, 3, Head::kMulticlass);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdamW;
  opt.lr = 0.01f;
  opt.weight_decay = 0.01f;
  opt.clip_norm = 0.5f;
  StepOptions so;
  so.shard_rows = 4;
  so.executor = Executor::kSerial;
  so.threads = 1;
  Model whole(spec, 8), rank0(spec, 8), rank1(spec, 8);
  ASSERT_GT(whole.parameter_count(), 2 * 16384);
  const Data d = RandomData(whole, 16, 21);
  Trainer tw(whole, opt, 16, so);
  std::barrier<> sync(2);
  float* f_slot[2] = {nullptr, nullptr};
  double* d_slot[2] = {nullptr, nullptr};
  int64_t rows_slot[2] = {0, 0};
  auto exchange_for = [&](int me) {
    GradientExchange e;
    e.rank = me;
    e.ranks = 2;
    e.reduce_scatter = [&, me](float* sums, int64_t rows, const int64_t* bounds) {
      f_slot[me] = sums;
      rows_slot[me] = rows;
      sync.arrive_and_wait();
      const float* bufs[2] = {f_slot[0] + bounds[me], f_slot[1] + bounds[me]};
      std::vector<float> out(static_cast<size_t>(bounds[me + 1] - bounds[me]));
      reduce_sum(2, bufs, static_cast<int64_t>(out.size()), 1.0f, out.data());
      sync.arrive_and_wait();  // both read before either writes
      std::copy(out.begin(), out.end(), sums + bounds[me]);
      sync.arrive_and_wait();
      return rows_slot[0] + rows_slot[1];
    };
    e.all_gather = [&, me](float* values, const int64_t* bounds) {
      f_slot[me] = values;
      sync.arrive_and_wait();
      const int other = 1 - me;
      std::copy(f_slot[other] + bounds[other], f_slot[other] + bounds[other + 1],
                values + bounds[other]);
      sync.arrive_and_wait();
    };
    e.all_gather_doubles = [&, me](double* values, const int64_t* bounds) {
      d_slot[me] = values;
      sync.arrive_and_wait();
      const int other = 1 - me;
      std::copy(d_slot[other] + bounds[other], d_slot[other] + bounds[other + 1],
                values + bounds[other]);
      sync.arrive_and_wait();
    };
    return e;
  };
  Trainer t0(rank0, opt, 8, so), t1(rank1, opt, 8, so);
  t0.set_gradient_exchange(exchange_for(0));
  t1.set_gradient_exchange(exchange_for(1));
  EXPECT_THROW(t0.set_gradient_reducer([](float*, int64_t, int64_t rows) { return rows; }), Error);
  double norms[2] = {0, 0};
  auto run = [&](Trainer* t, int me) {
    for (int step = 0; step < 3; ++step) norms[me] = t->step(d.View(8 * me, 8)).grad_norm;
    t->gather_optimizer_state();
  };
  std::thread other(run, &t1, 1);
  run(&t0, 0);
  other.join();
  double norm = 0;
  for (int step = 0; step < 3; ++step) norm = tw.step(d.View()).grad_norm;
  EXPECT_TRUE(SameBits(whole, rank0));
  EXPECT_TRUE(SameBits(whole, rank1));
  EXPECT_EQ(norms[0], norm);
  EXPECT_EQ(norms[1], norm);
  EXPECT_EQ(std::memcmp(tw.state(), t0.state(), tw.state_size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(tw.state(), t1.state(), tw.state_size() * sizeof(float)), 0);
}

TEST(GradientReducer, FailuresLeaveTheParameters) {
  const ModelSpec spec = Spec(6, {{5, Activation::kRelu}}, 2, Head::kRegression);
  Model m(spec, 1);
  const Data d = RandomData(m, 7, 3);
  OptimizerConfig opt;
  opt.kind = Optimizer::kMomentum;
  opt.momentum = 0.5f;
  Trainer t(m, opt, 7);
  const std::vector<float> before(m.parameters(), m.parameters() + m.parameter_count());
  auto unchanged = [&] {
    return std::memcmp(before.data(), m.parameters(), before.size() * sizeof(float)) == 0 &&
           t.steps() == 0;
  };
  t.set_gradient_reducer(
      [](float*, int64_t, int64_t) -> int64_t { throw Error(ErrorCode::kIo, "rank 1 failed"); });
  EXPECT_THROW(t.step(d.View()), Error);
  EXPECT_TRUE(unchanged());
  t.set_gradient_reducer([](float*, int64_t, int64_t) -> int64_t { return 0; });
  try {
    t.step(d.View());
    ADD_FAILURE() << "no error for 0 rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("returned 0 rows"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(unchanged());
  t.set_gradient_reducer([](float* sums, int64_t, int64_t rows) -> int64_t {
    sums[3] = std::numeric_limits<float>::infinity();
    return rows;
  });
  try {
    t.step(d.View());
    ADD_FAILURE() << "no error for an infinite reduced gradient";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNumerical);
    EXPECT_NE(std::string(e.what()).find("reduced gradient is not finite ([3] = inf)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(unchanged());
  t.set_gradient_reducer({});  // removed: one process again
  t.step(d.View());
  EXPECT_EQ(t.steps(), 1);
}

TEST(Trainer, SgdStepMatchesHandComputedUpdate) {
  Model m(Spec(4, {}, 2, Head::kRegression), 3);
  const Data d = RandomData(m, 5, 9);
  OptimizerConfig opt;
  opt.lr = 0.1f;
  Trainer t(m, opt, 5);
  const std::vector<float> before(m.parameters(), m.parameters() + m.parameter_count());
  t.compute_gradients(d.View());
  const std::vector<float> g(m.gradients(), m.gradients() + m.parameter_count());
  t.apply_gradients();
  for (int64_t j = 0; j < m.parameter_count(); ++j) {
    EXPECT_FLOAT_EQ(m.parameters()[j], before[j] - 0.1f * g[j]);
  }
}

// decay_bias = false: the weight decay reaches the weights only (every optimizer, over a model
// whose layers straddle the update's chunks and thread ranges); true, the biases too.
TEST(Trainer, DecayBiasFalseLeavesTheBiasesUndecayed) {
  const Model init(
      Spec(300, {{70, Activation::kTanh}, {33, Activation::kRelu}}, 3, Head::kMulticlass), 4);
  for (Optimizer kind :
       {Optimizer::kSgd, Optimizer::kMomentum, Optimizer::kAdam, Optimizer::kAdamW}) {
    auto trained = [&](float decay, bool decay_bias) {
      Model m = init;
      for (int64_t l = 0; l < m.num_layers(); ++l) {  // non-zero biases: their decay shows
        const LayerLayout& L = m.layer(l);
        for (int64_t j = 0; j < L.out; ++j) m.parameters()[L.bias_offset + j] = 0.5f + 0.01f * j;
      }
      OptimizerConfig opt;
      opt.kind = kind;
      opt.lr = 0.05f;
      opt.weight_decay = decay;
      opt.decay_bias = decay_bias;
      StepOptions so;
      so.threads = 2;
      Trainer t(m, opt, 16, so);
      t.step(RandomData(m, 16, 5).View());
      return std::vector<float>(m.parameters(), m.parameters() + m.parameter_count());
    };
    const std::vector<float> none = trained(0.0f, true);
    const std::vector<float> weights_only = trained(0.3f, false);
    const std::vector<float> all = trained(0.3f, true);
    int64_t biases = 0, decayed = 0;
    for (int64_t l = 0; l < init.num_layers(); ++l) {
      const LayerLayout& L = init.layer(l);
      for (int64_t j = L.weight_offset; j < L.bias_offset + L.out; ++j) {
        const size_t i = static_cast<size_t>(j);
        if (j < L.bias_offset) {  // the weights: decayed either way
          ASSERT_EQ(weights_only[i], all[i]) << optimizer_name(kind) << " weight " << j;
        } else {  // the biases: as without decay, unless decay_bias
          ASSERT_EQ(weights_only[i], none[i]) << optimizer_name(kind) << " bias " << j;
          ++biases;
          decayed += all[i] != none[i];
        }
      }
    }
    // Adam's first step moves every parameter by lr whatever the size of its gradient, so an
    // L2 term of the same sign cannot show in it; the decoupled AdamW decay does.
    if (kind != Optimizer::kAdam) EXPECT_EQ(decayed, biases) << optimizer_name(kind);
  }
}

TEST(Trainer, NanLossStopsWithTheStepAndKeepsParameters) {
  Model m(Spec(8, {{6, Activation::kTanh}}, 3, Head::kMulticlass), 1);
  Data d = RandomData(m, 20, 2);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  StepOptions so;
  so.shard_rows = 6;
  Trainer t(m, opt, 10, so);
  t.step(d.View(0, 10));
  const std::vector<float> params(m.parameters(), m.parameters() + m.parameter_count());
  const std::vector<float> state(t.state(), t.state() + t.state_size());
  d.x[(10 + 7) * 8 + 3] = NAN;  // row 7 of the second batch: shard 1
  try {
    t.step(d.View(10, 10));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNumerical);
    const std::string what = e.what();
    EXPECT_NE(what.find("step 2: the loss is nan"), std::string::npos) << what;
    EXPECT_NE(what.find("shard 1, rows 6-9"), std::string::npos) << what;
  }
  EXPECT_EQ(std::memcmp(params.data(), m.parameters(), params.size() * 4), 0);
  EXPECT_EQ(std::memcmp(state.data(), t.state(), state.size() * 4), 0);
  EXPECT_EQ(t.steps(), 1);
}

TEST(Trainer, InfiniteGradientWithFiniteLossStopsAndKeepsParameters) {
  // A linear regression whose loss (5e37) is finite but whose weight gradient (1e39) is not.
  Model m(Spec(2, {}, 1, Head::kRegression), 1);
  std::fill(m.parameters(), m.parameters() + m.parameter_count(), 0.0f);
  Data d;
  d.rows = 1, d.cols = 2, d.outputs = 1;
  d.x = {1e20f, 1.0f};
  d.targets = {1e19f};
  Trainer t(m, OptimizerConfig{}, 1);
  try {
    t.step(d.View());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNumerical);
    EXPECT_NE(
        std::string(e.what()).find("step 1: the gradient is not finite (dW of layer 0 [0][0]"),
        std::string::npos)
        << e.what();
  }
  for (int64_t j = 0; j < m.parameter_count(); ++j) EXPECT_EQ(m.parameters()[j], 0.0f);
  // apply_gradients checks too.
  m.gradients()[1] = INFINITY;
  EXPECT_THROW(t.apply_gradients(), Error);
  for (int64_t j = 0; j < m.parameter_count(); ++j) EXPECT_EQ(m.parameters()[j], 0.0f);
}

TEST(Trainer, LargeFiniteGradientIsNoError) {
  // The loss (5e37) and the weight gradient (1e38) are finite; the cheap bound (above 2^126)
  // cannot tell, so the gradient itself is checked, and the step goes ahead.
  Model m(Spec(2, {}, 1, Head::kRegression), 1);
  std::fill(m.parameters(), m.parameters() + m.parameter_count(), 0.0f);
  Data d;
  d.rows = 1, d.cols = 2, d.outputs = 1;
  d.x = {1e19f, 1.0f};
  d.targets = {1e19f};
  OptimizerConfig opt;
  opt.lr = 1e-30f;
  Trainer t(m, opt, 1);
  const StepResult r = t.step(d.View());
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_TRUE(std::isnan(r.grad_norm));  // not asked for
  EXPECT_FLOAT_EQ(m.gradients()[0], -1e38f);
  EXPECT_FLOAT_EQ(m.parameters()[0], 1e8f);
}

TEST(Trainer, GradientNormWhenAskedOrClipping) {
  const ModelSpec spec = Spec(9, {{12, Activation::kTanh}}, 3, Head::kMulticlass);
  Model m(spec, 5);
  const Data d = RandomData(m, 30, 6);
  StepOptions so;
  so.shard_rows = 7;
  so.track_grad_norm = true;
  Trainer t(m, OptimizerConfig{}, 30, so);
  const StepResult r = t.compute_gradients(d.View());
  double want = 0.0;
  for (int64_t j = 0; j < m.parameter_count(); ++j) {
    want += static_cast<double>(m.gradients()[j]) * m.gradients()[j];
  }
  EXPECT_NEAR(r.grad_norm, std::sqrt(want), 1e-6 * std::sqrt(want));
  // Clipping to half the norm halves the step of plain SGD.
  Model a(spec, 5), b(spec, 5);
  OptimizerConfig clipped;
  clipped.clip_norm = static_cast<float>(r.grad_norm / 2);
  OptimizerConfig half;
  half.lr = clipped.lr / 2;
  StepOptions shards;
  shards.shard_rows = 7;
  Trainer ta(a, clipped, 30, shards), tb(b, half, 30, shards);
  EXPECT_NEAR(ta.step(d.View()).grad_norm, r.grad_norm, 1e-6 * r.grad_norm);
  tb.step(d.View());
  for (int64_t j = 0; j < a.parameter_count(); ++j) {
    EXPECT_NEAR(a.parameters()[j], b.parameters()[j], 1e-6) << j;
  }
}

TEST(Trainer, ArgumentErrorsNameTheProblem) {
  Model m(Spec(3, {{4, Activation::kRelu}}, 3, Head::kMulticlass));
  auto expect = [](const auto& fn, const std::string& part) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  OptimizerConfig bad_lr;
  bad_lr.lr = NAN;
  expect([&] { Trainer t(m, bad_lr, 4); }, "lr = nan");
  expect([&] { Trainer t(m, OptimizerConfig{}, 0); }, "max_batch = 0");
  StepOptions bad_shard;
  bad_shard.shard_rows = 0;
  expect([&] { Trainer t(m, OptimizerConfig{}, 4, bad_shard); }, "shard_rows = 0");
  OptimizerConfig bad_momentum;
  bad_momentum.kind = Optimizer::kMomentum;
  bad_momentum.momentum = 1.0f;
  expect([&] { Trainer t(m, bad_momentum, 4); }, "momentum = 1");

  Trainer t(m, OptimizerConfig{}, 4);
  std::vector<float> x(15, 0.5f);
  std::vector<int32_t> labels = {0, 1, 2, 3, 0};
  DataView v;
  v.rows = 5;
  v.x = x.data();
  v.labels = labels.data();
  expect([&] { t.step(v); }, "the batch has 5 rows, more than max_batch = 4");
  v.rows = 4;
  expect([&] { t.step(v); }, "label of row 3 is 3, outside [0, 3)");
  v.labels = nullptr;
  expect([&] { t.step(v); }, "labels are null");
  v.labels = labels.data();
  v.x = nullptr;
  expect([&] { t.step(v); }, "x is null");
  v.x = x.data();
  v.ldx = 2;
  expect([&] { t.step(v); }, "ldx = 2");

  Model b(Spec(3, {}, 2, Head::kBinary));
  Trainer tb(b, OptimizerConfig{}, 2);
  std::vector<float> targets = {0.0f, 1.0f, 1.5f, 0.0f};
  DataView vb;
  vb.rows = 2;
  vb.x = x.data();
  vb.targets = targets.data();
  expect([&] { tb.step(vb); }, "target [1][0] = 1.5 is outside [0, 1]");
}

// ------------------------------------------------------------------------ schedules, fit

TEST(Schedule, Values) {
  LrSchedule s;
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 57, 3, 100), 0.1f);
  s.kind = Schedule::kStep;
  s.step_epochs = 2;
  s.gamma = 0.5f;
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 0, 1, 100), 0.1f);
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 0, 2, 100), 0.05f);
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 0, 5, 100), 0.025f);
  s.kind = Schedule::kCosine;
  s.min_lr = 0.01f;
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 0, 0, 100), 0.1f);
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 50, 0, 100), 0.055f);
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 100, 0, 100), 0.01f);
  s.warmup_steps = 10;
  EXPECT_FLOAT_EQ(scheduled_lr(s, 0.1f, 0, 0, 100), 0.01f);
  EXPECT_NEAR(scheduled_lr(s, 0.1f, 4, 0, 100),
              0.5f * scheduled_lr({Schedule::kCosine, 0, 10, 0.1f, 0.01f}, 0.1f, 4, 0, 100), 1e-7);
  for (Schedule k : {Schedule::kConstant, Schedule::kStep, Schedule::kCosine}) {
    EXPECT_EQ(parse_schedule(schedule_name(k)), k);
  }
  for (Optimizer o : {Optimizer::kSgd, Optimizer::kMomentum, Optimizer::kNesterov, Optimizer::kAdam,
                      Optimizer::kAdamW}) {
    EXPECT_EQ(parse_optimizer(optimizer_name(o)), o);
  }
}

// The textbook case: a sigmoid network with a sigmoid output and binary cross-entropy learns XOR.
TEST(Fit, SigmoidNetworkLearnsXor) {
  Model m(Spec(2, {{4, Activation::kSigmoid}}, 1, Head::kBinary), 1, Init::kGlorotUniform);
  Data d;
  d.rows = 4, d.cols = 2, d.outputs = 1;
  d.x = {0, 0, 0, 1, 1, 0, 1, 1};
  d.targets = {0, 1, 1, 0};
  OptimizerConfig opt;
  opt.kind = Optimizer::kMomentum;
  opt.lr = 0.5f;
  FitOptions fo;
  fo.epochs = 2000;
  fo.batch = 4;
  const FitResult r = fit(m, d.View(), nullptr, opt, fo);
  EXPECT_EQ(r.steps, 2000);
  std::vector<float> p(4);
  m.predict(4, d.x.data(), 2, p.data(), 1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(p[i], d.targets[i], 0.1) << "input " << d.x[2 * i] << ", " << d.x[2 * i + 1];
  }
  EXPECT_LT(r.history.back().train_loss, 0.05);
  EXPECT_EQ(evaluate(m, d.View()).accuracy, 1.0);
}

// Reads tests/data/<name>: comma-separated numbers, the label last; `skip` header lines.
Data ReadCsv(const std::string& name, int skip, int64_t classes, bool binary) {
  std::ifstream in(std::string(PROPEL_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  Data d;
  std::string line;
  for (int i = 0; i < skip; ++i) std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<float> v;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) v.push_back(std::stof(cell));
    d.cols = static_cast<int64_t>(v.size()) - 1;
    d.x.insert(d.x.end(), v.begin(), v.end() - 1);
    if (binary) {
      d.targets.push_back(v.back());
    } else {
      d.labels.push_back(static_cast<int32_t>(v.back()));
    }
    ++d.rows;
  }
  d.outputs = binary ? 1 : classes;
  return d;
}

// Moves every `every`-th row (rows every - 1, 2 every - 1, ...) into a test set: the files are
// grouped by writer or by source, so a split of contiguous rows would not be representative.
Data Split(Data& d, int64_t every) {
  Data train, test;
  for (Data* p : {&train, &test}) p->cols = d.cols, p->outputs = d.outputs;
  for (int64_t i = 0; i < d.rows; ++i) {
    Data& to = (i % every == every - 1) ? test : train;
    to.x.insert(to.x.end(), d.x.begin() + i * d.cols, d.x.begin() + (i + 1) * d.cols);
    if (!d.labels.empty()) to.labels.push_back(d.labels[static_cast<size_t>(i)]);
    if (!d.targets.empty()) {
      to.targets.insert(to.targets.end(), d.targets.begin() + i * d.outputs,
                        d.targets.begin() + (i + 1) * d.outputs);
    }
    ++to.rows;
  }
  d = std::move(train);
  return test;
}

class FitPrecision : public testing::TestWithParam<Precision> {};

TEST_P(FitPrecision, DigitsReachesNinetySixPercent) {
  Data train = ReadCsv("digits.csv", 0, 10, false);
  ASSERT_EQ(train.rows, 1797);
  ASSERT_EQ(train.cols, 64);
  for (float& v : train.x) v /= 16.0f;
  const Data test = Split(train, 5);
  Model m(Spec(64, {{128, Activation::kRelu}}, 10, Head::kMulticlass), 1);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  opt.lr = 2e-3f;
  FitOptions fo;
  fo.epochs = 60;
  fo.batch = 32;
  fo.schedule.kind = Schedule::kCosine;
  StepOptions so;
  so.precision = GetParam();
  const DataView val = test.View();
  const FitResult r = fit(m, train.View(), &val, opt, fo, so);
  EXPECT_EQ(m.precision(), GetParam());
  const Evaluation e = evaluate(m, test.View());
  EXPECT_GE(e.accuracy, 0.96) << "loss " << e.loss;
  std::printf("digits (%s): test accuracy %.4f\n", precision_name(GetParam()), e.accuracy);
  EXPECT_EQ(e.accuracy, r.history.back().val_accuracy);
  EXPECT_GT(r.history.back().train_accuracy, 0.98);
}

TEST_P(FitPrecision, BreastCancerBinaryReachesNinetyFivePercent) {
  Data train = ReadCsv("breast_cancer.csv", 1, 2, true);
  ASSERT_EQ(train.rows, 569);
  ASSERT_EQ(train.cols, 30);
  Data test = Split(train, 5);
  // Standardize with the training rows' statistics only.
  for (int64_t j = 0; j < train.cols; ++j) {
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < train.rows; ++i) sum += train.x[i * 30 + j];
    const double mean = sum / train.rows;
    for (int64_t i = 0; i < train.rows; ++i) sum2 += std::pow(train.x[i * 30 + j] - mean, 2);
    const double sd = std::sqrt(sum2 / train.rows);
    for (Data* d : {&train, &test}) {
      for (int64_t i = 0; i < d->rows; ++i) {
        d->x[i * 30 + j] = static_cast<float>((d->x[i * 30 + j] - mean) / sd);
      }
    }
  }
  Model m(Spec(30, {{16, Activation::kTanh}}, 1, Head::kBinary), 3, Init::kGlorotUniform);
  OptimizerConfig opt;
  opt.kind = Optimizer::kSgd;
  opt.lr = 0.05f;
  FitOptions fo;
  fo.epochs = 40;
  fo.batch = 16;
  StepOptions so;
  so.precision = GetParam();
  const FitResult r = fit(m, train.View(), nullptr, opt, fo, so);
  const double accuracy = evaluate(m, test.View()).accuracy;
  EXPECT_GE(accuracy, 0.95);
  std::printf("breast cancer (%s): test accuracy %.4f\n", precision_name(GetParam()), accuracy);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

INSTANTIATE_TEST_SUITE_P(Precisions, FitPrecision,
                         testing::Values(Precision::kFp32, Precision::kBf16),
                         [](const testing::TestParamInfo<Precision>& info) {
                           return std::string(precision_name(info.param));
                         });

TEST(Fit, SameParametersForAnyThreadCountAndExecutor) {
  Model proto(Spec(16, {{32, Activation::kRelu}}, 4, Head::kMulticlass), 6);
  const Data d = RandomData(proto, 300, 12);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  FitOptions fo;
  fo.epochs = 3;
  fo.batch = 64;
  fo.seed = 99;
  std::vector<float> want;
  for (Executor e : test::Executors()) {
    for (int threads : {1, 2, 4}) {
      Model m = proto;
      StepOptions so;
      so.shard_rows = 16;
      so.executor = e;
      so.threads = threads;
      fit(m, d.View(), nullptr, opt, fo, so);
      std::vector<float> got(m.parameters(), m.parameters() + m.parameter_count());
      if (want.empty()) want = got;
      ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0)
          << static_cast<int>(e) << " " << threads;
    }
  }
}

TEST(Fit, ProgressAndEpochCallbacks) {
  Model m(Spec(5, {{8, Activation::kRelu}}, 3, Head::kMulticlass), 6);
  const Data d = RandomData(m, 100, 1);
  FitOptions fo;
  fo.epochs = 2;
  fo.batch = 16;  // 7 batches, the last of 4 rows
  fo.progress_every = 3;
  std::vector<Progress> seen;
  std::vector<EpochStats> epochs;
  fo.on_progress = [&](const Progress& p) { seen.push_back(p); };
  fo.on_epoch = [&](const EpochStats& s) { epochs.push_back(s); };
  const FitResult r = fit(m, d.View(), nullptr, OptimizerConfig{}, fo);
  ASSERT_EQ(seen.size(), 6u);  // batches 3, 6 and 7 of each epoch
  EXPECT_EQ(seen[0].batch, 3);
  EXPECT_EQ(seen[2].batch, 7);
  EXPECT_EQ(seen[2].batches, 7);
  EXPECT_EQ(seen[3].epoch, 1);
  for (const Progress& p : seen) {
    EXPECT_TRUE(std::isfinite(p.loss));
    EXPECT_GT(p.samples_per_second, 0.0);
  }
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(r.history.size(), 2u);
  EXPECT_DOUBLE_EQ(seen[2].loss, epochs[0].train_loss);
  EXPECT_TRUE(std::isnan(epochs[0].val_loss));
  EXPECT_EQ(r.steps, 14);
}

TEST(Fit, EarlyStoppingRestoresTheBestEpoch) {
  // A wide network on 40 noisy rows overfits: the validation loss turns up and training stops.
  Model m(Spec(10, {{128, Activation::kRelu}}, 3, Head::kMulticlass), 2);
  const Data train = RandomData(m, 40, 3), val = RandomData(m, 200, 4);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  opt.lr = 1e-2f;
  FitOptions fo;
  fo.epochs = 200;
  fo.batch = 8;
  fo.patience = 3;
  const DataView v = val.View();
  const FitResult r = fit(m, train.View(), &v, opt, fo);
  ASSERT_TRUE(r.stopped_early);
  ASSERT_GE(r.best_epoch, 0);
  EXPECT_EQ(static_cast<int64_t>(r.history.size()), r.best_epoch + 1 + 3);
  EXPECT_EQ(evaluate(m, v).loss, r.history[static_cast<size_t>(r.best_epoch)].val_loss);
}

}  // namespace
}  // namespace propel
