// SPDX-License-Identifier: MIT
/*
 * enas_micro_fwd.c - the forward of an enas-micro child over the shared
 * weights (the network of enas_micro.c, laid out in enas_micro_net.h),
 * and its backward by recomputation.
 *
 * The one design decision to know: memory. A child step at C=20, batch
 * 64, 32x32 would keep ~100 feature maps per cell on the tape. Instead the
 * stem, every calibration, every node and every cell output is one tape
 * node that keeps only its inputs and output ("chunk" below): forward runs
 * its ops on a scratch graph without a tape; backward runs them again on
 * the scratch graph with a tape, one part (one branch of a node) at a
 * time, and walks that small tape with the output gradient as seed
 * (weight gradients land in the store, input gradients in the inputs'
 * buffers). The arena then holds ~8 maps per cell and their gradients,
 * plus one branch's intermediates, for the price of a second forward.
 * The gradients of what lives inside one cell (its calibrated inputs and
 * its nodes) come from one pool instead of the arena, each buffer the
 * size of the largest level's map: a cell's backward runs in one piece,
 * so all cells, whatever their level, can take turns with the same
 * buffers (the cell's output chunk, the first of the cell to run
 * backward, clears them). So one space runs one tape at a
 * time: a forward with a tape must be followed by its backward (or a
 * graph reset) before the next forward with a tape.
 */
#include "search/enas/enas_micro_net.h"

#include <stdlib.h>

/* -------------------------------------------------------- sub-graphs */

#define P(i) nas_params_get(p, (i))

static nas_tensor *bn(nas_graph *g, nas_params *p, nas_tensor *x, int gamma)
{
    return nas_batchnorm(g, x, P(gamma), P(gamma + 1), NULL, NULL, 0.1f, BN_EPS);
}

static nas_tensor *apply_cal(nas_graph *g, nas_params *p, const cal *k, nas_tensor *x)
{
    if (k->relu)
        x = nas_relu(g, x);
    if (k->kind == CAL_CONV)
        return bn(g, p, nas_conv2d(g, x, P(k->w[0]), NULL, 1, 0, 1, 1), k->gamma);
    NAS_ASSERT(k->kind == CAL_FR);
    nas_tensor *h[2] = {
        nas_conv2d(g, x, P(k->w[0]), NULL, 2, 0, 1, 1),
        nas_conv2d(g, nas_shift(g, x, 1, 1), P(k->w[1]), NULL, 2, 0, 1, 1),
    };
    return bn(g, p, nas_concat(g, h, 2), k->gamma);
}

static nas_tensor *apply_op(nas_graph *g, nas_params *p, const sep_w *w, int op, nas_tensor *x)
{
    switch (op) {
    case OP_SEP3:
    case OP_SEP5: {
        int k = op == OP_SEP3 ? 3 : 5, c = x->shape[1];
        for (int st = 0; st < 2; st++) {
            x = nas_conv2d(g, nas_relu(g, x), P(w->dw[st]), NULL, 1, k / 2, 1, c);
            x = nas_conv2d(g, x, P(w->pw[st]), NULL, 1, 0, 1, 1);
            x = bn(g, p, x, w->gamma[st]);
        }
        return x;
    }
    case OP_AVG: return nas_avgpool2d(g, x, 3, 1, 1);
    case OP_MAX: return nas_maxpool2d(g, x, 3, 1, 1);
    default: return x;
    }
}

/* What a chunk computes. A chunk is the sum of its parts; each part reads
 * some of the chunk's inputs. */
enum { SUB_STEM, SUB_CAL, SUB_OP, SUB_COMBINE };

typedef struct part {
    int kind;
    const cal *k;   /* SUB_CAL */
    const sep_w *w; /* SUB_OP (NULL for the parameter-free ops) */
    int op;
    const layer *l; /* SUB_COMBINE, with the loose-end indices */
    int ends[MAX_NODES + 2];
    int first, n;      /* inputs [first, first + n) of the chunk */
    float dp;          /* SUB_OP: drop path probability in training; 0: none */
    const float *mask; /* its per-sample mask of the forward (chunk_bwd) */
} part;

typedef struct chunk {
    const micro *m;
    nas_params *p;
    part parts[2];
    int nparts;
    float *zero[MAX_NODES + 2]; /* pooled gradients to clear first */
    int nzero;
    size_t zero_n;
} chunk;

