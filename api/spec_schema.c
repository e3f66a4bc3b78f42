// SPDX-License-Identifier: MIT
/*
 * spec_schema.c - api_spec_schema(): the JSON Schema (2020-12) of the job
 * spec, printed from the engine's job-spec table (engine/jobs/spec_table.c);
 * and the document of GET /v1/search-spaces, printed from the same rows.
 *
 * The one design decision to know: the schema is derived, never written
 * by hand. Each field table becomes an object schema and each space row an
 * if/then rule keyed on algorithm and search_space (for train, on the
 * dataset's kind and architecture.space), so the schema accepts what
 * api_spec_normalize accepts; schema/job-spec.schema.json is this output,
 * and a test checks that the checked-in file still matches.
 */
#include "spec_internal.h"

#include <string.h>

static json_t *field_schema(const field *f)
{
    static const char *const types[] = {
        [T_INT] = "integer",    [T_NUM] = "number",     [T_BOOL] = "boolean", [T_STR] = "string",
        [T_INT_LIST] = "array", [T_NUM_LIST] = "array", [T_CUSTOM] = NULL,
    };
    json_t *s = f->type == T_CUSTOM && !f->na ? api__spec_custom(f)->schema(f) : json_object();
    json_t *item = s, *range;

    if (!s)
        return NULL;
    if (f->na) {
        json_object_set_new(s, "type", json_string("null"));
        json_object_set_new(s, "description", json_string(f->na));
        return s;
    }
    if (f->type == T_CUSTOM) { /* its own schema plus the field's default and doc */
        if (f->def)
            json_object_set_new(s, "default", json_loads(f->def, JSON_DECODE_ANY, NULL));
        if (f->doc)
            json_object_set_new(s, "description", json_string(f->doc));
        return s;
    }
    if (f->flags & F_NULLABLE)
        json_object_set_new(s, "type", json_pack("[ss]", types[f->type], "null"));
    else
        json_object_set_new(s, "type", json_string(types[f->type]));
    if (f->type == T_INT_LIST || f->type == T_NUM_LIST) {
        item = json_pack("{s:s}", "type", f->type == T_INT_LIST ? "integer" : "number");
        json_object_set_new(s, "items", item);
        json_object_set_new(s, "minItems", json_integer(f->min_items));
        json_object_set_new(s, "maxItems", json_integer(f->max_items));
        if (f->flags & F_UNIQUE)
            json_object_set_new(s, "uniqueItems", json_true());
    }
    if (f->choices) {
        json_object_set_new(item, "enum", json_loads(f->choices, JSON_DECODE_ANY, NULL));
    } else if (f->type != T_BOOL && f->type != T_STR && item) {
        range = api__spec_range_json(f);
        json_object_update(item, range);
        json_decref(range);
    }
    if (f->def)
        json_object_set_new(s, "default", json_loads(f->def, JSON_DECODE_ANY, NULL));
    if (f->doc)
        json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

json_t *api__spec_object_schema(const field *fs)
{
    json_t *props = json_object(), *required = json_array(), *s;
    for (const field *f = fs; f->name; f++) {
        json_object_set_new(props, f->name, field_schema(f));
        if (!f->def && !f->na)
            json_array_append_new(required, json_string(f->name));
    }
    s = json_pack("{s:s,s:b,s:o}", "type", "object", "additionalProperties", 0, "properties",
                  props);
    if (s && json_array_size(required))
        json_object_set(s, "required", required);
    json_decref(required);
    return s;
}

/* {"properties": {key: {"const": value}}}, plus "required" unless the
 * value is the default (an absent key means the default). */
static json_t *when(const char *key, const char *value, int is_default)
{
    json_t *c = json_pack("{s:{s:{s:s}}}", "properties", key, "const", value);
    if (c && !is_default)
        json_object_set_new(c, "required", json_pack("[s]", key));
    return c;
}

/* dataset: a built-in one of the kind (NULL: any kind), or an upload.
 * Uploads come and go at run time and this schema is fixed (checked in,
 * the same for every request), so it takes any name an upload may have
 * and says where the names are listed; nasd checks the rest. */
static json_t *dataset_schema(const char *kind)
{
    return json_pack("{s:[{s:o},{s:s,s:s,s:s}]}", "anyOf", "enum", api__spec_datasets_of_kind(kind),
                     "type", "string", "pattern", API_DATASET_NAME_PATTERN, "description",
                     "an uploaded dataset (POST /v1/datasets); GET /v1/datasets lists them with "
                     "their kind and shape");
}

/* The per-space rules of one row, applied once its space is chosen. */
static json_t *row_schema(const space_row *r)
{
    char why[160];
    field budget[4];
    json_t *props = json_object(), *ds = dataset_schema(r->data_kind);

    api__spec_budget_fields(r, budget, why, sizeof why);
    json_object_set_new(ds, "default", json_string(api__spec_default_dataset(r->data_kind)));
    json_object_set_new(props, "dataset", ds);
    json_object_set_new(props, "budget", api__spec_object_schema(budget));
    json_object_set_new(props, "hyperparameters", api__spec_object_schema(r->hp));
    if (r->arch)
        json_object_set_new(
            props, "architecture",
            json_pack("{s:[o,{s:s}]}", "anyOf", api__spec_object_schema(r->arch), "type", "null"));
    return json_pack("{s:o}", "properties", props);
}

/* An architecture object whose space is one of `spaces`. */
static json_t *arch_space_in(json_t *spaces)
{
    return json_pack("{s:{s:{s:s,s:{s:{s:o}},s:[s]}},s:[s]}", "properties", "architecture", "type",
                     "object", "properties", "space", "enum", spaces, "required", "space",
                     "required", "architecture");
}

/* train picks its row by the dataset's kind and architecture.space: the
 * default dataset's kind matches when dataset is absent, the kind's first
 * row when space is. */
static json_t *train_schema(void)
{
    json_t *rules = json_array();
    const char *def_kind = api__spec_dataset_rows[0].kind;

    size_t nrows;
    const space_row *rows = api__spec_rows(&nrows);

    for (size_t i = 0; i < nrows; i++) {
        const space_row *r = &rows[i];
        const space_row *first = api__spec_find_row_of_kind("train", r->data_kind);
        json_t *cond, *others = json_array();
        if (strcmp(r->algorithm, "train"))
            continue;
        cond = json_pack("{s:{s:{s:o}}}", "properties", "dataset", "enum",
                         api__spec_datasets_of_kind(r->data_kind));
        if (strcmp(r->data_kind, def_kind))
            json_object_set_new(cond, "required", json_pack("[s]", "dataset"));
        for (size_t k = 0; r == first && k < nrows; k++)
            if (!strcmp(rows[k].algorithm, "train") && &rows[k] != r &&
                !strcmp(rows[k].data_kind, r->data_kind))
                json_array_append_new(others, json_string(rows[k].space));
        if (r != first)
            cond = json_pack("{s:[o,o]}", "allOf", cond, arch_space_in(json_pack("[s]", r->space)));
        else if (json_array_size(others))
            cond = json_pack("{s:[o,{s:o}]}", "allOf", cond, "not",
                             arch_space_in(json_incref(others)));
        json_decref(others);
        json_array_append_new(rules, json_pack("{s:o,s:o}", "if", cond, "then", row_schema(r)));
    }
    return json_pack("{s:{s:{s:s},s:{s:s}},s:o}", "properties", "search_space", "type", "null",
                     "final_training", "type", "null", "allOf", rules);
}

static json_t *search_schema(const char *algorithm)
{
    const char *names[32];
    size_t n = api__spec_space_names(algorithm, names, 32);
    json_t *rules = json_array(), *spaces = json_array();

    for (size_t i = 0; i < n; i++) {
        json_array_append_new(spaces, json_string(names[i]));
        json_array_append_new(
            rules, json_pack("{s:o,s:o}", "if", when("search_space", names[i], i == 0), "then",
                             row_schema(api__spec_find_row(algorithm, names[i]))));
    }
    return json_pack("{s:{s:{s:o,s:s},s:{s:s}},s:o}", "properties", "search_space", "enum", spaces,
                     "default", names[0], "architecture", "type", "null", "allOf", rules);
}

json_t *api_spec_schema(void)
{
    json_t *algos = json_array(), *rules = json_array(), *all_spaces = json_array();
    json_t *props, *ft, *schema;
    const char *names[32];
    size_t n = api__spec_space_names(NULL, names, 32);

    for (size_t i = 0; i < n; i++)
        json_array_append_new(all_spaces, json_string(names[i]));
    json_array_append_new(all_spaces, json_null());
    for (size_t i = 0; i < API__SPEC_N_ALGOS; i++) {
        const char *a = api__spec_algo_rows[i].name;
        json_array_append_new(algos, json_string(a));
        json_array_append_new(rules,
                              json_pack("{s:o,s:o}", "if", when("algorithm", a, i == 0), "then",
                                        strcmp(a, "train") ? search_schema(a) : train_schema()));
    }
    ft = api__spec_object_schema(nas_spec_final_fields());
    json_object_set_new(ft, "type", json_pack("[ss]", "object", "null"));
    json_t *ds = dataset_schema(NULL);
    json_object_set_new(ds, "description",
                        json_string("default: fashion-mnist for image spaces, fortunes for text "
                                    "spaces"));
    props =
        json_pack("{s:{s:o,s:s,s:s},"
                  " s:{s:o,s:s},"
                  " s:o,"
                  " s:{s:[ss],s:s},"
                  " s:{s:[ss],s:s},"
                  " s:{s:[ss],s:s},"
                  " s:o,"
                  " s:{s:s,s:i,s:I,s:s},"
                  " s:{s:s,s:i,s:i,s:s,s:s}}",
                  "algorithm", "enum", algos, "default", api__spec_algo_rows[0].name, "description",
                  "what to run: a search (darts, enas, nas-rl, random) or train, "
                  "which trains an architecture (any search's result as served)",
                  "search_space", "enum", all_spaces, "description",
                  "per algorithm; the algorithm's first space by default; null for train",
                  "dataset", ds, "architecture", "type", "object", "null", "description",
                  "train only: the network to train (fixed-cnn or darts-cnn on "
                  "images, lstm-lm on text); default by the dataset's kind",
                  "budget", "type", "object", "null", "description", "limits of the run",
                  "hyperparameters", "type", "object", "null", "description",
                  "keys and defaults per algorithm and space (see allOf); "
                  "lr_min <= lr and start_layers <= max_layers",
                  "final_training", ft, "seed", "type", "integer", "minimum", 0, "maximum",
                  (json_int_t)API_SPEC_SEED_MAX, "description",
                  "default: drawn at random by nasd and stored in the job", "name", "type",
                  "string", "minLength", 1, "maxLength", NAME_MAX_CHARS, "pattern",
                  "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "description",
                  "printable UTF-8; default: <algorithm>-<dataset>");
    json_object_set_new(props, "data_path",
                        json_pack("{s:[ss],s:i,s:i,s:s}", "type", "string", "null", "minLength", 1,
                                  "maxLength", 1024, "description",
                                  "the dataset's files under <state-dir>/datasets (relative, no "
                                  "\"..\", no symbolic link out of it); null: nasd's configured "
                                  "location"));
    json_object_set_new(props, "tags",
                        json_pack("{s:s,s:i,s:b,s:{s:s,s:i,s:i,s:s},s:[],s:s}", "type", "array",
                                  "maxItems", API_SPEC_MAX_TAGS, "uniqueItems", 1, "items", "type",
                                  "string", "minLength", 1, "maxLength", 64, "pattern",
                                  API_SPEC_TAG_PATTERN, "default", "description",
                                  "labels to find the job by (GET /v1/jobs?tag=TAG)"));
    {
        json_t *res = api__spec_object_schema(nas_spec_resources_fields());
        json_object_set_new(res, "type", json_pack("[ss]", "object", "null"));
        json_object_set_new(res, "description",
                            json_string("where the job runs (issue #18): its Open MPI ranks"));
        json_object_set_new(props, "resources", res);
    }
    schema =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "$schema",
                  "https://json-schema.org/draft/2020-12/schema", "$id", "urn:nasd:schema:job-spec",
                  "title", "nasd job spec (POST /v1/jobs)", "description",
                  "Every field is optional and has a default; nasd "
                  "stores the spec with every default written out.",
                  "type", "object", "additionalProperties", 0, "properties", props, "allOf", rules);
    return schema;
}

