// SPDX-License-Identifier: MIT
/*
 * spec.c - the job spec of POST /v1/jobs: the normalization driver (the
 * sections of a spec, its name, tags and data_path) and the request hash.
 * The generic walker that validates an object against a field table, and
 * its errors, are spec_walk.c.
 *
 * The one design decision to know: every rule is data (the engine's
 * job-spec table, engine/jobs/spec_table.c);
 * this file holds no per-algorithm code. normalize() picks the space row
 * from algorithm, search_space (or, for train, architecture.space) and the
 * dataset's kind, then runs one generic walker (api__spec_normalize_object)
 * over each section with that row's field tables, which writes every
 * default, and last the row's cross-field check. The same tables give the
 * JSON Schema (spec_schema.c) and the engine's view (spec_engine.c).
 */
#include "spec_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Pairs that must satisfy low <= high within one hyperparameters object. */
static const struct ordered_pair {
    const char *low, *high;
} ordered_pairs[] = {
    {"lr_min", "lr"},
    {"start_layers", "max_layers"},
};

/* Top-level keys, in the order of the normalized spec. */
static const char *const top_keys[] = {
    "algorithm",      "search_space", "dataset", "architecture", "budget",    "hyperparameters",
    "final_training", "resources",    "seed",    "name",         "data_path", "tags",
};
#define N_TOP_KEYS (sizeof top_keys / sizeof top_keys[0])

/* One string among names[0..n); absent or null gives def. *idx: its index. */
static int pick_name(const json_t *v, const char *const *names, size_t n, const char *def,
                     const char *ptr, size_t *idx, api_problem *err)
{
    const char *s = def;
    json_t *choices;

    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return api__spec_type_error(ptr, "a string", v, err);
        s = json_string_value(v);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], s)) {
            *idx = i;
            return 0;
        }
    }
    if (!(choices = json_array()))
        return api__spec_oom(err);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(choices, json_string(names[i]));
    return api__spec_choice_error(choices, ptr, v, err);
}

/* Decodes one UTF-8 code point (Jansson has already checked the encoding). */
static unsigned utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned c = s[0];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    c &= extra ? 0x3Fu >> extra : 0x7Fu;
    for (int i = 1; i <= extra && s[i]; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    *p = s + 1 + extra;
    return c;
}

static int check_name(const json_t *v, json_t **out, api_problem *err)
{
    const unsigned char *p;
    size_t chars = 0;

    if (!json_is_string(v))
        return api__spec_type_error("/name", "a string", v, err);
    p = (const unsigned char *)json_string_value(v);
    while (*p) {
        unsigned c = utf8_next(&p);
        if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/name",
                                   "/name must be printable: control character U+%04X "
                                   "at character %zu",
                                   c, chars + 1);
        chars++;
    }
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/name",
                        "/name must be 1 to %d characters long, not %zu", NAME_MAX_CHARS, chars);
        api_problem_set_allowed(
            err, json_pack("{s:i,s:i}", "minLength", 1, "maxLength", NAME_MAX_CHARS));
        return -1;
    }
    *out = json_incref((json_t *)v);
    return 0;
}

