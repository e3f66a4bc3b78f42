# SPDX-License-Identifier: MIT
"""roofline_table.py - the tables of bench/run_roofline.sh (issue #17) from
its JSON lines: per step, the op kinds (calls, GFLOP, GB, ms, GFLOP/s, GB/s,
roofline ms) and the step against its roofline; then every target row,
met or not.

  /usr/bin/python3 bench/roofline_table.py /tmp/run_roofline/roofline.jsonl [BW1 BW2]

BW1 BW2 (GB/s, 1 and 2 threads): a second roofline at that bandwidth (the
quiet machine's triad), from the per-kind sums: max(GFLOP / peak, GB / BW)
per kind, which is at most the per-call sum (so time over it reads high,
never low). It is the bound to hold the `held` time against (below): on a
loaded machine the triad itself reads low.
"""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
quiet_bw = {1: float(sys.argv[2]), 2: float(sys.argv[3])} if len(sys.argv) > 3 else None


def quiet_roof(kinds, step):
    """ms of the per-kind roofline at the quiet bandwidth, or None."""
    if not quiet_bw:
        return None
    bw = quiet_bw[step["threads"]]
    return sum(max(r["gflop"] / step["peak_gflops"], r["gb"] / bw) * 1e3
               for r in kinds if r["kind"] != "step")
machine = next((r for r in rows if r.get("bench") == "machine"), None)
if machine:
    print(f"machine: FMA peak {machine['peak_gflops_t1']} / {machine['peak_gflops_t2']} GFLOP/s "
          f"(1 / 2 threads, measured here, load {machine['loadavg']}), triad "
          f"{machine['triad_gbs_t1']} / {machine['triad_gbs_t2']} GB/s")

by = {}
for r in rows:
    if "tag" in r:
        by.setdefault(r["tag"], {}).setdefault(r["impl"], []).append(r)


def held(r):
    """ms of the step on the cores the program actually held: the median
    wall time times its median CPU utilisation (CPU time / wall / threads).
    On a machine that other work keeps busy this is the time the step
    would take alone, to within cache and memory-bus contention; wall
    ratios then say more about the scheduler than about the programs."""
    return r["median_ms"] * r.get("cpu_util_median", 1.0)


def one(tag, impl, bench=None):
    for r in by.get(tag, {}).get(impl, []):
        if bench is None or r.get("bench") == bench:
            return r
    return None


print()
hdr = (f"{'kind':<15} {'calls':>6} {'GFLOP':>8} {'GB':>7} {'wall ms':>8} {'held ms':>8} "
       f"{'GFLOP/s':>8} {'GB/s':>6} {'roof ms':>8} {'quiet':>7} {'x quiet':>7}")
for tag, d in by.items():
    kinds = [r for r in d.get("nasd", []) if r.get("bench") == "roofline"]
    if not kinds:
        continue
    step = next(r for r in kinds if r["kind"] == "step")
    print(f"== {tag}: measured {step['measured_ms']:.0f} ms (median), profiled "
          f"{step['profiled_ms']:.0f} ms, roofline {step['roof_ms']:.0f} ms "
          f"(peak {step['peak_gflops']} GFLOP/s, {step['bw_gbs']} GB/s): "
          f"{step['measured_over_roof']:.2f}x; useful {step['useful_gflop']:.2f} GFLOP = "
          f"{step['useful_gflops']:.1f} GFLOP/s = {100 * step['useful_share_of_peak']:.1f} % "
          f"of peak; recompute {step['recompute_gflop']:.2f} GFLOP in "
          f"{step['recompute_ms']:.0f} ms")
    main = one(tag, "nasd", "darts") or one(tag, "nasd", "enas")
    if main:
        h = held(main)
        print(f"   held {h:.0f} ms (CPU utilisation {main.get('cpu_util_median')}): useful "
              f"{step['useful_gflop'] / h * 1e3:.1f} GFLOP/s = "
              f"{100 * step['useful_gflop'] / h * 1e3 / step['peak_gflops']:.1f} % of peak")
    q = quiet_roof(kinds, step)
    if q is not None:
        print(f"   roofline at the quiet triad ({quiet_bw[step['threads']]} GB/s, per-kind sums): "
              f"{q:.0f} ms")
    print(hdr)
    for r in kinds:
        if r["kind"] == "step":
            continue
        # held: the kind's process CPU time over the threads (older runs
        # without cpu_ms: its wall time)
        h = r["cpu_ms"] / step["threads"] if "cpu_ms" in r else r["ms"]
        qr = None
        if quiet_bw:
            qr = max(r["gflop"] / step["peak_gflops"], r["gb"] / quiet_bw[step["threads"]]) * 1e3
        x = h / qr if qr else float("nan")
        print(f"{r['kind']:<15} {r['calls']:>6.0f} {r['gflop']:>8.3f} {r['gb']:>7.3f} "
              f"{r['ms']:>8.1f} {h:>8.1f} {r['gflop'] / h * 1e3 if h > 0 else 0:>8.2f} "
              f"{r['gb'] / h * 1e3 if h > 0 else 0:>6.2f} {r['roof_ms']:>8.1f} "
              f"{qr if qr is not None else float('nan'):>7.1f} {x:>7.2f}")
    print()


