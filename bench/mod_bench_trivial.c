/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* mod_bench_trivial.c: the floor for bench/run.sh. A handler that answers
 * GET /1k, /64k, /1m from one static buffer, passed down the output filters
 * as a single immortal bucket: what httpd costs per request with no
 * proxying. /chunked/<size> passes the same body with a FLUSH on its own,
 * before the EOS, so httpd cannot compute a Content-Length and chunks it.
 * These URIs map to no file (translate_name, map_to_storage), as a proxied
 * request does.
 * Built by bench/run.sh with apxs; it is not part of the product.
 *
 *   LoadModule bench_trivial_module .../mod_bench_trivial.so
 *   <Location />
 *       SetHandler bench-trivial
 *   </Location>
 *
 * The same module has a second handler, bench-bare: the least a proxy in a
 * worker thread can do. Each worker thread keeps one connection to the
 * backend (BenchBareBackend 127.0.0.1:PORT), sends "GET <uri>" with a Host
 * field and nothing else, waits for the answer with poll() and reads it
 * (the system calls mod_rproxy makes, less its check of a pooled
 * connection), takes only the status and Content-Length from the head,
 * and passes the body down with the EOS in one brigade. No header is
 * forwarded, no field validated, no pool or lock is shared between
 * threads, and there are no time limits beyond a 30 s poll. Bodies with a
 * Content-Length only (no chunked), GET only. It is not a proxy anyone
 * should run: it bounds from below what any proxy module in httpd's
 * thread-per-request model costs, kernel included, which the trivial
 * handler cannot (it has no backend exchange).
 *
 *   BenchBareBackend 127.0.0.1:8081
 *   <Location />
 *       SetHandler bench-bare
 *   </Location>
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_buckets.h"
#include "apr_network_io.h"
#include "apr_strings.h"

#define BT_MAX (1024 * 1024)

static char bt_body[BT_MAX];

/* "1k" -> 1024, "64k" -> 65536, "1m" -> 1048576; 0 for anything else. */
static apr_size_t bt_size(const char *name)
{
    if (!strcmp(name, "1k")) {
        return 1024;
    }
    if (!strcmp(name, "64k")) {
        return 64 * 1024;
    }
    if (!strcmp(name, "1m")) {
        return BT_MAX;
    }
    return 0;
}

/* Like a proxy's route, a URI served here maps to no file: no directory
 * walk, no stat() of a document root, so the floor is httpd's own cost. */
static int bt_translate(request_rec *r)
{
    const char *name = r->uri;

    if (!strncmp(name, "/chunked/", 9)) {
        name += 9;
    }
    else if (*name == '/') {
        name++;
    }
    if (!bt_size(name)) {
        return DECLINED;
    }
    /* "bench-trivial:" also for bench-bare: the prefix only marks the
     * request as one that maps to no file */
    r->filename = apr_pstrcat(r->pool, "bench-trivial:", r->uri, NULL);
    return OK;
}

static int bt_map_to_storage(request_rec *r)
{
    return r->filename && !strncmp(r->filename, "bench-trivial:", 14)
               ? OK
               : DECLINED;
}

static int bt_handler(request_rec *r)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *bb;
    const char *name = r->uri;
    int chunked = 0;
    apr_size_t len;

    if (!r->handler || strcmp(r->handler, "bench-trivial") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!strncmp(name, "/chunked/", 9)) {
        chunked = 1;
        name += 9;
    }
    else if (*name == '/') {
        name++;
    }
    len = bt_size(name);
    if (!len) {
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, "text/plain");
    if (!chunked) {
        ap_set_content_length(r, (apr_off_t)len);
    }
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, ba);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(bt_body, len, ba));
    if (chunked) {
        /* the body leaves before EOS: no Content-Length can be computed */
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(ba));
        if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
            return AP_FILTER_ERROR;
        }
        apr_brigade_cleanup(bb);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS
               ? OK
               : AP_FILTER_ERROR;
}

/* ---- bench-bare ---------------------------------------------------------- */

#define BARE_HEAD_MAX 16384
#define BARE_WAIT_MS 30000

static struct sockaddr_in bare_addr; /* BenchBareBackend; port 0: unset */
static const char *bare_host;        /* the Host field: "127.0.0.1:PORT" */

/* Per worker thread: its backend connection and a buffer for a response
 * head. Left open when the thread ends (a bench process lives for one run). */
static __thread int bare_fd = -1;
static __thread char bare_head[BARE_HEAD_MAX];

static const char *bare_set_backend(cmd_parms *cmd, void *dummy,
                                    const char *arg)
{
    char *ip, *scope;
    apr_port_t port;

    if (apr_parse_addr_port(&ip, &scope, &port, arg, cmd->temp_pool) !=
            APR_SUCCESS ||
        !ip || port == 0 || inet_pton(AF_INET, ip, &bare_addr.sin_addr) != 1) {
        return "BenchBareBackend: want IPv4ADDRESS:PORT";
    }
    bare_addr.sin_family = AF_INET;
    bare_addr.sin_port = htons(port);
    bare_host = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static void bare_close(void)
{
    if (bare_fd >= 0) {
        close(bare_fd);
        bare_fd = -1;
    }
}

/* A connected, non-blocking socket in bare_fd, or -1. */
static int bare_connect(void)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&bare_addr, sizeof(bare_addr)) != 0) {
        close(fd);
        return -1;
    }
    {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    bare_fd = fd;
    return 0;
}

