// `propel train`: options, their checks, the run (load, build or resume, fit with progress output,
// test, save, report, plot) and its data-parallel form under mpirun (--mpi). docs/training.md.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace propel::cli {

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
  std::string precision = "fp32";
  bool portable = false;  // portable mode (docs/reproducibility.md)
  uint64_t seed = 1;
  std::vector<int> binary;
  std::string normalize = "auto";
  std::string save = "propel-model.ckpt", report, plot = "auto", resume;
  bool quiet = false;
  bool mpi = false;  // data parallel across the ranks of mpirun (propel/mpi.h)
  std::string mpi_reduce = "deterministic";
  std::set<std::string> given;  // the options the command line set explicitly
};

CLI::App* AddTrainCommand(CLI::App& app, TrainArgs& a);

// After parsing: a.given is filled from the command's options.
int Train(TrainArgs a);
// --mpi: initializes MPI, runs Train on every rank, finalizes (argc, argv: MPI_Init's).
int TrainMpi(const TrainArgs& t, int* argc, char*** argv);

}  // namespace propel::cli
