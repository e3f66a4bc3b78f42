// SPDX-License-Identifier: MIT
/*
 * arena.c - the per-step allocator. A list of chunks; allocation bumps a
 * pointer, reset rewinds to the first chunk in O(1) and keeps every chunk,
 * so after the first step of a training loop nothing is malloc'd again.
 */
#include "internal.h"

#include <stdlib.h>

#define ALIGN 64

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    /* data follows, aligned */
} chunk;

struct nas_arena {
    chunk *head; /* first chunk */
    chunk *cur;  /* chunk being filled */
    size_t chunk_bytes;
    size_t used, peak; /* bytes handed out since reset, and the maximum */
};

static size_t hdr_size(void)
{
    return (sizeof(chunk) + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static chunk *chunk_new(size_t size)
{
    chunk *c = aligned_alloc(ALIGN, hdr_size() + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

nas_arena *nas_arena_new(size_t chunk_bytes)
{
    nas_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : (size_t)64 << 20;
    return a;
}

void nas_arena_free(nas_arena *a)
{
    if (!a)
        return;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

void *nas_arena_alloc(nas_arena *a, size_t bytes)
{
    bytes = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (bytes == 0)
        bytes = ALIGN;
    /* Walk forward through kept chunks before making a new one. */
    while (a->cur && a->cur->used + bytes > a->cur->size) {
        if (!a->cur->next)
            break;
        a->cur = a->cur->next;
        a->cur->used = 0;
    }
    if (!a->cur || a->cur->used + bytes > a->cur->size) {
        size_t sz = bytes > a->chunk_bytes ? bytes : a->chunk_bytes;
        chunk *c = chunk_new(sz);
        NAS_ASSERT(c && "arena: out of memory");
        if (a->cur) {
            /* Insert after cur so later kept chunks stay reachable. */
            c->next = a->cur->next;
            a->cur->next = c;
        } else {
            a->head = c;
        }
        a->cur = c;
    }
    void *p = (char *)a->cur + hdr_size() + a->cur->used;
    a->cur->used += bytes;
    a->used += bytes;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

void *nas_arena_zalloc(nas_arena *a, size_t bytes)
{
    void *p = nas_arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void nas_arena_reset(nas_arena *a)
{
    a->cur = a->head;
    if (a->cur)
        a->cur->used = 0;
    a->used = 0;
}

size_t nas_arena_used(const nas_arena *a)
{
    return a->used;
}

size_t nas_arena_peak(const nas_arena *a)
{
    return a->peak;
}
