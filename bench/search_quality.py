#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""search_quality.py - does a search rank architectures better than chance?

Drives a real nasd (started here, from a build dir, on a free loopback port
with a temporary state dir; stopped at the end) through the public API only.
Standard library only. Two studies (issue #16, "Search quality"):

rank    Rank correlation as in Yu et al. (ICLR 2020), "Evaluating the Search
        Phase of Neural Architecture Search": N architectures of a space are
        each trained stand-alone the same way (a `train` job: same seed, same
        small epoch budget) and Kendall's tau-b (ties counted) is computed
        between their test accuracy and what the search believes of them:
          darts-cnn   one DARTS search; N cells sampled uniformly (seeded, as
                      `random` samples them) plus the derived genotype, each
                      scored by its alpha strength: the sum over the chosen
                      edges of both cells of log softmax(alpha)[op], from the
                      alpha of the search's last epoch (its last
                      /architectures row).
          enas-micro  one ENAS search; the last N distinct children it sampled
                      (the last epoch(s) of /architectures), scored by their
                      shared-weights reward (accuracy on one validation batch).
          nasrl-cnn   one NAS-RL search; its last N distinct children, scored
                      by their child reward; then trained longer stand-alone.
        Also printed as diagnostics: tau of accuracy against the parameter
        count and (darts-cnn) against the number of parameter-free ops
        (pools, skips). The p-value is a two-sided permutation test of tau
        (seeded); the interval a 95 % bootstrap percentile interval.
        --reuse FILE takes the accuracies of architectures an earlier run
        (its --jsonl FILE) trained with the same settings, so a second search
        over the same cells (e.g. --search-hp '{"arch_lr_steps":19550}')
        costs one search and the training of its new derived cell.

budget  Equal budget, darts-cnn: for each seed, one DARTS search per
        --variant (e.g. arch_lr_steps 19550, and the reference's constant
        arch_lr) and one random search (`algorithm: random`) start at the
        same moment in the same nasd, one thread each, on the same first
        --random-examples images. DARTS runs a planned number of epochs
        (--darts-epochs, or sized to --search-seconds from nasd's dry-run
        estimate, `POST /v1/jobs?dry_run=true`, times --slowdown), since
        arch_lr_steps and the cosine schedule divide by the planned steps.
        Random search gets exactly the wall-clock seconds each DARTS search
        took (its started_at to finished_at): its answer for that variant is
        the best-validation child among those finished within them (the
        `t` of its /architectures rows from its own started_at); it runs
        until the last DARTS is done and is then cancelled. Same seconds at
        the same share of the machine, so neither side gets more compute
        (a child that finishes after DARTS is not counted; if none had
        finished, random's first child is taken and marked "over": random
        then had more). Each answer is trained by the same `train` job
        (same spec and seed); a seed's trainings run while the next seed
        searches (both sides equally slowed); --parallel-seeds K runs K
        seeds' searches at once (each job then gets a smaller share, the
        same for both sides). Printed per seed and variant:
        both test accuracies and their difference, then over the seeds the
        wins and losses, the mean difference, a two-sided exact sign test
        and a two-sided exact paired permutation (sign-flip) test.

Every figure depends only on the seeds and the budgets given, except the
budget study (a time budget) and ties in the order jobs finish. Prints a
table and one JSON line per architecture/run plus a summary JSON line
(also appended to --jsonl FILE if given).

    bench/search_quality.py --build build --study rank --space darts-cnn
    bench/search_quality.py --build build --study rank --space enas-micro
    bench/search_quality.py --build build --study budget --seeds 1,2 \\
      --variant 'steps={"arch_lr_steps":19550}' --variant 'const={}'
