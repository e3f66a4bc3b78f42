// SPDX-License-Identifier: MIT
/*
 * fuzz_spec.c - libFuzzer on the job-spec validator: api_spec_normalize on
 * arbitrary bodies, then, for what it accepts, the rest of what POST
 * /v1/jobs and a worker do with a spec (api_spec_implemented,
 * api_spec_to_engine), every problem rendered as problem+json, and the
 * request hash.
 *
 * The one design decision to know: besides "no crash, no sanitizer
 * report", the harness checks the validator's documented property that a
 * normalized spec normalizes to itself (spec.h: printed with full
 * precision), that the text the daemon stores (api/jobs.c prints reals
 * with 15 significant digits) normalizes to itself too, and that every
 * refusal is a 4xx/5xx problem with a detail; a violation aborts like a
 * crash.
 */
#include "api.h"
#include "spec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_problem(api_problem *p, const char *what)
{
    if (p->status < 400 || p->status > 599 || !p->detail[0]) {
        fprintf(stderr, "%s: a refusal without a problem (status %d)\n", what, p->status);
        abort();
    }
    json_t *body = api_problem_json(p);
    if (!body || !json_is_object(body)) {
        fprintf(stderr, "%s: no problem+json\n", what);
        abort();
    }
    json_decref(body);
    api_problem_clear(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char hash[API_SPEC_HASH_SIZE];
    api_spec_hash((const char *)data, size, hash);
    if (strlen(hash) != 32)
        abort();

    api_problem p = {0};
    json_t *spec = NULL, *again = NULL;
    uint64_t seed = size >= 8 ? ((uint64_t)data[0] << 32 | data[size - 1]) : 42;
    if (api_spec_normalize((const char *)data, size, seed, &spec, &p) != 0) {
        check_problem(&p, "normalize");
        return 0;
    }
    /* Full precision (Jansson's default, 17 digits: exact), then the
     * daemon's stored form. */
    static const size_t flags[2] = {JSON_COMPACT | JSON_SORT_KEYS,
                                    JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)};
    for (int f = 0; f < 2; f++) {
        char *text = json_dumps(spec, flags[f]);
        json_t *want = text ? json_loads(text, 0, NULL) : NULL;
        if (!want)
            abort();
        if (api_spec_normalize(text, strlen(text), seed + 1, &again, &p) != 0) {
            fprintf(stderr, "a normalized spec is refused: %s\n  %s\n", p.detail, text);
            abort();
        }
        if (!json_equal(want, again)) {
            char *t2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(stderr, "normalize is not idempotent:\n  %s\n  %s\n", text, t2);
            abort();
        }
        json_decref(again);
        json_decref(want);
        free(text);
    }

    if (api_spec_implemented(spec, &p) != 0) {
        check_problem(&p, "implemented");
    } else {
        nas_job_spec es;
        memset(&es, 0, sizeof(es));
        api_spec_paths paths = {NULL, NULL, NULL, NULL};
        if (api_spec_to_engine(spec, &paths, 1, &es, &p) != 0)
            check_problem(&p, "to_engine");
        else if (es.epochs < 1 || es.batch_size < 1 || es.threads < 1 || !es.dataset) {
            fprintf(stderr, "an accepted spec gives the engine epochs %d batch %d threads %d\n",
                    es.epochs, es.batch_size, es.threads);
            abort();
        }
    }
    json_decref(spec);
    return 0;
}
