// Multilayer perceptrons: the model description, the parameter arena, initializers and inference.
//
// A model is an input width and a list of dense layers, the last of which is the output layer of
// a head (the loss it is trained with):
//
//   a_0 = x;   z_l = a_{l-1} W_l^T + b_l,   a_l = act_l(z_l)   (l = 1 .. L)
//
//   Head::kBinary      output a_L = sigmoid(z_L), loss binary cross-entropy (targets in [0, 1],
//                      one column per output: one or several independent binary labels)
//   Head::kMulticlass  output a_L = softmax(z_L), loss cross-entropy (one label per row)
//   Head::kRegression  output a_L = z_L, loss mean squared error, 1/2 sum_j (a_j - y_j)^2 per row
//
// Parameters live in one contiguous, 64-byte aligned arena of float, layer after layer: W_1
// (out x in, row-major: the layout of PyTorch's Linear.weight), b_1 (out), W_2, b_2, ... with no
// padding, so the arena can be read, written, saved or reduced across processes as one buffer.
// The gradients have a second arena of the same layout.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "propel/activation.h"
#include "propel/precision.h"

namespace propel {

enum class Head : int {
  kBinary = 0,      // sigmoid + binary cross-entropy
  kMulticlass = 1,  // softmax + cross-entropy
  kRegression = 2,  // identity + mean squared error
};

const char* head_name(Head head);
// "binary", "multiclass", "regression" (also "bce", "softmax", "mse"); throws on other names.
Head parse_head(const std::string& name);

// A hidden layer: its width and activation (alpha: leaky ReLU's slope, ELU's scale; NaN selects
// default_alpha(activation)).
struct Layer {
  int64_t units = 0;
  Activation activation = Activation::kRelu;
  float alpha = std::numeric_limits<float>::quiet_NaN();
};

struct ModelSpec {
  int64_t inputs = 0;
  std::vector<Layer> hidden;  // may be empty (a linear or logistic model)
  int64_t outputs = 0;        // width of the output layer (classes for kMulticlass, >= 2)
  Head head = Head::kMulticlass;
};

// The two classes of a labelled data set that a binary model separates (propel::binary_task,
// `propel train --binary NEG,POS`): rows of class `negative` are target 0, of `positive` target 1.
struct BinaryClasses {
  int32_t negative = 0;
  int32_t positive = 1;
};

// Weight initializers (biases start at zero). fan_in / fan_out: the layer's in / out widths.
enum class Init : int {
  kGlorotUniform = 0,  // U(-l, l), l = sqrt(6 / (fan_in + fan_out))
  kGlorotNormal = 1,   // N(0, 2 / (fan_in + fan_out))
  kHeUniform = 2,      // U(-l, l), l = sqrt(6 / fan_in)
  kHeNormal = 3,       // N(0, 2 / fan_in)
};

const char* init_name(Init init);
Init parse_init(const std::string& name);  // "glorot_uniform", "glorot_normal", "he_uniform", ...

// The bytes a Model of `spec` allocates (its parameters and gradients), computed without
// allocating; throws propel::Error as the constructor does for an invalid description. With
// machine_memory_bytes(), a caller can refuse an impossible model before loading anything (the
// constructor itself refuses one larger than the machine's memory, kOutOfMemory).
double model_bytes(const ModelSpec& spec);
// Physical memory of this machine in bytes (0 when it cannot be told).
double machine_memory_bytes();

// Where one layer's parameters sit in the arena (offsets in floats).
struct LayerLayout {
  int64_t in = 0;
  int64_t out = 0;
  Activation activation = Activation::kIdentity;  // identity for the output layer: it produces
                                                  // the logits, the head applies sigmoid/softmax
  float alpha = 0.0f;                             // resolved (never NaN)
  int64_t weight_offset = 0;                      // W: out x in
  int64_t bias_offset = 0;                        // b: out (= weight_offset + out * in)
};

class Model {
 public:
  // Validates the spec (positive widths, known activations, finite alpha, outputs >= 2 for
  // kMulticlass) and initializes the parameters: weights by `init` from `seed`, biases zero.
  explicit Model(const ModelSpec& spec, uint64_t seed = 0, Init init = Init::kHeUniform);
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelSpec& spec() const;
  int64_t inputs() const;
  int64_t outputs() const;
  Head head() const;
  // Dense layers including the output layer.
  int64_t num_layers() const;
  const LayerLayout& layer(int64_t l) const;
  // Widest layer (inputs included): sizes per-row buffers.
  int64_t max_width() const;

