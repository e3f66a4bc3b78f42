#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch timings of the convolutions bench/bench_conv.c times, for the
same shapes and the same method (median over --reps after 2 warm-ups).

  /usr/bin/python3 bench/torch_conv.py --threads 1 [--reps 10] [--quick]

fwd = conv(x) with x and the weight requiring grad (the graph is built, as
in training); fwd+bwd = conv(x).backward(dy) with a fixed random dy, x.grad
and weight.grad reset to None first (both gradients are computed). oneDNN is
left at its default (on). One JSON line per row on stdout.
"""
import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--reps", type=int, default=10)
p.add_argument("--quick", action="store_true")
a = p.parse_args()
# torch's OpenMP pool and OpenBLAS's pthread pool are separate: set both
# before torch is imported.
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
import torch  # noqa: E402

torch.set_num_threads(a.threads)
reps, warmups = (3, 1) if a.quick else (a.reps, 2)


def med(f):
    for _ in range(warmups):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    n = len(ts)
    return 1e3 * (ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2]))


# Same order and names as bench_conv.c: name, k, dilation, depthwise.
OPS = [("conv1x1", 1, 1, False), ("conv3x3", 3, 1, False),
       ("conv5x5", 5, 1, False), ("dw3x3", 3, 1, True), ("dw5x5", 5, 1, True),
       ("dw3x3_dil2", 3, 2, True), ("dw5x5_dil2", 5, 2, True)]
CFGS = [(8, 28, 32), (16, 32, 64)]   # C, H=W, batch

torch.manual_seed(0)
for c, hw, batch in CFGS:
    x = torch.randn(batch, c, hw, hw, requires_grad=True)
    for name, k, dil, dw in OPS:
        conv = torch.nn.Conv2d(c, c, k, 1, dil * (k - 1) // 2, dilation=dil,
                               groups=c if dw else 1, bias=False)
        dy = torch.randn_like(conv(x))

        def fb():
            x.grad = None
            conv.weight.grad = None
            conv(x).backward(dy)

        fwd, fwdbwd = med(lambda: conv(x)), med(fb)
        mflop = 2 * batch * c * hw * hw * (1 if dw else c) * k * k / 1e6
        print(json.dumps({
            "impl": "torch", "version": torch.__version__,
            "threads": a.threads, "reps": reps,
            "mkldnn": torch.backends.mkldnn.is_available(),
            "c": c, "hw": hw, "batch": batch, "op": name, "k": k, "dil": dil,
            "depthwise": dw, "mflop_fwd": round(mflop, 3),
            "fwd_ms": round(fwd, 4), "fb_ms": round(fwdbwd, 4),
            "fwd_gflops": round(mflop / fwd, 2),
            "fb_gflops": round(3 * mflop / fwdbwd, 2)}), flush=True)
