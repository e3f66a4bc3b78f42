// SPDX-License-Identifier: MIT
/*
 * test_integration_darts.c - DARTS end to end (issue #4, "a short search
 * on the synthetic dataset, submitted through the daemon, ends succeeded
 * with a valid genotype, for each space and order"): a real nasd with two
 * workers runs four tiny searches - darts-cnn on the synthetic dataset and
 * darts-rnn on the fortunes corpus, first and second order - and every
 * one must end `succeeded` with a genotype of the reference's structure,
 * one architecture row per epoch whose alpha softmax rows sum to 1 and
 * whose genotype is the one its alphas derive, the per-epoch metrics, and
 * an event stream that delivers the architecture of each epoch. Then what
 * the API refuses for searches (the 400s of a darts spec that does not
 * fit its space), and a darts-rnn
 * search whose genotype then trains as a language model (final_training).
 *
 * The one design decision to know: the searches are queued behind two
 * long train jobs that hold both workers, so a stream opened on one of
 * them sees its whole life (no race with a search that finishes before
 * the stream is open); cancelling the blockers starts them. Waits poll
 * with deadlines, never a fixed sleep.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"

/* Generous: the suite also runs under ASan on 2 cores. */
#define JOB_MS 60000
#define EVENT_MS 20000

/* The softmax values are printed with 6 significant digits (~0.1 to
 * 0.2 here, so within 5e-7 each): sums and comparisons get this slack,
 * far below the 1e-4 by which a short search moves them apart. */
#define ALPHA_TOL 1e-5

#define EPOCHS 2

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

/* Holds a worker until cancelled. */
static const char long_job[] =
    "{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
    "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32},"
    "\"budget\":{\"epochs\":1000},\"seed\":1}";

/* ------------------------------------------------------------- fixture */

TestSuite(darts, .init = begin_test, .fini = finish_test);

/* ------------------------------------------------------------- problems */

/* problem() (tests/itest.h) that also names pointer. */
static json_t *problem_at(const http_resp *r, int status, const char *slug, const char *pointer)
{
    json_t *p = problem(r, status, slug);
    cr_assert_str_eq(str_at(p, "pointer") ? str_at(p, "pointer") : "", pointer, "%s", r->body);
    return p;
}

static json_t *post_problem_at(int port, const char *body, int status, const char *slug,
                               const char *pointer)
{
    http_resp r;
    request(port, "POST", "/v1/jobs", NULL, body, &r);
    json_t *p = problem_at(&r, status, slug, pointer);
    http_resp_free(&r);
    return p;
}

/* ============================================================ genotypes */

