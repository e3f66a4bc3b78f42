/*
 * spec_tables.c - the rules of the job spec as data: one field table per
 * (algorithm, search space) for its hyperparameters - for `train`, per
 * architecture space, with a table for the architecture too - the rows
 * that tie them to a data kind and budget defaults, the algorithms and
 * datasets, and the queries over them.
 *
 * The one design decision to know: every rule is data. A space_row per
 * (algorithm, search space) holds the data kind it needs, the budget
 * defaults and a field table for its hyperparameters; the generic walker
 * in spec.c validates any object against a field table and writes the
 * defaults, and spec_schema.c prints the same tables as JSON Schema.
 * Adding an algorithm or a hyperparameter is adding rows, never another
 * if-chain. A value no scalar or list rule fits (a DARTS genotype) is a
 * T_CUSTOM field whose type lives in spec_genotype.c, still one row here.
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
#include "spec_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const field train_image_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    NP_("lr", 100, "0.02", "peak learning rate; cosine decay to lr_min over the job"),
    N_("lr_min", 0, 100, "0", "final learning rate of the cosine schedule (<= lr)"),
    NX_("momentum", 0, 1, "0.9", NULL),
    NX_("weight_decay", 0, 1, "0.0005", NULL),
    N_("grad_clip", 0, 1e6, "0", "global L2 norm clip; 0: off"),
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0", 0, 0, "before the last layer", NULL, NULL},
    B_("nesterov", "true", NULL),
    B_("augment", "false", "random crop, plus flip except on fashion-mnist and synthetic; "
                           "default true on cifar10, false otherwise"),
    THREADS_, END_,
};

static const field train_text_hp[] = {
    I_("batch_size", 1, 4096, "20", NULL),
    NP_("lr", 100, "20", "peak learning rate; cosine decay to lr_min over the job"),
    N_("lr_min", 0, 100, "0", "final learning rate of the cosine schedule (<= lr)"),
    NX_("momentum", 0, 1, "0", NULL),
    NX_("weight_decay", 0, 1, "0", NULL),
    N_("grad_clip", 0, 1e6, "0.25", "global L2 norm clip; 0: off"),
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.2", 0, 0,
     "on embeddings and LSTM outputs", NULL, NULL},
    B_("nesterov", "false", NULL),
    {"augment", T_BOOL, 0, 0, 0, "[false]", "false", 0, 0, "images only", NULL, NULL},
    THREADS_, END_,
};

static const field darts_cnn_hp[] = {
    I_("batch_size", 1, 4096, "64", "images per batch, for w and for alpha alike"),
    I_("C", 1, 1024, "16", "initial channels (the stem has 3C)"),
    I_("layers", 1, 64, "8", "cells; reduction cells at 1/3 and 2/3 of the depth"),
    CI_("order", "[1,2]", "1", "1: first-order, 2: second-order (unrolled) alpha gradient"),
    NP_("lr", 100, "0.025", "weight SGD learning rate, cosine to lr_min over the epochs "
                            "(set once per epoch)"),
    N_("lr_min", 0, 100, "0.001", "final weight learning rate (<= lr)"),
    NX_("momentum", 0, 1, "0.9", "weight SGD momentum"),
    NX_("weight_decay", 0, 1, "0.0003", "weight SGD L2 weight decay"),
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip of the weight gradient; 0: off"),
    NP_("arch_lr", 1, "0.0003", "Adam learning rate of alpha"),
    NL_("arch_betas", 0, 1, 2, "[0.5,0.999]", "Adam betas of alpha"),
    NX_("arch_weight_decay", 0, 1, "0.001", "Adam L2 weight decay of alpha"),
    {"train_portion", T_NUM, 0, 1, F_EXCL_MIN | F_EXCL_MAX, NULL, "0.5", 0, 0,
     "share of the training set (split by a shuffle drawn from the seed) that trains "
     "w; the rest trains alpha and gives the per-epoch val_loss and val_accuracy", NULL, NULL},
    IN_("max_examples", 2, 100000000, "null",
        "search on a random subset (drawn from the seed) of this many training "
        "examples, split by train_portion; null: the whole training set"),
    THREADS_, END_,
};

static const field darts_rnn_hp[] = {
    I_("batch_size", 1, 4096, "256", "columns of the BPTT batches, for w and for alpha alike"),
    CI_("order", "[1,2]", "1", "1: first-order, 2: second-order (unrolled) alpha gradient"),
    I_("embed", 1, 4096, "300", "embedding size; the decoder is tied to the embedding "
                                "when embed == hidden (the reference always ties)"),
    I_("hidden", 1, 4096, "300", "recurrent cell size"),
    I_("bptt", 1, 1000, "35", "BPTT length in tokens (fixed; the reference varies it)"),
    I_("max_vocab", 0, 1000000, "10000", "most frequent words kept; 0: all"),
    NP_("lr", 100, "20", "weight SGD learning rate"),
    NNULL_("lr_min", 0, 100, "null", "final weight learning rate, cosine from lr over the "
                                     "epochs (set once per epoch); null: lr, constant like "
                                     "the reference"),
    NX_("momentum", 0, 1, "0", "weight SGD momentum"),
    NX_("weight_decay", 0, 1, "5e-07", NULL),
    N_("grad_clip", 0, 1e6, "0.25", "global L2 norm clip of the weight gradient, also "
                                    "applied in the unrolled step as in the reference; 0: off"),
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0,
     "on the cell outputs before the decoder, in the weight step only (the reference's "
     "dropout; its dropout_h, dropout_x and dropout_e and the activation regularizers "
     "are not implemented)", NULL, NULL},
    {"dropout_i", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.2", 0, 0,
     "on the embeddings, in the weight step only", NULL, NULL},
    NP_("arch_lr", 1, "0.003", "Adam learning rate of alpha"),
    NL_("arch_betas", 0, 1, 2, "[0.9,0.999]", "Adam betas of alpha"),
    NX_("arch_weight_decay", 0, 1, "0.001", "Adam L2 weight decay of alpha"),
    THREADS_, END_,
};

/* Controller keys shared by ENAS and NAS-RL, per space below. */
#define CONTROLLER_(lstm, lr, ent, tanh_c, temp)                                    \
    I_("lstm_size", 1, 1024, lstm, "controller LSTM hidden size"),                 \
    NP_("controller_lr", 1, lr, "controller Adam learning rate"),                  \
    N_("entropy_weight", 0, 1, ent, "entropy bonus of the REINFORCE loss"),        \
    NNULL_("tanh_constant", 0, 100, tanh_c, "logits -> c * tanh(logits); null: off"), \
    NP_("temperature", 100, temp, "logits are divided by it first"),               \
    {"baseline_decay", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.99", 0, 0,                \
     "decay of the reward moving average (baseline)", NULL, NULL}

#define ENAS_CNN_(bs, cmin, c, l, wd, ctl_lr, tanh_c, steps, agg)                    \
    I_("batch_size", 1, 4096, bs, NULL),                                              \
    I_("C", cmin, 1024, c, "output channels of the first layer"),                     \
    I_("layers", 1, 64, l, NULL),                                                     \
    NP_("lr", 100, "0.05", "shared-weight SGD lr, cosine with restarts to lr_min"),   \
    N_("lr_min", 0, 100, "0.0005", NULL),                                             \
    I_("lr_t0", 1, 10000, "10", "epochs of the first cosine period"),                 \
    I_("lr_t_mul", 1, 100, "2", "growth of each following period"),                   \
    NX_("momentum", 0, 1, "0.9", NULL),                                                \
    NX_("weight_decay", 0, 1, wd, NULL),                                               \
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip; 0: off"),                      \
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.1", 0, 0, "before the classifier", NULL, NULL}, \
    CONTROLLER_("64", ctl_lr, "0.0001", tanh_c, "1"),                                 \
    N_("op_tanh_reduce", 1, 100, "2.5", "op logits use tanh_constant / this"),        \
    I_("controller_steps", 1, 100000, steps, "controller updates per epoch"),         \
    I_("controller_aggregate", 1, 1000, agg, "sampled children per update"),          \
    I_("final_samples", 1, 100000, "100", "architectures sampled to pick the result"), \
    IN_("max_examples", 2, 100000000, "null",                                         \
        "search on a random subset (drawn from the seed) of this many training "      \
        "examples, split in halves (weights, controller rewards); null: the whole "   \
        "training set")

