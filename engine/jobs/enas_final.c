// SPDX-License-Identifier: MIT
/*
 * enas_final.c - enas' final training (enas-micro, enas-macro and
 * enas-rnn), and what the train kind needs to train one fixed ENAS arc
 * from scratch (NAS_ARCH_ENAS_CNN, NAS_ARCH_ENAS_RNN, see nas.h): the
 * space by name, the fixed-arc string parsed back into the space's
 * decisions, validation and spec text. enas-rnn's final training keeps
 * the search's model (nodes, hidden, bptt, dropouts) and its child
 * training (see final_spec); the CNN spaces' is described below.
 *
 * The final training is darts' (darts_final.c, nas__final_run): a train
 * job run inside the enas job, metrics "final.*", epochs and steps counted
 * on from the search's, its checkpoints at the search's path with job.stage
 * "final" and what the result needs of the search in their metadata
 * (keys "enas.*"), so a shutdown during it resumes there. Its network is
 * the space's with the found arc: final_dropout before the classifier
 * (the scripts' child_keep_prob: micro 0.80, macro 0.50), the search's
 * augment, final_C channels;
 * enas-micro final_layers normal cells per stack, enas-macro the search's
 * layers (its arc fixes them). The optimizer is the reference's fixed-arc
 * scripts' (cifar10_micro_final.sh / cifar10_macro_final.sh): SGD with
 * Nesterov momentum 0.9, lr 0.05 cosine to 0 over the whole training,
 * weight decay 4e-4 (both scripts' child_l2_reg 2e-4 in a loss term
 * l2 sum w^2, whose gradient is 4e-4 w), grad clip 5 (micro), the
 * search's batch_size; enas-micro's auxiliary head with the search's
 * auxiliary_weight (cifar10_micro_final.sh --child_use_aux_heads) and
 * drop path (drop_path, the script's child_drop_path_keep_prob 0.60,
 * scaled by layer and step as micro_child.py: train_image.c and
 * enas_micro.h), the reference's warm restarts not reproduced (one
 * cosine).
 *
 * The one design decision to know: enas_job.c is left as it is except for
 * two calls. The search's result reporter is routed into a capture
 * (nas__enas_final_begin) while the search runs; once its memory is freed
 * (nas__enas_final_end), the captured result JSON gives the final training
 * what it needs (fixed_arc, epochs, steps, seconds), exactly the numbers
 * the search would have reported.
 *
 * The fixed-arc string is parsed without the space telling its layout:
 * the string of the all-zero arc is compared with the strings of the arcs
 * that set one decision to 1, which finds the token of every decision
 * (the string must be a permutation of the decisions, which is checked).
 */
#include "jobs/jobs.h"
#include "search/enas/enas.h"
#include "search/enas/enas_rnn.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKENS = NAS__ENAS_MAX_DECISIONS };

const nas_enas_space *nas__enas_space_find(const char *name)
{
    static const nas_enas_space *const spaces[] = {&nas__enas_micro, &nas__enas_macro};
    for (size_t i = 0; name && i < sizeof(spaces) / sizeof(spaces[0]); i++)
        if (strcmp(spaces[i]->name, name) == 0)
            return spaces[i];
    return NULL;
}

/* ------------------------------------------------------------ the arc */

/* The decisions of the space's program and, when hi is not NULL, the
 * number of values each can take. */
static int decisions(const nas_enas_space *sp, void *self, int *hi)
{
    nas_ctrl_cfg cc = {0};
    int n, k = 0;
    const nas_ctrl_step *prog = sp->program(self, &n, &cc);
    for (int i = 0; i < n; i++) {
        const nas_ctrl_step *st = &prog[i];
        int kind = nas_ctrl_kind(st);
        int m = kind == NAS_CTRL_SKIPS                             ? st->n
                : kind == NAS_CTRL_CHOICE || kind == NAS_CTRL_PICK ? 1
                                                                   : 0;
        for (int t = 0; t < m; t++, k++)
            if (hi && k < MAX_TOKENS)
                hi[k] = kind == NAS_CTRL_SKIPS ? 2 : st->n;
    }
    return k;
}

int nas__enas_arc_len(const struct nas_enas_space *sp, void *self)
{
    return decisions(sp, self, NULL);
}

