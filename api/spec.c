/*
 * spec.c - the job spec of POST /v1/jobs: validation, defaults, the
 * engine's view of it, the request hash and the JSON Schema.
 *
 * The one design decision to know: every rule is data. A space_row per
 * (algorithm, search space) - for `train`, per architecture space - holds
 * the data kind it needs, the budget defaults and a field table for its
 * hyperparameters; one generic walker (normalize_object) validates any
 * object against a field table and writes the defaults, and api_spec_schema
 * prints the same tables as JSON Schema. Adding an algorithm or a
 * hyperparameter is adding rows, never another if-chain. A value no scalar
 * or list rule fits (a DARTS genotype) is a T_CUSTOM field: a validator and
 * a schema printer of its own, still one row of a table.
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
#include "spec.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define PTR_MAX 256
#define NO_MAX INFINITY

/* ------------------------------------------------------------ the tables */

enum ftype { T_INT, T_NUM, T_BOOL, T_STR, T_INT_LIST, T_NUM_LIST, T_CUSTOM };

enum {
    F_NULLABLE = 1,   /* null is a valid value (and may be the default) */
    F_EXCL_MIN = 2,   /* value > min rather than >= min */
    F_EXCL_MAX = 4,   /* value < max rather than <= max */
    F_UNIQUE = 8,     /* lists: no value twice */
    F_EXPLAIN = 16,   /* a range error quotes the doc: it says why */
};

struct field;

/* A value no scalar or list rule describes (a DARTS genotype, one of its
 * cells): a function validates it and writes the normalized value, and
 * another prints its JSON Schema (without default and description, which
 * come from the field like any other). */
typedef struct custom_type {
    const char *want;   /* for type errors: "an object" */
    int (*check)(const struct field *f, const json_t *v, const char *ptr, json_t **out,
                 api_problem *err);
    json_t *(*schema)(const struct field *f);
} custom_type;

typedef struct field {
    const char *name;
    enum ftype type;
    double min, max;          /* the value, or each element of a list */
    int flags;
    const char *choices;      /* JSON array text of the allowed values, or NULL */
    const char *def;          /* JSON text of the default */
    int min_items, max_items; /* lists */
    const char *doc;
    const char *na;           /* non-NULL: the field does not apply here (why);
                                 it must be null or absent and becomes null */
    const custom_type *custom;   /* T_CUSTOM */
} field;
/* A field whose def is NULL (and that applies) is required. */

#define I_(n, lo, hi, d, doc) {n, T_INT, lo, hi, 0, NULL, d, 0, 0, doc, NULL, NULL}
#define IN_(n, lo, hi, d, doc) {n, T_INT, lo, hi, F_NULLABLE, NULL, d, 0, 0, doc, NULL, NULL}
#define N_(n, lo, hi, d, doc) {n, T_NUM, lo, hi, 0, NULL, d, 0, 0, doc, NULL, NULL}
#define NP_(n, hi, d, doc) {n, T_NUM, 0, hi, F_EXCL_MIN, NULL, d, 0, 0, doc, NULL, NULL}
#define NNULL_(n, lo, hi, d, doc) {n, T_NUM, lo, hi, F_NULLABLE, NULL, d, 0, 0, doc, NULL, NULL}
#define B_(n, d, doc) {n, T_BOOL, 0, 0, 0, NULL, d, 0, 0, doc, NULL, NULL}
#define CI_(n, ch, d, doc) {n, T_INT, 0, 0, 0, ch, d, 0, 0, doc, NULL, NULL}
#define CS_(n, ch, d, doc) {n, T_STR, 0, 0, 0, ch, d, 0, 0, doc, NULL, NULL}
#define IL_(n, lo, hi, k0, k1, d, doc) {n, T_INT_LIST, lo, hi, 0, NULL, d, k0, k1, doc, NULL, NULL}
#define NL_(n, lo, hi, k, d, doc) {n, T_NUM_LIST, lo, hi, F_EXCL_MAX, NULL, d, k, k, doc, NULL, NULL}
#define THREADS_ IN_("threads", 1, 1024, "null", \
                     "engine threads for this job; null: the daemon's --threads-per-job")
#define END_ {NULL, T_INT, 0, 0, 0, NULL, NULL, 0, 0, NULL, NULL, NULL}

static const field train_image_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    NP_("lr", 100, "0.02", "peak learning rate; cosine decay to lr_min over the job"),
    N_("lr_min", 0, 100, "0", "final learning rate of the cosine schedule (<= lr)"),
    N_("momentum", 0, 1, "0.9", NULL),
    N_("weight_decay", 0, 1, "0.0005", NULL),
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
    N_("momentum", 0, 1, "0", NULL),
    N_("weight_decay", 0, 1, "0", NULL),
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
    N_("momentum", 0, 1, "0.9", "weight SGD momentum"),
    N_("weight_decay", 0, 1, "0.0003", "weight SGD L2 weight decay"),
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip of the weight gradient; 0: off"),
    NP_("arch_lr", 1, "0.0003", "Adam learning rate of alpha"),
    NL_("arch_betas", 0, 1, 2, "[0.5,0.999]", "Adam betas of alpha"),
    N_("arch_weight_decay", 0, 1, "0.001", "Adam L2 weight decay of alpha"),
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
    N_("momentum", 0, 1, "0", "weight SGD momentum"),
    N_("weight_decay", 0, 1, "5e-07", NULL),
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
    N_("arch_weight_decay", 0, 1, "0.001", "Adam L2 weight decay of alpha"),
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

#define ENAS_CNN_(bs, c, l, wd, ctl_lr, tanh_c, steps, agg)                          \
    I_("batch_size", 1, 4096, bs, NULL),                                              \
    I_("C", 1, 1024, c, "output channels of the first layer"),                        \
    I_("layers", 1, 64, l, NULL),                                                     \
    NP_("lr", 100, "0.05", "shared-weight SGD lr, cosine with restarts to lr_min"),   \
    N_("lr_min", 0, 100, "0.0005", NULL),                                             \
    I_("lr_t0", 1, 10000, "10", "epochs of the first cosine period"),                 \
    I_("lr_t_mul", 1, 100, "2", "growth of each following period"),                   \
    N_("momentum", 0, 1, "0.9", NULL),                                                \
    N_("weight_decay", 0, 1, wd, NULL),                                               \
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip; 0: off"),                      \
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.1", 0, 0, "before the classifier", NULL, NULL}, \
    CONTROLLER_("64", ctl_lr, "0.0001", tanh_c, "1"),                                 \
    N_("op_tanh_reduce", 1, 100, "2.5", "op logits use tanh_constant / this"),        \
    I_("controller_steps", 1, 100000, steps, "controller updates per epoch"),         \
    I_("controller_aggregate", 1, 1000, agg, "sampled children per update"),          \
    I_("final_samples", 1, 100000, "100", "architectures sampled to pick the result")

static const field enas_micro_hp[] = {
    ENAS_CNN_("160", "20", "6", "0.0001", "0.0035", "1.1", "30", "10"),
    I_("nodes", 2, 16, "5", "nodes per cell (B)"),
    {"drop_path", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.4", 0, 0,
     "drop-path probability", NULL, NULL},
    THREADS_, END_,
};

static const field enas_macro_hp[] = {
    ENAS_CNN_("128", "36", "12", "0.00025", "0.001", "1.5", "50", "20"),
    N_("skip_target", 0, 1, "0.4", "target skip probability"),
    N_("skip_weight", 0, 100, "0.8", "weight of the KL skip penalty"),
    THREADS_, END_,
};

