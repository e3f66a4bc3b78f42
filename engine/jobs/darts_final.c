// SPDX-License-Identifier: MIT
/*
 * darts_final.c - darts' final training: once the search has derived its
 * genotype, the discrete network of that genotype is trained from scratch
 * by the train kind on the whole training set and evaluated on the test
 * set; the job's result is the search's with "final_training" added and
 * the test metric as its headline. darts-cnn: the network of darts_net.c
 * (train_image.c), headline test_accuracy; darts-rnn: the language model
 * around the cell of darts_rnn_net.c (train_text.c), headline
 * test_perplexity, on the corpus' train split (the search also trained
 * alpha on its valid split).
 *
 * The one design decision to know: the final training is a train job of
 * its own (its spec text, position and checkpoint format), run inside the
 * darts job with a reporter that forwards to the darts job's: metric names
 * get the prefix "final." and epochs and steps are counted on from the
 * search's (epoch search_epochs + e, step search_steps + s), so one job's
 * rows stay in order. Its checkpoints go to the same path as the search's
 * and say so in their metadata (job.stage "final"), together with what
 * the result needs of the search (its spec text, genotype, result JSON,
 * steps, epochs, seconds): a shutdown during the final training resumes
 * there, never from the search. A shutdown before its first checkpoint
 * finds the search's last one and redoes only the search's (deterministic)
 * final evaluation before starting the final training afresh.
 */
#include "jobs/jobs.h"
#include "search/darts/darts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nas__darts_final_stage(const nas__job *j, int *stage)
{
    const char *path = j->spec.checkpoint_path;
    *stage = 0;
    if (!j->spec.resume || !path || j->spec.final_epochs <= 0)
        return NAS_OK;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return NAS_OK;
    char *v = NULL;
    int rc = nas__ckpt_meta(path, "job.stage", &v);
    if (rc == NAS_OK)
        *stage = v && strcmp(v, "final") == 0;
    free(v);
    return rc;
}

/* -------------------------------------------------- forwarding reporter */

typedef struct fwd_ctx {
    nas__job *parent;
    int epoch_off;
    int64_t step_off;
    char *arch, *res; /* the train kind's result, captured */
    double value;
} fwd_ctx;

static void on_progress(void *ctx, const nas_job_progress *p)
{
    fwd_ctx *f = ctx;
    const nas_job_reporter *rep = &f->parent->rep;
    if (!rep->progress)
        return;
    nas_job_progress q = *p;
    q.epoch += f->epoch_off;
    q.epochs += f->epoch_off;
    q.step += f->step_off;
    q.steps += f->step_off;
    q.fraction = q.steps > 0 ? (double)q.step / (double)q.steps : 1.0;
    rep->progress(rep->ctx, &q);
}

static void on_metric(void *ctx, int epoch, int64_t step, const char *name, double value)
{
    fwd_ctx *f = ctx;
    char full[64];
    snprintf(full, sizeof(full), "final.%s", name);
    nas__job_metric(f->parent, epoch + f->epoch_off, step + f->step_off, full, value);
}

static void on_arch(void *ctx, const char *arch, double reward, const char *metrics)
{
    fwd_ctx *f = ctx;
    const nas_job_reporter *rep = &f->parent->rep;
    if (rep->architecture)
        rep->architecture(rep->ctx, arch, reward, metrics);
}

static void on_ckpt(void *ctx, const char *path, int64_t step)
{
    fwd_ctx *f = ctx;
    const nas_job_reporter *rep = &f->parent->rep;
    if (rep->checkpoint)
        rep->checkpoint(rep->ctx, path, step + f->step_off);
}

static void on_result(void *ctx, const char *arch, const char *metric, double value,
                      const char *json)
{
    fwd_ctx *f = ctx;
    free(f->arch);
    free(f->res);
    f->arch = strdup(arch);
    f->res = strdup(json);
    f->value = value;
}

static void on_log(void *ctx, const char *msg)
{
    fwd_ctx *f = ctx;
    nas__job_log(f->parent, "final training: %s", msg);
}

/* ---------------------------------------------------------------- run */

static int is_rnn(const nas__job *j)
{
    return j->spec.search_space && strcmp(j->spec.search_space, "darts-rnn") == 0;
}

/* The train kind's spec for the genotype: the reference's train.py
 * optimizer (see nas.h), the darts job's dataset, seed, threads, batch
 * size, augment and checkpoint path, and final_training.max_seconds. darts-rnn:
 * the search's embed, hidden, bptt, vocabulary and dropouts, SGD lr 20
 * cosine to 0 (the reference starts at 20 and later switches to averaged
 * SGD, which is not implemented), weight decay 8e-7 and clip 0.25 as the
 * reference's rnn train.py. */
