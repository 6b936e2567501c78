// Checkpoints crafted as an adversary would: every field of the format edited to an out-of-range
// or non-finite value with the checksum recomputed (the checksum is for accidents, not for
// adversaries). Each load must be an Error(kIo) naming the file and the byte, before anything in
// memory changes. Also: saves killed mid-way leave no temporaries after the next save, and
// directories, FIFOs and devices are refused without blocking.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "propel/checkpoint.h"
#include "propel/data.h"
#include "propel/error.h"
#include "propel/propel.h"
#include "tests/file_util.h"
#include "tests/test_util.h"

namespace propel {
namespace {

namespace fs = std::filesystem;

// A scratch folder with Names() for the leftovers check.
class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("propel_fields_") {}
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path())) names.push_back(e.path().filename());
    return names;
  }
};

using test::Read;
using test::Resealed;
using test::Write;

void Put32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void Put64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void PutF(std::string& s, size_t at, float v) { Put32(s, at, std::bit_cast<uint32_t>(v)); }

std::vector<float> Params(const Model& m) {
  return {m.parameters(), m.parameters() + m.parameter_count()};
}

const ModelSpec kSpec = test::MlpSpec(
    12, {{16, Activation::kRelu}, {9, Activation::kLeakyRelu, 0.2f}}, 4, Head::kMulticlass);

// Offsets of the fields of a checkpoint of kSpec (docs/checkpoints.md).
struct Layout {
  int64_t params = 0;
  size_t head = 24, inputs = 28, outputs = 36, hidden = 44, layer0 = 48, layer1 = 64;
  size_t precision = 80, classes = 84, portable = 88, count = 92, arena = 100;
  size_t flag() const { return arena + 4 * static_cast<size_t>(params); }
  size_t kind() const { return flag() + 4; }
  size_t config(int i) const { return kind() + 4 + 4 * static_cast<size_t>(i); }  // lr .. clip
  size_t decay_bias() const { return config(7); }
  size_t steps() const { return decay_bias() + 4; }
  size_t epochs() const { return steps() + 8; }
  size_t state_size() const { return epochs() + 8; }
  size_t state() const { return state_size() + 8; }
};

struct Crafted {
  std::string name;
  Optimizer optimizer;
  std::function<void(std::string&, const Layout&)> edit;
  std::string expect;  // part of the message, after "<file>: "
};

class CraftedCheckpoint : public testing::TestWithParam<Crafted> {};

TEST_P(CraftedCheckpoint, IsRejectedNamingFileAndByteAndChangesNothing) {
  const Crafted& c = GetParam();
  TempDir dir;
  Model source(kSpec, 2);
  OptimizerConfig opt;
  opt.kind = c.optimizer;
  Trainer t(source, opt, 8);
  // A few steps so that the state is not all zeros.
  std::vector<float> x = test::RandomVector(8 * 12, 3);
  std::vector<int32_t> y = {0, 1, 2, 3, 0, 1, 2, 3};
  DataView batch;
  batch.rows = 8;
  batch.x = x.data();
  batch.labels = y.data();
  for (int i = 0; i < 3; ++i) t.step(batch);
  save_checkpoint(dir / "good.ckpt", source, &t, 1);
  std::string bytes = Read(dir / "good.ckpt");
  Layout layout;
  layout.params = source.parameter_count();
  c.edit(bytes, layout);
  const std::string path = dir / "crafted.ckpt";
  Write(path, Resealed(bytes));

  Model target(kSpec, 5);
  Trainer target_trainer(target, opt, 8);
  const std::vector<float> before = Params(target);
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      if (attempt == 0) load_checkpoint(path, target, &target_trainer);
      if (attempt == 1) (void)load_model(path);
      if (attempt == 2) (void)read_checkpoint_info(path);
      ADD_FAILURE() << c.name << ": loaded; expected " << c.expect;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kIo) << what;
      EXPECT_EQ(what.rfind(path + ": byte", 0), 0u) << what;
      EXPECT_NE(what.find(c.expect), std::string::npos) << what << "\n  missing: " << c.expect;
    }
  }
  EXPECT_EQ(Params(target), before);
  EXPECT_EQ(target_trainer.steps(), 0);
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

