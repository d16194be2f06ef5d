/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_balancer.c: rp_balancer.c: each selection method's distribution
 * and preferences, hash remapping when a member goes, standbys, sticky ids,
 * ejection with backoff, the max ejected share and slow start, all with an
 * injected clock. */

#include <apr_atomic.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_balancer.h"
#include "rp_test.h"

static apr_pool_t *pool;
static apr_time_t fake_now;

static apr_time_t clock_now(void)
{
    return fake_now;
}

typedef struct lb_fixture_t {
    rp_balancer_t b;
    rp_lb_member_t m[RP_LB_MAX_MEMBERS];
    rp_lb_slot_t st[RP_LB_MAX_MEMBERS];
    rp_lb_shared_t sh;
} lb_fixture_t;

/* n members http://10.0.0.<i+1>:80 with the given weights (NULL: all 1). */
static lb_fixture_t *fixture(rp_lb_method_t method, int n, const int *weights)
{
    lb_fixture_t *f = apr_pcalloc(pool, sizeof(*f));
    int i;

    fake_now = apr_time_from_sec(1000000);
    f->b.name = "t";
    f->b.method = method;
    f->b.members = f->m;
    f->b.n = n;
    f->b.shared = &f->sh;
    f->b.now = clock_now;
    rp_lb_params_default(&f->b.params);
    for (i = 0; i < n; i++) {
        f->m[i].url = apr_psprintf(pool, "http://10.0.0.%d:80", i + 1);
        f->m[i].weight = weights ? weights[i] : 1;
        f->m[i].st = &f->st[i];
        rp_lb_member_init_id(&f->m[i]);
    }
    return f;
}

static int pick(lb_fixture_t *f)
{
    int stuck;

    return rp_lb_pick(&f->b, NULL, 0, NULL, 0, &stuck);
}

/* Picks n times (each request done at once) and counts per member. */
static void count_picks(lb_fixture_t *f, int n, int *counts)
{
    int k, i;

    for (k = 0; k < n; k++) {
        i = pick(f);
        if (i < 0) {
            counts[RP_LB_MAX_MEMBERS - 1]++;
            continue;
        }
        counts[i]++;
        rp_lb_start(&f->b, i);
        rp_lb_done(&f->b, i, RP_LB_OK, 1000);
    }
}

/* ---- methods ------------------------------------------------------------ */

/* Weights 5:1:1 over 1,000 picks give 5/7, 1/7, 1/7 exactly (SWRR's
 * sequence is deterministic), and never three picks of the light
 * members in a row: the heavy one's turns are spread. */
static void rr_distribution_follows_weights(void)
{
    static const int w[] = {5, 1, 1};
    lb_fixture_t *f = fixture(RP_LB_RR, 3, w);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    int seq[7], k;

    for (k = 0; k < 7; k++) {
        seq[k] = pick(f);
    }
    RP_EXPECT_INT(seq[0], 0);
    RP_EXPECT(seq[1] == 0 || seq[2] == 0);
    count_picks(f, 994, counts);
    for (k = 0; k < 7; k++) {
        counts[seq[k]]++;
    }
    RP_EXPECT_INT(counts[0], 715); /* 1,001 picks: 143 rounds of 7 */
    RP_EXPECT_INT(counts[1], 143);
    RP_EXPECT_INT(counts[2], 143);
}

/* Least outstanding requests goes to the member with the fewest in
 * flight per weight, and spreads ties. */
