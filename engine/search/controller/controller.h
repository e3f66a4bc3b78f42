// SPDX-License-Identifier: MIT
/*
 * controller.h - the LSTM policy that writes an architecture as a string
 * of decisions (Zoph & Le 2017; Pham et al. 2018), shared by ENAS
 * (enas-macro, enas-micro, enas-rnn) and NAS with RL (nasrl-cnn,
 * nasrl-rnn). Internal to the engine.
 *
 * The one design decision to know: a search space describes its decisions
 * as a small program (an array of nas_ctrl_step), and the controller runs
 * any program. Every step first advances the LSTM by one time step on the
 * current input, then acts on the new top hidden state h:
 *
 *   CHOICE(head, n)  logits = W_head h (n outputs), / temperature, then
 *                    tanh_c * tanh(.) (tanh_c / choice_tanh_reduce for
 *                    choices); sample one; the next input is that choice's
 *                    embedding emb_head[choice].
 *   PICK(n)          attention over anchors 0..n-1:
 *                    score_j = v^T tanh(W_prev a_j + W_curr h), / temperature,
 *                    tanh_c * tanh(.); softmax, sample one; the next input
 *                    is the chosen anchor's hidden state a_j.
 *   SKIPS(n)         the same scores l_j, one independent 0/1 per anchor
 *                    j < n (1: j feeds the current layer). With
 *                    cfg.skip_softmax (ENAS, general_controller.py) the
 *                    skip is drawn from softmax([-l_j, l_j]), i.e.
 *                    P(1) = sigmoid(2 l_j), and the KL term is the
 *                    reference's, of sigmoid(l_j); without it (NAS-RL's
 *                    paper) P(1) = sigmoid(l_j) and the KL of that. The
 *                    next input is sum_j s_j a_j / (1 + sum_j s_j). Adds
 *                    KL(Bernoulli(.) || Bernoulli(skip_target)) summed
 *                    over j as one term of the skip penalty, which is the
 *                    mean of these terms over the program's SKIPS steps
 *                    (the reference's reduce_mean over layers), and the
 *                    skips taken to skip_count.
 *   ANCHOR           no decision: h is pushed as the next anchor a_k (its
 *                    W_prev a_k kept), and the next input is g_emb.
 *   RESET            no LSTM step: state to zeros, anchors cleared, next
 *                    input g_emb.
 *
 * Flags, OR'ed into a step's kind (nas_ctrl_kind() strips them), adapt
 * a step to a reference's sampler:
 *   NAS_CTRL_PUSH        PICK, SKIPS: after deciding, h is also pushed as
 *                        the next anchor (ENAS macro and recurrent: the
 *                        step that queries the earlier anchors is the one
 *                        whose state becomes the new anchor).
 *   NAS_CTRL_ZERO_VALUE  ANCHOR: the anchor's key is W_prev h as usual,
 *                        but a PICK of it feeds zeros as the next input
 *                        (ENAS micro's two cell inputs).
 *   NAS_CTRL_KEEP_STATE  RESET: anchors cleared and next input g_emb, but
 *                        the LSTM state carries on (ENAS micro: the
 *                        reduction cell's sampler continues from the
 *                        normal cell's last state).
 *   NAS_CTRL_FIXED_BIAS  CHOICE: adds cfg.head_fixed_bias[head] after the
 *                        tanh (ENAS micro's normal cell, b_soft_no_learn).
 * cfg.head_bias[k] (NULL: none) gives head k a learned bias initialised to
 * those values (ENAS micro's b_soft = [10, 10, 0, 0, 0]), added before the
 * temperature. cfg.locality > 0 (ENAS recurrent, ptb_enas_controller.py:
 * 12) subtracts (n - j)^2 / locality from PICK(n)'s logit of anchor j
 * after the tanh, and divides the chosen anchor's state by 0.1 + n - j
 * before it is fed as the next input.
 *
 * The program starts as if after a RESET. The decisions are written to an
 * int array, in program order: CHOICE and PICK one int each, SKIPS n ints
 * (0/1), ANCHOR and RESET none (nas_ctrl_arc_len).
 *
 * Parameters live in the caller's store, group NAS_GROUP_CONTROLLER, named
 * "<prefix>.lstm.<l>.wx|wh|b", "<prefix>.g_emb", "<prefix>.head.<k>.w"
 * (n_k x H), "<prefix>.head.<k>.emb" (n_k x H), "<prefix>.att.w_prev",
 * "<prefix>.att.w_curr" (H x H), "<prefix>.att.v" (1 x H); all initialised
 * U(-0.1, 0.1) as in the ENAS reference; and for a head with a learned
 * bias "<prefix>.head.<k>.b" (n_k), zero-initialised: it holds the bias's
 * change from cfg.head_bias[k], so the store needs no special initialiser
 * and the gradient and Adam steps are those of the bias itself. So the controller is saved and
 * restored by the store's checkpoint, with its Adam moments.
 */
