// SPDX-License-Identifier: MIT
/*
 * test_prof.c - the per-op-kind accounting of core/prof.h (issue #17's
 * roofline report): the kinds, calls, FLOPs and bytes of a forward and
 * backward against the counts written out here by hand from the shapes,
 * the same on 1 and 2 threads, times that are exclusive (they sum to the
 * wall time between start and stop, never more) and nothing counted
 * once stopped.
 */
#include <criterion/criterion.h>

#include "internal.h"

static void fill(nas_tensor *t, float v)
{
    for (size_t i = 0; i < nas_tensor_numel(t); i++)
        t->data[i] = v * (float)((i % 7) + 1);
}

/* x (2,4,6,6) -> depthwise 3x3 pad 1 -> pointwise 1x1 4->4 -> dense 3x3
 * pad 1 -> relu -> sum, forward and backward to the weights and x. */
static void step(nas_graph *g)
{
    nas_graph_reset(g);
    nas_tensor *x = nas_tensor_leaf(g, 4, (int[]){2, 4, 6, 6}, NAS_GROUP_INPUT);
    nas_tensor *wd = nas_tensor_leaf(g, 4, (int[]){4, 1, 3, 3}, NAS_GROUP_WEIGHTS);
    nas_tensor *wp = nas_tensor_leaf(g, 4, (int[]){4, 4, 1, 1}, NAS_GROUP_WEIGHTS);
    nas_tensor *w3 = nas_tensor_leaf(g, 4, (int[]){4, 4, 3, 3}, NAS_GROUP_WEIGHTS);
    fill(x, 0.1f);
    fill(wd, 0.2f);
    fill(wp, -0.1f);
    fill(w3, 0.05f);
    nas_tensor *y = nas_conv2d(g, x, wd, NULL, 1, 1, 1, 4);
    y = nas_conv2d(g, y, wp, NULL, 1, 0, 1, 1);
    y = nas_conv2d(g, y, w3, NULL, 1, 1, 1, 1);
    nas_tensor *loss = nas_sum(g, nas_relu(g, y));
    nas_graph_backward(g, loss, NAS_MASK(NAS_GROUP_WEIGHTS) | NAS_MASK(NAS_GROUP_INPUT));
}

static void check_counts(const nas_prof *p)
{
    const double n = 2 * 4 * 6 * 6; /* every tensor of the chain: x, y's */
    struct {
        int kind;
        double w, taps; /* weight floats, multiply-adds per output */
    } conv[] = {
        {NAS_PROF_DEPTHWISE, 36, 9}, {NAS_PROF_POINTWISE, 16, 4}, {NAS_PROF_DENSE, 144, 36}};
    for (int i = 0; i < 3; i++) {
        const nas_prof_row *r = &p->kind[conv[i].kind];
        double f = 2.0 * n * conv[i].taps;
        cr_assert_eq(r->calls, 2.0, "%s: one forward, one backward", nas_prof_kind_name(i));
        /* backward: dx and dW, 2 x MACs each */
        cr_assert_eq(r->flops, f + 2.0 * f, "%s flops %g", nas_prof_kind_name(i), r->flops);
        /* forward x, w read, y written; backward x, w, dy read, dx and
         * dW read and written */
        double fwd = 4.0 * (n + conv[i].w + n), bwd = 4.0 * (3 * n + 3 * conv[i].w + n);
        cr_assert_eq(r->bytes, fwd + bwd, "%s bytes %g", nas_prof_kind_name(i), r->bytes);
    }
    const nas_prof_row *e = &p->kind[NAS_PROF_ELEMENTWISE];
    cr_assert_eq(e->calls, 2.0);
    cr_assert_eq(e->flops, 2.0 * n);
    cr_assert_eq(e->bytes, 4.0 * (2 * n) + 4.0 * (n + 3 * n));
    cr_assert_eq(p->kind[NAS_PROF_HEAD].calls, 2.0, "the sum, forward and backward");
    cr_assert_eq(p->kind[NAS_PROF_BN].calls, 0.0);
    double fwd = 2.0 * n * (9 + 4 + 36);
    cr_assert_eq(p->fwd_flops, fwd);
    cr_assert_eq(p->useful_flops, 3.0 * fwd);
    cr_assert_eq(p->recompute_flops, 0.0);
    /* the backward's intermediate gradients are zeroed: copies+zeroing */
    cr_assert(p->kind[NAS_PROF_COPY].calls >= 3.0);
}

static void profiled(int threads, nas_prof *p, double *wall)
{
    nas_set_threads(threads);
    nas_graph *g = nas_graph_new(0);
    step(g); /* warm: the arena's chunks */
    *p = (nas_prof){.peak_flops = 1e11, .bandwidth = 3e10};
    double t0 = nas__now();
    nas_prof_start(p);
    step(g);
    nas_prof_stop();
    *wall = nas__now() - t0;
    nas_prof copy = *p;
    step(g);
    cr_assert_eq(memcmp(&copy, p, sizeof(copy)), 0, "nothing counted once stopped");
    nas_graph_free(g);
    nas_set_threads(1);
}

Test(prof, counts_match_the_shapes)
{
    nas_prof p;
    double wall;
    profiled(1, &p, &wall);
    check_counts(&p);
    double sum = 0.0, roof = 0.0;
    for (int k = 0; k < NAS_PROF_KINDS; k++) {
        cr_assert(p.kind[k].seconds >= 0.0 && p.kind[k].cpu_s >= 0.0);
        sum += p.kind[k].seconds;
        roof += p.kind[k].roof_s;
    }
    cr_assert(sum <= wall, "exclusive times: %g s accounted in %g s", sum, wall);
    cr_assert(sum >= 0.5 * wall, "the ops are most of it: %g of %g s", sum, wall);
    /* the depthwise forward alone: max(FLOPs / peak, bytes / bandwidth) */
    const nas_prof_row *d = &p.kind[NAS_PROF_DEPTHWISE];
    cr_assert(d->roof_s >= d->bytes / 3e10 * 0.999 &&
              d->roof_s <= (d->bytes / 3e10 + d->flops / 1e11));
    cr_assert(roof > 0.0);
}

Test(prof, two_threads_count_the_same)
{
    nas_prof p1, p2;
    double wall;
    profiled(1, &p1, &wall);
    profiled(2, &p2, &wall);
    check_counts(&p2);
    for (int k = 0; k < NAS_PROF_KINDS; k++) {
        cr_assert_eq(p1.kind[k].calls, p2.kind[k].calls, "%s", nas_prof_kind_name(k));
        cr_assert_eq(p1.kind[k].flops, p2.kind[k].flops, "%s", nas_prof_kind_name(k));
        cr_assert_eq(p1.kind[k].bytes, p2.kind[k].bytes, "%s", nas_prof_kind_name(k));
    }
}

Test(prof, kind_names)
{
    cr_assert_str_eq(nas_prof_kind_name(NAS_PROF_DEPTHWISE), "depthwise");
    cr_assert_str_eq(nas_prof_kind_name(NAS_PROF_KINDS), "?");
}