"""
import argparse
import datetime
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

DARTS_OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
PARAM_FREE = {"max_pool_3x3", "avg_pool_3x3", "skip_connect", "identity",
              "max_pool", "avg_pool"}


# ------------------------------------------------------------------ nasd

class Nasd:
    """One nasd of a build dir on a free loopback port, own state dir."""

    def __init__(self, build, workers, threads, extra):
        exe = os.path.join(build, "nasd")
        if not os.access(exe, os.X_OK):
            sys.exit("%s: not found (build first)" % exe)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.dir = tempfile.mkdtemp(prefix="nasd-quality-")
        self.log = open(os.path.join(self.dir, "nasd.log"), "w")
        self.proc = subprocess.Popen(
            [exe, "--listen", "127.0.0.1:%d" % port, "--state-dir", self.dir,
             "--workers", str(workers), "--threads-per-job", str(threads),
             "--log-level", "warn"] + extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % port
        for _ in range(300):
            try:
                self.get("/healthz")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        sys.exit("nasd did not start; see its log")

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=60) as f:
                return json.load(f)
        except urllib.error.HTTPError as e:
            sys.exit("%s %s: %d %s" % (method, path, e.code, e.read().decode()))

    def get(self, path):
        return self.req("GET", path)

    def submit(self, spec):
        return self.req("POST", "/v1/jobs", spec)["id"]

    def wait(self, ids, poll=5.0):
        """Waits for every job; returns {id: job}. A failed job aborts."""
        done = {}
        while len(done) < len(ids):
            for i in ids:
                if i in done:
                    continue
                j = self.get("/v1/jobs/" + i)
                if j["state"] in ("failed", "cancelled"):
                    sys.exit("job %s %s: %s" % (i, j["state"], j.get("error")))
                if j["state"] == "succeeded":
                    done[i] = j
            if len(done) < len(ids):
                time.sleep(poll)
        return done

    def rows(self, job):
        out, after = [], 0
        while True:
            p = self.get("/v1/jobs/%s/architectures?after=%d&limit=500" % (job, after))
            out += p["architectures"]
            if not p.get("next_after"):
                return out
            after = p["next_after"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------ statistics

def tau_b(x, y):
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)),
    n0 the pairs, n1 and n2 the pairs tied in x and in y."""
    n, s, n1, n2 = len(x), 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            n1 += dx == 0
            n2 += dy == 0
            if dx and dy:
                s += 1 if (dx > 0) == (dy > 0) else -1
    n0 = n * (n - 1) // 2
    d = math.sqrt((n0 - n1) * (n0 - n2))
    return s / d if d else float("nan")


def perm_p(x, y, t, rng, reps):
    """Two-sided permutation p-value of tau-b (y shuffled)."""
    if t != t:
        return float("nan")
    yy, hit = list(y), 0
    for _ in range(reps):
        rng.shuffle(yy)
        if abs(tau_b(x, yy)) >= abs(t) - 1e-12:
            hit += 1
    return (hit + 1) / (reps + 1)


def boot_ci(x, y, rng, reps):
    n, ts = len(x), []
    for _ in range(reps):
        k = [rng.randrange(n) for _ in range(n)]
        t = tau_b([x[i] for i in k], [y[i] for i in k])
        if t == t:
            ts.append(t)
    ts.sort()
    if not ts:
        return float("nan"), float("nan")
    return ts[int(0.025 * len(ts))], ts[int(0.975 * len(ts)) - 1]


# ----------------------------------------------------------------- spaces

def darts_sample(rng):
    """A cell as `random` samples one: per node an ordered pair of distinct
    earlier states, each edge's op uniform over the 7 non-none ops."""
    cell = []
    for i in range(4):
        a = rng.randrange(i + 2)
        b = rng.randrange(i + 1)
        b = b + 1 if b >= a else b
        cell += [[rng.choice(DARTS_OPS), a], [rng.choice(DARTS_OPS), b]]
    return cell


