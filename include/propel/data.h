// Data sets in memory and their readers: IDX (the MNIST / Fashion-MNIST layout, raw or gzip) and
// CSV, with the normalizations training wants (scaling, standardization with training-set
// statistics).
//
// Readers never crash and never return garbage: a truncated or malformed file, a wrong magic
// number, dimensions that disagree, a label count that differs from the image count, an empty,
// non-numeric or non-finite cell each throw propel::Error (ErrorCode::kIo) naming the file, the
// line or byte offset, and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "propel/train.h"

namespace propel {

// Rows of features (row-major, rows x features) with one class label per row (`labels`, for
// classification) or `target_cols` real targets per row (`targets`, for regression or binary
// heads). Owns its arrays; view() lends them to Trainer / fit / evaluate.
struct Dataset {
  int64_t rows = 0;
  int64_t features = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;  // empty when the set has targets
  int64_t classes = 0;          // 1 + the largest label
  std::vector<float> targets;   // rows x target_cols
  int64_t target_cols = 0;

  DataView view() const { return view(0, rows); }
  // Rows [first, first + count).
  DataView view(int64_t first, int64_t count) const;
};

// IDX files as Yann LeCun's MNIST and Zalando's Fashion-MNIST ship them: an images file (magic
// 0x00000803: unsigned bytes, n x rows x cols) and a labels file (0x00000801: n unsigned bytes).
// Either may be gzip-compressed (detected from its content, not its name). Pixels are scaled to
// [0, 1] (divided by 255); features = rows x cols.
Dataset load_idx(const std::string& images_path, const std::string& labels_path);

struct CsvOptions {
  enum class Header { kAuto, kYes, kNo };
  Header header = Header::kAuto;  // kAuto: a first line with a non-numeric cell is a header
  std::string label_column;       // by name (needs a header); empty: by index
  int64_t label_index = -1;       // 0-based; negative counts from the end (-1: the last column)
  bool classes = true;            // labels are class numbers (integers >= 0); false: real targets
  char delimiter = ',';
};

// A CSV file of numbers: every column but the label column is a feature.
Dataset load_csv(const std::string& path, const CsvOptions& options = {});

// The same parsers on bytes in memory (`name` stands for the file in error messages).
Dataset parse_idx(std::string_view images, std::string_view labels, const std::string& name);
Dataset parse_csv(std::string_view text, const CsvOptions& options, const std::string& name);

// x *= factor (e.g. 1/255 for raw pixels).
void scale_features(Dataset& data, float factor);

// Per-feature standardization, (x - mean) / std, with statistics taken from one data set (the
// training set) and applied to any other (validation, test). Constant features get std 1.
struct Standardizer {
  std::vector<float> mean;
  std::vector<float> inv_std;

  static Standardizer fit(const Dataset& train);
  void apply(Dataset& data) const;
  // A model trained on standardized features as one that takes raw features, by folding the
  // statistics into its first layer: W' = W diag(1/sd), b' = b - W' mean. unfold() is the
  // inverse (W = W' diag(sd), b = b' + W' mean), exact to within a rounding per weight.
  void fold(Model& model) const;
  void unfold(Model& model) const;
};

// Splits: the rows taken move, in order, to the returned set; the rest stay in `data`, in order.
// split_every takes the rows i with i % k == k - 1 (k >= 1); split_count takes `count` rows
// (0 <= count <= rows) spread evenly over the set, row i when floor((i + 1) count / rows) >
// floor(i count / rows) — for count = rows / k of a multiple of k rows, the same rows as
// split_every(k). Files are often grouped by class or source: an even spread keeps both sets
// alike.
Dataset split_every(Dataset& data, int64_t k);
Dataset split_count(Dataset& data, int64_t count);

// The rows of a labelled set whose label is `negative` or `positive`, as a binary task: targets
// 0 and 1 (one target column), for the sigmoid + BCE head. The two classes must differ and be
// among the set's; throws propel::Error (kInvalidArgument) otherwise.
Dataset binary_task(const Dataset& data, int32_t negative, int32_t positive);

}  // namespace propel
