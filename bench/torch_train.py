#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The network of nas-train (engine/tools/nas_train.c) in PyTorch, on the
same data with the same optimiser and schedule: the side-by-side reference
for its accuracy and images/s.

  /usr/bin/python3 bench/torch_train.py --threads 2 --epochs 3
"""
import argparse
import gzip
import math
import os
import time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=0.02)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--limit", type=int, default=0)
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


xtr = idx(f"{a.data}/train-images-idx3-ubyte.gz").astype(np.float32) / 255
ytr = idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64)
xte = idx(f"{a.data}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
yte = idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
if a.limit:
    xtr, ytr = xtr[:a.limit], ytr[:a.limit]
mean, std = xtr.mean(), xtr.std()
xtr = torch.from_numpy((xtr - mean) / std).unsqueeze(1)
xte = torch.from_numpy((xte - mean) / std).unsqueeze(1)
ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)

net = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
    nn.MaxPool2d(3, 2, 1),
    nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.MaxPool2d(3, 2, 1), nn.Flatten(),
    nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4,
                      nesterov=True)
steps = len(xtr) // a.batch
total = steps * a.epochs
t_start = time.perf_counter()
for epoch in range(1, a.epochs + 1):
    net.train()
    t0 = time.perf_counter()
    perm = torch.randperm(len(xtr))
    loss_sum, correct = 0.0, 0
    for s in range(steps):
        for gr in opt.param_groups:
            gr["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * ((epoch - 1) * steps + s) / total))
        i = perm[s * a.batch:(s + 1) * a.batch]
        out = net(xtr[i])
        loss = nn.functional.cross_entropy(out, ytr[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item()
        correct += (out.argmax(1) == ytr[i]).sum().item()
    dt = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        acc = sum((net(xte[j:j + 500]).argmax(1) == yte[j:j + 500]).sum().item()
                  for j in range(0, len(xte), 500)) / len(xte)
    print(f"epoch {epoch}/{a.epochs}  loss {loss_sum / steps:.4f}  train acc "
          f"{correct / (steps * a.batch):.4f}  test acc {acc:.4f}  "
          f"{steps * a.batch / dt:.0f} images/s  ({time.perf_counter() - t0:.1f} s)", flush=True)
print(f"final test accuracy {acc:.4f}; wall time {time.perf_counter() - t_start:.1f} s")
