// SPDX-License-Identifier: MIT
/*
 * test_spec_engine.c - a normalized job spec into the engine's struct
 * (api_spec_to_engine): every field of train, darts and enas-rnn in its
 * member, a darts-cnn genotype to train (defaults filled in, every error
 * naming its entry), threads capped by the daemon's --threads-per-job,
 * and a refusal of the engine's own checks as a 400 naming the field.
 *
 * The one design decision to know: as in test_spec.c (spec_fixture.h),
 * every error test asserts the status, the slug and the JSON pointer.
 */
#include "spec_fixture.h"

Test(spec, to_engine_fills_the_train_struct)
{
    api_problem e = {0};
    api_spec_paths paths = {.fashion_mnist_dir = "/data/fm", .ptb_dir = "/data/ptb"};
    nas_job_spec js;
    json_t *s = ok("{\"algorithm\":\"train\",\"seed\":99,\"budget\":{\"epochs\":2},"
                   "\"architecture\":{\"channels\":[4,8,16],\"hidden\":32}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 3, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.algorithm, "train");
    cr_assert_str_eq(js.dataset, "fashion-mnist");
    cr_assert_str_eq(js.data_path, "/data/fm");
    cr_assert_eq(js.arch, NAS_ARCH_FIXED_CNN);
    cr_assert_eq(js.nblocks, 3);
    cr_assert_eq(js.channels[2], 16);
    cr_assert_eq(js.hidden, 32);
    cr_assert_eq(js.epochs, 2);
    cr_assert_eq(js.seed, 99);
    cr_assert_eq(js.threads, 3);
    cr_assert_eq(js.batch_size, 64);
    cr_assert_float_eq(js.lr, 0.02f, 1e-7);
    cr_assert_float_eq(js.weight_decay, 5e-4f, 1e-9);
    cr_assert_eq(js.nesterov, 1);
    cr_assert_null(js.checkpoint_path);
    json_decref(s);

    s = ok("{\"algorithm\":\"train\",\"dataset\":\"ptb\",\"hyperparameters\":{\"threads\":2}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 3, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.arch, NAS_ARCH_LSTM_LM);
    cr_assert_str_eq(js.data_path, "/data/ptb");
    cr_assert_eq(js.embed, 128);
    cr_assert_eq(js.max_vocab, 10000);
    cr_assert_eq(js.threads, 2);
    cr_assert_float_eq(js.grad_clip, 0.25f, 1e-7);
    json_decref(s);

    s = ok("{\"algorithm\":\"train\",\"dataset\":\"synthetic\"}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0);
    cr_assert_null(js.data_path);
    json_decref(s);

    /* enas over the CNN spaces (issue #5): the reference's defaults. */
    s = ok("{\"algorithm\":\"enas\"}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.search_space, "enas-micro");
    cr_assert(js.C == 20 && js.layers == 6 && js.nodes == 5 && js.batch_size == 160 &&
              js.epochs == 150 && js.lr_t0 == 10 && js.lr_t_mul == 2 && js.nesterov == 1 &&
              js.ctrl_hidden == 64 && js.ctrl_layers == 1 && js.ctrl_steps == 30 &&
              js.ctrl_aggregate == 10 && js.final_samples == 100 && js.max_examples == 0);
    cr_assert_float_eq(js.ctrl_tanh, 1.1f, 1e-7);
    cr_assert_float_eq(js.ctrl_op_tanh_reduce, 2.5f, 1e-7);
    cr_assert_float_eq(js.drop_path, 0.4f, 1e-7);
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"hyperparameters\":"
           "{\"tanh_constant\":null,\"max_examples\":64}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.search_space, "enas-macro");
    cr_assert(js.C == 36 && js.layers == 12 && js.max_examples == 64 && js.ctrl_tanh == 0.0f);
    cr_assert_float_eq(js.ctrl_skip_target, 0.4f, 1e-7);
    cr_assert_float_eq(js.ctrl_skip_weight, 0.8f, 1e-7);
    json_decref(s);
    /* final training: enas-micro takes epochs, C and layers; enas-macro
     * epochs and C (its arc fixes the layers); enas-rnn epochs; nas-rl
     * epochs (issue #14). */
    s = ok("{\"algorithm\":\"enas\",\"final_training\":{\"enabled\":true,\"epochs\":2,"
           "\"C\":12,\"layers\":5}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_epochs == 2 && js.final_C == 12 && js.final_layers == 5);
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"final_training\":"
           "{\"enabled\":true,\"epochs\":2,\"C\":12,\"layers\":5}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_epochs == 2 && js.final_C == 12 && js.final_layers == 0);
    json_decref(s);
    /* The final scripts' dropout and micro's drop path: a null default
     * resolved by space (cifar10_micro_final.sh child_keep_prob 0.80,
     * child_drop_path_keep_prob 0.60; cifar10_macro_final.sh 0.50). */
    s = ok("{\"algorithm\":\"enas\",\"final_training\":{\"enabled\":true}}");
    cr_assert_float_eq(num_at(s, "final_training", "dropout"), 0.2, 1e-12);
    cr_assert_float_eq(num_at(s, "final_training", "drop_path"), 0.4, 1e-12);
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_dropout == 0.2f && js.drop_path == 0.4f && js.dropout == 0.1f);
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"hyperparameters\":{\"drop_path\":0.3},"
           "\"final_training\":{\"enabled\":true,\"dropout\":0,\"drop_path\":0}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_dropout == 0.0f && js.drop_path == 0.0f, "0 turns them off");
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"final_training\":"
           "{\"enabled\":true,\"drop_path\":0.3}}");
    cr_assert_float_eq(num_at(s, "final_training", "dropout"), 0.5, 1e-12);
    cr_assert(json_is_number(json_object_get(json_object_get(s, "final_training"), "drop_path")));
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_dropout == 0.5f && js.drop_path == 0.0f, "macro has no drop path");
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\",\"final_training\":"
           "{\"enabled\":true,\"epochs\":3}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_epochs == 3 && js.final_C == 0);
    json_decref(s);
    s = ok("{\"algorithm\":\"nas-rl\",\"final_training\":{\"enabled\":true,\"epochs\":4}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.final_epochs == 4 && js.final_C == 0);
    json_decref(s);
}

Test(spec, to_engine_fills_the_darts_struct)
{
    api_problem e = {0};
    api_spec_paths paths = {.fashion_mnist_dir = "/data/fm"};
    nas_job_spec js;
    /* Every default of issue #4. */
    json_t *s = ok("{\"seed\":5}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 2, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.algorithm, "darts");
    cr_assert_str_eq(js.search_space, "darts-cnn");
    cr_assert_str_eq(js.dataset, "fashion-mnist");
    cr_assert_str_eq(js.data_path, "/data/fm");
    cr_assert_eq(js.arch, NAS_ARCH_DEFAULT);
    cr_assert_eq(js.epochs, 50);
    cr_assert_eq(js.seed, 5);
    cr_assert_eq(js.threads, 2);
    cr_assert(js.batch_size == 64 && js.C == 16 && js.layers == 8 && js.order == 1);
    cr_assert(js.lr == 0.025f && js.lr_min == 0.001f && js.momentum == 0.9f &&
              js.weight_decay == 3e-4f && js.grad_clip == 5.0f);
    cr_assert(js.arch_lr == 3e-4f && js.arch_beta1 == 0.5f && js.arch_beta2 == 0.999f &&
              js.arch_weight_decay == 1e-3f && js.train_portion == 0.5f);
    cr_assert_eq(js.max_examples, 0, "null: the whole training set");
    cr_assert(js.dropout == 0.0f && js.nesterov == 0 && js.augment == 0);
    cr_assert_null(js.checkpoint_path);
    json_decref(s);

    /* What the user gives arrives as given. */
    s = ok("{\"algorithm\":\"darts\",\"search_space\":\"darts-cnn\","
           "\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1,\"max_seconds\":30},"
           "\"hyperparameters\":{\"C\":4,\"layers\":3,\"batch_size\":16,\"order\":2,"
           "\"lr\":0.05,\"lr_min\":0,\"arch_lr\":0.001,\"arch_betas\":[0.9,0.99],"
           "\"arch_weight_decay\":0,\"train_portion\":0.8,\"max_examples\":100,"
           "\"threads\":1}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 2, &js, &e), 0, "%s", e.detail);
    cr_assert_null(js.data_path);
    cr_assert(js.C == 4 && js.layers == 3 && js.batch_size == 16 && js.order == 2);
    cr_assert(js.epochs == 1 && js.max_seconds == 30.0 && js.threads == 1);
    cr_assert(js.lr == 0.05f && js.lr_min == 0.0f && js.arch_lr == 0.001f);
    cr_assert(js.arch_beta1 == 0.9f && js.arch_beta2 == 0.99f);
    cr_assert(js.arch_weight_decay == 0.0f && js.train_portion == 0.8f);
    cr_assert_eq(js.max_examples, 100);
    json_decref(s);

    /* darts-rnn: the reference's defaults, lr_min null = lr (constant). */
    s = ok("{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\"}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.search_space, "darts-rnn");
    cr_assert_str_eq(js.dataset, "fortunes");
    cr_assert(js.batch_size == 256 && js.embed == 300 && js.hidden == 300 && js.bptt == 35 &&
              js.max_vocab == 10000 && js.order == 1);
    cr_assert(js.lr == 20.0f && js.lr_min == 20.0f && js.momentum == 0.0f &&
              js.weight_decay == 5e-7f && js.grad_clip == 0.25f);
    cr_assert(js.dropout == 0.75f && js.dropout_input == 0.2f);
    cr_assert(js.arch_lr == 3e-3f && js.arch_beta1 == 0.9f && js.arch_beta2 == 0.999f &&
              js.arch_weight_decay == 1e-3f);
    json_decref(s);

    s = ok("{\"algorithm\":\"darts\",\"search_space\":\"darts-rnn\",\"dataset\":\"ptb\","
           "\"hyperparameters\":{\"embed\":8,\"hidden\":16,\"bptt\":5,\"lr_min\":1,"
           "\"dropout\":0,\"dropout_i\":0.1,\"order\":2}}");
    cr_assert_eq(api_spec_to_engine(s, &paths, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.embed == 8 && js.hidden == 16 && js.bptt == 5 && js.order == 2);
    cr_assert(js.lr_min == 1.0f && js.dropout == 0.0f && js.dropout_input == 0.1f);
    json_decref(s);
}

/* ------------------------------------------------ train on a darts genotype */

/* A DARTS_V2-like cell pair as a darts-cnn search reports it, without the
 * concat lists (they default). */
#define NORMAL_                                                                                    \
    "[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],"        \
    "[\"sep_conv_3x3\",1],[\"skip_connect\",0],[\"skip_connect\",0],[\"dil_conv_3x3\",2]]"
#define REDUCE_                                                                                    \
    "[[\"max_pool_3x3\",0],[\"max_pool_3x3\",1],[\"skip_connect\",2],[\"max_pool_3x3\",1],"        \
    "[\"max_pool_3x3\",0],[\"skip_connect\",2],[\"skip_connect\",2],[\"max_pool_3x3\",1]]"

/* A train body on a darts-cnn architecture whose genotype is
 * {"normal": normal, "reduce": reduce<extra>}. */
static const char *darts_train(const char *normal, const char *reduce, const char *extra)
{
    static char body[2048];
    snprintf(body, sizeof body,
             "{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\","
             "\"genotype\":{\"normal\":%s,\"reduce\":%s%s}}}",
             normal, reduce, extra);
    return body;
}

/* cell with entry i replaced by `entry` (JSON text); a static buffer. */
static const char *cell_with(const char *cell, size_t i, const char *entry)
{
    static char out[1024];
    json_t *c = json_loads(cell, 0, NULL);
    char *text;
    cr_assert(c && json_array_set_new(c, i, json_loads(entry, JSON_DECODE_ANY, NULL)) == 0);
    text = json_dumps(c, JSON_COMPACT);
    snprintf(out, sizeof out, "%s", text);
    free(text);
    json_decref(c);
    return out;
}

/* The engine's typed cells back as compact JSON, through nas.h's op
 * names: what the API converted, spelled as the user gave it. */
static const char *cells_text(const nas_darts_genotype *gt)
{
    static char out[1024];
    const nas_darts_gene *cells[2] = {&gt->normal, &gt->reduce};
    const int *concat[2] = {gt->normal_concat, gt->reduce_concat};
    const int nconcat[2] = {gt->n_normal_concat, gt->n_reduce_concat};
    size_t n = 0;
    for (int c = 0; c < 2; c++) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s\"%s\":[", c ? "," : "{",
                              c ? "reduce" : "normal");
        for (int i = 0; i < 2 * NAS_DARTS_NODES; i++)
            n += (size_t)snprintf(out + n, sizeof out - n, "%s[\"%s\",%d]", i ? "," : "",
                                  nas_darts_op_name(cells[c]->op[i / 2][i % 2]),
                                  cells[c]->from[i / 2][i % 2]);
        n +=
            (size_t)snprintf(out + n, sizeof out - n, "],\"%s_concat\":[", c ? "reduce" : "normal");
        for (int i = 0; i < nconcat[c]; i++)
            n += (size_t)snprintf(out + n, sizeof out - n, "%s%d", i ? "," : "", concat[c][i]);
        n += (size_t)snprintf(out + n, sizeof out - n, "]");
    }
    snprintf(out + n, sizeof out - n, "}");
    return out;
}

Test(spec, a_darts_genotype_trains_with_defaults_filled_in)
{
    api_problem e = {0};
    nas_job_spec js;
    json_t *s = ok(darts_train(NORMAL_, REDUCE_, ""));
    json_t *arch = json_object_get(s, "architecture"), *g = json_object_get(arch, "genotype");
    json_t *hp = json_object_get(s, "hyperparameters");
    json_t *want = json_loads("{\"normal\":" NORMAL_ ",\"normal_concat\":[2,3,4,5],"
                              "\"reduce\":" REDUCE_ ",\"reduce_concat\":[2,3,4,5]}",
                              0, NULL);

    cr_assert_str_eq(json_string_value(json_object_get(s, "dataset")), "fashion-mnist");
    cr_assert_str_eq(json_string_value(json_object_get(arch, "space")), "darts-cnn");
    cr_assert(json_equal(g, want), "%s", json_dumps(g, JSON_COMPACT));
    cr_assert_eq(num_at(s, "architecture", "C"), 16);
    cr_assert_eq(num_at(s, "architecture", "layers"), 8);
    cr_assert_eq(num_at(s, "budget", "epochs"), 3);
    /* The reference's train.py optimizer, as the search's final training. */
    cr_assert_float_eq(num_at(s, "hyperparameters", "lr"), 0.025, 1e-12);
    cr_assert_float_eq(num_at(s, "hyperparameters", "weight_decay"), 3e-4, 1e-12);
    cr_assert_eq(num_at(s, "hyperparameters", "grad_clip"), 5);
    cr_assert(json_is_false(json_object_get(hp, "nesterov")));
    cr_assert(json_is_null(json_object_get(hp, "dropout")), "no dropout layer");

    /* The engine gets the genotype as typed cells. */
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.arch, NAS_ARCH_DARTS_CNN);
    cr_assert(js.C == 16 && js.layers == 8 && js.epochs == 3 && js.batch_size == 64);
    cr_assert(js.lr == 0.025f && js.weight_decay == 3e-4f && js.grad_clip == 5.0f &&
              js.nesterov == 0 && js.dropout == 0.0f);
    cr_assert_eq(js.darts_cnn.normal.op[0][0], NAS_DARTS_SEP_CONV_3X3);
    cr_assert_eq(js.darts_cnn.reduce.from[1][0], 2);
    cr_assert_str_eq(cells_text(&js.darts_cnn),
                     "{\"normal\":" NORMAL_ ",\"normal_concat\":[2,3,4,5],"
                     "\"reduce\":" REDUCE_ ",\"reduce_concat\":[2,3,4,5]}");
    json_decref(want);
    json_decref(s);

    /* Given values arrive; integral reals are integers; no genotype is DARTS_V2. */
    s = ok("{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":{"
           "\"space\":\"darts-cnn\",\"C\":4,\"layers\":3,\"genotype\":{\"normal\":" NORMAL_
           ",\"reduce\":" REDUCE_ ",\"reduce_concat\":[5,2.0]}}}");
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert(js.C == 4 && js.layers == 3);
    cr_assert(js.darts_cnn.n_reduce_concat == 2 && js.darts_cnn.reduce_concat[0] == 5 &&
              js.darts_cnn.reduce_concat[1] == 2);
    json_decref(s);
    s = ok("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\"}}");
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(cells_text(&js.darts_cnn),
                     "{\"normal\":" NORMAL_ ",\"normal_concat\":[2,3,4,5],"
                     "\"reduce\":" REDUCE_ ",\"reduce_concat\":[2,3,4,5]}");
    cr_assert_eq(api_spec_implemented(s, &e), 0);
    json_decref(s);

    /* A darts result pasted as is (concat lists included) round-trips. */
    s = ok(darts_train(NORMAL_, REDUCE_,
                       ",\"normal_concat\":[2,3,4,5],"
                       "\"reduce_concat\":[2,3,4,5]"));
    json_decref(s);
}

/* A darts-rnn train body whose genotype is {"recurrent": rec<extra>}. */
static const char *darts_rnn_train(const char *rec, const char *extra)
{
    static char body[1024];
    snprintf(body, sizeof body,
             "{\"algorithm\":\"train\",\"dataset\":\"ptb\",\"architecture\":{\"space\":"
             "\"darts-rnn\",\"genotype\":{\"recurrent\":%s%s}}}",
             rec, extra);
    return body;
}

#define RECURRENT_                                                                                 \
    "[[\"sigmoid\",0],[\"relu\",1],[\"relu\",1],[\"identity\",1],[\"tanh\",2],[\"sigmoid\",5],"    \
    "[\"tanh\",3],[\"relu\",5]]"

Test(spec, a_darts_rnn_genotype_is_parsed_once_into_the_engines_cell)
{
    api_problem e = {0};
    nas_job_spec js;
    json_t *s = ok(darts_rnn_train(RECURRENT_, ",\"concat\":[8,1.0]"));
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.arch, NAS_ARCH_DARTS_RNN);
    cr_assert(js.darts_rnn.op[0] == NAS_DARTS_RNN_SIGMOID && js.darts_rnn.from[5] == 5 &&
              js.darts_rnn.op[7] == NAS_DARTS_RNN_RELU);
    cr_assert(js.darts_rnn.nconcat == 2 && js.darts_rnn.concat[0] == 8 &&
              js.darts_rnn.concat[1] == 1);
    json_decref(s);
    s = ok(darts_rnn_train(RECURRENT_, ""));
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.darts_rnn.nconcat, 8, "concat defaults to every node");
    /* A job resumed after a restart: its spec stored as JSON text, read
     * back and converted by the same code, gives the same cell. */
    char *stored = json_dumps(s, JSON_COMPACT);
    json_t *back = json_loads(stored, 0, NULL);
    nas_job_spec again;
    cr_assert_eq(api_spec_to_engine(back, NULL, 1, &again, &e), 0, "%s", e.detail);
    cr_assert(memcmp(&again.darts_rnn, &js.darts_rnn, sizeof js.darts_rnn) == 0);
    free(stored);
    json_decref(back);
    json_decref(s);

    /* Errors name the entry, as darts-cnn's. */
    e = fails(darts_rnn_train("[[\"none\",0]]", ""), 400, "invalid-field",
              "/architecture/genotype/recurrent");
    api_problem_clear(&e);
    e = fails(darts_rnn_train(cell_with(RECURRENT_, 2, "[\"conv\",1]"), ""), 400, "invalid-field",
              "/architecture/genotype/recurrent/2/0");
    cr_assert_eq(json_array_size(e.allowed), 4);
    api_problem_clear(&e);
    e = fails(darts_rnn_train(cell_with(RECURRENT_, 0, "[\"tanh\",1]"), ""), 400, "invalid-field",
              "/architecture/genotype/recurrent/0/1");
    cr_assert(strstr(e.detail, "node 1"), "%s", e.detail);
    api_problem_clear(&e);
    e = fails(darts_rnn_train(RECURRENT_, ",\"concat\":[0]"), 400, "invalid-field",
              "/architecture/genotype/concat/0");
    api_problem_clear(&e);
    e = fails(darts_rnn_train(RECURRENT_, ",\"cells\":1"), 400, "unknown-field",
              "/architecture/genotype/cells");
    api_problem_clear(&e);
}

Test(spec, darts_genotype_errors_name_the_entry_and_what_is_allowed)
{
    api_problem e;

    /* "none" and unknown ops: the op's pointer, the 7 ops allowed. */
    e = fails(darts_train(cell_with(NORMAL_, 3, "[\"none\",1]"), REDUCE_, ""), 400, "invalid-field",
              "/architecture/genotype/normal/3/0");
    cr_assert_eq(json_array_size(e.allowed), 7);
    cr_assert(strstr(e.detail, "\"skip_connect\"") && strstr(e.detail, "zero op"), "%s", e.detail);
    api_problem_clear(&e);
    e = fails(darts_train(NORMAL_, cell_with(REDUCE_, 0, "[\"conv_7x1_1x7\",0]"), ""), 400,
              "invalid-field", "/architecture/genotype/reduce/0/0");
    cr_assert_eq(json_array_size(e.allowed), 7);
    api_problem_clear(&e);

    /* Inputs: entry 2k and 2k+1 are node k's and read 0..k+1. */
    e = fails(darts_train(cell_with(NORMAL_, 0, "[\"sep_conv_3x3\",2]"), REDUCE_, ""), 400,
              "invalid-field", "/architecture/genotype/normal/0/1");
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "maximum")), 1);
    cr_assert(strstr(e.detail, "node 0"), "%s", e.detail);
    api_problem_clear(&e);
    e = fails(darts_train(cell_with(NORMAL_, 7, "[\"dil_conv_3x3\",5]"), REDUCE_, ""), 400,
              "invalid-field", "/architecture/genotype/normal/7/1");
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "maximum")), 4);
    api_problem_clear(&e);
    e = fails(darts_train(cell_with(NORMAL_, 0, "[\"sep_conv_3x3\",-1]"), REDUCE_, ""), 400,
              "invalid-field", "/architecture/genotype/normal/0/1");
    api_problem_clear(&e);
    e = fails(darts_train(cell_with(NORMAL_, 0, "[\"sep_conv_3x3\",\"0\"]"), REDUCE_, ""), 400,
              "invalid-field", "/architecture/genotype/normal/0/1");
    api_problem_clear(&e);

    /* Shapes: 8 pairs, each a pair; normal and reduce required. */
    e = fails(darts_train("[[\"sep_conv_3x3\",0]]", REDUCE_, ""), 400, "invalid-field",
              "/architecture/genotype/normal");
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "minItems")), 8);
    api_problem_clear(&e);
    e = fails(darts_train(cell_with(NORMAL_, 0, "[\"sep_conv_3x3\",0,1]"), REDUCE_, ""), 400,
              "invalid-field", "/architecture/genotype/normal/0");
    api_problem_clear(&e);
    e = fails(darts_train("{}", REDUCE_, ""), 400, "invalid-field",
              "/architecture/genotype/normal");
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\","
              "\"genotype\":{\"normal\":" NORMAL_ "}}}",
              400, "invalid-field", "/architecture/genotype/reduce");
    cr_assert(strstr(e.detail, "required"), "%s", e.detail);
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\","
              "\"genotype\":\"DARTS_V2\"}}",
              400, "invalid-field", "/architecture/genotype");
    api_problem_clear(&e);
    e = fails(darts_train(NORMAL_, REDUCE_, ",\"concat\":[2]"), 400, "unknown-field",
              "/architecture/genotype/concat");
    cr_assert_eq(json_array_size(e.allowed), 4);
    api_problem_clear(&e);

    /* Concat lists: 1 to 4 distinct nodes in 2..5. */
    e = fails(darts_train(NORMAL_, REDUCE_, ",\"normal_concat\":[2,6]"), 400, "invalid-field",
              "/architecture/genotype/normal_concat/1");
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "maximum")), 5);
    api_problem_clear(&e);
    e = fails(darts_train(NORMAL_, REDUCE_, ",\"reduce_concat\":[3,4,3]"), 400, "invalid-field",
              "/architecture/genotype/reduce_concat/2");
    api_problem_clear(&e);
    e = fails(darts_train(NORMAL_, REDUCE_, ",\"reduce_concat\":[]"), 400, "invalid-field",
              "/architecture/genotype/reduce_concat");
    api_problem_clear(&e);

    /* The network: C, layers (>= 3: a normal cell and two reductions), images only. */
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\",\"layers\":2}}",
              400, "invalid-field", "/architecture/layers");
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "minimum")), 3);
    cr_assert_eq(json_integer_value(json_object_get(e.allowed, "maximum")), 64);
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\",\"C\":0}}", 400,
              "invalid-field", "/architecture/C");
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"dataset\":\"fortunes\","
              "\"architecture\":{\"space\":\"darts-cnn\"}}",
              400, "invalid-field", "/dataset");
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\"},"
              "\"hyperparameters\":{\"dropout\":0.2}}",
              400, "invalid-field", "/hyperparameters/dropout");
    api_problem_clear(&e);
    e = fails("{\"algorithm\":\"train\",\"architecture\":{\"space\":\"darts-cnn\","
              "\"channels\":[8]}}",
              400, "unknown-field", "/architecture/channels");
    api_problem_clear(&e);
}

