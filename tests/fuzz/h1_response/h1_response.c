/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: rp_h1_parse_response() (and rp_h1_parse_trailers()).
 *
 * Input: one byte of choices (bits 0-5: max_fields - 1; all of it seeds the
 * split points), then the bytes of a response head and whatever follows.
 *
 * Properties beyond "no crash":
 * - resumption: fed as a growing buffer in fuzzer-chosen steps with last_len
 *   set to the previous length, the parser answers INCOMPLETE until the
 *   head is complete and then exactly what one call over all bytes answers;
 * - a parsed head is valid: status 100..599, HTTP/1.0 or 1.1, names are
 *   tokens, values and the reason carry no CTL but HTAB and no edge OWS,
 *   fields lie in order inside the head;
 * - round trip: the head written back as "HTTP/1.x status reason" and
 *   "name: value" lines parses to the same status, reason and fields, and
 *   its field section alone parses as trailers to the same fields;
 * - one field fewer than needed in max_fields is EBADMSG. */

#include "../fuzz.h"
#include "rp_h1.h"

#define MAX_FIELDS 64

typedef struct result_t {
    apr_ssize_t rv;
    rp_h1_head_t head;
    rp_h1_field_t fields[MAX_FIELDS];
} result_t;

static apr_ssize_t parse(const char *buf, apr_size_t len, apr_size_t last_len,
                         apr_size_t max_fields, result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->head.fields = r->fields;
    r->head.max_fields = max_fields;
    r->rv = rp_h1_parse_response(buf, len, last_len, &r->head);
    return r->rv;
}