static const field enas_rnn_hp[] = {
    I_("batch_size", 1, 4096, "20", NULL),
    I_("nodes", 2, 64, "12", "nodes of the recurrent cell"),
    I_("hidden", 1, 4096, "720", "embedding and cell size"),
    I_("bptt", 1, 1000, "35", NULL),
    NP_("lr", 100, "0.25", "shared-weight SGD learning rate"),
    I_("lr_decay_start", 0, 100000, "12", "epoch from which lr decays"),
    {"lr_decay_rate", T_NUM, 0, 1, F_EXCL_MIN, NULL, "0.95", 0, 0, "per epoch", NULL, NULL},
    N_("lr_min", 0, 100, "0.0005", NULL),
    N_("weight_decay", 0, 1, "1e-07", NULL),
    N_("grad_clip", 0, 1e6, "10", NULL),
    {"dropout_e", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0, "embedding", NULL, NULL},
    {"dropout_x", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0, "cell input", NULL, NULL},
    {"dropout_h", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.25", 0, 0, "cell state", NULL, NULL},
    {"dropout_o", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.75", 0, 0, "output", NULL, NULL},
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

static const field nasrl_cnn_hp[] = {
    NASRL_COMMON_("64", "0.1", "0.0006"),
    N_("momentum", 0, 1, "0.9", NULL),
    B_("nesterov", "true", NULL),
    N_("weight_decay", 0, 1, "0.0001", NULL),
    I_("start_layers", 1, 64, "6", "child depth at the start"),
    I_("max_layers", 1, 64, "15", "child depth limit (>= start_layers)"),
    I_("layers_step", 0, 64, "2", "layers added at each growth"),
    I_("grow_every", 1, 1000000, "1600", "architectures between growths"),
    IL_("filter_heights", 1, 15, 1, 8, "[1,3,5,7]", NULL),
    IL_("filter_widths", 1, 15, 1, 8, "[1,3,5,7]", NULL),
    IL_("num_filters", 1, 1024, 1, 8, "[24,36,48,64]", NULL),
    IL_("strides", 1, 3, 1, 3, "[1,2,3]", "choices when search_strides"),
    B_("search_strides", "false", "also choose a stride per layer"),
    CS_("reward", "[\"accuracy\",\"cube-best-last5\"]", "\"accuracy\"",
        "validation accuracy, or the cube of the best of the last 5 epochs (paper)"),
    THREADS_, END_,
};

static const field nasrl_rnn_hp[] = {
    NASRL_COMMON_("20", "20", "0.0005"),
    CI_("tree_base", "[2,4,8]", "8", "leaves of the cell's combination tree"),
    I_("embed", 1, 4096, "200", NULL),
    I_("hidden", 1, 4096, "200", NULL),
    I_("bptt", 1, 1000, "35", NULL),
    N_("grad_clip", 0, 1e6, "0.25", NULL),
    {"dropout", T_NUM, 0, 1, F_EXCL_MAX, NULL, "0.2", 0, 0, NULL, NULL, NULL},
    NP_("reward_c", 1e6, "80", "reward = reward_c / validation perplexity^2"),
    THREADS_, END_,
};

static const field random_hp[] = {
    I_("batch_size", 1, 4096, "64", NULL),
    I_("child_epochs", 1, 10000, "5", "epochs each sampled architecture trains"),
    I_("parallel_children", 1, 256, "4", "architectures trained concurrently"),
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
    N_("momentum", 0, 1, "0.9", NULL),
    N_("weight_decay", 0, 1, "0.0003", NULL),
    N_("grad_clip", 0, 1e6, "5", "global L2 norm clip; 0: off"),
    {"dropout", T_NUM, 0, 1, 0, NULL, "null", 0, 0, NULL,
     "does not apply to a darts-cnn network (no dropout layer; the reference's drop "
     "path is not implemented)", NULL},
    B_("nesterov", "false", NULL),
    B_("augment", "false", "random crop, plus flip except on fashion-mnist and synthetic; "
                           "default true on cifar10, false otherwise"),
    THREADS_, END_,
};

/* The cells of a genotype; see check_cell. */
static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err);
static json_t *cell_schema(const field *f);
static const custom_type darts_cell = {"an array of [op, input] pairs", check_cell,
                                       cell_schema};

#define CELL_(n, doc) {n, T_CUSTOM, 0, 0, 0, NULL, NULL, 0, 0, doc, NULL, &darts_cell}
#define CONCAT_(n, doc) {n, T_INT_LIST, 2, 5, F_UNIQUE, NULL, "[2,3,4,5]", 1, 4, doc, NULL, NULL}

static const field genotype_fields[] = {
    CELL_("normal", "the normal cell: 8 [op, input] pairs, two per node; entries 2k and "
                    "2k+1 belong to node k (0..3) and take input 0 or 1 (the cell's "
                    "inputs) or 2..k+1 (the nodes before it)"),
    CONCAT_("normal_concat", "nodes (2..5) concatenated into the cell's output"),
    CELL_("reduce", "the reduction cell, as normal; ops on inputs 0 and 1 have stride 2"),
    CONCAT_("reduce_concat", "nodes (2..5) concatenated into the cell's output"),
    END_,
};

static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err);
static json_t *genotype_schema(const field *f);
static const custom_type darts_genotype = {"an object", check_genotype, genotype_schema};

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
     "default: DARTS_V2 of the paper", NULL, &darts_genotype},
    I_("C", 1, 1024, "16", "initial channels (the stem has 3C)"),
    {"layers", T_INT, 3, 64, F_EXPLAIN, NULL, "8", 0, 0,
     "cells; cells layers/3 and 2 layers/3 are the reduction cells: 3 or more give a "
     "normal cell and two distinct reductions", NULL, NULL},
    END_,
};

static const field final_training_fields[] = {
    B_("enabled", "false", "train the found architecture from scratch on the whole "
                           "training set after the search and report its test accuracy "
                           "(darts-cnn; other spaces answer 501). SGD lr 0.025 cosine to "
                           "0, momentum 0.9, weight decay 3e-4, grad clip 5, the search's "
                           "batch_size; no drop path, no auxiliary head. Its metrics are "
                           "named final.<metric>, epochs and steps counted on from the "
                           "search's"),
    I_("epochs", 1, 100000, "10", NULL),
    I_("C", 1, 1024, "16", "initial channels of the trained network"),
    I_("layers", 1, 64, "8", "cells of the trained network"),
    END_,
};

typedef struct space_row {
    const char *algorithm;
    const char *space;      /* search_space; for train, architecture.space */
    const char *kind;       /* the data it needs: "image" or "text" */
    const char *epochs;     /* budget.epochs default; NULL: does not apply */
    const char *max_arch;   /* budget.max_architectures default; NULL: n/a */
    const field *hp;
    const field *arch;      /* train only: the architecture's fields */
    int implemented;        /* 0: the API accepts it but answers 501 */
    /* Rules across fields, run on the normalized spec (or NULL). */
    int (*check)(const json_t *spec, api_problem *err);
} space_row;

static int darts_reductions_fit(const json_t *spec, api_problem *err);

/* The first row of an algorithm holds its default space; for train, the
 * first row of a data kind is that kind's default architecture. */
static const space_row space_rows[] = {
    {"darts", "darts-cnn", "image", "50", NULL, darts_cnn_hp, NULL, 1, NULL},
    {"darts", "darts-rnn", "text", "50", NULL, darts_rnn_hp, NULL, 1, NULL},
    {"enas", "enas-micro", "image", "150", NULL, enas_micro_hp, NULL, 0, NULL},
    {"enas", "enas-macro", "image", "310", NULL, enas_macro_hp, NULL, 0, NULL},
    {"enas", "enas-rnn", "text", "100", NULL, enas_rnn_hp, NULL, 0, NULL},
    {"nas-rl", "nasrl-cnn", "image", NULL, "100", nasrl_cnn_hp, NULL, 0, NULL},
    {"nas-rl", "nasrl-rnn", "text", NULL, "100", nasrl_rnn_hp, NULL, 0, NULL},
    {"random", "darts-cnn", "image", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "darts-rnn", "text", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "enas-micro", "image", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "enas-macro", "image", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "enas-rnn", "text", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "nasrl-cnn", "image", NULL, "20", random_hp, NULL, 0, NULL},
    {"random", "nasrl-rnn", "text", NULL, "20", random_hp, NULL, 0, NULL},
    {"train", "fixed-cnn", "image", "3", NULL, train_image_hp, arch_fixed_cnn, 1, NULL},
    {"train", "lstm-lm", "text", "4", NULL, train_text_hp, arch_lstm_lm, 1, NULL},
    {"train", "darts-cnn", "image", "3", NULL, train_darts_hp, arch_darts_cnn, 1,
     darts_reductions_fit},
};
#define N_SPACE_ROWS (sizeof space_rows / sizeof space_rows[0])

/* The first row is the default algorithm. It is implemented when one of
 * its space rows is. */
static const struct algo_row {
    const char *name;
    int issue;           /* the issue that brings it */
} algo_rows[] = {
    {"darts", 4}, {"enas", 5}, {"nas-rl", 6}, {"random", 6}, {"train", 3},
};
#define N_ALGOS (sizeof algo_rows / sizeof algo_rows[0])

/* The first dataset of a kind is that kind's default. Keep in step with
 * the engine's nas_datasets(). */
