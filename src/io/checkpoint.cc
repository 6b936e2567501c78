// Checkpoint files: a little-endian, versioned, CRC-32-checked layout (docs/checkpoints.md),
// written atomically (temporary file, fsync, rename, fsync of the folder) and validated whole
// before anything in memory changes.
#include "propel/checkpoint.h"

#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "src/io/files.h"
#include "src/runtime/check.h"
#include "src/train/optimizer.h"

namespace propel {

namespace {

constexpr char kMagic[8] = {'P', 'R', 'O', 'P', 'E', 'L', 'C', 'K'};
// Version 2 added the precision the model was trained in, version 3 a binary model's source
// classes and the optimizer's decay_bias, version 4 portable mode; version 1 to 3 files still
// load.
constexpr uint32_t kVersion = 4;
constexpr uint32_t kOldestVersion = 1;
constexpr uint32_t kByteOrderMark = 0x01020304u;
constexpr int64_t kMaxHidden = 1 << 16;

// ------------------------------------------------------------------------------------ writing

class Writer {
 public:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) buf_ += static_cast<char>(v >> (8 * i));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) buf_ += static_cast<char>(v >> (8 * i));
  }
  void F32(float v) { U32(std::bit_cast<uint32_t>(v)); }
  void Floats(const float* p, int64_t n) {
    if constexpr (std::endian::native == std::endian::little) {
      buf_.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n) * 4);
    } else {
      for (int64_t i = 0; i < n; ++i) F32(p[i]);
    }
  }
  std::string& bytes() { return buf_; }

 private:
  std::string buf_;
};

uint32_t Crc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - done, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(n));
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

// ------------------------------------------------------------------------------------ reading

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  [[noreturn]] void Fail(const std::string& what) const {
    detail::FailIo(name_, "byte " + std::to_string(pos_) + ": " + what);
  }
  void Need(size_t n, const char* what) const {
    if (bytes_.size() - pos_ < n) {
      Fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
           std::to_string(bytes_.size() - pos_) + " remain");
    }
  }
  // An unsigned little-endian integer of sizeof(T) bytes.
  template <class T>
  T Little(const char* what) {
    Need(sizeof(T), what);
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= T{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    pos_ += sizeof(T);
    return v;
  }
  uint32_t U32(const char* what) { return Little<uint32_t>(what); }
  uint64_t U64(const char* what) { return Little<uint64_t>(what); }
  float F32(const char* what) { return std::bit_cast<float>(U32(what)); }
  std::vector<float> Floats(uint64_t n, const char* what) {
    if (n > (bytes_.size() - pos_) / 4) {
      Fail(std::string("truncated: ") + std::to_string(n) + " floats of " + what + " need " +
           std::to_string(n * 4) + " bytes, " + std::to_string(bytes_.size() - pos_) + " remain");
    }
    std::vector<float> v(n);
    if (n == 0) return v;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(v.data(), bytes_.data() + pos_, n * 4);
      pos_ += n * 4;
    } else {
      for (float& f : v) f = F32(what);
    }
    return v;
  }
  size_t pos() const { return pos_; }
  // Fails, at the byte where `v` starts, unless every value is finite (and >= 0 with
  // non_negative): nothing read from a file is trusted.
  void CheckValues(const float* v, size_t n, size_t start, const char* what,
                   bool non_negative) const {
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i]) || (non_negative && v[i] < 0.0f)) {
        detail::FailIo(name_, "byte " + std::to_string(start + 4 * i) + ": " + what + " [" +
                                  std::to_string(i) + "] = " + std::to_string(v[i]) + " is " +
                                  (std::isfinite(v[i]) ? "negative" : "not finite"));
      }
    }
  }

 private:
  std::string_view bytes_;
  const std::string& name_;
  size_t pos_ = 0;
};

// A whole checkpoint, validated, not yet applied to anything.
struct Parsed {
  ModelSpec spec;
  std::vector<float> params;
  CheckpointInfo info;
  std::vector<float> state;
};

