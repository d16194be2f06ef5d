/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* balancer.c: <RProxyBalancer> sections, their members' TLS contexts and
 * the shared memory that holds member state for every child process.
 *
 *   parsing:      <RProxyBalancer name> ... </RProxyBalancer> builds an
 *                 rpx_balancer_t in pconf, registered by name in pconf's
 *                 userdata (names are global to the server)
 *   check_config: every balancer://name target names a balancer (so that
 *                 `apache2 -t` refuses a typo too)
 *   post_config:  TLS contexts of https members; the shared segment is
 *                 found (or made) in the process pool, and each balancer
 *                 and member is mapped to its slot by name (+ member URL),
 *                 so that a graceful restart keeps the state of every
 *                 member it keeps. Children inherit the mapping.
 *
 * The segment (anonymous apr_shm: children fork from the parent):
 *
 *   seg_head_t | seg_group_t x ngroups | seg_slot_t x nslots
 *
 * It is made with room for twice the configured balancers and members (at
 * least 16 and 128). A slot whose member left the configuration is freed;
 * a new member takes the free slot released longest ago (a slot never used
 * first), so that children of the previous generation, still finishing
 * their requests on the old member, rarely touch a slot already reused.
 * When a restart's configuration outgrows the segment, a new segment twice
 * the size is made and the used entries are copied into it; the requests
 * then in flight in older children are not counted in the copy (they end
 * in the old segment, which those children keep mapped). */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "apr_general.h"
#include "apr_lib.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "rp_headers.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

#define RPX_REGISTRY "mod_rproxy:balancers"
#define RPX_SEGMENT "mod_rproxy:lb-segment"
#define RPX_NAME_MAX 63
#define RPX_URL_MAX 255
/* changes with the layout: a graceful restart into a build with another
 * layout starts with a new segment instead of misreading the old one */
#define RPX_SEG_MAGIC 0x72706c32 /* "rpl2": phase 2 (lease, secret) */
#define RPX_SECRET_LEN 32

typedef struct seg_head_t {
    apr_uint32_t magic;
    apr_uint32_t ngroups; /* capacity */
    apr_uint32_t nslots;  /* capacity */
    apr_uint32_t epoch;   /* post_config runs so far */
    /* random at the segment's creation (so per boot: it survives graceful
     * restarts): the key of the status handler's CSRF tokens */
    unsigned char secret[RPX_SECRET_LEN];
} seg_head_t;

typedef struct seg_group_t {
    char name[RPX_NAME_MAX + 1];
    apr_uint32_t used;
    apr_uint32_t released; /* epoch it was freed in; 0: never used */
    rp_lb_shared_t sh;
} seg_group_t;

typedef struct seg_slot_t {
    char key[RPX_NAME_MAX + RPX_URL_MAX + 2]; /* "name url" */
    apr_uint32_t used;
    apr_uint32_t released;
    rp_lb_slot_t st;
} seg_slot_t;

/* The segment as the parent knows it: process pool userdata. */
typedef struct seg_t {
    apr_shm_t *shm; /* owned: process pool */
    seg_head_t *head;
    seg_group_t *groups;
    seg_slot_t *slots;
} seg_t;

/* The section being parsed (configuration is read by one thread). */
static rpx_balancer_t *cur;

static apr_hash_t *registry(apr_pool_t *pconf)
{
    void *h = NULL;

    apr_pool_userdata_get(&h, RPX_REGISTRY, pconf);
    if (!h) {
        h = apr_hash_make(pconf);
        apr_pool_userdata_set(h, RPX_REGISTRY, apr_pool_cleanup_null, pconf);
    }
    return h;
}

rpx_balancer_t *rpx_balancer_find(apr_pool_t *pconf, const char *name)
{
    return apr_hash_get(registry(pconf), name, APR_HASH_KEY_STRING);
}

/* ---- directives -------------------------------------------------------- */

static int name_ok(const char *s)
{
    if (!*s || strlen(s) > RPX_NAME_MAX) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("-._", *s)) {
            return 0;
        }
    }
    return 1;
}

static const char *inside(cmd_parms *cmd)
{
    return cur ? NULL
               : apr_psprintf(cmd->pool,
                              "%s is allowed only inside <RProxyBalancer>",
                              cmd->cmd->name);
}