int nas__enas_arc_ranges(const struct nas_enas_space *sp, void *self, int *hi, int cap)
{
    int n = decisions(sp, self, NULL);
    if (n > cap || n > MAX_TOKENS)
        return nas_fail(NAS_EINVAL, "%s: %d decisions, more than %d", sp->name, n,
                        cap < MAX_TOKENS ? cap : MAX_TOKENS);
    return decisions(sp, self, hi);
}

/* Splits text at spaces into ints; the count, or -1 when a token is not
 * a decimal int or there are more than cap. */
static int tokens(const char *text, long *out, int cap)
{
    int n = 0;
    const char *s = text;
    for (;;) {
        while (*s == ' ')
            s++;
        if (!*s)
            return n;
        if (n == cap || *s < '0' || *s > '9')
            return -1;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || (*end != ' ' && *end != '\0') || v > 1000000)
            return -1;
        out[n++] = v;
        s = end;
    }
}

static int string_tokens(const nas_enas_space *sp, void *self, const int *arc, long *out)
{
    nas_json_buf b = {0};
    sp->arc_string(self, arc, &b);
    int n = b.oom ? -2 : tokens(b.s ? b.s : "", out, MAX_TOKENS);
    free(b.s);
    return n;
}

int nas__enas_arc_parse(const struct nas_enas_space *sp, void *self, const char *text, int *arc)
{
    int hi[MAX_TOKENS], tokof[MAX_TOKENS];
    long got[MAX_TOKENS], zero[MAX_TOKENS], probe[MAX_TOKENS];
    int n = decisions(sp, self, hi);
    if (n > MAX_TOKENS)
        return nas_fail(NAS_EINVAL,
                        "genotype: %s arcs of %d decisions are "
                        "more than %d",
                        sp->name, n, MAX_TOKENS);
    int ng = tokens(text, got, MAX_TOKENS);
    if (ng < 0)
        return BAD("genotype",
                   "\"%.64s\" is not a %s fixed arc (space-"
                   "separated non-negative ints)",
                   text, sp->name);
    if (ng != n)
        return BAD("genotype",
                   "%d ints, a %s fixed arc of this "
                   "configuration has %d",
                   ng, sp->name, n);
    memset(arc, 0, (size_t)n * sizeof(int));
    if (string_tokens(sp, self, arc, zero) != n)
        return nas_fail(NAS_EINVAL,
                        "genotype: the %s fixed-arc string is "
                        "not one int per decision",
                        sp->name);
    for (int k = 0; k < n; k++) {
        arc[k] = 1;
        int m = string_tokens(sp, self, arc, probe), at = -1;
        arc[k] = 0;
        for (int t = 0; t < m; t++)
            if (probe[t] != zero[t])
                at = at < 0 ? t : -2;
        if (m != n || at < 0)
            return nas_fail(NAS_EINVAL,
                            "genotype: the %s fixed-arc string "
                            "is not a permutation of its decisions",
                            sp->name);
        tokof[k] = at;
    }
    for (int k = 0; k < n; k++) {
        long v = got[tokof[k]];
        if (v >= hi[k])
            return BAD("genotype",
                       "int %d of the %s fixed arc is %ld, "
                       "outside [0, %d]",
                       tokof[k] + 1, sp->name, v, hi[k] - 1);
        arc[k] = (int)v;
    }
    return NAS_OK;
}

/* --------------------------------------------- the train kind's check */

static int is_macro_space(const nas_enas_space *sp)
{
    return strcmp(sp->name, "enas-macro") == 0;
}

