// SPDX-License-Identifier: MIT
/*
 * spec_check.c - the engine's readers of the job-spec table: a row's
 * default written into nas_job_spec when the field is still zero, the
 * row of the table a spec runs under, and every row's range checked
 * against the value the spec holds.
 *
 * The one design decision to know: the rows' defaults and ranges are
 * text and numbers in the table (spec_table.c); this file reads them the
 * same way the API does, so the engine and the API cannot disagree on a
 * default or a bound.
 */
#include "jobs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The index of the JSON string def among the JSON array text choices
 * (no comma inside a choice), or -1. */
static int choice_index(const char *choices, const char *def)
{
    const char *at = choices && def ? strstr(choices, def) : NULL;
    int idx = 0;
    if (!at)
        return -1;
    for (const char *c = choices; c < at; c++)
        idx += *c == ',';
    return idx;
}

/* One row's default into s when the field is still zero (SET0). */
static void set_default(nas_job_spec *s, const nas_spec_field *f)
{
    char *at = (char *)s + f->off;
    if (f->off < 0 || f->na || !f->def || strcmp(f->def, "null") == 0)
        return;
    switch (f->type) {
    case NAS_SPEC_INT: SET0(*(int *)(void *)at, (int)strtol(f->def, NULL, 10)); break;
    case NAS_SPEC_NUM:
        if (f->flags & NAS_SPEC_DOUBLE)
            SET0(*(double *)(void *)at, strtod(f->def, NULL));
        else
            SET0(*(float *)(void *)at, (float)strtod(f->def, NULL));
        break;
    case NAS_SPEC_BOOL: SET0(*(int *)(void *)at, strcmp(f->def, "true") == 0); break;
    case NAS_SPEC_STR: SET0(*(int *)(void *)at, choice_index(f->choices, f->def)); break;
    case NAS_SPEC_INT_LIST: {
        int *n = (int *)(void *)((char *)s + f->count_off);
        const char *p = f->def + 1; /* after '[' */
        char *end;
        if (*n)
            break;
        while (*n < f->max_items &&
               (((int *)(void *)at)[*n] = (int)strtol(p, &end, 10), end != p)) {
            (*n)++;
            p = end + strspn(end, ", ");
        }
        break;
    }
    case NAS_SPEC_NUM_LIST: {
        const char *p = f->def + 1;
        char *end;
        for (int i = 0; i < f->max_items; i++, p = end + strspn(end, ", ")) {
            float v = (float)strtod(p, &end);
            SET0(((float *)(void *)at)[i], v);
        }
        break;
    }
    case NAS_SPEC_CUSTOM: /* a genotype is the caller's to give */ break;
    }
}

void nas__spec_defaults(nas_job_spec *s, const nas_spec_space *row)
{
    const nas_spec_field *tabs[3] = {row->hp, row->arch, row->fixed};
    for (int t = 0; t < 3; t++)
        for (const nas_spec_field *f = tabs[t]; f && f->name; f++)
            set_default(s, f);
    if (row->epochs)
        SET0(s->epochs, (int)strtol(row->epochs, NULL, 10));
    if (row->max_arch)
        SET0(s->max_architectures, (int)strtol(row->max_arch, NULL, 10));
}

/* Whether int v is one of the JSON array text choices. */
static int int_choice(const char *choices, int v)
{
    const char *p = choices + 1;
    char *end;
    for (long x = strtol(p, &end, 10); end != p; x = strtol(p, &end, 10)) {
        if (x == v)
            return 1;
        p = end + strspn(end, ", ");
    }
    return 0;
}

static int check_number(const nas_spec_field *f, double v, int integer)
{
    int lo_ok = f->flags & NAS_SPEC_EXCL_MIN ? v > f->min : v >= f->min;
    int hi_ok = f->flags & NAS_SPEC_EXCL_MAX ? v < f->max : v <= f->max;
    if (lo_ok && hi_ok && isfinite(v))
        return NAS_OK;
    if (integer)
        return nas_fail(NAS_EINVAL, "%s: %d is outside [%.17g, %.17g]", f->name, (int)v, f->min,
                        f->max);
    return nas_fail(NAS_EINVAL, "%s: %g must be in %c%.17g, %.17g%c", f->name, v,
                    f->flags & NAS_SPEC_EXCL_MIN ? '(' : '[', f->min, f->max,
                    f->flags & NAS_SPEC_EXCL_MAX ? ')' : ']');
}

/* One row's value in s against its type and range. */
static int check_field(const nas_job_spec *s, const nas_spec_field *f)
{
    const char *at = (const char *)s + f->off;
    switch (f->type) {
    case NAS_SPEC_INT: {
        int v = *(const int *)(const void *)at;
        if (v == 0 && (f->flags & NAS_SPEC_NULLABLE))
            return NAS_OK; /* null */
        if (f->choices)
            return int_choice(f->choices, v)
                       ? NAS_OK
                       : nas_fail(NAS_EINVAL, "%s: %d must be one of %s", f->name, v, f->choices);
        return check_number(f, v, 1);
    }
    case NAS_SPEC_NUM:
        return check_number(f,
                            f->flags & NAS_SPEC_DOUBLE ? *(const double *)(const void *)at
                                                       : (double)*(const float *)(const void *)at,
                            0);
    case NAS_SPEC_BOOL: {
        int v = *(const int *)(const void *)at;
        return v == 0 || v == 1 ? NAS_OK
                                : nas_fail(NAS_EINVAL, "%s: %d must be 0 or 1", f->name, v);
    }
    case NAS_SPEC_INT_LIST: {
        int n = *(const int *)(const void *)((const char *)s + f->count_off);
        if (n < f->min_items || n > f->max_items)
            return nas_fail(NAS_EINVAL, "%s: %d values, allowed %d to %d", f->name, n, f->min_items,
                            f->max_items);
        for (int i = 0; i < n; i++) {
            int v = ((const int *)(const void *)at)[i];
            if (v < f->min || v > f->max)
                return nas_fail(NAS_EINVAL, "%s: value %d is %d, outside [%.17g, %.17g]", f->name,
                                i, v, f->min, f->max);
        }
        return NAS_OK;
    }
    case NAS_SPEC_NUM_LIST:
        for (int i = 0; i < f->max_items; i++) {
            int rc = check_number(f, ((const float *)(const void *)at)[i], 0);
            if (rc < 0)
                return rc;
        }
        return NAS_OK;
    case NAS_SPEC_STR:
    case NAS_SPEC_CUSTOM: /* an index the engine set; a genotype its parser checks */ return NAS_OK;
    }
    return NAS_OK;
}

int nas__spec_check(const nas_job_spec *s, const nas_spec_space *row, const char *const *names)
{
    for (const nas_spec_field *f = row->hp; f->name; f++) {
        int wanted = !names;
        for (const char *const *n = names; n && *n && !wanted; n++)
            wanted = strcmp(*n, f->name) == 0;
        if (!wanted || f->off < 0 || f->na)
            continue;
        int rc = check_field(s, f);
        if (rc < 0)
            return rc;
    }
    return NAS_OK;
}
