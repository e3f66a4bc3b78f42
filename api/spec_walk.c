// SPDX-License-Identifier: MIT
/*
 * spec_walk.c - the generic walker of the job spec: one value checked
 * against its field row (type, range, choices, list rules, a custom
 * type's validator) and normalized, an object against a field table
 * (unknown keys with the nearest known one, every default written), and
 * the problem+json errors they give, each naming the field by its JSON
 * pointer and saying what is allowed.
 *
 * The one design decision to know: the walker knows no field by name;
 * the rows (the engine's job-spec table) say everything, so a new field is
 * a new row. Every mistake of an object is filed (api_problem_push) and
 * the walk goes on, so one answer lists them all.
 */
#include "spec_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* --------------------------------------------------------------- helpers */

int api__spec_oom(api_problem *err)
{
    return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "out of memory");
}

void api__spec_child_ptr(char out[PTR_MAX], const char *parent, const char *key)
{
    size_t n = (size_t)snprintf(out, PTR_MAX, "%s/", parent);
    for (const char *k = key; *k && n + 3 < PTR_MAX; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n < PTR_MAX ? n : PTR_MAX - 1] = '\0';
}

const char *api__spec_json_kind(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "a number", [JSON_REAL] = "a number",  [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",  [JSON_NULL] = "null",
    };
    return v ? names[json_typeof(v)] : "nothing";
}

/* A number as a person writes it: 1024, 0.001, 9007199254740992. */
void api__spec_fmt_num(char *buf, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e17)
        snprintf(buf, n, "%.0f", x);
    else
        snprintf(buf, n, "%.15g", x);
}

static json_t *num_json(const field *f, double x)
{
    int integral = f->type == T_INT || f->type == T_INT_LIST;
    return integral ? json_integer((json_int_t)x) : json_real(x);
}

/* {"minimum": .., "maximum": ..} (exclusive forms as flagged). */
json_t *api__spec_range_json(const field *f)
{
    json_t *r = json_object();
    if (!r)
        return NULL;
    json_object_set_new(r, f->flags & F_EXCL_MIN ? "exclusiveMinimum" : "minimum",
                        num_json(f, f->min));
    if (isfinite(f->max))
        json_object_set_new(r, f->flags & F_EXCL_MAX ? "exclusiveMaximum" : "maximum",
                            num_json(f, f->max));
    return r;
}

/* Adds to a problem's detail (cut short to fit). */
void api__spec_detail_append(api_problem *err, const char *fmt, ...)
{
    size_t n = strlen(err->detail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail + n, sizeof err->detail - n, fmt, ap);
    va_end(ap);
}

static int range_error(const field *f, const char *ptr, api_problem *err)
{
    char lo[32], hi[32];
    api__spec_fmt_num(lo, sizeof lo, f->min);
    api__spec_fmt_num(hi, sizeof hi, f->max);
    if (isfinite(f->max))
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s %s and %s %s", ptr,
                        f->flags & F_EXCL_MIN ? ">" : ">=", lo,
                        f->flags & F_EXCL_MAX ? "<" : "<=", hi);
    else
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s %s", ptr,
                        f->flags & F_EXCL_MIN ? ">" : ">=", lo);
    if ((f->flags & F_EXPLAIN) && f->doc)
        api__spec_detail_append(err, " (%s)", f->doc);
    api_problem_set_allowed(err, api__spec_range_json(f));
    return -1;
}

/* "a", "b", "c" from a JSON array, for details. */
static void list_text(const json_t *arr, char *buf, size_t n)
{
    size_t i, used = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (s && used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", s);
        free(s);
    }
}

/* Takes over `choices`. */
int api__spec_choice_error(json_t *choices, const char *ptr, const json_t *got, api_problem *err)
{
    char list[320], *g = json_dumps(got, JSON_ENCODE_ANY);
    list_text(choices, list, sizeof list);
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be one of %s; got %.64s", ptr,
                    list, g ? g : "?");
    free(g);
    api_problem_set_allowed(err, choices);
    return -1;
}

int api__spec_type_error(const char *ptr, const char *want, const json_t *got, api_problem *err)
{
    return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s, not %s", ptr,
                           want, api__spec_json_kind(got));
}

