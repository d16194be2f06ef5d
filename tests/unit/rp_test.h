/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_test.h: the smallest harness that serves core/'s unit tests.
 *
 * A test binary calls RP_TEST_RUN(fn) for each test function; inside, the
 * RP_EXPECT* macros record failures with file and line. rp_test_done() prints
 * "N passed, N failed" for the binary (tests/run.sh sums them) and returns the
 * exit code. Each test is one line "PASS name" or "FAIL name: why".
 *
 * rp_test_guard() copies bytes so that they end right before an unmapped
 * page: a parser that reads one byte too far crashes instead of passing. */

#ifndef RP_TEST_H
#define RP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int rp_test_passed, rp_test_failed, rp_test_cur_failed;
static const char *rp_test_cur;

#define RP_EXPECT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            rp_test_fail(__FILE__, __LINE__, "expected: %s", #cond);           \
        }                                                                      \
    } while (0)

#define RP_EXPECT_INT(got, want)                                               \
    do {                                                                       \
        long long g_ = (long long)(got), w_ = (long long)(want);               \
        if (g_ != w_) {                                                        \
            rp_test_fail(__FILE__, __LINE__, "%s == %lld, expected %lld",      \
                         #got, g_, w_);                                        \
        }                                                                      \
    } while (0)

#define RP_EXPECT_STR(got, want)                                               \
    do {                                                                       \
        const char *g_ = (got), *w_ = (want);                                  \
        if ((g_ == NULL) != (w_ == NULL) || (g_ && strcmp(g_, w_) != 0)) {     \
            rp_test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"",  \
                         #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");        \
        }                                                                      \
    } while (0)

#define RP_TEST_RUN(fn) rp_test_run(#fn, fn)

__attribute__((format(printf, 3, 4))) static void
rp_test_fail(const char *file, int line, const char *fmt, ...);

#include <stdarg.h>
static void rp_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (rp_test_cur_failed++ == 0) {
        printf("FAIL %s\n", rp_test_cur ? rp_test_cur : "?");
    }
    printf("    %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* Record an extra failure with a case name (for table-driven tests). */
#define RP_FAIL_CASE(name, ...)                                                \
    do {                                                                       \
        printf("    case %s: ", (name));                                       \
        rp_test_fail(__FILE__, __LINE__, __VA_ARGS__);                         \
    } while (0)

static void rp_test_run(const char *name, void (*fn)(void))
{
    rp_test_cur = name;
    rp_test_cur_failed = 0;
    fn();
    if (rp_test_cur_failed) {
        rp_test_failed++;
    }
    else {
        rp_test_passed++;
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

static int rp_test_done(void)
{
    printf("%d passed, %d failed\n", rp_test_passed, rp_test_failed);
    return rp_test_failed ? 1 : 0;
}

/* Copy len bytes so that the last one sits right before a PROT_NONE page.
 * Release with rp_test_unguard(). */
__attribute__((unused)) static char *rp_test_guard(const char *src, size_t len,
                                                   void **map, size_t *maplen)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + pg - 1) / pg;
    char *base;
    if (data_pages == 0) {
        data_pages = 1;
    }
    *maplen = (data_pages + 1) * pg;
    base = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    mprotect(base + data_pages * pg, pg, PROT_NONE);
    *map = base;
    memcpy(base + data_pages * pg - len, src, len);
    return base + data_pages * pg - len;
}

__attribute__((unused)) static void rp_test_unguard(void *map, size_t maplen)
{
    munmap(map, maplen);
}

#endif /* RP_TEST_H */