static const struct dataset_row {
    const char *name;
    const char *kind;
    ptrdiff_t path;      /* offset of its path in api_spec_paths; -1: none */
} dataset_rows[] = {
    {"fashion-mnist", "image", offsetof(api_spec_paths, fashion_mnist_dir)},
    {"cifar10", "image", offsetof(api_spec_paths, cifar10_dir)},
    {"synthetic", "image", -1},
    {"fortunes", "text", offsetof(api_spec_paths, fortunes_path)},
    {"ptb", "text", offsetof(api_spec_paths, ptb_dir)},
};
#define N_DATASETS (sizeof dataset_rows / sizeof dataset_rows[0])

/* Defaults that depend on the dataset, not only on the row. */
static const struct dataset_default {
    const char *algorithm, *dataset, *key, *value;
} dataset_defaults[] = {
    {"train", "cifar10", "augment", "true"},
};

/* Pairs that must satisfy low <= high within one hyperparameters object. */
static const struct ordered_pair {
    const char *low, *high;
} ordered_pairs[] = {
    {"lr_min", "lr"},
    {"start_layers", "max_layers"},
};

/* Top-level keys, in the order of the normalized spec. */
static const char *const top_keys[] = {
    "algorithm", "search_space", "dataset", "architecture", "budget",
    "hyperparameters", "final_training", "seed", "name",
};
#define N_TOP_KEYS (sizeof top_keys / sizeof top_keys[0])

#define NAME_MAX_CHARS 128

/* --------------------------------------------------------------- helpers */

static int oom(api_problem *err)
{
    return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "out of memory");
}

static void child_ptr(char out[PTR_MAX], const char *parent, const char *key)
{
    size_t n = (size_t)snprintf(out, PTR_MAX, "%s/", parent);
    for (const char *k = key; *k && n + 3 < PTR_MAX; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n < PTR_MAX ? n : PTR_MAX - 1] = '\0';
}

static const char *json_kind(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
        [JSON_STRING] = "a string", [JSON_INTEGER] = "a number",
        [JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean", [JSON_NULL] = "null",
    };
    return v ? names[json_typeof(v)] : "nothing";
}

/* A number as a person writes it: 1024, 0.001, 9007199254740992. */
static void fmt_num(char *buf, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e17) snprintf(buf, n, "%.0f", x);
    else snprintf(buf, n, "%.15g", x);
}

static json_t *num_json(const field *f, double x)
{
    int integral = f->type == T_INT || f->type == T_INT_LIST;
    return integral ? json_integer((json_int_t)x) : json_real(x);
}

/* {"minimum": .., "maximum": ..} (exclusive forms as flagged). */
static json_t *range_json(const field *f)
{
    json_t *r = json_object();
    if (!r) return NULL;
    json_object_set_new(r, f->flags & F_EXCL_MIN ? "exclusiveMinimum" : "minimum",
                        num_json(f, f->min));
    if (isfinite(f->max))
        json_object_set_new(r, f->flags & F_EXCL_MAX ? "exclusiveMaximum" : "maximum",
                            num_json(f, f->max));
    return r;
}

/* Adds to a problem's detail (cut short to fit). */
static void detail_append(api_problem *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void detail_append(api_problem *err, const char *fmt, ...)
{
    size_t n = strlen(err->detail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail + n, sizeof err->detail - n, fmt, ap);
    va_end(ap);
}

static int range_error(const field *f, const char *ptr, api_problem *err)
{
    char lo[32], hi[32];
    fmt_num(lo, sizeof lo, f->min);
    fmt_num(hi, sizeof hi, f->max);
    if (isfinite(f->max))
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s %s and %s %s",
                        ptr, f->flags & F_EXCL_MIN ? ">" : ">=", lo,
                        f->flags & F_EXCL_MAX ? "<" : "<=", hi);
    else
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s %s", ptr,
                        f->flags & F_EXCL_MIN ? ">" : ">=", lo);
    if ((f->flags & F_EXPLAIN) && f->doc) detail_append(err, " (%s)", f->doc);
    api_problem_set_allowed(err, range_json(f));
    return -1;
}

/* "a", "b", "c" from a JSON array, for details. */
static void list_text(const json_t *arr, char *buf, size_t n)
{
    size_t i, used = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (s && used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", s);
        free(s);
    }
}

/* Takes over `choices`. */
static int choice_error(json_t *choices, const char *ptr, const json_t *got,
                        api_problem *err)
{
    char list[320], *g = json_dumps(got, JSON_ENCODE_ANY);
    list_text(choices, list, sizeof list);
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be one of %s; got %.64s",
                    ptr, list, g ? g : "?");
    free(g);
    api_problem_set_allowed(err, choices);
    return -1;
}

static int type_error(const char *ptr, const char *want, const json_t *got, api_problem *err)
{
    return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be %s, not %s",
                           ptr, want, json_kind(got));
}

static const char *type_want(const field *f)
{
    static const char *const want[] = {
        [T_INT] = "an integer", [T_NUM] = "a number", [T_BOOL] = "a boolean",
        [T_STR] = "a string", [T_INT_LIST] = "an array of integers",
        [T_NUM_LIST] = "an array of numbers", [T_CUSTOM] = NULL,
    };
    return f->type == T_CUSTOM ? f->custom->want : want[f->type];
}

/* One scalar number against f's type and range; *x gets its value. */
static int check_number(const field *f, int integer, const json_t *v, const char *ptr,
                        double *x, api_problem *err)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (integer && !f->choices && isfinite(f->max) &&
            (i < (json_int_t)f->min || i > (json_int_t)f->max))
            return range_error(f, ptr, err);
        *x = (double)i;
    } else if (json_is_real(v)) {
        *x = json_real_value(v);
        if (integer && (*x != floor(*x) || fabs(*x) > 9007199254740992.0))
            return type_error(ptr, "an integer", v, err);
    } else {
        return type_error(ptr, integer ? "an integer" : "a number", v, err);
    }
    if (f->choices) return 0;
    if ((f->flags & F_EXCL_MIN ? *x <= f->min : *x < f->min) ||
        (isfinite(f->max) && (f->flags & F_EXCL_MAX ? *x >= f->max : *x > f->max)))
        return range_error(f, ptr, err);
    return 0;
}

/* Validates v (NULL: absent) against f and returns the normalized value
 * in *out (new reference). */
static int check_value(const field *f, const json_t *v, const char *ptr, json_t **out,
                       api_problem *err)
{
    double x;

    *out = NULL;
    if (f->na) {
        if (v && !json_is_null(v))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s %s", ptr,
                                   f->na);
        return (*out = json_null()) ? 0 : oom(err);
    }
    if (!v && !f->def)
        return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s is required", ptr);
    if (!v) {
        /* The default goes through the same checks, so it comes out with
         * the same JSON types as a given value (5 for a number -> 5.0). */
        json_t *def = json_loads(f->def, JSON_DECODE_ANY, NULL);
        int rc;
        if (!def) return oom(err);
        rc = check_value(f, def, ptr, out, err);
        json_decref(def);
        return rc;
    }
    if (json_is_null(v)) {
        if (f->flags & F_NULLABLE) return (*out = json_null()) ? 0 : oom(err);
        return type_error(ptr, type_want(f), v, err);
    }
    switch (f->type) {
    case T_INT:
        if (check_number(f, 1, v, ptr, &x, err)) return -1;
        *out = json_integer((json_int_t)x);
        break;
    case T_NUM:
        if (check_number(f, 0, v, ptr, &x, err)) return -1;
        *out = json_real(x);
        break;
    case T_BOOL:
        if (!json_is_boolean(v)) return type_error(ptr, "a boolean", v, err);
        *out = json_incref((json_t *)v);
        break;
    case T_STR:
        if (!json_is_string(v)) return type_error(ptr, "a string", v, err);
        *out = json_incref((json_t *)v);
        break;
    case T_INT_LIST:
    case T_NUM_LIST: {
        int integer = f->type == T_INT_LIST;
        size_t i, n = json_array_size(v);
        char eptr[PTR_MAX];
        if (!json_is_array(v)) return type_error(ptr, type_want(f), v, err);
        if (n < (size_t)f->min_items || n > (size_t)f->max_items) {
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                            "%s must have %d to %d items, not %zu", ptr, f->min_items,
                            f->max_items, n);
            api_problem_set_allowed(err, json_pack("{s:i,s:i}", "minItems", f->min_items,
                                                   "maxItems", f->max_items));
            return -1;
        }
        if (!(*out = json_array())) return oom(err);
        for (i = 0; i < n; i++) {
            snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
            if (check_number(f, integer, json_array_get(v, i), eptr, &x, err)) {
                json_decref(*out);
                *out = NULL;
                return -1;
            }
            json_array_append_new(*out, integer ? json_integer((json_int_t)x) : json_real(x));
            for (size_t k = 0; (f->flags & F_UNIQUE) && k < i; k++) {
                if (!json_equal(json_array_get(*out, k), json_array_get(*out, i))) continue;
                json_decref(*out);
                *out = NULL;
                return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, eptr,
                                       "%s repeats %s/%zu: each value may appear once", eptr,
                                       ptr, k);
            }
        }
        break;
    }
    case T_CUSTOM:
        if (f->custom->check(f, v, ptr, out, err)) return -1;
        break;
    }
    if (!*out) return oom(err);
    if (f->choices) {
        json_t *ch = json_loads(f->choices, JSON_DECODE_ANY, NULL), *c;
        size_t i;
        if (!ch) return oom(err);
        json_array_foreach(ch, i, c) {
            if (json_equal(c, *out)) {
                json_decref(ch);
                return 0;
            }
        }
        json_decref(*out);
        *out = NULL;
        return choice_error(ch, ptr, v, err);
    }
    return 0;
}

