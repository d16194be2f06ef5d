/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_h1.c: HTTP/1.1 wire format (RFC 9112). Contracts are in rp_h1.h.
 *
 * The head parsers work in two passes over the caller's buffer: first find
 * the empty line that ends the head (resumable through last_len), then
 * check and split the complete head line by line. The verdict therefore
 * depends only on the complete head, never on how its bytes arrived, and
 * the second pass can rely on every line ending in LF before `end`.
 *
 * The chunked decoder is a byte-driven state machine whose whole state lives
 * in rp_h1_chunked_t, so input may be split anywhere. */

#include <string.h>
#include <apr.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_h1.h"

/* Trailer section limit when the caller leaves max_trailer_bytes at 0. */
#define RP_H1_DEFAULT_MAX_TRAILER 16384

/* Chunk sizes, Content-Length values and body lengths stay below 2^63 so
 * that they fit apr_off_t, which is what brigades and files count in. */
#define RP_H1_MAX_LENGTH ((apr_uint64_t)APR_INT64_MAX)

/* ---- characters ---------------------------------------------------- */

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The table behind RP_H1_IS_TCHAR and RP_H1_IS_BAD_TEXT (rp_h1.h): every
 * byte of a response head goes through one of them. Bit 1: tchar, ALPHA
 * DIGIT and !#$%&'*+-.^_`|~; bit 2: CTLs but HTAB, and DEL. The unit tests
 * check it against these definitions. */
const unsigned char rp_h1_ctype[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 2, 2, 2, 2, 2, 2, /* 0x00 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x10 */
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 2, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

static int is_tchar(unsigned char c)
{
    return RP_H1_IS_TCHAR(c);
}

static int is_bad_text(unsigned char c)
{
    return RP_H1_IS_BAD_TEXT(c);
}

/* The most telling name for a byte that may not appear where it is: CR and
 * NUL get their own texts because they are the smuggling tools. */
static const char *char_fault(unsigned char c, const char *otherwise)
{
    if (c == '\r') {
        return "bare CR in head";
    }
    if (c == '\0') {
        return "NUL in head";
    }
    return otherwise;
}

static int lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Does s[0..n) equal the NUL-terminated lit, ASCII case-insensitively?
 * Locale-independent on purpose: header names and tokens are ASCII. */
static int eq_nocase(const char *s, apr_size_t n, const char *lit)
{
    apr_size_t i;
    for (i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (b == '\0' || (a != b && lower(a) != lower(b))) {
            return 0;
        }
    }
    return lit[n] == '\0';
}

/* ---- head parsing -------------------------------------------------- */

/* Offset just past the LF of the first empty line ("\n" or "\r\n") in
 * buf[0..len), or 0 when there is none yet. An LF before `from` was already
 * checked by an earlier call; the check of an LF looks back at most two
 * bytes, which are always inside buf, so resuming at `from` misses nothing. */
static apr_size_t find_head_end(const char *buf, apr_size_t len,
                                apr_size_t from)
{
    apr_size_t i = from;
    const char *lf;

    while (i < len && (lf = memchr(buf + i, '\n', len - i)) != NULL) {
        i = (apr_size_t)(lf - buf);
        if (i == 0 || buf[i - 1] == '\n') {
            return i + 1;
        }
        if (buf[i - 1] == '\r' && (i == 1 || buf[i - 2] == '\n')) {
            return i + 1;
        }
        i++;
    }
    return 0;
}

/* One line of a complete head: its text without the line end. */
typedef struct line_t {
    const char *p;
    apr_size_t len;
} line_t;

/* Take the line starting at *pos. find_head_end() has proved an LF before
 * end, so memchr cannot fail. One CR before the LF belongs to the line end;
 * any other CR stays in the text, where the field checks reject it. */
static void next_line(const char *buf, apr_size_t end, apr_size_t *pos,
                      line_t *line)
{
    const char *lf = memchr(buf + *pos, '\n', end - *pos);

    RP_ASSERT(lf != NULL);
    line->p = buf + *pos;
    line->len = (apr_size_t)(lf - line->p);
    if (line->len > 0 && line->p[line->len - 1] == '\r') {
        line->len--;
    }
    *pos = (apr_size_t)(lf - buf) + 1;
}

/* status-line = "HTTP/1." DIGIT SP 3DIGIT [ SP reason-phrase ]
 * (RFC 9112 4). A missing SP after the code is tolerated, as many servers
 * omit it with an empty reason. HTTP/1.2 and later minors are read as 1.1,
 * as RFC 9110 2.5 asks of a recipient. */
static const char *parse_status_line(const line_t *l, rp_h1_head_t *head)
{
    const char *p = l->p;
    apr_size_t i;

    if (l->len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) ||
        p[8] != ' ' || !is_digit(p[9]) || !is_digit(p[10]) ||
        !is_digit(p[11]) || (l->len > 12 && p[12] != ' ')) {
        return "bad status line";
    }
    head->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (head->status < 100 || head->status > 599) {
        return "status code out of range";
    }
    head->minor_version = p[7] == '0' ? 0 : 1;
    head->reason = l->len > 12 ? p + 13 : p + 12;
    head->reason_len = l->len > 12 ? l->len - 13 : 0;
    for (i = 0; i < head->reason_len; i++) {
        if (is_bad_text(head->reason[i])) {
            return char_fault(head->reason[i],
                              "control character in reason phrase");
        }
    }
    return NULL;
}

