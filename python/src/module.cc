// propel._propel: the C++ API for Python (nanobind). A thin layer: arrays arrive as NumPy arrays of
// the exact dtype and layout (the Python package, python/propel/, converts once where needed),
// results leave as NumPy arrays (views of the model's arenas where they are the model's memory),
// the GIL is released around everything that computes, and propel::Error becomes a Python
// exception of the matching kind. docs/python.md.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "propel/propel.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Matrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using OutMatrix = nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Labels = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
// bf16 storage: the 16 bits of every value, as NumPy's uint16 (propel::bf16 is one uint16_t).
using Bf16Matrix = nb::ndarray<const uint16_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using FloatArray = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;
using OutFloatArray = nb::ndarray<float, nb::c_contig, nb::device::cpu>;
using Bf16Array = nb::ndarray<const uint16_t, nb::c_contig, nb::device::cpu>;
using OutBf16Array = nb::ndarray<uint16_t, nb::c_contig, nb::device::cpu>;
static_assert(sizeof(propel::bf16) == sizeof(uint16_t), "bf16 is its 16 bits");
using NumpyArray = nb::ndarray<nb::numpy, float>;
using ReadOnlyArray = nb::ndarray<nb::numpy, const float>;

// The exception types (created at import): PropelError and its subclasses.
PyObject* g_error = nullptr;        // propel.PropelError(RuntimeError)
PyObject* g_value_error = nullptr;  // propel.InvalidArgumentError(PropelError, ValueError)
PyObject* g_io_error = nullptr;     // propel.PropelIOError(PropelError, OSError)
PyObject* g_numerical = nullptr;    // propel.NumericalError(PropelError, ArithmeticError)
PyObject* g_unsupported = nullptr;  // propel.UnsupportedError(PropelError, ValueError)

// Raised inside a computation when Ctrl-C arrived (the Python error is already set).
struct Interrupted {};

PyObject* NewError(nb::module_& m, const char* name, std::initializer_list<PyObject*> bases) {
  PyObject* tuple = PyTuple_New(static_cast<Py_ssize_t>(bases.size()));
  Py_ssize_t i = 0;
  for (PyObject* b : bases) {
    Py_INCREF(b);
    PyTuple_SET_ITEM(tuple, i++, b);
  }
  const std::string qualified = std::string("propel.") + name;
  PyObject* type = PyErr_NewException(qualified.c_str(), tuple, nullptr);
  Py_DECREF(tuple);
  if (type == nullptr) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

void Translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const propel::Error& e) {
    PyObject* type = g_error;
    switch (e.code()) {
      case propel::ErrorCode::kInvalidArgument:
        type = g_value_error;
        break;
      case propel::ErrorCode::kUnsupported:
        type = g_unsupported;
        break;
      case propel::ErrorCode::kNumerical:
        type = g_numerical;
        break;
      case propel::ErrorCode::kIo:
        type = g_io_error;
        break;
      case propel::ErrorCode::kOutOfMemory:
        type = PyExc_MemoryError;
        break;
      case propel::ErrorCode::kInternal:
        type = g_error;
        break;
    }
    PyErr_SetString(type, e.what());
  } catch (const Interrupted&) {
    if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
  }
}

// A rows x cols float32 array that owns new storage.
NumpyArray NewMatrix(int64_t rows, int64_t cols) {
  float* data = new float[static_cast<size_t>(rows * cols)];
  nb::capsule owner(data, [](void* ptr) noexcept { delete[] static_cast<float*>(ptr); });
  return NumpyArray(data, {static_cast<size_t>(rows), static_cast<size_t>(cols)}, owner);
}

// A view of `count` floats at `data` (shape as given), kept alive by `owner`.
NumpyArray View(float* data, std::initializer_list<size_t> shape, nb::handle owner) {
  return NumpyArray(data, shape, owner);
}

// A read-only view: the parameters, whose writes must go through the model (a new version).
ReadOnlyArray ReadOnlyView(const float* data, std::initializer_list<size_t> shape,
                           nb::handle owner) {
  return ReadOnlyArray(data, shape, owner);
}

