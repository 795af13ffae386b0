#!/usr/bin/env python3
"""The scaling model of cnn-train-mpi(1): predicted efficiency of N ranks.

Per step of global batch B on N ranks (ring all-reduce, no overlap):
  compute   t_c = (B / N) * t_img                   t_img: one rank's training
                                                    time per image
  transfer  t_x = 2 (N - 1) / N * 4 P / bandwidth   P: parameters (float32)
          + 2 (N - 1) * latency                      ring steps
  efficiency = t_c / (t_c + t_x)
t_img of the lecture model is measured (argument, ms per image, from
cnn-train's img/s); the other models' are assumed from it in proportion to
their FLOPs per image (cnn-summary --flops), i.e. the same sustained rate.
Parameter counts and FLOPs are read with cnn-summary.

usage: mpi_model.py [--bin DIR] [--ms-per-image X] [--batch B] [--latency-us L]
Prints one TSV line per model, rank count and bandwidth.
"""
import argparse
import re
import subprocess

MODELS = ["models/lee-mnist.json", "models/cifar-cnn.json", "models/alphago-policy.json"]
RANKS = [2, 4, 8, 16, 32, 64]
GBITS = [10, 25, 100]


def summary(binary, model):
    out = subprocess.run([binary, "--flops", model], check=True, capture_output=True,
                         text=True).stdout
    params = int(re.search(r"Total params: ([\d,]+)", out).group(1).replace(",", ""))
    flops = int(re.search(r"Total FLOPs per image: ([\d,]+)", out).group(1).replace(",", ""))
    return params, flops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--ms-per-image", type=float, default=0.464)  # 2156 img/s, 1 thread
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--latency-us", type=float, default=5.0)
    a = ap.parse_args()
    info = {m: summary(a.bin + "/cnn-summary", m) for m in MODELS}
    ref_flops = info[MODELS[0]][1]
    print("model\tparams\tms/image\tranks\tMB/step\t" +
          "\t".join("eff@%dGb/s" % g for g in GBITS))
    for m in MODELS:
        p, f = info[m]
        t_img = a.ms_per_image * 1e-3 * f / ref_flops
        for n in RANKS:
            t_c = a.batch / n * t_img
            nbytes = 2 * (n - 1) / n * 4 * p
            eff = []
            for g in GBITS:
                t_x = nbytes / (g * 1e9 / 8) + 2 * (n - 1) * a.latency_us * 1e-6
                eff.append("%.0f%%" % (100 * t_c / (t_c + t_x)))
            name = m.split("/")[-1][:-5]
            print("%s\t%d\t%.3g\t%d\t%.2f\t%s" % (name, p, t_img * 1e3, n, nbytes / 1e6,
                                                 "\t".join(eff)))


if __name__ == "__main__":
    main()
