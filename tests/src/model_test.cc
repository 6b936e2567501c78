// propel::Model: the description, the arena layout, the counter-based initializers (against an
// independent evaluation of Philox and of the formulas) and inference against the double
// reference network.
#include "propel/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "propel/error.h"
#include "propel/threading.h"
#include "propel/train.h"
#include "src/gemm/gemm_driver.h"
#include "src/runtime/random.h"
#include "tests/reference/mlp_ref.h"
#include "tests/test_util.h"

namespace propel {
namespace {

// ---------------------------------------------------------------------------------- random

TEST(Philox, Random123KnownAnswers) {
  using detail::Philox4x32;
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PortableLog, WithinTwoUlpOfLibm) {
  std::vector<double> xs = {1e-300,   1e-10, 0.001,    0.5, 0.70710678118654752,
                            0.999999, 1.0,   1.000001, 2.0, 3.0,
                            10.0,     1e10,  1e300};
  for (int i = 1; i < 20000; ++i) xs.push_back(i * 1e-4);
  for (double x : xs) {
    const double got = detail::PortableLog(x), want = std::log(x);
    const double ulp = std::nextafter(std::fabs(want), INFINITY) - std::fabs(want);
    EXPECT_LE(std::fabs(got - want), 2 * ulp + (want == 0.0 ? 1e-300 : 0.0)) << "x = " << x;
  }
}

TEST(CounterRng, Distributions) {
  const detail::CounterRng rng(7);
  const int n = 200000;
  double sum = 0, sum2 = 0, usum = 0;
  std::vector<int> buckets(10, 0);
  for (int i = 0; i < n; ++i) {
    const double z = rng.Normal(3, static_cast<uint64_t>(i));
    sum += z;
    sum2 += z * z;
    const double u = rng.Uniform(4, static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    usum += u;
    const uint64_t b = rng.Below(5, static_cast<uint64_t>(i), 10);
    ASSERT_LT(b, 10u);
    ++buckets[b];
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum2 / n, 1.0, 0.01);
  EXPECT_NEAR(usum / n, 0.5, 0.003);
  for (int c : buckets) EXPECT_NEAR(c, n / 10, 600);
  // Draws are pure functions of (seed, stream, index).
  EXPECT_EQ(rng.Normal(3, 12345), detail::CounterRng(7).Normal(3, 12345));
  EXPECT_NE(rng.Normal(3, 12345), detail::CounterRng(8).Normal(3, 12345));
}

// ----------------------------------------------------------------------------------- model

ModelSpec Spec(int64_t inputs, std::vector<Layer> hidden, int64_t outputs, Head head) {
  return test::MlpSpec(inputs, std::move(hidden), outputs, head);
}

TEST(Model, ArenaLayout) {
  const Model m(Spec(5, {{7, Activation::kRelu}, {3, Activation::kTanh}}, 4, Head::kMulticlass));
  ASSERT_EQ(m.num_layers(), 3);
  EXPECT_EQ(m.layer(0).weight_offset, 0);
  EXPECT_EQ(m.layer(0).bias_offset, 35);
  EXPECT_EQ(m.layer(1).weight_offset, 42);
  EXPECT_EQ(m.layer(1).bias_offset, 63);
  EXPECT_EQ(m.layer(2).weight_offset, 66);
  EXPECT_EQ(m.layer(2).bias_offset, 78);
  EXPECT_EQ(m.parameter_count(), 82);
  EXPECT_EQ(m.layer(2).activation, Activation::kIdentity);
  EXPECT_EQ(m.max_width(), 7);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.parameters()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.gradients()) % 64, 0u);
  EXPECT_EQ(m.describe(), "5-7(relu)-3(tanh)-4 multiclass, 82 parameters");
  for (int64_t j = 0; j < m.parameter_count(); ++j) EXPECT_EQ(m.gradients()[j], 0.0f);
}

TEST(Model, DefaultAlphaResolved) {
  const Model m(
      Spec(2, {{3, Activation::kLeakyRelu}, {3, Activation::kElu, 0.5f}}, 1, Head::kRegression));
  EXPECT_EQ(m.layer(0).alpha, default_alpha(Activation::kLeakyRelu));
  EXPECT_EQ(m.layer(1).alpha, 0.5f);
  EXPECT_EQ(m.spec().hidden[0].alpha, default_alpha(Activation::kLeakyRelu));
}

TEST(Model, InvalidSpecsNameTheProblem) {
  auto expect_error = [](const ModelSpec& s, const std::string& part) {
    try {
      Model m(s);
      ADD_FAILURE() << "no error for " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error(Spec(0, {}, 2, Head::kMulticlass), "inputs = 0");
  expect_error(Spec(3, {{0, Activation::kRelu}}, 2, Head::kMulticlass),
               "hidden layer 0: units = 0");
  expect_error(Spec(3, {}, 1, Head::kMulticlass), "at least 2 classes");
  expect_error(Spec(3, {}, 0, Head::kBinary), "outputs = 0");
  expect_error(Spec(3, {{4, static_cast<Activation>(42)}}, 1, Head::kBinary), "hidden layer 0");
  expect_error(Spec(3, {{4, Activation::kElu, INFINITY}}, 1, Head::kBinary), "hidden layer 0");
  expect_error(Spec(3, {}, 2, static_cast<Head>(7)), "unknown head");
  expect_error(Spec(int64_t{1} << 30, {{int64_t{1} << 30, Activation::kRelu}}, 2, Head::kBinary),
               "2^40");
}

TEST(Model, NamesRoundTrip) {
  for (Head h : {Head::kBinary, Head::kMulticlass, Head::kRegression}) {
    EXPECT_EQ(parse_head(head_name(h)), h);
  }
  for (Init i : {Init::kGlorotUniform, Init::kGlorotNormal, Init::kHeUniform, Init::kHeNormal}) {
    EXPECT_EQ(parse_init(init_name(i)), i);
  }
  EXPECT_THROW(parse_head("nope"), Error);
  EXPECT_THROW(parse_init("xavier"), Error);
}

// Values computed independently (Python integers for Philox4x32-10, IEEE doubles for the
// scale): the same seed gives these weights on every machine.
TEST(Initializers, MatchIndependentEvaluation) {
  const Model m(Spec(3, {{2, Activation::kRelu}}, 4, Head::kRegression), 42, Init::kHeUniform);
  const float* w0 = m.parameters() + m.layer(0).weight_offset;
  const float want0[6] = {0x1.472abp-2f,  0x1.612562p+0f,  0x1.d7e7d4p-1f,
                          0x1.4c7ec8p-1f, -0x1.f6bf2cp-2f, -0x1.0c2128p-1f};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(w0[j], want0[j]) << j;
  const float* w1 = m.parameters() + m.layer(1).weight_offset;
  const float want1[8] = {-0x1.b27c16p+0f, -0x1.491874p+0f, -0x1.fd67d4p-1f, -0x1.51903ep+0f,
                          0x1.b8804p+0f,   -0x1.56349ep-1f, 0x1.285a24p-2f,  -0x1.64ff8ap-1f};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(w1[j], want1[j]) << j;
  for (int64_t j = 0; j < 2; ++j) EXPECT_EQ(m.parameters()[m.layer(0).bias_offset + j], 0.0f);
}

TEST(Initializers, StatisticsAndDeterminism) {
  const ModelSpec spec = Spec(300, {{500, Activation::kRelu}}, 200, Head::kMulticlass);
  for (Init init : {Init::kGlorotUniform, Init::kGlorotNormal, Init::kHeUniform, Init::kHeNormal}) {
    SCOPED_TRACE(init_name(init));
    set_num_threads(1);
    const Model a(spec, 9, init);
    set_num_threads(3);
    const Model b(spec, 9, init);
    set_num_threads(2);
    const Model c(spec, 10, init);
    ASSERT_EQ(std::memcmp(a.parameters(), b.parameters(), a.parameter_count() * sizeof(float)), 0);
    EXPECT_NE(std::memcmp(a.parameters(), c.parameters(), a.parameter_count() * sizeof(float)), 0);
    for (int64_t l = 0; l < a.num_layers(); ++l) {
      const LayerLayout& L = a.layer(l);
      const bool he = init == Init::kHeUniform || init == Init::kHeNormal;
      const double var = he ? 2.0 / L.in : 2.0 / (L.in + L.out);
      double sum = 0, sum2 = 0, maxabs = 0;
      const int64_t n = L.in * L.out;
      for (int64_t j = 0; j < n; ++j) {
        const double w = a.parameters()[L.weight_offset + j];
        sum += w;
        sum2 += w * w;
        maxabs = std::max(maxabs, std::fabs(w));
      }
      EXPECT_NEAR(sum / n, 0.0, 4 * std::sqrt(var / n));
      EXPECT_NEAR(sum2 / n / var, 1.0, 0.03);
      const bool uniform = init == Init::kGlorotUniform || init == Init::kHeUniform;
      if (uniform) EXPECT_LE(maxabs, std::sqrt(3 * var));
      if (!uniform) EXPECT_GT(maxabs, std::sqrt(3 * var));  // normal tails reach past the box
      for (int64_t j = 0; j < L.out; ++j) EXPECT_EQ(a.parameters()[L.bias_offset + j], 0.0f);
    }
  }
  set_num_threads(2);
}

// --------------------------------------------------------------------------------- predict

// Reference head output for one row, in double.
std::vector<double> RefPredict(const Model& m, const float* x) {
  std::vector<double> a(x, x + m.inputs());
  for (int64_t l = 0; l < m.num_layers(); ++l) {
    const LayerLayout& L = m.layer(l);
    std::vector<double> z(static_cast<size_t>(L.out));
    for (int64_t o = 0; o < L.out; ++o) {
      double s = m.parameters()[L.bias_offset + o];
      for (int64_t j = 0; j < L.in; ++j) {
        s += static_cast<double>(m.parameters()[L.weight_offset + o * L.in + j]) * a[j];
      }
      z[static_cast<size_t>(o)] =
          l + 1 < m.num_layers() ? ref::Forward(L.activation, L.alpha, s) : s;
    }
    a = std::move(z);
  }
  if (m.head() == Head::kBinary) {
    for (double& v : a) v = ref::Sigmoid(v);
  } else if (m.head() == Head::kMulticlass) {
    const double mx = *std::max_element(a.begin(), a.end());
    double sum = 0;
    for (double& v : a) sum += (v = std::exp(v - mx));
    for (double& v : a) v /= sum;
  }
  return a;
}

TEST(Predict, MatchesReferenceOnEveryTarget) {
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    for (Head head : {Head::kBinary, Head::kMulticlass, Head::kRegression}) {
      SCOPED_TRACE(target + " " + head_name(head));
      const Model m(Spec(37, {{45, Activation::kGeluTanh}, {20, Activation::kSigmoid}}, 6, head), 3,
                    Init::kGlorotNormal);
      const int64_t rows = 300, ldx = 40, ldo = 9;
      const std::vector<float> x = test::RandomVector(rows * ldx, 11, -2.0f, 2.0f);
      std::vector<float> out(rows * ldo, -7.0f);
      m.predict(rows, x.data(), ldx, out.data(), ldo);
      for (int64_t i = 0; i < rows; ++i) {
        const std::vector<double> want = RefPredict(m, x.data() + i * ldx);
        for (int64_t j = 0; j < 6; ++j) {
          ASSERT_NEAR(out[i * ldo + j], want[j], 2e-5 * (1 + std::fabs(want[j])))
              << "row " << i << " output " << j;
        }
        for (int64_t j = 6; j < ldo; ++j) ASSERT_EQ(out[i * ldo + j], -7.0f);  // padding kept
      }
    }
  }
}

TEST(Predict, SameBitsForAnyThreadCountAndExecutor) {
  const Model m(Spec(50, {{64, Activation::kRelu}, {33, Activation::kSilu}}, 10, Head::kMulticlass),
                5);
  const int64_t rows = 1000;
  const std::vector<float> x = test::RandomVector(rows * 50, 2);
  std::vector<float> want(rows * 10), got(rows * 10);
  set_num_threads(1);
  m.predict(rows, x.data(), 50, want.data(), 10);
  for (Executor e : test::Executors()) {
    for (int t : {2, 3, 8}) {
      set_executor(e);
      set_num_threads(t);
      m.predict(rows, x.data(), 50, got.data(), 10);
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
          << "executor " << static_cast<int>(e) << ", " << t << " threads";
    }
  }
  set_executor(Executor::kTbb);
  set_num_threads(2);
}

// A call of several row blocks packs each layer's weights once for all of them; a call of one
// block lets the GEMM pack them: the same bits on every target.
TEST(Predict, WeightsPackedOncePerCallGiveTheBlocksOwnBits) {
  set_num_threads(1);
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    const Model m(Spec(70, {{130, Activation::kRelu}, {64, Activation::kTanh}}, 10, Head::kBinary),
                  9);
    const int64_t rows = 700;
    const std::vector<float> x = test::RandomVector(rows * 70, 4);
    std::vector<float> want(rows * 10), got(rows * 10);
    m.predict(rows, x.data(), 70, got.data(), 10);
    for (int64_t r0 = 0; r0 < rows; r0 += 256) {
      const int64_t n = std::min<int64_t>(256, rows - r0);
      m.predict(n, x.data() + r0 * 70, 70, want.data() + r0 * 10, 10);
    }
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << target;
  }
  set_num_threads(2);
}

// predict packs each layer's weights once per version of the parameters and engine, and reuses
// them: a second call packs nothing, a write through parameters() (a new version) or another
// precision packs again, and each call computes what a new copy of the model computes.
TEST(Predict, PackedWeightsKeptPerVersionAndEngine) {
  Model m(Spec(70, {{130, Activation::kRelu}, {64, Activation::kTanh}}, 10, Head::kMulticlass), 9);
  const int64_t rows = 40;
  const std::vector<float> x = test::RandomVector(rows * 70, 4);
  std::vector<float> got(rows * 10), want(rows * 10);
  const float* params = std::as_const(m).parameters();
  detail::CountBPacksFrom(params, params + m.parameter_count());
  m.predict(rows, x.data(), 70, got.data(), 10);
  EXPECT_EQ(detail::CountedBPacks().whole, 3);
  for (int call = 0; call < 3; ++call) m.predict(1 + call, x.data(), 70, got.data(), 10);
  EXPECT_EQ(detail::CountedBPacks().whole, 3);
  EXPECT_EQ(detail::CountedBPacks().gemm, 0);
  for (Precision precision : {Precision::kBf16, Precision::kFp32}) {
    m.set_precision(precision);
    float* w = m.parameters();
    for (int64_t j = 0; j < 70 * 130; j += 7) w[j] = -w[j];
    m.predict(rows, x.data(), 70, got.data(), 10);
    const Model copy(m);
    copy.predict(rows, x.data(), 70, want.data(), 10);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
        << precision_name(precision);
  }
  EXPECT_EQ(detail::CountedBPacks().whole, 9);  // three versions of m (the copy is not counted)
  EXPECT_EQ(detail::CountedBPacks().gemm, 0);
  detail::CountBPacksFrom(nullptr, nullptr);
}

// A row's prediction does not depend on the rows predicted with it: one row at a time (the
// few-row shapes a dot product would serve), two, three, and all 37 at once give the same bits.
TEST(Predict, EachRowTheSameWhateverRowsItIsPredictedWith) {
  for (const std::string& target : test::TargetNames()) {
    test::ScopedTarget pin(target);
    const Model m(
        Spec(33, {{100, Activation::kRelu}, {20, Activation::kTanh}}, 3, Head::kMulticlass), 5);
    const int64_t rows = 37;
    const std::vector<float> x = test::RandomVector(rows * 33, 6);
    std::vector<float> all(rows * 3);
    m.predict(rows, x.data(), 33, all.data(), 3);
    for (int64_t group : {1, 2, 3, 5}) {
      std::vector<float> got(rows * 3);
      for (int64_t r0 = 0; r0 < rows; r0 += group) {
        const int64_t n = std::min(group, rows - r0);
        m.predict(n, x.data() + r0 * 33, 33, got.data() + r0 * 3, 3);
      }
      EXPECT_EQ(std::memcmp(all.data(), got.data(), all.size() * sizeof(float)), 0)
          << target << " rows by " << group;
    }
  }
}

TEST(Predict, ArgumentErrors) {
  const Model m(Spec(4, {}, 3, Head::kMulticlass));
  std::vector<float> x(8), out(6);
  EXPECT_THROW(m.predict(2, x.data(), 3, out.data(), 3), Error);  // ldx < inputs
  EXPECT_THROW(m.predict(2, x.data(), 4, out.data(), 2), Error);  // ldout < outputs
  EXPECT_THROW(m.predict(2, nullptr, 4, out.data(), 3), Error);
  EXPECT_THROW(m.predict(-1, x.data(), 4, out.data(), 3), Error);
  EXPECT_NO_THROW(m.predict(0, nullptr, 4, nullptr, 3));
  try {
    m.predict(2, x.data(), 3, out.data(), 3);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("propel::Model::predict: ldx = 3"), std::string::npos);
  }
}

}  // namespace
}  // namespace propel
