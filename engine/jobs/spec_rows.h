// SPDX-License-Identifier: MIT
/*
 * spec_rows.h - how a row of the job-spec table is written (internal to
 * spec_table.c and spec_train.c): the row macros, the rows every table
 * shares (threads, the end mark) and the train kind's row arrays that
 * spec_table.c's table of spaces points at.
 *
 * The one design decision to know: the table is one table split over two
 * files by concern (the searches' rows in spec_table.c, the train kind's
 * per-architecture rows in spec_train.c); a field is still written once,
 * as a row made by these macros.
 */
#ifndef NAS_SPEC_ROWS_H
#define NAS_SPEC_ROWS_H

#include "jobs.h"

#include <assert.h>
#include <stddef.h>

#define OFF_(m) ((int)offsetof(nas_job_spec, m))
#define ROW_(n, m, t, lo, hi, fl, ch, d_, doc_)                                                    \
    {                                                                                              \
        .name = n, .type = t, .min = lo, .max = hi, .flags = fl, .choices = ch, .def = d_,         \
        .doc = doc_, .off = OFF_(m), .count_off = -1, .null_off = -1                               \
    }
/* A row not stored in nas_job_spec (the API reads it: threads, a space). */
#define ROW0_(n, t, lo, hi, fl, d_, doc_)                                                          \
    {                                                                                              \
        .name = n, .type = t, .min = lo, .max = hi, .flags = fl, .def = d_, .doc = doc_,           \
        .off = -1, .count_off = -1, .null_off = -1                                                 \
    }