/* The budget's field table for a row: what does not apply must be null. */
static int check_ordered_pairs(const json_t *hp, api_problem *err)
{
    for (size_t i = 0; i < sizeof ordered_pairs / sizeof ordered_pairs[0]; i++) {
        const json_t *lo = json_object_get(hp, ordered_pairs[i].low);
        const json_t *hi = json_object_get(hp, ordered_pairs[i].high);
        char ptr[PTR_MAX], num[32];
        if (!json_is_number(lo) || !json_is_number(hi) ||
            json_number_value(lo) <= json_number_value(hi))
            continue;
        api__spec_child_ptr(ptr, "/hyperparameters", ordered_pairs[i].low);
        api__spec_fmt_num(num, sizeof num, json_number_value(hi));
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be <= %s (%s)", ptr,
                        ordered_pairs[i].high, num);
        api_problem_set_allowed(err, json_pack("{s:O}", "maximum", hi));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- normalize */

/* For train: the architecture space given in the body, or NULL. */
static int train_arch_row(const json_t *arch, const space_row **row, api_problem *err)
{
    const char *trainable[16], *searchable[16];
    size_t nt = api__spec_space_names("train", trainable, 16), ns, idx;
    const json_t *sp;

    *row = NULL;
    if (!arch || json_is_null(arch))
        return 0;
    if (!json_is_object(arch))
        return api__spec_type_error("/architecture", "an object", arch, err);
    sp = json_object_get(arch, "space");
    if (!sp || json_is_null(sp))
        return 0;
    if (json_is_string(sp) && !api__spec_find_row("train", json_string_value(sp))) {
        ns = api__spec_space_names(NULL, searchable, 16);
        for (size_t i = 0; i < ns; i++) {
            if (strcmp(searchable[i], json_string_value(sp)))
                continue;
            json_t *allowed = json_array();
            for (size_t j = 0; allowed && j < nt; j++)
                json_array_append_new(allowed, json_string(trainable[j]));
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture/space",
                            "search space \"%s\" cannot be trained yet", searchable[i]);
            api_problem_set_allowed(err, allowed);
            return -1;
        }
    }
    if (pick_name(sp, trainable, nt, NULL, "/architecture/space", &idx, err))
        return -1;
    *row = api__spec_find_row("train", trainable[idx]);
    return 0;
}

static int kind_mismatch(const space_row *row, const char *dataset, const char *dkind,
                         api_problem *err)
{
    int train = !strcmp(row->algorithm, "train");
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/dataset",
                    "dataset \"%s\" holds %s data but %s \"%s\" needs %s data", dataset, dkind,
                    train ? "architecture" : "search space", row->space, row->data_kind);
    api_problem_set_allowed(err, api__spec_datasets_of_kind(row->data_kind));
    return -1;
}

/* data_path (issue #8): the dataset's files under <state-dir>/datasets,
 * as a relative path without "..". Where it leads (no symlink out) is the
 * daemon's check (api/limits.c), which knows the state directory. */
static int check_data_path(const json_t *v, json_t *out, api_problem *err)
{
    if (!v || json_is_null(v))
        return json_object_set_new(out, "data_path", json_null()) ? api__spec_oom(err) : 0;
    if (!json_is_string(v))
        return api__spec_type_error("/data_path", "a string or null", v, err);
    const char *p = json_string_value(v);
    size_t n = strlen(p);
    if (n == 0 || n > 1024 || p[0] == '/' || strlen(p) != json_string_length(v))
        return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/data_path",
                               "data_path must be a relative path of 1..1024 bytes under the "
                               "state directory's datasets folder");
    for (const char *c = p; *c;) {
        size_t k = strcspn(c, "/");
        if (k == 2 && c[0] == '.' && c[1] == '.')
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/data_path",
                                   "data_path must not contain \"..\": it stays inside the "
                                   "state directory's datasets folder");
        c += k;
        while (*c == '/')
            c++;
    }
    return json_object_set(out, "data_path", (json_t *)v) ? api__spec_oom(err) : 0;
}

/* tags: up to API_SPEC_MAX_TAGS distinct labels of 1..64 characters of
 * [A-Za-z0-9._:-] (GET /v1/jobs?tag= finds the jobs that carry one);
 * default []. */