static int final_spec(const nas__job *j, const nas__darts_search_out *so, int resume,
                      nas_job_spec *t)
{
    const nas_job_spec *s = &j->spec;
    *t = (nas_job_spec){.algorithm = "train", .dataset = j->desc->name};
    nas_job_spec_defaults(t);
    t->data_path = s->data_path;
    t->epochs = s->final_epochs;
    t->seed = s->seed;
    t->threads = s->threads;
    t->batch_size = s->batch_size;
    if (is_rnn(j)) {
        t->arch = NAS_ARCH_DARTS_RNN;
        t->darts_rnn = so->darts_rnn;
        t->embed = s->embed;
        t->hidden = s->hidden;
        t->layers = 1;
        t->bptt = s->bptt;
        t->max_vocab = s->max_vocab;
        t->lr = 20.0f;
        t->momentum = 0.0f;
        t->weight_decay = 8e-7f;
        t->grad_clip = 0.25f;
        t->dropout = s->dropout;
        t->dropout_input = s->dropout_input;
    } else {
        t->arch = NAS_ARCH_DARTS_CNN;
        t->darts_cnn = so->darts_cnn;
        t->C = s->final_C;
        t->layers = s->final_layers;
        t->lr = 0.025f;
        t->momentum = 0.9f;
        t->weight_decay = 3e-4f;
        t->grad_clip = 5.0f;
        t->dropout = 0.0f;
        t->augment = s->augment; /* one field for both stages */
        t->cutout = s->cutout;
        t->drop_path = s->drop_path;
        t->aux_weight = s->aux_weight;
    }
    t->lr_min = 0.0f;
    t->nesterov = 0;
    t->max_seconds = s->final_max_seconds; /* its own limit, not the search's */
    t->checkpoint_path = s->checkpoint_path;
    t->model_path = s->model_path;
    t->resume = resume;
    return NAS_OK;
}

/* The search's result with "final_training" (the train kind's result)
 * and "search_seconds" inserted before its "seconds", which becomes the
 * whole job's; malloc'd or NULL. */
static char *combine(const nas__darts_search_out *so, const char *final_res, double final_seconds)
{
    const char *cut = strstr(so->res, ",\"seconds\":");
    size_t keep = cut ? (size_t)(cut - so->res) : strlen(so->res) - 1;
    nas_json_buf b = {0};
    nas__json_buf_put(&b, so->res, keep);
    nas__json_buf_puts(&b, ",\"final_training\":");
    nas__json_buf_puts(&b, final_res);
    nas__json_num(&b, 0, "search_seconds", so->seconds);
    nas__json_num(&b, 0, "seconds", so->seconds + final_seconds);
    nas__json_buf_puts(&b, "}");
    if (!b.oom)
        return b.s;
    free(b.s);
    return NULL;
}

int nas__final_run(nas__job *j, const char *prefix, nas__final_spec_fn fn,
                   const nas__darts_search_out *so, int resume)
{
    nas_job_spec t;
    int rc = fn(j, so, resume, &t);
    if (rc < 0)
        return rc;
    int text =
        t.arch == NAS_ARCH_DARTS_RNN || t.arch == NAS_ARCH_LSTM_LM || t.arch == NAS_ARCH_ENAS_RNN;
    fwd_ctx f = {.parent = j, .epoch_off = so->epochs, .step_off = so->steps};
    nas_job_reporter rep = {&f, on_progress, on_metric, on_arch, on_ckpt, on_result, on_log};
    nas__job sub;
    if ((rc = nas__job_prepare(&sub, &t, &rep, j->stop)) < 0)
        return rc;
    sub.kind = "final training";
    char steps[24], epochs[16], seconds[32];
    snprintf(steps, sizeof(steps), "%" PRId64, so->steps);
    snprintf(epochs, sizeof(epochs), "%d", so->epochs);
    snprintf(seconds, sizeof(seconds), "%.17g", so->seconds);
    char keys[6][48];
    static const char *const key_names[6] = {
        "spec", "genotype", "result", "search_steps", "search_epochs", "search_seconds",
    };
    for (int k = 0; k < 6; k++)
        snprintf(keys[k], sizeof(keys[k]), "%s.%s", prefix, key_names[k]);
    const nas_kv meta[] = {
        {"job.stage", "final"}, {keys[0], j->spec_text}, {keys[1], so->arch}, {keys[2], so->res},
        {keys[3], steps},       {keys[4], epochs},       {keys[5], seconds},
    };
    sub.extra_meta = meta;
    sub.nextra = (int)(sizeof(meta) / sizeof(meta[0]));
    nas__job_log(j, "final training: %s", sub.spec_text);
    sub.t0 = nas__now();
    rc = text ? nas__train_text(&sub) : nas__train_image(&sub);
    if (rc == NAS_OK && !f.res)
        rc = nas_fail(NAS_EINVAL, "final training: no result");
    if (rc < 0)
        goto fail;
    double final_seconds = nas__job_elapsed(&sub);
    char *res = combine(so, f.res, final_seconds);
    if (!res) {
        rc = nas_fail(NAS_ENOMEM, "%s: result: out of memory", prefix);
        goto fail;
    }
    const char *name = text ? "test_perplexity" : "test_accuracy";
    nas__job_log(j, "final training: %s %.4f", name, f.value);
    if (j->rep.result)
        j->rep.result(j->rep.ctx, so->arch, name, f.value, res);
    free(res);
fail:
    free(f.arch);
    free(f.res);
    return rc;
}

