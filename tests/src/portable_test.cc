// Portable mode (StepOptions::portable, docs/reproducibility.md): every kernel it uses gives the
// same bits on every SIMD target with FMA that this CPU runs (SCALAR's, the reference, through
// std::fma); targets without FMA run SCALAR's kernels; training, losses, predictions and
// evaluations are bitwise the same on every target, thread count and executor; and a committed
// golden checksum pins what a fixed run computes, so that every CPU that runs the suite (AMD or
// Intel, AVX2 or AVX-512) checks the same number.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "propel/model.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/train.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/target.h"
#include "src/train/net_kernels.h"
#include "tests/test_util.h"

namespace propel {
namespace {

using test::RandomVector;

// Every value a run produced, as bits, with a label per value: two traces are compared value by
// value and the first difference is reported by its label.
struct Trace {
  std::vector<std::string> labels;
  std::vector<uint64_t> bits;

  void Add(const std::string& label, const float* v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, v + i, 4);
      labels.push_back(label + "[" + std::to_string(i) + "]");
      bits.push_back(u);
    }
  }
  void Add(const std::string& label, const std::vector<float>& v) {
    Add(label, v.data(), static_cast<int64_t>(v.size()));
  }
  void Add(const std::string& label, double d) {
    uint64_t u;
    std::memcpy(&u, &d, 8);
    labels.push_back(label);
    bits.push_back(u);
  }
};

// "" when equal, else the first difference.
std::string Diff(const Trace& want, const Trace& got) {
  if (want.bits.size() != got.bits.size()) {
    return "lengths " + std::to_string(want.bits.size()) + " and " +
           std::to_string(got.bits.size());
  }
  for (size_t i = 0; i < want.bits.size(); ++i) {
    if (want.bits[i] != got.bits[i]) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), ": %#llx, want %#llx",
                    static_cast<unsigned long long>(got.bits[i]),
                    static_cast<unsigned long long>(want.bits[i]));
      return want.labels[i] + buf;
    }
  }
  return "";
}

Target TargetNamed(const std::string& name) {
  for (const Target& t : available_targets()) {
    if (name == t.name) return t;
  }
  ADD_FAILURE() << "no target " << name;
  return {};
}

// The targets whose own kernels portable mode runs: those with FMA (and SCALAR).
std::vector<Target> OwnKernelTargets() {
  std::vector<Target> out;
  for (const Target& t : available_targets()) {
    if (portable_target_name(t) == t.name) out.push_back(t);
  }
  return out;
}

// Inputs over the ranges where each function has its branches (saturation, the subnormal
// results of exp, both signs), of lengths that cover whole vectors of every width and tails.
std::vector<float> Inputs(int64_t n, uint32_t seed, float lo, float hi) {
  std::vector<float> v = RandomVector(static_cast<size_t>(n), seed, lo, hi);
  if (n > 3) v[0] = 0.0f, v[1] = -0.0f, v[2] = hi * 8, v[3] = lo * 8;
  return v;
}

const int64_t kLengths[] = {1, 7, 16, 17, 100, 1037};

