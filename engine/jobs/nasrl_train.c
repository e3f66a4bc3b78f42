// SPDX-License-Identifier: MIT
/*
 * nasrl_train.c - the `train` job on a NAS-RL architecture (issue #14): a
 * nasrl-cnn layer stack (NAS_ARCH_NASRL_CNN) or a nasrl-rnn cell
 * (NAS_ARCH_NASRL_RNN) trained from scratch exactly as the search trains
 * its children (search/nasrl/: the same network, optimizer and cosine
 * schedule), for the job's epochs on the training set (the first
 * max_examples images) or the corpus' train split, and scored on the
 * test set.
 *
 * The one design decision to know: the child's training is the search's
 * function, reused, not a copy in the train kind; so this kind has no
 * checkpoint of its own (a job resumed after a crash trains again from
 * the start) and its progress is counted in the child's steps through
 * the between-steps hook. The result's architecture is the space's own
 * JSON, as the search serves it (the API adds "space"), so it trains
 * again as it is. The genotype arrives as ints the API wrote
 * (api/spec_arch.c): nasrl-cnn "L, then per layer fh fw filters stride
 * k in_1 .. in_k", nasrl-rnn the controller's decisions of the space.
 */
#include "jobs/jobs.h"
#include "jobs/text_net.h"
#include "search/enas/enas.h"
#include "search/enas/enas_rnn.h"
#include "search/nasrl/nasrl.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INTS (NAS_NASRL_MAX_LAYERS * (5 + NAS_NASRL_MAX_LAYERS) + 1)

/* The genotype's ints into v[cap]; their count, or NAS_EINVAL. */
static int read_ints(const char *text, int *v, int cap)
{
    int n = 0;
    const char *p = text;
    if (memchr(text, '\0', NAS_GENOTYPE_MAX) == NULL)
        return BAD("genotype", "longer than %d bytes", NAS_GENOTYPE_MAX - 1);
    for (;;) {
        char *end;
        p += strspn(p, " ");
        if (!*p)
            return n;
        long x = strtol(p, &end, 10);
        if (end == p || n == cap || x < -1 || x > 100000)
            return BAD("genotype",
                       "not a list of at most %d small ints at "
                       "byte %d",
                       cap, (int)(p - text));
        v[n++] = (int)x;
        p = end;
    }
}

int nas__nasrl_cnn_fixed_arc(const nas_job_spec *s, nas_nasrl_arc *a)
{
    int *v = malloc(MAX_INTS * sizeof(int));
    if (!v)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    int n = read_ints(s->genotype, v, MAX_INTS), k = 1, rc = NAS_OK;
    memset(a, 0, sizeof(*a));
    if (n < 0) {
        rc = n;
        goto done;
    }
    if (n < 1 || v[0] < 1 || v[0] > NAS_NASRL_MAX_LAYERS) {
        rc = BAD("genotype", "a nasrl-cnn network has 1 to %d layers", NAS_NASRL_MAX_LAYERS);
        goto done;
    }
    a->nlayers = v[0];
    for (int l = 0; l < a->nlayers; l++) {
        if (k + 5 > n) {
            rc = BAD("genotype", "layer %d is cut short", l);
            goto done;
        }
        nas_nasrl_layer *L = &a->l[l];
        L->fh = v[k];
        L->fw = v[k + 1];
        L->filters = v[k + 2];
        L->stride = v[k + 3];
        int ni = v[k + 4];
        k += 5;
        if (L->fh < 1 || L->fh > 15 || L->fw < 1 || L->fw > 15)
            rc = BAD("genotype", "layer %d: filter %dx%d outside 1..15", l, L->fh, L->fw);
        else if (L->filters < 1 || L->filters > 1024)
            rc = BAD("genotype", "layer %d: %d filters outside 1..1024", l, L->filters);
        else if (L->stride < 1 || L->stride > 3)
            rc = BAD("genotype", "layer %d: stride %d outside 1..3", l, L->stride);
        else if (ni < 0 || ni > l || k + ni > n)
            rc = BAD("genotype", "layer %d: %d inputs", l, ni);
        if (rc < 0)
            goto done;
        for (int i = 0; i < ni; i++, k++) {
            if (v[k] < 0 || v[k] >= l) {
                rc = BAD("genotype",
                         "layer %d: input %d is not an earlier "
                         "layer",
                         l, v[k]);
                goto done;
            }
            L->inputs |= (uint64_t)1 << v[k];
        }
    }
    if (k != n)
        rc = BAD("genotype", "%d ints after the last layer", n - k);
done:
    free(v);
    return rc;
}

int nas__nasrl_rnn_fixed_dec(const nas_job_spec *s, int *dec, int cap)
{
    nas_json_buf b = {0};
    int n = read_ints(s->genotype, dec, cap);
    if (n < 0)
        return n;
    int rc = nas__nasrl_rnn_space.arc_json(s, dec, n, &b);
    free(b.s);
    return rc < 0 ? nas_fail(rc, "genotype: %s", nas_errmsg()) : n;
}

