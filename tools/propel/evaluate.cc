// `propel evaluate`, `propel predict` and `propel export` (tools/propel/evaluate.h).
#include "tools/propel/evaluate.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "propel/propel.hpp"
#include "tools/propel/common.h"

namespace propel::cli {

void AddEvaluateCommands(CLI::App& app, EvaluateArgs& a, CLI::App** evaluate, CLI::App** predict) {
  *evaluate =
      app.add_subcommand("evaluate", "loss, accuracy and confusion matrix of a saved model");
  (*evaluate)->add_option("MODEL", a.model_path, "checkpoint")->required();
  (*evaluate)
      ->add_option("DATA", a.data_path,
                   "fashion-mnist, mnist (their test files), IMAGES,LABELS or a CSV file")
      ->required();
  *predict =
      app.add_subcommand("predict", "one line per row: the class (multiclass) and the outputs");
  (*predict)->add_option("MODEL", a.model_path, "checkpoint")->required();
  (*predict)->add_option("DATA", a.data_path, "as for evaluate")->required();
  for (CLI::App* command : {*evaluate, *predict}) {
    command
        ->add_option("--binary", a.binary,
                     "NEG,POS: two classes of the data set for a binary model (their rows only, "
                     "relabelled 0 / 1; default: the classes recorded in the checkpoint by "
                     "`propel train --binary`)")
        ->expected(2)
        ->delimiter(',');
  }
}

CLI::App* AddExportCommand(CLI::App& app, ExportArgs& a) {
  CLI::App* c = app.add_subcommand(
      "export", "write a saved model as ONNX (standard operators, opset " +
                    std::to_string(propel::kOnnxOpset) + ") for inference runtimes");
  c->add_option("MODEL", a.model_path, "checkpoint")->required();
  c->add_option("OUT", a.out_path, "the .onnx file to write")->required();
  return c;
}

int Export(const ExportArgs& a) {
  const propel::Model m = propel::load_model(a.model_path);
  propel::save_onnx(a.out_path, m);
  std::printf("%s: %s (ONNX opset %d; input \"input\" [N, %lld], output \"%s\" [N, %lld])\n",
              a.out_path.c_str(), m.describe().c_str(), propel::kOnnxOpset,
              static_cast<long long>(m.inputs()),
              m.head() == propel::Head::kRegression ? "predictions" : "probabilities",
              static_cast<long long>(m.outputs()));
  return 0;
}

namespace {

// The data set for a saved model's head: class labels (multiclass), 0 / 1 targets (binary: the
// labels 0 and 1, or with --binary NEG,POS those two classes' rows), real targets (regression).
// For predict (`check_labels` false) the labels only select rows; they are not checked.
propel::Dataset LoadForModel(const std::string& data, const propel::Model& m,
                             const std::vector<int>& binary, bool check_labels,
                             std::string* classes_used = nullptr) {
  const propel::Head head = m.head();
  if (!binary.empty() && head != propel::Head::kBinary) {
    Invalid("--binary: the model is " + std::string(propel::head_name(head)) + ", not binary");
  }
  if (head == propel::Head::kRegression && IsIdx(data)) {
    Invalid(data +
            ": IDX files hold class labels; a regression model needs a CSV with real "
            "targets");
  }
  std::string name;
  propel::Dataset d = LoadOne(data, true, "", head == propel::Head::kRegression, &name);
  if (d.features != m.inputs()) {
    Invalid(name + ": " + std::to_string(d.features) + " features, the model takes " +
            std::to_string(m.inputs()));
  }
  if (head == propel::Head::kBinary) {
    const std::optional<propel::BinaryClasses> recorded = m.binary_classes();
    if (!binary.empty()) {
      CheckBinaryPair(binary, d, name);
      d = propel::binary_task(d, binary[0], binary[1]);
      if (d.rows == 0) Invalid(name + ": no rows of the classes given by --binary");
    } else if (recorded && !d.labels.empty()) {
      // The two classes the model was trained on, from its checkpoint.
      const std::string pair =
          std::to_string(recorded->negative) + "," + std::to_string(recorded->positive);
      for (int32_t c : {recorded->negative, recorded->positive}) {
        if (c >= d.classes) {
          Invalid(name + " has no class " + std::to_string(c) + " (its classes are 0 to " +
                  std::to_string(d.classes - 1) + "); the model was trained on classes " + pair +
                  " (recorded in its checkpoint): --binary NEG,POS picks two others");
        }
      }
      d = propel::binary_task(d, recorded->negative, recorded->positive);
      if (d.rows == 0) Invalid(name + ": no rows of the model's classes " + pair);
      if (classes_used != nullptr) {
        *classes_used = " of classes " + std::to_string(recorded->negative) + " (0) and " +
                        std::to_string(recorded->positive) + " (1)";
      }
    } else if (check_labels) {
      LabelsAsBinaryTargets(d, name);
    }
  } else if (head == propel::Head::kMulticlass) {
    for (int64_t i = 0; i < d.rows && check_labels; ++i) {
      const int32_t y = d.labels[static_cast<size_t>(i)];
      if (y >= m.outputs()) {
        Invalid(name + ": row " + std::to_string(i + 1) + " has label " + std::to_string(y) +
                ", the model has " + std::to_string(m.outputs()) + " classes (0 to " +
                std::to_string(m.outputs() - 1) + ")");
      }
    }
  } else if (d.target_cols != m.outputs()) {
    Invalid(name + ": " + std::to_string(d.target_cols) + " target column(s), the model has " +
            std::to_string(m.outputs()) + " outputs");
  }
  return d;
}

}  // namespace

int Evaluate(const std::string& model_path, const std::string& data,
             const std::vector<int>& binary) {
  const propel::Model m = propel::load_model(model_path);
  std::string classes;
  const propel::Dataset d = LoadForModel(data, m, binary, true, &classes);
  const propel::Evaluation e = propel::evaluate(m, d.view());
  std::printf("%s on %lld rows%s: loss %.4f", m.describe().c_str(), static_cast<long long>(e.rows),
              classes.c_str(), e.loss);
  if (!std::isnan(e.accuracy)) std::printf(", accuracy %.2f%%", 100.0 * e.accuracy);
  std::printf("\n");
  if (m.head() == propel::Head::kMulticlass) {
    const int64_t k = m.outputs();
    std::vector<float> p(static_cast<size_t>(d.rows * k));
    m.predict(d.rows, d.x.data(), d.features, p.data(), k);
    std::vector<int64_t> confusion(static_cast<size_t>(k * k), 0);
    for (int64_t i = 0; i < d.rows; ++i) {
      const float* row = p.data() + i * k;
      const int64_t guess = std::max_element(row, row + k) - row;
      ++confusion[static_cast<size_t>(d.labels[static_cast<size_t>(i)] * k + guess)];
    }
    std::printf("confusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t j = 0; j < k; ++j) std::printf("%6lld", static_cast<long long>(j));
    std::printf("\n");
    for (int64_t i = 0; i < k; ++i) {
      std::printf("%6lld", static_cast<long long>(i));
      for (int64_t j = 0; j < k; ++j)
        std::printf("%6lld", static_cast<long long>(confusion[static_cast<size_t>(i * k + j)]));
      std::printf("\n");
    }
  }
  return 0;
}

int Predict(const std::string& model_path, const std::string& data,
            const std::vector<int>& binary) {
  const propel::Model m = propel::load_model(model_path);
  const propel::Dataset d = LoadForModel(data, m, binary, false);
  const int64_t k = m.outputs();
  std::vector<float> p(static_cast<size_t>(d.rows * k));
  m.predict(d.rows, d.x.data(), d.features, p.data(), k);
  for (int64_t i = 0; i < d.rows; ++i) {
    const float* row = p.data() + i * k;
    if (m.head() == propel::Head::kMulticlass) {
      std::printf("%lld", static_cast<long long>(std::max_element(row, row + k) - row));
    }
    for (int64_t j = 0; j < k; ++j)
      std::printf("%s%.6g", (j == 0 && m.head() != propel::Head::kMulticlass) ? "" : " ", row[j]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace propel::cli
