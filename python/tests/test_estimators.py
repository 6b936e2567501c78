"""propel.MLPClassifier / MLPRegressor beyond scikit-learn's checks: accuracy against
scikit-learn's own MLP, the stopping rules, incremental fits, pickling, progress lines, memory,
Ctrl-C."""

import os
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pandas as pd
import pytest
import sklearn.neural_network as sknn
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import propel
from propel import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=0.3, random_state=0)


def test_digits_accuracy_is_scikit_learns():
    xtr, xte, ytr, yte = digits()
    ours = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0).fit(xtr, ytr)
    theirs = sknn.MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0).fit(xtr, ytr)
    a, b = ours.score(xte, yte), theirs.score(xte, yte)
    assert a > 0.95 and abs(a - b) < 0.03, (a, b)
    assert ours.n_iter_ == len(ours.loss_curve_) <= 60
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [c.shape for c in ours.intercepts_] == [c.shape for c in theirs.intercepts_]
    p = ours.predict_proba(xte)
    assert p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert list(ours.classes_) == list(range(10))


def test_binary_uses_one_sigmoid_output():
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=1).fit(x, y)
    assert clf.model_.head == "binary" and clf.model_.outputs == 1
    assert clf.out_activation_ == "logistic"
    assert clf.score(x, y) > 0.95
    assert clf.predict_proba(x).shape == (len(x), 2)


def test_multilabel_and_multioutput_regression():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    y = np.column_stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 0] + x[:, 1] > 0]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0,
                        learning_rate_init=0.01).fit(x, y)
    assert clf.predict(x).shape == y.shape and clf.score(x, y) > 0.9
    t = np.column_stack([x[:, 0] * 2, x[:, 1] - x[:, 2]])
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, random_state=0,
                       learning_rate_init=0.01).fit(x, t)
    assert reg.predict(x).shape == t.shape and reg.score(x, t) > 0.9
    reg1 = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(x, t[:, 0])
    assert reg1.predict(x).shape == (300,)


def test_early_stopping_and_tol_stop_before_max_iter():
    xtr, _, ytr, _ = digits()
    es = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, early_stopping=True,
                       n_iter_no_change=3, random_state=0).fit(xtr, ytr)
    assert es.n_iter_ < 500
    assert len(es.validation_scores_) == es.n_iter_
    assert es.best_validation_score_ == max(es.validation_scores_)
    plain = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, tol=1e-2, random_state=0)
    plain.fit(xtr, ytr)
    assert plain.n_iter_ < 500 and plain.validation_scores_ is None


def test_warm_start_partial_fit_and_pickle():
    xtr, xte, ytr, yte = digits()
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0, warm_start=True)
    clf.fit(xtr, ytr)
    first = clf.loss_curve_[-1]
    clf.fit(xtr, ytr)
    assert clf.n_iter_ == 10 and clf.loss_curve_[-1] < first
    clf.set_params(early_stopping=True).fit(xtr, ytr)  # switching early stopping on goes on
    assert clf.n_iter_ > 10 and len(clf.validation_scores_) == clf.n_iter_ - 10
    clf.set_params(early_stopping=False).fit(xtr, ytr)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        clf.set_params(hidden_layer_sizes=(8,)).fit(xtr, ytr)
    inc = MLPClassifier(hidden_layer_sizes=(32,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        inc.partial_fit(xtr, ytr)
    for _ in range(3):
        inc.partial_fit(xtr, ytr, classes=np.arange(10))
    assert inc.n_iter_ == 3
    back = pickle.loads(pickle.dumps(inc))
    assert np.array_equal(back.predict_proba(xte), inc.predict_proba(xte))
    back.partial_fit(xtr, ytr)  # goes on with the pickled optimizer state: the same epoch
    inc.partial_fit(xtr, ytr)
    assert back.n_iter_ == inc.n_iter_ == 4
    assert np.array_equal(back.model_.parameters, inc.model_.parameters)


def test_bf16_precision_reaches_the_fp32_accuracy_and_can_change_between_partial_fits():
    xtr, xte, ytr, yte = digits()
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0, precision="bf16")
    clf.fit(xtr, ytr)
    assert clf.model_.precision == "bf16" and clf.score(xte, yte) > 0.95
    fp32 = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0).fit(xtr, ytr)
    assert not np.array_equal(fp32.model_.parameters, clf.model_.parameters)
    assert pickle.loads(pickle.dumps(clf)).model_.precision == "bf16"
    # partial_fit: another precision (or a larger batch) continues the optimizer state.
    a = MLPClassifier(hidden_layer_sizes=(32,), random_state=0, batch_size=100)
    b = MLPClassifier(hidden_layer_sizes=(32,), random_state=0, batch_size=100)
    for est in (a, b):
        est.partial_fit(xtr, ytr, classes=np.arange(10))
    b.set_params(precision="bf16").partial_fit(xtr, ytr)
    assert b.model_.precision == "bf16" and b._trainer.steps == 2 * a._trainer.steps
    b.set_params(precision="fp32", batch_size=200).partial_fit(xtr, ytr)
    assert b.model_.precision == "fp32" and b._trainer.max_batch == 200
    assert b._trainer.steps == 2 * a._trainer.steps + -(-len(xtr) // 200)
    with pytest.raises(ValueError, match="precision='fp16'"):
        MLPRegressor(precision="fp16").fit(xtr, ytr)


def test_feature_names_and_threads_parameters():
    xtr, xte, ytr, _ = digits()
    frame = pd.DataFrame(xtr, columns=[f"px{i}" for i in range(xtr.shape[1])])
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0, threads=1,
                        shard_size=64, executor="serial").fit(frame, ytr)
    assert list(clf.feature_names_in_) == list(frame.columns) and clf.n_features_in_ == 64
    two = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0, threads=2,
                        shard_size=64, executor="tbb").fit(xtr, ytr)
    test_frame = pd.DataFrame(xte, columns=frame.columns)
    assert np.array_equal(clf.predict_proba(test_frame), two.predict_proba(xte))  # same bits


