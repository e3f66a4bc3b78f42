// SPDX-License-Identifier: MIT
/*
 * ops_fixture.h - what the op gradient checks share (test_ops_grad.c,
 * test_ops_grad_nn.c): a graph that holds a test's leaves, a seeded rng,
 * the suite `ops` set up and torn down around each test, and leaves of
 * 1, 2 and 4 dimensions filled by gc_fill. Include it once per program.
 */
#ifndef NAS_TESTS_OPS_FIXTURE_H
#define NAS_TESTS_OPS_FIXTURE_H

#include "gradcheck.h"

static nas_graph *lg; /* holds the leaves across a test */
static nas_rng rng;

static inline void setup(void)
{
    lg = nas_graph_new(1 << 20);
    nas_rng_seed(&rng, 1234);
}

static inline void teardown(void)
{
    nas_graph_free(lg);
}

TestSuite(ops, .init = setup, .fini = teardown);

static inline nas_tensor *leaf4(int n, int c, int h, int w, float a, float gap)
{
    int s[4] = {n, c, h, w};
    nas_tensor *t = nas_tensor_leaf(lg, 4, s, NAS_GROUP_INPUT);
    gc_fill(t, &rng, a, gap);
    return t;
}

static inline nas_tensor *leaf2(int n, int c, float a)
{
    int s[2] = {n, c};
    nas_tensor *t = nas_tensor_leaf(lg, 2, s, NAS_GROUP_INPUT);
    gc_fill(t, &rng, a, 0.0f);
    return t;
}

static inline nas_tensor *leaf1(int n, float a)
{
    nas_tensor *t = nas_tensor_leaf(lg, 1, &n, NAS_GROUP_INPUT);
    gc_fill(t, &rng, a, 0.0f);
    return t;
}

#endif