/* Checks a section once its lines are read. */
static const char *section_done(cmd_parms *cmd, rpx_balancer_t *b)
{
    if (b->members->nelts == 0) {
        return apr_psprintf(cmd->pool,
                            "<RProxyBalancer %s> has no RProxyMember line",
                            b->lb.name);
    }
    if (b->lb.method == RP_LB_HASH && b->lb.key != RP_LB_KEY_CLIENT &&
        b->lb.key != RP_LB_KEY_PATH && !b->lb.key_name) {
        return apr_psprintf(cmd->pool,
                            "<RProxyBalancer %s>: hash key "
                            "without a name",
                            b->lb.name);
    }
    b->lb.members = (rp_lb_member_t *)b->members->elts;
    b->lb.n = b->members->nelts;
    return NULL;
}

const char *rpx_balancer_section(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *end = ap_strrchr_c(arg, '>');
    char *name;
    rpx_balancer_t *b;

    if (err) {
        return err;
    }
    if (!end || end[1]) {
        return "<RProxyBalancer> needs a name and a closing '>'";
    }
    name = apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(end - arg));
    name = ap_getword_conf(cmd->pool, (const char **)&name);
    ap_str_tolower(name); /* as URL hosts are: balancer://App/ is "app" */
    if (!name_ok(name)) {
        return apr_psprintf(cmd->pool,
                            "<RProxyBalancer \"%s\">: a name is 1 to %d "
                            "letters, digits, '-', '.' or '_'",
                            name, RPX_NAME_MAX);
    }
    if (rpx_balancer_find(cmd->pool, name)) {
        return apr_psprintf(cmd->pool, "<RProxyBalancer %s> is defined twice",
                            name);
    }
    b = apr_pcalloc(cmd->pool, sizeof(*b));
    b->lb.name = name;
    rp_lb_params_default(&b->lb.params);
    b->members = apr_array_make(cmd->pool, 4, sizeof(rp_lb_member_t));
    b->s = cmd->server;
    b->file = cmd->directive->filename;
    b->line = cmd->directive->line_num;
    cur = b;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    cur = NULL;
    if (!err) {
        err = section_done(cmd, b);
    }
    if (!err) {
        apr_hash_set(registry(cmd->pool), name, APR_HASH_KEY_STRING, b);
    }
    return err;
}

/* weight=N (1..RP_LB_MAX_WEIGHT) or standby after the URL. */
static const char *member_option(cmd_parms *cmd, rp_lb_member_t *m,
                                 const char *w)
{
    char *end;
    apr_int64_t n;

    if (!strcasecmp(w, "standby")) {
        m->standby = 1;
        return NULL;
    }
    if (strncasecmp(w, "weight=", 7) == 0) {
        errno = 0;
        n = apr_strtoi64(w + 7, &end, 10);
        if (!errno && end != w + 7 && !*end && n >= 1 &&
            n <= RP_LB_MAX_WEIGHT) {
            m->weight = (int)n;
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool,
                        "%s %s: \"%s\" is not weight=1..%d or standby",
                        cmd->cmd->name, m->url, w, RP_LB_MAX_WEIGHT);
}

static const char *member_url(cmd_parms *cmd, const char *arg, rp_url_t **out)
{
    const char *why = NULL;
    rp_url_t *u = apr_pcalloc(cmd->pool, sizeof(*u));

    if (rp_url_parse(cmd->pool, rpx_socket_target(cmd->pool, arg), u, &why) !=
        APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: bad member URL \"%s\": %s",
                            cmd->cmd->name, arg, why);
    }
    if ((*u->path && strcmp(u->path, "/")) || u->query) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": a member is an origin "
                            "(scheme://host[:port]); the path comes from the "
                            "RProxyPass target",
                            cmd->cmd->name, arg);
    }
    u->path = "";
    *out = u;
    return NULL;
}

