// SPDX-License-Identifier: MIT
/*
 * spec_engine.c - the engine's view of a normalized spec: whether this
 * version can run it (501 otherwise), whether the engine's own checks
 * pass (400 otherwise) and its conversion to nas_job_spec.
 *
 * The one design decision to know: conversion trusts normalization. It
 * walks the engine's job-spec table and stores every value through its
 * row's offset into nas_job_spec (no key is named here), without
 * re-validating it, and any value missing or of the wrong type means the spec was not
 * normalized, which is a 500, never a 400. What the API acknowledges the
 * engine must run, so before a job is stored the converted spec goes
 * through the engine's own preparation checks (nas_job_validate): a
 * range the tables allow but the engine refuses becomes a 400 naming the
 * field here, never a job that fails once it starts.
 */
#include "config.h"
#include "spec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 501 naming what is not there, with what the user can run instead in
 * the detail and in "allowed" (the tracker's issue number in the tables
 * is for developers). */
static int not_implemented(const char *ptr, const char *what, const char **avail, size_t n,
                           api_problem *err)
{
    char list[160] = "";
    json_t *allowed = json_array();
    for (size_t k = 0; k < n; k++) {
        json_array_append_new(allowed, json_string(avail[k]));
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "", avail[k]);
    }
    api_problem_set(err, 0, API_PROBLEM_NOT_IMPLEMENTED, ptr,
                    "%s is not implemented in this version of nasd yet; available: %s", what, list);
    api_problem_set_allowed(err, allowed);
    return -1;
}

/* The engine's row of a normalized spec: (algorithm, search_space), or
 * for train (train, architecture.space). */
static const space_row *row_of(const json_t *spec)
{
    const char *algorithm = json_string_value(json_object_get(spec, "algorithm"));
    const char *space = json_string_value(json_object_get(spec, "search_space"));
    if (algorithm && !strcmp(algorithm, "train"))
        space = json_string_value(json_object_get(json_object_get(spec, "architecture"), "space"));
    return algorithm && space ? api__spec_find_row(algorithm, space) : NULL;
}

/* Whether this version runs (algorithm, search space, final training) at
 * all: the 501s. Every row of the engine's table runs; an algorithm the
 * API names without a row does not. */
static int runs_here(const json_t *spec, api_problem *err)
{
    const char *algorithm = json_string_value(json_object_get(spec, "algorithm"));
    const json_t *ft = json_object_get(spec, "final_training");
    const space_row *row = row_of(spec), *rows;
    const char *avail[API__SPEC_N_ALGOS + 32];
    char what[96], list[160] = "";
    size_t n = 0, i, nrows;

    for (i = 0; algorithm && i < API__SPEC_N_ALGOS; i++)
        if (!strcmp(api__spec_algo_rows[i].name, algorithm))
            break;
    if (!algorithm || i == API__SPEC_N_ALGOS)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "spec has no known algorithm");
    if (!api__spec_find_row(algorithm, NULL)) {
        for (size_t k = 0; k < API__SPEC_N_ALGOS; k++)
            if (api__spec_find_row(api__spec_algo_rows[k].name, NULL))
                avail[n++] = api__spec_algo_rows[k].name;
        snprintf(what, sizeof what, "algorithm \"%s\"", algorithm);
        return not_implemented("/algorithm", what, avail, n, err);
    }
    if (!row)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                               "spec has no known search_space");
    if (!json_is_true(json_object_get(ft, "enabled")) || row->final_fields)
        return 0;
    /* The spaces with a final training, named once each. */
    rows = api__spec_rows(&nrows);
    for (i = 0; i < nrows; i++) {
        size_t k;
        if (!rows[i].final_fields)
            continue;
        for (k = 0; k < n && strcmp(avail[k], rows[i].space); k++)
            ;
        if (k == n && n < sizeof avail / sizeof avail[0])
            avail[n++] = rows[i].space;
    }
    for (i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 i == 0      ? ""
                 : i + 1 < n ? ", "
                             : " and ",
                 avail[i]);
    return api_problem_set(err, 0, API_PROBLEM_NOT_IMPLEMENTED, "/final_training/enabled",
                           "final_training is not implemented yet for this search "
                           "space (only %s)",
                           list);
}

/* The index of string v among the JSON array text choices, or -1. */
static int choice_index(const char *choices, const json_t *v)
{
    json_t *ch = choices ? json_loads(choices, 0, NULL) : NULL, *c;
    size_t i;
    int idx = -1;
    json_array_foreach(ch, i, c) if (json_equal(c, v))
    {
        idx = (int)i;
        break;
    }
    json_decref(ch);
    return idx;
}

/* One normalized value into the engine's spec at the row's offset. The
 * value was checked by normalization: anything of another type means the
 * spec was not normalized (-1). A nullable row's null is 0, or the value
 * of the field at null_off, which store_object copies after every row. */