static int check_tags(const json_t *v, json_t *out, api_problem *err)
{
    char ptr[32];
    size_t i, k;
    json_t *t;
    if (!v || json_is_null(v))
        return json_object_set_new(out, "tags", json_array()) ? api__spec_oom(err) : 0;
    if (!json_is_array(v))
        return api__spec_type_error("/tags", "an array of strings", v, err);
    if (json_array_size(v) > API_SPEC_MAX_TAGS) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/tags",
                        "/tags holds at most %d tags, not %zu", API_SPEC_MAX_TAGS,
                        json_array_size(v));
        api_problem_set_allowed(err, json_pack("{s:i}", "maxItems", API_SPEC_MAX_TAGS));
        return -1;
    }
    json_array_foreach(v, i, t)
    {
        snprintf(ptr, sizeof ptr, "/tags/%zu", i);
        if (!json_is_string(t))
            return api__spec_type_error(ptr, "a string", t, err);
        const char *s = json_string_value(t);
        size_t n = json_string_length(t);
        if (n < 1 || n > 64 || strspn(s, API_SPEC_TAG_CHARS) != n) {
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                            "%s must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : -, "
                            "got \"%.64s\"",
                            ptr, s);
            api_problem_set_allowed(err, json_pack("{s:s}", "pattern", API_SPEC_TAG_PATTERN));
            return -1;
        }
        for (k = 0; k < i; k++)
            if (json_equal(t, json_array_get(v, k)))
                return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                                       "%s: tag \"%s\" is given twice (at /tags/%zu too)", ptr, s,
                                       k);
    }
    return json_object_set(out, "tags", (json_t *)v) ? api__spec_oom(err) : 0;
}