const char *rpx_balancer_member(cmd_parms *cmd, void *dconf, const char *args)
{
    const char *err = inside(cmd), *w;
    rp_lb_member_t *m, *all;
    rp_url_t *u = NULL;
    int i;

    if (err || (err = member_url(cmd, ap_getword_conf(cmd->pool, &args), &u)) !=
                   NULL) {
        return err;
    }
    if (cur->members->nelts >= RP_LB_MAX_MEMBERS) {
        return apr_psprintf(cmd->pool,
                            "%s: more than %d members in "
                            "<RProxyBalancer %s>",
                            cmd->cmd->name, RP_LB_MAX_MEMBERS, cur->lb.name);
    }
    m = apr_array_push(cur->members);
    m->url = rp_url_origin(cmd->pool, u);
    m->origin = u;
    m->weight = 1;
    if (strlen(m->url) > RPX_URL_MAX) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is longer than %d bytes",
                            cmd->cmd->name, m->url, RPX_URL_MAX);
    }
    all = (rp_lb_member_t *)cur->members->elts;
    for (i = 0; i < cur->members->nelts - 1; i++) {
        if (!strcmp(all[i].url, m->url)) {
            return apr_psprintf(cmd->pool,
                                "%s: %s is already a member of "
                                "<RProxyBalancer %s>",
                                cmd->cmd->name, m->url, cur->lb.name);
        }
    }
    while (*(w = ap_getword_conf(cmd->pool, &args))) {
        if ((err = member_option(cmd, m, w)) != NULL) {
            return err;
        }
    }
    rp_lb_member_init_id(m);
    return NULL;
}

const char *rpx_balancer_method(cmd_parms *cmd, void *dconf, const char *arg)
{
    static const rp_lb_method_t all[] = {RP_LB_RR, RP_LB_LEAST, RP_LB_P2C,
                                         RP_LB_HASH};
    const char *err = inside(cmd);
    int i;

    for (i = 0; !err && i < 4; i++) {
        if (!strcasecmp(arg, rp_lb_method_str(all[i]))) {
            cur->lb.method = all[i];
            return NULL;
        }
    }
    return err ? err
               : apr_psprintf(cmd->pool,
                              "%s: \"%s\" is not rr, least, p2c or hash",
                              cmd->cmd->name, arg);
}

/* client | path | header NAME | cookie NAME */
const char *rpx_balancer_hash_key(cmd_parms *cmd, void *dconf, const char *a1,
                                  const char *a2)
{
    const char *err = inside(cmd);
    int named;

    if (err) {
        return err;
    }
    named = !strcasecmp(a1, "header") || !strcasecmp(a1, "cookie");
    if (!named &&
        (a2 || (strcasecmp(a1, "client") && strcasecmp(a1, "path")))) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s%s%s\" is not client, path, header NAME "
                            "or cookie NAME",
                            cmd->cmd->name, a1, a2 ? " " : "", a2 ? a2 : "");
    }
    if (named && (!a2 || !rp_headers_valid_name(a2))) {
        return apr_psprintf(cmd->pool, "%s %s needs a field or cookie name",
                            cmd->cmd->name, a1);
    }
    cur->lb.key = !strcasecmp(a1, "header")   ? RP_LB_KEY_HEADER
                  : !strcasecmp(a1, "cookie") ? RP_LB_KEY_COOKIE
                  : !strcasecmp(a1, "path")   ? RP_LB_KEY_PATH
                                              : RP_LB_KEY_CLIENT;
    cur->lb.key_name = named ? a2 : NULL;
    return NULL;
}

const char *rpx_balancer_sticky(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = inside(cmd);

    if (err) {
        return err;
    }
    if (!rp_headers_valid_name(arg) || strchr(arg, '=')) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a cookie name",
                            cmd->cmd->name, arg);
    }
    cur->lb.sticky = arg;
    return NULL;
}

/* Digits and one of httpd's time units, or "m" for minutes (httpd spells
 * it "mi"). ap_timeout_parameter_parse() alone looks at the first letter
 * after the number, and would take "soon" for 0 seconds. */
