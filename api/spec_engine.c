/*
 * spec_engine.c - the engine's view of a normalized spec: whether this
 * version can run it (501 otherwise), whether the engine's own checks
 * pass (400 otherwise) and its conversion to nas_job_spec.
 *
 * The one design decision to know: conversion trusts normalization. It
 * reads the stored spec's already-checked values without re-validating
 * them, and any value missing or of the wrong type means the spec was not
 * normalized, which is a 500, never a 400. What the API acknowledges the
 * engine must run, so before a job is stored the converted spec goes
 * through the engine's own preparation checks (nas_job_validate): a
 * range the tables allow but the engine refuses becomes a 400 naming the
 * field here, never a job that fails once it starts.
 */
#include "spec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int algo_implemented(const char *algorithm)
{
    for (size_t i = 0; i < API__SPEC_N_SPACE_ROWS; i++)
        if (!strcmp(api__spec_space_rows[i].algorithm, algorithm) &&
            api__spec_space_rows[i].implemented)
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

/* Whether this version runs (algorithm, search space, final training) at
 * all: the 501s. */
static int runs_here(const json_t *spec, api_problem *err)
{
    const char *algorithm = json_string_value(json_object_get(spec, "algorithm"));
    const char *space = json_string_value(json_object_get(spec, "search_space"));
    const json_t *ft = json_object_get(spec, "final_training");
    const char *avail[API__SPEC_N_SPACE_ROWS];
    char what[96];
    size_t n = 0, i;

    for (i = 0; algorithm && i < API__SPEC_N_ALGOS; i++)
        if (!strcmp(api__spec_algo_rows[i].name, algorithm)) break;
    if (!algorithm || i == API__SPEC_N_ALGOS)
        return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                               "spec has no known algorithm");
    if (!algo_implemented(algorithm)) {
        for (size_t k = 0; k < API__SPEC_N_ALGOS; k++)
            if (algo_implemented(api__spec_algo_rows[k].name))
                avail[n++] = api__spec_algo_rows[k].name;
        snprintf(what, sizeof what, "algorithm \"%s\"", algorithm);
        return not_implemented("/algorithm", what, avail, n, err);
    }
    if (space) {
        const space_row *row = api__spec_find_row(algorithm, space);
        if (!row)
            return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                                   "spec has no known search_space");
        if (!row->implemented) {
            for (size_t k = 0; k < API__SPEC_N_SPACE_ROWS; k++)
                if (!strcmp(api__spec_space_rows[k].algorithm, algorithm) &&
                    api__spec_space_rows[k].implemented)
                    avail[n++] = api__spec_space_rows[k].space;
            snprintf(what, sizeof what, "search space \"%s\" of algorithm \"%s\"", space,
                     algorithm);
            return not_implemented("/search_space", what, avail, n, err);
        }
    }
    if (json_is_true(json_object_get(ft, "enabled")) && strcmp(algorithm, "darts") &&
        strcmp(algorithm, "enas"))
        return api_problem_set(err, 0, API_PROBLEM_NOT_IMPLEMENTED, "/final_training/enabled",
                               "final_training is not implemented yet for this search "
                               "space (only darts-cnn, darts-rnn, enas-micro, enas-macro "
                               "and enas-rnn)");
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
    ft = json_object_get(spec, "final_training");
    if (json_is_true(json_object_get(ft, "enabled")))
        bad |= get_int(ft, "epochs", &out->final_epochs);
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
    if (json_is_true(json_object_get(ft, "enabled"))) {
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

static int is_enas_rnn(const json_t *spec)
{
    const char *space = json_string_value(json_object_get(spec, "search_space"));
    return space && !strcmp(space, "enas-rnn");
}

/* The enas-rnn fields: the language model, its dropouts, the lr decay and
 * the controller (lstm_layers is 1: not a key of this space). */
static int enas_rnn_to_engine(const json_t *hp, nas_job_spec *out)
{
    const json_t *tanh_c = json_object_get(hp, "tanh_constant");
    int bad = 0;

    out->search_space = "enas-rnn";
    bad |= get_int(hp, "nodes", &out->nodes);
    bad |= get_int(hp, "hidden", &out->hidden);
    bad |= get_int(hp, "bptt", &out->bptt);
    bad |= get_int(hp, "lr_decay_start", &out->lr_decay_start);
    bad |= get_float(hp, "lr_decay_rate", &out->lr_decay_rate);
    bad |= get_float(hp, "dropout_e", &out->dropout_e);
    bad |= get_float(hp, "dropout_x", &out->dropout_x);
    bad |= get_float(hp, "dropout_h", &out->dropout_h);
    bad |= get_float(hp, "dropout_o", &out->dropout_o);
    bad |= get_int(hp, "lstm_size", &out->ctrl_hidden);
    out->ctrl_layers = 1;
    bad |= get_float(hp, "controller_lr", &out->ctrl_lr);
    bad |= get_float(hp, "entropy_weight", &out->ctrl_entropy_weight);
    if (json_is_null(tanh_c)) out->ctrl_tanh = 0.0f;   /* off */
    else bad |= get_float(hp, "tanh_constant", &out->ctrl_tanh);
    bad |= get_float(hp, "temperature", &out->ctrl_temperature);
    bad |= get_float(hp, "baseline_decay", &out->ctrl_baseline_decay);
    bad |= get_int(hp, "controller_steps", &out->ctrl_steps);
    bad |= get_int(hp, "controller_aggregate", &out->ctrl_aggregate);
    bad |= get_float(hp, "reward_c", &out->reward_c);
    bad |= get_int(hp, "final_samples", &out->final_samples);
    return bad;
}

/* enas-rnn's final training: epochs only (the search's model is kept). */
static int enas_rnn_final_to_engine(const json_t *spec, nas_job_spec *out)
{
    const json_t *ft = json_object_get(spec, "final_training");
    if (!json_is_true(json_object_get(ft, "enabled"))) return 0;
    return get_int(ft, "epochs", &out->final_epochs);
}

/* The enas fields of the CNN spaces (enas-micro, enas-macro): the shared
 * network, its schedule and the controller (1 LSTM layer and Nesterov
 * momentum, as in the reference; neither is a key). */
static int enas_to_engine(const json_t *spec, const json_t *hp, nas_job_spec *out)
{
    const json_t *v;
    int bad = 0;

    out->search_space = json_string_value(json_object_get(spec, "search_space"));
    if (!out->search_space) return -1;
    bad |= get_int(hp, "C", &out->C);
    bad |= get_int(hp, "layers", &out->layers);
    bad |= get_int(hp, "lr_t0", &out->lr_t0);
    bad |= get_int(hp, "lr_t_mul", &out->lr_t_mul);
    bad |= get_float(hp, "dropout", &out->dropout);
    out->nesterov = 1;
    out->ctrl_layers = 1;
    bad |= get_int(hp, "lstm_size", &out->ctrl_hidden);
    bad |= get_float(hp, "controller_lr", &out->ctrl_lr);
    bad |= get_float(hp, "entropy_weight", &out->ctrl_entropy_weight);
    if (json_is_null(json_object_get(hp, "tanh_constant"))) out->ctrl_tanh = 0.0f;
    else bad |= get_float(hp, "tanh_constant", &out->ctrl_tanh);
    bad |= get_float(hp, "temperature", &out->ctrl_temperature);
    bad |= get_float(hp, "baseline_decay", &out->ctrl_baseline_decay);
    bad |= get_float(hp, "op_tanh_reduce", &out->ctrl_op_tanh_reduce);
    bad |= get_int(hp, "controller_steps", &out->ctrl_steps);
    bad |= get_int(hp, "controller_aggregate", &out->ctrl_aggregate);
    bad |= get_int(hp, "final_samples", &out->final_samples);
    v = json_object_get(hp, "max_examples");
    if (json_is_integer(v)) bad |= get_int(hp, "max_examples", &out->max_examples);
    else bad |= !json_is_null(v);
    /* final training: C and layers of the trained network; an enas-macro
     * arc fixes the layers (the search's), so only C applies there. */
    v = json_object_get(spec, "final_training");
    if (json_is_true(json_object_get(v, "enabled"))) {
        bad |= get_int(v, "epochs", &out->final_epochs);
        bad |= get_int(v, "C", &out->final_C);
        if (!strcmp(out->search_space, "enas-micro"))
            bad |= get_int(v, "layers", &out->final_layers);
    }
    if (!strcmp(out->search_space, "enas-micro")) {
        bad |= get_int(hp, "nodes", &out->nodes);
        bad |= get_float(hp, "drop_path", &out->drop_path);
    } else if (!strcmp(out->search_space, "enas-macro")) {
        bad |= get_float(hp, "skip_target", &out->ctrl_skip_target);
        bad |= get_float(hp, "skip_weight", &out->ctrl_skip_weight);
    } else {
        return -1;
    }
    return bad;
}

/* hyperparameters.threads asks for fewer threads than the operator's
 * --threads-per-job, never for more: the configured value is the cap, and
 * null takes it. */
static int job_threads(const json_t *hp, int configured)
{
    const json_t *v = json_object_get(hp, "threads");
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) < configured)
        return (int)json_integer_value(v);
    return configured;
}

