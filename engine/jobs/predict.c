// SPDX-License-Identifier: MIT
/*
 * predict.c - a model file opened for inference (issue #14 part 4): the
 * network a job trained, rebuilt from its spec and loaded with its
 * weights and batch-norm statistics, run forward in eval mode on raw
 * pixels.
 *
 * The one design decision to know: nothing here builds a network. The
 * caller gives the spec of a `train` job on the file's architecture (the
 * API makes it from the file's "architecture" and "dataset" metadata the
 * way it makes any pasted architecture's job), and the network comes from
 * the train job's own builder (image_net.c; a nasrl-cnn network from the
 * one its children and train jobs share, search/nasrl/nasrl_cnn.c, with
 * the arc read as nasrl_train.c reads it), so the loaded tensors match
 * by name and shape or the open fails. Pixels are normalised with the
 * file's "input" mean and std by the same code that feeds the training
 * (nas_dataset_batch), so a test image scores exactly as the job's
 * evaluation scored it. After the open the store is only read: any number
 * of threads may call nas_model_logits on one model at once; each call
 * takes a graph from the model's few spare ones (under a mutex), so that
 * its arena's memory is reused rather than faulted in anew per request.
 *
 * A language model (the LSTM LM, darts-rnn, enas-rnn, nasrl-rnn) comes
 * the same way from the train job's text builder (text_net.c) over the
 * file's vocabulary, and runs one token at a time, batch 1, through the
 * step its ONNX file holds (nas__text_net_logits), the state carried in
 * the caller's buffers: a text is scored, or continued, as one stream
 * from a zero state, as the job's evaluation runs each of its columns.
 */
#include "image_net.h"
#include "text_net.h"
#include "search/enas/enas_micro.h"
#include "search/nasrl/nasrl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPARE 4 /* graphs kept for reuse */

struct nas_model {
    nas_job_spec spec;
    const nas_dataset_desc *desc;
    nas_params *p;
    nas__image_net net;
    nas_nasrl_net *nasrl; /* NAS_ARCH_NASRL_CNN: this network instead */
    int text;             /* a language model: this network instead */
    nas__text_net lm;
    char **vocab; /* the file's "vocabulary", nvocab tokens */
    int nvocab;
    float mean[4], std[4];
    int nclasses;
    char **classes;     /* the class names, nclasses of them */
    pthread_mutex_t mu; /* guards spare */
    nas_graph *spare[SPARE];
    int nspare;
};

int nas_model_meta(const char *path, const char *key, char **value)
{
    return nas__ckpt_meta(path, key, value);
}

/* The n floats of `key`'s array in the "input" metadata text. */
static int input_floats(const char *path, const char *input, const char *key, float *out, int n)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":[", key);
    const char *at = input ? strstr(input, pat) : NULL;
    if (!at)
        return nas_fail(NAS_EFORMAT, "%s: metadata \"input\" has no %s", path, key);
    at += strlen(pat);
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(at, &end);
        if (end == at || (*end != ',' && *end != ']'))
            return nas_fail(NAS_EFORMAT, "%s: metadata \"input\" has a bad %s", path, key);
        at = end + 1;
    }
    return NAS_OK;
}

static int read_classes(nas_model *m, const char *path, const char *text)
{
    nas_json js = {.path = path, .what = "classes metadata", .s = text, .n = strlen(text)};
    int first = 1, rc;
    if (!(m->classes = calloc((size_t)m->desc->classes, sizeof(char *))))
        return nas_fail(NAS_ENOMEM, "%s: out of memory", path);
    if ((rc = nas__json_expect(&js, '[', "an array of class names")) < 0)
        return rc;
    while ((rc = nas__json_element(&js, &first)) == 1) {
        if (m->nclasses == m->desc->classes)
            return nas_fail(NAS_EFORMAT, "%s: more class names than the %d classes", path,
                            m->desc->classes);
        if ((rc = nas__json_string(&js, &m->classes[m->nclasses])) < 0)
            return rc;
        m->nclasses++;
    }
    if (rc < 0)
        return rc;
    if (m->nclasses != m->desc->classes)
        return nas_fail(NAS_EFORMAT, "%s: %d class names for %d classes", path, m->nclasses,
                        m->desc->classes);
    return NAS_OK;
}

