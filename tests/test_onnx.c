// SPDX-License-Identifier: MIT
/*
 * test_onnx.c - the ONNX export (issue #14 part 3) of every image
 * network (fixed-cnn, darts-cnn, enas-micro, enas-macro, nasrl-cnn) and,
 * as one step, of the LSTM LM, darts-rnn, enas-rnn and nasrl-rnn
 * (fortunes).
 *
 * Each case trains a tiny model with a train job (synthetic images, one
 * epoch, model_path set), so the .onnx file is what a job writes. A probe
 * (nas__model_probe, called while the network is still in memory) runs
 * nasd's own eval forward on the first 256 test images and keeps the
 * pixels and logits; the test then reads the .onnx back with protobuf-c
 * and checks its structure: opset, the input "pixels" (N, C, H, W) with
 * a free N, the output "logits" (N, classes), the metadata nasd writes
 * beside the safetensors file, the op types the space must produce, and
 * every parameter initializer equal to the trained store byte for byte.
 *
 * A language model's probe runs its step over test sequences instead
 * (text_probe). With NASD_ONNX_DIR set, the models and the references
 * (<space>.ref: int32 n, c, h, w, classes, then n*c*h*w pixels 0..255 and
 * n*classes logits, float32; <space>.tref: see text_probe) stay there
 * for tests/onnx/run.sh, which runs them in onnxruntime and Debian's ONNX
 * checker; otherwise a temporary directory is removed.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/onnx.h"
#include "jobs/jobs.h"
#include "model_fixture.h"
#include "onnx.pb-c.h"
#include "tmpdir.h"

enum { NREF = 256 };

enum { MAXP = 1024 };

typedef struct probe_out {
    char path[512]; /* where the reference goes */
    int called;
    int np; /* the trained parameters, copied while in memory */
    char *names[MAXP];
    float *data[MAXP];
    size_t numel[MAXP];
} probe_out;

static probe_out probe_state;

static void write_ref(const nas_dataset *t, const nas_tensor *logits, int n, int k)
{
    FILE *f = fopen(probe_state.path, "wb");
    cr_assert(f, "%s", probe_state.path);
    int32_t hdr[5] = {n, t->c, t->h, t->w, k};
    fwrite(hdr, sizeof(hdr), 1, f);
    size_t px = (size_t)n * t->c * t->h * t->w;
    for (size_t i = 0; i < px; i++) {
        float v = t->x[i];
        fwrite(&v, sizeof(v), 1, f);
    }
    fwrite(logits->data, sizeof(float), (size_t)n * k, f);
    cr_assert_eq(fclose(f), 0);
}

enum { TSTEPS = 24, TCOLS = 4 };

/* A language model: TSTEPS steps over TCOLS columns of the test split,
 * the state carried from zeros, as nasd evaluates it. <name>.tref: int32
 * steps, columns, vocab, layers, hidden, cells, then the token ids
 * (step-major) and the logits, float32. */
static void text_probe(const nas__job *j, nas_params *p, const nas__model_info *m)
{
    (void)j;
    cr_assert(m->step, "every language model has a step");
    const nas_corpus *c = m->corpus;
    cr_assert(c->ntest >= TSTEPS * TCOLS);
    int32_t ids[TSTEPS][TCOLS];
    for (int t = 0; t < TSTEPS; t++)
        for (int b = 0; b < TCOLS; b++)
            ids[t][b] = c->test[b * TSTEPS + t];
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    int shape[2] = {TCOLS, m->hidden};
    nas_tensor *h[8], *cc[8];
    for (int l = 0; l < m->layers; l++) {
        h[l] = nas_tensor_zeros(g, 2, shape);
        cc[l] = nas_tensor_zeros(g, 2, shape);
    }
    FILE *f = fopen(probe_state.path, "wb");
    cr_assert(f, "%s", probe_state.path);
    int32_t hdr[6] = {TSTEPS, TCOLS, c->vocab_size, m->layers, m->hidden, m->cells};
    fwrite(hdr, sizeof(hdr), 1, f);
    fwrite(ids, sizeof(ids), 1, f);
    for (int t = 0; t < TSTEPS; t++) {
        nas_tensor *y = m->step(m->step_ctx, g, p, ids[t], TCOLS, h, m->cells ? cc : NULL);
        cr_assert(y->ndim == 2 && y->shape[0] == TCOLS && y->shape[1] == c->vocab_size);
        fwrite(y->data, sizeof(float), (size_t)TCOLS * c->vocab_size, f);
    }
    cr_assert_eq(fclose(f), 0);
    nas_graph_free(g);
}

