/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_fault.c: rp_fault.c: RFC 9209 error type names, the mapping of
 * OS errors and rp_ codes to faults, and the Proxy-Status field value
 * (RFC 8941 sf-token / sf-string rules). */

#include <errno.h>
#include <netdb.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "rp_fault.h"
#include "rp_test.h"

#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

static apr_pool_t *pool;

/* ---- names -------------------------------------------------------------- */

/* Every fault has an RFC 9209 name made of lowercase letters and '_'
 * (section 2.3 registers them so), and no two share one. */
static void rfc9209_2_3_every_fault_has_a_distinct_registered_name(void)
{
    int i, j;

    for (i = 1; i < RP_FAULT_MAX_; i++) {
        const char *n = rp_fault_str((rp_fault_t)i);
        const char *c;
        RP_EXPECT(n && *n);
        for (c = n; c && *c; c++) {
            if (!((*c >= 'a' && *c <= 'z') || *c == '_')) {
                RP_FAIL_CASE(n, "character '%c' in an error type", *c);
            }
        }
        for (j = 1; j < i; j++) {
            if (!strcmp(n, rp_fault_str((rp_fault_t)j))) {
                RP_FAIL_CASE(n, "name shared by faults %d and %d", i, j);
            }
        }
    }
    RP_EXPECT_STR(rp_fault_str(RP_FAULT_CONNECTION_REFUSED),
                  "connection_refused");
    RP_EXPECT_STR(rp_fault_str(RP_FAULT_HTTP_RESPONSE_TIMEOUT),
                  "http_response_timeout");
    RP_EXPECT_STR(rp_fault_str(RP_FAULT_NONE), "none");
    RP_EXPECT_STR(rp_fault_str((rp_fault_t)999), "proxy_internal_error");
    RP_EXPECT_STR(rp_fault_str((rp_fault_t)-1), "proxy_internal_error");
}

/* ---- OS errors ---------------------------------------------------------- */

typedef struct status_case_t {
    const char *name;
    apr_status_t rv;
    rp_fault_t want;
} status_case_t;

static void rfc9209_os_errors_map_to_connection_faults(void)
{
    /* APR folds getaddrinfo() codes as APR_OS_START_EAIERR + |code| on
     * glibc (negative codes), + code elsewhere; both spellings map. */
    const status_case_t cases[] = {
        {"econnrefused", APR_FROM_OS_ERROR(ECONNREFUSED),
         RP_FAULT_CONNECTION_REFUSED},
        {"apr-timeup", APR_TIMEUP, RP_FAULT_CONNECTION_TIMEOUT},
        {"etimedout", APR_FROM_OS_ERROR(ETIMEDOUT),
         RP_FAULT_CONNECTION_TIMEOUT},
        {"ehostunreach", APR_FROM_OS_ERROR(EHOSTUNREACH),
         RP_FAULT_DESTINATION_IP_UNROUTABLE},
        {"enetunreach", APR_FROM_OS_ERROR(ENETUNREACH),
         RP_FAULT_DESTINATION_IP_UNROUTABLE},
        {"econnreset", APR_FROM_OS_ERROR(ECONNRESET),
         RP_FAULT_CONNECTION_TERMINATED},
        {"epipe", APR_FROM_OS_ERROR(EPIPE), RP_FAULT_CONNECTION_TERMINATED},
        {"apr-eof", APR_EOF, RP_FAULT_CONNECTION_TERMINATED},
        {"eai-noname",
         APR_OS_START_EAIERR + (EAI_NONAME < 0 ? -EAI_NONAME : EAI_NONAME),
         RP_FAULT_DNS_ERROR},
        {"eai-fail",
         APR_OS_START_EAIERR + (EAI_FAIL < 0 ? -EAI_FAIL : EAI_FAIL),
         RP_FAULT_DNS_ERROR},
        {"eai-again",
         APR_OS_START_EAIERR + (EAI_AGAIN < 0 ? -EAI_AGAIN : EAI_AGAIN),
         RP_FAULT_DNS_TIMEOUT},
        {"unknown-gives-default", APR_ENOMEM, RP_FAULT_DESTINATION_UNAVAILABLE},
    };
    size_t i;

    for (i = 0; i < NELTS(cases); i++) {
        rp_fault_t got =
            rp_fault_of_status(cases[i].rv, RP_FAULT_DESTINATION_UNAVAILABLE);
        if (got != cases[i].want) {
            RP_FAIL_CASE(cases[i].name, "got %s, expected %s",
                         rp_fault_str(got), rp_fault_str(cases[i].want));
        }
    }
}

