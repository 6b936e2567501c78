#!/usr/bin/env python3
"""The C API from Python through ctypes (a second language on the same ABI): a model trained on
two interleaved spirals... of blobs, parameters through numpy buffers, a reducer written in Python,
checkpoints and error codes.

Usage: ctypes_test.py PATH_TO_SHARED_LIBRARY WORK_DIR
"""

import ctypes as C
import math
import os
import sys
import unittest

import numpy as np

LIB = None
WORK = None

OK, INVALID, UNSUPPORTED, NUMERICAL, IO = 0, 1, 2, 3, 4
ACT_RELU, ACT_TANH = 1, 3
HEAD_MULTICLASS = 1
INIT_HE_UNIFORM = 2
OPT_SGD, OPT_ADAM = 0, 3
PRECISION_FP32, PRECISION_BF16 = 0, 1

f32p = C.POINTER(C.c_float)
i32p = C.POINTER(C.c_int32)
u16p = C.POINTER(C.c_uint16)


class Layer(C.Structure):
    _fields_ = [("units", C.c_int64), ("activation", C.c_int), ("alpha", C.c_float)]


class Batch(C.Structure):
    _fields_ = [("rows", C.c_int64), ("x", f32p), ("ldx", C.c_int64), ("labels", i32p),
                ("targets", f32p), ("ldt", C.c_int64)]


class OptimizerConfig(C.Structure):
    _fields_ = [("kind", C.c_int), ("lr", C.c_float), ("momentum", C.c_float),
                ("beta1", C.c_float), ("beta2", C.c_float), ("eps", C.c_float),
                ("weight_decay", C.c_float), ("clip_norm", C.c_float)]


class StepOptions(C.Structure):
    _fields_ = [("shard_rows", C.c_int64), ("executor", C.c_int), ("threads", C.c_int),
                ("track_grad_norm", C.c_int), ("precision", C.c_int), ("portable", C.c_int)]


class StepResult(C.Structure):
    _fields_ = [("loss", C.c_double), ("rows", C.c_int64), ("correct", C.c_int64),
                ("grad_norm", C.c_double)]


REDUCER = C.CFUNCTYPE(C.c_int64, f32p, C.c_int64, C.c_int64, C.c_void_p)


def load(path):
    lib = C.CDLL(path)
    sig = {
        "propel_version": (C.c_char_p, []),
        "propel_last_error": (C.c_char_p, []),
        "propel_model_create": (C.c_int, [C.c_int64, C.POINTER(Layer), C.c_int64, C.c_int64,
                                          C.c_int, C.c_int, C.c_uint64, C.POINTER(C.c_void_p)]),
        "propel_model_destroy": (None, [C.c_void_p]),
        "propel_model_parameter_count": (C.c_int, [C.c_void_p, C.POINTER(C.c_int64)]),
        "propel_model_get_parameters": (C.c_int, [C.c_void_p, f32p, C.c_int64]),
        "propel_model_set_parameters": (C.c_int, [C.c_void_p, f32p, C.c_int64]),
        "propel_model_get_gradients": (C.c_int, [C.c_void_p, f32p, C.c_int64]),
        "propel_model_predict": (C.c_int, [C.c_void_p, C.c_int64, f32p, C.c_int64, f32p,
                                           C.c_int64]),
        "propel_optimizer_config_default": (None, [C.POINTER(OptimizerConfig)]),
        "propel_step_options_default": (None, [C.POINTER(StepOptions)]),
        "propel_trainer_create": (C.c_int, [C.c_void_p, C.POINTER(OptimizerConfig), C.c_int64,
                                            C.POINTER(StepOptions), C.POINTER(C.c_void_p)]),
        "propel_trainer_destroy": (None, [C.c_void_p]),
        "propel_trainer_step": (C.c_int, [C.c_void_p, C.POINTER(Batch), C.POINTER(StepResult)]),
        "propel_trainer_compute_gradients": (C.c_int, [C.c_void_p, C.POINTER(Batch),
                                                       C.POINTER(StepResult)]),
        "propel_trainer_set_gradient_reducer": (C.c_int, [C.c_void_p, REDUCER, C.c_void_p]),
        "propel_evaluate": (C.c_int, [C.c_void_p, C.POINTER(Batch), C.POINTER(C.c_double),
                                      C.POINTER(C.c_double)]),
        "propel_save_checkpoint": (C.c_int, [C.c_char_p, C.c_void_p, C.c_void_p, C.c_int64]),
        "propel_load_model": (C.c_int, [C.c_char_p, C.POINTER(C.c_void_p)]),
        "propel_model_get_precision": (C.c_int, [C.c_void_p, C.POINTER(C.c_int)]),
        "propel_model_set_precision": (C.c_int, [C.c_void_p, C.c_int]),
        "propel_sgemm": (C.c_int, [C.c_int, C.c_int, C.c_int64, C.c_int64, C.c_int64, C.c_float,
                                   f32p, C.c_int64, f32p, C.c_int64, C.c_float, f32p,
                                   C.c_int64]),
        "propel_gemm_bf16": (C.c_int, [C.c_int, C.c_int, C.c_int64, C.c_int64, C.c_int64,
                                       C.c_float, f32p, C.c_int64, f32p, C.c_int64, C.c_float,
                                       f32p, C.c_int64]),
        "propel_gemm_bf16_stored": (C.c_int, [C.c_int, C.c_int, C.c_int64, C.c_int64, C.c_int64,
                                              C.c_float, u16p, C.c_int64, u16p, C.c_int64,
                                              C.c_float, f32p, C.c_int64]),
        "propel_to_bf16": (C.c_int, [C.c_int64, f32p, u16p]),
        "propel_bf16_to_float": (C.c_int, [C.c_int64, u16p, f32p]),
        "propel_set_target": (C.c_int, [C.c_char_p]),
        "propel_get_target": (C.c_char_p, []),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


def ptr(a, t=f32p):
    return a.ctypes.data_as(t)


def blobs(rows, seed):
    rng = np.random.default_rng(seed)
    labels = (np.arange(rows) % 3).astype(np.int32)
    centers = np.array([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]], dtype=np.float32)
    x = (centers[labels] + rng.normal(0.0, 0.6, size=(rows, 2))).astype(np.float32)
    return np.ascontiguousarray(x), labels


