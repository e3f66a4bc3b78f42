// SPDX-License-Identifier: MIT
/*
 * nasrl_spec.c - the job spec of the `nas-rl` and `random` kinds: the
 * defaults no row of the spec table holds, the validation of every field
 * they read (each error names the field and what is allowed), and the
 * canonical spec text a checkpoint carries. The keys' defaults, types and
 * ranges are the table's rows (engine/jobs/spec_table.c nasrl_*_hp,
 * random_*_hp), read through nas_job_spec_defaults and nas__spec_check.
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

/* Every key of the API is a row of the spec table (nasrl_*_hp,
 * random_*_hp), applied by nas_job_spec_defaults before this; here only
 * what no row holds: the space, and the fixed child training of the
 * spaces random borrows (their optimizer is not a key of random). */
void nas__nasrl_job_defaults(nas_job_spec *s)
{
    SET0(s->search_space, "nasrl-cnn");
    SET0(s->epochs, 1); /* unused: children train child_epochs */
    if (strcmp(s->search_space, "nasrl-rnn") == 0) {
        /* plain SGD like the train kind's LM (momentum, weight decay and
         * nesterov stay 0) */
        SET0(s->max_vocab, 10000);
        return;
    }
    if (strcmp(s->search_space, "darts-rnn") == 0) {
        /* darts-rnn's final training (jobs/darts_final.c) */
        SET0(s->lr, 20.0f);
        SET0(s->weight_decay, 8e-7f);
        SET0(s->grad_clip, 0.25f);
        return;
    }
    if (strcmp(s->search_space, "enas-micro") == 0 || strcmp(s->search_space, "enas-macro") == 0) {
        /* enas' final training (jobs/enas_final.c) */
        int macro = strcmp(s->search_space, "enas-macro") == 0;
        SET0(s->lr, 0.05f);
        SET0(s->momentum, 0.9f);
        SET0(s->nesterov, 1);
        SET0(s->weight_decay, macro ? 1e-4f : 2e-4f);
        if (!macro)
            SET0(s->grad_clip, 5.0f);
        return;
    }
    if (strcmp(s->search_space, "darts-cnn") == 0) {
        /* darts' final training (quark0/darts train.py, no Nesterov) */
        SET0(s->lr, 0.025f);
        SET0(s->momentum, 0.9f);
        SET0(s->weight_decay, 3e-4f);
        SET0(s->grad_clip, 5.0f);
    }
}

/* ---------------------------------------------------------- validation */

/* random over enas-micro / enas-macro: the network of each arc, by
 * declaring it (the space's own rules: enas-macro's C even, an arc the
 * controller program can hold). */