static int store(const field *f, const json_t *v, nas_job_spec *out)
{
    char *at = (char *)out + f->off;
    const json_t *e;
    size_t i;

    if (f->off < 0 || f->na)
        return 0;
    if (json_is_null(v) && (f->flags & F_NULLABLE)) {
        if (f->type == T_INT)
            *(int *)(void *)at = 0;
        else if (f->flags & NAS_SPEC_DOUBLE)
            *(double *)(void *)at = 0.0;
        else
            *(float *)(void *)at = 0.0f;
        return 0;
    }
    switch (f->type) {
    case T_INT:
        if (!json_is_integer(v))
            return -1;
        *(int *)(void *)at = (int)json_integer_value(v);
        return 0;
    case T_NUM:
        if (!json_is_number(v))
            return -1;
        if (f->flags & NAS_SPEC_DOUBLE)
            *(double *)(void *)at = json_number_value(v);
        else
            *(float *)(void *)at = (float)json_number_value(v);
        return 0;
    case T_BOOL:
        if (!json_is_boolean(v))
            return -1;
        *(int *)(void *)at = json_is_true(v);
        return 0;
    case T_STR: {
        int idx = json_is_string(v) ? choice_index(f->choices, v) : -1;
        if (idx < 0)
            return -1;
        *(int *)(void *)at = idx;
        return 0;
    }
    case T_INT_LIST:
        if (!json_is_array(v) || json_array_size(v) > (size_t)f->max_items)
            return -1;
        json_array_foreach(v, i, e)
        {
            if (!json_is_integer(e))
                return -1;
            ((int *)(void *)at)[i] = (int)json_integer_value(e);
        }
        *(int *)(void *)((char *)out + f->count_off) = (int)json_array_size(v);
        return 0;
    case T_NUM_LIST:
        if (!json_is_array(v) || json_array_size(v) != (size_t)f->max_items)
            return -1;
        json_array_foreach(v, i, e)
        {
            if (!json_is_number(e))
                return -1;
            ((float *)(void *)at)[i] = (float)json_number_value(e);
        }
        return 0;
    case T_CUSTOM: /* the architecture's genotype: api__spec_arch_to_engine */ return 0;
    }
    return -1;
}

/* Every row of fs that the object holds into out; mask (bit i for row i)
 * limits which rows are read. A key the object lacks takes the row's
 * default (a job stored before the row was added), so adding a row never
 * strands a stored job. Non-zero when a required value is missing. */
static int store_object(const field *fs, unsigned mask, const json_t *obj, nas_job_spec *out)
{
    int bad = 0;
    unsigned i = 0;
    const field *f;
    for (f = fs; f->name; f++, i++) {
        const json_t *v = json_object_get(obj, f->name);
        if (!(mask & (1u << i)) || f->off < 0 || f->na)
            continue;
        if (!v && f->def && json_is_object(obj)) {
            /* A spec stored before the row existed: it ran with the default. */
            json_t *d = json_loads(f->def, JSON_DECODE_ANY, NULL);
            bad |= !d || store(f, d, out);
            json_decref(d);
            continue;
        }
        bad |= !v || store(f, v, out);
    }
    for (f = fs; f->name; f++) /* null taking another field's value */
        if (f->null_off >= 0 && f->off >= 0 &&
            (json_is_null(json_object_get(obj, f->name)) ||
             (!json_object_get(obj, f->name) && f->def && !strcmp(f->def, "null"))))
            *(float *)(void *)((char *)out + f->off) =
                *(const float *)(const void *)((const char *)out + f->null_off);
    return bad;
}

/* hyperparameters.threads asks for fewer threads than the operator's
 * --threads-per-job, never for more: the configured value is the cap, and
 * null takes it. */
static int job_threads(const json_t *hp, int configured)
{
    const json_t *v = json_object_get(hp, "threads");
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) < configured)
        return (int)json_integer_value(v);
    return configured;
}

