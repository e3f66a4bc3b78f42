// SPDX-License-Identifier: MIT
/*
 * spec_genotype.c - the darts-cnn and darts-rnn architectures of
 * `train`: the DARTS genotypes as T_CUSTOM field types (their validators
 * and the darts-cnn JSON Schema printer), the rule that the reduction
 * cells fit the dataset, and the one conversion of a genotype into the
 * engine's typed cells (nas.h's nas_darts_genotype, nas_darts_rnn_genotype).
 *
 * The one design decision to know: a genotype is parsed once, here. It is
 * checked pair by pair with a JSON pointer to the offending entry and
 * normalized like any other value (the concat lists get their defaults
 * through the generic walker); the conversion then reads the normalized
 * value into the engine's struct, op names to the engine's op indices.
 * Inside the engine a genotype is a struct (the kinds' validation checks
 * its ranges again, for a spec filled by hand). A stored spec resumed
 * after a restart is normalized and converted by the same code.
 */
#include "spec_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ darts-cnn cells */

/* The ops a derived cell may hold: the search's candidates but "none". */
static const char *const darts_ops[] = {
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    "max_pool_3x3", "avg_pool_3x3", "skip_connect",
};
#define N_DARTS_OPS (sizeof darts_ops / sizeof darts_ops[0])
#define DARTS_NODES 4 /* intermediate nodes per cell; two entries each */

/* The recurrent cell's ops, the engine's (nas_darts_rnn_op_name). */
static const char *const rnn_ops[] = {"tanh", "relu", "sigmoid", "identity"};
#define N_RNN_OPS (sizeof rnn_ops / sizeof rnn_ops[0])
static_assert(N_RNN_OPS == NAS_DARTS_RNN_NPRIM - 1, "the darts-rnn ops");

/* The cells of a genotype; see check_cell. */
static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err);
static json_t *cell_schema(const field *f);
static const custom_type darts_cell = {"an array of [op, input] pairs", check_cell, cell_schema};
static int check_rnn_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err);
static json_t *rnn_cell_schema(const field *f);
static const custom_type rnn_cell = {"an array of [op, input] pairs", check_rnn_cell,
                                     rnn_cell_schema};

#define CELL_(n, doc_)                                                                             \
    {                                                                                              \
        .name = n, .type = T_CUSTOM, .doc = doc_, .custom = &darts_cell, .off = -1,                \
        .count_off = -1, .null_off = -1                                                            \
    }
#define CONCAT_(n, doc_)                                                                           \
    {                                                                                              \
        .name = n, .type = T_INT_LIST, .min = 2, .max = 5, .flags = F_UNIQUE, .def = "[2,3,4,5]",  \
        .min_items = 1, .max_items = 4, .doc = doc_, .off = -1, .count_off = -1, .null_off = -1    \
    }

static const field genotype_fields[] = {
    CELL_("normal", "the normal cell: 8 [op, input] pairs, two per node; entries 2k and "
                    "2k+1 belong to node k (0..3) and take input 0 or 1 (the cell's "
                    "inputs) or 2..k+1 (the nodes before it)"),
    CONCAT_("normal_concat", "nodes (2..5) concatenated into the cell's output"),
    CELL_("reduce", "the reduction cell, as normal; ops on inputs 0 and 1 have stride 2"),
    CONCAT_("reduce_concat", "nodes (2..5) concatenated into the cell's output"),
    END_,
};

/* darts-rnn: {"recurrent": [[op, input] x 8], "concat": [..]}. */
static const field rnn_genotype_fields[] = {
    {.name = "recurrent",
     .type = T_CUSTOM,
     .custom = &rnn_cell,
     .off = -1,
     .count_off = -1,
     .null_off = -1},
    {.name = "concat",
     .type = T_INT_LIST,
     .min = 1,
     .max = 8,
     .flags = F_UNIQUE,
     .def = "[1,2,3,4,5,6,7,8]",
     .min_items = 1,
     .max_items = 8,
     .off = -1,
     .count_off = -1,
     .null_off = -1},
    END_,
};

