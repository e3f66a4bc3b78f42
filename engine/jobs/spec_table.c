// SPDX-License-Identifier: MIT
/*
 * spec_table.c - the one table of the job spec: per (algorithm, search
 * space) - for `train`, per architecture space - every field with its
 * name as the API spells it, type, range, default, one line of doc and
 * where it goes in nas_job_spec; the budget's and the final training's
 * fields; and the rows that tie each table to its data kind and budget
 * defaults. The train kind's per-architecture rows are in spec_train.c,
 * the row macros in spec_rows.h, the engine's readers in spec_check.c.
 *
 * The one design decision to know: this is the only place a job-spec
 * field is written down (PostgreSQL's guc_tables.c). The API walks these
 * rows to validate and normalize a request and to convert it into a
 * nas_job_spec through the offsets (api/spec*.c), prints them as the JSON
 * Schema (schema/job-spec.schema.json), the OpenAPI description and GET
 * /v1/search-spaces; the engine's nas_job_validate checks every row's
 * range (spec_check.c). Adding a hyperparameter is adding a row here (and
 * its member in nas_job_spec when it is new to the engine).
 *
 * Defaults and where they come from (also in the schema's descriptions):
 * darts: Liu et al. 2019 and quark0/darts train_search.py (cnn and rnn);
 * enas: melodyguan/enas scripts/cifar10_{micro,macro}_search.sh and
 * ptb_search.sh; nas-rl: Zoph & Le 2017, scaled for one CPU box where the
 * paper's value would take weeks (children train 5 epochs, not 50; 100
 * architectures, not 12,800); train: the engine's nas_job_spec defaults,
 * and on a darts-cnn genotype quark0/darts train.py (as darts' final
 * training).
 */
#include "spec_rows.h"

#include <math.h>
#include <string.h>

/* A short search's alpha lr (both darts spaces): reach is the reference's
 * number of alpha steps. */
#define ARCH_LR_STEPS_(reach)                                                                      \
    IN_(arch_lr_steps, 1, 100000000, "null",                                                       \
        "null: arch_lr as given (the reference). n: alpha's Adam lr becomes arch_lr * n / the "    \
        "search's planned steps (epochs x steps per epoch; at most 1), so that a short search "    \
        "moves alpha as far as arch_lr does in n steps (Adam moves a weight by about its lr "      \
        "per step); the reference's search makes " reach)

static const nas_spec_field darts_cnn_hp[] = {
    I_(batch_size, 1, 4096, "64", "images per batch, for w and for alpha alike"),
    I_(C, 1, 1024, "16", "initial channels (the stem has 3C)"),
    I_(layers, 1, 64, "8", "cells; reduction cells at 1/3 and 2/3 of the depth"),
    CI_(order, "[1,2]", "1", "1: first-order, 2: second-order (unrolled) alpha gradient"),
    CS_("recompute", OFF_(recompute), "[\"auto\",\"always\",\"never\"]", "\"auto\"",
        "whether each mixed edge recomputes its ops in backward (keeping only its input and "
        "output: about a tenth of the activations, for one more forward of the edges) or keeps "
        "them. auto: keep them when the memory estimate without recomputation fits the daemon's "
        "max-job-memory, recompute otherwise (the dry run's estimate.memory_parts.recompute "
        "tells which). Results are bit-identical either way"),
    NP_(lr, 100, "0.025",
        "weight SGD learning rate, cosine to lr_min over the epochs "
        "(set once per epoch)"),
    N_(lr_min, 0, 100, "0.001", "final weight learning rate (<= lr)"),
    NX_(momentum, 0, 1, "0.9", "weight SGD momentum"),
    NX_(weight_decay, 0, 1, "0.0003", "weight SGD L2 weight decay"),
    N_(grad_clip, 0, 1e6, "5", "global L2 norm clip of the weight gradient; 0: off"),
    NP_(arch_lr, 1, "0.0003", "Adam learning rate of alpha"),
    NL_(arch_betas, 0, 1, 2, "[0.5,0.999]", "Adam betas of alpha"),
    NX_(arch_weight_decay, 0, 1, "0.001", "Adam L2 weight decay of alpha"),
    ARCH_LR_STEPS_("19550 (50 epochs of 391 steps)"),
    ROW_("train_portion", train_portion, NAS_SPEC_NUM, 0, 1, NAS_SPEC_EXCL_MIN | NAS_SPEC_EXCL_MAX,
         NULL, "0.5",
         "share of the training set (split by a shuffle drawn from the seed) that trains "
         "w; the rest trains alpha and gives the per-epoch val_loss and val_accuracy"),
    IN_(max_examples, 2, 100000000, "null",
        "search on a random subset (drawn from the seed) of this many training "
        "examples, split by train_portion; null: the whole training set"),
    B_(augment, "false",
       "random crop (padding 4 on 32x32, 2 on 28x28), plus horizontal flip on cifar10 only, "
       "of both halves' batches (w and alpha) as the reference, and of the final "
       "training's; default true on cifar10 (the reference), false otherwise"),
    THREADS_,
    END_,
};

