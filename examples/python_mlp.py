"""propel from Python: a scikit-learn estimator, the model under it, ONNX export.

    build/venv/bin/python examples/python_mlp.py

(after tools/test.sh, which builds the package into build/venv; or `pip install .` anywhere)
"""

import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import propel

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype(np.float32)  # float32, C-contiguous: used in place, never copied
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)

# scikit-learn's interface; every epoch runs in propel with the GIL released.
clf = propel.MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=40, early_stopping=True,
                           random_state=0, verbose=1)
clf.fit(x_train, y_train)
print(f"test accuracy {clf.score(x_test, y_test):.4f} after {clf.n_iter_} epochs")

# The model under it: parameters are NumPy views of propel's arena (no copy).
model = clf.model_
print(model.describe())
print("first layer W:", model.weights(0).shape, "shares memory with the arena:",
      np.shares_memory(model.weights(0), model.parameters))

# The same model as ONNX, run by ONNX Runtime when it is installed.
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "digits.onnx"
    propel.export_onnx(clf, path)
    ckpt = Path(tmp) / "digits.ckpt"
    propel.save(clf, ckpt)  # `propel evaluate` / `propel predict` read this file too
    assert np.array_equal(propel.load(ckpt).predict(x_test), clf.predict_proba(x_test))
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: skipping the ONNX run")
    else:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (probabilities,) = session.run(None, {"input": x_test})
        print("ONNX Runtime agrees:",
              np.allclose(probabilities, clf.predict_proba(x_test), rtol=1e-5, atol=1e-6))