// Every portable element-wise kernel of one table on fixed inputs.
Trace RunElementwise(const kernels::ElementwiseKernels& k) {
  Trace t;
  uint32_t seed = 11;
  for (int64_t n : kLengths) {
    const std::vector<float> x = Inputs(n, seed++, -12.0f, 12.0f);
    const std::vector<float> dy = Inputs(n, seed++, -1.0f, 1.0f);
    for (int a = 0; a < kernels::kNumActs; ++a) {
      const auto act = static_cast<kernels::Act>(a);
      const float alpha = act == kernels::Act::kLeakyRelu ? 0.1f : 1.0f;
      const std::string name = "act " + std::to_string(a) + " n " + std::to_string(n);
      std::vector<float> y(x.size()), dx(x.size());
      k.act_forward(act, alpha, n, x.data(), y.data());
      t.Add(name + " forward", y);
      k.act_backward(act, alpha, n, x.data(), dy.data(), dx.data());
      t.Add(name + " backward", dx);
      if (kernels::HasOutputDerivative(act)) {
        k.act_backward_out(act, alpha, n, y.data(), dy.data(), dx.data());
        t.Add(name + " backward from output", dx);
      }
    }
    // Losses: the totals (double) and the gradients.
    const std::vector<float> prob = Inputs(n, seed++, 0.0f, 1.0f);
    const std::vector<float> target = Inputs(n, seed++, 0.0f, 1.0f);
    std::vector<float> dz(x.size());
    const std::string ln = " n " + std::to_string(n);
    t.Add("bce_logits" + ln, k.bce_logits(n, x.data(), target.data(), 0.25f, dz.data()));
    t.Add("bce_logits dz" + ln, dz);
    t.Add("bce_prob" + ln, k.bce_prob(n, prob.data(), target.data(), 1e-7f, 0.25f, dz.data()));
    t.Add("bce_prob dz" + ln, dz);
    t.Add("mse" + ln, k.mse(n, x.data(), dy.data(), 0.25f, dz.data()));
    t.Add("mse dz" + ln, dz);
    t.Add("sum_squares" + ln, k.sum_squares(n, x.data()));
  }
  // Row-wise: short rows (the transposed blocks), long rows (the fixed lanes), and both heads'
  // cross-entropies.
  const int64_t shapes[][2] = {{9, 10}, {5, 33}, {3, 100}, {2, 1000}, {17, 3}};
  for (const auto& s : shapes) {
    const int64_t rows = s[0], cols = s[1];
    const std::string sn = " " + std::to_string(rows) + "x" + std::to_string(cols);
    const std::vector<float> z = Inputs(rows * cols, seed++, -20.0f, 20.0f);
    const std::vector<float> soft = Inputs(rows * cols, seed++, 0.0f, 1.0f);
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) labels[static_cast<size_t>(i)] = (7 * i + 3) % cols;
    std::vector<float> y(z.size());
    for (bool log : {false, true}) {
      k.softmax(log, rows, cols, z.data(), cols, y.data(), cols);
      t.Add(std::string(log ? "log_softmax" : "softmax") + sn, y);
    }
    t.Add("ce labels" + sn,
          k.softmax_ce_labels(rows, cols, z.data(), labels.data(), 0.5f, y.data()));
    t.Add("ce labels dz" + sn, y);
    t.Add("ce soft" + sn, k.softmax_ce_soft(rows, cols, z.data(), soft.data(), 0.5f, y.data()));
    t.Add("ce soft dz" + sn, y);
    std::vector<float> sums(static_cast<size_t>(cols));
    k.column_sums(rows, cols, z.data(), cols, sums.data(), false);
    t.Add("column_sums" + sn, sums);
    for (int a = 0; a < kernels::kNumActs; ++a) {
      const auto act = static_cast<kernels::Act>(a);
      std::vector<float> dzb(z.size()), db(static_cast<size_t>(cols), 0.5f);
      k.act_backward_bias(act, 0.1f, false, rows, cols, z.data(), cols, soft.data(), cols,
                          dzb.data(), cols, db.data());
      t.Add("backward_bias " + std::to_string(a) + sn, dzb);
      t.Add("backward_bias db " + std::to_string(a) + sn, db);
    }
  }
  {
    const int64_t n = 1037;
    std::vector<float> b0 = Inputs(n, seed++, -1, 1), b1 = Inputs(n, seed++, -1, 1),
                       b2 = Inputs(n, seed++, -1, 1), out(static_cast<size_t>(n));
    const float* bufs[] = {b0.data(), b1.data(), b2.data()};
    k.reduce_sum(3, bufs, n, 0.3f, out.data());
    t.Add("reduce_sum", out);
  }
  // Optimizers, a few updates each so that the state matters.
  const int64_t n = 1037;
  const std::vector<float> g = Inputs(n, seed++, -1.0f, 1.0f);
  for (int kind = 0; kind < 5; ++kind) {
    std::vector<float> w = Inputs(n, 99, -1.0f, 1.0f);
    std::vector<float> s1(static_cast<size_t>(n), 0.0f), s2(static_cast<size_t>(n), 0.0f);
    for (int64_t step = 1; step <= 3; ++step) {
      if (kind < 3) {
        kernels::SgdArgs a{0.05f, kind == 0 ? 0.0f : 0.9f, 1e-4f, 0.7f, kind == 2};
        k.sgd(n, a, w.data(), g.data(), s1.data());
      } else {
        kernels::AdamArgs a{1e-3f,
                            0.9f,
                            0.999f,
                            1e-8f,
                            0.01f,
                            0.7f,
                            kind == 4,
                            kernels::BiasCorrection(0.9f, step),
                            kernels::BiasCorrection(0.999f, step)};
        k.adam(n, a, w.data(), g.data(), s1.data(), s2.data());
      }
    }
    t.Add("optimizer " + std::to_string(kind) + " w", w);
    t.Add("optimizer " + std::to_string(kind) + " state", s1);
  }
  return t;
}

