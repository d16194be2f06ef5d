/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_balancer.c: member selection and passive health (rp_balancer.h).
 * Pure policy over rp_lb_slot_t words: no I/O, no httpd. */

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "rp_balancer.h"

#define BIT(i) ((apr_uint64_t)1 << (i))

const char *rp_lb_method_str(rp_lb_method_t m)
{
    static const char *const names[] = {"rr", "least", "p2c", "hash"};

    return (unsigned)m < 4 ? names[m] : "?";
}

const char *rp_lb_key_str(rp_lb_key_t k)
{
    static const char *const names[] = {"client", "header", "cookie", "path"};

    return (unsigned)k < 4 ? names[k] : "?";
}

void rp_lb_params_default(rp_lb_params_t *p)
{
    p->eject_after = 5;
    p->eject_base = apr_time_from_sec(10);
    p->eject_max = apr_time_from_sec(300);
    p->eject_max_pct = 50;
    p->slow_start = 0;
    p->fail_on_5xx = 1;
}

/* ---- hashing and randomness ------------------------------------------- */

/* splitmix64's finaliser: every input bit affects every output bit, which
 * rendezvous scores need (FNV alone leaves the low bits weak). */
static apr_uint64_t mix64(apr_uint64_t x)
{
    x ^= x >> 30;
    x *= APR_UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= APR_UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

apr_uint64_t rp_lb_hash(const char *s, apr_size_t len)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= APR_UINT64_C(0x100000001b3);
    }
    return mix64(h);
}

void rp_lb_member_init_id(rp_lb_member_t *m)
{
    static const char hex[] = "0123456789abcdef";
    apr_uint64_t h = rp_lb_hash(m->url, strlen(m->url));
    int i;

    m->hash = h;
    for (i = RP_LB_ID_LEN - 1; i >= 0; i--, h >>= 4) {
        m->id[i] = hex[h & 0xf];
    }
    m->id[RP_LB_ID_LEN] = '\0';
}

/* xorshift32 per thread, seeded from the pid, the time and the state's
 * own address: random enough for tie-breaks, P2C draws and jitter. */
static apr_uint32_t default_rand(void)
{
    static __thread apr_uint32_t x;

    if (x == 0) {
        x = (apr_uint32_t)mix64((apr_uint64_t)getpid() ^
                                (apr_uint64_t)apr_time_now() ^
                                (apr_uint64_t)(apr_uintptr_t)&x);
        x |= 1;
    }
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

static apr_uint32_t lb_rand(const rp_balancer_t *b)
{
    return b->rand ? b->rand() : default_rand();
}

static apr_time_t lb_now(const rp_balancer_t *b)
{
    return b->now ? b->now() : apr_time_now();
}

/* ---- the shared lock -------------------------------------------------- */

/* Spins this long before asking whether the holder still lives. */
#define RP_LB_SPINS_BEFORE_CHECK 4096

void rp_lb_lock(rp_lb_shared_t *sh)
{
    apr_uint32_t me = (apr_uint32_t)getpid(), holder;
    unsigned spins = 0;

    for (;;) {
        holder = apr_atomic_cas32(&sh->lock, me, 0);
        if (holder == 0) {
            return;
        }
        if (++spins % 64) {
            continue;
        }
        /* A child that died holding the lock (a crash between lock and
         * unlock) must not stop every other one: its pid is gone. */
        if (spins >= RP_LB_SPINS_BEFORE_CHECK && holder != me &&
            kill((pid_t)holder, 0) != 0 && errno == ESRCH) {
            apr_atomic_cas32(&sh->lock, 0, holder);
            spins = 0;
            continue;
        }
        sched_yield();
    }
}

void rp_lb_unlock(rp_lb_shared_t *sh)
{
    apr_atomic_set32(&sh->lock, 0);
}

/* ---- usability and weights -------------------------------------------- */

int rp_lb_usable(const rp_balancer_t *b, int i, apr_time_t now, int sticky)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_uint32_t flags = apr_atomic_read32(&st->flags);

    if (flags & (RP_LB_F_DISABLED | RP_LB_F_HEALTH_DOWN)) {
        return 0;
    }
    if ((flags & RP_LB_F_DRAIN) && !sticky) {
        return 0;
    }
    return (apr_time_t)apr_atomic_read64(&st->ejected_until) <= now;
}

