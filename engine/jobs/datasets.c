// SPDX-License-Identifier: MIT
/*
 * datasets.c - the datasets jobs know by name: the table, presence checks
 * and loading a named dataset into memory (including generating the
 * synthetic one from the job's seed).
 *
 * The one design decision to know: the files are checked before any
 * loader runs, so a missing dataset fails with one message that names the
 * path and what provides it (a Debian package or the data_path setting),
 * not with a loader's "cannot open". The synthetic set draws from its own
 * rng seeded from the job seed, so it is the same in every run and resume
 * and takes no draws from the training streams.
 */
#include "jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FMNIST_PATH "/usr/share/datasets/fashion-mnist"
#define FORTUNES_PATH "/usr/share/games/fortunes/fortunes"

static const nas_dataset_desc table[] = {
    {"fashion-mnist", "image", FMNIST_PATH, 1, 28, 28, 10, 60000, 10000, "dataset-fashion-mnist",
     0},
    {"cifar10", "image", NULL, 3, 32, 32, 10, 50000, 10000, NULL, 0},
    {"synthetic", "image", NULL, 1, 16, 16, 10, 2000, 500, NULL, 0},
    {"fortunes", "text", FORTUNES_PATH, 0, 0, 0, 0, 0, 0, "fortunes-min", 0},
    {"ptb", "text", NULL, 0, 0, 0, 0, 0, 0, NULL, 0},
    {0},
};

static const char *const fmnist_files[] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz", NULL};
static const char *const cifar_files[] = {"data_batch_1.bin",
                                          "data_batch_2.bin",
                                          "data_batch_3.bin",
                                          "data_batch_4.bin",
                                          "data_batch_5.bin",
                                          "test_batch.bin",
                                          NULL};
