"""propel.MLPClassifier against scikit-learn's MLPClassifier on Fashion-MNIST, same data, same
splits, same hyper-parameters, the same number of threads for both (scikit-learn's BLAS held to
it with threadpoolctl). Prints both fit times, their ratio and both test accuracies.

    build/venv/bin/python bench/python/sklearn_fashion_mnist.py [--threads 2] [--epochs 5]
        [--rounds 1] [--data-dir /usr/share/datasets/fashion-mnist]

Needs the package built (tools/test.sh) and the data set (dataset-fashion-mnist, tools/setup.sh).
"""

import argparse
import gzip
import os
import statistics
import time
import warnings

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="fits of each, alternated; round r uses random_state r")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits
    import sklearn
    import sklearn.neural_network as sknn

    import propel

    d = args.data_dir
    xtr = (idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784) / 255.0).astype(np.float32)
    ytr = idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = (idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784) / 255.0).astype(np.float32)
    yte = idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    params = dict(hidden_layer_sizes=(1024, 1024), solver="adam", batch_size=256,
                  learning_rate_init=1e-3, max_iter=args.epochs, shuffle=True, alpha=1e-4,
                  tol=0.0, n_iter_no_change=args.epochs + 1)
    print(f"Fashion-MNIST: {len(xtr)} training rows, {len(xte)} test rows; "
          f"(1024, 1024) relu, adam, batch 256, {args.epochs} epochs; {args.threads} threads; "
          f"scikit-learn {sklearn.__version__}, propel {propel.__version__} "
          f"({propel.active_target()})")
    times = {"propel": [], "scikit-learn": []}
    accuracy = {"propel": [], "scikit-learn": []}
    warnings.simplefilter("ignore")
    for r in range(args.rounds):
        for name in ("propel", "scikit-learn"):
            with threadpool_limits(limits=args.threads):
                if name == "propel":
                    est = propel.MLPClassifier(threads=args.threads, random_state=r, **params)
                else:
                    est = sknn.MLPClassifier(random_state=r, **params)
                start = time.perf_counter()
                est.fit(xtr, ytr)
                seconds = time.perf_counter() - start
                acc = est.score(xte, yte)
            times[name].append(seconds)
            accuracy[name].append(acc)
            print(f"  {name:13s} fit {seconds:7.2f} s ({len(xtr) * args.epochs / seconds:8.0f} "
                  f"samples/s), test accuracy {100 * acc:.2f}%", flush=True)
    p, s = statistics.median(times["propel"]), statistics.median(times["scikit-learn"])
    a, b = statistics.mean(accuracy["propel"]), statistics.mean(accuracy["scikit-learn"])
    print(f"median fit: propel {p:.2f} s, scikit-learn {s:.2f} s: propel {s / p:.2f}x faster")
    print(f"mean test accuracy over {args.rounds} seeds: propel {100 * a:.2f}%, scikit-learn "
          f"{100 * b:.2f}%: {100 * (a - b):+.2f} points")


if __name__ == "__main__":
    main()