static const char *parse_time(cmd_parms *cmd, const char *w, int zero_ok,
                              apr_interval_time_t *t)
{
    static const char *const units[] = {"", "ms", "s", "m", "mi", "h"};
    const char *u = w, *v = w;
    int i, ok = 0;

    while (apr_isdigit(*u)) {
        u++;
    }
    for (i = 0; u != w && i < 6; i++) {
        ok |= !strcmp(u, units[i]);
    }
    if (ok && !strcmp(u, "m")) {
        v = apr_pstrcat(cmd->temp_pool, w, "i", NULL);
    }
    if (!ok || ap_timeout_parameter_parse(v, t, "s") != APR_SUCCESS || *t < 0 ||
        (*t == 0 && !zero_ok)) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a%s time (examples: 500ms, "
                            "10s, 5m)",
                            cmd->cmd->name, w, zero_ok ? "" : " positive");
    }
    return NULL;
}

/* RProxyEject failures [base [max [share%]]] | off */
const char *rpx_balancer_eject(cmd_parms *cmd, void *dconf, const char *args)
{
    rp_lb_params_t *p = cur ? &cur->lb.params : NULL;
    const char *err = inside(cmd), *w;
    apr_int64_t n;
    char *end;

    if (err) {
        return err;
    }
    w = ap_getword_conf(cmd->pool, &args);
    errno = 0;
    n = apr_strtoi64(w, &end, 10);
    if (!strcasecmp(w, "off")) {
        p->eject_after = 0;
        return NULL;
    }
    if (errno || end == w || *end || n < 1 || n > 1000) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a count of "
                            "failures (1..1000) or off",
                            cmd->cmd->name, w);
    }
    p->eject_after = (int)n;
    if (*(w = ap_getword_conf(cmd->pool, &args)) &&
        (err = parse_time(cmd, w, 0, &p->eject_base)) != NULL) {
        return err;
    }
    if (*(w = ap_getword_conf(cmd->pool, &args)) &&
        (err = parse_time(cmd, w, 0, &p->eject_max)) != NULL) {
        return err;
    }
    if (p->eject_max < p->eject_base) {
        p->eject_max = p->eject_base;
    }
    if (*(w = ap_getword_conf(cmd->pool, &args))) {
        errno = 0;
        n = apr_strtoi64(w, &end, 10);
        if (errno || end == w || strcmp(end, "%") || n < 1 || n > 100) {
            return apr_psprintf(cmd->pool,
                                "%s: \"%s\" is not a share of "
                                "the members (1%%..100%%)",
                                cmd->cmd->name, w);
        }
        p->eject_max_pct = (int)n;
    }
    if (*ap_getword_conf(cmd->pool, &args)) {
        return apr_psprintf(cmd->pool, "%s takes at most 4 values",
                            cmd->cmd->name);
    }
    return NULL;
}

const char *rpx_balancer_slow_start(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    const char *err = inside(cmd);

    return err ? err : parse_time(cmd, arg, 1, &cur->lb.params.slow_start);
}

/* One key=value option of RProxyHealthCheck: a count 1..100. */
static const char *hc_count(cmd_parms *cmd, const char *w, const char *v,
                            int *out)
{
    apr_int64_t n;
    char *end;

    errno = 0;
    n = apr_strtoi64(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 100) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a count 1..100",
                            cmd->cmd->name, w);
    }
    *out = (int)n;
    return NULL;
}

/* status=LO-HI or status=N (100..599). */
static const char *hc_status(cmd_parms *cmd, const char *w, const char *v,
                             rp_lb_hc_t *hc)
{
    apr_int64_t lo, hi;
    char *end;

    errno = 0;
    lo = apr_strtoi64(v, &end, 10);
    hi = lo;
    if (!errno && end != v && *end == '-') {
        v = end + 1;
        hi = apr_strtoi64(v, &end, 10);
    }
    if (errno || end == v || *end || lo < 100 || hi > 599 || lo > hi) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not status=LO-HI (100..599)",
                            cmd->cmd->name, w);
    }
    hc->status_lo = (int)lo;
    hc->status_hi = (int)hi;
    return NULL;
}

