// SPDX-License-Identifier: MIT
/*
 * nasrl_result.c - the end of a nas-rl or random search: the final
 * training of the best architecture (issue #14) and the job's result
 * (the architecture, its reward and metric, the search's counts and the
 * final training's test metric).
 *
 * The one design decision to know: the final training is the space's own
 * child training (the rule the search's children trained by) run longer on
 * the whole training data and scored on the test set, so no space needs a
 * second trainer; it is not checkpointed (see final_training).
 */
#include "jobs/nasrl_run.h"
#include "jobs/text_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ final training */

static int final_should_stop(void *ctx)
{
    nas__nasrl_run *s = ctx;
    const nas__job *j = s->j;
    if (s->final_done < s->final_steps)
        s->final_done++;
    nas__nasrl_progress(s); /* the receiver throttles */
    return j->stop && atomic_load(j->stop) != NAS_RUN;
}

/* "val_accuracy" -> "test_accuracy": the space's metric on the test set. */
static void test_metric_name(const char *val_metric, char *out, size_t cap)
{
    const char *us = strchr(val_metric, '_');
    snprintf(out, cap, "test%s", us ? us : "_metric");
}

/* What the final training's network is kept with (jobs/model.c). */
typedef struct final_keep {
    const nas__job *j;
    const char *arch_json;
    const nas__nasrl_data *d;
    const nas__nasrl_cached *best;
    const char *space;
} final_keep;

static int keep_model(void *ctx, nas_params *p, const nas_nasrl_child *out)
{
    const final_keep *k = ctx;
    char name[32];
    test_metric_name(k->d->corpus ? "val_perplexity" : "val_accuracy", name, sizeof(name));
    nas__model_info m = {.arch_json = k->arch_json,
                         .metric = name,
                         .value = out->val_metric,
                         .train = k->d->train,
                         .corpus = k->d->corpus,
                         .forward = out->model ? out->model->forward : NULL,
                         .forward_ctx = out->model ? out->model->self : NULL};
    nas__text_net tn = {0};
    nas_job_spec t;
    if (k->d->corpus) { /* a language model's one step, for the ONNX file */
        if (nas__text_arch_spec(&k->j->spec, k->space, k->best->dec, k->best->n, &t) < 0 ||
            nas__text_net_bind(p, &t, k->d->corpus->vocab_size, &tn) < 0)
            nas__job_log(k->j, "no ONNX model: %s", nas_errmsg());
        else
            nas__text_net_model_info(&tn, &m);
    }
    int rc = nas__job_save_model(k->j, p, &m);
    nas__text_net_free(&tn);
    return rc;
}

/* The final training (issue #14): the best architecture trained from
 * scratch by its space's own child training (the rule random's samples
 * and nas-rl's children train by) for final_epochs (or until
 * final_max_seconds, after which it is still evaluated; issue #20), on the whole training
 * set (images) or the train split (text), and scored on the test set (a
 * corpus whose valid split is its test split): the space's metric there is
 * the job's test metric. The search's data is freed first. Not
 * checkpointed: a job resumed inside it reruns it from the search's last
 * checkpoint, which holds every child's reward. */
static int final_training(nas__nasrl_run *s, const nas__nasrl_cached *best, const char *arch_json,
                          nas_nasrl_child *out, double *seconds)
{
    nas__job *j = s->j;
    const nas_job_spec *sp = &j->spec;
    nas__nasrl_data d = {0};
    nas_corpus test_as_valid;
    int rc;

    nas_dataset_free(s->data.train);
    nas_dataset_free(s->data.val);
    s->data.train = s->data.val = NULL;
    if (s->space->text) {
        test_as_valid = *s->data.corpus;
        test_as_valid.valid = test_as_valid.test;
        test_as_valid.nvalid = test_as_valid.ntest;
        d.corpus = &test_as_valid;
    } else if ((rc = nas__job_load_images(j, &d.train, &d.val)) < 0) {
        return rc;
    }
    nas_nasrl_train_cfg cfg =
        nas__nasrl_cfg(sp, sp->final_epochs, sp->threads,
                       sp->seed ^ nas__nasrl_dec_hash(best->dec, best->n) ^ 0x66696e616c000000ull,
                       final_should_stop, s);
    cfg.max_seconds = sp->final_max_seconds; /* its own limit, not the search's */
    cfg.keep = keep_model;
    final_keep keep = {j, arch_json, &d, best, s->space->name};
    cfg.keep_ctx = &keep;
    double t0 = nas__now();
    s->final_t0 = t0;
    nas__job_log(j,
                 "%s: final training of the best architecture for %d "
                 "epochs",
                 j->kind, sp->final_epochs);
    rc = s->space->train(sp, best->dec, best->n, &cfg, &d, out);
    nas_set_threads(sp->threads);
    *seconds = nas__now() - t0;
    if (rc == NAS_OK && out->by_time)
        nas__job_log(j,
                     "final_training.max_seconds (%g) spent: stopping after %d "
                     "epochs",
                     sp->final_max_seconds, out->epochs);
    if (rc == NAS_OK) { /* the job ends at 1 */
        s->final_done = s->final_steps;
        nas__nasrl_progress(s);
    }
    if (rc == NAS_ECANCELLED)
        rc = nas_fail(NAS_ECANCELLED, "%s: %s during the final training", j->kind,
                      j->stop && atomic_load(j->stop) == NAS_STOP_SHUTDOWN ? "shut down"
                                                                           : "cancelled");
    nas_dataset_free(d.train);
    nas_dataset_free(d.val);
    return rc;
}