static json_t *ops_json(const char *const *ops, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(ops[i]));
    return a;
}

static json_t *darts_ops_json(void)
{
    return ops_json(darts_ops, N_DARTS_OPS);
}

/* What a cell's entries are: its ops, its pairs and the inputs entry i
 * reads (0..max_in(i)). */
typedef struct cell_rule {
    const char *const *ops;
    size_t nops, pairs;
    int rnn; /* one entry per node, node i + 1 reading s0 or nodes 1..i */
} cell_rule;

static const cell_rule cnn_rule = {darts_ops, N_DARTS_OPS, 2 * DARTS_NODES, 0};
static const cell_rule rnn_rule = {rnn_ops, N_RNN_OPS, NAS_DARTS_RNN_NODES, 1};

static int max_input(const cell_rule *r, size_t i)
{
    return r->rnn ? (int)i : (int)(i / 2) + 1;
}

/* Why input i is out of range, for the detail. */
static void input_detail(const cell_rule *r, size_t i, api_problem *err)
{
    const int max_in = max_input(r, i);
    char nodes[16];
    if (r->rnn) {
        api__spec_detail_append(err,
                                ": entry %zu is node %zu's, which reads s0 (0) or an earlier "
                                "node (1..%zu)",
                                i, i + 1, i);
        return;
    }
    snprintf(nodes, sizeof nodes, max_in > 2 ? "2..%d" : "%d", max_in);
    if (i < 2)
        api__spec_detail_append(err,
                                ": entry %zu belongs to node 0, which reads only the cell's "
                                "inputs 0 and 1",
                                i);
    else
        api__spec_detail_append(err,
                                ": entry %zu belongs to node %zu, which reads the cell's "
                                "inputs 0 and 1 or an earlier node (%s)",
                                i, i / 2, nodes);
}

/* Entry i of a cell, [op, input], into *out. */
static int check_pair(const cell_rule *r, const json_t *v, size_t i, const char *ptr, json_t **out,
                      api_problem *err)
{
    const field input = I_("input", 0, max_input(r, i), NULL, NULL);
    const json_t *op = json_array_get(v, 0);
    char eptr[PTR_MAX];
    double x;
    size_t k;

    if (!json_is_array(v) || json_array_size(v) != 2)
        return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                               "%s must be an [op, input] pair, not %s", ptr,
                               api__spec_json_kind(v));
    api__spec_child_ptr(eptr, ptr, "0");
    if (!json_is_string(op))
        return api__spec_type_error(eptr, "an op name (a string)", op, err);
    for (k = 0; k < r->nops && strcmp(r->ops[k], json_string_value(op)); k++)
        ;
    if (k == r->nops) {
        api__spec_choice_error(ops_json(r->ops, r->nops), eptr, op, err);
        if (!strcmp(json_string_value(op), "none"))
            api__spec_detail_append(err, " (\"none\" is the search's zero op: a derived cell never "
                                         "holds it)");
        return -1;
    }
    api__spec_child_ptr(eptr, ptr, "1");
    if (api__spec_check_number(&input, 1, json_array_get(v, 1), eptr, &x, err)) {
        input_detail(r, i, err);
        return -1;
    }
    *out = json_pack("[sI]", r->ops[k], (json_int_t)x);
    return *out ? 0 : api__spec_oom(err);
}

/* A cell: [[op, input] x pairs]. */
static int check_pairs(const cell_rule *r, const field *f, const json_t *v, const char *ptr,
                       json_t **out, api_problem *err)
{
    char eptr[PTR_MAX];
    size_t i, n = json_array_size(v);
    json_t *pair = NULL;

    if (!json_is_array(v))
        return api__spec_type_error(ptr, api__spec_custom(f)->want, v, err);
    if (n != r->pairs) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                        "%s must have %zu [op, input] pairs (%s per node), not %zu", ptr, r->pairs,
                        r->rnn ? "one" : "two", n);
        api_problem_set_allowed(
            err, json_pack("{s:i,s:i}", "minItems", (int)r->pairs, "maxItems", (int)r->pairs));
        return -1;
    }
    if (!(*out = json_array()))
        return api__spec_oom(err);
    for (i = 0; i < n; i++) {
        snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
        if (check_pair(r, json_array_get(v, i), i, eptr, &pair, err) ||
            json_array_append_new(*out, pair)) {
            json_decref(*out);
            *out = NULL;
            return err->status ? -1 : api__spec_oom(err);
        }
    }
    return 0;
}