int nas__enas_fixed_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf, size_t cap)
{
    if (strcmp(d->kind, "image") != 0)
        return BAD("arch", "an ENAS child needs an image dataset, %s is %s", d->name, d->kind);
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    if (!sp)
        return BAD("search_space",
                   "\"%s\" is not an ENAS CNN space "
                   "(enas-micro, enas-macro)",
                   s->search_space ? s->search_space : "(none)");
    if (memchr(s->genotype, '\0', sizeof(s->genotype)) == NULL)
        return BAD("genotype", "longer than %d bytes", NAS_GENOTYPE_MAX - 1);
    nas_enas_cfg cfg = {.C = s->C,
                        .layers = s->layers,
                        .nodes = is_macro_space(sp) ? 0 : s->nodes,
                        .in_c = d->c,
                        .h = d->h,
                        .w = d->w,
                        .classes = d->classes,
                        .dropout = s->dropout,
                        .drop_path = s->drop_path,
                        .aux = s->aux_weight > 0.0f};
    if (is_macro_space(sp) && s->drop_path != 0.0f)
        return BAD("drop_path", "an enas-macro network has no drop path; must be 0");
    if (is_macro_space(sp) && s->aux_weight != 0.0f)
        return BAD("auxiliary_weight", "an enas-macro network has no auxiliary head; must be 0");
    if (!(s->aux_weight >= 0.0f && s->aux_weight <= 100.0f))
        return BAD("auxiliary_weight", "%g must be in [0, 100]", (double)s->aux_weight);
    nas_params *p = nas_params_new();
    void *self = NULL;
    int *arc = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    int rc = sp->declare(p, &cfg, &self);
    if (rc < 0)
        goto fail;
    int n = nas__enas_arc_len(sp, self);
    if (!(arc = calloc((size_t)n + 1, sizeof(int)))) {
        rc = nas_fail(NAS_ENOMEM, "train: out of memory");
        goto fail;
    }
    if ((rc = nas__enas_arc_parse(sp, self, s->genotype, arc)) < 0)
        goto fail;
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, " arch=%s C=%d layers=%d nodes=%d arc=", sp->name, s->C,
             s->layers, cfg.nodes);
    for (int k = 0; k < n; k++) {
        len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%d", k ? "," : "", arc[k]);
    }
    len = strlen(buf);
    snprintf(buf + len, cap - len, " augment=%d aux_weight=%.9g drop_path=%.9g", s->augment,
             (double)s->aux_weight, (double)s->drop_path);
    if (strlen(buf) + 1 >= cap)
        rc = BAD("genotype", "the spec text is longer than %zu bytes", cap);
fail:
    free(arc);
    if (self)
        sp->free(self);
    nas_params_free(p);
    return rc;
}

/* ------------------------------------------------------------ enas-rnn */

int nas__enas_fixed_rnn_arc(const struct nas__enas_rnn *n, const char *text, int *arc)
{
    long got[MAX_TOKENS];
    int len = nas__enas_rnn_arc_len(n);
    int ng = tokens(text, got, MAX_TOKENS);
    if (ng < 0)
        return BAD("genotype",
                   "\"%.64s\" is not an enas-rnn fixed arc "
                   "(space-separated non-negative ints)",
                   text);
    if (ng != len)
        return BAD("genotype",
                   "%d ints, an enas-rnn fixed arc of %d nodes "
                   "has %d",
                   ng, nas__enas_rnn_cfg_of(n)->nodes, len);
    for (int k = 0; k < len; k++)
        arc[k] = got[k] > 1000 ? 1000 : (int)got[k];
    int rc = nas__enas_rnn_check_arc(n, arc);
    if (rc < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", nas_errmsg());
        return nas_fail(rc, "genotype: %s", msg);
    }
    return NAS_OK;
}

int nas__enas_fixed_rnn_check(const nas_job_spec *s, const nas_dataset_desc *d, char *buf,
                              size_t cap)
{
    if (strcmp(d->kind, "text") != 0)
        return BAD("arch",
                   "the enas-rnn model needs a text dataset, %s is "
                   "%s",
                   d->name, d->kind);
    if (memchr(s->genotype, '\0', sizeof(s->genotype)) == NULL)
        return BAD("genotype", "longer than %d bytes", NAS_GENOTYPE_MAX - 1);
    if (s->nodes < 2 || s->nodes > NAS_ENAS_RNN_MAX_NODES)
        return BAD("nodes", "%d is outside [2, %d]", s->nodes, NAS_ENAS_RNN_MAX_NODES);
    if (s->hidden < 1 || s->hidden > 4096)
        return BAD("hidden", "%d is outside [1, 4096]", s->hidden);
    if (s->bptt < 1 || s->bptt > 10000)
        return BAD("bptt", "%d is outside [1, 10000]", s->bptt);
    if (s->max_vocab < 0 || s->max_vocab == 1)
        return BAD("max_vocab", "%d must be 0 (no cap) or >= 2", s->max_vocab);
    const float dr[4] = {s->dropout_e, s->dropout_x, s->dropout_h, s->dropout_o};
    static const char *const names[4] = {"dropout_e", "dropout_x", "dropout_h", "dropout_o"};
    for (int k = 0; k < 4; k++)
        if (!(dr[k] >= 0.0f && dr[k] < 1.0f))
            return nas_fail(NAS_EINVAL, "%s: %g must be in [0, 1)", names[k], (double)dr[k]);
    if (s->dropout != 0.0f)
        return BAD("dropout",
                   "%g: the enas-rnn model has dropout_e/x/h/o "
                   "instead; must be 0",
                   (double)s->dropout);
    nas_enas_rnn_cfg cfg = {.vocab = 2, .hidden = s->hidden, .nodes = s->nodes};
    nas_params *p = nas_params_new();
    nas__enas_rnn *n = NULL;
    int *arc = NULL;
    if (!p)
        return nas_fail(NAS_ENOMEM, "train: out of memory");
    int rc = nas__enas_rnn_declare(p, &cfg, &n);
    if (rc < 0)
        goto fail;
    int len = nas__enas_rnn_arc_len(n);
    if (!(arc = calloc((size_t)len, sizeof(int)))) {
        rc = nas_fail(NAS_ENOMEM, "train: out of memory");
        goto fail;
    }
    if ((rc = nas__enas_fixed_rnn_arc(n, s->genotype, arc)) < 0)
        goto fail;
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l,
             " arch=enas-rnn nodes=%d hidden=%d bptt=%d "
             "max_vocab=%d dropout_e=%.9g dropout_x=%.9g dropout_h=%.9g "
             "dropout_o=%.9g arc=",
             s->nodes, s->hidden, s->bptt, s->max_vocab, (double)s->dropout_e, (double)s->dropout_x,
             (double)s->dropout_h, (double)s->dropout_o);
    for (int k = 0; k < len; k++) {
        l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%d", k ? "," : "", arc[k]);
    }
    if (strlen(buf) + 1 >= cap)
        rc = BAD("genotype", "the spec text is longer than %zu bytes", cap);