static const char *const cnn_ops[] = {"none",         "max_pool_3x3", "avg_pool_3x3",
                                      "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                                      "dil_conv_3x3", "dil_conv_5x5"};
static const char *const rnn_ops[] = {"none", "tanh", "relu", "sigmoid", "identity"};
#define CNN_NOPS 8
#define RNN_NOPS 5
#define CNN_NODES 4
#define CNN_EDGES 14 /* 2 + 3 + 4 + 5 */
#define RNN_NODES 8
#define RNN_EDGES 36 /* 1 + 2 + ... + 8 */

/* The index of op name in ops (n of them), or -1. */
static int op_index(const char *name, const char *const *ops, int n)
{
    for (int i = 0; name && i < n; i++)
        if (!strcmp(name, ops[i]))
            return i;
    return -1;
}

/* concat must be the integers lo..hi. */
static void check_concat(json_t *concat, int lo, int hi, const char *where)
{
    cr_assert(json_is_array(concat) && (int)json_array_size(concat) == hi - lo + 1, "%s: concat %s",
              where, text_of(concat));
    for (int i = lo; i <= hi; i++)
        cr_assert(json_is_integer(json_array_get(concat, (size_t)(i - lo))) &&
                      json_integer_value(json_array_get(concat, (size_t)(i - lo))) == i,
                  "%s: concat %s is not [%d..%d]", where, text_of(concat), lo, hi);
}

/* Entry i of a gene: an [op, input] pair; its op's index (never "none")
 * and its input go to *op and *in. */
static void gene_entry(json_t *gene, size_t i, const char *const *ops, int nops, int *op, int *in,
                       const char *where)
{
    json_t *e = json_array_get(gene, i);
    cr_assert(json_is_array(e) && json_array_size(e) == 2, "%s: entry %zu is %s", where, i,
              text_of(e));
    *op = op_index(json_string_value(json_array_get(e, 0)), ops, nops);
    cr_assert(*op > 0, "%s: entry %zu has op %s", where, i, text_of(json_array_get(e, 0)));
    cr_assert(json_is_integer(json_array_get(e, 1)), "%s: entry %zu input %s", where, i,
              text_of(json_array_get(e, 1)));
    *in = (int)json_integer_value(json_array_get(e, 1));
}

/* The strongest op other than none in a softmax row. */
static double strength(const double *p, int nops)
{
    double s = p[1];
    for (int k = 2; k < nops; k++)
        s = p[k] > s ? p[k] : s;
    return s;
}

/* Softmax rows of one alpha matrix: rows x nops numbers in [0, 1] that
 * sum to 1, copied into p. */
static void check_rows(json_t *rows, int nrows, int nops, double *p, const char *where)
{
    cr_assert(json_is_array(rows) && (int)json_array_size(rows) == nrows,
              "%s: %d softmax rows expected, got %s", where, nrows, text_of(rows));
    for (int e = 0; e < nrows; e++) {
        json_t *row = json_array_get(rows, (size_t)e);
        cr_assert(json_is_array(row) && (int)json_array_size(row) == nops, "%s: row %d is %s",
                  where, e, text_of(row));
        double sum = 0.0;
        for (int k = 0; k < nops; k++) {
            json_t *v = json_array_get(row, (size_t)k);
            cr_assert(json_is_number(v), "%s: row %d: %s", where, e, text_of(row));
            double x = json_number_value(v);
            cr_assert(x >= 0.0 && x <= 1.0, "%s: row %d: %s", where, e, text_of(row));
            p[e * nops + k] = x;
            sum += x;
        }
        cr_assert(fabs(sum - 1.0) < ALPHA_TOL, "%s: row %d sums to %.9g: %s", where, e, sum,
                  text_of(row));
    }
}

/* The alpha object {"ops": [...], name: rows, ...}: the op names in the
 * engine's order, then each named matrix (softmax rows into p[m]). */
static void check_alpha(json_t *alpha, const char *const *ops, int nops, const char *const *names,
                        int nmat, int nrows, double **p, const char *where)
{
    cr_assert(json_is_object(alpha), "%s: alpha is %s", where, text_of(alpha));
    json_t *o = json_object_get(alpha, "ops");
    cr_assert(json_is_array(o) && (int)json_array_size(o) == nops, "%s: ops %s", where, text_of(o));
    for (int k = 0; k < nops; k++)
        cr_assert_str_eq(json_string_value(json_array_get(o, (size_t)k)), ops[k], "%s: ops %s",
                         where, text_of(o));
    for (int m = 0; m < nmat; m++) {
        char w[160];
        snprintf(w, sizeof(w), "%s: alpha.%s", where, names[m]);
        check_rows(json_object_get(alpha, names[m]), nrows, nops, p[m], w);
    }
}

/* One darts-cnn cell of a genotype: 4 nodes x 2 [op, input] pairs, node
 * k taking two distinct inputs below k + 2 (0 and 1 are the cell's
 * inputs). With softmax rows p (or NULL), also that the genotype is the
 * one they derive: on each kept edge its strongest op but none, and per
 * node the two edges whose such op is the strongest, stronger first. */
static void check_cnn_cell(json_t *gene, const double *p, const char *where)
{
    cr_assert(json_is_array(gene) && json_array_size(gene) == 2 * CNN_NODES, "%s: %s", where,
              text_of(gene));
    for (int k = 0, start = 0; k < CNN_NODES; start += k + 2, k++) {
        int op[2], in[2];
        for (int t = 0; t < 2; t++) {
            gene_entry(gene, (size_t)(2 * k + t), cnn_ops, CNN_NOPS, &op[t], &in[t], where);
            cr_assert(in[t] >= 0 && in[t] < k + 2, "%s: node %d takes input %d: %s", where, k,
                      in[t], text_of(gene));
        }
        cr_assert_neq(in[0], in[1], "%s: node %d takes input %d twice: %s", where, k, in[0],
                      text_of(gene));
        if (!p)
            continue;
        double s[2];
        for (int t = 0; t < 2; t++) {
            const double *row = p + (start + in[t]) * CNN_NOPS;
            s[t] = strength(row, CNN_NOPS);
            cr_assert(row[op[t]] >= s[t] - ALPHA_TOL,
                      "%s: node %d keeps %s on edge %d, weaker than its strongest op (%g < %g)",
                      where, k, cnn_ops[op[t]], in[t], row[op[t]], s[t]);
        }
        cr_assert(s[0] >= s[1] - ALPHA_TOL, "%s: node %d lists its weaker edge first", where, k);
        for (int i = 0; i < k + 2; i++)
            if (i != in[0] && i != in[1])
                cr_assert(strength(p + (start + i) * CNN_NOPS, CNN_NOPS) <= s[1] + ALPHA_TOL,
                          "%s: node %d drops edge %d, stronger than the kept edge %d", where, k, i,
                          in[1]);
    }
}

/* A darts-cnn genotype {"normal", "normal_concat", "reduce",
 * "reduce_concat"}; alpha (or NULL) is the alpha object it was derived
 * from. */
static void check_cnn_genotype(json_t *g, json_t *alpha, const char *where)
{
    /* GET .../result names the space too (issue #14); the rows do not */
    size_t keys = 4 + (json_object_get(g, "space") != NULL);
    cr_assert(json_is_object(g) && json_object_size(g) == keys, "%s: genotype %s", where,
              text_of(g));
    if (keys == 5)
        cr_assert_str_eq(str_at(g, "space"), "darts-cnn", "%s", where);
    double normal[CNN_EDGES * CNN_NOPS], reduce[CNN_EDGES * CNN_NOPS];
    double *p[2] = {normal, reduce};
    static const char *const cells[] = {"normal", "reduce"};
    if (alpha)
        check_alpha(alpha, cnn_ops, CNN_NOPS, cells, 2, CNN_EDGES, p, where);
    char w[160];
    for (int c = 0; c < 2; c++) {
        snprintf(w, sizeof(w), "%s: %s cell", where, cells[c]);
        check_cnn_cell(json_object_get(g, cells[c]), alpha ? p[c] : NULL, w);
        snprintf(w, sizeof(w), "%s_concat", cells[c]);
        check_concat(json_object_get(g, w), 2, 5, where);
    }
}

/* A darts-rnn genotype {"recurrent": 8 x [op, input], "concat": [1..8]},
 * node k taking one input <= k (0 is the initial node s0); with alpha,
 * also that each node keeps its strongest edge with that edge's
 * strongest op but none. */
static void check_rnn_genotype(json_t *g, json_t *alpha, const char *where)
{
    size_t keys = 2 + (json_object_get(g, "space") != NULL);
    cr_assert(json_is_object(g) && json_object_size(g) == keys, "%s: genotype %s", where,
              text_of(g));
    if (keys == 3)
        cr_assert_str_eq(str_at(g, "space"), "darts-rnn", "%s", where);
    double rows[RNN_EDGES * RNN_NOPS];
    double *p[1] = {rows};
    static const char *const names[] = {"recurrent"};
    if (alpha)
        check_alpha(alpha, rnn_ops, RNN_NOPS, names, 1, RNN_EDGES, p, where);
    json_t *gene = json_object_get(g, "recurrent");
    cr_assert(json_is_array(gene) && json_array_size(gene) == RNN_NODES, "%s: recurrent %s", where,
              text_of(gene));
    for (int k = 0, start = 0; k < RNN_NODES; start += k + 1, k++) {
        int op, in;
        gene_entry(gene, (size_t)k, rnn_ops, RNN_NOPS, &op, &in, where);
        cr_assert(in >= 0 && in <= k, "%s: node %d takes input %d: %s", where, k + 1, in,
                  text_of(gene));
        if (!alpha)
            continue;
        const double *row = rows + (start + in) * RNN_NOPS;
        double s = strength(row, RNN_NOPS);
        cr_assert(row[op] >= s - ALPHA_TOL, "%s: node %d keeps %s, weaker than %g", where, k + 1,
                  rnn_ops[op], s);
        for (int i = 0; i <= k; i++)
            cr_assert(strength(rows + (start + i) * RNN_NOPS, RNN_NOPS) <= s + ALPHA_TOL,
                      "%s: node %d keeps input %d, weaker than input %d", where, k + 1, in, i);
    }
    check_concat(json_object_get(g, "concat"), 1, 8, where);
}

/* ============================================================ searches */

typedef struct search {
    const char *space; /* darts-cnn or darts-rnn */
    int order;
    char id[33];
} search;

static int is_rnn(const search *s)
{
    return !strcmp(s->space, "darts-rnn");
}

/* The spec of a tiny search (static buffer). */
static const char *search_spec(const search *s)
{
    static char spec[512];
    if (is_rnn(s))
        snprintf(spec, sizeof(spec),
                 "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":\"fortunes\","
                 "\"budget\":{\"epochs\":%d},\"hyperparameters\":{\"order\":%d,\"embed\":8,"
                 "\"hidden\":8,\"bptt\":8,\"batch_size\":8,\"max_vocab\":500},\"seed\":%d}",
                 EPOCHS, s->order, 20 + s->order);
    else
        snprintf(
            spec, sizeof(spec),
            "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"synthetic\","
            "\"budget\":{\"epochs\":%d},\"hyperparameters\":{\"order\":%d,\"C\":4,"
            "\"layers\":3,\"batch_size\":8,\"max_examples\":64},\"seed\":%d}",
            EPOCHS, s->order, 10 + s->order);
    return spec;
}

/* The genotype (and, with alpha, its derivation) of the search's space. */
static void check_genotype(const search *s, json_t *g, json_t *alpha, const char *where)
{
    if (is_rnn(s))
        check_rnn_genotype(g, alpha, where);
    else
        check_cnn_genotype(g, alpha, where);
}

/* The stream of a search that was queued when it opened: queued, running,
 * monotone progress, and per epoch its metrics and one architecture event
 * whose genotype its alphas derive; then succeeded and the end. */
static void follow_stream(sse *st, const search *s)
{
    char name[32], where[128];
    json_t *ev = NULL;
    int running = 0, archs = 0, vals = 0;
    double last_fraction = -1.0;
    for (int i = 0;; i++) {
        cr_assert(i < 100000, "the stream does not end");
        int r = sse_next(st, EVENT_MS, name, sizeof(name), &ev);
        cr_assert_eq(r, 1, "no event within %d ms (%s)", EVENT_MS,
                     r ? http_errmsg() : "stream ended");
        cr_assert(json_is_object(ev), "event %s without JSON object data", name);
        if (!strcmp(name, "state")) {
            const char *state = str_at(ev, "state");
            cr_assert_str_eq(str_at(ev, "id"), s->id);
            if (i == 0) {
                cr_assert_str_eq(state, "queued", "first state event");
            } else if (!strcmp(state, "running")) {
                running++;
            } else {
                cr_assert_str_eq(state, "succeeded", "final state event: %s", text_of(ev));
                json_decref(ev);
                break;
            }
        } else if (!strcmp(name, "progress")) {
            cr_assert(running, "progress before running");
            double f = json_number_value(at(ev, "fraction"));
            cr_assert(f >= last_fraction && f <= 1.0, "fraction %g after %g", f, last_fraction);
            last_fraction = f;
        } else if (!strcmp(name, "metric")) {
            cr_assert(running, "metric before running");
            const char *m = str_at(ev, "name");
            if (m && !strcmp(m, "val_loss"))
                vals++;
        } else {
            cr_assert_str_eq(name, "architecture", "unexpected event %s", name);
            cr_assert(running, "architecture before running");
            archs++;
            cr_assert(int_at(ev, "seq") > 0, "architecture event without seq: %s", text_of(ev));
            cr_assert(json_is_number(at(ev, "reward")), "no reward: %s", text_of(ev));
            cr_assert_eq(int_at(ev, "metrics.epoch"), archs, "architecture event %d: %s", archs,
                         text_of(at(ev, "metrics")));
            snprintf(where, sizeof(where), "%s order %d: architecture event %d", s->space, s->order,
                     archs);
            check_genotype(s, at(ev, "architecture"), at(ev, "metrics.alpha"), where);
        }
        json_decref(ev);
        ev = NULL;
    }
    cr_assert_eq(running, 1, "running events: %d", running);
    cr_assert_eq(archs, EPOCHS, "architecture events: %d", archs);
    cr_assert_eq(vals, EPOCHS, "val_loss events: %d", vals);
    cr_assert(last_fraction == 1.0, "the last progress was %g", last_fraction);
    cr_assert_eq(sse_next(st, EVENT_MS, name, sizeof(name), &ev), 0,
                 "the stream went on after the final state (%s)", name);
}

/* A succeeded search: its view, result, architecture rows and metrics. */
static void check_search(int port, const search *s)
{
    char where[128];
    const char *metric = is_rnn(s) ? "val_perplexity" : "val_accuracy";
    json_t *job = wait_job(port, s->id, "succeeded", JOB_MS);
    cr_assert(json_is_null(at(job, "error")), "error: %s", text_of(at(job, "error")));
    cr_assert_eq(int_at(job, "progress.epoch"), EPOCHS);
    cr_assert(json_number_value(at(job, "progress.fraction")) == 1.0, "progress %s",
              text_of(at(job, "progress")));
    cr_assert(json_is_number(at(job, "metrics.val_loss.value")), "no latest val_loss: %s",
              text_of(at(job, "metrics")));
    cr_assert(json_is_object(at(job, "best_architecture.architecture")), "no best architecture");
    snprintf(where, sizeof(where), "%s order %d: best architecture", s->space, s->order);
    check_genotype(s, at(job, "best_architecture.architecture"), NULL, where);
    json_decref(job);

    /* The result: the final genotype, in the reference's structure. */
    json_t *res = get_sub(port, s->id, "result");
    snprintf(where, sizeof(where), "%s order %d: result", s->space, s->order);
    cr_assert_str_eq(str_at(res, "metric"), metric, "%s", where);
    double v = json_number_value(at(res, "value"));
    cr_assert(json_is_number(at(res, "value")) && isfinite(v), "%s: value %s", where,
              text_of(at(res, "value")));
    if (is_rnn(s))
        cr_assert(v >= 1.0, "%s: perplexity %g", where, v);
    else
        cr_assert(v >= 0.0 && v <= 1.0, "%s: accuracy %g", where, v);
    check_genotype(s, at(res, "architecture"), at(res, "details.alpha"), where);
    cr_assert_str_eq(str_at(res, "details.search_space"), s->space, "%s", where);
    cr_assert_eq(int_at(res, "details.order"), s->order, "%s", where);
    cr_assert_str_eq(str_at(res, "details.stopped_by"), "epochs", "%s", where);
    cr_assert(json_number_value(at(res, "details.steps")) > 0, "%s: no steps", where);
    const char *text = str_at(res, "details.genotype");
    cr_assert(text && !strncmp(text, "Genotype(", 9), "%s: genotype text %s", where,
              text ? text : "(none)");
    cr_assert(strstr(text, is_rnn(s) ? "concat=range(1, 9)" : "reduce_concat=range(2, 6)"),
              "%s: genotype text %s", where, text);

    /* One architecture row per epoch, in order; the last is the result's. */
    json_t *page = get_sub(port, s->id, "architectures");
    json_t *rows = json_object_get(page, "architectures"), *row;
    cr_assert_eq(json_array_size(rows), EPOCHS, "%s: %zu architecture rows", where,
                 json_array_size(rows));
    size_t i;
    json_array_foreach(rows, i, row)
    {
        snprintf(where, sizeof(where), "%s order %d: architecture row %zu", s->space, s->order, i);
        cr_assert_eq(int_at(row, "metrics.epoch"), (json_int_t)i + 1, "%s: %s", where,
                     text_of(at(row, "metrics")));
        cr_assert(json_is_number(at(row, "reward")), "%s: no reward", where);
        static const char *const cnn_keys[] = {"train_loss", "val_loss", "val_accuracy", "lr"};
        static const char *const rnn_keys[] = {"train_loss", "val_loss", "val_perplexity", "lr"};
        for (int k = 0; k < 4; k++) {
            const char *key = (is_rnn(s) ? rnn_keys : cnn_keys)[k];
            cr_assert(json_is_number(at(at(row, "metrics"), key)), "%s: metrics lack %s", where,
                      key);
        }
        check_genotype(s, at(row, "architecture"), at(row, "metrics.alpha"), where);
    }
    json_t *cells = json_deep_copy(at(res, "architecture"));
    json_object_del(cells, "space"); /* the result names it (issue #14) */
    cr_assert(json_equal(at(json_array_get(rows, EPOCHS - 1), "architecture"), cells),
              "%s order %d: the last epoch's genotype %s is not the result's", s->space, s->order,
              text_of(at(json_array_get(rows, EPOCHS - 1), "architecture")));
    json_decref(cells);
    json_decref(page);
    json_decref(res);

    /* Per epoch: train and val loss, the val metric, the lr, once each. */
    static const char *const names[] = {"train_loss", "val_loss", "lr", NULL};
    json_t *metrics = get_sub(port, s->id, "metrics"), *m;
    int seen[4][EPOCHS + 1] = {{0}};
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        json_int_t e = int_at(m, "epoch");
        for (int k = 0; k < 4; k++)
            if (name && !strcmp(name, names[k] ? names[k] : metric)) {
                cr_assert(e >= 1 && e <= EPOCHS, "%s of epoch %lld", name, (long long)e);
                cr_assert(json_is_number(at(m, "value")) &&
                              isfinite(json_number_value(at(m, "value"))),
                          "%s of epoch %lld: %s", name, (long long)e, text_of(m));
                seen[k][e]++;
            }
    }
    for (int k = 0; k < 4; k++)
        for (int e = 1; e <= EPOCHS; e++)
            cr_assert_eq(seen[k][e], 1, "%s order %d: epoch %d has %d %s values", s->space,
                         s->order, e, seen[k][e], names[k] ? names[k] : metric);
    json_decref(metrics);
}

