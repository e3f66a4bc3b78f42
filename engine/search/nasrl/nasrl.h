// SPDX-License-Identifier: MIT
/*
 * nasrl.h - the search spaces of NAS with RL (Zoph & Le 2017): the
 * nasrl-cnn space (nasrl_cnn.c: the controller's program, the decoding of
 * its decisions into a child network, the child's training from scratch),
 * the nasrl-rnn space (nasrl_rnn.c), and the interface of a space
 * (nas__nasrl_space) through which the search loop of the nas-rl and
 * random job kinds (jobs/nasrl_job.c, jobs/random_job.c, whose spaces over
 * the other searches' networks live there) drives them. Internal to the
 * engine.
 *
 * The one design decision to know: an architecture is the controller's
 * decision list (ints, controller.h), and everything else (the layer
 * table or cell, the JSON, the cache key, the child's seed) is derived
 * from it. A child's numbers depend only on the decisions, the job's seed
 * and its thread share, never on which thread or in which batch of
 * concurrent children it trained: so a cached reward is exactly what
 * retraining would give, and a resumed job retrains the children of an
 * interrupted update to the same rewards.
 */
#ifndef NAS_SEARCH_NASRL_H
#define NAS_SEARCH_NASRL_H

#include "internal.h"
#include "core/json.h"
#include "search/controller/controller.h"

#include <stdatomic.h>

/* ------------------------------------------- the nasrl-cnn space */

#define NAS_NASRL_MAX_LAYERS 64

typedef struct nas_nasrl_layer {
    int fh, fw, filters, stride;
    uint64_t inputs; /* bit j: layer j (< this one) feeds it */
} nas_nasrl_layer;

typedef struct nas_nasrl_arc {
    int nlayers;
    nas_nasrl_layer l[NAS_NASRL_MAX_LAYERS];
} nas_nasrl_arc;

/* The controller's program for `layers` layers of the choice lists of s
 * (filter_heights, filter_widths, num_filters, strides when
 * search_strides): per layer CHOICE fh, CHOICE fw, CHOICE filters,
 * [CHOICE stride], ANCHOR, then SKIPS over the earlier layers (none for
 * the first). prog holds at least 6 layers steps; returns the steps
 * written; the heads go into cfg (nheads, head_size). */
int nas__nasrl_cnn_program(const nas_job_spec *s, int layers, nas_ctrl_step *prog,
                           nas_ctrl_cfg *cfg);
/* Ints of the decision list of `layers` layers. */
int nas__nasrl_cnn_arc_len(const nas_job_spec *s, int layers);
/* Decisions (in program order) -> layer table; NAS_EINVAL when a
 * decision is out of range or the length is not the program's. */
int nas__nasrl_cnn_decode(const nas_job_spec *s, const int *dec, int n, nas_nasrl_arc *out);
/* Uniform decisions for `layers` layers (the random kind): each CHOICE
 * uniform over its list, each skip an independent fair coin. */
void nas__nasrl_cnn_sample_uniform(const nas_job_spec *s, int layers, nas_rng *rng, int *dec);
/* {"layers":[{"filter_height":3,"filter_width":5,"filters":36,
 * "stride":1,"inputs":[0,2]}, ...]} */
void nas__nasrl_cnn_arc_json(const nas_nasrl_arc *a, nas_json_buf *b);

/* A child network: per layer conv(fh x fw, SAME) + BN + ReLU; a layer's
 * input is the depth-concat of the layers that feed it (zero-padded to the
 * largest plane among them), or the image when none does; every layer
 * that feeds no other is global-average-pooled, and the concat of those
 * goes through one linear layer to the classes. */
typedef struct nas_nasrl_net {
    nas_nasrl_arc arc;
    int classes;
    int conv[NAS_NASRL_MAX_LAYERS], gamma[NAS_NASRL_MAX_LAYERS], beta[NAS_NASRL_MAX_LAYERS],
        mean[NAS_NASRL_MAX_LAYERS], var[NAS_NASRL_MAX_LAYERS];
    int fc_w, fc_b;
} nas_nasrl_net;

int nas__nasrl_net_declare(nas_params *p, const nas_nasrl_arc *a, int in_c, int classes,
                           nas_nasrl_net *net);
/* x (N, in_c, H, W) -> logits (N, classes). */
nas_tensor *nas__nasrl_net_forward(nas_graph *g, nas_params *p, const nas_nasrl_net *net,
                                   nas_tensor *x);

/* Training a child from scratch. */
struct nas_nasrl_child;
typedef struct nas_nasrl_train_cfg {
    int epochs, batch_size, threads;
    float lr, momentum, weight_decay, grad_clip; /* grad_clip 0: off */
    int nesterov;
    int reward_cube;         /* cube of the best of the last 5 val accs */
    nas_augment aug;         /* image children: the training batches' crop and
                                flip (zero: none), drawn from an rng of seed */
    uint64_t seed;           /* init and data order */
    const _Atomic int *stop; /* checked between steps (may be NULL) */
    /* Returns non-zero to stop (cancel, shutdown, time budget); may be
     * NULL. Called between steps from the child's thread. */
    int (*should_stop)(void *ctx);
    void *stop_ctx;
    /* Wall-clock limit of the training in seconds; 0: none. Checked
     * between steps: once spent, the training stops, evaluates the
     * network as after a finished epoch (out->by_time set) and keeps it
     * like a finished one. A final training's own limit. */
    double max_seconds;
    /* Called once when the child has trained its epochs and out is
     * filled, with its parameter store (the network alone); a negative
     * return is the training's. May be NULL. A final training keeps its
     * network this way (jobs/nasrl_job.c). */
    int (*keep)(void *ctx, nas_params *p, const struct nas_nasrl_child *out);
    void *keep_ctx;
} nas_nasrl_train_cfg;