static const nas_spec_field darts_rnn_hp[] = {
    I_(batch_size, 1, 4096, "256", "columns of the BPTT batches, for w and for alpha alike"),
    CI_(order, "[1,2]", "1", "1: first-order, 2: second-order (unrolled) alpha gradient"),
    I_(embed, 1, 4096, "300",
       "embedding size; the decoder is tied to the embedding "
       "when embed == hidden (the reference always ties)"),
    I_(hidden, 1, 4096, "300", "recurrent cell size"),
    I_(bptt, 1, 1000, "35", "BPTT length in tokens (fixed; the reference varies it)"),
    MAX_VOCAB_("10000"),
    NP_(lr, 100, "20", "weight SGD learning rate"),
    {.name = "lr_min",
     .type = NAS_SPEC_NUM,
     .min = 0,
     .max = 100,
     .flags = NAS_SPEC_NULLABLE,
     .def = "null",
     .doc = "final weight learning rate, cosine from lr over the epochs (set "
            "once per epoch); null: lr, constant like the reference",
     .off = OFF_(lr_min),
     .count_off = -1,
     .null_off = OFF_(lr)},
    NX_(momentum, 0, 1, "0", "weight SGD momentum"),
    NX_(weight_decay, 0, 1, "5e-07", NULL),
    N_(grad_clip, 0, 1e6, "0.25",
       "global L2 norm clip of the weight gradient, also "
       "applied in the unrolled step as in the reference; 0: off"),
    NX_(dropout, 0, 1, "0.75",
        "locked dropout on the cell outputs before the decoder (the reference's dropout): one "
        "mask per sequence and search step, in the alpha passes too (the reference's architect "
        "runs in training mode); its dropoute (0 in its search) is not implemented"),
    AS_NX_("dropout_i", dropout_input, 0, 1, "0.2", "locked dropout on the embeddings (dropouti)"),
    NX_(dropout_x, 0, 1, "0.75", "locked dropout on the cell's input x before W0 (dropoutx)"),
    NX_(dropout_h, 0, 1, "0.25",
        "locked dropout on h_{t-1} before W0 and on every node's input to its linear map "
        "(dropouth)"),
    AS_N_("activation_reg", ar_alpha, 0, 100, "0",
          "AR: this times the mean square of the dropped cell outputs, weight step only "
          "(train_search.py --alpha)"),
    AS_N_("temporal_activation_reg", tar_beta, 0, 100, "0.001",
          "TAR: this times the mean square of h_t - h_{t-1}, weight step only "
          "(train_search.py --beta)"),
    NP_(arch_lr, 1, "0.003", "Adam learning rate of alpha"),
    NL_(arch_betas, 0, 1, 2, "[0.9,0.999]", "Adam betas of alpha"),
    NX_(arch_weight_decay, 0, 1, "0.001", "Adam L2 weight decay of alpha"),
    ARCH_LR_STEPS_("about 5,200 (50 epochs of about 104 steps on PTB)"),
    THREADS_,
    END_,
};

/* Controller keys shared by ENAS and NAS-RL, per space below. */
#define CONTROLLER_(lstm, lr, ent, tanh_c, temp)                                                   \
    AS_I_("lstm_size", ctrl_hidden, 1, 1024, lstm, "controller LSTM hidden size"),                 \
        AS_NP_("controller_lr", ctrl_lr, 1, lr, "controller Adam learning rate"),                  \
        AS_N_("entropy_weight", ctrl_entropy_weight, 0, 1, ent,                                    \
              "entropy bonus of the REINFORCE loss"),                                              \
        ROW_("tanh_constant", ctrl_tanh, NAS_SPEC_NUM, 0, 100, NAS_SPEC_NULLABLE, NULL, tanh_c,    \
             "logits -> c * tanh(logits); null: off"),                                             \
        AS_NP_("temperature", ctrl_temperature, 100, temp, "logits are divided by it first"),      \
        AS_NX_("baseline_decay", ctrl_baseline_decay, 0, 1, "0.99",                                \
               "decay of the reward moving average (baseline)")