static nas_tensor *run_part(const micro *m, nas_graph *g, nas_params *p, const part *pt,
                            nas_tensor **xs)
{
    switch (pt->kind) {
    case SUB_STEM:
        return bn(g, p, nas_conv2d(g, xs[0], P(m->stem_w), NULL, 1, 1, 1, 1), m->stem_gamma);
    case SUB_CAL: return apply_cal(g, p, pt->k, xs[0]);
    case SUB_OP: return apply_op(g, p, pt->w, pt->op, xs[0]);
    default: { /* SUB_COMBINE */
        nas_tensor *t[MAX_NODES + 2];
        for (int i = 0; i < pt->n; i++)
            t[i] =
                nas_conv2d(g, nas_relu(g, xs[i]), P(pt->l->final_w[pt->ends[i]]), NULL, 1, 0, 1, 1);
        nas_tensor *s = pt->n > 1 ? nas_sum_n(g, t, pt->n) : t[0];
        return bn(g, p, s, pt->l->final_gamma);
    }
    }
}

#undef P

/* x seen from the scratch graph: same data; gradient and groups given. */
static nas_tensor *view(nas_graph *sg, const nas_tensor *x, uint32_t groups, float *grad)
{
    nas_tensor *t = nas_arena_zalloc(nas_graph_arena(sg), sizeof(*t));
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof(t->shape));
    t->data = x->data;
    t->grad = grad;
    t->groups = groups;
    return t;
}

/* A scalar whose backward adds dy into the gradient of its one list
 * input: the seed of a part's scratch tape (its value is never read). */
static void seed_bwd(nas_graph *g, nas_node *nd)
{
    if (nas__want(g, nd->list[0]))
        nas__add_to(nd->list[0]->grad, nd->pa[0], nas_tensor_numel(nd->list[0]));
}

static nas_tensor *seed(nas_graph *g, nas_tensor *y, const float *dy)
{
    nas_tensor **kept;
    int one = 1;
    nas_tensor *s = nas__list_out(g, 1, &one, &y, 1, &kept);
    s->data[0] = 0.0f;
    nas_node *nd = nas__record(g, seed_bwd, s, NULL, 0);
    if (nd) {
        nd->list = kept;
        nd->nlist = 1;
        nd->pa[0] = (void *)dy;
    }
    return s;
}

/* out = in with each sample (index of dim 0) times its mask entry; shaped
 * like y. */
static void masked(float *out, const float *in, const float *mask, const nas_tensor *y)
{
    int n = y->shape[0];
    size_t per = nas_tensor_numel(y) / (size_t)n;
    for (int s = 0; s < n; s++)
        for (size_t i = 0; i < per; i++)
            out[(size_t)s * per + i] = in[(size_t)s * per + i] * mask[s];
}

static void chunk_bwd(nas_graph *g, nas_node *nd)
{
    const chunk *ck = nd->pa[0];
    nas_graph *sg = ck->m->scratch;
    const uint32_t IN = NAS_MASK(NAS_GROUP_INPUT);
    for (int k = 0; k < ck->nzero; k++)
        memset(ck->zero[k], 0, ck->zero_n * sizeof(float));
    uint32_t wmask = g->bwd_mask & NAS_MASK(NAS_GROUP_WEIGHTS);
    for (int q = 0; q < ck->nparts; q++) {
        const part *pt = &ck->parts[q];
        nas_tensor *xs[MAX_NODES + 2];
        int any = 0;
        for (int i = 0; i < pt->n; i++)
            any |= nas__want(g, nd->list[pt->first + i]);
        uint32_t mask = wmask | (any ? IN : 0);
        if (!mask)
            continue;
        nas_graph_reset(sg);
        nas_graph_set_training(sg, 1);
        nas_graph_set_grad(sg, 1);
        for (int i = 0; i < pt->n; i++) {
            nas_tensor *x = nd->list[pt->first + i];
            int want = nas__want(g, x);
            xs[i] = view(sg, x, want ? IN : 0, want ? x->grad : NULL);
        }
        nas_tensor *y = run_part(ck->m, sg, ck->p, pt, xs);
        const float *dy = nd->out->grad;
        if (pt->mask) { /* the part's output entered the sum times its mask */
            float *d = nas_arena_alloc(nas_graph_arena(sg), nas_tensor_numel(y) * sizeof(float));
            masked(d, dy, pt->mask, y);
            dy = d;
        }
        nas_tensor *loss = seed(sg, y, dy);
        nas_graph_backward(sg, loss, mask);
    }
    nas_graph_reset(sg);
}

/* The chunk's output: the sum of its parts, computed on the scratch graph
 * part by part; one tape node on g keeping the inputs xs[0, n). A part
 * with a drop path probability enters the sum times a per-sample mask
 * drawn from g's rng as nas_drop_path draws it (in training only), part by
 * part, so that both forms draw the same masks. */