static const field enas_micro_hp[] = {
    ENAS_CNN_("160", 1, "20", "6", "0.0001", "0.0035", "1.1", "30", "10"),
    I_("nodes", 2, 16, "5", "nodes per cell (B)"),
    {"drop_path", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.4", 0, 0,
     "drop-path probability of the reference's fixed-architecture training; "
     "like the reference's search, the search does not apply it (and final "
     "training is not implemented for enas yet)", NULL, NULL},
    THREADS_, END_,
};

static const field enas_macro_hp[] = {
    ENAS_CNN_("128", 2, "36", "12", "0.00025", "0.001", "1.5", "50", "20"),
    N_("skip_target", 0, 1, "0.4", "target skip probability"),
    N_("skip_weight", 0, 100, "0.8", "weight of the KL skip penalty"),
    THREADS_, END_,
};

static const field enas_rnn_hp[] = {
    I_("batch_size", 1, 4096, "20", NULL),
    I_("nodes", 2, 64, "12", "nodes of the recurrent cell"),
    I_("hidden", 1, 4096, "720", "embedding and cell size; the decoder is the embedding "
                                 "transposed, without bias, as in the reference"),
    I_("bptt", 1, 1000, "35", NULL),
    NP_("lr", 100, "0.25", "shared-weight SGD learning rate (no momentum); the loss is "
                           "summed over the BPTT steps and averaged over the batch, as in "
                           "the reference"),
    I_("lr_decay_start", 0, 100000, "12", "epoch from which lr decays"),
    {"lr_decay_rate", T_NUM, 0, 1, F_EXCL_MIN, NULL, "0.95", 0, 0, "per epoch", NULL, NULL},
    N_("lr_min", 0, 100, "0.0005", NULL),
    NX_("weight_decay", 0, 1, "1e-07", NULL),
    N_("grad_clip", 0, 1e6, "10", NULL),
    {"dropout_e", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0,
     "drops whole embedding vectors (a word at a step); the reference's extra zeroing of "
     "a word repeated in a row is not implemented", NULL, NULL},
    {"dropout_x", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0,
     "cell input, one mask per BPTT chunk", NULL, NULL},
    {"dropout_h", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0,
     "the state entering each node, one mask per BPTT chunk", NULL, NULL},
    {"dropout_o", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0,
     "cell outputs before the decoder, one mask per BPTT chunk (the TF reference draws "
     "this mask but never applies it)", NULL, NULL},
    CONTROLLER_("100", "0.001", "0.001", "2.5", "5"),
    I_("controller_steps", 1, 100000, "100", "controller updates per epoch"),
    I_("controller_aggregate", 1, 1000, "10", "sampled children per update"),
    NP_("reward_c", 1e6, "80", "reward = reward_c / validation perplexity"),
    I_("final_samples", 1, 100000, "100", "architectures sampled to pick the result"),
    THREADS_, END_,
};