apr_int64_t rp_lb_effective_weight(const rp_balancer_t *b, int i,
                                   apr_time_t now)
{
    const rp_lb_member_t *m = &b->members[i];
    apr_interval_time_t ss = b->params.slow_start;
    apr_time_t back;
    apr_int64_t permille;

    if (ss <= 0) {
        return (apr_int64_t)m->weight * 1000;
    }
    back = (apr_time_t)apr_atomic_read64(&m->st->ejected_until);
    if (back == 0 || now < back || now - back >= ss) {
        return (apr_int64_t)m->weight * 1000;
    }
    /* From 1/10 (a member that just came back still gets a little, so
     * that its recovery shows) up to the whole weight. */
    permille = 100 + (apr_int64_t)(now - back) * 900 / ss;
    return (apr_int64_t)m->weight * permille;
}

/* ---- methods ---------------------------------------------------------- */

/* The members a pick may choose from: usable, not tried, not standby;
 * when there is none, the usable standbys. Returns how many. */
static int candidates(const rp_balancer_t *b, apr_time_t now,
                      apr_uint64_t tried, int *out)
{
    int i, n = 0, standby;

    for (standby = 0; standby <= 1 && n == 0; standby++) {
        for (i = 0; i < b->n; i++) {
            if ((int)b->members[i].standby == standby && !(tried & BIT(i)) &&
                rp_lb_usable(b, i, now, 0)) {
                out[n++] = i;
            }
        }
    }
    return n;
}

/* nginx's smooth weighted round robin: each member's current weight grows
 * by its effective weight, the largest is chosen and loses the total. The
 * sequence spreads a heavy member's turns instead of bunching them. */
static int pick_rr(rp_balancer_t *b, const int *c, int n, apr_time_t now)
{
    apr_int64_t total = 0, w;
    apr_int32_t best_cur = 0;
    rp_lb_slot_t *st;
    int k, best = -1;

    rp_lb_lock(b->shared);
    for (k = 0; k < n; k++) {
        st = b->members[c[k]].st;
        w = rp_lb_effective_weight(b, c[k], now);
        st->swrr_current += (apr_int32_t)w;
        total += w;
        if (best < 0 || st->swrr_current > best_cur) {
            best = c[k];
            best_cur = st->swrr_current;
        }
    }
    b->members[best].st->swrr_current -= (apr_int32_t)total;
    rp_lb_unlock(b->shared);
    return best;
}

/* Fewest requests in flight per unit of weight; (in flight + 1) so that
 * an idle heavy member beats an idle light one. Ties: uniform random
 * (reservoir of one), so that processes that see the same counts do not
 * all choose the same member. */
static int pick_least(rp_balancer_t *b, const int *c, int n, apr_time_t now)
{
    apr_int64_t bl = 0, bw = 1, l, w;
    int k, best = -1, ties = 0;

    for (k = 0; k < n; k++) {
        l = (apr_int64_t)apr_atomic_read32(&b->members[c[k]].st->in_flight) + 1;
        w = rp_lb_effective_weight(b, c[k], now);
        if (best < 0 || l * bw < bl * w) {
            best = c[k];
            bl = l;
            bw = w;
            ties = 1;
        }
        else if (l * bw == bl * w && lb_rand(b) % (apr_uint32_t)++ties == 0) {
            best = c[k];
        }
    }
    return best;
}

/* P2C's load score: EWMA of the head time x (in flight + 1) / weight. A
 * member not measured yet counts 1 us, so that it gets tried. */
static double p2c_score(rp_balancer_t *b, int i, apr_time_t now)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_uint32_t ewma = apr_atomic_read32(&st->ewma_us);
    double load = (double)apr_atomic_read32(&st->in_flight) + 1.0;

    return (ewma ? (double)ewma : 1.0) * load /
           (double)rp_lb_effective_weight(b, i, now);
}