TEST(Portable, ElementwiseKernelsAreBitwiseTheSameOnEveryTarget) {
  const Trace want = RunElementwise(*kernels::ElementwiseKernelsFor(TargetNamed("SCALAR").bits,
                                                                    /*portable=*/true));
  for (const Target& t : OwnKernelTargets()) {
    const kernels::ElementwiseKernels* k = kernels::ElementwiseKernelsFor(t.bits, true);
    ASSERT_NE(k, nullptr) << t.name;
    EXPECT_TRUE(k->portable);
    EXPECT_EQ(Diff(want, RunElementwise(*k)), "") << t.name;
  }
}

// The inputs above reach what portable mode changes: on a vector target, the default kernels
// (hardware reciprocal and square-root estimates) give other bits somewhere.
TEST(Portable, TheDefaultKernelsDifferOnTheseInputs) {
  for (const Target& t : OwnKernelTargets()) {
    if (std::string(t.name) == "SCALAR") continue;
    EXPECT_NE(Diff(RunElementwise(*kernels::ElementwiseKernelsFor(t.bits, true)),
                   RunElementwise(*kernels::ElementwiseKernelsFor(t.bits, false))),
              "")
        << t.name;
  }
}

// SCALAR's fused multiply-add (ExactFma in kernels/fma-inl.h: the exact product in double, the sum
// rounded to odd, then to float) is IEEE fma bit for bit: through portable mode's SCALAR GEMM,
// a 1 x 2 by 2 x 1 product [c, a] * [1, b] is fma(a, b, c), compared with std::fma on random
// operands over the whole exponent range, near-cancellations, products near a tie and subnormals.
TEST(Portable, ScalarFusedMultiplyAddIsExact) {
  const detail::GemmSetup& scalar =
      detail::EngineFor(TargetNamed("SCALAR"), Precision::kFp32, true);
  ASSERT_TRUE(scalar.engine->fused);
  std::mt19937 rng(7);
  auto any = [&](int lo, int hi) {
    const float m = std::uniform_real_distribution<float>(1.0f, 2.0f)(rng);
    const int e = std::uniform_int_distribution<int>(lo, hi)(rng);
    return (rng() & 1 ? -1.0f : 1.0f) * std::ldexp(m, e);
  };
  int64_t checked = 0;
  for (int i = 0; i < 100000; ++i) {
    float a = any(-70, 60), b = any(-70, 60), c;
    switch (i % 6) {
      case 0:
        c = any(-140, 120);
        break;  // anything
      case 1:
        c = -a * b * (1.0f + any(-30, -20));
        break;  // cancellation
      case 2:
        c = any(-149, -126);
        break;  // subnormal c
      case 3:
        a = 1.0f + std::ldexp(static_cast<float>(rng() % 4096), -12);  // ties: short
        b = 1.0f + std::ldexp(static_cast<float>(rng() % 4096), -12);  // significands
        c = -(rng() & 1 ? 1.0f : 2.0f);
        break;
      case 4: {  // double-rounding traps: c + ab is a float tie -+ far less than a double ulp
        const int k = std::uniform_int_distribution<int>(-60, 60)(rng);
        const float sign = rng() & 1 ? -1.0f : 1.0f;
        a = sign * std::ldexp(1.0f + std::ldexp(1.0f, -23), k);
        b = std::ldexp(1.0f, -24) + (rng() & 1 ? 1.0f : -1.0f) * std::ldexp(1.0f, -47);
        c = sign * std::ldexp(1.0f + std::ldexp(static_cast<float>(rng() % 8), -23), k);
        break;
      }
      default:
        a = any(-75, -60), b = any(-75, -60), c = any(-149, -120);
        break;  // underflow
    }
    if (!std::isfinite(a * b) || !std::isfinite(c)) continue;
    const float x[2] = {c, a}, y[2] = {1.0f, b};
    float out = 0.0f;
    detail::GemmProblem p;
    p.m = 1, p.n = 1, p.k = 2;
    p.a = x, p.lda = 2, p.b = y, p.ldb = 1, p.c = &out, p.ldc = 1;
    detail::RunGemm(*scalar.engine, scalar.blocking, p, 1);
    const float want = std::fma(a, b, c) + 0.0f;  // the epilogue adds +0 (no bias): -0 is +0
    ASSERT_EQ(std::memcmp(&out, &want, 4), 0) << std::hexfloat << "fma(" << a << ", " << b << ", "
                                              << c << ") = " << want << ", got " << out;
    ++checked;
  }
  EXPECT_GT(checked, 90000);
}

