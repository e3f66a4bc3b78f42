// SPDX-License-Identifier: MIT
/*
 * job.c - what every job kind shares: dispatch of nas_job_run to the
 * kind (engine/jobs/kinds.c), the `train` kind's defaults and validation
 * and its canonical spec text, the reporting helpers, the stop/budget
 * check and the epoch loop. Checkpoints of a run's position are
 * job_ckpt.c's.
 *
 * The one design decision to know: every kind goes through
 * nas__job_prepare, so nas_job_validate (the daemon's check of a stored
 * spec) and nas_job_run refuse exactly the same specs, with the same
 * message naming the field.
 */
#include "jobs.h"
#include "search/darts/darts.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------ defaults */

static int is_text(const nas_dataset_desc *d)
{
    return strcmp(d->kind, "text") == 0;
}

/* The train kind: the table's row of its architecture (fixed-cnn and
 * lstm-lm by default; an architecture only the searches build takes its
 * data kind's first row), then what no row of the table holds: a DARTS
 * network's C and layers when arch is set to it later, and augment's
 * default on cifar10. */
void nas__train_defaults(nas_job_spec *s)
{
    const nas_dataset_desc *d = nas_dataset_find(s->dataset);
    const nas_spec_space *row = nas__spec_row_of(s, d->kind);
    if (!row) {
        nas_job_spec first = {.algorithm = "train"};
        row = nas__spec_row_of(&first, d->kind);
    }
    NAS_ASSERT(row && "a train row per data kind");
    SET0(s->arch, row->arch_kind);
    nas__spec_defaults(s, row);
    if (is_text(d))
        return;
    SET0(s->C, 16);
    SET0(s->layers, 8);
    SET0(s->augment, strcmp(d->name, "cifar10") == 0);
}

void nas_job_spec_defaults(nas_job_spec *spec)
{
    NAS_ASSERT(spec);
    const nas_dataset_desc *d = nas_dataset_find(spec->dataset);
    if (!d)
        return;
    SET0(spec->algorithm, "train");
    SET0(spec->threads, 1);
    const nas__kind *k = nas__kind_of(spec->algorithm, spec->search_space);
    if (!k)
        return;
    if (strcmp(k->algorithm, "train") != 0) {
        /* The table's row first, then what only the kind knows. */
        nas_job_spec key = *spec;
        SET0(key.search_space, k->default_space);
        const nas_spec_space *row = nas__spec_row_of(&key, d->kind);
        if (!row && k->space) { /* a space the kind does not know: its prepare says so */
            key.search_space = k->default_space;
            row = nas__spec_row_of(&key, d->kind);
        }
        if (row)
            nas__spec_defaults(spec, row);
    }
    if (k->defaults)
        k->defaults(spec);
}

/* ---------------------------------------------------------- validation */

static int check_common(const nas_job_spec *s)
{
    if (s->epochs < 1 || s->epochs > 100000)
        return BAD("epochs", "%d is outside [1, 100000]", s->epochs);
    if (s->batch_size < 1 || s->batch_size > 65536)
        return BAD("batch_size", "%d is outside [1, 65536]", s->batch_size);
    if (!(s->lr > 0.0f && s->lr <= 1000.0f))
        return BAD("lr", "%g must be in (0, 1000]", (double)s->lr);
    if (!(s->lr_min >= 0.0f && s->lr_min <= s->lr))
        return BAD("lr_min", "%g must be in [0, lr]", (double)s->lr_min);
    if (!(s->momentum >= 0.0f && s->momentum < 1.0f))
        return BAD("momentum", "%g must be in [0, 1)", (double)s->momentum);
    if (!(s->weight_decay >= 0.0f && s->weight_decay < 1.0f))
        return BAD("weight_decay", "%g must be in [0, 1)", (double)s->weight_decay);
    if (!(s->grad_clip >= 0.0f && isfinite(s->grad_clip)))
        return BAD("grad_clip", "%g must be >= 0 (0: off)", (double)s->grad_clip);
    if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
        return BAD("dropout", "%g must be in [0, 1)", (double)s->dropout);
    if (!(s->max_seconds >= 0.0 && isfinite(s->max_seconds)))
        return BAD("max_seconds", "%g must be >= 0 (0: no limit)", s->max_seconds);
    if (s->threads < 1 || s->threads > 64)
        return BAD("threads", "%d is outside [1, 64]", s->threads);
    if (s->nesterov != 0 && s->nesterov != 1)
        return BAD("nesterov", "%d must be 0 or 1", s->nesterov);
    if (s->augment != 0 && s->augment != 1)
        return BAD("augment", "%d must be 0 or 1", s->augment);
    if (s->resume && !s->checkpoint_path)
        return BAD("resume", "needs checkpoint_path");
    return NAS_OK;
}

