// SPDX-License-Identifier: MIT
/*
 * onnx.h - the ONNX export of a trained image network (issue #14 part 3),
 * internal to the engine.
 *
 * The one design decision to know: export by tracing. A graph may carry
 * an exporter (nas_graph.ex); every op's forward then also hands its
 * ONNX form to it (the nas__ex_* hooks of internal.h, written in
 * onnx_ops.c), so each space's network builder is the only description
 * of its network. nas__onnx_export runs one forward of the network in
 * eval mode on a few images with an exporter attached and writes what was
 * recorded: parameter-store tensors become initializers under their
 * names, every other value must have been produced by a traced op (an op
 * with no ONNX form, or a value computed outside the ops, makes the
 * export fail naming it: never a wrong graph).
 */
#ifndef NAS_EXPORT_ONNX_H
#define NAS_EXPORT_ONNX_H

#include "internal.h"

/* The network's eval forward: x (N, C, H, W) normalised -> logits
 * (N, classes), on graph g over the store p. */
typedef nas_tensor *(*nas__onnx_fwd)(void *ctx, nas_graph *g, nas_params *p, nas_tensor *x);

typedef struct nas__onnx_spec {
    nas__onnx_fwd forward;
    void *ctx;
    nas_params *p;
    const nas_dataset *images; /* traced images (normalisation from its mean/std) */
    int classes;
    const nas_kv *meta; /* metadata_props */
    int nmeta;
} nas__onnx_spec;

/* A language model's one step: ids[0, n) -> logits (n, vocab); h[l] (and
 * c[l] when the model has cells, else c is NULL) hold the state before
 * the step and receive the state after it (new tensors of the graph). */
typedef nas_tensor *(*nas__onnx_step)(void *ctx, nas_graph *g, nas_params *p, const int32_t *ids,
                                      int n, nas_tensor **h, nas_tensor **c);

typedef struct nas__onnx_text {
    nas__onnx_step step;
    void *ctx;
    nas_params *p;
    int vocab, layers, hidden;
    int cells;          /* LSTM layers: a c state besides h */
    const nas_kv *meta; /* metadata_props */
    int nmeta;
} nas__onnx_text;

/* Writes the network of s as an ONNX model (opset 13) to path, atomically
 * (temp file + rename). Input "pixels" (N, C, H, W) float32 0..255, batch
 * N free; the per-channel normalisation is in the graph; output "logits"
 * (N, classes). NAS_EINVAL naming the op when the network has an op with
 * no ONNX form; nothing is written then. */
int nas__onnx_export(const char *path, const nas__onnx_spec *s);
/* Writes one step of a language model the same way: inputs "tokens" (N)
 * int64 and per layer "h.L" (and "c.L") (N, hidden) float32; outputs
 * "logits" (N, vocab) and the state after the step, "h_out.L" (and
 * "c_out.L"). Feed zeros as the first state, then each step's outputs. */
int nas__onnx_export_text(const char *path, const nas__onnx_text *s);

#endif