def batch_of(x, labels):
    b = Batch()
    b.rows = x.shape[0]
    b.x = ptr(x)
    b.ldx = x.shape[1]
    b.labels = ptr(labels, i32p)
    return b


class CtypesTest(unittest.TestCase):
    def check(self, status, expected=OK):
        self.assertEqual(status, expected, LIB.propel_last_error().decode())

    def model(self, seed=3):
        hidden = (Layer * 1)(Layer(16, ACT_TANH, math.nan))
        m = C.c_void_p()
        self.check(LIB.propel_model_create(2, hidden, 1, 3, HEAD_MULTICLASS, INIT_HE_UNIFORM,
                                           seed, C.byref(m)))
        self.addCleanup(LIB.propel_model_destroy, m)
        return m

    def trainer(self, m, kind=OPT_ADAM, lr=0.02, precision=PRECISION_FP32):
        opt = OptimizerConfig()
        LIB.propel_optimizer_config_default(C.byref(opt))
        opt.kind = kind
        opt.lr = lr
        so = StepOptions()
        LIB.propel_step_options_default(C.byref(so))
        so.shard_rows = 16
        self.assertEqual(so.precision, PRECISION_FP32)
        so.precision = precision
        t = C.c_void_p()
        self.check(LIB.propel_trainer_create(m, C.byref(opt), 32, C.byref(so), C.byref(t)))
        self.addCleanup(LIB.propel_trainer_destroy, t)
        return t

    def count(self, m):
        n = C.c_int64()
        self.check(LIB.propel_model_parameter_count(m, C.byref(n)))
        return n.value

    def test_trains_to_high_accuracy(self):
        x, y = blobs(600, 1)
        m = self.model()
        t = self.trainer(m)
        r = StepResult()
        for _ in range(10):
            for i in range(0, 600, 32):
                xb, yb = x[i:i + 32], y[i:i + 32]
                self.check(LIB.propel_trainer_step(t, C.byref(batch_of(xb, yb)), C.byref(r)))
        loss, acc = C.c_double(), C.c_double()
        xt, yt = blobs(300, 2)
        self.check(LIB.propel_evaluate(m, C.byref(batch_of(xt, yt)), C.byref(loss), C.byref(acc)))
        print("ctypes: held-out accuracy %.2f%%, loss %.4f" % (100 * acc.value, loss.value))
        self.assertGreater(acc.value, 0.95)
        probs = np.zeros((300, 3), dtype=np.float32)
        self.check(LIB.propel_model_predict(m, 300, ptr(xt), 2, ptr(probs), 3))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        self.assertGreater((probs.argmax(axis=1) == yt).mean(), 0.95)

    def test_parameters_as_one_buffer(self):
        m = self.model()
        n = self.count(m)
        self.assertEqual(n, 2 * 16 + 16 + 16 * 3 + 3)
        w = np.zeros(n, dtype=np.float32)
        self.check(LIB.propel_model_get_parameters(m, ptr(w), n))
        self.assertTrue(np.all(w[32:48] == 0.0))  # layer 0's bias starts at zero
        w2 = np.linspace(-1, 1, n).astype(np.float32)
        self.check(LIB.propel_model_set_parameters(m, ptr(w2), n))
        back = np.zeros(n, dtype=np.float32)
        self.check(LIB.propel_model_get_parameters(m, ptr(back), n))
        np.testing.assert_array_equal(back, w2)
        self.check(LIB.propel_model_get_parameters(m, ptr(back), n + 1), INVALID)
        self.assertIn("the model has 99 parameters", LIB.propel_last_error().decode())

    def test_reducer_in_python(self):
        x, y = blobs(32, 5)
        a, b = self.model(), self.model()
        ta, tb = self.trainer(a), self.trainer(b)
        seen = []

        def twin(sums, count, rows, user):  # a second process with the same rows
            arr = np.ctypeslib.as_array(sums, shape=(count,))
            arr *= 2.0
            seen.append(rows)
            return 2 * rows

        callback = REDUCER(twin)
        self.check(LIB.propel_trainer_set_gradient_reducer(tb, callback, None))
        for _ in range(3):
            self.check(LIB.propel_trainer_step(ta, C.byref(batch_of(x, y)), None))
            self.check(LIB.propel_trainer_step(tb, C.byref(batch_of(x, y)), None))
        self.assertEqual(seen, [32, 32, 32])
        n = self.count(a)
        pa, pb = np.zeros(n, np.float32), np.zeros(n, np.float32)
        self.check(LIB.propel_model_get_parameters(a, ptr(pa), n))
        self.check(LIB.propel_model_get_parameters(b, ptr(pb), n))
        np.testing.assert_array_equal(pa, pb)

    def test_checkpoint_round_trip(self):
        x, y = blobs(64, 7)
        m = self.model()
        t = self.trainer(m)
        self.check(LIB.propel_trainer_step(t, C.byref(batch_of(x[:32], y[:32])), None))
        path = os.path.join(WORK, "ctypes.ckpt").encode()
        self.check(LIB.propel_save_checkpoint(path, m, t, 1))
        loaded = C.c_void_p()
        self.check(LIB.propel_load_model(path, C.byref(loaded)))
        self.addCleanup(LIB.propel_model_destroy, loaded)
        p1, p2 = np.zeros((64, 3), np.float32), np.zeros((64, 3), np.float32)
        self.check(LIB.propel_model_predict(m, 64, ptr(x), 2, ptr(p1), 3))
        self.check(LIB.propel_model_predict(loaded, 64, ptr(x), 2, ptr(p2), 3))
        np.testing.assert_array_equal(p1, p2)
        missing = C.c_void_p()
        self.check(LIB.propel_load_model(b"/nonexistent/x.ckpt", C.byref(missing)), IO)
        self.assertIsNone(missing.value)

    def precision(self, m):
        p = C.c_int(-1)
        self.check(LIB.propel_model_get_precision(m, C.byref(p)))
        return p.value

    def test_bf16_training_and_its_checkpoint(self):
        x, y = blobs(600, 1)
        m = self.model()
        self.assertEqual(self.precision(m), PRECISION_FP32)
        t = self.trainer(m, precision=PRECISION_BF16)
        self.assertEqual(self.precision(m), PRECISION_BF16)  # the trainer's, for inference
        for _ in range(10):
            for i in range(0, 600, 32):
                self.check(LIB.propel_trainer_step(t, C.byref(batch_of(x[i:i + 32], y[i:i + 32])),
                                                   None))
        loss, acc = C.c_double(), C.c_double()
        xt, yt = blobs(300, 2)
        self.check(LIB.propel_evaluate(m, C.byref(batch_of(xt, yt)), C.byref(loss), C.byref(acc)))
        print("ctypes bf16: held-out accuracy %.2f%%, loss %.4f" % (100 * acc.value, loss.value))
        self.assertGreater(acc.value, 0.95)
        path = os.path.join(WORK, "ctypes-bf16.ckpt").encode()
        self.check(LIB.propel_save_checkpoint(path, m, t, 10))
        loaded = C.c_void_p()
        self.check(LIB.propel_load_model(path, C.byref(loaded)))
        self.addCleanup(LIB.propel_model_destroy, loaded)
        self.assertEqual(self.precision(loaded), PRECISION_BF16)
        p_bf16, p_fp32 = np.zeros((300, 3), np.float32), np.zeros((300, 3), np.float32)
        self.check(LIB.propel_model_predict(loaded, 300, ptr(xt), 2, ptr(p_bf16), 3))
        self.check(LIB.propel_model_set_precision(loaded, PRECISION_FP32))
        self.check(LIB.propel_model_predict(loaded, 300, ptr(xt), 2, ptr(p_fp32), 3))
        self.assertFalse(np.array_equal(p_bf16, p_fp32))  # the precision is what runs
        np.testing.assert_allclose(p_bf16, p_fp32, atol=0.05)
        self.check(LIB.propel_model_set_precision(loaded, 7), INVALID)
        self.assertIn("unknown precision 7", LIB.propel_last_error().decode())

    def test_bf16_gemm(self):
        rng = np.random.default_rng(4)
        a = rng.standard_normal((37, 53)).astype(np.float32)
        b = rng.standard_normal((53, 29)).astype(np.float32)
        a16, b16 = np.zeros(a.shape, np.uint16), np.zeros(b.shape, np.uint16)
        self.check(LIB.propel_to_bf16(a.size, ptr(a), ptr(a16, u16p)))
        self.check(LIB.propel_to_bf16(b.size, ptr(b), ptr(b16, u16p)))
        # numpy's own round-to-nearest-even of the upper halves, for finite normal values
        def rne(v):
            bits = v.view(np.uint32).astype(np.uint64)
            return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        np.testing.assert_array_equal(a16, rne(a))
        ar, br = np.zeros_like(a), np.zeros_like(b)
        self.check(LIB.propel_bf16_to_float(a.size, ptr(a16, u16p), ptr(ar)))
        self.check(LIB.propel_bf16_to_float(b.size, ptr(b16, u16p), ptr(br)))
        c1, c2 = np.zeros((37, 29), np.float32), np.zeros((37, 29), np.float32)
        self.check(LIB.propel_gemm_bf16(0, 0, 37, 29, 53, 1.0, ptr(a), 53, ptr(b), 29, 0.0,
                                        ptr(c1), 29))
        self.check(LIB.propel_gemm_bf16_stored(0, 0, 37, 29, 53, 1.0, ptr(a16, u16p), 53,
                                               ptr(b16, u16p), 29, 0.0, ptr(c2), 29))
        np.testing.assert_array_equal(c1, c2)
        exact = ar.astype(np.float64) @ br.astype(np.float64)
        bound = 55 * 2.0 ** -24 * (np.abs(ar).astype(np.float64) @ np.abs(br).astype(np.float64))
        self.assertTrue(np.all(np.abs(c1 - exact) <= bound))
        self.check(LIB.propel_gemm_bf16(2, 0, 37, 29, 53, 1.0, ptr(a), 53, ptr(b), 29, 0.0,
                                        ptr(c1), 29), INVALID)
        self.assertIn("propel_gemm_bf16: trans_a = 2", LIB.propel_last_error().decode())

    def test_errors_and_targets(self):
        m = self.model()
        t = self.trainer(m)
        x, y = blobs(32, 9)
        y[4] = 7  # not a class
        self.check(LIB.propel_trainer_step(t, C.byref(batch_of(x, y)), None), INVALID)
        self.assertIn("label of row 4 is 7", LIB.propel_last_error().decode())
        y[4] = 1
        x[2, 1] = np.nan
        self.check(LIB.propel_trainer_step(t, C.byref(batch_of(x, y)), None), NUMERICAL)
        self.check(LIB.propel_trainer_step(None, C.byref(batch_of(x, y)), None), INVALID)
        self.check(LIB.propel_set_target(b"SCALAR"))
        self.assertEqual(LIB.propel_get_target(), b"SCALAR")
        self.check(LIB.propel_set_target(None))
        self.assertNotEqual(LIB.propel_set_target(b"NOPE"), OK)
        self.assertRegex(LIB.propel_version().decode(), r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    LIB = load(sys.argv.pop(1))
    WORK = sys.argv.pop(1)
    os.makedirs(WORK, exist_ok=True)
    unittest.main()