static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err)
{
    return check_pairs(&cnn_rule, f, v, ptr, out, err);
}

static int check_rnn_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err)
{
    return check_pairs(&rnn_rule, f, v, ptr, out, err);
}

static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err);
static json_t *genotype_schema(const field *f);
const custom_type api__spec_darts_genotype = {"an object", check_genotype, genotype_schema};

/* A genotype object: its keys checked against fs, with the concat
 * lists' defaults. */
static int check_object(const field *fs, const field *f, const json_t *v, const char *ptr,
                        json_t **out, api_problem *err)
{
    if (!json_is_object(v))
        return api__spec_type_error(ptr, api__spec_custom(f)->want, v, err);
    if (!(*out = json_object()))
        return api__spec_oom(err);
    if (!api__spec_normalize_object(fs, v, ptr, *out, err))
        return 0;
    json_decref(*out);
    *out = NULL;
    return -1;
}

static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err)
{
    return check_object(genotype_fields, f, v, ptr, out, err);
}

static int check_rnn_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                              api_problem *err)
{
    return check_object(rnn_genotype_fields, f, v, ptr, out, err);
}

/* The schema as the engine's checks were its only rule: the shape. */
static json_t *rnn_genotype_schema(const field *f)
{
    (void)f;
    return json_pack("{s:s,s:[s],s:{s:{s:s,s:i,s:i},s:{s:s}}}", "type", "object", "required",
                     "recurrent", "properties", "recurrent", "type", "array", "minItems", 8,
                     "maxItems", 8, "concat", "type", "array");
}

const custom_type api__spec_darts_rnn_genotype = {"an object", check_rnn_genotype,
                                                  rnn_genotype_schema};

/* The engine's rule (darts_cnn.c): cells layers/3 and 2 layers/3 halve the
 * map, which must have even sides there. */
int api__spec_darts_reductions_fit(const json_t *spec, api_problem *err)
{
    const char *dataset = json_string_value(json_object_get(spec, "dataset"));
    const json_t *arch = json_object_get(spec, "architecture");
    const nas_dataset_desc *d = dataset ? nas_dataset_find(dataset) : NULL;
    int layers = (int)json_integer_value(json_object_get(arch, "layers")), h, w;

    if (!d)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "no dataset %s",
                               dataset ? dataset : "(null)");
    h = d->h;
    w = d->w;
    for (int i = 0; i < layers; i++) {
        if (i != layers / 3 && i != 2 * layers / 3)
            continue;
        if (h % 2 || w % 2 || h < 2 || w < 2)
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture/layers",
                                   "/architecture/layers: cell %d of %d would reduce a %dx%d "
                                   "map of dataset \"%s\"; DARTS reductions need even sides",
                                   i, layers, h, w, dataset);
        h /= 2;
        w /= 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- schema */

/* [[op, input] x 8]: entry i's input in 0..i/2+1. */
static json_t *cell_schema(const field *f)
{
    json_t *pairs = json_array();
    for (int i = 0; pairs && i < 2 * DARTS_NODES; i++)
        json_array_append_new(pairs, json_pack("{s:s,s:[{s:o},{s:s,s:i,s:i}],s:b,s:i}", "type",
                                               "array", "prefixItems", "enum", darts_ops_json(),
                                               "type", "integer", "minimum", 0, "maximum",
                                               i / 2 + 1, "items", 0, "minItems", 2));
    return json_pack("{s:s,s:o,s:b,s:i,s:i}", "type", "array", "prefixItems", pairs, "items", 0,
                     "minItems", 2 * DARTS_NODES, "maxItems", 2 * DARTS_NODES);
}