static const char *hc_option(cmd_parms *cmd, const char *w, rp_lb_hc_t *hc)
{
    const char *eq = strchr(w, '='), *v;
    apr_size_t klen = eq ? (apr_size_t)(eq - w) : 0;

    v = eq ? eq + 1 : "";
#define HC_KEY(k) (klen == sizeof(k) - 1 && !strncasecmp(w, k, klen))
    if (HC_KEY("status")) {
        return hc_status(cmd, w, v, hc);
    }
    if (HC_KEY("interval")) {
        return parse_time(cmd, v, 0, &hc->interval);
    }
    if (HC_KEY("timeout")) {
        return parse_time(cmd, v, 0, &hc->timeout);
    }
    if (HC_KEY("passes")) {
        return hc_count(cmd, w, v, &hc->passes);
    }
    if (HC_KEY("fails")) {
        return hc_count(cmd, w, v, &hc->fails);
    }
#undef HC_KEY
    return apr_psprintf(cmd->pool,
                        "%s: \"%s\" is not status=, interval=, timeout=, "
                        "passes= or fails=",
                        cmd->cmd->name, w);
}

/* Visible ASCII but '"', '\\' and '#': the path goes into the request
 * line and, as it is, into the status handler's JSON. */
static int path_ok(const char *w)
{
    for (; *w; w++) {
        if (*w <= ' ' || *w >= 0x7f || strchr("\"\\#", *w)) {
            return 0;
        }
    }
    return 1;
}

/* RProxyHealthCheck GET|HEAD|OPTIONS /path [key=value ...] */
const char *rpx_balancer_health_check(cmd_parms *cmd, void *dconf,
                                      const char *args)
{
    const char *err = inside(cmd), *w;
    char *given;
    rp_lb_hc_t *hc;

    if (err) {
        return err;
    }
    given = apr_pstrcat(cmd->temp_pool, " ", args, NULL);
    ap_str_tolower(given);
    hc = apr_pcalloc(cmd->pool, sizeof(*hc));
    rp_lb_hc_default(hc);
    w = ap_getword_conf(cmd->pool, &args);
    if (strcmp(w, "GET") && strcmp(w, "HEAD") && strcmp(w, "OPTIONS")) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not GET, HEAD or OPTIONS",
                            cmd->cmd->name, w);
    }
    hc->method = w;
    w = ap_getword_conf(cmd->pool, &args);
    if (w[0] != '/' || !path_ok(w)) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a path starting with '/'",
                            cmd->cmd->name, w);
    }
    hc->path = w;
    while (*(w = ap_getword_conf(cmd->pool, &args))) {
        if ((err = hc_option(cmd, w, hc)) != NULL) {
            return err;
        }
    }
    if (hc->timeout > hc->interval && !ap_strstr_c(given, " timeout=")) {
        hc->timeout = hc->interval; /* the default fits a short interval */
    }
    if (hc->timeout > hc->interval) {
        return apr_psprintf(cmd->pool,
                            "%s: the timeout is longer than the interval",
                            cmd->cmd->name);
    }
    cur->lb.hc = hc;
    return NULL;
}

const char *rpx_balancer_eject_5xx(cmd_parms *cmd, void *dconf, int on)
{
    const char *err = inside(cmd);

    if (!err) {
        cur->lb.params.fail_on_5xx = on;
    }
    return err;
}

/* ---- check_config: balancer:// targets --------------------------------- */

static int resolve(apr_pool_t *pconf, server_rec *s, rpx_route_t *route,
                   const rp_conf_t *conf)
{
    (void)conf;
    if (!route->target || !route->balancer_name) {
        return OK;
    }
    route->balancer = rpx_balancer_find(pconf, route->balancer_name);
    if (route->balancer) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                 RPLOGNO(00290) "RProxyPass balancer://%s on line %d of "
                                "%s: no <RProxyBalancer %s> is defined",
                 route->balancer_name, route->line,
                 route->file ? route->file : "-", route->balancer_name);
    return HTTP_INTERNAL_SERVER_ERROR;
}

int rpx_balancers_check(apr_pool_t *pconf, server_rec *main_server)
{
    return rpx_for_each_route(pconf, main_server, resolve);
}

/* ---- post_config: TLS contexts ------------------------------------------ */

static int member_tls(apr_pool_t *pconf, rpx_balancer_t *b, rp_lb_member_t *m)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(b->s->module_config, &rproxy_module);
    const char *why = NULL;

    if (!m->origin->tls || m->tls) {
        return OK;
    }
    if (rpx_tls_ctx(pconf, &sc->conf.tls, &m->tls, &why) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, b->s,
                     RPLOGNO(00291) "<RProxyBalancer %s> member %s: TLS "
                                    "settings refused: %s",
                     b->lb.name, m->url, why ? why : "unknown reason");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* ---- post_config: the shared segment ------------------------------------ */