static int check_arch(const nas_job_spec *s, const nas_dataset_desc *d)
{
    if (s->max_examples < 0 || s->max_examples == 1)
        return BAD("max_examples", "%d must be 0 (all) or >= 2", s->max_examples);
    if (s->arch == NAS_ARCH_LSTM_LM || s->arch == NAS_ARCH_DARTS_RNN) {
        if (!is_text(d))
            return BAD("arch",
                       "the %s language model needs a text "
                       "dataset, %s holds images",
                       s->arch == NAS_ARCH_LSTM_LM ? "LSTM" : "darts-rnn", d->name);
        if (s->arch == NAS_ARCH_DARTS_RNN) {
            int rc = nas__darts_rnn_genotype_check(&s->darts_rnn);
            if (rc < 0)
                return rc;
            if (s->layers != 1)
                return BAD("layers",
                           "%d: the darts-rnn model has one cell; "
                           "must be 1",
                           s->layers);
            if (!(s->dropout_input >= 0.0f && s->dropout_input < 1.0f))
                return BAD("dropout_input", "%g must be in [0, 1)", (double)s->dropout_input);
        }
        if (s->embed < 1 || s->embed > 65536)
            return BAD("embed", "%d is outside [1, 65536]", s->embed);
        if (s->hidden < 1 || s->hidden > 65536)
            return BAD("hidden", "%d is outside [1, 65536]", s->hidden);
        if (s->layers < 1 || s->layers > 8)
            return BAD("layers", "%d is outside [1, 8]", s->layers);
        if (s->bptt < 1 || s->bptt > 10000)
            return BAD("bptt", "%d is outside [1, 10000]", s->bptt);
        if (s->max_vocab < 0 || s->max_vocab == 1)
            return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
        return NAS_OK;
    }
    if (s->arch == NAS_ARCH_DARTS_CNN) {
        if (is_text(d))
            return BAD("arch",
                       "the DARTS network needs an image dataset, "
                       "%s is text",
                       d->name);
        nas_darts_cfg cfg = {.C = s->C,
                             .layers = s->layers,
                             .in_c = d->c,
                             .h = d->h,
                             .w = d->w,
                             .classes = d->classes};
        if (s->dropout != 0.0f)
            return BAD("dropout",
                       "%g: the DARTS network has no dropout; "
                       "must be 0",
                       (double)s->dropout);
        if (s->cutout != 0 && s->cutout != 1)
            return BAD("cutout", "%d must be 0 or 1", s->cutout);
        if (!(s->drop_path >= 0.0f && s->drop_path < 1.0f))
            return BAD("drop_path", "%g must be in [0, 1)", (double)s->drop_path);
        if (!(s->aux_weight >= 0.0f && s->aux_weight <= 100.0f))
            return BAD("auxiliary_weight", "%g must be in [0, 100]", (double)s->aux_weight);
        int rc = nas__darts_genotype_check(&s->darts_cnn);
        return rc < 0 ? rc : nas__darts_check_cfg(&cfg);
    }
    if (s->cutout)
        return BAD("cutout", "applies to a darts-cnn network only; must be 0");
    if (s->aux_weight != 0.0f && s->arch != NAS_ARCH_ENAS_CNN)
        return BAD("auxiliary_weight", "applies to darts-cnn and enas-micro networks only; "
                                       "must be 0");
    if (s->arch == NAS_ARCH_ENAS_RNN) { /* jobs/enas_final.c */
        char text[sizeof(((nas__job *)0)->spec_text)] = "";
        return nas__enas_fixed_rnn_check(s, d, text, sizeof(text));
    }
    if (s->arch == NAS_ARCH_ENAS_CNN) { /* jobs/enas_final.c */
        char text[sizeof(((nas__job *)0)->spec_text)] = "";
        return nas__enas_fixed_check(s, d, text, sizeof(text));
    }
    if (s->arch == NAS_ARCH_NASRL_CNN || s->arch == NAS_ARCH_NASRL_RNN) {
        char text[sizeof(((nas__job *)0)->spec_text)] = "";
        return nas__nasrl_fixed_check(s, d, text, sizeof(text));
    }
    if (s->arch != NAS_ARCH_FIXED_CNN)
        return BAD("arch", "unknown architecture kind %d", (int)s->arch);
    if (is_text(d))
        return BAD("arch",
                   "the fixed CNN needs an image dataset, %s is "
                   "text",
                   d->name);
    return NAS_OK; /* channels and hidden: its row (check_table) */
}

