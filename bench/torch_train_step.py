#!/usr/bin/env python3
"""PyTorch's training step on the networks of bench_train, as a peer to measure against:
forward, softmax cross-entropy, backward and a plain SGD update on a fixed batch, float32 on the
CPU. Prints samples/s per network and batch (median of --repetitions timings of --steps steps
each). Needs PyTorch (Debian: python3-torch, run with /usr/bin/python3); not part of the build or
the tests.

    bench/torch_train_step.py [--threads 1] [--batch 64 256] [--steps 20] [--repetitions 5]

Debian's PyTorch runs its GEMMs on OpenBLAS, whose own thread pool ignores
torch.set_num_threads: the thread count is set for both (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS)
before torch is imported, once per process. On CPUs that OpenBLAS 0.3.21 does not recognise it
falls back to SSE3 kernels; OPENBLAS_CORETYPE=SkylakeX (or Haswell) selects its best ones.
"""
import argparse
import os
import statistics
import time


def build(torch, widths, act):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU() if act == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch  # after the thread counts are in the environment
    nets = [((784, 1024, 1024, 10), "relu"), ((784, 1024, 1024, 10), "sigmoid"),
            ((784, 256, 128, 10), "relu")]
    print(f"PyTorch {torch.__version__}, {torch.__config__.parallel_info().splitlines()[0]}")
    for threads in [args.threads]:
        torch.set_num_threads(threads)
        for widths, act in nets:
            for batch in args.batch:
                torch.manual_seed(1)
                model = build(torch, widths, act)
                opt = torch.optim.SGD(model.parameters(), lr=1e-3)
                x = torch.rand(batch, widths[0])
                y = torch.arange(batch) % widths[-1]
                loss_fn = torch.nn.CrossEntropyLoss()

                def step():
                    opt.zero_grad(set_to_none=False)
                    loss = loss_fn(model(x), y)
                    loss.backward()
                    opt.step()

                for _ in range(3):
                    step()
                rates = []
                for _ in range(args.repetitions):
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        step()
                    rates.append(batch * args.steps / (time.perf_counter() - t0))
                name = "-".join(map(str, widths)) + ("" if act == "relu" else ":" + act)
                print(f"torch/{name}/batch:{batch}/threads:{threads}  "
                      f"samples_per_second={statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
