# SPDX-License-Identifier: MIT
"""predict_client.py - times POST /v1/jobs/{id}/predictions from one client.

    predict_client.py BASE JOB_ID IDX_GZ --batch N --requests R [--warmup W]

Sends R requests one after another on one keep-alive connection, each an
IDX body of N Fashion-MNIST test images (taken in turn from IDX_GZ), and
prints one JSON line: batch, requests, images per second (images over the
wall time of the R requests), p50 and p99 latency in ms (nearest rank).
"""
import argparse
import gzip
import http.client
import json
import struct
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("job")
    ap.add_argument("idx_gz")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    raw = gzip.open(a.idx_gz).read()
    n_all, h, w = struct.unpack(">III", raw[4:16])
    img = h * w
    u = urllib.parse.urlparse(a.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    path = "/v1/jobs/%s/predictions" % a.job
    lat = []
    at = 0
    t_all = None
    for i in range(a.warmup + a.requests):
        if at + a.batch > n_all:
            at = 0
        body = struct.pack(">IIII", 0x803, a.batch, h, w) + raw[16 + at * img:16 + (at + a.batch) * img]
        at += a.batch
        if i == a.warmup:
            t_all = time.perf_counter()
        t0 = time.perf_counter()
        conn.request("POST", path, body, {"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            sys.exit("HTTP %d: %s" % (r.status, data[:300]))
        if len(json.loads(data)["predictions"]) != a.batch:
            sys.exit("wrong number of predictions")
        if i >= a.warmup:
            lat.append(dt * 1000.0)
    wall = time.perf_counter() - t_all
    lat.sort()

    def rank(p):
        k = max(0, min(len(lat) - 1, int(-(-p * len(lat) // 100)) - 1))
        return lat[k]

    print(json.dumps({"batch": a.batch, "requests": a.requests,
                      "images_per_second": a.batch * a.requests / wall,
                      "p50_ms": rank(50), "p99_ms": rank(99)}))


if __name__ == "__main__":
    main()
