"""ONNX export: every activation and head, checked by onnx and run by ONNX Runtime against
propel's own predictions (1e-5 relative; 1e-6 absolute for values near 0)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import propel
from propel import MLPClassifier, MLPRegressor

ACTIVATIONS = ["identity", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu_tanh",
               "gelu_erf", "silu", "softplus"]


def run_onnx(data, x):
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == propel.ONNX_OPSET
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": x})
    return out


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("head,outputs", [("multiclass", 4), ("binary", 3), ("regression", 2)])
def test_every_activation_and_head(activation, head, outputs):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 9)).astype(np.float32)
    alpha = {"leaky_relu": 0.05, "elu": 0.7}.get(activation)
    m = propel.Model(9, outputs, hidden=[16, 7], activation=activation, head=head, seed=11,
                     alpha=alpha)
    m.parameters = m.parameters + rng.standard_normal(m.parameter_count).astype(np.float32) * 0.1
    got = run_onnx(propel.export_onnx(m), x)
    np.testing.assert_allclose(got, m.predict(x), rtol=1e-5, atol=1e-6)


def test_estimators_export_and_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    y = np.where(x[:, 0] > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(x, y)
    path = tmp_path / "clf.onnx"
    propel.export_onnx(clf, path)
    got = run_onnx(path.read_bytes(), x)  # binary: one sigmoid column, P(classes_[1])
    np.testing.assert_allclose(got[:, 0], clf.predict_proba(x)[:, 1], rtol=1e-5, atol=1e-6)
    reg = MLPRegressor(hidden_layer_sizes=(10,), max_iter=20, random_state=0)
    reg.fit(x, np.column_stack([x[:, 0], x[:, 1] * 2]))
    got = run_onnx(propel.export_onnx(reg), x)
    np.testing.assert_allclose(got, reg.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="fitted propel estimator"):
        propel.export_onnx(MLPClassifier())
