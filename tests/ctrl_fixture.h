// SPDX-License-Identifier: MIT
/*
 * ctrl_fixture.h - what the controller's two test programs share
 * (tests/test_controller.c, tests/test_controller_ref.c): a controller in
 * its own store and graph, the programs with every step kind and every
 * flag, and the configurations they run under.
 */
#ifndef TESTS_CTRL_FIXTURE_H
#define TESTS_CTRL_FIXTURE_H

#include <criterion/criterion.h>

#include "search/controller/controller.h"

typedef struct {
    nas_params *p;
    nas_ctrl *c;
    nas_graph *g;
} fix;

static inline void fix_make(fix *f, const nas_ctrl_cfg *cfg, uint64_t seed, float scale)
{
    nas_rng r;
    nas_rng_seed(&r, seed);
    f->p = nas_params_new();
    cr_assert_eq(nas_ctrl_declare(f->p, "ctrl", cfg, &f->c), NAS_OK, "%s", nas_errmsg());
    cr_assert_eq(nas_params_alloc(f->p, &r), NAS_OK);
    if (scale > 0.0f) {
        for (int i = 0; i < nas_params_count(f->p); i++) {
            nas_tensor *t = nas_params_get(f->p, i);
            for (size_t k = 0; k < nas_tensor_numel(t); k++)
                t->data[k] = scale * (2.0f * nas_rng_uniform(&r) - 1.0f);
        }
    }
    f->g = nas_graph_new(1 << 20);
}

static inline void fix_free(fix *f)
{
    nas_graph_free(f->g);
    nas_ctrl_free(f->c);
    nas_params_free(f->p);
}

/* Every step kind, a CHOICE with fewer options than its head, SKIPS with
 * none, one and two taken, and a RESET in the middle. */
__attribute__((unused)) static const nas_ctrl_step all_kinds[] = {
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_PICK, 0, 2},
    {NAS_CTRL_CHOICE, 0, 5}, {NAS_CTRL_CHOICE, 1, 3}, {NAS_CTRL_SKIPS, 0, 2},
    {NAS_CTRL_ANCHOR, 0, 0}, {NAS_CTRL_PICK, 0, 3},   {NAS_CTRL_SKIPS, 0, 3},
    {NAS_CTRL_SKIPS, 0, 1},  {NAS_CTRL_RESET, 0, 0},  {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_CHOICE, 0, 5}, {NAS_CTRL_PICK, 0, 1},   {NAS_CTRL_ANCHOR, 0, 0},
};
#define ALL_KINDS_N ((int)(sizeof(all_kinds) / sizeof(all_kinds[0])))
/* PICK, CHOICE, CHOICE, SKIPS(2), PICK, SKIPS(3), SKIPS(1), CHOICE, PICK */
__attribute__((unused)) static const int all_kinds_arc[] = {1, 3, 2, 1, 1, 2, 0, 1, 0, 0, 4, 0};

/* The same decisions with every flag and the ENAS options of the config
 * (enas_cfg): skips drawn from softmax([-l, l]), steps that push their
 * state, a zero-valued anchor, a RESET that keeps the state, learned and
 * fixed op biases and the locality prior. */
__attribute__((unused)) static const nas_ctrl_step all_flags[] = {
    {NAS_CTRL_ANCHOR | NAS_CTRL_ZERO_VALUE, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK, 0, 2},
    {NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 5},
    {NAS_CTRL_CHOICE, 1, 3},
    {NAS_CTRL_SKIPS | NAS_CTRL_PUSH, 0, 2},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 3},
    {NAS_CTRL_SKIPS, 0, 3},
    {NAS_CTRL_SKIPS | NAS_CTRL_PUSH, 0, 1},
    {NAS_CTRL_RESET | NAS_CTRL_KEEP_STATE, 0, 0},
    {NAS_CTRL_ANCHOR, 0, 0},
    {NAS_CTRL_CHOICE | NAS_CTRL_FIXED_BIAS, 0, 5},
    {NAS_CTRL_PICK | NAS_CTRL_PUSH, 0, 1},
    {NAS_CTRL_ANCHOR, 0, 0},
};
_Static_assert(sizeof(all_flags) == sizeof(all_kinds), "the same decisions");

__attribute__((unused)) static const float test_bias[5] = {0.8f, -0.3f, 0.5f, 0.0f, 0.2f};
__attribute__((unused)) static const float test_fixed[5] = {0.25f, 0.25f, -0.25f, -0.25f, -0.25f};

static inline nas_ctrl_cfg small_cfg(int layers)
{
    nas_ctrl_cfg cfg = {0};
    cfg.hidden = 6;
    cfg.lstm_layers = layers;
    cfg.nheads = 2;
    cfg.head_size[0] = 5;
    cfg.head_size[1] = 4;
    cfg.temperature = 1.5f;
    cfg.tanh_c = 1.7f;
    cfg.choice_tanh_reduce = 2.5f;
    cfg.skip_target = 0.4f;
    return cfg;
}

static inline nas_ctrl_cfg enas_cfg(int layers)
{
    nas_ctrl_cfg cfg = small_cfg(layers);
    cfg.skip_softmax = 1;
    cfg.locality = 3.0f;
    cfg.head_bias[0] = test_bias;
    cfg.head_fixed_bias[0] = test_fixed;
    return cfg;
}

enum { OUT_LOGP, OUT_ENT, OUT_PEN };

#endif
