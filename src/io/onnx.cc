// ONNX export (include/propel/onnx.h): the ModelProto written field by field in the protobuf wire
// format (onnx/onnx.proto), with nothing but the messages and fields the graph uses.
#include "propel/onnx.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "propel/version.h"
#include "src/io/files.h"
#include "src/runtime/check.h"

namespace propel {
namespace {

// prefix followed by the decimal digits of i (the names of tensors and nodes).
std::string Numbered(const char* prefix, int64_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

// Protobuf wire format: a field is a key (number << 3 | wire type) then its value.
class Message {
 public:
  Message& Varint(int field, uint64_t v) {
    Key(field, 0);
    Raw(v);
    return *this;
  }
  Message& Float(int field, float v) {
    Key(field, 5);
    const uint32_t u = std::bit_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) buf_ += static_cast<char>(u >> (8 * i));
    return *this;
  }
  Message& Bytes(int field, const std::string& bytes) {
    Key(field, 2);
    Raw(bytes.size());
    buf_ += bytes;
    return *this;
  }
  Message& Sub(int field, const Message& m) { return Bytes(field, m.buf_); }
  const std::string& str() const { return buf_; }

 private:
  void Key(int field, int wire) { Raw(static_cast<uint64_t>(field) << 3 | wire); }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  std::string buf_;
};

// onnx.proto field numbers and enum values used below.
constexpr int kFloatType = 1;      // TensorProto.DataType.FLOAT
constexpr int kAttrFloat = 1;      // AttributeProto.AttributeType.FLOAT
constexpr int kAttrInt = 2;        // AttributeProto.AttributeType.INT
constexpr int64_t kIrVersion = 8;  // the IR version of opset 17

Message FloatAttr(const std::string& name, float v) {
  Message a;
  a.Bytes(1, name).Float(2, v).Varint(20, kAttrFloat);
  return a;
}

Message IntAttr(const std::string& name, int64_t v) {
  Message a;
  a.Bytes(1, name).Varint(3, static_cast<uint64_t>(v)).Varint(20, kAttrInt);
  return a;
}

// A float tensor of the given dims with the values as raw little-endian bytes.
Message Tensor(const std::string& name, const std::vector<int64_t>& dims, const float* v) {
  Message t;
  int64_t count = 1;
  for (int64_t d : dims) {
    t.Varint(1, static_cast<uint64_t>(d));
    count *= d;
  }
  t.Varint(2, kFloatType);
  t.Bytes(8, name);
  std::string raw;
  raw.reserve(static_cast<size_t>(count) * 4);
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t u = std::bit_cast<uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) raw += static_cast<char>(u >> (8 * b));
  }
  t.Bytes(9, raw);
  return t;
}

// ValueInfoProto of a float [N, width] tensor, N symbolic.
Message Value(const std::string& name, int64_t width) {
  Message batch, cols, shape, tensor, type, value;
  batch.Bytes(2, "N");
  cols.Varint(1, static_cast<uint64_t>(width));
  shape.Sub(1, batch).Sub(1, cols);
  tensor.Varint(1, kFloatType).Sub(2, shape);
  type.Sub(1, tensor);
  value.Bytes(1, name).Sub(2, type);
  return value;
}

class Graph {
 public:
  // Appends a node; returns its (single) output's name.
  std::string Node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::vector<Message>& attrs = {}, std::string output = "") {
    if (output.empty()) output = Numbered("t", nodes_);
    Message n;
    for (const std::string& in : inputs) n.Bytes(1, in);
    n.Bytes(2, output);
    n.Bytes(3, Numbered((op + "_").c_str(), nodes_));
    n.Bytes(4, op);
    for (const Message& a : attrs) n.Sub(5, a);
    graph_.Sub(1, n);
    ++nodes_;
    return output;
  }
  // A scalar constant initializer; returns its name.
  std::string Scalar(float v) {
    const std::string name = Numbered("c", constants_++);
    graph_.Sub(5, Tensor(name, {}, &v));
    return name;
  }
  void Initializer(const Message& tensor) { graph_.Sub(5, tensor); }
  Message& message() { return graph_; }

 private:
  Message graph_;
  int nodes_ = 0;
  int constants_ = 0;
};

