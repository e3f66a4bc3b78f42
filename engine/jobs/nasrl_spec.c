/*
 * nasrl_spec.c - the job spec of the `nas-rl` and `random` kinds: their
 * defaults (api/spec_tables.c nasrl_cnn_hp, random_nasrl_cnn_hp,
 * random_darts_cnn_hp), the validation of every field they read (each
 * error names the field and what is allowed) and the canonical spec text
 * a checkpoint carries.
 *
 * The one design decision to know: max_architectures is not in the spec
 * text. The numbers of the first N architectures do not depend on it, so
 * a finished or interrupted search may be resumed with a larger budget
 * and goes on exactly where it stopped.
 */
#include "jobs/jobs.h"
#include "search/darts/darts.h"
#include "search/nasrl/nasrl.h"
#include "search/controller/controller.h"
#include "search/enas/enas.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------ defaults */

static void set_list(int *dst, int *n, const int *src, int count)
{
    if (*n)
        return;
    memcpy(dst, src, (size_t)count * sizeof(int));
    *n = count;
}

/* The nas-rl controller (Zoph & Le: 2 layers of 35 units). */
static void controller_defaults(nas_job_spec *s, float lr)
{
    SET0(s->ctrl_hidden, 35);
    SET0(s->ctrl_layers, 2);
    SET0(s->ctrl_lr, lr);
    SET0(s->ctrl_temperature, 1.0f);
    SET0(s->ctrl_baseline_decay, 0.99f);
}

void nas__nasrl_job_defaults(nas_job_spec *s)
{
    static const int fhw[4] = {1, 3, 5, 7}, nf[4] = {24, 36, 48, 64},
                     st[3] = {1, 2, 3};
    int random = s->algorithm && strcmp(s->algorithm, "random") == 0;
    SET0(s->search_space, "nasrl-cnn");
    SET0(s->epochs, 1);   /* unused: children train child_epochs */
    SET0(s->child_epochs, 5);
    SET0(s->children_per_update, 4);
    SET0(s->max_architectures, random ? 20 : 100);
    if (strcmp(s->search_space, "nasrl-rnn") == 0) {
        /* plain SGD like the train kind's LM (momentum, weight decay and
         * nesterov stay 0) */
        SET0(s->batch_size, 20);
        SET0(s->lr, 20.0f);
        SET0(s->tree_base, 8);
        SET0(s->embed, 200);
        SET0(s->hidden, 200);
        SET0(s->bptt, 35);
        SET0(s->max_vocab, 10000);
        SET0(s->grad_clip, 0.25f);
        SET0(s->dropout, 0.2f);
        SET0(s->reward_c, 80.0f);
        controller_defaults(s, 0.0005f);
        return;
    }
    if (strcmp(s->search_space, "enas-rnn") == 0) {
        /* the enas-rnn search's child training (random_job.c) */
        SET0(s->batch_size, 20);
        SET0(s->lr, 0.25f);
        SET0(s->nodes, 12);
        SET0(s->hidden, 720);
        SET0(s->bptt, 35);
        SET0(s->max_vocab, 10000);
        SET0(s->weight_decay, 1e-7f);
        SET0(s->grad_clip, 10.0f);
        SET0(s->dropout_e, 0.25f);
        SET0(s->dropout_x, 0.75f);
        SET0(s->dropout_h, 0.25f);
        SET0(s->dropout_o, 0.75f);
        SET0(s->reward_c, 80.0f);
        return;
    }
    if (strcmp(s->search_space, "darts-rnn") == 0) {
        /* darts-rnn's final training (jobs/darts_final.c) on the
         * darts-rnn search's model defaults; batch 64 as the reference's
         * rnn train.py */
        SET0(s->batch_size, 64);
        SET0(s->lr, 20.0f);
        SET0(s->weight_decay, 8e-7f);
        SET0(s->grad_clip, 0.25f);
        SET0(s->embed, 300);
        SET0(s->hidden, 300);
        SET0(s->bptt, 35);
        SET0(s->max_vocab, 10000);
        SET0(s->dropout, 0.75f);
        SET0(s->dropout_input, 0.2f);
        SET0(s->reward_c, 80.0f);
        return;
    }
    SET0(s->batch_size, 64);
    if (strcmp(s->search_space, "enas-micro") == 0 ||
        strcmp(s->search_space, "enas-macro") == 0) {
        /* enas' final training (jobs/enas_final.c) on the search's
         * network defaults (random_job.c) */
        int macro = strcmp(s->search_space, "enas-macro") == 0;
        SET0(s->C, macro ? 36 : 20);
        SET0(s->layers, macro ? 12 : 6);
        if (!macro)
            SET0(s->nodes, 5);
        SET0(s->lr, 0.05f);
        SET0(s->momentum, 0.9f);
        SET0(s->nesterov, 1);
        SET0(s->weight_decay, macro ? 1e-4f : 2e-4f);
        if (!macro)
            SET0(s->grad_clip, 5.0f);
        SET0(s->dropout, 0.1f);
        return;
    }
    if (strcmp(s->search_space, "darts-cnn") == 0) {
        /* darts' final training (quark0/darts train.py, no Nesterov) */
        SET0(s->C, 16);
        SET0(s->layers, 8);
        SET0(s->lr, 0.025f);
        SET0(s->momentum, 0.9f);
        SET0(s->weight_decay, 3e-4f);
        SET0(s->grad_clip, 5.0f);
        return;
    }
    SET0(s->lr, 0.1f);
    SET0(s->momentum, 0.9f);
    SET0(s->nesterov, 1);
    SET0(s->weight_decay, 1e-4f);
    SET0(s->start_layers, 6);
    SET0(s->max_layers, 15);
    SET0(s->layers_step, 2);
    SET0(s->grow_every, 1600);
    set_list(s->filter_heights, &s->nfilter_heights, fhw, 4);
    set_list(s->filter_widths, &s->nfilter_widths, fhw, 4);
    set_list(s->num_filters, &s->nnum_filters, nf, 4);
    set_list(s->strides, &s->nstrides, st, 3);
    controller_defaults(s, 0.0006f);
}