static apr_size_t seg_size(apr_uint32_t ngroups, apr_uint32_t nslots)
{
    return sizeof(seg_head_t) + ngroups * sizeof(seg_group_t) +
           nslots * sizeof(seg_slot_t);
}

static void seg_layout(seg_t *seg)
{
    char *base = apr_shm_baseaddr_get(seg->shm);

    seg->head = (seg_head_t *)base;
    seg->groups = (seg_group_t *)(base + sizeof(seg_head_t));
    seg->slots = (seg_slot_t *)(base + sizeof(seg_head_t) +
                                seg->head->ngroups * sizeof(seg_group_t));
}

/* A new zeroed segment; the used entries of old (if any) copied in. */
static apr_status_t seg_make(apr_pool_t *pproc, seg_t *old, apr_uint32_t ng,
                             apr_uint32_t ns, seg_t **out)
{
    seg_t *seg = apr_pcalloc(pproc, sizeof(*seg));
    apr_status_t rv;
    apr_uint32_t i;

    rv = apr_shm_create(&seg->shm, seg_size(ng, ns), NULL, pproc);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    memset(apr_shm_baseaddr_get(seg->shm), 0, seg_size(ng, ns));
    ((seg_head_t *)apr_shm_baseaddr_get(seg->shm))->ngroups = ng;
    ((seg_head_t *)apr_shm_baseaddr_get(seg->shm))->nslots = ns;
    seg_layout(seg);
    seg->head->magic = RPX_SEG_MAGIC;
    if (old) {
        memcpy(seg->head->secret, old->head->secret, RPX_SECRET_LEN);
    }
    else if ((rv = apr_generate_random_bytes(seg->head->secret,
                                             RPX_SECRET_LEN)) != APR_SUCCESS) {
        apr_shm_destroy(seg->shm);
        return rv;
    }
    for (i = 0; old && i < old->head->ngroups; i++) {
        seg->groups[i] = old->groups[i];
        seg->groups[i].sh.lock = 0;
    }
    for (i = 0; old && i < old->head->nslots; i++) {
        seg->slots[i] = old->slots[i];
        seg->slots[i].st.in_flight = 0; /* they end in the old segment */
    }
    if (old) {
        seg->head->epoch = old->head->epoch;
        apr_shm_destroy(old->shm); /* older children keep their mapping */
    }
    *out = seg;
    return APR_SUCCESS;
}

static void count_config(apr_pool_t *pconf, apr_uint32_t *ng, apr_uint32_t *ns)
{
    apr_hash_index_t *hi;

    *ng = *ns = 0;
    for (hi = apr_hash_first(NULL, registry(pconf)); hi;
         hi = apr_hash_next(hi)) {
        rpx_balancer_t *b = apr_hash_this_val(hi);
        (*ng)++;
        *ns += (apr_uint32_t)b->lb.n;
    }
}

/* The segment for this configuration: the process pool's, grown when the
 * configuration outgrew it. */
static apr_status_t seg_get(apr_pool_t *pconf, server_rec *s, seg_t **out)
{
    apr_pool_t *pproc = s->process->pool;
    apr_uint32_t ng, ns;
    seg_t *seg = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&seg, RPX_SEGMENT, pproc);
    if (seg && seg->head->magic != RPX_SEG_MAGIC) {
        seg = NULL; /* another build's layout: not copied, left as is */
    }
    count_config(pconf, &ng, &ns);
    if (seg && ng <= seg->head->ngroups && ns <= seg->head->nslots) {
        *out = seg;
        return APR_SUCCESS;
    }
    rv = seg_make(pproc, seg, ng * 2 > 16 ? ng * 2 : 16,
                  ns * 2 > 128 ? ns * 2 : 128, out);
    if (rv == APR_SUCCESS) {
        if (seg) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         RPLOGNO(00292) "balancer state outgrew its shared "
                                        "memory (%u balancers, %u members): "
                                        "made a larger segment",
                         ng, ns);
        }
        apr_pool_userdata_set(*out, RPX_SEGMENT, apr_pool_cleanup_null, pproc);
    }
    return rv;
}

