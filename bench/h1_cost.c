/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* h1_cost.c: instructions per response head for core/rp_h1.c, the part of
 * bench/run.sh cost that one can change and measure in a second. It parses
 * the head the bench's nginx backend sends for /1k (eight fields) and reads
 * its framing, N times; run it under callgrind twice and divide the
 * difference by the difference in N, as the cost bench does for requests:
 *
 *   cc -O2 -g $(apr-1-config --includes --cppflags) -Icore \
 *      -o /tmp/h1_cost bench/h1_cost.c core/rp_h1.c $(apr-1-config --link-ld)
 *   for n in 1000 2000; do valgrind --tool=callgrind \
 *      --callgrind-out-file=/tmp/h1.$n /tmp/h1_cost $n; done
 *
 * Not part of the product and not built by make. */

#include <stdio.h>
#include <stdlib.h>

#include "rp_h1.h"

static const char head[] = "HTTP/1.1 200 OK\r\n"
                           "Server: nginx/1.22.1\r\n"
                           "Date: Mon, 23 Nov 2026 18:35:00 GMT\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           "Content-Length: 1024\r\n"
                           "Last-Modified: Mon, 23 Nov 2026 17:44:55 GMT\r\n"
                           "Connection: keep-alive\r\n"
                           "ETag: \"6921d0b7-400\"\r\n"
                           "Accept-Ranges: bytes\r\n"
                           "\r\n";

int main(int argc, char **argv)
{
    rp_h1_field_t fields[100];
    rp_h1_head_t h;
    rp_h1_framing_t fr;
    long n = argc > 1 ? atol(argv[1]) : 1000, i, sum = 0;
    apr_ssize_t used;

    for (i = 0; i < n; i++) {
        h.fields = fields;
        h.max_fields = sizeof(fields) / sizeof(fields[0]);
        used = rp_h1_parse_response(head, sizeof(head) - 1, 0, &h);
        if (used != (apr_ssize_t)sizeof(head) - 1 ||
            rp_h1_response_framing(&h, "GET", &fr) != APR_SUCCESS ||
            fr.kind != RP_H1_BODY_LENGTH || fr.length != 1024 ||
            !fr.keep_alive) {
            fprintf(stderr, "h1_cost: the head did not parse as expected\n");
            return 1;
        }
        sum += (long)fr.length; /* keeps the loop from being optimised out */
    }
    printf("%ld heads, %ld body bytes announced\n", n, sum);
    return 0;
}