/* One (algorithm, space) row for GET /v1/search-spaces: its data, its
 * doc, and each object of the spec it reads as an object schema (every
 * field with type, range, default and doc). */
static json_t *space_doc(const space_row *r)
{
    char why[160];
    field budget[4];
    json_t *objs = json_object(), *dd = json_object();

    api__spec_budget_fields(r, budget, why, sizeof why);
    json_object_set_new(objs, "budget", api__spec_object_schema(budget));
    json_object_set_new(objs, "hyperparameters", api__spec_object_schema(r->hp));
    if (r->arch)
        json_object_set_new(objs, "architecture", api__spec_object_schema(r->arch));
    if (r->final_fields) {
        json_t *props = json_object();
        const field *fs = nas_spec_final_fields();
        json_t *all = api__spec_object_schema(fs);
        for (unsigned i = 0; fs[i].name; i++) /* only what this space reads */
            if (r->final_fields & (1u << i))
                json_object_set(props, fs[i].name,
                                json_object_get(json_object_get(all, "properties"), fs[i].name));
        json_object_set_new(objs, "final_training",
                            json_pack("{s:s,s:o}", "type", "object", "properties", props));
        json_decref(all);
    }
    for (size_t i = 0; i < API__SPEC_N_DATASET_DEFAULTS; i++) {
        const struct dataset_default *d = &api__spec_dataset_defaults[i];
        const struct dataset_row *ds = api__spec_dataset_by_name(d->dataset);
        json_t *o;
        if (strcmp(d->algorithm, r->algorithm) || !ds || strcmp(ds->kind, r->data_kind) ||
            !nas_spec_field_find(r->hp, d->key) || nas_spec_field_find(r->hp, d->key)->na)
            continue;
        if (!(o = json_object_get(dd, d->dataset)))
            json_object_set_new(dd, d->dataset, o = json_object());
        json_object_set_new(o, d->key, json_loads(d->value, JSON_DECODE_ANY, NULL));
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:o,s:o}", "name", r->space, "doc", r->doc, "data_kind",
                     r->data_kind, "datasets", api__spec_datasets_of_kind(r->data_kind),
                     "default_dataset", api__spec_default_dataset(r->data_kind), "dataset_defaults",
                     dd, "fields", objs);
}

json_t *api_spec_search_spaces(void)
{
    json_t *algos = json_array();
    size_t nrows;
    const space_row *rows = api__spec_rows(&nrows);

    for (size_t i = 0; i < API__SPEC_N_ALGOS; i++) {
        const char *a = api__spec_algo_rows[i].name;
        const space_row *first = api__spec_find_row(a, NULL);
        json_t *spaces = json_array();
        if (!first)
            continue;
        for (size_t k = 0; k < nrows; k++)
            if (!strcmp(rows[k].algorithm, a))
                json_array_append_new(spaces, space_doc(&rows[k]));
        json_array_append_new(algos,
                              json_pack("{s:s,s:s,s:s,s:o}", "name", a, "space_in",
                                        strcmp(a, "train") ? "search_space" : "architecture.space",
                                        "default_space", first->space, "spaces", spaces));
    }
    return json_pack("{s:s,s:o,s:{s:s,s:i,s:I,s:s}}", "default_algorithm",
                     api__spec_algo_rows[0].name, "algorithms", algos, "seed", "type", "integer",
                     "minimum", 0, "maximum", (json_int_t)API_SPEC_SEED_MAX, "description",
                     "default: drawn at random by nasd and stored in the job");
}