static void least_prefers_fewer_in_flight_per_weight(void)
{
    static const int w[] = {1, 1, 3};
    lb_fixture_t *f = fixture(RP_LB_LEAST, 3, w);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    int k;

    f->st[0].in_flight = 0;
    f->st[1].in_flight = 4;
    f->st[2].in_flight = 2; /* (2+1)/3 = 1 beats (0+1)/1 = 1? a tie */
    for (k = 0; k < 200; k++) {
        counts[pick(f)]++;
    }
    RP_EXPECT_INT(counts[1], 0);
    RP_EXPECT(counts[0] > 50 && counts[2] > 50); /* ties spread */
    f->st[2].in_flight = 1;                      /* 2/3 < 1 */
    RP_EXPECT_INT(pick(f), 2);
    /* held requests pile up on the members in proportion to weight */
    f = fixture(RP_LB_LEAST, 3, w);
    for (k = 0; k < 50; k++) {
        rp_lb_start(&f->b, pick(f));
    }
    RP_EXPECT(f->st[2].in_flight >= 29 && f->st[2].in_flight <= 31);
    RP_EXPECT(f->st[0].in_flight >= 9 && f->st[0].in_flight <= 11);
}

/* P2C avoids the slow member: with one of 4 ten times slower, it gets
 * far less than its 1/4 share; and with equal latency the loads hold. */
static void p2c_prefers_lower_latency_times_load(void)
{
    lb_fixture_t *f = fixture(RP_LB_P2C, 4, NULL);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    int k, i;

    for (k = 0; k < 4; k++) {
        f->st[k].ewma_us = k == 3 ? 100000 : 10000;
    }
    for (k = 0; k < 1000; k++) {
        i = pick(f);
        counts[i]++;
    }
    /* member 3 wins only when drawn with... never: it always loses */
    RP_EXPECT_INT(counts[3], 0);
    for (k = 0; k < 3; k++) {
        RP_EXPECT(counts[k] > 250 && counts[k] < 420);
    }
    /* in flight counts too: a fast member with 20 in flight loses to a
     * member twice as slow with none */
    f->st[0].in_flight = 20;
    f->st[1].ewma_us = 20000;
    f->st[2].ewma_us = 20000;
    memset(counts, 0, sizeof(counts));
    for (k = 0; k < 300; k++) {
        counts[pick(f)]++;
    }
    RP_EXPECT_INT(counts[0], 0);
}

/* Weighted p2c over equal latencies follows the weights roughly. */
static void p2c_distribution_follows_weights(void)
{
    static const int w[] = {3, 1, 1, 1};
    lb_fixture_t *f = fixture(RP_LB_P2C, 4, w);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    int held[64], k, i;

    for (k = 0; k < 4; k++) {
        f->st[k].ewma_us = 1000;
    }
    /* keep 12 requests in flight, retiring the oldest at each pick */
    for (k = 0; k < 1000; k++) {
        i = pick(f);
        counts[i]++;
        rp_lb_start(&f->b, i);
        if (k >= 12) {
            apr_atomic_dec32(&f->st[held[k % 12]].in_flight);
        }
        held[k % 12] = i;
    }
    RP_EXPECT(counts[0] > 380 && counts[0] < 560);
    for (k = 1; k < 4; k++) {
        RP_EXPECT(counts[k] > 120 && counts[k] < 230);
    }
}

static const char *key_of(int k)
{
    return apr_psprintf(pool, "client-%d", k);
}

/* Rendezvous hashing: the same key, the same member; equal weights share
 * the keys evenly; removing one of 5 moves only that member's keys
 * (~1/5 of all). */
static void hash_remaps_one_fifth_when_one_of_five_goes(void)
{
    lb_fixture_t *f = fixture(RP_LB_HASH, 5, NULL);
    lb_fixture_t *g;
    int before[2000], counts[RP_LB_MAX_MEMBERS] = {0};
    int k, i, moved = 0, stuck;
    const char *key;

    for (k = 0; k < 2000; k++) {
        key = key_of(k);
        before[k] = rp_lb_pick(&f->b, key, strlen(key), NULL, 0, &stuck);
        counts[before[k]]++;
        RP_EXPECT_INT(rp_lb_pick(&f->b, key, strlen(key), NULL, 0, &stuck),
                      before[k]);
    }
    for (i = 0; i < 5; i++) {
        RP_EXPECT(counts[i] > 300 && counts[i] < 500);
    }
    /* the same balancer without member 2 (ids come from the urls) */
    g = fixture(RP_LB_HASH, 4, NULL);
    for (i = 0; i < 4; i++) {
        g->m[i].url = f->m[i < 2 ? i : i + 1].url;
        rp_lb_member_init_id(&g->m[i]);
    }
    for (k = 0; k < 2000; k++) {
        key = key_of(k);
        i = rp_lb_pick(&g->b, key, strlen(key), NULL, 0, &stuck);
        i = i < 2 ? i : i + 1;
        if (i != before[k]) {
            moved++;
            RP_EXPECT_INT(before[k], 2); /* only member 2's keys move */
        }
    }
    RP_EXPECT(moved > 200 && moved < 600);
}

