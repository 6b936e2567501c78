"""propel's estimators against scikit-learn's MLPClassifier / MLPRegressor, solver by solver:
the same data, splits and parameters, scores (accuracy, R^2) on held-out rows over several seeds.
Prints, per solver, both libraries' median score, the difference and both median fit times.

    build/venv/bin/python bench/python/sklearn_solvers.py [--seeds 5] [--solvers adam,lbfgs]

The cases: scikit-learn's digits (1797 8x8 images, 10 classes; hidden (64,)) and
make_regression (1000 rows, 20 features, noise 10, standardized targets; hidden (64,)).
Needs the package built (tools/test.sh).
"""

import argparse
import statistics
import time
import warnings

import numpy as np

# Per solver: the parameters both libraries get (scikit-learn's defaults unless a schedule needs
# a rate it can learn with in max_iter epochs).
SOLVERS = {
    "adam": dict(solver="adam"),
    "sgd": dict(solver="sgd", learning_rate_init=0.05),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05,
                           power_t=0.25),
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05,
                         n_iter_no_change=3),
    "lbfgs": dict(solver="lbfgs"),
}


def cases():
    from sklearn.datasets import load_digits, make_regression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    yield "digits", True, train_test_split(x, y, test_size=0.3, random_state=0)
    x, y = make_regression(n_samples=1000, n_features=20, noise=10.0, random_state=0)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    y = (y - y.mean()) / y.std()
    yield "regression", False, train_test_split(x, y, test_size=0.3, random_state=0)


def score(make, params, split):
    xtr, xte, ytr, yte = split
    start = time.perf_counter()
    est = make(**params).fit(xtr, ytr)
    return est.score(xte, yte), time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    args = ap.parse_args()

    import sklearn.neural_network as sknn
    from sklearn.exceptions import ConvergenceWarning

    import propel

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"{'case':<11} {'solver':<15} {'propel':>7} {'sklearn':>7} {'diff':>7} "
          f"{'propel s':>8} {'sklearn s':>9}")
    worst = 0.0
    for name, classify, split in cases():
        ours_cls = propel.MLPClassifier if classify else propel.MLPRegressor
        theirs_cls = sknn.MLPClassifier if classify else sknn.MLPRegressor
        for solver in args.solvers.split(","):
            params = dict(SOLVERS[solver], hidden_layer_sizes=(64,), max_iter=args.max_iter)
            ours, theirs, t_ours, t_theirs = [], [], [], []
            for seed in range(args.seeds):  # alternated
                s, t = score(ours_cls, dict(params, random_state=seed), split)
                ours.append(s)
                t_ours.append(t)
                s, t = score(theirs_cls, dict(params, random_state=seed), split)
                theirs.append(s)
                t_theirs.append(t)
            a, b = statistics.median(ours), statistics.median(theirs)
            worst = max(worst, b - a)
            print(f"{name:<11} {solver:<15} {a:7.4f} {b:7.4f} {a - b:+7.4f} "
                  f"{statistics.median(t_ours):8.2f} {statistics.median(t_theirs):9.2f}",
                  flush=True)
    print(f"largest shortfall of propel's median score: {max(worst, 0.0):.4f}")


if __name__ == "__main__":
    main()
