// SPDX-License-Identifier: MIT
/*
 * spec.h - the job spec of POST /v1/jobs: validation into a normalized
 * JSON spec, "can the engine run it", and conversion to the engine's
 * nas_job_spec.
 *
 * The one design decision to know: the stored spec is the FULL normalized
 * spec, every default written out, so a job row documents exactly what ran
 * and re-submitting it reproduces the job. All rules (keys, types, ranges,
 * choices, defaults) live in the engine's one job-spec table
 * (engine/jobs/spec_table.c) keyed by (algorithm, space);
 * api_spec_schema() derives schema/job-spec.schema.json from the same
 * tables and a test checks that the checked-in file still matches.
 *
 * Errors: functions return 0, or -1 with *err set (problem+json, RFC 9457,
 * naming the field by JSON pointer). The caller api_problem_clear()s err.
 */
#ifndef API_SPEC_H
#define API_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "nas.h"
#include "problem.h"

/* Largest seed accepted: 2^53, the largest integer every JSON reader
 * represents exactly. */
#define API_SPEC_SEED_MAX 9007199254740992ULL
/* A job's tags: how many, and what a tag may hold. */
#define API_SPEC_MAX_TAGS 16
#define API_SPEC_TAG_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
#define API_SPEC_TAG_PATTERN "^[A-Za-z0-9._:-]{1,64}$"
/* An uploaded dataset's name (api/datasets.c name_ok checks the same). */
#define API_DATASET_NAME_PATTERN "^[a-z0-9][a-z0-9._-]{0,63}$"

/* Parses and validates a POST /v1/jobs body and returns in *spec_out (new
 * reference) the normalized spec with every default filled in. The seed
 * default is default_seed masked to 53 bits (the caller draws it at
 * random). Errors: 400 invalid-json (with line and column), 400
 * bad-request (not an object), 400 unknown-field (pointer, "allowed" the
 * known keys), 400 invalid-field (pointer; "allowed" a list of values or
 * {"minimum", "maximum"}), 500 internal (out of memory). A normalized spec
 * normalizes to itself. */
int api_spec_normalize(const char *body, size_t len, uint64_t default_seed, json_t **spec_out,
                       api_problem *err);

/* 0 when the engine can run the normalized spec, else -1 with either
 * 501 not-implemented (an algorithm, search space or final training this
 * version does not run: pointer /algorithm, /search_space or
 * /final_training/enabled, "allowed" what can run instead) or 400
 * invalid-field when the engine's own preparation checks
 * (nas_job_validate) refuse the converted spec: pointer the field the
 * engine names. So a job the API acknowledges gets past its preparation. */
int api_spec_implemented(const json_t *spec, api_problem *err);

/* Where the datasets' files are, from the daemon's config. NULL: the
 * engine's default path for that dataset. */
typedef struct api_spec_paths {
    const char *fashion_mnist_dir;
    const char *cifar10_dir;
    const char *ptb_dir;
    const char *fortunes_path;
} api_spec_paths;

/* Fills *out for the engine from a normalized `train` or `darts` spec
 * (paths may be NULL). threads: hyperparameters.threads when it is lower
 * than default_threads (the operator's --threads-per-job caps it), else
 * default_threads; darts' arch_betas become arch_beta1/2 and a
 * null max_examples 0 (all); a train darts-cnn or darts-rnn genotype becomes
 * the engine's typed cells (out->darts_cnn, out->darts_rnn), an ENAS or
 * NAS-RL arc its fixed-arc ints in out->genotype. The string members of *out
 * (algorithm, search_space, dataset) point into `spec` and data_path into `paths`: both must
 * outlive *out. checkpoint_path and resume are left NULL/0 for the caller. Errors: 501 for a spec
 * the engine cannot run, 500 when spec was not normalized. */
int api_spec_to_engine(const json_t *spec, const api_spec_paths *paths, int default_threads,
                       nas_job_spec *out, api_problem *err);

/* The normalized spec of a `train` job on dataset that builds the network
 * of a model file's "architecture" metadata (arch_text, as the job's
 * result served it): the architecture as pasted, with the
 * hyperparameters it records (C, layers, dropout, ...) back under
 * /hyperparameters. New reference, or NULL with *err set. */
json_t *api_spec_of_model(const char *dataset, const char *arch_text, api_problem *err);
/* Hash of the raw request body for Idempotency-Key matching: FNV-1a 128
 * (offset basis 6c62272e07bb014262b821756295c58d, prime 2^88 + 0x13b) as
 * 32 lowercase hex digits + NUL. Not cryptographic: it tells a retry from
 * a different request by the same client, which is all the key promises. */
#define API_SPEC_HASH_SIZE 33
void api_spec_hash(const char *body, size_t len, char out[API_SPEC_HASH_SIZE]);

/* The JSON Schema (2020-12) of the job spec, built from the same tables
 * as api_spec_normalize (new reference; NULL when out of memory). */
json_t *api_spec_schema(void);

/* GET /v1/search-spaces, from the engine's one table: every algorithm
 * ("default_space", "space_in": search_space or architecture.space) and
 * its spaces, each with its doc, data kind, datasets, defaults that
 * depend on the dataset and the object schema of every object it reads
 * ("fields": budget, hyperparameters, architecture for train,
 * final_training where there is one), and the seed's range (new
 * reference; NULL when out of memory). */
json_t *api_spec_search_spaces(void);

#endif