// Copies `values` (a C-contiguous float32 array of exactly `count` elements, any shape) into
// the parameters [offset, offset + count) of the model: a write, which gives it a new version.
void WriteParameters(propel::Model& m, const char* where, int64_t offset, int64_t count,
                     const nb::ndarray<const float, nb::c_contig, nb::device::cpu>& values) {
  if (static_cast<int64_t>(values.size()) != count) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        std::string(where) + ": " + std::to_string(values.size()) + " values for " +
                            std::to_string(count) + " parameters");
  }
  std::copy(values.data(), values.data() + count, m.parameters() + offset);
}

propel::ModelSpec MakeSpec(int64_t inputs, int64_t outputs, const std::vector<int64_t>& hidden,
                           const std::vector<std::string>& activations, const std::string& head,
                           float alpha) {
  propel::ModelSpec spec;
  spec.inputs = inputs;
  spec.outputs = outputs;
  spec.head = propel::parse_head(head);
  if (activations.size() != 1 && activations.size() != hidden.size()) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        "propel.Model: " + std::to_string(activations.size()) +
                            " activations for " + std::to_string(hidden.size()) +
                            " hidden layers (give one for all, or one per layer)");
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    propel::Layer layer;
    layer.units = hidden[i];
    layer.activation =
        propel::parse_activation(activations.size() == 1 ? activations[0] : activations[i]);
    layer.alpha = alpha;
    spec.hidden.push_back(layer);
  }
  return spec;
}

// The data view of x and the head's targets: int32 labels (multiclass) or float32 targets.
propel::DataView MakeView(const propel::Model& model, const Matrix& x,
                          const std::optional<Labels>& labels_arg,
                          const std::optional<Matrix>& targets_arg, const char* where) {
  const Labels* labels = labels_arg ? &*labels_arg : nullptr;
  const Matrix* targets = targets_arg ? &*targets_arg : nullptr;
  propel::DataView v;
  v.rows = static_cast<int64_t>(x.shape(0));
  if (static_cast<int64_t>(x.shape(1)) != model.inputs()) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        std::string(where) + ": X has " + std::to_string(x.shape(1)) +
                            " features, the model takes " + std::to_string(model.inputs()));
  }
  v.x = x.data();
  v.ldx = model.inputs();
  if (model.head() == propel::Head::kMulticlass) {
    if (labels == nullptr) {
      throw propel::Error(propel::ErrorCode::kInvalidArgument,
                          std::string(where) + ": a multiclass model needs int32 labels");
    }
    if (static_cast<int64_t>(labels->shape(0)) != v.rows) {
      throw propel::Error(propel::ErrorCode::kInvalidArgument,
                          std::string(where) + ": " + std::to_string(labels->shape(0)) +
                              " labels for " + std::to_string(v.rows) + " rows");
    }
    v.labels = labels->data();
  } else {
    if (targets == nullptr) {
      throw propel::Error(propel::ErrorCode::kInvalidArgument,
                          std::string(where) + ": this model needs float32 targets");
    }
    if (static_cast<int64_t>(targets->shape(0)) != v.rows ||
        static_cast<int64_t>(targets->shape(1)) != model.outputs()) {
      throw propel::Error(
          propel::ErrorCode::kInvalidArgument,
          std::string(where) + ": targets of shape (" + std::to_string(targets->shape(0)) + ", " +
              std::to_string(targets->shape(1)) + ") for " + std::to_string(v.rows) + " rows and " +
              std::to_string(model.outputs()) + " outputs");
    }
    v.targets = targets->data();
    v.ldt = model.outputs();
  }
  return v;
}

nb::dict StepDict(const propel::StepResult& r) {
  nb::dict d;
  d["loss"] = r.loss;
  d["rows"] = r.rows;
  d["correct"] = r.correct;
  d["grad_norm"] = r.grad_norm;
  return d;
}

nb::dict EpochDict(const propel::EpochStats& s) {
  nb::dict d;
  d["epoch"] = s.epoch;
  d["train_loss"] = s.train_loss;
  d["train_accuracy"] = s.train_accuracy;
  d["val_loss"] = s.val_loss;
  d["val_accuracy"] = s.val_accuracy;
  d["seconds"] = s.seconds;
  d["samples_per_second"] = s.samples_per_second;
  d["lr"] = s.lr;
  return d;
}

