/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_tunnel.h: after a 101 Switching Protocols, bytes in both directions
 * between the client (through the front) and the backend connection.
 *
 * Lifetimes: everything is allocated from ex->pool; the backend connection
 * stays the response's and is closed by rp_response_close(). */

#ifndef RP_TUNNEL_H
#define RP_TUNNEL_H

#include "rp_proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How soon a tunnel notices that the host is stopping (front op stopping). */
#define RP_TUNNEL_STOP_CHECK apr_time_from_sec(1)

/* Relay until the backend closes, the client closes and the backend then
 * finishes (the client's close is passed on as a half-close), or nothing
 * moves either way for idle. Returns APR_SUCCESS, RP_ECLIENT_GONE or
 * RP_EBACKEND_BROKE, or RP_ESTOPPING when the front says that the host is
 * stopping; never logs. ex->body_bytes counts the bytes sent to the
 * client. */
apr_status_t rp_tunnel_run(rp_exchange_t *ex, apr_interval_time_t idle);

#ifdef __cplusplus
}
#endif
#endif /* RP_TUNNEL_H */