/* The file's "vocabulary": a JSON array of the tokens by id. */
static int read_vocab(nas_model *m, const char *path, const char *text)
{
    nas_json js = {.path = path, .what = "vocabulary metadata", .s = text, .n = strlen(text)};
    int first = 1, rc, cap = 0;
    if ((rc = nas__json_expect(&js, '[', "an array of tokens")) < 0)
        return rc;
    while ((rc = nas__json_element(&js, &first)) == 1) {
        if (m->nvocab == cap) {
            cap = cap ? 2 * cap : 1024;
            char **v = cap < (1 << 26) ? realloc(m->vocab, (size_t)cap * sizeof(char *)) : NULL;
            if (!v)
                return nas_fail(NAS_ENOMEM, "%s: out of memory", path);
            m->vocab = v;
        }
        if ((rc = nas__json_string(&js, &m->vocab[m->nvocab])) < 0)
            return rc;
        m->nvocab++;
    }
    if (rc < 0)
        return rc;
    if (m->nvocab < 2)
        return nas_fail(NAS_EFORMAT, "%s: a vocabulary of %d tokens", path, m->nvocab);
    return NAS_OK;
}

/* A language model: its vocabulary, then the train job's network over
 * it, allocated (the caller loads the file). */
static int open_text(nas_model *m, const char *path)
{
    char *vocab = NULL;
    const nas_job_spec *s = &m->spec;
    int rc = nas_model_meta(path, "vocabulary", &vocab);
    if (rc < 0)
        return rc;
    m->text = 1;
    if (!vocab)
        rc = nas_fail(NAS_EFORMAT, "%s: no \"vocabulary\" metadata", path);
    else if (s->arch != NAS_ARCH_LSTM_LM && s->arch != NAS_ARCH_DARTS_RNN &&
             s->arch != NAS_ARCH_ENAS_RNN && s->arch != NAS_ARCH_NASRL_RNN)
        rc = nas_fail(NAS_EINVAL, "%s: not a language model of the train kind", path);
    else if ((rc = read_vocab(m, path, vocab)) == NAS_OK) {
        nas_rng init;
        nas_rng_seed(&init, 0);
        if (!(m->p = nas_params_new()))
            rc = nas_fail(NAS_ENOMEM, "%s: out of memory", path);
        else if ((rc = nas__text_net_declare(m->p, s, m->nvocab, 0, &m->lm)) == NAS_OK)
            rc = nas_params_alloc(m->p, &init);
    }
    free(vocab);
    return rc;
}