/* Whether cfg->max_seconds (when set) is spent since t0. */
int nas__nasrl_out_of_time(const nas_nasrl_train_cfg *cfg, double t0);

/* A child's optimizer: SGD with cfg's momentum, weight decay, Nesterov. */
nas_sgd nas__nasrl_sgd(const nas_nasrl_train_cfg *cfg);
/* One training step of a child on `loss`: gradients of the weights,
 * clipped when cfg says, then SGD at the cosine rate from cfg->lr to 0
 * over `total` steps. */
void nas__nasrl_sgd_step(const nas_nasrl_train_cfg *cfg, nas_graph *g, nas_params *p,
                         nas_tensor *loss, nas_sgd *sgd, int64_t total);

typedef struct nas_nasrl_child {
    double reward, val_metric, train_loss, seconds; /* val_metric: the
                            space's metric (accuracy or perplexity) */
    size_t parameters;
    int epochs;  /* epochs completed */
    int by_time; /* cfg->max_seconds stopped it (metrics as evaluated then) */
    /* While cfg->keep runs on an image child: its network (the model
     * file's ONNX export runs its forward); NULL otherwise. */
    const struct nas__nasrl_model *model;
} nas_nasrl_child;

/* A child network for the shared trainer: declare its parameters (in
 * p, before allocation) and run it on a batch. */
typedef struct nas__nasrl_model {
    void *self;
    int (*declare)(void *self, nas_params *p, int in_c, int classes);
    nas_tensor *(*forward)(void *self, nas_graph *g, nas_params *p, nas_tensor *x);
} nas__nasrl_model;

/* Trains model m from scratch as below (any space's children). */
int nas__nasrl_train_model(const nas__nasrl_model *m, const nas_nasrl_train_cfg *cfg,
                           const nas_dataset *train, const nas_dataset *val, nas_nasrl_child *out);

/* Trains net of arc a on train for cfg->epochs (SGD, cosine from lr to 0
 * over the child's steps), evaluates on val after every epoch. Returns
 * NAS_OK, NAS_ECANCELLED when should_stop said so (out incomplete), or an
 * error. Sets the calling thread's engine threads to cfg->threads. */
int nas__nasrl_cnn_train(const nas_nasrl_arc *a, const nas_nasrl_train_cfg *cfg,
                         const nas_dataset *train, const nas_dataset *val, nas_nasrl_child *out);

/* ------------------------------------- a space, for the job loop */

/* What the loop of jobs/nasrl_job.c needs of a space: decisions of an
 * architecture with `layers` layers (spaces without growth ignore it),
 * uniform sampling, the JSON of a decision list (validating it), the
 * training of its child, and its layer count (for the metrics; 0 when
 * the space has none). */
/* The data of a search: images split 90/10, or a corpus. */
typedef struct nas__nasrl_data {
    nas_dataset *train, *val;
    nas_corpus *corpus;
} nas__nasrl_data;

typedef struct nas__nasrl_space {
    const char *name;
    const char *metric; /* "val_accuracy", "val_perplexity" */
    int text;           /* needs a corpus (else images) */
    /* The controller's program for `layers` layers (NULL: random only);
     * prog holds NAS_NASRL_MAX_LAYERS * 6 steps. */
    int (*program)(const nas_job_spec *s, int layers, nas_ctrl_step *prog, nas_ctrl_cfg *cfg);
    int (*arc_len)(const nas_job_spec *s, int layers);
    void (*sample_uniform)(const nas_job_spec *s, int layers, nas_rng *rng, int *dec);
    int (*arc_json)(const nas_job_spec *s, const int *dec, int n, nas_json_buf *b);
    int (*train)(const nas_job_spec *s, const int *dec, int n, const nas_nasrl_train_cfg *cfg,
                 const nas__nasrl_data *d, nas_nasrl_child *out);
    int (*layers)(const nas_job_spec *s, const int *dec, int n);
} nas__nasrl_space;

/* The names of a nasrl-rnn node's combinations (2) and activations (4),
 * indexed by its decisions (what the cell's JSON spells them with). */
extern const char *const nas__nasrl_rnn_comb_names[2];
extern const char *const nas__nasrl_rnn_act_names[4];

extern const nas__nasrl_space nas__nasrl_cnn_space; /* nasrl_cnn.c */
extern const nas__nasrl_space nas__nasrl_rnn_space; /* nasrl_rnn.c */
/* A nasrl-rnn cell's tree over the leaves' input and recurrent terms X
 * and Hh (N, B H, leaf i's H columns at i H) for decisions dec (base B):
 * h_t, and in *c_out c_t (the chosen node's combination before its
 * activation). */
nas_tensor *nas__nasrl_rnn_tree(nas_graph *g, const int *dec, int B, nas_tensor *X, nas_tensor *Hh,
                                nas_tensor *c, nas_tensor **c_out);
/* A nasrl-rnn language model's tensors, in this order, into p, each
 * one's index in the pointer beside it: "emb" (V, E), "cell.wx" (B H,
 * E), "cell.bx" (B H), "cell.wh" (B H, H), "dec.w" (V, H), "dec.b" (V).
 * The child training declares them so, and the model loader and the ONNX
 * export (jobs/text_net.c) bind a trained file's tensors by the same
 * call. */
int nas__nasrl_rnn_declare(nas_params *p, int V, int E, int H, int B, int *emb, int *wx, int *bx,
                           int *wh, int *dec_w, int *dec_b);

#endif