// The active target's portable kernels: its own where it has FMA, else SCALAR's.
TEST(Portable, TargetsWithoutFmaRunTheScalarKernels) {
  const Target scalar = TargetNamed("SCALAR");
  for (const Target& t : available_targets()) {
    const std::string name = t.name;
    const bool fma = name != "SSE4" && name != "SSSE3";
    EXPECT_EQ(portable_target_name(t), fma ? name : std::string("SCALAR")) << name;
    const test::ScopedTarget pin(name);
    const detail::NetKernels k = detail::ActiveNetKernels(Precision::kFp32, true);
    EXPECT_EQ(k.ew->target, fma ? t.bits : scalar.bits) << name;
    EXPECT_EQ(k.gemm->target, fma ? t.bits : scalar.bits) << name;
    EXPECT_TRUE(k.ew->portable);
    EXPECT_TRUE(k.blocking.portable);
    EXPECT_EQ(k.blocking.kc, detail::kPortableKc);
    // bf16: the VDPBF16PS order, natively or emulated; never AMX.
    const kernels::GemmEngine& bf16 = *detail::ActiveNetKernels(Precision::kBf16, true).gemm;
    EXPECT_TRUE(bf16.kind == kernels::EngineKind::kBf16Emulated ||
                bf16.kind == kernels::EngineKind::kBf16Vdpbf16ps)
        << name << ": " << kernels::EngineKindName(bf16.kind);
  }
}

struct GemmCase {
  int64_t m, n, k;
};
// Few rows (the thin path's shapes in the default mode), an output layer's 10 columns (thin or
// transposed by target), several k blocks (k > 256, the first layer's 784), edge tiles.
const GemmCase kGemmCases[] = {{1, 10, 784},   {3, 37, 100}, {256, 10, 1024}, {64, 300, 784},
                               {10, 1024, 64}, {33, 5, 513}, {7, 13, 5}};

Trace RunGemms(const Target& target, Precision precision, bool portable = true) {
  const detail::GemmSetup& setup = detail::EngineFor(target, precision, portable);
  const kernels::ElementwiseKernels& ew =
      *kernels::ElementwiseKernelsFor(setup.engine->target, portable);
  Trace t;
  uint32_t seed = 5;
  for (const GemmCase& c : kGemmCases) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool ta = variant & 1, tb = variant & 2;
      const std::vector<float> a = RandomVector(static_cast<size_t>(c.m * c.k), seed++);
      const std::vector<float> b = RandomVector(static_cast<size_t>(c.k * c.n), seed++);
      const std::vector<float> bias = RandomVector(static_cast<size_t>(c.n), seed++);
      std::vector<float> out = RandomVector(static_cast<size_t>(c.m * c.n), seed++);
      detail::GemmProblem p;
      p.trans_a = ta, p.trans_b = tb;
      p.m = c.m, p.n = c.n, p.k = c.k;
      p.a = a.data(), p.lda = ta ? c.m : c.k;
      p.b = b.data(), p.ldb = tb ? c.k : c.n;
      p.c = out.data(), p.ldc = c.n;
      // Plain, then alpha and beta, then bias with ReLU, then bias with the sigmoid.
      p.alpha = variant == 1 ? 0.75f : 1.0f;
      p.beta = variant == 1 ? 0.5f : 0.0f;
      if (variant >= 2) {
        p.bias = bias.data();
        p.act.act = variant == 2 ? kernels::Act::kRelu : kernels::Act::kSigmoid;
        p.act.fn = ew.act_forward;
      }
      detail::RunGemm(*setup.engine, setup.blocking, p, 2);
      t.Add("gemm " + std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k) +
                " variant " + std::to_string(variant),
            out);
    }
  }
  return t;
}

TEST(Portable, GemmIsBitwiseTheSameOnEveryTarget) {
  const int saved = num_threads();
  set_num_threads(2);
  for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
    const Trace want = RunGemms(TargetNamed("SCALAR"), precision);
    for (const Target& t : OwnKernelTargets()) {
      EXPECT_EQ(Diff(want, RunGemms(t, precision)), "")
          << t.name << " " << precision_name(precision);
    }
  }
  // The shapes reach what portable mode changes: the default mode's thin path sums in vector
  // stripes, so a vector target's default GEMMs give other bits somewhere.
  for (const Target& t : OwnKernelTargets()) {
    if (std::string(t.name) == "SCALAR") continue;
    EXPECT_NE(Diff(RunGemms(t, Precision::kFp32, true), RunGemms(t, Precision::kFp32, false)), "")
        << t.name;
  }
  set_num_threads(saved);
}

