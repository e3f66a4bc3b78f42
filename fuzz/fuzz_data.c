// SPDX-License-Identifier: MIT
/*
 * fuzz_data.c - libFuzzer on the dataset loaders: nas_idx_load (images +
 * labels, raw or gzip), nas_cifar10_load (one or two batch files) and
 * nas_corpus_load_fortunes (word or character level), on arbitrary bytes
 * written to temporary files.
 *
 * The one design decision to know: one harness for the three loaders, so
 * that each gets its CI minute without three separate runs. An input is
 *   byte 0        which loader (bits 0-1, mod 3) and its options (bits 2-4)
 *   bytes 1-2     little-endian split point of the rest into two files
 *                 (IDX: images | labels; CIFAR-10: batch 1 | batch 2)
 *   bytes 3-      the file contents
 * and a loaded dataset must be self-consistent (labels in range, sizes
 * that multiply out); a violation aborts like a crash.
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

static char path_a[256], path_b[256];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_data: %s\n", what);
    abort();
}

static void put(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        die("cannot write an input file");
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(path_a, sizeof(path_a), "%s/nasd-fuzz-data-%d-a", tmp, (int)getpid());
    snprintf(path_b, sizeof(path_b), "%s/nasd-fuzz-data-%d-b", tmp, (int)getpid());
    return 0;
}

static void check_images(const nas_dataset *d)
{
    if (d->n < 0 || d->c < 1 || d->h < 1 || d->w < 1 || d->classes < 1)
        die("a loaded image set with impossible sizes");
    for (int i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= d->classes)
            die("a loaded label out of range");
    /* Touch every pixel: the sizes must be those of the allocation. */
    size_t n = (size_t)d->n * (size_t)d->c * (size_t)d->h * (size_t)d->w;
    volatile unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += d->x[i];
    (void)sum;
}

static void check_corpus(const nas_corpus *c)
{
    if (c->vocab_size < 1)
        die("a corpus without a vocabulary");
    for (int i = 0; i < c->vocab_size; i++)
        if (!c->vocab[i])
            die("a vocabulary hole");
    const int32_t *streams[3] = {c->train, c->valid, c->test};
    const int lens[3] = {c->ntrain, c->nvalid, c->ntest};
    for (int s = 0; s < 3; s++) {
        if (lens[s] < 0 || (lens[s] > 0 && !streams[s]))
            die("a corpus stream with an impossible size");
        for (int i = 0; i < lens[s]; i++)
            if (streams[s][i] < 0 || streams[s][i] >= c->vocab_size)
                die("a token id out of the vocabulary");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > (1u << 20))
        return 0;
    int kind = (data[0] & 3) % 3, opt = data[0] >> 2;
    size_t rest = size - 3, split = (size_t)(data[1] | data[2] << 8);
    const uint8_t *body = data + 3;
    if (split > rest)
        split = rest;
    if (kind == 0) {
        put(path_a, body, split);
        put(path_b, body + split, rest - split);
        nas_dataset *d = NULL;
        if (nas_idx_load(path_a, path_b, &d) == NAS_OK) {
            check_images(d);
            nas_dataset_free(d);
        }
    } else if (kind == 1) {
        int two = opt & 1;
        put(path_a, body, two ? split : rest);
        if (two)
            put(path_b, body + split, rest - split);
        const char *paths[2] = {path_a, path_b};
        nas_dataset *d = NULL;
        if (nas_cifar10_load(paths, two ? 2 : 1, &d) == NAS_OK) {
            check_images(d);
            nas_dataset_free(d);
        }
    } else {
        put(path_a, body, rest);
        nas_corpus *c = NULL;
        enum nas_corpus_level level = opt & 1 ? NAS_CORPUS_CHAR : NAS_CORPUS_WORD;
        int max_vocab = opt & 2 ? 16 : 0;
        if (nas_corpus_load_fortunes(path_a, level, max_vocab, &c) == NAS_OK) {
            check_corpus(c);
            nas_corpus_free(c);
        }
    }
    unlink(path_a);
    unlink(path_b);
    return 0;
}