INSTANTIATE_TEST_SUITE_P(
    EveryField, CraftedCheckpoint,
    testing::Values(
        Crafted{"head", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.head, 3); }, "unknown head 3"},
        Crafted{"inputs_zero", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.inputs, 0); },
                "does not match the model description"},
        Crafted{"inputs_huge", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.inputs, ~uint64_t{0}); },
                "does not match the model description"},
        Crafted{"outputs_zero", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.outputs, 0); },
                "does not match the model description"},
        Crafted{"hidden_count", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.hidden, 0xffffffffu); },
                "hidden layers is implausible"},
        Crafted{"width", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.layer0, uint64_t{1} << 62); },
                "does not match the model description"},
        Crafted{"activation", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.layer0 + 8, 10); },
                "unknown activation 10"},
        Crafted{"alpha_nan", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.layer1 + 12, kNaN); },
                "hidden layer 1's activation parameter nan is not finite"},
        Crafted{"precision", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.precision, 2); },
                "byte 80: unknown precision 2 (0 fp32, 1 bf16)"},
        Crafted{"portable_flag", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.portable, 2); },
                "byte 88: portable-mode flag 2 is neither 0 nor 1"},
        Crafted{"classes_flag", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.classes, 2); },
                "byte 84: source-classes flag 2 is neither 0 nor 1"},
        // kSpec is multiclass: the classes (read from the next 8 bytes) cannot be its.
        Crafted{"classes_of_multiclass", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.classes, 1); },
                "bytes 88-95: source classes"},
        Crafted{"decay_bias", Optimizer::kAdamW,
                [](std::string& s, const Layout& l) { Put32(s, l.decay_bias(), 2); },
                "decay_bias 2 is neither 0 nor 1"},
        Crafted{"count", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.count, 400); },
                "the parameter count 400 does not match"},
        Crafted{"parameter_nan", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.arena + 4 * 5, kNaN); },
                "parameter [5] = nan is not finite"},
        Crafted{"parameter_inf", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.arena + 4 * 400, -kInf); },
                "parameter [400] = -inf is not finite"},
        Crafted{"flag", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.flag(), 2); },
                "optimizer flag 2 is neither 0 nor 1"},
        Crafted{"kind", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put32(s, l.kind(), 5); },
                "unknown optimizer 5"},
        Crafted{"lr_nan", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.config(0), kNaN); },
                "every field must be finite"},
        Crafted{"lr_negative", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.config(0), -1.0f); },
                "lr = -1 must be finite and non-negative"},
        Crafted{"momentum", Optimizer::kMomentum,
                [](std::string& s, const Layout& l) { PutF(s, l.config(1), 1.5f); },
                "momentum = 1.5 must be in (0, 1)"},
        Crafted{"beta1", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.config(2), 2.0f); },
                "beta1 = 2 must be in [0, 1)"},
        Crafted{"beta2", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.config(3), 1.0f); },
                "beta2 = 1 must be in [0, 1)"},
        Crafted{"eps", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.config(4), 0.0f); },
                "eps = 0 must be positive"},
        Crafted{"weight_decay", Optimizer::kAdamW,
                [](std::string& s, const Layout& l) { PutF(s, l.config(5), -0.5f); },
                "weight_decay = -0.5 must be finite and non-negative"},
        Crafted{"clip_inf", Optimizer::kSgd,
                [](std::string& s, const Layout& l) { PutF(s, l.config(6), kInf); },
                "every field must be finite"},
        Crafted{
            "steps", Optimizer::kAdam,
            [](std::string& s, const Layout& l) { Put64(s, l.steps(), (uint64_t{1} << 63) - 1); },
            "update count 9223372036854775807 is outside [0, 2^53]"},
        Crafted{"steps_negative", Optimizer::kSgd,
                [](std::string& s, const Layout& l) { Put64(s, l.steps(), ~uint64_t{0}); },
                "is outside [0, 2^53]"},
        Crafted{"epochs", Optimizer::kMomentum,
                [](std::string& s, const Layout& l) { Put64(s, l.epochs(), uint64_t{1} << 62); },
                "epoch count 4611686018427387904 is outside [0, 2^53]"},
        Crafted{"state_size", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { Put64(s, l.state_size(), 7); },
                "optimizer state of 7 floats, expected 802 for adam"},
        Crafted{"first_moment_nan", Optimizer::kAdam,
                [](std::string& s, const Layout& l) { PutF(s, l.state() + 4 * 3, kNaN); },
                "Adam's first moment [3] = nan is not finite"},
        Crafted{"second_moment_negative", Optimizer::kAdam,
                [](std::string& s,
                   const Layout&
                       l) { PutF(s, l.state() + 4 * static_cast<size_t>(l.params + 7), -1e-3f); },
                "Adam's second moment [7] = -0.001000 is negative"},
        Crafted{
            "second_moment_inf", Optimizer::kAdamW,
            [](std::string& s,
               const Layout& l) { PutF(s, l.state() + 4 * static_cast<size_t>(l.params), kInf); },
            "Adam's second moment [0] = inf is not finite"},
        Crafted{"velocity_nan", Optimizer::kNesterov,
                [](std::string& s, const Layout& l) { PutF(s, l.state() + 4 * 9, kNaN); },
                "the momentum velocity [9] = nan is not finite"}),
    [](const testing::TestParamInfo<Crafted>& info) { return info.param.name; });

