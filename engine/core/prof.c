// SPDX-License-Identifier: MIT
/*
 * prof.c - the per-op-kind accounting of core/prof.h: a stack of frames
 * on the profiled thread, each interval of wall time charged to one kind.
 *
 * A frame is a backward node, a zeroing or an optimizer call (pushed and
 * popped around it), or the bottom (`other`). Inside a frame, a forward
 * op is open from nas__prof_begin (its output allocated) to nas__prof_op
 * (its end); the time in between is held as pending and charged to the
 * op's kind at its end. An allocation that no op ends (a search's own
 * output, such as a DARTS edge's sum) hands what it held to the frame's
 * kind when the next one opens or the frame ends.
 */
#include "internal.h"

#include <stdlib.h>

enum { MAX_FRAMES = 64 };

typedef struct frame {
    int kind;
    int open;           /* a forward op has begun and not ended */
    double pending;     /* seconds of that op so far */
    double pending_cpu; /* and its CPU seconds */
} frame;

struct nas__prof_state {
    nas_prof *p;
    double t, cpu; /* the last time charged, wall and process CPU */
    int depth;     /* index of the top frame */
    int bwd_depth; /* backward nodes on the stack: forward ops inside recompute */
    frame f[MAX_FRAMES];
};

_Thread_local nas__prof_state *nas__prof_cur;
static _Thread_local nas__prof_state state;

static const char *const kind_names[] = {
    [NAS_PROF_OTHER] = "other",
    [NAS_PROF_DENSE] = "dense conv",
    [NAS_PROF_POINTWISE] = "pointwise",
    [NAS_PROF_DEPTHWISE] = "depthwise",
    [NAS_PROF_POOL] = "pooling",
    [NAS_PROF_BN] = "batch norm",
    [NAS_PROF_ELEMENTWISE] = "elementwise",
    [NAS_PROF_COPY] = "copies+zeroing",
    [NAS_PROF_OPTIM] = "optimizer",
    [NAS_PROF_HEAD] = "head+loss",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == NAS_PROF_KINDS,
               "a name for every profile kind");