fail:
    free(arc);
    nas__enas_rnn_free(n);
    nas_params_free(p);
    return rc;
}

/* ------------------------------------------------- the final training */

static int is_macro(const nas_job_spec *s)
{
    return s->search_space && strcmp(s->search_space, "enas-macro") == 0;
}

static int is_rnn(const nas_job_spec *s)
{
    return s->search_space && strcmp(s->search_space, "enas-rnn") == 0;
}

/* The final network's channels and layers (0: the search's). */
static int final_C(const nas_job_spec *s)
{
    return s->final_C ? s->final_C : s->C;
}

static int final_layers(const nas_job_spec *s)
{
    return is_macro(s) || !s->final_layers ? s->layers : s->final_layers;
}

void nas__enas_final_size(const nas_job_spec *s, int *C, int *layers)
{
    *C = final_C(s);
    *layers = final_layers(s);
}

int nas__enas_final_check(nas__job *j)
{
    const nas_job_spec *s = &j->spec;
    if (s->final_epochs < 0 || s->final_epochs > 100000)
        return BAD("final_epochs", "%d is outside [0, 100000] (0: off)", s->final_epochs);
    if (s->final_epochs == 0 || is_rnn(s)) /* enas-rnn: the search's model */
        return NAS_OK;
    if (s->final_C < 0 || s->final_C > 1024)
        return BAD("final_C", "%d is outside [1, 1024] (0: the search's C)", s->final_C);
    if (s->final_layers < 0 || s->final_layers > 64)
        return BAD("final_layers",
                   "%d is outside [1, 64] (0: the search's "
                   "layers)",
                   s->final_layers);
    if (is_macro(s) && s->final_layers && s->final_layers != s->layers)
        return BAD("final_layers",
                   "%d: an enas-macro arc fixes the layers "
                   "(the search's %d); give 0 or %d",
                   s->final_layers, s->layers, s->layers);
    const nas_enas_space *sp = nas__enas_space_find(s->search_space);
    nas_enas_cfg cfg = {.C = final_C(s),
                        .layers = final_layers(s),
                        .nodes = is_macro(s) ? 0 : s->nodes,
                        .in_c = j->desc->c,
                        .h = j->desc->h,
                        .w = j->desc->w,
                        .classes = j->desc->classes,
                        .dropout = s->final_dropout,
                        .drop_path = is_macro(s) ? 0.0f : s->drop_path};
    nas_params *p = nas_params_new();
    void *self = NULL;
    if (!sp || !p) {
        nas_params_free(p);
        return nas_fail(NAS_ENOMEM, "enas: out of memory");
    }
    int rc = sp->declare(p, &cfg, &self);
    int n = rc == NAS_OK ? nas__enas_arc_len(sp, self) : 0;
    if (self)
        sp->free(self);
    nas_params_free(p);
    if (n > MAX_TOKENS)
        return BAD("layers",
                   "%d: the final training takes arcs of at most %d "
                   "decisions, this one has %d",
                   s->layers, MAX_TOKENS, n);
    if (rc < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", nas_errmsg());
        return nas_fail(rc, "final_%s", msg);
    }
    if (j->desc->train_size > 0) { /* the progress totals */
        j->after_epochs = s->final_epochs;
        j->after_max_seconds = s->final_max_seconds;
        j->after_steps = (int64_t)(j->desc->train_size / s->batch_size) * s->final_epochs;
    }
    return NAS_OK;
}

