#!/usr/bin/env python3
"""The lecture's model and training step in PyTorch, for bench/run.sh.

Same architecture as models/lee-mnist.json (Conv 25 3x3 relu, max-pool 2,
Conv 50 3x3 relu, max-pool 2, Flatten, Dense 100 relu, Dense 10), the same
step (forward, softmax cross-entropy, backward, Adam with Keras' epsilon) on a
fixed random batch.  PyTorch in its best configuration on this machine:
--threads 2 (torch.set_num_threads) with OPENBLAS_NUM_THREADS=1 in the
environment (bench/run.sh sets it); its default threads collapse under load.
Prints medians of several repetitions as "key value" lines.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def model():
    return nn.Sequential(
        nn.Conv2d(1, 25, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(25, 50, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1250, 100), nn.ReLU(), nn.Linear(100, 10))


def timed(fn, steps, reps):
    fn()  # warm-up
    # as many steps as fill about 0.15 s, at most `steps` (as bench/bench.c)
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    steps = max(1, min(steps, int(0.15 / one) if one > 0 else steps))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = model()
    params = sum(p.numel() for p in net.parameters())
    assert params == 137660, params
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            torch.softmax(net(x), dim=1)

    net.train()
    t_train = timed(train_step, a.steps, a.reps)
    net.eval()
    t_infer = timed(infer_step, a.steps, a.reps)
    print("torch_version", torch.__version__)
    print("threads", torch.get_num_threads())
    print("train_images_per_s %.0f" % (a.batch / t_train))
    print("infer_images_per_s %.0f" % (a.batch / t_infer))


if __name__ == "__main__":
    main()