#define ENAS_CNN_(bs, cmin, c, l, wd, ctl_lr, tanh_c, steps, agg)                                  \
    I_(batch_size, 1, 4096, bs, NULL), I_(C, cmin, 1024, c, "output channels of the first layer"), \
        I_(layers, 1, 64, l, NULL),                                                                \
        NP_(lr, 100, "0.05", "shared-weight SGD lr, cosine with restarts to lr_min"),              \
        N_(lr_min, 0, 100, "0.0005", NULL),                                                        \
        I_(lr_t0, 1, 10000, "10", "epochs of the first cosine period"),                            \
        I_(lr_t_mul, 1, 100, "2", "growth of each following period"),                              \
        NX_(momentum, 0, 1, "0.9", NULL),                                                          \
        NX_(weight_decay, 0, 1, wd, "SGD weight decay: twice the reference's l2_reg"),             \
        N_(grad_clip, 0, 1e6, "0", "global L2 norm clip; 0: off (as the reference)"),              \
        NX_(dropout, 0, 1, "0.1", "before the classifier"),                                        \
        CONTROLLER_("64", ctl_lr, "0.0001", tanh_c, "1"),                                          \
        AS_N_("op_tanh_reduce", ctrl_op_tanh_reduce, 1, 100, "2.5",                                \
              "op logits use tanh_constant / this"),                                               \
        AS_I_("controller_steps", ctrl_steps, 1, 100000, steps, "controller updates per epoch"),   \
        AS_I_("controller_aggregate", ctrl_aggregate, 1, 1000, agg,                                \
              "sampled children per update"),                                                      \
        I_(final_samples, 1, 100000, "100", "architectures sampled to pick the result"),           \
        ROW_("train_portion", train_portion, NAS_SPEC_NUM, 0, 1,                                   \
             NAS_SPEC_EXCL_MIN | NAS_SPEC_EXCL_MAX, NULL, "0.9",                                   \
             "share of the examples that trains the weights; the rest scores children"),           \
        IN_(max_examples, 2, 100000000, "null",                                                    \
            "search on a random subset (drawn from the seed) "                                     \
            "of this many training examples, split by train_portion; null: all of them"),          \
        B_(augment, "false",                                                                       \
           "random crop (padding 4 on 32x32, 2 on 28x28), plus horizontal flip on cifar10 "        \
           "only, of the shared weights' batches (the children's scoring batches are never "       \
           "augmented, as the reference) and of the final training's; default true on "            \
           "cifar10 (the reference), false otherwise")

static const nas_spec_field enas_micro_hp[] = {
    ENAS_CNN_("160", 1, "20", "6", "0.0002", "0.0035", "1.1", "30", "10"),
    I_(nodes, 2, 16, "5", "nodes per cell (B)"),
    NX_(drop_path, 0, 1, "0.4",
        "not applied: the reference's search has no drop path; the final training's is "
        "final_training.drop_path (when final_training is enabled, its value replaces this "
        "one)"),
    AS_N_("auxiliary_weight", aux_weight, 0, 100, "0.4",
          "weight of the auxiliary head's loss in the shared weights' steps (a head on the "
          "first cell after the last reduction, as cifar10_micro_search.sh "
          "--child_use_aux_heads); 0: no head"),
    THREADS_,
    END_,
};

static const nas_spec_field enas_macro_hp[] = {
    ENAS_CNN_("128", 2, "36", "12", "0.0005", "0.001", "1.5", "50", "20"),
    AS_N_("skip_target", ctrl_skip_target, 0, 1, "0.4", "target skip probability"),
    AS_N_("skip_weight", ctrl_skip_weight, 0, 100, "0.8", "weight of the KL skip penalty"),
    THREADS_,
    END_,
};

static const nas_spec_field enas_rnn_hp[] = {
    I_(batch_size, 1, 4096, "20", NULL),
    I_(nodes, 2, 64, "12", "nodes of the recurrent cell"),
    I_(hidden, 1, 4096, "720",
       "embedding and cell size; the decoder is the embedding "
       "transposed, without bias, as in the reference"),
    I_(bptt, 1, 1000, "35", NULL),
    I_(max_vocab, 0, 1000000, "0",
       "most frequent words kept; 0: all (the reference's PTB "
       "vocabulary is whole)"),
    NP_(lr, 100, "0.25",
        "shared-weight SGD learning rate (no momentum); the loss is "
        "summed over the BPTT steps and averaged over the batch, as in "
        "the reference"),
    I_(lr_decay_start, 0, 100000, "12", "epoch from which lr decays"),
    NP_(lr_decay_rate, 1, "0.95", "per epoch"),
    N_(lr_min, 0, 100, "0.0005", NULL),
    NX_(weight_decay, 0, 1, "1e-07", NULL),
    N_(grad_clip, 0, 1e6, "10", NULL),
    NX_(dropout_e, 0, 1, "0.25",
        "drops whole embedding vectors (a word at a step); the reference's extra zeroing of "
        "a word repeated in a row is not implemented"),
    NX_(dropout_x, 0, 1, "0.75", "cell input, one mask per BPTT chunk"),
    NX_(dropout_h, 0, 1, "0.25", "the state entering each node, one mask per BPTT chunk"),
    NX_(dropout_o, 0, 1, "0.75",
        "cell outputs before the decoder, one mask per BPTT chunk (the TF reference draws "
        "this mask but never applies it)"),
    CONTROLLER_("100", "0.001", "0.001", "2.5", "5"),
    AS_I_("controller_steps", ctrl_steps, 1, 100000, "100", "controller updates per epoch"),
    AS_I_("controller_aggregate", ctrl_aggregate, 1, 1000, "10", "sampled children per update"),
    NP_(reward_c, 1e6, "80", "reward = reward_c / validation perplexity"),
    I_(final_samples, 1, 100000, "100", "architectures sampled to pick the result"),
    THREADS_,
    END_,
};

