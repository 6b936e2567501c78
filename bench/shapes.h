// Named GEMM shapes: squares, and the layers of an MLP on 784-pixel images (784-1024-1024-10)
// in the three products of a training step, at realistic mini-batch sizes.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
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
    // The 10-class output layer's weight and input gradients: M = 10, and K = 10.
    s.push_back({"dW" + tag + "10x1024", true, false, 10, 1024, b});
    s.push_back({"dA" + tag + "1024x10", false, false, b, 1024, 10});
  }
  return s;
}

// The skinny products in the transpose cases a training step does not use (N = 10 with K = 1024,
// K = 10 with N = 1024, M = 256): what a library embedding propel may call.
inline std::vector<GemmShape> SkinnyShapes() {
  std::vector<GemmShape> s;
  for (auto [ta, tb, tag] : {std::tuple{false, false, "nn"}, std::tuple{true, false, "tn"},
                             std::tuple{false, true, "nt"}, std::tuple{true, true, "tt"}}) {
    const std::string t = tag;
    if (t != "nt") s.push_back({"skinny_n10_" + t, ta, tb, 256, 10, 1024});
    if (t != "nn") s.push_back({"skinny_k10_" + t, ta, tb, 256, 1024, 10});
  }
  return s;
}

}  // namespace propel::bench
