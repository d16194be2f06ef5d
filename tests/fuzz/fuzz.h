/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* fuzz.h: what every libFuzzer target of tests/fuzz/ shares: APR start-up,
 * a pool per input, a property check that turns a violation into a crash
 * libFuzzer records, and a reader that cuts the input into parts.
 *
 * Lifetimes: fuzz_pool is a subpool of a process pool, cleared after each
 * input by FUZZ_END(); nothing taken from it survives one input. */

#ifndef RP_FUZZ_H
#define RP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

static apr_pool_t *fuzz_pool; /* owned: cleared after every input */

/* A property that failed is a finding like a crash: print which one and
 * abort(), so that libFuzzer saves the input as crash-<sha1>. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "PROPERTY VIOLATED (%s:%d): %s\n  ", __FILE__,     \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static apr_pool_t *root;

    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS ||
        apr_pool_create(&root, NULL) != APR_SUCCESS ||
        apr_pool_create(&fuzz_pool, root) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

#define FUZZ_END() apr_pool_clear(fuzz_pool)

/* The input as a sequence of parts: fuzz_take_byte() for choices,
 * fuzz_take_str() for a NUL-free string up to the next separator byte
 * (0x00) or the end. Reading past the end yields 0 and "". */
typedef struct fuzz_in_t {
    const uint8_t *p;
    size_t len;
    size_t pos;
} fuzz_in_t;

static inline unsigned fuzz_take_byte(fuzz_in_t *in)
{
    return in->pos < in->len ? in->p[in->pos++] : 0;
}

static inline const char *fuzz_take_str(fuzz_in_t *in)
{
    size_t s = in->pos;
    const uint8_t *z = in->pos < in->len
                           ? memchr(in->p + in->pos, 0, in->len - in->pos)
                           : NULL;
    size_t e = z ? (size_t)(z - in->p) : in->len;

    in->pos = z ? e + 1 : in->len;
    return apr_pstrmemdup(fuzz_pool, (const char *)in->p + s, e - s);
}

/* A copy of data in a buffer of its own size, so that ASan catches a read
 * one byte past what the function was given (the guard page of the unit
 * tests, in the fuzzer's terms). */
static inline char *fuzz_exact_copy(const void *data, size_t len)
{
    char *b = malloc(len ? len : 1);

    if (b == NULL) {
        abort();
    }
    memcpy(b, data, len);
    return b;
}

/* Append len bytes of s to the malloc'd buffer *b of *n bytes (an oracle's
 * output: data or trailer bytes in order). */
static inline void fuzz_append(char **b, size_t *n, const char *s, size_t len)
{
    char *nb = realloc(*b, *n + len + 1);

    if (nb == NULL) {
        abort();
    }
    memcpy(nb + *n, s, len);
    *b = nb;
    *n += len;
}

#endif /* RP_FUZZ_H */
