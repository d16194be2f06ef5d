/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

#include <string.h>
#include "rp_conf.h"

const rp_url_t rp_conf_no_upstream = {"none"};

/* A field set in add wins over base. One line per field keeps the merge
 * reviewable when fields are added. */
#define RP_MERGE_TIME(c, b, a, f)                                              \
    (c)->f = ((a)->f != RP_UNSET_TIME) ? (a)->f : (b)->f
#define RP_MERGE_INT(c, b, a, f) (c)->f = ((a)->f != RP_UNSET) ? (a)->f : (b)->f
#define RP_MERGE_STR(c, b, a, f) (c)->f = (a)->f ? (a)->f : (b)->f

void rp_conf_init(rp_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->tls.verify = RP_UNSET;
    conf->tls.min_version = RP_UNSET;
    conf->tls_timeout = RP_UNSET_TIME;
    conf->connect_timeout = RP_UNSET_TIME;
    conf->header_timeout = RP_UNSET_TIME;
    conf->io_timeout = RP_UNSET_TIME;
    conf->idle_timeout = RP_UNSET_TIME;
    conf->flush_interval = RP_UNSET_TIME;
    conf->expect_timeout = RP_UNSET_TIME;
    conf->response_timeout = RP_UNSET_TIME;
    conf->preserve_host = RP_UNSET;
    conf->add_forwarded = RP_UNSET;
    conf->splice = RP_UNSET;
    conf->max_conns = RP_UNSET;
    conf->max_idle = RP_UNSET;
    conf->max_requests = RP_UNSET;
    conf->connect_retries = RP_UNSET;
    conf->max_head_bytes = RP_UNSET;
    conf->queue_timeout = RP_UNSET_TIME;
    conf->max_age = RP_UNSET_TIME;
    conf->dns_ttl = RP_UNSET_TIME;
    /* forwarding (trusted_proxies starts NULL) */
    conf->forwarded = RP_UNSET;
    conf->via = RP_UNSET;
    conf->rewrite_location = RP_UNSET;
    conf->status_header = RP_UNSET;
    conf->error_override = RP_UNSET;
}

void rp_conf_merge(rp_conf_t *conf, const rp_conf_t *base, const rp_conf_t *add)
{
    RP_MERGE_TIME(conf, base, add, connect_timeout);
    RP_MERGE_TIME(conf, base, add, header_timeout);
    RP_MERGE_TIME(conf, base, add, io_timeout);
    RP_MERGE_TIME(conf, base, add, idle_timeout);
    RP_MERGE_TIME(conf, base, add, flush_interval);
    RP_MERGE_TIME(conf, base, add, expect_timeout);
    RP_MERGE_TIME(conf, base, add, response_timeout);
    RP_MERGE_INT(conf, base, add, preserve_host);
    RP_MERGE_INT(conf, base, add, add_forwarded);
    RP_MERGE_INT(conf, base, add, splice);
    RP_MERGE_STR(conf, base, add, upgrades);
    RP_MERGE_INT(conf, base, add, max_conns);
    RP_MERGE_INT(conf, base, add, max_idle);
    RP_MERGE_INT(conf, base, add, max_requests);
    RP_MERGE_INT(conf, base, add, connect_retries);
    RP_MERGE_INT(conf, base, add, max_head_bytes);
    RP_MERGE_TIME(conf, base, add, queue_timeout);
    RP_MERGE_TIME(conf, base, add, max_age);
    RP_MERGE_TIME(conf, base, add, dns_ttl);
    RP_MERGE_INT(conf, base, add, tls.verify);
    RP_MERGE_STR(conf, base, add, tls.ca_file);
    RP_MERGE_STR(conf, base, add, tls.ca_path);
    RP_MERGE_STR(conf, base, add, tls.cert_file);
    RP_MERGE_STR(conf, base, add, tls.key_file);
    RP_MERGE_STR(conf, base, add, tls.server_name);
    RP_MERGE_INT(conf, base, add, tls.min_version);
    RP_MERGE_STR(conf, base, add, tls.ciphers);
    RP_MERGE_STR(conf, base, add, tls.ciphersuites);
    RP_MERGE_TIME(conf, base, add, tls_timeout);
    /* The proxy and its credentials go together. */
    conf->upstream_auth =
        add->upstream ? add->upstream_auth : base->upstream_auth;
    RP_MERGE_STR(conf, base, add, upstream);
    RP_MERGE_STR(conf, base, add, trusted_proxies);
    RP_MERGE_INT(conf, base, add, forwarded);
    RP_MERGE_INT(conf, base, add, via);
    RP_MERGE_INT(conf, base, add, rewrite_location);
    RP_MERGE_STR(conf, base, add, cookie_domains);
    RP_MERGE_STR(conf, base, add, cookie_paths);
    RP_MERGE_STR(conf, base, add, pass_reverse);
    RP_MERGE_INT(conf, base, add, status_header);
    /* The codes go with the switch that names them. */
    conf->error_codes =
        add->error_override != RP_UNSET ? add->error_codes : base->error_codes;
    RP_MERGE_INT(conf, base, add, error_override);
}

#define RP_GET(f, dflt, unset) return conf->f != (unset) ? conf->f : (dflt)