void nas__text_arch_sizes(nas_json_buf *a, const nas_job_spec *s)
{
    if (a->oom || !a->len || a->s[a->len - 1] != '}')
        return;
    a->s[--a->len] = '\0';
    nas__json_num(a, 0, "embed", s->embed);
    nas__json_num(a, 0, "hidden", s->hidden);
    nas__json_num(a, 0, "bptt", s->bptt);
    nas__json_buf_puts(a, "}");
}

int nas__nasrl_fixed_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf, size_t cap)
{
    int text = strcmp(d->kind, "text") == 0;
    int rnn = s->arch == NAS_ARCH_NASRL_RNN, rc;
    size_t len = strlen(buf);
    if (text != rnn)
        return BAD("arch", "a nasrl-%s network needs %s data, %s holds %s", rnn ? "rnn" : "cnn",
                   rnn ? "text" : "image", d->name, d->kind);
    if (rnn) {
        int dec[64];
        if (s->tree_base != 2 && s->tree_base != 4 && s->tree_base != 8)
            return BAD("tree_base", "%d must be 2, 4 or 8", s->tree_base);
        if (s->embed < 1 || s->hidden < 1 || s->bptt < 1)
            return BAD("hidden", "embed, hidden and bptt must be >= 1");
        if (s->max_vocab < 0 || s->max_vocab == 1)
            return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
        int n = read_ints(s->genotype, dec, 64);
        if (n < 0)
            return n;
        nas_json_buf b = {0};
        rc = nas__nasrl_rnn_space.arc_json(s, dec, n, &b);
        free(b.s);
        if (rc < 0)
            return nas_fail(rc, "genotype: %s", nas_errmsg());
        snprintf(buf + len, cap - len,
                 " arch=nasrl-rnn base=%d cell=%s "
                 "embed=%d hidden=%d bptt=%d max_vocab=%d",
                 s->tree_base, s->genotype, s->embed, s->hidden, s->bptt, s->max_vocab);
        return NAS_OK;
    }
    nas_nasrl_arc *a = malloc(sizeof(*a));
    if (!a)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    rc = nas__nasrl_cnn_fixed_arc(s, a);
    free(a);
    if (rc == NAS_OK)
        snprintf(buf + len, cap - len, " arch=nasrl-cnn layers=%s augment=%d", s->genotype,
                 s->augment);
    return rc;
}

/* ------------------------------------------------------------------ run */

typedef struct run {
    nas__job *j;
    nas__job_pos pos;
    int64_t steps, total;
    int by_time;
    const char *arch_json;
    const nas__nasrl_data *d;
} run;

/* Between two of the child's steps: progress, cancel, time. */
static int between(void *ctx)
{
    run *r = ctx;
    int why = nas__job_check(r->j);
    r->pos.global_step = ++r->steps <= r->total ? r->steps : r->total;
    nas__job_progress(r->j, &r->pos, r->total);
    if (why == NAS__STOP_TIME)
        r->by_time = 1;
    return why != NAS_RUN;
}

static int keep(void *ctx, nas_params *p, const nas_nasrl_child *out)
{
    const run *r = ctx;
    nas__text_net tn = {0};
    nas__model_info m = {.arch_json = r->arch_json,
                         .metric = r->d->corpus ? "test_perplexity" : "test_accuracy",
                         .value = out->val_metric,
                         .train = r->d->train,
                         .corpus = r->d->corpus,
                         .forward = out->model ? out->model->forward : NULL,
                         .forward_ctx = out->model ? out->model->self : NULL};
    if (r->d->corpus) { /* the cell's one step, for the ONNX file */
        if (nas__text_net_bind(p, &r->j->spec, r->d->corpus->vocab_size, &tn) < 0)
            nas__job_log(r->j, "no ONNX model: %s", nas_errmsg());
        else
            nas__text_net_model_info(&tn, &m);
    }
    int rc = nas__job_save_model(r->j, p, &m);
    nas__text_net_free(&tn);
    return rc;
}

