// SPDX-License-Identifier: MIT
/*
 * problem.h - RFC 9457 problem details: the one shape of every error body
 * nasd sends (Content-Type: application/problem+json).
 *
 * The one design decision to know: handlers never pick a status or a title
 * by hand. They name a problem kind; one table in problem.c maps each kind
 * to its slug (the "type" URI is urn:nasd:problem:<slug>), its default HTTP
 * status and its title. A handler adds only what is specific to the
 * request: the detail sentence, the JSON pointer of the offending field,
 * what would have been allowed, and for unparsable JSON, where it broke.
 *
 * Ownership: an api_problem owns `allowed`; api_problem_clear releases it
 * and may be called on a zeroed or already cleared problem.
 */
#ifndef API_PROBLEM_H
#define API_PROBLEM_H

#include <stdarg.h>

#include <jansson.h>

#define API_PROBLEM_CONTENT_TYPE "application/problem+json"
#define API_PROBLEM_TYPE_PREFIX "urn:nasd:problem:"

typedef enum api_problem_kind {
    API_PROBLEM_INVALID_JSON,           /* 400: the body does not parse */
    API_PROBLEM_INVALID_FIELD,          /* 400: wrong type, out of range, bad value */
    API_PROBLEM_UNKNOWN_FIELD,          /* 400: a key the spec does not have */
    API_PROBLEM_BODY_TOO_LARGE,         /* 413 */
    API_PROBLEM_NOT_FOUND,              /* 404: unknown job or route */
    API_PROBLEM_METHOD_NOT_ALLOWED,     /* 405 (the handler adds Allow) */
    API_PROBLEM_IDEMPOTENCY_CONFLICT,   /* 422: same key, another body */
    API_PROBLEM_NOT_IMPLEMENTED,        /* 501: e.g. an algorithm not built yet */
    API_PROBLEM_CONFLICT,               /* 409: e.g. deleting a running job */
    API_PROBLEM_TOO_MANY_STREAMS,       /* 429: the event stream cap is reached */
    API_PROBLEM_BAD_REQUEST,            /* 400: anything else the client got wrong */
    API_PROBLEM_INTERNAL,               /* 500 */
    API_PROBLEM_UNAUTHORIZED,           /* 401: no or a wrong bearer token */
    API_PROBLEM_LIMIT_EXCEEDED,         /* 400/413/429/503: a configured limit; the
                                           body names it ("limit_name") and its
                                           value ("limit") */
    API_PROBLEM_FORBIDDEN,              /* 403: a cross-site Origin (issue #22) */
    API_PROBLEM_MISDIRECTED,            /* 421: a Host that is not nasd's name */
    API_PROBLEM_UNSUPPORTED_MEDIA_TYPE, /* 415: a body of another Content-Type */
    API_PROBLEM_CANNOT_DRAW,            /* 422: ?format=svg|dot of an architecture
                                           the drawings do not know */
    API_PROBLEM_COUNT_
} api_problem_kind;

typedef struct api_problem {
    int status;       /* HTTP status; 0 while no problem is set */
    const char *type; /* short slug, e.g. "invalid-field" (static) */
    char title[128];
    char detail[512];
    char pointer[256];     /* JSON pointer of the offending field, "" if none */
    json_t *allowed;       /* optional, owned: array of allowed values, or
                              {"minimum": .., "maximum": ..}, or the known keys */
    int line, column;      /* invalid JSON position (1-based), 0 if n/a */
    char did_you_mean[64]; /* an unknown key: the nearest known one, or "" */
    json_t *errors;        /* owned: the problems collected by api_problem_push
                              (every mistake of a spec at once), or NULL */
    int filed;             /* the problem held is the last one pushed */
} api_problem;

/* Sets p to a problem of `kind` (its previous `allowed` is released, line
 * and column are reset). status 0 takes the kind's default; pointer may be
 * NULL. The detail is printf-formatted and truncated to fit. Returns -1,
 * so that failure paths read `return api_problem_set(...)`. */
int api_problem_set(api_problem *p, int status, api_problem_kind kind, const char *pointer,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int api_problem_vset(api_problem *p, int status, api_problem_kind kind, const char *pointer,
                     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* Replaces p->allowed, taking over the caller's reference (NULL clears). */
void api_problem_set_allowed(api_problem *p, json_t *allowed);

/* The response body: {"type": "urn:nasd:problem:<slug>", "title", "status",
 * "detail"} plus "pointer" when set, "allowed" when set, "line" and
 * "column" when set. A new reference (NULL only when out of memory). */
json_t *api_problem_json(const api_problem *p);

/* Releases `allowed` and `errors` and zeroes p. */
void api_problem_clear(api_problem *p);

/* Every mistake at once (issue #15): api_problem_push files the problem p
 * holds (type, pointer, detail, allowed, did_you_mean) as one entry of
 * p->errors, and the caller goes on checking; api_problem_set keeps the
 * entries filed so far. api_problem_finish makes the first entry the
 * problem's own fields (its detail saying how many more there are) with
 * the list as "errors", and returns -1 when there was one, else 0.
 * A 500 (out of memory) is never filed: the caller stops at it. */
void api_problem_push(api_problem *p);
size_t api_problem_pushed(const api_problem *p);
int api_problem_finish(api_problem *p);

#endif