/* [[op, input] x 8]: entry i's input in 0..i. */
static json_t *rnn_cell_schema(const field *f)
{
    json_t *pairs = json_array();
    (void)f;
    for (int i = 0; pairs && i < NAS_DARTS_RNN_NODES; i++)
        json_array_append_new(
            pairs, json_pack("{s:s,s:[{s:o},{s:s,s:i,s:i}],s:b,s:i}", "type", "array",
                             "prefixItems", "enum", ops_json(rnn_ops, N_RNN_OPS), "type", "integer",
                             "minimum", 0, "maximum", i, "items", 0, "minItems", 2));
    return json_pack("{s:s,s:o,s:b,s:i,s:i}", "type", "array", "prefixItems", pairs, "items", 0,
                     "minItems", NAS_DARTS_RNN_NODES, "maxItems", NAS_DARTS_RNN_NODES);
}

static json_t *genotype_schema(const field *f)
{
    return api__spec_object_schema(genotype_fields);
}

/* -------------------------------------------------------- to the engine */

/* The engine's index of op name s (name(k) for k = 1, 2, ..), or -1. */
static int op_index(const char *(*name)(int), const char *s)
{
    for (int k = 1; s && name(k); k++)
        if (!strcmp(name(k), s))
            return k;
    return -1;
}

/* An integral JSON number into *v (a darts-rnn genotype stored before
 * its cell was normalized pair by pair may hold 1.0 for 1). */
static int read_int(const json_t *x, int *v)
{
    double d = json_number_value(x);
    *v = (int)d;
    return json_is_number(x) && d == (double)*v ? 0 : -1;
}

/* n normalized [op, input] pairs into op[] and from[]. */
static int read_pairs(const json_t *cell, const char *(*name)(int), int n, int *op, int *from)
{
    if (json_array_size(cell) != (size_t)n)
        return -1;
    for (int i = 0; i < n; i++) {
        const json_t *pair = json_array_get(cell, (size_t)i);
        op[i] = op_index(name, json_string_value(json_array_get(pair, 0)));
        if (op[i] < 0 || read_int(json_array_get(pair, 1), &from[i]))
            return -1;
    }
    return 0;
}

static int read_concat(const json_t *list, int cap, int *v, int *n)
{
    *n = (int)json_array_size(list);
    if (!json_is_array(list) || *n < 1 || *n > cap)
        return -1;
    for (int i = 0; i < *n; i++)
        if (read_int(json_array_get(list, (size_t)i), &v[i]))
            return -1;
    return 0;
}

int api__spec_darts_to_engine(const char *space, const json_t *g, nas_job_spec *out)
{
    if (!strcmp(space, "darts-rnn")) {
        nas_darts_rnn_genotype *gt = &out->darts_rnn;
        return read_pairs(json_object_get(g, "recurrent"), nas_darts_rnn_op_name,
                          NAS_DARTS_RNN_NODES, gt->op, gt->from) ||
                       read_concat(json_object_get(g, "concat"), NAS_DARTS_RNN_NODES, gt->concat,
                                   &gt->nconcat)
                   ? -1
                   : 0;
    }
    nas_darts_genotype *gt = &out->darts_cnn;
    return read_pairs(json_object_get(g, "normal"), nas_darts_op_name, 2 * NAS_DARTS_NODES,
                      &gt->normal.op[0][0], &gt->normal.from[0][0]) ||
                   read_concat(json_object_get(g, "normal_concat"), NAS_DARTS_NODES,
                               gt->normal_concat, &gt->n_normal_concat) ||
                   read_pairs(json_object_get(g, "reduce"), nas_darts_op_name, 2 * NAS_DARTS_NODES,
                              &gt->reduce.op[0][0], &gt->reduce.from[0][0]) ||
                   read_concat(json_object_get(g, "reduce_concat"), NAS_DARTS_NODES,
                               gt->reduce_concat, &gt->n_reduce_concat)
               ? -1
               : 0;
}
