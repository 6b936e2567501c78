// Data-set operations that training builds on: splits, the binary task of a labelled set, and
// folding a standardization into a model (propel/data.h). Apart from src/io/data.cc, whose readers
// the fuzzers build on their own.
#include <utility>

#include "propel/data.h"
#include "src/runtime/check.h"

namespace propel {

namespace {

void FoldStatistics(Model& model, const Standardizer& st, bool fold) {
  const LayerLayout& l0 = model.layer(0);
  detail::Check(
      static_cast<int64_t>(st.mean.size()) == l0.in && st.inv_std.size() == st.mean.size(),
      fold ? "propel::Standardizer::fold" : "propel::Standardizer::unfold", "statistics of ",
      st.mean.size(), " features for a model of ", l0.in, " inputs");
  float* w = model.parameters() + l0.weight_offset;
  float* b = model.parameters() + l0.bias_offset;
  for (int64_t o = 0; o < l0.out; ++o) {
    double shift = 0.0;
    for (int64_t j = 0; j < l0.in; ++j) {
      float& wij = w[o * l0.in + j];
      const auto jj = static_cast<size_t>(j);
      if (fold) wij *= st.inv_std[jj];
      shift += static_cast<double>(wij) * st.mean[jj];
      if (!fold) wij /= st.inv_std[jj];
    }
    b[o] = static_cast<float>(fold ? b[o] - shift : b[o] + shift);
  }
}

}  // namespace

void Standardizer::fold(Model& model) const { FoldStatistics(model, *this, true); }
void Standardizer::unfold(Model& model) const { FoldStatistics(model, *this, false); }

namespace {

// Moves the rows i for which take(i) holds to a new set, keeping the order of both.
template <class Take>
Dataset MoveRows(Dataset& d, int64_t expected, Take take) {
  Dataset out, keep;
  for (Dataset* p : {&out, &keep}) {
    p->features = d.features;
    p->classes = d.classes;
    p->target_cols = d.target_cols;
  }
  const auto f = static_cast<size_t>(d.features);
  const auto t = static_cast<size_t>(d.target_cols);
  out.x.reserve(static_cast<size_t>(expected) * f);
  keep.x.reserve((static_cast<size_t>(d.rows - expected)) * f);
  for (int64_t i = 0; i < d.rows; ++i) {
    Dataset& to = take(i) ? out : keep;
    const auto r = static_cast<size_t>(i);
    to.x.insert(to.x.end(), d.x.begin() + r * f, d.x.begin() + (r + 1) * f);
    if (!d.labels.empty()) to.labels.push_back(d.labels[r]);
    if (!d.targets.empty()) {
      to.targets.insert(to.targets.end(), d.targets.begin() + r * t,
                        d.targets.begin() + (r + 1) * t);
    }
    ++to.rows;
  }
  d = std::move(keep);
  return out;
}

}  // namespace

Dataset split_every(Dataset& data, int64_t k) {
  detail::Check(k >= 1, "propel::split_every", "k = ", k, " must be at least 1");
  return MoveRows(data, data.rows / k, [k](int64_t i) { return i % k == k - 1; });
}

Dataset split_count(Dataset& data, int64_t count) {
  detail::Check(count >= 0 && count <= data.rows, "propel::split_count", "count = ", count,
                " is outside [0, ", data.rows, "] (the rows of the set)");
  // (i + 1) count <= rows^2 < 2^62 for any set that fits in memory.
  const int64_t rows = data.rows;
  return MoveRows(data, count,
                  [rows, count](int64_t i) { return (i + 1) * count / rows > i * count / rows; });
}

Dataset binary_task(const Dataset& data, int32_t negative, int32_t positive) {
  const char* where = "propel::binary_task";
  detail::Check(!data.labels.empty() || data.rows == 0, where,
                "the set has real targets, not class labels");
  detail::Check(negative >= 0 && positive >= 0 && negative != positive, where, "classes ", negative,
                " and ", positive, ": expected two different class numbers >= 0");
  detail::Check(negative < data.classes && positive < data.classes, where, "classes ", negative,
                " and ", positive, ": the set's classes are 0 to ", data.classes - 1);
  Dataset b;
  b.features = data.features;
  b.target_cols = 1;
  const auto f = static_cast<size_t>(data.features);
  for (int64_t i = 0; i < data.rows; ++i) {
    const auto r = static_cast<size_t>(i);
    const int32_t y = data.labels[r];
    if (y != negative && y != positive) continue;
    b.x.insert(b.x.end(), data.x.begin() + r * f, data.x.begin() + (r + 1) * f);
    b.targets.push_back(y == positive ? 1.0f : 0.0f);
    ++b.rows;
  }
  return b;
}

}  // namespace propel