/* Name the fault of a field name that stops at a byte other than ':'.
 * Whitespace before the colon gets its own text: RFC 9112 5.1 makes it an
 * error precisely because lenient parsers disagree on the name. */
static const char *name_fault(const line_t *l, apr_size_t i)
{
    unsigned char c = l->p[i];

    if (is_ows(c)) {
        while (i < l->len && is_ows(l->p[i])) {
            i++;
        }
        if (i < l->len && l->p[i] == ':') {
            return "whitespace before colon in header";
        }
    }
    return char_fault(c, "bad character in header name");
}

/* Does any of the 8 bytes of w hold a CTL (below 0x20) or DEL? Both tests
 * are exact for "some byte": a byte of 0x80 or more never counts, as
 * obs-text is allowed. HTAB counts too; the caller reads such a word again
 * byte by byte. */
static int word_has_ctl(apr_uint64_t w)
{
    const apr_uint64_t ones = APR_UINT64_C(0x0101010101010101);
    const apr_uint64_t high = APR_UINT64_C(0x8080808080808080);
    apr_uint64_t del = w ^ (ones * 0x7f);

    return ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & high) != 0;
}

/* Where the text p[from..to) has a byte RP_H1_IS_BAD_TEXT, or NULL: eight
 * bytes at a time while they are plain text, as field values are. */
static const char *find_bad_text(const char *p, apr_size_t from, apr_size_t to)
{
    apr_uint64_t w;

    for (; from + 8 <= to; from += 8) {
        memcpy(&w, p + from, 8);
        if (word_has_ctl(w)) {
            break;
        }
    }
    for (; from < to; from++) {
        if (is_bad_text(p[from])) {
            return p + from;
        }
    }
    return NULL;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). The caller
 * has dealt with lines that start with whitespace. The name stops at the
 * line end at the latest (CR or LF, not tchars). */
static const char *parse_field_line(const line_t *l, rp_h1_field_t *f)
{
    apr_size_t i = 0, v, e;
    const char *bad;

    while (is_tchar(l->p[i])) {
        i++;
    }
    if (l->p[i] != ':') {
        if (memchr(l->p, ':', l->len) == NULL) {
            /* a lone CR is what made the line: name the smuggling tool */
            return memchr(l->p, '\r', l->len) != NULL
                       ? "bare CR in head"
                       : "missing colon in header";
        }
        return name_fault(l, i);
    }
    if (i == 0) {
        return "empty header name";
    }
    for (v = i + 1; v < l->len && is_ows(l->p[v]); v++) {
    }
    for (e = l->len; e > v && is_ows(l->p[e - 1]); e--) {
    }
    f->name = l->p;
    f->name_len = i;
    f->value = l->p + v;
    f->value_len = e - v;
    if ((bad = find_bad_text(l->p, v, e)) != NULL) {
        return char_fault(*bad, "control character in header value");
    }
    return NULL;
}

/* Field lines from *pos up to the empty line that ends at `end`. A line
 * starting with whitespace is obs-fold (RFC 9112 5.2), or, right after a
 * status line, the whitespace RFC 9112 2.2 tells recipients to reject. */
static const char *parse_fields(const char *buf, apr_size_t end, apr_size_t pos,
                                int after_status, rp_h1_head_t *head)
{
    line_t l;
    const char *err;

    for (;;) {
        next_line(buf, end, &pos, &l);
        if (l.len == 0) {
            RP_ASSERT(pos == end);
            return NULL;
        }
        if (is_ows(l.p[0])) {
            return head->nfields == 0 && after_status
                       ? "whitespace before first header field"
                       : "obs-fold in header";
        }
        if (head->nfields == head->max_fields) {
            return "too many header fields";
        }
        err = parse_field_line(&l, &head->fields[head->nfields]);
        if (err != NULL) {
            return err;
        }
        head->nfields++;
    }
}

