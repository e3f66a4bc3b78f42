// SPDX-License-Identifier: MIT
/*
 * prof_report.h - the roofline report's JSON lines, shared by bench_darts
 * and bench_enas (issue #17): per op kind of one step (calls, GFLOP, GB,
 * ms, GFLOP/s, GB/s, roofline ms) and a summary line (measured step,
 * profiled step, roofline bound, useful FLOP rate as a share of peak).
 * bench/run_roofline.sh prints them as one table. The accounting itself
 * is engine/core/prof.c; its byte and FLOP model is stated in prof.h.
 */
#ifndef BENCH_PROF_REPORT_H
#define BENCH_PROF_REPORT_H

#include "core/prof.h"

#include <stdio.h>

/* total += p, row by row (one profiled step into the sum of several). */
static void prof_add(nas_prof *total, const nas_prof *p)
{
    for (int k = 0; k < NAS_PROF_KINDS; k++) {
        nas_prof_row *t = &total->kind[k];
        const nas_prof_row *r = &p->kind[k];
        t->calls += r->calls;
        t->flops += r->flops;
        t->bytes += r->bytes;
        t->seconds += r->seconds;
        t->cpu_s += r->cpu_s;
        t->roof_s += r->roof_s;
    }
    total->useful_flops += p->useful_flops;
    total->fwd_flops += p->fwd_flops;
    total->recompute_flops += p->recompute_flops;
    total->recompute_s += p->recompute_s;
}

/* One JSON line per kind and a summary, per step: sum over `steps`
 * profiled steps; measured_ms is the median of the unprofiled steps,
 * profiled_ms the mean wall time of the profiled ones. Useful FLOPs as
 * ../shared/peer/results.md counts them: F, one forward's convolution
 * FLOPs (the forwards outside backward over nfwd, their number in a
 * step), times `times` (6 for a first-order DARTS step: F + 2F on two
 * batches; 13 for second order; 3 for an ENAS child). The engine's own
 * count (computed_gflop: what it actually runs, no recomputation; DARTS's
 * architecture pass skips dW) is printed beside it. */
static void prof_report(const char *tag, int threads, const nas_prof *sum, int steps,
                        double measured_ms, double profiled_ms, int nfwd, int times)
{
    double roof = 0.0, busy = 0.0;
    for (int k = 0; k < NAS_PROF_KINDS; k++) {
        const nas_prof_row *r = &sum->kind[k];
        double s = r->seconds / steps;
        roof += r->roof_s / steps;
        busy += s;
        printf("{\"bench\": \"roofline\", \"config\": \"%s\", \"threads\": %d, \"kind\": \"%s\", "
               "\"calls\": %.0f, \"gflop\": %.4f, \"gb\": %.4f, \"ms\": %.2f, "
               "\"gflops\": %.2f, \"gbs\": %.2f, \"roof_ms\": %.2f, \"cpu_ms\": %.2f}\n",
               tag, threads, nas_prof_kind_name(k), r->calls / steps, r->flops / steps / 1e9,
               r->bytes / steps / 1e9, 1e3 * s, s > 0 ? r->flops / steps / s / 1e9 : 0.0,
               s > 0 ? r->bytes / steps / s / 1e9 : 0.0, 1e3 * r->roof_s / steps,
               1e3 * r->cpu_s / steps);
    }
    double useful = sum->fwd_flops / steps / nfwd * times;
    printf("{\"bench\": \"roofline\", \"config\": \"%s\", \"threads\": %d, \"kind\": \"step\", "
           "\"peak_gflops\": %.1f, \"bw_gbs\": %.1f, \"measured_ms\": %.2f, "
           "\"profiled_ms\": %.2f, \"accounted_ms\": %.2f, \"roof_ms\": %.2f, "
           "\"measured_over_roof\": %.2f, \"useful_gflop\": %.3f, \"useful_gflops\": %.2f, "
           "\"useful_share_of_peak\": %.3f, \"computed_gflop\": %.3f, \"recompute_gflop\": %.3f, "
           "\"recompute_ms\": %.2f}\n",
           tag, threads, sum->peak_flops / 1e9, sum->bandwidth / 1e9, measured_ms, profiled_ms,
           1e3 * busy, 1e3 * roof, roof > 0 ? measured_ms / (1e3 * roof) : 0.0, useful / 1e9,
           useful / (measured_ms / 1e3) / 1e9, useful / (measured_ms / 1e3) / sum->peak_flops,
           sum->useful_flops / steps / 1e9, sum->recompute_flops / steps / 1e9,
           1e3 * sum->recompute_s / steps);
}

#endif
