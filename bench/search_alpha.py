#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""search_alpha.py - how far has a DARTS search's alpha moved, and does it rank?

Reads, through the public API of a running nasd (standard library only),
one darts-cnn search's /architectures rows (one per finished epoch) and
prints per epoch: the range of softmax(alpha) over every edge and op of
both cells (uniform is 1/8 = 0.125), the mean softmax per op over the
normal cell's edges, and the derived genotype's parameter-free ops (pools
and skips, of 16). With --trained URL it also scores every darts-cnn
`train` job that has succeeded on that nasd (e.g. the one
bench/search_quality.py started, while it runs) by each epoch's alpha
strength (bench/search_quality.py's rule) and prints Kendall's tau-b of
strength against test accuracy over the cells trained so far, with the
same permutation p-value and bootstrap interval. It starts nothing and
changes nothing.

    bench/search_alpha.py --url http://127.0.0.1:PORT --job ID [--trained http://...]
"""
import argparse
import importlib.util
import json
import os
import random
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("sq", os.path.join(HERE, "search_quality.py"))
sq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sq)


def get(url):
    with urllib.request.urlopen(url, timeout=60) as f:
        return json.load(f)


def trained(url):
    """[(genotype, test accuracy)] of the succeeded darts-cnn train jobs."""
    out, tok = [], None
    while True:
        page = get(url + "/v1/jobs?algorithm=train&state=succeeded&page_size=100" +
                   ("&page_token=" + tok if tok else ""))
        for j in page["jobs"]:
            arch = j["spec"].get("architecture") or {}
            if arch.get("space") == "darts-cnn" and "genotype" in arch:
                res = get("%s/v1/jobs/%s/result" % (url, j["id"]))
                out.append((arch["genotype"], res["value"]))
        tok = page.get("next_page_token")
        if not tok:
            return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].split(" - ")[1])
    ap.add_argument("--url", required=True, help="the nasd that runs the search")
    ap.add_argument("--job", required=True, help="the darts-cnn search's job id")
    ap.add_argument("--trained", help="a nasd whose succeeded train jobs to rank")
    ap.add_argument("--seed", type=int, default=1, help="of the permutations and resamples")
    a = ap.parse_args()
    rows = get("%s/v1/jobs/%s/architectures?limit=500" % (a.url, a.job))["architectures"]
    cells = trained(a.trained) if a.trained else []
    for r in rows:
        m = r["metrics"]
        al = m["alpha"]
        ops = al["ops"]
        flat = [p for cell in ("normal", "reduce") for edge in al[cell] for p in edge]
        mean = {op: sum(e[k] for e in al["normal"]) / len(al["normal"])
                for k, op in enumerate(ops)}
        geno = sq.row_arch(r)
        print("epoch %d (step %d): softmax(alpha) in [%.4f, %.4f]; derived cell %d "
              "parameter-free ops of 16; val accuracy %.4f" % (
                  m["epoch"], m["step"], min(flat), max(flat), sq.param_free(geno),
                  m.get("val_accuracy", float("nan"))))
        print("  normal-cell mean per op: " + ", ".join(
            "%s %.4f" % (op, v) for op, v in sorted(mean.items(), key=lambda t: -t[1])))
        if len(cells) >= 3:
            bel = [sq.darts_strength(g, al) for g, _ in cells]
            acc = [v for _, v in cells]
            rng = random.Random(a.seed)
            t = sq.tau_b(bel, acc)
            p = sq.perm_p(bel, acc, t, rng, 2000)
            lo, hi = sq.boot_ci(bel, acc, rng, 2000)
            print("  alpha strength vs test accuracy of %d trained cells: tau %.3f, p %.3f, "
                  "95 %% [%.3f, %.3f]; strengths %.3f to %.3f" % (
                      len(acc), t, p, lo, hi, min(bel), max(bel)))


if __name__ == "__main__":
    main()
