// SPDX-License-Identifier: MIT
/*
 * problem.c - RFC 9457 problem details: the kind table and the JSON body.
 *
 * The one design decision to know: kind -> (slug, status, title) lives in
 * one table kept in step with the enum by a static_assert, so adding a kind
 * without its row (or a row without its kind) does not compile.
 */
#include "problem.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct problem_row {
    const char *slug;
    int status;
    const char *title;
} problem_rows[] = {
    [API_PROBLEM_INVALID_JSON] = {"invalid-json", 400, "Request body is not valid JSON"},
    [API_PROBLEM_INVALID_FIELD] = {"invalid-field", 400, "Invalid field value"},
    [API_PROBLEM_UNKNOWN_FIELD] = {"unknown-field", 400, "Unknown field"},
    [API_PROBLEM_BODY_TOO_LARGE] = {"body-too-large", 413, "Request body too large"},
    [API_PROBLEM_NOT_FOUND] = {"not-found", 404, "Not found"},
    [API_PROBLEM_METHOD_NOT_ALLOWED] = {"method-not-allowed", 405, "Method not allowed"},
    [API_PROBLEM_IDEMPOTENCY_CONFLICT] = {"idempotency-conflict", 422,
                                          "Idempotency key reused with a different request"},
    [API_PROBLEM_NOT_IMPLEMENTED] = {"not-implemented", 501, "Not implemented"},
    [API_PROBLEM_CONFLICT] = {"conflict", 409, "Conflict with the current state"},
    [API_PROBLEM_TOO_MANY_STREAMS] = {"too-many-streams", 429, "Too many event streams"},
    [API_PROBLEM_BAD_REQUEST] = {"bad-request", 400, "Bad request"},
    [API_PROBLEM_INTERNAL] = {"internal", 500, "Internal server error"},
    [API_PROBLEM_UNAUTHORIZED] = {"unauthorized", 401, "Authentication required"},
    [API_PROBLEM_LIMIT_EXCEEDED] = {"limit-exceeded", 400, "Over a configured limit"},
    [API_PROBLEM_FORBIDDEN] = {"forbidden-origin", 403, "Request from another site"},
    [API_PROBLEM_MISDIRECTED] = {"misdirected-request", 421, "Host is not this server"},
    [API_PROBLEM_UNSUPPORTED_MEDIA_TYPE] = {"unsupported-media-type", 415,
                                            "Unsupported Content-Type"},
    [API_PROBLEM_CANNOT_DRAW] = {"cannot-draw", 422, "Architecture cannot be drawn"},
};

static_assert(sizeof problem_rows / sizeof problem_rows[0] == API_PROBLEM_COUNT_,
              "problem_rows must have one row per api_problem_kind");

/* snprintf may cut a multi-byte UTF-8 sequence in half (a user's key in a
 * detail); drop the partial sequence so the body stays valid JSON text. */
