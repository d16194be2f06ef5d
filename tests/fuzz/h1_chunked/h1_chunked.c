/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: rp_h1_chunked_decode(), trailers included.
 *
 * Input: one byte of choices (bits 0-3: max_trailer_bytes, 0 meaning the
 * default and n meaning 8 * n; all of it seeds the split points), then a
 * chunked body and whatever follows it.
 *
 * Properties beyond "no crash":
 * - the data spans concatenated, the trailer spans concatenated, the bytes
 *   consumed and the verdict (done, error, needs more) equal those of
 *   ref_decode() below, a second decoder written from RFC 9112 section 7.1
 *   and the contract in rp_h1.h without looking at the state machine;
 * - the same holds when the body arrives in fuzzer-chosen pieces;
 * - spans lie inside what the call consumed, DATA and TRAILER spans are
 *   never empty, nothing is consumed after DONE, and every call after an
 *   error fails again. */

#include "../fuzz.h"
#include "rp_h1.h"

enum { V_MORE = 0, V_DONE, V_ERROR };

typedef struct outcome_t {
    int verdict;
    apr_size_t consumed; /* V_DONE only */
    char *data;          /* malloc'd; data bytes in order */
    apr_size_t data_len;
    char *trailer; /* malloc'd; trailer section bytes in order */
    apr_size_t trailer_len;
} outcome_t;

/* ---- the reference decoder ------------------------------------------ */

