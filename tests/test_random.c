// SPDX-License-Identifier: MIT
/*
 * test_random.c - the random-search baseline over the spaces it shares
 * with DARTS and ENAS (darts-cnn, enas-micro, enas-macro, darts-rnn,
 * enas-rnn): every sampled architecture is valid, each decision is
 * uniform (chi-square tests), and a short search of each runs to a result
 * that is its best child. (Random search over nasrl-cnn, and NAS with RL
 * itself: tests/test_nasrl.c.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job_seen.h"
#include "jobs/jobs.h"
#include "nas.h"
#include "search/controller/controller.h"
#include "search/darts/darts.h"
#include "search/nasrl/nasrl.h"
#include "spec.h"

/* ------------------------------------------------------------ helpers */

/* A random search over space on dataset, every other field its default. */
static nas_job_spec random_spec(const char *space, const char *dataset)
{
    nas_job_spec s;
    memset(&s, 0, sizeof(s));
    s.algorithm = "random";
    s.dataset = dataset;
    s.search_space = space;
    nas_job_spec_defaults(&s);
    return s;
}

/* Two architectures, trained concurrently on two threads: two reports
 * and one result whose architecture starts with arch_prefix; the result
 * is the best child's (perplexity: the metric of a text space). */
static seen two_children(nas_job_spec s, int perplexity, const char *arch_prefix)
{
    seen sn = {0};
    s.max_architectures = 2;
    s.children_per_update = 2;
    s.threads = 2;
    nas_job_reporter rep = {
        .ctx = &sn, .architecture = on_arch, .result = perplexity ? on_result_any : on_result};
    cr_assert_eq(nas_job_run(&s, &rep, NULL), NAS_OK, "%s", nas_errmsg());
    cr_expect_eq(sn.archs, 2);
    cr_expect_eq(sn.results, 1);
    cr_expect(strncmp(sn.result_arch, arch_prefix, strlen(arch_prefix)) == 0, "%s", sn.result_arch);
    return sn;
}

static double best_reward(const seen *sn)
{
    return sn->reward[0] > sn->reward[1] ? sn->reward[0] : sn->reward[1];
}

/* s is refused before anything runs, naming field first. */
static void refused(nas_job_spec s, const char *field)
{
    cr_assert_eq(nas_job_run(&s, NULL, NULL), NAS_EINVAL);
    cr_assert(strncmp(nas_errmsg(), field, strlen(field)) == 0 &&
                  nas_errmsg()[strlen(field)] == ':',
              "%s: %s", field, nas_errmsg());
}

static double chi2(const long *obs, int k, double n)
{
    double chi = 0.0;
    for (int i = 0; i < k; i++)
        chi += (obs[i] - n / k) * (obs[i] - n / k) / (n / k);
    return chi;
}

/* ------------------------------------------------- random on darts-cnn */

/* The engine's spec of a train job on a sampled architecture (arch, JSON
 * text, as the search serves it), through the API's one parser and the
 * engine's validation: a sample a train job would refuse fails here. */
static nas_job_spec train_spec_of(const char *space, const char *arch)
{
    char body[4096];
    json_t *spec = NULL;
    api_problem e = {0};
    nas_job_spec js;
    snprintf(body, sizeof body,
             "{\"algorithm\":\"train\",\"dataset\":\"%s\","
             "\"architecture\":{\"space\":\"%s\",\"genotype\":%s}}",
             strcmp(space, "darts-rnn") ? "synthetic" : "fortunes", space, arch);
    cr_assert_eq(api_spec_normalize(body, strlen(body), 1, &spec, &e), 0, "%s: %s", arch, e.detail);
    cr_assert_eq(api_spec_to_engine(spec, NULL, 1, &js, &e), 0, "%s: %s", arch, e.detail);
    json_decref(spec);
    js.algorithm = js.search_space = NULL; /* they pointed into spec */
    js.dataset = strcmp(space, "darts-rnn") ? "synthetic" : "fortunes";
    cr_assert_eq(nas_job_validate(&js), NAS_OK, "%s: %s", arch, nas_errmsg());
    return js;
}

