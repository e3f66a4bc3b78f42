// SPDX-License-Identifier: MIT
/*
 * spec_internal.h - what the files of the job spec share: the field and
 * row types of the rule tables, the tables themselves, the queries over
 * them and the generic walker that validates an object against a table.
 *
 * The one design decision to know: the rules are data (the engine's
 * job-spec table, engine/jobs/spec_table.c, with spec_tables.c's few) and
 * everything else reads them through these declarations - the walker and
 * the driver (spec.c, spec_walk.c), the engine conversion (spec_engine.c), the DARTS
 * genotype type (spec_genotype.c) and the JSON Schema printer
 * (spec_schema.c) - so validation and schema cannot drift apart. Not for
 * use outside api/spec*.c; shared symbols are prefixed api__spec_.
 */
#ifndef API_SPEC_INTERNAL_H
#define API_SPEC_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include <jansson.h>

#include "problem.h"
#include "spec.h"

#include "nas.h"

#define PTR_MAX 256
#define NO_MAX INFINITY
#define NAME_MAX_CHARS 128

/* ------------------------------------------------------------ the tables */

/* A field and a (algorithm, space) row are the engine's (nas.h,
 * engine/jobs/spec_table.c): the one table of the job spec. The API adds
 * the walker, the errors and the schema printer over them, and its own
 * few tables below (genotype cells, the seed). */
typedef nas_spec_field field;
typedef nas_spec_space space_row;

#define T_INT NAS_SPEC_INT
#define T_NUM NAS_SPEC_NUM
#define T_BOOL NAS_SPEC_BOOL
#define T_STR NAS_SPEC_STR
#define T_INT_LIST NAS_SPEC_INT_LIST
#define T_NUM_LIST NAS_SPEC_NUM_LIST
#define T_CUSTOM NAS_SPEC_CUSTOM

#define F_NULLABLE NAS_SPEC_NULLABLE
#define F_EXCL_MIN NAS_SPEC_EXCL_MIN
#define F_EXCL_MAX NAS_SPEC_EXCL_MAX
#define F_UNIQUE NAS_SPEC_UNIQUE
#define F_EXPLAIN NAS_SPEC_EXPLAIN

/* A value no scalar or list rule describes (a DARTS genotype, one of its
 * cells): a function validates it and writes the normalized value, and
 * another prints its JSON Schema (without default and description, which
 * come from the field like any other). The engine's NAS_SPEC_CUSTOM rows
 * leave `custom` NULL: theirs is the DARTS genotype (api__spec_custom). */
typedef struct nas_spec_custom {
    const char *want; /* for type errors: "an object" */
    int (*check)(const field *f, const json_t *v, const char *ptr, json_t **out, api_problem *err);
    json_t *(*schema)(const field *f);
} custom_type;

/* The API's own rows: not stored through an offset. */
#define I_(n, lo, hi, d, doc_)                                                                     \
    {                                                                                              \
        .name = n, .type = T_INT, .min = lo, .max = hi, .def = d, .doc = doc_, .off = -1,          \
        .count_off = -1, .null_off = -1                                                            \
    }
#define END_                                                                                       \
    {                                                                                              \
        .name = NULL                                                                               \
    }

struct algo_row {
    const char *name;
    int issue; /* the issue that brings it */
};

struct dataset_row {
    const char *name;
    const char *kind;
    ptrdiff_t path; /* offset of its path in api_spec_paths; -1: none */
};

/* A default that depends on the dataset, not only on the row. */
struct dataset_default {
    const char *algorithm, *dataset, *key, *value;
};

/* The API's tables (spec_tables.c) and their lengths, which a
 * static_assert there keeps in step with the tables. */
#define API__SPEC_N_ALGOS 5
#define API__SPEC_N_DATASETS 5
#define API__SPEC_N_DATASET_DEFAULTS 3
extern const struct algo_row api__spec_algo_rows[];
extern const struct dataset_row api__spec_dataset_rows[];
extern const struct dataset_default api__spec_dataset_defaults[];

/* ------------------------------------------ queries over the tables */