Test(darts, cnn_and_rnn_searches_of_both_orders_succeed_with_valid_genotypes)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    search searches[] = {
        {"darts-cnn", 1, ""},
        {"darts-cnn", 2, ""},
        {"darts-rnn", 1, ""},
        {"darts-rnn", 2, ""},
    };
    const size_t n = sizeof(searches) / sizeof(searches[0]);

    /* Both workers busy: every search is queued when submitted. */
    char b1[33], b2[33];
    submit(d.port, long_job, b1);
    submit(d.port, long_job, b2);
    json_decref(wait_job(d.port, b1, "running", JOB_MS));
    json_decref(wait_job(d.port, b2, "running", JOB_MS));
    for (size_t i = 0; i < n; i++) {
        submit(d.port, search_spec(&searches[i]), searches[i].id);
        json_t *job = get_sub(d.port, searches[i].id, "");
        cr_assert_str_eq(str_at(job, "state"), "queued");
        cr_assert_str_eq(str_at(job, "spec.search_space"), searches[i].space);
        cr_assert_eq(int_at(job, "spec.hyperparameters.order"), searches[i].order);
        json_decref(job);
    }

    /* Watch the second-order cnn search from the queue to its end. */
    char path[128], ct[64];
    snprintf(path, sizeof(path), "/v1/jobs/%s/events", searches[1].id);
    sse *st = NULL;
    http_resp r;
    int status = sse_open(d.port, path, HTTP_TIMEOUT_MS, &st, &r);
    cr_assert_eq(status, 200, "GET %s: %d %s", path, status, status < 0 ? http_errmsg() : "");
    cr_assert(http_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "text/event-stream");
    http_resp_free(&r);

    cancel(d.port, b1);
    cancel(d.port, b2);
    follow_stream(st, &searches[1]);
    sse_close(st);

    for (size_t i = 0; i < n; i++)
        check_search(d.port, &searches[i]);
    json_decref(wait_job(d.port, b1, "cancelled", JOB_MS));
    json_decref(wait_job(d.port, b2, "cancelled", JOB_MS));
    stop_ok(&d);
    PASS();
}