static const char *type_want(const field *f)
{
    static const char *const want[] = {
        [T_INT] = "an integer",
        [T_NUM] = "a number",
        [T_BOOL] = "a boolean",
        [T_STR] = "a string",
        [T_INT_LIST] = "an array of integers",
        [T_NUM_LIST] = "an array of numbers",
        [T_CUSTOM] = NULL,
    };
    return f->type == T_CUSTOM ? api__spec_custom(f)->want : want[f->type];
}

/* One scalar number against f's type and range; *x gets its value. */
int api__spec_check_number(const field *f, int integer, const json_t *v, const char *ptr, double *x,
                           api_problem *err)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (integer && !f->choices && isfinite(f->max) &&
            (i < (json_int_t)f->min || i > (json_int_t)f->max))
            return range_error(f, ptr, err);
        *x = (double)i;
    } else if (json_is_real(v)) {
        *x = json_real_value(v);
        if (integer && (*x != floor(*x) || fabs(*x) > 9007199254740992.0))
            return api__spec_type_error(ptr, "an integer", v, err);
    } else {
        return api__spec_type_error(ptr, integer ? "an integer" : "a number", v, err);
    }
    if (f->choices)
        return 0;
    if ((f->flags & F_EXCL_MIN ? *x <= f->min : *x < f->min) ||
        (isfinite(f->max) && (f->flags & F_EXCL_MAX ? *x >= f->max : *x > f->max)))
        return range_error(f, ptr, err);
    return 0;
}

/* Validates v (NULL: absent) against f and returns the normalized value
 * in *out (new reference). */
int api__spec_check_value(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err)
{
    double x;

    *out = NULL;
    if (f->na) {
        if (v && !json_is_null(v))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s %s", ptr, f->na);
        return (*out = json_null()) ? 0 : api__spec_oom(err);
    }
    if (!v && !f->def)
        return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s is required", ptr);
    if (!v) {
        /* The default goes through the same checks, so it comes out with
         * the same JSON types as a given value (5 for a number -> 5.0). */
        json_t *def = json_loads(f->def, JSON_DECODE_ANY, NULL);
        int rc;
        if (!def)
            return api__spec_oom(err);
        rc = api__spec_check_value(f, def, ptr, out, err);
        json_decref(def);
        return rc;
    }
    if (json_is_null(v)) {
        if (f->flags & F_NULLABLE)
            return (*out = json_null()) ? 0 : api__spec_oom(err);
        return api__spec_type_error(ptr, type_want(f), v, err);
    }
    switch (f->type) {
    case T_INT:
        if (api__spec_check_number(f, 1, v, ptr, &x, err))
            return -1;
        *out = json_integer((json_int_t)x);
        break;
    case T_NUM:
        if (api__spec_check_number(f, 0, v, ptr, &x, err))
            return -1;
        *out = json_real(x);
        break;
    case T_BOOL:
        if (!json_is_boolean(v))
            return api__spec_type_error(ptr, "a boolean", v, err);
        *out = json_incref((json_t *)v);
        break;
    case T_STR:
        if (!json_is_string(v))
            return api__spec_type_error(ptr, "a string", v, err);
        *out = json_incref((json_t *)v);
        break;
    case T_INT_LIST:
    case T_NUM_LIST: {
        int integer = f->type == T_INT_LIST;
        size_t i, n = json_array_size(v);
        char eptr[PTR_MAX];
        if (!json_is_array(v))
            return api__spec_type_error(ptr, type_want(f), v, err);
        if (n < (size_t)f->min_items || n > (size_t)f->max_items) {
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                            "%s must have %d to %d items, not %zu", ptr, f->min_items, f->max_items,
                            n);
            api_problem_set_allowed(
                err, json_pack("{s:i,s:i}", "minItems", f->min_items, "maxItems", f->max_items));
            return -1;
        }
        if (!(*out = json_array()))
            return api__spec_oom(err);
        for (i = 0; i < n; i++) {
            snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
            if (api__spec_check_number(f, integer, json_array_get(v, i), eptr, &x, err)) {
                json_decref(*out);
                *out = NULL;
                return -1;
            }
            json_array_append_new(*out, integer ? json_integer((json_int_t)x) : json_real(x));
            for (size_t k = 0; (f->flags & F_UNIQUE) && k < i; k++) {
                if (!json_equal(json_array_get(*out, k), json_array_get(*out, i)))
                    continue;
                json_decref(*out);
                *out = NULL;
                return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, eptr,
                                       "%s repeats %s/%zu: each value may appear once", eptr, ptr,
                                       k);
            }
        }
        break;
    }
    case T_CUSTOM:
        if (api__spec_custom(f)->check(f, v, ptr, out, err))
            return -1;
        break;
    }
    if (!*out)
        return api__spec_oom(err);
    if (f->choices) {
        json_t *ch = json_loads(f->choices, JSON_DECODE_ANY, NULL), *c;
        size_t i;
        if (!ch)
            return api__spec_oom(err);
        json_array_foreach(ch, i, c)
        {
            if (json_equal(c, *out)) {
                json_decref(ch);
                return 0;
            }
        }
        json_decref(*out);
        *out = NULL;
        return api__spec_choice_error(ch, ptr, v, err);
    }
    return 0;
}

