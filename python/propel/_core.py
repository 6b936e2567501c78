"""Models, trainers, GEMMs and files on NumPy arrays (the layer under the estimators).

Arrays: a float32, C-contiguous 2-D X is used in place; anything else is converted once to that
(one copy). Labels become int32, targets float32, the same way. Parameters, gradients and the
optimizer state are views of the C++ arenas; the parameters' are read-only, written through the
model (Model.parameters = ..., set_weights, set_bias) so that it sees every write.
"""

import numpy as np

from propel import _propel


def as_matrix(x, name="X"):
    """x as a float32 C-contiguous 2-D array: itself when it is one, else one converted copy."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x features), got an array of shape {a.shape}")
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.float32)


def _targets(model, y):
    """(labels, targets) for the model's head: int32 class indices or float32 rows x outputs."""
    if model.head == "multiclass":
        labels = np.asarray(y)
        if labels.ndim != 1:
            raise ValueError(f"y must be 1-D class indices for a multiclass model, got shape {labels.shape}")
        if labels.dtype != np.int32 or not labels.flags.c_contiguous:
            if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
                raise ValueError("y must hold integer class indices for a multiclass model")
            labels = np.ascontiguousarray(labels, dtype=np.int32)
        return labels, None
    t = np.asarray(y)
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    return None, as_matrix(t, "y")