/* The engine's (algorithm, space) rows, *n of them. */
const space_row *api__spec_rows(size_t *n);
/* The custom type of a T_CUSTOM field. */
const custom_type *api__spec_custom(const field *f);
const struct dataset_row *api__spec_dataset_by_name(const char *name);
/* The first dataset of a kind. */
const char *api__spec_default_dataset(const char *kind);
/* The names of the datasets of a kind (all when kind is NULL), new array. */
json_t *api__spec_datasets_of_kind(const char *kind);
/* The row of (algorithm, space), or the algorithm's first when space is NULL. */
const space_row *api__spec_find_row(const char *algorithm, const char *space);
const space_row *api__spec_find_row_of_kind(const char *algorithm, const char *kind);
/* The names of the spaces of an algorithm (or of every search algorithm
 * when algorithm is NULL, deduplicated); returns their count. */
size_t api__spec_space_names(const char *algorithm, const char **names, size_t cap);
/* The budget's field table for a row: what does not apply must be null.
 * out[] points into why, which must outlive it. */
void api__spec_budget_fields(const space_row *row, field out[4], char *why, size_t whylen);

/* ------------------------------- the walker and its errors (spec_walk.c) */

int api__spec_oom(api_problem *err);
/* parent + "/" + key, with key escaped as a JSON pointer token. */
void api__spec_child_ptr(char out[PTR_MAX], const char *parent, const char *key);
/* "an object", "a number", ... for errors. */
const char *api__spec_json_kind(const json_t *v);
/* {"minimum": .., "maximum": ..} (exclusive forms as flagged), new object. */
json_t *api__spec_range_json(const field *f);
/* Adds to a problem's detail (cut short to fit). */
void api__spec_detail_append(api_problem *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes over `choices`. Returns -1. */
int api__spec_choice_error(json_t *choices, const char *ptr, const json_t *got, api_problem *err);
int api__spec_type_error(const char *ptr, const char *want, const json_t *got, api_problem *err);
/* One scalar number against f's type and range; *x gets its value. */
int api__spec_check_number(const field *f, int integer, const json_t *v, const char *ptr, double *x,
                           api_problem *err);
/* A number as a person writes it: 1024, 0.001, 9007199254740992. */
void api__spec_fmt_num(char *buf, size_t n, double x);
/* Validates v (NULL: absent) against f and returns the normalized value
 * in *out (new reference). */
int api__spec_check_value(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err);
/* 400 unknown-field at ptr, "allowed" the keys, did_you_mean the nearest. */
int api__spec_unknown_key(const char *const *keys, size_t nkeys, const char *key, const char *ptr,
                          api_problem *err);
/* Validates object `in` (NULL: absent, all defaults) against the field
 * table fs and writes every field, given or default, into out. */
int api__spec_normalize_object(const field *fs, const json_t *in, const char *ptr, json_t *out,
                               api_problem *err);

/* ------------------------------------------- darts-cnn (spec_genotype.c) */

/* The T_CUSTOM types of architecture.genotype (darts-cnn, darts-rnn). */
extern const custom_type api__spec_darts_genotype;
extern const custom_type api__spec_darts_rnn_genotype;
/* A normalized darts-cnn or darts-rnn genotype (space names which) into
 * the engine's typed cells (out->darts_cnn, out->darts_rnn); -1 when it
 * is not a normalized genotype. */
int api__spec_darts_to_engine(const char *space, const json_t *g, nas_job_spec *out);
/* The engine's rule: the reduction cells must halve maps with even sides. */
int api__spec_darts_reductions_fit(const json_t *spec, api_problem *err);

/* ---------------------------------------- train architectures (spec_arch.c) */

/* For train: an architecture as a search serves it (its cell's or arc's
 * keys beside "space" and the size keys) with those keys gathered under
 * "genotype"; the architecture itself when it has "genotype" already or
 * the row has none. New reference; NULL when out of memory. */
json_t *api__spec_arch_fold(const space_row *row, const json_t *arch);
/* The normalized architecture's genotype into the engine's spec (a DARTS
 * genotype's typed cells, or an ENAS or NAS-RL arc's fixed-arc ints with
 * the search_space, nodes or layers it fixes); -1 when it is not a
 * normalized genotype. */
int api__spec_arch_to_engine(const space_row *row, const json_t *arch, nas_job_spec *out);

/* -------------------------------------------------- schema (spec_schema.c) */

/* {"type": "object", "properties": ..} of a field table, new object. */
json_t *api__spec_object_schema(const field *fs);

#endif
