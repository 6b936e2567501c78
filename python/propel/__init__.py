"""propel: multilayer perceptrons trained with backpropagation on CPUs.

The compiled core (propel._propel, the C++ library through nanobind) with a NumPy interface:

    propel.Model, propel.Trainer        models, training steps, parameters as NumPy views
    propel.sgemm, propel.linear_forward the GEMM kernels on NumPy arrays
    propel.gemm_bf16, to_bf16, ...      bf16 products, bf16 storage (docs/precision.md)
    propel.load, propel.save            checkpoints, the same files as the `propel` CLI
    propel.export_onnx                  a model (or a fitted estimator) as an ONNX graph
    propel.MLPClassifier, MLPRegressor  scikit-learn estimators (needs scikit-learn)

docs/python.md has the whole story.
"""

from propel._propel import (
    ONNX_OPSET,
    InvalidArgumentError,
    NumericalError,
    PropelError,
    PropelIOError,
    UnsupportedError,
    __version__,
    active_target,
    available_targets,
    num_threads,
    pin_target,
    resolve_precision,
    set_num_threads,
    unpin_target,
)
from propel._core import (
    Model,
    Trainer,
    bf16_to_float,
    export_onnx,
    gemm_bf16,
    linear_forward,
    load,
    save,
    sgemm,
    to_bf16,
)

__all__ = [
    "Model",
    "Trainer",
    "MLPClassifier",
    "MLPRegressor",
    "sgemm",
    "gemm_bf16",
    "to_bf16",
    "bf16_to_float",
    "linear_forward",
    "load",
    "save",
    "export_onnx",
    "available_targets",
    "active_target",
    "pin_target",
    "unpin_target",
    "resolve_precision",
    "set_num_threads",
    "num_threads",
    "PropelError",
    "InvalidArgumentError",
    "UnsupportedError",
    "PropelIOError",
    "NumericalError",
    "ONNX_OPSET",
    "__version__",
]


def __getattr__(name):
    # The estimators import scikit-learn: only when asked for.
    if name in ("MLPClassifier", "MLPRegressor"):
        from propel import sklearn as _sk

        return getattr(_sk, name)
    raise AttributeError(f"module 'propel' has no attribute {name!r}")
