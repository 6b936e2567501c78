// `propel bench` (the benchmark suite into one Google Benchmark JSON file) and `propel compare`
// (regression reports, tables across CPUs and targets, charts). docs/benchmarking.md.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace propel::cli {

struct BenchArgs {
  std::string out = "propel-bench.json";
  bool quick = false;
  bool full = false;
  std::vector<std::string> families;
  std::vector<std::string> targets;
  std::vector<std::string> threads = {"1", "all"};
  std::string filter;
  int repetitions = -1;  // -1: the preset's
  double min_time = -1;  // -1: the preset's
  std::string interleave = "auto";
  std::string instructions;  // "", auto, perf, callgrind
  bool list = false;
};

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args);
CLI::App* AddCompareCommand(CLI::App& app);

// argv: the process's own arguments (a callgrind run re-executes the same command under Valgrind).
int RunBench(const BenchArgs& args, CLI::App* command, int argc, char** argv);
int RunCompare(CLI::App* command);

}  // namespace propel::cli
