// SPDX-License-Identifier: MIT
/*
 * predict_text.c - POST /v1/jobs/{id}/predictions on a language model
 * (issue #14 part 4), on a pool thread (predict.c hands it the opened
 * model): {"text": T} scores T, {"prompt": P, "tokens": N, "seed": S,
 * "temperature": X} continues P by N sampled tokens.
 *
 * The one design decision to know: the text is tokenised by the engine's
 * one scanner, as the job's dataset tokenised its splits (words split on
 * whitespace, "<eos>" after every non-blank line, words outside the
 * vocabulary to "<unk>"; the tokens "<eos>" and "<unk>" written out are
 * those ids), and scored as one stream from a zero state, as the job's
 * evaluation scores each of its columns. One point differs from a split's
 * file: an unended last line gets no "<eos>", so any run of a split's
 * tokens can be sent back as it is, and a continuation goes on with the
 * prompt's line (end the prompt with a newline to begin a new one); an
 * empty prompt starts after an "<eos>".
 */
#include "api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int invalid(api_problem *err, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(api_problem *err, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_problem_vset(err, 400, API_PROBLEM_INVALID_FIELD, ptr, fmt, ap);
    va_end(ap);
    return -1;
}

/* The string at key, checked against max-predict-text-bytes. */
static int text_of(const json_t *doc, const char *key, const api_predict_limits *lim, api_resp *rs,
                   api_problem *err, const char **s, size_t *len)
{
    char ptr[16];
    const json_t *v = json_object_get(doc, key);
    snprintf(ptr, sizeof ptr, "/%s", key);
    if (!json_is_string(v))
        return invalid(err, ptr, "%s must be a string (the text, as UTF-8)", ptr);
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (*len > (size_t)lim->max_text) {
        api_fail_limit(rs, 400, ptr, "max-predict-text-bytes", lim->max_text,
                       "%s has %zu bytes: 0 to %d are allowed (max-predict-text-bytes)", ptr, *len,
                       lim->max_text);
        return 1;
    }
    return 0;
}

/* The tokens joined as the corpus' lines: words by spaces, "<eos>" a
 * newline. */
static json_t *joined(const nas_model *m, const int32_t *ids, int n)
{
    size_t cap = 1, len = 0;
    for (int i = 0; i < n; i++)
        cap += strlen(nas_model_token(m, ids[i])) + 1;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *t = nas_model_token(m, ids[i]);
        if (!strcmp(t, "<eos>")) {
            s[len++] = '\n';
            continue;
        }
        if (len && s[len - 1] != '\n')
            s[len++] = ' ';
        memcpy(s + len, t, strlen(t));
        len += strlen(t);
    }
    json_t *out = json_stringn(s, len);
    free(s);
    return out;
}

static json_t *score(nas_model *m, const char *text, size_t len, api_problem *err)
{
    int32_t *ids = NULL;
    int n = 0, unk = 0;
    double nll = 0.0;
    json_t *out = NULL;
    if (nas_model_encode(m, text, len, 1, &ids, &n, &unk) < 0) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "%s", nas_errmsg());
        goto done;
    }
    if (n < 2) {
        invalid(err, "/text",
                "/text holds %d token%s: a perplexity needs 2 or more (a word and the "
                "<eos> ending its line)",
                n, n == 1 ? "" : "s");
        goto done;
    }
    if (nas_model_text_nll(m, ids, n, &nll) < 0) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "%s", nas_errmsg());
        goto done;
    }
    if (!isfinite(nll)) { /* JSON has no infinity */
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "",
                        "the model's log-likelihood of this text is not finite");
        goto done;
    }
    if (!(out = json_pack("{s:f,s:f,s:i,s:i,s:i}", "perplexity", exp(nll / (n - 1)), "nll", nll,
                          "tokens", n, "unknown", unk, "predicted", n - 1)))
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
done:
    free(ids);
    return out;
}

/* "tokens", "seed", "temperature" of a continuation, with defaults. */
static int sample_args(const json_t *doc, const api_predict_limits *lim, api_resp *rs,
                       api_problem *err, int *count, uint64_t *seed, double *temp)
{
    const json_t *t = json_object_get(doc, "tokens"), *s = json_object_get(doc, "seed"),
                 *x = json_object_get(doc, "temperature");
    *count = 20;
    *seed = 0;
    *temp = 1.0;
    if (t && (!json_is_integer(t) || json_integer_value(t) < 1))
        return invalid(err, "/tokens",
                       "/tokens must be an integer from 1 to %d (max-predict-tokens)",
                       lim->max_tokens);
    if (t && json_integer_value(t) > lim->max_tokens) {
        api_fail_limit(rs, 400, "/tokens", "max-predict-tokens", lim->max_tokens,
                       "/tokens is %lld: 1 to %d are allowed (max-predict-tokens)",
                       (long long)json_integer_value(t), lim->max_tokens);
        return 1;
    }
    if (t)
        *count = (int)json_integer_value(t);
    if (s && (!json_is_integer(s) || json_integer_value(s) < 0 ||
              json_integer_value(s) > 9007199254740991LL))
        return invalid(err, "/seed", "/seed must be an integer from 0 to 2^53 - 1");
    if (s)
        *seed = (uint64_t)json_integer_value(s);
    if (x && (!json_is_number(x) || !(json_number_value(x) >= 0.0) || json_number_value(x) > 100.0))
        return invalid(err, "/temperature",
                       "/temperature must be a number from 0 (the most likely token) to 100");
    if (x)
        *temp = json_number_value(x);
    return 0;
}

