// SPDX-License-Identifier: MIT
/*
 * bench_nasrl.c - children per hour of a NAS-RL / random search on
 * Fashion-MNIST with m children trained concurrently (issue #6), and how
 * busy the cores were while they trained.
 *
 *   bench/bench_nasrl [--algorithm random|nas-rl] [--m N] [--threads T]
 *                     [--children N] [--examples N] [--epochs E]
 *                     [--data DIR]
 *
 * The configuration (documented in bench/README.md): nasrl-cnn with 3
 * layers, filter heights and widths {1,3,5}, filters {8,16,24}, no
 * strides; each child trains E epochs (default 1) on the first 90% of the
 * first N training images (default 6000), batch 64, and is scored on the
 * last 10%. With --algorithm random (the default) the architectures are
 * the same sequence whatever m, so runs with m = 1, 2, 4 train exactly the
 * same children and differ only in how they are scheduled. Prints one
 * JSON line: children, wall seconds, children per hour, CPU seconds
 * (getrusage user + system of this process) and the CPU utilisation
 * (CPU seconds / wall seconds / threads: 1.0 = every thread busy).
 */
#include "nas.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

typedef struct tally {
    int children, cached;
    double child_seconds, best;
} tally;

static void on_arch(void *ctx, const char *arch, double reward, const char *met)
{
    tally *t = ctx;
    (void)arch;
    t->children++;
    t->cached += strstr(met, "\"cached\":true") != NULL;
    const char *s = strstr(met, "\"seconds\":");
    if (s)
        t->child_seconds += atof(s + 10);
    if (reward > t->best)
        t->best = reward;
}

int main(int argc, char **argv)
{
    const char *algorithm = "random", *data = NULL;
    int m = 1, threads = 2, children = 8, examples = 6000, epochs = 1;
    static const struct option opts[] = {
        {"algorithm", required_argument, NULL, 'a'}, {"m", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},   {"children", required_argument, NULL, 'n'},
        {"examples", required_argument, NULL, 'x'},  {"epochs", required_argument, NULL, 'e'},
        {"data", required_argument, NULL, 'd'},      {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a': algorithm = optarg; break;
        case 'm': m = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'n': children = atoi(optarg); break;
        case 'x': examples = atoi(optarg); break;
        case 'e': epochs = atoi(optarg); break;
        case 'd': data = optarg; break;
        default:
            fprintf(stderr, "usage: bench_nasrl [--algorithm random|nas-rl] [--m N] "
                            "[--threads T] [--children N] [--examples N] [--epochs E] "
                            "[--data DIR]\n");
            return 2;
        }
    }
    nas_job_spec s;
    memset(&s, 0, sizeof(s));
    s.algorithm = algorithm;
    s.dataset = "fashion-mnist";
    s.search_space = "nasrl-cnn";
    nas_job_spec_defaults(&s);
    s.data_path = data;
    s.seed = 1;
    s.threads = threads;
    s.children_per_update = m;
    s.max_architectures = children;
    s.child_epochs = epochs;
    s.max_examples = examples;
    s.start_layers = s.max_layers = 3;
    s.nfilter_heights = s.nfilter_widths = s.nnum_filters = 3;
    const int fhw[3] = {1, 3, 5}, nf[3] = {8, 16, 24};
    memcpy(s.filter_heights, fhw, sizeof(fhw));
    memcpy(s.filter_widths, fhw, sizeof(fhw));
    memcpy(s.num_filters, nf, sizeof(nf));
    tally t = {0};
    nas_job_reporter rep = {.ctx = &t, .architecture = on_arch};
    double w0 = now(), c0 = cpu_seconds();
    int rc = nas_job_run(&s, &rep, NULL);
    double wall = now() - w0, cpu = cpu_seconds() - c0;
    if (rc < 0) {
        fprintf(stderr, "bench_nasrl: %s: %s\n", nas_strerror(rc), nas_errmsg());
        return 1;
    }
    printf("{\"algorithm\":\"%s\",\"m\":%d,\"threads\":%d,\"children\":%d,"
           "\"cached\":%d,\"examples\":%d,\"child_epochs\":%d,\"wall_s\":%.2f,"
           "\"children_per_hour\":%.1f,\"mean_child_s\":%.2f,\"cpu_s\":%.2f,"
           "\"cpu_utilisation\":%.3f,\"best_reward\":%.4f}\n",
           algorithm, m, threads, t.children, t.cached, examples, epochs, wall,
           3600.0 * (t.children - t.cached) / wall,
           t.children > t.cached ? t.child_seconds / (t.children - t.cached) : 0.0, cpu,
           cpu / wall / threads, t.best);
    return 0;
}