/* Index of the entry whose key is key, or of the free entry released
 * longest ago (never used first); -1 when full. Entries are laid out
 * with stride bytes between them. */
static int seg_find(char *first, apr_size_t stride, apr_uint32_t n,
                    apr_size_t used_off, const char *key, int *found)
{
    apr_uint32_t i, best_rel = 0;
    int best = -1;

    *found = 0;
    for (i = 0; i < n; i++) {
        char *e = first + i * stride;
        apr_uint32_t *used = (apr_uint32_t *)(e + used_off);
        if (used[0] && !strcmp(e, key)) {
            *found = 1;
            return (int)i;
        }
        if (!used[0] && (best < 0 || used[1] < best_rel)) {
            best = (int)i;
            best_rel = used[1];
        }
    }
    return best;
}

#define GROUPS(seg)                                                            \
    (char *)(seg)->groups, sizeof(seg_group_t), (seg)->head->ngroups,          \
        APR_OFFSETOF(seg_group_t, used)
#define SLOTS(seg)                                                             \
    (char *)(seg)->slots, sizeof(seg_slot_t), (seg)->head->nslots,             \
        APR_OFFSETOF(seg_slot_t, used)

/* Pass 0 marks the entries this configuration keeps; pass 1 gives the
 * others (freed in between) to the balancers and members that are new.
 * The segment has room for every configured entry (seg_get), so pass 1
 * always finds one. */
static void seg_attach(seg_t *seg, rpx_balancer_t *b, char *keep_g,
                       char *keep_s, int pass, apr_pool_t *ptemp)
{
    int i, k, found;
    const char *key;

    k = seg_find(GROUPS(seg), b->lb.name, &found);
    if (pass == 0 && found) {
        keep_g[k] = 1;
    }
    if (pass == 1 && !found) {
        memset(&seg->groups[k], 0, sizeof(seg->groups[k]));
        apr_cpystrn(seg->groups[k].name, b->lb.name, RPX_NAME_MAX + 1);
        seg->groups[k].used = 1;
    }
    if (pass == 1) {
        b->lb.shared = &seg->groups[k].sh;
    }
    for (i = 0; i < b->lb.n; i++) {
        rp_lb_member_t *m = &b->lb.members[i];
        key = apr_pstrcat(ptemp, b->lb.name, " ", m->url, NULL);
        k = seg_find(SLOTS(seg), key, &found);
        if (pass == 0 && found) {
            keep_s[k] = 1;
        }
        if (pass == 1 && !found) {
            memset(&seg->slots[k], 0, sizeof(seg->slots[k]));
            apr_cpystrn(seg->slots[k].key, key, sizeof(seg->slots[k].key));
            seg->slots[k].used = 1;
        }
        if (pass == 1) {
            m->st = &seg->slots[k].st;
        }
    }
}

static void seg_map(seg_t *seg, apr_pool_t *pconf, apr_pool_t *ptemp)
{
    char *keep_g = apr_pcalloc(ptemp, seg->head->ngroups);
    char *keep_s = apr_pcalloc(ptemp, seg->head->nslots);
    apr_uint32_t epoch = ++seg->head->epoch, i;
    apr_hash_index_t *hi;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        for (hi = apr_hash_first(ptemp, registry(pconf)); hi;
             hi = apr_hash_next(hi)) {
            seg_attach(seg, apr_hash_this_val(hi), keep_g, keep_s, pass, ptemp);
        }
        for (i = 0; pass == 0 && i < seg->head->ngroups; i++) {
            if (seg->groups[i].used && !keep_g[i]) {
                seg->groups[i].used = 0;
                seg->groups[i].released = epoch;
            }
        }
        for (i = 0; pass == 0 && i < seg->head->nslots; i++) {
            if (seg->slots[i].used && !keep_s[i]) {
                seg->slots[i].used = 0;
                seg->slots[i].released = epoch;
            }
        }
    }
}