#define I_(m, lo, hi, d_, doc_) ROW_(#m, m, NAS_SPEC_INT, lo, hi, 0, NULL, d_, doc_)
#define AS_I_(n, m, lo, hi, d_, doc_) ROW_(n, m, NAS_SPEC_INT, lo, hi, 0, NULL, d_, doc_)
/* null: 0 in the engine (max_examples: all) */
#define IN_(m, lo, hi, d_, doc_)                                                                   \
    ROW_(#m, m, NAS_SPEC_INT, lo, hi, NAS_SPEC_NULLABLE, NULL, d_, doc_)
#define N_(m, lo, hi, d_, doc_) ROW_(#m, m, NAS_SPEC_NUM, lo, hi, 0, NULL, d_, doc_)
#define AS_N_(n, m, lo, hi, d_, doc_) ROW_(n, m, NAS_SPEC_NUM, lo, hi, 0, NULL, d_, doc_)
/* [lo, hi): rates the engine needs below hi (momentum, weight decay, dropout). */
#define NX_(m, lo, hi, d_, doc_)                                                                   \
    ROW_(#m, m, NAS_SPEC_NUM, lo, hi, NAS_SPEC_EXCL_MAX, NULL, d_, doc_)
#define AS_NX_(n, m, lo, hi, d_, doc_)                                                             \
    ROW_(n, m, NAS_SPEC_NUM, lo, hi, NAS_SPEC_EXCL_MAX, NULL, d_, doc_)
/* (0, hi]: learning rates and other strictly positive numbers. */
#define NP_(m, hi, d_, doc_) ROW_(#m, m, NAS_SPEC_NUM, 0, hi, NAS_SPEC_EXCL_MIN, NULL, d_, doc_)
#define AS_NP_(n, m, hi, d_, doc_)                                                                 \
    ROW_(n, m, NAS_SPEC_NUM, 0, hi, NAS_SPEC_EXCL_MIN, NULL, d_, doc_)
#define NNULL_(m, lo, hi, d_, doc_)                                                                \
    ROW_(#m, m, NAS_SPEC_NUM, lo, hi, NAS_SPEC_NULLABLE, NULL, d_, doc_)
#define B_(m, d_, doc_) ROW_(#m, m, NAS_SPEC_BOOL, 0, 0, 0, NULL, d_, doc_)
#define CI_(m, ch, d_, doc_) ROW_(#m, m, NAS_SPEC_INT, 0, 0, 0, ch, d_, doc_)
/* A string among choices; the engine gets its index at off (-1: none). */
#define CS_(n, off_, ch, d_, doc_)                                                                 \
    {                                                                                              \
        .name = n, .type = NAS_SPEC_STR, .choices = ch, .def = d_, .doc = doc_, .off = off_,       \
        .count_off = -1, .null_off = -1                                                            \
    }
/* An int list into m, its length into count. */
#define LIST_(n, m, count, lo, hi, k0, k1, d_, doc_)                                               \
    {                                                                                              \
        .name = n, .type = NAS_SPEC_INT_LIST, .min = lo, .max = hi, .def = d_, .min_items = k0,    \
        .max_items = k1, .doc = doc_, .off = OFF_(m), .count_off = OFF_(count), .null_off = -1     \
    }
#define IL_(m, lo, hi, k0, k1, d_, doc_) LIST_(#m, m, n##m, lo, hi, k0, k1, d_, doc_)
/* k floats in [lo, hi): arch_betas into arch_beta1 and arch_beta2. */
#define NL_(m, lo, hi, k, d_, doc_)                                                                \
    {                                                                                              \
        .name = #m, .type = NAS_SPEC_NUM_LIST, .min = lo, .max = hi, .flags = NAS_SPEC_EXCL_MAX,   \
        .def = d_, .min_items = k, .max_items = k, .doc = doc_, .off = OFF_(arch_beta1),           \
        .count_off = -1, .null_off = -1                                                            \
    }
/* threads is capped by the daemon's --threads-per-job: the API reads it. */
#define THREADS_                                                                                   \
    ROW0_("threads", NAS_SPEC_INT, 1, 64, NAS_SPEC_NULLABLE, "null",                               \
          "engine threads for this job, at most the daemon's --threads-per-job "                   \
          "(a larger value is lowered to it); null: --threads-per-job")
#define END_                                                                                       \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static_assert(offsetof(nas_job_spec, arch_beta2) ==
                  offsetof(nas_job_spec, arch_beta1) + sizeof(float),
              "arch_betas are two consecutive floats");

/* The image train rows read max_examples like the searches: the first
 * this many training images (the test set stays whole). */
#define TRAIN_MAX_EXAMPLES_                                                                        \
    IN_(max_examples, 2, 100000000, "null",                                                        \
        "train on the first this many training images (the test set stays whole); "                \
        "null: the whole training set")

/* Rows that many tables share word for word. */
#define MAX_VOCAB_(d_) I_(max_vocab, 0, 1000000, d_, "most frequent words kept; 0: all")
#define CLIP_(d_) N_(grad_clip, 0, 1e6, d_, "global L2 norm clip; 0: off")
/* The train kind's optimizer: cosine from lr to lr_min over the job. */
#define TRAIN_LR_(d_)                                                                              \
    NP_(lr, 100, d_, "peak learning rate; cosine decay to lr_min over the job"),                   \
        N_(lr_min, 0, 100, "0", "final learning rate of the cosine schedule (<= lr)")
#define AUGMENT_IMAGE_                                                                             \
    B_(augment, "false",                                                                           \
       "random crop, plus flip except on fashion-mnist and synthetic; "                            \
       "default true on cifar10, false otherwise")
/* The regularizers of quark0/darts train.py as the paper runs it
 * (--auxiliary --cutout, drop_path_prob 0.2): the train kind's darts-cnn
 * rows and darts' final_training. */
#define DARTS_CUTOUT_DOC_                                                                          \
    "cutout of a square of half the image side (16 on 32x32, 14 on 28x28) at a random "            \
    "centre, after the crop and flip, as quark0/darts train.py --cutout"
#define DARTS_DROP_PATH_DOC_                                                                       \
    "drop path probability of every op output but identities, scaled by (epoch - 1) / "            \
    "epochs as train.py's drop_path_prob; 0: off"
#define DARTS_AUX_DOC_                                                                             \
    "weight of the auxiliary head's loss (a head on the output of cell 2 layers/3, "               \
    "training only, as train.py --auxiliary); 0: no head"
#define DARTS_TRAIN_REG_                                                                           \
    B_(cutout, "true", DARTS_CUTOUT_DOC_), NX_(drop_path, 0, 1, "0.2", DARTS_DROP_PATH_DOC_),      \
        AS_N_("auxiliary_weight", aux_weight, 0, 100, "0.4", DARTS_AUX_DOC_)
#define AUGMENT_TEXT_                                                                              \
    ROW_("augment", augment, NAS_SPEC_BOOL, 0, 0, 0, "[false]", "false", "images only")
/* A random search's children: what trains them, and how many at once. */
#define RANDOM_CHILD_(bs_, what_)                                                                  \
    I_(batch_size, 1, 4096, bs_, NULL),                                                            \
        I_(child_epochs, 1, 10000, "5", "epochs each sampled " what_ " trains"),                   \
        AS_I_("parallel_children", children_per_update, 1, 256, "4",                               \
              "architectures trained concurrently")

/* The train kind's rows (spec_train.c). */
extern const nas_spec_field nas__spec_train_image_hp[];
extern const nas_spec_field nas__spec_train_text_hp[];
extern const nas_spec_field nas__spec_arch_fixed_cnn[];
extern const nas_spec_field nas__spec_arch_lstm_lm[];
extern const nas_spec_field nas__spec_train_darts_hp[];
extern const nas_spec_field nas__spec_arch_darts_cnn[];
extern const nas_spec_field nas__spec_train_darts_rnn_hp[];
extern const nas_spec_field nas__spec_arch_darts_rnn[];
extern const nas_spec_field nas__spec_train_rnn_cell_fixed[];
extern const nas_spec_field nas__spec_train_enas_micro_hp[];
extern const nas_spec_field nas__spec_train_enas_macro_hp[];
extern const nas_spec_field nas__spec_arch_enas_micro[];
extern const nas_spec_field nas__spec_arch_enas_macro[];
extern const nas_spec_field nas__spec_train_enas_rnn_hp[];
extern const nas_spec_field nas__spec_arch_enas_rnn[];
extern const nas_spec_field nas__spec_train_nasrl_cnn_hp[];
extern const nas_spec_field nas__spec_arch_nasrl_cnn[];
extern const nas_spec_field nas__spec_train_nasrl_rnn_hp[];
extern const nas_spec_field nas__spec_arch_nasrl_rnn[];

#endif