/* The train row's keys against the spec table (engine/jobs/spec_table.c):
 * the optimizer's and, for fixed-cnn and lstm-lm, the architecture's. A
 * darts-cnn network's C and layers stay the network's own check
 * (nas__darts_check_cfg): final training gives it final_training.layers,
 * which may be fewer than the train row's 3. The networks only the
 * searches build (enas-cnn, enas-rnn, darts-rnn) have no row: the shared
 * checks and check_arch bound them. */
static int check_table(const nas_job_spec *s, const nas_dataset_desc *d)
{
    const nas_spec_space *row = nas__spec_row_of(s, d->kind);
    if (!row)
        return NAS_OK;
    int rc = nas__spec_check(s, row, NULL);
    if (rc < 0 || s->arch == NAS_ARCH_DARTS_CNN)
        return rc;
    nas_spec_space arch = *row; /* nas__spec_check reads a row's hp */
    arch.hp = row->arch;
    return nas__spec_check(s, &arch, NULL);
}

/* ------------------------------------------------------------ spec text */

static void put(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* Floats as %.9g (enough digits to tell any two floats apart), shortened
 * by nas__job_prepare. */
static void make_spec_text(nas__job *j)
{
    const nas_job_spec *s = &j->spec;
    char *b = j->spec_text;
    size_t cap = sizeof(j->spec_text);
    b[0] = '\0';
    put(b, cap, "kind=train dataset=%s", j->desc->name);
    if (s->arch == NAS_ARCH_DARTS_CNN) {
        char tok[512];
        nas__darts_genotype_token(&s->darts_cnn, tok, sizeof(tok));
        put(b, cap,
            " arch=darts-cnn C=%d layers=%d genotype=%s augment=%d cutout=%d drop_path=%.9g "
            "aux_weight=%.9g",
            s->C, s->layers, tok, s->augment, s->cutout, (double)s->drop_path,
            (double)s->aux_weight);
    } else if (s->arch == NAS_ARCH_ENAS_CNN) {
        NAS_ASSERT(nas__enas_fixed_check(s, j->desc, b, cap) == NAS_OK);
    } else if (s->arch == NAS_ARCH_ENAS_RNN) {
        NAS_ASSERT(nas__enas_fixed_rnn_check(s, j->desc, b, cap) == NAS_OK);
    } else if (s->arch == NAS_ARCH_NASRL_CNN || s->arch == NAS_ARCH_NASRL_RNN) {
        NAS_ASSERT(nas__nasrl_fixed_check(s, j->desc, b, cap) == NAS_OK);
    } else if (s->arch == NAS_ARCH_FIXED_CNN) {
        put(b, cap, " arch=fixed-cnn channels=");
        for (int i = 0; i < s->nblocks; i++)
            put(b, cap, "%s%d", i ? "," : "", s->channels[i]);
        put(b, cap, " hidden=%d augment=%d", s->hidden, s->augment);
    } else if (s->arch == NAS_ARCH_DARTS_RNN) {
        char tok[256];
        nas__darts_rnn_genotype_token(&s->darts_rnn, tok, sizeof(tok));
        put(b, cap,
            " arch=darts-rnn embed=%d hidden=%d bptt=%d max_vocab=%d "
            "genotype=%s dropout_input=%.9g",
            s->embed, s->hidden, s->bptt, s->max_vocab, tok, (double)s->dropout_input);
    } else {
        put(b, cap,
            " arch=lstm-lm embed=%d hidden=%d layers=%d bptt=%d "
            "max_vocab=%d",
            s->embed, s->hidden, s->layers, s->bptt, s->max_vocab);
    }
    put(b, cap,
        " epochs=%d seed=%" PRIu64 " batch_size=%d lr=%.9g "
        "lr_min=%.9g momentum=%.9g weight_decay=%.9g grad_clip=%.9g "
        "dropout=%.9g nesterov=%d",
        s->epochs, s->seed, s->batch_size, (double)s->lr, (double)s->lr_min, (double)s->momentum,
        (double)s->weight_decay, (double)s->grad_clip, (double)s->dropout, s->nesterov);
    if (s->max_examples > 0) /* absent when 0: older checkpoints still match */
        put(b, cap, " max_examples=%d", s->max_examples);
}

/* --------------------------------------------------------------- setup */

int nas__job_prepare(nas__job *j, const nas_job_spec *spec, const nas_job_reporter *rep,
                     const _Atomic int *stop)
{
    memset(j, 0, sizeof(*j));
    if (!spec)
        return nas_fail(NAS_EINVAL, "spec: NULL");
    j->spec = *spec;
    if (rep)
        j->rep = *rep;
    j->stop = stop;
    j->kind = spec->algorithm ? spec->algorithm : "train";
    const nas__kind *k = nas__kind_of(j->kind, spec->search_space);
    if (!k) {
        char names[96];
        nas__kind_names(names, sizeof(names));
        return BAD("algorithm",
                   "\"%s\" is not a job kind of this engine "
                   "(%s)",
                   spec->algorithm, names);
    }
    if (!spec->dataset)
        return BAD("dataset", "missing");
    j->desc = nas_dataset_find(spec->dataset);
    if (!j->desc)
        return BAD("dataset",
                   "unknown \"%s\" (known: fashion-mnist, "
                   "cifar10, synthetic, fortunes, ptb, and the "
                   "uploads GET /v1/datasets lists)",
                   spec->dataset);
    if (!j->spec.data_path)
        j->spec.data_path = j->desc->default_path;
    if (k->common_checks) {
        int rc = check_common(&j->spec);
        if (rc < 0)
            return rc;
    }
    int rc = k->prepare(j);
    if (rc == NAS_OK) { /* the kinds write floats as %.9g */
        char t[sizeof(j->spec_text)];
        nas__spec_text_shorten(j->spec_text, t, sizeof(t));
        memcpy(j->spec_text, t, sizeof(t));
    }
    return rc;
}

/* The train kind's checks (its architecture's, after the shared ones)
 * and its spec text. */
int nas__train_prepare(nas__job *j)
{
    int rc;
    if (j->spec.arch == NAS_ARCH_DEFAULT)
        j->spec.arch = is_text(j->desc) ? NAS_ARCH_LSTM_LM : NAS_ARCH_FIXED_CNN;
    rc = check_arch(&j->spec, j->desc);
    if (rc == NAS_OK)
        rc = check_table(&j->spec, j->desc);
    /* A batch larger than the training images fails the run as it
     * loads them (train_image.c): said here, at submission, when the
     * size is known (a built-in or uploaded image set at its own path;
     * small uploads make it likely). */
    const nas_job_spec *s = &j->spec;
    int n = j->desc->train_size;
    if (s->max_examples > 0 && s->max_examples < n)
        n = s->max_examples;
    if (rc == NAS_OK && !is_text(j->desc) && n > 0 && s->data_path == j->desc->default_path &&
        s->batch_size > n)
        rc = BAD("batch_size", "%d is larger than the %d training images of %s", s->batch_size, n,
                 j->desc->name);
    if (rc == NAS_OK)
        make_spec_text(j);
    return rc;
}

int nas_job_validate(const nas_job_spec *spec)
{
    nas__job j;
    return nas__job_prepare(&j, spec, NULL, NULL);
}

int nas_job_run(const nas_job_spec *spec, const nas_job_reporter *rep, const _Atomic int *stop)
{
    return nas_job_run_dist(spec, rep, stop, NULL);
}

int nas_job_distributes(const nas_job_spec *spec)
{
    const char *a = spec->algorithm ? spec->algorithm : "train";
    const char *sp = spec->search_space ? spec->search_space : "darts-cnn";
    int whole = strcmp(a, "nas-rl") == 0 || strcmp(a, "random") == 0; /* children on ranks */
    if (!whole && (strcmp(a, "darts") != 0 || strcmp(sp, "darts-cnn") != 0)) {
        nas_fail(NAS_EINVAL,
                 "%s%s%s does not run on several ranks yet (only darts over darts-cnn, nas-rl "
                 "and random)",
                 a, spec->search_space ? " over " : "",
                 spec->search_space ? spec->search_space : "");
        return 0;
    }
    if (spec->final_epochs > 0) {
        nas_fail(NAS_EINVAL, "%s's final training does not run on several ranks yet", a);
        return 0;
    }
    return 1;
}

int nas_job_run_dist(const nas_job_spec *spec, const nas_job_reporter *rep, const _Atomic int *stop,
                     const nas_dist *dist)
{
    nas__job j;
    if (dist && dist->size < 2)
        dist = NULL; /* one rank: the in-process run, bit for bit */
    if (dist && !nas_job_distributes(spec))
        return NAS_EINVAL;
    int rc = nas__job_prepare(&j, spec, rep, stop);
    if (rc < 0)
        return rc;
    j.dist = dist;
    nas_set_threads(j.spec.threads);
    j.t0 = nas__now();
    nas__job_log(&j, "%s: %s", j.kind, j.spec_text);
    return nas__kind_of(j.kind, j.spec.search_space)->run(&j);
}

/* ----------------------------------------------------------- reporting */

double nas__job_elapsed(const nas__job *j)
{
    return j->elapsed0 + (nas__now() - j->t0);
}

int nas__job_check_local(const nas__job *j)
{
    int s = j->stop ? atomic_load(j->stop) : NAS_RUN;
    if (s == NAS_STOP_CANCEL || s == NAS_STOP_SHUTDOWN)
        return s;
    if (s != NAS_RUN)
        return NAS_STOP_CANCEL; /* an unknown request: stop safely */
    if (j->spec.max_seconds > 0 && nas__job_elapsed(j) >= j->spec.max_seconds)
        return NAS__STOP_TIME;
    return NAS_RUN;
}

/* A group stops together: rank 0's flag and clock decide. */
int nas__job_check(const nas__job *j)
{
    int why = nas__job_check_local(j);
    return j->dist ? j->dist->bcast_int(j->dist->ctx, why) : why;
}

int nas__job_between_steps(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos)
{
    int why = nas__job_check(j);
    if (why == NAS_RUN || why == NAS__STOP_TIME)
        return why;
    if (why == NAS_STOP_CANCEL)
        return nas_fail(NAS_ECANCELLED, "%s: cancelled at step %" PRId64, j->kind,
                        pos->global_step);
    if (!j->spec.checkpoint_path) {
        nas__job_log(j,
                     "shutdown at step %" PRId64 ": no checkpoint_path, "
                     "nothing saved",
                     pos->global_step);
        return nas_fail(NAS_ECANCELLED,
                        "%s: shut down at step %" PRId64 " without a checkpoint_path", j->kind,
                        pos->global_step);
    }
    int rc = nas__job_save(j, p, op_rng, pos);
    if (rc < 0)
        return rc;
    nas__job_log(j, "shutdown: checkpoint at step %" PRId64 " in %s", pos->global_step,
                 j->spec.checkpoint_path);
    return nas_fail(NAS_ECANCELLED, "%s: shut down at step %" PRId64 ", checkpoint in %s", j->kind,
                    pos->global_step, j->spec.checkpoint_path);
}

int nas__job_epochs(nas__job *j, const nas__job_pos *pos, int (*run_epoch)(void *ctx), void *ctx,
                    int *by_time)
{
    j->t0 = nas__now();
    *by_time = 0;
    while (pos->epoch <= j->spec.epochs) {
        int rc = run_epoch(ctx);
        if (rc == NAS__STOP_TIME) {
            *by_time = 1;
            nas__job_log(j, "max_seconds (%g) spent: stopping at step %" PRId64,
                         j->spec.max_seconds, pos->global_step);
            nas__job_progress_cut(j, pos);
            break;
        }
        if (rc < 0)
            return rc;
    }
    return NAS_OK;
}

int nas__job_epochs_done(const nas__job *j, const nas__job_pos *pos)
{
    int e = pos->step > 0 ? pos->epoch : pos->epoch - 1; /* begun ones */
    return e > j->spec.epochs ? j->spec.epochs : e < 0 ? 0 : e;
}

void nas__job_progress_cut(const nas__job *j, const nas__job_pos *pos)
{
    if (!j->rep.progress)
        return;
    /* This stage is over at its epoch in progress; what follows (final
     * training) keeps its own steps and epochs. */
    int64_t steps = pos->global_step + j->after_steps;
    int epoch = nas__job_epochs_done(j, pos);
    nas_job_progress p = {
        .epoch = epoch,
        .epochs = epoch + j->after_epochs,
        .step = pos->global_step,
        .steps = steps,
        .fraction = steps > 0 ? (double)pos->global_step / (double)steps : 1.0,
        .eta_seconds = j->after_steps ? -1.0 : 0.0,
    };
    j->rep.progress(j->rep.ctx, &p);
}

void nas__job_progress(const nas__job *j, const nas__job_pos *pos, int64_t total_steps)
{
    if (!j->rep.progress)
        return;
    int64_t steps = total_steps + j->after_steps;
    nas_job_progress p = {
        .epoch = pos->epoch > j->spec.epochs ? j->spec.epochs : pos->epoch,
        .epochs = j->spec.epochs + j->after_epochs,
        .step = pos->global_step,
        .steps = steps,
        .fraction = steps > 0 ? (double)pos->global_step / (double)steps : 1.0,
        .eta_seconds = -1.0,
    };
    int64_t done = pos->global_step - j->step0;
    if (done > 0) { /* at this stage's pace (a later one may differ) */
        double per_step = (nas__now() - j->t0) / (double)done;
        double here = per_step * (double)(total_steps - pos->global_step);
        double after = per_step * (double)j->after_steps;
        /* A stage with a time limit ends by it at the latest. */
        if (j->spec.max_seconds > 0) {
            double left = j->spec.max_seconds - nas__job_elapsed(j);
            here = left < here ? (left > 0 ? left : 0) : here;
        }
        if (j->after_max_seconds > 0 && j->after_max_seconds < after)
            after = j->after_max_seconds;
        p.eta_seconds = here + after;
    }
    j->rep.progress(j->rep.ctx, &p);
}

void nas__job_metric(const nas__job *j, int epoch, int64_t step, const char *name, double value)
{
    if (j->rep.metric)
        j->rep.metric(j->rep.ctx, epoch, step, name, value);
}

void nas__job_log(const nas__job *j, const char *fmt, ...)
{
    if (!j->rep.log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    j->rep.log(j->rep.ctx, msg);
}

void nas__json_num(nas_json_buf *b, int first, const char *name, double v)
{
    char t[64];
    if (!first)
        nas__json_buf_put(b, ",", 1);
    nas__json_buf_str(b, name, "");
    if (isfinite(v))
        snprintf(t, sizeof(t), ":%.17g", v);
    else
        snprintf(t, sizeof(t), ":null");
    nas__json_buf_puts(b, t);
}

/* ------------------------------------------------ shared by the kinds */

int nas__job_run_epoch(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos,
                       int64_t spe, int64_t total, void (*step)(void *ctx), int (*end)(void *ctx),
                       void *ctx)
{
    while (pos->step < spe) {
        int why = nas__job_between_steps(j, p, op_rng, pos);
        if (why < 0)
            return why;
        if (why == NAS__STOP_TIME)
            break;
        step(ctx);
        nas__job_progress(j, pos, total);
    }
    int cut = pos->step < spe;
    if (cut && pos->step == 0)
        return NAS__STOP_TIME; /* nothing done in this epoch */
    int rc = end(ctx);
    if (rc < 0)
        return rc;
    if (cut)
        return NAS__STOP_TIME;
    return nas__job_save(j, p, op_rng, pos);
}

int nas__job_search(nas__job *j, const nas__job_pos *pos, const nas__job_stages *st, void *ctx,
                    void *out)
{
    int by_time = 0, rc = st->setup(ctx);
    if (rc == NAS_OK)
        rc = nas__job_epochs(j, pos, st->run_epoch, ctx, &by_time);
    if (rc == NAS_OK)
        rc = st->finish(ctx, by_time, out);
    st->teardown(ctx);
    return rc;
}

void nas__job_next_epoch(nas__job_pos *pos)
{
    pos->epoch++;
    pos->step = 0;
    pos->loss_sum = pos->correct = pos->seen = 0.0;
}

void nas__job_json_steps(nas_json_buf *res, const nas__job_pos *pos, int64_t spe)
{
    nas__json_num(res, 0, "epochs", (double)pos->global_step / spe);
    nas__json_num(res, 0, "steps", (double)pos->global_step);
}

void nas__job_json_stop(nas_json_buf *res, nas_params *p, int by_time)
{
    nas__json_num(res, 0, "parameters", (double)nas__params_weights_numel(p));
    nas__json_buf_puts(res,
                       by_time ? ",\"stopped_by\":\"max_seconds\"" : ",\"stopped_by\":\"epochs\"");
}

void nas__job_json_open(nas_json_buf *res, const char *space, const nas__job *j)
{
    nas__json_buf_puts(res, "{\"search_space\":");
    nas__json_buf_str(res, space, "");
    nas__json_buf_puts(res, ",\"dataset\":");
    nas__json_buf_str(res, j->desc->name, "");
}

double nas__job_json_close(nas_json_buf *res, const nas__job *j, const nas__job_pos *pos,
                           int64_t spe, nas_params *p, int by_time)
{
    double seconds = nas__job_elapsed(j);
    nas__job_json_steps(res, pos, spe);
    nas__job_json_stop(res, p, by_time);
    nas__json_num(res, 0, "seconds", seconds);
    nas__json_buf_puts(res, "}");
    return seconds;
}

int nas__job_report(nas__job *j, nas_json_buf *arch, nas_json_buf *res, nas_json_buf *met,
                    double reward, const char *name, double value)
{
    int rc = NAS_OK;
    if (arch->oom || res->oom || met->oom) {
        rc = nas_fail(NAS_ENOMEM, "train: result: out of memory");
        goto fail;
    }
    if (j->rep.architecture)
        j->rep.architecture(j->rep.ctx, arch->s, reward, met->s);
    if (j->rep.result)
        j->rep.result(j->rep.ctx, arch->s, name, value, res->s);
fail:
    free(arch->s);
    free(res->s);
    free(met->s);
    return rc;
}