static nas_tensor *chunk_run(const micro *m, nas_graph *g, nas_params *p, const part *parts,
                             int nparts, nas_tensor **xs, int n, float *const *zero, int nzero,
                             size_t zero_n)
{
    if (m->direct) {
        nas_tensor *o[2];
        for (int q = 0; q < nparts; q++) {
            o[q] = run_part(m, g, p, &parts[q], xs + parts[q].first);
            if (parts[q].dp > 0.0f)
                o[q] = nas_drop_path(g, o[q], parts[q].dp);
        }
        return nparts == 2 ? nas_add(g, o[0], o[1]) : o[0];
    }
    nas_graph *sg = m->scratch;
    nas_tensor *y = NULL;
    const float *mask[2] = {NULL, NULL};
    for (int q = 0; q < nparts; q++)
        if (parts[q].dp > 0.0f && g->training)
            mask[q] = nas_drop_path_mask(g, xs[parts[q].first]->shape[0], parts[q].dp);
    for (int q = 0; q < nparts; q++) {
        const part *pt = &parts[q];
        nas_graph_reset(sg);
        nas_graph_set_training(sg, 1);
        nas_graph_set_grad(sg, 0);
        nas_tensor *v[MAX_NODES + 2];
        for (int i = 0; i < pt->n; i++)
            v[i] = view(sg, xs[pt->first + i], 0, NULL);
        nas_tensor *o = run_part(m, sg, p, pt, v);
        if (mask[q])
            masked(o->data, o->data, mask[q], o);
        if (!y) {
            nas_tensor **kept;
            y = nas__list_out(g, o->ndim, o->shape, xs, n, &kept);
            if (g->grad_enabled)
                y->groups |= NAS_MASK(NAS_GROUP_WEIGHTS);
            memcpy(y->data, o->data, nas_tensor_numel(o) * sizeof(float));
            nas_node *nd = nas__record(g, chunk_bwd, y, NULL, 0);
            if (nd) {
                chunk *ck = nas_arena_alloc(nas_graph_arena(g), sizeof(*ck));
                *ck = (chunk){.m = m, .p = p, .nparts = nparts, .nzero = nzero, .zero_n = zero_n};
                memcpy(ck->parts, parts, (size_t)nparts * sizeof(*parts));
                for (int i = 0; i < nparts; i++)
                    ck->parts[i].mask = mask[i];
                if (nzero)
                    memcpy(ck->zero, zero, (size_t)nzero * sizeof(*zero));
                nd->list = kept;
                nd->nlist = n;
                nd->pa[0] = ck;
            }
        } else {
            NAS_ASSERT(nas_tensor_same_shape(o, y));
            nas__add_to(y->data, o->data, nas_tensor_numel(o));
        }
    }
    nas_graph_reset(sg);
    return y;
}

static nas_tensor *one(const micro *m, nas_graph *g, nas_params *p, part pt, nas_tensor *x)
{
    pt.first = 0;
    pt.n = 1;
    return chunk_run(m, g, p, &pt, 1, &x, 1, NULL, 0, 0);
}

/* ------------------------------------------------------------- forward */

/* dp: the cell's drop path probability of every op output but the
 * identities' (micro_child.py's _fixed_layer). */
static nas_tensor *cell_fwd(const micro *m, nas_graph *g, nas_params *p, const layer *l,
                            const int *arc, nas_tensor *s0, nas_tensor *s1, float dp)
{
    int B = m->cfg.nodes;
    nas_tensor *st[MAX_NODES + 2];
    st[0] =
        l->cal_x.kind == CAL_NONE ? s0 : one(m, g, p, (part){.kind = SUB_CAL, .k = &l->cal_x}, s0);
    st[1] =
        l->cal_y.kind == CAL_NONE ? s1 : one(m, g, p, (part){.kind = SUB_CAL, .k = &l->cal_y}, s1);
    for (int j = 0; j < B; j++) {
        int in[2], op[2];
        node_of(m, arc, l->reduce, j, in, op);
        part parts[2];
        nas_tensor *xs[2];
        for (int s = 0; s < 2; s++) {
            parts[s] = (part){.kind = SUB_OP,
                              .op = op[s],
                              .first = s,
                              .n = 1,
                              .w = op[s] <= OP_SEP5 ? sep_of(m, l, j, s, in[s], op[s]) : NULL,
                              .dp = op[s] == OP_ID ? 0.0f : dp};
            xs[s] = st[in[s]];
        }
        st[j + 2] = chunk_run(m, g, p, parts, 2, xs, 2, NULL, 0, 0);
    }
    /* The gradient pool: the tensors made in this cell and used only
     * here take their gradient buffers from the pool; the cell's
     * output chunk, the first of the cell to run backward, clears them. */
    float *zero[MAX_NODES + 2];
    int nzero = 0;
    size_t zn = 0;
    if (!m->direct && g->grad_enabled && m->gpool_n[l->level]) {
        zn = m->gpool_n[l->level];
        for (int i = 0; i < B + 2; i++) {
            nas_tensor *t = st[i];
            if (t == s0 || t == s1 || !t->groups || t->grad)
                continue;
            NAS_ASSERT(nas_tensor_numel(t) == zn);
            t->grad = zero[nzero++] = m->gpool[i];
        }
    }
    part c = {.kind = SUB_COMBINE, .l = l, .first = 0};
    c.n = loose_ends(m, arc, l->reduce, c.ends);
    nas_tensor *ends[MAX_NODES + 2];
    for (int i = 0; i < c.n; i++)
        ends[i] = st[c.ends[i]];
    return chunk_run(m, g, p, &c, 1, ends, c.n, zero, nzero, zn);
}

