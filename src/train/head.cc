// The head of a model: data checks and the loss (src/train/head.h).
#include "src/train/head.h"

#include <algorithm>
#include <cmath>

#include "src/runtime/check.h"

namespace propel::detail {

void CheckData(const char* where, const Model& model, const DataView& d, int64_t max_rows) {
  Check(d.rows >= 1, where, "the data has ", d.rows, " rows (at least 1 needed)");
  Check(max_rows <= 0 || d.rows <= max_rows, where, "the batch has ", d.rows,
        " rows, more than max_batch = ", max_rows);
  const int64_t in = model.inputs(), out = model.outputs();
  const int64_t ldx = d.ldx == 0 ? in : d.ldx;
  Check(d.x != nullptr, where, "x is null");
  Check(ldx >= in, where, "ldx = ", ldx, " is smaller than the model's input width ", in);
  CheckExtent(where, "x", d.rows, in, ldx);
  if (model.head() == Head::kMulticlass) {
    Check(d.labels != nullptr, where, "labels are null (a multiclass model needs one per row)");
    for (int64_t i = 0; i < d.rows; ++i) {
      Check(d.labels[i] >= 0 && d.labels[i] < out, where, "label of row ", i, " is ", d.labels[i],
            ", outside [0, ", out, ")");
    }
    return;
  }
  const int64_t ldt = d.ldt == 0 ? out : d.ldt;
  Check(d.targets != nullptr, where, "targets are null (a ", head_name(model.head()),
        " model needs rows x ", out, " of them)");
  Check(ldt >= out, where, "ldt = ", ldt, " is smaller than the output width ", out);
  CheckExtent(where, "targets", d.rows, out, ldt);
  const bool binary = model.head() == Head::kBinary;
  for (int64_t i = 0; i < d.rows; ++i) {
    const float* t = d.targets + i * ldt;
    for (int64_t j = 0; j < out; ++j) {
      const bool ok = binary ? (t[j] >= 0.0f && t[j] <= 1.0f) : std::isfinite(t[j]);
      Check(ok, where, "target [", i, "][", j, "] = ", t[j],
            binary ? " is outside [0, 1]" : " is not finite");
    }
  }
}

double HeadLoss(const kernels::ElementwiseKernels& ew, Head head, int64_t rows, int64_t out,
                const float* z, const DataView& d, int64_t r0, float* dz, int64_t* correct) {
  double loss = 0.0;
  int64_t right = 0;
  if (head == Head::kMulticlass) {
    const int32_t* labels = d.labels + r0;
    loss = ew.softmax_ce_labels(rows, out, z, labels, 1.0f, dz);
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = z + i * out;
      const int64_t best = std::max_element(row, row + out) - row;
      right += best == labels[i] ? 1 : 0;
    }
  } else {
    const int64_t ldt = d.ldt == 0 ? out : d.ldt;
    const float* t = d.targets + r0 * ldt;
    const kernels::ElementLossFn fn = head == Head::kBinary ? ew.bce_logits : ew.mse;
    if (ldt == out) {
      loss = fn(rows * out, z, t, 1.0f, dz);
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        loss += fn(out, z + i * out, t + i * ldt, 1.0f, dz ? dz + i * out : nullptr);
      }
    }
    if (head == Head::kBinary) {
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < out; ++j) {
          right += (z[i * out + j] > 0.0f) == (t[i * ldt + j] >= 0.5f) ? 1 : 0;
        }
      }
    }
  }
  if (correct != nullptr) *correct = right;
  return loss;
}

}  // namespace propel::detail
