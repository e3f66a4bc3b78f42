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
} imp_set;

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

/* Writes out_dir's IDX files and meta.json for the images of set, which
 * all have size h x w; *meta_json gets the text of meta.json. */
int nas__import_write(imp_set *set, const char *name, const char *out_dir, int h, int w,
                      const char *holdout, char **meta_json);

#endif