int64_t StateArrays(Optimizer o) {
  return o == Optimizer::kAdam || o == Optimizer::kAdamW          ? 2
         : o == Optimizer::kMomentum || o == Optimizer::kNesterov ? 1
                                                                  : 0;
}

Parsed Parse(std::string_view bytes, const std::string& name) {
  Reader r(bytes, name);
  r.Need(sizeof(kMagic), "the magic number");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    r.Fail("not a propel checkpoint (the file does not start with \"PROPELCK\")");
  }
  r.U64("the magic number");
  const uint32_t version = r.U32("the format version");
  if (version < kOldestVersion || version > kVersion) {
    r.Fail("format version " + std::to_string(version) + " is not supported (this build reads " +
           std::to_string(kOldestVersion) + " to " + std::to_string(kVersion) + ")");
  }
  const uint32_t bom = r.U32("the byte-order mark");
  if (bom != kByteOrderMark) r.Fail("byte-order mark is not 0x01020304 (little-endian)");
  const uint64_t body = r.U64("the body size");
  const size_t body_start = r.pos();
  if (body > bytes.size() || bytes.size() - body < body_start + 4) {
    r.Fail("truncated: the header announces " + std::to_string(body) + " bytes of body and a " +
           "4-byte checksum, the file has " + std::to_string(bytes.size() - body_start) +
           " bytes after the header");
  }
  if (bytes.size() != body_start + body + 4) {
    r.Fail("the file has " + std::to_string(bytes.size() - (body_start + body + 4)) +
           " bytes past its checksum");
  }
  const uint32_t stored = [&] {
    Reader c(bytes.substr(body_start + body), name);
    return c.U32("the checksum");
  }();
  const uint32_t computed = Crc32(bytes.substr(0, body_start + body));
  if (stored != computed) {
    detail::FailIo(name, "checksum mismatch (stored " + std::to_string(stored) + ", computed " +
                             std::to_string(computed) + "): the file is corrupt");
  }
  const std::string_view body_bytes = bytes.substr(0, body_start + body);
  Reader b(body_bytes, name);
  b.U64("");
  b.U32("");
  b.U32("");
  b.U64("");

  Parsed p;
  const uint32_t head = b.U32("the head");
  if (head > 2) b.Fail("unknown head " + std::to_string(head));
  p.spec.head = static_cast<Head>(head);
  p.spec.inputs = static_cast<int64_t>(b.U64("the input width"));
  p.spec.outputs = static_cast<int64_t>(b.U64("the output width"));
  const uint32_t hidden = b.U32("the hidden layer count");
  if (hidden > kMaxHidden) b.Fail(std::to_string(hidden) + " hidden layers is implausible");
  for (uint32_t l = 0; l < hidden; ++l) {
    Layer layer;
    layer.units = static_cast<int64_t>(b.U64("a layer width"));
    const uint32_t act = b.U32("an activation");
    if (act > 9) b.Fail("unknown activation " + std::to_string(act));
    layer.activation = static_cast<Activation>(act);
    layer.alpha = b.F32("an activation parameter");
    // Files hold the resolved parameter: NaN ("the default") or Inf never stand in one.
    if (!std::isfinite(layer.alpha)) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 4) + ": hidden layer " +
                               std::to_string(l) + "'s activation parameter " +
                               std::to_string(layer.alpha) + " is not finite");
    }
    p.spec.hidden.push_back(layer);
  }
  if (version >= 2) {
    const uint32_t precision = b.U32("the precision");
    if (precision > 1) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 4) + ": unknown precision " +
                               std::to_string(precision) + " (0 fp32, 1 bf16)");
    }
    p.info.precision = static_cast<Precision>(precision);
  }
  if (version >= 3) {
    const uint32_t has_classes = b.U32("the source-classes flag");
    if (has_classes > 1) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 4) + ": source-classes flag " +
                               std::to_string(has_classes) + " is neither 0 nor 1");
    }
    if (has_classes == 1) {
      const size_t at = b.pos();
      BinaryClasses c;
      c.negative = static_cast<int32_t>(b.U32("the negative class"));
      c.positive = static_cast<int32_t>(b.U32("the positive class"));
      if (p.spec.head != Head::kBinary || p.spec.outputs != 1 || c.negative < 0 || c.positive < 0 ||
          c.negative == c.positive) {
        detail::FailIo(name, "bytes " + std::to_string(at) + "-" + std::to_string(b.pos() - 1) +
                                 ": source classes " + std::to_string(c.negative) + "," +
                                 std::to_string(c.positive) +
                                 " need a binary model with one output and two distinct labels "
                                 ">= 0");
      }
      p.info.binary_classes = c;
    }
  }
  if (version >= 4) {
    const uint32_t portable = b.U32("the portable-mode flag");
    if (portable > 1) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 4) + ": portable-mode flag " +
                               std::to_string(portable) + " is neither 0 nor 1");
    }
    p.info.portable = portable == 1;
  }
  // The stored parameter count must be the description's, and the bytes must be there, before
  // anything of that size is allocated.
  const uint64_t count = b.U64("the parameter count");
  uint64_t expected = 0;
  uint64_t in = static_cast<uint64_t>(p.spec.inputs);
  bool plausible = in >= 1 && in <= (uint64_t{1} << 40);
  for (size_t l = 0; l <= p.spec.hidden.size() && plausible; ++l) {
    const uint64_t out =
        static_cast<uint64_t>(l < p.spec.hidden.size() ? p.spec.hidden[l].units : p.spec.outputs);
    plausible = out >= 1 && out <= (uint64_t{1} << 40) && in + 1 <= ((uint64_t{1} << 40) / out) &&
                expected + out * (in + 1) <= (uint64_t{1} << 40);
    if (plausible) expected += out * (in + 1);
    in = out;
  }
  if (!plausible || count != expected) {
    b.Fail("the parameter count " + std::to_string(count) +
           " does not match the model description (widths must be 1 or more and the model at "
           "most 2^40 parameters)");
  }
  b.Need(count * 4, "the parameters");
  try {
    const Model model(p.spec);  // validates activations, alphas, the head's width
  } catch (const Error& e) {
    b.Fail(std::string("invalid model description (") + e.what() + ")");
  }
  const size_t params_at = b.pos();
  p.params = b.Floats(count, "parameters");
  b.CheckValues(p.params.data(), p.params.size(), params_at, "parameter", false);
  const uint32_t has_opt = b.U32("the optimizer flag");
  if (has_opt > 1) b.Fail("optimizer flag " + std::to_string(has_opt) + " is neither 0 nor 1");
  if (has_opt == 1) {
    p.info.has_optimizer = true;
    const uint32_t kind = b.U32("the optimizer kind");
    if (kind > 4) b.Fail("unknown optimizer " + std::to_string(kind));
    OptimizerConfig& o = p.info.optimizer;
    o.kind = static_cast<Optimizer>(kind);
    const size_t config_at = b.pos();
    o.lr = b.F32("lr");
    o.momentum = b.F32("momentum");
    o.beta1 = b.F32("beta1");
    o.beta2 = b.F32("beta2");
    o.eps = b.F32("eps");
    o.weight_decay = b.F32("weight_decay");
    o.clip_norm = b.F32("clip_norm");
    if (version >= 3) {
      const uint32_t decay_bias = b.U32("decay_bias");
      if (decay_bias > 1) {
        detail::FailIo(name, "byte " + std::to_string(b.pos() - 4) + ": decay_bias " +
                                 std::to_string(decay_bias) + " is neither 0 nor 1");
      }
      o.decay_bias = decay_bias == 1;
    }
    try {
      for (float v : {o.lr, o.momentum, o.beta1, o.beta2, o.eps, o.weight_decay, o.clip_norm}) {
        detail::Check(std::isfinite(v), "the optimizer configuration", "a value is ", v, " (lr ",
                      o.lr, ", momentum ", o.momentum, ", beta1 ", o.beta1, ", beta2 ", o.beta2,
                      ", eps ", o.eps, ", weight_decay ", o.weight_decay, ", clip_norm ",
                      o.clip_norm, "): every field must be finite");
      }
      detail::CheckOptimizer("the optimizer configuration", o);
    } catch (const Error& e) {
      detail::FailIo(name, "bytes " + std::to_string(config_at) + "-" +
                               std::to_string(b.pos() - 1) + ": " + e.what());
    }
    const uint64_t steps = b.U64("the update count");
    if (steps > static_cast<uint64_t>(detail::kMaxSteps)) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 8) + ": update count " +
                               std::to_string(steps) + " is outside [0, 2^53]");
    }
    const uint64_t epochs = b.U64("the epoch count");
    if (epochs > static_cast<uint64_t>(detail::kMaxSteps)) {
      detail::FailIo(name, "byte " + std::to_string(b.pos() - 8) + ": epoch count " +
                               std::to_string(epochs) + " is outside [0, 2^53]");
    }
    p.info.steps = static_cast<int64_t>(steps);
    p.info.epochs_done = static_cast<int64_t>(epochs);
    const uint64_t state = b.U64("the optimizer state size");
    const uint64_t want = static_cast<uint64_t>(StateArrays(o.kind)) * count;
    if (state != want) {
      b.Fail("optimizer state of " + std::to_string(state) + " floats, expected " +
             std::to_string(want) + " for " + optimizer_name(o.kind));
    }
    const size_t state_at = b.pos();
    p.state = b.Floats(state, "optimizer state");
    if (StateArrays(o.kind) == 2) {  // Adam: first moments, then second moments (never negative)
      b.CheckValues(p.state.data(), count, state_at, "Adam's first moment", false);
      b.CheckValues(p.state.data() + count, count, state_at + 4 * count, "Adam's second moment",
                    true);
    } else {
      b.CheckValues(p.state.data(), p.state.size(), state_at, "the momentum velocity", false);
    }
  }
  if (b.pos() != body_bytes.size()) {
    b.Fail(std::to_string(body_bytes.size() - b.pos()) + " unread bytes at the end of the body");
  }
  return p;
}