static int normalize(const json_t *in, uint64_t default_seed, json_t *out, api_problem *err)
{
    const char *names[32], *algorithm, *dataset;
    const struct dataset_row *ds;
    const space_row *row = NULL;
    size_t n, idx;
    const char *key;
    json_t *v, *sub;
    char why[160], seed_def[32], cptr[PTR_MAX];
    field budget[4];
    int train;

    int bad = 0;
/* Every mistake of the spec at once (issue #15): a check that fails files
 * its problem and the walk goes on; one whose failure leaves nothing to
 * check further (the algorithm, the space, the dataset) ends it. */
#define FILED(call)                                                                                \
    do {                                                                                           \
        if (call) {                                                                                \
            if (err->status >= 500)                                                                \
                return -1;                                                                         \
            api_problem_push(err);                                                                 \
            bad = 1;                                                                               \
        }                                                                                          \
    } while (0)
/* The walker files its own problems. */
#define WALKED(call)                                                                               \
    do {                                                                                           \
        if (call) {                                                                                \
            if (err->status >= 500)                                                                \
                return -1;                                                                         \
            bad = 1;                                                                               \
        }                                                                                          \
    } while (0)

    json_object_foreach((json_t *)in, key, v)
    {
        for (idx = 0; idx < N_TOP_KEYS && strcmp(top_keys[idx], key); idx++)
            ;
        if (idx == N_TOP_KEYS) {
            api__spec_child_ptr(cptr, "", key);
            FILED(api__spec_unknown_key(top_keys, N_TOP_KEYS, key, cptr, err));
        }
    }

    for (n = 0; n < API__SPEC_N_ALGOS; n++)
        names[n] = api__spec_algo_rows[n].name;
    if (pick_name(json_object_get(in, "algorithm"), names, n, names[0], "/algorithm", &idx, err))
        return -1;
    algorithm = api__spec_algo_rows[idx].name;
    train = !strcmp(algorithm, "train");

    if (train) {
        v = json_object_get(in, "search_space");
        if (v && !json_is_null(v)) {
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/search_space",
                            "algorithm \"train\" takes no search_space; "
                            "give the network in /architecture");
            api_problem_set_allowed(err, json_pack("[n]"));
            return -1;
        }
        if (train_arch_row(json_object_get(in, "architecture"), &row, err))
            return -1;
    } else {
        v = json_object_get(in, "architecture");
        if (v && !json_is_null(v))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture",
                                   "architecture applies only to algorithm \"train\"; "
                                   "\"%s\" searches for one",
                                   algorithm);
        n = api__spec_space_names(algorithm, names, 32);
        if (pick_name(json_object_get(in, "search_space"), names, n, names[0], "/search_space",
                      &idx, err))
            return -1;
        row = api__spec_find_row(algorithm, names[idx]);
    }

    for (n = 0; n < API__SPEC_N_DATASETS; n++)
        names[n] = api__spec_dataset_rows[n].name;
    v = json_object_get(in, "dataset");
    /* An uploaded dataset's name (issue #21), else one of the table's. */
    ds = json_is_string(v) ? api__spec_dataset_by_name(json_string_value(v)) : NULL;
    if (!ds) {
        if (pick_name(
                v, names, n,
                api__spec_default_dataset(row ? row->data_kind : api__spec_dataset_rows[0].kind),
                "/dataset", &idx, err))
            return -1;
        ds = &api__spec_dataset_rows[idx];
    }
    dataset = ds->name;
    if (!row)
        row = api__spec_find_row_of_kind("train", ds->kind);
    if (!row)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "no row for %s", dataset);
    if (strcmp(row->data_kind, ds->kind))
        return kind_mismatch(row, dataset, ds->kind, err);

    if (json_object_set_new(out, "algorithm", json_string(algorithm)) ||
        json_object_set_new(out, "search_space", train ? json_null() : json_string(row->space)) ||
        json_object_set_new(out, "dataset", json_string(dataset)))
        return api__spec_oom(err);

    if (train) {
        if (!(sub = json_object()))
            return api__spec_oom(err);
        json_object_set_new(out, "architecture", sub);
        json_t *arch = api__spec_arch_fold(row, json_object_get(in, "architecture"));
        int rc = api__spec_normalize_object(row->arch, arch, "/architecture", sub, err);
        json_decref(arch);
        WALKED(rc);
    } else if (json_object_set_new(out, "architecture", json_null())) {
        return api__spec_oom(err);
    }

    api__spec_budget_fields(row, budget, why, sizeof why);
    if (!(sub = json_object()))
        return api__spec_oom(err);
    json_object_set_new(out, "budget", sub);
    v = json_object_get(in, "budget");
    WALKED(api__spec_normalize_object(budget, json_is_null(v) ? NULL : v, "/budget", sub, err));

    if (!(sub = json_object()))
        return api__spec_oom(err);
    json_object_set_new(out, "hyperparameters", sub);
    v = json_object_get(in, "hyperparameters");
    int hp_bad = api__spec_normalize_object(row->hp, json_is_null(v) ? NULL : v, "/hyperparameters",
                                            sub, err) != 0;
    WALKED(hp_bad);
    for (size_t i = 0; i < API__SPEC_N_DATASET_DEFAULTS; i++) {
        const struct dataset_default *d = &api__spec_dataset_defaults[i];
        /* Only where the row has the field (train on a nasrl-cnn
         * architecture has no augment) and the user did not set it. */
        if (strcmp(d->algorithm, algorithm) || strcmp(d->dataset, dataset) ||
            json_object_get(v, d->key) || !json_object_get(sub, d->key))
            continue;
        if (json_object_set_new(sub, d->key, json_loads(d->value, JSON_DECODE_ANY, NULL)))
            return api__spec_oom(err);
    }
    /* The rules across fields read valid values only. */
    if (!bad) {
        FILED(check_ordered_pairs(sub, err));
        /* The one rule across fields: a darts-cnn network's reductions. */
        if (!bad && row->arch_kind == NAS_ARCH_DARTS_CNN)
            FILED(api__spec_darts_reductions_fit(out, err));
    }

    v = json_object_get(in, "final_training");
    if (train) {
        if (v && !json_is_null(v))
            FILED(api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/final_training",
                                  "final_training does not apply to algorithm \"train\"; "
                                  "it is the final training"));
        json_object_set_new(out, "final_training", json_null());
    } else {
        if (!(sub = json_object()))
            return api__spec_oom(err);
        json_object_set_new(out, "final_training", sub);
        WALKED(api__spec_normalize_object(nas_spec_final_fields(), json_is_null(v) ? NULL : v,
                                          "/final_training", sub, err));
        /* A null the space reads takes the space's reference value. */
        const field *ff = nas_spec_final_fields();
        for (unsigned i = 0; ff[i].name; i++) {
            const char *d = nas_spec_final_default(row->space, ff[i].name);
            json_t *dv;
            if (!d || !(row->final_fields & (1u << i)) ||
                !json_is_null(json_object_get(sub, ff[i].name)))
                continue;
            if (!(dv = json_loads(d, JSON_DECODE_ANY, NULL)) ||
                json_object_set_new(sub, ff[i].name, dv))
                return api__spec_oom(err);
        }
    }

    if (!(sub = json_object()))
        return api__spec_oom(err);
    json_object_set_new(out, "resources", sub);
    v = json_object_get(in, "resources");
    WALKED(api__spec_normalize_object(nas_spec_resources_fields(), json_is_null(v) ? NULL : v,
                                      "/resources", sub, err));

    snprintf(seed_def, sizeof seed_def, "%llu",
             (unsigned long long)(default_seed & (API_SPEC_SEED_MAX - 1)));
    {
        const field seed = I_("seed", 0, (double)API_SPEC_SEED_MAX, seed_def, NULL);
        int seed_bad =
            api__spec_check_value(&seed, json_object_get(in, "seed"), "/seed", &v, err) != 0;
        FILED(seed_bad);
        if (!seed_bad && json_object_set_new(out, "seed", v))
            return api__spec_oom(err);
    }

    v = json_object_get(in, "name");
    if (v && !json_is_null(v)) {
        int name_bad = check_name(v, &v, err) != 0;
        FILED(name_bad);
        if (name_bad)
            v = NULL;
    } else {
        char name[64];
        snprintf(name, sizeof name, "%s-%s", algorithm, dataset);
        v = json_string(name);
    }
    if (v && json_object_set_new(out, "name", v))
        return api__spec_oom(err);
    FILED(check_data_path(json_object_get(in, "data_path"), out, err));
    FILED(check_tags(json_object_get(in, "tags"), out, err));
    return bad ? -1 : 0;
