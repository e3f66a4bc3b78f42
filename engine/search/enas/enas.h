// SPDX-License-Identifier: MIT
/*
 * enas.h - ENAS (Pham et al. 2018) over image data: the interface every
 * CNN search space implements (enas_micro.c, enas_macro.c) and the job
 * loop runs (jobs/enas_job.c). Internal to the engine. The recurrent
 * space (enas_rnn.c, jobs/enas_rnn_job.c) has its own loop over text.
 *
 * The one design decision to know: one parameter store holds every op of
 * every node or layer (group NAS_GROUP_WEIGHTS; BN running statistics
 * NAS_GROUP_STATE) and the controller (group NAS_GROUP_CONTROLLER). A
 * sampled child is an int array (the controller's decisions, see
 * controller.h); the space's forward builds only that child's ops on the
 * tape, so backward reaches only the weights it used and two children
 * using the same op at the same place update the same tensor.
 */
#ifndef NAS_SEARCH_ENAS_H
#define NAS_SEARCH_ENAS_H

#include "internal.h"
#include "core/json.h"
#include "search/controller/controller.h"

typedef struct nas_enas_cfg {
    int C;      /* channels of the first layer / cell */
    int layers; /* macro: layers; micro: normal cells per stack */
    int nodes;  /* micro: B */
    int in_c, h, w, classes;
    float dropout;   /* before the classifier (keep_prob = 1 - dropout) */
    float drop_path; /* micro */
    int aux;         /* micro: declare the auxiliary head (nas_aux_head) on
                        the first cell after the last reduction, as the
                        reference's micro_child (use_aux_heads) */
} nas_enas_cfg;

/* enas-macro's batch-norm epsilon: the reference's image_ops.batch_norm
 * (1e-3 is only its batch_norm_with_mask's, unused by the macro scripts,
 * which search whole channels). */
#define NAS_ENAS_MACRO_BN_EPS 1e-5f

typedef struct nas_enas_space {
    const char *name; /* "enas-micro", "enas-macro" */
    /* Declares the shared weights in p (before nas_params_alloc) and
     * returns the space's state in *self. NAS_EINVAL names the field. */
    int (*declare)(nas_params *p, const nas_enas_cfg *cfg, void **self);
    void (*free)(void *self);
    /* The controller program of this space (owned by self) and the heads
     * it uses (written into ctrl->nheads / head_size). */
    const nas_ctrl_step *(*program)(void *self, int *nsteps, nas_ctrl_cfg *ctrl);
    /* x (N, in_c, h, w) -> logits (N, classes) of child arc. Training mode
     * follows the graph; update_stats as in the darts supernet. */
    nas_tensor *(*forward)(void *self, nas_graph *g, nas_params *p, const int *arc, nas_tensor *x,
                           int update_stats);
    /* The auxiliary head's logits of the last forward (one in training
     * mode with a tape, on a space declared with aux), else NULL; NULL
     * hook: the space has no head (enas-macro, as the reference). */
    nas_tensor *(*aux_logits)(void *self);
    /* The arc as the result JSON of issue #5 (e.g. {"normal": [{"inputs":
     * [0, 1], "ops": ["sep_conv_3x3", "identity"]}, ...], ...}) appended to
     * b, and as the reference's fixed-arc string (space-separated ints). */
    void (*arc_json)(void *self, const int *arc, nas_json_buf *b);
    void (*arc_string)(void *self, const int *arc, nas_json_buf *b);
    /* Floats of the weights the child uses (for "parameters"). */
    size_t (*arc_params)(void *self, nas_params *p, const int *arc);
} nas_enas_space;

/* The names of the ops of each space, indexed by the arc's op decisions
 * (what the arc JSON spells them with): 5 micro ops, 6 macro ops. */
extern const char *const nas__enas_micro_op_names[5];
extern const char *const nas__enas_macro_op_names[6];

extern const nas_enas_space nas__enas_micro;
extern const nas_enas_space nas__enas_macro;

#endif