/* The string value of "key":"..." in our own result JSON (no escapes in
 * the values looked up here); malloc'd or NULL. */
static char *json_str(const char *json, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *a = strstr(json, pat);
    if (!a)
        return NULL;
    a += strlen(pat);
    const char *b = strchr(a, '"');
    return b ? strndup(a, (size_t)(b - a)) : NULL;
}

static int json_num(const char *json, const char *key, double *out)
{
    char pat[48];
    snprintf(pat, sizeof(pat), ",\"%s\":", key);
    const char *a = strstr(json, pat);
    if (!a)
        return -1;
    char *end;
    *out = strtod(a + strlen(pat), &end);
    return end == a + strlen(pat) ? -1 : 0;
}

static int final_spec(const nas__job *j, const nas__darts_search_out *so, int resume,
                      nas_job_spec *t)
{
    const nas_job_spec *s = &j->spec;
    int macro = is_macro(s);
    *t = (nas_job_spec){.algorithm = "train", .dataset = j->desc->name, .arch = NAS_ARCH_ENAS_CNN};
    nas_job_spec_defaults(t);
    char *arc = json_str(so->res, "fixed_arc");
    if (!arc)
        return nas_fail(NAS_EFORMAT, "enas: final training: the search's "
                                     "result has no fixed_arc");
    if (strlen(arc) >= sizeof(t->genotype)) {
        free(arc);
        return nas_fail(NAS_EINVAL,
                        "final training: the fixed arc is "
                        "longer than %d bytes",
                        NAS_GENOTYPE_MAX - 1);
    }
    strcpy(t->genotype, arc);
    free(arc);
    if (is_rnn(s)) {
        /* The search's model and child training: its loss is summed over
         * the BPTT steps, the train kind's averaged, so lr x bptt and
         * clip / bptt give the same steps on whole chunks. */
        t->arch = NAS_ARCH_ENAS_RNN;
        nas_job_spec_defaults(t); /* arch set first: text defaults */
        t->search_space = s->search_space;
        t->data_path = s->data_path;
        t->epochs = s->final_epochs;
        t->seed = s->seed;
        t->threads = s->threads;
        t->batch_size = s->batch_size;
        t->nodes = s->nodes;
        t->hidden = t->embed = s->hidden;
        t->layers = 1;
        t->bptt = s->bptt;
        t->max_vocab = s->max_vocab;
        t->lr = s->lr * (float)s->bptt;
        t->lr_min = 0.0f;
        t->momentum = 0.0f;
        t->nesterov = 0;
        t->weight_decay = s->weight_decay;
        t->grad_clip = s->grad_clip / (float)s->bptt;
        t->dropout = 0.0f;
        t->dropout_e = s->dropout_e;
        t->dropout_x = s->dropout_x;
        t->dropout_h = s->dropout_h;
        t->dropout_o = s->dropout_o;
        t->augment = 0;
        t->max_seconds = s->final_max_seconds; /* its own limit */
        t->checkpoint_path = s->checkpoint_path;
        t->model_path = s->model_path;
        t->resume = resume;
        return NAS_OK;
    }
    t->search_space = s->search_space;
    t->data_path = s->data_path;
    t->epochs = s->final_epochs;
    t->seed = s->seed;
    t->threads = s->threads;
    t->batch_size = s->batch_size;
    t->C = final_C(s);
    t->layers = final_layers(s);
    t->nodes = macro ? 0 : s->nodes;
    /* The final scripts' child_keep_prob and micro's
     * child_drop_path_keep_prob (final_training.dropout and drop_path). */
    t->dropout = s->final_dropout;
    t->drop_path = macro ? 0.0f : s->drop_path;
    t->lr = 0.05f;
    t->lr_min = 0.0f;
    t->momentum = 0.9f;
    t->nesterov = 1;
    t->weight_decay = 4e-4f; /* twice the scripts' child_l2_reg 2e-4 */
    t->grad_clip = macro ? 0.0f : 5.0f;
    t->augment = s->augment; /* the search's, as the reference's final scripts crop and flip */
    t->aux_weight = macro ? 0.0f : s->aux_weight; /* micro: cifar10_micro_final.sh's head too */
    t->max_seconds = s->final_max_seconds;        /* its own limit */
    t->checkpoint_path = s->checkpoint_path;
    t->model_path = s->model_path;
    t->resume = resume;
    return NAS_OK;
}