#define NASRL_COMMON_(bs_, lr_, ctl_lr_)                                                           \
    I_(batch_size, 1, 4096, bs_, NULL),                                                            \
        I_(child_epochs, 1, 10000, "5", "epochs each child trains (paper: 50 CNN, 35 RNN)"),       \
        I_(children_per_update, 1, 256, "4", "children trained concurrently per update"),          \
        NP_(lr, 100, lr_, "child SGD learning rate"),                                              \
        AS_I_("lstm_layers", ctrl_layers, 1, 4, "2", "controller LSTM layers"),                    \
        CONTROLLER_("35", ctl_lr_, "0", "null", "1")

/* The children's data: the first max_examples training images, the last
 * tenth of them for the reward. */
#define NASRL_MAX_EXAMPLES_                                                                        \
    IN_(max_examples, 2, 100000000, "null",                                                        \
        "use the first this many training examples (the children train on 90% of "                 \
        "them and are scored on the last 10%); null: the whole training set")

/* The nasrl-cnn child and its space, for nas-rl and random alike. */
#define NASRL_CNN_SPACE_                                                                           \
    NX_(momentum, 0, 1, "0.9", NULL), B_(nesterov, "true", NULL),                                  \
        NX_(weight_decay, 0, 1, "0.0001", NULL),                                                   \
        I_(start_layers, 1, 64, "6", "child depth at the start"),                                  \
        I_(max_layers, 1, 64, "15", "child depth limit (>= start_layers)"),                        \
        I_(layers_step, 0, 64, "2", "layers added at each growth"),                                \
        I_(grow_every, 1, 1000000, "1600", "architectures between growths"),                       \
        IL_(filter_heights, 1, 15, 1, 8, "[1,3,5,7]", NULL),                                       \
        IL_(filter_widths, 1, 15, 1, 8, "[1,3,5,7]", NULL),                                        \
        IL_(num_filters, 1, 1024, 1, 8, "[24,36,48,64]", NULL),                                    \
        IL_(strides, 1, 3, 1, 3, "[1,2,3]", "choices when search_strides"),                        \
        B_(search_strides, "false", "also choose a stride per layer"),                             \
        CS_("reward", OFF_(reward_cube), "[\"accuracy\",\"cube-best-last5\"]", "\"accuracy\"",     \
            "validation accuracy, or the cube of the best of the last 5 epochs (paper)"),          \
        B_(augment, "false",                                                                       \
           "random crop (padding 4 on 32x32, 2 on 28x28) and, on cifar10, flip of the "            \
           "children's training images, as the paper; default false (the scaled default)"),        \
        NASRL_MAX_EXAMPLES_

static const nas_spec_field nasrl_cnn_hp[] = {
    NASRL_COMMON_("64", "0.1", "0.0006"),
    NASRL_CNN_SPACE_,
    THREADS_,
    END_,
};

/* The nasrl-rnn child (a language model on the cell), for nas-rl and
 * random alike. */
#define NASRL_RNN_SPACE_                                                                           \
    CI_(tree_base, "[2,4,8]", "8", "leaves of the cell's combination tree"),                       \
        I_(embed, 1, 4096, "200", NULL), I_(hidden, 1, 4096, "200", NULL),                         \
        I_(bptt, 1, 1000, "35", NULL), N_(grad_clip, 0, 1e6, "0.25", NULL),                        \
        NX_(dropout, 0, 1, "0.2", "on the embeddings and the cell outputs"),                       \
        NP_(reward_c, 1e6, "80", "reward = reward_c / validation perplexity^2")

static const nas_spec_field nasrl_rnn_hp[] = {
    NASRL_COMMON_("20", "20", "0.0005"),
    NASRL_RNN_SPACE_,
    THREADS_,
    END_,
};

/* random over nasrl-rnn: the children of nas-rl's. */
static const nas_spec_field random_nasrl_rnn_hp[] = {
    RANDOM_CHILD_("20", "cell"),
    NP_(lr, 100, "20", "child SGD learning rate"),
    NASRL_RNN_SPACE_,
    THREADS_,
    END_,
};

/* random over enas-rnn: each arc (node 0 an activation, node i an earlier
 * node and an activation) trains from scratch as one fixed cell of the
 * enas-rnn language model as the enas-rnn search trains its children (SGD
 * on the loss summed over the BPTT steps, cosine to 0), scored on the
 * valid split; reward reward_c / perplexity as enas-rnn's. */