#define NASRL_COMMON_(bs, lr, ctl_lr)                                                  \
    I_("batch_size", 1, 4096, bs, NULL),                                               \
    I_("child_epochs", 1, 10000, "5", "epochs each child trains (paper: 50 CNN, 35 RNN)"), \
    I_("children_per_update", 1, 256, "4", "children trained concurrently per update"), \
    NP_("lr", 100, lr, "child SGD learning rate"),                                     \
    I_("lstm_layers", 1, 4, "2", "controller LSTM layers"),                            \
    CONTROLLER_("35", ctl_lr, "0", "null", "1")

/* The children's data: the first max_examples training images, the last
 * tenth of them for the reward. */
#define NASRL_MAX_EXAMPLES_                                                            \
    IN_("max_examples", 2, 100000000, "null",                                          \
        "use the first this many training examples (the children train on 90% of "   \
        "them and are scored on the last 10%); null: the whole training set")

/* The nasrl-cnn child and its space, for nas-rl and random alike. */
#define NASRL_CNN_SPACE_                                                               \
    NX_("momentum", 0, 1, "0.9", NULL),                                                \
    B_("nesterov", "true", NULL),                                                     \
    NX_("weight_decay", 0, 1, "0.0001", NULL),                                        \
    I_("start_layers", 1, 64, "6", "child depth at the start"),                        \
    I_("max_layers", 1, 64, "15", "child depth limit (>= start_layers)"),             \
    I_("layers_step", 0, 64, "2", "layers added at each growth"),                      \
    I_("grow_every", 1, 1000000, "1600", "architectures between growths"),             \
    IL_("filter_heights", 1, 15, 1, 8, "[1,3,5,7]", NULL),                             \
    IL_("filter_widths", 1, 15, 1, 8, "[1,3,5,7]", NULL),                              \
    IL_("num_filters", 1, 1024, 1, 8, "[24,36,48,64]", NULL),                          \
    IL_("strides", 1, 3, 1, 3, "[1,2,3]", "choices when search_strides"),              \
    B_("search_strides", "false", "also choose a stride per layer"),                   \
    CS_("reward", "[\"accuracy\",\"cube-best-last5\"]", "\"accuracy\"",                 \
        "validation accuracy, or the cube of the best of the last 5 epochs (paper)"),  \
    NASRL_MAX_EXAMPLES_

