/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_health.c: rp_health.c against the scripted backend: what a check
 * sends, the status it reports (0 for no answer, with a reason), and a
 * round that marks a member down and up in the shared state. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "rp_health.h"
#include "rp_test.h"
#include "rp_test_backend.h"

static apr_pool_t *pool;

#define RESP_503                                                               \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
#define RESP_200 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

typedef struct hfx_t {
    rp_transport_t *t;
    rp_url_t url;
    rp_balancer_t b;
    rp_lb_member_t m;
    rp_lb_slot_t st;
    rp_lb_shared_t sh;
    rp_lb_hc_t hc;
    apr_pool_t *p;
} hfx_t;

static void hfx_open(hfx_t *f, int port)
{
    const char *why = NULL;

    memset(f, 0, sizeof(*f));
    apr_pool_create(&f->p, pool);
    if (rp_transport_create(f->p, 1, &f->t) != APR_SUCCESS ||
        rp_url_parse(f->p, apr_psprintf(f->p, "http://127.0.0.1:%d", port),
                     &f->url, &why) != APR_SUCCESS) {
        fprintf(stderr, "hfx_open: %s\n", why ? why : "setup failed");
        exit(2);
    }
    f->url.path = "";
    rp_lb_hc_default(&f->hc);
    f->hc.path = "/healthz";
    f->hc.timeout = apr_time_from_msec(300);
    f->hc.fails = 2;
    f->hc.passes = 1;
    f->m.url = "http://member";
    f->m.origin = &f->url;
    f->m.weight = 1;
    f->m.st = &f->st;
    f->b.name = "t";
    f->b.members = &f->m;
    f->b.n = 1;
    f->b.shared = &f->sh;
    f->b.hc = &f->hc;
    rp_lb_params_default(&f->b.params);
}

static void check_sends_get_with_close_and_reports_status(void)
{
    static const tb_step_t s0[] = {{.send = RESP_503, .then = TB_CLOSE},
                                   TB_END};
    static const tb_step_t s1[] = {{.send = RESP_200, .then = TB_CLOSE},
                                   TB_END};
    const tb_step_t *const sc[] = {s0, s1};
    tb_backend_t *tb = tb_start(sc, 2);
    apr_pool_t *p;
    const char *why = NULL;
    const tb_req_t *rq;
    hfx_t f;

    hfx_open(&f, tb->port);
    apr_pool_create(&p, f.p);
    RP_EXPECT_INT(rp_health_check(f.t, &f.b, 0, p, &why), 503);
    RP_EXPECT(why == NULL);
    RP_EXPECT_INT(rp_health_check(f.t, &f.b, 0, p, &why), 200);
    rq = tb_request(tb, 0);
    RP_EXPECT(rq && !strncmp(rq->raw, "GET /healthz HTTP/1.1\r\n", 23));
    RP_EXPECT(rq && strstr(rq->raw, "\r\nConnection: close\r\n"));
    RP_EXPECT(rq && strstr(rq->raw, "\r\nHost: 127.0.0.1:"));
    apr_pool_destroy(f.p);
    tb_stop(tb);
}

static void no_answer_is_status_0_with_a_reason(void)
{
    /* reads the request, answers nothing: the timeout decides */
    static const tb_step_t s0[] = {{.read = TB_READ_REQUEST}, TB_END};
    const tb_step_t *const sc[] = {s0};
    tb_backend_t *tb = tb_start(sc, 1);
    const char *why = NULL;
    hfx_t f;

    hfx_open(&f, tb->port);
    RP_EXPECT_INT(rp_health_check(f.t, &f.b, 0, f.p, &why), 0);
    RP_EXPECT(why != NULL);
    apr_pool_destroy(f.p);
    tb_stop(tb);
    hfx_open(&f, tb_closed_port());
    why = NULL;
    RP_EXPECT_INT(rp_health_check(f.t, &f.b, 0, f.p, &why), 0);
    RP_EXPECT(why != NULL);
    apr_pool_destroy(f.p);
}

typedef struct seen_t {
    int changes[4];
    int n;
} seen_t;

static void note(void *baton, rp_balancer_t *b, int i, int change, int status,
                 const char *why)
{
    seen_t *s = baton;

    (void)b, (void)i, (void)status, (void)why;
    if (s->n < 4) {
        s->changes[s->n++] = change;
    }
}

static void rounds_mark_member_down_then_up(void)
{
    static const tb_step_t bad[] = {{.send = RESP_503, .then = TB_CLOSE},
                                    TB_END};
    static const tb_step_t good[] = {{.send = RESP_200, .then = TB_CLOSE},
                                     TB_END};
    const tb_step_t *const sc[] = {bad, bad, good};
    tb_backend_t *tb = tb_start(sc, 3);
    apr_pool_t *scratch;
    seen_t seen = {{0}, 0};
    hfx_t f;

    hfx_open(&f, tb->port);
    apr_pool_create(&scratch, f.p);
    RP_EXPECT_INT(rp_health_round(f.t, &f.b, scratch, NULL, NULL, note, &seen),
                  1);
    RP_EXPECT_INT(seen.n, 0);
    rp_health_round(f.t, &f.b, scratch, NULL, NULL, note, &seen);
    RP_EXPECT_INT(seen.n, 1);
    RP_EXPECT_INT(seen.changes[0], RP_LB_HC_DOWN);
    RP_EXPECT(f.st.flags & RP_LB_F_HEALTH_DOWN);
    rp_health_round(f.t, &f.b, scratch, NULL, NULL, note, &seen);
    RP_EXPECT_INT(seen.n, 2);
    RP_EXPECT_INT(seen.changes[1], RP_LB_HC_UP);
    RP_EXPECT_INT(f.st.flags, 0);
    RP_EXPECT_INT(f.st.hc_status, 200);
    apr_pool_destroy(f.p);
    tb_stop(tb);
}

