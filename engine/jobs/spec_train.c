// SPDX-License-Identifier: MIT
/*
 * spec_train.c - the train kind's rows of the job-spec table: per
 * architecture (fixed-cnn, lstm-lm and the result architectures of every
 * search space) its optimizer fields and its architecture object, with
 * the default architectures (DARTS_V2, the reference ENAS arcs).
 *
 * The one design decision to know: these are rows of the one table in
 * spec_table.c, kept apart only by concern; its table of spaces points
 * at them (spec_rows.h), and nothing else reads them directly.
 */
#include "spec_rows.h"

#include <math.h>

const nas_spec_field nas__spec_train_image_hp[] = {
    I_(batch_size, 1, 4096, "64", NULL),
    TRAIN_LR_("0.02"),
    NX_(momentum, 0, 1, "0.9", NULL),
    NX_(weight_decay, 0, 1, "0.0005", NULL),
    N_(grad_clip, 0, 1e6, "0", "global L2 norm clip; 0: off"),
    NX_(dropout, 0, 1, "0", "before the last layer"),
    B_(nesterov, "true", NULL),
    AUGMENT_IMAGE_,
    TRAIN_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

const nas_spec_field nas__spec_train_text_hp[] = {
    I_(batch_size, 1, 4096, "20", NULL),
    TRAIN_LR_("20"),
    NX_(momentum, 0, 1, "0", NULL),
    NX_(weight_decay, 0, 1, "0", NULL),
    N_(grad_clip, 0, 1e6, "0.25", "global L2 norm clip; 0: off"),
    NX_(dropout, 0, 1, "0.2", "on embeddings and LSTM outputs"),
    B_(nesterov, "false", NULL),
    AUGMENT_TEXT_,
    THREADS_,
    END_,
};

const nas_spec_field nas__spec_arch_fixed_cnn[] = {
    CS_("space", -1, "[\"fixed-cnn\"]", "\"fixed-cnn\"", NULL),
    LIST_("channels", channels, nblocks, 1, 1024, 1, NAS_MAX_BLOCKS, "[32,64]",
          "conv3x3-BN-ReLU blocks (each followed by maxpool 3x3/2)"),
    I_(hidden, 1, 4096, "128", "classifier hidden units"),
    END_,
};

const nas_spec_field nas__spec_arch_lstm_lm[] = {
    CS_("space", -1, "[\"lstm-lm\"]", "\"lstm-lm\"", NULL),
    I_(embed, 1, 4096, "128", NULL),
    I_(hidden, 1, 4096, "128", NULL),
    I_(layers, 1, 4, "1", NULL),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    END_,
};

/* train on a darts-cnn genotype: the optimizer of the reference's
 * train.py, as the darts search's final training uses it (the reference's
 * batch size is 96; 64 here like the search's). */
const nas_spec_field nas__spec_train_darts_hp[] = {
    I_(batch_size, 1, 4096, "64", NULL),
    TRAIN_LR_("0.025"),
    NX_(momentum, 0, 1, "0.9", NULL),
    NX_(weight_decay, 0, 1, "0.0003", NULL),
    N_(grad_clip, 0, 1e6, "5", "global L2 norm clip; 0: off"),
    {.name = "dropout",
     .type = NAS_SPEC_NUM,
     .min = 0,
     .max = 1,
     .def = "null",
     .na = "does not apply to a darts-cnn network (no dropout layer; see drop_path)",
     .off = -1,
     .count_off = -1,
     .null_off = -1},
    B_(nesterov, "false", NULL),
    AUGMENT_IMAGE_,
    DARTS_TRAIN_REG_,
    TRAIN_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

/* DARTS_V2 of the paper (Liu et al. 2019; quark0/darts genotypes.py). */
#define DARTS_V2_                                                                                  \
    "{\"normal\":[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",0],"                 \
    "[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",1],[\"skip_connect\",0],[\"skip_connect\",0],"         \
    "[\"dil_conv_3x3\",2]],\"normal_concat\":[2,3,4,5],"                                           \
    "\"reduce\":[[\"max_pool_3x3\",0],[\"max_pool_3x3\",1],[\"skip_connect\",2],"                  \
    "[\"max_pool_3x3\",1],[\"max_pool_3x3\",0],[\"skip_connect\",2],[\"skip_connect\",2],"         \
    "[\"max_pool_3x3\",1]],\"reduce_concat\":[2,3,4,5]}"

const nas_spec_field nas__spec_arch_darts_cnn[] = {
    CS_("space", -1, "[\"darts-cnn\"]", "\"darts-cnn\"", NULL),
    ROW_("genotype", darts_cnn, NAS_SPEC_CUSTOM, 0, 0, 0, NULL, DARTS_V2_,
         "the cells, as the result architecture of a darts-cnn search gives them; "
         "default: DARTS_V2 of the paper"),
    I_(C, 1, 1024, "16", "initial channels (the stem has 3C)"),
    ROW_("layers", layers, NAS_SPEC_INT, 3, 64, NAS_SPEC_EXPLAIN, NULL, "8",
         "cells; cells layers/3 and 2 layers/3 are the reduction cells: 3 or more give a "
         "normal cell and two distinct reductions"),
    END_,
};

/* train on a darts-rnn cell: the optimizer of darts-rnn's final training
 * (darts_final.c, the reference's rnn/train.py: SGD lr 20, clip 0.25). */
const nas_spec_field nas__spec_train_darts_rnn_hp[] = {
    I_(batch_size, 1, 4096, "64", NULL),
    TRAIN_LR_("20"),
    NX_(momentum, 0, 1, "0", NULL),
    NX_(weight_decay, 0, 1, "8e-07", NULL),
    N_(grad_clip, 0, 1e6, "0.25", "global L2 norm clip; 0: off"),
    NX_(dropout, 0, 1, "0.75", "on the cell outputs"),
    AS_NX_("dropout_i", dropout_input, 0, 1, "0.2", "on the embeddings"),
    B_(nesterov, "false", NULL),
    AUGMENT_TEXT_,
    THREADS_,
    END_,
};

/* A search's result architecture trains as it is served: the keys of the
 * cell (or arc) sit in the architecture object beside "space" and the
 * size keys, and the API gathers them into "genotype" (api/spec_arch.c),
 * which is also accepted as such. */
#define GENOTYPE_(def_, doc_) ROW_("genotype", genotype, NAS_SPEC_CUSTOM, 0, 0, 0, NULL, def_, doc_)
#define DARTS_RNN_GENOTYPE_(def_, doc_)                                                            \
    ROW_("genotype", darts_rnn, NAS_SPEC_CUSTOM, 0, 0, 0, NULL, def_, doc_)

/* The defaults: DARTS_V2's recurrent cell (quark0/darts genotypes.py) and
 * the reference ENAS scripts' fixed arcs (cifar10_micro_final.sh,
 * ptb_final.sh); for enas-macro a small 6-layer arc (the reference's
 * 24-layer one is a network of hours). */
#define DARTS_V2_RNN_                                                                              \
    "{\"recurrent\":[[\"sigmoid\",0],[\"relu\",1],[\"relu\",1],[\"identity\",1],"                  \
    "[\"tanh\",2],[\"sigmoid\",5],[\"tanh\",3],[\"relu\",5]],\"concat\":[1,2,3,4,5,6,7,8]}"
#define ENAS_MICRO_FINAL_                                                                          \
    "\"0 2 0 0 0 4 0 1 1 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1\""
#define ENAS_MACRO_SMALL_ "\"0 1 0 2 1 0 3 0 1 0 0 1 0 0 1 1 0 0 1 0 1\""
#define ENAS_RNN_FINAL_ "\"0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1\""

const nas_spec_field nas__spec_arch_darts_rnn[] = {
    CS_("space", -1, "[\"darts-rnn\"]", "\"darts-rnn\"", NULL),
    DARTS_RNN_GENOTYPE_(DARTS_V2_RNN_,
                        "the cell, as the result architecture of a darts-rnn search gives it: "
                        "{\"recurrent\": [[op, input] x 8], \"concat\": [..]}; default: DARTS_V2"),
    I_(embed, 1, 4096, "300", NULL),
    I_(hidden, 1, 4096, "300",
       "cell units (the decoder is tied to the embedding when "
       "they are equal)"),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    END_,
};

/* The language models of a darts-rnn or enas-rnn cell have one cell. */
const nas_spec_field nas__spec_train_rnn_cell_fixed[] = {
    AS_I_("layers", layers, 1, 1, "1", "one recurrent cell"),
    END_,
};

/* train on an enas-micro / enas-macro arc: the optimizer of enas' final
 * training (enas_final.c). */
#define TRAIN_ENAS_CNN_HP_(wd, clip)                                                               \
    I_(batch_size, 1, 4096, "64", NULL), TRAIN_LR_("0.05"), NX_(momentum, 0, 1, "0.9", NULL),      \
        NX_(weight_decay, 0, 1, wd, NULL), CLIP_(clip),                                            \
        NX_(dropout, 0, 1, "0.1", "before the classifier"), B_(nesterov, "true", NULL),            \
        AUGMENT_IMAGE_, TRAIN_MAX_EXAMPLES_, THREADS_

/* Weight decay 4e-4: the final scripts' child_l2_reg 2e-4 enters the
 * loss as l2 sum w^2, a gradient of 4e-4 w. */
const nas_spec_field nas__spec_train_enas_micro_hp[] = {
    TRAIN_ENAS_CNN_HP_("0.0004", "5"),
    AS_N_("auxiliary_weight", aux_weight, 0, 100, "0.4",
          "weight of the auxiliary head's loss (on the first cell after the last reduction, "
          "training only, as cifar10_micro_final.sh --child_use_aux_heads); 0: no head"),
    NX_(drop_path, 0, 1, "0",
        "drop path probability of every op output but identities, cell i of the layers + 2 "
        "(0-based) dropping with drop_path (i + 1) / (layers + 2) times min(1, (step + 1) / "
        "steps), as micro_child.py; 0: off (cifar10_micro_final.sh: 0.4)"),
    END_,
};
const nas_spec_field nas__spec_train_enas_macro_hp[] = {TRAIN_ENAS_CNN_HP_("0.0004", "0"), END_};

const nas_spec_field nas__spec_arch_enas_micro[] = {
    CS_("space", -1, "[\"enas-micro\"]", "\"enas-micro\"", NULL),
    GENOTYPE_(ENAS_MICRO_FINAL_,
              "the cells, as the result architecture of an enas-micro search gives them: "
              "{\"normal\": [{\"inputs\": [i, j], \"ops\": [a, b]} per node], \"reduce\": "
              "[..]} (the concat lists are derived), or the reference's fixed-arc string; "
              "default: the reference's cifar10_micro_final.sh arc"),
    I_(C, 1, 1024, "20", "channels of the first cell"),
    I_(layers, 1, 64, "2", "normal cells per stack"),
    END_,
};

const nas_spec_field nas__spec_arch_enas_macro[] = {
    CS_("space", -1, "[\"enas-macro\"]", "\"enas-macro\"", NULL),
    GENOTYPE_(ENAS_MACRO_SMALL_,
              "the network, as the result architecture of an enas-macro search gives it: "
              "{\"layers\": [{\"op\": o, \"skips\": [..]} per layer]}, or the reference's "
              "fixed-arc string; it fixes the number of layers; default: a 6-layer arc"),
    I_(C, 2, 1024, "36", "channels of the first layer"),
    END_,
};

/* train on an enas-rnn arc: the optimizer of enas-rnn's final training. */
const nas_spec_field nas__spec_train_enas_rnn_hp[] = {
    I_(batch_size, 1, 4096, "20", NULL),
    NP_(lr, 1000, "8.75",
        "peak learning rate on the mean token loss (the search's lr x "
        "bptt); cosine decay to lr_min over the job"),
    N_(lr_min, 0, 1000, "0", "final learning rate of the cosine schedule (<= lr)"),
    NX_(weight_decay, 0, 1, "1e-07", NULL),
    N_(grad_clip, 0, 1e6, "0.286", "global L2 norm clip; 0: off"),
    NX_(dropout_e, 0, 1, "0.25", "drops whole embedding vectors"),
    NX_(dropout_x, 0, 1, "0.75", "cell input, one mask per BPTT chunk"),
    NX_(dropout_h, 0, 1, "0.25", "the state entering each node, one mask per BPTT chunk"),
    NX_(dropout_o, 0, 1, "0.75", "cell outputs before the decoder, one mask per chunk"),
    THREADS_,
    END_,
};

const nas_spec_field nas__spec_arch_enas_rnn[] = {
    CS_("space", -1, "[\"enas-rnn\"]", "\"enas-rnn\"", NULL),
    GENOTYPE_(ENAS_RNN_FINAL_,
              "the cell, as the result architecture of an enas-rnn search gives it: "
              "{\"nodes\": [{\"input\": i, \"activation\": a} per node], \"output\": [..]}, "
              "or the reference's fixed-arc string; default: the reference's ptb_final.sh "
              "arc"),
    I_(hidden, 1, 4096, "720", "embedding and cell units (the decoder is tied)"),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    END_,
};

/* train on a nasrl-cnn layer stack or a nasrl-rnn cell: the child
 * training of nas-rl's search (search/nasrl/), its defaults. */
const nas_spec_field nas__spec_train_nasrl_cnn_hp[] = {
    I_(batch_size, 1, 4096, "64", NULL),
    NP_(lr, 100, "0.1", "peak learning rate; cosine decay to 0 over the job"),
    NX_(momentum, 0, 1, "0.9", NULL),
    NX_(weight_decay, 0, 1, "0.0001", NULL),
    B_(nesterov, "true", NULL),
    TRAIN_MAX_EXAMPLES_,
    THREADS_,
    END_,
};

#define NASRL_CNN_DEFAULT_ "\"2 3 3 24 1 0 3 3 36 1 1 0\""
const nas_spec_field nas__spec_arch_nasrl_cnn[] = {
    CS_("space", -1, "[\"nasrl-cnn\"]", "\"nasrl-cnn\"", NULL),
    GENOTYPE_(NASRL_CNN_DEFAULT_,
              "the network, as the result architecture of a nasrl-cnn search gives it: "
              "{\"layers\": [{\"filter_height\", \"filter_width\", \"filters\", \"stride\", "
              "\"inputs\"} per layer]}; default: two 3x3 layers of 24 and 36 filters"),
    END_,
};

const nas_spec_field nas__spec_train_nasrl_rnn_hp[] = {
    I_(batch_size, 1, 4096, "20", NULL),
    NP_(lr, 100, "20", "peak learning rate; cosine decay to 0 over the job"),
    N_(grad_clip, 0, 1e6, "0.25", "global L2 norm clip; 0: off"),
    NX_(dropout, 0, 1, "0.2", "on the embeddings and the cell outputs"),
    THREADS_,
    END_,
};

#define NASRL_RNN_DEFAULT_ "\"0 1 0 1 0 0 0 0 1 0\""
const nas_spec_field nas__spec_arch_nasrl_rnn[] = {
    CS_("space", -1, "[\"nasrl-rnn\"]", "\"nasrl-rnn\"", NULL),
    GENOTYPE_(NASRL_RNN_DEFAULT_,
              "the cell, as the result architecture of a nasrl-rnn search gives it: "
              "{\"base\": B, \"nodes\": [{\"combine\", \"activation\"} per node], "
              "\"cell_inject\": {\"node\", \"combine\", \"activation\"}, \"cell_output\": m}; "
              "default: a base-2 tree of tanh leaves added and an identity root"),
    I_(embed, 1, 4096, "200", NULL),
    I_(hidden, 1, 4096, "200", NULL),
    I_(bptt, 1, 1000, "35", NULL),
    MAX_VOCAB_("10000"),
    END_,
};