static const field nasrl_cnn_hp[] = {
    NASRL_COMMON_("64", "0.1", "0.0006"),
    NASRL_CNN_SPACE_,
    THREADS_, END_,
};

/* The nasrl-rnn child (a language model on the cell), for nas-rl and
 * random alike. */
#define NASRL_RNN_SPACE_                                                               \
    CI_("tree_base", "[2,4,8]", "8", "leaves of the cell's combination tree"),         \
    I_("embed", 1, 4096, "200", NULL),                                                 \
    I_("hidden", 1, 4096, "200", NULL),                                                \
    I_("bptt", 1, 1000, "35", NULL),                                                   \
    N_("grad_clip", 0, 1e6, "0.25", NULL),                                             \
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.2", 0, 0,                            \
     "on the embeddings and the cell outputs", NULL, NULL},                            \
    NP_("reward_c", 1e6, "80", "reward = reward_c / validation perplexity^2")

static const field nasrl_rnn_hp[] = {
    NASRL_COMMON_("20", "20", "0.0005"),
    NASRL_RNN_SPACE_,
    THREADS_, END_,
};

/* random over nasrl-rnn: the children of nas-rl's. */
static const field random_nasrl_rnn_hp[] = {
    I_("batch_size", 1, 4096, "20", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled cell trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
    NP_("lr", 100, "20", "child SGD learning rate"),
    NASRL_RNN_SPACE_,
    THREADS_, END_,
};

/* random over enas-rnn: each arc (node 0 an activation, node i an earlier
 * node and an activation) trains from scratch as one fixed cell of the
 * enas-rnn language model as the enas-rnn search trains its children (SGD
 * on the loss summed over the BPTT steps, cosine to 0), scored on the
 * valid split; reward reward_c / perplexity as enas-rnn's. */
static const field random_enas_rnn_hp[] = {
    I_("batch_size", 1, 4096, "20", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled cell trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
    NP_("lr", 100, "0.25", "child SGD learning rate; the loss is summed over the BPTT "
                           "steps and averaged over the batch, as in enas-rnn's search"),
    I_("nodes", 2, 64, "12", "nodes of the recurrent cell"),
    I_("hidden", 1, 4096, "720", "embedding and cell size (tied decoder)"),
    I_("bptt", 1, 1000, "35", NULL),
    I_("max_vocab", 0, 1000000, "10000", "most frequent words kept; 0: all"),
    NX_("weight_decay", 0, 1, "1e-07", NULL),
    N_("grad_clip", 0, 1e6, "10", NULL),
    {"dropout_e", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0, "embedding vectors", NULL,
     NULL},
    {"dropout_x", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0, "cell input", NULL, NULL},
    {"dropout_h", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0, "state entering each node",
     NULL, NULL},
    {"dropout_o", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0, "cell outputs", NULL, NULL},
    NP_("reward_c", 1e6, "80", "reward = reward_c / validation perplexity"),
    THREADS_, END_,
};

/* random over darts-cnn: each genotype trains like darts' final training
 * (SGD lr 0.025 cosine to 0, momentum 0.9, weight decay 3e-4, grad clip
 * 5), on the train split, scored on the validation split. */
static const field random_darts_cnn_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled genotype trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
    I_("C", 1, 1024, "16", "initial channels of each sampled network (the stem has 3C)"),
    I_("layers", 3, 64, "8", "cells of each sampled network; reductions at 1/3 and 2/3"),
    NASRL_MAX_EXAMPLES_,
    THREADS_, END_,
};

/* random over enas-micro / enas-macro: each arc trains from scratch like
 * enas' final training (search/enas_final.c: SGD Nesterov lr 0.05 cosine
 * to 0, momentum 0.9, weight decay 2e-4 / 1e-4, grad clip 5 / none), on
 * the train split, scored on the validation split. */
#define RANDOM_ENAS_COMMON_                                                            \
    I_("batch_size", 1, 4096, "64", NULL),                                             \
    I_("child_epochs", 1, 10000, "5", "epochs each sampled arc trains"),               \
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),        \
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.1", 0, 0,                            \
     "before the classifier", NULL, NULL}