static int pick_p2c(rp_balancer_t *b, const int *c, int n, apr_time_t now)
{
    int x, y;
    double sx, sy;

    if (n == 1) {
        return c[0];
    }
    x = (int)(lb_rand(b) % (apr_uint32_t)n);
    y = (int)(lb_rand(b) % (apr_uint32_t)(n - 1));
    if (y >= x) {
        y++;
    }
    sx = p2c_score(b, c[x], now);
    sy = p2c_score(b, c[y], now);
    if (sx == sy) {
        return lb_rand(b) & 1 ? c[x] : c[y];
    }
    return sx < sy ? c[x] : c[y];
}

/* Weighted rendezvous hashing: every member scores the key, the highest
 * wins. Score = w / -ln(u), u uniform in (0,1) from hash(key, member):
 * the chance to win is w / sum(w). Removing a member moves exactly the
 * keys it won; adding one takes ~w/sum(w) of the keys, from everyone. */
static int pick_hash(rp_balancer_t *b, const int *c, int n, apr_time_t now,
                     const char *key, apr_size_t klen)
{
    apr_uint64_t kh, h;
    double best_score = -1.0, u, score;
    int k, best = c[0];

    if (!key) {
        return c[lb_rand(b) % (apr_uint32_t)n];
    }
    kh = rp_lb_hash(key, klen);
    for (k = 0; k < n; k++) {
        h = mix64(kh ^ b->members[c[k]].hash);
        u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* 2^53 */
        score = (double)rp_lb_effective_weight(b, c[k], now) / -log(u);
        if (score > best_score) {
            best_score = score;
            best = c[k];
        }
    }
    return best;
}

int rp_lb_find_id(const rp_balancer_t *b, const char *id)
{
    int i;

    if (!id || strlen(id) != RP_LB_ID_LEN) {
        return -1;
    }
    for (i = 0; i < b->n; i++) {
        if (!memcmp(b->members[i].id, id, RP_LB_ID_LEN)) {
            return i;
        }
    }
    return -1;
}

/* A sticky id holds while its member is usable (draining included). A
 * standby holds only while no regular member is usable, so that sessions
 * go home when the regular members are back. */
static int pick_sticky(rp_balancer_t *b, const char *id, apr_uint64_t tried,
                       apr_time_t now, int nregular)
{
    int i = rp_lb_find_id(b, id);

    if (i < 0 || (tried & BIT(i)) || !rp_lb_usable(b, i, now, 1)) {
        return -1;
    }
    if (b->members[i].standby && nregular > 0) {
        return -1;
    }
    return i;
}

int rp_lb_pick(rp_balancer_t *b, const char *key, apr_size_t klen,
               const char *sticky_id, apr_uint64_t tried, int *stuck)
{
    int c[RP_LB_MAX_MEMBERS];
    apr_time_t now = lb_now(b);
    int n, i;

    *stuck = 0;
    n = candidates(b, now, tried, c);
    if (sticky_id) {
        i = pick_sticky(b, sticky_id, tried, now,
                        n > 0 && !b->members[c[0]].standby ? n : 0);
        if (i >= 0) {
            *stuck = 1;
            return i;
        }
    }
    if (n == 0) {
        return -1;
    }
    apr_atomic_inc32(&b->shared->seq);
    switch (b->method) {
    case RP_LB_LEAST:
        return pick_least(b, c, n, now);
    case RP_LB_P2C:
        return pick_p2c(b, c, n, now);
    case RP_LB_HASH:
        return pick_hash(b, c, n, now, key, klen);
    default:
        return pick_rr(b, c, n, now);
    }
}

/* ---- accounting and passive health ------------------------------------ */

void rp_lb_start(rp_balancer_t *b, int i)
{
    rp_lb_slot_t *st = b->members[i].st;

    apr_atomic_inc32(&st->in_flight);
    apr_atomic_add64(&st->requests, 1);
    apr_atomic_add64(&b->shared->picks, 1);
}

/* EWMA with weight 1/8 for the new sample: a member that slows down shows
 * it within a few requests, one slow request does not swing it. */
static void ewma_update(rp_lb_slot_t *st, apr_interval_time_t t)
{
    apr_uint32_t old, next, sample;

    sample = t <= 0 ? 1 : t >= 0xffffffffL ? 0xffffffffU : (apr_uint32_t)t;
    do {
        old = apr_atomic_read32(&st->ewma_us);
        next = old ? (apr_uint32_t)((apr_int64_t)old +
                                    ((apr_int64_t)sample - old) / 8)
                   : sample;
        if (next == 0) {
            next = 1;
        }
    } while (apr_atomic_cas32(&st->ewma_us, next, old) != old);
}