int api_spec_to_engine(const json_t *spec, const api_spec_paths *paths, int default_threads,
                       nas_job_spec *out, api_problem *err)
{
    const json_t *hp = json_object_get(spec, "hyperparameters"), *v;
    const json_t *ft = json_object_get(spec, "final_training");
    const struct dataset_row *ds;
    const space_row *row;
    int bad = 0;

    memset(out, 0, sizeof *out);
    if (runs_here(spec, err))
        return -1;
    row = row_of(spec);
    out->algorithm = json_string_value(json_object_get(spec, "algorithm"));
    out->dataset = json_string_value(json_object_get(spec, "dataset"));
    ds = out->dataset ? api__spec_dataset_by_name(out->dataset) : NULL;
    if (!ds || !out->algorithm || !row || !json_is_object(hp))
        goto fail;
    if (paths && ds->path >= 0)
        out->data_path = *(const char *const *)((const char *)paths + ds->path);
    if (row->arch) {
        out->arch = row->arch_kind;
        bad |= store_object(row->arch, ~0u, json_object_get(spec, "architecture"), out);
        bad |= api__spec_arch_to_engine(row, json_object_get(spec, "architecture"), out) != 0;
    } else {
        out->search_space = row->space;
    }
    /* nas-rl and random: the engine's defaults under the keys (random's
     * keys are few: the sampled space's child training keeps its nas-rl
     * defaults). */
    if (row->engine_defaults)
        nas_job_spec_defaults(out);
    for (const field *f = row->fixed; f && f->name; f++) {
        json_t *d = json_loads(f->def, JSON_DECODE_ANY, NULL);
        bad |= !d || store(f, d, out);
        json_decref(d);
    }
    bad |= store_object(row->hp, ~0u, hp, out);
    {
        field budget[4];
        char why[160];
        unsigned mask = 0;
        api__spec_budget_fields(row, budget, why, sizeof why);
        for (unsigned i = 0; budget[i].name; i++)
            if (!budget[i].na)
                mask |= 1u << i;
        bad |= store_object(budget, mask, json_object_get(spec, "budget"), out);
    }
    if (json_is_true(json_object_get(ft, "enabled")))
        bad |= store_object(nas_spec_final_fields(), row->final_fields, ft, out);
    v = json_object_get(spec, "seed");
    bad |= !json_is_integer(v);
    out->seed = (uint64_t)json_integer_value(v);
    out->threads = job_threads(hp, default_threads);
    if (!bad)
        return 0;
fail:
    memset(out, 0, sizeof *out);
    return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                           "the stored spec is not a normalized spec the engine runs");
}

/* The JSON pointer of the spec value an engine error names ("momentum:
 * 1 must be in [0, 1)" -> /hyperparameters/momentum). The engine names
 * fields as the API does except for the few below; any other name is
 * looked for in the spec's objects in the order a field is most likely
 * to live there. "" when it names nothing the spec has. */
static void engine_pointer(const json_t *spec, const char *msg, char out[PTR_MAX])
{
    static const struct {
        const char *engine, *ptr;
    } alias[] = {
        {"final_epochs", "/final_training/epochs"},
        {"final_C", "/final_training/C"},
        {"final_layers", "/final_training/layers"},
        {"arch_beta1", "/hyperparameters/arch_betas/0"},
        {"arch_beta2", "/hyperparameters/arch_betas/1"},
        {"dropout_input", "/hyperparameters/dropout_i"},
        {"nblocks", "/architecture/channels"},
        {"channels", "/architecture/channels"},
        {"genotype", "/architecture/genotype"},
    };
    static const char *const objects[] = {"hyperparameters", "architecture", "budget",
                                          "final_training"};
    char name[64];
    size_t n = strcspn(msg, ":.[ ");
    out[0] = '\0';
    if (n == 0 || n >= sizeof name)
        return;
    memcpy(name, msg, n);
    name[n] = '\0';
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(alias[i].engine, name)) {
            snprintf(out, PTR_MAX, "%s", alias[i].ptr);
            return;
        }
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        const json_t *o = json_object_get(spec, objects[i]);
        if (json_is_object(o) && json_object_get(o, name)) {
            char parent[PTR_MAX];
            snprintf(parent, sizeof parent, "/%s", objects[i]);
            api__spec_child_ptr(out, parent, name);
            return;
        }
    }
    const char *top = strcmp(name, "arch") ? name : "architecture";
    if (json_object_get(spec, top))
        api__spec_child_ptr(out, "", top);
}

/* resources.ranks above 1: 501 unless this nasd has the rank program
 * (built with Open MPI) and the job's kind runs data parallel. */
static int ranks_here(const json_t *spec, const nas_job_spec *es, api_problem *err)
{
    json_int_t ranks =
        json_integer_value(json_object_get(json_object_get(spec, "resources"), "ranks"));
    const char *avail[] = {"1"};
    if (ranks <= 1)
        return 0;
#ifndef NASD_HAVE_MPI
    return not_implemented("/resources/ranks",
                           "more than one rank (this nasd was built without Open MPI)", avail, 1,
                           err);
#else
    if (nas_job_distributes(es))
        return 0;
    char what[300];
    snprintf(what, sizeof what, "more than one rank for this job (%s)", nas_errmsg());
    return not_implemented("/resources/ranks", what, avail, 1, err);
#endif
}

int api_spec_implemented(const json_t *spec, api_problem *err)
{
    nas_job_spec es;
    char ptr[PTR_MAX];
    if (api_spec_to_engine(spec, NULL, 1, &es, err) || ranks_here(spec, &es, err))
        return -1;
    if (nas_job_validate(&es) == NAS_OK)
        return 0;
    engine_pointer(spec, nas_errmsg(), ptr);
    return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                           "%s is refused by the engine (%s)", *ptr ? ptr : "the job",
                           nas_errmsg());
}