// h = act(z) as ONNX nodes; the name of h.
std::string Activate(Graph& g, Activation act, float alpha, const std::string& z) {
  switch (act) {
    case Activation::kIdentity:
      return z;
    case Activation::kRelu:
      return g.Node("Relu", {z});
    case Activation::kSigmoid:
      return g.Node("Sigmoid", {z});
    case Activation::kTanh:
      return g.Node("Tanh", {z});
    case Activation::kLeakyRelu:
      return g.Node("LeakyRelu", {z}, {FloatAttr("alpha", alpha)});
    case Activation::kElu:
      return g.Node("Elu", {z}, {FloatAttr("alpha", alpha)});
    case Activation::kSoftplus:
      return g.Node("Softplus", {z});
    case Activation::kSilu:
      return g.Node("Mul", {z, g.Node("Sigmoid", {z})});
    case Activation::kGeluErf: {
      const std::string e = g.Node("Erf", {g.Node("Div", {z, g.Scalar(std::sqrt(2.0f))})});
      const std::string half_x = g.Node("Mul", {z, g.Scalar(0.5f)});
      return g.Node("Mul", {half_x, g.Node("Add", {e, g.Scalar(1.0f)})});
    }
    case Activation::kGeluTanh: {
      const std::string x3 = g.Node("Mul", {g.Node("Mul", {z, z}), z});
      const std::string inner = g.Node("Add", {z, g.Node("Mul", {x3, g.Scalar(0.044715f)})});
      const float k = static_cast<float>(std::sqrt(2.0 / 3.14159265358979323846));
      const std::string t = g.Node("Tanh", {g.Node("Mul", {inner, g.Scalar(k)})});
      const std::string half_x = g.Node("Mul", {z, g.Scalar(0.5f)});
      return g.Node("Mul", {half_x, g.Node("Add", {t, g.Scalar(1.0f)})});
    }
  }
  return z;  // unreachable: Model validates its activations
}

}  // namespace

std::string onnx_bytes(const Model& model) {
  Graph g;
  g.message().Bytes(2, "propel");
  std::string h = "input";
  const float* params = model.parameters();
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    const LayerLayout& layer = model.layer(l);
    const std::string w = Numbered("W", l + 1), b = Numbered("b", l + 1);
    g.Initializer(Tensor(w, {layer.out, layer.in}, params + layer.weight_offset));
    g.Initializer(Tensor(b, {layer.out}, params + layer.bias_offset));
    const std::string z = g.Node("Gemm", {h, w, b}, {IntAttr("transB", 1)});
    h = Activate(g, layer.activation, layer.alpha, z);
  }
  std::string out;
  switch (model.head()) {
    case Head::kMulticlass:
      out = g.Node("Softmax", {h}, {IntAttr("axis", 1)}, "probabilities");
      break;
    case Head::kBinary:
      out = g.Node("Sigmoid", {h}, {}, "probabilities");
      break;
    case Head::kRegression:
      out = g.Node("Identity", {h}, {}, "predictions");
      break;
  }
  g.message().Sub(11, Value("input", model.inputs()));
  g.message().Sub(12, Value(out, model.outputs()));

  Message opset;
  opset.Bytes(1, "").Varint(2, kOnnxOpset);
  Message m;
  m.Varint(1, kIrVersion);
  m.Bytes(2, "propel");
  m.Bytes(3, PROPEL_VERSION_STRING);
  m.Sub(7, g.message());
  m.Sub(8, opset);
  return m.str();
}

void save_onnx(const std::string& path, const Model& model) {
  detail::Check(!path.empty(), "propel::save_onnx", "the path is empty");
  detail::WriteAtomically(path, onnx_bytes(model));
}

}  // namespace propel