propel::Executor ParseExecutor(const std::string& name) {
  if (name == "tbb") return propel::Executor::kTbb;
  if (name == "omp" || name == "openmp") return propel::Executor::kOpenMp;
  if (name == "serial") return propel::Executor::kSerial;
  throw propel::Error(propel::ErrorCode::kInvalidArgument,
                      "propel: executor '" + name + "' is not one of tbb, omp, serial");
}

propel::Trans TransOf(bool t) { return t ? propel::Trans::kYes : propel::Trans::kNo; }

// C = op(A) op(B): the sizes, checked against C's shape; A, B, C are dense row-major.
struct GemmShape {
  int64_t m, n, k, lda, ldb;
};

template <class A, class B>
GemmShape CheckGemm(const char* what, bool ta, bool tb, const A& a, const B& b,
                    const OutMatrix& c) {
  GemmShape g;
  g.m = static_cast<int64_t>(c.shape(0));
  g.n = static_cast<int64_t>(c.shape(1));
  g.k = static_cast<int64_t>(ta ? a.shape(0) : a.shape(1));
  g.lda = static_cast<int64_t>(a.shape(1));
  g.ldb = static_cast<int64_t>(b.shape(1));
  const int64_t a_rows = static_cast<int64_t>(ta ? a.shape(1) : a.shape(0));
  const int64_t b_k = static_cast<int64_t>(tb ? b.shape(1) : b.shape(0));
  const int64_t b_n = static_cast<int64_t>(tb ? b.shape(0) : b.shape(1));
  if (a_rows != g.m || b_k != g.k || b_n != g.n) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        std::string(what) + ": op(A) is " + std::to_string(a_rows) + " x " +
                            std::to_string(g.k) + ", op(B) " + std::to_string(b_k) + " x " +
                            std::to_string(b_n) + ", C " + std::to_string(g.m) + " x " +
                            std::to_string(g.n));
  }
  return g;
}

// Binds C = alpha op(A) op(B) + beta C on dense row-major arrays (A, B of type In: float32, or
// uint16 bf16 bits) as `name`; `gemm` is called with propel::sgemm's arguments.
template <class In, class Gemm>
void DefGemm(nb::module_& m, const char* name, const char* what, Gemm gemm) {
  using T = std::remove_const_t<typename In::Scalar>;
  using Operand = std::conditional_t<std::is_same_v<T, uint16_t>, propel::bf16, float>;
  m.def(
      name,
      [what, gemm](bool ta, bool tb, float alpha, const In& a, const In& b, float beta,
                   OutMatrix& c) {
        const GemmShape g = CheckGemm(what, ta, tb, a, b, c);
        nb::gil_scoped_release release;
        gemm(TransOf(ta), TransOf(tb), g.m, g.n, g.k, alpha,
             reinterpret_cast<const Operand*>(a.data()), g.lda,
             reinterpret_cast<const Operand*>(b.data()), g.ldb, beta, c.data(), g.n);
      },
      "trans_a"_a, "trans_b"_a, "alpha"_a, "a"_a, "b"_a, "beta"_a, "c"_a.noconvert());
}

void CheckSameSize(const char* what, size_t in, size_t out) {
  if (in != out) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        std::string(what) + ": " + std::to_string(in) + " values in, room for " +
                            std::to_string(out) + " out");
  }
}

}  // namespace

