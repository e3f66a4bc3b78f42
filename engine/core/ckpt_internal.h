// SPDX-License-Identifier: MIT
/*
 * ckpt_internal.h - what checkpoint.c (save, and load into a store) and
 * ckpt_header.c (the safetensors header's reader) share: the format's
 * constants and the parsed header.
 */
#ifndef NAS_CKPT_INTERNAL_H
#define NAS_CKPT_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

#define CK_MAX_HEADER 100000000ull /* 100 MB, the reference's limit */
#define CK_MAX_DIMS 8
#define CK_META "__metadata__"
#define CK_RNG "rng.state"

typedef struct {
    char *name;
    int dtype;
    int ndim;
    uint64_t shape[CK_MAX_DIMS];
    uint64_t begin, end;
} ck_entry;

/* A parsed header: the entries in file order, the metadata (owned
 * strings, with a {NULL, NULL} sentinel) and the data section. */
typedef struct {
    ck_entry *e;
    int n, cap;
    nas_kv *meta;
    int nmeta, capmeta;
    int have_meta;
    const unsigned char *data;
    uint64_t data_len;
} ck_header;

/* The index of a safetensors dtype name ("F32"), -1 when unknown. */
int nas__ckpt_dtype_find(const char *name);
const char *nas__ckpt_dtype_name(int dtype);
/* The first key that appears twice among n keys, or NULL. *oom set when
 * the scratch array cannot be allocated. */
const char *nas__ckpt_duplicate_key(const nas_kv *kv, int n, int *oom);
/* The whole file at path into *out (malloc'd, *size bytes). */
int nas__ckpt_read_file(const char *path, unsigned char **out, size_t *size);
/* Length field, JSON header, per-tensor checks and the layout of a file
 * read into buf; h points into buf. */
int nas__ckpt_parse_header(const char *path, const unsigned char *buf, size_t size, ck_header *h);
void nas__ckpt_header_free(ck_header *h);

#endif
