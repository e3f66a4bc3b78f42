// SPDX-License-Identifier: MIT
/*
 * darts_common.c - what the two darts job kinds (darts_job.c over
 * darts-cnn, darts_rnn_job.c over darts-rnn) share: the checks of the
 * architecture optimizer's fields, the search hyperparameters, the start
 * or resume of the position, and the pieces of the epoch and result JSON.
 */
#include "jobs/jobs.h"
#include "search/darts/darts.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

int nas__darts_job_check_arch(const nas_job_spec *s)
{
    if (!(s->arch_lr > 0.0f && s->arch_lr <= 1.0f))
        return BAD("arch_lr", "%g must be in (0, 1]", (double)s->arch_lr);
    if (!(s->arch_beta1 >= 0.0f && s->arch_beta1 < 1.0f))
        return BAD("arch_beta1", "%g must be in [0, 1)", (double)s->arch_beta1);
    if (!(s->arch_beta2 >= 0.0f && s->arch_beta2 < 1.0f))
        return BAD("arch_beta2", "%g must be in [0, 1)", (double)s->arch_beta2);
    if (!(s->arch_weight_decay >= 0.0f && s->arch_weight_decay < 1.0f))
        return BAD("arch_weight_decay", "%g must be in [0, 1)", (double)s->arch_weight_decay);
    return NAS_OK;
}

void nas__darts_job_hp(const nas_job_spec *s, int64_t steps, nas_darts_hp *hp)
{
    /* Adam moves each alpha by at most about its lr per step, so arch_lr
     * over arch_lr_steps steps and this lr over the search's steps move
     * alpha as far. */
    double lr = s->arch_lr;
    if (s->arch_lr_steps > 0 && steps > 0)
        lr = fmin(1.0, lr * s->arch_lr_steps / (double)steps);
    *hp = (nas_darts_hp){
        .order = s->order,
        .momentum = s->momentum,
        .weight_decay = s->weight_decay,
        .grad_clip = s->grad_clip,
        .arch_lr = (float)lr,
        .arch_beta1 = s->arch_beta1,
        .arch_beta2 = s->arch_beta2,
        .arch_weight_decay = s->arch_weight_decay,
    };
}

int nas__darts_job_resume(nas__job *j, nas_params *p, nas_rng *op_rng, int64_t spe,
                          nas__job_pos *pos)
{
    const nas_job_spec *s = &j->spec;
    nas_rng_seed(op_rng, s->seed ^ 0x6f70732d726e6731ull);
    nas_rng_seed(&pos->data_rng, s->seed ^ 0x646174612d726e67ull);
    pos->epoch = 1;
    int resumed;
    int rc = nas__job_resume(j, p, op_rng, spe, pos, &resumed);
    if (rc < 0)
        return rc;
    /* One weight step and one alpha step per search step. */
    if (pos->sgd_steps != pos->global_step || pos->adam_steps != pos->global_step)
        return nas_fail(NAS_EFORMAT,
                        "%s: step counts disagree (step %" PRId64 ", sgd %" PRId64 ", adam %" PRId64
                        ")",
                        s->checkpoint_path, pos->global_step, pos->sgd_steps, pos->adam_steps);
    return NAS_OK;
}

char *nas__darts_job_epoch_json(char *alpha, int epoch, const nas__job_pos *pos,
                                const char *train_name, const char *val_name, double val_loss,
                                double val_value, double lr)
{
    if (!alpha)
        return NULL;
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{");
    nas__json_num(&b, 1, "epoch", epoch);
    nas__json_num(&b, 0, "step", (double)pos->global_step);
    nas__json_num(&b, 0, "train_loss", pos->last_loss);
    nas__json_num(&b, 0, train_name, pos->last_acc);
    nas__json_num(&b, 0, "val_loss", val_loss);
    nas__json_num(&b, 0, val_name, val_value);
    nas__json_num(&b, 0, "lr", lr);
    nas__json_buf_puts(&b, ",\"alpha\":");
    nas__json_buf_puts(&b, alpha);
    nas__json_buf_puts(&b, "}");
    free(alpha);
    if (!b.oom)
        return b.s;
    free(b.s);
    return NULL;
}

void nas__darts_job_result_head(nas_json_buf *res, const char *space, const nas__job *j,
                                const char *text, const char *alpha, const char *val_name,
                                double val_value, double val_loss, const char *train_name,
                                const nas__job_pos *pos)
{
    nas__job_json_open(res, space, j);
    nas__json_num(res, 0, "order", j->spec.order);
    nas__json_buf_puts(res, ",\"genotype\":");
    nas__json_buf_str(res, text, "");
    nas__json_buf_puts(res, ",\"alpha\":");
    nas__json_buf_puts(res, alpha);
    nas__json_num(res, 0, val_name, val_value);
    nas__json_num(res, 0, "val_loss", val_loss);
    nas__json_num(res, 0, "train_loss", pos->last_loss);
    nas__json_num(res, 0, train_name, pos->last_acc);
}

int nas__darts_job_deliver(nas__job *j, const char *space, nas_json_buf *res,
                           const nas__job_pos *pos, int64_t spe, nas_params *p, int stopped_by_time,
                           char **arch, const char *metric, double value,
                           nas__darts_search_out *out)
{
    double seconds = nas__job_json_close(res, j, pos, spe, p, stopped_by_time);
    if (res->oom)
        return nas_fail(NAS_ENOMEM, "%s: result: out of memory", space);
    /* budget.max_seconds bounds the search alone: the final training
     * asked for runs after a search it cut short too. */
    if (j->spec.final_epochs > 0) {
        out->arch = *arch;
        out->res = res->s;
        out->steps = pos->global_step;
        out->epochs = nas__job_epochs_done(j, pos);
        out->seconds = seconds;
        *arch = res->s = NULL;
    } else if (j->rep.result) {
        j->rep.result(j->rep.ctx, *arch, metric, value, res->s);
    }
    return NAS_OK;
}
