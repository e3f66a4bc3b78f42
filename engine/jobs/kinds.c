// SPDX-License-Identifier: MIT
/*
 * kinds.c - the one table of job kinds: per (algorithm, search space) the
 * functions that give a job its defaults, prepare it (checks and the
 * canonical spec text), run it, and estimate its memory and that of the
 * final training that follows the search.
 *
 * The one design decision to know: job.c and estimate.c look a spec's
 * kind up here and call through the row; nothing else tests algorithm
 * names. Adding a kind is adding a row (and its files, and its fields'
 * rows in spec_table.c). A row whose space is NULL takes every space of
 * its algorithm (train: the architecture decides; nas-rl and random: the
 * sampled space is looked up by their own code). The first row of an
 * algorithm is the one a spec without search_space, or with one the kind
 * does not know, runs under: its prepare names the unknown space.
 */
#include "jobs.h"

#include <stdio.h>

static int train_kind_run(nas__job *j)
{
    if (j->spec.arch == NAS_ARCH_NASRL_CNN || j->spec.arch == NAS_ARCH_NASRL_RNN)
        return nas__train_nasrl(j);
    if (j->spec.arch == NAS_ARCH_FIXED_CNN || j->spec.arch == NAS_ARCH_DARTS_CNN ||
        j->spec.arch == NAS_ARCH_ENAS_CNN)
        return nas__train_image(j);
    return nas__train_text(j);
}

/* space_default: the space the engine's defaults take when search_space
 * is NULL (the API always names one: its default is the table's first
 * row, see nas_spec_spaces). */
static const nas__kind kinds[] = {
    {"train", NULL, NULL, 1, nas__train_defaults, nas__train_prepare, train_kind_run,
     nas__estimate_train, NULL, nas__steps_train},
    {"darts", "darts-cnn", "darts-cnn", 1, nas__darts_job_defaults, nas__darts_job_prepare,
     nas__darts_job, nas__estimate_darts_cnn, nas__estimate_darts_final, nas__steps_darts_cnn},
    {"darts", "darts-rnn", "darts-cnn", 1, nas__darts_rnn_job_defaults, nas__darts_rnn_job_prepare,
     nas__darts_rnn_job, nas__estimate_darts_rnn, NULL, nas__steps_darts_rnn},
    {"enas", "enas-micro", "enas-micro", 1, nas__enas_job_defaults, nas__enas_job_prepare,
     nas__enas_job, nas__estimate_enas_cnn, nas__estimate_enas_final, nas__steps_enas_cnn},
    {"enas", "enas-macro", "enas-micro", 1, nas__enas_job_defaults, nas__enas_job_prepare,
     nas__enas_job, nas__estimate_enas_cnn, nas__estimate_enas_final, nas__steps_enas_cnn},
    {"enas", "enas-rnn", "enas-micro", 1, NULL, nas__enas_rnn_job_prepare, nas__enas_rnn_job,
     nas__estimate_enas_rnn, NULL, nas__steps_enas_rnn},
    {"nas-rl", NULL, "nasrl-cnn", 0, nas__nasrl_job_defaults, nas__nasrl_job_prepare,
     nas__nasrl_search, nas__estimate_nasrl, NULL, nas__steps_nasrl},
    {"random", NULL, "nasrl-cnn", 0, nas__nasrl_job_defaults, nas__nasrl_job_prepare,
     nas__random_job, nas__estimate_nasrl, NULL, nas__steps_nasrl},
};

#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

const nas__kind *nas__kind_of(const char *algorithm, const char *space)
{
    const nas__kind *first = NULL;
    if (!algorithm)
        algorithm = "train";
    for (int i = 0; i < NKINDS; i++) {
        const nas__kind *k = &kinds[i];
        if (strcmp(k->algorithm, algorithm) != 0)
            continue;
        if (!first)
            first = k;
        if (!k->space || (space && strcmp(k->space, space) == 0))
            return k;
    }
    return first;
}

void nas__kind_names(char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < NKINDS; i++) {
        int seen = 0;
        for (int k = 0; k < i; k++)
            seen |= strcmp(kinds[k].algorithm, kinds[i].algorithm) == 0;
        if (!seen)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? ", " : "",
                     kinds[i].algorithm);
    }
}
