// Checkpoints: round trips, bit-exact resume, every kind of damaged file (each an error that
// changes nothing), and a save that fails half-way leaving the previous file intact.
#include "propel/checkpoint.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "propel/error.h"
#include "tests/file_util.h"
#include "tests/test_util.h"

namespace propel {
namespace {

namespace fs = std::filesystem;

class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("propel_ckpt_") {}
  size_t Files() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(path()), {}));
  }
};

using test::Read;
using test::Resealed;
using test::Write;

std::vector<float> Params(const Model& m) {
  return {m.parameters(), m.parameters() + m.parameter_count()};
}

struct Data {
  std::vector<float> x;
  std::vector<int32_t> y;
  DataView View() const {
    DataView v;
    v.rows = static_cast<int64_t>(y.size());
    v.x = x.data();
    v.labels = y.data();
    return v;
  }
};

Data MakeData(int64_t rows, int64_t cols, int classes) {
  Data d;
  d.x = test::RandomVector(static_cast<size_t>(rows * cols), 4);
  for (int64_t i = 0; i < rows; ++i) d.y.push_back(static_cast<int32_t>(i * 7 % classes));
  return d;
}

const ModelSpec kSpec = test::MlpSpec(
    12, {{16, Activation::kRelu}, {9, Activation::kLeakyRelu, 0.2f}}, 4, Head::kMulticlass);

TEST(Checkpoint, ModelRoundTrip) {
  TempDir dir;
  const Model m(kSpec, 3, Init::kGlorotNormal);
  save_checkpoint(dir / "m.ckpt", m);
  const Model back = load_model(dir / "m.ckpt");
  EXPECT_EQ(back.describe(), m.describe());
  EXPECT_EQ(Params(back), Params(m));
  EXPECT_FALSE(read_checkpoint_info(dir / "m.ckpt").has_optimizer);
  EXPECT_EQ(dir.Files(), 1u);  // no temporary file left behind
}

// checkpoint_bytes is the file save_checkpoint writes, and parse_checkpoint_model reads it back.
TEST(Checkpoint, BytesAreTheFile) {
  TempDir dir;
  Model m(kSpec, 3);
  const Data d = MakeData(40, 12, 3);
  Trainer t(m, OptimizerConfig{Optimizer::kAdam, 1e-3f}, 40);
  t.step(d.View());
  const std::string path = dir / "m.ckpt";
  save_checkpoint(path, m, &t, 4);
  EXPECT_EQ(checkpoint_bytes(m, &t, 4), Read(path));
  save_checkpoint(path, m);
  const std::string bytes = checkpoint_bytes(m);
  EXPECT_EQ(bytes, Read(path));
  EXPECT_EQ(Params(parse_checkpoint_model(bytes, "mem")), Params(m));
  EXPECT_THROW(checkpoint_bytes(m, &t, -1), Error);
  // A trainer restored from bytes takes the same next step.
  const std::string with_state = checkpoint_bytes(m, &t, 4);
  Model m2(kSpec, 99);
  Trainer t2(m2, OptimizerConfig{Optimizer::kAdam, 1e-3f}, 40);
  EXPECT_EQ(load_checkpoint_bytes(with_state, "mem", m2, &t2).epochs_done, 4);
  t.step(d.View());
  t2.step(d.View());
  EXPECT_EQ(Params(m2), Params(m));
  EXPECT_THROW(load_checkpoint_bytes(with_state.substr(0, 50), "cut", m2, &t2), Error);
}

TEST(Checkpoint, OptimizerStateRoundTrip) {
  TempDir dir;
  Model m(kSpec, 3);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdamW;
  opt.lr = 3e-3f;
  opt.weight_decay = 0.01f;
  Trainer t(m, opt, 32);
  const Data d = MakeData(32, 12, 4);
  for (int s = 0; s < 3; ++s) t.step(d.View());
  save_checkpoint(dir / "t.ckpt", m, &t, 7);

  const CheckpointInfo info = read_checkpoint_info(dir / "t.ckpt");
  ASSERT_TRUE(info.has_optimizer);
  EXPECT_EQ(info.optimizer.kind, Optimizer::kAdamW);
  EXPECT_EQ(info.optimizer.lr, 3e-3f);
  EXPECT_EQ(info.steps, 3);
  EXPECT_EQ(info.epochs_done, 7);
  Model m2(kSpec, 99);
  Trainer t2(m2, info.optimizer, 32);
  load_checkpoint(dir / "t.ckpt", m2, &t2);
  EXPECT_EQ(Params(m2), Params(m));
  EXPECT_EQ(t2.steps(), 3);
  EXPECT_EQ(std::memcmp(t2.state(), t.state(), static_cast<size_t>(t.state_size()) * 4), 0);
  // The next step is the same on both.
  t.step(d.View());
  t2.step(d.View());
  EXPECT_EQ(Params(m2), Params(m));
}