/* An int list of at most cap values into dst, its length into *n. */
static int get_int_list(const json_t *obj, const char *key, int *dst, int cap, int *n)
{
    const json_t *a = json_object_get(obj, key), *v;
    size_t i;
    if (!json_is_array(a) || json_array_size(a) > (size_t)cap) return -1;
    json_array_foreach(a, i, v) {
        if (!json_is_integer(v)) return -1;
        dst[i] = (int)json_integer_value(v);
    }
    *n = (int)json_array_size(a);
    return 0;
}

/* The nas-rl controller's keys. */
static int nasrl_controller_to_engine(const json_t *hp, nas_job_spec *out)
{
    int bad = 0;
    bad |= get_int(hp, "lstm_layers", &out->ctrl_layers);
    bad |= get_int(hp, "lstm_size", &out->ctrl_hidden);
    bad |= get_float(hp, "controller_lr", &out->ctrl_lr);
    bad |= get_float(hp, "entropy_weight", &out->ctrl_entropy_weight);
    if (json_is_null(json_object_get(hp, "tanh_constant"))) out->ctrl_tanh = 0.0f;
    else bad |= get_float(hp, "tanh_constant", &out->ctrl_tanh);
    bad |= get_float(hp, "temperature", &out->ctrl_temperature);
    bad |= get_float(hp, "baseline_decay", &out->ctrl_baseline_decay);
    return bad;
}

