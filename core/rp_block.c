/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_block.c: read blocks and their cache (see rp_block.h for why).
 *
 * The cache is a LIFO list threaded through the free blocks themselves,
 * under a statically initialised pthread mutex: it must work before any
 * pool exists and after every pool is gone (a bucket may be destroyed at
 * any time), which an APR mutex cannot. Not a spinlock: with hundreds of
 * worker threads on two cores, waiters spinning on a preempted holder
 * stretched the 99th percentile at 1 MiB and 256 connections from 0.6 s to
 * 4.6 s. LIFO hands out the block most recently touched, still warm in
 * the caches. */

#include <stdlib.h>
#include <pthread.h>
#include "rp_block.h"
#include "rp_core.h"

typedef struct free_block_t {
    struct free_block_t *next;
} free_block_t;

/* Invariants, under lock: count is the length of the list at head, and
 * never more than RP_BLOCK_CACHE_MAX. hits only grows; trimmed_at is its
 * value at the last trim, so hits == trimmed_at means "unused since". */
static struct {
    pthread_mutex_t lock;
    free_block_t *head;
    apr_size_t count;
    apr_uint64_t hits;
    apr_uint64_t trimmed_at;
} cache = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};

static void cache_lock(void)
{
    pthread_mutex_lock(&cache.lock);
}

static void cache_unlock(void)
{
    pthread_mutex_unlock(&cache.lock);
}

void *rp_block_get(apr_size_t size)
{
    free_block_t *b = NULL;

    /* Before the cache, not at malloc(): a test walking the failures
     * must reach the caller's failure path whether or not a block was
     * cached by an earlier pass. */
    if (rp_alloc_fails()) {
        return NULL;
    }
    if (size == RP_BLOCK_CACHED) {
        cache_lock();
        b = cache.head;
        if (b) {
            cache.head = b->next;
            cache.count--;
            cache.hits++;
        }
        cache_unlock();
    }
    return b ? (void *)b : malloc(size);
}

/* A block of RP_BLOCK_CACHED bytes comes back: into the cache, or to
 * malloc when the cache is full. */
static void put_cached(void *block)
{
    free_block_t *b = block;

    cache_lock();
    if (cache.count < RP_BLOCK_CACHE_MAX) {
        b->next = cache.head;
        cache.head = b;
        cache.count++;
        b = NULL;
    }
    cache_unlock();
    free(b);
}

rp_block_free_fn rp_block_free_fn_for(apr_size_t size)
{
    return size == RP_BLOCK_CACHED ? put_cached : free;
}

void rp_block_trim(int all)
{
    free_block_t *list = NULL, *next;

    cache_lock();
    if (all || cache.hits == cache.trimmed_at) {
        list = cache.head;
        cache.head = NULL;
        cache.count = 0;
    }
    cache.trimmed_at = cache.hits;
    cache_unlock();
    for (; list; list = next) { /* outside the lock: free() may madvise */
        next = list->next;
        free(list);
    }
}

void rp_block_stats(apr_size_t *cached, apr_uint64_t *hits)
{
    cache_lock();
    *cached = cache.count;
    *hits = cache.hits;
    cache_unlock();
}
