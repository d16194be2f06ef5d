/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: a whole response read the way the transport reads it: the
 * head with rp_h1_parse_response() on a growing buffer, its framing with
 * rp_h1_response_framing(), the body by that framing (the chunked decoder,
 * a length, or until close) and the trailers with rp_h1_parse_trailers().
 *
 * Input: one byte of choices (bits 0-1: the request method GET, HEAD, POST
 * or CONNECT; all of it seeds the split points), then the response bytes.
 *
 * Properties beyond "no crash":
 * - the outcome (status, framing, error, body bytes, trailers, where the
 *   message ends) is the same whether the bytes arrive at once or in
 *   fuzzer-chosen pieces;
 * - framing rules: keep_alive never with read-until-close, never with a
 *   "close" element in Connection, no body after HEAD, 1xx, 204 or 304, and
 *   Transfer-Encoding with Content-Length on a response with content is an
 *   error; a length comes from Content-Length fields whose every element
 *   is that number;
 * - the end of a trailer section as the decoder saw it is where
 *   rp_h1_parse_trailers() finds it. */

#include "../fuzz.h"
#include "rp_h1.h"
#include <strings.h>

#define MAX_FIELDS 32
#define MAX_CUTS 64

static const char *const methods[] = {"GET", "HEAD", "POST", "CONNECT"};

typedef struct outcome_t {
    apr_ssize_t head_rv; /* bytes of the head, or RP_H1_* */
    int status;
    apr_status_t framing_rv;
    rp_h1_framing_t framing;
    const char *error;
    int body_state; /* 0: body incomplete, 1: complete, -1: decode error */
    apr_size_t end; /* offset past the message when complete */
    char *body;     /* malloc'd */
    apr_size_t body_len;
    char *trailer; /* malloc'd: raw trailer section */
    apr_size_t trailer_len;
    apr_ssize_t trailer_rv; /* rp_h1_parse_trailers() on it */
    apr_size_t trailer_fields;
} outcome_t;

/* The head on a buffer that grows to cuts[0], cuts[1], ...; returns the
 * index of the cut that completed it (ncuts when none did). */
static int read_head(const char *msg, const apr_size_t *cuts, int ncuts,
                     rp_h1_head_t *head, outcome_t *o)
{
    apr_size_t last = 0;
    int k;
    char *copy;

    for (k = 0; k < ncuts; k++) {
        copy = fuzz_exact_copy(msg, cuts[k]);
        head->nfields = 0;
        o->head_rv = rp_h1_parse_response(copy, cuts[k], last, head);
        free(copy);
        if (o->head_rv != RP_H1_INCOMPLETE) {
            break;
        }
        last = cuts[k];
    }
    /* The fields must point into msg, not the freed copy: parse once more
     * over what had arrived (the verdict is the same, see h1_response). */
    if (k < ncuts && o->head_rv >= 0) {
        rp_h1_parse_response(msg, cuts[k], 0, head);
    }
    o->error = o->head_rv == RP_H1_EBADMSG ? head->error : NULL;
    o->status = o->head_rv >= 0 ? head->status : 0;
    return k;
}

/* The trailers the decoder handed out, parsed as the transport does. */
static void parse_trailers(outcome_t *o)
{
    rp_h1_field_t f[MAX_FIELDS];
    rp_h1_head_t t;
    char *copy;

    if (o->trailer_len == 0) {
        return;
    }
    memset(&t, 0, sizeof(t));
    t.fields = f;
    t.max_fields = MAX_FIELDS;
    copy = fuzz_exact_copy(o->trailer, o->trailer_len);
    o->trailer_rv = rp_h1_parse_trailers(copy, o->trailer_len, &t);
    free(copy);
    o->trailer_fields = t.nfields;
    FUZZ_CHECK(o->trailer_rv == (apr_ssize_t)o->trailer_len ||
                   o->trailer_rv == RP_H1_EBADMSG,
               "decoder and trailer parser disagree on the end: %ld of %zu",
               (long)o->trailer_rv, (size_t)o->trailer_len);
}

/* One decode call on an exact-size copy of msg[pos..have). */
static apr_ssize_t decode_step(rp_h1_chunked_t *dec, const char *msg,
                               apr_size_t pos, apr_size_t have, outcome_t *o,
                               int *done)
{
    char *copy = fuzz_exact_copy(msg + pos, have - pos);
    rp_h1_span_t span;
    const char *err = NULL;
    apr_ssize_t rv = rp_h1_chunked_decode(dec, copy, have - pos, &span, &err);

    if (rv >= 0 && span.kind == RP_H1_SPAN_DATA) {
        fuzz_append(&o->body, &o->body_len, copy + span.off, span.len);
    }
    else if (rv >= 0 && span.kind == RP_H1_SPAN_TRAILER) {
        fuzz_append(&o->trailer, &o->trailer_len, copy + span.off, span.len);
    }
    if (rv < 0) {
        o->error = err;
    }
    *done = rv >= 0 && span.kind == RP_H1_SPAN_DONE;
    free(copy);
    return rv;
}

