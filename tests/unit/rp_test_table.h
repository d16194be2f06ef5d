/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_test_table.h: what the table-driven unit tests share (include after
 * rp_test.h).
 *
 * RUN_TABLE(table, fn) runs fn once per row of table (an array of structs
 * with a `name` member), each row as its own test named after it, with a
 * fresh `pool` that is destroyed after the row. guard() copies a string so
 * that its NUL is the last byte before an unmapped page (rp_test_guard):
 * a scan that reads past the end crashes instead of passing. */

#ifndef RP_TEST_TABLE_H
#define RP_TEST_TABLE_H

#include <apr_pools.h>
#include "rp_test.h"

#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

/* per row: created and destroyed by run_one */
__attribute__((unused)) static apr_pool_t *pool;
__attribute__((unused)) static const void *cur_case;
__attribute__((unused)) static void (*cur_fn)(const void *);

__attribute__((unused)) static void run_one(void)
{
    apr_pool_create(&pool, NULL);
    cur_fn(cur_case);
    apr_pool_destroy(pool);
    pool = NULL;
}

__attribute__((unused)) static void
run_case(const char *name, void (*fn)(const void *), const void *tc)
{
    cur_fn = fn;
    cur_case = tc;
    rp_test_run(name, run_one);
}

#define RUN_TABLE(table, fn)                                                   \
    do {                                                                       \
        size_t i_;                                                             \
        for (i_ = 0; i_ < NELTS(table); i_++) {                                \
            run_case((table)[i_].name, fn, &(table)[i_]);                      \
        }                                                                      \
    } while (0)

/* A guarded copy of s (NULL stays NULL). */
typedef struct guarded_t {
    const char *s;
    void *map;
    size_t maplen;
} guarded_t;

__attribute__((unused)) static void guard(guarded_t *g, const char *s)
{
    g->s = s ? rp_test_guard(s, strlen(s) + 1, &g->map, &g->maplen) : NULL;
}

__attribute__((unused)) static void unguard(guarded_t *g)
{
    if (g->s != NULL) {
        rp_test_unguard(g->map, g->maplen);
    }
}

#endif /* RP_TEST_TABLE_H */