apr_ssize_t rp_h1_parse_response(const char *buf, apr_size_t len,
                                 apr_size_t last_len, rp_h1_head_t *head)
{
    apr_size_t end, pos = 0;
    line_t l;
    const char *err;

    head->error = NULL;
    head->nfields = 0;
    /* A last_len beyond len is a caller bug; rescanning is always safe. */
    end = find_head_end(buf, len, last_len <= len ? last_len : 0);
    if (end == 0) {
        return RP_H1_INCOMPLETE;
    }
    next_line(buf, end, &pos, &l);
    err = parse_status_line(&l, head);
    if (err == NULL) {
        err = parse_fields(buf, end, pos, 1, head);
    }
    if (err != NULL) {
        head->error = err;
        return RP_H1_EBADMSG;
    }
    return (apr_ssize_t)end;
}

apr_ssize_t rp_h1_parse_trailers(const char *buf, apr_size_t len,
                                 rp_h1_head_t *head)
{
    apr_size_t end;
    const char *err;

    head->error = NULL;
    head->nfields = 0;
    end = find_head_end(buf, len, 0);
    if (end == 0) {
        return RP_H1_INCOMPLETE;
    }
    err = parse_fields(buf, end, 0, 0, head);
    if (err != NULL) {
        head->error = err;
        return RP_H1_EBADMSG;
    }
    return (apr_ssize_t)end;
}

int rp_h1_find_field(const rp_h1_head_t *head, const char *name, int start)
{
    apr_size_t i, n = strlen(name);

    /* Lengths first: most fields differ in length from the one sought. */
    for (i = start > 0 ? (apr_size_t)start : 0; i < head->nfields; i++) {
        const rp_h1_field_t *f = &head->fields[i];
        if (f->name_len == n && eq_nocase(f->name, n, name)) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- body framing -------------------------------------------------- */

/* Walks the elements of a comma-separated field value (RFC 9110 5.6.1),
 * OWS trimmed. Empty elements are yielded too: Content-Length must reject
 * them, while Connection and Transfer-Encoding skip them as 5.6.1 asks. */
typedef struct list_iter_t {
    const char *p;
    apr_size_t len;
    apr_size_t pos;
    int done;
} list_iter_t;

static void list_init(list_iter_t *it, const rp_h1_field_t *f)
{
    it->p = f->value;
    it->len = f->value_len;
    it->pos = 0;
    it->done = 0;
}

static int list_next(list_iter_t *it, const char **el, apr_size_t *el_len)
{
    apr_size_t s = it->pos, e = it->pos;

    if (it->done) {
        return 0;
    }
    while (e < it->len && it->p[e] != ',') {
        e++;
    }
    it->done = e == it->len;
    it->pos = e + 1;
    while (s < e && is_ows(it->p[s])) {
        s++;
    }
    while (e > s && is_ows(it->p[e - 1])) {
        e--;
    }
    *el = it->p + s;
    *el_len = e - s;
    return 1;
}

/* The three fields the framing reads. */
typedef enum framing_name_t {
    FN_CONNECTION,
    FN_CONTENT_LENGTH,
    FN_TRANSFER_ENCODING,
    FN_COUNT
} framing_name_t;

static const char *const framing_names[FN_COUNT] = {
    "Connection", "Content-Length", "Transfer-Encoding"};

/* Where those fields are in a head: the first and last index of each, -1
 * when there is none. One pass over the head finds all three; the fields
 * between first and last are looked at again only when a name repeats. */
typedef struct framing_fields_t {
    const rp_h1_head_t *head;
    int first[FN_COUNT];
    int last[FN_COUNT];
} framing_fields_t;

/* Which of the three a field is, or -1: the length decides the candidate
 * (10, 14 and 17 letters), one compare the rest. */
static int framing_name(const rp_h1_field_t *f)
{
    int k;

    switch (f->name_len) {
    case 10:
        k = FN_CONNECTION;
        break;
    case 14:
        k = FN_CONTENT_LENGTH;
        break;
    case 17:
        k = FN_TRANSFER_ENCODING;
        break;
    default:
        return -1;
    }
    return memcmp(f->name, framing_names[k], f->name_len) == 0 ||
                   eq_nocase(f->name, f->name_len, framing_names[k])
               ? k
               : -1;
}

static void framing_fields(const rp_h1_head_t *head, framing_fields_t *ff)
{
    int i, k;

    ff->head = head;
    for (k = 0; k < FN_COUNT; k++) {
        ff->first[k] = ff->last[k] = -1;
    }
    for (i = 0; i < (int)head->nfields; i++) {
        if ((k = framing_name(&head->fields[i])) >= 0) {
            if (ff->first[k] < 0) {
                ff->first[k] = i;
            }
            ff->last[k] = i;
        }
    }
}

/* The fields called k in order: *i starts at -1; NULL after the last. */
static const rp_h1_field_t *next_framing_field(const framing_fields_t *ff,
                                               framing_name_t k, int *i)
{
    int j = *i < ff->first[k] ? ff->first[k] : *i + 1;

    for (; j >= 0 && j <= ff->last[k]; j++) {
        if (j == ff->first[k] || j == ff->last[k] ||
            framing_name(&ff->head->fields[j]) == (int)k) {
            *i = j;
            return &ff->head->fields[j];
        }
    }
    return NULL;
}

/* Is token an element of any Connection field? With params set, an
 * element "token;..." counts too (its name, OWS trimmed before the ';').
 * Written here rather than taken from rp_headers so that rp_h1 stays a
 * leaf of core/. */
static int has_token(const framing_fields_t *ff, const char *token, int params)
{
    int i = -1;
    const rp_h1_field_t *f;
    list_iter_t it;
    const char *el, *semi;
    apr_size_t n;

    while ((f = next_framing_field(ff, FN_CONNECTION, &i)) != NULL) {
        list_init(&it, f);
        while (list_next(&it, &el, &n)) {
            if (params && (semi = memchr(el, ';', n)) != NULL) {
                for (n = (apr_size_t)(semi - el); n > 0 && is_ows(el[n - 1]);
                     n--) {
                }
            }
            if (eq_nocase(el, n, token)) {
                return 1;
            }
        }
    }
    return 0;
}

/* RFC 9112 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with
 * "keep-alive" (the 1.0 extension RFC 9112 appendix C.2.2 describes).
 * A connection option takes no parameters (RFC 9110 7.6.1), but
 * "close;x=1" is read as close: rp_headers, which removes the fields
 * that Connection names, reads the list that way, and closing is always
 * safe where keeping the connection is not. */
static int wants_keep_alive(const framing_fields_t *ff)
{
    if (has_token(ff, "close", 1)) {
        return 0;
    }
    return ff->head->minor_version >= 1 || has_token(ff, "keep-alive", 0);
}

/* 1-DIGIT decimal below 2^63. No sign, no inner space, no hex: anything
 * lenient here is a way to make two parsers disagree on the length. */
static const char *parse_length(const char *s, apr_size_t n, apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    apr_size_t i;

    if (n == 0) {
        return "bad Content-Length";
    }
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return "bad Content-Length";
        }
        if (v > (RP_H1_MAX_LENGTH - (apr_uint64_t)(s[i] - '0')) / 10) {
            return "Content-Length too large";
        }
        v = v * 10 + (apr_uint64_t)(s[i] - '0');
    }
    *out = v;
    return NULL;
}