static const field *find_field(const field *fs, const char *name)
{
    for (; fs->name; fs++)
        if (!strcmp(fs->name, name)) return fs;
    return NULL;
}

static int unknown_key(const char *const *keys, size_t nkeys, const char *ptr, api_problem *err)
{
    json_t *allowed = json_array();
    for (size_t i = 0; allowed && i < nkeys; i++)
        json_array_append_new(allowed, json_string(keys[i]));
    api_problem_set(err, 0, API_PROBLEM_UNKNOWN_FIELD, ptr, "%s is not a known field", ptr);
    api_problem_set_allowed(err, allowed);
    return -1;
}

/* Validates object `in` (NULL: absent, all defaults) against the field
 * table fs and writes every field, given or default, into out. */
static int normalize_object(const field *fs, const json_t *in, const char *ptr, json_t *out,
                            api_problem *err)
{
    char cptr[PTR_MAX];
    const char *key;
    json_t *v;

    if (in && !json_is_object(in)) return type_error(ptr, "an object", in, err);
    json_object_foreach((json_t *)in, key, v) {
        if (!find_field(fs, key)) {
            const char *names[64];
            size_t n = 0;
            for (const field *f = fs; f->name && n < 64; f++) names[n++] = f->name;
            child_ptr(cptr, ptr, key);
            return unknown_key(names, n, cptr, err);
        }
    }
    for (const field *f = fs; f->name; f++) {
        child_ptr(cptr, ptr, f->name);
        if (check_value(f, in ? json_object_get(in, f->name) : NULL, cptr, &v, err))
            return -1;
        if (json_object_set_new(out, f->name, v)) return oom(err);
    }
    return 0;
}

/* One string among names[0..n); absent or null gives def. *idx: its index. */
static int pick_name(const json_t *v, const char *const *names, size_t n, const char *def,
                     const char *ptr, size_t *idx, api_problem *err)
{
    const char *s = def;
    json_t *choices;

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) return type_error(ptr, "a string", v, err);
        s = json_string_value(v);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], s)) {
            *idx = i;
            return 0;
        }
    }
    if (!(choices = json_array())) return oom(err);
    for (size_t i = 0; i < n; i++) json_array_append_new(choices, json_string(names[i]));
    return choice_error(choices, ptr, v, err);
}

static const struct dataset_row *dataset_by_name(const char *name)
{
    for (size_t i = 0; i < N_DATASETS; i++)
        if (!strcmp(dataset_rows[i].name, name)) return &dataset_rows[i];
    return NULL;
}

static const char *default_dataset(const char *kind)
{
    for (size_t i = 0; i < N_DATASETS; i++)
        if (!strcmp(dataset_rows[i].kind, kind)) return dataset_rows[i].name;
    return dataset_rows[0].name;
}

static json_t *datasets_of_kind(const char *kind)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < N_DATASETS; i++)
        if (!kind || !strcmp(dataset_rows[i].kind, kind))
            json_array_append_new(a, json_string(dataset_rows[i].name));
    return a;
}

static const space_row *find_row(const char *algorithm, const char *space)
{
    for (size_t i = 0; i < N_SPACE_ROWS; i++)
        if (!strcmp(space_rows[i].algorithm, algorithm) &&
            (!space || !strcmp(space_rows[i].space, space)))
            return &space_rows[i];
    return NULL;
}

static const space_row *find_row_of_kind(const char *algorithm, const char *kind)
{
    for (size_t i = 0; i < N_SPACE_ROWS; i++)
        if (!strcmp(space_rows[i].algorithm, algorithm) && !strcmp(space_rows[i].kind, kind))
            return &space_rows[i];
    return NULL;
}

/* The names of the spaces of an algorithm (or of every search algorithm
 * when algorithm is NULL, deduplicated); returns their count. */
static size_t space_names(const char *algorithm, const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < N_SPACE_ROWS; i++) {
        const space_row *r = &space_rows[i];
        size_t j;
        if (algorithm ? strcmp(r->algorithm, algorithm) : !strcmp(r->algorithm, "train"))
            continue;
        for (j = 0; j < n && strcmp(names[j], r->space); j++)
            ;
        if (j == n && n < cap) names[n++] = r->space;
    }
    return n;
}

/* Decodes one UTF-8 code point (Jansson has already checked the encoding). */
static unsigned utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned c = s[0];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    c &= extra ? 0x3Fu >> extra : 0x7Fu;
    for (int i = 1; i <= extra && s[i]; i++) c = (c << 6) | (s[i] & 0x3Fu);
    *p = s + 1 + extra;
    return c;
}

static int check_name(const json_t *v, json_t **out, api_problem *err)
{
    const unsigned char *p;
    size_t chars = 0;

    if (!json_is_string(v)) return type_error("/name", "a string", v, err);
    p = (const unsigned char *)json_string_value(v);
    while (*p) {
        unsigned c = utf8_next(&p);
        if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/name",
                                   "/name must be printable: control character U+%04X "
                                   "at character %zu", c, chars + 1);
        chars++;
    }
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/name",
                        "/name must be 1 to %d characters long, not %zu", NAME_MAX_CHARS,
                        chars);
        api_problem_set_allowed(err, json_pack("{s:i,s:i}", "minLength", 1, "maxLength",
                                               NAME_MAX_CHARS));
        return -1;
    }
    *out = json_incref((json_t *)v);
    return 0;
}

/* The budget's field table for a row: what does not apply must be null. */
static void budget_fields(const space_row *row, field out[4], char *why, size_t whylen)
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

static int check_ordered_pairs(const json_t *hp, api_problem *err)
{
    for (size_t i = 0; i < sizeof ordered_pairs / sizeof ordered_pairs[0]; i++) {
        const json_t *lo = json_object_get(hp, ordered_pairs[i].low);
        const json_t *hi = json_object_get(hp, ordered_pairs[i].high);
        char ptr[PTR_MAX], num[32];
        if (!json_is_number(lo) || !json_is_number(hi) ||
            json_number_value(lo) <= json_number_value(hi))
            continue;
        child_ptr(ptr, "/hyperparameters", ordered_pairs[i].low);
        fmt_num(num, sizeof num, json_number_value(hi));
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s must be <= %s (%s)", ptr,
                        ordered_pairs[i].high, num);
        api_problem_set_allowed(err, json_pack("{s:O}", "maximum", hi));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ darts-cnn cells */

/* The ops a derived cell may hold: the search's candidates but "none". */
static const char *const darts_ops[] = {
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    "max_pool_3x3", "avg_pool_3x3", "skip_connect",
};
#define N_DARTS_OPS (sizeof darts_ops / sizeof darts_ops[0])
#define DARTS_NODES 4   /* intermediate nodes per cell; two entries each */

static json_t *darts_ops_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < N_DARTS_OPS; i++) json_array_append_new(a, json_string(darts_ops[i]));
    return a;
}

/* Entry i of a cell, [op, input], into *out. Entry i belongs to node i / 2,
 * which reads the cell's inputs 0 and 1 or a node before it (2..). */