def verdict(ok):
    return "met" if ok else "MISSED"


print(f"{'target':<44} {'value':>10} {'bound':>7} {'':>7}  load")
for tag, d in by.items():
    n = one(tag, "nasd", "roofline")
    step = None
    for r in d.get("nasd", []):
        if r.get("kind") == "step":
            step = r
    main = one(tag, "nasd", "darts") or one(tag, "nasd", "enas")
    t = (d.get("torch") or [None])[0]
    load = main.get("load_before") if main else None
    if step:
        v = step["measured_over_roof"]
        print(f"{tag + ': time / roofline':<44} {v:>10.2f} {'1.5':>7} {verdict(v <= 1.5):>7}  {load}")
        q = quiet_roof([r for r in d["nasd"] if r.get("bench") == "roofline"], step)
        if main and q:
            v = held(main) / q
            print(f"{tag + ': held time / quiet roofline':<44} {v:>10.2f} {'1.5':>7} "
                  f"{verdict(v <= 1.5):>7}  cpu {main.get('cpu_util_median')} "
                  f"({held(main):.0f} vs {q:.0f} ms)")
    if main and t:
        bound = 0.30 if tag.startswith("enas") else 0.20 if " o1 " in tag else 0.25
        v = main["median_ms"] / t["median_ms"]
        print(f"{tag + ': time / PyTorch':<44} {v:>10.3f} {bound:>7.2f} {verdict(v <= bound):>7}  "
              f"{load}/{t.get('load_before')} ({main['median_ms']:.0f} vs {t['median_ms']:.0f} ms)")
        v = held(main) / held(t)
        print(f"{tag + ': held time / PyTorch':<44} {v:>10.3f} {bound:>7.2f} {verdict(v <= bound):>7}  "
              f"cpu {main.get('cpu_util_median')}/{t.get('cpu_util_median')} "
              f"({held(main):.0f} vs {held(t):.0f} ms)")
        v = main["time_v_rss_kb"] / t["time_v_rss_kb"]
        print(f"{tag + ': peak RSS / PyTorch':<44} {v:>10.3f} {0.25:>7.2f} {verdict(v <= 0.25):>7}  "
              f"({main['time_v_rss_kb'] / 1024:.0f} vs {t['time_v_rss_kb'] / 1024:.0f} MB)")
    if " o2 " in tag:
        t1 = tag.replace(" o2 ", " o1 ")
        m1, m2 = one(t1, "nasd", "darts"), main
        if m1 and m2:
            v = m2["median_ms"] / m1["median_ms"]
            print(f"{tag + ': order 2 / order 1':<44} {v:>10.2f} {2.0:>7.1f} {verdict(v <= 2.0):>7}")
            v = held(m2) / held(m1)
            print(f"{tag + ': held order 2 / order 1':<44} {v:>10.2f} {2.0:>7.1f} {verdict(v <= 2.0):>7}")
        p1, p2 = one(t1, "torch"), t
        if p1 and p2:
            print(f"{'  (PyTorch order 2 / order 1, wall; held)':<44} "
                  f"{p2['median_ms'] / p1['median_ms']:>10.2f} {held(p2) / held(p1):>7.2f}")
    if tag.startswith("nasrl"):
        r = d["nasd"][0]
        v = r["cpu_utilisation"]
        print(f"{tag + ': CPU utilisation':<44} {v:>10.3f} {0.95:>7.2f} {verdict(v >= 0.95):>7}  "
              f"{r.get('load_before')} ({r['children_per_hour']:.0f} children/h)")