def test_bad_parameters_and_data_give_clear_errors():
    xtr, _, ytr, _ = digits()
    for params, match in [({"solver": "newton"}, "solver"), ({"activation": "nope"}, "activation"),
                          ({"learning_rate": "cyclic"}, "learning_rate"),
                          ({"power_t": float("nan")}, "power_t"), ({"max_fun": 0}, "max_fun"),
                          ({"precision": "fp16"}, "precision"),
                          ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
                          ({"batch_size": 0}, "batch_size"), ({"max_iter": 0}, "max_iter")]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**params).fit(xtr, ytr)
    with pytest.raises(ValueError, match="1 class"):
        MLPClassifier().fit(xtr, np.zeros(len(xtr)))
    bad = xtr.copy()
    bad[3, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MLPClassifier().fit(bad, ytr)


def test_verbose_prints_a_line_per_epoch(capsys):
    xtr, _, ytr, _ = digits()
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, verbose=1, early_stopping=True,
                  random_state=0).fit(xtr, ytr)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 3
    assert "loss" in lines[0] and "validation score" in lines[0] and "samples/s" in lines[0]


def test_ctrl_c_leaves_the_estimator_at_its_last_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8192, 256)).astype(np.float32)
    y = rng.integers(0, 10, 8192)
    clf = MLPClassifier(hidden_layer_sizes=(512, 512), max_iter=1000, batch_size=64, threads=1,
                        random_state=0)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), 2))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(x, y)
    assert clf.n_iter_ < 1000
    assert np.all(np.isfinite(clf.predict_proba(x[:10])))