/* ======================================================== refusals */

Test(darts, misfit_specs_are_refused)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);

    /* Every algorithm and space is built now; what is not (final_training
     * after enas-rnn or nas-rl) is tested with those kinds. */
    /* A darts spec that does not fit its space: 400 at the field. */
    json_decref(post_problem_at(
        d.port, "{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\",\"dataset\":\"fortunes\"}",
        400, "invalid-field", "/dataset"));
    json_decref(post_problem_at(
        d.port,
        "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":\"synthetic\"}", 400,
        "invalid-field", "/dataset"));
    json_decref(post_problem_at(
        d.port,
        "{\"algorithm\":\"darts\",\"search_space\":\"enas-micro\",\"dataset\":\"synthetic\"}", 400,
        "invalid-field", "/search_space"));
    json_decref(post_problem_at(
        d.port,
        "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"hyperparameters\":{\"order\":3}}",
        400, "invalid-field", "/hyperparameters/order"));
    json_decref(post_problem_at(d.port,
                                "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\","
                                "\"hyperparameters\":{\"max_examples\":1}}",
                                400, "invalid-field", "/hyperparameters/max_examples"));
    json_decref(
        post_problem_at(d.port,
                        "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":"
                        "\"fortunes\",\"hyperparameters\":{\"max_examples\":64}}",
                        400, "unknown-field", "/hyperparameters/max_examples"));
    json_decref(post_problem_at(d.port,
                                "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\","
                                "\"architecture\":{\"space\":\"fixed-cnn\"}}",
                                400, "invalid-field", "/architecture"));

    /* None of these made a job. */
    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 0, "%s",
                 text_of(json_object_get(page, "jobs")));
    json_decref(page);

    /* What only the run can find out - a batch larger than a half of the
     * split - fails the job with the reason, not the daemon. */
    char id[33];
    submit(d.port,
           "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
           "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":16,\"max_examples\":16},"
           "\"seed\":1}",
           id);
    json_t *job = wait_job(d.port, id, "failed", JOB_MS);
    const char *err = str_at(job, "error") ? str_at(job, "error") : str_at(job, "error.detail");
    cr_assert(err && strstr(err, "batch_size"), "error %s", text_of(at(job, "error")));
    json_decref(job);
    http_resp r;
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/result", id);
    request(d.port, "GET", path, NULL, NULL, &r);
    json_decref(problem_at(&r, 404, "not-found", ""));
    http_resp_free(&r);
    stop_ok(&d);
    PASS();
}