static const field random_enas_micro_hp[] = {
    RANDOM_ENAS_COMMON_,
    I_("C", 1, 1024, "20", "channels of the first cells (the stem has 3C)"),
    I_("layers", 1, 64, "6", "normal cells per stack (layers + 2 cells)"),
    I_("nodes", 2, 16, "5", "nodes per cell (B)"),
    NASRL_MAX_EXAMPLES_,
    THREADS_, END_,
};

static const field random_enas_macro_hp[] = {
    RANDOM_ENAS_COMMON_,
    I_("C", 2, 1024, "36", "channels of every layer (even: a factorized reduction "
                           "halves them)"),
    I_("layers", 1, 31, "12", "layers (each an op and skips)"),
    NASRL_MAX_EXAMPLES_,
    THREADS_, END_,
};

/* random over darts-rnn: each cell (per node an earlier node and one of
 * tanh, relu, sigmoid, identity) trains from scratch in the train kind's
 * darts-rnn language model like darts-rnn's final training (SGD lr 20
 * cosine to 0, weight decay 8e-7, grad clip 0.25), scored on the valid
 * split; reward reward_c / perplexity^2 as nasrl-rnn's. */
static const field random_darts_rnn_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled cell trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
    I_("embed", 1, 4096, "300", NULL),
    I_("hidden", 1, 4096, "300", NULL),
    I_("bptt", 1, 1000, "35", NULL),
    I_("max_vocab", 0, 1000000, "10000", "most frequent words kept; 0: all"),
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0, "on the cell outputs", NULL,
     NULL},
    {"dropout_i", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.2", 0, 0, "on the embeddings", NULL,
     NULL},
    NP_("reward_c", 1e6, "80", "reward = reward_c / validation perplexity^2"),
    THREADS_, END_,
};

/* random over nasrl-cnn: the children and the space of nas-rl's. */
static const field random_nasrl_cnn_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled architecture trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
    NP_("lr", 100, "0.1", "child SGD learning rate"),
    NASRL_CNN_SPACE_,
    THREADS_, END_,
};