/* Every Content-Length field and every element of its list must be the same
 * plain number (RFC 9110 8.6 allows repeats only when they agree). */
static const char *content_length(const framing_fields_t *ff, int *present,
                                  apr_uint64_t *length)
{
    int i = -1;
    const rp_h1_field_t *f;
    list_iter_t it;
    const char *el, *err;
    apr_size_t n;
    apr_uint64_t v;

    *present = 0;
    while ((f = next_framing_field(ff, FN_CONTENT_LENGTH, &i)) != NULL) {
        list_init(&it, f);
        while (list_next(&it, &el, &n)) {
            if ((err = parse_length(el, n, &v)) != NULL) {
                return err;
            }
            if (*present && v != *length) {
                return "conflicting Content-Length values";
            }
            *present = 1;
            *length = v;
        }
    }
    return NULL;
}

/* The codings RFC 9110 8.4.1 registers besides chunked: named in the error
 * text, so that a log says "not supported" rather than "unknown" for them. */
static int registered_coding(const char *s, apr_size_t n)
{
    static const char *const codings[] = {"gzip", "x-gzip", "deflate",
                                          "compress", "x-compress"};
    apr_size_t i;

    for (i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
        if (eq_nocase(s, n, codings[i])) {
            return 1;
        }
    }
    return 0;
}

/* Read the codings of all Transfer-Encoding fields in order (RFC 9112 6.1).
 * Only a single "chunked" is accepted. Transfer-Encoding is hop-by-hop and
 * this proxy decodes chunked only: a body under gzip (or any other coding,
 * before or after chunked) would reach the client with its coding dropped,
 * silently corrupt; reading "chunked, gzip" until close (RFC 9112 6.3 rule 4)
 * would even forward the chunk framing as data. So the response is a 502,
 * as with nginx and Go. "identity" is gone from RFC 9112 and a coding with
 * parameters is unknown too. */
