// SPDX-License-Identifier: MIT
/*
 * spec_genotype.c - the darts-cnn architecture of `train`: the DARTS
 * genotype as a T_CUSTOM field type (its validator and its JSON Schema
 * printer) and the rule that the reduction cells fit the dataset.
 *
 * The one design decision to know: a genotype is checked pair by pair
 * with a JSON pointer to the offending entry and normalized like any other
 * value (the concat lists get their defaults through the generic walker),
 * and its compact JSON must fit the engine's nas_job_spec.genotype, so
 * api_spec_to_engine never meets a genotype it cannot take.
 */
#include "spec_internal.h"

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

/* The cells of a genotype; see check_cell. */
static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err);
static json_t *cell_schema(const field *f);
static const custom_type darts_cell = {"an array of [op, input] pairs", check_cell, cell_schema};

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

static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err);
static json_t *genotype_schema(const field *f);
const custom_type api__spec_darts_genotype = {"an object", check_genotype, genotype_schema};

static json_t *darts_ops_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < N_DARTS_OPS; i++)
        json_array_append_new(a, json_string(darts_ops[i]));
    return a;
}

/* Entry i of a cell, [op, input], into *out. Entry i belongs to node i / 2,
 * which reads the cell's inputs 0 and 1 or a node before it (2..). */
static int check_pair(const json_t *v, size_t i, const char *ptr, json_t **out, api_problem *err)
{
    const int max_in = (int)(i / 2) + 1;
    const field input = I_("input", 0, max_in, NULL, NULL);
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
    for (k = 0; k < N_DARTS_OPS && strcmp(darts_ops[k], json_string_value(op)); k++)
        ;
    if (k == N_DARTS_OPS) {
        api__spec_choice_error(darts_ops_json(), eptr, op, err);
        if (!strcmp(json_string_value(op), "none"))
            api__spec_detail_append(err, " (\"none\" is the search's zero op: a derived cell never "
                                         "holds it)");
        return -1;
    }
    api__spec_child_ptr(eptr, ptr, "1");
    if (api__spec_check_number(&input, 1, json_array_get(v, 1), eptr, &x, err)) {
        char nodes[16];
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
        return -1;
    }
    *out = json_pack("[sI]", darts_ops[k], (json_int_t)x);
    return *out ? 0 : api__spec_oom(err);
}

/* A cell: [[op, input] x 8], two entries per node. */
static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err)
{
    char eptr[PTR_MAX];
    size_t i, n = json_array_size(v);
    json_t *pair = NULL;

    if (!json_is_array(v))
        return api__spec_type_error(ptr, api__spec_custom(f)->want, v, err);
    if (n != 2 * DARTS_NODES) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                        "%s must have %d [op, input] pairs (two per node), not %zu", ptr,
                        2 * DARTS_NODES, n);
        api_problem_set_allowed(
            err, json_pack("{s:i,s:i}", "minItems", 2 * DARTS_NODES, "maxItems", 2 * DARTS_NODES));
        return -1;
    }
    if (!(*out = json_array()))
        return api__spec_oom(err);
    for (i = 0; i < n; i++) {
        snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
        if (check_pair(json_array_get(v, i), i, eptr, &pair, err) ||
            json_array_append_new(*out, pair)) {
            json_decref(*out);
            *out = NULL;
            return err->status ? -1 : api__spec_oom(err);
        }
    }
    return 0;
}

/* The genotype's keys with the concat lists' defaults; its compact JSON
 * must fit the engine's nas_job_spec.genotype. */
static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err)
{
    char *text;
    size_t len;

    if (!json_is_object(v))
        return api__spec_type_error(ptr, api__spec_custom(f)->want, v, err);
    if (!(*out = json_object()))
        return api__spec_oom(err);
    if (api__spec_normalize_object(genotype_fields, v, ptr, *out, err))
        goto fail;
    if (!(text = json_dumps(*out, JSON_COMPACT))) {
        api__spec_oom(err);
        goto fail;
    }
    len = strlen(text);
    free(text);
    if (len < NAS_GENOTYPE_MAX)
        return 0;
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                    "%s is %zu bytes as compact JSON; the engine takes at most %d", ptr, len,
                    NAS_GENOTYPE_MAX - 1);
fail:
    json_decref(*out);
    *out = NULL;
    return -1;
}

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

static json_t *genotype_schema(const field *f)
{
    return api__spec_object_schema(genotype_fields);
}
