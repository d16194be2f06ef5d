/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: rp_headers_keep_alive(), the Keep-Alive field parser.
 *
 * Input: the field value (up to a NUL).
 *
 * Properties beyond "no crash":
 * - timeout and max are -1 or 0..999999999;
 * - they equal what ref_keep_alive() below finds: the last "timeout=" and
 *   "max=" element of the list (names without case, OWS around '=' and the
 *   elements, ";params" cut, commas inside quoted-strings kept), each
 *   value 1 to 9 digits, optionally in double quotes;
 * - written back as "timeout=T, max=M" the values parse to themselves. */

#include <strings.h>
#include "../fuzz.h"
#include <apr_tables.h>
#include "rp_headers.h"

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

static long ref_number(const char *v, apr_size_t n)
{
    long x = 0;
    apr_size_t i;

    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n < 1 || n > 9) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* One element [s, e) of the list: "name = value". */
static void ref_element(const char *s, const char *e, long *timeout, long *max)
{
    const char *eq = memchr(s, '=', (apr_size_t)(e - s)), *ne, *v;

    if (eq == NULL) {
        return;
    }
    for (ne = eq; ne > s && ows(ne[-1]); ne--) {
    }
    for (v = eq + 1; v < e && ows(*v); v++) {
    }
    if (ne - s == 7 && !strncasecmp(s, "timeout", 7)) {
        *timeout = ref_number(v, (apr_size_t)(e - v));
    }
    else if (ne - s == 3 && !strncasecmp(s, "max", 3)) {
        *max = ref_number(v, (apr_size_t)(e - v));
    }
}

static void ref_keep_alive(const char *v, long *timeout, long *max)
{
    const char *s = v, *start, *cut;
    int quoted;

    *timeout = *max = -1;
    while (*s) {
        while (ows(*s) || *s == ',') {
            s++;
        }
        start = s;
        cut = NULL;
        for (quoted = 0; *s && (quoted || *s != ','); s++) {
            if (quoted && *s == '\\' && s[1]) {
                s++;
            }
            else if (*s == '"') {
                quoted = !quoted;
            }
            else if (*s == ';' && !quoted && !cut) {
                cut = s;
            }
        }
        for (cut = cut ? cut : s; cut > start && ows(cut[-1]); cut--) {
        }
        ref_element(start, cut, timeout, max);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    const char *value = fuzz_take_str(&in), *back;
    long t, m, rt, rm, bt, bm;

    rp_headers_keep_alive(value, &t, &m);
    FUZZ_CHECK(t >= -1 && t <= 999999999 && m >= -1 && m <= 999999999,
               "timeout %ld max %ld", t, m);
    ref_keep_alive(value, &rt, &rm);
    FUZZ_CHECK(t == rt && m == rm,
               "'%s': timeout %ld max %ld, expected %ld %ld", value, t, m, rt,
               rm);
    back = apr_pstrcat(
        fuzz_pool, t >= 0 ? apr_psprintf(fuzz_pool, "timeout=%ld", t) : "x=y",
        ", ", m >= 0 ? apr_psprintf(fuzz_pool, "max=%ld", m) : "", NULL);
    rp_headers_keep_alive(back, &bt, &bm);
    FUZZ_CHECK(bt == t && bm == m, "'%s' gave %ld %ld", back, bt, bm);
    rp_headers_keep_alive(NULL, &bt, &bm);
    FUZZ_CHECK(bt == -1 && bm == -1, "NULL value");
    FUZZ_END();
    return 0;
}
