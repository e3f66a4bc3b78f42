// SPDX-License-Identifier: MIT
/*
 * fuzz_ckpt.c - libFuzzer on the checkpoint loader: nas_ckpt_load on
 * arbitrary bytes (a safetensors file: 8-byte header length, JSON header,
 * raw data) into a small store of three named parameters in three groups.
 *
 * The one design decision to know: besides "no crash, no sanitizer
 * report", the harness checks the loader's documented promise that a
 * failed load leaves the store (values and both optimizer moments) and
 * the RNG exactly as they were; a violation aborts like a crash.
 * NASD_FUZZ_MAKE_SEED=FILE writes a valid checkpoint of this store to
 * FILE and exits (how fuzz/corpus/fuzz_ckpt/ was made).
 */
#include "nas.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nas_params *store;
static char path[256];
static size_t total;
static float *before;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_ckpt: %s\n", what);
    abort();
}

/* Every float of the store (values, m1, m2) in order, into out. */
static void capture(float *out)
{
    size_t at = 0;
    for (int g = 0; g < NAS_GROUP_COUNT; g++) {
        float *d, *m1, *m2;
        size_t n;
        nas_params_group(store, g, &d, NULL, &m1, &m2, &n);
        if (!n)
            continue;
        memcpy(out + at, d, n * sizeof(float));
        memcpy(out + at + n, m1, n * sizeof(float));
        memcpy(out + at + 2 * n, m2, n * sizeof(float));
        at += 3 * n;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    nas_rng rng;
    nas_rng_seed(&rng, 7);
    store = nas_params_new();
    if (!store ||
        nas_params_add(store, "w", NAS_GROUP_WEIGHTS, NAS_INIT_NORMAL, 1, 2, (int[]){2, 3}) < 0 ||
        nas_params_add(store, "alpha", NAS_GROUP_ARCH, NAS_INIT_NORMAL, 1, 1, (int[]){3}) < 0 ||
        nas_params_add(store, "bn.mean", NAS_GROUP_STATE, NAS_INIT_ZERO, 1, 1, (int[]){2}) < 0 ||
        nas_params_alloc(store, &rng) != NAS_OK)
        die("cannot make the store");
    total = 3 * nas_params_total(store);
    before = malloc(total * sizeof(float));
    if (!before)
        die("out of memory");
    const char *seed_out = getenv("NASD_FUZZ_MAKE_SEED");
    if (seed_out && *seed_out) {
        nas_kv meta[] = {{"job.epoch", "2"}, {"job.step", "3"}, {"note", "a seed"}};
        if (nas_ckpt_save(seed_out, store, &rng, meta, 3) != NAS_OK)
            die(nas_errmsg());
        exit(0);
    }
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/nasd-fuzz-ckpt-%d.safetensors", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        die("cannot write the input file");
    close(fd);
    nas_rng rng, rng_before;
    nas_rng_seed(&rng, size);
    rng_before = rng;
    capture(before);
    nas_kv *kv = NULL;
    int n = 0;
    int rc = nas_ckpt_load(path, store, &rng, &kv, &n);
    if (rc == NAS_OK) {
        for (int i = 0; i < n; i++)
            if (!kv[i].key || !kv[i].value || nas_kv_get(kv, n, kv[i].key) == NULL)
                die("a loaded metadata pair is not readable");
        nas_kv_free(kv, n);
    } else {
        float *after = malloc(total * sizeof(float));
        if (!after)
            die("out of memory");
        capture(after);
        if (memcmp(before, after, total * sizeof(float)) != 0 ||
            memcmp(&rng, &rng_before, sizeof(rng)) != 0) {
            fprintf(stderr, "a failed load (%s) changed the store or the rng\n", nas_errmsg());
            abort();
        }
        free(after);
    }
    unlink(path);
    return 0;
}