static const field arch_fixed_cnn[] = {
    CS_("space", "[\"fixed-cnn\"]", "\"fixed-cnn\"", NULL),
    IL_("channels", 1, 1024, 1, NAS_MAX_BLOCKS, "[32,64]",
        "conv3x3-BN-ReLU blocks (each followed by maxpool 3x3/2)"),
    I_("hidden", 1, 4096, "128", "classifier hidden units"),
    END_,
};

static const field arch_lstm_lm[] = {
    CS_("space", "[\"lstm-lm\"]", "\"lstm-lm\"", NULL),
    I_("embed", 1, 4096, "128", NULL),
    I_("hidden", 1, 4096, "128", NULL),
    I_("layers", 1, 4, "1", NULL),
    I_("bptt", 1, 1000, "35", NULL),
    I_("max_vocab", 0, 1000000, "10000", "most frequent words kept; 0: all"),
    END_,
};

/* train on a darts-cnn genotype: the optimizer of the reference's
 * train.py, as the darts search's final training uses it (the reference's
 * batch size is 96; 64 here like the search's). */
static const field train_darts_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    NP_("lr", 100, "0.025", "peak learning rate; cosine decay to lr_min over the job"),
    N_("lr_min", 0, 100, "0", "final learning rate of the cosine schedule (<= lr)"),
    NX_("momentum", 0, 1, "0.9", NULL),
    NX_("weight_decay", 0, 1, "0.0003", NULL),
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip; 0: off"),
    {"dropout", T_NUM, 0, 1, 0, NULL, "null", 0, 0, NULL,
     "does not apply to a darts-cnn network (no dropout layer; the reference's drop "
     "path is not implemented)", NULL},
    B_("nesterov", "false", NULL),
    B_("augment", "false", "random crop, plus flip except on fashion-mnist and synthetic; "
                           "default true on cifar10, false otherwise"),
    THREADS_, END_,
};