/* nas-rl and random (issue #6): the whole engine spec, since they share
 * neither budget.epochs nor lr_min / grad_clip with the other kinds. The
 * engine's defaults come first (random's keys are few: the sampled
 * space's child training keeps its nas-rl defaults), then every key the
 * normalized spec holds. */
static int nasrl_to_engine(const json_t *spec, const json_t *hp, int default_threads,
                           nas_job_spec *out)
{
    const json_t *budget = json_object_get(spec, "budget"), *v;
    int random = !strcmp(out->algorithm, "random"), bad = 0;

    out->search_space = json_string_value(json_object_get(spec, "search_space"));
    if (!out->search_space) return -1;
    nas_job_spec_defaults(out);
    bad |= get_int(budget, "max_architectures", &out->max_architectures);
    v = json_object_get(budget, "max_seconds");
    bad |= !json_is_number(v);
    out->max_seconds = json_number_value(v);
    v = json_object_get(spec, "seed");
    bad |= !json_is_integer(v);
    out->seed = (uint64_t)json_integer_value(v);
    out->threads = job_threads(hp, default_threads);
    bad |= get_int(hp, "batch_size", &out->batch_size);
    bad |= get_int(hp, "child_epochs", &out->child_epochs);
    v = json_object_get(hp, "max_examples");   /* the image spaces */
    if (json_is_integer(v)) bad |= get_int(hp, "max_examples", &out->max_examples);
    if (random) {
        bad |= get_int(hp, "parallel_children", &out->children_per_update);
        if (!strcmp(out->search_space, "darts-cnn")) {
            bad |= get_int(hp, "C", &out->C);
            bad |= get_int(hp, "layers", &out->layers);
        }
        if (!strcmp(out->search_space, "enas-rnn")) {
            bad |= get_float(hp, "lr", &out->lr);
            bad |= get_int(hp, "nodes", &out->nodes);
            bad |= get_int(hp, "hidden", &out->hidden);
            bad |= get_int(hp, "bptt", &out->bptt);
            bad |= get_int(hp, "max_vocab", &out->max_vocab);
            bad |= get_float(hp, "weight_decay", &out->weight_decay);
            bad |= get_float(hp, "grad_clip", &out->grad_clip);
            bad |= get_float(hp, "dropout_e", &out->dropout_e);
            bad |= get_float(hp, "dropout_x", &out->dropout_x);
            bad |= get_float(hp, "dropout_h", &out->dropout_h);
            bad |= get_float(hp, "dropout_o", &out->dropout_o);
            bad |= get_float(hp, "reward_c", &out->reward_c);
        }
        if (!strcmp(out->search_space, "darts-rnn")) {
            bad |= get_int(hp, "embed", &out->embed);
            bad |= get_int(hp, "hidden", &out->hidden);
            bad |= get_int(hp, "bptt", &out->bptt);
            bad |= get_int(hp, "max_vocab", &out->max_vocab);
            bad |= get_float(hp, "dropout", &out->dropout);
            bad |= get_float(hp, "dropout_i", &out->dropout_input);
            bad |= get_float(hp, "reward_c", &out->reward_c);
        }
        if (!strcmp(out->search_space, "enas-micro") ||
            !strcmp(out->search_space, "enas-macro")) {
            bad |= get_int(hp, "C", &out->C);
            bad |= get_int(hp, "layers", &out->layers);
            bad |= get_float(hp, "dropout", &out->dropout);
            if (!strcmp(out->search_space, "enas-micro"))
                bad |= get_int(hp, "nodes", &out->nodes);
        }
        if (strcmp(out->search_space, "nasrl-cnn") && strcmp(out->search_space, "nasrl-rnn"))
            return bad;
    } else {
        bad |= get_int(hp, "children_per_update", &out->children_per_update);
    }
    bad |= get_float(hp, "lr", &out->lr);
    if (!random) bad |= nasrl_controller_to_engine(hp, out);
    if (!strcmp(out->search_space, "nasrl-rnn")) {
        bad |= get_int(hp, "tree_base", &out->tree_base);
        bad |= get_int(hp, "embed", &out->embed);
        bad |= get_int(hp, "hidden", &out->hidden);
        bad |= get_int(hp, "bptt", &out->bptt);
        bad |= get_float(hp, "grad_clip", &out->grad_clip);
        bad |= get_float(hp, "dropout", &out->dropout);
        bad |= get_float(hp, "reward_c", &out->reward_c);
        return bad;
    }
    if (strcmp(out->search_space, "nasrl-cnn")) return bad;
    bad |= get_float(hp, "momentum", &out->momentum);
    bad |= get_bool(hp, "nesterov", &out->nesterov);
    bad |= get_float(hp, "weight_decay", &out->weight_decay);
    bad |= get_int(hp, "start_layers", &out->start_layers);
    bad |= get_int(hp, "max_layers", &out->max_layers);
    bad |= get_int(hp, "layers_step", &out->layers_step);
    bad |= get_int(hp, "grow_every", &out->grow_every);
    bad |= get_int_list(hp, "filter_heights", out->filter_heights, 8, &out->nfilter_heights);
    bad |= get_int_list(hp, "filter_widths", out->filter_widths, 8, &out->nfilter_widths);
    bad |= get_int_list(hp, "num_filters", out->num_filters, 8, &out->nnum_filters);
    bad |= get_int_list(hp, "strides", out->strides, 3, &out->nstrides);
    bad |= get_bool(hp, "search_strides", &out->search_strides);
    v = json_object_get(hp, "reward");
    bad |= !json_is_string(v);
    out->reward_cube = json_is_string(v) && !strcmp(json_string_value(v), "cube-best-last5");
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
    if (runs_here(spec, err)) return -1;
    out->algorithm = json_string_value(json_object_get(spec, "algorithm"));
    out->dataset = json_string_value(json_object_get(spec, "dataset"));
    ds = out->dataset ? api__spec_dataset_by_name(out->dataset) : NULL;
    if (!ds || !out->algorithm) goto fail;
    if (paths && ds->path >= 0)
        out->data_path = *(const char *const *)((const char *)paths + ds->path);

    if (!strcmp(out->algorithm, "nas-rl") || !strcmp(out->algorithm, "random")) {
        if (nasrl_to_engine(spec, hp, default_threads, out)) goto fail;
        return 0;
    }
    if (!strcmp(out->algorithm, "darts"))
        bad |= darts_to_engine(spec, hp, out);
    else if (!strcmp(out->algorithm, "enas") && is_enas_rnn(spec))
        bad |= enas_rnn_to_engine(hp, out) | enas_rnn_final_to_engine(spec, out);
    else if (!strcmp(out->algorithm, "enas"))
        bad |= enas_to_engine(spec, hp, out);
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
    if (json_object_get(hp, "momentum"))   /* enas-rnn: plain SGD, no key */
        bad |= get_float(hp, "momentum", &out->momentum);
    bad |= get_float(hp, "weight_decay", &out->weight_decay);
    bad |= get_float(hp, "grad_clip", &out->grad_clip);
    out->threads = job_threads(hp, default_threads);
    if (!bad) return 0;
fail:
    memset(out, 0, sizeof *out);
    return api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                           "the stored spec is not a normalized spec the engine runs");
}