NB_MODULE(_propel, m) {
  m.doc() = "propel's C++ API (the compiled part of the propel package)";
  m.attr("__version__") = PROPEL_VERSION_STRING;
  m.attr("ONNX_OPSET") = propel::kOnnxOpset;

  g_error = NewError(m, "PropelError", {PyExc_RuntimeError});
  g_value_error = NewError(m, "InvalidArgumentError", {g_error, PyExc_ValueError});
  g_unsupported = NewError(m, "UnsupportedError", {g_error, PyExc_ValueError});
  g_io_error = NewError(m, "PropelIOError", {g_error, PyExc_OSError});
  g_numerical = NewError(m, "NumericalError", {g_error, PyExc_ArithmeticError});
  nb::register_exception_translator(Translate);

  // ---- Targets and threads -------------------------------------------------------------------
  m.def(
      "available_targets",
      [] {
        std::vector<std::string> names;
        for (const propel::Target& t : propel::available_targets()) names.push_back(t.name);
        return names;
      },
      "SIMD targets this build and CPU can run, best first");
  m.def(
      "active_target", [] { return std::string(propel::active_target().name); },
      "the target kernels run on now");
  m.def(
      "resolve_precision",
      [](const std::string& name) {
        return std::string(
            propel::precision_name(propel::resolve_precision(propel::parse_precision(name))));
      },
      "name"_a,
      "'auto' as the active target resolves it ('bf16' where its bf16 GEMM is native, else "
      "'fp32'); 'fp32' and 'bf16' as they are");
  m.def("pin_target", &propel::pin_target, "name"_a, "run every kernel on this target");
  m.def("unpin_target", &propel::unpin_target, "back to the best target");
  m.def("set_num_threads", &propel::set_num_threads, "threads"_a);
  m.def("num_threads", &propel::num_threads);

  // ---- GEMM ---------------------------------------------------------------------------------
  DefGemm<Matrix>(m, "_sgemm", "propel.sgemm", [](auto&&... args) { propel::sgemm(args...); });
  DefGemm<Matrix>(m, "_gemm_bf16", "propel.gemm_bf16",
                  [](auto&&... args) { propel::gemm_bf16(args...); });
  DefGemm<Bf16Matrix>(m, "_gemm_bf16_stored", "propel.gemm_bf16",
                      [](auto&&... args) { propel::gemm_bf16(args...); });
  m.def(
      "_to_bf16",
      [](const FloatArray& x, OutBf16Array& out) {
        CheckSameSize("propel.to_bf16", x.size(), out.size());
        nb::gil_scoped_release release;
        propel::to_bf16(static_cast<int64_t>(x.size()), x.data(),
                        reinterpret_cast<propel::bf16*>(out.data()));
      },
      "x"_a, "out"_a.noconvert());
  m.def(
      "_bf16_to_float",
      [](const Bf16Array& x, OutFloatArray& out) {
        CheckSameSize("propel.bf16_to_float", x.size(), out.size());
        nb::gil_scoped_release release;
        propel::to_float(static_cast<int64_t>(x.size()),
                         reinterpret_cast<const propel::bf16*>(x.data()), out.data());
      },
      "x"_a, "out"_a.noconvert());
  m.def(
      "_linear_forward",
      [](const Matrix& x, const Matrix& w, nb::object bias, const std::string& act, float alpha,
         OutMatrix& z) {
        const int64_t batch = static_cast<int64_t>(x.shape(0)),
                      in = static_cast<int64_t>(x.shape(1));
        const int64_t out = static_cast<int64_t>(w.shape(0));
        if (static_cast<int64_t>(w.shape(1)) != in || static_cast<int64_t>(z.shape(0)) != batch ||
            static_cast<int64_t>(z.shape(1)) != out) {
          throw propel::Error(propel::ErrorCode::kInvalidArgument,
                              "propel.linear_forward: X is " + std::to_string(batch) + " x " +
                                  std::to_string(in) + ", W " + std::to_string(w.shape(0)) + " x " +
                                  std::to_string(w.shape(1)) + ", Z " + std::to_string(z.shape(0)) +
                                  " x " + std::to_string(z.shape(1)));
        }
        const float* b = nullptr;
        nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> bias_arr;
        if (!bias.is_none()) {
          bias_arr = nb::cast<decltype(bias_arr)>(bias);
          if (static_cast<int64_t>(bias_arr.shape(0)) != out) {
            throw propel::Error(propel::ErrorCode::kInvalidArgument,
                                "propel.linear_forward: " + std::to_string(bias_arr.shape(0)) +
                                    " biases for " + std::to_string(out) + " outputs");
          }
          b = bias_arr.data();
        }
        const propel::Activation a = propel::parse_activation(act);
        nb::gil_scoped_release release;
        propel::linear_forward(batch, in, out, x.data(), in, w.data(), in, b, a, z.data(), out,
                               alpha);
      },
      "x"_a, "w"_a, "bias"_a.none(), "activation"_a, "alpha"_a, "z"_a.noconvert());

  // ---- Model --------------------------------------------------------------------------------
  nb::class_<propel::Model>(m, "_Model")
      .def(
          "__init__",
          [](propel::Model* self, int64_t inputs, int64_t outputs,
             const std::vector<int64_t>& hidden, const std::vector<std::string>& activations,
             const std::string& head, uint64_t seed, const std::string& init, float alpha) {
            new (self) propel::Model(MakeSpec(inputs, outputs, hidden, activations, head, alpha),
                                     seed, propel::parse_init(init));
          },
          "inputs"_a, "outputs"_a, "hidden"_a, "activations"_a, "head"_a, "seed"_a, "init"_a,
          "alpha"_a)
      .def("copy", [](const propel::Model& self) { return propel::Model(self); })
      .def_prop_ro("inputs", &propel::Model::inputs)
      .def_prop_ro("outputs", &propel::Model::outputs)
      .def_prop_ro("head", [](const propel::Model& self) { return propel::head_name(self.head()); })
      .def_prop_ro("num_layers", &propel::Model::num_layers)
      .def_prop_rw(
          "binary_classes",
          [](const propel::Model& self) -> std::optional<std::pair<int32_t, int32_t>> {
            const auto c = self.binary_classes();
            if (!c) return std::nullopt;
            return std::make_pair(c->negative, c->positive);
          },
          [](propel::Model& self, std::optional<std::pair<int32_t, int32_t>> c) {
            self.set_binary_classes(
                c ? std::optional<propel::BinaryClasses>(propel::BinaryClasses{c->first, c->second})
                  : std::nullopt);
          },
          nb::arg("classes").none())
      .def_prop_ro("parameter_count", &propel::Model::parameter_count)
      .def_prop_rw(
          "precision",
          [](const propel::Model& self) {
            return std::string(propel::precision_name(self.precision()));
          },
          [](propel::Model& self, const std::string& name) {
            self.set_precision(propel::parse_precision(name));
          })
      .def_prop_rw("portable", &propel::Model::portable, &propel::Model::set_portable)
      .def("checksum", [](const propel::Model& self) { return propel::parameter_checksum(self); })
      .def("describe", &propel::Model::describe)
      .def(
          "layer",
          [](const propel::Model& self, int64_t l) {
            if (l < 0 || l >= self.num_layers()) {
              throw nb::index_error(
                  ("layer " + std::to_string(l) + " of " + std::to_string(self.num_layers()))
                      .c_str());
            }
            const propel::LayerLayout& L = self.layer(l);
            nb::dict d;
            d["in"] = L.in;
            d["out"] = L.out;
            d["activation"] = propel::activation_name(L.activation);
            d["alpha"] = L.alpha;
            d["weight_offset"] = L.weight_offset;
            d["bias_offset"] = L.bias_offset;
            return d;
          },
          "l"_a)
      .def("parameters",
           [](nb::handle self) {
             const propel::Model& mm = nb::cast<const propel::Model&>(self);
             return ReadOnlyView(mm.parameters(), {static_cast<size_t>(mm.parameter_count())},
                                 self);
           })
      .def(
          "set_parameters",
          [](propel::Model& self, int64_t offset, int64_t count,
             const nb::ndarray<const float, nb::c_contig, nb::device::cpu>& values) {
            WriteParameters(self, "propel.Model", offset, count, values);
          },
          "offset"_a, "count"_a, "values"_a)
      .def("gradients",
           [](nb::handle self) {
             propel::Model& mm = nb::cast<propel::Model&>(self);
             return View(mm.gradients(), {static_cast<size_t>(mm.parameter_count())}, self);
           })
      .def(
          "weights",
          [](nb::handle self, int64_t l) {
            const propel::Model& mm = nb::cast<const propel::Model&>(self);
            const propel::LayerLayout& L = mm.layer(l);
            return ReadOnlyView(mm.parameters() + L.weight_offset,
                                {static_cast<size_t>(L.out), static_cast<size_t>(L.in)}, self);
          },
          "l"_a)
      .def(
          "bias",
          [](nb::handle self, int64_t l) {
            const propel::Model& mm = nb::cast<const propel::Model&>(self);
            const propel::LayerLayout& L = mm.layer(l);
            return ReadOnlyView(mm.parameters() + L.bias_offset, {static_cast<size_t>(L.out)},
                                self);
          },
          "l"_a)
      .def(
          "initialize",
          [](propel::Model& self, uint64_t seed, const std::string& init) {
            self.initialize(seed, propel::parse_init(init));
          },
          "seed"_a, "init"_a)
      .def(
          "predict",
          [](const propel::Model& self, const Matrix& x, bool logits) {
            if (static_cast<int64_t>(x.shape(1)) != self.inputs()) {
              throw propel::Error(propel::ErrorCode::kInvalidArgument,
                                  "propel.Model.predict: X has " + std::to_string(x.shape(1)) +
                                      " features, the model takes " +
                                      std::to_string(self.inputs()));
            }
            const int64_t rows = static_cast<int64_t>(x.shape(0));
            NumpyArray out = NewMatrix(rows, self.outputs());
            float* dst = out.data();
            {
              nb::gil_scoped_release release;
              if (rows > 0) {
                if (logits) {
                  self.predict_logits(rows, x.data(), self.inputs(), dst, self.outputs());
                } else {
                  self.predict(rows, x.data(), self.inputs(), dst, self.outputs());
                }
              }
            }
            return out;
          },
          "x"_a, "logits"_a)
      .def(
          "evaluate",
          [](const propel::Model& self, const Matrix& x, std::optional<Labels> labels,
             std::optional<Matrix> targets) {
            const propel::DataView v = MakeView(self, x, labels, targets, "propel.Model.evaluate");
            propel::Evaluation e;
            {
              nb::gil_scoped_release release;
              e = propel::evaluate(self, v);
            }
            nb::dict d;
            d["loss"] = e.loss;
            d["accuracy"] = e.accuracy;
            d["rows"] = e.rows;
            return d;
          },
          "x"_a, "labels"_a.none(), "targets"_a.none())
      .def("checkpoint_bytes",
           [](const propel::Model& self) {
             const std::string bytes = propel::checkpoint_bytes(self);
             return nb::bytes(bytes.data(), bytes.size());
           })
      .def("save", [](const propel::Model& self,
                      const std::string& path) { propel::save_checkpoint(path, self); })
      .def("onnx_bytes",
           [](const propel::Model& self) {
             const std::string bytes = propel::onnx_bytes(self);
             return nb::bytes(bytes.data(), bytes.size());
           })
      .def("save_onnx", [](const propel::Model& self, const std::string& path) {
        propel::save_onnx(path, self);
      });

  m.def(
      "_load_model", [](const std::string& path) { return propel::load_model(path); }, "path"_a);
  m.def(
      "_model_from_bytes",
      [](nb::bytes data, const std::string& name) {
        return propel::parse_checkpoint_model(std::string_view(data.c_str(), data.size()), name);
      },
      "data"_a, "name"_a);

  // ---- Trainer ------------------------------------------------------------------------------
  nb::class_<propel::Trainer>(m, "_Trainer")
      .def(
          "__init__",
          [](propel::Trainer* self, propel::Model& model, const std::string& optimizer, float lr,
             float momentum, float beta1, float beta2, float eps, float weight_decay,
             float clip_norm, int64_t max_batch, int64_t shard_rows, const std::string& executor,
             int threads, const std::string& precision, bool decay_bias, bool portable) {
            propel::OptimizerConfig o;
            o.kind = propel::parse_optimizer(optimizer);
            o.lr = lr;
            o.momentum = momentum;
            o.beta1 = beta1;
            o.beta2 = beta2;
            o.eps = eps;
            o.weight_decay = weight_decay;
            o.clip_norm = clip_norm;
            o.decay_bias = decay_bias;
            propel::StepOptions s;
            s.shard_rows = shard_rows;
            s.executor = ParseExecutor(executor);
            s.threads = threads;
            s.precision = propel::parse_precision(precision);
            s.portable = portable;
            new (self) propel::Trainer(model, o, max_batch, s);
          },
          "model"_a, "optimizer"_a, "lr"_a, "momentum"_a, "beta1"_a, "beta2"_a, "eps"_a,
          "weight_decay"_a, "clip_norm"_a, "max_batch"_a, "shard_rows"_a, "executor"_a, "threads"_a,
          "precision"_a, "decay_bias"_a, "portable"_a, nb::keep_alive<1, 2>())
      .def(
          "step",
          [](propel::Trainer& self, const Matrix& x, std::optional<Labels> labels,
             std::optional<Matrix> targets) {
            const propel::DataView v =
                MakeView(self.model(), x, labels, targets, "propel.Trainer.step");
            propel::StepResult r;
            {
              nb::gil_scoped_release release;
              r = self.step(v);
            }
            return StepDict(r);
          },
          "x"_a, "labels"_a.none(), "targets"_a.none())
      .def(
          "compute_gradients",
          [](propel::Trainer& self, const Matrix& x, std::optional<Labels> labels,
             std::optional<Matrix> targets) {
            const propel::DataView v =
                MakeView(self.model(), x, labels, targets, "propel.Trainer.compute_gradients");
            propel::StepResult r;
            {
              nb::gil_scoped_release release;
              r = self.compute_gradients(v);
            }
            return StepDict(r);
          },
          "x"_a, "labels"_a.none(), "targets"_a.none())
      .def("apply_gradients",
           [](propel::Trainer& self) {
             nb::gil_scoped_release release;
             self.apply_gradients();
           })
      .def_prop_rw("learning_rate", &propel::Trainer::learning_rate,
                   &propel::Trainer::set_learning_rate)
      .def_prop_ro("steps", &propel::Trainer::steps)
      .def_prop_ro("max_batch", &propel::Trainer::max_batch)
      .def_prop_ro("threads", &propel::Trainer::threads)
      .def_prop_ro("precision",
                   [](const propel::Trainer& self) {
                     return std::string(propel::precision_name(self.options().precision));
                   })
      .def_prop_ro("portable", [](const propel::Trainer& self) { return self.options().portable; })
      .def("state",
           [](nb::handle self) {
             propel::Trainer& t = nb::cast<propel::Trainer&>(self);
             return View(t.state(), {static_cast<size_t>(t.state_size())}, self);
           })
      .def(
          "fit",
          [](propel::Trainer& self, const Matrix& x, std::optional<Labels> labels,
             std::optional<Matrix> targets, int64_t start_epoch, int64_t epochs, int64_t batch,
             uint64_t seed, bool shuffle, std::optional<float> lr) {
            const propel::DataView v =
                MakeView(self.model(), x, labels, targets, "propel.Trainer.fit");
            propel::FitOptions o;
            if (lr) o.base_lr = *lr;
            o.epochs = epochs;
            o.start_epoch = start_epoch;
            o.batch = batch;
            o.seed = seed;
            o.shuffle = shuffle;
            // Between batches: Ctrl-C stops the run, the model at its last completed step.
            o.on_progress = [](const propel::Progress&) {
              nb::gil_scoped_acquire acquire;
              if (PyErr_CheckSignals() != 0) throw Interrupted{};
            };
            propel::FitResult r;
            try {
              nb::gil_scoped_release release;
              r = propel::fit(self, v, nullptr, o);
            } catch (const Interrupted&) {
              throw nb::python_error();  // the KeyboardInterrupt PyErr_CheckSignals raised
            }
            nb::list history;
            for (const propel::EpochStats& s : r.history) history.append(EpochDict(s));
            return history;
          },
          "x"_a, "labels"_a.none(), "targets"_a.none(), "start_epoch"_a, "epochs"_a, "batch"_a,
          "seed"_a, "shuffle"_a, "lr"_a.none())
      .def(
          "checkpoint_bytes",
          [](const propel::Trainer& self, int64_t epochs_done) {
            propel::Trainer& t = const_cast<propel::Trainer&>(self);
            const std::string bytes = propel::checkpoint_bytes(t.model(), &t, epochs_done);
            return nb::bytes(bytes.data(), bytes.size());
          },
          "epochs_done"_a)
      .def(
          "save",
          [](propel::Trainer& self, const std::string& path, int64_t epochs_done) {
            propel::save_checkpoint(path, self.model(), &self, epochs_done);
          },
          "path"_a, "epochs_done"_a)
      .def(
          "load_bytes",
          [](propel::Trainer& self, nb::bytes data, const std::string& name) {
            return propel::load_checkpoint_bytes(std::string_view(data.c_str(), data.size()), name,
                                                 self.model(), &self)
                .epochs_done;
          },
          "data"_a, "name"_a)
      .def(
          "load",
          [](propel::Trainer& self, const std::string& path) {
            const propel::CheckpointInfo info = propel::load_checkpoint(path, self.model(), &self);
            return info.epochs_done;
          },
          "path"_a);
}