class Model:
    """A multilayer perceptron: inputs, hidden layers (units and activation), an output head.

    head: "multiclass" (softmax + cross-entropy, outputs >= 2 classes), "binary" (sigmoid +
    binary cross-entropy, one column per label) or "regression" (identity + squared error).
    activation: one name for every hidden layer or one per layer (relu, sigmoid, tanh,
    leaky_relu, elu, gelu_tanh, gelu_erf, silu, softplus, identity); alpha: leaky ReLU's slope,
    ELU's scale (None: their defaults). Weights are drawn by `init` from `seed`, biases are zero.
    """

    def __init__(self, inputs, outputs, hidden=(), activation="relu", head="multiclass", seed=0,
                 init="he_uniform", alpha=None, _model=None):
        if _model is not None:
            self._m = _model
            return
        hidden = [int(h) for h in hidden]
        acts = [activation] if isinstance(activation, str) else list(activation)
        self._m = _propel._Model(int(inputs), int(outputs), hidden, acts, head, int(seed), init,
                                 float("nan") if alpha is None else float(alpha))

    # -- description -----------------------------------------------------------------------
    inputs = property(lambda self: self._m.inputs)
    outputs = property(lambda self: self._m.outputs)
    head = property(lambda self: self._m.head)
    parameter_count = property(lambda self: self._m.parameter_count)
    precision = property(
        lambda self: self._m.precision,
        lambda self, v: setattr(self._m, "precision", str(v)),
        doc="The precision predict, predict_logits and evaluate run their GEMMs in: 'fp32', or "
            "'bf16' (operands rounded to bf16, fp32 sums; docs/precision.md). A Trainer sets its "
            "own; a checkpoint keeps it. Setting 'auto' sets what propel.resolve_precision "
            "gives.")
    portable = property(
        lambda self: self._m.portable,
        lambda self, v: setattr(self._m, "portable", bool(v)),
        doc="Portable mode for predict, predict_logits and evaluate: their results are then "
            "bitwise the same on every SIMD target with FMA and every x86-64 CPU "
            "(docs/reproducibility.md). A Trainer sets its own; a checkpoint keeps it.")

    def checksum(self):
        """FNV-1a (64 bits) of the parameters' bytes, as an int: `propel train`'s parameter
        checksum (format(model.checksum(), "016x") prints it the same way). Equal checksums mean
        bitwise-equal parameters."""
        return self._m.checksum()

    binary_classes = property(
        lambda self: self._m.binary_classes,
        lambda self, v: setattr(self._m, "binary_classes", None if v is None else tuple(v)),
        doc="(negative, positive): the two classes of a labelled data set a binary model "
            "separates (`propel train --binary NEG,POS`), or None; a checkpoint keeps them.")

    @property
    def layers(self):
        """Per dense layer (the output layer last): in, out, activation, alpha, offsets."""
        return [self._m.layer(i) for i in range(self._m.num_layers)]

    def describe(self):
        return self._m.describe()

    def __repr__(self):
        return f"propel.Model({self._m.describe()})"

    # -- parameters (read-only views, no copy; written through the setters) -----------------
    @property
    def parameters(self):
        """All parameters, one read-only float32 view of the arena: W_1, b_1, W_2, b_2, ...
        Assign to write them (``m.parameters = values``): a write through the model gives it a
        new version, so that the packed copies of the weights (the trainer's, predict's) are
        made again from the new values."""
        return self._m.parameters()

    @parameters.setter
    def parameters(self, values):
        self._write(0, self._m.parameter_count, values)

    @property
    def gradients(self):
        """The gradient arena (same layout), written by Trainer.compute_gradients; writable."""
        return self._m.gradients()

    def weights(self, layer):
        """W of dense layer `layer` (out x in), a read-only view; set_weights writes it."""
        return self._m.weights(int(layer))

    def bias(self, layer):
        """b of dense layer `layer`, a read-only view; set_bias writes it."""
        return self._m.bias(int(layer))

    def set_weights(self, layer, values):
        """Writes W of dense layer `layer` from an (out x in) array."""
        info = self._m.layer(int(layer))
        values = np.asarray(values)
        if values.shape != (info["out"], info["in"]):
            raise _propel.InvalidArgumentError(
                f"propel.Model.set_weights: layer {layer} has {info['out']} x {info['in']} "
                f"weights, not {values.shape}")
        self._write(info["weight_offset"], info["out"] * info["in"], values)

    def set_bias(self, layer, values):
        """Writes b of dense layer `layer` from an array of `out` values."""
        info = self._m.layer(int(layer))
        values = np.asarray(values)
        if values.shape != (info["out"],):
            raise _propel.InvalidArgumentError(
                f"propel.Model.set_bias: layer {layer} has {info['out']} biases, not {values.shape}")
        self._write(info["bias_offset"], info["out"], values)

    def _write(self, offset, count, values):
        values = np.ascontiguousarray(values, dtype=np.float32).ravel()
        self._m.set_parameters(int(offset), int(count), values)

    def initialize(self, seed=0, init="he_uniform"):
        self._m.initialize(int(seed), init)

    # -- inference -------------------------------------------------------------------------
    def predict(self, x):
        """The head's output for every row: probabilities (classification) or values."""
        return self._m.predict(as_matrix(x), False)

    def predict_logits(self, x):
        """The output layer's pre-activations."""
        return self._m.predict(as_matrix(x), True)

    def evaluate(self, x, y):
        """{'loss', 'accuracy', 'rows'}: mean loss and accuracy (NaN for regression)."""
        labels, targets = _targets(self, y)
        return self._m.evaluate(as_matrix(x), labels, targets)

    # -- files and pickling ----------------------------------------------------------------
    def copy(self):
        return Model(0, 0, _model=self._m.copy())

    def save(self, path):
        """A checkpoint `propel evaluate` / `propel predict` / propel.load read."""
        self._m.save(str(path))

    def to_bytes(self):
        return self._m.checkpoint_bytes()

    @classmethod
    def from_bytes(cls, data, name="<bytes>"):
        return cls(0, 0, _model=_propel._model_from_bytes(bytes(data), name))

    def __getstate__(self):
        return {"checkpoint": self.to_bytes()}

    def __setstate__(self, state):
        self._m = _propel._model_from_bytes(state["checkpoint"], "<pickle>")