/* The JSON pointer of the spec value an engine error names ("momentum:
 * 1 must be in [0, 1)" -> /hyperparameters/momentum). The engine names
 * fields as the API does except for the few below; any other name is
 * looked for in the spec's objects in the order a field is most likely
 * to live there. "" when it names nothing the spec has. */
static void engine_pointer(const json_t *spec, const char *msg, char out[PTR_MAX])
{
    static const struct { const char *engine, *ptr; } alias[] = {
        {"final_epochs", "/final_training/epochs"},
        {"final_C", "/final_training/C"},
        {"final_layers", "/final_training/layers"},
        {"arch_beta1", "/hyperparameters/arch_betas/0"},
        {"arch_beta2", "/hyperparameters/arch_betas/1"},
        {"dropout_input", "/hyperparameters/dropout_i"},
        {"nblocks", "/architecture/channels"},
        {"channels", "/architecture/channels"},
        {"genotype", "/architecture/genotype"},
    };
    static const char *const objects[] = {"hyperparameters", "architecture", "budget",
                                          "final_training"};
    char name[64];
    size_t n = strcspn(msg, ":.[ ");
    out[0] = '\0';
    if (n == 0 || n >= sizeof name) return;
    memcpy(name, msg, n);
    name[n] = '\0';
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(alias[i].engine, name)) {
            snprintf(out, PTR_MAX, "%s", alias[i].ptr);
            return;
        }
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        const json_t *o = json_object_get(spec, objects[i]);
        if (json_is_object(o) && json_object_get(o, name)) {
            char parent[PTR_MAX];
            snprintf(parent, sizeof parent, "/%s", objects[i]);
            api__spec_child_ptr(out, parent, name);
            return;
        }
    }
    const char *top = strcmp(name, "arch") ? name : "architecture";
    if (json_object_get(spec, top)) api__spec_child_ptr(out, "", top);
}

int api_spec_implemented(const json_t *spec, api_problem *err)
{
    nas_job_spec es;
    char ptr[PTR_MAX];
    if (api_spec_to_engine(spec, NULL, 1, &es, err)) return -1;
    if (nas_job_validate(&es) == NAS_OK) return 0;
    engine_pointer(spec, nas_errmsg(), ptr);
    return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr,
                           "%s is refused by the engine (%s)", *ptr ? ptr : "the job",
                           nas_errmsg());
}
