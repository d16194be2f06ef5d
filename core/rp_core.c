/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

#include <apr_strings.h>
#include "rp_core.h"

const char *rp_strerror(apr_status_t rv, char *buf, apr_size_t bufsize)
{
    switch (rv) {
    case RP_EBACKEND_UNREACHABLE:
        return "backend unreachable";
    case RP_EBACKEND_TIMEOUT:
        return "backend timed out";
    case RP_EBAD_RESPONSE:
        return "bad backend response";
    case RP_ECLIENT_GONE:
        return "client went away";
    case RP_EBACKEND_BROKE:
        return "backend failed during the response body";
    case RP_EBAD_REQUEST:
        return "request cannot be forwarded";
    case RP_EHOOK:
        return "refused by a hook";
    case RP_EPOOL_FULL:
        return "all backend connections busy";
    case RP_ENO_MEMBER:
        return "no usable member in the balancer";
    case RP_ETLS:
        return "TLS with the backend failed";
    default:
        return apr_strerror(rv, buf, bufsize);
    }
}
