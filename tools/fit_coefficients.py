#!/usr/bin/env python3
"""Fits the polynomial coefficients used by kernels/math-inl.h and prints them as C++.

Each fit is a weighted least-squares fit on Chebyshev nodes refined by Lawson's iteration
(iteratively reweighted towards the minimax solution), in float64 with mpmath/scipy references.
The printed error is the approximation error alone, before float32 rounding.

Usage: tools/fit_coefficients.py   (needs numpy, scipy)
"""
import math

import numpy as np
from scipy import special


def cheb_nodes(a, b, n):
    k = np.arange(n)
    return 0.5 * (a + b) + 0.5 * (b - a) * np.cos((2 * k + 1) * np.pi / (2 * n))


def lawson(basis, target, weight, iters=200):
    """min max |weight * (basis @ c - target)| via Lawson's reweighted least squares."""
    lw = np.ones(len(target)) / len(target)
    c = None
    for _ in range(iters):
        s = np.sqrt(lw) * weight
        c, *_ = np.linalg.lstsq(basis * s[:, None], target * s, rcond=None)
        err = np.abs(weight * (basis @ c - target))
        lw = lw * err
        lw /= lw.sum()
    return c, np.max(np.abs(weight * (basis @ c - target)))


def fit_exp():
    # exp(r) = 1 + r + r^2 * Q(r) on [-ln2/2, ln2/2]. The weight bounds the relative error of
    # expm1(r) = r + r^2 Q(r), which also bounds that of exp (|expm1(r)| < exp(r) there).
    h = math.log(2) / 2
    r = cheb_nodes(-h, h, 4000)
    deg = 3
    basis = np.stack([r**2 * r**i for i in range(deg + 1)], axis=1)
    target = np.expm1(r) - r
    c, em1_err = lawson(basis, target, 1 / np.abs(np.expm1(r)))
    err = np.max(np.abs((basis @ c - target) / np.exp(r)))
    return "kExpQ", c, f"exp rel err {err:.2e}, expm1 rel err {em1_err:.2e}"


def fit_log1p():
    # log1p(u) = 2 s + 2 s^3 R(s^2), s = u / (2 + u), u in [0, 1] -> w = s^2 in [0, 1/9].
    w = cheb_nodes(1e-12, 1.0 / 9.0, 4000)
    s = np.sqrt(w)
    f = np.log1p(2 * s / (1 - s))  # u = 2s / (1 - s)
    deg = 2
    basis = np.stack([2 * s**3 * w**i for i in range(deg + 1)], axis=1)
    target = f - 2 * s
    c, err = lawson(basis, target, 1 / f)
    return "kLog1pR", c, f"log1p rel err {err:.2e}"


def fit_erfc(deg):
    # erfc(z) = t * exp(-z^2 + G(t)), t = 1 / (1 + z / 2), z in [0, 10.5] -> t in (0.16, 1].
    z = cheb_nodes(0.0, 10.5, 6000)
    t = 1 / (1 + z / 2)
    g = np.log(special.erfcx(z)) - np.log(t)  # log(erfc(z) e^{z^2} / t)
    basis = np.stack([t**i for i in range(deg + 1)], axis=1)
    c, err = lawson(basis, g, np.ones_like(g))
    return "kErfcG", c, f"erfc rel err {err:.2e} (degree {deg})"


def fit_tanh():
    # tanh(x) = x P(x^2) / Q(x^2), Q(0) = 1, P and Q of degree 4, on [0, 9] (tanh(9) rounds to
    # 1). Linearized least squares P - f (Q - 1) = f, reweighted by 1 / Q (Sanathanan-Koerner)
    # and towards the largest relative errors (Lawson).
    x = cheb_nodes(1e-6, 9.0, 6000)
    u = x * x
    f = np.tanh(x) / x
    p, q = 4, 4
    qv = np.ones_like(u)
    w = np.ones_like(u)
    pu = np.stack([u**i for i in range(p + 1)], axis=1)
    qu = np.stack([u**i for i in range(1, q + 1)], axis=1)
    for _ in range(60):
        a = np.hstack([pu, -f[:, None] * qu])
        s = w / (f * qv)
        c, *_ = np.linalg.lstsq(a * s[:, None], f * s, rcond=None)
        qv = 1 + qu @ c[p + 1:]
        err = np.abs((pu @ c[: p + 1]) / qv - f) / f
        w = w * np.sqrt(err / err.max()) + 1e-12
        w /= w.max()
    return "kTanhPQ", c, f"tanh rel err {err.max():.2e} (P: 5 coefficients, then Q: 4)"


def emit(name, c, note):
    print(f"// {note}")
    print(f"constexpr float {name}[{len(c)}] = {{")
    def lit(v):
        t = f"{float(np.float32(v)):.9g}"
        return (t if any(ch in t for ch in ".e") else t + ".0") + "f"

    print("    " + ", ".join(lit(v) for v in c) + "};")


if __name__ == "__main__":
    for fit in (fit_exp, fit_log1p, fit_tanh):
        emit(*fit())
    emit(*fit_erfc(8))
