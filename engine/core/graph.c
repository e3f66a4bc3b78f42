// SPDX-License-Identifier: MIT
/*
 * graph.c - the tape. Ops push nodes in execution order, so the tape is a
 * topological order and backward is one reverse walk. Gradients of arena
 * tensors are allocated the first time a consumer's backward writes them,
 * zeroed unless that op overwrites the whole gradient (nas_node.ow); a node whose output never
 * received a gradient, or whose output does not depend on an asked-for group, is skipped.
 */
#include "internal.h"

#include <stdlib.h>

nas_graph *nas_graph_new(size_t arena_chunk_bytes)
{
    nas_graph *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->arena = nas_arena_new(arena_chunk_bytes);
    if (!g->arena) {
        free(g);
        return NULL;
    }
    g->training = 1;
    g->grad_enabled = 1;
    return g;
}

void nas_graph_free(nas_graph *g)
{
    if (!g)
        return;
    nas_arena_free(g->arena);
    free(g->tape);
    free(g);
}

void nas_graph_reset(nas_graph *g)
{
    g->ntape = 0;
    nas_arena_reset(g->arena);
}

void nas_graph_set_training(nas_graph *g, int training)
{
    g->training = training;
}

void nas_graph_set_dist(nas_graph *g, const nas_dist *d)
{
    g->dist = d && d->size > 1 ? d : NULL;
}

int nas_graph_training(const nas_graph *g)
{
    return g->training;
}

void nas_graph_set_rng(nas_graph *g, nas_rng *rng)
{
    g->rng = rng;
}

void nas_graph_set_grad(nas_graph *g, int enabled)
{
    g->grad_enabled = enabled;
}

nas_arena *nas_graph_arena(nas_graph *g)
{
    return g->arena;
}

nas_tensor *nas__out(nas_graph *g, int ndim, const int *shape, nas_tensor *const *in, int nin)
{
    NAS__PROF(nas__prof_begin());
    nas_tensor *t = nas_tensor_new(g, ndim, shape);
    if (g->grad_enabled)
        for (int i = 0; i < nin; i++)
            if (in[i])
                t->groups |= in[i]->groups;
    return t;
}

nas_node *nas__record(nas_graph *g, nas_bwd_fn bwd, nas_tensor *out, nas_tensor *const *in, int nin)
{
    if (!g->grad_enabled || !out->groups)
        return NULL;
    NAS_ASSERT(nin <= NAS_NODE_MAXIN);
    if (g->ntape == g->captape) {
        int cap = g->captape ? 2 * g->captape : 1024;
        nas_node **t = realloc(g->tape, (size_t)cap * sizeof(*t));
        NAS_ASSERT(t && "tape: out of memory");
        g->tape = t;
        g->captape = cap;
    }
    nas_node *n = nas_arena_zalloc(g->arena, sizeof(*n));
    n->bwd = bwd;
    n->out = out;
    n->nin = nin;
    for (int i = 0; i < nin; i++)
        n->in[i] = in[i];
    g->tape[g->ntape++] = n;
    return n;
}

/* True when t is an input of nd other than in[i] (its gradient then
 * receives more than one write in nd's bwd). */
static int other_input(const nas_node *nd, const nas_tensor *t, int i)
{
    for (int j = 0; j < nd->nin; j++)
        if (j != i && nd->in[j] == t)
            return 1;
    for (int j = 0; j < nd->nlist; j++)
        if (nd->list[j] == t)
            return 1;
    return 0;
}

/* Make sure t (input i of nd, or -1 for a list input) has a gradient
 * buffer when backward wants it: zeroed, unless nd's bwd overwrites it
 * whole (nd->ow) and nothing else of nd writes it, the first write then
 * standing for the zeroing (nd->fresh). */
static void prepare(nas_graph *g, nas_node *nd, nas_tensor *t, int i)
{
    if (t && !t->grad && (t->groups & g->bwd_mask)) {
        size_t n = nas_tensor_numel(t);
        t->grad = nas_arena_alloc(g->arena, n * sizeof(float));
        if (i >= 0 && (nd->ow >> i & 1u) && !other_input(nd, t, i))
            nd->fresh |= 1u << i;
        else
            nas__zero(t->grad, n);
    }
}

void nas_graph_backward(nas_graph *g, nas_tensor *loss, uint32_t group_mask)
{
    NAS_ASSERT(nas_tensor_numel(loss) == 1 && "backward from a scalar");
    if (!(loss->groups & group_mask))
        return;
    g->bwd_mask = group_mask;
    /* A second backward over the same tape starts from clean intermediate
     * gradients; only leaves (parameters, nas_tensor_leaf) accumulate. */
    for (int k = 0; k < g->ntape; k++)
        if (g->tape[k]->out->grad)
            nas__zero(g->tape[k]->out->grad, nas_tensor_numel(g->tape[k]->out));
    if (!loss->grad)
        loss->grad = nas_arena_zalloc(g->arena, sizeof(float));
    loss->grad[0] += 1.0f;
    for (int k = g->ntape - 1; k >= 0; k--) {
        nas_node *n = g->tape[k];
        if (!n->out->grad || !(n->out->groups & group_mask))
            continue;
        NAS__PROF(nas__prof_node_push(n));
        n->fresh = 0;
        for (int i = 0; i < n->nin; i++)
            prepare(g, n, n->in[i], i);
        for (int i = 0; i < n->nlist; i++)
            prepare(g, n, n->list[i], -1);
        n->bwd(g, n);
        NAS__PROF(nas__prof_node_pop(g, n));
    }
    g->bwd_mask = 0;
}
