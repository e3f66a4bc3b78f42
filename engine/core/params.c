// SPDX-License-Identifier: MIT
/*
 * params.c - the persistent parameter store. Parameters are declared by
 * name, then laid out in one allocation: four planes (data, grad, moment1,
 * moment2) of `total` floats each, and inside a plane the groups one after
 * another, so a group is one flat range in every plane (DARTS' virtual
 * step and finite differences are then axpy over one array).
 *
 * Names are also kept in an open-addressing hash index: a DARTS supernet
 * declares thousands of parameters, and a linear duplicate check made
 * declaring them quadratic (the API's memory estimate of a darts job
 * declares its whole supernet on the loop thread).
 */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    nas_tensor t;
    int group;
    enum nas_init init;
    float scale;
    size_t offset; /* in floats, inside each plane */
} param;

struct nas_params {
    param *v;
    int n, cap;
    float *mem;      /* 4 * total floats, 64-byte aligned */
    void *mem_block; /* what calloc returned, for free */
    size_t total;
    size_t goff[NAS_GROUP_COUNT]; /* start of each group in a plane */
    size_t glen[NAS_GROUP_COUNT];
    int *index; /* nindex slots: parameter + 1, 0 empty */
    int nindex; /* a power of two > 2 * n, or 0 */
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The slot holding name, or the empty slot where it would go. */
static int index_slot(const nas_params *p, const char *name)
{
    uint32_t mask = (uint32_t)p->nindex - 1, i = name_hash(name) & mask;
    while (p->index[i] && strcmp(p->v[p->index[i] - 1].t.name, name) != 0)
        i = (i + 1) & mask;
    return (int)i;
}

/* Room for one more name (rebuilds the index when half full). */
static int index_reserve(nas_params *p)
{
    if (2 * (p->n + 1) < p->nindex)
        return 0;
    int nindex = p->nindex ? 2 * p->nindex : 128;
    int *old = p->index;
    p->index = calloc((size_t)nindex, sizeof(int));
    if (!p->index) {
        p->index = old;
        return nas_fail(NAS_ENOMEM, "parameter store");
    }
    free(old);
    p->nindex = nindex;
    for (int k = 0; k < p->n; k++)
        p->index[index_slot(p, p->v[k].t.name)] = k + 1;
    return 0;
}

nas_params *nas_params_new(void)
{
    return calloc(1, sizeof(nas_params));
}

void nas_params_free(nas_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        free((char *)p->v[i].t.name);
    free(p->v);
    free(p->mem_block);
    free(p->index);
    free(p);
}

int nas_params_add(nas_params *p, const char *name, int group, enum nas_init init, float scale,
                   int ndim, const int *shape)
{
    NAS_ASSERT(!p->mem && "nas_params_add after nas_params_alloc");
    if (group < 0 || group >= NAS_GROUP_COUNT || ndim < 1 || ndim > NAS_MAXDIM || init < 0 ||
        init >= NAS_INIT_COUNT_)
        return nas_fail(NAS_EINVAL, "parameter %s: bad group/ndim/init", name);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            return nas_fail(NAS_EINVAL, "parameter %s: dim %d is %d", name, i, shape[i]);
    if (nas_params_find(p, name))
        return nas_fail(NAS_EINVAL, "parameter %s declared twice", name);
    if (index_reserve(p) < 0)
        return NAS_ENOMEM;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        param *v = realloc(p->v, (size_t)cap * sizeof(*v));
        if (!v)
            return nas_fail(NAS_ENOMEM, "parameter store");
        p->v = v;
        p->cap = cap;
    }
    param *q = &p->v[p->n];
    memset(q, 0, sizeof(*q));
    q->t.ndim = ndim;
    memcpy(q->t.shape, shape, (size_t)ndim * sizeof(int));
    q->t.groups = NAS_MASK(group);
    q->t.name = strdup(name);
    if (!q->t.name)
        return nas_fail(NAS_ENOMEM, "parameter store");
    q->group = group;
    q->init = init;
    q->scale = scale;
    p->index[index_slot(p, name)] = p->n + 1;
    return p->n++;
}