/* The chunked body from pos, as the pieces from cut k on arrive. */
static void read_chunked(const char *msg, apr_size_t pos,
                         const apr_size_t *cuts, int k, int ncuts, outcome_t *o)
{
    rp_h1_chunked_t dec;
    apr_ssize_t rv = 0;
    int done = 0;

    memset(&dec, 0, sizeof(dec));
    for (; k < ncuts && rv >= 0 && !done; k++) {
        do {
            rv = decode_step(&dec, msg, pos, cuts[k], o, &done);
            pos += rv > 0 ? (apr_size_t)rv : 0;
        } while (rv > 0 && !done && pos < cuts[k]);
    }
    if (rv >= 0 && !done) {
        rv = decode_step(&dec, msg, pos, pos, o, &done);
    }
    o->body_state = rv < 0 ? -1 : done;
    o->end = done ? pos : 0;
    if (done) {
        parse_trailers(o);
    }
}

/* The next element of the list v[0..n) from *i (RFC 9110 5.6.1: OWS
 * around elements): [*s, *e), and *i moved past its comma. 0 once the
 * list is done. */
static int next_elem(const char *v, apr_size_t n, apr_size_t *i, apr_size_t *s,
                     apr_size_t *e)
{
    if (*i > n) {
        return 0;
    }
    for (*s = *i; *s < n && (v[*s] == ' ' || v[*s] == '\t'); (*s)++) {
    }
    for (*e = *s; *e < n && v[*e] != ','; (*e)++) {
    }
    *i = *e + 1;
    while (*e > *s && (v[*e - 1] == ' ' || v[*e - 1] == '\t')) {
        (*e)--;
    }
    return 1;
}

/* Is "close" an element of the list v (a connection-option is a bare
 * token, so "close;x" is not it)? */
static int lists_close(const char *v, apr_size_t n)
{
    apr_size_t i = 0, s, e;

    while (next_elem(v, n, &i, &s, &e)) {
        if (e - s == 5 && !strncasecmp(v + s, "close", 5)) {
            return 1;
        }
    }
    return 0;
}

/* Does every element of the list v read as the decimal number want? */
static int all_equal(const char *v, apr_size_t n, apr_uint64_t want)
{
    apr_size_t i = 0, s, e, d;
    apr_uint64_t x;

    while (next_elem(v, n, &i, &s, &e)) {
        for (x = 0, d = s; d < e && v[d] >= '0' && v[d] <= '9'; d++) {
            x = x * 10 + (apr_uint64_t)(v[d] - '0'); /* < 2^63: accepted */
        }
        if (e == s || d != e || x != want) {
            return 0;
        }
    }
    return 1;
}

static void check_framing_rules(const rp_h1_head_t *head, const char *method,
                                const outcome_t *o)
{
    int no_body = !strcmp(method, "HEAD") || head->status < 200 ||
                  head->status == 204 || head->status == 304;
    int i, te = rp_h1_find_field(head, "Transfer-Encoding", 0) >= 0;
    int cl = rp_h1_find_field(head, "Content-Length", 0) >= 0;

    FUZZ_CHECK(!o->framing.keep_alive || o->framing.kind != RP_H1_BODY_CLOSE,
               "keep-alive with a body read until close");
    FUZZ_CHECK(!no_body || (o->framing_rv == APR_SUCCESS &&
                            o->framing.kind == RP_H1_BODY_NONE),
               "a body after %s %d", method, head->status);
    FUZZ_CHECK(no_body || !strcmp(method, "CONNECT") || !te || !cl ||
                   o->framing_rv != APR_SUCCESS,
               "Transfer-Encoding and Content-Length accepted");
    FUZZ_CHECK(o->framing.kind != RP_H1_BODY_LENGTH || o->framing.length > 0,
               "length framing of 0 bytes");
    for (i = 0; o->framing.kind == RP_H1_BODY_LENGTH &&
                (i = rp_h1_find_field(head, "Content-Length", i)) >= 0;
         i++) {
        FUZZ_CHECK(all_equal(head->fields[i].value, head->fields[i].value_len,
                             o->framing.length),
                   "length %llu from Content-Length: %.*s",
                   (unsigned long long)o->framing.length,
                   (int)head->fields[i].value_len, head->fields[i].value);
    }
    for (i = 0; (i = rp_h1_find_field(head, "Connection", i)) >= 0; i++) {
        FUZZ_CHECK(
            !o->framing.keep_alive ||
                !lists_close(head->fields[i].value, head->fields[i].value_len),
            "keep-alive despite Connection: %.*s",
            (int)head->fields[i].value_len, head->fields[i].value);
    }
}

