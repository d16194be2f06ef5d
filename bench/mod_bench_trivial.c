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
 */

#include <string.h>
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_buckets.h"
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
}

AP_DECLARE_MODULE(bench_trivial) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, bt_register_hooks};