static const field *find_field(const field *fs, const char *name)
{
    for (; fs->name; fs++)
        if (!strcmp(fs->name, name))
            return fs;
    return NULL;
}

/* The edit distance of a and b: insertions, deletions, substitutions and
 * swaps of two neighbours ("nmae" is one from "name"), counted over
 * their first 64 characters. */
static size_t edits(const char *a, const char *b)
{
    unsigned char d[65][65];
    size_t la = strnlen(a, 64), lb = strnlen(b, 64);
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < v)
                v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v)
                v = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)v;
        }
    return d[la][lb];
}

/* The known key nearest to key, when it is near enough to be what was
 * meant (at most a third of its letters off, and at most 3); or NULL. */
static const char *nearest_key(const char *key, const char *const *keys, size_t nkeys)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, len = strlen(key), cap = len / 3 > 3 ? 3 : len / 3 ? len / 3 : 1;
    for (size_t i = 0; i < nkeys; i++) {
        size_t d = edits(key, keys[i]);
        if (d < best_d) {
            best_d = d;
            best = keys[i];
        }
    }
    return best && best_d <= cap ? best : NULL;
}

int api__spec_unknown_key(const char *const *keys, size_t nkeys, const char *key, const char *ptr,
                          api_problem *err)
{
    json_t *allowed = json_array();
    const char *near = nearest_key(key, keys, nkeys);
    for (size_t i = 0; allowed && i < nkeys; i++)
        json_array_append_new(allowed, json_string(keys[i]));
    if (near)
        api_problem_set(err, 0, API_PROBLEM_UNKNOWN_FIELD, ptr,
                        "%s is not a known field; did you mean \"%s\"?", ptr, near);
    else
        api_problem_set(err, 0, API_PROBLEM_UNKNOWN_FIELD, ptr, "%s is not a known field", ptr);
    api_problem_set_allowed(err, allowed);
    if (near)
        snprintf(err->did_you_mean, sizeof err->did_you_mean, "%s", near);
    return -1;
}

/* Validates object `in` (NULL: absent, all defaults) against the field
 * table fs and writes every field, given or default, into out. */
int api__spec_normalize_object(const field *fs, const json_t *in, const char *ptr, json_t *out,
                               api_problem *err)
{
    char cptr[PTR_MAX];
    const char *key;
    json_t *v;

    int bad = 0;
    if (in && !json_is_object(in)) {
        api__spec_type_error(ptr, "an object", in, err);
        api_problem_push(err);
        return -1;
    }
    /* Every mistake is filed (api_problem_push) and the walk goes on. */
    json_object_foreach((json_t *)in, key, v)
    {
        if (!find_field(fs, key)) {
            const char *names[64];
            size_t n = 0;
            for (const field *f = fs; f->name && n < 64; f++)
                names[n++] = f->name;
            api__spec_child_ptr(cptr, ptr, key);
            api__spec_unknown_key(names, n, key, cptr, err);
            api_problem_push(err);
            bad = 1;
        }
    }
    for (const field *f = fs; f->name; f++) {
        api__spec_child_ptr(cptr, ptr, f->name);
        if (api__spec_check_value(f, in ? json_object_get(in, f->name) : NULL, cptr, &v, err)) {
            if (err->status >= 500)
                return -1;
            api_problem_push(err);
            bad = 1;
            continue;
        }
        if (json_object_set_new(out, f->name, v))
            return api__spec_oom(err);
    }
    return bad ? -1 : 0;
}