/* ---------------------------------------------------------- validation */

static int check_list(const char *name, const int *v, int n, int cap,
                      int lo, int hi)
{
    if (n < 1 || n > cap)
        return nas_fail(NAS_EINVAL, "%s: %d values, allowed 1 to %d", name, n,
                        cap);
    for (int i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi)
            return nas_fail(NAS_EINVAL, "%s: value %d is %d, outside [%d, %d]",
                            name, i, v[i], lo, hi);
    return NAS_OK;
}


/* random over enas-rnn: the language model of each arc. */
static int check_enas_rnn(const nas_job_spec *s)
{
    if (s->nodes < 2 || s->nodes > 64)
        return BAD("nodes", "%d is outside [2, 64]", s->nodes);
    if (s->hidden < 1 || s->hidden > 4096)
        return BAD("hidden", "%d is outside [1, 4096]", s->hidden);
    if (s->bptt < 1 || s->bptt > 1000)
        return BAD("bptt", "%d is outside [1, 1000]", s->bptt);
    if (s->max_vocab < 0 || s->max_vocab == 1)
        return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
    const float d[4] = {s->dropout_e, s->dropout_x, s->dropout_h,
                        s->dropout_o};
    static const char *const names[4] = {"dropout_e", "dropout_x",
                                         "dropout_h", "dropout_o"};
    for (int k = 0; k < 4; k++)
        if (!(d[k] >= 0.0f && d[k] < 1.0f))
            return nas_fail(NAS_EINVAL, "%s: %g must be in [0, 1)", names[k],
                            (double)d[k]);
    if (!(s->reward_c > 0.0f && isfinite(s->reward_c)))
        return BAD("reward_c", "%g must be > 0", (double)s->reward_c);
    return NAS_OK;
}

/* random over darts-rnn: the language model of each cell. */
static int check_darts_rnn(const nas_job_spec *s)
{
    if (strcmp(s->search_space, "enas-rnn") == 0)
        return check_enas_rnn(s);
    if (s->embed < 1 || s->embed > 4096)
        return BAD("embed", "%d is outside [1, 4096]", s->embed);
    if (s->hidden < 1 || s->hidden > 4096)
        return BAD("hidden", "%d is outside [1, 4096]", s->hidden);
    if (s->bptt < 1 || s->bptt > 1000)
        return BAD("bptt", "%d is outside [1, 1000]", s->bptt);
    if (s->max_vocab < 0 || s->max_vocab == 1)
        return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
    if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
        return BAD("dropout", "%g must be in [0, 1)", (double)s->dropout);
    if (!(s->dropout_input >= 0.0f && s->dropout_input < 1.0f))
        return BAD("dropout_i", "%g must be in [0, 1)",
                   (double)s->dropout_input);
    if (!(s->reward_c > 0.0f && isfinite(s->reward_c)))
        return BAD("reward_c", "%g must be > 0", (double)s->reward_c);
    return NAS_OK;
}

