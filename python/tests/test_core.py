"""propel's Python layer: models, trainers, GEMMs, files, errors, threads (docs/python.md)."""

import os
import pickle
import subprocess
import threading
import time

import numpy as np
import pytest

import propel

def data(rows=64, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = (np.abs(x[:, 0] * 3).astype(int) % classes).astype(np.int32)
    return x, y


def test_version_and_targets():
    assert propel.__version__.count(".") == 2
    targets = propel.available_targets()
    assert propel.active_target() == targets[0]
    for t in targets:
        propel.pin_target(t)
        assert propel.active_target() == t
    propel.unpin_target()
    with pytest.raises(propel.UnsupportedError, match="NOSUCH"):
        propel.pin_target("NOSUCH")


def test_parameters_are_views_of_the_arena():
    m = propel.Model(12, 3, hidden=[16, 8], seed=1)
    p = m.parameters
    assert p.dtype == np.float32 and p.shape == (m.parameter_count,)
    w = m.weights(0)
    assert w.shape == (16, 12) and np.shares_memory(w, p)
    with pytest.raises(ValueError, match="read-only"):
        w[0, 0] = 42.0  # writes go through the model, which sees them
    m.set_weights(0, np.full((16, 12), 42.0))
    assert m.parameters[0] == 42.0 and w[15, 11] == 42.0  # the views see the write
    m.set_bias(0, np.arange(16))
    assert list(m.bias(0)[:3]) == [0.0, 1.0, 2.0]
    m.parameters = m.parameters * 2
    assert w[0, 0] == 84.0
    with pytest.raises(propel.InvalidArgumentError, match="16 x 12"):
        m.set_weights(0, np.zeros((12, 16)))
    with pytest.raises(propel.InvalidArgumentError, match="3 values"):
        m.parameters = [1.0, 2.0, 3.0]
    layers = m.layers
    assert [(l["in"], l["out"]) for l in layers] == [(12, 16), (16, 8), (8, 3)]
    assert np.shares_memory(m.bias(2), p)
    del m  # the view keeps the model alive
    assert p[0] == 84.0


def test_step_equals_compute_then_apply_gradients():
    x, y = data()
    a, b = propel.Model(12, 3, hidden=[16], seed=3), propel.Model(12, 3, hidden=[16], seed=3)
    ta, tb = propel.Trainer(a, max_batch=64), propel.Trainer(b, max_batch=64)
    ra = ta.step(x, y)
    rb = tb.compute_gradients(x, y)
    assert np.any(b.gradients != 0)
    tb.apply_gradients()
    assert ra["loss"] == rb["loss"]
    assert np.array_equal(a.parameters, b.parameters)
    assert ta.steps == tb.steps == 1
    assert ta.state.shape == (2 * a.parameter_count,)  # Adam's two moments


def test_training_is_bitwise_the_same_on_any_threads_and_executor():
    x, y = data(rows=600, features=20, classes=4)
    results = []
    for executor, threads in [("tbb", 1), ("tbb", 2), ("omp", 2), ("serial", 1)]:
        m = propel.Model(20, 4, hidden=[64, 32], seed=7)
        t = propel.Trainer(m, max_batch=300, shard_rows=64, executor=executor, threads=threads)
        t.fit(x, y, epochs=2, batch=300, seed=5)
        results.append(m.parameters.copy())
    for r in results[1:]:
        assert np.array_equal(results[0], r)


def test_portable_training_is_bitwise_the_same_on_every_target():
    # Portable mode (docs/reproducibility.md): one checksum, one set of predictions, on every
    # target this CPU runs (those without FMA run the SCALAR kernels), for any threads.
    x, y = data(rows=300, features=20, classes=4)
    runs = {}
    try:
        for target in propel.available_targets():
            propel.pin_target(target)
            for threads in (1, 2):
                m = propel.Model(20, 4, hidden=[48, 24], activation="tanh", seed=7)
                t = propel.Trainer(m, max_batch=100, shard_rows=50, threads=threads,
                                   portable=True)
                assert t.portable and m.portable
                t.fit(x, y, epochs=2, batch=100, seed=5)
                runs[(target, threads)] = (m.checksum(), m.predict(x), m.evaluate(x, y)["loss"])
    finally:
        propel.unpin_target()
    first = next(iter(runs.values()))
    for key, (checksum, predictions, loss) in runs.items():
        assert checksum == first[0], key
        assert np.array_equal(predictions, first[1]), key
        assert loss == first[2], key
    # The checksum is propel train's: FNV-1a of the parameters' bytes.
    m = propel.Model(3, 2, hidden=[2], seed=1)
    h = 1469598103934665603
    for byte in m.parameters.tobytes():
        h = ((h ^ byte) * 1099511628211) % 2**64
    assert m.checksum() == h
    # A checkpoint keeps the mode.
    m.portable = True
    assert propel.Model.from_bytes(m.to_bytes()).portable


def test_fit_history_and_heads():
    x, y = data(rows=200)
    m = propel.Model(12, 3, hidden=[32], seed=1)
    t = propel.Trainer(m, lr=0.01, max_batch=50)
    hist = t.fit(x, y, epochs=5, batch=50)
    assert [h["epoch"] for h in hist] == list(range(5))
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    ev = m.evaluate(x, y)
    assert ev["rows"] == 200 and 0 <= ev["accuracy"] <= 1
    # binary (one sigmoid per label) and regression heads take float targets
    mb = propel.Model(12, 2, hidden=[8], head="binary")
    propel.Trainer(mb, max_batch=200).step(x, np.stack([y == 0, y == 1], axis=1))
    mr = propel.Model(12, 1, hidden=[8], head="regression")
    propel.Trainer(mr, max_batch=200).step(x, x[:, 0])
    assert mr.predict(x).shape == (200, 1)


def test_arrays_are_used_in_place_or_converted_once():
    x = np.ones((5, 4), dtype=np.float32)
    assert propel._core.as_matrix(x) is x
    x64 = np.ones((5, 4))
    assert propel._core.as_matrix(x64).dtype == np.float32
    xf = np.asfortranarray(x)
    assert propel._core.as_matrix(xf).flags.c_contiguous
    ro = np.ones((5, 4), dtype=np.float32)
    ro.setflags(write=False)
    m = propel.Model(4, 2, hidden=[3])
    assert m.predict(ro).shape == (5, 2)  # read-only input is fine


def test_predict_rows_do_not_depend_on_the_batch():
    x, _ = data(rows=37, features=33)
    m = propel.Model(33, 3, hidden=[100, 20], activation=["relu", "tanh"], seed=2)
    full = m.predict(x)
    one_by_one = np.vstack([m.predict(x[i:i + 1]) for i in range(len(x))])
    assert np.array_equal(full, one_by_one)


def test_sgemm_and_linear_forward_match_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((33, 17)).astype(np.float32)
    b = rng.standard_normal((17, 9)).astype(np.float32)
    np.testing.assert_allclose(propel.sgemm(a, b), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(propel.sgemm(a.T.copy(), b.T.copy(), trans_a=True, trans_b=True),
                               a @ b, rtol=1e-5, atol=1e-5)
    c = np.ones((33, 9), dtype=np.float32)
    out = propel.sgemm(a, b, c, alpha=2.0, beta=0.5)
    assert out is c
    np.testing.assert_allclose(c, 2 * (a @ b) + 0.5, rtol=1e-5, atol=1e-5)
    w = rng.standard_normal((9, 17)).astype(np.float32)
    bias = rng.standard_normal(9).astype(np.float32)
    z = propel.linear_forward(a, w, bias, "relu")
    np.testing.assert_allclose(z, np.maximum(a @ w.T + bias, 0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="op\\(A\\) is 33 x 17"):
        propel.sgemm(a, a)


def _round_bf16(x):
    """The bf16 rounding written from its definition, on float32 bit patterns (float64 out)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    exponent = (bits >> 23) & 0xFF
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000)
    out = np.where(exponent == 0, bits & 0x80000000, rounded)
    out = np.where(np.isnan(x), (bits & 0xFFFF0000) | 0x00400000, out)
    return out.astype(np.uint32).view(np.float32).astype(np.float64)


def test_bf16_conversion_rounds_to_nearest_even():
    one = np.float32(1.0)
    step = np.float32(2.0**-7)  # bf16's spacing at 1
    x = np.array([1.0, one + step / 2, one + 3 * step / 2, one + step / 2 + 2.0**-20, -2.5,
                  np.inf, -np.inf, 1e-40, -1e-40, 3.4e38, np.finfo(np.float32).max, 0.0],
                 dtype=np.float32)
    bits = propel.to_bf16(x)
    assert bits.dtype == np.uint16 and bits.shape == x.shape
    assert [hex(b) for b in bits] == [
        "0x3f80", "0x3f80", "0x3f82", "0x3f81", "0xc020", "0x7f80", "0xff80", "0x0", "0x8000",
        "0x7f80", "0x7f80", "0x0"]
    nan = propel.to_bf16(np.array([np.nan], dtype=np.float32))
    assert np.isnan(propel.bf16_to_float(nan))[0] and nan[0] & 0x0040  # quiet NaN
    rng = np.random.default_rng(3)
    r = (rng.standard_normal((7, 33)) * 10.0 ** rng.integers(-30, 30, (7, 33))).astype(np.float32)
    back = propel.bf16_to_float(propel.to_bf16(r))
    assert back.shape == r.shape and back.dtype == np.float32
    assert np.array_equal(back.astype(np.float64), _round_bf16(r))
    with pytest.raises(ValueError, match="uint16"):
        propel.bf16_to_float(np.zeros(3, dtype=np.int16))


def test_gemm_bf16_sums_bf16_products_in_float32():
    rng = np.random.default_rng(4)
    m, n, k = 37, 29, 301
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    exact = _round_bf16(a) @ _round_bf16(b)  # float64: the rounded operands' exact products
    bound = (k + 2) * 2.0**-24 * (np.abs(_round_bf16(a)) @ np.abs(_round_bf16(b)))
    c = propel.gemm_bf16(a, b)
    assert np.all(np.abs(c - exact) <= bound)
    # It is not sgemm: the rounding of the operands shows at this size.
    assert np.max(np.abs(c - a.astype(np.float64) @ b)) > 10 * np.max(bound)
    # bf16 storage (converted once), mixed and transposed forms give the same bits.
    a16, b16 = propel.to_bf16(a), propel.to_bf16(b)
    assert np.array_equal(propel.gemm_bf16(a16, b16), c)
    assert np.array_equal(propel.gemm_bf16(a16, b), c)
    assert np.array_equal(propel.gemm_bf16(a.T.copy(), b16.T.copy(), trans_a=True, trans_b=True), c)
    out = np.ones((m, n), dtype=np.float32)
    assert propel.gemm_bf16(a, b, out, alpha=2.0, beta=0.5) is out
    np.testing.assert_allclose(out, 2 * exact + 0.5, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="gemm_bf16: op\\(A\\) is 37 x 301"):
        propel.gemm_bf16(a, a)


def test_bf16_training_runs_in_bf16_bitwise_on_any_threads_and_is_kept_by_checkpoints():
    x, y = data(rows=600, features=20, classes=4)
    results = []
    for executor, threads in [("tbb", 1), ("tbb", 2), ("omp", 2), ("serial", 1)]:
        m = propel.Model(20, 4, hidden=[64, 32], seed=7)
        assert m.precision == "fp32"
        t = propel.Trainer(m, max_batch=300, shard_rows=64, executor=executor, threads=threads,
                           precision="bf16")
        assert t.precision == "bf16" and m.precision == "bf16"  # the trainer sets the model's
        t.fit(x, y, epochs=2, batch=300, seed=5)
        results.append(m.parameters.copy())
    for r in results[1:]:
        assert np.array_equal(results[0], r)
    fp32 = propel.Model(20, 4, hidden=[64, 32], seed=7)
    propel.Trainer(fp32, max_batch=300, shard_rows=64).fit(x, y, epochs=2, batch=300, seed=5)
    assert not np.array_equal(fp32.parameters, results[0])
    assert np.max(np.abs(fp32.parameters - results[0])) < 0.05  # the same training, nearly
    back = propel.Model.from_bytes(m.to_bytes())
    assert back.precision == "bf16" and np.array_equal(back.predict(x), m.predict(x))
    assert pickle.loads(pickle.dumps(m)).precision == "bf16"
    with pytest.raises(propel.InvalidArgumentError, match="fp16"):
        propel.Trainer(m, precision="fp16")
    with pytest.raises(propel.InvalidArgumentError, match="fp16"):
        m.precision = "fp16"


def test_predict_runs_in_the_models_precision():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    m = propel.Model(40, 3, head="regression", seed=2)  # one layer: predict = X W^T + b
    m.set_bias(0, [0.5, -1.0, 2.0])
    w = m.weights(0)
    exact = _round_bf16(x) @ _round_bf16(w).T + m.bias(0)
    m.precision = "bf16"
    p = m.predict(x)
    bound = 42 * 2.0**-24 * (np.abs(_round_bf16(x)) @ np.abs(_round_bf16(w)).T + np.abs(m.bias(0)))
    assert np.all(np.abs(p - exact) <= bound)
    m.precision = "fp32"
    np.testing.assert_allclose(m.predict(x), x.astype(np.float64) @ w.T + m.bias(0), atol=1e-5)
    assert not np.array_equal(m.predict(x), p)


def test_errors_arrive_as_python_exceptions_with_the_library_message():
    with pytest.raises(propel.InvalidArgumentError, match="propel::Model"):
        propel.Model(0, 3)
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError
        propel.Model(4, 3, hidden=[8], activation="nosuch")
    assert issubclass(propel.InvalidArgumentError, propel.PropelError)
    m = propel.Model(4, 3, hidden=[8])
    with pytest.raises(ValueError, match="X has 5 features, the model takes 4"):
        m.predict(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="2-D"):
        m.predict(np.ones(4, dtype=np.float32))
    with pytest.raises(propel.PropelIOError):
        propel.load("/nonexistent/model.ckpt")
    with pytest.raises(OSError):
        propel.Model.from_bytes(b"not a checkpoint")
    t = propel.Trainer(m, max_batch=4)
    x = np.ones((4, 4), dtype=np.float32)
    x[1, 2] = np.nan
    before = m.parameters.copy()
    with pytest.raises(propel.NumericalError):
        t.step(x, np.zeros(4, dtype=np.int32))
    assert issubclass(propel.NumericalError, ArithmeticError)
    assert np.array_equal(before, m.parameters)  # a failed step changes nothing
    with pytest.raises(ValueError, match="more than max_batch = 4"):
        t.step(np.ones((5, 4), dtype=np.float32), np.zeros(5, dtype=np.int32))


def test_checkpoints_round_trip_and_pickle(tmp_path):
    x, y = data()
    m = propel.Model(12, 3, hidden=[16], seed=4)
    t = propel.Trainer(m, max_batch=64)
    t.step(x, y)
    path = tmp_path / "m.ckpt"
    propel.save(m, path)
    back = propel.load(path)
    assert np.array_equal(back.parameters, m.parameters)
    assert np.array_equal(pickle.loads(pickle.dumps(m)).predict(x), m.predict(x))
    # a trainer checkpoint resumes: the same next step as the original
    t.save(tmp_path / "t.ckpt", epochs_done=1)
    m2 = propel.Model(12, 3, hidden=[16], seed=99)
    t2 = propel.Trainer(m2, max_batch=64)
    assert t2.load(tmp_path / "t.ckpt") == 1
    t.step(x, y)
    t2.step(x, y)
    assert np.array_equal(m.parameters, m2.parameters)


def test_binary_classes_travel_with_the_model(tmp_path):
    m = propel.Model(12, 1, hidden=[8], head="binary", seed=4)
    assert m.binary_classes is None
    m.binary_classes = (0, 6)
    propel.save(m, tmp_path / "b.ckpt")
    back = propel.load(tmp_path / "b.ckpt")
    assert back.binary_classes == (0, 6) and m.copy().binary_classes == (0, 6)
    assert pickle.loads(pickle.dumps(m)).binary_classes == (0, 6)
    with pytest.raises(ValueError, match="two distinct"):
        m.binary_classes = (3, 3)
    with pytest.raises(ValueError, match="binary model with one output"):
        propel.Model(12, 3, hidden=[8]).binary_classes = (0, 1)
    m.binary_classes = None
    assert m.binary_classes is None


def test_auto_precision_is_resolved_where_a_run_starts():
    assert propel.resolve_precision("fp32") == "fp32"
    assert propel.resolve_precision("bf16") == "bf16"
    native = any(t.endswith(("_AMX", "_BF16")) for t in [propel.active_target()])
    assert propel.resolve_precision("auto") == ("bf16" if native else "fp32")
    m = propel.Model(12, 3, hidden=[16], seed=4)
    t = propel.Trainer(m, max_batch=8, precision="auto")
    assert t.precision == m.precision == propel.resolve_precision("auto")
    m.precision = "auto"
    assert m.precision == propel.resolve_precision("auto")
    with pytest.raises(ValueError, match="precision"):
        propel.resolve_precision("fp16")


def test_checkpoints_are_the_clis(tmp_path):
    cli = os.environ.get("PROPEL_CLI")
    if not cli:
        pytest.skip("PROPEL_CLI (the propel command line) not given")
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((120, 5))
    labels = (rows[:, 0] > 0).astype(int) + (rows[:, 1] > 0).astype(int)
    csv = tmp_path / "d.csv"
    np.savetxt(csv, np.column_stack([rows, labels]), delimiter=",", fmt="%.6f")
    ckpt = tmp_path / "cli.ckpt"
    subprocess.run([cli, "train", "--data", str(csv), "--layers", "8", "--epochs", "2",
                    "--save", str(ckpt), "--plot", "", "--quiet"], check=True)
    m = propel.load(ckpt)  # written by the CLI, read here
    assert m.inputs == 5 and m.outputs == 3
    ours = tmp_path / "py.ckpt"
    m.save(ours)
    onnx_path = tmp_path / "cli.onnx"
    subprocess.run([cli, "export", str(ours), str(onnx_path)], check=True,
                   stdout=subprocess.DEVNULL)  # written here, read by the CLI
    assert onnx_path.read_bytes() == propel.export_onnx(m)


def test_other_threads_run_during_training():
    x, y = data(rows=4096, features=256, classes=10)
    m = propel.Model(256, 10, hidden=[512, 512], seed=1)
    t = propel.Trainer(m, max_batch=256, threads=1)
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.2)
    c0, t0 = count[0], time.perf_counter()
    time.sleep(0.5)
    idle_rate = (count[0] - c0) / (time.perf_counter() - t0)
    c1, t1 = count[0], time.perf_counter()
    t.fit(x, y, epochs=3, batch=256)
    busy_rate = (count[0] - c1) / (time.perf_counter() - t1)
    stop.set()
    th.join()
    # With the GIL held through fit the other thread would get a slice per batch at most.
    assert busy_rate > 0.2 * idle_rate, (busy_rate, idle_rate)


def test_ctrl_c_stops_fit_between_batches():
    x, y = data(rows=8192, features=256, classes=10)
    m = propel.Model(256, 10, hidden=[512, 512], seed=1)
    t = propel.Trainer(m, max_batch=64, threads=1)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), 2))  # SIGINT
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        t.fit(x, y, epochs=1000, batch=64)
    assert time.perf_counter() - start < 30
    steps = t.steps
    assert 0 < steps < 1000 * 128
    assert np.all(np.isfinite(m.parameters))
    t.step(x[:64], y[:64])  # the trainer goes on from its last completed step
    assert t.steps == steps + 1


def test_a_parameter_write_is_seen_by_the_next_step_and_predict():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 20)).astype(np.float32)
    y = rng.integers(0, 4, 64).astype(np.int32)
    m = propel.Model(20, 4, hidden=[48], seed=1)
    t = propel.Trainer(m, optimizer="sgd", lr=0.1, max_batch=64)
    before = m.predict(x)
    t.step(x, y)  # the update packs the new weights for the next step
    m.parameters = m.parameters * 0.5
    g = t.compute_gradients(x, y)
    fresh = propel.Model(20, 4, hidden=[48], seed=1)
    fresh.parameters = m.parameters
    want = propel.Trainer(fresh, optimizer="sgd", lr=0.1, max_batch=64).compute_gradients(x, y)
    assert g["loss"] == want["loss"]
    np.testing.assert_array_equal(m.gradients, fresh.gradients)
    np.testing.assert_array_equal(m.predict(x), fresh.predict(x))
    assert not np.array_equal(m.predict(x), before)
