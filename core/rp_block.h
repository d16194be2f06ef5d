/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_block.h: the memory the transport reads response bytes into.
 *
 * A block is malloc() memory that a heap bucket owns; it goes back when the
 * last bucket pointing into it is destroyed, in whatever thread that is.
 * Blocks of RP_BLOCK_CACHED bytes (the body read size) pass through a small
 * process-wide cache on their way back instead: a large body churns them,
 * and given back to malloc each time they came back from the kernel too
 * (glibc trims a thread arena's top with madvise() once it passes 128 KiB,
 * and the next block faults its pages in again, zeroed). The cache holds at
 * most RP_BLOCK_CACHE_MAX blocks, and rp_block_trim() empties it once it
 * has gone unused, so that memory returns after a load.
 *
 * Lifetimes: the cache is static (process lifetime); blocks in it are
 * plain malloc() memory, given back by rp_block_trim(1). */

#ifndef RP_BLOCK_H
#define RP_BLOCK_H

#include <apr.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cached size: 64 KiB less malloc's header and some slack, so that a
 * block with its header still fits whole pages. */
#define RP_BLOCK_CACHED (64 * 1024 - 128)
#define RP_BLOCK_CACHE_MAX 32 /* blocks per process: 2 MiB */

/* A block of size bytes, or NULL when memory is exhausted. */
void *rp_block_get(apr_size_t size);

/* The free function for a heap bucket holding a block of size bytes. */
typedef void (*rp_block_free_fn)(void *block);
rp_block_free_fn rp_block_free_fn_for(apr_size_t size);

/* Give cached blocks back to malloc: all of them when all is set, else
 * all of them only if none was taken from the cache since the last call.
 * Any thread; the transport's reaper calls it twice a second. */
void rp_block_trim(int all);

/* What the cache holds now, and how many gets it has served in all. */
void rp_block_stats(apr_size_t *cached, apr_uint64_t *hits);

#ifdef __cplusplus
}
#endif
#endif /* RP_BLOCK_H */
