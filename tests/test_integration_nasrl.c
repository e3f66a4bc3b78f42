// SPDX-License-Identifier: MIT
/*
 * test_integration_nasrl.c - NAS with RL and random search end to end
 * (issue #6, "a short search of each space on synthetic data through the
 * daemon ends succeeded"): a real nasd runs a short nas-rl search (4
 * architectures, 1 child epoch, 2 children per update) and a random
 * search on the synthetic dataset; both must end `succeeded` with the
 * best architecture of the nasrl-cnn structure and its validation
 * accuracy, one architecture row per sampled child (decisions, reward,
 * metrics), the controller's metrics per update (nas-rl), and progress
 * at 1; and a nas-rl search of a nasrl-rnn cell on the fortunes corpus.
 * Random searches over enas-micro, enas-macro (each sampled arc trained
 * from scratch, the best with its arc JSON), darts-rnn (each cell a
 * language model on the fortunes corpus, reward 80 / perplexity^2) and
 * enas-rnn (reward 80 / perplexity).
 * Then what the API refuses: 400 naming the field for a bad spec.
 *
 * The one design decision to know: the spaces are kept tiny (2 layers,
 * 1x1 / 3x3 kernels, 4 or 6 filters) so each search takes a few seconds
 * even under ASan on 2 shared cores; waits poll with deadlines.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"

#define JOB_MS 90000

static const char *const flags[] = {"--workers", "2", "--threads-per-job", "1", NULL};

TestSuite(nasrl, .init = begin_test, .fini = finish_test);

/* A problem+json answer with status and pointer. */
static void refused(int port, const char *body, int status, const char *pointer)
{
    json_t *p = call(port, "POST", "/v1/jobs", body, status);
    cr_assert_str_eq(str_at(p, "pointer") ? str_at(p, "pointer") : "", pointer, "%s: %s", body,
                     text_of(p));
    cr_assert(str_at(p, "detail") && *str_at(p, "detail"), "%s: no detail", body);
    json_decref(p);
}

/* --------------------------------------------------------- the checks */

/* {"layers":[{"filter_height":..,"filter_width":..,"filters":..,
 * "stride":..,"inputs":[j < i]}, ...]} with n layers from the space. */
static void check_arch(json_t *a, int n, const char *where)
{
    json_t *layers = at(a, "layers"), *l;
    size_t i;
    cr_assert(json_is_array(layers) && (int)json_array_size(layers) == n, "%s: %s", where,
              text_of(a));
    json_array_foreach(layers, i, l)
    {
        json_int_t fh = json_integer_value(at(l, "filter_height"));
        json_int_t fw = json_integer_value(at(l, "filter_width"));
        json_int_t nf = json_integer_value(at(l, "filters"));
        cr_assert((fh == 1 || fh == 3) && (fw == 1 || fw == 3) && (nf == 4 || nf == 6) &&
                      json_integer_value(at(l, "stride")) == 1,
                  "%s: layer %zu %s", where, i, text_of(l));
        json_t *in = at(l, "inputs"), *j;
        size_t k;
        cr_assert(json_is_array(in), "%s: layer %zu inputs", where, i);
        json_array_foreach(in, k, j)
        {
            json_int_t v = json_integer_value(j);
            cr_assert(json_is_integer(j) && v >= 0 && v < (json_int_t)i, "%s: layer %zu input %s",
                      where, i, text_of(j));
        }
    }
}

static void check_search(int port, const char *id, const char *algorithm, int archs)
{
    char where[96];
    json_t *job = wait_job(port, id, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s: %s", algorithm, text_of(job));
    cr_assert(json_number_value(at(job, "progress.fraction")) == 1.0, "%s: progress %s", algorithm,
              text_of(at(job, "progress")));
    json_decref(job);

    json_t *res = get_sub(port, id, "result");
    snprintf(where, sizeof(where), "%s result", algorithm);
    cr_assert_str_eq(str_at(res, "metric"), "val_accuracy", "%s: %s", where, text_of(res));
    double v = json_number_value(at(res, "value"));
    cr_assert(v > 0.0 && v <= 1.0, "%s: val_accuracy %g", where, v);
    check_arch(at(res, "architecture"), 2, where);
    cr_assert_str_eq(str_at(res, "details.search_space"), "nasrl-cnn", "%s", where);
    cr_assert_str_eq(str_at(res, "details.stopped_by"), "max_architectures", "%s", where);
    cr_assert_eq(json_integer_value(at(res, "details.architectures")), archs, "%s: %s", where,
                 text_of(at(res, "details")));

    /* One row per sampled child; the best reward is the result's. */
    json_t *page = get_sub(port, id, "architectures"), *row;
    json_t *rows = json_object_get(page, "architectures");
    cr_assert_eq((int)json_array_size(rows), archs, "%s: %zu rows", algorithm,
                 json_array_size(rows));
    double best = -1.0;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        snprintf(where, sizeof(where), "%s row %zu", algorithm, i);
        check_arch(at(row, "architecture"), 2, where);
        double r = json_number_value(at(row, "reward"));
        cr_assert(json_is_number(at(row, "reward")) && r >= 0.0 && r <= 1.0, "%s: reward %s", where,
                  text_of(at(row, "reward")));
        static const char *const keys[] = {"parameters", "val_accuracy", "train_loss", "epochs",
                                           "seconds"};
        for (int k = 0; k < 5; k++)
            cr_assert(json_is_number(at(at(row, "metrics"), keys[k])), "%s: metrics lack %s: %s",
                      where, keys[k], text_of(at(row, "metrics")));
        if (r > best)
            best = r;
    }
    cr_assert(fabs(best - v) < 1e-9, "%s: best row reward %g, result %g", algorithm, best, v);
    json_decref(page);
    json_decref(res);
}