def darts_strength(geno, alpha):
    """Sum over the chosen edges of both cells of log softmax(alpha)[op];
    alpha holds the softmax per edge (edge of node i from state j:
    i (i + 3) / 2 + j, the reference's order)."""
    ops, s = alpha["ops"], 0.0
    for cell in ("normal", "reduce"):
        for k, (op, j) in enumerate(geno[cell]):
            i = k // 2
            s += math.log(alpha[cell][i * (i + 3) // 2 + j][ops.index(op)])
    return s


def param_free(geno):
    return sum(1 for c in ("normal", "reduce") for op, _ in geno[c] if op in PARAM_FREE)


# ------------------------------------------------------------------ study

def train_spec(a, arch):
    spec = {"algorithm": "train", "dataset": a.dataset, "seed": a.seed,
            "architecture": arch, "budget": {"epochs": a.train_epochs},
            "hyperparameters": {"batch_size": a.train_batch}}
    if a.train_examples:
        spec["hyperparameters"]["max_examples"] = a.train_examples
    return spec


def row_arch(row):
    """An /architectures row's architecture (named `arch` before 2026-12)."""
    return row["architecture"] if "architecture" in row else row["arch"]


def arch_for_train(a, space, arch):
    """The architecture as served, with the stand-alone network's size."""
    arch = {k: v for k, v in arch.items() if k not in ("space", "C", "layers")}
    arch["space"] = space
    if space != "nasrl-cnn":
        arch.update({"C": a.train_C, "layers": a.train_layers})
    return arch


def train_text(a):
    size = "" if a.space == "nasrl-cnn" else "C %d, %d layers, " % (a.train_C, a.train_layers)
    return size + "%d epoch(s), %s examples, batch %d" % (
        a.train_epochs, a.train_examples or "all", a.train_batch)


def emit(a, obj):
    line = json.dumps(obj, sort_keys=True)
    print(line, flush=True)
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            f.write(line + "\n")


def load_reuse(a):
    """{arch key: arch row} of the --reuse files' rank runs whose stand-alone
    training was this run's (same train settings and seed)."""
    cache, pending = {}, []
    want = train_text(a) + ", seed %d" % a.seed
    for path in a.reuse:
        with open(path) as f:
            for line in f:
                o = json.loads(line)
                if o.get("kind") == "arch" and o.get("space") == a.space:
                    pending.append(o)
                elif o.get("kind") == "summary":
                    if o.get("study") == "rank" and o.get("train") == want:
                        cache.update({arch_key(r["arch"]): r for r in pending})
                    pending = []
    return cache


def arch_key(arch):
    return json.dumps(arch, sort_keys=True)


def train_or_reuse(a, d, cache, arch):
    """A train job's id, or None when --reuse has this architecture's
    accuracy already."""
    if arch_key(arch) in cache:
        return None
    return d.submit(train_spec(a, arch_for_train(a, a.space, arch)))


def search_spec(a):
    # the README's measured DARTS search; its ENAS micro one on half the examples
    hp = {"darts-cnn": {"order": 1, "C": 8, "layers": 5, "batch_size": 32,
                        "max_examples": 10000},
          "enas-micro": {"C": 8, "layers": 2, "batch_size": 64, "max_examples": 10000,
                         "controller_steps": 20, "controller_aggregate": 5},
          "nasrl-cnn": {"child_epochs": 1, "max_examples": 3000, "start_layers": 3,
                        "max_layers": 3, "num_filters": [8, 16, 24],
                        "children_per_update": 2}}[a.space]
    algo = {"darts-cnn": "darts", "enas-micro": "enas", "nasrl-cnn": "nas-rl"}[a.space]
    spec = {"algorithm": algo, "search_space": a.space, "dataset": a.dataset,
            "seed": a.seed, "hyperparameters": hp}
    epochs = a.search_epochs or {"darts": 3, "enas": 10}.get(algo)
    spec["budget"] = ({"max_architectures": a.search_archs} if algo == "nas-rl"
                      else {"epochs": epochs})
    for k, v in json.loads(a.search_hp).items():
        hp[k] = v
    return spec


def rank_study(a, d):
    rng = random.Random(a.seed)
    t0 = time.time()
    cache = load_reuse(a)
    spec = search_spec(a)
    emit(a, {"kind": "search_spec", "space": a.space, "spec": spec})
    sid = d.submit(spec)
    cands = []  # (label, arch as served, belief)
    if a.space == "darts-cnn":
        # the random cells do not depend on the search: train them meanwhile
        for i in range(a.n):
            g = {"normal": darts_sample(rng), "normal_concat": [2, 3, 4, 5],
                 "reduce": darts_sample(rng), "reduce_concat": [2, 3, 4, 5]}
            cands.append(["random%d" % i, g, None])
        ids = [train_or_reuse(a, d, cache, g) for _, g, _ in cands]
        d.wait([sid])
        last = d.rows(sid)[-1]
        alpha = last["metrics"]["alpha"]
        res = d.get("/v1/jobs/%s/result" % sid)["architecture"]
        derived = {k: res[k] for k in ("normal", "normal_concat", "reduce", "reduce_concat")}
        cands.append(["derived", derived, None])
        ids.append(train_or_reuse(a, d, cache, derived))
        for c in cands:
            c[2] = darts_strength(c[1], alpha)
        belief = "alpha strength (sum log softmax, last epoch %d)" % last["metrics"]["epoch"]
    else:
        d.wait([sid])
        rows, seen = d.rows(sid), set()
        for r in reversed(rows):
            key = json.dumps(row_arch(r), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            cands.append(["s%d" % r["seq"], row_arch(r), r["reward"], r["metrics"].get("epoch")])
            if len(cands) == a.n:
                break
        if a.space == "enas-micro":
            ep = sorted({c.pop() for c in cands})
            belief = "shared-weights reward (epochs %d-%d)" % (ep[0], ep[-1])
        else:
            cands = [c[:3] for c in cands]
            belief = "child reward (last %d distinct of %d)" % (len(cands), len(rows))
        ids = [train_or_reuse(a, d, cache, c[1]) for c in cands]
    d.wait([i for i in ids if i])
    acc, bel, par = [], [], []
    for (label, arch, b), i in zip(cands, ids):
        if i is None:  # trained by an earlier run (--reuse): the same numbers
            old = cache[arch_key(arch)]
            value, params, secs = old["test_accuracy"], old["parameters"], None
        else:
            r = d.get("/v1/jobs/%s/result" % i)
            value, params = r["value"], r["details"].get("parameters", 0)
            secs = r["details"].get("seconds")
        acc.append(value)
        bel.append(b)
        par.append(params)
        row = {"kind": "arch", "space": a.space, "label": label, "belief": b,
               "test_accuracy": value, "parameters": params,
               "train_seconds": secs, "reused": i is None, "arch": arch}
        if a.space == "darts-cnn":
            row["param_free_ops"] = param_free(arch)
        emit(a, row)
    prng = random.Random(a.seed)
    t = tau_b(bel, acc)
    p = perm_p(bel, acc, t, prng, a.perms)
    lo, hi = boot_ci(bel, acc, prng, a.boots)
    summ = {"kind": "summary", "study": "rank", "space": a.space, "n": len(acc),
            "belief": belief, "tau": round(t, 4), "p": round(p, 4),
            "ci95": [round(lo, 4), round(hi, 4)],
            "tau_params": round(tau_b(par, acc), 4),
            "acc_min": min(acc), "acc_median": sorted(acc)[len(acc) // 2], "acc_max": max(acc),
            "train": train_text(a) + ", seed %d" % a.seed,
            "search_job": sid, "wall_seconds": round(time.time() - t0)}
    if a.space == "darts-cnn":
        pf = [param_free(c[1]) for c in cands]
        summ["tau_param_free_ops"] = round(tau_b(pf, acc), 4)
        summ["tau_belief_param_free_ops"] = round(tau_b(bel, pf), 4)
        k = len(acc) - 1
        summ["derived_acc"] = acc[k]
        summ["derived_acc_rank"] = 1 + sum(1 for v in acc[:k] if v > acc[k])
        summ["derived_param_free_ops"] = pf[k]
    emit(a, summ)
    print("\n| space | N | belief | Kendall tau-b | p (permutation) | 95 % bootstrap | "
          "tau vs params | test acc min / median / max | stand-alone training |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("| %s | %d | %s | %.3f | %.3f | [%.3f, %.3f] | %.3f | %.4f / %.4f / %.4f | %s |" % (
        a.space, len(acc), belief, t, p, lo, hi, summ["tau_params"], summ["acc_min"],
        summ["acc_median"], summ["acc_max"], summ["train"]))
    if a.space == "darts-cnn":
        print("\nparameter-free ops (of 16) vs test accuracy: tau %.3f; vs alpha strength: "
              "tau %.3f; derived genotype: %d parameter-free ops, test accuracy %.4f, "
              "rank %d of %d" % (summ["tau_param_free_ops"], summ["tau_belief_param_free_ops"],
                                 summ["derived_param_free_ops"], summ["derived_acc"],
                                 summ["derived_acc_rank"], len(acc)))


def iso_seconds(t):
    """Seconds since the epoch of one of nasd's times (ISO 8601, ms, Z)."""
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def sign_test_p(diffs):
    """Two-sided exact sign test (binomial, p = 1/2) of the nonzero diffs."""
    nz = [x for x in diffs if x != 0]
    n, k = len(nz), sum(1 for x in nz if x > 0)
    if not n:
        return float("nan")
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def paired_perm_p(diffs):
    """Two-sided exact paired permutation (sign-flip) test of the mean
    difference: all 2^n sign assignments of the paired differences."""
    n = len(diffs)
    if not n:
        return float("nan")
    obs, hit = abs(sum(diffs)), 0
    for m in range(2 ** n):
        s = sum(-x if m >> i & 1 else x for i, x in enumerate(diffs))
        hit += abs(s) >= obs - 1e-12
    return hit / 2.0 ** n


def darts_epochs_for(a, d, spec):
    """DARTS's planned epochs for --search-seconds: nasd's dry-run estimate
    of one epoch's seconds (POST /v1/jobs?dry_run=true) times --slowdown."""
    probe = json.loads(json.dumps(spec))
    probe["budget"] = {"epochs": 1}
    est = d.req("POST", "/v1/jobs?dry_run=true", probe)["estimate"]["time_parts"]
    per = est["search_seconds"] * a.slowdown
    e = max(1, int(round(a.search_seconds / per)))
    print("# dry-run estimate %.1f s per DARTS epoch x slowdown %.2f = %.1f s: %d epoch(s) "
          "for %g s" % (est["search_seconds"], a.slowdown, per, e, a.search_seconds), flush=True)
    return e


def budget_submit(a, d, seed, variants, epochs):
    """One seed's searches, submitted at once: each DARTS variant for its
    planned epochs, and one random search. ({variant: (id, spec)}, random
    id, random spec)."""
    cap = 10 * a.search_seconds  # a safety net only: the plan ends DARTS
    dids = {}
    for name, hp in variants:
        ds = {"algorithm": "darts", "search_space": "darts-cnn", "dataset": a.dataset,
              "seed": seed, "budget": {"epochs": epochs, "max_seconds": cap},
              "hyperparameters": {"order": 1, "C": a.search_C, "layers": a.search_layers,
                                  "batch_size": 32,
                                  "max_examples": a.random_examples}}
        ds["hyperparameters"].update(hp)
        dids[name] = (d.submit(ds), ds)
    rs = {"algorithm": "random", "search_space": "darts-cnn", "dataset": a.dataset,
          "seed": seed, "budget": {"max_architectures": 100000, "max_seconds": cap},
          "hyperparameters": {"C": a.search_C, "layers": a.search_layers, "child_epochs": 1,
                              "max_examples": a.random_examples, "parallel_children": 1}}
    return dids, d.submit(rs), rs


def budget_collect(d, dids, ri):
    """Waits for a seed's DARTS searches, then lets its random search run
    until it has a child and as many seconds as the longest DARTS took,
    and cancels it. ({variant: (arch, seconds, spec)}, random's rows,
    random's start), or None while a DARTS search is still running."""
    jobs = {}
    for name, (i, _) in dids.items():
        j = d.get("/v1/jobs/" + i)
        if j["state"] in ("failed", "cancelled"):
            sys.exit("job %s %s: %s" % (i, j["state"], j.get("error")))
        if j["state"] != "succeeded":
            return None
        jobs[name] = j
    out = {}
    for name, j in jobs.items():
        secs = iso_seconds(j["finished_at"]) - iso_seconds(j["started_at"])
        out[name] = (d.get("/v1/jobs/%s/result" % j["id"])["architecture"], secs, dids[name][1])
    longest = max(o[1] for o in out.values())
    rj = d.get("/v1/jobs/" + ri)
    if rj["state"] == "failed":
        sys.exit("job %s failed: %s" % (ri, rj.get("error")))
    rows = d.rows(ri)
    start = iso_seconds(rj["started_at"]) if rj.get("started_at") else None
    if rj["state"] not in ("succeeded", "cancelled") and not (
            rows and start and time.time() - start > longest + 1):
        return None
    if rj["state"] == "running":
        d.req("POST", "/v1/jobs/%s:cancel" % ri, {})
    return out, rows, start


def random_answer(rows, start, seconds):
    """Random search's answer after `seconds` of it: the best validation
    reward among the children finished by then (the first of equals, as the
    random job keeps it), or the first child if none had finished (then
    random had more time; `over` says so). (arch, children, over)."""
    done = [r for r in rows if iso_seconds(r["t"]) - start <= seconds]
    over = not done
    if over:
        done = rows[:1]
    best = done[0]
    for r in done[1:]:
        if r["reward"] > best["reward"]:
            best = r
    arch = dict(row_arch(best))
    arch.setdefault("space", "darts-cnn")
    return arch, len(done), over


def budget_study(a, d):
    variants = [("darts", json.loads(a.search_hp))]
    if a.variant:
        variants = []
        for v in a.variant:
            name, _, hp = v.partition("=")
            variants.append((name, json.loads(hp or "{}")))
    base = {"algorithm": "darts", "search_space": "darts-cnn", "dataset": a.dataset,
            "seed": 1, "hyperparameters": {"order": 1, "C": a.search_C, "layers": a.search_layers,
                                  "batch_size": 32,
                                           "max_examples": a.random_examples}}
    epochs = a.darts_epochs or darts_epochs_for(a, d, base)
    seeds = [int(s) for s in a.seeds.split(",")]
    pending = []  # (seed, {variant or random arch key: train id}, meta, random spec)
    waves = [seeds[i:i + a.parallel_seeds] for i in range(0, len(seeds), a.parallel_seeds)]
    for wave in waves:
        t0 = time.time()
        subs = {seed: budget_submit(a, d, seed, variants, epochs) for seed in wave}
        left = list(wave)
        while left:
            for seed in list(left):
                dids, ri, rs = subs[seed]
                got = budget_collect(d, dids, ri)
                if got is None:
                    continue
                left.remove(seed)
                a.seed = seed
                out, rows, start = got
                trains, meta = {}, {}
                for name, (arch, secs, ds) in out.items():
                    rarch, nch, over = random_answer(rows, start, secs)
                    trains[name] = d.submit(train_spec(a, arch_for_train(a, "darts-cnn", arch)))
                    key = json.dumps(rarch, sort_keys=True)
                    if key not in trains:
                        trains[key] = d.submit(
                            train_spec(a, arch_for_train(a, "darts-cnn", rarch)))
                    meta[name] = {"darts_arch": arch, "darts_seconds": round(secs, 1),
                                  "darts_spec": ds, "random_arch": rarch, "random_key": key,
                                  "random_children": nch, "random_over": over}
                # which cell is whose, before the trainings: a run that dies
                # in them (e.g. out of memory) can still be trained again
                emit(a, {"kind": "budget_cells", "seed": seed, "train": train_text(a),
                         "cells": {n: {"darts_arch": m["darts_arch"],
                                       "darts_seconds": m["darts_seconds"],
                                       "random_arch": m["random_arch"],
                                       "random_children": m["random_children"],
                                       "random_over": m["random_over"]}
                                   for n, m in meta.items()}})
                print("# seed %d: searches done after %.0f s (%s), random %d children in "
                      "all; load %s" % (seed, time.time() - t0,
                                        ", ".join("%s %.0f s" % (n, m["darts_seconds"])
                                                  for n, m in meta.items()),
                                        len(rows),
                                        " ".join("%.2f" % x for x in os.getloadavg())),
                      flush=True)
                pending.append((seed, trains, meta, rs))
            if left:
                time.sleep(5)
    pending.sort(key=lambda p: seeds.index(p[0]))
    print("\n| seed | DARTS variant | search seconds | DARTS test acc | random test acc "
          "| random children | DARTS - random | DARTS normal cell |")
    print("|---|---|---|---|---|---|---|---|")
    diffs = {n: [] for n, _ in variants}
    for seed, trains, meta, rs in pending:
        a.seed = seed
        d.wait(list(set(trains.values())))
        acc = {k: d.get("/v1/jobs/%s/result" % i)["value"] for k, i in trains.items()}
        for name, m in meta.items():
            da, ra = acc[name], acc[m["random_key"]]
            diffs[name].append(da - ra)
            normal = " ".join("%s/%d" % (op, j) for op, j in m["darts_arch"]["normal"])
            emit(a, {"kind": "summary", "study": "budget", "seed": seed, "variant": name,
                     "darts_epochs": epochs, "darts_seconds": m["darts_seconds"],
                     "darts_spec": m["darts_spec"], "random_spec": rs,
                     "darts_test_accuracy": da, "random_test_accuracy": ra,
                     "random_children": m["random_children"], "random_over": m["random_over"],
                     "darts_arch": m["darts_arch"], "random_arch": m["random_arch"],
                     "train": train_text(a) + ", seed %d" % seed})
            print("| %d | %s | %.0f | %.4f | %.4f | %d%s | %+.4f | %s |" % (
                seed, name, m["darts_seconds"], da, ra, m["random_children"],
                " (over)" if m["random_over"] else "", da - ra, normal), flush=True)
    for name, dl in diffs.items():
        w, l = sum(x > 0 for x in dl), sum(x < 0 for x in dl)
        mean = sum(dl) / len(dl)
        summ = {"kind": "summary", "study": "budget-paired", "variant": name,
                "seeds": seeds, "wins": w, "losses": l, "ties": len(dl) - w - l,
                "mean_diff": round(mean, 5), "sign_test_p": round(sign_test_p(dl), 4),
                "paired_permutation_p": round(paired_perm_p(dl), 4)}
        emit(a, summ)
        print("\n%s vs random over %d seeds: %d wins, %d losses, %d ties; mean difference "
              "%+.4f; two-sided exact sign test p %.3f; exact paired permutation "
              "(sign-flip) test p %.3f" % (name, len(dl), w, l, len(dl) - w - l, mean,
                                          summ["sign_test_p"], summ["paired_permutation_p"]))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split(" - ", 1)[1].split("\n    bench/")[0],
        epilog="Example: bench/search_quality.py --build build --study rank --space darts-cnn",
        formatter_class=type("Fmt", (argparse.ArgumentDefaultsHelpFormatter,
                                     argparse.RawDescriptionHelpFormatter), {}))
    ap.add_argument("--build", required=True, help="build dir holding nasd")
    ap.add_argument("--study", choices=["rank", "budget"], default="rank")
    ap.add_argument("--space", choices=["darts-cnn", "enas-micro", "nasrl-cnn"],
                    default="darts-cnn", help="rank study: the space")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--n", type=int, default=20,
                    help="architectures (darts-cnn: random cells, plus the derived one)")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the search, the sampled cells and every train job")
    ap.add_argument("--seeds", default="1,2", help="budget study: one run per seed")
    ap.add_argument("--search-epochs", type=int,
                    help="darts/enas search epochs (default: darts 3, enas 10)")
    ap.add_argument("--search-archs", type=int, default=40, help="nas-rl: children")
    ap.add_argument("--search-hp", default="{}",
                    help="JSON object merged into the search's hyperparameters")
    ap.add_argument("--search-seconds", type=float, default=300,
                    help="budget study: the seconds DARTS's planned epochs are sized to "
                    "(unless --darts-epochs); random search gets the seconds DARTS took")
    ap.add_argument("--random-examples", type=int, default=6000,
                    help="budget study: max_examples of both searches (DARTS's halves and "
                    "random's children see the same first images)")
    ap.add_argument("--darts-epochs", type=int,
                    help="budget study: DARTS's planned epochs (what arch_lr_steps and the "
                    "cosine schedule divide by); default: sized to --search-seconds by "
                    "nasd's dry-run estimate of one epoch times --slowdown")
    ap.add_argument("--slowdown", type=float, default=1.0,
                    help="budget study: measured seconds of a DARTS epoch here over the "
                    "dry-run estimate (the machine's load and share)")
    ap.add_argument("--search-C", type=int, default=8,
                    help="budget study: C of DARTS's supernet and of random's children")
    ap.add_argument("--search-layers", type=int, default=5,
                    help="budget study: cells of DARTS's supernet and of random's children "
                    "(both search at this size; both answers are trained at --train-C and "
                    "--train-layers)")
    ap.add_argument("--parallel-seeds", type=int, default=1,
                    help="budget study: seeds whose searches run at the same time (each "
                    "seed's DARTS and random still start together and share alike)")
    ap.add_argument("--variant", action="append", default=[],
                    help="budget study: NAME=JSON, a DARTS search whose hyperparameters get "
                    "JSON merged (repeat: all run at once against the one random search); "
                    "default one variant, darts=--search-hp")
    ap.add_argument("--train-C", type=int, default=8)
    ap.add_argument("--train-layers", type=int,
                    help="darts-cnn: cells (default 5); enas-micro: normal cells per "
                    "stack (default 2)")
    ap.add_argument("--train-epochs", type=int, default=2)
    ap.add_argument("--train-examples", type=int, default=5000,
                    help="max_examples of each train job; 0: all")
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="--threads-per-job")
    ap.add_argument("--perms", type=int, default=2000, help="permutations for the p-value")
    ap.add_argument("--boots", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--jsonl", help="also append the JSON lines to this file")
    ap.add_argument("--reuse", action="append", default=[],
                    help="rank study: a --jsonl file of an earlier run (repeat); an "
                    "architecture it trained with the same train settings and seed is "
                    "not trained again (its accuracy depends only on those), so a "
                    "second search over the same cells costs one search")
    ap.add_argument("--nasd-arg", action="append", default=[],
                    help="extra nasd argument (repeat), e.g. --nasd-arg=--cifar10-dir=DIR")
    a = ap.parse_args()
    if a.train_layers is None:
        a.train_layers = 2 if a.space == "enas-micro" and a.study == "rank" else 5
    # stop nasd and remove its state dir on SIGTERM and SIGINT too (a
    # background job of a shell ignores SIGINT unless told otherwise)
    def bye(sig, _frame):
        raise SystemExit("stopped by signal %d" % sig)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    d = Nasd(a.build, a.workers, a.threads, a.nasd_arg)
    try:
        (rank_study if a.study == "rank" else budget_study)(a, d)
    finally:
        d.stop()


if __name__ == "__main__":
    main()
