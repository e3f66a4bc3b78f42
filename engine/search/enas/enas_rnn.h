// SPDX-License-Identifier: MIT
/*
 * enas_rnn.h - the ENAS recurrent search space (enas-rnn, Pham et al.
 * 2018): a language model whose recurrent cell is a child sampled by the
 * controller from one shared store (enas_rnn.c), and what the job that
 * alternates shared-weight training and controller training over a text
 * corpus (jobs/enas_rnn_job.c) needs of it. Internal to the engine.
 *
 * The one design decision to know: a child is the controller's int array
 * (the reference's fixed-arc layout): arc[0] the activation of node 0,
 * then for node i = 1..N-1 arc[2i-1] its input node (< i) and arc[2i] its
 * activation; 2N-1 ints. The forward builds only that child's edges on the
 * tape, so backward reaches only the weights it used, and two children
 * using the same edge update the same tensor.
 */
#ifndef NAS_SEARCH_ENAS_RNN_H
#define NAS_SEARCH_ENAS_RNN_H

#include "internal.h"
#include "core/json.h"
#include "search/controller/controller.h"

#define NAS_ENAS_RNN_MAX_NODES 64

/* The activations in the reference's order (melodyguan/enas ptb). */
enum nas_enas_rnn_act {
    NAS_ENAS_RNN_TANH,
    NAS_ENAS_RNN_RELU,
    NAS_ENAS_RNN_IDENTITY,
    NAS_ENAS_RNN_SIGMOID,
    NAS_ENAS_RNN_NACT
};

extern const char *const nas__enas_rnn_act_names[NAS_ENAS_RNN_NACT];

typedef struct nas_enas_rnn_cfg {
    int vocab;
    int hidden; /* embedding and cell size (the decoder is tied) */
    int nodes;  /* N, 2..NAS_ENAS_RNN_MAX_NODES */
} nas_enas_rnn_cfg;

typedef struct nas__enas_rnn nas__enas_rnn;

/* Declares the shared weights in p (before nas_params_alloc), group
 * NAS_GROUP_WEIGHTS: "ernn.embed.w" (V, H), "ernn.node.0.w" (2H, 2H) and
 * "ernn.node.<i>.from.<j>.w" (2H, H) for every j < i < N, all
 * U(-r, r) with the reference's r (0.1 up to H = 300, 0.05 up to 400,
 * 0.04 above). NAS_EINVAL names the field. *out owned. */
int nas__enas_rnn_declare(nas_params *p, const nas_enas_rnn_cfg *cfg, nas__enas_rnn **out);
void nas__enas_rnn_free(nas__enas_rnn *n);
const nas_enas_rnn_cfg *nas__enas_rnn_cfg_of(const nas__enas_rnn *n);

/* Ints of an arc: 2N - 1. */
int nas__enas_rnn_arc_len(const nas__enas_rnn *n);
/* NAS_OK, or NAS_EINVAL naming the first bad entry. */
int nas__enas_rnn_check_arc(const nas__enas_rnn *n, const int *arc);
/* The controller program (owned by n), as ptb_enas_controller.py: node 0
 * ANCHOR, CHOICE(0, 4); node i PICK(i) | PUSH (the step that picks node
 * i's input is node i's anchor), CHOICE(0, 4). Writes the one head and
 * the reference's locality prior (12: logits - (i - j)^2 / 12, the
 * picked state divided by 0.1 + i - j) into ctrl. */
const nas_ctrl_step *nas__enas_rnn_program(nas__enas_rnn *n, int *nsteps, nas_ctrl_cfg *ctrl);
/* The loose ends of arc (nodes no other node uses), ascending; returns
 * their count (>= 1: node N-1 is always one). */
int nas__enas_rnn_loose_ends(const nas__enas_rnn *n, const int *arc, int *out);

/* One step of child arc: x (B,H), h (B,H) -> h' (B,H). mask_x, mask_h
 * (B,H) are the variational dropout masks (already scaled by 1/keep) or
 * NULL. */
nas_tensor *nas__enas_rnn_cell(nas_graph *g, nas_params *p, const nas__enas_rnn *n, const int *arc,
                               nas_tensor *x, nas_tensor *h, nas_tensor *mask_x,
                               nas_tensor *mask_h);

/* One BPTT chunk: rows holds T + 1 rows of bsz ids (inputs rows 0..T-1,
 * targets 1..T); h (bsz, H) is the state before the chunk. */
typedef struct nas_enas_rnn_chunk {
    const int32_t *rows;
    int T, bsz;
    const float *h;
} nas_enas_rnn_chunk;

/* Drop probabilities; applied only when the graph trains, masks drawn
 * from the graph's rng. */
typedef struct nas_enas_rnn_drop {
    float e, x, h, o;
} nas_enas_rnn_drop;

/* Mean cross-entropy per token over the chunk, as a (1) tensor; h_out
 * (may be NULL) receives the state after the chunk. drop may be NULL. */
nas_tensor *nas__enas_rnn_loss(nas_graph *g, nas_params *p, const nas__enas_rnn *n, const int *arc,
                               const nas_enas_rnn_chunk *c, float *h_out,
                               const nas_enas_rnn_drop *drop);

/* {"nodes": [{"input": null, "activation": "tanh"}, {"input": 0,
 * "activation": "relu"}, ...], "output": [loose ends]} appended to b. */
void nas__enas_rnn_arc_json(const nas__enas_rnn *n, const int *arc, nas_json_buf *b);
/* The reference's fixed-arc string: the ints, space-separated. */
void nas__enas_rnn_arc_string(const nas__enas_rnn *n, const int *arc, nas_json_buf *b);
/* Floats of the weights the child uses (embedding included). */
size_t nas__enas_rnn_arc_params(const nas__enas_rnn *n, nas_params *p, const int *arc);
/* Store index of edge j -> i (i >= 1, j < i) or of node 0 (i = 0). */
int nas__enas_rnn_edge_param(const nas__enas_rnn *n, int i, int j);
int nas__enas_rnn_embed_param(const nas__enas_rnn *n);

#endif