/* ------------------------------------------------- capturing reporter */

static void cap_progress(void *ctx, const nas_job_progress *p)
{
    nas__enas_final_cap *c = ctx;
    if (c->orig.progress)
        c->orig.progress(c->orig.ctx, p);
}

static void cap_metric(void *ctx, int epoch, int64_t step, const char *name, double value)
{
    nas__enas_final_cap *c = ctx;
    if (c->orig.metric)
        c->orig.metric(c->orig.ctx, epoch, step, name, value);
}

static void cap_arch(void *ctx, const char *arch, double reward, const char *metrics)
{
    nas__enas_final_cap *c = ctx;
    if (c->orig.architecture)
        c->orig.architecture(c->orig.ctx, arch, reward, metrics);
}

static void cap_ckpt(void *ctx, const char *path, int64_t step)
{
    nas__enas_final_cap *c = ctx;
    if (c->orig.checkpoint)
        c->orig.checkpoint(c->orig.ctx, path, step);
}

static void cap_result(void *ctx, const char *arch, const char *metric, double value,
                       const char *json)
{
    (void)metric;
    (void)value;
    nas__enas_final_cap *c = ctx;
    free(c->arch);
    free(c->res);
    c->arch = strdup(arch);
    c->res = strdup(json);
}

static void cap_log(void *ctx, const char *msg)
{
    nas__enas_final_cap *c = ctx;
    if (c->orig.log)
        c->orig.log(c->orig.ctx, msg);
}

int nas__enas_final_begin(nas__job *j, nas__enas_final_cap *cap, int *done)
{
    *cap = (nas__enas_final_cap){0};
    *done = 0;
    if (j->spec.final_epochs <= 0)
        return NAS_OK;
    int stage = 0;
    int rc = nas__darts_final_stage(j, &stage);
    if (rc < 0 || stage) {
        *done = 1;
        return rc < 0 ? rc : nas__final_resume(j, "enas", final_spec);
    }
    cap->orig = j->rep;
    cap->active = 1;
    j->rep =
        (nas_job_reporter){cap, cap_progress, cap_metric, cap_arch, cap_ckpt, cap_result, cap_log};
    return NAS_OK;
}

int nas__enas_final_end(nas__job *j, nas__enas_final_cap *cap, int rc)
{
    if (!cap->active)
        return rc;
    j->rep = cap->orig;
    cap->active = 0;
    if (rc == NAS_OK && (!cap->arch || !cap->res))
        rc = nas_fail(NAS_ENOMEM, "enas: result: out of memory");
    if (rc == NAS_OK) {
        double steps, epochs, seconds;
        if (json_num(cap->res, "steps", &steps) < 0 || json_num(cap->res, "epochs", &epochs) < 0 ||
            json_num(cap->res, "seconds", &seconds) < 0)
            rc = nas_fail(NAS_EFORMAT, "enas: the search's result lacks "
                                       "steps, epochs or seconds");
        else { /* after a search cut short by max_seconds too */
            nas__darts_search_out so = {.arch = cap->arch,
                                        .res = cap->res,
                                        .steps = (int64_t)steps,
                                        .epochs = (int)ceil(epochs),
                                        .seconds = seconds};
            rc = nas__final_run(j, "enas", final_spec, &so, 0);
        }
    }
    free(cap->arch);
    free(cap->res);
    cap->arch = cap->res = NULL;
    return rc;
}

int nas__enas_stages(nas__job *j, const nas__job_pos *pos, const nas__job_stages *st, void *run)
{
    /* A resume inside the final training runs only it; otherwise the
     * search's result is captured for it. */
    nas__enas_final_cap cap;
    int done;
    int rc = nas__enas_final_begin(j, &cap, &done);
    if (rc < 0 || done)
        return rc;
    rc = nas__job_search(j, pos, st, run, NULL);
    return nas__enas_final_end(j, &cap, rc); /* the search's memory is freed */
}