/* The ejection's length: base doubled per ejection in a row, capped, plus
 * up to 1/8 of it at random so that members ejected together do not all
 * come back in the same instant. */
static apr_interval_time_t backoff(rp_balancer_t *b, apr_uint32_t nth)
{
    apr_interval_time_t len = b->params.eject_base;
    apr_interval_time_t max = b->params.eject_max;

    while (--nth > 0 && len < max) {
        len *= 2;
    }
    if (len > max) {
        len = max;
    }
    return len +
           (apr_interval_time_t)(lb_rand(b) % ((apr_uint32_t)(len / 8) + 1));
}

/* Eject member i unless it already is or the share is full: then it
 * stays in service (the members ejected earlier keep their ejection). */
static int try_eject(rp_balancer_t *b, int i, apr_time_t now)
{
    rp_lb_slot_t *st = b->members[i].st;
    int k, out = 0, ejected = 0;
    apr_uint32_t nth;

    rp_lb_lock(b->shared);
    if ((apr_time_t)apr_atomic_read64(&st->ejected_until) > now) {
        goto out;
    }
    for (k = 0; k < b->n; k++) {
        out += (apr_time_t)apr_atomic_read64(&b->members[k].st->ejected_until) >
               now;
    }
    if ((out + 1) * 100 > b->n * b->params.eject_max_pct) {
        goto out;
    }
    nth = apr_atomic_read32(&st->ejections) + 1;
    apr_atomic_set32(&st->ejections, nth);
    apr_atomic_set64(&st->ejected_at, (apr_uint64_t)now);
    apr_atomic_set64(&st->ejected_until, (apr_uint64_t)(now + backoff(b, nth)));
    apr_atomic_add64(&st->ejected_total, 1);
    apr_atomic_set32(&st->consec_fail, 0);
    ejected = 1;
out:
    rp_lb_unlock(b->shared);
    return ejected;
}

/* A success after a quiet spell as long as the longest ejection forgives
 * the earlier ejections: the next one starts from the base again. */
static void on_success(rp_balancer_t *b, rp_lb_slot_t *st, apr_time_t now)
{
    apr_time_t until;

    if (apr_atomic_read32(&st->consec_fail)) {
        apr_atomic_set32(&st->consec_fail, 0);
    }
    if (apr_atomic_read32(&st->ejections)) {
        until = (apr_time_t)apr_atomic_read64(&st->ejected_until);
        if (now > until + b->params.eject_max) {
            apr_atomic_set32(&st->ejections, 0);
        }
    }
}

/* Never below 0: after a restart that gave a removed member's slot to a
 * new one, an older child may still end a request on it. */
static void dec_in_flight(rp_lb_slot_t *st)
{
    apr_uint32_t old;

    do {
        old = apr_atomic_read32(&st->in_flight);
        if (old == 0) {
            return;
        }
    } while (apr_atomic_cas32(&st->in_flight, old - 1, old) != old);
}

int rp_lb_done(rp_balancer_t *b, int i, rp_lb_outcome_t outcome,
               apr_interval_time_t head_time)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_time_t now = lb_now(b);
    apr_uint32_t n;

    dec_in_flight(st);
    if (outcome == RP_LB_OK) {
        ewma_update(st, head_time);
        on_success(b, st, now);
        return 0;
    }
    if (outcome != RP_LB_FAILED) {
        return 0;
    }
    apr_atomic_add64(&st->failures, 1);
    n = apr_atomic_inc32(&st->consec_fail) + 1;
    if (b->params.eject_after > 0 && n >= (apr_uint32_t)b->params.eject_after) {
        return try_eject(b, i, now);
    }
    return 0;
}

int rp_lb_status_fails(const rp_balancer_t *b, int status)
{
    return b->params.fail_on_5xx && status >= 502 && status <= 504;
}

/* ---- request keys ----------------------------------------------------- */

typedef struct cookie_find_t {
    const char *name;
    apr_size_t nlen;
    const char *value; /* points into the field; length in vlen */
    apr_size_t vlen;
} cookie_find_t;