static void hash_distribution_follows_weights(void)
{
    static const int w[] = {3, 1};
    lb_fixture_t *f = fixture(RP_LB_HASH, 2, w);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    int k, stuck;
    const char *key;

    for (k = 0; k < 1000; k++) {
        key = key_of(k);
        counts[rp_lb_pick(&f->b, key, strlen(key), NULL, 0, &stuck)]++;
    }
    RP_EXPECT(counts[0] > 690 && counts[0] < 810);
}

/* ---- standby, sticky, flags -------------------------------------------- */

static void standby_used_only_when_every_regular_member_is_out(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 3, NULL);
    int counts[RP_LB_MAX_MEMBERS] = {0};

    f->m[2].standby = 1;
    count_picks(f, 100, counts);
    RP_EXPECT_INT(counts[2], 0);
    f->st[0].ejected_until = (apr_uint64_t)(fake_now + 1000000);
    RP_EXPECT_INT(pick(f), 1);
    f->st[1].flags = RP_LB_F_HEALTH_DOWN;
    RP_EXPECT_INT(pick(f), 2);
    f->st[2].flags = RP_LB_F_DISABLED;
    RP_EXPECT_INT(pick(f), -1);
    f->st[1].flags = 0;
    RP_EXPECT_INT(pick(f), 1);
}

static void sticky_id_honoured_while_member_usable(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 3, NULL);
    int k, stuck = 0, i;

    RP_EXPECT_INT(strlen(f->m[1].id), RP_LB_ID_LEN);
    RP_EXPECT(strcmp(f->m[0].id, f->m[1].id) != 0);
    RP_EXPECT(strstr(f->m[1].id, "10.0.0") == NULL); /* opaque */
    for (k = 0; k < 10; k++) {
        RP_EXPECT_INT(rp_lb_pick(&f->b, NULL, 0, f->m[1].id, 0, &stuck), 1);
        RP_EXPECT_INT(stuck, 1);
    }
    f->st[1].flags = RP_LB_F_DRAIN; /* draining keeps its sessions */
    RP_EXPECT_INT(rp_lb_pick(&f->b, NULL, 0, f->m[1].id, 0, &stuck), 1);
    f->st[1].flags = 0;
    f->st[1].ejected_until = (apr_uint64_t)(fake_now + 1000000);
    i = rp_lb_pick(&f->b, NULL, 0, f->m[1].id, 0, &stuck);
    RP_EXPECT(i == 0 || i == 2);
    RP_EXPECT_INT(stuck, 0);
    /* a tried member is not chosen again, sticky or not */
    f->st[1].ejected_until = 0;
    i = rp_lb_pick(&f->b, NULL, 0, f->m[1].id, 2, &stuck);
    RP_EXPECT(i == 0 || i == 2);
    RP_EXPECT_INT(rp_lb_pick(&f->b, NULL, 0, "nonsense", 0, &stuck) >= 0, 1);
    RP_EXPECT_INT(stuck, 0);
}

static void draining_member_gets_no_new_requests(void)
{
    lb_fixture_t *f = fixture(RP_LB_LEAST, 2, NULL);
    int counts[RP_LB_MAX_MEMBERS] = {0};

    f->st[0].flags = RP_LB_F_DRAIN;
    count_picks(f, 50, counts);
    RP_EXPECT_INT(counts[0], 0);
    RP_EXPECT_INT(counts[1], 50);
}

/* ---- passive health ---------------------------------------------------- */