// Two epochs, a checkpoint, one more epoch from it: the same bits as three epochs straight
// (Adam's moments and update count, the per-epoch shuffles and a step schedule with warm-up all
// continue where they stopped).
TEST(Checkpoint, ResumeIsBitExact) {
  TempDir dir;
  const Data d = MakeData(150, 12, 4);
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdam;
  opt.lr = 5e-3f;
  FitOptions fo;
  fo.batch = 32;
  fo.seed = 11;
  fo.schedule.kind = Schedule::kStep;
  fo.schedule.step_epochs = 1;
  fo.schedule.gamma = 0.5f;
  fo.schedule.warmup_steps = 7;
  StepOptions so;
  so.shard_rows = 16;

  Model straight(kSpec, 5);
  fo.epochs = 3;
  fit(straight, d.View(), nullptr, opt, fo, so);

  Model first(kSpec, 5);
  Trainer t1(first, opt, 32, so);
  fo.epochs = 2;
  fit(t1, d.View(), nullptr, fo);
  save_checkpoint(dir / "e2.ckpt", first, &t1, 2);

  const CheckpointInfo info = read_checkpoint_info(dir / "e2.ckpt");
  Model resumed(kSpec, 77);
  Trainer t2(resumed, info.optimizer, 32, so);
  load_checkpoint(dir / "e2.ckpt", resumed, &t2);
  fo.epochs = 3;
  fo.start_epoch = info.epochs_done;
  const FitResult r = fit(t2, d.View(), nullptr, fo);
  EXPECT_EQ(r.history.size(), 1u);
  EXPECT_EQ(r.history[0].epoch, 2);
  EXPECT_EQ(Params(resumed), Params(straight));
}

// A current checkpoint with a trainer as format `version`: `header_bytes` at `header_at` removed
// (the fields of later versions before the parameters) and decay_bias (after the optimizer flag,
// kind and seven hyper-parameters that follow the arena at `arena_end`); body size and checksum
// made right.
std::string OlderVersion(std::string s, char version, size_t header_at, size_t header_bytes,
                         size_t arena_end) {
  s.erase(arena_end + 8 + 28, 4);
  s.erase(header_at, header_bytes);
  s[8] = version;
  const uint64_t body = static_cast<uint64_t>(s.size()) - 24 - 4;
  for (int i = 0; i < 8; ++i) s[16 + i] = static_cast<char>(body >> (8 * i));
  return Resealed(s);
}

// The precision a model was trained in travels with it; files of format version 1 (before the
// field existed) load as fp32 with the same parameters.
TEST(Checkpoint, RecordsThePrecisionAndReadsVersionOne) {
  TempDir dir;
  Model m(kSpec, 2);
  StepOptions so;
  so.precision = Precision::kBf16;
  Trainer t(m, OptimizerConfig{}, 8, so);
  EXPECT_EQ(m.precision(), Precision::kBf16);
  save_checkpoint(dir / "bf16.ckpt", m, &t, 1);
  EXPECT_EQ(read_checkpoint_info(dir / "bf16.ckpt").precision, Precision::kBf16);
  const Model loaded = load_model(dir / "bf16.ckpt");
  EXPECT_EQ(loaded.precision(), Precision::kBf16);
  Model into(kSpec, 5);
  load_checkpoint(dir / "bf16.ckpt", into);
  EXPECT_EQ(into.precision(), Precision::kBf16);  // no trainer: the file's
  Model trained(kSpec, 5);
  Trainer fp32(trained, OptimizerConfig{}, 8);
  load_checkpoint(dir / "bf16.ckpt", trained, &fp32);
  EXPECT_EQ(trained.precision(), Precision::kFp32);  // the trainer's
  EXPECT_EQ(Params(trained), Params(m));

  // Version 1: the same bytes without the fields of versions 2 to 4: the precision, the
  // source-classes flag and the portable-mode flag (offsets 80, 84 and 88 for kSpec's two layers)
  // and decay_bias (after the optimizer kind and its seven hyper-parameters).
  Write(dir / "v1.ckpt", OlderVersion(Read(dir / "bf16.ckpt"), 1, 80, 12,
                                      100 + 4 * static_cast<size_t>(m.parameter_count())));
  const Model old = load_model(dir / "v1.ckpt");
  EXPECT_EQ(old.precision(), Precision::kFp32);
  EXPECT_EQ(Params(old), Params(m));
  EXPECT_EQ(read_checkpoint_info(dir / "v1.ckpt").steps, 0);
  EXPECT_EQ(read_checkpoint_info(dir / "v1.ckpt").epochs_done, 1);
}

