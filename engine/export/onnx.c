// SPDX-License-Identifier: MIT
/*
 * onnx.c - the ONNX model of a trained image network: the trace (one eval
 * forward with an exporter on the graph, see onnx.h), the graph it builds
 * (values, nodes, initializers) and the file, packed by protobuf-c from
 * the onnx.proto the system ships and written atomically.
 *
 * The one design decision to know: values are named by the tensors that
 * carry them. The ops' hooks (onnx_ops.c) bind each output tensor to a
 * fresh name; an input is looked up by its tensor (most recent first),
 * and a parameter-store tensor seen for the first time becomes an
 * initializer under its own name, its data referenced, not copied.
 * The traced batch fixes every dimension but the first, which is the
 * free batch dimension "N" of the input and the output.
 */
#include "export/onnx_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { OPSET = 13, IR_VERSION = 7, TRACE_BATCH = 2 };

typedef struct val {
    const nas_tensor *t;
    const char *name;
} val;

struct nas__onnx {
    nas_arena *a;
    val *vals;
    int nvals, capvals;
    Onnx__NodeProto **nodes;
    int nnodes, capnodes;
    Onnx__TensorProto **inits;
    int ninits, capinits;
    int next;           /* names t<next> and c<next> */
    const int32_t *ids; /* a language model's token ids: the input "tokens" */
    char err[256];
    int failed;
};

/* ---------------------------------------------------------- the graph */

int nas__ox_failed(const nas__onnx *ex)
{
    return ex->failed;
}

void nas__ox_fail(nas__onnx *ex, const char *fmt, ...)
{
    if (ex->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ex->err, sizeof(ex->err), fmt, ap);
    va_end(ap);
    ex->failed = 1;
}

static char *sdup(nas__onnx *ex, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nas_arena_alloc(ex->a, n);
    memcpy(d, s, n);
    return d;
}

/* Appends p to the growable array *arr of *n (capacity *cap). */
static void push(void ***arr, int *n, int *cap, void *p)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 256;
        void **t = realloc(*arr, (size_t)c * sizeof(*t));
        NAS_ASSERT(t && "onnx export: out of memory");
        *arr = t;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
}

static void bind(nas__onnx *ex, const nas_tensor *t, const char *name)
{
    if (ex->nvals == ex->capvals) {
        int c = ex->capvals ? 2 * ex->capvals : 256;
        val *v = realloc(ex->vals, (size_t)c * sizeof(*v));
        NAS_ASSERT(v && "onnx export: out of memory");
        ex->vals = v;
        ex->capvals = c;
    }
    ex->vals[ex->nvals++] = (val){t, name};
}

static Onnx__TensorProto *tensor_proto(nas__onnx *ex, const char *name, int type, int ndim,
                                       const int64_t *dims)
{
    Onnx__TensorProto *tp = nas_arena_alloc(ex->a, sizeof(*tp));
    onnx__tensor_proto__init(tp);
    tp->name = sdup(ex, name);
    tp->has_data_type = 1;
    tp->data_type = type;
    tp->n_dims = (size_t)ndim;
    tp->dims = nas_arena_alloc(ex->a, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    memcpy(tp->dims, dims, (size_t)ndim * sizeof(int64_t));
    push((void ***)&ex->inits, &ex->ninits, &ex->capinits, tp);
    return tp;
}

const char *nas__ox_in(nas__onnx *ex, const nas_tensor *t, const char *op)
{
    if (ex->failed)
        return NULL;
    for (int i = ex->nvals - 1; i >= 0; i--)
        if (ex->vals[i].t == t)
            return ex->vals[i].name;
    if (!t->name) {
        nas__ox_fail(ex,
                     "an input of %s was computed outside the engine's ops, or by an op "
                     "with no ONNX form",
                     op);
        return NULL;
    }
    /* A parameter (float32, little-endian as ONNX's raw_data wants). */
    int64_t dims[NAS_MAXDIM];
    for (int d = 0; d < t->ndim; d++)
        dims[d] = t->shape[d];
    Onnx__TensorProto *tp =
        tensor_proto(ex, t->name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, t->ndim, dims);
    tp->has_raw_data = 1;
    tp->raw_data.len = nas_tensor_numel(t) * sizeof(float);
    tp->raw_data.data = (uint8_t *)t->data;
    bind(ex, t, tp->name);
    return tp->name;
}

const char *nas__ox_tmp(nas__onnx *ex)
{
    char name[32];
    snprintf(name, sizeof(name), "t%d", ex->next++);
    return sdup(ex, name);
}

const char *nas__ox_out(nas__onnx *ex, const nas_tensor *t)
{
    const char *name = nas__ox_tmp(ex);
    bind(ex, t, name);
    return name;
}

Onnx__NodeProto *nas__ox_node(nas__onnx *ex, const char *op, const char *const *in, int nin,
                              const char *out)
{
    Onnx__NodeProto *n = nas_arena_alloc(ex->a, sizeof(*n));
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)out; /* unique, like every output: some runtimes' passes want names */
    n->n_input = (size_t)nin;
    n->input = nas_arena_alloc(ex->a, (size_t)(nin ? nin : 1) * sizeof(char *));
    for (int i = 0; i < nin; i++)
        n->input[i] = (char *)in[i];
    n->n_output = 1;
    n->output = nas_arena_alloc(ex->a, sizeof(char *));
    n->output[0] = (char *)out;
    push((void ***)&ex->nodes, &ex->nnodes, &ex->capnodes, n);
    return n;
}