static void read_message(const char *msg, apr_size_t len, const char *method,
                         const apr_size_t *cuts, int ncuts, outcome_t *o)
{
    rp_h1_field_t fields[MAX_FIELDS];
    rp_h1_head_t head;
    apr_size_t pos, avail;
    int k;

    memset(o, 0, sizeof(*o));
    memset(&head, 0, sizeof(head));
    head.fields = fields;
    head.max_fields = MAX_FIELDS;
    k = read_head(msg, cuts, ncuts, &head, o);
    if (o->head_rv < 0) {
        return;
    }
    pos = (apr_size_t)o->head_rv;
    o->framing_rv = rp_h1_response_framing(&head, method, &o->framing);
    check_framing_rules(&head, method, o);
    if (o->framing_rv != APR_SUCCESS) {
        o->error = o->framing.error;
        return;
    }
    avail = len - pos;
    switch (o->framing.kind) {
    case RP_H1_BODY_CHUNKED:
        read_chunked(msg, pos, cuts, k, ncuts, o);
        break;
    case RP_H1_BODY_LENGTH:
        if (o->framing.length < avail) {
            avail = (apr_size_t)o->framing.length;
        }
        fuzz_append(&o->body, &o->body_len, msg + pos, avail);
        o->body_state = avail == o->framing.length;
        o->end = o->body_state ? pos + avail : 0;
        break;
    case RP_H1_BODY_CLOSE:
        fuzz_append(&o->body, &o->body_len, msg + pos, avail);
        break;
    default:
        o->body_state = 1;
        o->end = pos;
    }
}

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int same_bytes(const char *a, apr_size_t an, const char *b,
                      apr_size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check_same(const outcome_t *x, const outcome_t *y)
{
    FUZZ_CHECK(x->head_rv == y->head_rv && x->status == y->status,
               "head: %ld vs %ld", (long)x->head_rv, (long)y->head_rv);
    FUZZ_CHECK(x->framing_rv == y->framing_rv &&
                   x->framing.kind == y->framing.kind &&
                   x->framing.length == y->framing.length &&
                   x->framing.keep_alive == y->framing.keep_alive,
               "framing differs");
    FUZZ_CHECK((x->error == NULL) == (y->error == NULL) &&
                   (x->error == NULL || !strcmp(x->error, y->error)),
               "error: %s vs %s", x->error, y->error);
    FUZZ_CHECK(x->body_state == y->body_state && x->end == y->end,
               "body state %d/%zu vs %d/%zu", x->body_state, (size_t)x->end,
               y->body_state, (size_t)y->end);
    FUZZ_CHECK(same_bytes(x->body, x->body_len, y->body, y->body_len),
               "body differs: %zu vs %zu bytes", (size_t)x->body_len,
               (size_t)y->body_len);
    FUZZ_CHECK(x->body_state < 0 || same_bytes(x->trailer, x->trailer_len,
                                               y->trailer, y->trailer_len),
               "trailers differ");
    FUZZ_CHECK(x->trailer_rv == y->trailer_rv &&
                   x->trailer_fields == y->trailer_fields,
               "parsed trailers differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_size_t cuts[MAX_CUTS], len;
    const char *msg, *method;
    outcome_t whole, split;
    uint32_t s;
    int n = 0;

    if (size < 1) {
        return 0;
    }
    method = methods[data[0] & 3];
    msg = (const char *)data + 1;
    len = size - 1;
    /* Pieces of 1..32 bytes, the last one taking the rest. */
    s = 0x6d2b79f5u ^ ((uint32_t)data[0] << 8) ^ (uint32_t)len;
    while (n < MAX_CUTS - 1 && (n ? cuts[n - 1] : 0) < len) {
        cuts[n] = (n ? cuts[n - 1] : 0) + 1 + next_rand(&s) % 32;
        n++;
    }
    cuts[n ? n - 1 : 0] = len;
    n = n ? n : 1;
    if (n < MAX_CUTS && cuts[n - 1] < len) {
        cuts[n++] = len;
    }
    read_message(msg, len, method, &len, 1, &whole);
    read_message(msg, len, method, cuts, n, &split);
    check_same(&whole, &split);
    free(whole.body);
    free(whole.trailer);
    free(split.body);
    free(split.trailer);
    FUZZ_END();
    return 0;
}