// A binary model trained on two classes of a larger set keeps them (format version 3), and so
// does the optimizer's decay_bias; a version-2 file (without either) still loads, with no classes
// and decay_bias on.
TEST(Checkpoint, RecordsBinaryClassesAndDecayBiasAndReadsVersionTwo) {
  TempDir dir;
  const ModelSpec spec = test::MlpSpec(12, {{16, Activation::kRelu}}, 1, Head::kBinary);
  Model m(spec, 2);
  EXPECT_FALSE(m.binary_classes().has_value());
  m.set_binary_classes(BinaryClasses{0, 6});
  OptimizerConfig opt{Optimizer::kAdamW, 1e-3f};
  opt.weight_decay = 0.01f;
  opt.decay_bias = false;
  Trainer t(m, opt, 8);
  save_checkpoint(dir / "b.ckpt", m, &t, 1);
  const CheckpointInfo info = read_checkpoint_info(dir / "b.ckpt");
  ASSERT_TRUE(info.binary_classes.has_value());
  EXPECT_EQ(info.binary_classes->negative, 0);
  EXPECT_EQ(info.binary_classes->positive, 6);
  EXPECT_FALSE(info.optimizer.decay_bias);
  const Model loaded = load_model(dir / "b.ckpt");
  ASSERT_TRUE(loaded.binary_classes().has_value());
  EXPECT_EQ(loaded.binary_classes()->positive, 6);
  const Model copy = loaded;  // copies keep them
  EXPECT_EQ(copy.binary_classes()->negative, 0);
  Model into(spec, 5);
  load_checkpoint(dir / "b.ckpt", into);
  EXPECT_EQ(into.binary_classes()->positive, 6);

  // Version 2: the same bytes without the source classes (flag and two labels at offset 68 for
  // one hidden layer), the portable-mode flag after them, and without decay_bias.
  Write(dir / "v2.ckpt", OlderVersion(Read(dir / "b.ckpt"), 2, 68, 16,
                                      68 + 16 + 8 + 4 * static_cast<size_t>(m.parameter_count())));
  const CheckpointInfo old = read_checkpoint_info(dir / "v2.ckpt");
  EXPECT_FALSE(old.binary_classes.has_value());
  EXPECT_TRUE(old.optimizer.decay_bias);
  EXPECT_EQ(old.optimizer.weight_decay, 0.01f);
  EXPECT_EQ(Params(load_model(dir / "v2.ckpt")), Params(m));
  load_checkpoint(dir / "v2.ckpt", into);
  EXPECT_FALSE(into.binary_classes().has_value());  // the file's: none

  // Only a binary model with one output takes classes, and only two distinct labels >= 0.
  Model multi(kSpec, 1);
  EXPECT_THROW(multi.set_binary_classes(BinaryClasses{0, 1}), Error);
  EXPECT_THROW(m.set_binary_classes(BinaryClasses{3, 3}), Error);
  EXPECT_THROW(m.set_binary_classes(BinaryClasses{-1, 2}), Error);
  m.set_binary_classes(std::nullopt);
  EXPECT_FALSE(m.binary_classes().has_value());
}

// Expects an Error of code kIo containing `part`, and the model's parameters unchanged.
void ExpectRejected(const std::string& path, const std::string& part) {
  Model m(kSpec, 1);
  const std::vector<float> before = Params(m);
  try {
    load_checkpoint(path, m);
    ADD_FAILURE() << "no error; expected: " << part;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << e.what() << "\n  missing: " << part;
  }
  EXPECT_EQ(Params(m), before);
}