bool SameSpec(const ModelSpec& a, const ModelSpec& b) {
  if (a.inputs != b.inputs || a.outputs != b.outputs || a.head != b.head ||
      a.hidden.size() != b.hidden.size()) {
    return false;
  }
  for (size_t l = 0; l < a.hidden.size(); ++l) {
    const Layer &x = a.hidden[l], &y = b.hidden[l];
    if (x.units != y.units || x.activation != y.activation ||
        std::bit_cast<uint32_t>(x.alpha) != std::bit_cast<uint32_t>(y.alpha)) {
      return false;
    }
  }
  return true;
}

}  // namespace

namespace {

std::string Serialize(const char* fn, const Model& model, const Trainer* trainer,
                      int64_t epochs_done) {
  detail::Check(epochs_done >= 0, fn, "epochs_done = ", epochs_done, " is negative");
  detail::Check(trainer == nullptr || &const_cast<Trainer*>(trainer)->model() == &model, fn,
                "the trainer trains another model");
  Writer w;
  w.bytes().append(kMagic, sizeof(kMagic));
  w.U32(kVersion);
  w.U32(kByteOrderMark);
  const size_t size_at = w.bytes().size();
  w.U64(0);  // body size, filled in below
  const size_t body_start = w.bytes().size();
  const ModelSpec& spec = model.spec();
  w.U32(static_cast<uint32_t>(spec.head));
  w.U64(static_cast<uint64_t>(spec.inputs));
  w.U64(static_cast<uint64_t>(spec.outputs));
  w.U32(static_cast<uint32_t>(spec.hidden.size()));
  for (const Layer& layer : spec.hidden) {
    w.U64(static_cast<uint64_t>(layer.units));
    w.U32(static_cast<uint32_t>(layer.activation));
    w.F32(layer.alpha);
  }
  w.U32(static_cast<uint32_t>(model.precision()));
  const std::optional<BinaryClasses> classes = model.binary_classes();
  w.U32(classes ? 1 : 0);
  if (classes) {
    w.U32(static_cast<uint32_t>(classes->negative));
    w.U32(static_cast<uint32_t>(classes->positive));
  }
  w.U32(model.portable() ? 1 : 0);
  w.U64(static_cast<uint64_t>(model.parameter_count()));
  w.Floats(model.parameters(), model.parameter_count());
  w.U32(trainer != nullptr ? 1 : 0);
  if (trainer != nullptr) {
    const OptimizerConfig& o = trainer->optimizer();
    w.U32(static_cast<uint32_t>(o.kind));
    for (float v : {o.lr, o.momentum, o.beta1, o.beta2, o.eps, o.weight_decay, o.clip_norm}) {
      w.F32(v);
    }
    w.U32(o.decay_bias ? 1 : 0);
    w.U64(static_cast<uint64_t>(trainer->steps()));
    w.U64(static_cast<uint64_t>(epochs_done));
    const int64_t state = trainer->state_size();
    w.U64(static_cast<uint64_t>(state));
    w.Floats(const_cast<Trainer*>(trainer)->state(), state);
  }
  const uint64_t body = w.bytes().size() - body_start;
  for (int i = 0; i < 8; ++i) w.bytes()[size_at + i] = static_cast<char>(body >> (8 * i));
  w.U32(Crc32(w.bytes()));
  return std::move(w.bytes());
}

}  // namespace