static void rp_codes_fall_back_to_the_broadest_true_fault(void)
{
    RP_EXPECT_INT(rp_fault_of_code(RP_EBAD_REQUEST),
                  RP_FAULT_HTTP_REQUEST_ERROR);
    RP_EXPECT_INT(rp_fault_of_code(RP_EPOOL_FULL),
                  RP_FAULT_CONNECTION_LIMIT_REACHED);
    RP_EXPECT_INT(rp_fault_of_code(RP_EBACKEND_TIMEOUT),
                  RP_FAULT_HTTP_RESPONSE_TIMEOUT);
    RP_EXPECT_INT(rp_fault_of_code(RP_EBAD_RESPONSE),
                  RP_FAULT_HTTP_PROTOCOL_ERROR);
    RP_EXPECT_INT(rp_fault_of_code(RP_ETLS), RP_FAULT_TLS_PROTOCOL_ERROR);
    RP_EXPECT_INT(rp_fault_of_code(RP_EBACKEND_UNREACHABLE),
                  RP_FAULT_DESTINATION_UNAVAILABLE);
    RP_EXPECT_INT(rp_fault_of_code(RP_EHOOK), RP_FAULT_PROXY_INTERNAL_ERROR);
}

/* ---- the Proxy-Status value --------------------------------------------- */

typedef struct ps_case_t {
    const char *name;
    const char *proxy;
    rp_fault_t fault;
    const char *details;
    const char *want;
} ps_case_t;

static const ps_case_t ps_cases[] = {
    {"rfc9209-2-token-name-and-details", "proxy.example.com",
     RP_FAULT_CONNECTION_REFUSED, "connect failed: Connection refused",
     "proxy.example.com; error=connection_refused; "
     "details=\"connect failed: Connection refused\""},
    {"rfc9209-2-no-details", "gw", RP_FAULT_HTTP_RESPONSE_TIMEOUT, NULL,
     "gw; error=http_response_timeout"},
    {"rfc9209-2-empty-details-left-out", "gw", RP_FAULT_DNS_ERROR, "",
     "gw; error=dns_error"},
    {"rfc8941-3-3-4-ip-name-is-not-a-token-so-quoted", "127.0.0.1",
     RP_FAULT_HTTP_PROTOCOL_ERROR, "bad status line",
     "\"127.0.0.1\"; error=http_protocol_error; details=\"bad status line\""},
    {"rfc8941-3-3-4-token-may-hold-colon-slash-star", "*gw:8080/x",
     RP_FAULT_DNS_TIMEOUT, NULL, "*gw:8080/x; error=dns_timeout"},
    {"rfc8941-3-3-3-quote-and-backslash-escaped", "gw",
     RP_FAULT_TLS_CERTIFICATE_ERROR, "a \"b\" c\\d",
     "gw; error=tls_certificate_error; details=\"a \\\"b\\\" c\\\\d\""},
    {"rfc8941-3-3-3-non-printable-replaced", "gw", RP_FAULT_HTTP_PROTOCOL_ERROR,
     "x\r\ny\t\x7f\xc3\xa9",
     "gw; error=http_protocol_error; details=\"x??y????\""},
    {"rfc8941-3-3-3-name-with-space-quoted", "my proxy",
     RP_FAULT_CONNECTION_TIMEOUT, NULL,
     "\"my proxy\"; error=connection_timeout"},
    {"rfc8941-empty-name-is-empty-string", "", RP_FAULT_CONNECTION_TIMEOUT,
     NULL, "\"\"; error=connection_timeout"},
    {"rfc9209-error-without-cause-is-internal", "gw", RP_FAULT_NONE, NULL,
     "gw; error=proxy_internal_error"},
};

static void rfc9209_2_proxy_status_value(void)
{
    size_t i;

    for (i = 0; i < NELTS(ps_cases); i++) {
        const ps_case_t *tc = &ps_cases[i];
        const char *got =
            rp_fault_proxy_status(pool, tc->proxy, tc->fault, tc->details);
        if (strcmp(got, tc->want) != 0) {
            RP_FAIL_CASE(tc->name, "got [%s], expected [%s]", got, tc->want);
        }
    }
}

/* Long details are cut, and the cut never splits an escape: the value
 * still ends with an unescaped closing quote. */
static void rfc8941_long_details_cut_to_a_valid_string(void)
{
    char big[1000];
    const char *got, *d;
    size_t len;

    memset(big, '\\', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    got = rp_fault_proxy_status(pool, "gw", RP_FAULT_HTTP_PROTOCOL_ERROR, big);
    d = strstr(got, "details=\"");
    RP_EXPECT(d != NULL);
    if (!d) {
        return;
    }
    d += 9;
    len = strlen(d);
    RP_EXPECT_INT(len, 2 * RP_FAULT_DETAILS_MAX + 1);
    RP_EXPECT(d[len - 1] == '"');
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    RP_TEST_RUN(rfc9209_2_3_every_fault_has_a_distinct_registered_name);
    RP_TEST_RUN(rfc9209_os_errors_map_to_connection_faults);
    RP_TEST_RUN(rp_codes_fall_back_to_the_broadest_true_fault);
    RP_TEST_RUN(rfc9209_2_proxy_status_value);
    RP_TEST_RUN(rfc8941_long_details_cut_to_a_valid_string);
    apr_pool_destroy(pool);
    apr_terminate();
    return rp_test_done();
}