TEST(Checkpoint, DamagedFilesAreRejectedAndChangeNothing) {
  TempDir dir;
  Model m(kSpec, 2);
  OptimizerConfig opt;
  opt.kind = Optimizer::kMomentum;
  Trainer t(m, opt, 8);
  save_checkpoint(dir / "good.ckpt", m, &t, 1);
  const std::string good = Read(dir / "good.ckpt");
  const std::string bad = dir / "bad.ckpt";

  ExpectRejected(dir / "missing.ckpt", "missing.ckpt: no such file");
  // Every truncation, at every length.
  for (size_t n = 0; n < good.size(); n += (n < 64 ? 1 : 97)) {
    Write(bad, good.substr(0, n));
    ExpectRejected(bad, "bad.ckpt: ");
  }
  Write(bad, good.substr(0, 20));
  ExpectRejected(bad, "byte 16: truncated: the body size needs 8 bytes, 4 remain");
  Write(bad, good.substr(0, good.size() - 100));
  ExpectRejected(bad, "truncated: the header announces");
  std::string s = good;
  s[0] = 'X';
  Write(bad, s);
  ExpectRejected(bad, "byte 0: not a propel checkpoint");
  s = good;
  s[8] = 5;
  Write(bad, Resealed(s));
  ExpectRejected(bad, "byte 12: format version 5 is not supported (this build reads 1 to 4)");
  s[8] = 0;
  Write(bad, Resealed(s));
  ExpectRejected(bad, "byte 12: format version 0 is not supported");
  s = good;
  std::swap(s[12], s[15]);
  Write(bad, Resealed(s));
  ExpectRejected(bad, "byte-order mark is not 0x01020304");
  s = good;
  s[200] = static_cast<char>(s[200] ^ 1);  // a parameter bit
  Write(bad, s);
  ExpectRejected(bad, "checksum mismatch");
  Write(bad, good + "x");
  ExpectRejected(bad, "1 bytes past its checksum");
  s = good;
  s[24] = 9;  // head
  Write(bad, Resealed(s));
  ExpectRejected(bad, "byte 28: unknown head 9");
  s = good;
  s[24 + 4 + 8 + 8 + 4 + 8] = 42;  // the first hidden layer's activation
  Write(bad, Resealed(s));
  ExpectRejected(bad, "unknown activation 42");
  s = good;
  s[24 + 4 + 8 + 8 + 4] = 0;  // the first hidden layer's width: 16 -> 0
  Write(bad, Resealed(s));
  ExpectRejected(bad, "does not match the model description");
  s = good;
  const char inf[4] = {0, 0, static_cast<char>(0x80), 0x7f};
  std::memcpy(&s[76], inf, 4);  // the second hidden layer's leaky ReLU slope: +inf
  Write(bad, Resealed(s));
  ExpectRejected(bad, "byte 76: hidden layer 1's activation parameter inf is not finite");

  // A sound file of another shape, or another optimizer's state.
  const Model other(test::MlpSpec(12, {{17, Activation::kRelu}}, 4, Head::kMulticlass));
  save_checkpoint(dir / "other.ckpt", other);
  ExpectRejected(dir / "other.ckpt", "holds the model 12-17(relu)-4 multiclass");
  Model m2(kSpec, 1);
  const std::vector<float> before = Params(m2);
  OptimizerConfig adam;
  adam.kind = Optimizer::kAdam;
  Trainer t2(m2, adam, 8);
  EXPECT_THROW(load_checkpoint(dir / "good.ckpt", m2, &t2), Error);
  EXPECT_EQ(Params(m2), before);
  EXPECT_EQ(t2.steps(), 0);
}

// A save that fails half-way (the file-size limit stands in for a full disk) leaves the previous
// checkpoint intact and no temporary file behind.
TEST(Checkpoint, FailedSaveKeepsThePreviousFile) {
  TempDir dir;
  const std::string path = dir / "model.ckpt";
  const Model small(test::MlpSpec(4, {}, 2, Head::kMulticlass), 1);
  save_checkpoint(path, small);
  const std::string previous = Read(path);
  const Model big(test::MlpSpec(200, {{300, Activation::kRelu}}, 10, Head::kMulticlass), 2);

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  bool failed = false;
  try {
    save_checkpoint(path, big);
  } catch (const Error& e) {
    failed = true;
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("the previous file, if any, is unchanged"),
              std::string::npos)
        << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(failed);
  EXPECT_EQ(Read(path), previous);
  EXPECT_EQ(dir.Files(), 1u);
  EXPECT_EQ(load_model(path).describe(), small.describe());
  // And a save that succeeds replaces it.
  save_checkpoint(path, big);
  EXPECT_EQ(load_model(path).describe(), big.describe());
}

}  // namespace
}  // namespace propel