static int check_pair(const json_t *v, size_t i, const char *ptr, json_t **out,
                      api_problem *err)
{
    const int max_in = (int)(i / 2) + 1;
    const field input = I_("input", 0, max_in, NULL, NULL);
    const json_t *op = json_array_get(v, 0);
    char eptr[PTR_MAX];
    double x;
    size_t k;

    if (!json_is_array(v) || json_array_size(v) != 2)
        return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                               "%s must be an [op, input] pair, not %s", ptr, json_kind(v));
    child_ptr(eptr, ptr, "0");
    if (!json_is_string(op)) return type_error(eptr, "an op name (a string)", op, err);
    for (k = 0; k < N_DARTS_OPS && strcmp(darts_ops[k], json_string_value(op)); k++)
        ;
    if (k == N_DARTS_OPS) {
        choice_error(darts_ops_json(), eptr, op, err);
        if (!strcmp(json_string_value(op), "none"))
            detail_append(err, " (\"none\" is the search's zero op: a derived cell never "
                               "holds it)");
        return -1;
    }
    child_ptr(eptr, ptr, "1");
    if (check_number(&input, 1, json_array_get(v, 1), eptr, &x, err)) {
        char nodes[16];
        snprintf(nodes, sizeof nodes, max_in > 2 ? "2..%d" : "%d", max_in);
        if (i < 2)
            detail_append(err, ": entry %zu belongs to node 0, which reads only the cell's "
                               "inputs 0 and 1", i);
        else
            detail_append(err, ": entry %zu belongs to node %zu, which reads the cell's "
                               "inputs 0 and 1 or an earlier node (%s)", i, i / 2, nodes);
        return -1;
    }
    *out = json_pack("[sI]", darts_ops[k], (json_int_t)x);
    return *out ? 0 : oom(err);
}

/* A cell: [[op, input] x 8], two entries per node. */
static int check_cell(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err)
{
    char eptr[PTR_MAX];
    size_t i, n = json_array_size(v);
    json_t *pair = NULL;

    if (!json_is_array(v)) return type_error(ptr, f->custom->want, v, err);
    if (n != 2 * DARTS_NODES) {
        api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                        "%s must have %d [op, input] pairs (two per node), not %zu", ptr,
                        2 * DARTS_NODES, n);
        api_problem_set_allowed(err, json_pack("{s:i,s:i}", "minItems", 2 * DARTS_NODES,
                                               "maxItems", 2 * DARTS_NODES));
        return -1;
    }
    if (!(*out = json_array())) return oom(err);
    for (i = 0; i < n; i++) {
        snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
        if (check_pair(json_array_get(v, i), i, eptr, &pair, err) ||
            json_array_append_new(*out, pair)) {
            json_decref(*out);
            *out = NULL;
            return err->status ? -1 : oom(err);
        }
    }
    return 0;
}

/* The genotype's keys with the concat lists' defaults; its compact JSON
 * must fit the engine's nas_job_spec.genotype. */
static int check_genotype(const field *f, const json_t *v, const char *ptr, json_t **out,
                          api_problem *err)
{
    char *text;
    size_t len;

    if (!json_is_object(v)) return type_error(ptr, f->custom->want, v, err);
    if (!(*out = json_object())) return oom(err);
    if (normalize_object(genotype_fields, v, ptr, *out, err)) goto fail;
    if (!(text = json_dumps(*out, JSON_COMPACT))) {
        oom(err);
        goto fail;
    }
    len = strlen(text);
    free(text);
    if (len < NAS_GENOTYPE_MAX) return 0;
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                    "%s is %zu bytes as compact JSON; the engine takes at most %d", ptr, len,
                    NAS_GENOTYPE_MAX - 1);
fail:
    json_decref(*out);
    *out = NULL;
    return -1;
}

/* The engine's rule (darts_cnn.c): cells layers/3 and 2 layers/3 halve the
 * map, which must have even sides there. */
static int darts_reductions_fit(const json_t *spec, api_problem *err)
{
    const char *dataset = json_string_value(json_object_get(spec, "dataset"));
    const json_t *arch = json_object_get(spec, "architecture");
    const nas_dataset_desc *d = dataset ? nas_dataset_find(dataset) : NULL;
    int layers = (int)json_integer_value(json_object_get(arch, "layers")), h, w;

    if (!d) return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "no dataset %s",
                                   dataset ? dataset : "(null)");
    h = d->h;
    w = d->w;
    for (int i = 0; i < layers; i++) {
        if (i != layers / 3 && i != 2 * layers / 3) continue;
        if (h % 2 || w % 2 || h < 2 || w < 2)
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture/layers",
                                   "/architecture/layers: cell %d of %d would reduce a %dx%d "
                                   "map of dataset \"%s\"; DARTS reductions need even sides",
                                   i, layers, h, w, dataset);
        h /= 2;
        w /= 2;
    }
    return 0;
}

/* ------------------------------------------------------------- normalize */

/* For train: the architecture space given in the body, or NULL. */
static int train_arch_row(const json_t *arch, const space_row **row, api_problem *err)
{
    const char *trainable[8], *searchable[16];
    size_t nt = space_names("train", trainable, 8), ns, idx;
    const json_t *sp;

    *row = NULL;
    if (!arch || json_is_null(arch)) return 0;
    if (!json_is_object(arch)) return type_error("/architecture", "an object", arch, err);
    sp = json_object_get(arch, "space");
    if (!sp || json_is_null(sp)) return 0;
    if (json_is_string(sp) && !find_row("train", json_string_value(sp))) {
        ns = space_names(NULL, searchable, 16);
        for (size_t i = 0; i < ns; i++) {
            if (strcmp(searchable[i], json_string_value(sp))) continue;
            json_t *allowed = json_array();
            for (size_t j = 0; allowed && j < nt; j++)
                json_array_append_new(allowed, json_string(trainable[j]));
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture/space",
                            "search space \"%s\" cannot be trained yet", searchable[i]);
            api_problem_set_allowed(err, allowed);
            return -1;
        }
    }
    if (pick_name(sp, trainable, nt, NULL, "/architecture/space", &idx, err)) return -1;
    *row = find_row("train", trainable[idx]);
    return 0;
}

static int kind_mismatch(const space_row *row, const char *dataset, const char *dkind,
                         api_problem *err)
{
    int train = !strcmp(row->algorithm, "train");
    api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/dataset",
                    "dataset \"%s\" holds %s data but %s \"%s\" needs %s data", dataset,
                    dkind, train ? "architecture" : "search space", row->space, row->kind);
    api_problem_set_allowed(err, datasets_of_kind(row->kind));
    return -1;
}