static Onnx__AttributeProto *attr(nas__onnx *ex, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = nas_arena_alloc(ex->a, sizeof(*a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    Onnx__AttributeProto **as =
        nas_arena_alloc(ex->a, (n->n_attribute + 1) * sizeof(Onnx__AttributeProto *));
    if (n->n_attribute)
        memcpy(as, n->attribute, n->n_attribute * sizeof(*as));
    as[n->n_attribute++] = a;
    n->attribute = as;
    return a;
}

void nas__ox_attr_i(nas__onnx *ex, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void nas__ox_attr_f(nas__onnx *ex, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void nas__ox_attr_ints(nas__onnx *ex, Onnx__NodeProto *n, const char *name, const int64_t *v, int k)
{
    Onnx__AttributeProto *a = attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)k;
    a->ints = nas_arena_alloc(ex->a, (size_t)(k ? k : 1) * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)k * sizeof(int64_t));
}

static const char *const_name(nas__onnx *ex)
{
    char name[32];
    snprintf(name, sizeof(name), "c%d", ex->next++);
    return sdup(ex, name);
}

const char *nas__ox_const_f(nas__onnx *ex, int ndim, const int64_t *dims, const float *v)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)dims[d];
    Onnx__TensorProto *tp =
        tensor_proto(ex, const_name(ex), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    tp->n_float_data = n;
    tp->float_data = nas_arena_alloc(ex->a, n * sizeof(float));
    memcpy(tp->float_data, v, n * sizeof(float));
    return tp->name;
}

const char *nas__ox_const_i64(nas__onnx *ex, int k, const int64_t *v)
{
    int64_t dim = k;
    Onnx__TensorProto *tp =
        tensor_proto(ex, const_name(ex), ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &dim);
    tp->n_int64_data = (size_t)k;
    tp->int64_data = nas_arena_alloc(ex->a, (size_t)(k ? k : 1) * sizeof(int64_t));
    memcpy(tp->int64_data, v, (size_t)k * sizeof(int64_t));
    return tp->name;
}

/* ---------------------------------------------------------- the model */

/* A graph input or output of elem type (float32 or int64): dims[0] is the
 * free batch "N". */
static Onnx__ValueInfoProto *value_info(nas__onnx *ex, const char *name, int type, int ndim,
                                        const int *dims)
{
    Onnx__ValueInfoProto *vi = nas_arena_alloc(ex->a, sizeof(*vi));
    Onnx__TypeProto *tp = nas_arena_alloc(ex->a, sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = nas_arena_alloc(ex->a, sizeof(*tt));
    Onnx__TensorShapeProto *sh = nas_arena_alloc(ex->a, sizeof(*sh));
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = nas_arena_alloc(ex->a, (size_t)ndim * sizeof(*sh->dim));
    for (int d = 0; d < ndim; d++) {
        Onnx__TensorShapeProto__Dimension *dm = nas_arena_alloc(ex->a, sizeof(*dm));
        onnx__tensor_shape_proto__dimension__init(dm);
        if (d == 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = "N";
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = dims[d];
        }
        sh->dim[d] = dm;
    }
    tt->has_elem_type = 1;
    tt->elem_type = type;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* pixels (N, C, H, W) 0..255 -> (pixels / 255 - mean) / std per channel,
 * bound to x (the traced input), as nas_dataset_batch normalises. */
static void normalise(nas__onnx *ex, const nas_dataset *d, const nas_tensor *x)
{
    int64_t one[1] = {1}, cdims[4] = {1, d->c, 1, 1};
    float k255 = 255.0f;
    const char *in[2] = {"pixels", nas__ox_const_f(ex, 0, one, &k255)};
    const char *scaled = nas__ox_tmp(ex), *centred = nas__ox_tmp(ex);
    nas__ox_node(ex, "Div", in, 2, scaled);
    in[0] = scaled;
    in[1] = nas__ox_const_f(ex, 4, cdims, d->mean);
    nas__ox_node(ex, "Sub", in, 2, centred);
    in[0] = centred;
    in[1] = nas__ox_const_f(ex, 4, cdims, d->std);
    nas__ox_node(ex, "Div", in, 2, nas__ox_out(ex, x));
}

typedef struct io {
    Onnx__ValueInfoProto *v[2 * NAS_MAXDIM + 8];
    int n;
} io;

static void add_io(nas__onnx *ex, io *l, const char *name, int type, int ndim, const int *dims)
{
    NAS_ASSERT(l->n < (int)(sizeof(l->v) / sizeof(l->v[0])));
    l->v[l->n++] = value_info(ex, name, type, ndim, dims);
}

/* An output: value `of` under the graph's name `name`. */
static void output(nas__onnx *ex, io *outs, const char *of, const char *name, int ndim,
                   const int *dims)
{
    const char *in[1] = {of};
    nas__ox_node(ex, "Identity", in, 1, name);
    add_io(ex, outs, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
}

static Onnx__ValueInfoProto **io_list(nas__onnx *ex, const io *l)
{
    Onnx__ValueInfoProto **v = nas_arena_alloc(ex->a, (size_t)l->n * sizeof(*v));
    memcpy(v, l->v, (size_t)l->n * sizeof(*v));
    return v;
}

static Onnx__ModelProto *model(nas__onnx *ex, const io *ins, const io *outs, const nas_kv *meta,
                               int nmeta)
{
    Onnx__ModelProto *m = nas_arena_alloc(ex->a, sizeof(*m));
    Onnx__GraphProto *gp = nas_arena_alloc(ex->a, sizeof(*gp));
    Onnx__OperatorSetIdProto *os = nas_arena_alloc(ex->a, sizeof(*os));
    onnx__model_proto__init(m);
    onnx__graph_proto__init(gp);
    onnx__operator_set_id_proto__init(os);
    gp->name = "nasd";
    gp->n_node = (size_t)ex->nnodes;
    gp->node = ex->nodes;
    gp->n_initializer = (size_t)ex->ninits;
    gp->initializer = ex->inits;
    gp->n_input = (size_t)ins->n;
    gp->input = io_list(ex, ins);
    gp->n_output = (size_t)outs->n;
    gp->output = io_list(ex, outs);
    os->domain = "";
    os->has_version = 1;
    os->version = OPSET;
    m->has_ir_version = 1;
    m->ir_version = IR_VERSION;
    m->n_opset_import = 1;
    m->opset_import = nas_arena_alloc(ex->a, sizeof(*m->opset_import));
    m->opset_import[0] = os;
    m->producer_name = "nasd";
    m->producer_version = NAS_VERSION;
    m->graph = gp;
    m->n_metadata_props = (size_t)nmeta;
    m->metadata_props = nas_arena_alloc(ex->a, (size_t)(nmeta + 1) * sizeof(void *));
    for (int i = 0; i < nmeta; i++) {
        Onnx__StringStringEntryProto *e = nas_arena_alloc(ex->a, sizeof(*e));
        onnx__string_string_entry_proto__init(e);
        e->key = (char *)meta[i].key;
        e->value = (char *)meta[i].value;
        m->metadata_props[i] = e;
    }
    return m;
}

static int write_file(const char *path, const uint8_t *buf, size_t n)
{
    char tmp[4096];
    const char *what = "create";
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return nas_fail(NAS_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        goto fail;
    what = "write";
    int bad = fwrite(buf, 1, n, f) != n || fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad)
        goto fail;
    what = "rename";
    if (rename(tmp, path) != 0)
        goto fail;
    return NAS_OK;
fail:;
    int e = errno;
    unlink(tmp);
    return nas_fail(NAS_EIO, "%s: cannot %s the ONNX model: %s", path, what, strerror(e));
}

/* Packs the model of ex and writes it to path. */
static int finish(nas__onnx *ex, const char *path, const io *ins, const io *outs,
                  const nas_kv *meta, int nmeta)
{
    Onnx__ModelProto *m = model(ex, ins, outs, meta, nmeta);
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return nas_fail(NAS_ENOMEM, "onnx export: out of memory");
    onnx__model_proto__pack(m, buf);
    int rc = write_file(path, buf, len);
    free(buf);
    return rc;
}

/* An exporter on a new eval graph. */
static int begin(nas__onnx *ex, nas_graph **g)
{
    memset(ex, 0, sizeof(*ex));
    *g = NULL;
    if (!(ex->a = nas_arena_new(1 << 20)) || !(*g = nas_graph_new(0)))
        return nas_fail(NAS_ENOMEM, "onnx export: out of memory");
    nas_graph_set_training(*g, 0);
    nas_graph_set_grad(*g, 0);
    (*g)->ex = ex;
    return NAS_OK;
}

static void end(nas__onnx *ex, nas_graph *g)
{
    free(ex->vals);
    free(ex->nodes);
    free(ex->inits);
    nas_graph_free(g);
    nas_arena_free(ex->a);
}

int nas__onnx_export(const char *path, const nas__onnx_spec *s)
{
    const nas_dataset *d = s->images;
    nas__onnx ex;
    nas_graph *g;
    io ins = {0}, outs = {0};
    int n = d->n < TRACE_BATCH ? d->n : TRACE_BATCH;
    int idx[TRACE_BATCH] = {0, 1};
    int32_t y[TRACE_BATCH];
    if (n < 1)
        return nas_fail(NAS_EINVAL, "onnx export: no image to trace the network with");
    int rc = begin(&ex, &g);
    if (rc < 0)
        goto done;
    nas_tensor *x = nas_tensor_new4(g, n, d->c, d->h, d->w);
    nas_dataset_batch(d, idx, n, NULL, NULL, x->data, y);
    normalise(&ex, d, x);
    nas_tensor *out = s->forward(s->ctx, g, s->p, x);
    const char *logits = nas__ox_in(&ex, out, "the output");
    if (!ex.failed && (out->ndim != 2 || out->shape[0] != n || out->shape[1] != s->classes))
        nas__ox_fail(&ex, "the network's output is not (N, %d) logits", s->classes);
    if (ex.failed) {
        rc = nas_fail(NAS_EINVAL, "onnx export: %s", ex.err);
        goto done;
    }
    add_io(&ex, &ins, "pixels", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, x->shape);
    output(&ex, &outs, logits, "logits", 2, out->shape);
    rc = finish(&ex, path, &ins, &outs, s->meta, s->nmeta);
done:
    end(&ex, g);
    return rc;
}

const char *nas__ox_ids(nas__onnx *ex, const int32_t *ids, const char *op)
{
    if (ex->failed)
        return NULL;
    if (ids != ex->ids) {
        nas__ox_fail(ex, "the ids of %s are not the model's input", op);
        return NULL;
    }
    return "tokens";
}

int nas__onnx_export_text(const char *path, const nas__onnx_text *s)
{
    nas__onnx ex;
    nas_graph *g;
    io ins = {0}, outs = {0};
    enum { MAXL = NAS_MAXDIM };
    int32_t ids[TRACE_BATCH];
    nas_tensor *h[MAXL], *c[MAXL];
    int n = TRACE_BATCH, shape[2] = {TRACE_BATCH, s->hidden};
    char name[32];
    if (s->layers < 1 || s->layers > MAXL)
        return nas_fail(NAS_EINVAL, "onnx export: %d layers (at most %d)", s->layers, MAXL);
    int rc = begin(&ex, &g);
    if (rc < 0)
        goto done;
    for (int i = 0; i < n; i++)
        ids[i] = i % s->vocab;
    ex.ids = ids;
    add_io(&ex, &ins, "tokens", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &n);
    for (int l = 0; l < s->layers; l++) {
        h[l] = nas_tensor_zeros(g, 2, shape);
        snprintf(name, sizeof(name), "h.%d", l);
        bind(&ex, h[l], sdup(&ex, name));
        add_io(&ex, &ins, ex.vals[ex.nvals - 1].name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2,
               shape);
        c[l] = NULL;
        if (!s->cells)
            continue;
        c[l] = nas_tensor_zeros(g, 2, shape);
        snprintf(name, sizeof(name), "c.%d", l);
        bind(&ex, c[l], sdup(&ex, name));
        add_io(&ex, &ins, ex.vals[ex.nvals - 1].name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2,
               shape);
    }
    nas_tensor *out = s->step(s->ctx, g, s->p, ids, n, h, s->cells ? c : NULL);
    const char *logits = nas__ox_in(&ex, out, "the output");
    if (!ex.failed && (out->ndim != 2 || out->shape[0] != n || out->shape[1] != s->vocab))
        nas__ox_fail(&ex, "the model's output is not (N, %d) logits", s->vocab);
    const char *hn[MAXL], *cn[MAXL];
    for (int l = 0; l < s->layers; l++) {
        hn[l] = nas__ox_in(&ex, h[l], "the state");
        cn[l] = s->cells ? nas__ox_in(&ex, c[l], "the state") : NULL;
    }
    if (ex.failed) {
        rc = nas_fail(NAS_EINVAL, "onnx export: %s", ex.err);
        goto done;
    }
    output(&ex, &outs, logits, "logits", 2, out->shape);
    for (int l = 0; l < s->layers; l++) {
        snprintf(name, sizeof(name), "h_out.%d", l);
        output(&ex, &outs, hn[l], sdup(&ex, name), 2, shape);
        if (!s->cells)
            continue;
        snprintf(name, sizeof(name), "c_out.%d", l);
        output(&ex, &outs, cn[l], sdup(&ex, name), 2, shape);
    }
    rc = finish(&ex, path, &ins, &outs, s->meta, s->nmeta);
done:
    end(&ex, g);
    return rc;
}