Test(nasrl_random, darts_genotypes_are_uniform_and_valid)
{
    /* Node 3's two inputs: an unordered pair of {0..4}, 10 pairs equally
     * likely; its first op uniform over 7. Every sample is a genotype a
     * train job takes. */
    nas_job_spec s = random_spec("darts-cnn", "synthetic");
    const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
    cr_assert_str_eq(sp->name, "darts-cnn");
    int n = sp->arc_len(&s, 0), dec[64];
    cr_assert_eq(n, 32);
    enum { N = 7000 };
    long pair[5][5] = {{0}}, op[7] = {0};
    nas_rng r;
    nas_rng_seed(&r, 8);
    for (int i = 0; i < N; i++) {
        sp->sample_uniform(&s, 0, &r, dec);
        const int *d = dec + 12; /* normal cell, node 3 */
        int a = d[0], b = d[2] + (d[2] >= d[0]);
        cr_assert(a != b && a < 5 && b < 5);
        pair[a < b ? a : b][a < b ? b : a]++;
        op[d[1]]++;
        if (i < 50) {
            nas_json_buf jb = {0};
            cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_OK);
            nas_job_spec js = train_spec_of("darts-cnn", jb.s);
            cr_assert_eq(js.darts_cnn.normal.from[3][0], d[0]);
            free(jb.s);
        }
    }
    double chi = 0.0;
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            chi += (pair[a][b] - N / 10.0) * (pair[a][b] - N / 10.0) / (N / 10.0);
    cr_expect(chi < 27.88, "input pair chi2 %g (9 dof)", chi);
    cr_expect(chi2(op, 7, N) < 22.46, "op chi2 %g (6 dof)", chi2(op, 7, N));
}

Test(nasrl_random, darts_cnn_search_runs)
{
    nas_job_spec s = random_spec("darts-cnn", "synthetic");
    s.C = 4;
    s.layers = 3;
    s.child_epochs = 1;
    s.batch_size = 100;
    s.seed = 4;
    seen sn = two_children(s, 0, "{\"normal\":[[");
    cr_expect(sn.value >= 0.0 && sn.value <= 1.0);
    cr_expect(sn.value == best_reward(&sn));
}

/* ------------------------------------------- random over the ENAS spaces */

static nas_job_spec enas_random(const char *space)
{
    nas_job_spec s = random_spec(space, "synthetic");
    s.C = 4;
    s.layers = strcmp(space, "enas-macro") == 0 ? 3 : 1;
    if (strcmp(space, "enas-micro") == 0)
        s.nodes = 3;
    return s;
}

Test(nasrl_random, enas_micro_arcs_are_uniform_and_valid)
{
    /* 3 nodes per cell, decisions per node (in1, in2, op1, op2): node 2 of
     * the normal cell picks among 4 inputs, its ops among 5; node 0 of
     * the reduction cell among 2 inputs. Critical values at p = 0.001. */
    nas_job_spec s = enas_random("enas-micro");
    const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
    cr_assert_str_eq(sp->name, "enas-micro");
    int n = sp->arc_len(&s, 0), dec[64];
    cr_assert_eq(n, 2 * 3 * 4);
    enum { N = 6000 };
    long in2[4] = {0}, op2[5] = {0}, in0[2] = {0}, op0r[5] = {0};
    nas_rng r;
    nas_rng_seed(&r, 9);
    for (int i = 0; i < N; i++) {
        sp->sample_uniform(&s, 0, &r, dec);
        in2[dec[8]]++;
        op2[dec[11]]++;
        in0[dec[12 + 1]]++;
        op0r[dec[12 + 2]]++;
        if (i < 30) {
            nas_json_buf jb = {0};
            cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_OK, "%s", nas_errmsg());
            cr_assert(strncmp(jb.s, "{\"normal\":[{\"inputs\":[", 22) == 0, "%s", jb.s);
            free(jb.s);
        }
    }
    cr_expect(chi2(in2, 4, N) < 16.27, "input chi2 %g (3 dof)", chi2(in2, 4, N));
    cr_expect(chi2(op2, 5, N) < 18.47, "op chi2 %g (4 dof)", chi2(op2, 5, N));
    cr_expect(chi2(in0, 2, N) < 10.83, "input chi2 %g (1 dof)", chi2(in0, 2, N));
    cr_expect(chi2(op0r, 5, N) < 18.47, "op chi2 %g (4 dof)", chi2(op0r, 5, N));
    /* A decision out of its range is refused. */
    dec[8] = 4;
    nas_json_buf jb = {0};
    cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_EINVAL);
    free(jb.s);
}

