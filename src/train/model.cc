// propel::Model: validation of the description, the parameter and gradient arenas, Philox-driven
// initializers and inference with the fused GEMM epilogues.
#include "propel/model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>

#include "src/ops/checks.h"
#include "src/runtime/aligned.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/memory.h"
#include "src/runtime/names.h"
#include "src/runtime/partition.h"
#include "src/runtime/random.h"
#include "src/train/dense_layer.h"
#include "src/train/net_kernels.h"

namespace propel {

namespace {

constexpr int64_t kMaxParameters = int64_t{1} << 40;
// Rows of one inference block: large enough for the GEMM's full tiles, small enough that the
// activations of a block stay in L2.
constexpr int64_t kPredictRows = 256;

const char* const kHeadNames[] = {"binary", "multiclass", "regression"};
const char* const kInitNames[] = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal"};

}  // namespace

const char* head_name(Head head) { return detail::NameOf(kHeadNames, static_cast<int>(head)); }

Head parse_head(const std::string& name) {
  if (name == "bce") return Head::kBinary;  // the loss names, as aliases
  if (name == "softmax" || name == "ce") return Head::kMulticlass;
  if (name == "mse") return Head::kRegression;
  return detail::ParseName<Head>("propel::parse_head", "head", kHeadNames, name);
}

const char* init_name(Init init) { return detail::NameOf(kInitNames, static_cast<int>(init)); }

Init parse_init(const std::string& name) {
  return detail::ParseName<Init>("propel::parse_init", "initializer", kInitNames, name);
}

namespace {

// Versions are unique in the process, so that a model's new contents (assigned from another, or
// loaded) never repeat a version a packed copy was made from.
uint64_t NewVersion() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

// Every layer's weights packed for its forward GEMM in one engine's layout, made from one version
// of the parameters and reused by predict calls while that version is current.
struct PackedForward {
  uint64_t version = 0;
  const kernels::GemmEngine* gemm = nullptr;
  int64_t kc = 0;  // the blocking's k blocks, which the packing follows
  detail::AlignedFloats memory;
  std::vector<detail::PackedWeights> layers;
};

}  // namespace

struct Model::Impl {
  ModelSpec spec;
  std::vector<LayerLayout> layers;
  int64_t count = 0;
  int64_t max_width = 0;
  detail::AlignedFloats params;
  detail::AlignedFloats grads;
  Precision precision = Precision::kFp32;
  bool portable = false;
  std::optional<BinaryClasses> binary_classes;
  std::atomic<uint64_t> version{NewVersion()};
  // predict's packed weights: replaced (never changed in place) when the version or the engine
  // differs, so that concurrent predict calls each keep the copy they started with.
  mutable std::mutex packed_mutex;
  mutable std::shared_ptr<const PackedForward> packed;
};

namespace {

// Validates the description and lays out the arena; allocates it only with `allocate`.
std::unique_ptr<Model::Impl> Build(const ModelSpec& spec, bool allocate = true) {
  const char* where = "propel::Model";
  using detail::Check;
  Check(spec.inputs >= 1, where, "inputs = ", spec.inputs, " must be at least 1");
  const int h = static_cast<int>(spec.head);
  Check(h >= 0 && h <= 2, where, "unknown head ", h);
  Check(spec.outputs >= 1, where, "outputs = ", spec.outputs, " must be at least 1");
  Check(spec.head != Head::kMulticlass || spec.outputs >= 2, where, "outputs = ", spec.outputs,
        ": a multiclass head needs at least 2 classes");
  auto impl = std::make_unique<Model::Impl>();
  impl->spec = spec;
  int64_t in = spec.inputs;
  int64_t offset = 0;
  impl->max_width = spec.inputs;
  const int64_t n_layers = static_cast<int64_t>(spec.hidden.size()) + 1;
  for (int64_t l = 0; l < n_layers; ++l) {
    const bool output = l == n_layers - 1;
    LayerLayout layout;
    layout.in = in;
    if (output) {
      layout.out = spec.outputs;
      layout.activation = Activation::kIdentity;
      layout.alpha = 0.0f;
    } else {
      const Layer& layer = spec.hidden[static_cast<size_t>(l)];
      std::ostringstream name;
      name << where << ": hidden layer " << l;
      const std::string w = name.str();
      Check(layer.units >= 1, w.c_str(), "units = ", layer.units, " must be at least 1");
      layout.out = layer.units;
      layout.activation = layer.activation;
      layout.alpha = std::isnan(layer.alpha) ? default_alpha(layer.activation) : layer.alpha;
      detail::CheckedActivation(w.c_str(), layout.activation, layout.alpha);
      impl->spec.hidden[static_cast<size_t>(l)].alpha = layout.alpha;
    }
    // Sizes checked before they are multiplied, so that nothing overflows.
    Check(layout.out <= kMaxParameters && layout.in <= kMaxParameters / layout.out &&
              offset + layout.out * (layout.in + 1) <= kMaxParameters,
          where, "layer ", l, " (", layout.in, " -> ", layout.out,
          ") takes the parameter count past 2^40");
    layout.weight_offset = offset;
    layout.bias_offset = offset + layout.out * layout.in;
    offset = layout.bias_offset + layout.out;
    impl->max_width = std::max(impl->max_width, layout.out);
    impl->layers.push_back(layout);
    in = layout.out;
  }
  impl->count = offset;
  if (!allocate) return impl;
  detail::CheckMemory(where,
                      "the model (" + std::to_string(offset) + " parameters) with its gradients",
                      8.0 * static_cast<double>(offset));
  impl->params.Resize(offset);
  impl->grads.Resize(offset);
  return impl;
}

// Runs the layers on rows [0, rows) of x into out (the head's output, or the logits).
// packed[l]: layer l's weights packed for its forward GEMM, or null.
void ForwardBlock(const Model::Impl& m, const detail::NetKernels& k, int64_t rows, const float* x,
                  int64_t ldx, float* out, int64_t ldout, bool logits, float* buf0, float* buf1,
                  const std::vector<detail::PackedWeights>& packed, int threads,
                  const detail::GemmScratch* scratch) {
  const int64_t n_layers = static_cast<int64_t>(m.layers.size());
  const float* a = x;
  int64_t lda = ldx;
  float* bufs[2] = {buf0, buf1};
  for (int64_t l = 0; l < n_layers; ++l) {
    const LayerLayout& layout = m.layers[static_cast<size_t>(l)];
    const detail::DenseLayer layer(layout, l == n_layers - 1);
    if (layer.output()) {
      // The head's output function: sigmoid fused into the GEMM, softmax over the finished rows.
      const bool sigmoid = !logits && m.spec.head == Head::kBinary;
      layer.ForwardFused(k, m.params.data(), &packed[static_cast<size_t>(l)], rows, a, lda, out,
                         ldout, sigmoid ? Activation::kSigmoid : Activation::kIdentity, threads,
                         scratch);
      if (!logits && m.spec.head == Head::kMulticlass) {
        k.ew->softmax(false, rows, layout.out, out, ldout, out, ldout);
      }
    } else {
      float* z = bufs[l % 2];
      layer.ForwardFused(k, m.params.data(), &packed[static_cast<size_t>(l)], rows, a, lda, z,
                         layout.out, layout.activation, threads, scratch);
      a = z;
      lda = layout.out;
    }
  }
}

// Every layer's forward weights packed from the current parameters for the engine and k blocks
// of k: the model's copy when it is of this version, engine and blocking, else a new one, which
// becomes the model's.
std::shared_ptr<const PackedForward> PackedFor(const Model::Impl& m, const detail::NetKernels& k,
                                               int threads) {
  const uint64_t version = m.version.load(std::memory_order_relaxed);
  {
    const std::lock_guard<std::mutex> lock(m.packed_mutex);
    if (m.packed && m.packed->version == version && m.packed->gemm == k.gemm &&
        m.packed->kc == k.blocking.kc) {
      return m.packed;
    }
  }
  auto fresh = std::make_shared<PackedForward>();
  fresh->version = version;
  fresh->gemm = k.gemm;
  fresh->kc = k.blocking.kc;
  int64_t floats = 0;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    floats += detail::PadToLine(detail::DenseLayer(m.layers[l], false).PackedFloats(k, false));
  }
  fresh->memory.Resize(floats);
  fresh->layers.resize(m.layers.size());
  float* at = fresh->memory.data();
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const detail::DenseLayer layer(m.layers[l], l + 1 == m.layers.size());
    fresh->layers[l].forward = at;
    at += detail::PadToLine(layer.PackedFloats(k, false));
    layer.PackWeights(k, m.params.data(), fresh->layers[l], threads);
  }
  const std::lock_guard<std::mutex> lock(m.packed_mutex);
  m.packed = fresh;
  return fresh;
}