/* random over enas-micro / enas-macro: the network of each arc. */
static int check_enas(const nas_job_spec *s, const nas_dataset_desc *d)
{
    int micro = strcmp(s->search_space, "enas-micro") == 0;
    if (s->C < 1 || s->C > 1024)
        return BAD("C", "%d is outside [1, 1024]", s->C);
    if (s->layers < 1 || s->layers > 64)
        return BAD("layers", "%d is outside [1, 64]", s->layers);
    if (micro && (s->nodes < 2 || s->nodes > 16))
        return BAD("nodes", "%d is outside [2, 16]", s->nodes);
    if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
        return BAD("dropout", "%g must be in [0, 1)", (double)s->dropout);
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    nas_enas_cfg cfg = {.C = s->C, .layers = s->layers,
                        .nodes = micro ? s->nodes : 0, .in_c = d->c,
                        .h = d->h, .w = d->w, .classes = d->classes,
                        .dropout = s->dropout};
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "random: out of memory");
    int rc = sp->declare(p, &cfg, &self);
    if (rc == NAS_OK && nas__enas_arc_len(sp, self) > NAS__ENAS_MAX_DECISIONS)
        rc = BAD("layers", "%d: an arc of more than %d decisions", s->layers,
                 NAS__ENAS_MAX_DECISIONS);
    if (self)
        sp->free(self);
    nas_params_free(p);
    return rc;
}

