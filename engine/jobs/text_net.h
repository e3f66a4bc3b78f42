// SPDX-License-Identifier: MIT
/*
 * text_net.h - the language model of a `train` job on a text corpus,
 * built from its spec: LSTM layers, the discrete cell of a darts-rnn
 * genotype, one fixed enas-rnn arc, or a nasrl-rnn cell, each between an
 * embedding and a decoder to the vocabulary (internal).
 *
 * The one design decision to know: as image_net.h for images, this is the
 * one description of these networks outside the searches. The train job
 * (train_text.c) trains what it declares, the model loader (predict.c)
 * rebuilds the same network from a model file's architecture, and the
 * ONNX export traces its one step (nas__text_net_logits), so the three
 * cannot drift apart. A nasrl-rnn network is trained by its search's own
 * child training (search/nasrl/nasrl_rnn.c), which declares it; here it
 * is declared under the same names, shapes and order (the loader checks
 * the file, nas__text_net_bind the trained store).
 */
#ifndef NAS_TEXT_NET_H
#define NAS_TEXT_NET_H

#include "jobs.h"
#include "search/darts/darts.h"
#include "search/enas/enas_rnn.h"

enum { NAS__TEXT_MAX_LAYERS = 8, NAS__NASRL_RNN_MAX_DEC = 64 };

typedef struct nas__text_net {
    int emb, dec_w, dec_b;
    int wx[NAS__TEXT_MAX_LAYERS], wh[NAS__TEXT_MAX_LAYERS], b[NAS__TEXT_MAX_LAYERS];
    int carry_h[NAS__TEXT_MAX_LAYERS], carry_c[NAS__TEXT_MAX_LAYERS]; /* -1: none */
    int vocab, layers, hidden;
    float dropout, dropout_in; /* outputs; embeddings */
    int darts;                 /* the cell of a darts-rnn genotype */
    nas__darts_rnn_fixed cell;
    nas__enas_rnn *enas; /* NAS_ARCH_ENAS_RNN: the model, */
    int *arc;            /* its fixed arc */
    nas_enas_rnn_drop drop;
    int nasrl; /* NAS_ARCH_NASRL_RNN: the cell of these decisions */
    int dec[NAS__NASRL_RNN_MAX_DEC], ndec, base;
    int rwx, rbx, rwh; /* its stacked leaf matrices */
} nas__text_net;

/* Declares the language model of spec s over a vocabulary of `vocab` in
 * p (not yet allocated). carry_batch > 0 also declares the state carried
 * between BPTT chunks ("carry.*", NAS_GROUP_STATE, carry_batch rows),
 * which a model file leaves out (0). NAS_OK or a negative error naming
 * the field; n is freed with nas__text_net_free either way. */
int nas__text_net_declare(nas_params *p, const nas_job_spec *s, int vocab, int carry_batch,
                          nas__text_net *n);
/* The network of spec s over a store p that another trainer declared
 * (a search's child training, a final training): declared on a scratch
 * store (with the carried state p holds, if any), and bound when p holds
 * exactly the same tensors in the same order; NAS_EINVAL naming the
 * first that differs. n is freed with nas__text_net_free either way. */
int nas__text_net_bind(nas_params *p, const nas_job_spec *s, int vocab, nas__text_net *n);
/* The train spec of a text search space's architecture: the decisions
 * dec[0, n) of space ("nasrl-rnn", "darts-rnn", "enas-rnn") with the
 * sizes of the search's spec s (random_job.c, which knows the darts-rnn
 * decisions). NAS_EINVAL for another space. */
int nas__text_arch_spec(const nas_job_spec *s, const char *space, const int *dec, int n,
                        nas_job_spec *t);
/* Fills m's step, step_ctx (n), layers, hidden and cells: what the model
 * file's ONNX export traces. */
void nas__text_net_model_info(nas__text_net *n, nas__model_info *m);
void nas__text_net_free(nas__text_net *n);
/* Whether the state has a c besides h (LSTM layers, the nasrl-rnn cell's
 * memory). */
int nas__text_net_cells(const nas__text_net *n);
/* One time step below the decoder: ids[0, bsz) -> the top layer's output
 * (bsz, H); h[l] (and c[l] when the net has cells) hold the state before
 * the step and receive the state after it. Not for enas-rnn in training
 * (its masks are per chunk: nas__enas_rnn_loss). */
nas_tensor *nas__text_net_step(nas_graph *g, nas_params *p, const nas__text_net *n,
                               const int32_t *ids, int bsz, nas_tensor **h, nas_tensor **c);
/* The step with the decoder: ids -> logits (bsz, vocab), in the form of
 * export/onnx.h's nas__onnx_step (ctx: the nas__text_net). */
nas_tensor *nas__text_net_logits(void *ctx, nas_graph *g, nas_params *p, const int32_t *ids,
                                 int bsz, nas_tensor **h, nas_tensor **c);

#endif