apr_interval_time_t rp_conf_connect_timeout(const rp_conf_t *conf)
{
    RP_GET(connect_timeout, RP_DEFAULT_CONNECT_TIMEOUT, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_header_timeout(const rp_conf_t *conf)
{
    RP_GET(header_timeout, RP_DEFAULT_HEADER_TIMEOUT, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_io_timeout(const rp_conf_t *conf)
{
    RP_GET(io_timeout, RP_DEFAULT_IO_TIMEOUT, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_idle_timeout(const rp_conf_t *conf)
{
    RP_GET(idle_timeout, RP_DEFAULT_IDLE_TIMEOUT, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_flush_interval(const rp_conf_t *conf)
{
    RP_GET(flush_interval, RP_DEFAULT_FLUSH_INTERVAL, RP_UNSET_TIME);
}

int rp_conf_preserve_host(const rp_conf_t *conf)
{
    RP_GET(preserve_host, 0, RP_UNSET);
}

int rp_conf_add_forwarded(const rp_conf_t *conf)
{
    RP_GET(add_forwarded, 1, RP_UNSET);
}

int rp_conf_splice(const rp_conf_t *conf)
{
    RP_GET(splice, 1, RP_UNSET);
}

int rp_conf_max_conns(const rp_conf_t *conf)
{
    RP_GET(max_conns, 0, RP_UNSET);
}

int rp_conf_max_idle(const rp_conf_t *conf)
{
    RP_GET(max_idle, 0, RP_UNSET);
}

int rp_conf_max_requests(const rp_conf_t *conf)
{
    RP_GET(max_requests, 0, RP_UNSET);
}

apr_interval_time_t rp_conf_queue_timeout(const rp_conf_t *conf)
{
    RP_GET(queue_timeout, RP_DEFAULT_QUEUE_TIMEOUT, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_max_age(const rp_conf_t *conf)
{
    RP_GET(max_age, 0, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_dns_ttl(const rp_conf_t *conf)
{
    RP_GET(dns_ttl, RP_DEFAULT_DNS_TTL, RP_UNSET_TIME);
}

apr_interval_time_t rp_conf_tls_timeout(const rp_conf_t *conf)
{
    RP_GET(tls_timeout, RP_DEFAULT_TLS_TIMEOUT, RP_UNSET_TIME);
}

const rp_url_t *rp_conf_upstream(const rp_conf_t *conf, const char **auth)
{
    if (!conf->upstream || conf->upstream == &rp_conf_no_upstream) {
        *auth = NULL;
        return NULL;
    }
    *auth = conf->upstream_auth;
    return conf->upstream;
}

apr_interval_time_t rp_conf_expect_timeout(const rp_conf_t *conf)
{
    RP_GET(expect_timeout, RP_DEFAULT_EXPECT_TIMEOUT, RP_UNSET_TIME);
}

int rp_conf_connect_retries(const rp_conf_t *conf)
{
    RP_GET(connect_retries, 1, RP_UNSET);
}

int rp_conf_max_head_bytes(const rp_conf_t *conf)
{
    RP_GET(max_head_bytes, RP_DEFAULT_MAX_HEAD_BYTES, RP_UNSET);
}

const char *rp_conf_upgrades(const rp_conf_t *conf)
{
    return conf->upgrades ? conf->upgrades : "websocket";
}

apr_interval_time_t rp_conf_response_timeout(const rp_conf_t *conf)
{
    RP_GET(response_timeout, 0, RP_UNSET_TIME);
}

int rp_conf_forwarded(const rp_conf_t *conf)
{
    RP_GET(forwarded, 0, RP_UNSET);
}

int rp_conf_via(const rp_conf_t *conf)
{
    RP_GET(via, 0, RP_UNSET);
}

const apr_array_header_t *rp_conf_trusted_proxies(const rp_conf_t *conf)
{
    return conf->trusted_proxies; /* NULL and empty both trust nobody */
}

void rp_conf_fwd_policy(const rp_conf_t *conf, rp_fwd_policy_t *pol)
{
    memset(pol, 0, sizeof(*pol));
    pol->trusted = rp_conf_trusted_proxies(conf);
    pol->x_forwarded = rp_conf_add_forwarded(conf) ? 1 : 0;
    pol->forwarded = rp_conf_forwarded(conf) ? 1 : 0;
    pol->via = rp_conf_via(conf) ? 1 : 0;
}

int rp_conf_rewrite_location(const rp_conf_t *conf)
{
    RP_GET(rewrite_location, 1, RP_UNSET);
}

const apr_array_header_t *rp_conf_cookie_domains(const rp_conf_t *conf)
{
    return conf->cookie_domains && conf->cookie_domains->nelts
               ? conf->cookie_domains
               : NULL;
}

const apr_array_header_t *rp_conf_cookie_paths(const rp_conf_t *conf)
{
    return conf->cookie_paths && conf->cookie_paths->nelts ? conf->cookie_paths
                                                           : NULL;
}

const apr_array_header_t *rp_conf_pass_reverse(const rp_conf_t *conf)
{
    return conf->pass_reverse && conf->pass_reverse->nelts ? conf->pass_reverse
                                                           : NULL;
}

int rp_conf_status_header(const rp_conf_t *conf)
{
    RP_GET(status_header, 1, RP_UNSET);
}

int rp_conf_error_override(const rp_conf_t *conf, int status)
{
    int bit = status - 400;

    if (conf->error_override != 1 || status < 400 || status > 599) {
        return 0;
    }
    return !conf->error_codes ||
           ((conf->error_codes[bit / 8] >> (bit % 8)) & 1);
}