  // The arenas: parameter_count() floats each, 64-byte aligned, layout as above. The non-const
  // parameters() counts as a write: it gives the model a new version().
  int64_t parameter_count() const;
  float* parameters();
  const float* parameters() const;
  float* gradients();
  const float* gradients() const;

  // The parameters' version: a new one, unique in the process, whenever they may have changed
  // (every call of the non-const parameters(), initialize(), assignment, and a new or copied
  // model). Copies made from the weights (the trainer's packed weights, predict's) are used only
  // while the version they were made from is current. Write the parameters only through a pointer
  // obtained after the last training step or predict call: one kept from before cannot announce
  // its writes.
  uint64_t version() const;

  // Re-draws every weight with `init` from `seed` (counter-based Philox: weight j of layer l is a
  // pure function of seed, l and j, so any machine gives the same values) and zeroes the biases.
  void initialize(uint64_t seed, Init init = Init::kHeUniform);

  // The precision predict, predict_logits and evaluate compute the GEMMs in (propel/precision.h):
  // kFp32 for a new model; a Trainer sets its own (StepOptions::precision) when it is made, so
  // that inference computes what training saw, and checkpoints record it.
  // set_precision(kAuto) sets resolve_precision(kAuto).
  Precision precision() const;
  void set_precision(Precision precision);

  // Portable mode (docs/reproducibility.md) for predict, predict_logits and evaluate: their
  // results are then bitwise the same on every SIMD target with FMA and every x86-64 CPU. False
  // for a new model; a Trainer sets its own (StepOptions::portable) when it is made, and
  // checkpoints record it (format version 4).
  bool portable() const;
  void set_portable(bool portable);

  // The source classes of a binary model trained on two classes of a larger labelled set, so that
  // evaluating it on that set needs no one to remember them; kept by copies and checkpoints
  // (format version 3). Empty for a new model. set_binary_classes throws propel::Error unless the
  // model has the binary head with one output and the two classes are distinct and >= 0.
  std::optional<BinaryClasses> binary_classes() const;
  void set_binary_classes(std::optional<BinaryClasses> classes);

  // Output of the head for `rows` rows of x (row stride ldx >= inputs()) into out (row stride
  // ldout >= outputs()): probabilities for kBinary / kMulticlass, values for kRegression. Runs
  // on the thread budget and executor of propel/threading.h. Each row's output is bitwise the
  // same whatever rows it is predicted with (one at a time or in any batch). Throws
  // propel::Error on invalid arguments.
  void predict(int64_t rows, const float* x, int64_t ldx, float* out, int64_t ldout) const;
  // The output layer's pre-activations z_L (logits) instead of the head's output.
  void predict_logits(int64_t rows, const float* x, int64_t ldx, float* out, int64_t ldout) const;

  // A one-line description, e.g. "784-1024(relu)-1024(relu)-10 multiclass, 1863690 parameters".
  std::string describe() const;

  struct Impl;  // defined in src/train/model.cc

 private:
  std::unique_ptr<Impl> impl_;
};

// FNV-1a (64 bits) of the parameters' bytes (binary32, little-endian), what `propel train` prints
// as the parameter checksum: equal checksums mean bitwise-equal parameters, which is how portable
// mode's promise is checked (docs/reproducibility.md).
uint64_t parameter_checksum(const Model& model);

}  // namespace propel