/* DARTS_V2 of the paper (Liu et al. 2019; quark0/darts genotypes.py). */
#define DARTS_V2_                                                                           \
    "{\"normal\":[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",0],"            \
    "[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",1],[\"skip_connect\",0],[\"skip_connect\",0],"    \
    "[\"dil_conv_3x3\",2]],\"normal_concat\":[2,3,4,5],"                                      \
    "\"reduce\":[[\"max_pool_3x3\",0],[\"max_pool_3x3\",1],[\"skip_connect\",2],"             \
    "[\"max_pool_3x3\",1],[\"max_pool_3x3\",0],[\"skip_connect\",2],[\"skip_connect\",2],"    \
    "[\"max_pool_3x3\",1]],\"reduce_concat\":[2,3,4,5]}"

static const field arch_darts_cnn[] = {
    CS_("space", "[\"darts-cnn\"]", "\"darts-cnn\"", NULL),
    {"genotype", T_CUSTOM, 0, 0, 0, NULL, DARTS_V2_, 0, 0,
     "the cells, as the result architecture of a darts-cnn search gives them; "
     "default: DARTS_V2 of the paper", NULL, &api__spec_darts_genotype},
    I_("C", 1, 1024, "16", "initial channels (the stem has 3C)"),
    {"layers", T_INT, 3, 64, F_EXPLAIN, NULL, "8", 0, 0,
     "cells; cells layers/3 and 2 layers/3 are the reduction cells: 3 or more give a "
     "normal cell and two distinct reductions", NULL, NULL},
    END_,
};

const field api__spec_final_training_fields[] = {
    B_("enabled", "false", "train the found architecture from scratch on the whole "
                           "training set after the search and report its test accuracy "
                           "(test perplexity for text). darts-cnn: SGD lr 0.025 cosine to "
                           "0, momentum 0.9, weight decay 3e-4, grad clip 5, the search's "
                           "batch_size; no drop path, no auxiliary head. darts-rnn: the "
                           "derived cell in the search's language model (embed, hidden, "
                           "bptt, dropouts), SGD lr 20 cosine to 0, weight decay 8e-7, "
                           "grad clip 0.25; C and layers do not apply. enas-micro, "
                           "enas-macro: the best sampled arc in the space's network (C "
                           "channels; micro: layers normal cells per stack, macro: the "
                           "search's layers, which its arc fixes), the search's dropout, "
                           "SGD Nesterov lr 0.05 cosine to 0, momentum 0.9, weight decay "
                           "2e-4 (macro 1e-4), grad clip 5 (macro none), the search's "
                           "batch_size; enas-rnn: the best sampled cell in the search's "
                           "language model (nodes, hidden, bptt, dropouts), SGD on the "
                           "mean token loss with lr x bptt cosine to 0 and clip / bptt "
                           "(the search sums the loss over the BPTT steps); C and layers "
                           "do not apply. Its metrics are "
                           "named final.<metric>, epochs and steps counted on from the "
                           "search's"),
    I_("epochs", 1, 100000, "10", NULL),
    I_("C", 2, 1024, "16", "initial channels of the trained network (even for enas-macro: "
                           "a factorized reduction halves them)"),
    I_("layers", 1, 64, "8", "cells of the trained network"),
    END_,
};

/* The first row of an algorithm holds its default space; for train, the
 * first row of a data kind is that kind's default architecture. */
const space_row api__spec_space_rows[] = {
    {"darts", "darts-cnn", "image", "50", NULL, darts_cnn_hp, NULL, 1, NULL},
    {"darts", "darts-rnn", "text", "50", NULL, darts_rnn_hp, NULL, 1, NULL},
    {"enas", "enas-micro", "image", "150", NULL, enas_micro_hp, NULL, 1, NULL},
    {"enas", "enas-macro", "image", "310", NULL, enas_macro_hp, NULL, 1, NULL},
    {"enas", "enas-rnn", "text", "100", NULL, enas_rnn_hp, NULL, 1, NULL},
    {"nas-rl", "nasrl-cnn", "image", NULL, "100", nasrl_cnn_hp, NULL, 1, NULL},
    {"nas-rl", "nasrl-rnn", "text", NULL, "100", nasrl_rnn_hp, NULL, 1, NULL},
    {"random", "darts-cnn", "image", NULL, "20", random_darts_cnn_hp, NULL, 1, NULL},
    {"random", "darts-rnn", "text", NULL, "20", random_darts_rnn_hp, NULL, 1, NULL},
    {"random", "enas-micro", "image", NULL, "20", random_enas_micro_hp, NULL, 1, NULL},
    {"random", "enas-macro", "image", NULL, "20", random_enas_macro_hp, NULL, 1, NULL},
    {"random", "enas-rnn", "text", NULL, "20", random_enas_rnn_hp, NULL, 1, NULL},
    {"random", "nasrl-cnn", "image", NULL, "20", random_nasrl_cnn_hp, NULL, 1, NULL},
    {"random", "nasrl-rnn", "text", NULL, "20", random_nasrl_rnn_hp, NULL, 1, NULL},
    {"train", "fixed-cnn", "image", "3", NULL, train_image_hp, arch_fixed_cnn, 1, NULL},
    {"train", "lstm-lm", "text", "4", NULL, train_text_hp, arch_lstm_lm, 1, NULL},
    {"train", "darts-cnn", "image", "3", NULL, train_darts_hp, arch_darts_cnn, 1,
     api__spec_darts_reductions_fit},
};

/* The first row is the default algorithm. It is implemented when one of
 * its space rows is. */
const struct algo_row api__spec_algo_rows[] = {
    {"darts", 4}, {"enas", 5}, {"nas-rl", 6}, {"random", 6}, {"train", 3},
};

/* The first dataset of a kind is that kind's default. Keep in step with
 * the engine's nas_datasets(). */
const struct dataset_row api__spec_dataset_rows[] = {
    {"fashion-mnist", "image", offsetof(api_spec_paths, fashion_mnist_dir)},
    {"cifar10", "image", offsetof(api_spec_paths, cifar10_dir)},
    {"synthetic", "image", -1},
    {"fortunes", "text", offsetof(api_spec_paths, fortunes_path)},
    {"ptb", "text", offsetof(api_spec_paths, ptb_dir)},
};

const struct dataset_default api__spec_dataset_defaults[] = {
    {"train", "cifar10", "augment", "true"},
};

#define COUNT_(a) (sizeof a / sizeof a[0])
static_assert(COUNT_(api__spec_space_rows) == API__SPEC_N_SPACE_ROWS, "a space row count");
static_assert(COUNT_(api__spec_algo_rows) == API__SPEC_N_ALGOS, "an algorithm count");
static_assert(COUNT_(api__spec_dataset_rows) == API__SPEC_N_DATASETS, "a dataset count");
static_assert(COUNT_(api__spec_dataset_defaults) == API__SPEC_N_DATASET_DEFAULTS,
              "a dataset default count");

/* ------------------------------------------------------------- queries */

const struct dataset_row *api__spec_dataset_by_name(const char *name)
{
    for (size_t i = 0; i < API__SPEC_N_DATASETS; i++)
        if (!strcmp(api__spec_dataset_rows[i].name, name))
            return &api__spec_dataset_rows[i];
    return NULL;
}

const char *api__spec_default_dataset(const char *kind)
{
    for (size_t i = 0; i < API__SPEC_N_DATASETS; i++)
        if (!strcmp(api__spec_dataset_rows[i].kind, kind))
            return api__spec_dataset_rows[i].name;
    return api__spec_dataset_rows[0].name;
}

json_t *api__spec_datasets_of_kind(const char *kind)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < API__SPEC_N_DATASETS; i++)
        if (!kind || !strcmp(api__spec_dataset_rows[i].kind, kind))
            json_array_append_new(a, json_string(api__spec_dataset_rows[i].name));
    return a;
}