/* The gradient pool for batches of n. A cell's backward runs in one piece
 * (its output chunk first, its calibrations last) before the previous
 * cell's begins, whatever their levels, so one set of buffers serves
 * every cell. A failed allocation leaves no pool: the arena then serves
 * as usual. */
static void ensure_pool(micro *m, int n)
{
    size_t cap = 0;
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        size_t want = (size_t)n * l->c * l->hw * l->hw;
        m->gpool_n[l->level] = want;
        if (want > cap)
            cap = want;
    }
    if (cap == m->gpool_cap)
        return;
    m->gpool_cap = cap;
    for (int k = 0; k < m->cfg.nodes + 2; k++) {
        free(m->gpool[k]);
        m->gpool[k] = malloc(cap * sizeof(float));
        if (!m->gpool[k])
            m->gpool_cap = 0;
    }
    if (!m->gpool_cap)
        memset(m->gpool_n, 0, sizeof(m->gpool_n));
}

nas_tensor *nas__enas_micro_forward(void *self, nas_graph *g, nas_params *p, const int *arc,
                                    nas_tensor *x, int update_stats)
{
    (void)update_stats; /* no running statistics: see the top */
    micro *m = self;
    NAS_ASSERT(x->ndim == 4 && x->shape[1] == m->cfg.in_c && x->shape[2] == m->cfg.h &&
               x->shape[3] == m->cfg.w);
    if (!m->direct && g->grad_enabled)
        ensure_pool(m, x->shape[0]);
    nas_tensor *s = one(m, g, p, (part){.kind = SUB_STEM}, x);
    nas_tensor *s0 = s, *s1 = s;
    m->aux_logits = NULL;
    for (int i = 0; i < m->ncells; i++) {
        const layer *l = &m->cells[i];
        if (l->reduce) {
            nas_tensor *r = one(m, g, p, (part){.kind = SUB_CAL, .k = &l->pre}, s1);
            s0 = s1;
            s1 = r;
        }
        /* micro_child.py's _apply_drop_path: the keep probability falls
         * linearly with the layer, 1 - (i + 1) / (layers + 2) * drop_path,
         * drop_path already scaled by the step (nas__enas_micro_drop_path). */
        float dp = g->training ? m->drop_path * (float)(i + 1) / (float)m->ncells : 0.0f;
        nas_tensor *out = cell_fwd(m, g, p, l, arc, s0, s1, dp);
        s0 = s1;
        s1 = out;
        /* The head's ops sit on the tape between two cells: each cell's
         * backward still runs in one piece (the gradient pool's rule),
         * and the head adds into the cell output's own gradient. */
        if (i == m->aux_cell && g->training && g->grad_enabled)
            m->aux_logits = nas_aux_head_forward(g, p, &m->aux, out);
    }
    nas_tensor *h = nas_global_avgpool(g, nas_relu(g, s1));
    if (m->cfg.dropout > 0.0f)
        h = nas_dropout(g, h, m->cfg.dropout);
    return nas_linear(g, h, nas_params_get(p, m->head_w), NULL);
}

void nas__enas_micro_drop_path(void *self, float p, int64_t step, int64_t steps)
{
    NAS_ASSERT(p >= 0.0f && p < 1.0f && "enas-micro drop path: 0 <= p < 1");
    NAS_ASSERT(step >= 0 && steps >= 1);
    double ratio = (double)(step + 1) / (double)steps;
    ((micro *)self)->drop_path = p * (float)(ratio < 1.0 ? ratio : 1.0);
}

void nas__enas_micro_recompute(void *self, int on)
{
    ((micro *)self)->direct = !on;
}

size_t nas__enas_micro_scratch_peak(void *self)
{
    return nas_arena_peak(nas_graph_arena(((micro *)self)->scratch));
}
