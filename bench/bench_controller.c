// SPDX-License-Identifier: MIT
/*
 * bench_controller.c - time one controller update (sample an architecture
 * + REINFORCE backward + Adam step) of
 * engine/search/controller/controller.c, the counterpart of
 * ../shared/peer/enas_ref.py --part controller.
 *
 *   bench/bench_controller [--program micro|rnn] [--lstm-size N]
 *                          [--nodes B] [--steps 200] [--warmup 20]
 *                          [--seed 1]
 *
 * Programs: micro is the ENAS micro space's (two cells, each two ANCHOR
 * steps for the cell inputs, then per node PICK, PICK, CHOICE of 5 ops,
 * CHOICE of 5 ops, ANCHOR; a RESET between the cells; LSTM 64, tanh 1.1,
 * op_tanh_reduce 2.5), like the reference's sampler; rnn is the recurrent
 * space's (node 0 a CHOICE of 4 activations, every later node a PICK of an
 * earlier node and a CHOICE of 4, each node an ANCHOR; LSTM 100, tanh
 * 2.5). What is timed, wall clock per update: graph reset, sampling (the
 * tape records), the loss -(R - b) logp - 1e-4 H with a dummy reward,
 * backward, the baseline update and one Adam step (lr 0.0035).
 *
 * Prints one JSON line with the reference's field names (median_ms,
 * min_ms, max_ms, weights, ...).
 */
#include "search/controller/controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void add(nas_ctrl_step *prog, int *n, int kind, int head, int k)
{
    prog[(*n)++] = (nas_ctrl_step){kind, head, k};
}

int main(int argc, char **argv)
{
    const char *program = "micro";
    int lstm = 0, nodes = 0, steps = 200, warmup = 20;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_controller: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--program"))
            program = v;
        else if (!strcmp(a, "--lstm-size"))
            lstm = atoi(v);
        else if (!strcmp(a, "--nodes"))
            nodes = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "bench_controller: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    int micro = !strcmp(program, "micro");
    if (!micro && strcmp(program, "rnn")) {
        fprintf(stderr, "bench_controller: --program micro or rnn\n");
        return 2;
    }
    if (steps < 1 || warmup < 0) {
        fprintf(stderr, "bench_controller: --steps >= 1, --warmup >= 0\n");
        return 2;
    }
    nas_ctrl_cfg cfg = {0};
    cfg.lstm_layers = 1;
    cfg.nheads = 1;
    if (micro) {
        cfg.hidden = lstm ? lstm : 64;
        cfg.head_size[0] = 5;
        cfg.tanh_c = 1.1f;
        cfg.choice_tanh_reduce = 2.5f;
        nodes = nodes ? nodes : 5;
    } else {
        cfg.hidden = lstm ? lstm : 100;
        cfg.head_size[0] = 4;
        cfg.tanh_c = 2.5f;
        nodes = nodes ? nodes : 12;
    }
    if (nodes < 1 || nodes > 64) {
        fprintf(stderr, "bench_controller: --nodes in 1..64\n");
        return 2;
    }
    nas_ctrl_step *prog = malloc((size_t)(12 * nodes + 8) * sizeof(*prog));
    int n = 0;
    if (micro) {
        for (int cell = 0; cell < 2; cell++) {
            if (cell)
                add(prog, &n, NAS_CTRL_RESET, 0, 0);
            add(prog, &n, NAS_CTRL_ANCHOR, 0, 0);
            add(prog, &n, NAS_CTRL_ANCHOR, 0, 0);
            for (int b = 0; b < nodes; b++) {
                add(prog, &n, NAS_CTRL_PICK, 0, 2 + b);
                add(prog, &n, NAS_CTRL_PICK, 0, 2 + b);
                add(prog, &n, NAS_CTRL_CHOICE, 0, 5);
                add(prog, &n, NAS_CTRL_CHOICE, 0, 5);
                add(prog, &n, NAS_CTRL_ANCHOR, 0, 0);
            }
        }
    } else {
        for (int b = 0; b < nodes; b++) {
            if (b)
                add(prog, &n, NAS_CTRL_PICK, 0, b);
            add(prog, &n, NAS_CTRL_CHOICE, 0, 4);
            add(prog, &n, NAS_CTRL_ANCHOR, 0, 0);
        }
    }

    nas_params *p = nas_params_new();
    nas_ctrl *c = NULL;
    nas_rng rng;
    nas_rng_seed(&rng, seed);
    if (nas_ctrl_declare(p, "ctrl", &cfg, &c) < 0 || nas_params_alloc(p, &rng) < 0) {
        fprintf(stderr, "bench_controller: %s\n", nas_errmsg());
        return 1;
    }
    int len = nas_ctrl_arc_len(c, prog, n);
    int *arc = malloc((size_t)len * sizeof(int));
    nas_graph *g = nas_graph_new(1 << 20);
    nas_reinforce rf = {0};
    rf.entropy_weight = 1e-4f;
    rf.baseline_decay = 0.99f;
    rf.adam = (nas_adam){.lr = 0.0035f, .beta1 = 0.0f, .beta2 = 0.999f, .eps = 1e-3f};
    double *t = malloc((size_t)steps * sizeof(double));
    for (int it = 0; it < warmup + steps; it++) {
        double t0 = now_s();
        nas_graph_reset(g);
        nas_ctrl_out o;
        if (nas_ctrl_run(c, g, p, prog, n, &rng, NULL, arc, &o) < 0) {
            fprintf(stderr, "bench_controller: %s\n", nas_errmsg());
            return 1;
        }
        /* A dummy accuracy, as in the reference's timing. */
        double reward = 0.1 + 1e-4 * o.entropy->data[0];
        nas_reinforce_baseline(&rf, reward);
        nas_graph_backward(g, nas_reinforce_loss(g, &rf, &o, reward, 1.0f),
                           NAS_MASK(NAS_GROUP_CONTROLLER));
        nas_reinforce_step(&rf, p);
        double dt = now_s() - t0;
        if (it >= warmup)
            t[it - warmup] = dt;
    }
    qsort(t, (size_t)steps, sizeof(double), cmp_double);
    double med = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
    size_t weights;
    nas_params_group(p, NAS_GROUP_CONTROLLER, NULL, NULL, NULL, NULL, &weights);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"bench\": \"controller\", \"impl\": \"nasd\", \"program\": \"%s\", "
           "\"lstm_size\": %d, \"nodes\": %d, \"program_steps\": %d, "
           "\"decisions\": %d, \"weights\": %zu, \"timed_steps\": %d, "
           "\"warmup\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
           "\"max_ms\": %.4f, \"peak_rss_mb\": %.1f}\n",
           program, cfg.hidden, nodes, n, len, weights, steps, warmup, 1e3 * med, 1e3 * t[0],
           1e3 * t[steps - 1], ru.ru_maxrss / 1024.0);
    free(t);
    free(arc);
    free(prog);
    nas_graph_free(g);
    nas_ctrl_free(c);
    nas_params_free(p);
    return 0;
}