class Trainer:
    """The training step of one model: optimizer state and workspace for batches of up to
    max_batch rows (docs/training.md). Results are bitwise the same for any thread count and
    executor ("tbb", "omp", "serial"); they depend on shard_rows and precision: "fp32", or
    "bf16" mixed precision (every GEMM's operands rounded to bf16, products summed in fp32,
    everything else fp32; docs/precision.md), or "auto": bf16 where the CPU multiplies bf16
    natively (AMX, AVX512_BF16), fp32 elsewhere. The trainer sets the model's precision to its own
    (the resolved one: `precision` reads "fp32" or "bf16"). weight_decay applies to the biases too
    unless decay_bias=False (scikit-learn's alpha: the weights only). portable=True: portable
    mode, whose parameters, losses and predictions are bitwise the same on every SIMD target with
    FMA and every x86-64 CPU, Intel or AMD (docs/reproducibility.md; precision "auto" is then
    "fp32"); the model takes it too."""

    def __init__(self, model, optimizer="adam", lr=1e-3, momentum=0.9, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.0, clip_norm=0.0, max_batch=256, shard_rows=256,
                 executor="tbb", threads=0, precision="fp32", decay_bias=True, portable=False):
        self.model = model
        self._t = _propel._Trainer(model._m, optimizer, float(lr), float(momentum), float(beta1),
                                   float(beta2), float(eps), float(weight_decay),
                                   float(clip_norm), int(max_batch), int(shard_rows), executor,
                                   int(threads), str(precision), bool(decay_bias),
                                   bool(portable))

    def step(self, x, y):
        """Forward, loss, backward and update on one batch; {'loss', 'rows', 'correct', ...}."""
        labels, targets = _targets(self.model, y)
        return self._t.step(as_matrix(x), labels, targets)

    def compute_gradients(self, x, y):
        """Forward and backward only: model.gradients receives the mean loss's gradient."""
        labels, targets = _targets(self.model, y)
        return self._t.compute_gradients(as_matrix(x), labels, targets)

    def apply_gradients(self):
        """One optimizer update from model.gradients."""
        self._t.apply_gradients()

    def fit(self, x, y, epochs=1, batch=64, seed=0, shuffle=True, start_epoch=0, lr=None):
        """Epochs [start_epoch, epochs) of shuffled mini-batches; one dict per epoch. Ctrl-C
        stops between batches (KeyboardInterrupt), the model at its last completed step. lr:
        the learning rate of these epochs (None: the optimizer's)."""
        labels, targets = _targets(self.model, y)
        return self._t.fit(as_matrix(x), labels, targets, int(start_epoch), int(epochs),
                           int(batch), int(seed), bool(shuffle),
                           None if lr is None else float(lr))

    learning_rate = property(lambda self: self._t.learning_rate,
                             lambda self, v: setattr(self._t, "learning_rate", float(v)))
    steps = property(lambda self: self._t.steps)
    max_batch = property(lambda self: self._t.max_batch)
    threads = property(lambda self: self._t.threads)
    precision = property(lambda self: self._t.precision)
    portable = property(lambda self: self._t.portable)

    @property
    def state(self):
        """The optimizer's state (velocity, or Adam's two moments), a view; empty for SGD."""
        return self._t.state()

    def save(self, path, epochs_done=0):
        """A checkpoint with the optimizer state, to resume from (Trainer.load, propel train
        --resume)."""
        self._t.save(str(path), int(epochs_done))

    def load(self, path):
        """Restores parameters and optimizer state saved by save(); returns epochs_done."""
        return self._t.load(str(path))

    def to_bytes(self, epochs_done=0):
        """The checkpoint save() writes, as bytes."""
        return self._t.checkpoint_bytes(int(epochs_done))

    def load_bytes(self, data, name="<bytes>"):
        """load() from to_bytes()'s output; returns epochs_done."""
        return self._t.load_bytes(bytes(data), name)


def sgemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """C = alpha op(A) op(B) + beta C on float32 arrays; returns C (c, written in place, must be
    a float32 C-contiguous array of the result's shape; None: a new one)."""
    a = as_matrix(a, "a")
    b = as_matrix(b, "b")
    c = _result(c, a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1])
    _propel._sgemm(bool(trans_a), bool(trans_b), float(alpha), a, b, float(beta), c)
    return c