/* recv() into buf after waiting for the socket: bytes read, 0 at EOF, -1 on
 * an error or after BARE_WAIT_MS without a byte. */
static ssize_t bare_recv(char *buf, apr_size_t len)
{
    for (;;) {
        struct pollfd pfd = {.fd = bare_fd, .events = POLLIN};
        ssize_t n;
        int rc = poll(&pfd, 1, BARE_WAIT_MS);

        if (rc <= 0) {
            if (rc < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        n = recv(bare_fd, buf, len, 0);
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
            return n;
        }
    }
}

/* Content-Length of a response head (NUL-terminated), -1 if none. */
static apr_off_t bare_content_length(const char *head)
{
    const char *p = head;

    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (!strncasecmp(p, "content-length:", 15)) {
            char *end;
            apr_off_t v;

            if (apr_strtoff(&v, p + 15, &end, 10) != APR_SUCCESS || v < 0) {
                return -1;
            }
            return v;
        }
    }
    return -1;
}

/* One exchange on bare_fd. On success *status, the body (malloc'd, the
 * caller's) and its length; APR_EAGAIN when a reused connection was found
 * closed before any byte of the answer (retry on a new one). */
static apr_status_t bare_exchange(request_rec *r, int reused, int *status,
                                  char **body, apr_size_t *body_len)
{
    char req[8192];
    apr_size_t have = 0;
    const char *eoh = NULL;
    apr_off_t cl;
    apr_size_t head_len, got;
    ssize_t n;
    int len;

    len = apr_snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                       r->unparsed_uri, bare_host);
    if (len <= 0 || (apr_size_t)len >= sizeof(req)) {
        return APR_EINVAL;
    }
    n = send(bare_fd, req, (apr_size_t)len, MSG_NOSIGNAL);
    if (n != len) {
        return reused ? APR_EAGAIN : APR_EGENERAL;
    }
    while (!eoh) {
        if (have == BARE_HEAD_MAX - 1) {
            return APR_EGENERAL;
        }
        n = bare_recv(bare_head + have, BARE_HEAD_MAX - 1 - have);
        if (n <= 0) {
            return n == 0 && have == 0 && reused ? APR_EAGAIN : APR_EGENERAL;
        }
        have += (apr_size_t)n;
        bare_head[have] = '\0';
        eoh = strstr(bare_head, "\r\n\r\n");
    }
    if (strncmp(bare_head, "HTTP/1.1 ", 9) != 0) {
        return APR_EGENERAL;
    }
    *status = atoi(bare_head + 9);
    head_len = (apr_size_t)(eoh + 4 - bare_head);
    cl = bare_content_length(bare_head);
    if (*status < 200 || cl < 0 || (apr_size_t)cl < have - head_len) {
        return APR_EGENERAL; /* 1xx, chunked or extra bytes: not here */
    }
    *body_len = (apr_size_t)cl;
    *body = malloc(*body_len ? *body_len : 1);
    if (!*body) {
        return APR_ENOMEM;
    }
    got = have - head_len;
    memcpy(*body, bare_head + head_len, got);
    while (got < *body_len) {
        n = bare_recv(*body + got, *body_len - got);
        if (n <= 0) {
            free(*body);
            return APR_EGENERAL;
        }
        got += (apr_size_t)n;
    }
    return APR_SUCCESS;
}

static int bare_handler(request_rec *r)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *bb;
    apr_status_t rv = APR_EAGAIN;
    char *body = NULL;
    apr_size_t body_len = 0;
    int status = 0, tries;

    if (!r->handler || strcmp(r->handler, "bench-bare") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!bare_host) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (tries = 0; tries < 2 && rv == APR_EAGAIN; tries++) {
        int reused = bare_fd >= 0;

        if (!reused && bare_connect() != 0) {
            return HTTP_BAD_GATEWAY;
        }
        rv = bare_exchange(r, reused, &status, &body, &body_len);
        if (rv != APR_SUCCESS) {
            bare_close();
        }
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "bench-bare: no usable answer from %s", bare_host);
        return HTTP_BAD_GATEWAY;
    }
    r->status = status;
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, (apr_off_t)body_len);
    bb = apr_brigade_create(r->pool, ba);
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_heap_create(body, body_len, free, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS
               ? OK
               : AP_FILTER_ERROR;
}

static const command_rec bt_cmds[] = {
    AP_INIT_TAKE1("BenchBareBackend", bare_set_backend, NULL, RSRC_CONF,
                  "IPv4ADDRESS:PORT of the backend of the bench-bare handler"),
    {NULL}};

static void bt_register_hooks(apr_pool_t *p)
{
    apr_size_t i;

    /* 64-byte text lines, copied (cheap at startup under callgrind) */
    for (i = 0; i < 64; i++) {
        bt_body[i] = i == 63 ? '\n' : (char)('a' + i % 26);
    }
    for (i = 64; i < BT_MAX; i *= 2) {
        memcpy(bt_body + i, bt_body, i);
    }
    ap_hook_translate_name(bt_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(bt_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(bt_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(bare_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(bench_trivial) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, bt_cmds,
    bt_register_hooks};
