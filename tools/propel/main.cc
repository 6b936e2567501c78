// The propel command line: one subcommand per file in this folder. Uses the public API only.
//   propel train [options]            train an MLP (Fashion-MNIST by default): train.h
//   propel evaluate MODEL DATA        a saved model's loss, accuracy, confusion matrix: evaluate.h
//   propel predict MODEL DATA         one line per row
//   propel export MODEL OUT.onnx      the model as an ONNX graph
//   propel bench [options]            the benchmark suite into one JSON file: bench.h
//   propel compare BASE.json NEW.json regression reports, tables, charts: bench.h
// `propel COMMAND --help` lists a command's options with their defaults.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <new>

#include "propel/propel.hpp"
#include "tools/propel/bench.h"
#include "tools/propel/evaluate.h"
#include "tools/propel/train.h"

int main(int argc, char** argv) {
  CLI::App app{"propel: multilayer perceptrons trained on the CPU"};
  app.require_subcommand(1);
  propel::cli::TrainArgs t;
  CLI::App* train = propel::cli::AddTrainCommand(app, t);

  propel::cli::EvaluateArgs e;
  CLI::App *evaluate = nullptr, *predict = nullptr;
  propel::cli::AddEvaluateCommands(app, e, &evaluate, &predict);

  propel::cli::ExportArgs x;
  CLI::App* export_cmd = propel::cli::AddExportCommand(app, x);

  propel::cli::BenchArgs bench_args;
  CLI::App* bench = propel::cli::AddBenchCommand(app, bench_args);
  CLI::App* compare = propel::cli::AddCompareCommand(app);

  CLI11_PARSE(app, argc, argv);
  for (const CLI::Option* option : train->get_options()) {
    if (option->count() > 0) t.given.insert(option->get_name());
  }
  if (train->parsed() && t.mpi) return propel::cli::TrainMpi(t, &argc, &argv);
  try {
    if (bench->parsed()) return propel::cli::RunBench(bench_args, bench, argc, argv);
    if (compare->parsed()) return propel::cli::RunCompare(compare);
    if (train->parsed()) return propel::cli::Train(t);
    if (evaluate->parsed()) return propel::cli::Evaluate(e.model_path, e.data_path, e.binary);
    if (predict->parsed()) return propel::cli::Predict(e.model_path, e.data_path, e.binary);
    if (export_cmd->parsed()) return propel::cli::Export(x);
  } catch (const propel::Error& err) {
    std::fprintf(stderr, "propel: %s\n", err.what());
    return 1;
  } catch (const std::bad_alloc&) {
    // The library checks its large allocations against the machine first; this is what is left.
    std::fprintf(stderr, "propel: out of memory (a buffer could not be allocated)\n");
    return 1;
  } catch (const std::exception& err) {
    // Every expected failure is a propel::Error; anything else is a bug worth a report.
    std::fprintf(stderr, "propel: internal error: %s (please report it)\n", err.what());
    return 1;
  }
  return 0;
}