/* darts-rnn with final_training through nasd: the search's genotype is
 * trained from scratch as a language model, the result's headline is its
 * test perplexity and its metrics arrive as final.*, after the search's
 * epochs. */
Test(darts, rnn_search_then_final_training)
{
    nasd_proc d;
    start_in(&d, NULL, flags, NULL);
    static const char spec[] =
        "{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":\"fortunes\","
        "\"budget\":{\"epochs\":1},\"hyperparameters\":{\"embed\":8,\"hidden\":8,\"bptt\":8,"
        "\"batch_size\":8,\"max_vocab\":500},"
        "\"final_training\":{\"enabled\":true,\"epochs\":1},\"seed\":4}";
    char id[33];
    submit(d.port, spec, id);
    json_decref(wait_job(d.port, id, "succeeded", JOB_MS));

    json_t *res = get_sub(d.port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), "test_perplexity");
    double v = json_number_value(at(res, "value"));
    cr_assert(isfinite(v) && v >= 1.0, "test perplexity %g", v);
    check_rnn_genotype(at(res, "architecture"), at(res, "details.alpha"), "final result");
    cr_assert(json_is_object(at(res, "details.final_training")), "%s", text_of(at(res, "details")));
    cr_assert(json_number_value(at(res, "details.final_training.test_perplexity")) == v);
    json_decref(res);

    /* final.* metrics of epoch 2 (the search had one). */
    json_t *metrics = get_sub(d.port, id, "metrics"), *m;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        if (name && !strcmp(name, "final.val_perplexity")) {
            seen++;
            cr_assert_eq(int_at(m, "epoch"), 2, "%s", text_of(m));
        }
    }
    cr_assert_eq(seen, 1, "one final.val_perplexity: %s", text_of(metrics));
    json_decref(metrics);
    stop_ok(&d);
    PASS();
}