typedef struct ref_t {
    const unsigned char *p;
    apr_size_t len, i;
} ref_t;

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int ctl(int c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* A line end: LF, or CR LF. V_MORE when the input stops first. */
#define NEED(r)                                                                \
    do {                                                                       \
        if ((r)->i >= (r)->len) {                                              \
            return V_MORE;                                                     \
        }                                                                      \
    } while (0)

static int ref_eol(ref_t *r)
{
    NEED(r);
    if (r->p[r->i] == '\r') {
        r->i++;
        NEED(r);
    }
    if (r->p[r->i] != '\n') {
        return V_ERROR;
    }
    r->i++;
    return -1; /* go on */
}

/* chunk-size [ BWS chunk-ext ] line end; *size set. */
static int ref_size_line(ref_t *r, apr_uint64_t *size)
{
    unsigned digits = 0;
    int quoted = 0;

    *size = 0;
    for (;;) {
        NEED(r);
        if (hexval(r->p[r->i]) < 0) {
            break;
        }
        if (++digits > 16) {
            return V_ERROR;
        }
        *size = *size * 16 + (apr_uint64_t)hexval(r->p[r->i++]);
        if (*size > (apr_uint64_t)APR_INT64_MAX) {
            return V_ERROR;
        }
    }
    if (digits == 0) {
        return V_ERROR;
    }
    while (r->p[r->i] == ' ' || r->p[r->i] == '\t') {
        r->i++;
        NEED(r);
    }
    if (r->p[r->i] == ';') {
        /* Extensions: skipped, but no CTL, and no line end in a quote. */
        for (;; r->i++) {
            NEED(r);
            int c = r->p[r->i];
            if (!quoted && (c == '\r' || c == '\n')) {
                break;
            }
            if (ctl(c)) {
                return V_ERROR;
            }
            if (quoted && c == '\\') {
                r->i++;
                NEED(r);
                if (ctl(r->p[r->i])) {
                    return V_ERROR;
                }
            }
            else if (c == '"') {
                quoted = !quoted;
            }
        }
    }
    return ref_eol(r);
}

/* The trailer section after the last chunk: field lines up to an empty
 * line, each ended by LF or CR LF. Its bytes count against max from the
 * first on, unless the section is empty (then its line end is framing, and
 * no trailer bytes exist). A byte past max is refused before it is looked
 * at; bytes are collected only when no error follows. */
static int ref_trailer(ref_t *r, apr_size_t max, outcome_t *o)
{
    apr_size_t start = r->i;
    int bol = 1, cr = 0, v = V_MORE, c;

    NEED(r);
    if (r->p[r->i] == '\r' || r->p[r->i] == '\n') {
        return ref_eol(r);
    }
    for (; r->i < r->len; r->i++) {
        c = r->p[r->i];
        if (r->i - start >= max || (cr && c != '\n')) {
            return V_ERROR;
        }
        if (c == '\n' && bol) {
            r->i++;
            v = -1;
            break;
        }
        cr = c == '\r';
        if (c == '\n') {
            bol = 1;
        }
        else if (c != '\r') {
            bol = 0;
        }
    }
    fuzz_append(&o->trailer, &o->trailer_len, (const char *)r->p + start,
                r->i - start);
    return v;
}

static void ref_decode(const unsigned char *p, apr_size_t len, apr_size_t max,
                       outcome_t *o)
{
    ref_t r = {p, len, 0};
    apr_uint64_t size;
    apr_size_t n;
    int v;

    memset(o, 0, sizeof(*o));
    for (;;) {
        if ((v = ref_size_line(&r, &size)) >= 0) {
            break;
        }
        if (size == 0) {
            v = ref_trailer(&r, max, o);
            if (v < 0) {
                o->consumed = r.i;
                v = V_DONE;
            }
            break;
        }
        n = (apr_uint64_t)(len - r.i) < size ? len - r.i : (apr_size_t)size;
        fuzz_append(&o->data, &o->data_len, (const char *)p + r.i, n);
        r.i += n;
        if (n < size) {
            v = V_MORE;
            break;
        }
        if ((v = ref_eol(&r)) >= 0) {
            break;
        }
    }
    o->verdict = v;
}

/* ---- the decoder under test ----------------------------------------- */

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One call on an exact-size copy of buf[0..len), with the span checks. */
static apr_ssize_t decode_once(rp_h1_chunked_t *dec, const char *buf,
                               apr_size_t len, outcome_t *o, int *done)
{
    char *copy = fuzz_exact_copy(buf, len);
    rp_h1_span_t span;
    const char *err = NULL;
    apr_ssize_t rv = rp_h1_chunked_decode(dec, copy, len, &span, &err);

    if (rv < 0) {
        FUZZ_CHECK(rv == RP_H1_EBADMSG && err != NULL, "rv %ld", (long)rv);
        free(copy);
        return rv;
    }
    FUZZ_CHECK((apr_size_t)rv <= len, "consumed %ld of %zu", (long)rv,
               (size_t)len);
    if (span.kind == RP_H1_SPAN_DATA || span.kind == RP_H1_SPAN_TRAILER) {
        FUZZ_CHECK(span.len > 0 && span.off + span.len == (apr_size_t)rv,
                   "span %zu+%zu, consumed %ld", (size_t)span.off,
                   (size_t)span.len, (long)rv);
        if (span.kind == RP_H1_SPAN_DATA) {
            fuzz_append(&o->data, &o->data_len, copy + span.off, span.len);
        }
        else {
            fuzz_append(&o->trailer, &o->trailer_len, copy + span.off,
                        span.len);
        }
    }
    *done = span.kind == RP_H1_SPAN_DONE;
    free(copy);
    return rv;
}

/* Feed body[0..len) in pieces (all at once when seed is 0) the way the
 * transport does: bytes the decoder did not consume stay in front of the
 * next piece. */
static void run_decoder(const char *body, apr_size_t len, apr_size_t max,
                        unsigned seed, outcome_t *o)
{
    rp_h1_chunked_t dec;
    uint32_t s = 0x2545f491u ^ (seed << 8) ^ (uint32_t)len;
    apr_size_t have = 0, pos = 0;
    apr_ssize_t rv = 0;
    int done = 0;

    memset(&dec, 0, sizeof(dec));
    dec.max_trailer_bytes = max;
    memset(o, 0, sizeof(*o));
    do {
        have = seed == 0 ? len : have + 1 + next_rand(&s) % 24;
        have = have < len ? have : len;
        /* Call until nothing more is consumed from what has arrived. */
        do {
            rv = decode_once(&dec, body + pos, have - pos, o, &done);
            pos += rv > 0 ? (apr_size_t)rv : 0;
        } while (rv > 0 && !done && pos < have);
    } while (rv >= 0 && !done && have < len);
    if (rv >= 0 && !done) {
        /* A DONE owed after the last TRAILER span comes with len 0. */
        rv = decode_once(&dec, body + pos, 0, o, &done);
        FUZZ_CHECK(rv <= 0, "consumed %ld of nothing", (long)rv);
    }
    o->verdict = rv < 0 ? V_ERROR : done ? V_DONE : V_MORE;
    o->consumed = done ? pos : 0;
    if (rv < 0) {
        FUZZ_CHECK(decode_once(&dec, body + pos, len - pos, o, &done) < 0,
                   "a call after an error succeeded");
    }
    else if (done) {
        FUZZ_CHECK(decode_once(&dec, body + pos, len - pos, o, &done) == 0 &&
                       done,
                   "a call after DONE consumed or forgot DONE");
    }
}

static int same_bytes(const char *a, apr_size_t an, const char *b,
                      apr_size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static const char *const verdicts[] = {"more", "done", "error"};

static void check_same(const outcome_t *ref, const outcome_t *got,
                       const char *what)
{
    FUZZ_CHECK(ref->verdict == got->verdict, "%s: reference %s, decoder %s",
               what, verdicts[ref->verdict], verdicts[got->verdict]);
    FUZZ_CHECK(ref->consumed == got->consumed,
               "%s: reference consumed %zu, decoder %zu", what,
               (size_t)ref->consumed, (size_t)got->consumed);
    FUZZ_CHECK(same_bytes(ref->data, ref->data_len, got->data, got->data_len),
               "%s: data differs (%zu vs %zu bytes)", what,
               (size_t)ref->data_len, (size_t)got->data_len);
    /* Trailer bytes of a refused section need not all come out. */
    FUZZ_CHECK(ref->verdict == V_ERROR ||
                   same_bytes(ref->trailer, ref->trailer_len, got->trailer,
                              got->trailer_len),
               "%s: trailers differ (%zu vs %zu bytes)", what,
               (size_t)ref->trailer_len, (size_t)got->trailer_len);
}

static void release(outcome_t *o)
{
    free(o->data);
    free(o->trailer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome_t ref, whole, split;
    apr_size_t max;
    unsigned choice;

    if (size < 1) {
        return 0;
    }
    choice = data[0];
    max = (choice & 15) * 8;
    ref_decode(data + 1, size - 1, max ? max : 16384, &ref);
    run_decoder((const char *)data + 1, size - 1, max, 0, &whole);
    check_same(&ref, &whole, "whole");
    run_decoder((const char *)data + 1, size - 1, max, choice | 1, &split);
    check_same(&ref, &split, "split");
    release(&ref);
    release(&whole);
    release(&split);
    FUZZ_END();
    return 0;
}