static int check(const nas__job *j, int controller)
{
    const nas_job_spec *s = &j->spec;
    int rc, darts = strcmp(s->search_space, "darts-cnn") == 0;
    int rnn = strcmp(s->search_space, "nasrl-rnn") == 0;
    int enas = strcmp(s->search_space, "enas-micro") == 0 ||
               strcmp(s->search_space, "enas-macro") == 0;
    int drnn = strcmp(s->search_space, "darts-rnn") == 0 ||
               strcmp(s->search_space, "enas-rnn") == 0;
    if (strcmp(s->search_space, "nasrl-cnn") != 0 && !rnn &&
        (controller || (!darts && !enas && !drnn)))
        return BAD("search_space", "\"%s\" is not implemented for %s in this "
                   "engine (only \"nasrl-cnn\", \"nasrl-rnn\"%s)",
                   s->search_space, j->kind,
                   controller ? "" : ", \"darts-cnn\", \"darts-rnn\", "
                                     "\"enas-micro\", \"enas-macro\" and "
                                     "\"enas-rnn\"");
    if (strcmp(j->desc->kind, rnn || drnn ? "text" : "image") != 0)
        return BAD("dataset", "%s needs %s dataset, %s is %s",
                   s->search_space, rnn || drnn ? "a text" : "an image",
                   j->desc->name, j->desc->kind);
    if (s->max_architectures < 1 || s->max_architectures > 1000000)
        return BAD("max_architectures", "%d is outside [1, 1000000]",
                   s->max_architectures);
    if (s->child_epochs < 1 || s->child_epochs > 10000)
        return BAD("child_epochs", "%d is outside [1, 10000]", s->child_epochs);
    if (s->children_per_update < 1 || s->children_per_update > 256)
        return BAD(controller ? "children_per_update" : "parallel_children",
                   "%d is outside [1, 256]", s->children_per_update);
    if (s->batch_size < 1 || s->batch_size > 65536)
        return BAD("batch_size", "%d is outside [1, 65536]", s->batch_size);
    if (!(s->lr > 0.0f && s->lr <= 100.0f))
        return BAD("lr", "%g must be in (0, 100]", (double)s->lr);
    if (!(s->momentum >= 0.0f && s->momentum < 1.0f))
        return BAD("momentum", "%g must be in [0, 1)", (double)s->momentum);
    if (!(s->weight_decay >= 0.0f && s->weight_decay < 1.0f))
        return BAD("weight_decay", "%g must be in [0, 1)",
                   (double)s->weight_decay);
    if (s->nesterov != 0 && s->nesterov != 1)
        return BAD("nesterov", "%d must be 0 or 1", s->nesterov);
    if (!(s->max_seconds >= 0.0 && isfinite(s->max_seconds)))
        return BAD("max_seconds", "%g must be >= 0 (0: no limit)",
                   s->max_seconds);
    if (s->threads < 1 || s->threads > 64)
        return BAD("threads", "%d is outside [1, 64]", s->threads);
    if (s->resume && !s->checkpoint_path)
        return BAD("resume", "needs checkpoint_path");
    if (s->max_examples < 0 || s->max_examples == 1)
        return BAD("max_examples", "%d must be 0 (all) or >= 2",
                   s->max_examples);
    if (!(s->grad_clip >= 0.0f && isfinite(s->grad_clip)))
        return BAD("grad_clip", "%g must be >= 0 (0: off)",
                   (double)s->grad_clip);
    if (rnn) {
        if (s->tree_base != 2 && s->tree_base != 4 && s->tree_base != 8)
            return BAD("tree_base", "%d must be 2, 4 or 8", s->tree_base);
        if (s->embed < 1 || s->embed > 4096)
            return BAD("embed", "%d is outside [1, 4096]", s->embed);
        if (s->hidden < 1 || s->hidden > 4096)
            return BAD("hidden", "%d is outside [1, 4096]", s->hidden);
        if (s->bptt < 1 || s->bptt > 1000)
            return BAD("bptt", "%d is outside [1, 1000]", s->bptt);
        if (s->max_vocab < 0 || s->max_vocab == 1)
            return BAD("max_vocab", "%d must be 0 (no cap) or >= 2",
                       s->max_vocab);
        if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
            return BAD("dropout", "%g must be in [0, 1)", (double)s->dropout);
        if (!(s->reward_c > 0.0f && isfinite(s->reward_c)))
            return BAD("reward_c", "%g must be > 0", (double)s->reward_c);
    } else if (enas) {
        return check_enas(s, j->desc);
    } else if (drnn) {
        return check_darts_rnn(s);
    } else if (darts) {
        const nas_dataset_desc *d = j->desc;
        nas_darts_cfg cfg = {.C = s->C, .layers = s->layers, .in_c = d->c,
                             .h = d->h, .w = d->w, .classes = d->classes};
        return nas__darts_check_cfg(&cfg);
    }
    if (rnn)
        return controller ? nas__ctrl_check_spec(s) : NAS_OK;
    if (s->start_layers < 1 || s->start_layers > NAS_NASRL_MAX_LAYERS)
        return BAD("start_layers", "%d is outside [1, %d]", s->start_layers,
                   NAS_NASRL_MAX_LAYERS);
    if (s->max_layers < s->start_layers || s->max_layers > NAS_NASRL_MAX_LAYERS)
        return BAD("max_layers", "%d is outside [start_layers = %d, %d]",
                   s->max_layers, s->start_layers, NAS_NASRL_MAX_LAYERS);
    if (s->layers_step < 0 || s->layers_step > NAS_NASRL_MAX_LAYERS)
        return BAD("layers_step", "%d is outside [0, %d]", s->layers_step,
                   NAS_NASRL_MAX_LAYERS);
    if (s->grow_every < 1)
        return BAD("grow_every", "%d must be >= 1", s->grow_every);
    if ((rc = check_list("filter_heights", s->filter_heights,
                         s->nfilter_heights, 8, 1, 15)) < 0 ||
        (rc = check_list("filter_widths", s->filter_widths,
                         s->nfilter_widths, 8, 1, 15)) < 0 ||
        (rc = check_list("num_filters", s->num_filters, s->nnum_filters, 8,
                         1, 1024)) < 0 ||
        (rc = check_list("strides", s->strides, s->nstrides, 3, 1, 3)) < 0)
        return rc;
    if (s->search_strides != 0 && s->search_strides != 1)
        return BAD("search_strides", "%d must be 0 or 1", s->search_strides);
    if (s->reward_cube != 0 && s->reward_cube != 1)
        return BAD("reward", "%d must be 0 (accuracy) or 1 (cube-best-last5)",
                   s->reward_cube);
    return controller ? nas__ctrl_check_spec(s) : NAS_OK;
}