void Predict(const Model::Impl& m, const char* where, int64_t rows, const float* x, int64_t ldx,
             float* out, int64_t ldout, bool logits) {
  using detail::Check;
  Check(rows >= 0, where, "rows = ", rows, " is negative");
  Check(ldx >= m.spec.inputs, where, "ldx = ", ldx, " is smaller than the input width ",
        m.spec.inputs);
  Check(ldout >= m.spec.outputs, where, "ldout = ", ldout, " is smaller than the output width ",
        m.spec.outputs);
  if (rows == 0) return;
  Check(x != nullptr, where, "x is null with rows = ", rows);
  Check(out != nullptr, where, "out is null with rows = ", rows);
  detail::CheckExtent(where, "x", rows, m.spec.inputs, ldx);
  detail::CheckExtent(where, "out", rows, m.spec.outputs, ldout);

  const detail::NetKernels k = detail::ActiveNetKernels(m.precision, m.portable);
  const int threads = detail::AvailableThreads();
  const int64_t blocks = detail::CeilDiv(rows, kPredictRows);
  // Enough blocks: each thread runs whole blocks; else the blocks run one after the other with
  // every GEMM on all threads. The results are the same (the GEMM does not depend on threads).
  const int slots = blocks >= threads ? threads : 1;
  const int gemm_threads = blocks >= threads ? 1 : threads;
  const int64_t block_rows = std::min(rows, kPredictRows);
  std::vector<detail::AlignedFloats> bufs;
  std::vector<detail::PackBuffers> packs(static_cast<size_t>(std::max(slots, gemm_threads)));
  for (int s = 0; s < 2 * slots; ++s) bufs.emplace_back(block_rows * m.max_width);
  const std::shared_ptr<const PackedForward> packed_forward = PackedFor(m, k, threads);
  const std::vector<detail::PackedWeights>& packed = packed_forward->layers;
  auto slot = [&](int64_t t) {
    const detail::Range r = detail::Balance211(blocks, slots, t);
    const detail::GemmScratch scratch{slots > 1 ? &packs[static_cast<size_t>(t)] : packs.data(),
                                      slots > 1 ? 1 : gemm_threads};
    for (int64_t b = r.begin; b < r.end; ++b) {
      const int64_t r0 = b * kPredictRows, n = std::min(kPredictRows, rows - r0);
      ForwardBlock(m, k, n, x + r0 * ldx, ldx, out + r0 * ldout, ldout, logits,
                   bufs[static_cast<size_t>(2 * t)].data(),
                   bufs[static_cast<size_t>(2 * t + 1)].data(), packed, gemm_threads, &scratch);
    }
  };
  detail::ParallelFor(slots, slots, slot);
}

}  // namespace