#ifndef NAS_SEARCH_CONTROLLER_H
#define NAS_SEARCH_CONTROLLER_H

#include "internal.h"

enum nas_ctrl_kind {
    NAS_CTRL_CHOICE,
    NAS_CTRL_PICK,
    NAS_CTRL_SKIPS,
    NAS_CTRL_ANCHOR,
    NAS_CTRL_RESET,
};

enum nas_ctrl_flag {
    NAS_CTRL_PUSH = 1 << 8,
    NAS_CTRL_ZERO_VALUE = 1 << 9,
    NAS_CTRL_KEEP_STATE = 1 << 10,
    NAS_CTRL_FIXED_BIAS = 1 << 11,
};
#define NAS_CTRL_KIND_MASK 0xff

typedef struct nas_ctrl_step {
    int kind; /* enum nas_ctrl_kind | enum nas_ctrl_flag bits */
    int head; /* CHOICE: which head (0..nheads-1) */
    int n;    /* CHOICE: options (<= the head's size; a head may be
                 used with fewer, e.g. a shorter list); PICK, SKIPS:
                 anchors considered (1..anchors pushed so far) */
} nas_ctrl_step;

/* The step's enum nas_ctrl_kind without its flags. */
static inline int nas_ctrl_kind(const nas_ctrl_step *s)
{
    return s->kind & NAS_CTRL_KIND_MASK;
}

#define NAS_CTRL_MAX_HEADS 16

typedef struct nas_ctrl_cfg {
    int hidden;      /* LSTM size (64 for the CNN spaces, 100 rnn) */
    int lstm_layers; /* stacked LSTM layers (1; the NAS paper 2) */
    int nheads;
    int head_size[NAS_CTRL_MAX_HEADS];          /* options of each head */
    float temperature;                          /* logits / temperature; 0 or 1: off */
    float tanh_c;                               /* tanh_c * tanh(logits); 0: off */
    float choice_tanh_reduce;                   /* CHOICE logits use tanh_c / this (ENAS
                                               micro: 2.5); 0 or 1: same as attention */
    float skip_target;                          /* SKIPS: the KL penalty's target (0.4) */
    int skip_softmax;                           /* SKIPS drawn from softmax([-l, l]) (ENAS) */
    float locality;                             /* PICK's locality prior (ENAS rnn 12); 0: off */
    const float *head_bias[NAS_CTRL_MAX_HEADS]; /* NULL: no bias */
    const float *head_fixed_bias[NAS_CTRL_MAX_HEADS]; /* NAS_CTRL_FIXED_BIAS */
    int no_lstm_bias;                                 /* the LSTM without a bias (melodyguan/enas's
                                                         common_ops.lstm is a matmul alone); 0: with */
    float init_range; /* every weight U(-r, r); 0: 0.1 (melodyguan/enas);
                         NAS-RL (Zoph & Le 2017): 0.08 */
} nas_ctrl_cfg;