/* ================================================================ tests */

#define SPACE                                                                                      \
    "\"hyperparameters\":{\"child_epochs\":1,\"batch_size\":50,%s"                                 \
    "\"start_layers\":2,\"max_layers\":2,\"filter_heights\":[1,3],\"filter_widths\":[1,3],"        \
    "\"num_filters\":[4,6],\"max_examples\":1000}"

Test(nasrl, searches_end_succeeded_with_a_valid_result)
{
    nasd_proc d;
    char dir[PATH_MAX], spec[1024], rl[33], rnd[33], rnn[33];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_start(&d, dir, flags, ITEST_START_MS), 0, "nasd did not start");

    snprintf(spec, sizeof(spec),
             "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"seed\":5,"
             "\"budget\":{\"max_architectures\":4}," SPACE "}",
             "\"children_per_update\":2,\"lstm_size\":16,");
    submit(d.port, spec, rl);
    snprintf(spec, sizeof(spec),
             "{\"algorithm\":\"random\",\"search_space\":\"nasrl-cnn\",\"dataset\":"
             "\"synthetic\",\"seed\":5,\"budget\":{\"max_architectures\":3}," SPACE "}",
             "\"parallel_children\":2,");
    submit(d.port, spec, rnd);
    /* nasrl-rnn: a base-2 tree cell, a tiny LM on the fortunes corpus */
    submit(d.port,
           "{\"algorithm\":\"nas-rl\",\"search_space\":\"nasrl-rnn\",\"dataset\":\"fortunes\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"children_per_update\":2,\"tree_base\":2,\"embed\":8,"
           "\"hidden\":8,\"bptt\":8,\"batch_size\":10,\"lstm_size\":8}}",
           rnn);

    check_search(d.port, rl, "nas-rl", 4);

    /* The controller learned once per update: 2 updates of 2. */
    json_t *metrics = get_sub(d.port, rl, "metrics"), *m;
    int loss = 0, ent = 0, base = 0;
    size_t i;
    json_array_foreach(json_object_get(metrics, "metrics"), i, m)
    {
        const char *name = str_at(m, "name");
        cr_assert(isfinite(json_number_value(at(m, "value"))), "%s", text_of(m));
        loss += name && !strcmp(name, "controller_loss");
        ent += name && !strcmp(name, "controller_entropy");
        base += name && !strcmp(name, "baseline");
    }
    cr_assert(loss == 2 && ent == 2 && base == 2, "controller metrics %d %d %d: %s", loss, ent,
              base, text_of(metrics));
    json_decref(metrics);

    check_search(d.port, rnd, "random", 3);

    /* nasrl-rnn: the cell JSON, perplexity, reward 80 / ppl^2 */
    json_t *job = wait_job(d.port, rnn, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "nasrl-rnn: %s", text_of(job));
    json_decref(job);
    json_t *res = get_sub(d.port, rnn, "result");
    cr_assert_str_eq(str_at(res, "metric"), "val_perplexity", "%s", text_of(res));
    double ppl = json_number_value(at(res, "value"));
    cr_assert(ppl > 1.0 && ppl < 1e4, "%s", text_of(res));
    cr_assert_eq(json_integer_value(at(res, "architecture.base")), 2, "%s", text_of(res));
    cr_assert_eq(json_array_size(at(res, "architecture.nodes")), 3, "%s", text_of(res));
    cr_assert(json_is_object(at(res, "architecture.cell_inject")), "%s", text_of(res));
    cr_assert(fabs(json_number_value(at(res, "details.reward")) - 80.0 / (ppl * ppl)) <
                  1e-9 * 80.0 / (ppl * ppl),
              "%s", text_of(res));
    json_decref(res);

    /* What is refused (final training runs: test_integration_model.c). */
    refused(d.port,
            "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"hyperparameters\":"
            "{\"num_filters\":[0]}}",
            400, "/hyperparameters/num_filters/0");
    refused(d.port,
            "{\"algorithm\":\"nas-rl\",\"dataset\":\"synthetic\",\"hyperparameters\":"
            "{\"start_layers\":8,\"max_layers\":4}}",
            400, "/hyperparameters/start_layers");
    refused(d.port, "{\"algorithm\":\"nas-rl\",\"dataset\":\"fortunes\"}", 400, "/dataset");

    int status = nasd_stop(&d, ITEST_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    PASS();
}