int rpx_balancers_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                              server_rec *s)
{
    apr_hash_index_t *hi;
    apr_status_t rv;
    seg_t *seg;
    int i;

    for (hi = apr_hash_first(ptemp, registry(pconf)); hi;
         hi = apr_hash_next(hi)) {
        rpx_balancer_t *b = apr_hash_this_val(hi);
        for (i = 0; i < b->lb.n; i++) {
            if (member_tls(pconf, b, &b->lb.members[i]) != OK) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    if (apr_hash_count(registry(pconf)) == 0) {
        return OK;
    }
    rv = seg_get(pconf, s, &seg);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     RPLOGNO(00293) "cannot make the shared memory for "
                                    "balancer state");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    seg_map(seg, pconf, ptemp);
    return OK;
}

const unsigned char *rpx_balancers_secret(server_rec *s, apr_size_t *len)
{
    seg_t *seg = NULL;

    apr_pool_userdata_get((void **)&seg, RPX_SEGMENT, s->process->pool);
    *len = RPX_SECRET_LEN;
    return seg ? seg->head->secret : NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(rpx_balancer_t *const *)a)->lb.name,
                  (*(rpx_balancer_t *const *)b)->lb.name);
}

apr_array_header_t *rpx_balancers_all(apr_pool_t *pconf, apr_pool_t *p)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(rpx_balancer_t *));
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, registry(pconf)); hi; hi = apr_hash_next(hi)) {
        *(rpx_balancer_t **)apr_array_push(a) = apr_hash_this_val(hi);
    }
    qsort(a->elts, (size_t)a->nelts, sizeof(rpx_balancer_t *), by_name);
    return a;
}

/* ---- DUMP_RPROXY ----------------------------------------------------------
 */

static const char *secs(apr_pool_t *p, apr_interval_time_t t)
{
    return t % APR_USEC_PER_SEC
               ? apr_psprintf(p, "%" APR_TIME_T_FMT "ms", apr_time_as_msec(t))
               : apr_psprintf(p, "%" APR_TIME_T_FMT "s", apr_time_sec(t));
}

static void dump_one(apr_file_t *out, apr_pool_t *p, const rpx_balancer_t *b)
{
    const rp_balancer_t *lb = &b->lb;
    const rp_lb_params_t *pr = &lb->params;
    int i;

    apr_file_printf(out, "balancer %s (%s:%d): method %s", lb->name, b->file,
                    b->line, rp_lb_method_str(lb->method));
    if (lb->method == RP_LB_HASH) {
        apr_file_printf(out, ", hash key %s%s%s", rp_lb_key_str(lb->key),
                        lb->key_name ? " " : "",
                        lb->key_name ? lb->key_name : "");
    }
    apr_file_printf(out, ", sticky cookie %s\n",
                    lb->sticky ? lb->sticky : "none");
    if (pr->eject_after) {
        apr_file_printf(out,
                        "      eject after %d failures for %s doubling to "
                        "%s, at most %d%% of members, 5xx %s\n",
                        pr->eject_after, secs(p, pr->eject_base),
                        secs(p, pr->eject_max), pr->eject_max_pct,
                        pr->fail_on_5xx ? "counts" : "does not count");
    }
    else {
        apr_file_printf(out, "      eject off\n");
    }
    apr_file_printf(out, "      slow start %s\n",
                    pr->slow_start ? secs(p, pr->slow_start) : "off");
    if (lb->hc) {
        apr_file_printf(out,
                        "      health check %s %s status=%d-%d interval=%s "
                        "timeout=%s passes=%d fails=%d\n",
                        lb->hc->method, lb->hc->path, lb->hc->status_lo,
                        lb->hc->status_hi, secs(p, lb->hc->interval),
                        secs(p, lb->hc->timeout), lb->hc->passes,
                        lb->hc->fails);
    }
    else {
        apr_file_printf(out, "      health check off\n");
    }
    for (i = 0; i < lb->n; i++) {
        const rp_lb_member_t *m = &lb->members[i];
        apr_file_printf(out, "      member %s weight %d%s id %s\n", m->url,
                        m->weight, m->standby ? " standby" : "", m->id);
    }
}

void rpx_balancers_dump(apr_file_t *out, apr_pool_t *p)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, registry(p)); hi; hi = apr_hash_next(hi)) {
        dump_one(out, p, apr_hash_this_val(hi));
    }
}