static int normalize(const json_t *in, uint64_t default_seed, json_t *out, api_problem *err)
{
    const char *names[32], *algorithm, *dataset;
    const struct dataset_row *ds;
    const space_row *row = NULL;
    size_t n, idx;
    const char *key;
    json_t *v, *sub;
    char why[160], seed_def[32], cptr[PTR_MAX];
    field budget[4];
    int train;

    json_object_foreach((json_t *)in, key, v) {
        for (idx = 0; idx < N_TOP_KEYS && strcmp(top_keys[idx], key); idx++)
            ;
        if (idx == N_TOP_KEYS) {
            child_ptr(cptr, "", key);
            return unknown_key(top_keys, N_TOP_KEYS, cptr, err);
        }
    }

    for (n = 0; n < N_ALGOS; n++) names[n] = algo_rows[n].name;
    if (pick_name(json_object_get(in, "algorithm"), names, n, names[0], "/algorithm", &idx,
                  err))
        return -1;
    algorithm = algo_rows[idx].name;
    train = !strcmp(algorithm, "train");

    if (train) {
        v = json_object_get(in, "search_space");
        if (v && !json_is_null(v)) {
            api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/search_space",
                            "algorithm \"train\" takes no search_space; "
                            "give the network in /architecture");
            api_problem_set_allowed(err, json_pack("[n]"));
            return -1;
        }
        if (train_arch_row(json_object_get(in, "architecture"), &row, err)) return -1;
    } else {
        v = json_object_get(in, "architecture");
        if (v && !json_is_null(v))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/architecture",
                                   "architecture applies only to algorithm \"train\"; "
                                   "\"%s\" searches for one", algorithm);
        n = space_names(algorithm, names, 32);
        if (pick_name(json_object_get(in, "search_space"), names, n, names[0],
                      "/search_space", &idx, err))
            return -1;
        row = find_row(algorithm, names[idx]);
    }

    for (n = 0; n < N_DATASETS; n++) names[n] = dataset_rows[n].name;
    if (pick_name(json_object_get(in, "dataset"), names, n,
                  default_dataset(row ? row->kind : dataset_rows[0].kind), "/dataset", &idx,
                  err))
        return -1;
    ds = &dataset_rows[idx];
    dataset = ds->name;
    if (!row) row = find_row_of_kind("train", ds->kind);
    if (!row) return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL, "no row for %s",
                                     dataset);
    if (strcmp(row->kind, ds->kind)) return kind_mismatch(row, dataset, ds->kind, err);

    if (json_object_set_new(out, "algorithm", json_string(algorithm)) ||
        json_object_set_new(out, "search_space", train ? json_null() : json_string(row->space)) ||
        json_object_set_new(out, "dataset", json_string(dataset)))
        return oom(err);

    if (train) {
        if (!(sub = json_object())) return oom(err);
        json_object_set_new(out, "architecture", sub);
        if (normalize_object(row->arch, json_object_get(in, "architecture"), "/architecture",
                             sub, err))
            return -1;
    } else if (json_object_set_new(out, "architecture", json_null())) {
        return oom(err);
    }

    budget_fields(row, budget, why, sizeof why);
    if (!(sub = json_object())) return oom(err);
    json_object_set_new(out, "budget", sub);
    v = json_object_get(in, "budget");
    if (normalize_object(budget, json_is_null(v) ? NULL : v, "/budget", sub, err))
        return -1;

    if (!(sub = json_object())) return oom(err);
    json_object_set_new(out, "hyperparameters", sub);
    v = json_object_get(in, "hyperparameters");
    if (normalize_object(row->hp, json_is_null(v) ? NULL : v, "/hyperparameters", sub, err))
        return -1;
    for (size_t i = 0; i < sizeof dataset_defaults / sizeof dataset_defaults[0]; i++) {
        const struct dataset_default *d = &dataset_defaults[i];
        if (strcmp(d->algorithm, algorithm) || strcmp(d->dataset, dataset) ||
            json_object_get(v, d->key))
            continue;
        if (json_object_set_new(sub, d->key, json_loads(d->value, JSON_DECODE_ANY, NULL)))
            return oom(err);
    }
    if (check_ordered_pairs(sub, err)) return -1;
    if (row->check && row->check(out, err)) return -1;

    v = json_object_get(in, "final_training");
    if (train) {
        if (v && !json_is_null(v))
            return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, "/final_training",
                                   "final_training does not apply to algorithm \"train\"; "
                                   "it is the final training");
        json_object_set_new(out, "final_training", json_null());
    } else {
        if (!(sub = json_object())) return oom(err);
        json_object_set_new(out, "final_training", sub);
        if (normalize_object(final_training_fields, json_is_null(v) ? NULL : v,
                             "/final_training", sub, err))
            return -1;
    }

    snprintf(seed_def, sizeof seed_def, "%llu",
             (unsigned long long)(default_seed & (API_SPEC_SEED_MAX - 1)));
    {
        const field seed = I_("seed", 0, (double)API_SPEC_SEED_MAX, seed_def, NULL);
        if (check_value(&seed, json_object_get(in, "seed"), "/seed", &v, err)) return -1;
        if (json_object_set_new(out, "seed", v)) return oom(err);
    }

    v = json_object_get(in, "name");
    if (v && !json_is_null(v)) {
        if (check_name(v, &v, err)) return -1;
    } else {
        char name[64];
        snprintf(name, sizeof name, "%s-%s", algorithm, dataset);
        v = json_string(name);
    }
    if (json_object_set_new(out, "name", v)) return oom(err);
    return 0;
}

int api_spec_normalize(const char *body, size_t len, uint64_t default_seed,
                       json_t **spec_out, api_problem *err)
{
    json_error_t je;
    json_t *in, *out;

    *spec_out = NULL;
    in = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!in) {
        if (json_error_code(&je) == json_error_out_of_memory) return oom(err);
        api_problem_set(err, 0, API_PROBLEM_INVALID_JSON, NULL,
                        "invalid JSON at line %d, column %d: %s", je.line > 0 ? je.line : 1,
                        je.column > 0 ? je.column : 1, je.text);
        err->line = je.line > 0 ? je.line : 1;
        err->column = je.column > 0 ? je.column : 1;
        return -1;
    }
    if (!json_is_object(in)) {
        api_problem_set(err, 0, API_PROBLEM_BAD_REQUEST, NULL,
                        "the job spec must be a JSON object, not %s", json_kind(in));
        json_decref(in);
        return -1;
    }
    if (!(out = json_object())) {
        json_decref(in);
        return oom(err);
    }
    if (normalize(in, default_seed, out, err)) {
        json_decref(in);
        json_decref(out);
        return -1;
    }
    json_decref(in);
    *spec_out = out;
    return 0;
}

/* ----------------------------------------------------- engine and 501s */

static int algo_implemented(const char *algorithm)
{
    for (size_t i = 0; i < N_SPACE_ROWS; i++)
        if (!strcmp(space_rows[i].algorithm, algorithm) && space_rows[i].implemented)
            return 1;
    return 0;
}

/* 501 naming what is not there, with what the user can run instead in
 * the detail and in "allowed" (the tracker's issue number in the tables
 * is for developers). */
static int not_implemented(const char *ptr, const char *what, const char **avail, size_t n,
                           api_problem *err)
{
    char list[160] = "";
    json_t *allowed = json_array();
    for (size_t k = 0; k < n; k++) {
        json_array_append_new(allowed, json_string(avail[k]));
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "",
                 avail[k]);
    }
    api_problem_set(err, 0, API_PROBLEM_NOT_IMPLEMENTED, ptr,
                    "%s is not implemented in this version of nasd yet; available: %s", what,
                    list);
    api_problem_set_allowed(err, allowed);
    return -1;
}

int api_spec_implemented(const json_t *spec, api_problem *err)
{
    const char *algorithm = json_string_value(json_object_get(spec, "algorithm"));
    const char *space = json_string_value(json_object_get(spec, "search_space"));
    const json_t *ft = json_object_get(spec, "final_training");
    const char *avail[N_SPACE_ROWS];
    char what[96];
    size_t n = 0, i;

    for (i = 0; algorithm && i < N_ALGOS; i++)
        if (!strcmp(algo_rows[i].name, algorithm)) break;
    if (!algorithm || i == N_ALGOS)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                               "spec has no known algorithm");
    if (!algo_implemented(algorithm)) {
        for (size_t k = 0; k < N_ALGOS; k++)
            if (algo_implemented(algo_rows[k].name)) avail[n++] = algo_rows[k].name;
        snprintf(what, sizeof what, "algorithm \"%s\"", algorithm);
        return not_implemented("/algorithm", what, avail, n, err);
    }
    if (space) {
        const space_row *row = find_row(algorithm, space);
        if (!row)
            return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                                   "spec has no known search_space");
        if (!row->implemented) {
            for (size_t k = 0; k < N_SPACE_ROWS; k++)
                if (!strcmp(space_rows[k].algorithm, algorithm) && space_rows[k].implemented)
                    avail[n++] = space_rows[k].space;
            snprintf(what, sizeof what, "search space \"%s\" of algorithm \"%s\"", space,
                     algorithm);
            return not_implemented("/search_space", what, avail, n, err);
        }
    }
    if (json_is_true(json_object_get(ft, "enabled")) &&
        !(!strcmp(algorithm, "darts") && space && !strcmp(space, "darts-cnn")))
        return api_problem_set(err, 0, API_PROBLEM_NOT_IMPLEMENTED, "/final_training/enabled",
                               "final_training is not implemented yet for this search "
                               "space (only darts-cnn)");
    return 0;
}

static int get_int(const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_float(const json_t *obj, const char *key, float *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return -1;
    *out = (float)json_number_value(v);
    return 0;
}

static int get_bool(const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) return -1;
    *out = json_is_true(v);
    return 0;
}

/* The genotype as compact JSON into the engine's buffer; -1 when it does
 * not fit (normalize refused such a genotype already). */
static int genotype_to_engine(const json_t *g, char out[NAS_GENOTYPE_MAX])
{
    char *text = json_is_object(g) ? json_dumps(g, JSON_COMPACT) : NULL;
    int rc = text && strlen(text) < NAS_GENOTYPE_MAX ? 0 : -1;
    if (!rc) memcpy(out, text, strlen(text) + 1);
    free(text);
    return rc;
}

/* The train fields: the architecture and its optimizer. Returns non-zero
 * when a normalized value is missing. */