double model_bytes(const ModelSpec& spec) {
  return 8.0 * static_cast<double>(Build(spec, false)->count);
}

uint64_t parameter_checksum(const Model& model) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(model.parameters());
  const size_t n = static_cast<size_t>(model.parameter_count()) * sizeof(float);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

double machine_memory_bytes() { return static_cast<double>(detail::PhysicalMemoryBytes()); }

Model::Model(const ModelSpec& spec, uint64_t seed, Init init) : impl_(Build(spec)) {
  initialize(seed, init);
}

Model::Model(const Model& other) : impl_(Build(other.impl_->spec)) {
  std::memcpy(impl_->params.data(), other.impl_->params.data(),
              static_cast<size_t>(impl_->count) * sizeof(float));
  std::memcpy(impl_->grads.data(), other.impl_->grads.data(),
              static_cast<size_t>(impl_->count) * sizeof(float));
  impl_->precision = other.impl_->precision;
  impl_->portable = other.impl_->portable;
  impl_->binary_classes = other.impl_->binary_classes;
}

Model& Model::operator=(const Model& other) {
  if (this != &other) *this = Model(other);
  return *this;
}

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelSpec& Model::spec() const { return impl_->spec; }
int64_t Model::inputs() const { return impl_->spec.inputs; }
int64_t Model::outputs() const { return impl_->spec.outputs; }
Head Model::head() const { return impl_->spec.head; }
int64_t Model::num_layers() const { return static_cast<int64_t>(impl_->layers.size()); }

const LayerLayout& Model::layer(int64_t l) const {
  detail::Check(l >= 0 && l < num_layers(), "propel::Model::layer", "l = ", l, " is outside [0, ",
                num_layers(), ")");
  return impl_->layers[static_cast<size_t>(l)];
}

