// SPDX-License-Identifier: MIT
/*
 * model.c - the trained network of a job as a file (issue #14 part 2):
 * when a train job (or the final training of a search) has its test
 * metric, its weights go to spec.model_path as safetensors with the
 * metadata a user needs to run them, served by GET /v1/jobs/{id}/model.
 *
 * The one design decision to know: the file is the checkpoint format
 * (core/checkpoint.c, nas_model_save) restricted to what inference reads:
 * the tensors of the weights group and of the state group (batch-norm
 * running statistics; a language model's carried state is left out),
 * under the engine's parameter names, F32, no optimizer moments, no RNG.
 * Every metadata value is a string (safetensors' rule); the structured
 * ones are JSON texts. Keys:
 *
 *   format            "nasd-model-1"
 *   nasd_version      the version that wrote it
 *   architecture      the architecture JSON the job's result names
 *   search_space      the search's space (a final training only)
 *   dataset           the dataset's name
 *   metric, metric_value   the test metric and its value
 *   input             images: {"shape": [C, H, W], "mean": [..],
 *                     "std": [..]} (x = (pixel / 255 - mean) / std per
 *                     channel); text: {"vocab_size": V}
 *   classes           images: the class names, a JSON array
 *   vocabulary        text: the tokens by id, a JSON array
 *   tensors           how the tensors are named (one line)
 *
 * Next to it, the network is also written as ONNX (export/onnx.h) at
 * the same path with .onnx for .safetensors, with the same metadata as
 * its metadata_props: an image network whole, a language model (the
 * LSTM LM, darts-rnn) as one step with its state in and out. A network
 * that cannot be exported (enas-rnn, nasrl-rnn, an op with no ONNX form)
 * has no .onnx file and the job's log says why; the job still succeeds.
 */
#include "config.h"
#include "export/onnx.h"
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fmnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};
static const char *const cifar10_classes[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

static void class_names(const nas_dataset_desc *d, nas_json_buf *b)
{
    const char *const *names = strcmp(d->name, "fashion-mnist") == 0 ? fmnist_classes
                               : strcmp(d->name, "cifar10") == 0     ? cifar10_classes
                                                                     : NULL;
    nas__json_buf_puts(b, "[");
    for (int i = 0; i < d->classes; i++) {
        char num[16];
        if (i)
            nas__json_buf_puts(b, ",");
        snprintf(num, sizeof(num), "%d", i); /* synthetic: its digits */
        nas__json_buf_str(b, names && i < 10 ? names[i] : num, "");
    }
    nas__json_buf_puts(b, "]");
}

static void floats(nas_json_buf *b, const float *v, int n)
{
    nas__json_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof(num), "%s%.9g", i ? "," : "", (double)v[i]);
        nas__json_buf_puts(b, num);
    }
    nas__json_buf_puts(b, "]");
}

/* A store of the network alone: weights and BN statistics, without the
 * carried LSTM state (named "carry.*"). */
static uint32_t groups_of(nas_params *p, int *carry)
{
    *carry = 0;
    for (int i = 0; i < nas_params_count(p); i++)
        if (strncmp(nas_params_get(p, i)->name, "carry.", 6) == 0)
            *carry = 1;
    return (1u << NAS_GROUP_WEIGHTS) | (1u << NAS_GROUP_STATE);
}

void (*nas__model_probe)(const nas__job *j, nas_params *p, const nas__model_info *m);

/* The ONNX file of an image network beside the safetensors one. A stale
 * one (a resumed job's) goes first: no file is better than a wrong one. */
static void save_onnx(const nas__job *j, nas_params *p, const nas__model_info *m,
                      const nas_kv *meta, int nmeta)
{
    const char *path = j->spec.model_path;
    size_t n = strlen(path), sfx = strlen(".safetensors");
    if (n > sfx && strcmp(path + n - sfx, ".safetensors") == 0)
        n -= sfx;
    char *onnx = malloc(n + 6);
    if (!onnx) {
        nas__job_log(j, "no ONNX model: out of memory");
        return;
    }
    memcpy(onnx, path, n);
    memcpy(onnx + n, ".onnx", 6);
    remove(onnx);
    int rc;
    if (m->corpus && m->step) {
        nas__onnx_text t = {.step = m->step,
                            .ctx = m->step_ctx,
                            .p = p,
                            .vocab = m->corpus->vocab_size,
                            .layers = m->layers,
                            .hidden = m->hidden,
                            .cells = m->cells,
                            .meta = meta,
                            .nmeta = nmeta};
        rc = nas__onnx_export_text(onnx, &t);
    } else if (!m->corpus && m->forward && m->train) {
        nas__onnx_spec s = {.forward = m->forward,
                            .ctx = m->forward_ctx,
                            .p = p,
                            .images = m->train,
                            .classes = j->desc->classes,
                            .meta = meta,
                            .nmeta = nmeta};
        rc = nas__onnx_export(onnx, &s);
    } else {
        rc = nas_fail(NAS_EINVAL, "this network has no ONNX form yet (the ONNX export covers "
                                  "the image networks, the LSTM language model and darts-rnn)");
    }
    if (rc == NAS_OK)
        nas__job_log(j, "ONNX model written to %s", onnx);
    else
        nas__job_log(j, "no ONNX model: %s", nas_errmsg());
    free(onnx);
}