std::string checkpoint_bytes(const Model& model, const Trainer* trainer, int64_t epochs_done) {
  return Serialize("propel::checkpoint_bytes", model, trainer, epochs_done);
}

void save_checkpoint(const std::string& path, const Model& model, const Trainer* trainer,
                     int64_t epochs_done) {
  detail::Check(!path.empty(), "propel::save_checkpoint", "the path is empty");
  detail::WriteAtomically(path, Serialize("propel::save_checkpoint", model, trainer, epochs_done));
}

Model parse_checkpoint_model(std::string_view bytes, const std::string& name) {
  Parsed p = Parse(bytes, name);
  Model model(p.spec);
  std::copy(p.params.begin(), p.params.end(), model.parameters());
  model.set_precision(p.info.precision);
  model.set_portable(p.info.portable);
  model.set_binary_classes(p.info.binary_classes);
  return model;
}

Model load_model(const std::string& path) {
  return parse_checkpoint_model(detail::ReadWholeFile(path), path);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return Parse(detail::ReadWholeFile(path), path).info;
}

namespace {

// The parsed checkpoint `name` into the model and, when it has one, the trainer's state.
CheckpointInfo Apply(const Parsed& p, const std::string& path, Model& model, Trainer* trainer) {
  if (!SameSpec(p.spec, model.spec())) {
    detail::FailIo(path,
                   "holds the model " + Model(p.spec).describe() + ", not " + model.describe());
  }
  if (trainer != nullptr && p.info.has_optimizer) {
    detail::Check(&trainer->model() == &model, "propel::load_checkpoint",
                  "the trainer trains another model");
    if (trainer->optimizer().kind != p.info.optimizer.kind) {
      detail::FailIo(path, std::string("holds the state of ") +
                               optimizer_name(p.info.optimizer.kind) + ", the trainer uses " +
                               optimizer_name(trainer->optimizer().kind));
    }
  }
  std::copy(p.params.begin(), p.params.end(), model.parameters());
  // A trainer keeps its own precision and mode (training may go on in others); a model alone
  // takes the file's.
  if (trainer == nullptr) {
    model.set_precision(p.info.precision);
    model.set_portable(p.info.portable);
  }
  model.set_binary_classes(p.info.binary_classes);
  if (trainer != nullptr && p.info.has_optimizer) {
    std::copy(p.state.begin(), p.state.end(), trainer->state());
    trainer->set_steps(p.info.steps);
  }
  return p.info;
}

}  // namespace

CheckpointInfo load_checkpoint(const std::string& path, Model& model, Trainer* trainer) {
  return Apply(Parse(detail::ReadWholeFile(path), path), path, model, trainer);
}

CheckpointInfo load_checkpoint_bytes(std::string_view bytes, const std::string& name, Model& model,
                                     Trainer* trainer) {
  return Apply(Parse(bytes, name), name, model, trainer);
}

}  // namespace propel