const space_row *api__spec_find_row(const char *algorithm, const char *space)
{
    for (size_t i = 0; i < API__SPEC_N_SPACE_ROWS; i++)
        if (!strcmp(api__spec_space_rows[i].algorithm, algorithm) &&
            (!space || !strcmp(api__spec_space_rows[i].space, space)))
            return &api__spec_space_rows[i];
    return NULL;
}

const space_row *api__spec_find_row_of_kind(const char *algorithm, const char *kind)
{
    for (size_t i = 0; i < API__SPEC_N_SPACE_ROWS; i++)
        if (!strcmp(api__spec_space_rows[i].algorithm, algorithm) &&
            !strcmp(api__spec_space_rows[i].kind, kind))
            return &api__spec_space_rows[i];
    return NULL;
}

/* The names of the spaces of an algorithm (or of every search algorithm
 * when algorithm is NULL, deduplicated); returns their count. */
size_t api__spec_space_names(const char *algorithm, const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < API__SPEC_N_SPACE_ROWS; i++) {
        const space_row *r = &api__spec_space_rows[i];
        size_t j;
        if (algorithm ? strcmp(r->algorithm, algorithm) : !strcmp(r->algorithm, "train"))
            continue;
        for (j = 0; j < n && strcmp(names[j], r->space); j++)
            ;
        if (j == n && n < cap) names[n++] = r->space;
    }
    return n;
}

void api__spec_budget_fields(const space_row *row, field out[4], char *why, size_t whylen)
{
    static const field tmpl[] = {
        I_("epochs", 1, 100000, NULL, "training epochs (search or train)"),
        N_("max_seconds", 0, NO_MAX, "0", "wall-clock limit; 0: none"),
        I_("max_architectures", 1, 1000000, NULL, "architectures to sample and train"),
        END_,
    };
    memcpy(out, tmpl, sizeof tmpl);
    snprintf(why, whylen, "does not apply to algorithm \"%s\"%s", row->algorithm,
             row->max_arch ? "; children train hyperparameters.child_epochs" : "");
    out[0].def = row->epochs;
    out[0].na = row->epochs ? NULL : why;
    out[2].def = row->max_arch;
    out[2].na = row->max_arch ? NULL : why;
}