typedef struct nas_ctrl nas_ctrl;

/* Declares the controller's parameters in p (before nas_params_alloc)
 * under prefix; *out owned, nas_ctrl_free. NAS_EINVAL names the bad cfg
 * field. */
int nas_ctrl_declare(nas_params *p, const char *prefix, const nas_ctrl_cfg *cfg, nas_ctrl **out);
void nas_ctrl_free(nas_ctrl *c);

/* Ints a program writes; NAS_EINVAL (negative) when the program is
 * malformed (a PICK or SKIPS over more anchors than pushed, a CHOICE of an
 * unknown head or with too many options). */
int nas_ctrl_arc_len(const nas_ctrl *c, const nas_ctrl_step *prog, int n);

typedef struct nas_ctrl_out {
    nas_tensor *logp;         /* (1): sum over decisions of log pi(a_t) */
    nas_tensor *entropy;      /* (1): sum over decisions of H(pi_t) */
    nas_tensor *skip_penalty; /* (1): KL of SKIPS, mean over the SKIPS
                                 steps of each step's sum (0 if none) */
    int skip_count;           /* skips taken */
    int skip_total;           /* skips considered */
} nas_ctrl_out;

/* Runs the program on g (training mode or not does not matter: no
 * dropout). force == NULL: samples every decision with rng; otherwise the
 * decisions are taken from force (arc_len ints; rng unused), e.g. to score
 * a stored architecture or for gradient checks. arc receives the decisions.
 * With the graph recording, backward from out->logp etc. reaches the
 * controller's parameters (mask NAS_MASK(NAS_GROUP_CONTROLLER)). */
int nas_ctrl_run(nas_ctrl *c, nas_graph *g, nas_params *p, const nas_ctrl_step *prog, int nsteps,
                 nas_rng *rng, const int *force, int *arc, nas_ctrl_out *out);

/* The controller fields of a job spec (ctrl_hidden .. ctrl_baseline_decay,
 * as ENAS and NAS-RL use them), NAS_EINVAL naming the API key (lstm_size,
 * lstm_layers, controller_lr, entropy_weight, tanh_constant, temperature,
 * baseline_decay). */
int nas__ctrl_check_spec(const nas_job_spec *s);

/* REINFORCE with an exponential moving average baseline and Adam. */
typedef struct nas_reinforce {
    float entropy_weight; /* 1e-4 (ENAS micro) */
    float skip_weight;    /* 0.8 (enas-macro), 0 elsewhere */
    float baseline_decay; /* 0.99 */
    float grad_clip;      /* global norm of the controller's gradient;
                             0: off */
    nas_adam adam;        /* lr 0.0035 (ENAS micro), betas (0, 0.999),
                             eps 1e-3 as in the reference; steps counted */
    double baseline;      /* b */
    int have_baseline;    /* 0 until the first reward (then b = R) */
} nas_reinforce;

/* The loss of one sampled architecture with reward R (baseline b as it
 * stands): -(R - b) logp - entropy_weight H + skip_weight skip_penalty,
 * scaled by `scale` (1/m when m architectures are aggregated), as a (1)
 * tensor on g. */
nas_tensor *nas_reinforce_loss(nas_graph *g, const nas_reinforce *r, const nas_ctrl_out *o,
                               double reward, float scale);
/* Moves the baseline towards R: b = decay b + (1 - decay) R (b = R the
 * first time). */
void nas_reinforce_baseline(nas_reinforce *r, double reward);
/* The controller's gradient (accumulated by the callers' backward passes
 * over nas_reinforce_loss) clipped, one Adam step on the group
 * NAS_GROUP_CONTROLLER, gradients zeroed. Returns the gradient norm. */
float nas_reinforce_step(nas_reinforce *r, nas_params *p);

#endif