Test(nasrl_random, enas_macro_arcs_are_uniform_and_valid)
{
    /* 3 layers: op; op, 1 skip bit; op, 2 skip bits. Layer 2's op is
     * uniform over 6, each of its skip bits a fair coin, independently. */
    nas_job_spec s = enas_random("enas-macro");
    const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
    cr_assert_str_eq(sp->name, "enas-macro");
    int n = sp->arc_len(&s, 0), dec[16];
    cr_assert_eq(n, 6);
    enum { N = 6000 };
    long op[6] = {0}, bits[4] = {0};
    nas_rng r;
    nas_rng_seed(&r, 10);
    for (int i = 0; i < N; i++) {
        sp->sample_uniform(&s, 0, &r, dec);
        op[dec[3]]++;
        bits[dec[4] * 2 + dec[5]]++;
        if (i < 30) {
            nas_json_buf jb = {0};
            cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_OK, "%s", nas_errmsg());
            free(jb.s);
        }
    }
    cr_expect(chi2(op, 6, N) < 20.52, "op chi2 %g (5 dof)", chi2(op, 6, N));
    cr_expect(chi2(bits, 4, N) < 16.27, "skip pairs chi2 %g (3 dof)", chi2(bits, 4, N));
}

Test(nasrl_random, enas_micro_search_runs)
{
    nas_job_spec s = enas_random("enas-micro");
    s.child_epochs = 1;
    s.batch_size = 50;
    s.seed = 4;
    seen sn = two_children(s, 0, "{\"normal\":[{\"inputs\":[");
    cr_expect(sn.value == best_reward(&sn));

    /* The network's fields are checked by name. */
    s = enas_random("enas-micro");
    s.nodes = 1;
    refused(s, "nodes");
    s = enas_random("enas-macro");
    s.C = -1;
    refused(s, "C");
}

/* ------------------------------------------------ random over darts-rnn */

static nas_job_spec darts_rnn_random(void)
{
    nas_job_spec s = random_spec("darts-rnn", "fortunes");
    s.embed = s.hidden = 8;
    s.bptt = 8;
    s.max_vocab = 200;
    s.batch_size = 10;
    s.child_epochs = 1;
    s.seed = 6;
    return s;
}

Test(nasrl_random, darts_rnn_cells_are_uniform_and_valid)
{
    /* Node 4 (1-based) takes s0 or nodes 1..3 (4 choices), its op one of
     * tanh, relu, sigmoid, identity; node 1 always s0. Every sample is a
     * genotype a train job takes. */
    nas_job_spec s = darts_rnn_random();
    const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
    cr_assert_str_eq(sp->name, "darts-rnn");
    int n = sp->arc_len(&s, 0), dec[32];
    cr_assert_eq(n, 16);
    enum { N = 6000 };
    long from[4] = {0}, op[4] = {0}, last[8] = {0};
    nas_rng r;
    nas_rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        sp->sample_uniform(&s, 0, &r, dec);
        cr_assert_eq(dec[0], 0);
        from[dec[6]]++;
        op[dec[7]]++;
        last[dec[14]]++;
        if (i < 30) {
            nas_json_buf jb = {0};
            cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_OK, "%s", nas_errmsg());
            nas_job_spec js = train_spec_of("darts-rnn", jb.s);
            cr_assert_eq(js.darts_rnn.from[3], dec[6]);
            free(jb.s);
        }
    }
    cr_expect(chi2(from, 4, N) < 16.27, "input chi2 %g (3 dof)", chi2(from, 4, N));
    cr_expect(chi2(op, 4, N) < 16.27, "op chi2 %g (3 dof)", chi2(op, 4, N));
    cr_expect(chi2(last, 8, N) < 24.32, "node 8 input chi2 %g (7 dof)", chi2(last, 8, N));
}