static void fail_n(lb_fixture_t *f, int i, int n)
{
    while (n-- > 0) {
        rp_lb_start(&f->b, i);
        rp_lb_done(&f->b, i, RP_LB_FAILED, 0);
    }
}

/* N consecutive failures eject; a success in between resets the count;
 * repeated ejections double the backoff up to the cap (jitter <= 1/8). */
static void ejection_after_n_failures_with_doubling_backoff(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 4, NULL);
    apr_interval_time_t len;
    int k;

    f->b.params.eject_after = 3;
    f->b.params.eject_base = apr_time_from_sec(10);
    f->b.params.eject_max = apr_time_from_sec(35);
    fail_n(f, 0, 2);
    rp_lb_start(&f->b, 0);
    rp_lb_done(&f->b, 0, RP_LB_OK, 10);
    fail_n(f, 0, 2);
    RP_EXPECT(rp_lb_usable(&f->b, 0, fake_now, 0));
    fail_n(f, 0, 1);
    RP_EXPECT(!rp_lb_usable(&f->b, 0, fake_now, 0));
    RP_EXPECT_INT(f->st[0].ejections, 1);
    RP_EXPECT_INT(f->st[0].in_flight, 0);
    RP_EXPECT_INT(f->st[0].failures, 5);
    for (k = 1; k <= 4; k++) {
        static const int base_s[] = {0, 10, 20, 35, 35};
        len = (apr_time_t)f->st[0].ejected_until - fake_now;
        RP_EXPECT(len >= apr_time_from_sec(base_s[k]));
        RP_EXPECT(len <= apr_time_from_sec(base_s[k]) * 9 / 8);
        RP_EXPECT(pick(f) != 0);
        fake_now += len; /* back: it fails again at once */
        RP_EXPECT(rp_lb_usable(&f->b, 0, fake_now, 0));
        fail_n(f, 0, 3);
    }
    RP_EXPECT_INT(f->st[0].ejected_total, 5);
    /* a long quiet spell of successes starts the backoff over */
    fake_now = (apr_time_t)f->st[0].ejected_until + apr_time_from_sec(36);
    rp_lb_start(&f->b, 0);
    rp_lb_done(&f->b, 0, RP_LB_OK, 10);
    RP_EXPECT_INT(f->st[0].ejections, 0);
    /* neutral outcomes count nothing */
    rp_lb_start(&f->b, 1);
    rp_lb_done(&f->b, 1, RP_LB_NEUTRAL, 0);
    RP_EXPECT_INT(f->st[1].consec_fail, 0);
}

/* With 50 % of 4 members at most 2 are out at once: the third to fail
 * stays in service; once one returns, it can go. */
static void ejections_never_exceed_max_share(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 4, NULL);

    f->b.params.eject_after = 1;
    fail_n(f, 0, 1);
    fake_now += apr_time_from_sec(5);
    fail_n(f, 1, 1);
    fail_n(f, 2, 1);
    RP_EXPECT(!rp_lb_usable(&f->b, 0, fake_now, 0));
    RP_EXPECT(!rp_lb_usable(&f->b, 1, fake_now, 0));
    RP_EXPECT(rp_lb_usable(&f->b, 2, fake_now, 0));
    RP_EXPECT_INT(f->st[2].ejected_total, 0);
    fake_now = (apr_time_t)f->st[0].ejected_until;
    fail_n(f, 2, 1);
    RP_EXPECT(!rp_lb_usable(&f->b, 2, fake_now, 0));
    f->b.params.eject_max_pct = 100;
    fail_n(f, 3, 1);
    fail_n(f, 0, 1);
    RP_EXPECT_INT(pick(f), -1);
}

/* Slow start: after an ejection ends, the member's weight ramps from
 * 1/10 to all of it over the slow start time. */