/* apr_table_do callback over Cookie fields: "a=1; b=2" (RFC 6265 5.4). */
static int find_cookie(void *rec, const char *key, const char *value)
{
    cookie_find_t *f = rec;
    const char *p = value, *end, *eq;

    (void)key;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        end = p + strcspn(p, ";");
        eq = memchr(p, '=', (apr_size_t)(end - p));
        if (eq && (apr_size_t)(eq - p) == f->nlen &&
            !memcmp(p, f->name, f->nlen)) {
            f->value = eq + 1;
            f->vlen = (apr_size_t)(end - eq - 1);
            while (f->vlen && (f->value[f->vlen - 1] == ' ' ||
                               f->value[f->vlen - 1] == '\t')) {
                f->vlen--;
            }
            return 0;
        }
        p = end;
    }
    return 1;
}

const char *rp_lb_cookie(apr_pool_t *p, apr_table_t *headers, const char *name)
{
    cookie_find_t f = {name, strlen(name), NULL, 0};

    apr_table_do(find_cookie, &f, headers, "Cookie", NULL);
    if (!f.value) {
        return NULL;
    }
    if (f.vlen >= 2 && f.value[0] == '"' && f.value[f.vlen - 1] == '"') {
        f.value++;
        f.vlen -= 2;
    }
    return apr_pstrmemdup(p, f.value, f.vlen);
}

const char *rp_lb_request_key(const rp_balancer_t *b, apr_pool_t *p,
                              const char *client_ip, apr_table_t *headers,
                              const char *path, apr_size_t *klen)
{
    const char *k = NULL;

    switch (b->key) {
    case RP_LB_KEY_HEADER:
        k = apr_table_getm(p, headers, b->key_name);
        break;
    case RP_LB_KEY_COOKIE:
        k = rp_lb_cookie(p, headers, b->key_name);
        break;
    case RP_LB_KEY_PATH:
        k = path;
        if (k) {
            *klen = strcspn(k, "?");
            return k;
        }
        break;
    default:
        k = client_ip;
        break;
    }
    if (k) {
        *klen = strlen(k);
    }
    return k;
}

/* ---- phase 2: active health, operator flags, status --------------------- */

void rp_lb_hc_default(rp_lb_hc_t *hc)
{
    hc->method = "GET";
    hc->path = "/";
    hc->status_lo = 200;
    hc->status_hi = 399;
    hc->interval = apr_time_from_sec(5);
    hc->timeout = apr_time_from_sec(2);
    hc->passes = 2;
    hc->fails = 3;
}

int rp_lb_hc_pass(const rp_lb_hc_t *hc, int status)
{
    return status >= hc->status_lo && status <= hc->status_hi;
}

apr_uint32_t rp_lb_set_flag(rp_balancer_t *b, int i, apr_uint32_t bit, int on)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_uint32_t old, next;

    do {
        old = apr_atomic_read32(&st->flags);
        next = on ? old | bit : old & ~bit;
    } while (old != next && apr_atomic_cas32(&st->flags, next, old) != old);
    return old;
}

/* Back from a health-check outage: the slow-start ramp runs from now,
 * unless a passive ejection still runs (it keeps its own end). */
static void hc_came_back(rp_balancer_t *b, rp_lb_slot_t *st, apr_time_t now)
{
    apr_uint64_t until = apr_atomic_read64(&st->ejected_until);

    (void)b;
    if ((apr_time_t)until <= now) {
        apr_atomic_set64(&st->ejected_until, (apr_uint64_t)now);
    }
    apr_atomic_set32(&st->consec_fail, 0);
}

