// A training worker's shard buffers (src/train/workspace.h).
#include "src/train/workspace.h"

#include <algorithm>
#include <utility>

namespace propel::detail {

ShardBuffers::ShardBuffers(const std::vector<DenseLayer>& net, int64_t rows)
    : a(net.size(), nullptr), z(net.size(), nullptr) {
  memory_.Resize(Carve(net, rows, nullptr));
  Carve(net, rows, memory_.data());
}

int64_t ShardBuffers::Carve(const std::vector<DenseLayer>& net, int64_t rows, float* base) {
  int64_t widest = 0;
  for (const DenseLayer& layer : net) widest = std::max(widest, layer.layout().out);
  const int64_t delta_floats = PadToLine(rows * widest);
  int64_t at = 2 * delta_floats;
  for (size_t l = 0; l < net.size(); ++l) {
    const int64_t piece = PadToLine(rows * net[l].layout().out);
    for (auto [keeps, kept] :
         {std::pair{net[l].keeps_output(), &a}, std::pair{net[l].keeps_pre_activation(), &z}}) {
      if (!keeps) continue;
      if (base != nullptr) (*kept)[l] = base + at;
      at += piece;
    }
  }
  if (base != nullptr) {
    delta[0] = base;
    delta[1] = base + delta_floats;
  }
  return at;
}

}  // namespace propel::detail