int64_t Model::max_width() const { return impl_->max_width; }
int64_t Model::parameter_count() const { return impl_->count; }
float* Model::parameters() {
  impl_->version.store(NewVersion(), std::memory_order_relaxed);
  return impl_->params.data();
}
uint64_t Model::version() const { return impl_->version.load(std::memory_order_relaxed); }
const float* Model::parameters() const { return impl_->params.data(); }
float* Model::gradients() { return impl_->grads.data(); }
const float* Model::gradients() const { return impl_->grads.data(); }

Precision Model::precision() const { return impl_->precision; }

void Model::set_precision(Precision precision) {
  detail::CheckedPrecision("propel::Model::set_precision", precision);
  impl_->precision = resolve_precision(precision);
}

bool Model::portable() const { return impl_->portable; }

void Model::set_portable(bool portable) { impl_->portable = portable; }

std::optional<BinaryClasses> Model::binary_classes() const { return impl_->binary_classes; }

void Model::set_binary_classes(std::optional<BinaryClasses> classes) {
  const char* where = "propel::Model::set_binary_classes";
  if (classes) {
    detail::Check(impl_->spec.head == Head::kBinary && impl_->spec.outputs == 1, where,
                  "the model is ", head_name(impl_->spec.head), " with ", impl_->spec.outputs,
                  " outputs: source classes belong to a binary model with one output");
    detail::Check(
        classes->negative >= 0 && classes->positive >= 0 && classes->negative != classes->positive,
        where, "classes ", classes->negative, ",", classes->positive,
        " must be two distinct labels >= 0");
  }
  impl_->binary_classes = classes;
}

void Model::initialize(uint64_t seed, Init init) {
  const int i = static_cast<int>(init);
  detail::Check(i >= 0 && i < 4, "propel::Model::initialize", "unknown initializer ", i);
  const detail::CounterRng rng(seed);
  float* p = parameters();
  for (size_t l = 0; l < impl_->layers.size(); ++l) {
    const LayerLayout& layer = impl_->layers[l];
    const double fan_in = static_cast<double>(layer.in);
    const double fan_sum = fan_in + static_cast<double>(layer.out);
    const bool he = init == Init::kHeUniform || init == Init::kHeNormal;
    const bool normal = init == Init::kGlorotNormal || init == Init::kHeNormal;
    // Uniform on (-l, l) with l = sqrt(3) sigma has the normal's variance sigma^2.
    const double variance = he ? 2.0 / fan_in : 2.0 / fan_sum;
    const double scale = normal ? std::sqrt(variance) : std::sqrt(3.0 * variance);
    float* w = p + layer.weight_offset;
    const int64_t n = layer.out * layer.in;
    const uint32_t stream = static_cast<uint32_t>(l);
    auto chunk = [&](int64_t c) {
      const detail::Range r = detail::Balance211(n, detail::CeilDiv(n, 65536), c);
      for (int64_t j = r.begin; j < r.end; ++j) {
        const double u = normal ? rng.Normal(stream, static_cast<uint64_t>(j))
                                : 2.0 * rng.Uniform(stream, static_cast<uint64_t>(j)) - 1.0;
        w[j] = static_cast<float>(u * scale);
      }
    };
    detail::ParallelFor(detail::CeilDiv(n, 65536), detail::AvailableThreads(), chunk);
    std::fill(p + layer.bias_offset, p + layer.bias_offset + layer.out, 0.0f);
  }
}

void Model::predict(int64_t rows, const float* x, int64_t ldx, float* out, int64_t ldout) const {
  Predict(*impl_, "propel::Model::predict", rows, x, ldx, out, ldout, false);
}

void Model::predict_logits(int64_t rows, const float* x, int64_t ldx, float* out,
                           int64_t ldout) const {
  Predict(*impl_, "propel::Model::predict_logits", rows, x, ldx, out, ldout, true);
}

std::string Model::describe() const {
  std::ostringstream os;
  os << impl_->spec.inputs;
  for (const LayerLayout& layer : impl_->layers) {
    os << "-" << layer.out;
    if (&layer != &impl_->layers.back()) os << "(" << activation_name(layer.activation) << ")";
  }
  os << " " << head_name(impl_->spec.head) << ", " << impl_->count << " parameters";
  return os.str();
}

}  // namespace propel