static void put(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static void put_list(char *b, size_t cap, const char *name, const int *v,
                     int n)
{
    put(b, cap, " %s=", name);
    for (int i = 0; i < n; i++)
        put(b, cap, "%s%d", i ? "," : "", v[i]);
}

static void cnn_text(char *b, size_t cap, const nas_job_spec *s)
{
    put(b, cap, " start_layers=%d max_layers=%d layers_step=%d grow_every=%d",
        s->start_layers, s->max_layers, s->layers_step, s->grow_every);
    put_list(b, cap, "filter_heights", s->filter_heights, s->nfilter_heights);
    put_list(b, cap, "filter_widths", s->filter_widths, s->nfilter_widths);
    put_list(b, cap, "num_filters", s->num_filters, s->nnum_filters);
    if (s->search_strides)
        put_list(b, cap, "strides", s->strides, s->nstrides);
    put(b, cap, " reward_cube=%d", s->reward_cube);
}

/* The fields that change the numbers (not max_architectures: a budget
 * may grow on resume, nor max_seconds, threads or paths). */
static void spec_text(nas__job *j, int controller)
{
    const nas_job_spec *s = &j->spec;
    char *b = j->spec_text;
    size_t cap = sizeof(j->spec_text);
    b[0] = '\0';
    put(b, cap, "kind=%s dataset=%s space=%s seed=%" PRIu64 " batch_size=%d "
        "child_epochs=%d children=%d lr=%.9g momentum=%.9g "
        "weight_decay=%.9g nesterov=%d grad_clip=%.9g max_examples=%d",
        j->kind, j->desc->name, s->search_space, s->seed, s->batch_size,
        s->child_epochs, s->children_per_update, (double)s->lr,
        (double)s->momentum, (double)s->weight_decay, s->nesterov,
        (double)s->grad_clip, s->max_examples);
    if (strcmp(s->search_space, "darts-cnn") == 0) {
        put(b, cap, " C=%d layers=%d", s->C, s->layers);
        return;
    }
    if (strcmp(s->search_space, "enas-rnn") == 0) {
        put(b, cap, " nodes=%d hidden=%d bptt=%d max_vocab=%d dropout_e=%.9g "
            "dropout_x=%.9g dropout_h=%.9g dropout_o=%.9g reward_c=%.9g",
            s->nodes, s->hidden, s->bptt, s->max_vocab,
            (double)s->dropout_e, (double)s->dropout_x,
            (double)s->dropout_h, (double)s->dropout_o,
            (double)s->reward_c);
        return;
    }
    if (strcmp(s->search_space, "darts-rnn") == 0) {
        put(b, cap, " embed=%d hidden=%d bptt=%d max_vocab=%d dropout=%.9g "
            "dropout_input=%.9g reward_c=%.9g", s->embed, s->hidden, s->bptt,
            s->max_vocab, (double)s->dropout, (double)s->dropout_input,
            (double)s->reward_c);
        return;
    }
    if (strncmp(s->search_space, "enas-", 5) == 0) {
        put(b, cap, " C=%d layers=%d nodes=%d dropout=%.9g", s->C, s->layers,
            s->nodes, (double)s->dropout);
        return;
    }
    if (strcmp(s->search_space, "nasrl-rnn") == 0) {
        put(b, cap, " tree_base=%d embed=%d hidden=%d bptt=%d max_vocab=%d "
            "dropout=%.9g reward_c=%.9g", s->tree_base, s->embed, s->hidden,
            s->bptt, s->max_vocab, (double)s->dropout, (double)s->reward_c);
    } else {
        cnn_text(b, cap, s);
    }
    if (controller)
        put(b, cap, " lstm_size=%d lstm_layers=%d controller_lr=%.9g "
            "entropy_weight=%.9g tanh_constant=%.9g temperature=%.9g "
            "baseline_decay=%.9g", s->ctrl_hidden, s->ctrl_layers,
            (double)s->ctrl_lr, (double)s->ctrl_entropy_weight,
            (double)s->ctrl_tanh, (double)s->ctrl_temperature,
            (double)s->ctrl_baseline_decay);
}

int nas__nasrl_job_prepare(nas__job *j)
{
    int controller = strcmp(j->kind, "nas-rl") == 0;
    nas_job_spec *s = &j->spec;
    if (!s->search_space)
        s->search_space = "nasrl-cnn";
    SET0(s->epochs, 1);
    int rc = check(j, controller);
    if (rc == NAS_OK)
        spec_text(j, controller);
    return rc;
}
