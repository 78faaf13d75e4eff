#include "common/error.h"

#include <stdio.h>
#include <string.h>

void cerr_vset(struct cerr *e, enum corral_err code, const char *fmt, va_list ap)
{
    if (e == NULL)
        return;
    e->code = code;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

void cerr_set(struct cerr *e, enum corral_err code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cerr_vset(e, code, fmt, ap);
    va_end(ap);
}

void cerr_clear(struct cerr *e)
{
    if (e == NULL)
        return;
    e->code = CE_OK;
    e->msg[0] = '\0';
}

const char *cerr_name(enum corral_err code)
{
    switch (code) {
    case CE_OK:
        return "ok";
    case CE_PARSE:
        return "parse-error";
    case CE_INVALID_REQUEST:
        return "invalid-request";
    case CE_NO_METHOD:
        return "method-not-found";
    case CE_INVALID_PARAMS:
        return "invalid-params";
    case CE_INTERNAL:
        return "internal-error";
    case CE_TOO_LARGE:
        return "message-too-large";
    case CE_NO_DOMAIN:
        return "no-domain";
    case CE_DOMAIN_EXISTS:
        return "domain-exists";
    case CE_INVALID_NAME:
        return "invalid-name";
    case CE_INVALID_XML:
        return "invalid-xml";
    case CE_UNSUPPORTED:
        return "unsupported-config";
    case CE_OPERATION_INVALID:
        return "operation-invalid";
    case CE_QEMU_FAILED:
        return "qemu-failed";
    case CE_PERMISSION:
        return "permission-denied";
    case CE_TIMEOUT:
        return "timeout";
    case CE_SYSTEM:
        return "system-error";
    case CE_SUPERVISOR:
        return "supervisor-unavailable";
    case CE_NO_SNAPSHOT:
        return "no-snapshot";
    case CE_SNAPSHOT_EXISTS:
        return "snapshot-exists";
    case CE_BUSY:
        return "busy";
    case CE_NO_KVM:
        return "kvm-unavailable";
    case CE_VERSION:
        return "version-mismatch";
    case CE_JOB_FAILED:
        return "job-failed";
    }
    return "unknown";
}
