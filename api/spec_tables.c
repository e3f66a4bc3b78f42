// SPDX-License-Identifier: MIT
/*
 * spec_tables.c - the API's side of the job-spec tables: the algorithms
 * and datasets it names, the defaults that depend on the dataset, and the
 * queries over the engine's (algorithm, space) rows.
 *
 * The one design decision to know: the fields themselves - name, type,
 * range, default, doc and where each goes in nas_job_spec - are the
 * engine's one table (engine/jobs/spec_table.c, nas_spec_spaces()). The
 * generic walker in spec.c validates any object against a row's fields
 * and writes the defaults, spec_engine.c converts through their offsets,
 * spec_schema.c prints them as JSON Schema and search_spaces.c serves
 * them; a DARTS genotype is a T_CUSTOM row whose type lives in
 * spec_genotype.c. Adding a hyperparameter is adding a row there.
 */
#include "spec_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* The first row is the default algorithm. It is implemented when one of
 * its space rows is. */
const struct algo_row api__spec_algo_rows[] = {
    {"darts", 4}, {"enas", 5}, {"nas-rl", 6}, {"random", 6}, {"train", 3},
};

/* The first dataset of a kind is that kind's default. Keep in step with
 * the engine's nas_datasets(). */
const struct dataset_row api__spec_dataset_rows[] = {
    {"fashion-mnist", "image", offsetof(api_spec_paths, fashion_mnist_dir)},
    {"cifar10", "image", offsetof(api_spec_paths, cifar10_dir)},
    {"synthetic", "image", -1},
    {"fortunes", "text", offsetof(api_spec_paths, fortunes_path)},
    {"ptb", "text", offsetof(api_spec_paths, ptb_dir)},
};

const struct dataset_default api__spec_dataset_defaults[] = {
    {"train", "cifar10", "augment", "true"},
    {"darts", "cifar10", "augment", "true"},
    {"enas", "cifar10", "augment", "true"},
};

#define COUNT_(a) (sizeof a / sizeof a[0])
static_assert(COUNT_(api__spec_algo_rows) == API__SPEC_N_ALGOS, "an algorithm count");
static_assert(COUNT_(api__spec_dataset_rows) == API__SPEC_N_DATASETS, "a dataset count");
static_assert(COUNT_(api__spec_dataset_defaults) == API__SPEC_N_DATASET_DEFAULTS,
              "a dataset default count");

/* ------------------------------------------------------------- queries */

const struct dataset_row *api__spec_dataset_by_name(const char *name)
{
    for (size_t i = 0; i < API__SPEC_N_DATASETS; i++)
        if (!strcmp(api__spec_dataset_rows[i].name, name))
            return &api__spec_dataset_rows[i];
    /* An uploaded dataset (issue #21): the engine's registry knows it;
     * its files are where the import put them (no data_path setting). The
     * strings live as long as the process (user_datasets.c). */
    static _Thread_local struct dataset_row uploaded;
    const nas_dataset_desc *d = nas_dataset_find(name);
    if (!d || !d->uploaded)
        return NULL;
    uploaded = (struct dataset_row){d->name, d->kind, -1};
    return &uploaded;
}

const char *api__spec_default_dataset(const char *kind)
{
    for (size_t i = 0; i < API__SPEC_N_DATASETS; i++)
        if (!strcmp(api__spec_dataset_rows[i].kind, kind))
            return api__spec_dataset_rows[i].name;
    return api__spec_dataset_rows[0].name;
}

json_t *api__spec_datasets_of_kind(const char *kind)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < API__SPEC_N_DATASETS; i++)
        if (!kind || !strcmp(api__spec_dataset_rows[i].kind, kind))
            json_array_append_new(a, json_string(api__spec_dataset_rows[i].name));
    return a;
}

const space_row *api__spec_rows(size_t *n)
{
    int count;
    const space_row *rows = nas_spec_spaces(&count);
    *n = (size_t)count;
    return rows;
}

const space_row *api__spec_find_row(const char *algorithm, const char *space)
{
    return nas_spec_space_find(algorithm, space);
}

const space_row *api__spec_find_row_of_kind(const char *algorithm, const char *kind)
{
    size_t n;
    const space_row *rows = api__spec_rows(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].algorithm, algorithm) && !strcmp(rows[i].data_kind, kind))
            return &rows[i];
    return NULL;
}

/* The names of the spaces of an algorithm (or of every search algorithm
 * when algorithm is NULL, deduplicated); returns their count. */
size_t api__spec_space_names(const char *algorithm, const char **names, size_t cap)
{
    size_t n = 0, nrows;
    const space_row *rows = api__spec_rows(&nrows);
    for (size_t i = 0; i < nrows; i++) {
        const space_row *r = &rows[i];
        size_t j;
        if (algorithm ? strcmp(r->algorithm, algorithm) : !strcmp(r->algorithm, "train"))
            continue;
        for (j = 0; j < n && strcmp(names[j], r->space); j++)
            ;
        if (j == n && n < cap)
            names[n++] = r->space;
    }
    return n;
}

void api__spec_budget_fields(const space_row *row, field out[4], char *why, size_t whylen)
{
    memcpy(out, nas_spec_budget_fields(), 4 * sizeof *out);
    snprintf(why, whylen, "does not apply to algorithm \"%s\"%s", row->algorithm,
             row->max_arch ? "; children train hyperparameters.child_epochs" : "");
    out[0].def = row->epochs;
    out[0].na = row->epochs ? NULL : why;
    out[2].def = row->max_arch;
    out[2].na = row->max_arch ? NULL : why;
}