static void slow_start_ramps_weight_linearly(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 2, NULL);
    int counts[RP_LB_MAX_MEMBERS] = {0};
    apr_time_t back;

    f->b.params.slow_start = apr_time_from_sec(30);
    f->b.params.eject_after = 1;
    RP_EXPECT_INT(rp_lb_effective_weight(&f->b, 0, fake_now), 1000);
    fail_n(f, 0, 1);
    back = (apr_time_t)f->st[0].ejected_until;
    RP_EXPECT_INT(rp_lb_effective_weight(&f->b, 0, back), 100);
    RP_EXPECT_INT(
        rp_lb_effective_weight(&f->b, 0, back + apr_time_from_sec(15)), 550);
    RP_EXPECT_INT(
        rp_lb_effective_weight(&f->b, 0, back + apr_time_from_sec(30)), 1000);
    fake_now = back;
    count_picks(f, 110, counts);
    RP_EXPECT(counts[0] >= 9 && counts[0] <= 11);
    fake_now = back + apr_time_from_sec(31);
    memset(counts, 0, sizeof(counts));
    count_picks(f, 100, counts);
    RP_EXPECT(counts[0] >= 49 && counts[0] <= 51);
}

static void status_5xx_counts_as_failure_when_configured(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 2, NULL);

    RP_EXPECT(rp_lb_status_fails(&f->b, 502));
    RP_EXPECT(rp_lb_status_fails(&f->b, 503));
    RP_EXPECT(!rp_lb_status_fails(&f->b, 500));
    RP_EXPECT(!rp_lb_status_fails(&f->b, 404));
    f->b.params.fail_on_5xx = 0;
    RP_EXPECT(!rp_lb_status_fails(&f->b, 503));
}

/* ---- keys -------------------------------------------------------------- */

static void request_keys_from_client_header_cookie_path(void)
{
    lb_fixture_t *f = fixture(RP_LB_HASH, 2, NULL);
    apr_table_t *h = apr_table_make(pool, 4);
    apr_size_t len = 0;

    apr_table_addn(h, "Cookie", "a=1; SESSION=xyz ; b=2");
    apr_table_addn(h, "Cookie", "c=\"q\"");
    apr_table_addn(h, "X-User", "bob");
    RP_EXPECT_STR(rp_lb_request_key(&f->b, pool, "192.0.2.1", h, "/p?q", &len),
                  "192.0.2.1");
    f->b.key = RP_LB_KEY_HEADER;
    f->b.key_name = "x-user";
    RP_EXPECT_STR(rp_lb_request_key(&f->b, pool, "ip", h, "/p", &len), "bob");
    f->b.key = RP_LB_KEY_COOKIE;
    f->b.key_name = "SESSION";
    RP_EXPECT_STR(rp_lb_request_key(&f->b, pool, "ip", h, "/p", &len), "xyz");
    RP_EXPECT_STR(rp_lb_cookie(pool, h, "c"), "q");
    RP_EXPECT_STR(rp_lb_cookie(pool, h, "SESS"), NULL);
    f->b.key_name = "none";
    RP_EXPECT_STR(rp_lb_request_key(&f->b, pool, "ip", h, "/p", &len), NULL);
    f->b.key = RP_LB_KEY_PATH;
    RP_EXPECT(rp_lb_request_key(&f->b, pool, "ip", h, "/p/x?q=1", &len));
    RP_EXPECT_INT(len, 4);
}

/* The lock excludes: taken, a second taker from a dead pid takes over. */
static void lock_taken_over_from_a_dead_holder(void)
{
    rp_lb_shared_t sh = {0};

    rp_lb_lock(&sh);
    RP_EXPECT_INT(sh.lock, (apr_uint32_t)getpid());
    rp_lb_unlock(&sh);
    RP_EXPECT_INT(sh.lock, 0);
    sh.lock = 0x7ffffff0; /* no such pid */
    rp_lb_lock(&sh);
    RP_EXPECT_INT(sh.lock, (apr_uint32_t)getpid());
    rp_lb_unlock(&sh);
}

/* ---- phase 2: active health, flags, status, tokens ---------------------- */

static rp_lb_hc_t hc_3_2(void)
{
    rp_lb_hc_t hc;

    rp_lb_hc_default(&hc);
    hc.fails = 3;
    hc.passes = 2;
    return hc;
}