static void trim_partial_utf8(char *s)
{
    size_t n = strlen(s), i = n, need;
    unsigned char lead;

    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    lead = (unsigned char)s[i - 1];
    if (lead < 0x80)
        return;
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

static const struct problem_row *row_of(api_problem_kind kind)
{
    if ((unsigned)kind >= API_PROBLEM_COUNT_)
        kind = API_PROBLEM_INTERNAL;
    return &problem_rows[kind];
}

int api_problem_vset(api_problem *p, int status, api_problem_kind kind, const char *pointer,
                     const char *fmt, va_list ap)
{
    const struct problem_row *r = row_of(kind);
    json_t *errors = p->errors;

    p->errors = NULL;
    api_problem_clear(p);
    p->errors = errors;
    p->status = status ? status : r->status;
    p->type = r->slug;
    snprintf(p->title, sizeof p->title, "%s", r->title);
    snprintf(p->pointer, sizeof p->pointer, "%s", pointer ? pointer : "");
    vsnprintf(p->detail, sizeof p->detail, fmt, ap);
    trim_partial_utf8(p->pointer);
    trim_partial_utf8(p->detail);
    return -1;
}

int api_problem_set(api_problem *p, int status, api_problem_kind kind, const char *pointer,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_problem_vset(p, status, kind, pointer, fmt, ap);
    va_end(ap);
    return -1;
}

void api_problem_set_allowed(api_problem *p, json_t *allowed)
{
    json_decref(p->allowed);
    p->allowed = allowed;
}

/* s as a JSON string, with every byte that is not part of a valid UTF-8
 * sequence replaced by '?'. json_string refuses invalid UTF-8, and a
 * detail may quote raw request bytes (Jansson's "invalid escape near
 * '...'") or be cut inside a character by its buffer; without this the
 * problem body would be NULL and the error answered with an empty body. */
static json_t *utf8_string(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (u[i + k] & 0xc0) == 0x80;
        /* Overlong, surrogate and beyond-U+10FFFF forms. */
        if (ok && len == 3)
            ok = !(c == 0xe0 && u[i + 1] < 0xa0) && !(c == 0xed && u[i + 1] >= 0xa0);
        if (ok && len == 4)
            ok = !(c == 0xf0 && u[i + 1] < 0x90) && !(c == 0xf4 && u[i + 1] >= 0x90);
        if (ok) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            out[o++] = '?';
            i++;
        }
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

json_t *api_problem_json(const api_problem *p)
{
    char type[96];
    json_t *o = json_object();

    if (!o)
        return NULL;
    snprintf(type, sizeof type, "%s%s", API_PROBLEM_TYPE_PREFIX,
             p->type ? p->type : row_of(API_PROBLEM_INTERNAL)->slug);
    if (json_object_set_new(o, "type", json_string(type)) ||
        json_object_set_new(o, "title", utf8_string(p->title)) ||
        json_object_set_new(o, "status", json_integer(p->status ? p->status : 500)) ||
        json_object_set_new(o, "detail", utf8_string(p->detail)))
        goto fail;
    if (p->pointer[0] && json_object_set_new(o, "pointer", utf8_string(p->pointer)))
        goto fail;
    if (p->allowed && json_object_set(o, "allowed", p->allowed))
        goto fail;
    if (p->line > 0 && (json_object_set_new(o, "line", json_integer(p->line)) ||
                        json_object_set_new(o, "column", json_integer(p->column))))
        goto fail;
    if (p->did_you_mean[0] && json_object_set_new(o, "did_you_mean", utf8_string(p->did_you_mean)))
        goto fail;
    if (p->errors && json_object_set(o, "errors", p->errors))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

void api_problem_clear(api_problem *p)
{
    json_decref(p->allowed);
    json_decref(p->errors);
    memset(p, 0, sizeof *p);
}

void api_problem_push(api_problem *p)
{
    char type[96];
    if (!p->status || p->status >= 500)
        return;
    if (!p->errors)
        p->errors = json_array();
    json_t *e = json_object();
    snprintf(type, sizeof type, "%s%s", API_PROBLEM_TYPE_PREFIX, p->type ? p->type : "");
    if (!p->errors || !e || json_object_set_new(e, "type", json_string(type)) ||
        json_object_set_new(e, "pointer", utf8_string(p->pointer)) ||
        json_object_set_new(e, "detail", utf8_string(p->detail)) ||
        (p->allowed && json_object_set(e, "allowed", p->allowed)) ||
        (p->did_you_mean[0] &&
         json_object_set_new(e, "did_you_mean", utf8_string(p->did_you_mean))) ||
        json_array_append_new(p->errors, e)) {
        json_decref(e);
        return;
    }
    p->filed = 1;
}

size_t api_problem_pushed(const api_problem *p)
{
    return json_array_size(p->errors);
}

int api_problem_finish(api_problem *p)
{
    size_t n = json_array_size(p->errors);
    if (n == 0)
        return 0;
    json_t *errors = json_incref(p->errors), *first = json_array_get(errors, 0);
    const char *type = json_string_value(json_object_get(first, "type"));
    api_problem_kind kind = API_PROBLEM_INVALID_FIELD;
    for (int k = 0; type && k < API_PROBLEM_COUNT_; k++)
        if (!strcmp(type + strlen(API_PROBLEM_TYPE_PREFIX), problem_rows[k].slug))
            kind = (api_problem_kind)k;
    char tail[64] = "";
    if (n > 1)
        snprintf(tail, sizeof tail, " (and %zu more: see errors)", n - 1);
    json_decref(p->errors);
    p->errors = NULL;
    api_problem_set(p, 0, kind, json_string_value(json_object_get(first, "pointer")), "%s%s",
                    json_string_value(json_object_get(first, "detail")), tail);
    json_t *allowed = json_object_get(first, "allowed");
    if (allowed)
        api_problem_set_allowed(p, json_incref(allowed));
    const char *dym = json_string_value(json_object_get(first, "did_you_mean"));
    if (dym)
        snprintf(p->did_you_mean, sizeof p->did_you_mean, "%s", dym);
    p->errors = errors;
    return -1;
}