static const char *transfer_coding(const framing_fields_t *ff, int *present,
                                   int *chunked_last)
{
    int i = -1, ncodings = 0;
    const rp_h1_field_t *f;
    list_iter_t it;
    const char *el;
    apr_size_t n;

    *present = 0;
    *chunked_last = 0;
    while ((f = next_framing_field(ff, FN_TRANSFER_ENCODING, &i)) != NULL) {
        *present = 1;
        list_init(&it, f);
        while (list_next(&it, &el, &n)) {
            if (n == 0) {
                continue;
            }
            if (*chunked_last) {
                return eq_nocase(el, n, "chunked")
                           ? "chunked applied more than once"
                           : "chunked is not the last transfer coding";
            }
            ncodings++;
            *chunked_last = eq_nocase(el, n, "chunked");
            if (!*chunked_last) {
                return registered_coding(el, n)
                           ? "transfer coding other than chunked"
                           : "unknown transfer coding";
            }
        }
    }
    return *present && ncodings == 0 ? "empty Transfer-Encoding" : NULL;
}

/* RFC 9112 6.3 rules 1 and 2: responses that never have content. A 2xx to
 * CONNECT turns the connection into a tunnel. */
static int has_no_body(const rp_h1_head_t *head, const char *method)
{
    int connect_ok = method != NULL && strcmp(method, "CONNECT") == 0 &&
                     head->status >= 200 && head->status < 300;

    return (method != NULL && strcmp(method, "HEAD") == 0) ||
           head->status < 200 || head->status == 204 || head->status == 304 ||
           connect_ok;
}

/* After a 101 or a 2xx to CONNECT the connection no longer speaks HTTP, so
 * it can never carry another request. */
static int leaves_http(const rp_h1_head_t *head, const char *method)
{
    return head->status == 101 ||
           (method != NULL && strcmp(method, "CONNECT") == 0 &&
            head->status >= 200 && head->status < 300);
}

/* The checks of RFC 9112 6.1 and 6.3 that turn a response into an error.
 * The order only decides which text a doubly broken response gets. */
static const char *check_framing(const framing_fields_t *ff, int *te,
                                 int *chunked_last, int *cl,
                                 apr_uint64_t *length)
{
    const char *err = transfer_coding(ff, te, chunked_last);
    const char *cl_err = content_length(ff, cl, length);

    if (*te && ff->head->minor_version == 0) {
        return "Transfer-Encoding in HTTP/1.0 response";
    }
    if (*te && (*cl || cl_err != NULL)) {
        return "both Transfer-Encoding and Content-Length";
    }
    return err != NULL ? err : cl_err;
}

apr_status_t rp_h1_response_framing(const rp_h1_head_t *head,
                                    const char *request_method,
                                    rp_h1_framing_t *framing)
{
    framing_fields_t ff;
    int te, chunked_last, cl, ka;
    apr_uint64_t length = 0;
    const char *err;

    framing_fields(head, &ff);
    ka = wants_keep_alive(&ff);

    framing->kind = RP_H1_BODY_NONE;
    framing->length = 0;
    framing->keep_alive = 0;
    framing->error = NULL;
    /* Rule 1: such a response ends at its empty line "regardless of the
     * header fields present", so its framing fields are not checked. */
    if (has_no_body(head, request_method)) {
        framing->keep_alive = ka && !leaves_http(head, request_method);
        return APR_SUCCESS;
    }
    err = check_framing(&ff, &te, &chunked_last, &cl, &length);
    if (err != NULL) {
        framing->kind = RP_H1_BODY_CLOSE;
        framing->error = err;
        return RP_EBAD_RESPONSE;
    }
    if (te) {
        RP_ASSERT(chunked_last); /* transfer_coding() refused the rest */
        framing->kind = RP_H1_BODY_CHUNKED;
    }
    else if (cl) {
        framing->kind = length > 0 ? RP_H1_BODY_LENGTH : RP_H1_BODY_NONE;
        framing->length = length;
    }
    else {
        framing->kind = RP_H1_BODY_CLOSE;
    }
    framing->keep_alive = ka && framing->kind != RP_H1_BODY_CLOSE;
    return APR_SUCCESS;
}

/* ---- chunked decoder ----------------------------------------------- */

/* Decoder states (rp_h1_chunked_t._state). The start of a chunk-size line is
 * 0 so that a zero-filled decoder is ready. Each "_LF" state means a CR was
 * just taken and only LF may follow: that is where a bare CR is caught. */
