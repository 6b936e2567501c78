// Named GEMM shapes: squares, and the layers of an MLP on 784-pixel images (784-1024-1024-10)
// in the three products of a training step, at realistic mini-batch sizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace propel::bench {

struct GemmShape {
  std::string name;  // e.g. "fwd_b64_1024x784": what the product is in training
  bool ta, tb;
  int64_t m, n, k;
};

inline std::vector<GemmShape> SquareShapes() {
  std::vector<GemmShape> s;
  for (int64_t n : {256, 512, 1024, 2048})
    s.push_back({"square_" + std::to_string(n), false, false, n, n, n});
  return s;
}

// Forward Z = A * W^T (NT), weight gradient dW = dZ^T * A (TN), input gradient dA = dZ * W (NN).
inline std::vector<GemmShape> MlpShapes() {
  std::vector<GemmShape> s;
  for (int64_t b : {64, 256}) {
    const std::string tag = "_b" + std::to_string(b) + "_";
    s.push_back({"fwd" + tag + "1024x784", false, true, b, 1024, 784});
    s.push_back({"fwd" + tag + "1024x1024", false, true, b, 1024, 1024});
    s.push_back({"fwd" + tag + "10x1024", false, true, b, 10, 1024});
    s.push_back({"dW" + tag + "1024x784", true, false, 1024, 784, b});
    s.push_back({"dW" + tag + "1024x1024", true, false, 1024, 1024, b});
    s.push_back({"dA" + tag + "784x1024", false, false, b, 784, 1024});
    s.push_back({"dA" + tag + "1024x1024", false, false, b, 1024, 1024});
  }
  return s;
}

}  // namespace propel::bench
