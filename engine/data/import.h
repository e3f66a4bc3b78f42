// SPDX-License-Identifier: MIT
/*
 * import.h - what the two halves of an upload's import share: the images
 * read from the archive (import.c) and the files written from them
 * (import_meta.c). Internal to engine/data.
 */
#ifndef NAS_DATA_IMPORT_H
#define NAS_DATA_IMPORT_H

#include "internal.h"

#include <stdio.h>

enum { IMP_TRAIN, IMP_TEST, IMP_SPLITS };

typedef struct imp_item {
    char *path;   /* the entry's name in the archive */
    int cls;      /* index into classes (sorted) */
    int split;    /* IMP_TRAIN or IMP_TEST */
    int w, h;     /* pixels */
    uint64_t off; /* of its RGB pixels in the spool file */
} imp_item;

typedef struct imp_set {
    imp_item *items;
    size_t n, cap;
    char **classes;
    int nclasses;
    int color; /* some image had colour: 3 channels, else 1 */
    FILE *spool;
    char sha256[65];
    int resize_h, resize_w; /* > 0: every image is stored at this size */
} imp_set;

/* Writes an image's pixels (h x w x 3) to s's spool, resized first when
 * s->resize_h > 0; *oh, *ow get the size stored and *off its offset. */
int nas__import_spool(imp_set *s, const uint8_t *rgb, int h, int w, int *oh, int *ow,
                      uint64_t *off);

/* An entry's name without "./", empty components and a trailing '/'
 * (malloc'd), or NULL when it leaves the folder (absolute, ".."). */
char *nas__import_normalize(const char *p);
/* A hidden entry (a component starting with '.') or __MACOSX/. */
int nas__import_hidden(const char *norm);
/* The sha256 of a file, in hex. */
int nas__import_hash_file(const char *path, char out[65]);

/* An archive of IDX files (import_idx.c): the role of an entry (0-3:
 * train images, train labels, test images, test labels; -1: none), the
 * names they are stored under in out_dir, and the check, meta.json and
 * samples.png once the four are there. */
int nas__import_idx_role(const char *norm);
extern const char *const nas__import_idx_files[4];
int nas__import_idx_finish(const char *dir, const char *name, const char *sha256, char **meta_json,
                           nas_import_error *err);

/* An archive of NumPy arrays (import_npy.c): the role of an entry (0-3:
 * x_train.npy, y_train.npy, x_test.npy, y_test.npy; NAS__NPY_OTHER:
 * another .npy, refused; -1: not a .npy), the names they are copied to in
 * out_dir, and the reading of the copies (have[r]: role r was there) into
 * s's items, classes and spool; the copies are removed. */
#define NAS__NPY_OTHER 4
int nas__import_npy_role(const char *norm);
extern const char *const nas__import_npy_files[4];
int nas__import_npy_read(imp_set *s, const char *dir, const int have[4],
                         const nas_import_limits *lim, nas_import_error *err);

/* Writes out_dir's IDX files and meta.json for the images of set, which
 * all have size h x w; *meta_json gets the text of meta.json. */
int nas__import_write(imp_set *set, const char *name, const char *out_dir, int h, int w,
                      const char *holdout, char **meta_json);

#endif