enum {
    CH_SIZE = 0,         /* hex digits of the chunk size */
    CH_SIZE_BWS,         /* BWS after the size: ';' or the line end next */
    CH_EXT,              /* chunk extensions, skipped */
    CH_EXT_QUOTED,       /* inside a quoted-string of an extension */
    CH_EXT_ESCAPE,       /* after a backslash in that quoted-string */
    CH_SIZE_LF,          /* CR ending the size line taken */
    CH_DATA,             /* _remaining data bytes to hand out */
    CH_DATA_EOL,         /* chunk data complete: CRLF or LF must follow */
    CH_DATA_LF,          /* CR after the chunk data taken */
    CH_TRAILER_FIRST,    /* start of the trailer section */
    CH_TRAILER_FIRST_LF, /* the trailer section opened with CR */
    CH_TRAILER_BOL,      /* start of a later trailer line (handed out) */
    CH_TRAILER_BOL_CR,   /* that line is so far a lone CR */
    CH_TRAILER_LINE,     /* inside a trailer field line */
    CH_TRAILER_LINE_CR,  /* CR inside a trailer field line */
    CH_DONE,             /* last chunk and trailer section consumed */
    CH_FAILED            /* an error was returned; nothing more is read */
};

const char *rp_h1_chunked_state_str(const rp_h1_chunked_t *dec)
{
    switch (dec->_state) {
    case CH_SIZE:
        return dec->_hex_digits ? "a chunk size" : "the start of a chunk";
    case CH_SIZE_BWS:
        return "whitespace after a chunk size";
    case CH_EXT:
        return "a chunk extension";
    case CH_EXT_QUOTED:
    case CH_EXT_ESCAPE:
        return "a quoted string in a chunk extension";
    case CH_SIZE_LF:
        return "the line end of a chunk-size line";
    case CH_DATA:
        return "chunk data";
    case CH_DATA_EOL:
    case CH_DATA_LF:
        return "the line end after chunk data";
    case CH_TRAILER_FIRST:
    case CH_TRAILER_FIRST_LF:
        return "the start of the trailer section";
    case CH_TRAILER_BOL:
    case CH_TRAILER_BOL_CR:
        return "the start of a trailer line";
    case CH_TRAILER_LINE:
    case CH_TRAILER_LINE_CR:
        return "a trailer field line";
    case CH_DONE:
        return "nothing: the body is complete";
    case CH_FAILED:
        return "nothing: the decoder failed";
    }
    return "an unknown state";
}