// The checksum's own byte offsets say "byte N" too: the file name and the byte lead every message.
TEST(CheckpointLoad, SgdAndAdamCheckpointsRoundTrip) {
  // (Under UBSan: an SGD checkpoint has no optimizer state, an empty array read without a
  // memcpy from a null pointer.)
  TempDir dir;
  for (Optimizer o : {Optimizer::kSgd, Optimizer::kMomentum, Optimizer::kAdam}) {
    Model m(kSpec, 3);
    OptimizerConfig opt;
    opt.kind = o;
    Trainer t(m, opt, 8);
    save_checkpoint(dir / "rt.ckpt", m, &t, 4);
    Model back(kSpec, 9);
    Trainer tb(back, opt, 8);
    const CheckpointInfo info = load_checkpoint(dir / "rt.ckpt", back, &tb);
    EXPECT_TRUE(info.has_optimizer);
    EXPECT_EQ(info.epochs_done, 4);
    EXPECT_EQ(Params(back), Params(m));
  }
}

// Saves killed mid-way (SIGKILL in a child, the way a preempted job dies) leave temporaries; the
// next save removes those whose writer is gone, and never a live writer's.
TEST(CheckpointSave, NextSaveRemovesTemporariesOfKilledWriters) {
  TempDir dir;
  const std::string path = dir / "model.ckpt";
  const Model big(test::MlpSpec(256, {{1024, Activation::kRelu}, {1024, Activation::kRelu}}, 10,
                                Head::kMulticlass),
                  1);
  save_checkpoint(path, big);
  int killed_mid_save = 0;
  // PROPEL_TEST_KILL_ROUNDS=100 for the long form.
  const char* env = std::getenv("PROPEL_TEST_KILL_ROUNDS");
  const int rounds = env != nullptr ? std::atoi(env) : 6;
  for (int round = 0; round < rounds; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (;;) save_checkpoint(path, big);  // until killed
    }
    ::usleep(static_cast<useconds_t>(20000 + 7000 * (round % 10)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (const std::string& n : dir.Names()) {
      if (n.rfind("model.ckpt.tmp-" + std::to_string(child), 0) == 0) ++killed_mid_save;
    }
    // Whatever the moment of the kill, the checkpoint is whole.
    EXPECT_EQ(load_model(path).describe(), big.describe());
  }
  std::printf("%d of %d kills left a temporary behind\n", killed_mid_save, rounds);
  // A temporary of a live process (this one's parent, which outlives the test) stays.
  const std::string live = path + ".tmp-" + std::to_string(::getppid()) + "-0";
  Write(live, "in progress");
  save_checkpoint(path, big);
  std::vector<std::string> left = dir.Names();
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"model.ckpt", fs::path(live).filename().string()}))
      << "killed mid-save: " << killed_mid_save;
  EXPECT_EQ(load_model(path).describe(), big.describe());
}