int nas__train_nasrl(nas__job *j)
{
    const nas_job_spec *s = &j->spec;
    int rnn = s->arch == NAS_ARCH_NASRL_RNN, rc, dec[64], n = 0;
    nas__nasrl_data d = {0};
    nas_corpus test_as_valid;
    nas_nasrl_arc *arc = NULL;
    nas_nasrl_child out = {0};
    nas_json_buf a = {0}, res = {0}, met = {0};
    run r = {.j = j, .d = &d};

    if (rnn) {
        if ((rc = nas__job_load_corpus(j, &d.corpus)) < 0)
            goto done;
        test_as_valid = *d.corpus; /* scored on the test split */
        test_as_valid.valid = d.corpus->test;
        test_as_valid.nvalid = d.corpus->ntest;
        n = read_ints(s->genotype, dec, 64);
        r.total = (int64_t)s->epochs * (d.corpus->ntrain / (s->batch_size > 0 ? s->batch_size : 1) /
                                        (s->bptt > 0 ? s->bptt : 1));
        rc = nas__nasrl_rnn_space.arc_json(s, dec, n, &a);
        if (rc < 0)
            goto done;
        nas__text_arch_sizes(&a, s);
    } else {
        if (!(arc = malloc(sizeof(*arc)))) {
            rc = nas_fail(NAS_ENOMEM, "train: out of memory");
            goto done;
        }
        if ((rc = nas__nasrl_cnn_fixed_arc(s, arc)) < 0 ||
            (rc = nas__job_load_images(j, &d.train, &d.val)) < 0)
            goto done;
        if (s->max_examples > 0 && s->max_examples < d.train->n)
            d.train->n = s->max_examples;
        r.total = (int64_t)s->epochs * (d.train->n / s->batch_size);
        nas__nasrl_cnn_arc_json(arc, &a);
    }
    r.arch_json = a.s;
    r.pos.epoch = 1;
    j->t0 = nas__now();
    nas_nasrl_train_cfg cfg = {
        .epochs = s->epochs,
        .batch_size = s->batch_size,
        .threads = s->threads,
        .lr = s->lr,
        .momentum = s->momentum,
        .weight_decay = s->weight_decay,
        .grad_clip = s->grad_clip,
        .nesterov = s->nesterov,
        .seed = s->seed,
        .should_stop = between,
        .stop_ctx = &r,
        .keep = keep,
        .keep_ctx = &r,
    };
    nas__job_log(j,
                 "train: %s from scratch for %d epochs (the search's child "
                 "training; no checkpoints)",
                 rnn ? "nasrl-rnn cell" : "nasrl-cnn network", s->epochs);
    if (rnn) {
        nas__nasrl_data td = {.corpus = &test_as_valid};
        r.d = &d;
        rc = nas__nasrl_rnn_space.train(s, dec, n, &cfg, &td, &out);
    } else {
        rc = nas__nasrl_cnn_train(arc, &cfg, d.train, d.val, &out);
    }
    nas_set_threads(s->threads);
    if (rc == NAS_ECANCELLED && r.by_time)
        rc = nas_fail(NAS_ECANCELLED,
                      "max_seconds: %g s ran out before the "
                      "last epoch; a nasrl network is not scored before its "
                      "training ends",
                      s->max_seconds);
    else if (rc == NAS_ECANCELLED)
        rc = nas_fail(NAS_ECANCELLED, "train: stopped after %" PRId64 " steps", r.steps);
    if (rc < 0)
        goto done;
    const char *name = rnn ? "test_perplexity" : "test_accuracy";
    nas__json_buf_puts(&met, "{");
    nas__json_num(&met, 1, name, out.val_metric);
    nas__json_num(&met, 0, "train_loss", out.train_loss);
    nas__json_buf_puts(&met, "}");
    nas__json_buf_puts(&res, "{\"dataset\":");
    nas__json_buf_str(&res, j->desc->name, "");
    nas__json_num(&res, 0, name, out.val_metric);
    nas__json_num(&res, 0, "train_loss", out.train_loss);
    nas__json_num(&res, 0, "epochs", out.epochs);
    nas__json_num(&res, 0, "steps", (double)r.steps);
    nas__json_num(&res, 0, "parameters", (double)out.parameters);
    nas__json_buf_puts(&res, ",\"stopped_by\":\"epochs\"");
    nas__json_num(&res, 0, "seconds", nas__job_elapsed(j));
    nas__json_buf_puts(&res, "}");
    rc = nas__job_report(j, &a, &res, &met, rnn ? 80.0 / out.val_metric : out.val_metric, name,
                         out.val_metric);
    a = res = met = (nas_json_buf){0}; /* freed by the report */
done:
    free(a.s);
    free(res.s);
    free(met.s);
    free(arc);
    nas_dataset_free(d.train);
    nas_dataset_free(d.val);
    nas_corpus_free(d.corpus);
    return rc;
}

/* Here beside the other architecture helper of the train kind: the names
 * live with their spaces. */
const char *const *nas_arch_choice_names(const char *space, const char *what, int *n)
{
    static const struct {
        const char *space, *what;
        const char *const *names;
        int n;
    } table[] = {
        {"enas-micro", "op", nas__enas_micro_op_names, 5},
        {"enas-macro", "op", nas__enas_macro_op_names, 6},
        {"enas-rnn", "activation", nas__enas_rnn_act_names, NAS_ENAS_RNN_NACT},
        {"nasrl-rnn", "combine", nas__nasrl_rnn_comb_names, 2},
        {"nasrl-rnn", "activation", nas__nasrl_rnn_act_names, 4},
    };
    *n = 0;
    for (size_t i = 0; space && what && i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].space, space) == 0 && strcmp(table[i].what, what) == 0) {
            *n = table[i].n;
            return table[i].names;
        }
    return NULL;
}