Test(spec, to_engine_fills_the_enas_rnn_struct)
{
    api_problem e = {0};
    nas_job_spec js;
    json_t *s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\",\"hyperparameters\":"
                   "{\"nodes\":6,\"tanh_constant\":null,\"dropout_o\":0}}");
    cr_assert_eq(api_spec_implemented(s, &e), 0, "%s", e.detail);
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_str_eq(js.algorithm, "enas");
    cr_assert_str_eq(js.search_space, "enas-rnn");
    cr_assert_str_eq(js.dataset, "fortunes");
    cr_assert(js.nodes == 6 && js.hidden == 720 && js.bptt == 35 && js.batch_size == 20);
    cr_assert(js.epochs == 100 && js.lr_decay_start == 12 && js.momentum == 0.0f);
    cr_assert_float_eq(js.lr, 0.25f, 1e-7);
    cr_assert_float_eq(js.lr_min, 0.0005f, 1e-9);
    cr_assert_float_eq(js.lr_decay_rate, 0.95f, 1e-7);
    cr_assert_float_eq(js.grad_clip, 10.0f, 1e-7);
    cr_assert(js.dropout_e == 0.25f && js.dropout_x == 0.75f && js.dropout_h == 0.25f &&
              js.dropout_o == 0.0f && js.dropout == 0.0f);
    cr_assert(js.ctrl_hidden == 100 && js.ctrl_layers == 1 && js.ctrl_steps == 100 &&
              js.ctrl_aggregate == 10 && js.final_samples == 100);
    cr_assert(js.ctrl_tanh == 0.0f, "null tanh_constant is off");
    cr_assert_float_eq(js.ctrl_temperature, 5.0f, 1e-7);
    cr_assert_float_eq(js.ctrl_lr, 0.001f, 1e-9);
    cr_assert_float_eq(js.ctrl_entropy_weight, 0.001f, 1e-9);
    cr_assert_float_eq(js.ctrl_baseline_decay, 0.99f, 1e-7);
    cr_assert_float_eq(js.reward_c, 80.0f, 1e-7);
    json_decref(s);

    /* Its final training runs (epochs; the search's model is kept). */
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-rnn\","
           "\"final_training\":{\"enabled\":true,\"epochs\":2}}");
    cr_assert_eq(api_spec_implemented(s, &e), 0, "%s", e.detail);
    cr_assert_eq(api_spec_to_engine(s, NULL, 1, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.final_epochs, 2);
    json_decref(s);
}

