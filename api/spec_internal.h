/*
 * spec_internal.h - what the files of the job spec share: the field and
 * row types of the rule tables, the tables themselves, the queries over
 * them and the generic walker that validates an object against a table.
 *
 * The one design decision to know: the rules are data (spec_tables.c) and
 * everything else reads them through these declarations - the walker and
 * the driver (spec.c), the engine conversion (spec_engine.c), the DARTS
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

#define PTR_MAX 256
#define NO_MAX INFINITY
#define NAME_MAX_CHARS 128

/* ------------------------------------------------------------ the tables */

enum ftype { T_INT, T_NUM, T_BOOL, T_STR, T_INT_LIST, T_NUM_LIST, T_CUSTOM };

enum {
    F_NULLABLE = 1,   /* null is a valid value (and may be the default) */
    F_EXCL_MIN = 2,   /* value > min rather than >= min */
    F_EXCL_MAX = 4,   /* value < max rather than <= max */
    F_UNIQUE = 8,     /* lists: no value twice */
    F_EXPLAIN = 16,   /* a range error quotes the doc: it says why */
};

struct field;

/* A value no scalar or list rule describes (a DARTS genotype, one of its
 * cells): a function validates it and writes the normalized value, and
 * another prints its JSON Schema (without default and description, which
 * come from the field like any other). */
typedef struct custom_type {
    const char *want;   /* for type errors: "an object" */
    int (*check)(const struct field *f, const json_t *v, const char *ptr, json_t **out,
                 api_problem *err);
    json_t *(*schema)(const struct field *f);
} custom_type;

typedef struct field {
    const char *name;
    enum ftype type;
    double min, max;          /* the value, or each element of a list */
    int flags;
    const char *choices;      /* JSON array text of the allowed values, or NULL */
    const char *def;          /* JSON text of the default */
    int min_items, max_items; /* lists */
    const char *doc;
    const char *na;           /* non-NULL: the field does not apply here (why);
                                 it must be null or absent and becomes null */
    const custom_type *custom;   /* T_CUSTOM */
} field;
/* A field whose def is NULL (and that applies) is required. */

#define I_(n, lo, hi, d, doc) {n, T_INT, lo, hi, 0, NULL, d, 0, 0, doc, NULL, NULL}
#define IN_(n, lo, hi, d, doc) {n, T_INT, lo, hi, F_NULLABLE, NULL, d, 0, 0, doc, NULL, NULL}
#define N_(n, lo, hi, d, doc) {n, T_NUM, lo, hi, 0, NULL, d, 0, 0, doc, NULL, NULL}
/* [lo, hi): rates the engine needs below hi (momentum, weight decay). */
#define NX_(n, lo, hi, d, doc) {n, T_NUM, lo, hi, F_EXCL_MAX, NULL, d, 0, 0, doc, NULL, NULL}
#define NP_(n, hi, d, doc) {n, T_NUM, 0, hi, F_EXCL_MIN, NULL, d, 0, 0, doc, NULL, NULL}
#define NNULL_(n, lo, hi, d, doc) {n, T_NUM, lo, hi, F_NULLABLE, NULL, d, 0, 0, doc, NULL, NULL}
#define B_(n, d, doc) {n, T_BOOL, 0, 0, 0, NULL, d, 0, 0, doc, NULL, NULL}
#define CI_(n, ch, d, doc) {n, T_INT, 0, 0, 0, ch, d, 0, 0, doc, NULL, NULL}
#define CS_(n, ch, d, doc) {n, T_STR, 0, 0, 0, ch, d, 0, 0, doc, NULL, NULL}
#define IL_(n, lo, hi, k0, k1, d, doc) {n, T_INT_LIST, lo, hi, 0, NULL, d, k0, k1, doc, NULL, NULL}
#define NL_(n, lo, hi, k, d, doc) {n, T_NUM_LIST, lo, hi, F_EXCL_MAX, NULL, d, k, k, doc, NULL, NULL}
#define THREADS_ IN_("threads", 1, 64, "null", \
                     "engine threads for this job, at most the daemon's --threads-per-job " \
                     "(a larger value is lowered to it); null: --threads-per-job")
#define END_ {NULL, T_INT, 0, 0, 0, NULL, NULL, 0, 0, NULL, NULL, NULL}

typedef struct space_row {
    const char *algorithm;
    const char *space;      /* search_space; for train, architecture.space */
    const char *kind;       /* the data it needs: "image" or "text" */
    const char *epochs;     /* budget.epochs default; NULL: does not apply */
    const char *max_arch;   /* budget.max_architectures default; NULL: n/a */
    const field *hp;
    const field *arch;      /* train only: the architecture's fields */
    int implemented;        /* 0: the API accepts it but answers 501 */
    /* Rules across fields, run on the normalized spec (or NULL). */
    int (*check)(const json_t *spec, api_problem *err);
} space_row;

struct algo_row {
    const char *name;
    int issue;           /* the issue that brings it */
};

struct dataset_row {
    const char *name;
    const char *kind;
    ptrdiff_t path;      /* offset of its path in api_spec_paths; -1: none */
};

/* A default that depends on the dataset, not only on the row. */
struct dataset_default {
    const char *algorithm, *dataset, *key, *value;
};

/* The tables (spec_tables.c) and their lengths, which a static_assert
 * there keeps in step with the tables. */
#define API__SPEC_N_SPACE_ROWS 17
#define API__SPEC_N_ALGOS 5
#define API__SPEC_N_DATASETS 5
#define API__SPEC_N_DATASET_DEFAULTS 1
extern const space_row api__spec_space_rows[];
extern const struct algo_row api__spec_algo_rows[];
extern const struct dataset_row api__spec_dataset_rows[];
extern const struct dataset_default api__spec_dataset_defaults[];
extern const field api__spec_final_training_fields[];

/* ------------------------------------------ queries over the tables */

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

/* ------------------------------------ the walker and its errors (spec.c) */

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
int api__spec_choice_error(json_t *choices, const char *ptr, const json_t *got,
                           api_problem *err);
int api__spec_type_error(const char *ptr, const char *want, const json_t *got,
                         api_problem *err);
/* One scalar number against f's type and range; *x gets its value. */
int api__spec_check_number(const field *f, int integer, const json_t *v, const char *ptr,
                           double *x, api_problem *err);
/* Validates object `in` (NULL: absent, all defaults) against the field
 * table fs and writes every field, given or default, into out. */
int api__spec_normalize_object(const field *fs, const json_t *in, const char *ptr,
                               json_t *out, api_problem *err);

/* ------------------------------------------- darts-cnn (spec_genotype.c) */

/* The T_CUSTOM type of architecture.genotype. */
extern const custom_type api__spec_darts_genotype;
/* The engine's rule: the reduction cells must halve maps with even sides. */
int api__spec_darts_reductions_fit(const json_t *spec, api_problem *err);

/* -------------------------------------------------- schema (spec_schema.c) */

/* {"type": "object", "properties": ..} of a field table, new object. */
json_t *api__spec_object_schema(const field *fs);

#endif
