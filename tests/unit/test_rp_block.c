/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_block.c: rp_block.c: body-sized read blocks are reused through a
 * bounded process-wide cache, other sizes are not, the cache empties once
 * unused, and it holds up under threads (run under ASan: a block handed to
 * two owners, or one lost, shows up there). */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_buckets.h>
#include <apr_thread_proc.h>
#include "rp_block.h"
#include "rp_test.h"

static apr_pool_t *pool;

static apr_size_t cached(void)
{
    apr_size_t n;
    apr_uint64_t hits;

    rp_block_stats(&n, &hits);
    return n;
}

static apr_uint64_t hits(void)
{
    apr_size_t n;
    apr_uint64_t h;

    rp_block_stats(&n, &h);
    return h;
}

static void a_body_block_given_back_is_the_next_one_handed_out(void)
{
    void *a, *b;
    apr_uint64_t h0;

    rp_block_trim(1);
    h0 = hits();
    a = rp_block_get(RP_BLOCK_CACHED);
    RP_EXPECT(a != NULL);
    memset(a, 0xa5, RP_BLOCK_CACHED); /* all of it is usable */
    rp_block_free_fn_for(RP_BLOCK_CACHED)(a);
    RP_EXPECT_INT(cached(), 1);
    b = rp_block_get(RP_BLOCK_CACHED);
    RP_EXPECT(b == a);
    RP_EXPECT_INT(hits(), h0 + 1);
    RP_EXPECT_INT(cached(), 0);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(b);
    rp_block_trim(1);
}

static void other_sizes_go_straight_back_to_malloc(void)
{
    static const apr_size_t sizes[] = {4096 - 128, 16 * 1024 - 128,
                                       RP_BLOCK_CACHED - 1, RP_BLOCK_CACHED + 1,
                                       96 * 1024};
    apr_uint64_t h0;
    size_t i;

    rp_block_trim(1);
    h0 = hits();
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *b = rp_block_get(sizes[i]);
        RP_EXPECT(b != NULL);
        memset(b, 0, sizes[i]);
        rp_block_free_fn_for(sizes[i])(b);
        RP_EXPECT_INT(cached(), 0);
    }
    RP_EXPECT_INT(hits(), h0);
}

static void the_cache_holds_at_most_its_maximum(void)
{
    void *b[RP_BLOCK_CACHE_MAX + 5];
    int i;

    rp_block_trim(1);
    for (i = 0; i < RP_BLOCK_CACHE_MAX + 5; i++) {
        b[i] = rp_block_get(RP_BLOCK_CACHED);
        RP_EXPECT(b[i] != NULL);
    }
    for (i = 0; i < RP_BLOCK_CACHE_MAX + 5; i++) {
        rp_block_free_fn_for(RP_BLOCK_CACHED)(b[i]);
    }
    RP_EXPECT_INT(cached(), RP_BLOCK_CACHE_MAX);
    rp_block_trim(1);
    RP_EXPECT_INT(cached(), 0);
}

/* A trim keeps the cache while it is in use, and empties it once nothing
 * was taken since the previous trim. */
static void trim_empties_the_cache_only_once_it_went_unused(void)
{
    void *a, *b;

    rp_block_trim(1);
    a = rp_block_get(RP_BLOCK_CACHED);
    b = rp_block_get(RP_BLOCK_CACHED);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(a);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(b);
    rp_block_trim(0); /* the baseline: nothing taken from the cache yet */
    RP_EXPECT_INT(cached(), 0);

    a = rp_block_get(RP_BLOCK_CACHED);
    b = rp_block_get(RP_BLOCK_CACHED);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(a);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(b);
    a = rp_block_get(RP_BLOCK_CACHED); /* a hit: the cache is in use */
    rp_block_free_fn_for(RP_BLOCK_CACHED)(a);
    rp_block_trim(0);
    RP_EXPECT_INT(cached(), 2);
    rp_block_trim(0); /* no hit since the last trim */
    RP_EXPECT_INT(cached(), 0);
}