int nas_model_open(const char *path, const nas_job_spec *spec, nas_model **out)
{
    char *input = NULL, *classes = NULL;
    nas_model *m = calloc(1, sizeof *m);
    int rc;
    *out = NULL;
    if (!m)
        return nas_fail(NAS_ENOMEM, "%s: out of memory", path);
    m->spec = *spec;
    pthread_mutex_init(&m->mu, NULL);
    if ((rc = nas_job_validate(&m->spec)) < 0)
        goto fail;
    /* The auxiliary head only trains: the file leaves it out (model.c). */
    m->spec.aux_weight = 0.0f;
    m->desc = nas_dataset_find(m->spec.dataset);
    if (m->desc && strcmp(m->desc->kind, "text") == 0) {
        rc = open_text(m, path);
        goto opened;
    }
    if (!m->desc || strcmp(m->desc->kind, "image") != 0 ||
        (m->spec.arch != NAS_ARCH_FIXED_CNN && m->spec.arch != NAS_ARCH_DARTS_CNN &&
         m->spec.arch != NAS_ARCH_ENAS_CNN && m->spec.arch != NAS_ARCH_NASRL_CNN)) {
        rc = nas_fail(NAS_EINVAL,
                      "%s: the image networks of fixed-cnn, darts-cnn, enas-micro, "
                      "enas-macro and nasrl-cnn and the language models are run for "
                      "predictions; not this one",
                      path);
        goto fail;
    }
    if ((rc = nas_model_meta(path, "input", &input)) < 0 ||
        (rc = nas_model_meta(path, "classes", &classes)) < 0)
        goto fail;
    if (!input || !classes) {
        rc = nas_fail(NAS_EFORMAT, "%s: no \"input\" or \"classes\" metadata", path);
        goto fail;
    }
    if ((rc = input_floats(path, input, "mean", m->mean, m->desc->c)) < 0 ||
        (rc = input_floats(path, input, "std", m->std, m->desc->c)) < 0 ||
        (rc = read_classes(m, path, classes)) < 0)
        goto fail;
    if (!(m->p = nas_params_new())) {
        rc = nas_fail(NAS_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (m->spec.arch == NAS_ARCH_NASRL_CNN) {
        nas_nasrl_arc arc;
        if (!(m->nasrl = calloc(1, sizeof *m->nasrl))) {
            rc = nas_fail(NAS_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        if ((rc = nas__nasrl_cnn_fixed_arc(&m->spec, &arc)) < 0 ||
            (rc = nas__nasrl_net_declare(m->p, &arc, m->desc->c, m->desc->classes, m->nasrl)) < 0)
            goto fail;
    } else if ((rc = nas__image_net_declare(m->p, &m->spec, m->desc, &m->net)) < 0) {
        goto fail;
    } else if (m->net.enas && strcmp(m->net.enas->name, "enas-micro") == 0) {
        /* every op on the caller's graph: the recomputing mode keeps a
         * scratch graph in the space's state, which threads would share
         * (same numbers either way) */
        nas__enas_micro_recompute(m->net.enas_self, 0);
    }
    nas_rng init;
    nas_rng_seed(&init, 0);
    rc = nas_params_alloc(m->p, &init);
opened:
    if (rc < 0 || (rc = nas_model_load(path, m->p, NULL, NULL)) < 0)
        goto fail;
    free(input);
    free(classes);
    *out = m;
    return NAS_OK;
fail:
    free(input);
    free(classes);
    nas_model_free(m);
    return rc;
}

void nas_model_free(nas_model *m)
{
    if (!m)
        return;
    nas__image_net_free(&m->net);
    nas__text_net_free(&m->lm);
    for (int i = 0; i < m->nvocab; i++)
        free(m->vocab[i]);
    free(m->vocab);
    free(m->nasrl);
    nas_params_free(m->p);
    for (int i = 0; i < m->nspare; i++)
        nas_graph_free(m->spare[i]);
    pthread_mutex_destroy(&m->mu);
    for (int i = 0; i < m->nclasses; i++)
        free(m->classes[i]);
    free(m->classes);
    free(m);
}

void nas_model_input(const nas_model *m, int *c, int *h, int *w, int *classes)
{
    *c = m->desc->c;
    *h = m->desc->h;
    *w = m->desc->w;
    *classes = m->desc->classes;
}

const char *nas_model_class_name(const nas_model *m, int k)
{
    return k >= 0 && k < m->nclasses ? m->classes[k] : NULL;
}

static nas_graph *take_graph(nas_model *m)
{
    nas_graph *g = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->nspare > 0)
        g = m->spare[--m->nspare];
    pthread_mutex_unlock(&m->mu);
    if (!g && (g = nas_graph_new(0))) {
        nas_graph_set_training(g, 0);
        nas_graph_set_grad(g, 0);
    }
    return g;
}

static void give_graph(nas_model *m, nas_graph *g)
{
    nas_graph_reset(g);
    pthread_mutex_lock(&m->mu);
    if (m->nspare < SPARE) {
        m->spare[m->nspare++] = g;
        g = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    nas_graph_free(g);
}

int nas_model_logits(nas_model *m, const uint8_t *pixels, int n, float *logits)
{
    const nas_dataset_desc *d = m->desc;
    nas_dataset view = {.n = n, .c = d->c, .h = d->h, .w = d->w, .x = (uint8_t *)pixels};
    nas_graph *g = take_graph(m);
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!g || !idx) {
        nas_graph_free(g);
        free(idx);
        return nas_fail(NAS_ENOMEM, "predictions: out of memory");
    }
    memcpy(view.mean, m->mean, sizeof view.mean);
    memcpy(view.std, m->std, sizeof view.std);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    nas_tensor *x = nas_tensor_new4(g, n, d->c, d->h, d->w);
    nas_dataset_batch(&view, idx, n, NULL, NULL, x->data, NULL);
    nas_tensor *out = m->nasrl ? nas__nasrl_net_forward(g, m->p, m->nasrl, x)
                               : nas__image_net_forward(g, m->p, &m->net, x, 0);
    memcpy(logits, out->data, (size_t)n * d->classes * sizeof(float));
    give_graph(m, g);
    free(idx);
    return NAS_OK;
}

/* ------------------------------------------------------ language models */

int nas_model_is_text(const nas_model *m)
{
    return m->text;
}

int nas_model_vocab_size(const nas_model *m)
{
    return m->nvocab;
}

const char *nas_model_token(const nas_model *m, int id)
{
    return id >= 0 && id < m->nvocab ? m->vocab[id] : NULL;
}

int nas_model_encode(const nas_model *m, const char *text, size_t len, int open_end, int32_t **ids,
                     int *n, int *nunk)
{
    return nas_corpus_encode(m->vocab, m->nvocab, NAS_CORPUS_WORD, text, len, open_end, ids, n,
                             nunk);
}

/* A stream being read: the state (h then c of each layer, (1, H) each)
 * and the logits after the last token fed. */
typedef struct lm_run {
    nas_model *m;
    nas_graph *g;
    float *state, *logits;
} lm_run;

static int lm_begin(nas_model *m, lm_run *r)
{
    const nas__text_net *n = &m->lm;
    r->m = m;
    r->g = take_graph(m);
    r->state = calloc((size_t)2 * n->layers * n->hidden, sizeof(float));
    r->logits = malloc((size_t)m->nvocab * sizeof(float));
    if (!r->g || !r->state || !r->logits)
        return nas_fail(NAS_ENOMEM, "predictions: out of memory");
    return NAS_OK;
}

static void lm_end(lm_run *r)
{
    if (r->g)
        give_graph(r->m, r->g);
    free(r->state);
    free(r->logits);
}

/* Feeds one token: the state moves on, r->logits are the next token's. */
static void lm_feed(lm_run *r, int32_t id)
{
    const nas__text_net *n = &r->m->lm;
    int H = n->hidden, L = n->layers, shape[2] = {1, H}, cells = nas__text_net_cells(n);
    nas_tensor *h[NAS__TEXT_MAX_LAYERS], *c[NAS__TEXT_MAX_LAYERS];
    nas_graph_reset(r->g);
    for (int l = 0; l < L; l++) {
        h[l] = nas_tensor_new(r->g, 2, shape);
        c[l] = nas_tensor_new(r->g, 2, shape);
        memcpy(h[l]->data, r->state + (size_t)2 * l * H, (size_t)H * sizeof(float));
        memcpy(c[l]->data, r->state + (size_t)(2 * l + 1) * H, (size_t)H * sizeof(float));
    }
    nas_tensor *y = nas__text_net_logits(&r->m->lm, r->g, r->m->p, &id, 1, h, cells ? c : NULL);
    memcpy(r->logits, y->data, (size_t)r->m->nvocab * sizeof(float));
    for (int l = 0; l < L; l++) {
        memcpy(r->state + (size_t)2 * l * H, h[l]->data, (size_t)H * sizeof(float));
        if (cells)
            memcpy(r->state + (size_t)(2 * l + 1) * H, c[l]->data, (size_t)H * sizeof(float));
    }
}

/* log sum exp of the logits, in double. */
static double log_norm(const float *v, int n, double t, double *mx)
{
    double top = v[0], sum = 0.0;
    for (int i = 1; i < n; i++)
        top = v[i] > top ? v[i] : top;
    for (int i = 0; i < n; i++)
        sum += exp(((double)v[i] - top) / t);
    *mx = top;
    return log(sum);
}

int nas_model_text_nll(nas_model *m, const int32_t *ids, int n, double *nll)
{
    lm_run r = {0};
    int rc = NAS_OK;
    *nll = 0.0;
    if (!m->text || n < 2)
        return nas_fail(NAS_EINVAL, "predictions: a language model scores 2 tokens or more");
    if ((rc = lm_begin(m, &r)) == NAS_OK)
        for (int i = 0; i + 1 < n; i++) {
            double mx;
            lm_feed(&r, ids[i]);
            double lz = log_norm(r.logits, m->nvocab, 1.0, &mx);
            *nll += mx + lz - (double)r.logits[ids[i + 1]];
        }
    lm_end(&r);
    return rc;
}

int nas_model_sample(nas_model *m, const int32_t *ids, int n, int count, uint64_t seed,
                     double temperature, int32_t *out)
{
    lm_run r = {0};
    nas_rng rng;
    int rc;
    if (!m->text || n < 1)
        return nas_fail(NAS_EINVAL, "predictions: a continuation needs a token to follow");
    nas_rng_seed(&rng, seed);
    if ((rc = lm_begin(m, &r)) == NAS_OK) {
        for (int i = 0; i < n; i++)
            lm_feed(&r, ids[i]);
        for (int k = 0; k < count; k++) {
            int pick = nas__argmax(r.logits, m->nvocab);
            if (temperature > 0.0) { /* the inverse of the softmax's distribution */
                double mx, lz = log_norm(r.logits, m->nvocab, temperature, &mx);
                double u = (double)nas_rng_uniform(&rng), acc = 0.0;
                for (pick = 0; pick < m->nvocab - 1; pick++) {
                    acc += exp(((double)r.logits[pick] - mx) / temperature - lz);
                    if (u < acc)
                        break;
                }
            }
            out[k] = pick;
            if (k + 1 < count)
                lm_feed(&r, pick);
        }
    }
    lm_end(&r);
    return rc;
}
