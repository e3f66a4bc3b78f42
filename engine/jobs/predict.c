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
 */
#include "image_net.h"
#include "search/enas/enas_micro.h"
#include "search/nasrl/nasrl.h"

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
    if (!m->desc || strcmp(m->desc->kind, "image") != 0 ||
        (m->spec.arch != NAS_ARCH_FIXED_CNN && m->spec.arch != NAS_ARCH_DARTS_CNN &&
         m->spec.arch != NAS_ARCH_ENAS_CNN && m->spec.arch != NAS_ARCH_NASRL_CNN)) {
        rc = nas_fail(NAS_EINVAL,
                      "%s: only the image networks of fixed-cnn, darts-cnn, enas-micro, "
                      "enas-macro and nasrl-cnn are run for predictions yet",
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
    if ((rc = nas_params_alloc(m->p, &init)) < 0 || (rc = nas_model_load(path, m->p, NULL, NULL)))
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