static const nas_spec_field random_enas_rnn_hp[] = {
    RANDOM_CHILD_("20", "cell"),
    NP_(lr, 100, "0.25",
        "child SGD learning rate; the loss is summed over the BPTT "
        "steps and averaged over the batch, as in enas-rnn's search"),
    I_(nodes, 2, 64, "12", "nodes of the recurrent cell"),
    I_(hidden, 1, 4096, "720", "embedding and cell size (tied decoder)"),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    NX_(weight_decay, 0, 1, "1e-07", NULL),
    N_(grad_clip, 0, 1e6, "10", NULL),
    NX_(dropout_e, 0, 1, "0.25", "embedding vectors"),
    NX_(dropout_x, 0, 1, "0.75", "cell input"),
    NX_(dropout_h, 0, 1, "0.25", "state entering each node"),
    NX_(dropout_o, 0, 1, "0.75", "cell outputs"),
    NP_(reward_c, 1e6, "80", "reward = reward_c / validation perplexity"),
    THREADS_,
    END_,
};

/* random over darts-cnn: each genotype trains like darts' final training
 * (SGD lr 0.025 cosine to 0, momentum 0.9, weight decay 3e-4, grad clip
 * 5), on the train split, scored on the validation split. */
static const nas_spec_field random_darts_cnn_hp[] = {
    RANDOM_CHILD_("64", "genotype"),
    I_(C, 1, 1024, "16", "initial channels of each sampled network (the stem has 3C)"),
    I_(layers, 3, 64, "8", "cells of each sampled network; reductions at 1/3 and 2/3"),
    NASRL_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

/* random over enas-micro / enas-macro: each arc trains from scratch like
 * enas' final training (jobs/enas_final.c: SGD Nesterov lr 0.05 cosine
 * to 0, momentum 0.9, weight decay 2e-4 / 1e-4, grad clip 5 / none), on
 * the train split, scored on the validation split. */
#define RANDOM_ENAS_COMMON_                                                                        \
    RANDOM_CHILD_("64", "arc"), NX_(dropout, 0, 1, "0.1", "before the classifier")

static const nas_spec_field random_enas_micro_hp[] = {
    RANDOM_ENAS_COMMON_,
    I_(C, 1, 1024, "20", "channels of the first cells (the stem has 3C)"),
    I_(layers, 1, 64, "6", "normal cells per stack (layers + 2 cells)"),
    I_(nodes, 2, 16, "5", "nodes per cell (B)"),
    NASRL_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

static const nas_spec_field random_enas_macro_hp[] = {
    RANDOM_ENAS_COMMON_,
    I_(C, 2, 1024, "36",
       "channels of every layer (even: a factorized reduction "
       "halves them)"),
    I_(layers, 1, 31, "12", "layers (each an op and skips)"),
    NASRL_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

/* random over darts-rnn: each cell (per node an earlier node and one of
 * tanh, relu, sigmoid, identity) trains from scratch in the train kind's
 * darts-rnn language model like darts-rnn's final training (SGD lr 20
 * cosine to 0, weight decay 8e-7, grad clip 0.25), scored on the valid
 * split; reward reward_c / perplexity^2 as nasrl-rnn's. */
static const nas_spec_field random_darts_rnn_hp[] = {
    RANDOM_CHILD_("64", "cell"),
    I_(embed, 1, 4096, "300", NULL),
    I_(hidden, 1, 4096, "300", NULL),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    NX_(dropout, 0, 1, "0.75", "on the cell outputs"),
    AS_NX_("dropout_i", dropout_input, 0, 1, "0.2", "on the embeddings"),
    NP_(reward_c, 1e6, "80", "reward = reward_c / validation perplexity^2"),
    THREADS_,
    END_,
};

/* random over nasrl-cnn: the children and the space of nas-rl's. */
static const nas_spec_field random_nasrl_cnn_hp[] = {
    RANDOM_CHILD_("64", "architecture"),
    NP_(lr, 100, "0.1", "child SGD learning rate"),
    NASRL_CNN_SPACE_,
    THREADS_,
    END_,
};

static const nas_spec_field final_fields[] = {
    ROW0_("enabled", NAS_SPEC_BOOL, 0, 0, 0, "false",
          "train the found architecture from scratch on the whole "
          "training set after the search and report its test accuracy "
          "(test perplexity for text). darts-cnn: SGD lr 0.025 cosine to "
          "0, momentum 0.9, weight decay 3e-4, grad clip 5, the search's "
          "batch_size and augment, cutout, drop_path and auxiliary_weight below. darts-rnn: the "
          "derived cell in the search's language model (embed, hidden, "
          "bptt, dropouts), SGD lr 20 cosine to 0, weight decay 8e-7, "
          "grad clip 0.25; C and layers do not apply. enas-micro, "
          "enas-macro: the best sampled arc in the space's network (C "
          "channels; micro: layers normal cells per stack, macro: the "
          "search's layers, which its arc fixes), dropout (and micro's drop_path) below, the "
          "search's augment (micro: and auxiliary_weight), "
          "SGD Nesterov lr 0.05 cosine to 0, momentum 0.9, weight decay "
          "4e-4 (the scripts' l2 2e-4 as a gradient), grad clip 5 (macro none), the search's "
          "batch_size; enas-rnn: the best sampled cell in the search's "
          "language model (nodes, hidden, bptt, dropouts), SGD on the "
          "mean token loss with lr x bptt cosine to 0 and clip / bptt "
          "(the search sums the loss over the BPTT steps); C and layers "
          "do not apply. Its metrics are "
          "named final.<metric>, epochs and steps counted on from the "
          "search's"),
    AS_I_("epochs", final_epochs, 1, 100000, "10", NULL),
    AS_I_("C", final_C, 2, 1024, "16",
          "initial channels of the trained network (even for enas-macro: "
          "a factorized reduction halves them)"),
    AS_I_("layers", final_layers, 1, 64, "8", "cells of the trained network"),
    ROW_("max_seconds", final_max_seconds, NAS_SPEC_NUM, 0, INFINITY, NAS_SPEC_DOUBLE, NULL, "0",
         "wall-clock limit of the final training; 0: none. budget.max_seconds bounds "
         "the search alone: a search it cuts short is still followed by this training, "
         "and a training this cuts short still reports its test metric, with "
         "final_training.stopped_by \"max_seconds\" in the result"),
    /* darts-cnn (FT_DARTS_CNN); drop_path enas-micro too, dropout the
     * enas CNN spaces: a null default is the space's (final_defaults) */
    B_(cutout, "true", DARTS_CUTOUT_DOC_),
    ROW_("drop_path", drop_path, NAS_SPEC_NUM, 0, 1, NAS_SPEC_NULLABLE | NAS_SPEC_EXCL_MAX, NULL,
         "null",
         "drop path probability of every op output but identities; 0: off; null: the "
         "space's reference value. darts-cnn: scaled by (epoch - 1) / epochs as train.py's "
         "drop_path_prob, default 0.2. enas-micro: cell i of the layers + 2 (0-based, the "
         "reductions counted) drops with drop_path (i + 1) / (layers + 2) times "
         "min(1, (step + 1) / steps), as micro_child.py; default 0.4 "
         "(cifar10_micro_final.sh --child_drop_path_keep_prob=0.60)"),
    AS_N_("auxiliary_weight", aux_weight, 0, 100, "0.4", DARTS_AUX_DOC_),
    ROW_("dropout", final_dropout, NAS_SPEC_NUM, 0, 1, NAS_SPEC_NULLABLE | NAS_SPEC_EXCL_MAX, NULL,
         "null",
         "enas-micro, enas-macro: dropout before the classifier (the search's dropout does not "
         "carry over); null: the space's reference value, enas-micro 0.2, enas-macro 0.5 "
         "(cifar10_micro_final.sh --child_keep_prob=0.80, cifar10_macro_final.sh 0.50)"),
    END_,
};

/* The final_training rows whose default is null take their space's value
 * here when the API normalizes a spec (nas_spec_final_default). */
static const struct {
    const char *space, *field, *def;
} final_defaults[] = {
    {"darts-cnn", "drop_path", "0.2"},
    {"enas-micro", "drop_path", "0.4"},
    {"enas-micro", "dropout", "0.2"},
    {"enas-macro", "dropout", "0.5"},
};

/* Engine values that are no key of the API. */
static const nas_spec_field enas_cnn_fixed[] = {
    B_(nesterov, "true", "the reference's momentum is Nesterov's"),
    AS_I_("lstm_layers", ctrl_layers, 1, 1, "1", "the reference's controller has one layer"),
    END_,
};

static const nas_spec_field enas_rnn_fixed[] = {
    AS_I_("lstm_layers", ctrl_layers, 1, 1, "1", "the reference's controller has one layer"),
    END_,
};

static const nas_spec_field budget_fields[] = {
    I_(epochs, 1, 100000, NULL, "training epochs (search or train)"),
    ROW_("max_seconds", max_seconds, NAS_SPEC_NUM, 0, INFINITY, NAS_SPEC_DOUBLE, NULL, "0",
         "wall-clock limit of the search (or of a train job); 0: none. A search it cuts "
         "short ends with its result so far and, when final_training is enabled, still "
         "runs the final training (final_training.max_seconds bounds that)"),
    I_(max_architectures, 1, 1000000, NULL, "architectures to sample and train"),
    END_,
};

/* Where a job's arithmetic runs (issue #18): the API and the daemon read
 * them; the engine runs one rank's share (nas_job_run_dist). */
static const nas_spec_field resources_fields[] = {
    ROW0_("ranks", NAS_SPEC_INT, 1, 65536, 0, "1",
          "Open MPI ranks the job runs on; 1: in nasd's own process. More than 1, without "
          "final training, for now: darts over darts-cnn data parallel (batch_size stays the "
          "global batch), nas-rl and random with each child trained whole on one rank"),
    END_,
};

/* Bits of final_fields: which of final_fields[] the engine reads. */
#define FT_ALL 0x1fu         /* enabled, epochs, C, layers, max_seconds */
#define FT_DARTS_CNN 0xffu   /* and cutout, drop_path, auxiliary_weight */
#define FT_ENAS_MICRO 0x15fu /* FT_ALL, drop_path and dropout */
#define FT_NO_LAYERS 0x117u  /* enas-macro: its arc fixes the layers; dropout */
#define FT_EPOCHS 0x13u      /* the text spaces keep the search's model */
#define FT_CHILD                                                                                   \
    0x13u /* nas-rl, random: the best child trained by its                                         \
             space's own child training for epochs or                                              \
             max_seconds */

#define SPACE_(a, sp, kind, ep, ma, hp_, arch_, ak, fixed_, ft, engdef, doc_)                      \
    {                                                                                              \
        .algorithm = a, .space = sp, .data_kind = kind, .epochs = ep, .max_arch = ma, .hp = hp_,   \
        .arch = arch_, .arch_kind = ak, .fixed = fixed_, .final_fields = ft,                       \
        .engine_defaults = engdef, .doc = doc_                                                     \
    }

/* The first row of an algorithm holds its default space; for train, the
 * first row of a data kind is that kind's default architecture. */
static const nas_spec_space spaces[] = {
    SPACE_("darts", "darts-cnn", "image", "50", NULL, darts_cnn_hp, NULL, 0, NULL, FT_DARTS_CNN, 0,
           "DARTS over the CNN cell space (Liu et al. 2019)"),
    SPACE_("darts", "darts-rnn", "text", "50", NULL, darts_rnn_hp, NULL, 0, NULL, FT_EPOCHS, 0,
           "DARTS over the recurrent cell space (Liu et al. 2019)"),
    SPACE_("enas", "enas-micro", "image", "150", NULL, enas_micro_hp, NULL, 0, enas_cnn_fixed,
           FT_ENAS_MICRO, 0, "ENAS over cells (Pham et al. 2018, micro search space)"),
    SPACE_("enas", "enas-macro", "image", "310", NULL, enas_macro_hp, NULL, 0, enas_cnn_fixed,
           FT_NO_LAYERS, 0, "ENAS over whole networks (Pham et al. 2018, macro search space)"),
    SPACE_("enas", "enas-rnn", "text", "100", NULL, enas_rnn_hp, NULL, 0, enas_rnn_fixed, FT_EPOCHS,
           0, "ENAS over recurrent cells (Pham et al. 2018, Penn Treebank)"),
    SPACE_("nas-rl", "nasrl-cnn", "image", NULL, "100", nasrl_cnn_hp, NULL, 0, NULL, FT_CHILD, 1,
           "REINFORCE over CNN layer stacks (Zoph & Le 2017)"),
    SPACE_("nas-rl", "nasrl-rnn", "text", NULL, "100", nasrl_rnn_hp, NULL, 0, NULL, FT_CHILD, 1,
           "REINFORCE over recurrent cells as combination trees (Zoph & Le 2017)"),
    SPACE_("random", "darts-cnn", "image", NULL, "20", random_darts_cnn_hp, NULL, 0, NULL, FT_CHILD,
           1, "random genotypes of the darts-cnn space, each trained from scratch"),
    SPACE_("random", "darts-rnn", "text", NULL, "20", random_darts_rnn_hp, NULL, 0, NULL, FT_CHILD,
           1, "random cells of the darts-rnn space, each trained from scratch"),
    SPACE_("random", "enas-micro", "image", NULL, "20", random_enas_micro_hp, NULL, 0, NULL,
           FT_CHILD, 1, "random arcs of the enas-micro space, each trained from scratch"),
    SPACE_("random", "enas-macro", "image", NULL, "20", random_enas_macro_hp, NULL, 0, NULL,
           FT_CHILD, 1, "random arcs of the enas-macro space, each trained from scratch"),
    SPACE_("random", "enas-rnn", "text", NULL, "20", random_enas_rnn_hp, NULL, 0, NULL, FT_CHILD, 1,
           "random arcs of the enas-rnn space, each trained from scratch"),
    SPACE_("random", "nasrl-cnn", "image", NULL, "20", random_nasrl_cnn_hp, NULL, 0, NULL, FT_CHILD,
           1, "random layer stacks of the nasrl-cnn space, each trained from scratch"),
    SPACE_("random", "nasrl-rnn", "text", NULL, "20", random_nasrl_rnn_hp, NULL, 0, NULL, FT_CHILD,
           1, "random cells of the nasrl-rnn space, each trained from scratch"),
    SPACE_("train", "fixed-cnn", "image", "3", NULL, nas__spec_train_image_hp,
           nas__spec_arch_fixed_cnn, NAS_ARCH_FIXED_CNN, NULL, 0, 0,
           "train a fixed CNN (conv-BN-ReLU blocks)"),
    SPACE_("train", "lstm-lm", "text", "4", NULL, nas__spec_train_text_hp, nas__spec_arch_lstm_lm,
           NAS_ARCH_LSTM_LM, NULL, 0, 0, "train an LSTM language model"),
    SPACE_("train", "darts-cnn", "image", "3", NULL, nas__spec_train_darts_hp,
           nas__spec_arch_darts_cnn, NAS_ARCH_DARTS_CNN, NULL, 0, 0,
           "train the network of a darts-cnn genotype (quark0/darts train.py)"),
    SPACE_("train", "darts-rnn", "text", "4", NULL, nas__spec_train_darts_rnn_hp,
           nas__spec_arch_darts_rnn, NAS_ARCH_DARTS_RNN, nas__spec_train_rnn_cell_fixed, 0, 0,
           "train the language model of a darts-rnn cell (quark0/darts rnn/train.py)"),
    SPACE_("train", "enas-micro", "image", "3", NULL, nas__spec_train_enas_micro_hp,
           nas__spec_arch_enas_micro, NAS_ARCH_ENAS_CNN, NULL, 0, 0,
           "train the network of an enas-micro arc"),
    SPACE_("train", "enas-macro", "image", "3", NULL, nas__spec_train_enas_macro_hp,
           nas__spec_arch_enas_macro, NAS_ARCH_ENAS_CNN, NULL, 0, 0,
           "train the network of an enas-macro arc"),
    SPACE_("train", "enas-rnn", "text", "4", NULL, nas__spec_train_enas_rnn_hp,
           nas__spec_arch_enas_rnn, NAS_ARCH_ENAS_RNN, nas__spec_train_rnn_cell_fixed, 0, 0,
           "train the language model of an enas-rnn arc"),
    SPACE_("train", "nasrl-cnn", "image", "3", NULL, nas__spec_train_nasrl_cnn_hp,
           nas__spec_arch_nasrl_cnn, NAS_ARCH_NASRL_CNN, NULL, 0, 0,
           "train a nasrl-cnn layer stack as nas-rl trains its children"),
    SPACE_("train", "nasrl-rnn", "text", "4", NULL, nas__spec_train_nasrl_rnn_hp,
           nas__spec_arch_nasrl_rnn, NAS_ARCH_NASRL_RNN, NULL, 0, 0,
           "train the language model of a nasrl-rnn cell as nas-rl trains its children"),
};

#define NSPACES ((int)(sizeof spaces / sizeof spaces[0]))

const nas_spec_space *nas_spec_spaces(int *n)
{
    *n = NSPACES;
    return spaces;
}

const nas_spec_space *nas_spec_space_find(const char *algorithm, const char *space)
{
    for (int i = 0; algorithm && i < NSPACES; i++)
        if (strcmp(spaces[i].algorithm, algorithm) == 0 &&
            (!space || strcmp(spaces[i].space, space) == 0))
            return &spaces[i];
    return NULL;
}

const nas_spec_field *nas_spec_budget_fields(void)
{
    return budget_fields;
}

const nas_spec_field *nas_spec_resources_fields(void)
{
    return resources_fields;
}

const nas_spec_field *nas_spec_final_fields(void)
{
    return final_fields;
}

const char *nas_spec_final_default(const char *space, const char *field)
{
    for (size_t i = 0; i < sizeof final_defaults / sizeof *final_defaults; i++)
        if (space && strcmp(final_defaults[i].space, space) == 0 &&
            strcmp(final_defaults[i].field, field) == 0)
            return final_defaults[i].def;
    return NULL;
}

const nas_spec_field *nas_spec_field_find(const nas_spec_field *fs, const char *name)
{
    for (; fs && fs->name; fs++)
        if (strcmp(fs->name, name) == 0)
            return fs;
    return NULL;
}

const nas_spec_space *nas__spec_row_of(const nas_job_spec *s, const char *data_kind)
{
    const char *algorithm = s->algorithm ? s->algorithm : "train";
    if (strcmp(algorithm, "train") != 0)
        return nas_spec_space_find(algorithm, s->search_space);
    for (int i = 0; i < NSPACES; i++) /* train: by architecture and data */
        if (strcmp(spaces[i].algorithm, "train") == 0 &&
            strcmp(spaces[i].data_kind, data_kind) == 0 &&
            (s->arch == NAS_ARCH_DEFAULT || s->arch == spaces[i].arch_kind) &&
            (s->arch != NAS_ARCH_ENAS_CNN || !s->search_space ||
             strcmp(s->search_space, spaces[i].space) == 0))
            return &spaces[i];
    return NULL;
}