// Directories, FIFOs and devices as inputs: a one-line kIo error naming the path, at once (a FIFO
// with no writer must not block).
TEST(Files, NonRegularFilesAreRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string folder = dir / "folder";
  fs::create_directories(folder);
  struct Case {
    std::string path, says;
  };
  for (const Case& c : {Case{folder, "is a directory, not a file"},
                        Case{fifo, "is a FIFO (named pipe), not a regular file"},
                        Case{"/dev/zero", "is a character device, not a regular file"},
                        Case{"/dev/null", "is a character device, not a regular file"}}) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int what = 0; what < 4; ++what) {
      try {
        if (what == 0) (void)load_model(c.path);
        if (what == 1) (void)load_csv(c.path);
        if (what == 2) (void)load_idx(c.path, c.path);
        if (what == 3) (void)read_checkpoint_info(c.path);
        ADD_FAILURE() << c.path << " was read";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kIo);
        EXPECT_EQ(std::string(e.what()), c.path + ": " + c.says);
      }
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << c.path;
  }
  // Through the C API: an I/O status, and the message.
  propel_model* m = nullptr;
  EXPECT_EQ(propel_load_model(folder.c_str(), &m), PROPEL_ERROR_IO);
  EXPECT_EQ(std::string(propel_last_error()), folder + ": is a directory, not a file");
  // Saving over a directory is refused and writes nothing.
  const Model small(test::MlpSpec(4, {}, 2, Head::kMulticlass), 1);
  EXPECT_THROW(save_checkpoint(folder, small), Error);
  EXPECT_TRUE(fs::is_directory(folder));
}

// Impossible sizes are refused before anything is allocated, with the need and the machine's
// memory in the message.
TEST(Memory, ImpossibleModelsAndTrainersAreClearErrors) {
  ModelSpec huge = test::MlpSpec(784, {{100000, Activation::kRelu}, {100000, Activation::kRelu}},
                                 10, Head::kMulticlass);
  EXPECT_EQ(model_bytes(huge), 8.0 * 10079600010.0);
  EXPECT_GT(machine_memory_bytes(), 0.0);
  try {
    Model m(huge, 1);
    ADD_FAILURE() << "a 10^10-parameter model was built";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    const std::string what = e.what();
    EXPECT_NE(what.find("propel::Model: the model (10079600010 parameters) with its gradients "
                        "needs 80.6 GB; this machine has "),
              std::string::npos)
        << what;
  }
  // A model that fits, with a batch whose shard gradient buffers cannot: 2^20 shards of one row.
  Model m(test::MlpSpec(256, {{1024, Activation::kRelu}}, 10, Head::kMulticlass), 1);
  StepOptions so;
  so.shard_rows = 1;
  try {
    Trainer t(m, OptimizerConfig{}, int64_t{1} << 20, so);
    ADD_FAILURE() << "a trainer of 2^20 shard gradient buffers was built";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find("propel::Trainer: training 256-1024(relu)-10"),
              std::string::npos)
        << e.what();
  }
  so.threads = kMaxThreads + 1;
  so.shard_rows = 64;
  EXPECT_THROW(Trainer(m, OptimizerConfig{}, 64, so), Error);
}

}  // namespace
}  // namespace propel