int nas__nasrl_report_result(nas__nasrl_run *s)
{
    nas__job *j = s->j;
    if (s->ncache == 0)
        return nas_fail(NAS_EINVAL,
                        "max_seconds: %g s ran out before the "
                        "first child finished training",
                        j->spec.max_seconds);
    const nas__nasrl_cached *best = &s->cache[nas__nasrl_best_index(s)];
    nas_json_buf a = {0}, res = {0};
    nas_nasrl_child fin = {0};
    double fin_seconds = 0.0;
    char test_name[32];
    int rc = s->space->arc_json(&j->spec, best->dec, best->n, &a);
    if (rc < 0) {
        free(a.s);
        return rc;
    }
    if (s->space->text) /* a train job on it, and the model loader, build these sizes */
        nas__text_arch_sizes(&a, &j->spec);
    test_metric_name(s->space->metric, test_name, sizeof(test_name));
    if (j->spec.final_epochs > 0 && (rc = final_training(s, best, a.s, &fin, &fin_seconds)) < 0) {
        free(a.s);
        return rc;
    }
    nas__job_json_open(&res, j->spec.search_space, j);
    nas__json_buf_puts(&res, ",\"architecture\":");
    nas__json_buf_puts(&res, a.s ? a.s : "null");
    nas__json_num(&res, 0, s->space->metric, best->val_metric);
    nas__json_num(&res, 0, "reward", best->reward);
    nas__json_num(&res, 0, "parameters", (double)best->parameters);
    nas__json_num(&res, 0, "architectures", (double)s->pos.global_step);
    nas__json_num(&res, 0, "trained", s->ncache);
    nas__json_num(&res, 0, "updates", s->updates);
    if (s->controller)
        nas__json_num(&res, 0, "baseline", s->rf.baseline);
    nas__json_buf_puts(&res, s->by_time ? ",\"stopped_by\":\"max_seconds\""
                                        : ",\"stopped_by\":\"max_architectures\"");
    if (j->spec.final_epochs > 0) {
        nas__json_buf_puts(&res, ",\"final_training\":{");
        nas__json_num(&res, 1, "epochs", fin.epochs);
        nas__json_num(&res, 0, test_name, fin.val_metric);
        nas__json_num(&res, 0, "train_loss", fin.train_loss);
        nas__json_num(&res, 0, "parameters", (double)fin.parameters);
        nas__json_num(&res, 0, "seconds", fin_seconds);
        nas__json_buf_puts(&res, fin.by_time ? ",\"stopped_by\":\"max_seconds\"}"
                                             : ",\"stopped_by\":\"epochs\"}");
        nas__json_num(&res, 0, test_name, fin.val_metric);
    }
    nas__json_num(&res, 0, "seconds", nas__job_elapsed(j));
    nas__json_buf_puts(&res, "}");
    if (a.oom || res.oom) {
        rc = nas_fail(NAS_ENOMEM, "%s: result: out of memory", j->kind);
    } else if (j->rep.result && j->spec.final_epochs > 0) {
        j->rep.result(j->rep.ctx, a.s, test_name, fin.val_metric, res.s);
    } else if (j->rep.result) {
        j->rep.result(j->rep.ctx, a.s, s->space->metric, best->val_metric, res.s);
    }
    free(a.s);
    free(res.s);
    return rc;
}
