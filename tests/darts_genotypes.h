// SPDX-License-Identifier: MIT
/*
 * darts_genotypes.h - typed DARTS genotypes for the engine's tests, written
 * as the one-word token of a spec text ("op/input,.../concat|...") and read
 * by the engine's own reader of that token (engine/search/darts/
 * darts_cells.c).
 *
 * The one design decision to know: inside the engine a genotype is a
 * struct and its JSON is parsed only by the API; an engine test that needs
 * a genotype spells it in the engine's token, so the tests use no third
 * parser and no JSON library.
 */
#ifndef TESTS_DARTS_GENOTYPES_H
#define TESTS_DARTS_GENOTYPES_H

#include <criterion/criterion.h>

#include <stdio.h>

#include "nas.h"
#include "search/darts/darts.h"

/* DARTS_V2 of the paper (quark0/darts genotypes.py). */
#define DARTS_V2_TOKEN                                                                             \
    "sep_conv_3x3/0,sep_conv_3x3/1,sep_conv_3x3/0,sep_conv_3x3/1,sep_conv_3x3/1,skip_connect/0,"   \
    "skip_connect/0,dil_conv_3x3/2/2.3.4.5|max_pool_3x3/0,max_pool_3x3/1,skip_connect/2,"          \
    "max_pool_3x3/1,max_pool_3x3/0,skip_connect/2,skip_connect/2,max_pool_3x3/1/2.3.4.5"

static inline nas_darts_genotype darts_gt(const char *token)
{
    char text[1024];
    nas_darts_genotype gt;
    snprintf(text, sizeof text, "kind=train genotype=%s", token);
    cr_assert_eq(nas__darts_genotype_from_spec_text(text, &gt), NAS_OK, "%s: %s", token,
                 nas_errmsg());
    return gt;
}

static inline nas_darts_rnn_genotype darts_rnn_gt(const char *token)
{
    char text[512];
    nas_darts_rnn_genotype gt;
    snprintf(text, sizeof text, "kind=train genotype=%s", token);
    cr_assert_eq(nas__darts_rnn_genotype_from_spec_text(text, &gt), NAS_OK, "%s: %s", token,
                 nas_errmsg());
    return gt;
}

#endif