/* The block of a heap bucket comes back when its last copy is destroyed,
 * not before (the transport hands out narrowed copies of one bucket). */
static void a_heap_bucket_gives_its_block_back_with_its_last_copy(void)
{
    apr_bucket_alloc_t *ba = apr_bucket_alloc_create(pool);
    apr_bucket *b, *c;
    char *blk;

    rp_block_trim(1);
    blk = rp_block_get(RP_BLOCK_CACHED);
    memcpy(blk, "hello", 5);
    b = apr_bucket_heap_create(blk, RP_BLOCK_CACHED,
                               rp_block_free_fn_for(RP_BLOCK_CACHED), ba);
    apr_bucket_copy(b, &c);
    c->length = 5;
    apr_bucket_destroy(b);
    RP_EXPECT_INT(cached(), 0);
    apr_bucket_destroy(c);
    RP_EXPECT_INT(cached(), 1);
    RP_EXPECT(rp_block_get(RP_BLOCK_CACHED) == blk);
    rp_block_free_fn_for(RP_BLOCK_CACHED)(blk);
    rp_block_trim(1);
    apr_bucket_alloc_destroy(ba);
}

#define THREADS 4
#define ROUNDS 20000
#define HELD 3

/* Each thread holds a few blocks at a time and stamps each with its own
 * mark: a block that two threads held at once loses its mark. */
typedef struct churner_t {
    unsigned mark;
    long bad; /* blocks found with another thread's mark */
} churner_t;

static void *APR_THREAD_FUNC churn(apr_thread_t *thd, void *data)
{
    churner_t *ch = data;
    unsigned mark = ch->mark;
    unsigned *held[HELD];
    long bad = 0;
    int r, i;

    for (r = 0; r < ROUNDS; r++) {
        for (i = 0; i < HELD; i++) {
            held[i] = rp_block_get(RP_BLOCK_CACHED);
            held[i][0] = mark;
            held[i][RP_BLOCK_CACHED / sizeof(unsigned) - 1] = mark;
        }
        for (i = 0; i < HELD; i++) {
            bad += held[i][0] != mark ||
                   held[i][RP_BLOCK_CACHED / sizeof(unsigned) - 1] != mark;
            rp_block_free_fn_for(RP_BLOCK_CACHED)(held[i]);
        }
        if (r % 1000 == 0 && mark == 1) {
            rp_block_trim(0);
        }
    }
    (void)thd;
    ch->bad = bad;
    return NULL;
}

static void threads_never_share_a_block(void)
{
    apr_thread_t *t[THREADS];
    churner_t ch[THREADS];
    apr_status_t rv;
    int i;

    rp_block_trim(1);
    for (i = 0; i < THREADS; i++) {
        ch[i].mark = (unsigned)i + 1;
        ch[i].bad = 0;
        RP_EXPECT_INT(apr_thread_create(&t[i], NULL, churn, &ch[i], pool),
                      APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_thread_join(&rv, t[i]);
        RP_EXPECT_INT(ch[i].bad, 0);
    }
    RP_EXPECT(cached() <= RP_BLOCK_CACHE_MAX);
    RP_EXPECT(cached() >= HELD); /* the last round's blocks came back */
    rp_block_trim(1);
    RP_EXPECT_INT(cached(), 0);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    RP_TEST_RUN(a_body_block_given_back_is_the_next_one_handed_out);
    RP_TEST_RUN(other_sizes_go_straight_back_to_malloc);
    RP_TEST_RUN(the_cache_holds_at_most_its_maximum);
    RP_TEST_RUN(trim_empties_the_cache_only_once_it_went_unused);
    RP_TEST_RUN(a_heap_bucket_gives_its_block_back_with_its_last_copy);
    RP_TEST_RUN(threads_never_share_a_block);
    apr_pool_destroy(pool);
    apr_terminate();
    return rp_test_done();
}