int rp_lb_hc_result(rp_balancer_t *b, int i, int status, apr_time_t now)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_uint32_t flags = apr_atomic_read32(&st->flags), n;

    apr_atomic_set32(&st->hc_status, (apr_uint32_t)(status > 0 ? status : 0));
    apr_atomic_set64(&st->hc_last, (apr_uint64_t)now);
    if (b->hc && rp_lb_hc_pass(b->hc, status)) {
        apr_atomic_set32(&st->hc_fails, 0);
        n = apr_atomic_inc32(&st->hc_passes) + 1;
        if ((flags & RP_LB_F_HEALTH_DOWN) && n >= (apr_uint32_t)b->hc->passes) {
            hc_came_back(b, st, now);
            rp_lb_set_flag(b, i, RP_LB_F_HEALTH_DOWN, 0);
            return RP_LB_HC_UP;
        }
        return 0;
    }
    apr_atomic_set32(&st->hc_passes, 0);
    n = apr_atomic_inc32(&st->hc_fails) + 1;
    if (b->hc && !(flags & RP_LB_F_HEALTH_DOWN) &&
        n >= (apr_uint32_t)b->hc->fails) {
        rp_lb_set_flag(b, i, RP_LB_F_HEALTH_DOWN, 1);
        return RP_LB_HC_DOWN;
    }
    return 0;
}

static int pid_gone(apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int rp_lb_lease(rp_lb_shared_t *sh, apr_uint32_t me, apr_time_t now,
                apr_interval_time_t ttl)
{
    apr_uint32_t owner = apr_atomic_read32(&sh->hc_owner);
    int mine = 0;

    /* the common case for all but the holder, without the lock that
     * round robin picks take */
    if (owner != 0 && owner != me &&
        (apr_time_t)apr_atomic_read64(&sh->hc_expiry) >= now &&
        !pid_gone(owner)) {
        return 0;
    }
    rp_lb_lock(sh);
    owner = apr_atomic_read32(&sh->hc_owner);
    if (owner == 0 || owner == me ||
        (apr_time_t)apr_atomic_read64(&sh->hc_expiry) < now ||
        pid_gone(owner)) {
        apr_atomic_set32(&sh->hc_owner, me);
        apr_atomic_set64(&sh->hc_expiry, (apr_uint64_t)(now + ttl));
        mine = 1;
    }
    rp_lb_unlock(sh);
    return mine;
}

void rp_lb_lease_drop(rp_lb_shared_t *sh, apr_uint32_t me)
{
    rp_lb_lock(sh);
    if (apr_atomic_read32(&sh->hc_owner) == me) {
        apr_atomic_set32(&sh->hc_owner, 0);
        apr_atomic_set64(&sh->hc_expiry, 0);
    }
    rp_lb_unlock(sh);
}

/* Is any regular (not standby) member usable? */
static int regular_usable(const rp_balancer_t *b, apr_time_t now)
{
    int k;

    for (k = 0; k < b->n; k++) {
        if (!b->members[k].standby && rp_lb_usable(b, k, now, 0)) {
            return 1;
        }
    }
    return 0;
}

const char *rp_lb_state_str(const rp_balancer_t *b, int i, apr_time_t now)
{
    rp_lb_slot_t *st = b->members[i].st;
    apr_uint32_t flags = apr_atomic_read32(&st->flags);

    if (flags & RP_LB_F_DISABLED) {
        return "disabled";
    }
    if (flags & RP_LB_F_HEALTH_DOWN) {
        return "down";
    }
    if (flags & RP_LB_F_DRAIN) {
        return "draining";
    }
    if ((apr_time_t)apr_atomic_read64(&st->ejected_until) > now) {
        return "ejected";
    }
    if (b->members[i].standby && regular_usable(b, now)) {
        return "standby";
    }
    return "up";
}

void rp_lb_token(const unsigned char *key, apr_size_t klen,
                 const char *balancer, const char *member,
                 char out[RP_LB_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0, k;
    char msg[512];
    int len;

    len = apr_snprintf(msg, sizeof(msg), "%s %s", balancer, member);
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, (size_t)len,
         mac, &mlen);
    for (k = 0; k < 32 && k < mlen; k++) {
        out[2 * k] = hex[mac[k] >> 4];
        out[2 * k + 1] = hex[mac[k] & 0xf];
    }
    out[RP_LB_TOKEN_LEN] = '\0';
}

int rp_lb_token_ok(const unsigned char *key, apr_size_t klen,
                   const char *balancer, const char *member, const char *token)
{
    char want[RP_LB_TOKEN_LEN + 1];

    if (!token || strlen(token) != RP_LB_TOKEN_LEN) {
        return 0;
    }
    rp_lb_token(key, klen, balancer, member, want);
    return CRYPTO_memcmp(want, token, RP_LB_TOKEN_LEN) == 0;
}