/* nasd's evaluation of the first NREF test images, normalised as the
 * network was trained (the model's mean and std). */
static void probe(const nas__job *j, nas_params *p, const nas__model_info *m)
{
    nas_dataset *train = NULL, *test = NULL;
    probe_state.called = 1;
    for (int i = 0; i < nas_params_count(p) && i < MAXP; i++) {
        const nas_tensor *t = nas_params_get(p, i);
        size_t n = nas_tensor_numel(t);
        probe_state.names[i] = strdup(t->name);
        probe_state.data[i] = malloc(n * sizeof(float));
        memcpy(probe_state.data[i], t->data, n * sizeof(float));
        probe_state.numel[i] = n;
        probe_state.np = i + 1;
    }
    if (m->corpus) {
        text_probe(j, p, m);
        return;
    }
    cr_assert(m->forward && m->train, "an image model has a forward");
    cr_assert_eq(nas__job_load_images(j, &train, &test), NAS_OK, "%s", nas_errmsg());
    memcpy(test->mean, m->train->mean, sizeof(test->mean));
    memcpy(test->std, m->train->std, sizeof(test->std));
    int n = test->n < NREF ? test->n : NREF, k = j->desc->classes;
    int *idx = malloc((size_t)n * sizeof(int));
    int32_t *y = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        idx[i] = i;
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    nas_tensor *x = nas_tensor_new4(g, n, test->c, test->h, test->w);
    nas_dataset_batch(test, idx, n, NULL, NULL, x->data, y);
    nas_tensor *logits = m->forward(m->forward_ctx, g, p, x);
    cr_assert(logits->ndim == 2 && logits->shape[0] == n && logits->shape[1] == k);
    write_ref(test, logits, n, k);
    nas_graph_free(g);
    free(idx);
    free(y);
    nas_dataset_free(train);
    nas_dataset_free(test);
}

/* ---------------------------------------------------------- reading */

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = (uint8_t *)file_slurp(path, len);
    cr_assert(b, "no %s", path);
    return b;
}

static int count_op(const Onnx__GraphProto *g, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

static const char *meta_of(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0)
            return m->metadata_props[i]->value;
    return NULL;
}

static void check_io(const Onnx__ValueInfoProto *v, const char *name, int ndim, const int *dims)
{
    cr_assert_str_eq(v->name, name);
    cr_assert_eq(v->type->value_case, ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE);
    const Onnx__TypeProto__Tensor *t = v->type->tensor_type;
    cr_assert_eq(t->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    cr_assert_eq(t->shape->n_dim, (size_t)ndim, "%s", name);
    cr_assert_eq(t->shape->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM,
                 "%s: free batch", name);
    for (int d = 1; d < ndim; d++)
        cr_assert_eq(t->shape->dim[d]->dim_value, dims[d], "%s dim %d", name, d);
}

static int param_index(const char *name)
{
    for (int i = 0; i < probe_state.np; i++)
        if (strcmp(probe_state.names[i], name) == 0)
            return i;
    return -1;
}

/* Every initializer but the graph's constants is a trained parameter,
 * byte for byte. */
static void check_initializers(const Onnx__GraphProto *g)
{
    int params = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (t->name[0] == 'c' && t->name[1] >= '0' && t->name[1] <= '9')
            continue; /* a constant of the graph (shapes, eps, mean, std) */
        int w = param_index(t->name);
        cr_assert(w >= 0, "initializer %s is no parameter of the model", t->name);
        cr_assert(t->has_raw_data && t->raw_data.len == probe_state.numel[w] * sizeof(float));
        cr_assert(memcmp(t->raw_data.data, probe_state.data[w], t->raw_data.len) == 0, "%s differs",
                  t->name);
        params++;
    }
    cr_assert(params > 0, "the weights are initializers");
    for (int i = 0; i < probe_state.np; i++) {
        free(probe_state.names[i]);
        free(probe_state.data[i]);
    }
    probe_state.np = 0;
}

static void check_image_io(const Onnx__GraphProto *g)
{
    cr_assert_eq(g->n_input, 1);
    cr_assert_eq(g->n_output, 1);
    int in[4] = {0, 1, 16, 16}, out[2] = {0, 10};
    check_io(g->input[0], "pixels", 4, in);
    check_io(g->output[0], "logits", 2, out);
    /* The normalisation comes first: pixels / 255. */
    cr_assert_str_eq(g->node[0]->op_type, "Div");
    cr_assert_str_eq(g->node[0]->input[0], "pixels");
}