static int train_to_engine(const json_t *arch, const json_t *hp, nas_job_spec *out)
{
    const json_t *ch = json_object_get(arch, "channels"), *v;
    const char *space = json_string_value(json_object_get(arch, "space"));
    size_t i;
    int bad = 0;

    if (!space) return -1;
    if (!strcmp(space, "darts-cnn")) {   /* no dropout layer: dropout stays 0 */
        out->arch = NAS_ARCH_DARTS_CNN;
        bad |= genotype_to_engine(json_object_get(arch, "genotype"), out->genotype);
        bad |= get_int(arch, "C", &out->C);
        bad |= get_int(arch, "layers", &out->layers);
        bad |= get_bool(hp, "nesterov", &out->nesterov);
        bad |= get_bool(hp, "augment", &out->augment);
        return bad;
    }
    if (!strcmp(space, "fixed-cnn")) {
        out->arch = NAS_ARCH_FIXED_CNN;
        if (!json_is_array(ch) || json_array_size(ch) > NAS_MAX_BLOCKS) return -1;
        json_array_foreach(ch, i, v) out->channels[i] = (int)json_integer_value(v);
        out->nblocks = (int)json_array_size(ch);
        bad |= get_int(arch, "hidden", &out->hidden);
    } else if (!strcmp(space, "lstm-lm")) {
        out->arch = NAS_ARCH_LSTM_LM;
        bad |= get_int(arch, "embed", &out->embed);
        bad |= get_int(arch, "hidden", &out->hidden);
        bad |= get_int(arch, "layers", &out->layers);
        bad |= get_int(arch, "bptt", &out->bptt);
        bad |= get_int(arch, "max_vocab", &out->max_vocab);
    } else {
        return -1;
    }
    bad |= get_float(hp, "dropout", &out->dropout);
    bad |= get_bool(hp, "nesterov", &out->nesterov);
    bad |= get_bool(hp, "augment", &out->augment);
    return bad;
}

/* The darts fields: darts-cnn (dropout, nesterov and augment stay 0) or
 * darts-rnn (the language model and its dropouts). */
static int darts_to_engine(const json_t *spec, const json_t *hp, nas_job_spec *out)
{
    const json_t *betas = json_object_get(hp, "arch_betas"), *v, *ft;
    int bad = 0;

    out->search_space = json_string_value(json_object_get(spec, "search_space"));
    if (!out->search_space) return -1;
    bad |= get_int(hp, "order", &out->order);
    bad |= get_float(hp, "arch_lr", &out->arch_lr);
    bad |= get_float(hp, "arch_weight_decay", &out->arch_weight_decay);
    if (!json_is_array(betas) || json_array_size(betas) != 2) return -1;
    out->arch_beta1 = (float)json_number_value(json_array_get(betas, 0));
    out->arch_beta2 = (float)json_number_value(json_array_get(betas, 1));
    if (!strcmp(out->search_space, "darts-rnn")) {
        bad |= get_int(hp, "embed", &out->embed);
        bad |= get_int(hp, "hidden", &out->hidden);
        bad |= get_int(hp, "bptt", &out->bptt);
        bad |= get_int(hp, "max_vocab", &out->max_vocab);
        bad |= get_float(hp, "dropout", &out->dropout);
        bad |= get_float(hp, "dropout_i", &out->dropout_input);
        return bad;
    }
    if (strcmp(out->search_space, "darts-cnn")) return -1;
    ft = json_object_get(spec, "final_training");
    if (json_is_true(json_object_get(ft, "enabled"))) {
        bad |= get_int(ft, "epochs", &out->final_epochs);
        bad |= get_int(ft, "C", &out->final_C);
        bad |= get_int(ft, "layers", &out->final_layers);
    }
    bad |= get_int(hp, "C", &out->C);
    bad |= get_int(hp, "layers", &out->layers);
    bad |= get_float(hp, "train_portion", &out->train_portion);
    v = json_object_get(hp, "max_examples");
    if (json_is_integer(v)) bad |= get_int(hp, "max_examples", &out->max_examples);
    else bad |= !json_is_null(v);
    return bad;
}

int api_spec_to_engine(const json_t *spec, const api_spec_paths *paths,
                       int default_threads, nas_job_spec *out, api_problem *err)
{
    const json_t *budget = json_object_get(spec, "budget");
    const json_t *hp = json_object_get(spec, "hyperparameters"), *v;
    const struct dataset_row *ds;
    int bad = 0;

    memset(out, 0, sizeof *out);
    if (api_spec_implemented(spec, err)) return -1;
    out->algorithm = json_string_value(json_object_get(spec, "algorithm"));
    out->dataset = json_string_value(json_object_get(spec, "dataset"));
    ds = out->dataset ? dataset_by_name(out->dataset) : NULL;
    if (!ds || !out->algorithm) goto fail;
    if (paths && ds->path >= 0)
        out->data_path = *(const char *const *)((const char *)paths + ds->path);

    if (!strcmp(out->algorithm, "darts"))
        bad |= darts_to_engine(spec, hp, out);
    else if (!strcmp(out->algorithm, "train"))
        bad |= train_to_engine(json_object_get(spec, "architecture"), hp, out);
    else
        goto fail;

    bad |= get_int(budget, "epochs", &out->epochs);
    v = json_object_get(budget, "max_seconds");
    bad |= !json_is_number(v);
    out->max_seconds = json_number_value(v);
    v = json_object_get(spec, "seed");
    bad |= !json_is_integer(v);
    out->seed = (uint64_t)json_integer_value(v);

    bad |= get_int(hp, "batch_size", &out->batch_size);
    bad |= get_float(hp, "lr", &out->lr);
    if (json_is_null(json_object_get(hp, "lr_min")))   /* darts-rnn: constant */
        out->lr_min = out->lr;
    else
        bad |= get_float(hp, "lr_min", &out->lr_min);
    bad |= get_float(hp, "momentum", &out->momentum);
    bad |= get_float(hp, "weight_decay", &out->weight_decay);
    bad |= get_float(hp, "grad_clip", &out->grad_clip);
    out->threads = default_threads;
    if (json_is_integer(json_object_get(hp, "threads")))
        bad |= get_int(hp, "threads", &out->threads);
    if (!bad) return 0;
fail:
    memset(out, 0, sizeof *out);
    return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                           "the stored spec is not a normalized spec the engine runs");
}

/* ------------------------------------------------------------------ hash */

/* (hi, lo) *= the FNV-128 prime 2^88 + 0x13b, modulo 2^128. */
static void fnv128_mul(uint64_t *hi, uint64_t *lo)
{
    uint64_t l = *lo, h = *hi;
    uint64_t ll = (l & 0xffffffffu) * 0x13bu, lh = (l >> 32) * 0x13bu;
    uint64_t low = ll + (lh << 32);
    uint64_t carry = (lh >> 32) + (low < ll);

    *lo = low;
    *hi = h * 0x13bu + carry + (l << 24);   /* l * 2^88 lands in hi shifted by 24 */
}

void api_spec_hash(const char *body, size_t len, char out[API_SPEC_HASH_SIZE])
{
    uint64_t hi = 0x6c62272e07bb0142ull, lo = 0x62b821756295c58dull;

    for (size_t i = 0; i < len; i++) {
        lo ^= (unsigned char)body[i];
        fnv128_mul(&hi, &lo);
    }
    snprintf(out, API_SPEC_HASH_SIZE, "%016llx%016llx", (unsigned long long)hi,
             (unsigned long long)lo);
}

/* ---------------------------------------------------------------- schema */