#undef WALKED
#undef FILED
}

int api_spec_normalize(const char *body, size_t len, uint64_t default_seed, json_t **spec_out,
                       api_problem *err)
{
    json_error_t je;
    json_t *in, *out;

    *spec_out = NULL;
    in = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!in) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return api__spec_oom(err);
        api_problem_set(err, 0, API_PROBLEM_INVALID_JSON, NULL,
                        "invalid JSON at line %d, column %d: %s", je.line > 0 ? je.line : 1,
                        je.column > 0 ? je.column : 1, je.text);
        err->line = je.line > 0 ? je.line : 1;
        err->column = je.column > 0 ? je.column : 1;
        return -1;
    }
    if (!json_is_object(in)) {
        api_problem_set(err, 0, API_PROBLEM_BAD_REQUEST, NULL,
                        "the job spec must be a JSON object, not %s", api__spec_json_kind(in));
        json_decref(in);
        return -1;
    }
    if (!(out = json_object())) {
        json_decref(in);
        return api__spec_oom(err);
    }
    if (normalize(in, default_seed, out, err)) {
        json_decref(in);
        json_decref(out);
        if (err->status >= 500)
            return -1;
        /* One problem that lists them all, in the order found. */
        if (!err->filed)
            api_problem_push(err);
        return api_problem_finish(err);
    }
    json_decref(in);
    *spec_out = out;
    return 0;
}

/* ------------------------------------------------------------------ hash */

/* (hi, lo) *= the FNV-128 prime 2^88 + 0x13b, modulo 2^128. */
static void fnv128_mul(uint64_t *hi, uint64_t *lo)
{
    uint64_t l = *lo, h = *hi;
    uint64_t ll = (l & 0xffffffffu) * 0x13bu, lh = (l >> 32) * 0x13bu;
    uint64_t low = ll + (lh << 32);
    uint64_t carry = (lh >> 32) + (low < ll);

    *lo = low;
    *hi = h * 0x13bu + carry + (l << 24); /* l * 2^88 lands in hi shifted by 24 */
}

void api_spec_hash(const char *body, size_t len, char out[API_SPEC_HASH_SIZE])
{
    uint64_t hi = 0x6c62272e07bb0142ull, lo = 0x62b821756295c58dull;

    for (size_t i = 0; i < len; i++) {
        lo ^= (unsigned char)body[i];
        fnv128_mul(&hi, &lo);
    }
    snprintf(out, API_SPEC_HASH_SIZE, "%016llx%016llx", (unsigned long long)hi,
             (unsigned long long)lo);
}