int nas__job_save_model(const nas__job *j, nas_params *p, const nas__model_info *m)
{
    const char *path = j->spec.model_path;
    nas_json_buf input = {0}, classes = {0}, vocab = {0};
    char value[40];
    nas_kv meta[14];
    int n = 0, carry, rc;

    if (!path)
        return NAS_OK;
    uint32_t groups = groups_of(p, &carry);
    snprintf(value, sizeof(value), "%.17g", m->value);
    meta[n++] = (nas_kv){"format", "nasd-model-1"};
    meta[n++] = (nas_kv){"nasd_version", PACKAGE_VERSION};
    meta[n++] = (nas_kv){"architecture", m->arch_json ? m->arch_json : "null"};
    if (j->spec.search_space) /* a search's final training */
        meta[n++] = (nas_kv){"search_space", j->spec.search_space};
    meta[n++] = (nas_kv){"dataset", j->desc->name};
    meta[n++] = (nas_kv){"metric", m->metric};
    meta[n++] = (nas_kv){"metric_value", value};
    if (m->corpus) {
        char num[32];
        snprintf(num, sizeof(num), "%d", m->corpus->vocab_size);
        nas__json_buf_puts(&input, "{\"vocab_size\":");
        nas__json_buf_puts(&input, num);
        nas__json_buf_puts(&input, "}");
        nas__json_buf_puts(&vocab, "[");
        for (int i = 0; i < m->corpus->vocab_size; i++) {
            if (i)
                nas__json_buf_puts(&vocab, ",");
            nas__json_buf_str(&vocab, m->corpus->vocab[i], "");
        }
        nas__json_buf_puts(&vocab, "]");
    } else {
        const nas_dataset_desc *d = j->desc;
        char shape[64];
        snprintf(shape, sizeof(shape), "{\"shape\":[%d,%d,%d],\"mean\":", d->c, d->h, d->w);
        nas__json_buf_puts(&input, shape);
        floats(&input, m->train ? m->train->mean : NULL, m->train ? d->c : 0);
        nas__json_buf_puts(&input, ",\"std\":");
        floats(&input, m->train ? m->train->std : NULL, m->train ? d->c : 0);
        nas__json_buf_puts(&input, "}");
        class_names(d, &classes);
    }
    if (input.oom || classes.oom || vocab.oom) {
        rc = nas_fail(NAS_ENOMEM, "%s: model metadata: out of memory", j->kind);
        goto done;
    }
    meta[n++] = (nas_kv){"input", input.s};
    if (classes.s)
        meta[n++] = (nas_kv){"classes", classes.s};
    if (vocab.s)
        meta[n++] = (nas_kv){"vocabulary", vocab.s};
    meta[n++] =
        (nas_kv){"tensors", carry ? "the network's weights and batch-norm running statistics "
                                    "(F32) under the engine's parameter names, as in a "
                                    "checkpoint; no optimizer state; the carried recurrent "
                                    "state (carry.*) is left out: start from zeros"
                                  : "the network's weights and batch-norm running statistics "
                                    "(F32) under the engine's parameter names, as in a "
                                    "checkpoint; no optimizer state; a darts-cnn network's "
                                    "auxiliary head (aux_head.*), which only training runs, "
                                    "is left out"};
    rc = nas_model_save(path, p, groups, carry ? "carry." : "aux_head.", meta, n);
    if (rc == NAS_OK) {
        nas__job_log(j, "model written to %s", path);
        save_onnx(j, p, m, meta, n);
        if (nas__model_probe)
            nas__model_probe(j, p, m);
    }
done:
    free(input.s);
    free(classes.s);
    free(vocab.s);
    return rc;
}
