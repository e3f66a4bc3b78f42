// SPDX-License-Identifier: MIT
/*
 * user_datasets.c - the registry of uploaded datasets: descriptors the
 * daemon adds for each import (issue #21), which nas_dataset_find
 * returns after the built-in table, so that a job on an upload takes the
 * same path as one on Fashion-MNIST.
 *
 * The one design decision to know: a descriptor is never freed while the
 * process runs. A worker's job holds the pointer nas_dataset_find gave
 * it for its whole run; unregistering (a DELETE) only hides the entry,
 * and a later upload of the same name gets a new one. The loop thread
 * registers while workers look up, so one mutex guards the list.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct entry {
    nas_dataset_desc d;
    int hidden;
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *head;

int nas_dataset_register(const char *name, const char *kind, const char *dir, int c, int h, int w,
                         int classes, int train_size, int test_size)
{
    entry *e = calloc(1, sizeof *e);
    char *n = strdup(name), *k = strdup(kind), *p = strdup(dir);
    if (!e || !n || !k || !p) {
        free(e);
        free(n);
        free(k);
        free(p);
        return nas_fail(NAS_ENOMEM, "dataset %s: out of memory", name);
    }
    e->d = (nas_dataset_desc){n, k, p, c, h, w, classes, train_size, test_size, NULL, 1};
    nas_dataset_unregister(name);
    pthread_mutex_lock(&lock);
    e->next = head;
    head = e;
    pthread_mutex_unlock(&lock);
    return NAS_OK;
}

void nas_dataset_unregister(const char *name)
{
    pthread_mutex_lock(&lock);
    for (entry *e = head; e; e = e->next)
        if (!e->hidden && strcmp(e->d.name, name) == 0)
            e->hidden = 1;
    pthread_mutex_unlock(&lock);
}

void nas_dataset_registry_clear(void)
{
    pthread_mutex_lock(&lock);
    while (head) {
        entry *e = head;
        head = e->next;
        free((char *)e->d.name);
        free((char *)e->d.kind);
        free((char *)e->d.default_path);
        free(e);
    }
    pthread_mutex_unlock(&lock);
}

const nas_dataset_desc *nas__dataset_find_uploaded(const char *name)
{
    const nas_dataset_desc *d = NULL;
    pthread_mutex_lock(&lock);
    for (entry *e = head; e && !d; e = e->next)
        if (!e->hidden && strcmp(e->d.name, name) == 0)
            d = &e->d;
    pthread_mutex_unlock(&lock);
    return d;
}