/* tokens, h.L (c.L) in; logits, h_out.L (c_out.L) out. */
static void check_text_io(const Onnx__GraphProto *g, const nas_job_spec *s)
{
    int lstm = s->arch == NAS_ARCH_LSTM_LM || s->arch == NAS_ARCH_DEFAULT;
    int cells = lstm || s->arch == NAS_ARCH_NASRL_RNN, layers = lstm ? s->layers : 1;
    int per = cells ? 2 : 1, st[2] = {0, s->hidden};
    char name[32];
    cr_assert_eq(g->n_input, (size_t)(1 + per * layers));
    cr_assert_eq(g->n_output, (size_t)(1 + per * layers));
    cr_assert_str_eq(g->input[0]->name, "tokens");
    cr_assert_eq(g->input[0]->type->tensor_type->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    cr_assert_str_eq(g->output[0]->name, "logits");
    for (int l = 0; l < layers; l++) {
        snprintf(name, sizeof(name), "h.%d", l);
        check_io(g->input[1 + per * l], name, 2, st);
        snprintf(name, sizeof(name), "h_out.%d", l);
        check_io(g->output[1 + per * l], name, 2, st);
        if (!cells)
            continue;
        snprintf(name, sizeof(name), "c.%d", l);
        check_io(g->input[2 + per * l], name, 2, st);
        snprintf(name, sizeof(name), "c_out.%d", l);
        check_io(g->output[2 + per * l], name, 2, st);
    }
}

typedef struct expect {
    const char *op;
    int min; /* at least this many nodes of op */
} expect;

/* Trains s to dir/<name>.safetensors and checks <name>.onnx; text: a
 * language model's step. */
static void export_case(const char *name, nas_job_spec *s, const expect *ex, int text)
{
    const char *keep = getenv("NASD_ONNX_DIR");
    char *dir = keep && *keep ? NULL : tmpdir_new("onnx");
    const char *d = dir ? dir : keep;
    char st[512], onnx[512];
    mkdir(d, 0755);
    snprintf(st, sizeof(st), "%s/%s.safetensors", d, name);
    snprintf(onnx, sizeof(onnx), "%s/%s.onnx", d, name);
    snprintf(probe_state.path, sizeof(probe_state.path), "%s/%s.%s", d, name,
             text ? "tref" : "ref");
    probe_state.called = 0;
    nas__model_probe = probe;
    s->model_path = st;
    s->epochs = 1;
    s->seed = 3;
    int rc = nas_job_run(s, NULL, NULL);
    nas__model_probe = NULL;
    cr_assert_eq(rc, NAS_OK, "%s", nas_errmsg());
    cr_assert(probe_state.called, "the job wrote its model");

    size_t len;
    uint8_t *buf = slurp(onnx, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    cr_assert(m, "%s parses as a ModelProto", onnx);
    cr_assert_eq(m->n_opset_import, 1);
    cr_assert_eq(m->opset_import[0]->version, 13);
    cr_assert_str_eq(m->producer_name, "nasd");
    const Onnx__GraphProto *g = m->graph;
    if (text)
        check_text_io(g, s);
    else
        check_image_io(g);
    for (const expect *e = ex; e->op; e++)
        cr_assert(count_op(g, e->op) >= e->min, "%s: %d %s nodes, expected at least %d", name,
                  count_op(g, e->op), e->op, e->min);
    const char *arch = meta_of(m, "architecture"), *classes = meta_of(m, "classes");
    cr_assert(arch && arch[0] == '{', "architecture in metadata_props");
    if (text) {
        cr_assert(meta_of(m, "vocabulary") && meta_of(m, "vocabulary")[0] == '[');
    } else {
        cr_assert(classes && classes[0] == '[', "class names in metadata_props");
        cr_assert(meta_of(m, "input") && strstr(meta_of(m, "input"), "\"mean\""));
    }
    check_initializers(g);
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    if (dir)
        rm_dir(dir);
}

static nas_job_spec image_spec(void)
{
    nas_job_spec s = {.dataset = "synthetic"};
    nas_job_spec_defaults(&s);
    return s;
}

TestSuite(onnx);

Test(onnx, fixed_cnn)
{
    nas_job_spec s = image_spec();
    s.max_examples = 300;
    s.batch_size = 50;
    const expect ex[] = {{"Conv", 2},    {"BatchNormalization", 2},
                         {"MaxPool", 1}, {"Reshape", 1},
                         {"Gemm", 2},    {"Relu", 3},
                         {NULL, 0}};
    export_case("fixed-cnn", &s, ex, 0);
}

/* Every darts-cnn op but none, in both cells. */
static nas_darts_genotype darts_gt(void)
{
    enum {
        MAX = NAS_DARTS_MAX_POOL_3X3,
        AVG = NAS_DARTS_AVG_POOL_3X3,
        SKIP = NAS_DARTS_SKIP_CONNECT
    };
    nas_darts_genotype g = {
        .normal = {.op = {{NAS_DARTS_SEP_CONV_3X3, NAS_DARTS_SEP_CONV_5X5},
                          {NAS_DARTS_DIL_CONV_3X3, SKIP},
                          {AVG, SKIP},
                          {NAS_DARTS_DIL_CONV_5X5, MAX}},
                   .from = {{0, 1}, {0, 1}, {1, 0}, {0, 2}}},
        .reduce = {.op = {{MAX, AVG}, {SKIP, NAS_DARTS_SEP_CONV_3X3}, {MAX, SKIP}, {SKIP, MAX}},
                   .from = {{0, 1}, {2, 1}, {0, 2}, {2, 1}}},
        .normal_concat = {2, 3, 4, 5},
        .n_normal_concat = 4,
        .reduce_concat = {2, 3, 4, 5},
        .n_reduce_concat = 4,
    };
    return g;
}

Test(onnx, darts_cnn)
{
    nas_job_spec s = image_spec();
    s.arch = NAS_ARCH_DARTS_CNN;
    s.darts_cnn = darts_gt();
    s.C = 4;
    s.layers = 3;
    s.batch_size = 50;
    s.max_examples = 300;
    /* Depthwise convolutions (group > 1), the factorized reduction's
     * shifted half (Slice), both poolings, cells as Concat. */
    const expect ex[] = {
        {"Conv", 10},  {"BatchNormalization", 5}, {"Slice", 1}, {"MaxPool", 2}, {"AveragePool", 2},
        {"Concat", 3}, {"GlobalAveragePool", 1},  {"Gemm", 1},  {NULL, 0}};
    export_case("darts-cnn", &s, ex, 0);
}

Test(onnx, enas_micro)
{
    nas_job_spec s = {
        .dataset = "synthetic", .arch = NAS_ARCH_ENAS_CNN, .search_space = "enas-micro"};
    nas_job_spec_defaults(&s);
    snprintf(s.genotype, sizeof(s.genotype), "%s",
             "0 2 1 3 2 0 1 4 3 1 0 0  1 0 0 2 2 3 1 4 2 1 3 0");
    s.C = 4;
    s.layers = 1;
    s.nodes = 3;
    s.batch_size = 50;
    /* Normal cell (x_id x_op y_id y_op per node; ops 0 sep3, 1 sep5, 2
     * avg, 3 max, 4 identity): both pools, both separable convolutions,
     * an identity; the reduction cell likewise. */
    s.max_examples = 300;
    /* No running statistics: the batch's, spelled out (ReduceMean). */
    const expect ex[] = {{"Conv", 10},   {"ReduceMean", 10}, {"Sqrt", 5}, {"AveragePool", 1},
                         {"MaxPool", 1}, {"Gemm", 1},        {NULL, 0}};
    export_case("enas-micro", &s, ex, 0);
}

Test(onnx, enas_macro)
{
    nas_job_spec s = {
        .dataset = "synthetic", .arch = NAS_ARCH_ENAS_CNN, .search_space = "enas-macro"};
    nas_job_spec_defaults(&s);
    /* Per layer: op, then one skip bit per earlier layer (ops: 0 conv3,
     * 1 sep3, 2 conv5, 3 sep5, 4 avg, 5 max). */
    snprintf(s.genotype, sizeof(s.genotype), "%s", "1 2 1 4 1 0");
    s.C = 4;
    s.layers = 3;
    s.batch_size = 50;
    s.max_examples = 300;
    const expect ex[] = {{"Conv", 3}, {"BatchNormalization", 3}, {"Gemm", 1}, {NULL, 0}};
    export_case("enas-macro", &s, ex, 0);
}

Test(onnx, nasrl_cnn)
{
    nas_job_spec s = image_spec();
    s.arch = NAS_ARCH_NASRL_CNN;
    /* 3 layers: 3x3 x4 stride 1; 5x3 x6 stride 2 on layer 0; 1x3 x4
     * stride 1 on layers 0 and 1 (the 8x8 map padded to 16x16). */
    snprintf(s.genotype, sizeof(s.genotype), "%s", "3 3 3 4 1 0 5 3 6 2 1 0 1 3 4 1 2 0 1");
    s.batch_size = 50;
    s.max_examples = 300;
    const expect ex[] = {
        {"Conv", 3}, {"BatchNormalization", 3}, {"Pad", 1}, {"Concat", 1}, {"Gemm", 1}, {NULL, 0}};
    export_case("nasrl-cnn", &s, ex, 0);
}

/* A language model of lm_spec (model_fixture.h), exported. */
static void text_case(const char *arch, const expect *ex)
{
    if (access(FORTUNES, R_OK) != 0)
        cr_skip_test("no %s (Debian's fortunes)", FORTUNES);
    nas_job_spec s = lm_spec(arch);
    export_case(arch, &s, ex, 1);
}

Test(onnx, lstm_lm_one_step)
{
    const expect ex[] = {{"Gather", 1}, {"Gemm", 5}, {"Sigmoid", 6}, {"Tanh", 4},
                         {"Slice", 8},  {"Mul", 6},  {NULL, 0}};
    text_case("lstm-lm", ex);
}

Test(onnx, darts_rnn_one_step)
{
    const expect ex[] = {{"Gather", 1}, {"Gemm", 2}, {"Relu", 2}, {"Tanh", 2}, {NULL, 0}};
    text_case("darts-rnn", ex);
}

Test(onnx, enas_rnn_one_step)
{
    const expect ex[] = {{"Gather", 1}, {"Concat", 1}, {"Sigmoid", 5},
                         {"Relu", 1},   {"Sum", 1},    {NULL, 0}};
    text_case("enas-rnn", ex);
}

Test(onnx, nasrl_rnn_one_step)
{
    const expect ex[] = {{"Gather", 1}, {"Gemm", 3}, {"Tanh", 1}, {"Sigmoid", 1},
                         {"Mul", 2},    {"Relu", 1}, {NULL, 0}};
    text_case("nasrl-rnn", ex);
}

/* Three channels with their own mean and std (no colour dataset ships
 * with Debian): a conv, BN, ReLU, pooling and linear network on 64 random
 * 3x8x8 images, exported directly; the reference is its eval forward. */
static nas_tensor *rgb_forward(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x)
{
    (void)ctx;
    nas_tensor *h = nas_conv2d(g, x, nas_params_get(p, 0), nas_params_get(p, 1), 2, 1, 1, 1);
    h = nas_batchnorm(g, h, nas_params_get(p, 2), nas_params_get(p, 3), nas_params_get(p, 4),
                      nas_params_get(p, 5), 0.1f, 1e-5f);
    h = nas_global_avgpool(g, nas_relu(g, h));
    return nas_linear(g, h, nas_params_get(p, 6), nas_params_get(p, 7));
}

Test(onnx, three_channels_normalised_each)
{
    enum { N = 64, C = 3, HW = 8, K = 5 };
    const char *keep = getenv("NASD_ONNX_DIR");
    char *dir = keep && *keep ? NULL : tmpdir_new("onnx");
    const char *d = dir ? dir : keep;
    char path[512];
    mkdir(d, 0755);
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    static uint8_t px[N * C * HW * HW];
    int32_t labels[N] = {0};
    for (size_t i = 0; i < sizeof(px); i++)
        px[i] = (uint8_t)nas_rng_below(&rng, 256);
    nas_dataset ds = {.n = N,
                      .c = C,
                      .h = HW,
                      .w = HW,
                      .classes = K,
                      .x = px,
                      .y = labels,
                      .mean = {0.1f, 0.5f, 0.9f},
                      .std = {0.2f, 0.3f, 0.05f}};
    nas_params *p = nas_params_new();
    const int W = NAS_GROUP_WEIGHTS, S = NAS_GROUP_STATE;
    int cw[4] = {6, C, 3, 3}, six[1] = {6}, lw[2] = {K, 6}, k1[1] = {K};
    nas_params_add(p, "conv.w", W, NAS_INIT_KAIMING, 1.0f, 4, cw);
    nas_params_add(p, "conv.b", W, NAS_INIT_UNIFORM, 0.5f, 1, six);
    nas_params_add(p, "bn.gamma", W, NAS_INIT_UNIFORM, 1.0f, 1, six);
    nas_params_add(p, "bn.beta", W, NAS_INIT_UNIFORM, 1.0f, 1, six);
    nas_params_add(p, "bn.running_mean", S, NAS_INIT_UNIFORM, 0.5f, 1, six);
    nas_params_add(p, "bn.running_var", S, NAS_INIT_UNIFORM, 0.5f, 1, six);
    nas_params_add(p, "fc.w", W, NAS_INIT_KAIMING, 1.0f, 2, lw);
    nas_params_add(p, "fc.b", W, NAS_INIT_ZERO, 1.0f, 1, k1);
    cr_assert_eq(nas_params_alloc(p, &rng), NAS_OK);
    float *var = nas_params_get(p, 5)->data;
    for (int i = 0; i < 6; i++)
        var[i] = 1.0f + var[i]; /* positive */

    snprintf(path, sizeof(path), "%s/rgb.onnx", d);
    nas__onnx_spec s = {.forward = rgb_forward, .p = p, .images = &ds, .classes = K};
    cr_assert_eq(nas__onnx_export(path, &s), NAS_OK, "%s", nas_errmsg());

    int idx[N];
    int32_t y[N];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    nas_graph *g = nas_graph_new(0);
    nas_graph_set_training(g, 0);
    nas_graph_set_grad(g, 0);
    nas_tensor *x = nas_tensor_new4(g, N, C, HW, HW);
    nas_dataset_batch(&ds, idx, N, NULL, NULL, x->data, y);
    nas_tensor *logits = rgb_forward(NULL, g, p, x);
    snprintf(probe_state.path, sizeof(probe_state.path), "%s/rgb.ref", d);
    write_ref(&ds, logits, N, K);
    nas_graph_free(g);
    nas_params_free(p);

    size_t len;
    uint8_t *buf = slurp(path, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    cr_assert(m);
    int in[4] = {0, C, HW, HW}, out[2] = {0, K};
    check_io(m->graph->input[0], "pixels", 4, in);
    check_io(m->graph->output[0], "logits", 2, out);
    /* pixels / 255, - mean (1, 3, 1, 1), / std (1, 3, 1, 1) */
    const Onnx__GraphProto *gr = m->graph;
    int found = 0;
    for (size_t i = 0; i < gr->n_initializer; i++) {
        const Onnx__TensorProto *t = gr->initializer[i];
        if (t->n_dims == 4 && t->dims[1] == C && t->n_float_data == C)
            found += t->float_data[2] == 0.9f || t->float_data[2] == 0.05f;
    }
    cr_assert_eq(found, 2, "the mean and std of each channel are constants of the graph");
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    if (dir)
        rm_dir(dir);
}

/* ------------------------------------------------ what cannot export */

static nas_tensor *with_zero(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x)
{
    (void)ctx;
    (void)p;
    nas_tensor *z = nas_zero(g, x, 1);
    return nas_global_avgpool(g, nas_add(g, x, z));
}

static nas_tensor *by_hand(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x)
{
    (void)ctx;
    (void)p;
    nas_tensor *h = nas_tensor_new(g, x->ndim, x->shape);
    memcpy(h->data, x->data, nas_tensor_numel(x) * sizeof(float));
    return nas_global_avgpool(g, h);
}

static void refused(nas__onnx_fwd fwd, const char *why)
{
    char *dir = tmpdir_new("onnx");
    char *path = path_in(dir, "m.onnx");
    nas_dataset d = {.n = 2, .c = 1, .h = 4, .w = 4, .classes = 1, .mean = {0.5f}, .std = {0.5f}};
    uint8_t px[32] = {0};
    int32_t y[2] = {0, 0};
    d.x = px;
    d.y = y;
    nas_params *p = nas_params_new();
    cr_assert_eq(nas_params_alloc(p, &(nas_rng){{1, 2, 3, 4}}), NAS_OK);
    nas__onnx_spec s = {.forward = fwd, .p = p, .images = &d, .classes = 1};
    int rc = nas__onnx_export(path, &s);
    cr_assert_eq(rc, NAS_EINVAL, "%s", nas_strerror(rc));
    cr_assert(strstr(nas_errmsg(), why), "%s", nas_errmsg());
    cr_assert_neq(access(path, F_OK), 0, "no file is written");
    nas_params_free(p);
    free(path);
    rm_dir(dir);
}

Test(onnx, an_op_without_onnx_form_is_named)
{
    refused(with_zero, "the op zero has no ONNX form");
}

Test(onnx, a_value_computed_by_hand_is_refused)
{
    refused(by_hand, "an input of global_avgpool was computed outside the engine's ops");
}