/* random over the ENAS CNN spaces: tiny networks (C 4), 3 arcs each. */
static void check_enas_random(int port, const char *id, const char *space, const char *key)
{
    json_t *job = wait_job(port, id, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "%s: %s", space, text_of(job));
    json_decref(job);
    json_t *res = get_sub(port, id, "result");
    cr_assert_str_eq(str_at(res, "metric"), "val_accuracy", "%s: %s", space, text_of(res));
    double v = json_number_value(at(res, "value"));
    cr_assert(v > 0.0 && v <= 1.0, "%s: val_accuracy %g", space, v);
    cr_assert(json_is_array(json_object_get(at(res, "architecture"), key)), "%s: %s", space,
              text_of(res));
    cr_assert_str_eq(str_at(res, "details.search_space"), space, "%s", text_of(res));
    json_t *page = get_sub(port, id, "architectures"), *row;
    size_t i;
    double best = -1.0;
    cr_assert_eq(json_array_size(json_object_get(page, "architectures")), 3);
    json_array_foreach(json_object_get(page, "architectures"), i, row)
    {
        cr_assert(json_is_array(json_object_get(at(row, "architecture"), key)), "%s row %zu: %s",
                  space, i, text_of(row));
        cr_assert(json_number_value(at(at(row, "metrics"), "parameters")) > 0, "%s", text_of(row));
        double r = json_number_value(at(row, "reward"));
        if (r > best)
            best = r;
    }
    cr_assert(fabs(best - v) < 1e-9, "%s: best row %g, result %g", space, best, v);
    json_decref(page);
    json_decref(res);
}

Test(nasrl, random_over_enas_and_darts_spaces_succeeds)
{
    nasd_proc d;
    char dir[PATH_MAX], micro[33], macro[33];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_start(&d, dir, flags, ITEST_START_MS), 0, "nasd did not start");
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"enas-micro\",\"dataset\":\"synthetic\","
           "\"seed\":5,\"budget\":{\"max_architectures\":3},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":50,\"parallel_children\":2,\"C\":4,"
           "\"layers\":1,\"nodes\":3,\"max_examples\":500}}",
           micro);
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"enas-macro\",\"dataset\":\"synthetic\","
           "\"seed\":5,\"budget\":{\"max_architectures\":3},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":50,\"parallel_children\":2,\"C\":4,"
           "\"layers\":3,\"max_examples\":500}}",
           macro);
    /* darts-rnn: a tiny language model per cell on the fortunes corpus */
    char rnn[33];
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"darts-rnn\",\"dataset\":\"fortunes\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":10,\"parallel_children\":2,\"embed\":8,"
           "\"hidden\":8,\"bptt\":8,\"max_vocab\":200}}",
           rnn);
    char ernn[33];
    submit(d.port,
           "{\"algorithm\":\"random\",\"search_space\":\"enas-rnn\",\"dataset\":\"fortunes\","
           "\"seed\":5,\"budget\":{\"max_architectures\":2},\"hyperparameters\":{"
           "\"child_epochs\":1,\"batch_size\":10,\"parallel_children\":2,\"nodes\":4,"
           "\"hidden\":8,\"bptt\":8,\"max_vocab\":200}}",
           ernn);
    check_enas_random(d.port, micro, "enas-micro", "normal");
    check_enas_random(d.port, macro, "enas-macro", "layers");

    json_t *job = wait_job(d.port, rnn, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "darts-rnn: %s", text_of(job));
    json_decref(job);
    json_t *res = get_sub(d.port, rnn, "result");
    cr_assert_str_eq(str_at(res, "metric"), "val_perplexity", "%s", text_of(res));
    double ppl = json_number_value(at(res, "value"));
    cr_assert(ppl > 1.0 && ppl < 1e4, "%s", text_of(res));
    json_t *rec = at(res, "architecture.recurrent");
    cr_assert(json_is_array(rec) && json_array_size(rec) == 8, "%s", text_of(res));
    cr_assert(fabs(json_number_value(at(res, "details.reward")) - 80.0 / (ppl * ppl)) <
                  1e-9 * 80.0 / (ppl * ppl),
              "%s", text_of(res));
    json_decref(res);

    /* enas-rnn: the arc JSON of the space, reward 80 / ppl */
    job = wait_job(d.port, ernn, NULL, JOB_MS);
    cr_assert_str_eq(str_at(job, "state"), "succeeded", "enas-rnn: %s", text_of(job));
    json_decref(job);
    res = get_sub(d.port, ernn, "result");
    cr_assert_str_eq(str_at(res, "metric"), "val_perplexity", "%s", text_of(res));
    ppl = json_number_value(at(res, "value"));
    cr_assert(ppl > 1.0 && ppl < 1e4, "%s", text_of(res));
    cr_assert_eq(json_array_size(at(res, "architecture.nodes")), 4, "%s", text_of(res));
    cr_assert(fabs(json_number_value(at(res, "details.reward")) - 80.0 / ppl) < 1e-9 * 80.0 / ppl,
              "%s", text_of(res));
    json_decref(res);
    int status = nasd_stop(&d, ITEST_STOP_MS);
    cr_assert_eq(status, 0, "nasd exited with %d after SIGTERM", status);
    PASS();
}