def test_fit_uses_a_float32_array_in_place():
    """Peak memory of a fit on a 256 MiB float32 array: less than 10% of the array above what
    the process held before (the array is never copied)."""
    code = textwrap.dedent("""
        import resource, numpy as np
        from propel import MLPClassifier
        rows, cols = 65536, 1024                      # 256 MiB of float32
        x = np.random.default_rng(0).random((rows, cols), dtype=np.float32)
        y = (x[:, 0] > 0.5).astype(np.int64)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(x[:256], y[:256])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=1, batch_size=256,
                      random_state=0).fit(x, y)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print((after - before) / x.nbytes)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONWARNINGS="ignore"), check=True)
    ratio = float(out.stdout.strip().splitlines()[-1])
    assert ratio < 0.10, ratio


def test_lbfgs_is_scikit_learns_full_batch_solver():
    xtr, xte, ytr, yte = digits()
    ours = MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=100,
                         random_state=0).fit(xtr, ytr)
    theirs = sknn.MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=100,
                                random_state=0).fit(xtr, ytr)
    a, b = ours.score(xte, yte), theirs.score(xte, yte)
    assert a > 0.93 and abs(a - b) < 0.03, (a, b)
    assert 1 <= ours.n_iter_ <= 100 and np.isfinite(ours.loss_)
    with pytest.raises(AttributeError, match="partial_fit"):
        ours.partial_fit(xtr, ytr)
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    # max_fun bounds the function evaluations; reaching max_iter warns as scikit-learn does.
    with pytest.warns(ConvergenceWarning):
        short = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=3,
                              random_state=0).fit(xtr, ytr)
    assert short.n_iter_ == 3
    few = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_fun=5,
                        random_state=0).fit(xtr, ytr)
    assert few.n_iter_ <= 5
    # Regression, and the gradient evaluated over row chunks gives the one-batch result.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 6)).astype(np.float32)
    t = x @ rng.standard_normal(6) + 0.1 * rng.standard_normal(400)
    reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0).fit(x, t)
    assert reg.score(x, t) > 0.98
    import propel.sklearn as ps
    saved = ps._LBFGS_CHUNK_ROWS
    try:
        ps._LBFGS_CHUNK_ROWS = 128
        chunked = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", shard_size=128,
                               random_state=0).fit(x, t)
    finally:
        ps._LBFGS_CHUNK_ROWS = saved
    assert abs(chunked.score(x, t) - reg.score(x, t)) < 1e-3


def test_sgd_learning_rate_schedules_follow_scikit_learn():
    xtr, _, ytr, _ = digits()
    inv = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="invscaling",
                        learning_rate_init=0.5, power_t=0.25, max_iter=4,
                        random_state=0).fit(xtr, ytr)
    assert inv.t_ == 4 * len(xtr)
    assert inv._learning_rate == pytest.approx(0.5 / (inv.t_ + 1) ** 0.25)
    assert inv._trainer.learning_rate == pytest.approx(0.5 / (3 * len(xtr) + 1) ** 0.25)
    # adaptive: the rate divided by 5 each time the loss stalls, down to 1e-6, then a stop.
    ada = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.01, n_iter_no_change=1, tol=10.0, max_iter=100,
                        random_state=0)
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ada.set_params(verbose=True).fit(xtr, ytr)
    lines = out.getvalue().splitlines()
    rates = [float(l.rsplit(" ", 1)[1]) for l in lines if "Setting learning rate to" in l]
    assert rates[:3] == pytest.approx([0.002, 0.0004, 0.00008])
    assert any("Learning rate too small. Stopping." in l for l in lines)
    assert ada._learning_rate <= 1e-6 and ada.n_iter_ < 100
    # Schedules belong to sgd: adam ignores learning_rate, as in scikit-learn.
    adam = MLPClassifier(hidden_layer_sizes=(16,), learning_rate="invscaling", max_iter=3,
                         random_state=0).fit(xtr, ytr)
    assert adam._learning_rate == 0.001
    # partial_fit carries the rate from call to call.
    stream = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="invscaling",
                           learning_rate_init=0.5)
    stream.partial_fit(xtr, ytr, classes=np.arange(10))
    stream.partial_fit(xtr, ytr)
    assert stream._learning_rate == pytest.approx(0.5 / (2 * len(xtr) + 1) ** 0.5)


def test_alpha_penalises_the_weights_not_the_biases():
    # Targets far from zero: a penalty on the biases would pull the predictions towards 0.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 4)).astype(np.float32)
    t = 5.0 + 0.01 * rng.standard_normal(500)
    for solver in ("adam", "sgd", "lbfgs"):
        reg = MLPRegressor(hidden_layer_sizes=(8,), alpha=50.0, solver=solver, max_iter=300,
                           learning_rate_init=0.01, random_state=0).fit(x, t)
        assert abs(reg.predict(x).mean() - 5.0) < 0.05, solver


def test_auto_precision_resolves_to_what_the_cpu_runs_natively():
    xtr, _, ytr, _ = digits()
    expected = propel.resolve_precision("auto")
    assert expected in ("fp32", "bf16")
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, precision="auto",
                        random_state=0).fit(xtr, ytr)
    assert clf.model_.precision == expected and clf._trainer.precision == expected
    clf.partial_fit(xtr, ytr)  # the same resolved precision: the trainer is kept
    assert clf._trainer.precision == expected


def test_portable_estimators_fit_the_same_model_on_every_target():
    # portable=True (docs/reproducibility.md): the same coefficients and predictions on every
    # target this CPU runs; switching the mode between partial fits makes a new trainer.
    x_train, x_test, y_train, _ = digits()
    fitted = []
    try:
        for target in propel.available_targets():
            propel.pin_target(target)
            clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0,
                                portable=True).fit(x_train, y_train)
            fitted.append((target, np.concatenate([c.ravel() for c in clf.coefs_]),
                           clf.predict_proba(x_test)))
    finally:
        propel.unpin_target()
    for target, coefs, proba in fitted[1:]:
        assert np.array_equal(coefs, fitted[0][1]), target
        assert np.array_equal(proba, fitted[0][2]), target
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    clf.partial_fit(x_train, y_train, classes=np.arange(10))
    clf.set_params(portable=True)
    clf.partial_fit(x_train, y_train)
    assert clf._trainer.portable and clf.model_.portable
    with pytest.raises(ValueError, match="portable must be True or False"):
        MLPClassifier(portable="yes").fit(x_train, y_train)