static int hex_value(unsigned char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    c = (unsigned char)lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* The size line is over: data follows, or, for the last chunk (size 0),
 * the trailer section. */
static void end_size_line(rp_h1_chunked_t *dec)
{
    dec->_hex_digits = 0;
    dec->_state = dec->_remaining > 0 ? CH_DATA : CH_TRAILER_FIRST;
}

/* After the size digits: BWS, then ";" extensions, then the line end
 * (chunk-ext of RFC 9112 7.1.1). Anything else would let two decoders
 * read different sizes, e.g. "5 5". */
static const char *step_after_size(rp_h1_chunked_t *dec, unsigned char c)
{
    switch (c) {
    case ' ':
    case '\t':
        dec->_state = CH_SIZE_BWS;
        return NULL;
    case ';':
        dec->_state = CH_EXT;
        return NULL;
    case '\r':
        dec->_state = CH_SIZE_LF;
        return NULL;
    case '\n':
        end_size_line(dec);
        return NULL;
    default:
        return "junk after chunk size";
    }
}

/* chunk-size = 1*HEXDIG. Sizes of 2^63 and more, or written with more than
 * 16 digits (leading zeros included), are refused before they can wrap. */
static const char *step_size(rp_h1_chunked_t *dec, unsigned char c)
{
    int d = hex_value(c);

    if (d < 0) {
        return dec->_hex_digits == 0 ? "bad chunk size"
                                     : step_after_size(dec, c);
    }
    if (dec->_hex_digits == 16) {
        return "chunk size too long";
    }
    dec->_hex_digits++;
    dec->_remaining = (dec->_remaining << 4) | (apr_uint64_t)d;
    if (dec->_remaining > RP_H1_MAX_LENGTH) {
        return "chunk size overflow";
    }
    return NULL;
}

/* Extensions carry nothing this proxy uses, so they are skipped; quoted
 * strings are followed only so that a line end inside one is an error. */
static const char *step_ext(rp_h1_chunked_t *dec, unsigned char c)
{
    if (dec->_state == CH_EXT && (c == '\r' || c == '\n')) {
        return step_after_size(dec, c);
    }
    if (is_bad_text(c)) {
        return "bad chunk extension";
    }
    if (dec->_state == CH_EXT_ESCAPE) {
        dec->_state = CH_EXT_QUOTED;
    }
    else if (c == '"') {
        dec->_state = dec->_state == CH_EXT ? CH_EXT_QUOTED : CH_EXT;
    }
    else if (c == '\\' && dec->_state == CH_EXT_QUOTED) {
        dec->_state = CH_EXT_ESCAPE;
    }
    return NULL;
}

/* Line ends that are pure framing: after the size line, after the data and
 * an empty trailer section. CRLF or bare LF (RFC 9112 2.2), never bare CR. */
static const char *step_eol(rp_h1_chunked_t *dec, unsigned char c)
{
    switch (dec->_state) {
    case CH_SIZE_LF:
        if (c != '\n') {
            return "bare CR in chunk size line";
        }
        end_size_line(dec);
        return NULL;
    case CH_DATA_EOL:
    case CH_DATA_LF:
        if (c == '\r' && dec->_state == CH_DATA_EOL) {
            dec->_state = CH_DATA_LF;
            return NULL;
        }
        if (c != '\n') {
            return "missing CRLF after chunk data";
        }
        dec->_state = CH_SIZE;
        return NULL;
    case CH_TRAILER_FIRST:
        RP_ASSERT(c == '\r' || c == '\n');
        dec->_state = c == '\r' ? CH_TRAILER_FIRST_LF : CH_DONE;
        return NULL;
    default:
        RP_ASSERT(dec->_state == CH_TRAILER_FIRST_LF);
        if (c != '\n') {
            return "bare CR in trailer";
        }
        dec->_state = CH_DONE;
        return NULL;
    }
}

/* One byte of a non-empty trailer section: find the empty line that ends
 * it, exactly as rp_h1_parse_trailers() will, and refuse a bare CR, which
 * would make the two disagree. Field syntax is left to that parser. */
static const char *step_trailer(rp_h1_chunked_t *dec, unsigned char c)
{
    switch (dec->_state) {
    case CH_TRAILER_BOL:
        dec->_state = c == '\n'   ? CH_DONE
                      : c == '\r' ? CH_TRAILER_BOL_CR
                                  : CH_TRAILER_LINE;
        return NULL;
    case CH_TRAILER_LINE:
        dec->_state = c == '\n'   ? CH_TRAILER_BOL
                      : c == '\r' ? CH_TRAILER_LINE_CR
                                  : CH_TRAILER_LINE;
        return NULL;
    default:
        if (c != '\n') {
            return "bare CR in trailer";
        }
        dec->_state =
            dec->_state == CH_TRAILER_BOL_CR ? CH_DONE : CH_TRAILER_BOL;
        return NULL;
    }
}

/* Hand out the data bytes of the current chunk that buf holds. */
static apr_ssize_t emit_data(rp_h1_chunked_t *dec, apr_size_t pos,
                             apr_size_t len, rp_h1_span_t *span)
{
    apr_size_t n = len - pos;

    if ((apr_uint64_t)n > dec->_remaining) {
        n = (apr_size_t)dec->_remaining;
    }
    dec->_remaining -= n;
    if (dec->_remaining == 0) {
        dec->_state = CH_DATA_EOL;
    }
    span->kind = RP_H1_SPAN_DATA;
    span->off = pos;
    span->len = n;
    return (apr_ssize_t)(pos + n);
}

/* Hand out trailer bytes up to the end of buf or of the section, whichever
 * comes first, counting them against the limit. On error no span is set:
 * bytes of a refused trailer section are never handed out in that call. */
static const char *emit_trailer(rp_h1_chunked_t *dec, const char *buf,
                                apr_size_t len, apr_size_t *pos,
                                rp_h1_span_t *span)
{
    apr_size_t max = dec->max_trailer_bytes ? dec->max_trailer_bytes
                                            : RP_H1_DEFAULT_MAX_TRAILER;
    apr_size_t p = *pos;
    const char *err;

    while (p < len && dec->_state != CH_DONE) {
        if (dec->_trailer_bytes >= max) {
            return "trailer section too large";
        }
        dec->_trailer_bytes++;
        if ((err = step_trailer(dec, buf[p])) != NULL) {
            return err;
        }
        p++;
    }
    span->kind = RP_H1_SPAN_TRAILER;
    span->off = *pos;
    span->len = p - *pos;
    *pos = p;
    return NULL;
}

/* Do the trailer bytes start at c, or go on? A first byte other than CR or
 * LF opens a non-empty section, all of whose bytes go out as TRAILER spans;
 * an empty section is framing and produces no span. */
static int in_trailer(rp_h1_chunked_t *dec, unsigned char c)
{
    if (dec->_state == CH_TRAILER_FIRST && c != '\r' && c != '\n') {
        dec->_state = CH_TRAILER_LINE;
    }
    return dec->_state >= CH_TRAILER_BOL && dec->_state < CH_DONE;
}

/* Route one framing byte to the step for the current state. */
static const char *step(rp_h1_chunked_t *dec, unsigned char c)
{
    switch (dec->_state) {
    case CH_SIZE:
        return step_size(dec, c);
    case CH_SIZE_BWS:
        return step_after_size(dec, c);
    case CH_EXT:
    case CH_EXT_QUOTED:
    case CH_EXT_ESCAPE:
        return step_ext(dec, c);
    default:
        return step_eol(dec, c);
    }
}

apr_ssize_t rp_h1_chunked_decode(rp_h1_chunked_t *dec, const char *buf,
                                 apr_size_t len, rp_h1_span_t *span,
                                 const char **error)
{
    apr_size_t pos = 0;
    const char *err = "chunked decoder used after an error";

    span->kind = RP_H1_SPAN_NONE;
    span->off = span->len = 0;
    while (dec->_state != CH_FAILED) {
        if (dec->_state == CH_DONE) {
            span->kind = RP_H1_SPAN_DONE;
            return (apr_ssize_t)pos;
        }
        if (pos == len) {
            return (apr_ssize_t)pos;
        }
        if (dec->_state == CH_DATA) {
            return emit_data(dec, pos, len, span);
        }
        if (in_trailer(dec, (unsigned char)buf[pos])) {
            err = emit_trailer(dec, buf, len, &pos, span);
            if (err == NULL) {
                return (apr_ssize_t)pos;
            }
            break;
        }
        if ((err = step(dec, (unsigned char)buf[pos])) != NULL) {
            break;
        }
        pos++;
    }
    dec->_state = CH_FAILED;
    span->kind = RP_H1_SPAN_NONE;
    if (error != NULL) {
        *error = err;
    }
    return RP_H1_EBADMSG;
}

/* ---- request head -------------------------------------------------- */

static char *put(char *w, const char *s, apr_size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

/* Bytes of "name: value\r\n" for every field of arr (may be NULL). */
static apr_size_t fields_size(const apr_array_header_t *arr)
{
    const apr_table_entry_t *e;
    apr_size_t total = 0;
    int i;

    for (i = 0; arr != NULL && i < arr->nelts; i++) {
        e = &((const apr_table_entry_t *)arr->elts)[i];
        if (e->key != NULL) {
            total += strlen(e->key) + 2 + strlen(e->val ? e->val : "") + 2;
        }
    }
    return total;
}

/* Write those lines at w; returns the end. */
static char *put_fields(char *w, const apr_array_header_t *arr)
{
    const apr_table_entry_t *e;
    int i;

    for (i = 0; arr != NULL && i < arr->nelts; i++) {
        e = &((const apr_table_entry_t *)arr->elts)[i];
        if (e->key == NULL) {
            continue;
        }
        w = put(w, e->key, strlen(e->key));
        w = put(w, ": ", 2);
        w = put(w, e->val ? e->val : "", strlen(e->val ? e->val : ""));
        w = put(w, "\r\n", 2);
    }
    return w;
}

/* A head or trailer section in one palloc: the n parts of its first line,
 * the fields, the empty line. */
static char *put_section(apr_pool_t *p, const char *const *parts, int n,
                         const apr_table_t *fields, apr_size_t *len)
{
    const apr_array_header_t *arr = fields ? apr_table_elts(fields) : NULL;
    apr_size_t plen[4], total = fields_size(arr) + 2;
    char *out, *w;
    int i;

    RP_ASSERT(n <= 4);
    for (i = 0; i < n; i++) {
        plen[i] = strlen(parts[i]);
        total += plen[i];
    }
    out = w = apr_palloc(p, total + 1);
    for (i = 0; i < n; i++) {
        w = put(w, parts[i], plen[i]);
    }
    w = put_fields(w, arr);
    w = put(w, "\r\n", 2);
    *w = '\0';
    RP_ASSERT((apr_size_t)(w - out) == total);
    if (len != NULL) {
        *len = total;
    }
    return out;
}

char *rp_h1_request_head(apr_pool_t *p, const char *method, const char *target,
                         const apr_table_t *headers, apr_size_t *len)
{
    const char *const line[4] = {method, " ", target, " HTTP/1.1\r\n"};

    return put_section(p, line, 4, headers, len);
}

/* ---- last chunk with trailers -------------------------------------- */

char *rp_h1_last_chunk(apr_pool_t *p, const apr_table_t *trailers,
                       apr_size_t *len)
{
    const char *const line[1] = {"0\r\n"};

    return put_section(p, line, 1, trailers, len);
}