static void init_param(param *q, nas_rng *rng)
{
    float *d = q->t.data;
    size_t n = nas_tensor_numel(&q->t);
    switch (q->init) {
    case NAS_INIT_ZERO: memset(d, 0, n * sizeof(float)); break;
    case NAS_INIT_ONE:
        for (size_t i = 0; i < n; i++)
            d[i] = 1.0f;
        break;
    case NAS_INIT_NORMAL:
        for (size_t i = 0; i < n; i++)
            d[i] = q->scale * nas_rng_normal(rng);
        break;
    case NAS_INIT_UNIFORM:
    case NAS_INIT_KAIMING: {
        float b = q->scale;
        if (q->init == NAS_INIT_KAIMING)
            b *= 1.0f / sqrtf((float)(n / (size_t)q->t.shape[0]));
        for (size_t i = 0; i < n; i++)
            d[i] = b * (2.0f * nas_rng_uniform(rng) - 1.0f);
        break;
    }
    default: NAS_ASSERT(0 && "unknown init");
    }
}

int nas_params_alloc(nas_params *p, nas_rng *rng)
{
    NAS_ASSERT(!p->mem && "nas_params_alloc called twice");
    size_t off = 0;
    for (int g = 0; g < NAS_GROUP_COUNT; g++) {
        p->goff[g] = off;
        for (int i = 0; i < p->n; i++) {
            if (p->v[i].group != g)
                continue;
            p->v[i].offset = off;
            /* Keep every tensor 64-byte aligned inside the plane. */
            off += (nas_tensor_numel(&p->v[i].t) + 15) & ~(size_t)15;
        }
        p->glen[g] = off - p->goff[g];
    }
    p->total = off;
    /* calloc, not aligned_alloc + memset: a big store comes zeroed from
     * the kernel and its pages stay untouched until used, so the moment
     * planes an optimizer never uses (SGD has no second moment) take no
     * memory. */
    p->mem_block = calloc(4 * off + 16 + 16, sizeof(float));
    if (!p->mem_block)
        return nas_fail(NAS_ENOMEM, "parameter store: %zu floats", 4 * off);
    p->mem = (float *)(((uintptr_t)p->mem_block + 63) & ~(uintptr_t)63);
    for (int i = 0; i < p->n; i++) {
        param *q = &p->v[i];
        q->t.data = p->mem + q->offset;
        q->t.grad = p->mem + off + q->offset;
        init_param(q, rng);
    }
    return NAS_OK;
}

int nas_params_count(const nas_params *p)
{
    return p->n;
}

nas_tensor *nas_params_get(nas_params *p, int index)
{
    NAS_ASSERT(index >= 0 && index < p->n);
    return &p->v[index].t;
}

nas_tensor *nas_params_find(nas_params *p, const char *name)
{
    if (!p->nindex)
        return NULL;
    int k = p->index[index_slot(p, name)];
    return k ? &p->v[k - 1].t : NULL;
}

int nas_params_group_of(const nas_params *p, int index)
{
    NAS_ASSERT(index >= 0 && index < p->n);
    return p->v[index].group;
}

float *nas_params_moment1(nas_params *p, int index)
{
    NAS_ASSERT(p->mem && index >= 0 && index < p->n);
    return p->mem + 2 * p->total + p->v[index].offset;
}

float *nas_params_moment2(nas_params *p, int index)
{
    NAS_ASSERT(p->mem && index >= 0 && index < p->n);
    return p->mem + 3 * p->total + p->v[index].offset;
}

void nas_params_group(nas_params *p, int group, float **data, float **grad, float **m1, float **m2,
                      size_t *n)
{
    NAS_ASSERT(group >= 0 && group < NAS_GROUP_COUNT);
    NAS_ASSERT(p->mem && "store not allocated");
    size_t o = p->goff[group];
    if (data)
        *data = p->mem + o;
    if (grad)
        *grad = p->mem + p->total + o;
    if (m1)
        *m1 = p->mem + 2 * p->total + o;
    if (m2)
        *m2 = p->mem + 3 * p->total + o;
    if (n)
        *n = p->glen[group];
}

size_t nas_params_total(const nas_params *p)
{
    return p->total;
}

size_t nas__params_weights_numel(nas_params *p)
{
    size_t n = 0;
    for (int i = 0; i < nas_params_count(p); i++)
        if (nas_params_group_of(p, i) == NAS_GROUP_WEIGHTS)
            n += nas_tensor_numel(nas_params_get(p, i));
    return n;
}

void nas_params_zero_grad(nas_params *p, uint32_t group_mask)
{
    for (int g = 0; g < NAS_GROUP_COUNT; g++) {
        if (!(group_mask & NAS_MASK(g)) || !p->glen[g])
            continue;
        float *gr;
        size_t n;
        nas_params_group(p, g, NULL, &gr, NULL, NULL, &n);
        NAS__PROF(nas__prof_push(NAS_PROF_COPY));
        memset(gr, 0, n * sizeof(float));
        NAS__PROF(nas__prof_pop(0.0, 4.0 * (double)n));
    }
}
