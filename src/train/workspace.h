// A training worker's buffers for one shard: what each layer keeps for the backward pass and the
// two gradient buffers the backward pass alternates between. One allocation, carved into
// line-aligned pieces, sized once per (model, shard rows); a step allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "src/runtime/aligned.h"
#include "src/train/dense_layer.h"

namespace propel::detail {

class ShardBuffers {
 public:
  ShardBuffers(const std::vector<DenseLayer>& net, int64_t rows);

  // a[l]: the output of hidden layer l, z[l]: its pre-activation (and the output layer's logits),
  // rows x out_l each, where the layer keeps them (DenseLayer::keeps_*), else null.
  std::vector<float*> a, z;
  // rows x (the widest layer): dZ of the layer being differentiated and dA of the one below.
  float* delta[2] = {nullptr, nullptr};

 private:
  // Floats of the whole allocation; with base != null, also points a, z and delta into it.
  int64_t Carve(const std::vector<DenseLayer>& net, int64_t rows, float* base);

  AlignedFloats memory_;
};

}  // namespace propel::detail