def gemm_bf16(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """sgemm with bf16 products: the operands rounded to bf16 (ties to even), products summed in
    float32 (docs/precision.md). a and b are float32 arrays (rounded as they are packed) or both
    uint16 arrays of bf16 bits (from to_bf16: converted once, e.g. weights); the result is the
    same for both forms. c as sgemm's."""
    a = np.asarray(a)
    b = np.asarray(b)
    stored = a.dtype == np.uint16, b.dtype == np.uint16
    if stored[0] != stored[1]:
        # One operand already in bf16: the other converted the same way gives the same products.
        if not stored[0]:
            a = to_bf16(as_matrix(a, "a"))
        if not stored[1]:
            b = to_bf16(as_matrix(b, "b"))
    if a.dtype == np.uint16:
        a = _bf16_matrix(a, "a")
        b = _bf16_matrix(b, "b")
        gemm = _propel._gemm_bf16_stored
    else:
        a = as_matrix(a, "a")
        b = as_matrix(b, "b")
        gemm = _propel._gemm_bf16
    c = _result(c, a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1])
    gemm(bool(trans_a), bool(trans_b), float(alpha), a, b, float(beta), c)
    return c


def to_bf16(x):
    """The bf16 nearest to every value of x (ties to even, NaN stays NaN, float32 denormals to
    zero, past the largest bf16 to infinity), as a uint16 array of bf16 bits of x's shape."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape, dtype=np.uint16)
    _propel._to_bf16(x, out)
    return out


def bf16_to_float(bits):
    """The float32 values (exact) of a uint16 array of bf16 bits, of its shape."""
    bits = np.asarray(bits)
    if bits.dtype != np.uint16:
        raise ValueError(f"bf16 values are uint16 arrays of their bits, got dtype {bits.dtype}")
    bits = np.ascontiguousarray(bits)
    out = np.empty(bits.shape, dtype=np.float32)
    _propel._bf16_to_float(bits, out)
    return out


def _bf16_matrix(x, name):
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got an array of shape {x.shape}")
    return np.ascontiguousarray(x)


def _result(c, m, n):
    if c is None:
        return np.zeros((m, n), dtype=np.float32)
    if not (isinstance(c, np.ndarray) and c.dtype == np.float32 and c.flags.c_contiguous
            and c.flags.writeable and c.ndim == 2):
        raise ValueError("c must be a writeable float32 C-contiguous 2-D array")
    return c


def linear_forward(x, w, bias=None, activation="identity", alpha=0.0, out=None):
    """Z = act(X W^T + bias) in one GEMM (W: out x in, the layout of torch.nn.Linear.weight)."""
    x = as_matrix(x, "x")
    w = as_matrix(w, "w")
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=np.float32)
    if out is None:
        out = np.empty((x.shape[0], w.shape[0]), dtype=np.float32)
    _propel._linear_forward(x, w, bias, activation, float(alpha), out)
    return out


def load(path):
    """The model in a checkpoint (written by Model.save, Trainer.save or `propel train`)."""
    return Model(0, 0, _model=_propel._load_model(str(path)))


def save(obj, path, epochs_done=0):
    """Saves a Model, a Trainer (with its optimizer state) or a fitted propel estimator."""
    if isinstance(obj, Trainer):
        obj.save(path, epochs_done)
    else:
        _model_of(obj).save(path)


def _model_of(obj):
    if isinstance(obj, Model):
        return obj
    model = getattr(obj, "model_", None)
    if isinstance(model, Model):
        return model
    raise TypeError(f"expected a propel.Model or a fitted propel estimator, got {type(obj).__name__}")


def export_onnx(model_or_estimator, path=None):
    """Writes the model (or a fitted MLPClassifier / MLPRegressor's) as ONNX, standard operators
    of opset propel.ONNX_OPSET: input "input" [N, features], output "probabilities" (softmax or
    sigmoid) or "predictions" (regression). Returns the bytes when path is None."""
    model = _model_of(model_or_estimator)
    if path is None:
        return model._m.onnx_bytes()
    model._m.save_onnx(str(path))
    return None