int nas__darts_final_run(nas__job *j, const nas__darts_search_out *so, int resume)
{
    return nas__final_run(j, "darts", final_spec, so, resume);
}

static int meta(const char *path, const char *prefix, const char *name, char **out)
{
    char key[48];
    snprintf(key, sizeof(key), "%s.%s", prefix, name);
    int rc = nas__ckpt_meta(path, key, out);
    if (rc == NAS_OK && !*out)
        rc = nas_fail(NAS_EFORMAT,
                      "%s: final-training checkpoint without "
                      "%s",
                      path, key);
    return rc;
}

int nas__final_resume(nas__job *j, const char *prefix, nas__final_spec_fn fn)
{
    const char *path = j->spec.checkpoint_path;
    char *spec = NULL, *steps = NULL, *epochs = NULL, *seconds = NULL;
    nas__darts_search_out so = {0};
    int rc;
    if ((rc = meta(path, prefix, "spec", &spec)) < 0 ||
        (rc = meta(path, prefix, "genotype", &so.arch)) < 0 ||
        (rc = meta(path, prefix, "result", &so.res)) < 0 ||
        (rc = meta(path, prefix, "search_steps", &steps)) < 0 ||
        (rc = meta(path, prefix, "search_epochs", &epochs)) < 0 ||
        (rc = meta(path, prefix, "search_seconds", &seconds)) < 0)
        goto fail;
    if (!nas__spec_text_same(spec, j->spec_text)) {
        rc = nas_fail(NAS_EINVAL,
                      "%s: final-training checkpoint of another "
                      "search (written by \"%s\"); remove it or turn resume "
                      "off",
                      path, spec);
        goto fail;
    }
    so.steps = strtoll(steps, NULL, 10);
    so.epochs = atoi(epochs);
    so.seconds = strtod(seconds, NULL);
    nas__job_log(j, "resuming the final training from %s", path);
    rc = nas__final_run(j, prefix, fn, &so, 1);
fail:
    free(spec);
    free(steps);
    free(epochs);
    free(seconds);
    free(so.arch);
    free(so.res);
    return rc;
}

/* The final training of a resumed darts job trains the genotype its
 * checkpoint's spec text names (the train kind's job.spec holds it as a
 * token; nas__job_resume then checks the rest of that text). */
static int resumed_spec(const nas__job *j, const nas__darts_search_out *so, int resume,
                        nas_job_spec *t)
{
    nas__darts_search_out typed = *so;
    char *text = NULL;
    int rc = nas__ckpt_meta(j->spec.checkpoint_path, "job.spec", &text);
    if (rc == NAS_OK)
        rc = is_rnn(j) ? nas__darts_rnn_genotype_from_spec_text(text, &typed.darts_rnn)
                       : nas__darts_genotype_from_spec_text(text, &typed.darts_cnn);
    free(text);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", nas_errmsg());
        return nas_fail(rc, "%s: final-training checkpoint: %s", j->spec.checkpoint_path, msg);
    }
    return final_spec(j, &typed, resume, t);
}

int nas__darts_final_resume(nas__job *j)
{
    return nas__final_resume(j, "darts", resumed_spec);
}

int nas__darts_stages(nas__job *j, int (*search)(nas__job *j, nas__darts_search_out *out))
{
    static const nas_kv search_meta[] = {{"job.stage", "search"}};
    int stage = 0;
    int rc = nas__darts_final_stage(j, &stage);
    if (rc < 0)
        return rc;
    if (stage == 1)
        return nas__darts_final_resume(j);
    j->extra_meta = search_meta;
    j->nextra = 1;
    nas__darts_search_out out = {0};
    rc = search(j, &out);
    if (rc == NAS_OK && out.arch)
        rc = nas__darts_final_run(j, &out, 0);
    free(out.arch);
    free(out.res);
    return rc;
}