/* n members like f->m, each with its slot in st, all at f's backend; returns
 * a scratch pool for a round. */
static apr_pool_t *hfx_members(hfx_t *f, rp_lb_member_t *m, rp_lb_slot_t *st,
                               int n)
{
    apr_pool_t *scratch;
    int i;

    memset(st, 0, sizeof(*st) * (size_t)n);
    for (i = 0; i < n; i++) {
        m[i] = f->m;
        m[i].st = &st[i];
    }
    f->b.members = m;
    f->b.n = n;
    apr_pool_create(&scratch, f->p);
    return scratch;
}

/* Members that take their time are checked at once, not one after the
 * other: four members answering after 500 ms each see their checks' four
 * connections open together, and every result is recorded. */
static void round_checks_members_at_once(void)
{
    static const tb_step_t slow[] = {
        {.delay_ms = 500, .send = RESP_200, .then = TB_CLOSE}, TB_END};
    const tb_step_t *const sc[] = {slow, slow, slow, slow};
    tb_backend_t *tb = tb_start(sc, 4);
    rp_lb_member_t m[4];
    rp_lb_slot_t st[4];
    apr_pool_t *scratch;
    seen_t seen = {{0}, 0};
    hfx_t f;
    int i;

    hfx_open(&f, tb->port);
    f.hc.timeout = apr_time_from_sec(3);
    scratch = hfx_members(&f, m, st, 4);
    RP_EXPECT_INT(rp_health_round(f.t, &f.b, scratch, NULL, NULL, note, &seen),
                  4);
    RP_EXPECT_INT(tb_accepted(tb), 4);
    RP_EXPECT(tb_open_max(tb) >= 3);
    for (i = 0; i < 4; i++) {
        RP_EXPECT_INT(st[i].hc_status, 200);
        RP_EXPECT(st[i].hc_last != 0);
    }
    RP_EXPECT_INT(seen.n, 0); /* all up, as they started */
    apr_pool_destroy(f.p);
    tb_stop(tb);
}

static int always(void *baton)
{
    (void)baton;
    return 1;
}

static void round_stops_when_asked(void)
{
    hfx_t f;

    hfx_open(&f, tb_closed_port());
    RP_EXPECT_INT(rp_health_round(f.t, &f.b, f.p, always, NULL, NULL, NULL), 0);
    RP_EXPECT_INT((int)f.st.hc_last, 0);
    apr_pool_destroy(f.p);
}

#ifdef RP_DEBUG
/* Each allocation point of a round of three (the helper threads' pools,
 * the dials' pools, the read blocks) fails in turn: every member is still
 * taken, whatever its check gave, and nothing crashes or leaks. */
static int af_round(unsigned long n, unsigned long *passed)
{
    static const tb_step_t ok[] = {{.send = RESP_200, .then = TB_CLOSE},
                                   TB_END};
    const tb_step_t *const sc[] = {ok, ok, ok};
    tb_backend_t *tb = tb_start(sc, 3);
    rp_lb_member_t m[3];
    rp_lb_slot_t st[3];
    apr_pool_t *scratch;
    hfx_t f;
    int checked;

    hfx_open(&f, tb->port);
    scratch = hfx_members(&f, m, st, 3);
    rp_alloc_fail_at(n);
    checked = rp_health_round(f.t, &f.b, scratch, NULL, NULL, NULL, NULL);
    *passed = rp_alloc_calls();
    rp_alloc_fail_at(0);
    apr_pool_destroy(f.p);
    tb_stop(tb);
    return checked;
}

static void round_survives_each_allocation_failure(void)
{
    unsigned long n, total, passed;

    RP_EXPECT_INT(af_round(0, &total), 3);
    RP_EXPECT(total >= 5); /* two helpers' pools, three dials at least */
    for (n = 1; n <= total && !rp_test_cur_failed; n++) {
        RP_EXPECT_INT(af_round(n, &passed), 3);
        if (rp_test_cur_failed) {
            printf("    (with allocation point %lu of %lu failing)\n", n,
                   total);
        }
    }
}
#endif

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    RP_TEST_RUN(check_sends_get_with_close_and_reports_status);
    RP_TEST_RUN(no_answer_is_status_0_with_a_reason);
    RP_TEST_RUN(rounds_mark_member_down_then_up);
    RP_TEST_RUN(round_stops_when_asked);
    RP_TEST_RUN(round_checks_members_at_once);
#ifdef RP_DEBUG
    RP_TEST_RUN(round_survives_each_allocation_failure);
#endif
    apr_pool_destroy(pool);
    apr_terminate();
    return rp_test_done();
}