Test(nasrl_random, darts_rnn_search_runs)
{
    seen sn = two_children(darts_rnn_random(), 1, "{\"recurrent\": [[");
    cr_expect(sn.value > 1.0 && isfinite(sn.value), "val perplexity %g", sn.value);
    /* reward = 80 / ppl^2 of the best (lowest perplexity) cell */
    double best = best_reward(&sn);
    cr_expect(fabs(best - 80.0 / (sn.value * sn.value)) < 1e-9 * best, "%g vs %g", best,
              80.0 / (sn.value * sn.value));

    nas_job_spec s = darts_rnn_random();
    s.dropout_input = 1.0f;
    refused(s, "dropout_i");
}

/* ------------------------------------------------- random over enas-rnn */

static nas_job_spec enas_rnn_random(void)
{
    nas_job_spec s = random_spec("enas-rnn", "fortunes");
    s.nodes = 4;
    s.hidden = 8;
    s.bptt = 8;
    s.max_vocab = 200;
    s.batch_size = 10;
    s.child_epochs = 1;
    s.seed = 6;
    return s;
}

Test(nasrl_random, enas_rnn_arcs_are_uniform_and_valid)
{
    /* 4 nodes: node 0's activation, then per node i its input in [0, i)
     * and activation; node 3 picks among 3 inputs. */
    nas_job_spec s = enas_rnn_random();
    const nas__nasrl_space *sp = nas__nasrl_space_of(&s);
    cr_assert_str_eq(sp->name, "enas-rnn");
    int n = sp->arc_len(&s, 0), dec[16];
    cr_assert_eq(n, 7);
    enum { N = 6000 };
    long act0[4] = {0}, in3[3] = {0}, act3[4] = {0};
    nas_rng r;
    nas_rng_seed(&r, 12);
    for (int i = 0; i < N; i++) {
        sp->sample_uniform(&s, 0, &r, dec);
        cr_assert_eq(dec[1], 0, "node 1 reads node 0");
        act0[dec[0]]++;
        in3[dec[5]]++;
        act3[dec[6]]++;
        if (i < 30) {
            nas_json_buf jb = {0};
            cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_OK, "%s", nas_errmsg());
            cr_assert(strncmp(jb.s, "{\"nodes\":", 9) == 0, "%s", jb.s);
            free(jb.s);
        }
    }
    cr_expect(chi2(act0, 4, N) < 16.27, "activation chi2 %g (3 dof)", chi2(act0, 4, N));
    cr_expect(chi2(in3, 3, N) < 13.82, "input chi2 %g (2 dof)", chi2(in3, 3, N));
    cr_expect(chi2(act3, 4, N) < 16.27, "activation chi2 %g (3 dof)", chi2(act3, 4, N));
    dec[5] = 3; /* node 3 cannot read itself */
    nas_json_buf jb = {0};
    cr_assert_eq(sp->arc_json(&s, dec, n, &jb), NAS_EINVAL);
    free(jb.s);
}

Test(nasrl_random, enas_rnn_search_runs)
{
    seen sn = two_children(enas_rnn_random(), 1, "{\"nodes\":");
    cr_expect(sn.value > 1.0 && isfinite(sn.value), "val perplexity %g", sn.value);
    double best = best_reward(&sn);
    cr_expect(fabs(best - 80.0 / sn.value) < 1e-9 * best, "reward %g vs 80/ppl %g", best,
              80.0 / sn.value);

    nas_job_spec s = enas_rnn_random();
    s.dropout_h = 1.0f;
    refused(s, "dropout_h");
}