Test(spec, threads_never_exceed_the_configured_threads_per_job)
{
    api_problem e = {0};
    nas_job_spec js;
    /* Fewer than --threads-per-job: as asked. */
    json_t *s = ok("{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
                   "\"hyperparameters\":{\"threads\":1}}");
    cr_assert_eq(api_spec_to_engine(s, NULL, 4, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.threads, 1);
    json_decref(s);
    /* More: lowered to it (train and the nas-rl/random conversion alike). */
    s = ok("{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
           "\"hyperparameters\":{\"threads\":64}}");
    cr_assert_eq(api_spec_to_engine(s, NULL, 4, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.threads, 4);
    json_decref(s);
    s = ok("{\"algorithm\":\"random\",\"search_space\":\"nasrl-cnn\",\"dataset\":\"synthetic\","
           "\"hyperparameters\":{\"threads\":64}}");
    cr_assert_eq(api_spec_to_engine(s, NULL, 2, &js, &e), 0, "%s", e.detail);
    cr_assert_eq(js.threads, 2);
    json_decref(s);
    /* Over the engine's 64: refused by the table, naming the field. */
    api_problem p = fails("{\"algorithm\":\"train\",\"hyperparameters\":{\"threads\":65}}", 400,
                          "invalid-field", "/hyperparameters/threads");
    api_problem_clear(&p);
}

Test(spec, the_engine_refusal_is_a_400_naming_the_field)
{
    /* Rates the engine needs below 1 are refused by the tables... */
    api_problem p = fails("{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
                          "\"hyperparameters\":{\"momentum\":1}}",
                          400, "invalid-field", "/hyperparameters/momentum");
    api_problem_clear(&p);
    p = fails("{\"algorithm\":\"train\",\"dataset\":\"synthetic\","
              "\"hyperparameters\":{\"weight_decay\":1}}",
              400, "invalid-field", "/hyperparameters/weight_decay");
    api_problem_clear(&p);
    /* ...and what only the engine knows (an odd enas-macro C) by its own
     * preparation, through api_spec_implemented, with the field's pointer. */
    api_problem e = {0};
    json_t *s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\","
                   "\"dataset\":\"synthetic\",\"hyperparameters\":{\"C\":3}}");
    cr_assert_eq(api_spec_implemented(s, &e), -1);
    cr_assert_eq(e.status, 400);
    cr_assert_str_eq(e.pointer, "/hyperparameters/C", "%s", e.detail);
    cr_assert(strstr(e.detail, "even"), "%s", e.detail);
    api_problem_clear(&e);
    json_decref(s);
    s = ok("{\"algorithm\":\"enas\",\"search_space\":\"enas-macro\",\"dataset\":\"synthetic\","
           "\"final_training\":{\"enabled\":true,\"C\":5}}");
    cr_assert_eq(api_spec_implemented(s, &e), -1);
    cr_assert_str_eq(e.pointer, "/final_training/C", "%s", e.detail);
    api_problem_clear(&e);
    json_decref(s);
}
