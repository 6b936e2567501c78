// propel::mpi under `mpirun -np 2`: the 2-rank run equals the one-process run with the batch of
// both (bitwise in deterministic mode, with the update split over the ranks or whole, with and
// without clipping; parameters and optimizer state), rank 0's parameters win over rank 1's, and a
// rank with bad input or a non-finite loss makes every rank fail with its message instead of
// hanging.
#include "propel/mpi.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "propel/error.h"
#include "tests/test_util.h"

namespace {

int g_rank = 0, g_size = 1, g_failures = 0;

void Expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED: %s\n", g_rank, what.c_str());
    ++g_failures;
  }
}

struct Data {
  int64_t rows = 0, cols = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
  propel::DataView View() const {
    propel::DataView v;
    v.rows = rows;
    v.x = x.data();
    v.ldx = cols;
    v.labels = labels.data();
    return v;
  }
};

Data MakeData(int64_t rows, int64_t cols, int64_t classes) {
  Data d;
  d.rows = rows;
  d.cols = cols;
  d.x = propel::test::RandomVector(static_cast<size_t>(rows * cols), 7, -1.0f, 1.0f);
  for (int64_t i = 0; i < rows; ++i)
    d.labels.push_back(static_cast<int32_t>((i * 7 + i / 3) % classes));
  return d;
}

propel::ModelSpec Spec() {
  return propel::test::MlpSpec(12,
                               {{16, propel::Activation::kRelu}, {8, propel::Activation::kTanh}}, 5,
                               propel::Head::kMulticlass);
}

// 43,805 parameters: three chunks of the split update (16 Ki floats each), so the ranks' slices
// are one chunk and two.
propel::ModelSpec WideSpec() {
  return propel::test::MlpSpec(12,
                               {{200, propel::Activation::kRelu}, {200, propel::Activation::kTanh}},
                               5, propel::Head::kMulticlass);
}

// Every rank's parameters against rank 0's: bitwise, or within tol of them.
bool AllRanksEqual(const propel::Model& m, const std::vector<float>& reference, double tol) {
  bool ok = true;
  for (int64_t j = 0; j < m.parameter_count(); ++j) {
    const double a = m.parameters()[j], b = reference[static_cast<size_t>(j)];
    if (tol == 0.0 ? std::memcmp(&m.parameters()[j], &reference[static_cast<size_t>(j)], 4) != 0
                   : std::fabs(a - b) > tol * (1.0 + std::fabs(b))) {
      std::fprintf(stderr, "rank %d: parameter %lld: %.9g, one process %.9g\n", g_rank,
                   static_cast<long long>(j), a, b);
      ok = false;
      break;
    }
  }
  return ok;
}

// 2 ranks x batch 8 (two shards of 4 each) against one process with batch 16, 40 rows: two full
// global batches and a short one (8 rows on rank 0, none on rank 1). Parameters and optimizer
// state are compared (the state is gathered at the end of a split-update run).
void MatchesOneProcess(bool deterministic, bool split_update, float clip) {
  const std::string what = std::string(deterministic ? "deterministic" : "MPI library order") +
                           (split_update ? ", split update" : ", whole update") +
                           (clip > 0 ? ", clipping" : "");
  const Data d = MakeData(40, 12, 5);
  propel::OptimizerConfig opt;
  opt.kind = propel::Optimizer::kAdam;
  opt.lr = 0.01f;
  opt.clip_norm = clip;
  propel::StepOptions so;
  so.shard_rows = 4;
  so.track_grad_norm = true;
  propel::FitOptions fo;
  fo.epochs = 3;
  fo.seed = 11;
  // One process, batch 16 (every rank computes it, from the same seed).
  propel::Model single(WideSpec(), 5);
  propel::Trainer single_trainer(single, opt, 16, so);
  fo.batch = 16;
  propel::fit(single_trainer, d.View(), nullptr, fo);
  const std::vector<float> reference(single.parameters(),
                                     single.parameters() + single.parameter_count());
  const std::vector<float> state(single_trainer.state(),
                                 single_trainer.state() + single_trainer.state_size());
  // Two ranks, batch 8 each; rank 1 starts from other weights: rank 0's are broadcast.
  propel::Model model(WideSpec(), g_rank == 0 ? 5 : 99);
  propel::Trainer trainer(model, opt, 8, so);
  fo.batch = 8;
  propel::mpi::Options mo;
  mo.deterministic = deterministic;
  mo.split_update = split_update;
  const propel::FitResult r = propel::mpi::fit(trainer, d.View(), nullptr, fo, MPI_COMM_WORLD, mo);
  Expect(r.steps == 9, what + ": 3 epochs of 3 global batches, not " + std::to_string(r.steps));
  Expect(AllRanksEqual(model, reference, deterministic ? 0.0 : 1e-5),
         what + ": 2 ranks x 8 rows differ from 1 process x 16 rows");
  Expect(trainer.state_size() == static_cast<int64_t>(state.size()) &&
             (deterministic ? std::memcmp(trainer.state(), state.data(), state.size() * 4) == 0
                            : std::fabs(trainer.state()[7] - state[7]) < 1e-5),
         what + ": optimizer state differs from the one-process run");
}

// Every rank must throw, with the failing rank's message, within the ctest timeout.
void FailsEverywhere(const char* what, const Data& mine, const std::string& expect) {
  propel::OptimizerConfig opt;
  opt.lr = 0.1f;
  propel::StepOptions so;
  so.shard_rows = 4;
  propel::Model model(Spec(), 5);
  propel::Trainer trainer(model, opt, 8, so);
  propel::FitOptions fo;
  fo.epochs = 2;
  fo.batch = 8;
  fo.shuffle = false;
  try {
    propel::mpi::fit(trainer, mine.View(), nullptr, fo, MPI_COMM_WORLD);
    Expect(false, std::string(what) + ": no error");
  } catch (const propel::Error& e) {
    const std::string msg = e.what();
    Expect(msg.find(expect) != std::string::npos,
           std::string(what) + ": '" + msg + "' lacks '" + expect + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  if (g_size != 2) {
    if (g_rank == 0) std::fprintf(stderr, "run under mpirun -np 2\n");
    MPI_Finalize();
    return 2;
  }
  try {
    for (bool deterministic : {true, false}) {
      for (bool split : {true, false}) MatchesOneProcess(deterministic, split, 0.0f);
    }
    MatchesOneProcess(true, true, 0.05f);  // clipping: the norm is the one-process norm
    MatchesOneProcess(true, false, 0.05f);

    Data bad_label = MakeData(32, 12, 5);
    if (g_rank == 1) bad_label.labels[5] = 9;  // outside [0, 5): rank 1's data check fails
    FailsEverywhere("bad label on rank 1", bad_label, "rank 1: propel::fit: label of row 5 is 9");

    Data nan_row = MakeData(32, 12, 5);
    if (g_rank == 1) nan_row.x[9 * 12 + 3] = NAN;  // row 9: rank 1's slice of the first batch
    FailsEverywhere("NaN on rank 1", nan_row,
                    "rank 1: propel::Trainer::step: step 1: the loss is nan");

    // The ranks are still in step after the failures: one more agreement and a good run.
    propel::mpi::agree(MPI_COMM_WORLD, true);
    MatchesOneProcess(true, true, 0.0f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: unexpected exception: %s\n", g_rank, e.what());
    ++g_failures;
  }
  int failures = 0;
  MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (g_rank == 0) std::printf("propel mpi test: %s\n", failures == 0 ? "all passed" : "FAILED");
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}