static const char *const ptb_files[] = {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt", NULL};
static const char *const fortune_files[] = {"", NULL};
/* An upload as import.c writes it (user_datasets.c registers it). */
static const char *const upload_files[] = {"train-images.idx", "train-labels.idx",
                                           "test-images.idx", "test-labels.idx", NULL};

const nas_dataset_desc *nas_datasets(void)
{
    return table;
}

const nas_dataset_desc *nas_dataset_find(const char *name)
{
    for (int i = 0; name && table[i].name; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return name ? nas__dataset_find_uploaded(name) : NULL;
}

/* The files of a dataset, relative to its path ("" is the path itself);
 * NULL for synthetic. */
static const char *const *files_of(const nas_dataset_desc *d)
{
    const char *name = d->name;
    if (d->uploaded)
        return strcmp(d->kind, "text") == 0 ? ptb_files : upload_files;
    if (strcmp(name, "fashion-mnist") == 0)
        return fmnist_files;
    if (strcmp(name, "cifar10") == 0)
        return cifar_files;
    if (strcmp(name, "ptb") == 0)
        return ptb_files;
    if (strcmp(name, "fortunes") == 0)
        return fortune_files;
    return NULL;
}

static void join(char *out, size_t cap, const char *dir, const char *file)
{
    if (*file)
        snprintf(out, cap, "%s/%s", dir, file);
    else
        snprintf(out, cap, "%s", dir);
}

/* NULL when path is a readable regular file, else why not. */
static const char *unreadable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return strerror(errno);
    if (!S_ISREG(st.st_mode))
        return "not a regular file";
    if (access(path, R_OK) != 0)
        return strerror(errno);
    return NULL;
}

const char *nas_dataset_hint(const nas_dataset_desc *d)
{
    if (strcmp(d->name, "cifar10") == 0)
        return "CIFAR-10 comes as its binary version, cifar-10-binary.tar.gz from "
               "https://www.cs.toronto.edu/~kriz/cifar.html: unpack it and name the directory "
               "holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin in nasd's "
               "cifar10-dir setting (nasd.conf or --cifar10-dir) or the job's data_path";
    if (strcmp(d->name, "ptb") == 0)
        return "the Penn Treebank comes as ptb.train.txt, ptb.valid.txt and ptb.test.txt "
               "(the data/ folder of Mikolov's simple-examples.tgz): name their directory in "
               "nasd's ptb-dir setting (nasd.conf or --ptb-dir) or the job's data_path";
    return NULL;
}

/* "; " and the hint, or "". */
static const char *hint_tail(const nas_dataset_desc *d, char *buf, size_t cap)
{
    const char *h = nas_dataset_hint(d);
    snprintf(buf, cap, "%s%s", h ? "; " : "", h ? h : "");
    return buf;
}

/* NAS_OK when every file is there; otherwise the message says which one is
 * not and how to provide it. */
static int check_files(const nas_dataset_desc *d, const char *path)
{
    const char *const *files = files_of(d);
    char hint[400];
    if (!files)
        return NAS_OK;
    if (!path)
        return nas_fail(NAS_ENOTFOUND,
                        "dataset %s has no default location: give its "
                        "directory as data_path (the daemon's config names "
                        "it for %s)%s",
                        d->name, d->name, hint_tail(d, hint, sizeof(hint)));
    for (int i = 0; files[i]; i++) {
        char full[4096];
        join(full, sizeof(full), path, files[i]);
        const char *why = unreadable(full);
        if (!why)
            continue;
        if (d->package && d->default_path && strcmp(path, d->default_path) == 0)
            return nas_fail(NAS_ENOTFOUND,
                            "dataset %s: %s: %s (install the Debian package "
                            "%s, or set data_path)",
                            d->name, full, why, d->package);
        return nas_fail(NAS_ENOTFOUND,
                        "dataset %s: %s: %s (check data_path or the "
                        "daemon's config for %s)%s",
                        d->name, full, why, d->name, hint_tail(d, hint, sizeof(hint)));
    }
    return NAS_OK;
}

int nas_dataset_present(const char *name, const char *path)
{
    const nas_dataset_desc *d = nas_dataset_find(name);
    if (!d)
        return 0;
    return check_files(d, path ? path : d->default_path) == NAS_OK;
}

/* ------------------------------------------------------------ synthetic */

enum { SYN_SIDE = 16, SYN_BAR = 8, SYN_THICK = 2 };

/* Class k: a bright bar of 8 x 2 pixels, horizontal at row 2 + 3 (k % 5)
 * for k < 5 and vertical at that column for k >= 5, sliding to a random
 * place along its length, on a noisy background. */
static void synth_image(nas_rng *r, int k, uint8_t *img)
{
    for (int i = 0; i < SYN_SIDE * SYN_SIDE; i++) {
        float v = 40.0f + 25.0f * nas_rng_normal(r);
        img[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
    int across = 2 + 3 * (k % 5);
    int along = (int)nas_rng_below(r, SYN_SIDE - SYN_BAR + 1);
    int level = 140 + (int)nas_rng_below(r, 116);
    for (int a = 0; a < SYN_BAR; a++)
        for (int t = 0; t < SYN_THICK && across + t < SYN_SIDE; t++) {
            int row = k < 5 ? across + t : along + a;
            int col = k < 5 ? along + a : across + t;
            img[row * SYN_SIDE + col] = (uint8_t)level;
        }
}

static int synth_set(nas_rng *r, int n, nas_dataset **out)
{
    nas_dataset *d = calloc(1, sizeof(*d));
    if (!d)
        goto fail;
    *d = (nas_dataset){.n = n, .c = 1, .h = SYN_SIDE, .w = SYN_SIDE, .classes = 10};
    d->x = malloc((size_t)n * SYN_SIDE * SYN_SIDE);
    d->y = malloc((size_t)n * sizeof(int32_t));
    if (!d->x || !d->y)
        goto fail;
    for (int i = 0; i < n; i++) {
        d->y[i] = (int32_t)nas_rng_below(r, 10);
        synth_image(r, d->y[i], d->x + (size_t)i * SYN_SIDE * SYN_SIDE);
    }
    *out = d;
    return NAS_OK;

fail:
    nas_dataset_free(d);
    return nas_fail(NAS_ENOMEM, "synthetic dataset: out of memory");
}

static int load_synthetic(const nas__job *j, nas_dataset **train, nas_dataset **test)
{
    nas_rng r;
    nas_rng_seed(&r, j->spec.seed ^ 0x73796e7468657469ull);
    int rc = synth_set(&r, j->desc->train_size, train);
    if (rc == NAS_OK)
        rc = synth_set(&r, j->desc->test_size, test);
    return rc;
}

/* --------------------------------------------------------------- loaders */

/* Fashion-MNIST and uploads: IDX pairs for train and test. */
static int load_idx(const char *dir, const char *const *files, nas_dataset **train,
                    nas_dataset **test)
{
    char a[4096], b[4096];
    join(a, sizeof(a), dir, files[0]);
    join(b, sizeof(b), dir, files[1]);
    int rc = nas_idx_load(a, b, train);
    if (rc < 0)
        return rc;
    join(a, sizeof(a), dir, files[2]);
    join(b, sizeof(b), dir, files[3]);
    return nas_idx_load(a, b, test);
}

static int load_cifar(const char *dir, nas_dataset **train, nas_dataset **test)
{
    char paths[6][4096];
    const char *p[6];
    for (int i = 0; i < 6; i++) {
        join(paths[i], sizeof(paths[i]), dir, cifar_files[i]);
        p[i] = paths[i];
    }
    int rc = nas_cifar10_load(p, 5, train);
    if (rc < 0)
        return rc;
    return nas_cifar10_load(p + 5, 1, test);
}

int nas__job_load_images(const nas__job *j, nas_dataset **train, nas_dataset **test)
{
    *train = *test = NULL;
    const char *name = j->desc->name;
    int rc = check_files(j->desc, j->spec.data_path);
    if (rc < 0)
        return rc;
    if (strcmp(name, "synthetic") == 0)
        rc = load_synthetic(j, train, test);
    else if (strcmp(name, "fashion-mnist") == 0 || j->desc->uploaded)
        rc = load_idx(j->spec.data_path, files_of(j->desc), train, test);
    else
        rc = load_cifar(j->spec.data_path, train, test);
    if (rc < 0)
        goto fail;
    const nas_dataset_desc *d = j->desc;
    if ((*train)->c != d->c || (*train)->h != d->h || (*train)->w != d->w || (*test)->c != d->c ||
        (*test)->h != d->h || (*test)->w != d->w) {
        rc = nas_fail(NAS_EFORMAT, "dataset %s at %s: images are not %dx%dx%d", name,
                      j->spec.data_path ? j->spec.data_path : "-", d->c, d->h, d->w);
        goto fail;
    }
    /* An upload's labels need not reach its last class in each split. */
    if (d->uploaded)
        (*train)->classes = (*test)->classes = d->classes;
    nas_dataset_compute_stats(*train);
    memcpy((*test)->mean, (*train)->mean, sizeof((*test)->mean));
    memcpy((*test)->std, (*train)->std, sizeof((*test)->std));
    return NAS_OK;

fail:
    nas_dataset_free(*train);
    nas_dataset_free(*test);
    *train = *test = NULL;
    return rc;
}

nas_augment nas__job_augment(const nas_job_spec *s, const nas_dataset_desc *d)
{
    if (!s->augment)
        return (nas_augment){0};
    return (nas_augment){.crop_pad = d->h >= 32 ? 4 : 2, .hflip = strcmp(d->name, "cifar10") == 0};
}

int nas__job_load_corpus(const nas__job *j, nas_corpus **out)
{
    *out = NULL;
    const char *path = j->spec.data_path;
    int rc = check_files(j->desc, path);
    if (rc < 0)
        return rc;
    if (strcmp(j->desc->name, "fortunes") == 0)
        return nas_corpus_load_fortunes(path, NAS_CORPUS_WORD, j->spec.max_vocab, out);
    char f[3][4096];
    for (int i = 0; i < 3; i++)
        join(f[i], sizeof(f[i]), path, ptb_files[i]);
    return nas_corpus_load(f[0], f[1], f[2], NAS_CORPUS_WORD, j->spec.max_vocab, out);
}

int nas__stream_make(const int32_t *ids, int n, int bsz, const char *what, nas__stream *out)
{
    if (n < 2 * bsz)
        return nas_fail(NAS_EINVAL,
                        "%s: %d tokens are too few for %d "
                        "columns of at least 2 tokens",
                        what, n, bsz);
    out->bsz = bsz;
    return nas_batchify(ids, n, bsz, &out->ids, &out->rows);
}