static int check_enas(const nas_job_spec *s, const nas_dataset_desc *d)
{
    int micro = strcmp(s->search_space, "enas-micro") == 0;
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    nas_enas_cfg cfg = {.C = s->C,
                        .layers = s->layers,
                        .nodes = micro ? s->nodes : 0,
                        .in_c = d->c,
                        .h = d->h,
                        .w = d->w,
                        .classes = d->classes,
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

static int has(const nas_spec_space *row, const char *name)
{
    return nas_spec_field_find(row->hp, name) != NULL;
}

/* What the space's row of the spec table does not bound: the budget,
 * threads, resume, batch_size (wider here than the API's: a direct caller
 * may give a child more than the API allows, tests/test_nasrl.c), the
 * rule that a vocabulary of one word is no cap, and the child training a
 * random space borrows (set by the defaults above, no key of the API). */
static int check_engine(const nas_job_spec *s, const nas_spec_space *row)
{
    if (s->max_architectures < 1 || s->max_architectures > 1000000)
        return BAD("max_architectures", "%d is outside [1, 1000000]", s->max_architectures);
    if (!(s->max_seconds >= 0.0 && isfinite(s->max_seconds)))
        return BAD("max_seconds", "%g must be >= 0 (0: no limit)", s->max_seconds);
    if (s->threads < 1 || s->threads > 64)
        return BAD("threads", "%d is outside [1, 64]", s->threads);
    if (s->resume && !s->checkpoint_path)
        return BAD("resume", "needs checkpoint_path");
    if (s->batch_size < 1 || s->batch_size > 65536)
        return BAD("batch_size", "%d is outside [1, 65536]", s->batch_size);
    if (s->max_vocab < 0 || s->max_vocab == 1)
        return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
    if (!has(row, "max_examples") && (s->max_examples < 0 || s->max_examples == 1))
        return BAD("max_examples", "%d must be 0 (all) or >= 2", s->max_examples);
    if (!has(row, "lr") && !(s->lr > 0.0f && s->lr <= 100.0f))
        return BAD("lr", "%g must be in (0, 100]", (double)s->lr);
    if (!has(row, "momentum") && !(s->momentum >= 0.0f && s->momentum < 1.0f))
        return BAD("momentum", "%g must be in [0, 1)", (double)s->momentum);
    if (!has(row, "weight_decay") && !(s->weight_decay >= 0.0f && s->weight_decay < 1.0f))
        return BAD("weight_decay", "%g must be in [0, 1)", (double)s->weight_decay);
    if (!has(row, "nesterov") && s->nesterov != 0 && s->nesterov != 1)
        return BAD("nesterov", "%d must be 0 or 1", s->nesterov);
    if (!has(row, "grad_clip") && !(s->grad_clip >= 0.0f && isfinite(s->grad_clip)))
        return BAD("grad_clip", "%g must be >= 0 (0: off)", (double)s->grad_clip);
    return NAS_OK;
}

/* Every key of the API against its row of the spec table (nasrl_*_hp,
 * random_*_hp: type and range), then what the row cannot say. */
static int check(const nas__job *j, int controller)
{
    const nas_job_spec *s = &j->spec;
    int rnn = strcmp(s->search_space, "nasrl-rnn") == 0;
    int drnn =
        strcmp(s->search_space, "darts-rnn") == 0 || strcmp(s->search_space, "enas-rnn") == 0;
    const nas_spec_space *row = nas_spec_space_find(j->kind, s->search_space);
    if (!row)
        return BAD("search_space",
                   "\"%s\" is not implemented for %s in this "
                   "engine (only \"nasrl-cnn\", \"nasrl-rnn\"%s)",
                   s->search_space, j->kind,
                   controller ? ""
                              : ", \"darts-cnn\", \"darts-rnn\", "
                                "\"enas-micro\", \"enas-macro\" and "
                                "\"enas-rnn\"");
    if (strcmp(j->desc->kind, row->data_kind) != 0)
        return BAD("dataset", "%s needs %s dataset, %s is %s", s->search_space,
                   rnn || drnn ? "a text" : "an image", j->desc->name, j->desc->kind);
    static const char *const table[] = {/* all but batch_size (check_engine) */
                                        "child_epochs",
                                        "children_per_update",
                                        "parallel_children",
                                        "lr",
                                        "momentum",
                                        "weight_decay",
                                        "nesterov",
                                        "grad_clip",
                                        "dropout",
                                        "dropout_i",
                                        "max_examples",
                                        "reward_c",
                                        "tree_base",
                                        "embed",
                                        "hidden",
                                        "bptt",
                                        "max_vocab",
                                        "nodes",
                                        "C",
                                        "layers",
                                        "dropout_e",
                                        "dropout_x",
                                        "dropout_h",
                                        "dropout_o",
                                        "start_layers",
                                        "max_layers",
                                        "layers_step",
                                        "grow_every",
                                        "filter_heights",
                                        "filter_widths",
                                        "num_filters",
                                        "strides",
                                        "search_strides",
                                        NULL};
    int rc = nas__spec_check(s, row, table);
    if (rc < 0 || (rc = check_engine(s, row)) < 0)
        return rc;
    if (strncmp(s->search_space, "enas-", 5) == 0 && !drnn)
        return check_enas(s, j->desc);
    if (strcmp(s->search_space, "darts-cnn") == 0) {
        const nas_dataset_desc *d = j->desc;
        nas_darts_cfg cfg = {.C = s->C,
                             .layers = s->layers,
                             .in_c = d->c,
                             .h = d->h,
                             .w = d->w,
                             .classes = d->classes};
        return nas__darts_check_cfg(&cfg);
    }
    if (drnn || rnn)
        return controller ? nas__ctrl_check_spec(s) : NAS_OK;
    /* nasrl-cnn: what ties two rows, and the reward's choice index. */
    if (s->max_layers < s->start_layers)
        return BAD("max_layers", "%d is outside [start_layers = %d, %d]", s->max_layers,
                   s->start_layers, NAS_NASRL_MAX_LAYERS);
    if (s->reward_cube != 0 && s->reward_cube != 1)
        return BAD("reward", "%d must be 0 (accuracy) or 1 (cube-best-last5)", s->reward_cube);
    return controller ? nas__ctrl_check_spec(s) : NAS_OK;
}

static void put(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static void put_list(char *b, size_t cap, const char *name, const int *v, int n)
{
    put(b, cap, " %s=", name);
    for (int i = 0; i < n; i++)
        put(b, cap, "%s%d", i ? "," : "", v[i]);
}

static void cnn_text(char *b, size_t cap, const nas_job_spec *s)
{
    put(b, cap, " start_layers=%d max_layers=%d layers_step=%d grow_every=%d", s->start_layers,
        s->max_layers, s->layers_step, s->grow_every);
    put_list(b, cap, "filter_heights", s->filter_heights, s->nfilter_heights);
    put_list(b, cap, "filter_widths", s->filter_widths, s->nfilter_widths);
    put_list(b, cap, "num_filters", s->num_filters, s->nnum_filters);
    if (s->search_strides)
        put_list(b, cap, "strides", s->strides, s->nstrides);
    put(b, cap, " reward_cube=%d", s->reward_cube);
    if (s->augment) /* absent when 0: older checkpoints still match */
        put(b, cap, " augment=%d", s->augment);
}

/* The fields that change the numbers (not max_architectures: a budget
 * may grow on resume, nor max_seconds, threads or paths). */
static void spec_text(nas__job *j, int controller)
{
    const nas_job_spec *s = &j->spec;
    char *b = j->spec_text;
    size_t cap = sizeof(j->spec_text);
    b[0] = '\0';
    put(b, cap,
        "kind=%s dataset=%s space=%s seed=%" PRIu64 " batch_size=%d "
        "child_epochs=%d children=%d lr=%.9g momentum=%.9g "
        "weight_decay=%.9g nesterov=%d grad_clip=%.9g max_examples=%d",
        j->kind, j->desc->name, s->search_space, s->seed, s->batch_size, s->child_epochs,
        s->children_per_update, (double)s->lr, (double)s->momentum, (double)s->weight_decay,
        s->nesterov, (double)s->grad_clip, s->max_examples);
    if (strcmp(s->search_space, "darts-cnn") == 0) {
        put(b, cap, " C=%d layers=%d", s->C, s->layers);
        return;
    }
    if (strcmp(s->search_space, "enas-rnn") == 0) {
        put(b, cap,
            " nodes=%d hidden=%d bptt=%d max_vocab=%d dropout_e=%.9g "
            "dropout_x=%.9g dropout_h=%.9g dropout_o=%.9g reward_c=%.9g",
            s->nodes, s->hidden, s->bptt, s->max_vocab, (double)s->dropout_e, (double)s->dropout_x,
            (double)s->dropout_h, (double)s->dropout_o, (double)s->reward_c);
        return;
    }
    if (strcmp(s->search_space, "darts-rnn") == 0) {
        put(b, cap,
            " embed=%d hidden=%d bptt=%d max_vocab=%d dropout=%.9g "
            "dropout_input=%.9g reward_c=%.9g",
            s->embed, s->hidden, s->bptt, s->max_vocab, (double)s->dropout,
            (double)s->dropout_input, (double)s->reward_c);
        return;
    }
    if (strncmp(s->search_space, "enas-", 5) == 0) {
        put(b, cap, " C=%d layers=%d nodes=%d dropout=%.9g", s->C, s->layers, s->nodes,
            (double)s->dropout);
        return;
    }
    if (strcmp(s->search_space, "nasrl-rnn") == 0) {
        put(b, cap,
            " tree_base=%d embed=%d hidden=%d bptt=%d max_vocab=%d "
            "dropout=%.9g reward_c=%.9g",
            s->tree_base, s->embed, s->hidden, s->bptt, s->max_vocab, (double)s->dropout,
            (double)s->reward_c);
    } else {
        cnn_text(b, cap, s);
    }
    if (controller)
        put(b, cap,
            " lstm_size=%d lstm_layers=%d controller_lr=%.9g "
            "entropy_weight=%.9g tanh_constant=%.9g temperature=%.9g "
            "baseline_decay=%.9g",
            s->ctrl_hidden, s->ctrl_layers, (double)s->ctrl_lr, (double)s->ctrl_entropy_weight,
            (double)s->ctrl_tanh, (double)s->ctrl_temperature, (double)s->ctrl_baseline_decay);
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