// Data that any machine generates bit for bit: integers scaled by powers of two, labels from an
// integer rule (no library random numbers or transcendental functions).
struct PortableData {
  int64_t rows = 0, features = 0, classes = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;  // one-hot-ish regression targets, rows x classes
  DataView View() const {
    DataView v;
    v.rows = rows;
    v.x = x.data();
    v.labels = labels.data();
    return v;
  }
};

PortableData MakeData(int64_t rows, int64_t features, int64_t classes) {
  PortableData d;
  d.rows = rows, d.features = features, d.classes = classes;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int64_t>(state >> 40);  // 24 bits
  };
  // The label: the class of the largest of `classes` fixed integer linear scores of the row.
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<int64_t> v(static_cast<size_t>(features));
    for (int64_t j = 0; j < features; ++j) {
      v[static_cast<size_t>(j)] = next() % 2049 - 1024;  // [-1024, 1024]
      d.x.push_back(static_cast<float>(v[static_cast<size_t>(j)]) / 512.0f);
    }
    int64_t label = 0, best = 0;
    for (int64_t c = 0; c < classes; ++c) {
      int64_t score = 0;
      for (int64_t j = 0; j < features; ++j)
        score += v[static_cast<size_t>(j)] * ((c * 7 + j * 3) % 5 - 2);
      if (c == 0 || score > best) label = c, best = score;
    }
    d.labels.push_back(static_cast<int32_t>(label));
    for (int64_t c = 0; c < classes; ++c) d.targets.push_back(c == label ? 1.0f : -0.25f);
  }
  return d;
}

// One run: checksum of the parameters, every step's loss, the predictions and the evaluation.
struct RunResult {
  Trace trace;
  uint64_t checksum = 0;
};

RunResult TrainRun(const PortableData& d, Head head, Optimizer opt, Precision precision,
                   int64_t steps, int threads, Executor executor, int64_t shard_rows = 64) {
  const std::vector<Layer> hidden = {
      {32, Activation::kTanh}, {24, Activation::kSigmoid}, {16, Activation::kGeluErf}};
  const int64_t outputs = head == Head::kMulticlass ? d.classes : head == Head::kBinary ? 1 : 3;
  Model model(test::MlpSpec(d.features, hidden, outputs, head), 7, Init::kGlorotUniform);
  OptimizerConfig oc;
  oc.kind = opt;
  oc.lr = opt == Optimizer::kAdam || opt == Optimizer::kAdamW ? 3e-3f : 0.05f;
  oc.weight_decay = 1e-4f;
  StepOptions so;
  so.portable = true;
  so.precision = precision;
  so.threads = threads;
  so.executor = executor;
  so.shard_rows = shard_rows;
  const int64_t batch = 48;
  Trainer trainer(model, oc, batch, so);
  std::vector<float> bin_targets;
  for (int64_t i = 0; i < d.rows; ++i) bin_targets.push_back(d.labels[static_cast<size_t>(i)] % 2);
  RunResult r;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t r0 = (s * batch) % (d.rows - batch);
    DataView b;
    b.rows = batch;
    b.x = d.x.data() + r0 * d.features;
    if (head == Head::kMulticlass) b.labels = d.labels.data() + r0;
    if (head == Head::kBinary) b.targets = bin_targets.data() + r0;
    if (head == Head::kRegression) b.targets = d.targets.data() + r0 * d.classes, b.ldt = d.classes;
    const StepResult sr = trainer.step(b);
    r.trace.Add("step " + std::to_string(s) + " loss", sr.loss);
  }
  r.checksum = parameter_checksum(model);
  r.trace.Add("checksum", static_cast<double>(r.checksum >> 11));
  std::vector<float> out(static_cast<size_t>(d.rows * outputs));
  model.predict(d.rows, d.x.data(), d.features, out.data(), outputs);
  r.trace.Add("predict", out);
  model.predict(1, d.x.data(), d.features, out.data(), outputs);  // one row: a thin shape
  r.trace.Add("predict one row", out.data(), outputs);
  if (head == Head::kMulticlass) {
    const Evaluation e = evaluate(model, d.View(), 100);
    r.trace.Add("evaluation loss", e.loss);
    r.trace.Add("evaluation accuracy", e.accuracy);
  }
  return r;
}

