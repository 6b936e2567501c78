// `propel evaluate` (loss, accuracy, confusion matrix of a saved model on a data set),
// `propel predict` (one line per row), docs/training.md; `propel export` (the model as ONNX),
// docs/python.md.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace propel::cli {

struct EvaluateArgs {
  std::string model_path, data_path;
  std::vector<int> binary;  // --binary NEG,POS of a binary model
};

// Both commands, sharing one EvaluateArgs (only one of them runs).
void AddEvaluateCommands(CLI::App& app, EvaluateArgs& a, CLI::App** evaluate, CLI::App** predict);

// `propel export MODEL OUT.onnx`.
struct ExportArgs {
  std::string model_path, out_path;
};
CLI::App* AddExportCommand(CLI::App& app, ExportArgs& a);
int Export(const ExportArgs& a);

int Evaluate(const std::string& model_path, const std::string& data,
             const std::vector<int>& binary);
int Predict(const std::string& model_path, const std::string& data, const std::vector<int>& binary);

}  // namespace propel::cli
