/* Error codes shared by every process and sent on the wire.  The numeric
 * values are part of the protocol (proto/PROTOCOL.md): never renumber. */
#ifndef CORRAL_ERROR_H
#define CORRAL_ERROR_H

#include <stdarg.h>

enum corral_err {
    CE_OK = 0,
    /* JSON-RPC 2.0 standard codes. */
    CE_PARSE = -32700,
    CE_INVALID_REQUEST = -32600,
    CE_NO_METHOD = -32601,
    CE_INVALID_PARAMS = -32602,
    CE_INTERNAL = -32603,
    /* corral codes. */
    CE_TOO_LARGE = 1000,
    CE_NO_DOMAIN = 1001,
    CE_DOMAIN_EXISTS = 1002,
    CE_INVALID_NAME = 1003,
    CE_INVALID_XML = 1004,
    CE_UNSUPPORTED = 1005,
    CE_OPERATION_INVALID = 1006,
    CE_QEMU_FAILED = 1007,
    CE_PERMISSION = 1008,
    CE_TIMEOUT = 1009,
    CE_SYSTEM = 1010,
    CE_SUPERVISOR = 1011,
    CE_NO_SNAPSHOT = 1012,
    CE_SNAPSHOT_EXISTS = 1013,
    CE_BUSY = 1014,
    CE_NO_KVM = 1015,
    CE_VERSION = 1016,
    CE_JOB_FAILED = 1017,
};

#define CERR_MSG_MAX 1024

/* A caller-owned error slot: functions that can fail fill it in. */
struct cerr {
    enum corral_err code;
    char msg[CERR_MSG_MAX];
};

void cerr_set(struct cerr *e, enum corral_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cerr_vset(struct cerr *e, enum corral_err code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void cerr_clear(struct cerr *e);
/* Stable short name of a code ("no-domain"), for the error's data member. */
const char *cerr_name(enum corral_err code);

#endif