static void health_down_after_fails_up_after_passes(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 2, NULL);
    rp_lb_hc_t hc = hc_3_2();
    int i;

    f->b.hc = &hc;
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 503, fake_now), 0);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 0, fake_now), 0);
    /* a pass in between starts the count again */
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 200, fake_now), 0);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 500, fake_now), 0);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 404, fake_now), 0);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 0, fake_now), RP_LB_HC_DOWN);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 0, fake_now), 0);
    RP_EXPECT_INT(f->st[1].flags & RP_LB_F_HEALTH_DOWN, RP_LB_F_HEALTH_DOWN);
    RP_EXPECT_INT(f->st[1].hc_status, 0);
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 1, fake_now), "down");
    for (i = 0; i < 20; i++) {
        RP_EXPECT_INT(pick(f), 0);
    }
    fake_now += apr_time_from_sec(5);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 399, fake_now), 0);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 200, fake_now), RP_LB_HC_UP);
    RP_EXPECT_INT(f->st[1].flags, 0);
    RP_EXPECT_INT(f->st[1].hc_status, 200);
    RP_EXPECT_INT((apr_time_t)f->st[1].hc_last, fake_now);
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 1, fake_now), "up");
}

static void member_back_from_health_ramps_with_slow_start(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 2, NULL);
    rp_lb_hc_t hc = hc_3_2();

    hc.fails = 1;
    hc.passes = 1;
    f->b.hc = &hc;
    f->b.params.slow_start = apr_time_from_sec(100);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 0, 503, fake_now), RP_LB_HC_DOWN);
    fake_now += apr_time_from_sec(1000);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 0, 200, fake_now), RP_LB_HC_UP);
    RP_EXPECT_INT(rp_lb_effective_weight(&f->b, 0, fake_now), 100);
    RP_EXPECT_INT(
        rp_lb_effective_weight(&f->b, 0, fake_now + apr_time_from_sec(50)),
        550);
    /* a passive ejection still running keeps its own end */
    f->st[1].ejected_until = (apr_uint64_t)(fake_now + apr_time_from_sec(30));
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 503, fake_now), RP_LB_HC_DOWN);
    RP_EXPECT_INT(rp_lb_hc_result(&f->b, 1, 200, fake_now), RP_LB_HC_UP);
    RP_EXPECT_INT((apr_time_t)f->st[1].ejected_until,
                  fake_now + apr_time_from_sec(30));
}

static void flags_and_state_names(void)
{
    lb_fixture_t *f = fixture(RP_LB_RR, 2, NULL);

    f->m[1].standby = 1;
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 0, fake_now), "up");
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 1, fake_now), "standby");
    RP_EXPECT_INT(rp_lb_set_flag(&f->b, 0, RP_LB_F_DRAIN, 1), 0);
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 0, fake_now), "draining");
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 1, fake_now), "up");
    RP_EXPECT_INT(rp_lb_set_flag(&f->b, 0, RP_LB_F_DISABLED, 1), RP_LB_F_DRAIN);
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 0, fake_now), "disabled");
    rp_lb_set_flag(&f->b, 0, RP_LB_F_DISABLED, 0);
    rp_lb_set_flag(&f->b, 0, RP_LB_F_DRAIN, 0);
    RP_EXPECT_INT(f->st[0].flags, 0);
    f->st[0].ejected_until = (apr_uint64_t)(fake_now + 1);
    RP_EXPECT_STR(rp_lb_state_str(&f->b, 0, fake_now), "ejected");
}