const char *nas_prof_kind_name(int kind)
{
    return kind >= 0 && kind < NAS_PROF_KINDS ? kind_names[kind] : "?";
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nas_prof_start(nas_prof *p)
{
    double peak = p->peak_flops, bw = p->bandwidth;
    *p = (nas_prof){.peak_flops = peak, .bandwidth = bw};
    state = (nas__prof_state){.p = p, .t = nas__now(), .cpu = cpu_now()};
    nas__prof_cur = &state;
}

/* The time since the last charge, to the open op or the top frame. */
static void charge(nas__prof_state *s)
{
    double now = nas__now(), dt = now - s->t;
    double cpu = cpu_now(), dc = cpu - s->cpu;
    s->t = now;
    s->cpu = cpu;
    frame *f = &s->f[s->depth];
    if (f->open) {
        f->pending += dt;
        f->pending_cpu += dc;
    } else {
        s->p->kind[f->kind].seconds += dt;
        s->p->kind[f->kind].cpu_s += dc;
    }
}

/* Pending time no op claimed goes to the frame's own kind. */
static void settle(nas__prof_state *s)
{
    frame *f = &s->f[s->depth];
    if (f->open) {
        s->p->kind[f->kind].seconds += f->pending;
        s->p->kind[f->kind].cpu_s += f->pending_cpu;
    }
    f->open = 0;
    f->pending = f->pending_cpu = 0.0;
}

void nas_prof_stop(void)
{
    nas__prof_state *s = nas__prof_cur;
    if (!s)
        return;
    charge(s);
    settle(s);
    nas__prof_cur = NULL;
}

static int is_conv(int kind)
{
    return kind == NAS_PROF_DENSE || kind == NAS_PROF_POINTWISE || kind == NAS_PROF_DEPTHWISE;
}

static void count(nas__prof_state *s, int kind, double flops, double bytes)
{
    nas_prof_row *r = &s->p->kind[kind];
    double tf = s->p->peak_flops > 0 ? flops / s->p->peak_flops : 0.0;
    double tb = s->p->bandwidth > 0 ? bytes / s->p->bandwidth : 0.0;
    r->calls += 1.0;
    r->flops += flops;
    r->bytes += bytes;
    r->roof_s += tf > tb ? tf : tb;
}

void nas__prof_begin(void)
{
    nas__prof_state *s = nas__prof_cur;
    charge(s);
    settle(s);
    s->f[s->depth].open = 1;
}

static double numel(const nas_tensor *t)
{
    return t ? (double)nas_tensor_numel(t) : 0.0;
}

void nas__prof_op(nas_graph *g, int kind, nas_tensor *y, nas_tensor *const *in, int nin,
                  double flops)
{
    nas__prof_state *s = nas__prof_cur;
    charge(s);
    frame *f = &s->f[s->depth];
    double sec = f->open ? f->pending : 0.0;
    s->p->kind[kind].seconds += sec;
    s->p->kind[kind].cpu_s += f->open ? f->pending_cpu : 0.0;
    f->open = 0;
    f->pending = f->pending_cpu = 0.0;
    double floats = numel(y);
    for (int i = 0; i < nin; i++)
        floats += numel(in[i]);
    count(s, kind, flops, 4.0 * floats);
    if (s->bwd_depth) {
        s->p->recompute_flops += flops;
        s->p->recompute_s += sec;
    } else if (is_conv(kind)) {
        s->p->useful_flops += flops;
        s->p->fwd_flops += flops;
    }
    if (g->ntape && g->tape[g->ntape - 1]->out == y) {
        g->tape[g->ntape - 1]->pkind = kind;
        g->tape[g->ntape - 1]->pflops = flops;
    }
}

void nas__prof_conv(nas_graph *g, nas_tensor *y, nas_tensor *x, nas_tensor *w, int groups)
{
    /* w (Co, Ci / groups, KH, KW): each output takes Ci / groups x KH x KW
     * multiply-adds. */
    double macs = numel(y) * w->shape[1] * w->shape[2] * w->shape[3];
    int kind = groups > 1                       ? NAS_PROF_DEPTHWISE
               : w->shape[2] * w->shape[3] == 1 ? NAS_PROF_POINTWISE
                                                : NAS_PROF_DENSE;
    nas_tensor *in[2] = {x, w};
    nas__prof_op(g, kind, y, in, 2, 2.0 * macs);
}

void nas__prof_push(int kind)
{
    nas__prof_state *s = nas__prof_cur;
    charge(s);
    NAS_ASSERT(s->depth + 1 < MAX_FRAMES && "profile: frames nested too deep");
    s->f[++s->depth] = (frame){.kind = kind};
}

void nas__prof_pop(double flops, double bytes)
{
    nas__prof_state *s = nas__prof_cur;
    charge(s);
    settle(s);
    count(s, s->f[s->depth].kind, flops, bytes);
    NAS_ASSERT(s->depth > 0 && "profile: pop without push");
    s->depth--;
}

void nas__prof_node_push(const nas_node *n)
{
    nas__prof_push(n->pkind);
    nas__prof_cur->bwd_depth++;
}

/* Bytes of a backward input t: read once (the forward's tensor), plus
 * its gradient read and written when wanted. */
static double bwd_floats(const nas_graph *g, const nas_tensor *t)
{
    return numel(t) * (nas__want(g, t) ? 3.0 : 1.0);
}

void nas__prof_node_pop(const nas_graph *g, const nas_node *n)
{
    double flops = n->pflops, floats = numel(n->out); /* dy */
    if (n->pkind == NAS_PROF_OTHER) {
        floats = 0.0;
    } else if (is_conv(n->pkind)) {
        /* 2 x MACs for each of dx and dW that is wanted. */
        flops *= nas__want(g, n->in[0]) + nas__want(g, n->in[1]);
        floats += bwd_floats(g, n->in[0]) + bwd_floats(g, n->in[1]);
    } else {
        for (int i = 0; i < n->nin; i++)
            floats += bwd_floats(g, n->in[i]);
        for (int i = 0; i < n->nlist; i++)
            floats += bwd_floats(g, n->list[i]);
    }
    nas__prof_state *s = nas__prof_cur;
    if (is_conv(n->pkind))
        s->p->useful_flops += flops;
    s->bwd_depth--;
    nas__prof_pop(flops, 4.0 * floats);
}
