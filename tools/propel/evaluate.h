// `propel evaluate` (loss, accuracy, confusion matrix of a saved model on a data set) and
// `propel predict` (one line per row). docs/training.md.
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

int Evaluate(const std::string& model_path, const std::string& data,
             const std::vector<int>& binary);
int Predict(const std::string& model_path, const std::string& data, const std::vector<int>& binary);

}  // namespace propel::cli