static json_t *sample(nas_model *m, const char *prompt, size_t len, int count, uint64_t seed,
                      double temp, api_problem *err)
{
    int32_t *ids = NULL, *out = malloc((size_t)count * sizeof(int32_t));
    int n = 0, unk = 0;
    json_t *res = NULL, *toks = json_array();
    if (!out || !toks || nas_model_encode(m, prompt, len, 1, &ids, &n, &unk) < 0) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "%s",
                        out && toks ? nas_errmsg() : "out of memory");
        goto done;
    }
    int32_t eos = 0;
    for (int i = 0; i < nas_model_vocab_size(m); i++)
        if (!strcmp(nas_model_token(m, i), "<eos>"))
            eos = i;
    if (nas_model_sample(m, n ? ids : &eos, n ? n : 1, count, seed, temp, out) < 0) {
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "%s", nas_errmsg());
        goto done;
    }
    for (int i = 0; i < count; i++)
        json_array_append_new(toks, json_string(nas_model_token(m, out[i])));
    res = json_pack("{s:o*,s:O,s:i,s:i,s:I,s:f}", "continuation", joined(m, out, count), "tokens",
                    toks, "prompt_tokens", n, "unknown", unk, "seed", (json_int_t)seed,
                    "temperature", temp);
    if (!res)
        api_problem_set(err, 500, API_PROBLEM_INTERNAL, "", "out of memory");
done:
    json_decref(toks);
    free(ids);
    free(out);
    return res;
}

void api__predict_text(nas_model *m, const char *body, size_t len, int idx,
                       const api_predict_limits *lim, api_resp *rs)
{
    static const char *const keys[] = {"text", "prompt", "tokens", "seed", "temperature", NULL};
    api_problem err = {0};
    json_error_t je;
    json_t *doc = idx ? NULL : json_loadb(body, len, 0, &je), *v, *out = NULL;
    const char *key, *s = NULL;
    size_t slen = 0;
    int count = 0, rc = -1;
    uint64_t seed = 0;
    double temp = 1.0;
    if (idx) {
        api_problem_set(&err, 400, API_PROBLEM_BAD_REQUEST, "",
                        "a language model takes a JSON body: {\"text\": ...} or "
                        "{\"prompt\": ..., \"tokens\": N, \"seed\": S, \"temperature\": T}");
        goto fail;
    }
    if (!doc) {
        api_problem_set(&err, 400, API_PROBLEM_INVALID_JSON, "",
                        "the body is not valid JSON (line %d, column %d): %s", je.line, je.column,
                        je.text);
        goto fail;
    }
    if (!json_is_object(doc)) {
        api_problem_set(&err, 400, API_PROBLEM_BAD_REQUEST, "",
                        "the body must be an object: {\"text\": ...} or {\"prompt\": ...}");
        goto fail;
    }
    json_object_foreach(doc, key, v)
    {
        int known = 0;
        for (int i = 0; keys[i]; i++)
            known |= !strcmp(keys[i], key);
        if (!known) {
            char kp[80];
            snprintf(kp, sizeof kp, "/%.64s", key);
            api_problem_set(&err, 400, API_PROBLEM_UNKNOWN_FIELD, kp,
                            "unknown field \"%.64s\": a language model takes \"text\", or "
                            "\"prompt\" with \"tokens\", \"seed\" and \"temperature\"",
                            key);
            goto fail;
        }
    }
    int has_text = json_object_get(doc, "text") != NULL;
    if (has_text == (json_object_get(doc, "prompt") != NULL)) {
        api_problem_set(&err, 400, API_PROBLEM_INVALID_FIELD, has_text ? "/prompt" : "/text",
                        "give either \"text\" (its perplexity) or \"prompt\" (a continuation), "
                        "one of the two");
        goto fail;
    }
    if (has_text) {
        for (int i = 2; keys[i]; i++)
            if (json_object_get(doc, keys[i])) {
                char kp[32];
                snprintf(kp, sizeof kp, "/%s", keys[i]);
                invalid(&err, kp, "%s goes with \"prompt\" (a continuation), not with \"text\"",
                        kp);
                goto fail;
            }
        if ((rc = text_of(doc, "text", lim, rs, &err, &s, &slen)))
            goto fail;
        out = score(m, s, slen, &err);
    } else {
        if ((rc = text_of(doc, "prompt", lim, rs, &err, &s, &slen)) ||
            (rc = sample_args(doc, lim, rs, &err, &count, &seed, &temp)))
            goto fail;
        out = sample(m, s, slen, count, seed, temp, &err);
    }
    if (!out) {
        rc = -1;
        goto fail;
    }
    api_json(rs, 200, out);
    json_decref(doc);
    return;
fail:
    if (rc <= 0) /* 1: the limit's problem is in rs already */
        api_fail(rs, &err);
    json_decref(doc);
}