TEST(Portable, TrainingIsBitwiseTheSameOnEveryTargetThreadCountAndExecutor) {
  const PortableData d = MakeData(400, 29, 7);
  const int saved = num_threads();
  set_num_threads(2);
  struct Config {
    Head head;
    Optimizer opt;
    Precision precision;
  };
  const Config configs[] = {{Head::kMulticlass, Optimizer::kAdam, Precision::kFp32},
                            {Head::kBinary, Optimizer::kNesterov, Precision::kFp32},
                            {Head::kRegression, Optimizer::kAdamW, Precision::kFp32},
                            {Head::kMulticlass, Optimizer::kMomentum, Precision::kBf16}};
  // One shard per batch (its GEMMs split over the threads) and two (side by side on 2 threads).
  for (const Config& c : configs) {
    for (int64_t shard_rows : {64, 24}) {
      RunResult want;
      {
        const test::ScopedTarget pin("SCALAR");
        want = TrainRun(d, c.head, c.opt, c.precision, 12, 1, Executor::kSerial, shard_rows);
      }
      for (const Target& t : available_targets()) {
        const test::ScopedTarget pin(t.name);
        for (int threads : {1, 2}) {
          for (Executor e : test::Executors()) {
            const RunResult got =
                TrainRun(d, c.head, c.opt, c.precision, 12, threads, e, shard_rows);
            EXPECT_EQ(Diff(want.trace, got.trace), "")
                << t.name << " " << head_name(c.head) << " " << optimizer_name(c.opt) << " "
                << precision_name(c.precision) << ", shards of " << shard_rows << ", " << threads
                << " threads, executor " << static_cast<int>(e);
          }
        }
      }
    }
  }
  set_num_threads(saved);
}

// The golden checksums: 300 steps of batch 32 over 512 rows of MakeData, 29-32-24-7 with tanh
// and sigmoid hidden layers, softmax cross-entropy, shards of 16 rows (two per batch), on every
// target this CPU runs. The values were computed by this suite and are the same on every CPU
// (docs/reproducibility.md lists where they were checked); a change of any kernel's arithmetic
// in portable mode changes them, and that is a change of what portable mode promises.
uint64_t GoldenRun(Optimizer opt, Precision precision) {
  const PortableData d = MakeData(512, 29, 7);
  Model model(test::MlpSpec(29, {{32, Activation::kTanh}, {24, Activation::kSigmoid}}, 7,
                            Head::kMulticlass),
              2024, Init::kGlorotUniform);
  OptimizerConfig oc;
  oc.kind = opt;
  oc.lr = opt == Optimizer::kAdam ? 2e-3f : 0.1f;
  StepOptions so;
  so.portable = true;
  so.precision = precision;
  so.shard_rows = 16;
  Trainer trainer(model, oc, 32, so);
  for (int64_t s = 0; s < 300; ++s) {
    DataView b;
    b.rows = 32;
    b.x = d.x.data() + (s % 16) * 32 * d.features;
    b.labels = d.labels.data() + (s % 16) * 32;
    trainer.step(b);
  }
  // A run that learns: the golden numbers are not those of a diverged or stuck model.
  EXPECT_GT(evaluate(model, d.View()).accuracy, 0.6) << optimizer_name(opt);
  return parameter_checksum(model);
}

TEST(Portable, GoldenChecksums) {
  struct Golden {
    Optimizer opt;
    Precision precision;
    uint64_t checksum;
  };
  const Golden golden[] = {{Optimizer::kSgd, Precision::kFp32, 0xe7f7d12e47593bc1},
                           {Optimizer::kAdam, Precision::kFp32, 0xbe953b356b7594d8},
                           {Optimizer::kSgd, Precision::kBf16, 0x9e56687d07a21e72},
                           {Optimizer::kAdam, Precision::kBf16, 0xf0130121b634496c}};
  std::string checked;
  for (const Target& t : available_targets()) {
    const test::ScopedTarget pin(t.name);
    checked += std::string(" ") + t.name;
    for (const Golden& g : golden) {
      const uint64_t got = GoldenRun(g.opt, g.precision);
      EXPECT_EQ(got, g.checksum) << std::hex << t.name << " " << optimizer_name(g.opt) << " "
                                 << precision_name(g.precision) << ": 0x" << got;
    }
  }
  std::printf("golden checksums checked on%s\n", checked.c_str());
}

}  // namespace
}  // namespace propel
