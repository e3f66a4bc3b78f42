# SPDX-License-Identifier: MIT
"""mpi_model.py - the scaling model of README "Many machines", on paper,
from what bench/run_mpi.sh measured (its JSON lines).

    python3 bench/mpi_model.py [/tmp/run_mpi/mpi.jsonl] [--config a]
                               [--compute-ms MS]

Inputs, all from one run: compute = the 1-process, 1-thread step
(median_ms of "a 1x1", or --compute-ms: a less loaded run's); the sums of a step from the 2-rank TCP row: calls
and elements, float (weight and alpha gradients) and double (batch norm
statistics, the loss, the correct count) apart. Per step on N ranks:

    t(N) = compute / N
           + float sums  * ((N - 1 + ceil(log2 N)) * alpha + 2 (N-1)/N * bytes / bw)
           + double sums * (ceil(log2 N) * alpha + (N - 1) * bytes / bw)

A long sum (the weight gradient) is rank/mpi_dist.c's Alltoallv (Open
MPI's pairwise or linear algorithm: N - 1 messages per rank) then
Allgatherv (Bruck or recursive doubling for small vectors: ceil(log2 N)
rounds), which moves 2 (N-1)/N of the vector per rank, like a ring
allreduce. A short one (up to 1 MiB gathered per rank: batch norm's, the
loss, the correct count; the model counts every double sum as short and
every float one, alpha's too, as long) is one Allgather of the whole
vectors (ceil(log2 N) rounds, N - 1 vectors in). alpha and bw are the
network's, assumed (not measured here): MPI over TCP on 25 Gb/s
Ethernet, alpha 25 us, 3.1 GB/s; InfiniBand HDR with UCX, alpha 1.5 us,
25 GB/s. Strong scaling keeps the global batch (compute / N, only while
the batch has at least one example per rank); weak scaling keeps the
per-rank batch (the global batch grows N-fold, compute per rank stays).
Efficiency = compute / N / t(N) (strong) or compute / t(N) (weak).
"""
import json
import math
import sys

NETS = [("25GbE", 25e-6, 3.1e9), ("IB HDR", 1.5e-6, 25e9)]
RANKS = [8, 32, 128]


def main():
    path, config, compute_ms = "/tmp/run_mpi/mpi.jsonl", "a", None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--config":
            config = args.pop(0)
        elif a == "--compute-ms":
            compute_ms = float(args.pop(0))
        else:
            path = a
    rows = {r["tag"]: r for r in map(json.loads, open(path)) if r.get("tag")}
    one, tcp = rows[f"{config} 1x1"], rows[f"{config} 2tcp"]
    compute = (compute_ms if compute_ms else one["median_ms"]) / 1e3
    batch = one["batch"]
    calls = tcp["sum_calls_f32"] + tcp["sum_calls_f64"]
    long_calls, short_calls = tcp["sum_calls_f32"], tcp["sum_calls_f64"]
    long_b, short_b = 4 * tcp["sum_elems_f32"], 8 * tcp["sum_elems_f64"]  # bytes per step
    print(f"config {config}: compute {compute * 1e3:.0f} ms per step (1 process, 1 thread), "
          f"global batch {batch}; {calls} sums per step "
          f"({tcp['sum_calls_f32']} float: {4 * tcp['sum_elems_f32'] / 1e6:.2f} MB, "
          f"{tcp['sum_calls_f64']} double: {8 * tcp['sum_elems_f64'] / 1e6:.2f} MB)")
    print(f"{'net':<7} {'N':>4} {'latency s':>9} {'bytes s':>8} "
          f"{'strong t':>9} {'eff':>5} {'weak t':>7} {'eff':>5}")
    for name, alpha, bw in NETS:
        for n in RANKS:
            lg = math.ceil(math.log2(n))
            lat = (long_calls * (n - 1 + lg) + short_calls * lg) * alpha
            byt = (2 * (n - 1) / n * long_b + (n - 1) * short_b) / bw
            comm = lat + byt
            weak = compute + comm
            if n <= batch:
                strong = compute / n + comm
                s = f"{strong:>9.3f} {compute / n / strong:>5.2f}"
            else:
                s = f"{'batch<N':>9} {'-':>5}"
            print(f"{name:<7} {n:>4} {lat:>9.3f} {byt:>8.4f} {s} {weak:>7.3f} "
                  f"{compute / weak:>5.2f}")


main()
