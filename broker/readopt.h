/* A supervisor died while its QEMU runs on: a new one re-adopts QEMU
 * (LIFECYCLE_READOPTING), or, after too many crashes in a row, QEMU runs
 * unmanaged (LIFECYCLE_DEGRADED) until destroyed or started again. */
#ifndef CORRAL_READOPT_H
#define CORRAL_READOPT_H

#include <cjson/cJSON.h>

#include "broker/registry.h"
#include "common/error.h"

/* vm's supervisor is gone (how) and its QEMU lives: re-adopt or degrade. */
void readopt_after_crash(struct bvm *vm, const char *how);
/* The re-adopting supervisor's status line (e: why it could not). */
void readopt_status(struct bvm *vm, const cJSON *info, const struct cerr *e);
/* The re-adopting supervisor, which said it could not, is gone. */
void readopt_failed(struct bvm *vm);
/* vm.start on a degraded VM: a new supervisor re-adopts QEMU. */
void readopt_start(struct bvm *vm, void *req);
/* Destroys a degraded VM's unmanaged QEMU: SIGTERM, then SIGKILL. */
void readopt_destroy(struct bvm *vm, void *req);

#endif