/* Same verdict and same spans, relative to each call's own buffer. */
static void check_same(const char *a, const result_t *x, const char *b,
                       const result_t *y, const char *what)
{
    apr_size_t i;

    FUZZ_CHECK(x->rv == y->rv, "%s: rv %ld vs %ld", what, (long)x->rv,
               (long)y->rv);
    FUZZ_CHECK(x->head.error == y->head.error ||
                   (x->head.error && y->head.error &&
                    !strcmp(x->head.error, y->head.error)),
               "%s: error %s vs %s", what, x->head.error, y->head.error);
    if (x->rv < 0) {
        return;
    }
    FUZZ_CHECK(x->head.status == y->head.status &&
                   x->head.minor_version == y->head.minor_version &&
                   x->head.nfields == y->head.nfields &&
                   x->head.reason - a == y->head.reason - b &&
                   x->head.reason_len == y->head.reason_len,
               "%s: status line or field count differs", what);
    for (i = 0; i < x->head.nfields; i++) {
        FUZZ_CHECK(x->fields[i].name - a == y->fields[i].name - b &&
                       x->fields[i].name_len == y->fields[i].name_len &&
                       x->fields[i].value - a == y->fields[i].value - b &&
                       x->fields[i].value_len == y->fields[i].value_len,
                   "%s: field %zu differs", what, (size_t)i);
    }
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The RFC 9110 rules written out again, not through rp_h1_ctype. */
static int tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static int text_ok(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static void check_fields(const char *buf, apr_size_t end,
                         const rp_h1_field_t *f, apr_size_t n)
{
    const char *prev = buf;
    apr_size_t i, j;

    for (i = 0; i < n; i++) {
        FUZZ_CHECK(f[i].name_len > 0, "field %zu: empty name", (size_t)i);
        for (j = 0; j < f[i].name_len; j++) {
            FUZZ_CHECK(tchar((unsigned char)f[i].name[j]),
                       "field %zu: name byte 0x%02x", (size_t)i,
                       (unsigned char)f[i].name[j]);
        }
        FUZZ_CHECK(text_ok(f[i].value, f[i].value_len), "field %zu: value",
                   (size_t)i);
        FUZZ_CHECK(f[i].value_len == 0 ||
                       (!is_ows(f[i].value[0]) &&
                        !is_ows(f[i].value[f[i].value_len - 1])),
                   "field %zu: OWS left around the value", (size_t)i);
        FUZZ_CHECK(f[i].name >= prev && f[i].name[f[i].name_len] == ':' &&
                       f[i].value >= f[i].name + f[i].name_len + 1 &&
                       f[i].value + f[i].value_len <= buf + end,
                   "field %zu: out of place", (size_t)i);
        prev = f[i].value + f[i].value_len;
    }
}

static void check_valid(const char *buf, const result_t *r)
{
    const rp_h1_head_t *h = &r->head;

    FUZZ_CHECK(h->status >= 100 && h->status <= 599, "status %d", h->status);
    FUZZ_CHECK(h->minor_version == 0 || h->minor_version == 1, "minor %d",
               h->minor_version);
    FUZZ_CHECK(text_ok(h->reason, h->reason_len), "reason has a CTL");
    FUZZ_CHECK(h->nfields <= h->max_fields, "nfields > max_fields");
    check_fields(buf, (apr_size_t)r->rv, r->fields, h->nfields);
}

/* Write the head back; with_status 0 gives the field section alone. */
static char *serialize(const result_t *r, int with_status, apr_size_t *len)
{
    const rp_h1_head_t *h = &r->head;
    char *s = with_status ? apr_psprintf(fuzz_pool, "HTTP/1.%d %03d %.*s\r\n",
                                         h->minor_version, h->status,
                                         (int)h->reason_len, h->reason)
                          : "";
    apr_size_t i;

    for (i = 0; i < h->nfields; i++) {
        s = apr_psprintf(fuzz_pool, "%s%.*s: %.*s\r\n", s,
                         (int)r->fields[i].name_len, r->fields[i].name,
                         (int)r->fields[i].value_len, r->fields[i].value);
    }
    s = apr_pstrcat(fuzz_pool, s, "\r\n", NULL);
    *len = strlen(s);
    return s;
}

static int span_eq(const char *a, apr_size_t alen, const char *b,
                   apr_size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_same_text(const result_t *x, const rp_h1_field_t *f,
                            apr_size_t n)
{
    apr_size_t i;

    FUZZ_CHECK(n == x->head.nfields, "round trip: %zu fields, not %zu",
               (size_t)n, (size_t)x->head.nfields);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(span_eq(x->fields[i].name, x->fields[i].name_len, f[i].name,
                           f[i].name_len) &&
                       span_eq(x->fields[i].value, x->fields[i].value_len,
                               f[i].value, f[i].value_len),
                   "round trip: field %zu differs", (size_t)i);
    }
}

static void check_round_trip(const result_t *x)
{
    apr_size_t len;
    char *s = serialize(x, 1, &len);
    result_t y;
    rp_h1_head_t t;
    rp_h1_field_t tf[MAX_FIELDS];

    FUZZ_CHECK(parse(s, len, 0, MAX_FIELDS, &y) == (apr_ssize_t)len,
               "round trip: rv %ld (%s) for %zu bytes", (long)y.rv,
               y.head.error ? y.head.error : "-", (size_t)len);
    FUZZ_CHECK(y.head.status == x->head.status &&
                   y.head.minor_version == x->head.minor_version &&
                   span_eq(y.head.reason, y.head.reason_len, x->head.reason,
                           x->head.reason_len),
               "round trip: status line differs");
    check_same_text(x, y.fields, y.head.nfields);

    s = serialize(x, 0, &len);
    memset(&t, 0, sizeof(t));
    t.fields = tf;
    t.max_fields = MAX_FIELDS;
    FUZZ_CHECK(rp_h1_parse_trailers(s, len, &t) == (apr_ssize_t)len,
               "trailers round trip: %s", t.error ? t.error : "-");
    check_same_text(x, tf, t.nfields);
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Feed buf[0..len) as a buffer that grows by 1..16 bytes (or, one time in
 * four, by up to a quarter of the input) per call, as a socket would fill
 * it. The first answer other than INCOMPLETE must be the whole answer. */
static void check_resumption(const char *buf, apr_size_t len, unsigned seed,
                             apr_size_t max_fields, const result_t *whole)
{
    uint32_t s = 0x9e3779b9u ^ (seed << 8) ^ (uint32_t)len;
    apr_size_t have = 0, last = 0, step;
    result_t r;
    char *copy;

    while (have < len) {
        step = next_rand(&s) % 4 == 0 ? 1 + next_rand(&s) % (len / 4 + 1)
                                      : 1 + next_rand(&s) % 16;
        have = have + step < len ? have + step : len;
        copy = fuzz_exact_copy(buf, have);
        parse(copy, have, last, max_fields, &r);
        if (r.rv != RP_H1_INCOMPLETE) {
            FUZZ_CHECK(whole->rv != RP_H1_INCOMPLETE,
                       "split: answer at %zu bytes, none for all %zu",
                       (size_t)have, (size_t)len);
            check_same(buf, whole, copy, &r, "split vs whole");
            free(copy);
            return;
        }
        free(copy);
        last = have;
    }
    FUZZ_CHECK(whole->rv == RP_H1_INCOMPLETE, "split: never complete");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned choice;
    apr_size_t len, max_fields;
    char *buf;
    result_t whole, fewer;

    if (size < 1) {
        return 0;
    }
    choice = data[0];
    max_fields = 1 + (choice & 63);
    len = size - 1;
    buf = fuzz_exact_copy(data + 1, len);
    parse(buf, len, 0, max_fields, &whole);
    FUZZ_CHECK(whole.rv >= 0 || whole.rv == RP_H1_INCOMPLETE ||
                   (whole.rv == RP_H1_EBADMSG && whole.head.error != NULL),
               "rv %ld", (long)whole.rv);
    check_resumption(buf, len, choice, max_fields, &whole);
    if (whole.rv >= 0) {
        FUZZ_CHECK((apr_size_t)whole.rv <= len, "used past the end");
        check_valid(buf, &whole);
        check_round_trip(&whole);
        if (whole.head.nfields > 0) {
            parse(buf, len, 0, whole.head.nfields - 1, &fewer);
            FUZZ_CHECK(fewer.rv == RP_H1_EBADMSG,
                       "max_fields - 1 accepted: rv %ld", (long)fewer.rv);
        }
    }
    free(buf);
    FUZZ_END();
    return 0;
}