static void lease_held_by_one_until_dropped_expired_or_dead(void)
{
    rp_lb_shared_t sh = {0};
    apr_uint32_t me = (apr_uint32_t)getpid();
    apr_uint32_t parent = (apr_uint32_t)getppid(); /* alive, not me */
    apr_time_t now = apr_time_from_sec(1000);
    apr_interval_time_t ttl = apr_time_from_sec(10);

    RP_EXPECT_INT(rp_lb_lease(&sh, me, now, ttl), 1);
    RP_EXPECT_INT(rp_lb_lease(&sh, parent, now + 1, ttl), 0);
    RP_EXPECT_INT(rp_lb_lease(&sh, me, now + apr_time_from_sec(5), ttl), 1);
    /* renewed: not expired at the first expiry */
    RP_EXPECT_INT(rp_lb_lease(&sh, parent, now + apr_time_from_sec(11), ttl),
                  0);
    RP_EXPECT_INT(rp_lb_lease(&sh, parent, now + apr_time_from_sec(16), ttl),
                  1);
    RP_EXPECT_INT(sh.hc_owner, parent);
    rp_lb_lease_drop(&sh, me); /* not mine: nothing */
    RP_EXPECT_INT(sh.hc_owner, parent);
    rp_lb_lease_drop(&sh, parent);
    RP_EXPECT_INT(sh.hc_owner, 0);
    RP_EXPECT_INT(rp_lb_lease(&sh, me, now, ttl), 1);
    /* a holder that no longer exists loses it before its expiry */
    sh.hc_owner = 0x7ffffff0;
    RP_EXPECT_INT(rp_lb_lease(&sh, parent, now, ttl), 1);
    RP_EXPECT_INT(sh.lock, 0);
}

static void operator_token_binds_balancer_and_member(void)
{
    const unsigned char key[] = "0123456789abcdef0123456789abcdef";
    const unsigned char other[] = "fedcba9876543210fedcba9876543210";
    char t[RP_LB_TOKEN_LEN + 1], t2[RP_LB_TOKEN_LEN + 1];

    rp_lb_token(key, 32, "app", "http://a:80", t);
    RP_EXPECT_INT((int)strlen(t), RP_LB_TOKEN_LEN);
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app", "http://a:80", t), 1);
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app", "http://b:80", t), 0);
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app2", "http://a:80", t), 0);
    RP_EXPECT_INT(rp_lb_token_ok(other, 32, "app", "http://a:80", t), 0);
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app", "http://a:80", NULL), 0);
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app", "http://a:80", ""), 0);
    rp_lb_token(key, 32, "app", "http://a:80", t2);
    RP_EXPECT_STR(t2, t);
    t2[0] = t2[0] == '0' ? '1' : '0';
    RP_EXPECT_INT(rp_lb_token_ok(key, 32, "app", "http://a:80", t2), 0);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    RP_TEST_RUN(rr_distribution_follows_weights);
    RP_TEST_RUN(least_prefers_fewer_in_flight_per_weight);
    RP_TEST_RUN(p2c_prefers_lower_latency_times_load);
    RP_TEST_RUN(p2c_distribution_follows_weights);
    RP_TEST_RUN(hash_remaps_one_fifth_when_one_of_five_goes);
    RP_TEST_RUN(hash_distribution_follows_weights);
    RP_TEST_RUN(standby_used_only_when_every_regular_member_is_out);
    RP_TEST_RUN(sticky_id_honoured_while_member_usable);
    RP_TEST_RUN(draining_member_gets_no_new_requests);
    RP_TEST_RUN(ejection_after_n_failures_with_doubling_backoff);
    RP_TEST_RUN(ejections_never_exceed_max_share);
    RP_TEST_RUN(slow_start_ramps_weight_linearly);
    RP_TEST_RUN(status_5xx_counts_as_failure_when_configured);
    RP_TEST_RUN(request_keys_from_client_header_cookie_path);
    RP_TEST_RUN(lock_taken_over_from_a_dead_holder);
    RP_TEST_RUN(health_down_after_fails_up_after_passes);
    RP_TEST_RUN(member_back_from_health_ramps_with_slow_start);
    RP_TEST_RUN(flags_and_state_names);
    RP_TEST_RUN(lease_held_by_one_until_dropped_expired_or_dead);
    RP_TEST_RUN(operator_token_binds_balancer_and_member);
    apr_pool_destroy(pool);
    apr_terminate();
    return rp_test_done();
}