static json_t *field_schema(const field *f)
{
    static const char *const types[] = {
        [T_INT] = "integer", [T_NUM] = "number", [T_BOOL] = "boolean",
        [T_STR] = "string", [T_INT_LIST] = "array", [T_NUM_LIST] = "array",
        [T_CUSTOM] = NULL,
    };
    json_t *s = f->type == T_CUSTOM && !f->na ? f->custom->schema(f) : json_object();
    json_t *item = s, *range;

    if (!s) return NULL;
    if (f->na) {
        json_object_set_new(s, "type", json_string("null"));
        json_object_set_new(s, "description", json_string(f->na));
        return s;
    }
    if (f->type == T_CUSTOM) {   /* its own schema plus the field's default and doc */
        if (f->def)
            json_object_set_new(s, "default", json_loads(f->def, JSON_DECODE_ANY, NULL));
        if (f->doc) json_object_set_new(s, "description", json_string(f->doc));
        return s;
    }
    if (f->flags & F_NULLABLE)
        json_object_set_new(s, "type", json_pack("[ss]", types[f->type], "null"));
    else
        json_object_set_new(s, "type", json_string(types[f->type]));
    if (f->type == T_INT_LIST || f->type == T_NUM_LIST) {
        item = json_pack("{s:s}", "type", f->type == T_INT_LIST ? "integer" : "number");
        json_object_set_new(s, "items", item);
        json_object_set_new(s, "minItems", json_integer(f->min_items));
        json_object_set_new(s, "maxItems", json_integer(f->max_items));
        if (f->flags & F_UNIQUE) json_object_set_new(s, "uniqueItems", json_true());
    }
    if (f->choices) {
        json_object_set_new(item, "enum", json_loads(f->choices, JSON_DECODE_ANY, NULL));
    } else if (f->type != T_BOOL && f->type != T_STR && item) {
        range = range_json(f);
        json_object_update(item, range);
        json_decref(range);
    }
    if (f->def)
        json_object_set_new(s, "default", json_loads(f->def, JSON_DECODE_ANY, NULL));
    if (f->doc) json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

static json_t *object_schema(const field *fs)
{
    json_t *props = json_object(), *required = json_array(), *s;
    for (const field *f = fs; f->name; f++) {
        json_object_set_new(props, f->name, field_schema(f));
        if (!f->def && !f->na) json_array_append_new(required, json_string(f->name));
    }
    s = json_pack("{s:s,s:b,s:o}", "type", "object", "additionalProperties", 0,
                  "properties", props);
    if (s && json_array_size(required)) json_object_set(s, "required", required);
    json_decref(required);
    return s;
}

/* [[op, input] x 8]: entry i's input in 0..i/2+1. */
static json_t *cell_schema(const field *f)
{
    json_t *pairs = json_array();
    for (int i = 0; pairs && i < 2 * DARTS_NODES; i++)
        json_array_append_new(pairs, json_pack("{s:s,s:[{s:o},{s:s,s:i,s:i}],s:b,s:i}",
                                               "type", "array", "prefixItems", "enum",
                                               darts_ops_json(), "type", "integer",
                                               "minimum", 0, "maximum", i / 2 + 1,
                                               "items", 0, "minItems", 2));
    return json_pack("{s:s,s:o,s:b,s:i,s:i}", "type", "array", "prefixItems", pairs, "items",
                     0, "minItems", 2 * DARTS_NODES, "maxItems", 2 * DARTS_NODES);
}

static json_t *genotype_schema(const field *f)
{
    return object_schema(genotype_fields);
}

/* {"properties": {key: {"const": value}}}, plus "required" unless the
 * value is the default (an absent key means the default). */
static json_t *when(const char *key, const char *value, int is_default)
{
    json_t *c = json_pack("{s:{s:{s:s}}}", "properties", key, "const", value);
    if (c && !is_default) json_object_set_new(c, "required", json_pack("[s]", key));
    return c;
}

/* The per-space rules of one row, applied once its space is chosen. */
static json_t *row_schema(const space_row *r)
{
    char why[160];
    field budget[4];
    json_t *props = json_object(), *ds = datasets_of_kind(r->kind);

    budget_fields(r, budget, why, sizeof why);
    json_object_set_new(props, "dataset", json_pack("{s:o,s:s}", "enum", ds, "default",
                                                     default_dataset(r->kind)));
    json_object_set_new(props, "budget", object_schema(budget));
    json_object_set_new(props, "hyperparameters", object_schema(r->hp));
    if (r->arch)
        json_object_set_new(props, "architecture",
                            json_pack("{s:[o,{s:s}]}", "anyOf", object_schema(r->arch),
                                      "type", "null"));
    return json_pack("{s:o}", "properties", props);
}

/* An architecture object whose space is one of `spaces`. */
static json_t *arch_space_in(json_t *spaces)
{
    return json_pack("{s:{s:{s:s,s:{s:{s:o}},s:[s]}},s:[s]}", "properties", "architecture",
                     "type", "object", "properties", "space", "enum", spaces, "required",
                     "space", "required", "architecture");
}

/* train picks its row by the dataset's kind and architecture.space: the
 * default dataset's kind matches when dataset is absent, the kind's first
 * row when space is. */
static json_t *train_schema(void)
{
    json_t *rules = json_array();
    const char *def_kind = dataset_rows[0].kind;

    for (size_t i = 0; i < N_SPACE_ROWS; i++) {
        const space_row *r = &space_rows[i];
        const space_row *first = find_row_of_kind("train", r->kind);
        json_t *cond, *others = json_array();
        if (strcmp(r->algorithm, "train")) continue;
        cond = json_pack("{s:{s:{s:o}}}", "properties", "dataset", "enum",
                         datasets_of_kind(r->kind));
        if (strcmp(r->kind, def_kind)) json_object_set_new(cond, "required",
                                                           json_pack("[s]", "dataset"));
        for (size_t k = 0; r == first && k < N_SPACE_ROWS; k++)
            if (!strcmp(space_rows[k].algorithm, "train") && &space_rows[k] != r &&
                !strcmp(space_rows[k].kind, r->kind))
                json_array_append_new(others, json_string(space_rows[k].space));
        if (r != first)
            cond = json_pack("{s:[o,o]}", "allOf", cond,
                             arch_space_in(json_pack("[s]", r->space)));
        else if (json_array_size(others))
            cond = json_pack("{s:[o,{s:o}]}", "allOf", cond, "not",
                             arch_space_in(json_incref(others)));
        json_decref(others);
        json_array_append_new(rules, json_pack("{s:o,s:o}", "if", cond, "then",
                                               row_schema(r)));
    }
    return json_pack("{s:{s:{s:s},s:{s:s}},s:o}", "properties",
                     "search_space", "type", "null", "final_training", "type", "null",
                     "allOf", rules);
}

static json_t *search_schema(const char *algorithm)
{
    const char *names[32];
    size_t n = space_names(algorithm, names, 32);
    json_t *rules = json_array(), *spaces = json_array();

    for (size_t i = 0; i < n; i++) {
        json_array_append_new(spaces, json_string(names[i]));
        json_array_append_new(rules, json_pack("{s:o,s:o}", "if",
                                               when("search_space", names[i], i == 0),
                                               "then",
                                               row_schema(find_row(algorithm, names[i]))));
    }
    return json_pack("{s:{s:{s:o,s:s},s:{s:s}},s:o}", "properties",
                     "search_space", "enum", spaces, "default", names[0],
                     "architecture", "type", "null", "allOf", rules);
}

json_t *api_spec_schema(void)
{
    json_t *algos = json_array(), *rules = json_array(), *all_spaces = json_array();
    json_t *props, *ft, *schema;
    const char *names[32];
    size_t n = space_names(NULL, names, 32);

    for (size_t i = 0; i < n; i++) json_array_append_new(all_spaces, json_string(names[i]));
    json_array_append_new(all_spaces, json_null());
    for (size_t i = 0; i < N_ALGOS; i++) {
        const char *a = algo_rows[i].name;
        json_array_append_new(algos, json_string(a));
        json_array_append_new(rules, json_pack("{s:o,s:o}", "if", when("algorithm", a, i == 0),
                                               "then", strcmp(a, "train") ? search_schema(a)
                                                                          : train_schema()));
    }
    ft = object_schema(final_training_fields);
    json_object_set_new(ft, "type", json_pack("[ss]", "object", "null"));
    props = json_pack(
        "{s:{s:o,s:s,s:s},"
        " s:{s:o,s:s},"
        " s:{s:o,s:s},"
        " s:{s:[ss],s:s},"
        " s:{s:[ss],s:s},"
        " s:{s:[ss],s:s},"
        " s:o,"
        " s:{s:s,s:i,s:I,s:s},"
        " s:{s:s,s:i,s:i,s:s,s:s}}",
        "algorithm", "enum", algos, "default", algo_rows[0].name,
        "description", "what to run; implemented: train, and darts on darts-cnn "
                       "and darts-rnn (others: 501)",
        "search_space", "enum", all_spaces,
        "description", "per algorithm; the algorithm's first space by default; null for train",
        "dataset", "enum", datasets_of_kind(NULL),
        "description", "default: fashion-mnist for image spaces, fortunes for text spaces",
        "architecture", "type", "object", "null",
        "description", "train only: the network to train (fixed-cnn or darts-cnn on "
                       "images, lstm-lm on text); default by the dataset's kind",
        "budget", "type", "object", "null", "description", "limits of the run",
        "hyperparameters", "type", "object", "null",
        "description", "keys and defaults per algorithm and space (see allOf); "
                       "lr_min <= lr and start_layers <= max_layers",
        "final_training", ft,
        "seed", "type", "integer", "minimum", 0, "maximum", (json_int_t)API_SPEC_SEED_MAX,
        "description", "default: drawn at random by nasd and stored in the job",
        "name", "type", "string", "minLength", 1, "maxLength", NAME_MAX_CHARS,
        "pattern", "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
        "description", "printable UTF-8; default: <algorithm>-<dataset>");
    schema = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}",
                       "$schema", "https://json-schema.org/draft/2020-12/schema",
                       "$id", "urn:nasd:schema:job-spec",
                       "title", "nasd job spec (POST /v1/jobs)",
                       "description", "Every field is optional and has a default; nasd "
                                      "stores the spec with every default written out.",
                       "type", "object", "additionalProperties", 0,
                       "properties", props, "allOf", rules);
    return schema;
}
