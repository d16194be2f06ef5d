/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_balancer.h: choosing a member of a balancer (a named group of
 * origins) for one request, and the passive health that keeps failing
 * members out of the choice.
 *
 *   pick:   sticky id -> usable? ; else the method over the usable
 *           non-standby members (hot standbys only when none is usable)
 *   start:  in flight + 1, requests + 1
 *   done:   in flight - 1, EWMA of the time to the response head,
 *           consecutive failures -> ejection with a doubling backoff
 *
 * Methods: RP_LB_RR smooth weighted round robin (nginx's current/effective
 * weights), RP_LB_LEAST least outstanding requests per unit of weight
 * (random among ties), RP_LB_P2C the better of two random members by
 * EWMA x (in flight + 1) / weight, RP_LB_HASH weighted rendezvous hashing
 * of a key (removing one of n members moves ~1/n of the keys, and only
 * the keys that member had).
 *
 * Lifetimes and sharing:
 *   rp_balancer_t, rp_lb_member_t: configuration (httpd: pconf), read-only
 *     after setup except each member's process-local `backend` cache slot.
 *   rp_lb_slot_t, rp_lb_shared_t: the state, in memory that every process
 *     maps (httpd: an anonymous apr_shm segment made at post_config; the
 *     unit tests: plain memory). Every field is read and written with
 *     apr_atomic_* only, so that any process may read it at any time
 *     without a lock (status pages, health checkers). The one exception is
 *     rp_lb_slot_t.swrr_current, touched only under rp_lb_shared_t.lock.
 *
 * The lock: smooth weighted round robin must read and update every
 * member's current weight as one step, or two processes picking at once
 * would both take the same member. The step is a few dozen instructions,
 * so a spinlock word in the shared segment (compare-and-swap of 0 to the
 * holder's pid) costs less than a system mutex and needs no file or
 * semaphore that a crashed child could leave behind: a waiter that spins
 * for long checks whether the holder's pid still lives and takes the lock
 * over when it does not. Ejection decisions (the max-share count) take
 * the same lock; they are rare. The other methods take no lock.
 *
 * APR's atomics are lock-free compiler builtins on the platforms httpd
 * runs on (Debian's APR 1.7 among them); an APR built with its generic,
 * mutex-based atomics (--enable-nonportable-atomics=no on old targets)
 * would not be safe across processes. */

#ifndef RP_BALANCER_H
#define RP_BALANCER_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "rp_core.h"
#include "rp_url.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many members per balancer: sets of members tried are one
 * 64-bit mask. */
#define RP_LB_MAX_MEMBERS 64
/* Member weights: 1..RP_LB_MAX_WEIGHT (default 1). */
#define RP_LB_MAX_WEIGHT 1000
/* Length of a member's sticky id (hex digits) without the NUL. */
#define RP_LB_ID_LEN 16

typedef enum rp_lb_method_t {
    RP_LB_RR = 0, /* smooth weighted round robin (default) */
    RP_LB_LEAST,  /* least outstanding requests, weight-aware */
    RP_LB_P2C,    /* power of two choices, latency-aware */
    RP_LB_HASH    /* weighted rendezvous hashing of a key */
} rp_lb_method_t;

const char *rp_lb_method_str(rp_lb_method_t m);

/* What RP_LB_HASH hashes. */
typedef enum rp_lb_key_t {
    RP_LB_KEY_CLIENT = 0, /* the client's address (default) */
    RP_LB_KEY_HEADER,     /* a request header field's value */
    RP_LB_KEY_COOKIE,     /* a cookie's value */
    RP_LB_KEY_PATH        /* the request path, without the query */
} rp_lb_key_t;

const char *rp_lb_key_str(rp_lb_key_t k);

/* Member flags (rp_lb_slot_t.flags). Set by an operator (phase 2: the
 * status handler) or a health checker; passive health never sets them. */
#define RP_LB_F_DRAIN 0x0001    /* no new requests; sticky ones still go */
#define RP_LB_F_DISABLED 0x0002 /* no requests at all */
#define RP_LB_F_HEALTH_DOWN                                                    \
    0x0004 /* an active health check failed                                    \
            */

/* One member's state in shared memory. Plain integers so that the layout
 * means the same in every process; times are apr_time_t as 64-bit. */
typedef struct rp_lb_slot_t {
    apr_uint32_t in_flight;   /* requests started and not done */
    apr_uint32_t consec_fail; /* failures since the last success */
    apr_uint32_t ejections;   /* ejections in a row (drives the backoff) */
    apr_uint32_t flags;       /* RP_LB_F_* */
    apr_uint32_t ewma_us;     /* EWMA of the time to the head, us; 0 none */
    apr_int32_t swrr_current; /* SWRR current weight; under the lock */
    /* active health checks (phase 2): results of the last check */
    apr_uint32_t hc_passes; /* consecutive passed checks */
    apr_uint32_t hc_fails;  /* consecutive failed checks */
    apr_uint32_t hc_status; /* HTTP status of the last check, 0: none */
    apr_uint32_t _pad;
    apr_uint64_t hc_last;       /* apr_time_t of the last check, 0: none */
    apr_uint64_t requests;      /* requests sent to the member */
    apr_uint64_t failures;      /* requests that counted as failures */
    apr_uint64_t ejected_total; /* ejections ever */
    apr_uint64_t ejected_at;    /* apr_time_t of the last ejection, 0 none */
    /* apr_time_t the last ejection ends; 0: never ejected. The slow start
     * ramp runs from then (a health checker bringing a member back sets it
     * to now, with no ejection, to get the same ramp). */
    apr_uint64_t ejected_until;
} rp_lb_slot_t;

/* One balancer's shared words. */
typedef struct rp_lb_shared_t {
    apr_uint32_t lock;  /* 0 free, else the holder's pid */
    apr_uint32_t seq;   /* bumps per pick: varies random draws */
    apr_uint64_t picks; /* picks made */
    /* The health checker's lease (rp_lb_lease): the pid of the process
     * that runs this balancer's active checks, until hc_expiry; and when
     * its last round of checks began, so that a process taking the lease
     * over keeps the rhythm instead of checking again at once. */
    apr_uint32_t hc_owner;
    apr_uint32_t _pad;
    apr_uint64_t hc_expiry; /* apr_time_t */
    apr_uint64_t hc_round;  /* apr_time_t */
} rp_lb_shared_t;

/* One member, as configured. */
typedef struct rp_lb_member_t {
    const char *url;           /* borrowed: "scheme://host:port" (normalised) */
    const rp_url_t *origin;    /* borrowed: parsed url, path "" */
    int weight;                /* 1..RP_LB_MAX_WEIGHT */
    unsigned standby:1;        /* hot standby: only when no other is usable */
    char id[RP_LB_ID_LEN + 1]; /* sticky id: hash of the url, hex */
    apr_uint64_t hash;         /* the url's hash, seeds rendezvous scores */
    rp_lb_slot_t *st;          /* borrowed: shared state */
    /* The host's per member data, process-local. */
    struct rp_tls_ctx_t *tls; /* borrowed: an https member's TLS context */
    /* each process's cache of the member's backend in its transport
     * (rp_transport_backend_cached); zero-filled at configuration */
    struct rp_backend_t *backend;
} rp_lb_member_t;

/* Passive health parameters of one balancer. */
typedef struct rp_lb_params_t {
    int eject_after;                /* consecutive failures; 0: never eject */
    apr_interval_time_t eject_base; /* first ejection's length */
    apr_interval_time_t eject_max;  /* longest ejection (before jitter) */
    int eject_max_pct;              /* most members ejected at once, % */
    apr_interval_time_t slow_start; /* ramp after an ejection; 0: none */
    int fail_on_5xx;                /* 502/503/504 from a member count */
} rp_lb_params_t;

/* Defaults: 5 failures, 10 s, 5 min, 50 %, no slow start, 5xx counts. */
void rp_lb_params_default(rp_lb_params_t *p);

/* Active health checks of one balancer's members (rp_health.h sends
 * them). */
typedef struct rp_lb_hc_t {
    const char *method;           /* borrowed: "GET" */
    const char *path;             /* borrowed: origin-form, "/healthz" */
    int status_lo, status_hi;     /* a pass: status in [lo, hi] */
    apr_interval_time_t interval; /* between rounds */
    apr_interval_time_t timeout;  /* connect, and request -> head */
    int passes;                   /* passes in a row to mark a member up */
    int fails;                    /* failures in a row to mark it down */
} rp_lb_hc_t;

/* Defaults: GET /, 200-399, every 5 s, 2 s timeout, 2 passes, 3 fails. */
void rp_lb_hc_default(rp_lb_hc_t *hc);

typedef struct rp_balancer_t {
    const char *name; /* borrowed */
    rp_lb_method_t method;
    rp_lb_key_t key;      /* RP_LB_HASH */
    const char *key_name; /* header or cookie name; borrowed */
    const char *sticky;   /* sticky cookie name, or NULL; borrowed */
    rp_lb_params_t params;
    const rp_lb_hc_t *hc;    /* borrowed: active checks, or NULL: none */
    rp_lb_member_t *members; /* borrowed: n of them */
    int n;
    rp_lb_shared_t *shared; /* borrowed: shared words */
    /* Clock and randomness, replaceable by tests; NULL: apr_time_now()
     * and a per-thread xorshift generator. */
    apr_time_t (*now)(void);
    apr_uint32_t (*rand)(void);
} rp_balancer_t;

/* The stable 64-bit hash used for ids and keys (FNV-1a, then mixed). */
apr_uint64_t rp_lb_hash(const char *s, apr_size_t len);
/* Fill m->id and m->hash from m->url. */
void rp_lb_member_init_id(rp_lb_member_t *m);

/* Is member i usable for a new request now (not disabled, down, draining
 * or ejected)? sticky: a sticky request, which a draining member still
 * takes. */
int rp_lb_usable(const rp_balancer_t *b, int i, apr_time_t now, int sticky);

/* Member i's weight now, times 1000: during slow start it ramps linearly
 * from 1/10 to all of it. */
apr_int64_t rp_lb_effective_weight(const rp_balancer_t *b, int i,
                                   apr_time_t now);

/* Choose a member. key/klen: the hash key (RP_LB_HASH; NULL: random);
 * sticky_id: the id from the client's sticky cookie, or NULL; tried:
 * members not to choose (bit i = member i). Returns the index, or -1 when
 * no member is usable. *stuck is set when the sticky id decided. */
int rp_lb_pick(rp_balancer_t *b, const char *key, apr_size_t klen,
               const char *sticky_id, apr_uint64_t tried, int *stuck);

/* A request goes to member i. */
void rp_lb_start(rp_balancer_t *b, int i);

typedef enum rp_lb_outcome_t {
    RP_LB_OK = 0, /* the member answered (a response head came) */
    RP_LB_FAILED, /* connect failed, timeout, broken, or a counted 5xx */
    RP_LB_NEUTRAL /* says nothing of the member (client left, 4xx
                   * of ours) */
} rp_lb_outcome_t;

/* The request on member i is over. head_time: request start -> response
 * head (ignored unless RP_LB_OK). A failure may eject the member (see
 * rp_lb_params_t); returns 1 when this call ejected it, for the log. */
int rp_lb_done(rp_balancer_t *b, int i, rp_lb_outcome_t outcome,
               apr_interval_time_t head_time);

/* Does status count as a failure of the member (fail_on_5xx)? */
int rp_lb_status_fails(const rp_balancer_t *b, int status);

/* The hash key of a request: client address, a header's value (all its
 * fields joined), a cookie's value, or the path. NULL when the request
 * has none (the pick is then random). */
const char *rp_lb_request_key(const rp_balancer_t *b, apr_pool_t *p,
                              const char *client_ip, apr_table_t *headers,
                              const char *path, apr_size_t *klen);

/* The value of cookie name in the request's Cookie fields, or NULL. */
const char *rp_lb_cookie(apr_pool_t *p, apr_table_t *headers, const char *name);

/* Member with that sticky id, or -1. */
int rp_lb_find_id(const rp_balancer_t *b, const char *id);

/* The shared lock (see the header comment); exposed for phase 2's
 * writers of several fields at once and for tests. */
void rp_lb_lock(rp_lb_shared_t *sh);
void rp_lb_unlock(rp_lb_shared_t *sh);

/* ---- phase 2: active health, operator flags, status --------------------- */

/* What one active check of member i found: status is the response's
 * status, 0 when there was none (connect failed, timed out, bad answer).
 * Records hc_status/hc_last and the runs of passes and failures; sets
 * RP_LB_F_HEALTH_DOWN after hc->fails failures in a row and clears it
 * after hc->passes passes in a row (the member then ramps up with slow
 * start, as after an ejection). Returns RP_LB_HC_DOWN or RP_LB_HC_UP when
 * this result changed the member's health, else 0. Members start up: a
 * member is taken out by failing checks, not kept out until it passes. */
#define RP_LB_HC_DOWN (-1)
#define RP_LB_HC_UP 1
int rp_lb_hc_result(rp_balancer_t *b, int i, int status, apr_time_t now);

/* Is status a pass for b's checks? */
int rp_lb_hc_pass(const rp_lb_hc_t *hc, int status);

/* Set (on) or clear one RP_LB_F_* bit of member i; returns the flags as
 * they were. */
apr_uint32_t rp_lb_set_flag(rp_balancer_t *b, int i, apr_uint32_t bit, int on);

/* The health checker's lease of one balancer, so that one process of all
 * those mapping the state runs the checks: `me` (a pid) holds it after the
 * call when it was free, already its own, past its expiry, or held by a
 * pid that no longer exists; the holder's call extends it to now + ttl.
 * Returns 1 when me holds it. rp_lb_lease_drop gives it up (a process that
 * stops checking). Both under the balancer's lock. */
int rp_lb_lease(rp_lb_shared_t *sh, apr_uint32_t me, apr_time_t now,
                apr_interval_time_t ttl);
void rp_lb_lease_drop(rp_lb_shared_t *sh, apr_uint32_t me);

/* A member's state for people: "disabled", "down" (health checks),
 * "draining", "ejected" (passive health), "standby" (a hot standby not in
 * use because a regular member is usable) or "up", in that order. */
const char *rp_lb_state_str(const rp_balancer_t *b, int i, apr_time_t now);

/* The operator token of one member (the status handler's CSRF token):
 * HMAC-SHA256 with key over "balancer member-url", as 64 hex digits and a
 * NUL in out. rp_lb_token_ok compares in constant time. */
#define RP_LB_TOKEN_LEN 64
void rp_lb_token(const unsigned char *key, apr_size_t klen,
                 const char *balancer, const char *member,
                 char out[RP_LB_TOKEN_LEN + 1]);
int rp_lb_token_ok(const unsigned char *key, apr_size_t klen,
                   const char *balancer, const char *member, const char *token);

#ifdef __cplusplus
}
#endif
#endif /* RP_BALANCER_H */
